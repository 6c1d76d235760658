//! template.yaml in step with the code: the routers' route table, the pipeline definition,
//! the binaries of functions/ and the sample events of events/. A later issue that adds a
//! function adds its binary, template entry and sample event, and these tests say which is
//! missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::s3::S3Event;
use serde_norway::Value;
use shared::domain::keys::BlobKey;
use shared::pipeline::StepInput;

use crate::stack::TROVE_ENV;
use crate::template::{self, FunctionDef, functions, global_env_names, string};

const API_BINARY: &str = "api";
const STEP_BINARY: &str = "pipeline-step";
const ON_UPLOAD_BINARY: &str = "on-upload";

/// Where a function's sample event lives, by its binary and handler.
fn sample_event_path(f: &FunctionDef) -> String {
    match f.binary.as_str() {
        API_BINARY => format!("api/{}.json", f.handler),
        STEP_BINARY => format!("pipeline/{}.json", f.handler),
        ON_UPLOAD_BINARY => "s3-object-created.json".to_owned(),
        other => panic!(
            "{}: no sample-event convention for binary {other}; add one here",
            f.logical_id
        ),
    }
}

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
    let table = shared::http::route_table();
    assert!(!table.is_empty());
    for route in &table {
        let key = (route.method.clone(), route.path.clone());
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
    assert!(
        by_route.is_empty(),
        "HttpApi events for routes the router does not have: {:?}",
        by_route.keys().collect::<Vec<_>>()
    );
    // Every function of the api binary serves a route (none idles with the whole API).
    for f in all.values().filter(|f| f.binary == API_BINARY) {
        assert_eq!(f.http_routes().len(), 1, "{} has no route", f.logical_id);
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
            assert_eq!(f.binary, STEP_BINARY, "{function}");
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
        shared::pipeline::SCAN,
        shared::pipeline::VALIDATE,
        shared::pipeline::PERSIST,
        shared::pipeline::QUARANTINE,
    ];
    for f in all.values().filter(|f| f.binary == STEP_BINARY) {
        assert!(steps.contains(&f.handler.as_str()), "{}", f.logical_id);
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

/// The `[[bin]]` names of functions/Cargo.toml.
fn cargo_binaries() -> BTreeSet<String> {
    let manifest = template::read("functions/Cargo.toml");
    let mut names = BTreeSet::new();
    let mut in_bin = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin && let Some(value) = line.strip_prefix("name") {
            let value = value.trim_start().trim_start_matches('=').trim();
            names.insert(value.trim_matches('"').to_owned());
        }
    }
    names
}

#[test]
fn every_function_is_built_from_a_binary_of_functions_and_every_binary_is_deployed() {
    let all = all_functions();
    let binaries = cargo_binaries();
    assert!(binaries.contains(API_BINARY), "{binaries:?}");
    let mut deployed = BTreeSet::new();
    let mut metadata_by_binary: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for f in all.values() {
        assert!(
            binaries.contains(&f.binary),
            "{}: Binary {:?} is not a [[bin]] of functions/Cargo.toml",
            f.logical_id,
            f.binary
        );
        assert_eq!(f.build_method, "rust-cargolambda", "{}", f.logical_id);
        assert_eq!(f.code_uri, "functions", "{}", f.logical_id);
        assert!(!f.handler.is_empty(), "{}: Handler", f.logical_id);
        // Identical build metadata per binary, so `sam build` builds each binary once.
        let seen = metadata_by_binary
            .entry(f.binary.as_str())
            .or_insert((f.build_method.as_str(), f.code_uri.as_str()));
        assert_eq!(
            *seen,
            (f.build_method.as_str(), f.code_uri.as_str()),
            "{}",
            f.logical_id
        );
        deployed.insert(f.binary.clone());
    }
    assert_eq!(
        deployed, binaries,
        "a binary of functions/ no function runs"
    );
}

#[test]
fn every_function_has_a_sample_event_and_every_sample_event_a_function() {
    let all = all_functions();
    let expected: BTreeSet<String> = all.values().map(sample_event_path).collect();
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

/// Whether a concrete path fits a route path with `{params}`, with exactly these parameters.
fn path_fits(route: &str, raw: &str, params: &std::collections::HashMap<String, String>) -> bool {
    let route: Vec<&str> = route.split('/').collect();
    let raw: Vec<&str> = raw.split('/').collect();
    if route.len() != raw.len() {
        return false;
    }
    let mut named = 0;
    for (r, v) in route.iter().zip(&raw) {
        if let Some(name) = r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            named += 1;
            if params.get(name).map(String::as_str) != Some(*v) {
                return false;
            }
        } else if r != v {
            return false;
        }
    }
    named == params.len()
}

#[test]
fn every_sample_event_is_the_event_its_function_receives() {
    let tpl = template::template();
    for f in functions(&tpl).values() {
        let path = sample_event_path(f);
        let text = template::read(&format!("events/{path}"));
        match f.binary.as_str() {
            API_BINARY => {
                let event: ApiGatewayV2httpRequest = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not an HTTP API event: {e}"));
                let (method, route) = f.http_routes().remove(0);
                assert_eq!(
                    event.route_key.as_deref(),
                    Some(format!("{method} {route}").as_str()),
                    "events/{path}"
                );
                assert_eq!(event.request_context.http.method.as_str(), method);
                let raw = event.raw_path.as_deref().unwrap_or_default();
                assert!(
                    path_fits(&route, raw, &event.path_parameters),
                    "events/{path}: {raw} with {:?} is not {route}",
                    event.path_parameters
                );
            }
            STEP_BINARY => {
                let input: StepInput = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("events/{path}: not a step input: {e}"));
                assert_eq!(
                    input.reason.is_some(),
                    f.handler == shared::pipeline::QUARANTINE,
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

/// Policy templates and actions a read-only route may have.
const READ_POLICIES: &[&str] = &["DynamoDBReadPolicy"];
const READ_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "s3:GetObject",
    "states:DescribeExecution",
];

#[test]
fn a_read_route_can_only_read() {
    for f in all_functions().values() {
        let Some((method, route)) = f.http_routes().into_iter().next() else {
            continue;
        };
        if method != "GET" {
            continue;
        }
        for policy in &f.policies {
            let Some(map) = policy.as_mapping() else {
                panic!(
                    "{}: managed policy {policy:?} on a read route",
                    f.logical_id
                );
            };
            for (name, body) in map {
                let name = string(name);
                if name == "Statement" {
                    for statement in body.as_sequence().into_iter().flatten() {
                        let actions = match &statement["Action"] {
                            Value::Sequence(s) => s.iter().map(string).collect(),
                            other => vec![string(other)],
                        };
                        for action in actions {
                            assert!(
                                READ_ACTIONS.contains(&action.as_str()),
                                "{} (GET {route}) may {action}",
                                f.logical_id
                            );
                        }
                    }
                } else {
                    assert!(
                        READ_POLICIES.contains(&name.as_str()),
                        "{} (GET {route}) has {name}",
                        f.logical_id
                    );
                }
            }
        }
    }
}
