//! Search over the `Table` port: the same catalogue, committed by Persist's own transaction,
//! answers the same queries with the same results (order and pages included) on DynamoDB
//! (moto) and on SQLite.

use std::sync::Arc;

use trove_core::domain::access::{Permission, Rights, Role, Scope};
use trove_core::domain::model::Format;
use trove_core::domain::names::{RepoName, TenantName};
use trove_core::ports::Table;
use trove_core::ports::clock::ShiftedClock;
use trove_core::services::Context;
use trove_core::services::access::caller::Caller;
use trove_core::services::catalog::repositories::{self, CreateRepository};
use trove_core::services::search::{self, SearchParams};
use trove_testkit::catalogue::{self, Publish, sha_of};

mod aws {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_queries_find_the_same_versions() {
        let fixture = crate::moto::table().await;
        super::the_same_queries_find_the_same_versions(fixture.port.clone()).await;
    }
}

mod local {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_same_queries_find_the_same_versions() {
        let fixture = crate::table::local_table().await;
        super::the_same_queries_find_the_same_versions(fixture.port.clone()).await;
    }
}

/// `(repository, package, version)` of each result in order, following every cursor.
async fn all(ctx: &Context, caller: &Caller, q: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..50 {
        let params = SearchParams {
            q: q.to_owned(),
            limit: Some(limit),
            cursor,
        };
        let page = search::search(ctx, caller, &params)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        out.extend(page.items.iter().map(|hit| {
            let file = hit
                .file
                .as_ref()
                .map(|f| format!(" {}", f.filename))
                .unwrap_or_default();
            format!("{}/{}/{}{file}", hit.repository, hit.package, hit.version)
        }));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("{q}: paging does not end");
}

pub async fn the_same_queries_find_the_same_versions(table: Arc<dyn Table>) {
    let (_dir, host) = trove_testkit::host().await;
    // Each publish a second after the last: two in one millisecond would tie on time and be
    // ordered by version string, which is not the order the cases expect.
    let clock = Arc::new(ShiftedClock::default());
    let ctx = Context {
        table,
        clock: clock.clone(),
        ..(*host.ctx).clone()
    };
    let acme = TenantName::parse("acme").expect("valid");
    let admin = Caller::tenant_admin_for_tests(acme.clone());
    for (name, format) in [("libs", Format::Generic), ("tools", Format::Generic)] {
        let request = CreateRepository {
            name: name.into(),
            format,
            description: None,
            max_file_size: None,
            retention: None,
        };
        repositories::create(&ctx, &admin, request)
            .await
            .expect("repository");
    }
    let rows: &[(&str, &str, &str, &str, &str)] = &[
        ("libs", "acme-widget", "1.0.0", "w1", "user_ci"),
        ("libs", "acme-widget", "1.10.0", "w2", "user_ci"),
        ("libs", "acme-widget", "1.9.0", "w3", "user_dev"),
        ("libs", "acme-core", "2.0.0", "shared", "user_dev"),
        ("tools", "widget", "0.1.0", "t1", "user_ci"),
        ("tools", "other", "1.0.0", "shared", "user_ci"),
    ];
    for (repo, package, version, seed, by) in rows {
        let filename = format!("{package}-{version}.bin");
        let sha = sha_of(seed);
        let publish = Publish {
            repo,
            package,
            version,
            filename: &filename,
            sha256: &sha,
            size: 3,
            by,
        };
        catalogue::publish(&ctx, &acme, &publish)
            .await
            .expect("published");
        clock.advance(time::Duration::seconds(1));
    }
    let shared = sha_of("shared");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            "name:acme-*".into(),
            vec![
                "libs/acme-core/2.0.0",
                "libs/acme-widget/1.9.0",
                "libs/acme-widget/1.10.0",
                "libs/acme-widget/1.0.0",
            ],
        ),
        (
            "widget".into(),
            vec![
                "tools/widget/0.1.0",
                "libs/acme-widget/1.9.0",
                "libs/acme-widget/1.10.0",
                "libs/acme-widget/1.0.0",
            ],
        ),
        (
            "name:acme-widget version:>=1.9".into(),
            vec!["libs/acme-widget/1.9.0", "libs/acme-widget/1.10.0"],
        ),
        (
            "repo:tools".into(),
            vec!["tools/other/1.0.0", "tools/widget/0.1.0"],
        ),
        (
            "by:user_dev".into(),
            vec!["libs/acme-core/2.0.0", "libs/acme-widget/1.9.0"],
        ),
        (
            "by:user_dev OR name:other".into(),
            vec![
                "libs/acme-core/2.0.0",
                "libs/acme-widget/1.9.0",
                "tools/other/1.0.0",
            ],
        ),
        (
            format!("sha256:{}", &shared[..16]),
            vec![
                "libs/acme-core/2.0.0 acme-core-2.0.0.bin",
                "tools/other/1.0.0 other-1.0.0.bin",
            ],
        ),
        (
            "published:<1h -repo:libs".into(),
            vec!["tools/other/1.0.0", "tools/widget/0.1.0"],
        ),
        ("published:>1h".into(), vec![]),
        ("name:*-core".into(), vec!["libs/acme-core/2.0.0"]),
    ];
    for (q, want) in &cases {
        // One result per page and all at once: the same results in the same order.
        assert_eq!(&all(&ctx, &admin, q, 1).await, want, "{q}, a page of one");
        assert_eq!(&all(&ctx, &admin, q, 50).await, want, "{q}");
    }
    // A reader of tools alone, and another tenant.
    let reader = Caller {
        rights: Arc::new(Rights {
            grants: vec![Permission {
                role: Role::Reader,
                scope: Scope::repository(RepoName::parse("tools").expect("valid")),
            }],
            cap: None,
        }),
        ..admin.clone()
    };
    assert_eq!(
        all(&ctx, &reader, &format!("sha256:{shared}"), 10).await,
        ["tools/other/1.0.0 other-1.0.0.bin"]
    );
    assert_eq!(
        all(&ctx, &reader, "widget", 10).await,
        ["tools/widget/0.1.0"]
    );
    let stranger = Caller::tenant_admin_for_tests(TenantName::parse("globex").expect("valid"));
    assert!(all(&ctx, &stranger, "widget", 10).await.is_empty());
}
