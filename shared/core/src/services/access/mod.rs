//! Who may do what: credentials (API keys, tokens, OIDC), principals and grants, the
//! network policy and rate limits, and the guard that a tenant always keeps an admin.

pub mod admin_guard;
pub mod api_keys;
pub mod authn;
pub mod caller;
pub mod grants;
pub mod net_policy;
pub mod oidc;
pub mod oidc_providers;
#[cfg(any(test, feature = "testing"))]
pub mod oidc_testing;
pub mod principals;
pub mod rate_limit;
pub mod tokens;
