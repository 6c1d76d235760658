//! The shape of every id Trove mints, and the bounds of the free-form strings a client may
//! put in a query. An id that does not have its shape names nothing Trove could have
//! stored, so it is answered before it reaches a key (and a storage limit): a path id as
//! "no such …" (404), a body field as invalid (400).
//!
//! Ids are lower-case ULIDs (26 Crockford base-32 characters), some with a kind prefix.

use serde::{Deserialize, Serialize};

use crate::domain::echo::echo;

/// Why a string is not an id of a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no such {what} {shown}")]
pub struct IdError {
    pub what: &'static str,
    /// The client's input, quoted with `echo`.
    pub shown: String,
    pub rule: &'static str,
}

impl IdError {
    fn new(what: &'static str, value: &str, rule: &'static str) -> Self {
        Self {
            what,
            shown: echo(value).to_string(),
            rule,
        }
    }

    /// As a body or query field: what the field should have held.
    pub fn as_invalid_field(&self, field: &str) -> String {
        format!("invalid {field} {}: {}", self.shown, self.rule)
    }
}

/// The longest id of any kind: the longest prefix and a ULID.
pub const MAX_ID_CHARS: usize = 6 + ULID_CHARS;
const ULID_CHARS: usize = 26;

fn is_ulid(s: &str) -> bool {
    s.len() == ULID_CHARS && ulid::Ulid::from_string(s).is_ok()
}

/// The principal id prefixes (`services::access::caller::PrincipalKind::prefix`).
const PRINCIPAL_PREFIXES: [&str; 3] = ["user_", "sa_", "group_"];

fn is_principal_id(s: &str) -> bool {
    PRINCIPAL_PREFIXES
        .iter()
        .any(|p| s.strip_prefix(p).is_some_and(is_ulid))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $valid:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            pub const RULE: &'static str = $rule;

            pub fn parse(value: &str) -> Result<Self, IdError> {
                let valid: fn(&str) -> bool = $valid;
                if valid(value) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(IdError::new($what, value, $rule))
                }
            }
        }

        crate::domain::validated_string_impls!($ty, IdError);
    };
}

id_type!(
    /// `wh_` and a ULID.
    WebhookId, "webhook",
    |s| s.strip_prefix("wh_").is_some_and(is_ulid),
    "a webhook id is wh_ followed by 26 letters and digits"
);
id_type!(
    DeliveryId,
    "delivery",
    is_ulid,
    "a delivery id is 26 letters and digits"
);
id_type!(
    ApiKeyId,
    "API key",
    is_ulid,
    "an API key id is 26 letters and digits"
);
id_type!(
    GrantId,
    "grant",
    is_ulid,
    "a grant id is 26 letters and digits"
);
id_type!(
    UploadId,
    "upload",
    is_ulid,
    "an upload id is 26 letters and digits"
);
id_type!(
    OidcProviderId,
    "OIDC provider",
    is_ulid,
    "an OIDC provider id is 26 letters and digits"
);
id_type!(
    /// A user's, service account's or group's id: `user_`, `sa_` or `group_` and a ULID.
    PrincipalId, "principal", is_principal_id,
    "a principal id is user_, sa_ or group_ followed by 26 letters and digits"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn ulid() -> String {
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    }

    #[test]
    fn minted_ids_have_their_shape() {
        assert!(WebhookId::parse(&format!("wh_{}", ulid())).is_ok());
        assert!(ApiKeyId::parse(&ulid()).is_ok());
        for prefix in PRINCIPAL_PREFIXES {
            let id = format!("{prefix}{}", ulid());
            assert!(PrincipalId::parse(&id).is_ok(), "{id}");
            assert!(id.len() <= MAX_ID_CHARS);
        }
    }

    /// Refused as no id of kind `what`, with the rule of that kind.
    #[track_caller]
    fn assert_no_id<T: std::fmt::Debug>(parsed: Result<T, IdError>, what: &str, rule: &str) {
        match parsed {
            Ok(id) => panic!("accepted as {id:?}; expected no {what} id"),
            Err(err) => assert_eq!((err.what, err.rule), (what, rule), "{err}"),
        }
    }

    #[test]
    fn long_or_foreign_strings_are_no_id() {
        let long = "a".repeat(2048);
        let webhook = WebhookId::parse(&format!("wh_{long}"));
        assert_no_id(webhook, "webhook", WebhookId::RULE);
        assert_no_id(ApiKeyId::parse(&long), "API key", ApiKeyId::RULE);
        assert_no_id(GrantId::parse(""), "grant", GrantId::RULE);
        let upload = UploadId::parse(&format!("{}#x", ulid()));
        assert_no_id(upload, "upload", UploadId::RULE);
        let principal = PrincipalId::parse(&format!("root_{}", ulid()));
        assert_no_id(principal, "principal", PrincipalId::RULE);
        let delivery = DeliveryId::parse(&format!("wh_{}", ulid()));
        assert_no_id(delivery, "delivery", DeliveryId::RULE);
    }

    #[test]
    fn the_refusal_quotes_a_short_escaped_prefix() {
        let hostile = format!("x\r\n\0\u{200F}{}", "y".repeat(60_000));
        let e = UploadId::parse(&hostile).expect_err("not an id");
        let text = e.to_string();
        assert!(text.starts_with("no such upload \"x\\u{d}\\u{a}\\u{0}\\u{200f}"));
        assert!(text.len() < 120, "{text}");
    }
}
