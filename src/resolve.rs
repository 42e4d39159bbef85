//! The DNS phase: A and AAAA asked separately (hickory, reading the system configuration and
//! the hosts file), each with its own outcome and timing, plus the order the system's
//! getaddrinfo gives — the order libpq will try.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::OnceLock;
use std::time::Duration;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use tokio::time::{Instant, timeout};

use crate::facts::{
    DnsFacts, LookupFacts, LookupOutcome, LookupSource, SystemLookup, SystemStatus, millis,
};

/// A resolver for a whole run, built on first use: a run that only probes IP literals or
/// sockets never reads the resolver configuration.
pub struct Dns {
    state: OnceLock<State>,
    timeout: Duration,
}

/// The resolver and the hosts file, read once.
struct State {
    resolver: Result<TokioResolver, String>,
    hosts: Hosts,
}

impl Dns {
    pub fn from_system(timeout: Duration) -> Dns {
        Dns {
            state: OnceLock::new(),
            timeout,
        }
    }

    /// Reads /etc/resolv.conf and /etc/hosts. A broken resolver configuration is not fatal: it
    /// becomes the outcome of every lookup, which is exactly what the user needs to see.
    fn state(&self) -> &State {
        self.state.get_or_init(|| {
            let timeout = self.timeout;
            let resolver = TokioResolver::builder_tokio()
                .map_err(|e| format!("cannot read the system resolver configuration: {e}"))
                .and_then(|mut b| {
                    let opts = b.options_mut();
                    // Both families are asked explicitly below; the strategy matters for
                    // lookup_ip only, but hickory's default (Ipv4thenIpv6) would hide AAAA
                    // answers there.
                    opts.ip_strategy = hickory_resolver::config::LookupIpStrategy::Ipv4AndIpv6;
                    opts.timeout = timeout.min(Duration::from_secs(5));
                    opts.attempts = 1;
                    opts.preserve_intermediates = true;
                    b.build()
                        .map_err(|e| format!("cannot build a resolver: {e}"))
                });
            State {
                resolver,
                hosts: Hosts::from_system().unwrap_or_default(),
            }
        })
    }

