//! The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen by the `Accept` header,
//! with PEP 700's `versions`, `size` and `upload-time`, PEP 592's yanked files and PEP 658 /
//! PEP 714's core metadata.

use serde::Serialize;
use time::OffsetDateTime;

/// PEP 700's version of the API (1.1 adds versions, size, upload-time).
pub const API_VERSION: &str = "1.1";
pub const JSON: &str = "application/vnd.pypi.simple.v1+json";
pub const HTML: &str = "application/vnd.pypi.simple.v1+html";
pub const TEXT_HTML: &str = "text/html; charset=utf-8";

/// The form a client asked for, as the content type answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    /// PEP 691's HTML type, when asked for by name.
    Html,
    /// Plain `text/html`: what a client without an `Accept` header gets.
    TextHtml,
}

impl Form {
    pub fn content_type(self) -> &'static str {
        match self {
            Form::Json => JSON,
            Form::Html => HTML,
            Form::TextHtml => TEXT_HTML,
        }
    }
}

/// The form with the highest quality the client accepts (the first listed on a tie);
/// `None` when it accepts none (406).
pub fn negotiate(accept: Option<&str>) -> Option<Form> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(Form::TextHtml);
    };
    let mut best: Option<(f32, Form)> = None;
    for entry in accept.split(',').take(32) {
        let mut parts = entry.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        let form =
            match media.as_str() {
                "application/vnd.pypi.simple.v1+json"
                | "application/vnd.pypi.simple.latest+json" => Form::Json,
                "application/vnd.pypi.simple.v1+html"
                | "application/vnd.pypi.simple.latest+html" => Form::Html,
                "text/html" | "text/*" | "*/*" => Form::TextHtml,
                _ => continue,
            };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, form));
        }
    }
    best.map(|(_, form)| form)
}

/// One file of a project page.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexFile {
    pub filename: String,
    /// Relative to the project page.
    pub url: String,
    pub sha256: String,
    pub size: u64,
    pub upload_time: OffsetDateTime,
    pub requires_python: Option<String>,
    /// Yanked, with its reason (possibly empty).
    pub yanked: Option<String>,
    /// Hex SHA-256 of the core metadata served at `{url}.metadata`.
    pub core_metadata: Option<String>,
}

/// A project page: the normalised name, its versions in PEP 440 order, its files.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectPage {
    pub name: String,
    pub versions: Vec<String>,
    pub files: Vec<IndexFile>,
}

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "api-version")]
    api_version: &'static str,
}

const META: Meta = Meta {
    api_version: API_VERSION,
};

#[derive(Serialize)]
struct JsonIndex<'a> {
    meta: Meta,
    projects: Vec<JsonProjectRef<'a>>,
}

#[derive(Serialize)]
struct JsonProjectRef<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct JsonProject<'a> {
    meta: Meta,
    name: &'a str,
    versions: &'a [String],
    files: Vec<JsonFile<'a>>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    filename: &'a str,
    url: &'a str,
    hashes: Hashes<'a>,
    #[serde(rename = "requires-python", skip_serializing_if = "Option::is_none")]
    requires_python: Option<&'a str>,
    size: u64,
    #[serde(rename = "upload-time")]
    upload_time: String,
    yanked: JsonYanked<'a>,
    /// PEP 714's name, and PEP 658's older one that pip before 23.3 reads.
    #[serde(rename = "core-metadata", skip_serializing_if = "Option::is_none")]
    core_metadata: Option<Hashes<'a>>,
    #[serde(rename = "dist-info-metadata", skip_serializing_if = "Option::is_none")]
    dist_info_metadata: Option<Hashes<'a>>,
}

/// PEP 691: `false`, `true`, or the reason (a non-empty string).
#[derive(Serialize)]
#[serde(untagged)]
enum JsonYanked<'a> {
    Flag(bool),
    Reason(&'a str),
}

