//! The console's pages for tenant admins: users, groups, grants, the audit trail (filtered),
//! webhooks with their delivery log and redelivery, and the daily reports. Each reads the
//! API route of the same name, so the guard decides who sees it; the navigation shows the
//! section only to whom the guard would answer.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::Value;

use crate::http::console::api;
use crate::http::console::layout::{
    self, Section, badge, csrf_field, empty, page, seg, table_wrap, when,
};
use crate::http::console::pages::{html_page, ok_page, refused, signed_in};
use crate::http::console::session::Session;
use crate::http::console::{Change, Console, Viewer, may};

/// The admin pages: (path segment, title, the API route that feeds it, its path).
const PAGES: &[(&str, &str, &str, &str)] = &[
    ("users", "Users", "list_users", "/v1/users?limit=1000"),
    (
        "service-accounts",
        "Service accounts",
        "list_service_accounts",
        "/v1/service-accounts?limit=1000",
    ),
    ("groups", "Groups", "list_groups", "/v1/groups?limit=1000"),
    ("grants", "Grants", "list_grants", "/v1/grants?limit=1000"),
    ("audit", "Audit trail", "list_audit", "/v1/audit"),
    (
        "webhooks",
        "Webhooks",
        "list_webhooks",
        "/v1/webhooks?limit=1000",
    ),
    (
        "reports",
        "Daily reports",
        "list_reports",
        "/v1/reports?limit=60",
    ),
];

fn forbidden(session: &Session) -> Response {
    html_page(
        StatusCode::FORBIDDEN,
        page(
            Some(session),
            Section::Admin,
            "Admin",
            html! { h1 { "Admin" } (layout::error("Only admins of the tenant see this.")) },
        ),
    )
}

/// An admin page's person: a tenant admin, or the request is answered 403 (or sent to sign in).
pub struct Admin(pub std::sync::Arc<Session>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Response> {
        admin_only(&super::viewer_of(&parts.extensions))
            .map(Admin)
            .map_err(|r| *r)
    }
}

fn admin_only(viewer: &Viewer) -> Result<std::sync::Arc<Session>, Box<Response>> {
    let session = signed_in(viewer)?;
    if session.caller.rights.is_tenant_admin() {
        Ok(session)
    } else {
        Err(Box::new(forbidden(&session)))
    }
}

