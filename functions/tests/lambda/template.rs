//! template.yaml, read as data: the functions the harness runs and the contract checks.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_norway::Value;

/// The workspace root (template.yaml, events/, statemachines/).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("functions/ has a parent")
        .to_path_buf()
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
                logical_id: id,
                binary: string(&resource["Metadata"]["BuildProperties"]["Binary"]),
                handler: string(&props["Handler"]),
                code_uri: string(&props["CodeUri"]),
                build_method: string(&resource["Metadata"]["BuildMethod"]),
                architecture: string(&architectures[0]),
                memory_mb: u32::try_from(memory).unwrap_or(u32::MAX),
                events,
                policies: props["Policies"].as_sequence().cloned().unwrap_or_default(),
                env: props["Environment"]["Variables"]
                    .as_mapping()
                    .map(|m| m.keys().map(string).collect())
                    .unwrap_or_default(),
            },
        );
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
