//! Where webhooks may send: public addresses only, unless configuration allows a host.
//!
//! Checked twice: when a webhook is created or updated (so the owner hears about a bad URL
//! at once), and on every delivery, through the client `egress::guarded` builds — a name that
//! resolved to a public address at create time and to an internal one later (DNS rebinding)
//! is refused then. What counts as internal is `egress::refusal`'s to say.

use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use crate::egress::{AllowedHosts, refusal};

/// Longest accepted webhook URL.
pub const MAX_URL: usize = 2048;

/// Parses and checks a webhook URL's shape: http(s), a host, no credentials, bounded.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL {
        return Err(format!("invalid url: at most {MAX_URL} characters"));
    }
    let url = Url::parse(raw).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("invalid url: use an http:// or https:// URL".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("invalid url: credentials in the URL are not accepted; \
                    verify deliveries with the signature instead"
            .into());
    }
    if url.host().is_none() {
        return Err("invalid url: a host is missing".into());
    }
    Ok(url)
}

/// The create/update check: the URL's shape, then every address its host has now. A name
/// that does not resolve (yet) is accepted: each delivery checks again.
pub async fn check_destination(raw: &str, allowed: &AllowedHosts) -> Result<Url, String> {
    let url = parse_url(raw)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    if allowed.allows(&host) {
        return Ok(url);
    }
    let addrs: Vec<IpAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
        Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
        Some(Host::Domain(name)) => {
            let lookup = tokio::net::lookup_host((name, 443));
            match tokio::time::timeout(Duration::from_secs(2), lookup).await {
                Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
                _ => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    for ip in addrs {
        if let Some(why) = refusal(ip) {
            return Err(format!(
                "invalid url: {host} is {ip}, {why}; webhooks reach public addresses only"
            ));
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        for (bad, why) in [
            ("ftp://example.com/x", "use an http:// or https:// URL"),
            ("file:///etc/passwd", "use an http:// or https:// URL"),
            ("https://user:pw@example.com/", "credentials in the URL"),
            ("https://user@example.com/", "credentials in the URL"),
            ("not a url", "relative URL without a base"),
            ("http://", "empty host"),
            ("javascript:alert(1)", "use an http:// or https:// URL"),
            (&long, "at most 2048 characters"),
        ] {
            let err = parse_url(bad).expect_err(bad);
            assert!(err.starts_with("invalid url: "), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(parse_url("https://hooks.example.com/trove?x=1").is_ok());
    }

    #[tokio::test]
    async fn create_time_check_resolves_names_and_honours_the_allow_list() {
        let none = AllowedHosts::default();
        for bad in [
            "http://127.0.0.1/",
            "http://10.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://2130706433/",
            "http://localhost:9000/hook",
        ] {
            let err = check_destination(bad, &none).await.expect_err("refused");
            assert!(err.contains("public addresses only"), "{bad}: {err}");
        }
        let allowed = AllowedHosts::new(&["LOCALHOST".into(), "127.0.0.1".into(), "[::1]".into()]);
        for ok in [
            "http://localhost:9000/",
            "http://127.0.0.1/",
            "http://[::1]:1/",
        ] {
            assert!(check_destination(ok, &allowed).await.is_ok(), "{ok}");
        }
        // Allowing one host allows no other.
        let err = check_destination("http://10.0.0.1/", &allowed)
            .await
            .expect_err("not allowed");
        assert!(
            err.contains("10.0.0.1 is 10.0.0.1, a private address"),
            "{err}"
        );
    }
}
