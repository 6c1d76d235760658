//! template.yaml in step with the code: the routers' route table, the pipeline definition,
//! the binaries of functions/ and functions-scan/ (and which of them carries the scanner)
//! and the sample events of events/. A later issue that adds a function adds its binary,
//! template entry and sample event, and these tests say which is missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerV2Request, ApiGatewayV2httpRequest,
};
use aws_lambda_events::event::s3::S3Event;
use serde_norway::Value;
use trove_core::domain::keys::{self, BlobKey};
use trove_core::domain::names::{RepoName, TenantName};
use trove_core::http::families;
use trove_core::http::guard::IDENTITY_CONTEXT_KEY;
use trove_core::http::permissions::Need;
use trove_core::pipeline::StepInput;
use trove_core::services::access::caller::Identity;

use crate::stack::{SECRETS, TROVE_ENV};
use crate::template::{self, FunctionDef, functions, global_env_names, string};

const API_BINARY: &str = "api";
const STEP_BINARY: &str = "pipeline-step";
/// The Scan step's binary: functions-scan's, the one package built with the scanner.
const SCAN_BINARY: &str = "scan-step";
const ON_UPLOAD_BINARY: &str = "on-upload";
/// The HTTP API's Lambda authorizer.
const AUTHORIZER_BINARY: &str = "authorizer";
/// The scheduled jobs (cleanup, report), one function each.
const JOBS_BINARY: &str = "jobs";
/// The webhook dispatcher, fed by the events queue.
const DISPATCHER_BINARY: &str = "webhook-dispatcher";
/// The lifecycle hooks (PreTraffic, PostTraffic) of every other function's deployment.
const DEPLOY_HOOK_BINARY: &str = "deploy-hook";

/// Where a function's sample event lives, by its binary and handler.
fn sample_event_path(f: &FunctionDef) -> String {
    match f.binary.as_str() {
        API_BINARY => format!("api/{}.json", f.handler),
        STEP_BINARY | SCAN_BINARY => format!("pipeline/{}.json", f.handler),
        ON_UPLOAD_BINARY => "s3-object-created.json".to_owned(),
        AUTHORIZER_BINARY => "authorizer.json".to_owned(),
        JOBS_BINARY => format!("jobs/{}.json", f.handler),
        DISPATCHER_BINARY => "webhook-dispatcher.json".to_owned(),
        DEPLOY_HOOK_BINARY => "codedeploy-hook.json".to_owned(),
        other => panic!(
            "{}: no sample-event convention for binary {other}; add one here",
            f.logical_id
        ),
    }
}

/// The sample batch of the table's stream the dispatcher relays (`sam local invoke
/// WebhookDispatcherFunction -e events/outbox-stream.json`).
const OUTBOX_STREAM_EVENT: &str = "outbox-stream.json";

fn all_functions() -> BTreeMap<String, FunctionDef> {
    let all = functions(&template::template());
    assert!(!all.is_empty(), "template.yaml defines no function");
    all
}

#[test]
fn every_route_has_exactly_one_function_and_every_http_event_is_a_route() {
    let all = all_functions();
    let mut by_route: BTreeMap<(String, String), Vec<&FunctionDef>> = BTreeMap::new();
    for f in all.values() {
        for route in f.http_routes() {
            by_route.entry(route).or_default().push(f);
        }
    }
    let table = trove_core::http::route_table();
    assert!(!table.is_empty());
    let mut family_events: BTreeSet<(String, String)> = BTreeSet::new();
    for route in &table {
        let key = (route.method.clone(), route.path.clone());
        if let Some(family) = families::FAMILIES.iter().find(|f| f.covers(route)) {
            // Served by the family's function, behind its greedy route.
            let gateway = (route.method.clone(), family.gateway_path());
            let serving = by_route.get(&gateway).cloned().unwrap_or_default();
            assert_eq!(
                serving
                    .iter()
                    .map(|f| f.handler.as_str())
                    .collect::<Vec<_>>(),
                [family.handler],
                "{} {} ({}) belongs to family {}: one function with Handler {} and the \
                 HttpApi event {} {}",
                route.method,
                route.path,
                route.operation_id,
                family.handler,
                family.handler,
                gateway.0,
                gateway.1
            );
            assert!(
                !by_route.contains_key(&key),
                "{} {}: served by family {} and by a function of its own",
                route.method,
                route.path,
                family.handler
            );
            family_events.insert(gateway);
            continue;
        }
        let serving = by_route.remove(&key).unwrap_or_default();
        assert_eq!(
            serving.len(),
            1,
            "{} {} ({}) must have exactly one function with that HttpApi event, has {:?}",
            route.method,
            route.path,
            route.operation_id,
            serving.iter().map(|f| &f.logical_id).collect::<Vec<_>>()
        );
        let f = serving[0];
        assert_eq!(f.binary, API_BINARY, "{}", f.logical_id);
        assert_eq!(
            f.handler, route.operation_id,
            "{}: Handler must be the route's operation id",
            f.logical_id
        );
        assert_eq!(
            f.http_routes().len(),
            1,
            "{}: one route per function",
            f.logical_id
        );
    }
    for gateway in &family_events {
        by_route.remove(gateway);
    }
    // The console: one function of the api binary behind its own routes.
    for (method, path) in trove_core::http::console::GATEWAY_ROUTES {
        let serving = by_route
            .remove(&((*method).to_owned(), (*path).to_owned()))
            .unwrap_or_default();
        assert_eq!(
            serving
                .iter()
                .map(|f| f.handler.as_str())
                .collect::<Vec<_>>(),
            [trove_core::http::console::HANDLER],
            "{method} {path}: the console's function, and it alone"
        );
        assert_eq!(serving[0].binary, API_BINARY);
    }
    assert!(
        by_route.is_empty(),
        "HttpApi events for routes the router does not have: {:?}",
        by_route.keys().collect::<Vec<_>>()
    );
    // Every function of the api binary serves a route (none idles with the whole API), and
    // a family's function has exactly the family's events.
    for f in all.values().filter(|f| f.binary == API_BINARY) {
        if f.handler == families::READ_DOOR_HANDLER {
            assert!(
                f.http_routes().is_empty(),
                "{}: behind its URL only",
                f.logical_id
            );
            let resources = &template::template()["Resources"];
            let urls: Vec<&Value> = resources
                .as_mapping()
                .into_iter()
                .flatten()
                .map(|(_, r)| r)
                .filter(|r| string(&r["Type"]) == "AWS::Lambda::Url")
                .collect();
            assert_eq!(urls.len(), 1, "one function URL, the read door's");
            assert_eq!(string(&urls[0]["Properties"]["AuthType"]), "NONE");
            continue;
        }
        if f.handler == trove_core::http::console::HANDLER {
            assert_eq!(
                f.http_routes().len(),
                trove_core::http::console::GATEWAY_ROUTES.len(),
                "{}",
                f.logical_id
            );
            continue;
        }
        match families::family(&f.handler) {
            Some(family) => {
                let events: BTreeSet<(String, String)> = f.http_routes().into_iter().collect();
                let expected: BTreeSet<(String, String)> = family
                    .methods
                    .iter()
                    .map(|m| ((*m).to_owned(), family.gateway_path()))
                    .collect();
                assert_eq!(events, expected, "{}", f.logical_id);
            }
            None => assert_eq!(f.http_routes().len(), 1, "{} has no route", f.logical_id),
        }
    }
}

/// `Ref X`, `Ref X.Alias`, `GetAtt X.Arn` (short or long form): the resource `X`.
fn referenced_resource(v: &Value) -> Option<String> {
    let target = match v {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            match (tag, &t.value) {
                ("Ref" | "GetAtt", Value::String(s)) => s.clone(),
                ("GetAtt", Value::Sequence(parts)) => string(parts.first()?),
                _ => return None,
            }
        }
        Value::Mapping(m) => {
            if let Some(s) = m.get("Ref").and_then(Value::as_str) {
                s.to_owned()
            } else {
                let att = m.get("Fn::GetAtt")?;
                match att {
                    Value::String(s) => s.clone(),
                    Value::Sequence(parts) => string(parts.first()?),
                    _ => return None,
                }
            }
        }
        _ => return None,
    };
    target.split('.').next().map(str::to_owned)
}

