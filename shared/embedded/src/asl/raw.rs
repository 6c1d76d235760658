//! The JSON shapes of a definition, one serde struct per state type, each refusing unknown
//! fields. `load` turns them into the checked model the interpreter runs.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::retry::{RawCatcher, RawRetrier};

/// Tells a field set to JSON `null` (`Some(None)`) from an absent one (`None`): for
/// InputPath, OutputPath and ResultPath the two mean different things.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawMachine {
    pub(crate) start_at: String,
    pub(crate) states: Map<String, Value>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u64>,
}

/// A Parallel branch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawBranch {
    pub(crate) start_at: String,
    pub(crate) states: Map<String, Value>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
}

/// A Map's ItemProcessor (or legacy Iterator).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawProcessor {
    pub(crate) start_at: String,
    pub(crate) states: Map<String, Value>,
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) processor_config: Option<RawProcessorConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawProcessorConfig {
    #[serde(default)]
    pub(crate) mode: Option<String>,
    #[serde(default)]
    pub(crate) execution_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawPass {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) end: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) parameters: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) result_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) result: Option<Option<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawTask {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    pub(crate) resource: String,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) end: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) parameters: Option<Value>,
    #[serde(default)]
    pub(crate) result_selector: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) result_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) retry: Option<Vec<RawRetrier>>,
    #[serde(default)]
    pub(crate) catch: Option<Vec<RawCatcher>>,
    #[serde(default)]
    pub(crate) timeout_seconds: Option<u64>,
    #[serde(default)]
    pub(crate) timeout_seconds_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawChoice {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    pub(crate) choices: Vec<super::choice::RawRule>,
    #[serde(default)]
    pub(crate) default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawWait {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) end: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) seconds: Option<u64>,
    #[serde(default)]
    pub(crate) timestamp: Option<String>,
    #[serde(default)]
    pub(crate) seconds_path: Option<String>,
    #[serde(default)]
    pub(crate) timestamp_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawSucceed {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawFail {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
    #[serde(default)]
    pub(crate) cause: Option<String>,
    #[serde(default)]
    pub(crate) error_path: Option<String>,
    #[serde(default)]
    pub(crate) cause_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawParallel {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    pub(crate) branches: Vec<Value>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) end: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) parameters: Option<Value>,
    #[serde(default)]
    pub(crate) result_selector: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) result_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) retry: Option<Vec<RawRetrier>>,
    #[serde(default)]
    pub(crate) catch: Option<Vec<RawCatcher>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct RawMap {
    #[serde(default, rename = "Comment")]
    _comment: Option<String>,
    #[serde(default)]
    pub(crate) iterator: Option<Value>,
    #[serde(default)]
    pub(crate) item_processor: Option<Value>,
    #[serde(default)]
    pub(crate) items_path: Option<String>,
    #[serde(default)]
    pub(crate) item_selector: Option<Value>,
    #[serde(default)]
    pub(crate) parameters: Option<Value>,
    #[serde(default)]
    pub(crate) max_concurrency: Option<u64>,
    #[serde(default)]
    pub(crate) max_concurrency_path: Option<String>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    pub(crate) end: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) input_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) output_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) result_selector: Option<Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) result_path: Option<Option<String>>,
    #[serde(default)]
    pub(crate) retry: Option<Vec<RawRetrier>>,
    #[serde(default)]
    pub(crate) catch: Option<Vec<RawCatcher>>,
}

/// Fields of the States Language (or of Step Functions) that this interpreter does not
/// run: a definition using one is refused at load instead of running differently.
pub(crate) const UNSUPPORTED_FIELDS: [(&str, &str); 16] = [
    ("QueryLanguage", "JSONata (QueryLanguage)"),
    ("Arguments", "JSONata Arguments"),
    ("Output", "JSONata Output"),
    ("Assign", "variables (Assign)"),
    ("Items", "JSONata Map Items"),
    ("HeartbeatSeconds", "task heartbeats"),
    ("HeartbeatSecondsPath", "task heartbeats"),
    ("Credentials", "cross-account task credentials"),
    ("ItemReader", "Distributed Map ItemReader"),
    ("ItemBatcher", "Distributed Map ItemBatcher"),
    ("ResultWriter", "Distributed Map ResultWriter"),
    ("ToleratedFailurePercentage", "Map tolerated failures"),
    ("ToleratedFailurePercentagePath", "Map tolerated failures"),
    ("ToleratedFailureCount", "Map tolerated failures"),
    ("ToleratedFailureCountPath", "Map tolerated failures"),
    ("Label", "Distributed Map labels"),
];
