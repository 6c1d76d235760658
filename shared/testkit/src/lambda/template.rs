//! template.yaml, read as data: the functions the harness runs and the contract checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_norway::Value;

/// The workspace root (template.yaml, events/, statemachines/).
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The whole template. CloudFormation's short tags (`!Ref`, `!Sub`, …) come back as
/// `Value::Tagged`.
pub fn template() -> Value {
    serde_norway::from_str(&read("template.yaml")).expect("template.yaml is YAML")
}

/// One `AWS::Serverless::Function` with its Globals applied where the harness needs them.
#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    pub binary: String,
    pub handler: String,
    /// The directory of the Cargo package the function is built from (`sam build` runs
    /// `cargo lambda build --bin <binary>` there).
    pub code_uri: String,
    pub build_method: String,
    /// `arm64` or `x86_64` (the function's own setting, else Globals).
    pub architecture: String,
    pub memory_mb: u32,
    /// `(event name, event type, properties)`.
    pub events: Vec<(String, String, Value)>,
    pub policies: Vec<Value>,
    /// The names of the function's own variables (beyond Globals).
    pub env: Vec<String>,
}

impl FunctionDef {
    /// `(method, path)` of each HttpApi event.
    pub fn http_routes(&self) -> Vec<(String, String)> {
        self.events
            .iter()
            .filter(|(_, kind, _)| kind == "HttpApi")
            .map(|(_, _, props)| {
                (
                    string(&props["Method"]).to_ascii_uppercase(),
                    string(&props["Path"]),
                )
            })
            .collect()
    }
}

/// A plain string scalar ("" for anything else: a tagged intrinsic, a number, a map).
pub fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Every function of the template, by logical id.
/// The function the table's stream invokes, and the filter pattern of that mapping (JSON).
pub fn stream_consumer() -> (FunctionDef, serde_json::Value) {
    let all = functions(&template());
    let mut found = all.into_values().flat_map(|f| {
        let patterns: Vec<String> = f
            .events
            .iter()
            .filter(|(_, kind, _)| kind == "DynamoDB")
            .map(|(_, _, props)| string(&props["FilterCriteria"]["Filters"][0]["Pattern"]))
            .collect();
        patterns.into_iter().map(move |p| (f.clone(), p))
    });
    let (f, pattern) = found.next().expect("a function takes the table's stream");
    let pattern = serde_json::from_str(&pattern)
        .unwrap_or_else(|e| panic!("{}: the stream's filter is not JSON: {e}", f.logical_id));
    (f, pattern)
}

pub fn functions(template: &Value) -> BTreeMap<String, FunctionDef> {
    let globals = &template["Globals"]["Function"];
    let default_memory = globals["MemorySize"].as_u64().unwrap_or(128);
    let mut out = BTreeMap::new();
    let resources = template["Resources"]
        .as_mapping()
        .expect("template has Resources");
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = string(id);
        let props = &resource["Properties"];
        let events = props["Events"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .map(|(name, e)| (string(name), string(&e["Type"]), e["Properties"].clone()))
                    .collect()
            })
            .unwrap_or_default();
        let memory = props["MemorySize"].as_u64().unwrap_or(default_memory);
        let architectures = match props["Architectures"].as_sequence() {
            Some(own) => own.clone(),
            // Lambda's default when neither says.
            None => globals["Architectures"]
                .as_sequence()
                .cloned()
                .unwrap_or_else(|| vec![Value::from("x86_64")]),
        };
        assert_eq!(
            architectures.len(),
            1,
            "{id}: Architectures must name exactly one"
        );
        out.insert(
            id.clone(),
            FunctionDef {
                logical_id: id.clone(),
                binary: string(&resource["Metadata"]["BuildProperties"]["Binary"]),
                handler: string(&props["Handler"]),
                code_uri: string(&props["CodeUri"]),
                build_method: string(&resource["Metadata"]["BuildMethod"]),
                architecture: string(&architectures[0]),
                memory_mb: u32::try_from(memory).unwrap_or(u32::MAX),
                events,
                policies: policies_of(template, &id, props),
                env: props["Environment"]["Variables"]
                    .as_mapping()
                    .map(|m| m.keys().map(string).collect())
                    .unwrap_or_default(),
            },
        );
    }
    out
}

