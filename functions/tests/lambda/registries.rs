//! What the package managers' function tests share: a repository of a format, created
//! through its route function, and an upload's steps run as the state machine would run
//! them (moto's Step Functions does not run Lambda tasks).

use crate::runtime_api::Outcome;
use crate::stack::{Stack, http_answer};

/// Creates repository `name` of `format` through the create_repository function.
pub async fn create_repository(stack: &Stack, key: &str, name: &str, format: &str) {
    let mut create = stack.function("api", "create_repository").await;
    let mut event = stack.api_event("create_repository", key).await;
    event["body"] = serde_json::json!({"name": name, "format": format})
        .to_string()
        .into();
    let (status, repo) = http_answer(&create.invoke(&event).await.response());
    assert_eq!(status, 201, "{repo}");
}

/// Scan, Validate and Persist of `upload_id`, each from its own function; each must pass.
pub async fn run_pipeline(stack: &Stack, upload_id: &str) {
    for (binary, step) in [
        ("scan-step", "Scan"),
        ("pipeline-step", "Validate"),
        ("pipeline-step", "Persist"),
    ] {
        let mut function = stack.function(binary, step).await;
        let input = stack.step_input(step, upload_id);
        assert_eq!(function.invoke(&input).await, Outcome::Response(input));
    }
}
