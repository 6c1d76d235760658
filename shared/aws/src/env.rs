//! The environment variables the AWS composition reads at cold start, one rule for all:
//! an empty variable is as good as unset (deployment templates often render "" for an
//! absent parameter), and a missing required one is named with what it is for.

/// A required variable is unset or empty.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AwsConfigError {
    #[error("environment variable {name} is required ({what})")]
    Missing {
        name: &'static str,
        what: &'static str,
    },
}

/// `name` from `lookup`, unless unset or blank.
pub fn optional_in(lookup: impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// `name` from `lookup`; `what` says what it is for when it is missing.
pub fn required_in(
    lookup: impl Fn(&str) -> Option<String>,
    name: &'static str,
    what: &'static str,
) -> Result<String, AwsConfigError> {
    optional_in(lookup, name).ok_or(AwsConfigError::Missing { name, what })
}

/// [`required_in`] over the process environment.
pub fn required(name: &'static str, what: &'static str) -> Result<String, AwsConfigError> {
    required_in(process_env, name, what)
}

/// `TROVE_EVENTS_QUEUE_URL`: the API publishes domain events there and the webhook
/// dispatcher schedules its deliveries on the same queue.
pub fn events_queue_url() -> Result<String, AwsConfigError> {
    required(
        "TROVE_EVENTS_QUEUE_URL",
        "the SQS queue of domain events and webhook deliveries",
    )
}

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_counts_as_unset_and_the_error_says_what_for() {
        let lookup = |name: &str| (name == "SET").then(|| " ".to_owned());
        assert_eq!(optional_in(lookup, "SET"), None);
        let err = required_in(lookup, "SET", "the thing").expect_err("blank");
        assert_eq!(
            err.to_string(),
            "environment variable SET is required (the thing)"
        );
        let present = |_: &str| Some("v".to_owned());
        assert_eq!(required_in(present, "X", "y"), Ok("v".to_owned()));
    }
}