impl<'a> JsonYanked<'a> {
    fn of(yanked: Option<&'a str>) -> Self {
        match yanked {
            None => Self::Flag(false),
            Some("") => Self::Flag(true),
            Some(reason) => Self::Reason(reason),
        }
    }
}

#[derive(Serialize)]
struct Hashes<'a> {
    sha256: &'a str,
}

/// `/simple/`: every project the caller may read.
pub fn render_index(form: Form, projects: &[String]) -> String {
    match form {
        Form::Json => serde_json::to_string(&JsonIndex {
            meta: META,
            projects: projects
                .iter()
                .map(|n| JsonProjectRef { name: n })
                .collect(),
        })
        .unwrap_or_default(),
        Form::Html | Form::TextHtml => {
            let mut out = head("Simple index");
            for name in projects {
                let name = escape(name);
                out.push_str(&format!("<a href=\"{name}/\">{name}</a><br/>\n"));
            }
            out.push_str("</body>\n</html>\n");
            out
        }
    }
}

/// `/simple/{project}/`.
pub fn render_project(form: Form, page: &ProjectPage) -> String {
    match form {
        Form::Json => serde_json::to_string(&JsonProject {
            meta: META,
            name: &page.name,
            versions: &page.versions,
            files: page
                .files
                .iter()
                .map(|f| JsonFile {
                    filename: &f.filename,
                    url: &f.url,
                    hashes: Hashes { sha256: &f.sha256 },
                    requires_python: f.requires_python.as_deref(),
                    size: f.size,
                    upload_time: upload_time(f.upload_time),
                    yanked: JsonYanked::of(f.yanked.as_deref()),
                    core_metadata: f.core_metadata.as_deref().map(|sha256| Hashes { sha256 }),
                    dist_info_metadata: f.core_metadata.as_deref().map(|sha256| Hashes { sha256 }),
                })
                .collect(),
        })
        .unwrap_or_default(),
        Form::Html | Form::TextHtml => {
            let mut out = head(&format!("Links for {}", page.name));
            out.push_str(&format!("<h1>Links for {}</h1>\n", escape(&page.name)));
            for f in &page.files {
                let requires = f
                    .requires_python
                    .as_deref()
                    .map(|rp| format!(" data-requires-python=\"{}\"", escape(rp)))
                    .unwrap_or_default();
                let metadata = f
                    .core_metadata
                    .as_deref()
                    .map(|sha| {
                        let sha = escape(sha);
                        format!(
                            " data-core-metadata=\"sha256={sha}\" data-dist-info-metadata=\"sha256={sha}\""
                        )
                    })
                    .unwrap_or_default();
                let yanked = f
                    .yanked
                    .as_deref()
                    .map(|why| format!(" data-yanked=\"{}\"", escape(why)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "<a href=\"{}#sha256={}\"{requires}{metadata}{yanked}>{}</a><br/>\n",
                    escape(&f.url),
                    escape(&f.sha256),
                    escape(&f.filename)
                ));
            }
            out.push_str("</body>\n</html>\n");
            out
        }
    }
}

fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">\n<title>{}</title>\n</head>\n<body>\n",
        escape(title)
    )
}

