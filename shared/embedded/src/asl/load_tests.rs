//! Load-time validation: each kind of bad definition is refused with an error naming the
//! state and the field.

use serde_json::{Value, json};

use super::{AslError, AslErrorKind, StateMachine, Substitutions};

fn load(definition: Value) -> Result<StateMachine, AslError> {
    StateMachine::from_json(&definition.to_string(), &Substitutions::new())
}

/// A one-state machine around `state`, named `S`.
fn with_state(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state, "End": {"Type": "Succeed"}}})
}

#[track_caller]
fn refused(definition: Value, kind: AslErrorKind, state: Option<&str>, field: Option<&str>) {
    let err = match load(definition.clone()) {
        Ok(_) => panic!("accepted: {definition}"),
        Err(e) => e,
    };
    assert_eq!(err.kind, kind, "{err}");
    assert_eq!(err.state.as_deref(), state, "{err}");
    assert_eq!(err.field.as_deref(), field, "{err}");
    // The message a person reads names both too.
    let text = err.to_string();
    if let Some(s) = state {
        assert!(text.contains(s), "{text}");
    }
    if let Some(f) = field {
        assert!(text.contains(f), "{text}");
    }
}

#[test]
fn a_complete_definition_loads() {
    let m = load(json!({
        "Comment": "all state types",
        "Version": "1.0",
        "TimeoutSeconds": 60,
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": true, "Next": "T"}],
                  "Default": "W"},
            "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
            "T": {"Type": "Task", "Resource": "fn", "Next": "Par",
                  "Retry": [{"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
            "Par": {"Type": "Parallel", "Next": "M", "Branches": [
                {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}
            ]},
            "M": {"Type": "Map", "Next": "Done", "ItemProcessor": {
                "StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}
            }},
            "Done": {"Type": "Succeed"},
            "F": {"Type": "Fail", "Error": "E"}
        }
    }))
    .expect("valid");
    assert_eq!(m.start_at(), "P");
    assert_eq!(m.state_names().len(), 8);
}

#[test]
fn not_json_or_not_an_object() {
    let err = StateMachine::from_json("{", &Substitutions::new()).expect_err("not JSON");
    assert_eq!(err.kind, AslErrorKind::Syntax);
    refused(json!([1]), AslErrorKind::Syntax, None, None);
}

#[test]
fn unknown_state_type() {
    refused(
        with_state(json!({"Type": "Sleep", "Next": "End"})),
        AslErrorKind::UnknownStateType,
        Some("S"),
        Some("Type"),
    );
    refused(
        with_state(json!({"Next": "End"})),
        AslErrorKind::MissingField,
        Some("S"),
        Some("Type"),
    );
}

#[test]
fn unknown_and_misplaced_fields() {
    refused(
        with_state(json!({"Type": "Task", "Resourse": "fn", "Next": "End"})),
        AslErrorKind::UnknownField,
        Some("S"),
        Some("Resourse"),
    );
    // Next is not a field of Choice.
    refused(
        with_state(json!({"Type": "Choice", "Next": "End",
            "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "End"}]})),
        AslErrorKind::UnknownField,
        Some("S"),
        Some("Next"),
    );
    refused(
        with_state(json!({"Type": "Task", "Resource": "fn", "Next": "End",
            "Retry": [{"ErrorEquals": ["E"], "MaxAttempt": 2}]})),
        AslErrorKind::UnknownField,
        Some("S"),
        Some("Retry[0].MaxAttempt"),
    );
    refused(
        json!({"StartAt": "S", "Sates": {}, "States": {"S": {"Type": "Succeed"}}}),
        AslErrorKind::UnknownField,
        None,
        Some("Sates"),
    );
    refused(
        with_state(json!({"Type": "Task", "Next": "End"})),
        AslErrorKind::MissingField,
        Some("S"),
        Some("Resource"),
    );
    refused(
        with_state(
            json!({"Type": "Task", "Resource": "fn", "TimeoutSeconds": "ten", "Next": "End"}),
        ),
        AslErrorKind::Syntax,
        Some("S"),
        Some("TimeoutSeconds"),
    );
}

#[test]
fn dangling_transitions() {
    refused(
        with_state(json!({"Type": "Pass", "Next": "Nowhere"})),
        AslErrorKind::DanglingTransition,
        Some("S"),
        Some("Next"),
    );
    refused(
        with_state(json!({"Type": "Task", "Resource": "fn", "Next": "End",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Nowhere"}]})),
        AslErrorKind::DanglingTransition,
        Some("S"),
        Some("Catch[0].Next"),
    );
    refused(
        with_state(json!({"Type": "Choice", "Default": "Nowhere",
            "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "End"}]})),
        AslErrorKind::DanglingTransition,
        Some("S"),
        Some("Default"),
    );
    refused(
        with_state(json!({"Type": "Choice",
            "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Nowhere"}]})),
        AslErrorKind::DanglingTransition,
        Some("S"),
        Some("Choices[0].Next"),
    );
    refused(
        json!({"StartAt": "Nowhere", "States": {"S": {"Type": "Succeed"}}}),
        AslErrorKind::DanglingTransition,
        None,
        Some("StartAt"),
    );
    // Transitions do not cross scopes: a branch cannot leave to the outer machine.
    refused(
        with_state(json!({"Type": "Parallel", "Next": "End", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "End"}}}
        ]})),
        AslErrorKind::DanglingTransition,
        Some("S/Branches[0]/B"),
        Some("Next"),
    );
}

#[test]
fn missing_or_double_transitions() {
    refused(
        with_state(json!({"Type": "Pass"})),
        AslErrorKind::MissingTransition,
        Some("S"),
        Some("Next"),
    );
    refused(
        with_state(json!({"Type": "Pass", "End": false})),
        AslErrorKind::MissingTransition,
        Some("S"),
        Some("Next"),
    );
    refused(
        with_state(json!({"Type": "Pass", "Next": "End", "End": true})),
        AslErrorKind::InvalidValue,
        Some("S"),
        Some("End"),
    );
    refused(
        with_state(json!({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true}]})),
        AslErrorKind::MissingTransition,
        Some("S"),
        Some("Choices[0]"),
    );
}

#[test]
fn unreachable_states() {
    refused(
        json!({"StartAt": "A", "States": {
            "A": {"Type": "Succeed"},
            "Orphan": {"Type": "Succeed"}
        }}),
        AslErrorKind::Unreachable,
        Some("Orphan"),
        None,
    );
}

#[test]
fn unsupported_features() {
    refused(
        with_state(
            json!({"Type": "Task", "Resource": "fn", "HeartbeatSeconds": 10, "Next": "End"}),
        ),
        AslErrorKind::Unsupported,
        Some("S"),
        Some("HeartbeatSeconds"),
    );
    refused(
        with_state(json!({"Type": "Pass", "Assign": {"x": 1}, "Next": "End"})),
        AslErrorKind::Unsupported,
        Some("S"),
        Some("Assign"),
    );
    refused(
        json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        AslErrorKind::Unsupported,
        None,
        Some("QueryLanguage"),
    );
    refused(
        with_state(
            json!({"Type": "Map", "Next": "End", "ItemReader": {"Resource": "x"},
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}),
        ),
        AslErrorKind::Unsupported,
        Some("S"),
        Some("ItemReader"),
    );
    refused(
        with_state(json!({"Type": "Map", "Next": "End", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}})),
        AslErrorKind::Unsupported,
        Some("S"),
        Some("ItemProcessor.ProcessorConfig.Mode"),
    );
    refused(
        with_state(json!({"Type": "Task", "Resource": "fn", "Next": "End",
            "Parameters": {"h.$": "States.Hash($.x, 'MD5')"}})),
        AslErrorKind::BadIntrinsic,
        Some("S"),
        Some("Parameters.h.$"),
    );
    // JSONPath stated explicitly is fine.
    load(json!({"QueryLanguage": "JSONPath", "StartAt": "S",
        "States": {"S": {"Type": "Succeed", "QueryLanguage": "JSONPath"}}}))
    .expect("JSONPath is the supported language");
}

#[test]
fn bad_paths() {
    refused(
        with_state(json!({"Type": "Pass", "InputPath": "input", "Next": "End"})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("InputPath"),
    );
    refused(
        with_state(json!({"Type": "Pass", "OutputPath": "$.a[", "Next": "End"})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("OutputPath"),
    );
    refused(
        with_state(json!({"Type": "Pass", "ResultPath": "$.a[*]", "Next": "End"})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("ResultPath"),
    );
    refused(
        with_state(json!({"Type": "Task", "Resource": "fn", "Next": "End",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$..e", "Next": "End"}]})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("Catch[0].ResultPath"),
    );
    refused(
        with_state(
            json!({"Type": "Pass", "Parameters": {"a": {"b.$": "$.x[?@ >]"}}, "Next": "End"}),
        ),
        AslErrorKind::BadPath,
        Some("S"),
        Some("Parameters.a.b.$"),
    );
    refused(
        with_state(json!({"Type": "Choice", "Default": "End",
            "Choices": [{"Variable": "$.l[*]", "IsNull": true, "Next": "End"}]})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("Choices[0].Variable"),
    );
    refused(
        with_state(json!({"Type": "Wait", "SecondsPath": "$.a.*", "Next": "End"})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("SecondsPath"),
    );
    refused(
        with_state(json!({"Type": "Map", "ItemsPath": "items", "Next": "End",
            "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}})),
        AslErrorKind::BadPath,
        Some("S"),
        Some("ItemsPath"),
    );
}

#[test]
fn bad_intrinsics() {
    refused(
        with_state(
            json!({"Type": "Pass", "Parameters": {"x.$": "States.Nope($.a)"}, "Next": "End"}),
        ),
        AslErrorKind::BadIntrinsic,
        Some("S"),
        Some("Parameters.x.$"),
    );
    refused(
        with_state(
            json!({"Type": "Pass", "Parameters": {"x.$": "States.MathAdd(1)"}, "Next": "End"}),
        ),
        AslErrorKind::BadIntrinsic,
        Some("S"),
        Some("Parameters.x.$"),
    );
    refused(
        with_state(json!({"Type": "Fail", "CausePath": "States.Format('{}')"})),
        AslErrorKind::BadIntrinsic,
        Some("S"),
        Some("CausePath"),
    );
    refused(
        with_state(json!({"Type": "Pass", "Parameters": {"x.$": 5}, "Next": "End"})),
        AslErrorKind::InvalidValue,
        Some("S"),
        Some("Parameters.x.$"),
    );
}

#[test]
fn unresolved_substitutions() {
    let definition = json!({"StartAt": "S", "States": {
        "S": {"Type": "Task", "Resource": "${ScanFunctionArn}", "Next": "V"},
        "V": {"Type": "Task", "Resource": "${ValidateFunctionArn}", "End": true}
    }});
    let mut subs = Substitutions::new();
    subs.insert("ScanFunctionArn".into(), "arn:scan".into());
    let err = StateMachine::from_json(&definition.to_string(), &subs).expect_err("V unresolved");
    assert_eq!(err.kind, AslErrorKind::UnresolvedSubstitution);
    assert_eq!(err.state.as_deref(), Some("V"));
    assert_eq!(err.field.as_deref(), Some("Resource"));
    assert!(err.to_string().contains("ValidateFunctionArn"), "{err}");

    subs.insert("ValidateFunctionArn".into(), "arn:validate".into());
    let m = StateMachine::from_json(&definition.to_string(), &subs).expect("resolved");
    let mut resources = m.task_resources();
    resources.sort();
    assert_eq!(
        resources,
        vec![
            ("S".to_owned(), "arn:scan".to_owned()),
            ("V".to_owned(), "arn:validate".to_owned())
        ]
    );

    // Inside a nested value of a state, and inside a Parallel branch.
    refused(
        with_state(json!({"Type": "Pass", "Parameters": {"bucket": "${Bucket}"}, "Next": "End"})),
        AslErrorKind::UnresolvedSubstitution,
        Some("S"),
        Some("Parameters.bucket"),
    );
    refused(
        with_state(json!({"Type": "Parallel", "Next": "End", "Branches": [
            {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "${Fn}", "End": true}}}
        ]})),
        AslErrorKind::UnresolvedSubstitution,
        Some("S/Branches[0]/B"),
        Some("Resource"),
    );
}

#[test]
fn bad_values() {
    let cases = [
        (
            json!({"Type": "Task", "Resource": "fn", "Next": "End",
                "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}]}),
            "Retry[0].BackoffRate",
        ),
        (
            json!({"Type": "Task", "Resource": "fn", "Next": "End",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "End"},
                          {"ErrorEquals": ["E"], "Next": "End"}]}),
            "Catch[0].ErrorEquals",
        ),
        (
            json!({"Type": "Task", "Resource": "fn", "Next": "End", "TimeoutSeconds": 0}),
            "TimeoutSeconds",
        ),
        (
            json!({"Type": "Task", "Resource": "", "Next": "End"}),
            "Resource",
        ),
        (
            json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}),
            "ErrorPath",
        ),
        (
            json!({"Type": "Map", "Next": "End", "ItemSelector": {}, "Parameters": {},
                "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}),
            "Parameters",
        ),
        (json!({"Type": "Choice", "Choices": []}), "Choices"),
        (
            json!({"Type": "Choice", "Default": "End",
                "Choices": [{"Variable": "$.t", "TimestampEquals": "today", "Next": "End"}]}),
            "Choices[0].TimestampEquals",
        ),
        (
            json!({"Type": "Wait", "Timestamp": "tomorrow", "Next": "End"}),
            "Timestamp",
        ),
        (
            json!({"Type": "Parallel", "Next": "End", "Branches": []}),
            "Branches",
        ),
    ];
    for (state, field) in cases {
        refused(
            with_state(state),
            AslErrorKind::InvalidValue,
            Some("S"),
            Some(field),
        );
    }
    // Two wait specifications: the state, without a single field to blame.
    refused(
        with_state(
            json!({"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "Next": "End"}),
        ),
        AslErrorKind::InvalidValue,
        Some("S"),
        None,
    );
    refused(
        json!({"Version": "2.0", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        AslErrorKind::InvalidValue,
        None,
        Some("Version"),
    );
    refused(
        json!({"TimeoutSeconds": 0, "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}),
        AslErrorKind::InvalidValue,
        None,
        Some("TimeoutSeconds"),
    );
    refused(
        json!({"StartAt": "S", "States": {}}),
        AslErrorKind::InvalidValue,
        None,
        Some("States"),
    );
}

#[test]
fn errors_inside_nested_scopes_name_the_nested_state() {
    refused(
        with_state(json!({"Type": "Map", "Next": "End", "ItemProcessor": {
            "StartAt": "I", "States": {"I": {"Type": "Pass", "Bogus": 1, "End": true}}}})),
        AslErrorKind::UnknownField,
        Some("S/ItemProcessor/I"),
        Some("Bogus"),
    );
    refused(
        with_state(json!({"Type": "Parallel", "Next": "End", "Branches": [
            {"StartAt": "X", "States": {"B": {"Type": "Succeed"}}}
        ]})),
        AslErrorKind::DanglingTransition,
        Some("S"),
        Some("Branches[0].StartAt"),
    );
}
