//! Credentials that manage credentials, and changes that could lock a tenant's admins out:
//! a narrowed key cannot touch its owner's other keys nor mint one that outlives it; the last
//! admin who can sign in cannot be removed (by grant, membership or key), even by two admins
//! racing; a policy cannot throttle its own admins.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::identity::{account, ok, status, with_repo};
use trove_core::domain::names::TenantName;
use trove_core::services::access::api_keys;

fn key_id(key: &str) -> String {
    api_keys::parse_id(key).expect("a key").to_owned()
}

async fn new_key(app: &TestApp, with: &str, body: Value) -> String {
    let created = ok(app, Method::POST, "/v1/api-keys", with, Some(body)).await;
    created["key"].as_str().expect("key").to_owned()
}

async fn listed_key_ids(app: &TestApp, with: &str) -> Vec<String> {
    let page = ok(app, Method::GET, "/v1/api-keys", with, None).await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|k| k["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn delete(app: &TestApp, uri: &str, with: &str) -> (StatusCode, Value) {
    let (s, _, body) = app.call(Method::DELETE, uri, Some(with), None).await;
    (s, body)
}

async fn token_of(app: &TestApp, key: &str) -> String {
    let t = ok(app, Method::POST, "/v1/auth/token", key, None).await;
    t["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrowed_key_cannot_see_or_revoke_its_owners_other_keys() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let scoped = new_key(
        &app,
        &admin,
        json!({"name": "ci-read", "expires_in": 3600,
               "scopes": [{"role": "reader", "scope": {"repository": "libs"}}]}),
    )
    .await;
    let sibling = new_key(&app, &admin, json!({"name": "laptop"})).await;
    let token = token_of(&app, &scoped).await;
    for credential in [&scoped, &token] {
        for victim in [&admin, &sibling] {
            let (s, body) = delete(
                &app,
                &format!("/v1/api-keys/{}", key_id(victim)),
                credential,
            )
            .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
        }
        assert_eq!(listed_key_ids(&app, credential).await, [key_id(&scoped)]);
    }
    for victim in [&admin, &sibling] {
        assert_eq!(
            status(&app, Method::GET, "/v1/me", victim, None).await,
            StatusCode::OK
        );
    }
    // The owner's unscoped credentials see every key of theirs; a narrowed key may end itself.
    let all = listed_key_ids(&app, &admin).await;
    for k in [&admin, &sibling, &scoped] {
        assert!(all.contains(&key_id(k)), "{all:?}");
    }
    let (s, body) = delete(&app, &format!("/v1/api-keys/{}", key_id(&scoped)), &token).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        status(&app, Method::GET, "/v1/me", &scoped, None).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_credential_never_mints_a_key_that_outlives_it() {
    let app = with_repo().await;
    let admin = app.admin.clone();
    let hour = new_key(&app, &admin, json!({"name": "hour", "expires_in": 3600})).await;
    let two_years = 2 * 365 * 24 * 3600;
    let (s, _, body) = app
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&hour),
            Some(json!({"name": "forever", "expires_in": two_years})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("cannot outlive"),
        "{body}"
    );
    // Without a lifetime the new key ends when its maker does; within it, it is made.
    let child = ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &hour,
        Some(json!({"name": "child"})),
    )
    .await;
    let hour_record = api_keys::load(&app.host.ctx, &key_id(&hour))
        .await
        .expect("read")
        .expect("stored");
    let child_at = time::OffsetDateTime::parse(
        child["expires_at"].as_str().expect("expires_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    assert!(Some(child_at) <= hour_record.expires_at, "{child}");
    ok(
        &app,
        Method::POST,
        "/v1/api-keys",
        &hour,
        Some(json!({"name": "short", "expires_in": 1800})),
    )
    .await;
    // A token lives 15 minutes: it cannot leave an hour-long key behind, nor a token that
    // outlives the key it is made with.
    let token = token_of(&app, &admin).await;
    assert_eq!(
        status(
            &app,
            Method::POST,
            "/v1/api-keys",
            &token,
            Some(json!({"name": "from-token", "expires_in": 3600}))
        )
        .await,
        StatusCode::BAD_REQUEST
    );
    let minute = new_key(&app, &admin, json!({"name": "minute", "expires_in": 120})).await;
    let issued = ok(&app, Method::POST, "/v1/auth/token", &minute, None).await;
    let lives = issued["expires_in"].as_u64().expect("expires_in");
    assert!((1..=120).contains(&lives), "{issued}");
}

/// The id of the tenant-wide admin grant given to `principal`.
async fn admin_grant_of(app: &TestApp, with: &str, principal: &str) -> String {
    let page = ok(
        app,
        Method::GET,
        &format!("/v1/grants?principal={principal}"),
        with,
        None,
    )
    .await;
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["role"] == "admin" && g["scope"] == json!({}))
        .and_then(|g| g["id"].as_str())
        .expect("an admin grant")
        .to_owned()
}

async fn principal_of(app: &TestApp, key: &str) -> String {
    let me = ok(app, Method::GET, "/v1/me", key, None).await;
    me["principal"].as_str().expect("principal").to_owned()
}

fn refused_for_last_admin(s: StatusCode, body: &Value) {
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("without an admin"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_admin_cannot_remove_their_own_admin_grant() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let me = principal_of(&app, &admin).await;
    let grant = admin_grant_of(&app, &admin, &me).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{grant}"), &admin).await;
    refused_for_last_admin(s, &body);
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &admin, None).await,
        StatusCode::OK
    );
    // With a second admin who can sign in, the first may step down; the second then may not.
    let (second, second_key) = account(&app, "second-admin", &[("admin", json!({}))]).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{grant}"), &admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let theirs = admin_grant_of(&app, &second_key, &second).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{theirs}"), &second_key).await;
    refused_for_last_admin(s, &body);
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &second_key, None).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_without_a_usable_key_does_not_count_and_the_last_key_stays() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    // A keyless admin cannot sign in: it does not keep the tenant administrable.
    let sa = ok(
        &app,
        Method::POST,
        "/v1/service-accounts",
        &admin,
        Some(json!({"name": "keyless"})),
    )
    .await;
    ok(
        &app,
        Method::POST,
        "/v1/grants",
        &admin,
        Some(json!({"principal": sa["id"], "role": "admin", "scope": {}})),
    )
    .await;
    let me = principal_of(&app, &admin).await;
    let grant = admin_grant_of(&app, &admin, &me).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{grant}"), &admin).await;
    refused_for_last_admin(s, &body);
    // A narrowed key does not carry admin; a spare unscoped key does.
    new_key(
        &app,
        &admin,
        json!({"name": "reader", "scopes": [{"role": "reader", "scope": {}}]}),
    )
    .await;
    let (s, body) = delete(&app, &format!("/v1/api-keys/{}", key_id(&admin)), &admin).await;
    refused_for_last_admin(s, &body);
    let spare = new_key(&app, &admin, json!({"name": "spare"})).await;
    let (s, body) = delete(&app, &format!("/v1/api-keys/{}", key_id(&admin)), &spare).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, body) = delete(&app, &format!("/v1/api-keys/{}", key_id(&spare)), &spare).await;
    refused_for_last_admin(s, &body);
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &spare, None).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_the_last_member_of_the_admin_group_is_refused() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let group = ok(
        &app,
        Method::POST,
        "/v1/groups",
        &admin,
        Some(json!({"name": "admins"})),
    )
    .await;
    let group = group["id"].as_str().expect("id").to_owned();
    ok(
        &app,
        Method::POST,
        "/v1/grants",
        &admin,
        Some(json!({"principal": group, "role": "admin", "scope": {}})),
    )
    .await;
    let (member, member_key) = account(&app, "ops", &[]).await;
    ok(
        &app,
        Method::PUT,
        &format!("/v1/groups/{group}/members/{member}"),
        &admin,
        None,
    )
    .await;
    // The group's member keeps the tenant administrable: the bootstrap admin may step down.
    let me = principal_of(&app, &admin).await;
    let grant = admin_grant_of(&app, &admin, &me).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{grant}"), &member_key).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, body) = delete(
        &app,
        &format!("/v1/groups/{group}/members/{member}"),
        &member_key,
    )
    .await;
    refused_for_last_admin(s, &body);
    let group_grant = admin_grant_of(&app, &member_key, &group).await;
    let (s, body) = delete(&app, &format!("/v1/grants/{group_grant}"), &member_key).await;
    refused_for_last_admin(s, &body);
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &member_key, None).await,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_admins_removing_each_other_at_once_leave_one() {
    for round in 0..5 {
        let app = TestApp::new().await;
        let admin = app.admin.clone();
        let first = principal_of(&app, &admin).await;
        let (second, second_key) = account(&app, "second", &[("admin", json!({}))]).await;
        let first_grant = admin_grant_of(&app, &admin, &first).await;
        let second_grant = admin_grant_of(&app, &admin, &second).await;
        let (remove_second, remove_first) = (
            format!("/v1/grants/{second_grant}"),
            format!("/v1/grants/{first_grant}"),
        );
        let (a, b) = tokio::join!(
            delete(&app, &remove_second, &admin),
            delete(&app, &remove_first, &second_key),
        );
        // The loser is refused: by the last-admin check, or because the winner's change
        // already took its admin role (then it may not even see the grant).
        let won = [a.0, b.0]
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count();
        assert_eq!(won, 1, "round {round}: {a:?} {b:?}");
        for (s, _) in [&a, &b] {
            assert!(
                [
                    StatusCode::NO_CONTENT,
                    StatusCode::CONFLICT,
                    StatusCode::NOT_FOUND,
                    StatusCode::FORBIDDEN
                ]
                .contains(s),
                "round {round}: {a:?} {b:?}"
            );
        }
        let survivor = if a.0 == StatusCode::NO_CONTENT {
            &admin
        } else {
            &second_key
        };
        assert_eq!(
            status(&app, Method::GET, "/v1/users", survivor, None).await,
            StatusCode::OK,
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_admin_gives_a_locked_out_tenant_a_new_admin_key() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let tenant = TenantName::parse("default").expect("valid");
    // Locked out as an API cannot do it: the only admin key is gone from under the API.
    let ctx = &app.host.ctx;
    let mut record = api_keys::load(ctx, &key_id(&admin))
        .await
        .expect("read")
        .expect("stored");
    record.revoked = true;
    api_keys::store(ctx, &record).await.expect("stored");
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &admin, None).await,
        StatusCode::UNAUTHORIZED
    );
    let recovered = trove_core::services::tenants::reset_admin(ctx, &tenant)
        .await
        .expect("reset");
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &recovered.api_key, None).await,
        StatusCode::OK
    );
    let me = ok(&app, Method::GET, "/v1/me", &recovered.api_key, None).await;
    assert_eq!(me["principal"], recovered.principal);
    // It is audited as the operator's doing.
    let audit = ok(
        &app,
        Method::GET,
        "/v1/audit?action=tenant.reset_admin",
        &recovered.api_key,
        None,
    )
    .await;
    assert_eq!(audit["items"][0]["actor"], "system:reset-admin", "{audit}");
    // Run again, it reuses the recovery user and adds a key, not another admin.
    let again = trove_core::services::tenants::reset_admin(ctx, &tenant)
        .await
        .expect("reset");
    assert_eq!(again.principal, recovered.principal);
    assert_ne!(again.api_key, recovered.api_key);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_that_would_throttle_its_own_admins_is_refused() {
    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let fine = json!({"per_second": 100.0, "burst": 100});
    for starved in [
        json!({"per_second": 0.0001, "burst": 1}),
        json!({"per_second": 100.0, "burst": 1}),
        json!({"per_second": 0.5, "burst": 100}),
    ] {
        let policy = json!({"rate_limits": {"anonymous": fine, "user": fine, "service_account": fine, "admin": starved}});
        let (s, _, body) = app
            .call(Method::PUT, "/v1/policy", Some(&admin), Some(policy))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{starved}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .expect("detail")
                .contains("admin tier"),
            "{body}"
        );
    }
    let stored = ok(&app, Method::GET, "/v1/policy", &admin, None).await;
    assert_eq!(
        stored["rate_limits"]["admin"],
        json!({"per_second": 100.0, "burst": 500})
    );
    // Other tiers may be as strict as the tenant likes.
    let tiny = json!({"per_second": 0.001, "burst": 1});
    ok(
        &app,
        Method::PUT,
        "/v1/policy",
        &admin,
        Some(json!({"rate_limits": {"anonymous": tiny, "user": tiny, "service_account": tiny, "admin": fine}})),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            status(&app, Method::GET, "/v1/policy", &admin, None).await,
            StatusCode::OK
        );
    }
}

