//! The audit trail is kept in shards (`keys::audit`) and read back as one: pages newest
//! first, each record once, the records written before the cut (the unsharded partition)
//! among them, and a cursor nobody handed out refused.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::app::TestApp;
use trove_core::domain::keys;
use trove_core::domain::names::TenantName;
use trove_core::ports::table::{Item, Key, PK, SK};

/// Every record of the trail, following `next_cursor` with pages of `limit`.
async fn walk(app: &TestApp, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let uri = match &cursor {
            Some(c) => format!("/v1/audit?limit={limit}&cursor={c}"),
            None => format!("/v1/audit?limit={limit}"),
        };
        let (status, _, page) = app.call(Method::GET, &uri, Some(&app.admin), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit, "{page}");
        ids.extend(
            items
                .iter()
                .map(|r| r["id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("the trail never ended: {ids:?}");
}

/// A record as an earlier version stored it: in the tenant's one partition.
async fn write_before_the_cut(app: &TestApp, id: &str) {
    let tenant = TenantName::parse("default").expect("tenant");
    let key = Key::new(keys::audit_partition(&tenant), format!("A#{id}"));
    let mut item: Item = serde_json::from_value(json!({
        "id": id, "actor": "user_legacy", "action": "repository.create",
        "target": "repository/old", "at": "2026-01-02T03:04:05Z",
        "request_id": "req-legacy", "outcome": "success",
    }))
    .expect("item");
    item.insert(PK.into(), key.pk.into());
    item.insert(SK.into(), key.sk.into());
    app.host.ctx.table.put(item, None).await.expect("stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sharded_trail_reads_as_one_newest_first_with_what_was_written_before() {
    let app = TestApp::new().await;
    for n in 0..13 {
        app.create_repository(&format!("repo-{n}")).await;
    }
    // Older than anything written since: ULIDs of early 2026.
    let legacy = [
        "01kdxq0000aaaaaaaaaaaaaaaa",
        "01kdxq0000bbbbbbbbbbbbbbbb",
        "01kdxq0000cccccccccccccccc",
    ];
    for id in legacy {
        write_before_the_cut(&app, id).await;
    }

    let everything = walk(&app, 1000).await;
    assert!(everything.len() >= 16, "{everything:?}");
    let mut newest_first = everything.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(everything, newest_first, "newest first across shards");
    assert_eq!(&everything[everything.len() - 3..], {
        let mut l = legacy.map(str::to_owned).to_vec();
        l.reverse();
        l
    });
    let shards: BTreeSet<String> = everything
        .iter()
        .map(|id| keys::audit(&TenantName::parse("default").expect("tenant"), id).pk)
        .collect();
    assert!(shards.len() >= 3, "records spread over shards: {shards:?}");

    // Pages of every size give the same trail: nothing twice, nothing skipped.
    for limit in [1, 2, 5, 7] {
        assert_eq!(walk(&app, limit).await, everything, "pages of {limit}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cursor_the_trail_did_not_hand_out_is_refused() {
    let app = TestApp::new().await;
    app.create_repository("libs").await;
    let long = "0".repeat(1500);
    for cursor in [
        "01KDXQ0000AAAAAAAAAAAAAAAA",
        "A%2301kdxq0000aaaaaaaaaaaaaaaa",
        "..%2F..%2Fsecrets",
        "T%23other%23AUDIT",
        "01kdxq0000aaaaaaaaaaaaaaa",
        "01kdxq0000aaaaaaaaaaaaaaaau",
        long.as_str(),
    ] {
        let (status, ctype, body) = app
            .call(
                Method::GET,
                &format!("/v1/audit?cursor={cursor}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cursor}: {body}");
        assert_eq!(ctype, "application/problem+json", "{cursor}");
    }
}
