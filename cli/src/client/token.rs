//! `trove token`: a short-lived access token made with the stored API key, for tools that
//! should not hold the key itself.

use serde_json::Value;

use crate::client::api::{self, Api};
use crate::client::output::OutputArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let api = Api::new(&crate::client::config::current()?, api::BRIEF)?;
    let token: Value = api
        .post(api.endpoint(&["v1", "auth", "token"]), None::<&()>)
        .await?;
    args.out.emit(&token, |t| {
        t.get("access_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    })
}