    /// Resolves `name`: both families concurrently, and getaddrinfo beside them.
    pub async fn resolve(&self, name: &str, port: u16) -> DnsFacts {
        let (a, aaaa, system) = tokio::join!(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA),
            self.system_order(name, port)
        );
        let (a, mut cname_chain) = a;
        let (aaaa, cname6) = aaaa;
        if cname_chain.is_empty() {
            cname_chain = cname6;
        }
        DnsFacts {
            a,
            aaaa,
            cname_chain,
            system,
        }
    }

    async fn lookup(&self, name: &str, rtype: RecordType) -> (LookupFacts, Vec<String>) {
        let start = Instant::now();
        let mut facts = LookupFacts {
            outcome: LookupOutcome::Error,
            addresses: Vec::new(),
            source: LookupSource::Dns,
            elapsed_ms: 0.0,
            error: None,
        };
        if let Some(addrs) = self.answer_from_hosts_file(name, rtype) {
            facts.source = LookupSource::Hosts;
            facts.outcome = if addrs.is_empty() {
                LookupOutcome::NoRecords
            } else {
                LookupOutcome::Answers
            };
            facts.addresses = addrs;
            facts.elapsed_ms = millis(start.elapsed());
            return (facts, Vec::new());
        }
        let resolver = match &self.state().resolver {
            Ok(r) => r,
            Err(e) => {
                facts.error = Some(e.clone());
                return (facts, Vec::new());
            }
        };
        let result = timeout(self.timeout, resolver.lookup(name, rtype)).await;
        facts.elapsed_ms = millis(start.elapsed());
        let mut chain = Vec::new();
        match result {
            Err(_) => facts.outcome = LookupOutcome::Timeout,
            Ok(Ok(lookup)) => {
                for record in lookup.answers() {
                    match &record.data {
                        RData::A(a) => facts.addresses.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => facts.addresses.push(IpAddr::V6(a.0)),
                        RData::CNAME(c) => chain.push(c.0.to_utf8()),
                        _ => {}
                    }
                }
                facts.outcome = if facts.addresses.is_empty() {
                    LookupOutcome::NoRecords
                } else {
                    LookupOutcome::Answers
                };
            }
            Ok(Err(e)) => {
                facts.outcome = classify(&e);
                facts.error = Some(e.to_string());
            }
        }
        (facts, chain)
    }

    /// glibc treats a name found in /etc/hosts as answered for both families (an IPv4-only
    /// entry means "no IPv6", not "ask DNS"), so pgreach does the same: otherwise `localhost`
    /// would send an AAAA query to the network.
    fn answer_from_hosts_file(&self, name: &str, rtype: RecordType) -> Option<Vec<IpAddr>> {
        let fqdn = Name::from_utf8(name).ok()?;
        let ask = |t| {
            self.state()
                .hosts
                .lookup_static_host(&Query::query(fqdn.clone(), t))
                .map(|l| {
                    l.answers()
                        .iter()
                        .filter_map(|r| match &r.data {
                            RData::A(a) => Some(IpAddr::V4(a.0)),
                            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                })
        };
        let wanted = ask(rtype);
        let other = ask(if rtype == RecordType::A {
            RecordType::AAAA
        } else {
            RecordType::A
        });
        match (wanted, other) {
            (Some(v), _) => Some(v),
            (None, Some(_)) => Some(Vec::new()),
            (None, None) => None,
        }
    }

    /// The system's own resolution (getaddrinfo through std), in its order.
    async fn system_order(&self, name: &str, port: u16) -> SystemLookup {
        let start = Instant::now();
        let target = format!("{name}:{port}");
        let result = timeout(self.timeout, tokio::net::lookup_host(target)).await;
        let elapsed_ms = millis(start.elapsed());
        match result {
            Ok(Ok(addrs)) => {
                let mut addresses: Vec<IpAddr> = Vec::new();
                for a in addrs {
                    // getaddrinfo without a socktype hint may repeat an address per protocol.
                    if !addresses.contains(&a.ip()) {
                        addresses.push(a.ip());
                    }
                }
                SystemLookup {
                    status: SystemStatus::Ok,
                    addresses,
                    elapsed_ms,
                    error: None,
                }
            }
            Ok(Err(e)) => SystemLookup {
                status: SystemStatus::Error,
                addresses: Vec::new(),
                elapsed_ms,
                error: Some(e.to_string()),
            },
            Err(_) => SystemLookup {
                status: SystemStatus::Error,
                addresses: Vec::new(),
                elapsed_ms,
                error: Some("timed out".into()),
            },
        }
    }
}

const SCOPE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The socket address of a zoned IPv6 literal (`fe80::1%eth0`), as libpq gets it: from
/// getaddrinfo, which turns the zone (an interface name or number) into the scope id. No DNS is
/// involved. An unknown interface leaves the scope at 0, so the connect itself fails and says
/// so (libpq fails earlier, at getaddrinfo).
pub async fn scoped(addr: Ipv6Addr, zone: &str, port: u16) -> SocketAddr {
    let unscoped = SocketAddr::V6(SocketAddrV6::new(addr, port, 0, 0));
    let host = format!("{addr}%{zone}");
    // A numeric host: getaddrinfo answers at once, but every wait is bounded.
    let lookup = tokio::net::lookup_host((host.as_str(), port));
    match timeout(SCOPE_LOOKUP_TIMEOUT, lookup).await {
        Ok(Ok(mut found)) => found.next().unwrap_or(unscoped),
        _ => unscoped,
    }
}

/// Maps hickory's error to the outcome vocabulary, from its structure, not its text.
fn classify(e: &NetError) -> LookupOutcome {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => {
            if nr.response_code == ResponseCode::NXDomain {
                LookupOutcome::Nxdomain
            } else {
                LookupOutcome::NoRecords
            }
        }
        NetError::Dns(DnsError::ResponseCode(_)) => LookupOutcome::ServerFailure,
        NetError::Timeout => LookupOutcome::Timeout,
        _ => LookupOutcome::Error,
    }
}

/// Every address to probe, in libpq's order first (getaddrinfo's), then any the separate
/// queries found that the system did not return. The rank is the position in the system order.
pub fn addresses_to_probe(dns: &DnsFacts) -> Vec<(IpAddr, Option<usize>)> {
    let mut out: Vec<(IpAddr, Option<usize>)> = dns
        .system
        .addresses
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, Some(i)))
        .collect();
    for a in dns.aaaa.addresses.iter().chain(&dns.a.addresses) {
        if !out.iter().any(|(b, _)| b == a) {
            out.push((*a, None));
        }
    }
    out
}
