//! A real DNS server (Debian's `dnsmasq`) answering inside a [`Netns`], and a resolver address
//! that never answers.
//!
//! Every namespace's resolv.conf points at 127.0.0.1 (see [`super::netns::NETNS_RESOLV_CONF`]),
//! which is where [`DnsServer`] listens, so pgreach (hickory and getaddrinfo alike) asks it.
//! The namespace's /etc/hosts already holds `localhost dual.test v4only.test v6only.test`: a
//! zone uses other names (the `*.db.test` constants below) so answers really come from DNS.
//!
//! ```ignore
//! let ns = Netns::new();
//! let _dns = DnsServer::start(&ns, DnsZone::standard());
//! let run = run_pgreach(Some(&ns), &["--json", ALIAS], &[]);
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::netns::Netns;
use super::process::{CLEAN_PATH, run};

/// Debian's dnsmasq (package `dnsmasq-base`, which has no system service).
pub const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// Names served by [`DnsZone::standard`].
/// A record 127.0.0.1 only (AAAA: the name exists, no records).
pub const A_ONLY: &str = "a-only.db.test";
/// AAAA record ::1 only (A: no records).
pub const AAAA_ONLY: &str = "aaaa-only.db.test";
/// A 127.0.0.1 and AAAA ::1.
pub const BOTH: &str = "both.db.test";
/// CNAME to [`ALIAS_MIDDLE`], which is a CNAME to [`BOTH`]: a chain of two.
pub const ALIAS: &str = "alias.db.test";
/// The middle link of the [`ALIAS`] chain.
pub const ALIAS_MIDDLE: &str = "middle.db.test";
/// Exists (a TXT record) but has neither A nor AAAA records.
pub const NO_ADDRESS: &str = "noaddr.db.test";
/// Does not exist: NXDOMAIN (everything under `.test` that the zone does not name).
pub const MISSING: &str = "missing.db.test";

/// The address the never-answering resolver of [`blackhole_resolver`] uses: on loopback (so
/// nothing leaves the namespace), with its port 53 dropped by nftables.
pub const BLACKHOLE_RESOLVER: &str = "127.0.0.53";

/// Bound on waiting for dnsmasq to answer its first query.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Answered by every zone; [`DnsServer::start`] waits until it resolves.
const READY_NAME: &str = "pgr-ready.test";

/// What a [`DnsServer`] answers. Unknown names under each local domain (default `test`) get
/// NXDOMAIN, and nothing is forwarded anywhere (`--no-resolv`).
#[derive(Debug, Clone)]
pub struct DnsZone {
    args: Vec<String>,
    local_domains: Vec<String>,
}

impl DnsZone {
    /// An empty zone: every name under `.test` is NXDOMAIN.
    pub fn new() -> DnsZone {
        DnsZone {
            args: Vec::new(),
            local_domains: vec!["test".into()],
        }
    }

    /// [`A_ONLY`], [`AAAA_ONLY`], [`BOTH`], [`ALIAS`] → [`ALIAS_MIDDLE`] → [`BOTH`],
    /// [`NO_ADDRESS`]; [`MISSING`] and the rest of `.test` are NXDOMAIN.
    pub fn standard() -> DnsZone {
        DnsZone::new()
            .host(A_ONLY, &["127.0.0.1"])
            .host(AAAA_ONLY, &["::1"])
            .host(BOTH, &["127.0.0.1", "::1"])
            .cname(ALIAS, ALIAS_MIDDLE)
            .cname(ALIAS_MIDDLE, BOTH)
            .txt(NO_ADDRESS, "this name has no address records")
    }

    /// A and/or AAAA records (`--host-record`): IPv4 and IPv6 literals, at most one of each.
    pub fn host(mut self, name: &str, addresses: &[&str]) -> Self {
        assert!(
            !addresses.is_empty(),
            "host record {name} without addresses"
        );
        self.args
            .push(format!("--host-record={name},{}", addresses.join(",")));
        self
    }

    /// `alias` is a CNAME for `target` (which must be a name this zone answers).
    pub fn cname(mut self, alias: &str, target: &str) -> Self {
        self.args.push(format!("--cname={alias},{target}"));
        self
    }

    /// A TXT record: the name exists, with no address records unless added separately.
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        assert!(!text.contains(','), "TXT text must not contain commas");
        self.args.push(format!("--txt-record={name},{text}"));
        self
    }

    /// Another domain answered only locally (unknown names under it: NXDOMAIN).
    pub fn local_domain(mut self, domain: &str) -> Self {
        self.local_domains.push(domain.trim_matches('.').into());
        self
    }
}