/// PEP 700: ISO 8601 in UTC with microseconds.
fn upload_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// HTML text and attribute escaping.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> ProjectPage {
        ProjectPage {
            name: "foo-bar".into(),
            versions: vec!["1.0".into(), "1.1".into()],
            files: vec![IndexFile {
                filename: "foo_bar-1.0-py3-none-any.whl".into(),
                url: "../../files/foo-bar/1.0/foo_bar-1.0-py3-none-any.whl".into(),
                sha256: "ab".repeat(32),
                size: 1234,
                upload_time: OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid")
                    + time::Duration::microseconds(42),
                requires_python: Some(">=3.8,<4\"><script>".into()),
                yanked: None,
                core_metadata: None,
            }],
        }
    }

    #[test]
    fn clients_get_the_form_they_prefer() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)), Some(Form::Json));
        assert_eq!(negotiate(None), Some(Form::TextHtml));
        assert_eq!(negotiate(Some("")), Some(Form::TextHtml));
        assert_eq!(negotiate(Some("*/*")), Some(Form::TextHtml));
        assert_eq!(
            negotiate(Some(
                "application/vnd.pypi.simple.v1+html, application/vnd.pypi.simple.v1+json;q=0.5"
            )),
            Some(Form::Html)
        );
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+json")),
            Some(Form::Json)
        );
        assert_eq!(negotiate(Some("application/json")), None);
        assert_eq!(negotiate(Some("text/html;q=0")), None);
        assert_eq!(negotiate(Some(";;;,,,q=")), None);
    }

    #[test]
    fn html_links_carry_hash_and_escaped_requires_python() {
        let html = render_project(Form::Html, &page());
        assert!(html.contains("<meta name=\"pypi:repository-version\" content=\"1.1\">"));
        let link = format!(
            "<a href=\"../../files/foo-bar/1.0/foo_bar-1.0-py3-none-any.whl#sha256={}\" data-requires-python=\"&gt;=3.8,&lt;4&quot;&gt;&lt;script&gt;\">foo_bar-1.0-py3-none-any.whl</a>",
            "ab".repeat(32)
        );
        assert!(html.contains(&link), "{html}");
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn json_has_pep_700_fields() {
        let json: serde_json::Value =
            serde_json::from_str(&render_project(Form::Json, &page())).expect("json");
        assert_eq!(json["meta"]["api-version"], "1.1");
        assert_eq!(json["name"], "foo-bar");
        assert_eq!(json["versions"], serde_json::json!(["1.0", "1.1"]));
        let file = &json["files"][0];
        assert_eq!(file["hashes"]["sha256"], "ab".repeat(32));
        assert_eq!(file["size"], 1234);
        assert_eq!(file["upload-time"], "2023-11-14T22:13:20.000042Z");
        assert_eq!(file["requires-python"], ">=3.8,<4\"><script>");
        assert_eq!(file["yanked"], false);
        assert!(file.get("core-metadata").is_none());
    }

    #[test]
    fn yanked_files_and_core_metadata_are_announced_in_both_forms() {
        let mut with = page();
        let sha = "cd".repeat(32);
        with.files[0].core_metadata = Some(sha.clone());
        with.files[0].yanked = Some("broken \"build\"".into());
        let mut plain_yank = with.files[0].clone();
        plain_yank.filename = "foo_bar-1.0.tar.gz".into();
        plain_yank.yanked = Some(String::new());
        plain_yank.core_metadata = None;
        with.files.push(plain_yank);

        let json: serde_json::Value =
            serde_json::from_str(&render_project(Form::Json, &with)).expect("json");
        assert_eq!(json["files"][0]["yanked"], "broken \"build\"");
        assert_eq!(json["files"][0]["core-metadata"]["sha256"], sha);
        assert_eq!(json["files"][0]["dist-info-metadata"]["sha256"], sha);
        assert_eq!(json["files"][1]["yanked"], true);
        assert!(json["files"][1].get("core-metadata").is_none());

        let html = render_project(Form::Html, &with);
        assert!(html.contains(&format!(
            " data-core-metadata=\"sha256={sha}\" data-dist-info-metadata=\"sha256={sha}\" data-yanked=\"broken &quot;build&quot;\">"
        )), "{html}");
        assert!(
            html.contains(" data-yanked=\"\">foo_bar-1.0.tar.gz</a>"),
            "{html}"
        );
    }

    #[test]
    fn the_index_lists_projects_in_both_forms() {
        let names = vec!["a-b".to_owned(), "c".to_owned()];
        let html = render_index(Form::TextHtml, &names);
        assert!(html.contains("<a href=\"a-b/\">a-b</a>"));
        let json: serde_json::Value =
            serde_json::from_str(&render_index(Form::Json, &names)).expect("json");
        assert_eq!(json["projects"][1]["name"], "c");
        assert_eq!(json["meta"]["api-version"], "1.1");
    }
}
