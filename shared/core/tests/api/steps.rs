//! Which steps a composition can run.

use trove_core::pipeline::{PERSIST, QUARANTINE, SCAN, VALIDATE, step_available};

/// A binary without the scanner refuses Scan at cold start (as a deployment fault, never as
/// the upload's), and every binary refuses a step name the pipeline does not have.
#[tokio::test]
async fn a_context_refuses_a_step_it_cannot_run() {
    let (_dir, host) = trove_testkit::host().await;
    for step in [SCAN, VALIDATE, PERSIST, QUARANTINE] {
        assert_eq!(step_available(&host.ctx, step), Ok(()), "{step}");
    }
    let mut without = (*host.ctx).clone();
    without.scanner = None;
    let refused = step_available(&without, SCAN).expect_err("no scanner");
    assert_eq!(refused.name(), "Trove.Misdeployed");
    for step in [VALIDATE, PERSIST, QUARANTINE] {
        assert_eq!(step_available(&without, step), Ok(()), "{step}");
    }
    let unknown = step_available(&host.ctx, "Scna").expect_err("not a step");
    assert_eq!(unknown.name(), "Trove.Misdeployed");
}
