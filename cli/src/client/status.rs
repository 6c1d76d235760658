//! `trove status REPO UPLOAD_ID`: where an upload stands.

use serde_json::Value;

use crate::client::api::{self, Api};
use crate::client::output::OutputArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    repo: String,
    upload_id: String,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::new(&crate::client::config::current()?, api::BRIEF)?;
    let url = api.endpoint(&["v1", "repositories", &args.repo, "uploads", &args.upload_id]);
    let view: Value = api.get(url).await?;
    args.out.emit(&view, describe)
}

/// `pending`, `rejected: <reason>`, with the file and the parts stored so far.
fn describe(view: &Value) -> String {
    let get = |name: &str| view.get(name).and_then(Value::as_str).unwrap_or("");
    let mut out = get("status").to_owned();
    if let Some(reason) = view.get("reason").and_then(Value::as_str) {
        out.push_str(": ");
        out.push_str(reason);
    }
    out.push_str(&format!(
        "\n{}/{} {} {}",
        get("repository"),
        get("package"),
        get("version"),
        get("filename")
    ));
    if let Some(multipart) = view.get("multipart") {
        let stored = multipart
            .get("parts")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let count = multipart
            .get("part_count")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let completed = multipart.get("completed").and_then(Value::as_bool) == Some(true);
        if completed {
            out.push_str(&format!("\nmultipart: {count} parts, completed"));
        } else {
            out.push_str(&format!("\nmultipart: {stored} of {count} parts stored"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_names_its_reason_file_and_parts() {
        let view = serde_json::json!({
            "upload_id": "u", "status": "rejected", "reason": "malware found",
            "repository": "libs", "package": "widget", "version": "1.0.0", "filename": "w.bin",
            "multipart": {"part_size": 5, "part_count": 4, "completed": false, "parts": [{"number": 1}]}
        });
        assert_eq!(
            describe(&view),
            "rejected: malware found\nlibs/widget 1.0.0 w.bin\nmultipart: 1 of 4 parts stored"
        );
    }
}