/// A function's grants in the shape of SAM's `Policies`: its own, or those of the shared role
/// its `Role: !GetAtt X.Arn` names (the role's managed policies of the template as `!Ref X`,
/// its inline documents as `Statement:` maps; the AWS managed ones are left out, as SAM adds
/// them to the roles it makes).
fn policies_of(template: &Value, id: &str, props: &Value) -> Vec<Value> {
    let own = props["Policies"].as_sequence().cloned().unwrap_or_default();
    let Value::Tagged(role) = &props["Role"] else {
        return own;
    };
    assert!(
        own.is_empty(),
        "{id}: a function with a Role of the template must not also have Policies"
    );
    let role_id = match &role.value {
        Value::String(attr) if role.tag == "GetAtt" => attr.strip_suffix(".Arn").map(str::to_owned),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{id}: Role must be !GetAtt <a role of the template>.Arn"));
    let role = &template["Resources"][role_id.as_str()];
    assert_eq!(
        role["Type"].as_str(),
        Some("AWS::IAM::Role"),
        "{id}: {role_id} is not a role of the template"
    );
    let props = &role["Properties"];
    let mut out: Vec<Value> = props["ManagedPolicyArns"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|arn| matches!(arn, Value::Tagged(t) if t.tag == "Ref"))
        .cloned()
        .collect();
    for policy in props["Policies"].as_sequence().into_iter().flatten() {
        let mut statement = serde_norway::Mapping::new();
        statement.insert(
            Value::from("Statement"),
            policy["PolicyDocument"]["Statement"].clone(),
        );
        out.push(Value::Mapping(statement));
    }
    out
}

/// The names of the variables every function gets (Globals).
pub fn global_env_names(template: &Value) -> Vec<String> {
    template["Globals"]["Function"]["Environment"]["Variables"]
        .as_mapping()
        .map(|m| m.keys().map(string).collect())
        .unwrap_or_default()
}

/// The one function serving `handler` from `binary`.
pub fn function_for(binary: &str, handler: &str) -> FunctionDef {
    let all = functions(&template());
    let mut matching = all
        .into_values()
        .filter(|f| f.binary == binary && f.handler == handler);
    let found = matching
        .next()
        .unwrap_or_else(|| panic!("template.yaml has no {binary} function with Handler {handler}"));
    assert!(
        matching.next().is_none(),
        "template.yaml has two {binary} functions with Handler {handler}"
    );
    found
}

/// What SAM turns template.yaml into (CloudFormation resources: roles with the policy
/// templates expanded, versions, aliases, deployment groups, permissions), by
/// aws-sam-translator offline: the local CodeUri and DefinitionUri become S3 locations,
/// managed policies by name become their ARNs, and no AWS call is made. The translator is
/// installed into ./.venv by scripts/test.sh; `TROVE_SAM_PYTHON` names another Python, and
/// without either the Python beside `TROVE_MOTO_SERVER` (the same virtualenv) is tried.
pub fn transformed() -> &'static serde_json::Value {
    static TRANSFORMED: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    TRANSFORMED.get_or_init(|| {
        let beside_moto = std::env::var_os("TROVE_MOTO_SERVER")
            .map(PathBuf::from)
            .and_then(|moto| moto.parent().map(|bin| bin.join("python")));
        let local = root().join(".venv/bin/python");
        let python = match std::env::var_os("TROVE_SAM_PYTHON") {
            Some(named) => PathBuf::from(named),
            None if local.is_file() => local,
            None => beside_moto.filter(|p| p.is_file()).unwrap_or(local),
        };
        let out = std::process::Command::new(&python)
            .arg("-c")
            .arg(SAM_TRANSFORM)
            .arg(root().join("template.yaml"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run scripts/test.sh, which installs aws-sam-translator into \
                     ./.venv, or set TROVE_SAM_PYTHON)",
                    python.display()
                )
            });
        assert!(
            out.status.success(),
            "the SAM transform failed (scripts/test.sh installs aws-sam-translator into \
             ./.venv):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("the transform prints JSON")
    })
}

const SAM_TRANSFORM: &str = r#"
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class ManagedPolicies:
    # AWS managed policies named in Policies resolve to their ARNs without asking IAM.
    def load(self):
        return {n: "arn:aws:iam::aws:policy/" + n for n in [
            "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess", "AWSLambdaBasicExecutionRole",
            "AWSLambdaRole", "AWSLambdaSQSQueueExecutionRole", "AWSLambdaDynamoDBExecutionRole"]}

with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    props = resource.get("Properties", {})
    if resource["Type"] == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
        props["CodeUri"] = "s3://trove-artifacts/" + props["CodeUri"] + ".zip"
    if resource["Type"] == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
        props["DefinitionUri"] = "s3://trove-artifacts/" + props["DefinitionUri"]
pseudo = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}
json.dump(transform(template, pseudo, ManagedPolicies()), sys.stdout)
"#;

/// The logical id of the role a transformed function runs with.
pub fn role_of(transformed: &serde_json::Value, function: &str) -> String {
    transformed["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{function}: no role of the stack"))
        .to_owned()
}

/// The policy documents a transformed function's role holds: its inline policies and the
/// template's managed policies it attaches (intrinsics unresolved).
pub fn role_documents<'t>(
    transformed: &'t serde_json::Value,
    function: &str,
) -> Vec<&'t serde_json::Value> {
    let resources = &transformed["Resources"];
    let props = &resources[role_of(transformed, function).as_str()]["Properties"];
    let mut documents: Vec<&serde_json::Value> = props["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| &p["PolicyDocument"])
        .collect();
    for arn in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
        if let Some(name) = arn["Ref"].as_str() {
            documents.push(&resources[name]["Properties"]["PolicyDocument"]);
        }
    }
    documents
}

/// The IAM actions a transformed function's role allows, each with its resources (as JSON
/// text, intrinsics included).
pub fn role_actions(transformed: &serde_json::Value, function: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in role_documents(transformed, function) {
        let statements = match &doc["Statement"] {
            serde_json::Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for s in statements {
            if s["Effect"] != "Allow" {
                continue;
            }
            let actions = match &s["Action"] {
                serde_json::Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            for action in actions {
                if let Some(action) = action.as_str() {
                    out.push((action.to_owned(), s["Resource"].to_string()));
                }
            }
        }
    }
    out
}