impl Default for DnsZone {
    fn default() -> Self {
        DnsZone::new()
    }
}

/// dnsmasq running inside a namespace on 127.0.0.1:53, logging every query to
/// [`DnsServer::log_path`]. Dropping it kills it and removes its directory.
pub struct DnsServer {
    child: Child,
    netns: String,
    // Dropped (removed) after Drop::drop killed the process.
    dir: tempfile::TempDir,
}

impl DnsServer {
    /// Starts dnsmasq in `ns` serving `zone`, and waits (bounded) until it answers through the
    /// namespace's resolv.conf (so start it before any [`blackhole_resolver`]).
    pub fn start(ns: &Netns, zone: DnsZone) -> DnsServer {
        assert!(
            Path::new(DNSMASQ).exists(),
            "{DNSMASQ} is missing (./scripts/test installs the dnsmasq-base package)"
        );
        // The `pgr-cluster-<pid>-` prefix lets the harness's stale cleanup remove it after a
        // killed run.
        let dir = tempfile::Builder::new()
            .prefix(&format!("pgr-cluster-{}-dns-", std::process::id()))
            .tempdir()
            .expect("create dnsmasq temp dir");
        let log = dir.path().join("queries.log");
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("stderr log");

        let mut cmd = ns.cmd(DNSMASQ);
        cmd.args([
            "--no-daemon",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--port=53",
            "--conf-file=/dev/null",
            "--cache-size=0",
            "--log-queries=extra",
        ])
        .arg(format!("--log-facility={}", log.display()))
        .arg(format!(
            "--pid-file={}",
            dir.path().join("dnsmasq.pid").display()
        ))
        .arg(format!("--host-record={READY_NAME},127.0.0.1"));
        for d in &zone.local_domains {
            cmd.arg(format!("--local=/{d}/"));
        }
        cmd.args(&zone.args)
            .env_clear()
            .env("PATH", CLEAN_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut server = DnsServer {
            child,
            netns: ns.name().to_owned(),
            dir,
        };
        server.wait_ready(ns);
        server
    }

    /// Polls `getent hosts READY_NAME` inside the namespace until dnsmasq answers.
    fn wait_ready(&mut self, ns: &Netns) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "dnsmasq exited at start ({status}) in netns {}\n--- stderr ---\n{}\n--- log ---\n{}",
                    self.netns,
                    self.stderr(),
                    self.log()
                );
            }
            let mut c = ns.cmd("getent");
            c.args(["hosts", READY_NAME]);
            if run(&mut c, Duration::from_secs(5)).success() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "dnsmasq did not answer within {READY_TIMEOUT:?} in netns {}\n--- stderr ---\n{}\n--- log ---\n{}",
                    self.netns,
                    self.stderr(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every query dnsmasq received and what it answered (`--log-queries=extra`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("queries.log")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// The queries dnsmasq logged (`query[A] name from 127.0.0.1` lines), without the
    /// harness's own readiness checks.
    pub fn queries(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("query[") && !l.contains(READY_NAME))
            .map(str::to_owned)
            .collect()
    }

    /// How many queries for `name` (of any type) dnsmasq logged.
    pub fn queries_for(&self, name: &str) -> usize {
        let needle = format!("] {name} from ");
        self.queries()
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Points the namespace's resolv.conf at [`BLACKHOLE_RESOLVER`] (with `options timeout:1
/// attempts:1`) and drops every UDP and TCP packet to its port 53 with an nftables rule in a
/// table of its own (`inet pgrdns`), so that every DNS query times out. Names in the
/// namespace's /etc/hosts still resolve. Undone when the namespace is dropped.
pub fn blackhole_resolver(ns: &Netns) {
    // On input, not output: a locally generated UDP packet dropped on output fails sendto
    // with EPERM at once, which is not a timeout.
    for proto in ["udp", "tcp"] {
        let rule = format!("ip daddr {BLACKHOLE_RESOLVER} {proto} dport 53 drop");
        ns.nft_rule("pgrdns", "input", &rule);
    }
    let mut conf = String::new();
    let _ = writeln!(conf, "nameserver {BLACKHOLE_RESOLVER}");
    conf.push_str("options timeout:1 attempts:1\n");
    std::fs::write(ns.etc_dir().join("resolv.conf"), conf).expect("write netns resolv.conf");
}