pub async fn index(Admin(session): Admin) -> Response {
    ok_page(page(
        Some(&session),
        Section::Admin,
        "Admin",
        html! {
            h1 { "Admin" }
            ul.links {
                @for (slug, title, op, _) in PAGES {
                    @if may(&session, op, None, None) {
                        li { a href=(format!("/console/admin/{slug}")) { (title) } }
                    }
                }
            }
            p.hint { "Retention is set on each repository's page." }
        },
    ))
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct AuditFilter {
    action: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn page_of(
    console: &Console,
    session: &Session,
    slug: &str,
    filter: &AuditFilter,
) -> Response {
    let Some((_, title, op, path)) = PAGES.iter().find(|(s, ..)| *s == slug) else {
        return html_page(
            StatusCode::NOT_FOUND,
            page(
                Some(session),
                Section::Admin,
                "Not found",
                html! { h1 { "Not found" } },
            ),
        );
    };
    if !may(session, op, None, None) {
        return forbidden(session);
    }
    let mut path = (*path).to_owned();
    if slug == "audit" {
        let mut query = vec!["limit=200".to_owned()];
        for (name, value) in [
            ("action", &filter.action),
            ("actor", &filter.actor),
            ("from", &filter.from),
            ("to", &filter.to),
        ] {
            if let Some(v) = value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                query.push(format!(
                    "{name}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                ));
            }
        }
        path = format!("{path}?{}", query.join("&"));
    }
    let list = match api::call(&console.api, session, Method::GET, &path, None).await {
        Ok(v) => v,
        Err(r) => return refused(session, title, &r),
    };
    let items = list["items"].as_array().cloned().unwrap_or_default();
    let body = match slug {
        "users" | "service-accounts" | "groups" => principals(&items),
        "grants" => grants(&items),
        "audit" => audit(&items, filter),
        "webhooks" => webhooks(&items),
        _ => reports(&items),
    };
    ok_page(page(
        Some(session),
        Section::Admin,
        title,
        html! {
            p.crumbs { a href="/console/admin" { "Admin" } " / " }
            h1 { (title) }
            (body)
        },
    ))
}

pub async fn section(
    State(console): State<Console>,
    Admin(session): Admin,
    Path(slug): Path<String>,
    Query(filter): Query<AuditFilter>,
) -> Response {
    page_of(&console, &session, &slug, &filter).await
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key].as_str().unwrap_or_default()
}

fn principals(items: &[Value]) -> Markup {
    if items.is_empty() {
        return empty(
            "None yet.",
            html! { "Create them with the API (" code { "POST /v1/users" } ", " code { "/v1/groups" } ")." },
        );
    }
    table_wrap(html! {
        table #principals {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Kind" } th scope="col" { "Created" } } }
            tbody {
                @for p in items {
                    tr { td { (text(p, "name")) } td { code { (text(p, "id")) } } td { (text(p, "kind")) } td { (when(text(p, "created_at"))) } }
                }
            }
        }
    })
}

fn grants(items: &[Value]) -> Markup {
    if items.is_empty() {
        return empty(
            "No grants.",
            html! { "Nobody but the tenant's admins can reach anything." },
        );
    }
    table_wrap(html! {
        table #grants {
            thead { tr { th scope="col" { "Principal" } th scope="col" { "Role" } th scope="col" { "Repository" } th scope="col" { "Packages" } th scope="col" { "Created" } } }
            tbody {
                @for g in items {
                    tr {
                        td { code { (text(g, "principal")) } }
                        td { (text(g, "role")) }
                        td { (g["scope"]["repository"].as_str().unwrap_or("all")) }
                        td { (g["scope"]["package"].as_str().unwrap_or("all")) }
                        td { (when(text(g, "created_at"))) }
                    }
                }
            }
        }
    })
}

