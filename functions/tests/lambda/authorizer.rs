//! The HTTP API's authorizer (`authorizer` binary) fed API Gateway's payload 2.0 requests, and
//! a route function fed what API Gateway forwards once the authorizer allowed a request.

use trove_core::services::access::caller::{Credential, Identity};

use crate::runtime_api::Function;
use crate::stack::{
    Stack, authorizer_event, gateway_event, http_answer, sample_event, without_authorization,
    without_authorizer_context,
};

/// `(isAuthorized, context)` of a simple response.
fn decision(response: &serde_json::Value) -> (bool, serde_json::Value) {
    let allowed = response["isAuthorized"]
        .as_bool()
        .unwrap_or_else(|| panic!("no isAuthorized in {response}"));
    (allowed, response["context"].clone())
}

async fn ask(authorizer: &mut Function, authorization: Option<&str>) -> (bool, serde_json::Value) {
    decision(
        &authorizer
            .invoke(&authorizer_event(authorization))
            .await
            .response(),
    )
}

/// The identity the authorizer's context carries, parsed as the route functions parse it.
fn identity_of(context: &serde_json::Value) -> (String, Identity) {
    let json = context[trove_core::http::guard::IDENTITY_CONTEXT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("the context carries no identity string: {context}"))
        .to_owned();
    let identity: Identity = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the context's identity is not an Identity: {e}: {json}"));
    (json, identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorizer_allows_a_valid_key_and_refuses_anything_else() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let mut authorizer = stack.function("authorizer", "authorizer").await;

    let (allowed, context) = ask(&mut authorizer, Some(&format!("Bearer {key}"))).await;
    assert!(allowed, "{context}");
    let (_, identity) = identity_of(&context);
    assert_eq!(
        identity.tenant.as_str(),
        trove_core::services::bootstrap::DEFAULT_TENANT
    );
    assert!(matches!(identity.credential, Credential::ApiKey { .. }));
    assert!(identity.rights.is_tenant_admin(), "{identity:?}");

    // The scheme is case-insensitive, as in the guard (one `bearer` for both).
    let (allowed, _) = ask(&mut authorizer, Some(&format!("bearer {key}"))).await;
    assert!(allowed);

    // A wrong key, a key of the right shape that does not exist, another scheme, no header:
    // refused, with no identity in the context, and the function keeps answering.
    let last = if key.ends_with('A') { 'B' } else { 'A' };
    let forged = format!("{}{last}", &key[..key.len() - 1]);
    for refused in [
        Some("Bearer trove_not-a-key".to_owned()),
        Some(format!("Bearer {forged}")),
        Some(format!("Basic {key}")),
        None,
    ] {
        let (allowed, context) = ask(&mut authorizer, refused.as_deref()).await;
        assert!(!allowed, "{refused:?} was allowed");
        assert!(
            context
                .get(trove_core::http::guard::IDENTITY_CONTEXT_KEY)
                .is_none(),
            "{refused:?}: {context}"
        );
    }

    // The sample request is one API Gateway sends; its example key is refused like any
    // unknown key.
    let (allowed, _) = decision(
        &authorizer
            .invoke(&sample_event("authorizer.json"))
            .await
            .response(),
    );
    assert!(!allowed);
    let (allowed, _) = ask(&mut authorizer, Some(&format!("Bearer {key}"))).await;
    assert!(allowed, "still allows after refusals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_trusts_the_identity_from_the_authorizer_and_without_it_needs_a_credential() {
    let stack = Stack::new().await;
    let key = stack.admin_key().await;
    let mut authorizer = stack.function("authorizer", "authorizer").await;
    let (allowed, context) = ask(&mut authorizer, Some(&format!("Bearer {key}"))).await;
    assert!(allowed, "{context}");
    let (identity_json, identity) = identity_of(&context);

    let mut me = stack.function("api", "get_caller").await;
    // Through the gateway: no Authorization header reaches the function, only the context.
    let event = gateway_event("get_caller", &identity_json);
    assert!(event["headers"].get("authorization").is_none());
    let (status, body) = http_answer(&me.invoke(&event).await.response());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant"], identity.tenant.as_str(), "{body}");
    assert_eq!(body["principal"], identity.principal.as_str(), "{body}");

    // Neither a context nor a credential: the function decides for itself, and refuses.
    let mut bare = sample_event("api/get_caller.json");
    without_authorizer_context(&mut bare);
    without_authorization(&mut bare);
    let response = me.invoke(&bare).await.response();
    let (status, body) = http_answer(&response);
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        response["headers"]["content-type"], "application/problem+json",
        "{response}"
    );

    // A write route behind the authorizer works from the context alone too.
    let mut create = stack.function("api", "create_repository").await;
    let (status, body) = http_answer(
        &create
            .invoke(&gateway_event("create_repository", &identity_json))
            .await
            .response(),
    );
    assert_eq!(status, 201, "{body}");
}