/// The interleaving the guard exists for, forced: a change checked against a state in which
/// another admin remains, while that admin's own removal commits before it.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_that_lost_the_guard_to_a_concurrent_one_is_checked_again() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use trove_core::ports::{Condition, Write};
    use trove_core::services::access::admin_guard::{self, CommitError, Loss};
    use trove_core::services::access::caller::Caller;

    let app = TestApp::new().await;
    let admin = app.admin.clone();
    let first = principal_of(&app, &admin).await;
    let (second, _) = account(&app, "second", &[("admin", json!({}))]).await;
    let first_grant = admin_grant_of(&app, &admin, &first).await;
    let second_grant = admin_grant_of(&app, &admin, &second).await;
    let ctx = &app.host.ctx;
    let tenant = TenantName::parse("default").expect("valid");
    let operator = Caller::system(tenant.clone(), "test");
    let interfered = AtomicBool::new(false);
    let grant_key = trove_core::domain::keys::grant(&tenant, &first_grant);
    let writes = || {
        vec![Write::Delete {
            key: grant_key.clone(),
            condition: Some(Condition::Exists),
        }]
    };
    let commit = |w: Vec<Write>| {
        let (ctx, operator, second_grant) = (ctx, &operator, &second_grant);
        let first_attempt = !interfered.swap(true, Ordering::SeqCst);
        async move {
            if first_attempt {
                trove_core::services::access::grants::delete(ctx, operator, second_grant)
                    .await
                    .expect("the other admin steps down first");
            }
            ctx.table.transact(w).await
        }
    };
    let outcome = admin_guard::run(ctx, &tenant, Loss::Grant(&first_grant), writes, commit).await;
    match outcome {
        Err(CommitError::Service(trove_core::services::Error::Conflict(m))) => {
            assert!(m.contains("without an admin"), "{m}")
        }
        other => panic!("expected the last-admin refusal, got {other:?}"),
    }
    assert!(ctx.table.get(&grant_key).await.expect("read").is_some());
    assert_eq!(
        status(&app, Method::GET, "/v1/users", &admin, None).await,
        StatusCode::OK
    );
}

