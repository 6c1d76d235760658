//! The server's API: JSON requests carrying the credential, retried on transient failures,
//! errors read as problem+json. Requests to storage (presigned URLs) go through the same
//! connection pool but never carry the credential.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::config::Resolved;
use crate::client::problem::{ApiError, Problem};
use crate::client::retry::{Backoff, retrying};

pub struct Api {
    server: String,
    base: Url,
    key: String,
    http: reqwest::Client,
    patience: Backoff,
}

/// How many times a command tries a request before it gives up.
pub const BRIEF: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: Duration::from_secs(1),
    attempts: 3,
};

impl Api {
    pub fn new(config: &Resolved, patience: Backoff) -> anyhow::Result<Self> {
        let mut base = Url::parse(&config.url)
            .map_err(|e| anyhow::anyhow!("server URL {:?} is not a URL: {e}", config.url))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            anyhow::bail!("server URL {:?} is not an http(s) URL", config.url);
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            // Between two reads of a body, not the whole transfer.
            .read_timeout(Duration::from_secs(120))
            // The credential must not follow a redirect anywhere; the API sends none.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            server: config.url.clone(),
            base,
            key: config.key.clone(),
            http,
            patience,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The API URL of these path segments, each percent-encoded as one segment (a scoped
    /// npm name's `/` too).
    pub fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// A URL the server handed out, absolute or relative to the server.
    pub fn resolve(&self, url: &str) -> Result<Url, ApiError> {
        self.base.join(url).map_err(|e| {
            ApiError::Problem(Problem {
                status: 502,
                detail: format!("the server answered an unusable URL {url:?}: {e}"),
                server: self.server.clone(),
            })
        })
    }

    /// The client for presigned URLs: requests through it carry no credential.
    pub fn storage(&self) -> &reqwest::Client {
        &self.http
    }

    pub async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T, ApiError> {
        self.call(Method::GET, url, None::<&()>).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, url, body).await
    }

    pub async fn delete(&self, url: Url) -> Result<(), ApiError> {
        retrying(
            self.patience,
            |_, _| {},
            || async {
                let response = self
                    .http
                    .delete(url.clone())
                    .bearer_auth(&self.key)
                    .send()
                    .await
                    .map_err(|e| ApiError::transport(&url, &e))?;
                self.check(response).await.map(|_| ())
            },
        )
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
    ) -> Result<T, ApiError> {
        let bytes = retrying(
            self.patience,
            |_, _| {},
            || async {
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(&self.key);
                if let Some(body) = body {
                    request = request.json(body);
                }
                let response = request
                    .send()
                    .await
                    .map_err(|e| ApiError::transport(&url, &e))?;
                self.check(response).await
            },
        )
        .await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::Problem(Problem {
                status: 502,
                detail: format!(
                    "the server's answer to {method} {} is not what this client reads: {e}",
                    url.path()
                ),
                server: self.server.clone(),
            })
        })
    }

    /// The body of a successful answer, or the problem of a failed one.
    async fn check(&self, response: reqwest::Response) -> Result<bytes::Bytes, ApiError> {
        let status = response.status();
        let url = response.url().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::transport(&url, &e))?;
        if status.is_success() {
            return Ok(body);
        }
        Err(ApiError::Problem(Problem::from_body(
            status.as_u16(),
            &body,
            &self.server,
        )))
    }
}

/// Whether a storage answer means its presigned URL is no longer accepted (expired or
/// signed for something else): asking the server for a fresh one may help.
pub fn is_refused_signature(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN || status == StatusCode::UNAUTHORIZED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(url: &str) -> Api {
        Api::new(
            &Resolved {
                url: url.into(),
                key: "k".into(),
            },
            BRIEF,
        )
        .expect("api")
    }

    #[test]
    fn path_segments_are_encoded_one_by_one() {
        let api = api("http://127.0.0.1:8080");
        let url = api.endpoint(&["v1", "repositories", "js", "packages", "@acme/widget"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/v1/repositories/js/packages/@acme%2Fwidget"
        );
    }

    #[test]
    fn a_server_under_a_path_keeps_it() {
        let api = api("https://example.test/trove");
        assert_eq!(
            api.endpoint(&["v1", "me"]).as_str(),
            "https://example.test/trove/v1/me"
        );
        assert_eq!(
            api.resolve("/blobs/x?sig=1").expect("resolves").as_str(),
            "https://example.test/blobs/x?sig=1"
        );
        assert_eq!(
            api.resolve("http://other:9/y").expect("resolves").as_str(),
            "http://other:9/y"
        );
    }

    #[test]
    fn only_http_urls_are_servers() {
        let config = |url: &str| Resolved {
            url: url.into(),
            key: "k".into(),
        };
        for (url, why) in [
            ("ftp://x", "server URL \"ftp://x\" is not an http(s) URL"),
            ("not a url", "server URL \"not a url\" is not a URL"),
        ] {
            match Api::new(&config(url), BRIEF) {
                Ok(_) => panic!("{url} accepted"),
                Err(err) => assert!(err.to_string().starts_with(why), "{url}: {err}"),
            }
        }
    }
}
