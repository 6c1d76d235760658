//! Per-tenant IP allow and block lists.
//!
//! The policy is stored as the tenant typed it (strings), and compiled into networks when
//! loaded; compiling is also how a new policy is validated before it is stored.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Entries per list: checks are linear, and a longer list is a sign of a job for a firewall.
const MAX_ENTRIES: usize = 500;
/// How much of a refused entry the error repeats.
const MAX_ECHO: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// CIDRs or single addresses allowed to reach the tenant; empty means everyone.
    #[serde(default)]
    #[schema(schema_with = address_list)]
    pub allow: Vec<String>,
    /// CIDRs or single addresses refused, whether allowed or not.
    #[serde(default)]
    #[schema(schema_with = address_list)]
    pub block: Vec<String>,
}

/// An IPv6 CIDR is at most 43 characters.
fn address_list() -> utoipa::openapi::schema::Array {
    crate::domain::bounds::string_list(MAX_ENTRIES, 64)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledPolicy {
    allow: Vec<IpNet>,
    block: Vec<IpNet>,
}

impl NetworkPolicy {
    pub fn compile(&self) -> Result<CompiledPolicy, String> {
        Ok(CompiledPolicy {
            allow: compile_list("allow", &self.allow)?,
            block: compile_list("block", &self.block)?,
        })
    }
}

impl CompiledPolicy {
    /// Block list first, then the allow list (empty = everyone). Err carries a reason a client
    /// can read.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), String> {
        let Some(ip) = ip else {
            // An unknown source cannot be on the block list, but neither can it be shown
            // to be on the allow list.
            return if self.allow.is_empty() {
                Ok(())
            } else {
                Err(
                    "source address unknown and this tenant allows listed addresses only"
                        .to_owned(),
                )
            };
        };
        let ip = ip.to_canonical();
        if self.block.iter().any(|net| net.contains(&ip)) {
            return Err(format!(
                "source address {ip} is blocked by this tenant's block list"
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|net| net.contains(&ip)) {
            return Err(format!(
                "source address {ip} is not in this tenant's allow list"
            ));
        }
        Ok(())
    }
}

fn compile_list(list: &str, entries: &[String]) -> Result<Vec<IpNet>, String> {
    if entries.len() > MAX_ENTRIES {
        return Err(format!(
            "the {list} list has {} entries; at most {MAX_ENTRIES} are allowed",
            entries.len()
        ));
    }
    entries
        .iter()
        .map(|entry| {
            parse_entry(entry).ok_or_else(|| {
                let shown: String = entry.chars().take(MAX_ECHO).collect();
                format!(
                    "invalid {list} list entry {shown:?}: use an IP address or a CIDR such as \
                     203.0.113.0/24 or 2001:db8::/32"
                )
            })
        })
        .collect()
}

fn parse_entry(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    let net = match entry.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(entry.parse::<IpAddr>().ok()?),
    };
    Some(canonical(net.trunc()))
}

/// Clients are matched by their canonical address (an IPv4-mapped IPv6 address as IPv4),
/// so an entry written in mapped form must become IPv4 too, or it would never match.
fn canonical(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else { return net };
    match v6.addr().to_ipv4_mapped() {
        Some(v4) if v6.prefix_len() >= 96 => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
            .map(IpNet::V4)
            .unwrap_or(net),
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str], block: &[&str]) -> CompiledPolicy {
        NetworkPolicy {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            block: block.iter().map(|s| s.to_string()).collect(),
        }
        .compile()
        .expect("valid policy")
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("valid address"))
    }

    fn refusal(p: &CompiledPolicy, addr: &str) -> String {
        p.check(ip(addr)).expect_err(addr)
    }

    /// The refusal of a listed address, naming it as matched (IPv4 for a mapped one).
    fn blocked(shown: &str) -> String {
        format!("source address {shown} is blocked by this tenant's block list")
    }

    fn not_allowed(shown: &str) -> String {
        format!("source address {shown} is not in this tenant's allow list")
    }

    #[test]
    fn empty_policy_allows_everyone() {
        let p = NetworkPolicy::default().compile().expect("valid");
        assert!(p.check(ip("203.0.113.7")).is_ok());
        assert!(p.check(ip("2001:db8::1")).is_ok());
        assert!(p.check(None).is_ok());
    }

    #[test]
    fn block_beats_allow() {
        let p = policy(&["10.0.0.0/8"], &["10.1.0.0/16", "10.2.3.4"]);
        assert!(p.check(ip("10.0.0.1")).is_ok());
        let err = p.check(ip("10.1.2.3")).expect_err("blocked");
        assert_eq!(
            err,
            "source address 10.1.2.3 is blocked by this tenant's block list"
        );
        assert_eq!(refusal(&p, "10.2.3.4"), blocked("10.2.3.4"));
        assert!(p.check(ip("10.2.3.5")).is_ok());
        let err = p.check(ip("192.168.0.1")).expect_err("not allowed");
        assert_eq!(
            err,
            "source address 192.168.0.1 is not in this tenant's allow list"
        );
    }

    #[test]
    fn block_list_alone_allows_the_rest() {
        let p = policy(&[], &["203.0.113.0/24"]);
        assert_eq!(refusal(&p, "203.0.113.7"), blocked("203.0.113.7"));
        assert!(p.check(ip("198.51.100.1")).is_ok());
        assert!(p.check(None).is_ok());
    }

    #[test]
    fn unknown_source_is_refused_by_an_allow_list() {
        let p = policy(&["10.0.0.0/8"], &[]);
        assert_eq!(
            p.check(None).expect_err("refused"),
            "source address unknown and this tenant allows listed addresses only"
        );
    }

    #[test]
    fn v4_and_v6_networks() {
        let p = policy(&["192.0.2.0/24", "2001:db8::/32", "2001:db8:ffff::1"], &[]);
        assert!(p.check(ip("192.0.2.255")).is_ok());
        assert_eq!(refusal(&p, "192.0.3.0"), not_allowed("192.0.3.0"));
        assert!(p.check(ip("2001:db8:1::5")).is_ok());
        assert_eq!(refusal(&p, "2001:db9::1"), not_allowed("2001:db9::1"));
        // Host bits in a CIDR are ignored: it names the network.
        let p = policy(&["192.0.2.77/24"], &[]);
        assert!(p.check(ip("192.0.2.1")).is_ok());
        // A bare address is exactly that address.
        let p = policy(&["192.0.2.1", "2001:db8::1"], &[]);
        assert!(p.check(ip("192.0.2.1")).is_ok());
        assert_eq!(refusal(&p, "192.0.2.2"), not_allowed("192.0.2.2"));
        assert!(p.check(ip("2001:db8::1")).is_ok());
        assert_eq!(refusal(&p, "2001:db8::2"), not_allowed("2001:db8::2"));
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        let p = policy(&["198.51.100.0/24"], &["198.51.100.9"]);
        assert!(p.check(ip("::ffff:198.51.100.1")).is_ok());
        let err = p.check(ip("::ffff:198.51.100.9")).expect_err("blocked");
        assert!(err.contains(" 198.51.100.9 "), "{err}");
        assert_eq!(
            refusal(&p, "::ffff:203.0.113.1"),
            not_allowed("203.0.113.1")
        );
        // Entries written in mapped form match plain IPv4 clients too.
        let p = policy(&["::ffff:192.0.2.0/120"], &["::ffff:192.0.2.9"]);
        assert!(p.check(ip("192.0.2.1")).is_ok());
        assert_eq!(refusal(&p, "192.0.2.9"), blocked("192.0.2.9"));
        assert_eq!(refusal(&p, "192.0.3.1"), not_allowed("192.0.3.1"));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["10.0.0.0/33", "not-an-ip", "", "2001:db8::/129", "10.0.0"] {
            let err = NetworkPolicy {
                allow: vec!["10.0.0.0/8".into(), bad.into()],
                block: vec![],
            }
            .compile()
            .expect_err("refused");
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(err.contains("allow list"), "{err}");
        }
        let err = NetworkPolicy {
            allow: vec![],
            block: vec!["1.2.3.4/x".into()],
        }
        .compile()
        .expect_err("refused");
        assert!(err.contains("block list entry \"1.2.3.4/x\""), "{err}");
    }

    #[test]
    fn too_many_entries_are_refused() {
        let entries: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let err = NetworkPolicy {
            allow: vec![],
            block: entries.clone(),
        }
        .compile()
        .expect_err("refused");
        assert!(err.contains("501 entries"), "{err}");
        let fits = NetworkPolicy {
            allow: entries[..MAX_ENTRIES].to_vec(),
            block: vec![],
        };
        assert!(fits.compile().is_ok());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<NetworkPolicy, _> =
            serde_json::from_str(r#"{"allow": [], "deny": ["10.0.0.0/8"]}"#);
        let err = parsed.expect_err("an unknown field");
        assert!(err.to_string().contains("unknown field `deny`"), "{err}");
        let parsed: NetworkPolicy =
            serde_json::from_str(r#"{"block": ["10.0.0.1"]}"#).expect("lists default to empty");
        assert!(parsed.allow.is_empty());
    }
}
