//! Where outbound requests may connect: public addresses only, unless configuration allows
//! a host. One classifier ([`refusal`]) decides what is internal, for every outbound client
//! (webhook deliveries, OIDC discovery and JWKS fetches).
//!
//! The check happens when connecting: a [`guarded`] client's resolver (`SafeResolver`)
//! hands the connector only checked addresses, and [`check_literal`] covers hosts written as
//! addresses, which no resolver sees. Configuration-time checks call the same functions to
//! refuse a bad URL early.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use url::{Host, Url};

/// Every refusal carries this, so an error says the request was refused rather than that
/// the destination was unreachable.
pub const REFUSED: &str = "refused";

/// Hosts (names or addresses, as written in URLs, case-insensitive) requests may reach
/// whatever they resolve to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    hosts: Arc<Vec<String>>,
    any: bool,
}

impl AllowedHosts {
    pub fn new(hosts: &[String]) -> Self {
        Self {
            hosts: Arc::new(hosts.iter().map(|h| normalize(h)).collect()),
            any: false,
        }
    }

    /// Every host, internal or not: local development against services on this machine or
    /// its network (`TROVE_ALLOW_HTTP_JWKS`), never a deployment.
    pub fn any() -> Self {
        Self {
            hosts: Arc::default(),
            any: true,
        }
    }

    pub fn allows(&self, host: &str) -> bool {
        self.any || self.hosts.contains(&normalize(host))
    }
}

fn normalize(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why an address may not be reached, or `None` if it may (a public address).
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// Why a host, as written in a URL, is internal before any lookup: an internal address, or
/// `localhost` and its subdomains (RFC 6761: they always resolve to loopback).
pub fn host_refusal(host: &Host<&str>) -> Option<&'static str> {
    match host {
        Host::Ipv4(v4) => refusal(IpAddr::V4(*v4)),
        Host::Ipv6(v6) => refusal(IpAddr::V6(*v6)),
        Host::Domain(name) => {
            let name = normalize(name);
            (name == "localhost" || name.ends_with(".localhost")).then_some("a loopback name")
        }
    }
}

/// A client builder whose connections reach only what `allowed` and [`refusal`] permit:
/// names are checked when resolved, redirects are not followed (a 3xx would reach an
/// address nobody checked) and no proxy is used (it would resolve names itself). Callers
/// still pass each URL through [`check_literal`].
pub fn guarded(builder: reqwest::ClientBuilder, allowed: &AllowedHosts) -> reqwest::ClientBuilder {
    builder
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(SafeResolver {
            allowed: allowed.clone(),
        }))
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

/// The connect-time check of an IP-literal host: the resolver never sees those, so a client
/// behind [`SafeResolver`] calls this before each request.
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

/// The addresses of `host` a request may connect to: all of them for an allowed host,
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

/// The resolver of a guarded client: the system's, then `filter`, so a name that resolved
/// to a public address once and to an internal one now (DNS rebinding) is refused then.
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

/// The error and its causes, without the URL (it may carry a token in its query): a refusal
/// by the guard reads as one (its text holds [`REFUSED`]).
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
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
        let err = filter("hooks.example.com", vec![], &none).expect_err("no address");
        assert_eq!(
            err,
            format!("{REFUSED}: hooks.example.com has no public address (no address at all)")
        );
        let allowed = AllowedHosts::new(&["hooks.internal".into()]);
        assert_eq!(
            filter("hooks.internal", vec![addr("10.0.0.5")], &allowed).expect("allowed"),
            vec![addr("10.0.0.5")]
        );
    }

    #[test]
    fn literal_hosts_are_checked_at_delivery_time() {
        let none = AllowedHosts::default();
        let url = Url::parse("http://10.0.0.1/").expect("url");
        let err = check_literal(&url, &none).expect_err("private");
        assert_eq!(err, format!("{REFUSED}: 10.0.0.1 is a private address"));
        let url = Url::parse("http://93.184.215.14/").expect("url");
        assert!(check_literal(&url, &none).is_ok());
    }

    #[test]
    fn hosts_written_in_a_url_are_judged_by_the_same_classes() {
        let refusal_of = |s: &str| {
            let url = Url::parse(s).expect("url");
            host_refusal(&url.host().expect("host"))
        };
        for (url, why) in [
            ("https://127.0.0.1/", "loopback"),
            ("https://[::ffff:10.0.0.1]/", "private"),
            ("https://169.254.169.254/", "metadata"),
            ("https://localhost/", "loopback"),
            ("https://api.LOCALHOST./", "loopback"),
        ] {
            let got = refusal_of(url).unwrap_or_else(|| panic!("{url}"));
            assert!(got.contains(why), "{url}: {got}");
        }
        for url in ["https://idp.example.com/", "https://93.184.215.14/"] {
            assert_eq!(refusal_of(url), None, "{url}");
        }
    }

    #[test]
    fn allowing_any_host_lets_internal_addresses_through() {
        let addr = SocketAddr::new(ip("127.0.0.1"), 8080);
        let any = AllowedHosts::any();
        assert_eq!(filter("localhost", vec![addr], &any), Ok(vec![addr]));
        let url = Url::parse("http://10.0.0.1/").expect("url");
        assert!(check_literal(&url, &any).is_ok());
        assert!(!AllowedHosts::default().allows("localhost"));
    }
}
