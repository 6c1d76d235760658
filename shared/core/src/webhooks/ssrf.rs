//! Where webhooks may send: public addresses only, unless configuration allows a host.
//!
//! Checked twice: when a webhook is created or updated (so the owner hears about a bad URL
//! at once), and on every delivery, where the client's resolver (`SafeResolver`) hands the
//! connector only checked addresses — a name that resolved to a public address at create
//! time and to an internal one later (DNS rebinding) is refused then.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// Longest accepted webhook URL.
pub const MAX_URL: usize = 2048;
/// Every refusal by the resolver carries this, so an attempt's error says it was refused
/// rather than unreachable.
pub const REFUSED: &str = "refused";

/// Hosts (names or addresses, as written in URLs, case-insensitive) deliveries may reach
/// whatever they resolve to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Arc<Vec<String>>);

impl AllowedHosts {
    pub fn new(hosts: &[String]) -> Self {
        Self(Arc::new(hosts.iter().map(|h| normalize(h)).collect()))
    }

    pub fn allows(&self, host: &str) -> bool {
        let host = normalize(host);
        self.0.contains(&host)
    }
}

fn normalize(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why an address may not be a webhook destination, or `None` if it may.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, nets: &[&str]) -> bool {
    nets.iter()
        .filter_map(|n| n.parse::<Ipv4Net>().ok())
        .any(|n| n.contains(&ip))
}

fn in_v6(ip: Ipv6Addr, nets: &[&str]) -> bool {
    nets.iter()
        .filter_map(|n| n.parse::<Ipv6Net>().ok())
        .any(|n| n.contains(&ip))
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    // Metadata endpoints first: the reason then names the real danger.
    if in_v4(
        ip,
        &[
            "169.254.169.254/32",
            "169.254.170.2/32",
            "100.100.100.200/32",
        ],
    ) {
        return Some("a cloud metadata address");
    }
    let classes: &[(&[&str], &str)] = &[
        (&["0.0.0.0/8"], "an unspecified address"),
        (&["127.0.0.0/8"], "a loopback address"),
        (
            &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
            "a private address",
        ),
        (&["169.254.0.0/16"], "a link-local address"),
        (&["100.64.0.0/10"], "a carrier-grade NAT address"),
        (&["224.0.0.0/4"], "a multicast address"),
        (
            &[
                "192.0.0.0/24",
                "198.18.0.0/15",
                "240.0.0.0/4",
                "255.255.255.255/32",
            ],
            "a reserved address",
        ),
    ];
    classes
        .iter()
        .find(|(nets, _)| in_v4(ip, nets))
        .map(|(_, why)| *why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // Addresses that carry an IPv4 address are judged by it.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    if in_v6(ip, &["64:ff9b::/96", "::/96"]) && !ip.is_unspecified() && !ip.is_loopback() {
        let o = ip.octets();
        return refusal_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if in_v6(ip, &["2002::/16"]) {
        let o = ip.octets();
        return refusal_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    if in_v6(ip, &["fd00:ec2::254/128"]) {
        return Some("a cloud metadata address");
    }
    let classes: &[(&[&str], &str)] = &[
        (&["::/128"], "an unspecified address"),
        (&["::1/128"], "a loopback address"),
        (&["fc00::/7"], "a unique-local address"),
        (&["fe80::/10", "fec0::/10"], "a link-local address"),
        (&["ff00::/8"], "a multicast address"),
        (
            &["100::/64", "2001::/32", "2001:db8::/32"],
            "a reserved address",
        ),
    ];
    classes
        .iter()
        .find(|(nets, _)| in_v6(ip, nets))
        .map(|(_, why)| *why)
}

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

/// The delivery-time check of an IP-literal host (the resolver never sees those).
pub fn check_literal(url: &Url, allowed: &AllowedHosts) -> Result<(), String> {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if allowed.allows(url.host_str().unwrap_or_default()) {
        return Ok(());
    }
    match refusal(ip) {
        Some(why) => Err(format!("{REFUSED}: {ip} is {why}")),
        None => Ok(()),
    }
}

/// The addresses of `host` a delivery may connect to: all of them for an allowed host,
/// else only public ones; none left is a refusal.
pub fn filter(
    host: &str,
    addrs: Vec<SocketAddr>,
    allowed: &AllowedHosts,
) -> Result<Vec<SocketAddr>, String> {
    if allowed.allows(host) {
        return Ok(addrs);
    }
    let mut first_refusal = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match refusal(a.ip()) {
            Some(why) => {
                first_refusal.get_or_insert_with(|| format!("{} is {why}", a.ip()));
                false
            }
            None => true,
        })
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "{REFUSED}: {host} has no public address ({})",
            first_refusal.unwrap_or_else(|| "no address at all".into())
        ));
    }
    Ok(kept)
}

/// The resolver of the delivery client: the system's, then `filter`.
#[derive(Debug, Clone)]
pub struct SafeResolver {
    pub allowed: AllowedHosts,
}

impl reqwest::dns::Resolve for SafeResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = filter(&host, found, &allowed)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn internal_addresses_are_refused_with_their_class() {
        for (addr, why) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.20.0.1", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "metadata"),
            ("169.254.10.1", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.100.100.200", "metadata"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fd00:ec2::254", "metadata"),
            ("fd12::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:101::1", "private"),
        ] {
            let got = refusal(ip(addr)).unwrap_or_else(|| panic!("{addr} accepted"));
            assert!(got.contains(why), "{addr}: {got}");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::1111",
            "203.0.113.10",
        ] {
            assert_eq!(refusal(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "not a url",
            "http://",
            "javascript:alert(1)",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL));
        assert!(parse_url(&long).is_err());
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
        assert!(
            check_destination("http://10.0.0.1/", &allowed)
                .await
                .is_err()
        );
    }

    #[test]
    fn delivery_time_filter_refuses_rebound_names() {
        let addr = |s: &str| SocketAddr::new(ip(s), 443);
        let none = AllowedHosts::default();
        // The name that was public at create time now resolves to the metadata service.
        let err =
            filter("hooks.example.com", vec![addr("169.254.169.254")], &none).expect_err("refused");
        assert!(
            err.starts_with(REFUSED) && err.contains("metadata"),
            "{err}"
        );
        // Mixed answers keep only the public addresses: the connector never sees the rest.
        let kept = filter(
            "hooks.example.com",
            vec![addr("10.0.0.5"), addr("93.184.215.14"), addr("::1")],
            &none,
        )
        .expect("one public address");
        assert_eq!(kept, vec![addr("93.184.215.14")]);
        assert!(filter("hooks.example.com", vec![], &none).is_err());
        let allowed = AllowedHosts::new(&["hooks.internal".into()]);
        assert_eq!(
            filter("hooks.internal", vec![addr("10.0.0.5")], &allowed).expect("allowed"),
            vec![addr("10.0.0.5")]
        );
    }

    #[test]
    fn literal_hosts_are_checked_at_delivery_time() {
        let none = AllowedHosts::default();
        let url = parse_url("http://10.0.0.1/").expect("url");
        assert!(check_literal(&url, &none).is_err());
        let url = parse_url("http://93.184.215.14/").expect("url");
        assert!(check_literal(&url, &none).is_ok());
    }
}
