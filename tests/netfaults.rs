//! Broken networks, made for real inside network namespaces, against a real PostgreSQL 15: a
//! firewall that drops, ICMP errors, RST on SYN, an IPv6 address without a route, a listener
//! only on IPv6, and an MTU black hole in the middle of the TLS handshake.
//!
//! Each run uses `--connect-timeout 2 --quiet-server` and must finish within the deadline plus a
//! margin for process start.

mod support;

use support::address;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Cluster, ClusterSpec, Netns, PgreachRun, run_within_deadline};

const IP_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs pgreach inside `ns` with `--connect-timeout 2 --quiet-server` and checks the deadline.
fn probe(ns: &Netns, target: &str, extra: &[&str]) -> (PgreachRun, Value) {
    run_within_deadline(Some(ns), target, extra)
}

/// Adds an nftables rule to an input (or output) chain of a table of this file's own.
fn nft(ns: &Netns, hook: &str, rule: &str) {
    ns.nft_rule("netfaults", hook, rule);
}

/// A plaintext cluster on both loopback addresses.
fn cluster(ns: &Netns) -> Cluster {
    Cluster::start(ns, ClusterSpec::new().listen("127.0.0.1,::1"))
}

#[test]
fn dropped_packets_time_out() {
    let ns = Netns::new();
    let c = cluster(&ns);
    ns.drop_tcp_port(c.port());
    let (_, report) = probe(&ns, &format!("127.0.0.1:{}", c.port()), &[]);
    let a = &report["addresses"][0];
    assert_eq!(a["tcp"]["status"], "timeout", "{a:#}");
}

#[test]
fn icmp_host_unreachable_is_unreachable_on_both_families() {
    let ns = Netns::new();
    let c = cluster(&ns);
    let port = c.port();
    nft(
        &ns,
        "input",
        &format!("ip daddr 127.0.0.1 tcp dport {port} reject with icmp type host-unreachable"),
    );
    nft(
        &ns,
        "input",
        &format!("ip6 daddr ::1 tcp dport {port} reject with icmpv6 type addr-unreachable"),
    );
    let (_, report) = probe(&ns, &format!("localhost:{port}"), &[]);
    for ip in ["127.0.0.1", "::1"] {
        let a = address(&report, ip);
        assert_eq!(a["tcp"]["status"], "unreachable", "{a:#}");
    }
}

#[test]
fn icmp_port_unreachable_is_refused() {
    // Linux turns ICMP port unreachable on a SYN into ECONNREFUSED, as a RST would be: libpq
    // says "Connection refused" too, so pgreach reports `refused`.
    let ns = Netns::new();
    let c = cluster(&ns);
    let port = c.port();
    nft(
        &ns,
        "input",
        &format!("ip daddr 127.0.0.1 tcp dport {port} reject with icmp type port-unreachable"),
    );
    let (_, report) = probe(&ns, &format!("127.0.0.1:{port}"), &[]);
    assert_eq!(report["addresses"][0]["tcp"]["status"], "refused");
}

#[test]
fn rst_on_syn_is_refused() {
    let ns = Netns::new();
    let c = cluster(&ns);
    nft(
        &ns,
        "input",
        &format!("tcp dport {} reject with tcp reset", c.port()),
    );
    let (_, report) = probe(&ns, &format!("localhost:{}", c.port()), &[]);
    for ip in ["127.0.0.1", "::1"] {
        let a = address(&report, ip);
        assert_eq!(a["tcp"]["status"], "refused", "{a:#}");
    }
}

#[test]
fn ipv6_address_without_a_route_is_unreachable() {
    let ns = Netns::new();
    let _c = cluster(&ns);
    // Only lo exists: no route to 2001:db8::/32 at all, then an explicit unreachable route.
    let (run, report) = probe(&ns, "[2001:db8::1]:5432", &[]);
    assert!(run.elapsed < Duration::from_secs(1), "no waiting: {run}");
    assert_eq!(report["addresses"][0]["tcp"]["status"], "unreachable");
    ns.run_ok(&["ip", "-6", "route", "add", "unreachable", "2001:db8:1::/48"]);
    let (_, report) = probe(&ns, "[2001:db8:1::1]:5432", &[]);
    assert_eq!(report["addresses"][0]["tcp"]["status"], "unreachable");
}

