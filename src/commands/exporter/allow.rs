//! The allow list: which targets the exporter may probe, so that it is never an open proxy into
//! the networks it can reach. Entries are CIDR blocks (`10.0.0.0/8`), single addresses, and
//! host names, exact or `*.suffix`. Without a list only loopback is allowed.
//!
//! An address literal is judged before anything happens (no DNS, no connection). A name that
//! an entry names is trusted with whatever it resolves to; any other name is resolved and every
//! address it gives must fall in a block, or nothing is probed.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Endpoint, HostSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    nets: Vec<IpNet>,
    /// Lower-case names; `*.x` is kept as `.x` (matches any name ending so).
    names: Vec<String>,
}

impl Default for Allow {
    /// Loopback only.
    fn default() -> Allow {
        Allow {
            nets: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|n| n.parse().ok())
                .collect(),
            names: Vec::new(),
        }
    }
}

/// What the endpoints of a target still need once the literals have been judged.
pub struct Plan {
    /// Names that must resolve to allowed addresses only.
    pub check_names: Vec<String>,
}

impl Allow {
    /// Parses the entries of the configuration file's `allow` list.
    pub fn parse(entries: &[String]) -> Result<Allow, String> {
        let mut allow = Allow {
            nets: Vec::new(),
            names: Vec::new(),
        };
        for entry in entries {
            allow.add(entry.trim())?;
        }
        Ok(allow)
    }

    fn add(&mut self, entry: &str) -> Result<(), String> {
        if let Ok(net) = entry.parse::<IpNet>() {
            self.nets.push(net.trunc());
        } else if let Ok(ip) = entry.parse::<IpAddr>() {
            self.nets.push(IpNet::from(ip.to_canonical()));
        } else if let Some(suffix) = entry.strip_prefix("*.") {
            valid_name(suffix, entry)?;
            self.names.push(format!(".{}", norm(suffix)));
        } else {
            valid_name(entry, entry)?;
            self.names.push(norm(entry));
        }
        Ok(())
    }

    /// Whether `ip` lies in an allowed block. IPv4-mapped IPv6 addresses count as the IPv4
    /// address they carry, so `::ffff:10.1.2.3` cannot slip past a list without 10/8.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    fn names_allow(&self, name: &str) -> bool {
        let name = norm(name);
        self.names
            .iter()
            .any(|entry| match entry.strip_prefix('.') {
                Some(_) => name.ends_with(entry.as_str()),
                None => name == *entry,
            })
    }

    /// Judges the endpoints before any DNS lookup: a literal outside the list, a socket, or a
    /// name nothing could allow is refused here.
    pub fn plan(&self, endpoints: &[Endpoint]) -> Result<Plan, String> {
        let mut check_names = Vec::new();
        for ep in endpoints {
            match &ep.host {
                HostSpec::Ip(ip) | HostSpec::HostAddr { addr: ip, .. } => {
                    if !self.contains(*ip) {
                        return Err(format!("{ip} is outside the allow list"));
                    }
                }
                // A link-local address with its interface: judged by the address.
                HostSpec::ScopedIp { addr, .. } => {
                    if !self.contains(IpAddr::V6(*addr)) {
                        return Err(format!("{addr} is outside the allow list"));
                    }
                }
                HostSpec::Name(name) if self.names_allow(name) => {}
                HostSpec::Name(name) if !self.nets.is_empty() => check_names.push(name.clone()),
                HostSpec::Name(name) => {
                    return Err(format!("{name} is outside the allow list"));
                }
                HostSpec::Socket(_) => {
                    return Err("a Unix socket is not a target the exporter probes".into());
                }
            }
        }
        Ok(Plan { check_names })
    }
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn valid_name(name: &str, entry: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "allow entry \"{entry}\": expected a CIDR block, an address, a host name or *.domain"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: HostSpec) -> Endpoint {
        Endpoint { host, port: 5432 }
    }

    fn allow(entries: &[&str]) -> Allow {
        Allow::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn blocks_names_and_suffixes() {
        let a = allow(&["10.0.0.0/8", "fd00::/8", "*.db.internal", "Exact.Example."]);
        assert!(a.contains("10.1.2.3".parse().unwrap()));
        assert!(a.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!a.contains("::ffff:192.168.1.1".parse().unwrap()));
        assert!(a.contains("fd12::1".parse().unwrap()));
        assert!(!a.contains("127.0.0.1".parse().unwrap()));
        assert!(a.names_allow("x.y.DB.internal"));
        assert!(!a.names_allow("db.internal"));
        assert!(!a.names_allow("evil-db.internal"));
        assert!(a.names_allow("exact.example"));
        assert!(Allow::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(Allow::parse(&["a b".into()]).is_err());
    }

    #[test]
    fn literals_are_judged_before_dns() {
        let a = Allow::default();
        let ip = |s: &str| ep(HostSpec::Ip(s.parse().unwrap()));
        assert!(a.plan(&[ip("127.0.0.5")]).is_ok());
        assert!(a.plan(&[ip("::1")]).is_ok());
        assert!(a.plan(&[ip("10.0.0.1")]).is_err());
        assert!(a.plan(&[ip("127.0.0.1"), ip("192.168.0.1")]).is_err());
        let hostaddr = ep(HostSpec::HostAddr {
            name: Some("x.db.internal".into()),
            addr: "10.0.0.1".parse().unwrap(),
        });
        assert!(allow(&["*.db.internal"]).plan(&[hostaddr]).is_err());
        let plan = a.plan(&[ep(HostSpec::Name("localhost".into()))]).unwrap();
        assert_eq!(plan.check_names, ["localhost"]);
        let names_only = allow(&["*.db.internal"]);
        assert!(
            names_only
                .plan(&[ep(HostSpec::Name("other".into()))])
                .is_err()
        );
        assert!(a.plan(&[ep(HostSpec::Socket("/tmp".into()))]).is_err());
    }
}
