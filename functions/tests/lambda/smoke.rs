//! The PreTraffic hook's smoke tests pass on the code being deployed: every function of the
//! template, started as Lambda starts it and signing as its role on the IAM-enforcing moto,
//! answers its smoke test (`trove_functions::smoke`) as the hook requires — so a deployment
//! of this build goes through its hooks, and one whose function cannot start, answers 5xx or
//! calls itself misdeployed stops there.

use trove_functions::smoke::{Answer, judge, smoke_for};

use crate::runtime_api::{Function, Outcome};
use crate::stack::{self, Stack};
use crate::template;

/// What the hook would read from Lambda's answer: a response, or the error the function
/// reported (or Lambda's own, for a function that did not start).
fn answer_of(outcome: Outcome) -> Answer {
    match outcome {
        Outcome::Response(r) => Answer::Response(r),
        Outcome::Error {
            error_type,
            error_message,
        } => Answer::Error {
            error_type,
            message: error_message,
        },
        Outcome::InitFailed(why) => Answer::Error {
            error_type: "Runtime.InitError".into(),
            message: why,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_passes_the_smoke_test_its_deployment_hook_sends() {
    let stack = Stack::new().await;
    let mut tested = 0;
    for def in template::functions(&template::template()).values() {
        if def.binary == "deploy-hook" {
            continue;
        }
        let smoke =
            smoke_for(&def.handler).unwrap_or_else(|| panic!("{}: no smoke test", def.logical_id));
        let spec = stack.spec(def, stack::binary_path(&def.binary)).await;
        let mut function = Function::start(spec).await;
        let answer = answer_of(function.invoke(&smoke.event).await);
        if let Err(why) = judge(smoke.expect, &answer) {
            panic!("{} ({}): {why}", def.logical_id, def.handler);
        }
        tested += 1;
    }
    assert!(tested > 50, "{tested} functions");
}

/// The Scan function's binary without the scanner (the deployment mistake the template's
/// contract also guards against) fails its smoke test: the hook would stop that deployment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_function_built_without_the_scanner_fails_its_smoke_test() {
    let stack = Stack::new().await;
    let def = template::function_for("scan-step", "Scan");
    let smoke = smoke_for("Scan").expect("a smoke test");
    let spec = stack.spec(&def, stack::binary_path("pipeline-step")).await;
    let mut function = Function::start(spec).await;
    let answer = answer_of(function.invoke(&smoke.event).await);
    assert!(judge(smoke.expect, &answer).is_err(), "{answer:?}");
}
