//! What the jobs function does when an operator invokes it directly instead of EventBridge:
//! `aws lambda invoke --function-name <CleanupFunction> --payload
//! '{"operator": {"action": "reset-admin", "tenant": "default"}}' out.json`. Invoking a
//! function needs the AWS account, not the API: that is the recovery path of a tenant that
//! lost its admins (`trove admin reset-admin` is the same on `trove serve`'s data dir).

use serde::Deserialize;

use crate::domain::names::TenantName;
use crate::jobs::schedule::{self, Job, RunOptions};
use crate::services::{Context, Error, tenants};
use crate::webhooks::dispatcher::Dispatcher;

/// An operator's request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OperatorRequest {
    /// A new admin key for the tenant (see `tenants::reset_admin`).
    ResetAdmin { tenant: String },
}

/// What invoked the jobs function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// The EventBridge schedule (or a test of it); its `detail` may ask for a dry run.
    Scheduled {
        dry_run: bool,
    },
    Operator(OperatorRequest),
}

impl Invocation {
    /// An event with an `operator` member is an operator's request (and must be a valid
    /// one: a typo must not run the scheduled job instead); anything else is the schedule.
    pub fn parse(payload: &serde_json::Value) -> Result<Self, Error> {
        if let Some(request) = payload.get("operator") {
            return serde_json::from_value(request.clone())
                .map(Invocation::Operator)
                .map_err(|e| Error::Invalid(format!("invalid operator request: {e}")));
        }
        let dry_run = payload
            .pointer("/detail/dry_run")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        Ok(Invocation::Scheduled { dry_run })
    }
}

/// Runs the invocation: the function's own job, or the operator's request. `webhooks` is the
/// dispatcher whose pending deliveries the cleanup sweeps (see `jobs::recovery`); a job
/// starts no new work past `deadline` (see `jobs::cursor`).
pub async fn handle(
    ctx: &Context,
    job: Job,
    invocation: Invocation,
    webhooks: Option<&Dispatcher>,
    deadline: Option<time::OffsetDateTime>,
) -> Result<serde_json::Value, Error> {
    match invocation {
        Invocation::Scheduled { dry_run } => {
            let options = RunOptions {
                dry_run,
                date: None,
                deadline,
            };
            schedule::run_with_webhooks(ctx, job, options, webhooks).await
        }
        Invocation::Operator(OperatorRequest::ResetAdmin { tenant }) => {
            let tenant = TenantName::parse(&tenant)?;
            let reset = tenants::reset_admin(ctx, &tenant).await?;
            tracing::warn!(tenant = %tenant, principal = %reset.principal, "admin reset by an operator");
            serde_json::to_value(reset).map_err(|e| Error::Internal(format!("reset summary: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schedule_and_operators_are_told_apart() {
        assert_eq!(
            Invocation::parse(&json!({"detail-type": "Scheduled Event", "detail": {}}))
                .expect("scheduled"),
            Invocation::Scheduled { dry_run: false }
        );
        assert_eq!(
            Invocation::parse(&json!({"detail": {"dry_run": true}})).expect("scheduled"),
            Invocation::Scheduled { dry_run: true }
        );
        assert_eq!(
            Invocation::parse(&json!({"operator": {"action": "reset-admin", "tenant": "acme"}}))
                .expect("operator"),
            Invocation::Operator(OperatorRequest::ResetAdmin {
                tenant: "acme".into()
            })
        );
        for bad in [
            json!({"operator": {"action": "reset-admins", "tenant": "acme"}}),
            json!({"operator": {"action": "reset-admin"}}),
            json!({"operator": "reset-admin"}),
        ] {
            assert!(
                matches!(Invocation::parse(&bad), Err(Error::Invalid(_))),
                "{bad}"
            );
        }
    }
}