#[test]
fn listener_only_on_ipv6_probed_as_localhost() {
    let ns = Netns::new();
    let c = Cluster::start(&ns, ClusterSpec::new().listen("::1"));
    let (_, report) = probe(&ns, &format!("localhost:{}", c.port()), &[]);
    let v4 = address(&report, "127.0.0.1");
    assert_eq!(v4["tcp"]["status"], "refused", "{v4:#}");
    let v6 = address(&report, "::1");
    assert_eq!(v6["tcp"]["status"], "ok", "{v6:#}");
    // initdb's pg_hba trusts loopback: authenticated, then the role is refused.
    assert_eq!(v6["startup"]["auth"], "trust", "{v6:#}");
    assert_eq!(v6["reached_auth"], true);
}

/// client ─ router ─ server, three namespaces joined by veth pairs; the router's link towards
/// the client has an MTU of 1280 while both ends have 1500, and the router's ICMP errors are
/// dropped: full-size segments from the server vanish without a word.
struct Blackhole {
    client: Netns,
    router: Netns,
    server: Netns,
}

const SERVER_IP: &str = "10.77.2.1";

impl Blackhole {
    fn new() -> Blackhole {
        let b = Blackhole {
            client: Netns::new(),
            router: Netns::new(),
            server: Netns::new(),
        };
        b.link(&b.client, "c0", "10.77.1.1/24", "r0", "10.77.1.2/24");
        b.link(&b.server, "s0", "10.77.2.1/24", "r1", "10.77.2.2/24");
        b.router.run_ok(&["ip", "link", "set", "r0", "mtu", "1280"]);
        b.router.run_ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        b.client
            .run_ok(&["ip", "route", "add", "default", "via", "10.77.1.2"]);
        b.server
            .run_ok(&["ip", "route", "add", "default", "via", "10.77.2.2"]);
        b
    }

    /// A veth pair: `end` in `ns`, `router_end` in the router, both up with their addresses.
    fn link(&self, ns: &Netns, end: &str, end_addr: &str, router_end: &str, router_addr: &str) {
        let out = support::process::run(
            Command::new("ip").args([
                "link",
                "add",
                end,
                "netns",
                ns.name(),
                "type",
                "veth",
                "peer",
                "name",
                router_end,
                "netns",
                self.router.name(),
            ]),
            IP_TIMEOUT,
        );
        assert!(out.success(), "ip link add veth: {}", out.describe());
        ns.run_ok(&["ip", "addr", "add", end_addr, "dev", end]);
        ns.run_ok(&["ip", "link", "set", end, "up"]);
        self.router
            .run_ok(&["ip", "addr", "add", router_addr, "dev", router_end]);
        self.router.run_ok(&["ip", "link", "set", router_end, "up"]);
    }

    /// The router swallows its "fragmentation needed" errors: the black hole.
    fn drop_icmp(&self) {
        nft(
            &self.router,
            "output",
            "icmp type destination-unreachable drop",
        );
    }

    fn allow_icmp(&self) {
        self.router
            .run_ok(&["nft", "delete", "table", "inet", "netfaults"]);
    }
}

#[test]
fn mtu_blackhole_times_out_in_the_tls_phase() {
    let net = Blackhole::new();
    // A server certificate of about 12 KiB (many names): its handshake flight needs full-size
    // segments, while the SSLRequest answer and small messages fit any MTU.
    let mut names: Vec<String> = vec![SERVER_IP.to_string()];
    names.extend((0..300).map(|i| format!("padding-{i:04}.blackhole.pgreach.test")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let c = Cluster::start(
        &net.server,
        ClusterSpec::new()
            .ssl(true)
            .listen(SERVER_IP)
            .hba(&["host all all 10.77.0.0/16 trust"])
            .server_cert_names(&names),
    );
    let target = format!("{SERVER_IP}:{}", c.port());
    net.drop_icmp();
    let (_, report) = probe(&net.client, &target, &["--sslmode", "require"]);
    let a = &report["addresses"][0];
    assert_eq!(a["tcp"]["status"], "ok", "{a:#}");
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert_eq!(a["tls"]["status"], "timeout", "{a:#}");

    // Control: with the router's ICMP allowed, path-MTU discovery works and so does TLS.
    net.allow_icmp();
    let (_, report) = probe(&net.client, &target, &["--sslmode", "require"]);
    let a = &report["addresses"][0];
    assert_eq!(a["tls"]["status"], "ok", "{a:#}");
    assert_eq!(a["reached_auth"], true, "{a:#}");
}
