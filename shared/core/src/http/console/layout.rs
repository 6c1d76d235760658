//! The page every console view sits in, and the small pieces views share. maud escapes
//! every value it interpolates: names, reasons and descriptions are text, never markup.

use maud::{DOCTYPE, Markup, html};

use crate::http::console::assets;
use crate::http::console::session::{CSRF_FIELD, Session};

/// Which part of the console a page belongs to (marked in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Repositories,
    Search,
    Keys,
    Admin,
    None,
}

pub fn page(session: Option<&Session>, section: Section, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                @if let Some(s) = session {
                    meta name="csrf-token" content=(s.csrf);
                }
                title { (title) " · Trove" }
                // No favicon request that would only answer 404.
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(assets::path("console", "css"));
                script src=(assets::path("sha256", "js")) defer {}
                script src=(assets::path("console", "js")) defer {}
            }
            body {
                a.visually-hidden href="#main" { "Skip to content" }
                header.site {
                    a.brand href="/console/" { "Trove" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            (nav_link("/console/", "Repositories", section == Section::Repositories))
                            (nav_link("/console/search", "Search", section == Section::Search))
                            (nav_link("/console/keys", "API keys", section == Section::Keys))
                            @if s.caller.rights.is_tenant_admin() {
                                (nav_link("/console/admin", "Admin", section == Section::Admin))
                            }
                        }
                        form.sign-out method="post" action="/console/sign-out" {
                            (csrf_field(s))
                            span.who { (s.caller.tenant) " · " (s.caller.principal) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

fn nav_link(href: &str, label: &str, current: bool) -> Markup {
    html! {
        @if current {
            a href=(href) aria-current="page" { (label) }
        } @else {
            a href=(href) { (label) }
        }
    }
}

pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf); }
}

/// A table that scrolls sideways on its own on a narrow screen.
pub fn table_wrap(table: Markup) -> Markup {
    html! { div.table-wrap { (table) } }
}

pub fn empty(what: &str, hint: Markup) -> Markup {
    html! { div.empty { p { (what) } p { (hint) } } }
}

pub fn error(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

pub fn notice(message: &str) -> Markup {
    html! { p.notice role="status" { (message) } }
}

pub fn copy_button(text: &str, label: &str) -> Markup {
    html! { button.copy type="button" data-copy=(text) aria-label=(label) { "Copy" } }
}

pub fn badge(kind: &str, text: &str) -> Markup {
    html! { span class=(format!("badge badge-{kind}")) { (text) } }
}

/// `1.5 MB`, in SI units as the upload widget shows rates.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An RFC 3339 time as the API gives it, shortened to the minute (UTC), in a `<time>`.
pub fn when(rfc3339: &str) -> Markup {
    let short = rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ");
    html! { time datetime=(rfc3339) { (short) " UTC" } }
}

/// A path segment as the console's own URLs carry it (a scoped npm name keeps its `/`).
pub fn seg(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'@')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_times_read_plainly() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(20_000_000), "20.0 MB");
        assert_eq!(
            when("2026-12-03T11:25:50.123Z").into_string(),
            "<time datetime=\"2026-12-03T11:25:50.123Z\">2026-12-03 11:25 UTC</time>"
        );
        assert_eq!(seg("@acme/widget"), "@acme/widget");
        assert_eq!(seg("a b<"), "a%20b%3C");
    }

    #[test]
    fn values_are_text_never_markup() {
        let html = error("<script>alert(1)</script>").into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}