/// Every Task state of an ASL document (nested Parallel branches and Map iterators too), as
/// `(state name, Resource)`.
fn tasks(states: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let Some(states) = states.as_object() else {
        return;
    };
    for (name, state) in states {
        if state["Type"] == "Task" {
            out.push((
                name.clone(),
                state["Resource"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            tasks(&branch["States"], out);
        }
        for key in ["Iterator", "ItemProcessor"] {
            tasks(&state[key]["States"], out);
        }
    }
}

#[test]
fn every_state_machine_task_names_a_function_of_the_template() {
    let tpl = template::template();
    let all = functions(&tpl);
    let resources = tpl["Resources"].as_mapping().expect("Resources");
    let machines: Vec<(String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::StateMachine"))
        .map(|(id, r)| (string(id), &r["Properties"]))
        .collect();
    assert!(!machines.is_empty(), "template.yaml has no state machine");

    let mut definitions = BTreeSet::new();
    for (id, props) in machines {
        let uri = string(&props["DefinitionUri"]);
        definitions.insert(uri.clone());
        let asl: serde_json::Value =
            serde_json::from_str(&template::read(&uri)).expect("ASL is JSON");
        let substitutions = props["DefinitionSubstitutions"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let invokable: BTreeSet<String> = props["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|p| referenced_resource(&p["LambdaInvokePolicy"]["FunctionName"]))
            .collect();

        let mut found = Vec::new();
        tasks(&asl["States"], &mut found);
        assert!(!found.is_empty(), "{uri} has no Task");
        let mut used = BTreeSet::new();
        for (state, resource) in found {
            let variable = resource
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .unwrap_or_else(|| {
                    panic!("{uri}: Task {state} must name its function as ${{XFunctionArn}}")
                });
            used.insert(variable.to_owned());
            let value = substitutions
                .get(variable)
                .unwrap_or_else(|| panic!("{id}: no DefinitionSubstitutions for {variable}"));
            let function = referenced_resource(value)
                .unwrap_or_else(|| panic!("{id}: {variable} must reference a function"));
            let f = all
                .get(&function)
                .unwrap_or_else(|| panic!("{id}: {variable} names {function}, not a function"));
            assert!(
                [STEP_BINARY, SCAN_BINARY].contains(&f.binary.as_str()),
                "{function}: Binary {} runs no pipeline step",
                f.binary
            );
            assert_eq!(
                f.handler, state,
                "{function}: Handler must be the Task's state name"
            );
            assert!(
                invokable.contains(&function),
                "{id} has no LambdaInvokePolicy for {function}"
            );
        }
        let defined: BTreeSet<String> = substitutions.keys().map(string).collect();
        assert_eq!(defined, used, "{id}: substitutions the ASL does not use");
    }

    // Every step function is a step the code runs, and every ASL file is deployed.
    let steps = [
        trove_core::pipeline::SCAN,
        trove_core::pipeline::VALIDATE,
        trove_core::pipeline::PERSIST,
        trove_core::pipeline::QUARANTINE,
    ];
    for f in all
        .values()
        .filter(|f| [STEP_BINARY, SCAN_BINARY].contains(&f.binary.as_str()))
    {
        assert!(steps.contains(&f.handler.as_str()), "{}", f.logical_id);
    }
    // Scan, and only Scan, runs on the binary with the scanner.
    for f in all.values().filter(|f| f.binary == SCAN_BINARY) {
        assert_eq!(f.handler, trove_core::pipeline::SCAN, "{}", f.logical_id);
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(template::root().join("statemachines"))
        .expect("statemachines/")
        .filter_map(|e| e.ok())
        .map(|e| format!("statemachines/{}", e.file_name().to_string_lossy()))
        .filter(|p| p.ends_with(".asl.json"))
        .collect();
    assert_eq!(
        on_disk, definitions,
        "every statemachines/*.asl.json is deployed"
    );
}

fn manifest(path: &str) -> toml::Table {
    template::read(path)
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `[[bin]]` names of `<package dir>/Cargo.toml`.
fn cargo_binaries(package_dir: &str) -> BTreeSet<String> {
    let manifest = manifest(&format!("{package_dir}/Cargo.toml"));
    manifest
        .get("bin")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|bin| bin.get("name")?.as_str())
        .map(str::to_owned)
        .collect()
}

/// The `members` of the workspace (the root Cargo.toml).
fn workspace_members() -> BTreeSet<String> {
    manifest("Cargo.toml")
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(toml::Value::as_array)
        .expect("the workspace lists its members")
        .iter()
        .filter_map(toml::Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_function_is_built_from_a_binary_of_its_package_and_every_binary_is_deployed() {
    let all = all_functions();
    let members = workspace_members();
    let mut binaries_by_package: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut deployed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut metadata_by_binary: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::new();
    for f in all.values() {
        assert!(
            members.contains(&f.code_uri),
            "{}: CodeUri {:?} is not a package of the workspace {members:?}",
            f.logical_id,
            f.code_uri
        );
        let binaries = binaries_by_package
            .entry(f.code_uri.clone())
            .or_insert_with(|| cargo_binaries(&f.code_uri));
        assert!(
            binaries.contains(&f.binary),
            "{}: Binary {:?} is not a [[bin]] of {}/Cargo.toml",
            f.logical_id,
            f.binary,
            f.code_uri
        );
        assert_eq!(f.build_method, "rust-cargolambda", "{}", f.logical_id);
        assert!(!f.handler.is_empty(), "{}: Handler", f.logical_id);
        // Identical build metadata per binary, so `sam build` builds each binary once (and a
        // binary's name says which package it is: they share target/lambda/<binary>/).
        let metadata = (
            f.build_method.as_str(),
            f.code_uri.as_str(),
            f.architecture.as_str(),
        );
        let seen = metadata_by_binary
            .entry(f.binary.as_str())
            .or_insert(metadata);
        assert_eq!(*seen, metadata, "{}", f.logical_id);
        deployed
            .entry(f.code_uri.clone())
            .or_default()
            .insert(f.binary.clone());
    }
    assert!(
        binaries_by_package["functions"].contains(API_BINARY),
        "{binaries_by_package:?}"
    );
    assert_eq!(
        deployed, binaries_by_package,
        "a binary of functions/ or functions-scan/ no function runs"
    );
}

/// The packages a build of the package in `package_dir` links (normal dependencies), resolved
/// by cargo as `sam build` resolves them: it runs cargo in that directory.
fn linked_packages(package_dir: &str) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(template::root().join(package_dir))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["--format", "{p}"])
        .output()
        .unwrap_or_else(|e| panic!("cargo tree in {package_dir}: {e}"));
    assert!(
        output.status.success(),
        "cargo tree in {package_dir}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// The Scan function runs the only binary that carries the scanner (trove-scan: YARA and
/// the archive walkers); every other function's package is built without it, and that is
/// what lets those run on arm64: yara-sys ships prebuilt bindings for x86_64 only. A Scan
/// function built without the scanner would refuse to start (`step_available`), and one that
/// started anyway would fail every upload into Quarantine: caught here instead.
#[test]
fn only_the_scan_function_carries_the_scanner_and_only_it_runs_on_x86_64() {
    let all = all_functions();
    let mut linked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut scan_functions = 0;
    for f in all.values() {
        let links = linked
            .entry(f.code_uri.clone())
            .or_insert_with(|| linked_packages(&f.code_uri));
        assert!(
            links.contains("trove-aws"),
            "{}: {} does not link trove-aws",
            f.logical_id,
            f.code_uri
        );
        let is_scan = f.handler == trove_core::pipeline::SCAN;
        scan_functions += usize::from(is_scan);
        let has_scanner = links.contains("trove-scan");
        assert_eq!(
            has_scanner,
            is_scan,
            "{}: built from {}/, which {} trove-scan; the Scan function must be built from \
             the package that links it (functions-scan), every other from one without it \
             (functions)",
            f.logical_id,
            f.code_uri,
            if has_scanner {
                "links"
            } else {
                "does not link"
            }
        );
        let expected = if has_scanner { "x86_64" } else { "arm64" };
        assert_eq!(
            f.architecture, expected,
            "{}: the scanner's binary is x86_64 (yara-sys's prebuilt bindings), every other \
             function arm64",
            f.logical_id
        );
    }
    assert_eq!(scan_functions, 1, "exactly one function runs Scan");
}

#[test]
fn every_function_has_a_sample_event_and_every_sample_event_a_function() {
    let all = all_functions();
    let mut expected: BTreeSet<String> = all.values().map(sample_event_path).collect();
    // The dispatcher's second source, the table's stream of outbox entries.
    if all.values().any(|f| f.binary == DISPATCHER_BINARY) {
        expected.insert(OUTBOX_STREAM_EVENT.to_owned());
    }
    let mut present = BTreeSet::new();
    collect_json(&template::root().join("events"), "", &mut present);
    assert_eq!(
        expected, present,
        "events/ must hold one sample event per function (left: expected, right: present)"
    );
}

fn collect_json(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir)
        .expect("events/")
        .filter_map(|e| e.ok())
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if path.is_dir() {
            collect_json(&path, &format!("{prefix}{name}/"), out);
        } else if name.ends_with(".json") {
            out.insert(format!("{prefix}{name}"));
        }
    }
}

/// Whether a concrete path fits a route path with `{params}`, with exactly these parameters
/// (a last `{proxy+}` takes the rest of the path, as API Gateway's greedy parameter does).
fn path_fits(route: &str, raw: &str, params: &std::collections::HashMap<String, String>) -> bool {
    let route: Vec<&str> = route.split('/').collect();
    let mut raw: Vec<String> = raw.split('/').map(str::to_owned).collect();
    if route.last() == Some(&"{proxy+}") && raw.len() >= route.len() {
        let rest = raw.split_off(route.len() - 1).join("/");
        raw.push(rest);
    }
    if route.len() != raw.len() {
        return false;
    }
    let mut named = 0;
    for (r, v) in route.iter().zip(&raw) {
        let r = r.replace("+}", "}");
        if let Some(name) = r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            named += 1;
            if params.get(name) != Some(v) {
                return false;
            }
        } else if r != *v {
            return false;
        }
    }
    named == params.len()
}

/// The parameters `raw` gives `route`'s `{names}` when its literal segments match (a
/// function URL event carries none: the router reads them from the path).
fn route_params(route: &str, raw: &str) -> std::collections::HashMap<String, String> {
    route
        .split('/')
        .zip(raw.split('/'))
        .filter_map(|(r, v)| {
            let name = r.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.trim_end_matches('+').to_owned(), v.to_owned()))
        })
        .collect()
}

#[test]
fn every_sample_event_is_the_event_its_function_receives() {
    let tpl = template::template();
    for f in functions(&tpl).values() {
        let path = sample_event_path(f);
        let text = template::read(&format!("events/{path}"));
        match f.binary.as_str() {
            API_BINARY if f.handler == families::READ_DOOR_HANDLER => {
                // A function URL's request: the HTTP API's payload 2.0 with the `$default`
                // route, no authorizer, and the caller's own credential.
                let event: ApiGatewayV2httpRequest = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not a function URL event: {e}"));
                assert_eq!(
                    event.route_key.as_deref(),
                    Some("$default"),
                    "events/{path}"
                );
                assert!(event.request_context.authorizer.is_none(), "events/{path}");
                assert!(
                    event.headers.contains_key("authorization"),
                    "events/{path}: the caller's credential"
                );
                let raw = event.raw_path.as_deref().unwrap_or_default();
                let method = event.request_context.http.method.as_str().to_owned();
                assert!(
                    trove_core::http::route_table().iter().any(|r| {
                        families::read_door_covers(r)
                            && r.method == method
                            && path_fits(&r.path, raw, &route_params(&r.path, raw))
                    }),
                    "events/{path}: {method} {raw} is no route of the read door"
                );
            }
            API_BINARY => {
                let event: ApiGatewayV2httpRequest = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not an HTTP API event: {e}"));
                // One of the function's events (a family's function has one per method).
                let key = event.route_key.clone().unwrap_or_default();
                let (method, route) = f
                    .http_routes()
                    .into_iter()
                    .find(|(m, r)| format!("{m} {r}") == key)
                    .unwrap_or_else(|| {
                        panic!(
                            "events/{path}: routeKey {key:?} is none of {:?}",
                            f.http_routes()
                        )
                    });
                if method != "ANY" {
                    assert_eq!(event.request_context.http.method.as_str(), method);
                }
                let raw = event.raw_path.as_deref().unwrap_or_default();
                assert!(
                    path_fits(&route, raw, &event.path_parameters),
                    "events/{path}: {raw} with {:?} is not {route}",
                    event.path_parameters
                );
                // What API Gateway forwards: the authorizer's context on every route but the
                // ones it does not run for: public routes, and package managers' routes,
                // whose functions authenticate the caller from the header themselves.
                let rule = families::rule_of_handler(&f.handler);
                let public = rule.is_some_and(|r| r.need == Need::Public);
                let challenges = rule.is_some_and(|r| r.challenges_clients);
                if challenges {
                    assert!(
                        event.headers.contains_key("authorization"),
                        "events/{path}: a package manager's request carries its credential"
                    );
                }
                let context = event
                    .request_context
                    .authorizer
                    .as_ref()
                    .map(|a| a.fields.clone())
                    .unwrap_or_default();
                if public || challenges {
                    assert!(
                        context.is_empty(),
                        "events/{path}: a route without the authorizer gets no authorizer context"
                    );
                } else {
                    let identity = context
                        .get(IDENTITY_CONTEXT_KEY)
                        .and_then(|v| v.as_str())
                        .unwrap_or_else(|| {
                            panic!(
                                "events/{path}: requestContext.authorizer.lambda.\
                                 {IDENTITY_CONTEXT_KEY} (the Identity as a JSON string) missing"
                            )
                        });
                    serde_json::from_str::<Identity>(identity).unwrap_or_else(|e| {
                        panic!("events/{path}: the context's identity is not an Identity: {e}")
                    });
                }
            }
            AUTHORIZER_BINARY => {
                let request: ApiGatewayV2CustomAuthorizerV2Request = serde_json::from_str(&text)
                    .unwrap_or_else(|e| {
                        panic!("events/{path}: not an HTTP API authorizer request: {e}")
                    });
                assert_eq!(request.version.as_deref(), Some("2.0"), "events/{path}");
                assert_eq!(request.type_.as_deref(), Some("REQUEST"), "events/{path}");
                let header = request
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_else(|| panic!("events/{path}: no Authorization header"));
                assert!(
                    trove_core::http::guard::bearer(&request.headers)
                        .is_some_and(|b| !b.is_empty()),
                    "events/{path}: a bearer credential"
                );
                let ip = request
                    .request_context
                    .http
                    .source_ip
                    .clone()
                    .unwrap_or_default();
                assert!(
                    ip.parse::<std::net::IpAddr>().is_ok(),
                    "events/{path}: sourceIp {ip:?}"
                );
                // The template's identity sources, in order: the header, then the address.
                assert_eq!(
                    request.identity_source.unwrap_or_default(),
                    [header.to_owned(), ip],
                    "events/{path}: identitySource"
                );
            }
            STEP_BINARY | SCAN_BINARY => {
                let input: StepInput = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not a step input: {e}"));
                assert_eq!(
                    input.reason.is_some(),
                    f.handler == trove_core::pipeline::QUARANTINE,
                    "events/{path}: only Quarantine gets a reason"
                );
            }
            ON_UPLOAD_BINARY => {
                let event: S3Event = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not an S3 event: {e}"));
                assert!(!event.records.is_empty());
                for record in &event.records {
                    let key = record.s3.object.key.as_deref().unwrap_or_default();
                    assert!(
                        BlobKey::parse_incoming(key).is_some(),
                        "events/{path}: {key} is not an incoming/ key"
                    );
                    assert!(
                        record
                            .event_name
                            .as_deref()
                            .is_some_and(|n| n.starts_with("ObjectCreated:")),
                        "events/{path}"
                    );
                }
                // The template's notification filter is the same prefix.
                let prefixes: Vec<String> = f
                    .events
                    .iter()
                    .filter(|(_, kind, _)| kind == "S3")
                    .flat_map(|(_, _, props)| {
                        props["Filter"]["S3Key"]["Rules"]
                            .as_sequence()
                            .cloned()
                            .unwrap_or_default()
                    })
                    .map(|rule| string(&rule["Value"]))
                    .collect();
                assert_eq!(prefixes, ["incoming/"], "{}", f.logical_id);
            }
            JOBS_BINARY => {
                let event: aws_lambda_events::event::eventbridge::EventBridgeEvent<
                    serde_json::Value,
                > = serde_json::from_str(&text).unwrap_or_else(|e| {
                    panic!("events/{path}: not an EventBridge scheduled event: {e}")
                });
                assert_eq!(event.source, "aws.events", "events/{path}");
                assert_eq!(event.detail_type, "Scheduled Event", "events/{path}");
            }
            DISPATCHER_BINARY => {
                let event: aws_lambda_events::event::sqs::SqsEvent = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not an SQS event: {e}"));
                assert!(!event.records.is_empty(), "events/{path}");
                for record in &event.records {
                    trove_aws::delivery::parse_message(record)
                        .unwrap_or_else(|e| panic!("events/{path}: not a queue message: {e}"));
                }
                let queues: Vec<String> = f
                    .events
                    .iter()
                    .filter(|(_, kind, _)| kind == "SQS")
                    .map(|(_, _, props)| format!("{:?}", props["Queue"]))
                    .collect();
                assert_eq!(queues.len(), 1, "{}: one queue", f.logical_id);
                assert!(
                    queues[0].contains("EventsQueue"),
                    "{}: {queues:?}",
                    f.logical_id
                );
                // Its other source, the table's stream of outbox entries.
                let text = std::fs::read_to_string(
                    template::root().join("events").join(OUTBOX_STREAM_EVENT),
                )
                .expect("events/outbox-stream.json");
                let stream: trove_aws::outbox_stream::StreamEvent =
                    serde_json::from_str(&text).expect("events/outbox-stream.json: a stream event");
                assert!(!stream.records.is_empty());
                for record in &stream.records {
                    assert_eq!(record.event_source.as_deref(), Some("aws:dynamodb"));
                    trove_aws::outbox_stream::entry_of(record)
                        .expect("events/outbox-stream.json: an outbox entry");
                }
            }
            DEPLOY_HOOK_BINARY => {
                // What CodeDeploy sends a lifecycle hook: these two strings.
                let event: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not JSON: {e}"));
                for field in ["DeploymentId", "LifecycleEventHookExecutionId"] {
                    assert!(event[field].is_string(), "events/{path}: {field}");
                }
                assert!(f.events.is_empty(), "{}: CodeDeploy calls it", f.logical_id);
            }
            _ => unreachable!("sample_event_path names every binary"),
        }
    }
}

#[test]
fn the_template_gives_functions_the_variables_the_code_reads() {
    let tpl = template::template();
    let mut in_template = global_env_names(&tpl);
    in_template.sort();
    let mut read = TROVE_ENV
        .iter()
        .map(|s| (*s).to_owned())
        .collect::<Vec<_>>();
    read.sort();
    assert_eq!(in_template, read);
    // .env.sample documents each of them.
    let sample = template::read(".env.sample");
    for name in TROVE_ENV {
        assert!(
            sample.contains(&format!("{name}=")),
            "{name} in .env.sample"
        );
    }
}

#[test]
fn every_route_but_the_public_ones_is_behind_the_authorizer() {
    let tpl = template::template();
    let all = functions(&tpl);
    let resources = tpl["Resources"].as_mapping().expect("Resources");
    let apis: Vec<(String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
        .map(|(id, r)| (string(id), &r["Properties"]))
        .collect();
    assert_eq!(apis.len(), 1, "template.yaml has one HTTP API");
    let (api_id, api) = &apis[0];

    // A route whose event names no authorizer gets the default one: without a default, it
    // would be public.
    let default = string(&api["Auth"]["DefaultAuthorizer"]);
    assert!(!default.is_empty(), "{api_id}: no Auth.DefaultAuthorizer");
    let authorizer = &api["Auth"]["Authorizers"][default.as_str()];
    assert!(
        authorizer.is_mapping(),
        "{api_id}: DefaultAuthorizer {default} is not one of its Authorizers"
    );
    let function = referenced_resource(&authorizer["FunctionArn"])
        .unwrap_or_else(|| panic!("{api_id}: {default}'s FunctionArn must reference a function"));
    let f = all
        .get(&function)
        .unwrap_or_else(|| panic!("{api_id}: {default} names {function}, not a function"));
    assert_eq!(f.binary, AUTHORIZER_BINARY, "{function}");
    assert!(
        f.events.is_empty(),
        "{function}: only API Gateway invokes the authorizer"
    );
    let authorizers: Vec<&String> = all
        .values()
        .filter(|f| f.binary == AUTHORIZER_BINARY)
        .map(|f| &f.logical_id)
        .collect();
    assert_eq!(authorizers, [&function], "one authorizer function");

    // What the binary speaks: payload 2.0 in, a simple response out.
    assert_eq!(
        string(&authorizer["AuthorizerPayloadFormatVersion"]),
        "2.0",
        "{default}"
    );
    assert_eq!(
        authorizer["EnableSimpleResponses"].as_bool(),
        Some(true),
        "{default}"
    );
    assert_eq!(
        authorizer["EnableFunctionDefaultPermissions"].as_bool(),
        Some(true),
        "{default}: without it API Gateway may not invoke the function"
    );
    // The cache key: the credential and the address (the decision depends on both: IP lists,
    // failed attempts per address), for no longer than the authorizer trusts a credential.
    let identity = &authorizer["Identity"];
    let listed = |key: &str| -> Vec<String> {
        identity[key]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(string)
            .collect()
    };
    assert!(
        listed("Headers")
            .iter()
            .any(|h| h.eq_ignore_ascii_case("authorization")),
        "{default}: Identity.Headers must hold Authorization"
    );
    assert!(
        listed("Context").iter().any(|c| c == "identity.sourceIp"),
        "{default}: Identity.Context must hold identity.sourceIp"
    );
    let ttl = identity["ReauthorizeEvery"]
        .as_u64()
        .unwrap_or_else(|| panic!("{default}: Identity.ReauthorizeEvery"));
    // The gateway's cache and the authorizer's own stack: a revoked key is answered from
    // the first for `ttl`, and the authorizer behind it may still trust it for CACHE_TTL.
    let authn = trove_core::services::access::authn::CACHE_TTL.as_secs();
    let bound = trove_core::services::access::authn::REVOCATION_BOUND.as_secs();
    assert!(
        ttl + authn <= bound,
        "{default}: API Gateway caches {ttl} s on top of the authorizer's {authn} s: a revocation may take {} s, more than {bound}",
        ttl + authn
    );

    for f in all.values() {
        for (name, kind, props) in &f.events {
            if kind != "HttpApi" {
                continue;
            }
            assert_eq!(
                referenced_resource(&props["ApiId"]).as_deref(),
                Some(api_id.as_str()),
                "{}: event {name} must name ApiId {api_id}",
                f.logical_id
            );
            let rule = families::rule_of_handler(&f.handler).unwrap_or_else(|| {
                panic!("{}: {} has no permission rule", f.logical_id, f.handler)
            });
            let chosen = &props["Auth"]["Authorizer"];
            if rule.challenges_clients {
                assert_eq!(
                    string(chosen),
                    "NONE",
                    "{}: {} answers package managers, whose credential only a challenging 401 \
                     brings (API Gateway's own 401 carries no WWW-Authenticate): its event \
                     needs Auth: Authorizer: NONE",
                    f.logical_id,
                    f.handler
                );
            } else if rule.need == Need::Public {
                assert_eq!(
                    string(chosen),
                    "NONE",
                    "{}: {} is public: its event needs Auth: Authorizer: NONE",
                    f.logical_id,
                    f.handler
                );
            } else {
                assert!(
                    chosen.is_null() || string(chosen) == default,
                    "{}: {} needs a caller ({:?}) and must be behind {default}, not {chosen:?}",
                    f.logical_id,
                    f.handler,
                    rule.need
                );
            }
        }
    }
}

/// One function's IAM grants: policy templates (`DynamoDBReadPolicy: …`) by name, and
/// statements, inline or from a managed policy of the template it references.
struct Grants {
    templates: Vec<(String, Value)>,
    statements: Vec<Value>,
}

impl Grants {
    /// CRUD on the table (SAM's template, or a statement that puts items of any partition).
    fn writes_any_item(&self) -> bool {
        self.templates
            .iter()
            .any(|(n, _)| n == "DynamoDBCrudPolicy")
            || self.statements.iter().any(|s| {
                actions(s).iter().any(|a| a == "dynamodb:PutItem") && leading_keys(s).is_none()
            })
    }
}

fn grants_of(tpl: &Value, f: &FunctionDef) -> Grants {
    let mut grants = Grants {
        templates: Vec::new(),
        statements: Vec::new(),
    };
    for policy in &f.policies {
        if let Some(target) = referenced_resource(policy) {
            let resource = &tpl["Resources"][target.as_str()];
            assert_eq!(
                resource["Type"].as_str(),
                Some("AWS::IAM::ManagedPolicy"),
                "{}: policy {target} is not a managed policy of the template",
                f.logical_id
            );
            grants.statements.extend(
                resource["Properties"]["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .cloned()
                    .unwrap_or_default(),
            );
            continue;
        }
        let Some(map) = policy.as_mapping() else {
            panic!(
                "{}: policy {policy:?} is not the template's: what it allows cannot be checked",
                f.logical_id
            );
        };
        for (name, body) in map {
            let name = string(name);
            if name == "Statement" {
                grants
                    .statements
                    .extend(body.as_sequence().cloned().unwrap_or_default());
            } else {
                grants.templates.push((name, body.clone()));
            }
        }
    }
    grants
}

fn actions(statement: &Value) -> Vec<String> {
    match &statement["Action"] {
        Value::Sequence(s) => s.iter().map(string).collect(),
        other => vec![string(other)],
    }
}

/// The partition-key patterns a statement is limited to (`dynamodb:LeadingKeys`), if any.
fn leading_keys(statement: &Value) -> Option<Vec<String>> {
    let keys = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
    match keys {
        Value::Sequence(s) => Some(s.iter().map(string).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

/// IAM's `StringLike`: `*` any run of characters, `?` one.
fn like(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

/// Partition keys the code writes, by what they hold: the ones a restricted statement may
/// name, and the others it must not reach.
fn partitions() -> BTreeMap<&'static str, String> {
    let t = TenantName::parse("acme").expect("tenant name");
    let r = RepoName::parse("libs").expect("repository name");
    let user = "user_01jp5x7k3m2n4p6q8r0s2t4v6w";
    BTreeMap::from([
        ("rate bucket", keys::rate_bucket("anon#203.0.113.10").pk),
        (
            "API key",
            keys::api_key_by_id("01jp5x7k3m2n4p6q8r0s2t4v6x").pk,
        ),
        ("grant", keys::grant(&t, "01jp5xa0b1c2d3e4f5g6h7j8k9").pk),
        ("tenant", keys::tenant(&t).pk),
        ("tenant policy", keys::tenant_policy(&t).pk),
        ("tenant listing", keys::tenant_listing(&t).pk),
        ("repository", keys::repo(&t, &r).pk),
        ("usage counter", keys::usage_partition(&t, &r, "2026-11-22")),
        ("upload", keys::upload(&t, "01jp5xc3d4e5f6g7h8j9k0m1n2").pk),
        ("principal", keys::principal(&t, user).pk),
        ("principal listing", keys::principal_listing(&t, user).pk),
        ("audit", keys::audit(&t, "01jp5xd4e5f6g7h8j9k0m1n2p3").pk),
        (
            "OIDC provider",
            keys::oidc_provider(&t, "01jp5xb2c3d4e5f6g7h8j9k0m1").pk,
        ),
    ])
}

/// The kinds of item `function`'s PutItem and UpdateItem statements may write; panics on a
/// write that is not limited by partition, or whose patterns reach beyond `allowed`.
fn writable_partitions(function: &str, grants: &Grants, allowed: &[&str]) -> BTreeSet<String> {
    let partitions = partitions();
    let mut writable = BTreeSet::new();
    for statement in &grants.statements {
        if !actions(statement)
            .iter()
            .any(|a| a == "dynamodb:PutItem" || a == "dynamodb:UpdateItem")
        {
            continue;
        }
        let patterns = leading_keys(statement).unwrap_or_else(|| {
            panic!("{function}: writes any item; limit it with dynamodb:LeadingKeys")
        });
        for pattern in patterns {
            let reached: Vec<&str> = partitions
                .iter()
                .filter(|(_, pk)| like(&pattern, pk))
                .map(|(kind, _)| *kind)
                .collect();
            assert!(
                !reached.is_empty(),
                "{function}: LeadingKeys {pattern:?} matches no key the code writes"
            );
            for kind in reached {
                assert!(
                    allowed.contains(&kind),
                    "{function}: LeadingKeys {pattern:?} lets it write {kind} items"
                );
                writable.insert(kind.to_owned());
            }
        }
    }
    writable
}

/// Actions a read-only route may have (beyond writing its rate-limit bucket).
const READ_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "s3:GetObject",
    // HEAD of a missing key answers 404 (not 403) only to who may list the bucket.
    "s3:ListBucket",
    "s3:ListMultipartUploadParts",
    "states:DescribeExecution",
    "states:GetExecutionHistory",
    "secretsmanager:GetSecretValue",
];
const READ_POLICIES: &[&str] = &[
    "DynamoDBReadPolicy",
    "AWSSecretsManagerGetSecretValuePolicy",
];

/// A route whose rule writes nothing (no audit action: every GET, and issue_token) reads,
/// and writes only its own rate-limit bucket.
#[test]
fn a_read_route_can_only_read_and_keep_its_rate_limit() {
    let tpl = template::template();
    for f in functions(&tpl).values() {
        let Some((method, route)) = f.http_routes().into_iter().next() else {
            continue;
        };
        let reads = method == "GET"
            || families::rule_of_handler(&f.handler).is_some_and(|r| r.audit.is_none());
        // The console's pages change things through the API routes they call in-process:
        // it holds what those write routes hold (and no Scan: `no_read_route_may_scan_the_whole_table`).
        if !reads || f.handler == trove_core::http::console::HANDLER {
            continue;
        }
        let grants = grants_of(&tpl, f);
        for (name, _) in &grants.templates {
            assert!(
                READ_POLICIES.contains(&name.as_str()),
                "{} ({method} {route}) has {name}",
                f.logical_id
            );
        }
        for statement in &grants.statements {
            for action in actions(statement) {
                // Part URLs are signed with the function's own right to the upload
                // (UploadPart is PutObject's); it writes nothing itself.
                let signs_part_urls =
                    f.handler == "presign_upload_parts" && action == "s3:PutObject";
                assert!(
                    READ_ACTIONS.contains(&action.as_str())
                        || signs_part_urls
                        || action == "dynamodb:PutItem"
                        || action == "dynamodb:UpdateItem",
                    "{} ({method} {route}) may {action}",
                    f.logical_id
                );
            }
        }
        // Downloads are counted for the daily report (services::records::usage); a function
        // that authenticates its caller itself records last use as the authorizer does.
        let mut allowed = vec!["rate bucket"];
        if ["download_file", "pypi_read", "npm_read", "cargo_read"].contains(&f.handler.as_str()) {
            allowed.push("usage counter");
        }
        if families::rule_of_handler(&f.handler).is_some_and(|r| r.challenges_clients) {
            allowed.extend(["API key", "grant"]);
        }
        writable_partitions(&f.logical_id, &grants, &allowed);
    }
}

/// Every route's guard takes a token from a shared bucket in the table. Without the right to
/// write it the limit is silently not applied (the guard lets the request through), so the
/// template must give it to every route function.
#[test]
fn every_route_function_can_write_its_rate_limit_bucket() {
    let tpl = template::template();
    for f in functions(&tpl).values().filter(|f| f.binary == API_BINARY) {
        let grants = grants_of(&tpl, f);
        if grants.writes_any_item() {
            continue;
        }
        let writable = writable_partitions(
            &f.logical_id,
            &grants,
            &partitions().keys().copied().collect::<Vec<_>>(),
        );
        assert!(
            writable.contains("rate bucket"),
            "{}: cannot write its rate-limit bucket (RateLimitBucketsPolicy)",
            f.logical_id
        );
    }
}

/// The calls `rate_limit::lease` makes on a bucket: a conditional put, a conditional update,
/// and a read when both are refused. Without one of them every limited route fails open or
/// answers 500.
#[test]
fn the_rate_limit_policy_allows_every_call_of_a_lease() {
    let tpl = template::template();
    let statements =
        tpl["Resources"]["RateLimitBucketsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
    let allowed: BTreeSet<String> = statements.iter().flat_map(actions).collect();
    for call in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ] {
        assert!(
            allowed.contains(call),
            "RateLimitBucketsPolicy lacks {call}: {allowed:?}"
        );
    }
}

/// The authorizer reads, and writes exactly: failed-attempt buckets, API keys' and grants'
/// last use.
#[test]
fn the_authorizer_writes_only_rate_buckets_and_last_use() {
    let tpl = template::template();
    let all = functions(&tpl);
    let f = all
        .values()
        .find(|f| f.binary == AUTHORIZER_BINARY)
        .expect("an authorizer function");
    let grants = grants_of(&tpl, f);
    for (name, _) in &grants.templates {
        assert!(
            READ_POLICIES.contains(&name.as_str()),
            "{} has {name}",
            f.logical_id
        );
    }
    for statement in &grants.statements {
        for action in actions(statement) {
            assert!(
                READ_ACTIONS.contains(&action.as_str())
                    || action == "dynamodb:PutItem"
                    || action == "dynamodb:UpdateItem",
                "{} may {action}",
                f.logical_id
            );
        }
    }
    let needed = ["rate bucket", "API key", "grant"];
    let writable = writable_partitions(&f.logical_id, &grants, &needed);
    assert_eq!(
        writable,
        needed.iter().map(|k| (*k).to_owned()).collect(),
        "{}",
        f.logical_id
    );
}

/// Which functions read which secret (the name after TROVE_SECRET_PREFIX), by binary and
/// handler: tokens are signed by issue_token and verified by the authorizer; users' emails are
/// sealed and opened where users are created and shown.
const SECRET_READERS: &[(&str, &str, &str)] = &[
    (AUTHORIZER_BINARY, "", "token-signing"),
    (API_BINARY, "issue_token", "token-signing"),
    // Package managers' routes authenticate their callers themselves (access tokens too).
    (API_BINARY, "pypi_read", "token-signing"),
    (API_BINARY, "pypi_upload", "token-signing"),
    (API_BINARY, "npm_read", "token-signing"),
    (API_BINARY, "npm_write", "token-signing"),
    (API_BINARY, "cargo_read", "token-signing"),
    (API_BINARY, "cargo_write", "token-signing"),
    // The read door decides every caller's identity itself, as those routes do.
    (API_BINARY, families::READ_DOOR_HANDLER, "token-signing"),
    // Signing in issues a token; the admin's pages list users (their emails, sealed).
    (API_BINARY, "console", "token-signing"),
    (API_BINARY, "console", "pii-key"),
    (API_BINARY, "create_user", "pii-key"),
    (API_BINARY, "list_users", "pii-key"),
    (API_BINARY, "get_principal", "pii-key"),
    // Webhook secrets are sealed with the PII key: written on create and update (rotation),
    // opened by the dispatcher to sign.
    (API_BINARY, "create_webhook", "pii-key"),
    (API_BINARY, "update_webhook", "pii-key"),
    (DISPATCHER_BINARY, "", "pii-key"),
];

#[test]
fn each_secret_exists_and_is_read_only_where_the_code_reads_it() {
    let tpl = template::template();
    let resources = tpl["Resources"].as_mapping().expect("Resources");
    let mut secrets: BTreeMap<String, String> = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::SecretsManager::Secret") {
            continue;
        }
        let id = string(id);
        let name = match &resource["Properties"]["Name"] {
            Value::Tagged(t) if t.tag == "Sub" => string(&t.value),
            other => panic!("{id}: Name must be !Sub trove/${{Stage}}/<name>, not {other:?}"),
        };
        let name = name
            .strip_prefix("trove/${Stage}/")
            .unwrap_or_else(|| panic!("{id}: {name} is not under TROVE_SECRET_PREFIX"));
        secrets.insert(id, name.to_owned());
    }
    let in_template: BTreeSet<&str> = secrets.values().map(String::as_str).collect();
    let harness: BTreeSet<&str> = SECRETS.iter().copied().collect();
    assert_eq!(
        in_template, harness,
        "the template's secrets and the ones the harness (and the code) read"
    );

    let mut granted = BTreeSet::new();
    for f in functions(&tpl).values() {
        let grants = grants_of(&tpl, f);
        for (name, body) in &grants.templates {
            if name != "AWSSecretsManagerGetSecretValuePolicy" {
                continue;
            }
            let target = referenced_resource(&body["SecretArn"])
                .unwrap_or_else(|| panic!("{}: SecretArn must reference a secret", f.logical_id));
            let secret = secrets.get(&target).unwrap_or_else(|| {
                panic!("{}: {target} is not a secret of the template", f.logical_id)
            });
            granted.insert((f.logical_id.clone(), secret.clone()));
        }
        for statement in &grants.statements {
            assert!(
                !actions(statement)
                    .iter()
                    .any(|a| a.starts_with("secretsmanager:")),
                "{}: grant secrets with AWSSecretsManagerGetSecretValuePolicy",
                f.logical_id
            );
        }
    }
    let all = functions(&tpl);
    let expected: BTreeSet<(String, String)> = SECRET_READERS
        .iter()
        .map(|(binary, handler, secret)| {
            let f = all
                .values()
                .find(|f| f.binary == *binary && (handler.is_empty() || f.handler == *handler))
                .unwrap_or_else(|| panic!("no {binary} function {handler}"));
            (f.logical_id.clone(), (*secret).to_owned())
        })
        .collect();
    assert_eq!(
        granted, expected,
        "secret reads granted (left) and needed (right)"
    );
}

/// Each schedule of `SCHEDULES` is a rule of the template at the same time, and what the
/// rule sets off is that job's real run: its target is the function whose `Handler` names
/// the job, and what it delivers (its `Input`, else EventBridge's scheduled event, of which
/// the function's sample event is one) is read by the jobs binary as the scheduled run,
/// not a dry run and not an operator's request.
#[test]
fn each_job_runs_on_the_timetable_trove_serve_keeps() {
    use trove_core::jobs::operator::Invocation;
    use trove_core::jobs::schedule::{Job, SCHEDULES};
    let all = all_functions();
    let jobs: Vec<&FunctionDef> = all.values().filter(|f| f.binary == JOBS_BINARY).collect();
    assert_eq!(
        jobs.len(),
        SCHEDULES.len(),
        "one function per scheduled job"
    );
    for schedule in SCHEDULES {
        let f = jobs
            .iter()
            .find(|f| Job::parse(&f.handler) == Some(schedule.job))
            .unwrap_or_else(|| panic!("no function runs job {}", schedule.job.name()));
        let rules: Vec<&Value> = f
            .events
            .iter()
            .filter(|(_, kind, _)| kind == "Schedule")
            .map(|(_, _, props)| props)
            .collect();
        let expressions: Vec<String> = rules.iter().map(|r| string(&r["Schedule"])).collect();
        assert_eq!(expressions, [schedule.expression], "{}", f.logical_id);
        let rule = rules[0];
        assert!(
            rule["Enabled"] != Value::Bool(false) && rule["State"].as_str() != Some("DISABLED"),
            "{}: the rule is switched off",
            f.logical_id
        );
        assert!(
            rule["InputPath"].is_null() && rule["InputTransformer"].is_null(),
            "{}: the rule reshapes the event the job reads",
            f.logical_id
        );
        let delivered = match rule["Input"].as_str() {
            Some(input) => input.to_owned(),
            None => template::read(&format!("events/{}", sample_event_path(f))),
        };
        let delivered: serde_json::Value = serde_json::from_str(&delivered)
            .unwrap_or_else(|e| panic!("{}: the rule's input is not JSON: {e}", f.logical_id));
        let invocation = Invocation::parse(&delivered).unwrap_or_else(|e| {
            panic!("{}: the jobs binary refuses {delivered}: {e}", f.logical_id)
        });
        assert_eq!(
            invocation,
            Invocation::Scheduled { dry_run: false },
            "{}: {delivered}",
            f.logical_id
        );
    }
}

/// The outbox's relay: the table's stream carries new images, and the dispatcher's mapping
/// passes it the new outbox entries only, retried until relayed, reporting the failed one.
#[test]
fn the_tables_stream_brings_the_dispatcher_every_new_outbox_entry_and_nothing_else() {
    let tpl = template::template();
    let stream = &tpl["Resources"]["Table"]["Properties"]["StreamSpecification"];
    assert_eq!(
        string(&stream["StreamViewType"]),
        "NEW_IMAGE",
        "the relay reads the new image"
    );
    let all = all_functions();
    let sources: Vec<(&FunctionDef, &Value)> = all
        .values()
        .flat_map(|f| {
            f.events
                .iter()
                .filter(|(_, kind, _)| kind == "DynamoDB")
                .map(move |(_, _, props)| (f, props))
        })
        .collect();
    let [(f, props)] = sources.as_slice() else {
        panic!("one function takes the table's stream: {}", sources.len());
    };
    assert_eq!(f.binary, DISPATCHER_BINARY, "{}", f.logical_id);
    assert!(
        format!("{:?}", props["Stream"]).contains("Table.StreamArn"),
        "{:?}",
        props["Stream"]
    );
    assert_eq!(
        props["MaximumRetryAttempts"].as_i64(),
        Some(-1),
        "never given up"
    );
    assert_eq!(
        props["MaximumRecordAgeInSeconds"].as_i64(),
        Some(-1),
        "never given up"
    );
    assert_eq!(
        props["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures"),
        "the batch resumes from the failed record"
    );
    // SAM gives the role the rights Lambda's mapping reads the stream with.
    let role = template::role_of(template::transformed(), &f.logical_id);
    let managed =
        &template::transformed()["Resources"][role.as_str()]["Properties"]["ManagedPolicyArns"];
    assert!(
        managed.as_array().into_iter().flatten().any(|arn| arn
            .as_str()
            .is_some_and(|a| a.ends_with(":policy/service-role/AWSLambdaDynamoDBExecutionRole"))),
        "{role}: {managed}"
    );
    let filters = props["FilterCriteria"]["Filters"]
        .as_sequence()
        .expect("a filter");
    assert_eq!(filters.len(), 1);
    let pattern: serde_json::Value =
        serde_json::from_str(&string(&filters[0]["Pattern"])).expect("a JSON pattern");
    let mut keys = serde_json::Map::new();
    keys.insert(
        trove_core::ports::table::PK.to_owned(),
        serde_json::json!({"S": [{"prefix": trove_core::domain::keys::OUTBOX_PREFIX}]}),
    );
    assert_eq!(
        pattern,
        serde_json::json!({"eventName": ["INSERT"], "dynamodb": {"Keys": keys}}),
        "new items of the outbox's partitions, nothing else"
    );
}

#[test]
fn the_table_expires_the_attribute_the_code_writes() {
    let tpl = template::template();
    let ttl = &tpl["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(
        string(&ttl["AttributeName"]),
        trove_core::ports::table::TTL_ATTR
    );
    assert_eq!(ttl["Enabled"], Value::Bool(true));
}

/// The functions whose code sends to the events queue, written out by hand from the code
/// (not derived from the template): the outbox's relays (`dispatch` takes the table's stream,
/// `cleanup` relays what the stream left) and the dispatcher's own delivery jobs (`dispatch`;
/// `cleanup` sweeps lost ones). A function that announces an event writes it to the outbox
/// in its change's transaction and needs no right on the queue; none other may hold one.
const EVENT_SENDERS: &[&str] = &["cleanup", "dispatch"];

#[test]
fn only_the_outbox_relays_and_the_dispatcher_may_send_to_the_events_queue() {
    let tpl = template::template();
    for f in all_functions().values() {
        let grants = grants_of(&tpl, f);
        let sends = grants.templates.iter().any(|(name, body)| {
            name == "SQSSendMessagePolicy"
                && matches!(&body["QueueName"], Value::Tagged(t)
                    if t.tag == "GetAtt" && string(&t.value) == "EventsQueue.QueueName")
        }) || grants
            .statements
            .iter()
            .any(|s| actions(s).iter().any(|a| a == "sqs:SendMessage"));
        let relays = EVENT_SENDERS.contains(&f.handler.as_str());
        assert_eq!(
            sends, relays,
            "{} ({}): sends to the events queue: {relays}, may send to EventsQueue: {sends}",
            f.logical_id, f.handler
        );
    }
}

/// The functions that read objects which may be missing and must tell "absent" from
/// "forbidden" (S3 says 403 for a missing key to a role that may not list the bucket):
/// written out from the code, not from the template.
const TELLS_ABSENT_FROM_FORBIDDEN: &[&str] =
    &["Scan", "Validate", "Persist", "Quarantine", "cleanup"];

#[test]
fn every_function_that_must_see_a_missing_object_as_absent_may_list_the_bucket() {
    let tpl = template::template();
    for f in all_functions().values() {
        if !TELLS_ABSENT_FROM_FORBIDDEN.contains(&f.handler.as_str()) {
            continue;
        }
        let grants = grants_of(&tpl, f);
        let lists = grants.statements.iter().any(|s| {
            actions(s).iter().any(|a| a == "s3:ListBucket")
                && s["Condition"].is_null()
                && !string(&s["Resource"]).ends_with("/*")
        });
        assert!(
            lists,
            "{} ({}): reads objects that may be missing but may not list the bucket, so S3 \
             would answer 403 for absent keys",
            f.logical_id, f.handler
        );
    }
}

// ---------------------------------------------------------------- the transformed stack
// What CloudFormation receives once SAM expanded the template (template::transformed).

/// CloudFormation refuses a stack of more than 500 resources; a release that adds a route
/// adds five (function, version, alias, deployment group, permission) with a shared role
/// (ReadRouteRole, WriteRouteRole, …), six with a role of its own. Past this, restructure
/// first (more shared roles, fewer deployment groups, a nested stack).
const RESOURCE_HEADROOM_LIMIT: usize = 450;

#[test]
fn the_transformed_stack_keeps_headroom_below_cloudformations_500_resources() {
    let resources = template::transformed()["Resources"]
        .as_object()
        .expect("transformed Resources");
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for r in resources.values() {
        *by_type
            .entry(r["Type"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    eprintln!(
        "transformed stack: {} resources (limit here {RESOURCE_HEADROOM_LIMIT}, CloudFormation's 500): {by_type:?}",
        resources.len()
    );
    assert!(
        resources.len() <= RESOURCE_HEADROOM_LIMIT,
        "{} resources: {by_type:?}",
        resources.len()
    );
}

/// The calls each non-route function's code makes, written out from the code: its role,
/// as SAM expands it, must allow every one.
const CODE_CALLS: &[(&str, &[&str])] = &[
    // on_upload::handle: load the upload, start its execution, delete a late object.
    (
        "OnUploadFunction",
        &[
            "dynamodb:GetItem",
            "states:StartExecution",
            "s3:DeleteObject",
        ],
    ),
    // Checking steps: claim the upload, stream the object (a missing one reads as absent).
    (
        "ScanFunction",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "s3:GetObject",
            "s3:ListBucket",
        ],
    ),
    (
        "ValidateFunction",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "s3:GetObject",
            "s3:ListBucket",
        ],
    ),
    (
        "PersistFunction",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
        ],
    ),
    (
        "QuarantineFunction",
        &[
            "dynamodb:PutItem",
            "s3:GetObject",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:ListBucket",
        ],
    ),
    // Cleanup: retention, storage, the lease, and jobs::recovery (open uploads through the
    // index, their objects, how their executions ended, a restarted pipeline, webhook jobs
    // queued again, outbox entries the stream left relayed).
    (
        "CleanupFunction",
        &[
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "s3:ListBucket",
            "s3:GetObject",
            "s3:DeleteObject",
            "states:StartExecution",
            "states:DescribeExecution",
            "states:GetExecutionHistory",
            "sqs:SendMessage",
        ],
    ),
    (
        "ReportFunction",
        &[
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
            "s3:PutObject",
        ],
    ),
    // The PreTraffic hook: the deployment's target, the new version's handler and its
    // invocation, and the status reported back.
    (
        "PreTrafficHookFunction",
        &[
            "codedeploy:ListDeploymentTargets",
            "codedeploy:GetDeploymentTarget",
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "lambda:GetFunctionConfiguration",
            "lambda:InvokeFunction",
        ],
    ),
    // The PostTraffic hook: the deployment's target, its function's aliases and versions,
    // the older ones deleted, and the status reported back.
    (
        "PostTrafficHookFunction",
        &[
            "codedeploy:ListDeploymentTargets",
            "codedeploy:GetDeploymentTarget",
            "codedeploy:PutLifecycleEventHookExecutionStatus",
            "lambda:ListAliases",
            "lambda:ListVersionsByFunction",
            "lambda:DeleteFunction",
        ],
    ),
    // The dispatcher, and the outbox's relay from the table's stream (an entry removed once
    // it is on the queue). Lambda's mapping reads the stream with the AWS managed policy SAM
    // attaches (the stream test checks it).
    (
        "WebhookDispatcherFunction",
        &[
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:DeleteItem",
            "sqs:SendMessage",
            "secretsmanager:GetSecretValue",
        ],
    ),
];

#[test]
fn every_function_may_make_the_calls_its_code_makes_once_sam_expanded_its_policies() {
    let transformed = template::transformed();
    for (function, calls) in CODE_CALLS {
        let allowed: BTreeSet<String> = template::role_actions(transformed, function)
            .into_iter()
            .map(|(action, _)| action)
            .collect();
        for call in *calls {
            assert!(
                allowed.iter().any(|a| like(a, call)),
                "{function} calls {call} but its role allows only {allowed:?}"
            );
        }
    }
}

/// The table calls the DynamoDB adapter makes (`shared/aws/src/dynamodb.rs`), as IAM
/// actions: read from its source, so a call added there is a call named here.
fn table_calls_of_the_adapter() -> BTreeSet<String> {
    let source = template::read("shared/aws/src/dynamodb.rs");
    let mut calls = BTreeSet::new();
    for (method, actions) in [
        ("get_item", &["GetItem"][..]),
        ("put_item", &["PutItem"]),
        ("update_item", &["UpdateItem"]),
        ("delete_item", &["DeleteItem"]),
        ("query", &["Query"]),
        ("scan", &["Scan"]),
        ("batch_get_item", &["BatchGetItem"]),
        ("batch_write_item", &["BatchWriteItem"]),
        ("transact_get_items", &["GetItem"]),
        // IAM authorises a transaction item by item.
        (
            "transact_write_items",
            &["PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"],
        ),
        ("describe_table", &["DescribeTable"]),
        ("execute_statement", &["PartiQLSelect"]),
    ] {
        if source.contains(&format!(".{method}()")) {
            calls.extend(actions.iter().map(|a| format!("dynamodb:{a}")));
        }
    }
    assert!(
        calls.contains("dynamodb:GetItem"),
        "read {calls:?} from the adapter"
    );
    calls
}

/// No role may call the table beyond what the adapter sends: no whole-table Scan, no batch
/// calls, no DescribeTable (`create_table` is the tests' and local tooling's, never a
/// function's).
#[test]
fn no_function_may_call_the_table_beyond_what_the_adapter_sends() {
    let sent = table_calls_of_the_adapter();
    assert!(
        !sent.contains("dynamodb:Scan"),
        "the adapter scans: {sent:?}"
    );
    let transformed = template::transformed();
    for f in all_functions().values() {
        for (action, _) in template::role_actions(transformed, &f.logical_id) {
            if action.starts_with("dynamodb:") {
                assert!(
                    sent.contains(&action),
                    "{} may {action}, which the adapter never sends ({sent:?})",
                    f.logical_id
                );
            }
        }
    }
}

/// Lambda retries an asynchronous invocation twice, then drops it unless it has somewhere to
/// go: every function invoked asynchronously (S3 notifications, schedules) sends its failures
/// to a queue that is alarmed.
#[test]
fn every_asynchronously_invoked_function_keeps_its_failed_events_in_an_alarmed_queue() {
    let transformed = template::transformed();
    let resources = transformed["Resources"].as_object().expect("Resources");
    let mut checked = 0;
    for f in all_functions().values() {
        let asynchronous = f
            .events
            .iter()
            .any(|(_, kind, _)| kind == "S3" || kind == "Schedule" || kind == "EventBridgeRule");
        if !asynchronous {
            continue;
        }
        checked += 1;
        let config = resources
            .values()
            .find(|r| {
                r["Type"] == "AWS::Lambda::EventInvokeConfig"
                    && r["Properties"]["FunctionName"]["Ref"] == f.logical_id.as_str()
            })
            .unwrap_or_else(|| panic!("{}: no EventInvokeConfig", f.logical_id));
        let queue =
            config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no OnFailure destination", f.logical_id));
        assert_eq!(resources[queue]["Type"], "AWS::SQS::Queue", "{queue}");
        let alarmed = resources.values().any(|r| {
            r["Type"] == "AWS::CloudWatch::Alarm"
                && r["Properties"]["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["Value"]["Fn::GetAtt"][0] == queue)
        });
        assert!(alarmed, "{}: nothing alarms on {queue}", f.logical_id);
        let may_send = template::role_actions(transformed, &f.logical_id)
            .iter()
            .any(|(a, r)| like(a, "sqs:SendMessage") && r.contains(queue));
        assert!(may_send, "{}: may not send to {queue}", f.logical_id);
    }
    assert!(
        checked >= 3,
        "on-upload and both jobs are invoked asynchronously"
    );
}

/// Reserving concurrency fails in an account whose quota cannot keep 100 unreserved (a new
/// one): only Scan and the read door (whose reservation is its throttle, having no gateway)
/// are bounded, each by a parameter that 0 turns off. The jobs run one at a time by a lease
/// in the table (trove_core::jobs::lease).
#[test]
fn only_scan_and_the_read_door_reserve_concurrency_and_a_new_account_can_turn_it_off() {
    let transformed = template::transformed();
    for (id, r) in transformed["Resources"].as_object().expect("Resources") {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let reserved = &r["Properties"]["ReservedConcurrentExecutions"];
        if id == "ScanFunction" || id == "ReadFunction" {
            let branches = &reserved["Fn::If"];
            assert_eq!(
                branches[2]["Ref"], "AWS::NoValue",
                "{id}'s reservation must be optional: {reserved}"
            );
        } else {
            assert!(reserved.is_null(), "{id} reserves concurrency: {reserved}");
        }
    }
    let overrides = template::read("samconfig.toml");
    let dev = overrides
        .lines()
        .find(|l| l.starts_with("parameter_overrides") && l.contains(r#"Stage=\"dev\""#))
        .expect("dev parameter_overrides");
    for parameter in ["ScanReservedConcurrency", "ReadReservedConcurrency"] {
        assert!(
            dev.contains(&format!(r#"{parameter}=\"0\""#)),
            "dev (a new account) must not reserve: {dev}"
        );
    }
}

/// pipeline::scan hashes and scans on two threads: Lambda gives two full vCPUs from 3,538 MB.
#[test]
fn scan_has_the_memory_that_buys_the_two_cores_it_uses() {
    let scan = function_for_handler("Scan");
    assert!(scan.memory_mb >= 3538, "Scan at {} MB", scan.memory_mb);
}

fn function_for_handler(handler: &str) -> FunctionDef {
    all_functions()
        .into_values()
        .find(|f| f.handler == handler)
        .unwrap_or_else(|| panic!("no function runs {handler}"))
}

/// A Task that times out before its function does leaves the function running while the
/// state retries it; one at least as long as the function lets Lambda end a runaway first.
#[test]
fn every_pipeline_task_outlasts_its_functions_own_timeout() {
    let tpl = template::template();
    let default_timeout = tpl["Globals"]["Function"]["Timeout"].as_u64().unwrap_or(3);
    let asl: serde_json::Value =
        serde_json::from_str(&template::read("statemachines/artifact-pipeline.asl.json"))
            .expect("ASL");
    for (state, body) in asl["States"].as_object().expect("States") {
        if body["Type"] != "Task" {
            continue;
        }
        let resource = body["Resource"].as_str().unwrap_or_default();
        let function = resource
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix("Arn}"))
            .unwrap_or_else(|| panic!("{state}: Resource {resource}"));
        let timeout = tpl["Resources"][function]["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or(default_timeout);
        let task_timeout = body["TimeoutSeconds"].as_u64().unwrap_or(99_999_999);
        assert!(
            task_timeout > timeout,
            "{state}: TimeoutSeconds {task_timeout} is not above {function}'s Timeout {timeout}"
        );
    }
}

#[test]
fn every_function_logs_to_a_log_group_with_a_retention() {
    let transformed = template::transformed();
    let resources = transformed["Resources"].as_object().expect("Resources");
    for (id, r) in resources {
        if r["Type"] != "AWS::Lambda::Function" {
            continue;
        }
        let group = r["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("{id} logs to a group Lambda creates on first use, kept for ever")
            });
        assert_eq!(resources[group]["Type"], "AWS::Logs::LogGroup", "{id}");
        let days = resources[group]["Properties"]["RetentionInDays"]
            .as_u64()
            .unwrap_or_else(|| panic!("{group}: no RetentionInDays"));
        assert!(days <= 400, "{group}: kept {days} days");
    }
}

/// Versioning keeps what the cleanup deletes as noncurrent versions, billed until they
/// expire.
#[test]
fn deleted_objects_stop_being_billed_within_days() {
    let tpl = template::template();
    let rules = tpl["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let mut blobs_covered = false;
    for rule in &rules {
        let days = &rule["NoncurrentVersionExpiration"]["NoncurrentDays"];
        if days.is_null() {
            continue;
        }
        let days = days.as_u64().expect("NoncurrentDays");
        assert!(
            days <= 7,
            "rule {:?} keeps noncurrent versions {days} days",
            rule["Id"]
        );
        blobs_covered |= string(&rule["Prefix"]) == "blobs/";
    }
    assert!(blobs_covered, "no rule expires noncurrent blobs/");
}

/// A role of the template that functions share is theirs only: Lambda alone may assume it,
/// and it carries what SAM would give a role it makes for a traced function that logs
/// (basic execution, X-Ray), so sharing it takes nothing from them. One function alone
/// should use SAM's own role instead.
#[test]
fn shared_roles_are_lambdas_and_carry_what_sams_own_roles_would() {
    let tpl = template::template();
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, resource) in tpl["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        if let Value::Tagged(role) = &resource["Properties"]["Role"] {
            let role = string(&role.value);
            let role = role.strip_suffix(".Arn").unwrap_or(&role).to_owned();
            users.entry(role).or_default().push(string(id));
        }
    }
    assert!(!users.is_empty(), "no function uses a shared role");
    for (role, functions) in &users {
        assert!(
            functions.len() >= 2,
            "{role} serves only {functions:?}: let SAM make its role"
        );
        let props = &tpl["Resources"][role.as_str()]["Properties"];
        let trust = &props["AssumeRolePolicyDocument"]["Statement"];
        let trust = trust.as_sequence().expect("trust statements");
        assert_eq!(trust.len(), 1, "{role}: {trust:?}");
        assert_eq!(string(&trust[0]["Action"]), "sts:AssumeRole", "{role}");
        assert_eq!(
            string(&trust[0]["Principal"]["Service"]),
            "lambda.amazonaws.com",
            "{role}"
        );
        let managed: Vec<String> = props["ManagedPolicyArns"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|arn| match arn {
                Value::Tagged(t) => string(&t.value),
                other => string(other),
            })
            .collect();
        for needed in [
            "service-role/AWSLambdaBasicExecutionRole",
            "policy/AWSXrayWriteOnlyAccess",
        ] {
            assert!(
                managed.iter().any(|m| m.ends_with(needed)),
                "{role} lacks {needed}: {managed:?}"
            );
        }
    }
}

/// Uploads in parts: what each function's code asks of S3, on the objects it may touch.
/// S3 authorises CreateMultipartUpload, UploadPart (the presigned part URLs are signed with
/// the function's own rights) and CompleteMultipartUpload as `s3:PutObject`, ListParts as
/// `s3:ListMultipartUploadParts`.
const MULTIPART_CALLS: &[(&str, &[&str])] = &[
    ("CreateUploadFunction", &["s3:PutObject"]),
    (
        "PresignUploadPartsFunction",
        &["s3:PutObject", "s3:ListMultipartUploadParts"],
    ),
    ("GetUploadFunction", &["s3:ListMultipartUploadParts"]),
    (
        "CompleteUploadFunction",
        &["s3:ListMultipartUploadParts", "s3:PutObject"],
    ),
    ("CancelUploadFunction", &["s3:AbortMultipartUpload"]),
    // Expired uploads in parts are aborted by the hourly cleanup.
    ("CleanupFunction", &["s3:AbortMultipartUpload"]),
];

#[test]
fn uploads_in_parts_are_allowed_on_incoming_objects_only() {
    let transformed = template::transformed();
    for (function, calls) in MULTIPART_CALLS {
        let allowed = template::role_actions(transformed, function);
        for call in *calls {
            let on: Vec<&String> = allowed
                .iter()
                .filter(|(action, _)| like(action, call))
                .map(|(_, resource)| resource)
                .collect();
            assert!(!on.is_empty(), "{function} may not {call}: {allowed:?}");
            for resource in on {
                assert!(
                    resource.contains("/incoming/*"),
                    "{function} may {call} on {resource}, beyond incoming/"
                );
            }
        }
    }
}

/// Parts nobody completed or cancelled are billed until aborted: the bucket aborts them
/// itself after the cleanup job's window (24 h, at most 48 h) has passed.
#[test]
fn the_bucket_aborts_abandoned_uploads_in_parts() {
    let tpl = template::template();
    let rules = tpl["Resources"]["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let aborting: Vec<&Value> = rules
        .iter()
        .filter(|rule| string(&rule["Status"]) == "Enabled")
        .filter(|rule| !rule["AbortIncompleteMultipartUpload"].is_null())
        .collect();
    assert_eq!(aborting.len(), 1, "{rules:?}");
    let rule = aborting[0];
    let days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        .as_u64()
        .expect("DaysAfterInitiation");
    assert!((2..=7).contains(&days), "aborted after {days} days");
    // Uploads land under incoming/: a rule for another prefix would abort none of them.
    let prefix = string(&rule["Prefix"]);
    assert!(
        prefix.is_empty() || "incoming/".starts_with(&prefix),
        "the rule covers {prefix:?} only"
    );
}

/// A browser uploads straight to the bucket: the console's origin may PUT with the signed
/// checksum header, and reads the part's ETag from the answer.
#[test]
fn browsers_may_put_parts_with_their_checksum_and_read_the_etag() {
    let tpl = template::template();
    let rules = tpl["Resources"]["ArtifactBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
        .as_sequence()
        .cloned()
        .unwrap_or_default();
    let lower = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .into_iter()
            .flatten()
            .map(|s| string(s).to_ascii_lowercase())
            .collect()
    };
    let usable = rules.iter().any(|rule| {
        let origins = &rule["AllowedOrigins"];
        let from_console = matches!(
            origins.as_sequence().map(Vec::as_slice),
            Some([Value::Tagged(origin)]) if string(&origin.value) == "ConsoleOrigin"
        );
        from_console
            && lower(&rule["AllowedMethods"]).contains(&"put".to_owned())
            && ["content-type", "x-amz-checksum-sha256"]
                .iter()
                .all(|h| lower(&rule["AllowedHeaders"]).contains(&(*h).to_owned()))
            && lower(&rule["ExposedHeaders"]).contains(&"etag".to_owned())
    });
    assert!(
        usable,
        "no CORS rule lets the console PUT a part: {rules:?}"
    );
}

// ---------------------------------------------------------------- the deployment hooks

/// Every function but the hooks is deployed through CodeDeploy with both hooks (the
/// transformed alias's `BeforeAllowTrafficHook` and `AfterAllowTrafficHook`), or not
/// deployed by CodeDeploy at all (the jobs: no canary, see the template); the hooks' names
/// are ones CodeDeploy's role may invoke, and they have no deployment of their own.
#[test]
fn every_canary_deployment_smoke_tests_its_new_version_first() {
    let transformed = template::transformed();
    let resources = transformed["Resources"].as_object().expect("Resources");
    let mut hooked = BTreeSet::new();
    for resource in resources.values() {
        let update = &resource["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"];
        if resource["Type"] == "AWS::Lambda::Alias" && !update.is_null() {
            assert_eq!(
                update["BeforeAllowTrafficHook"],
                serde_json::json!({ "Ref": "PreTrafficHookFunction" }),
                "{resource}"
            );
            assert_eq!(
                update["AfterAllowTrafficHook"],
                serde_json::json!({ "Ref": "PostTrafficHookFunction" }),
                "{resource}"
            );
            let function = resource["Properties"]["FunctionName"]["Ref"]
                .as_str()
                .expect("the alias's function");
            hooked.insert(function.to_owned());
        }
    }
    for hook in ["PreTrafficHookFunction", "PostTrafficHookFunction"] {
        assert!(!hooked.contains(hook), "{hook} hooks its own deployment");
        let name = &resources[hook]["Properties"]["FunctionName"];
        assert!(
            name.to_string().contains("CodeDeployHook_"),
            "AWSCodeDeployRoleForLambda invokes only CodeDeployHook_* functions: {name}"
        );
    }
    let tpl = template::template();
    for f in all_functions().values() {
        let preference = &tpl["Resources"][f.logical_id.as_str()]["Properties"]["DeploymentPreference"]
            ["Enabled"];
        let opted_out = preference.as_bool() == Some(false);
        assert_eq!(
            hooked.contains(&f.logical_id),
            !opted_out,
            "{}: deployed by CodeDeploy without the hook, or opted out and hooked",
            f.logical_id
        );
    }
    assert!(hooked.len() > 50, "{hooked:?}");
}

/// Every function the hook may be asked about has a smoke test: its `Handler` names one.
#[test]
fn every_function_has_a_smoke_test() {
    for f in all_functions().values() {
        if f.binary == DEPLOY_HOOK_BINARY {
            continue;
        }
        let smoke = trove_functions::smoke::smoke_for(&f.handler);
        assert!(
            smoke.is_some(),
            "{}: no smoke test for {}",
            f.logical_id,
            f.handler
        );
    }
}
