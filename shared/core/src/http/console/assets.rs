//! The console's stylesheet and scripts, compiled into the binary (so deploying needs no
//! Node step) and served under names that carry a hash of their content, so browsers may
//! keep them for a year and a new build is fetched at once.

use std::sync::OnceLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub struct Asset {
    /// `console-3f2a9c41.css`
    pub name: String,
    pub content_type: &'static str,
    pub body: &'static str,
}

const SOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "console",
        "css",
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    ),
    (
        "sha256",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("assets/sha256.js"),
    ),
    (
        "console",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    ),
];

pub fn all() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(stem, ext, content_type, body)| {
                use sha2::Digest as _;
                let hash = hex::encode(&sha2::Sha256::digest(body.as_bytes())[..5]);
                Asset {
                    name: format!("{stem}-{hash}.{ext}"),
                    content_type,
                    body,
                }
            })
            .collect()
    })
}

/// The served path of the asset first named `stem.ext`.
pub fn path(stem: &str, ext: &str) -> String {
    all()
        .iter()
        .find(|a| a.name.starts_with(&format!("{stem}-")) && a.name.ends_with(&format!(".{ext}")))
        .map(|a| format!("/console/assets/{}", a.name))
        .unwrap_or_default()
}

pub fn serve(name: &str) -> Response {
    match all().iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_named_by_their_content() {
        let css = path("console", "css");
        assert!(
            css.starts_with("/console/assets/console-") && css.ends_with(".css"),
            "{css}"
        );
        let js = path("console", "js");
        assert_ne!(css, js);
        let name = js.trim_start_matches("/console/assets/");
        let response = serve(name);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()[header::CACHE_CONTROL]
                .to_str()
                .expect("ascii")
                .contains("immutable")
        );
        assert_eq!(
            serve("console.js").status(),
            StatusCode::NOT_FOUND,
            "only hashed names"
        );
    }
}
