//! The pipeline's own changes are in the audit trail: a file published and an upload
//! refused, each recorded by the system on behalf of the uploader, with the upload's id
//! (and the reason of a refusal); and every audit record is dropped after the retention.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::app::TestApp;
use trove_core::config::Settings;
use trove_core::domain::keys;
use trove_core::domain::names::TenantName;
use trove_core::ports::table::TTL_ATTR;

/// The tenant's audit records of `action`, newest first.
async fn records(app: &TestApp, action: &str) -> Vec<Value> {
    let (status, _, page) = app
        .call(
            Method::GET,
            &format!("/v1/audit?action={action}&limit=100"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().expect("items").clone()
}

async fn me(app: &TestApp) -> String {
    let (_, _, me) = app
        .call(Method::GET, "/v1/me", Some(&app.admin), None)
        .await;
    me["principal"].as_str().expect("principal").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn publishing_and_refusing_are_recorded_by_the_system_for_the_uploader() {
    let settings = Settings {
        audit_retention_days: 400,
        ..Settings::for_testing()
    };
    let app = TestApp::with_settings(settings).await;
    app.create_repository("libs").await;
    let uploader = me(&app).await;

    let published = app
        .publish(
            &app.admin,
            "libs",
            "widget",
            "1.0.0",
            "w.bin",
            b"widget bytes",
        )
        .await;
    assert_eq!(published["status"], "published", "{published}");
    let upload_id = published["upload_id"].as_str().expect("id");
    let found = records(&app, "file.publish").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let record = &found[0];
    assert_eq!(record["actor"], "system:pipeline");
    assert_eq!(record["on_behalf_of"], uploader.as_str());
    assert_eq!(record["upload_id"], upload_id);
    assert_eq!(record["outcome"], "success");
    assert_eq!(record["target"], "upload/libs/widget/1.0.0/w.bin");

    // A name that promises a zip archive, and bytes that are none: Validate refuses it.
    let refused = app
        .publish(
            &app.admin,
            "libs",
            "widget",
            "1.0.1",
            "w.zip",
            b"not a zip at all",
        )
        .await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    let found = records(&app, "upload.reject").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let record = &found[0];
    assert_eq!(record["actor"], "system:pipeline");
    assert_eq!(record["on_behalf_of"], uploader.as_str());
    assert_eq!(record["upload_id"], refused["upload_id"]);
    assert_eq!(
        record["reason"], refused["reason"],
        "the reason the uploader reads"
    );
    assert_eq!(
        records(&app, "file.publish").await.len(),
        1,
        "nothing published"
    );

    // Kept for the configured retention, then the table's TTL drops it.
    let ctx = &app.host.ctx;
    let id = record["id"].as_str().expect("id");
    let item = ctx
        .table
        .get(&keys::audit(
            &TenantName::parse("default").expect("tenant"),
            id,
        ))
        .await
        .expect("get")
        .expect("stored");
    let at = time::OffsetDateTime::parse(
        record["at"].as_str().expect("at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("time");
    assert_eq!(
        item[TTL_ATTR].as_i64(),
        Some(at.unix_timestamp() + 400 * 86_400)
    );
}