fn audit(items: &[Value], filter: &AuditFilter) -> Markup {
    html! {
        form #audit-filter.row method="get" action="/console/admin/audit" {
            div { label for="audit-action" { "Action" } input #audit-action name="action" value=(filter.action.as_deref().unwrap_or_default()) placeholder="upload.reject" maxlength="64"; }
            div { label for="audit-actor" { "Actor" } input #audit-actor name="actor" value=(filter.actor.as_deref().unwrap_or_default()) maxlength="64"; }
            div { label for="audit-from" { "From (RFC 3339)" } input #audit-from name="from" value=(filter.from.as_deref().unwrap_or_default()) maxlength="40"; }
            div { label for="audit-to" { "To" } input #audit-to name="to" value=(filter.to.as_deref().unwrap_or_default()) maxlength="40"; }
            button type="submit" { "Filter" }
        }
        @if items.is_empty() {
            (empty("No records match.", html! { "Widen the period or clear the filters." }))
        } @else {
            (table_wrap(html! {
                table #audit {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Outcome" } th scope="col" { "Reason" } } }
                    tbody {
                        @for r in items {
                            tr {
                                td { (when(text(r, "at"))) }
                                td { (text(r, "actor")) @if let Some(o) = r["on_behalf_of"].as_str() { br; small { "for " (o) } } }
                                td { code { (text(r, "action")) } }
                                td { (text(r, "target")) }
                                td { (r["outcome"].as_str().unwrap_or_default()) }
                                td { (r["reason"].as_str().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }))
        }
    }
}

fn webhooks(items: &[Value]) -> Markup {
    if items.is_empty() {
        return empty(
            "No webhooks.",
            html! { "Create one with " code { "POST /v1/webhooks" } "." },
        );
    }
    table_wrap(html! {
        table #webhooks {
            thead { tr { th scope="col" { "URL" } th scope="col" { "Events" } th scope="col" { "Repository" } th scope="col" { "State" } } }
            tbody {
                @for w in items {
                    tr {
                        td { a href=(format!("/console/admin/webhooks/{}", seg(text(w, "id")))) { (text(w, "url")) } }
                        td { (w["events"].as_array().map(|e| e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", ")).unwrap_or_default()) }
                        td { (w["repository"].as_str().unwrap_or("all")) }
                        td { @if w["failing"].as_bool() == Some(true) { (badge("rejected", "failing")) } @else { (badge("published", "ok")) } }
                    }
                }
            }
        }
    })
}

fn reports(items: &[Value]) -> Markup {
    if items.is_empty() {
        return empty(
            "No reports yet.",
            html! { "The daily report job writes one each night." },
        );
    }
    table_wrap(html! {
        table #reports {
            thead { tr { th scope="col" { "Day" } th scope="col" { "Generated" } th scope="col" { "Summary" } } }
            tbody {
                @for r in items {
                    tr {
                        td { (text(r, "date")) }
                        td { (when(text(r, "generated_at"))) }
                        td { code.digest { (r["summary"].to_string()) } }
                    }
                }
            }
        }
    })
}

pub async fn webhook(
    State(console): State<Console>,
    Admin(session): Admin,
    Path(id): Path<String>,
) -> Response {
    let hook = match api::call(
        &console.api,
        &session,
        Method::GET,
        &format!("/v1/webhooks/{}", seg(&id)),
        None,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return refused(&session, "Webhook", &r),
    };
    let deliveries = match api::call(
        &console.api,
        &session,
        Method::GET,
        &format!("/v1/webhooks/{}/deliveries?limit=100", seg(&id)),
        None,
    )
    .await
    {
        Ok(v) => v["items"].as_array().cloned().unwrap_or_default(),
        Err(r) => return refused(&session, "Webhook", &r),
    };
    let may_redeliver = may(&session, "redeliver_webhook_delivery", None, None);
    ok_page(page(
        Some(&session),
        Section::Admin,
        "Webhook",
        html! {
            p.crumbs { a href="/console/admin" { "Admin" } " / " a href="/console/admin/webhooks" { "Webhooks" } " / " }
            h1 { (text(&hook, "url")) }
            h2 { "Deliveries" }
            @if deliveries.is_empty() {
                (empty("No deliveries yet.", html! { "Events the webhook subscribes to appear here as they are sent." }))
            } @else {
                (table_wrap(html! {
                    table #deliveries {
                        thead { tr { th scope="col" { "Created" } th scope="col" { "Event" } th scope="col" { "Status" } th scope="col" { "Attempts" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for d in &deliveries {
                                @let attempts = d["attempts"].as_array().cloned().unwrap_or_default();
                                tr {
                                    td { (when(text(d, "created_at"))) }
                                    td { (d["event"]["type"].as_str().or_else(|| d["event"]["kind"].as_str()).unwrap_or_default()) }
                                    td { (text(d, "status")) }
                                    td {
                                        @for a in &attempts {
                                            span { "#" (a["number"].as_u64().unwrap_or(0)) " " (a["status_code"].as_u64().map(|c| c.to_string()).unwrap_or_else(|| "—".into())) " (" (a["latency_ms"].as_u64().unwrap_or(0)) " ms) " }
                                        }
                                    }
                                    td {
                                        @if may_redeliver {
                                            form method="post" action=(format!("/console/admin/webhooks/{}/deliveries/{}/redeliver", seg(&id), seg(text(d, "id")))) {
                                                (csrf_field(&session))
                                                button type="submit" { "Redeliver" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
        },
    ))
}

pub async fn redeliver(
    State(console): State<Console>,
    Path((id, delivery)): Path<(String, String)>,
    Change(session, _): Change,
) -> Response {
    let path = format!(
        "/v1/webhooks/{}/deliveries/{}/redeliver",
        seg(&id),
        seg(&delivery)
    );
    match api::call(&console.api, &session, Method::POST, &path, None).await {
        Ok(_) => Redirect::to(&format!("/console/admin/webhooks/{}", seg(&id))).into_response(),
        Err(r) => refused(&session, "Redeliver", &r),
    }
}