/// Creating a tenant whose first admin's name is already claimed (records left behind)
/// stores nothing: it must say so, not answer "the tenant exists" for a tenant that does not,
/// with a key that opens nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_that_cannot_be_created_is_not_reported_as_existing() {
    let app = TestApp::new().await;
    let ctx = &app.host.ctx;
    let ghost = TenantName::parse("ghost").expect("tenant");
    let claim = trove_core::domain::keys::principal_name(&ghost, "user", "admin");
    let mut item = trove_core::ports::table::Item::new();
    item.insert("pk".into(), json!(claim.pk));
    item.insert("sk".into(), json!(claim.sk));
    item.insert("id".into(), json!("user_left_behind"));
    ctx.table.put(item, None).await.expect("left behind");

    let kept = std::sync::Mutex::new(None);
    let ensured = trove_core::services::tenants::ensure(ctx, &ghost, |key| {
        *kept.lock().expect("lock") = Some(key.to_owned());
        Ok(())
    })
    .await;
    assert!(
        matches!(&ensured, Err(trove_core::services::Error::Conflict(why)) if why.contains("in the way")),
        "{ensured:?}"
    );
    assert!(
        ctx.table
            .get(&trove_core::domain::keys::tenant(&ghost))
            .await
            .expect("get")
            .is_none(),
        "nothing stored"
    );
    let key = kept
        .lock()
        .expect("lock")
        .clone()
        .expect("a key was handed out first");
    assert_eq!(
        status(&app, Method::GET, "/v1/me", &key, None).await,
        StatusCode::UNAUTHORIZED
    );
}
