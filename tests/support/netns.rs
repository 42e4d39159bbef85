//! Private network namespaces (`ip netns`) with their own /etc/hosts and resolv.conf.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use super::process::{run, run_ok, run_with_timeout};

/// /etc/hosts inside every namespace: `localhost` and `dual.test` have both families.
pub const NETNS_HOSTS: &str = "127.0.0.1 localhost dual.test v4only.test\n\
                               ::1 localhost dual.test v6only.test\n";
/// resolv.conf inside every namespace: 127.0.0.1, where no DNS server runs unless a test starts
/// one ([`super::dns::DnsServer`]), so unknown names fail fast.
pub const NETNS_RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";

const PREFIX: &str = "pgr-";
const IP_TIMEOUT: Duration = Duration::from_secs(15);

static COUNTER: AtomicU32 = AtomicU32::new(0);
static STALE_CLEANUP: Once = Once::new();

/// Once per test process: removes what earlier, killed test processes left behind
/// (`pgr-<pid>-<n>` namespaces, `pgr-cluster-<pid>-*` and `pgr-home-<pid>-*` temp dirs of
/// dead pids). Called by [`Netns::new`] and [`super::run_pgreach`].
pub fn cleanup_stale_once() {
    STALE_CLEANUP.call_once(|| {
        remove_stale_namespaces();
        remove_stale_temp_dirs();
    });
}

fn pid_is_dead(pid: u32) -> bool {
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}
/// `ip netns add/del` mount and unmount under /run/netns; serialize them within the process.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// A network namespace named `pgr-<pid>-<n>`, with `lo` up (127.0.0.1 and ::1).
/// Dropping it kills every process left inside, deletes it and its /etc/netns directory.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn new() -> Netns {
        cleanup_stale_once();
        let name = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        {
            let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            // Same pid from an earlier, killed run: start clean.
            if Path::new("/run/netns").join(&name).exists() {
                let _ =
                    run_with_timeout(Command::new("ip").args(["netns", "del", &name]), IP_TIMEOUT);
            }
            let out = run(Command::new("ip").args(["netns", "add", &name]), IP_TIMEOUT);
            if !out.success() {
                panic!(
                    "cannot create network namespace {name} (tests need root and `ip` from iproute2; \
                     run ./scripts/test as root)\n{}",
                    out.describe()
                );
            }
        }
        // From here on Drop cleans up, even if a later step panics.
        let ns = Netns { name };
        let etc = ns.etc_dir();
        std::fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("mkdir {}: {e}", etc.display()));
        std::fs::write(etc.join("hosts"), NETNS_HOSTS).expect("write netns hosts");
        std::fs::write(etc.join("resolv.conf"), NETNS_RESOLV_CONF)
            .expect("write netns resolv.conf");
        run_ok(
            Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]),
            IP_TIMEOUT,
            "bringing lo up in the namespace",
        );
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/etc/netns/<name>`: its `hosts` and `resolv.conf` are bind-mounted over /etc inside.
    pub fn etc_dir(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// `ip netns exec <name> <program>`; add args, env, etc. as for any Command.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Drops every inbound TCP packet to `port` (both families) inside the namespace, so that
    /// connects to it time out instead of being refused. Uses nft, falling back to iptables.
    pub fn drop_tcp_port(&self, port: u16) {
        self.add_drop_rule(None, port);
    }

    /// Like [`Netns::drop_tcp_port`], only for packets to `addr` (e.g. ::1 only).
    pub fn drop_tcp(&self, addr: IpAddr, port: u16) {
        self.add_drop_rule(Some(addr), port);
    }

    fn add_drop_rule(&self, addr: Option<IpAddr>, port: u16) {
        if tool_exists("nft") {
            let to = match addr {
                Some(IpAddr::V4(a)) => format!("ip daddr {a} "),
                Some(IpAddr::V6(a)) => format!("ip6 daddr {a} "),
                None => String::new(),
            };
            self.nft_rule("pgr", "input", &format!("{to}tcp dport {port} drop"));
        } else if tool_exists("iptables") {
            let port_s = port.to_string();
            let tools: &[&str] = match addr {
                Some(IpAddr::V4(_)) => &["iptables"],
                Some(IpAddr::V6(_)) => &["ip6tables"],
                None => &["iptables", "ip6tables"],
            };
            let addr_s = addr.map(|a| a.to_string());
            for tool in tools {
                let mut rule = vec![
                    *tool,
                    "-A",
                    "INPUT",
                    "-p",
                    "tcp",
                    "--dport",
                    port_s.as_str(),
                ];
                if let Some(a) = &addr_s {
                    rule.extend(["-d", a.as_str()]);
                }
                rule.extend(["-j", "DROP"]);
                self.run_ok(&rule);
            }
        } else {
            panic!("neither nft nor iptables is installed (./scripts/test installs nftables)");
        }
    }

    /// Adds the nftables `rule` (e.g. `ip daddr 127.0.0.1 tcp dport 5432 reject with tcp
    /// reset`) to the `hook` chain (`input` or `output`) of the table `inet TABLE` inside the
    /// namespace, creating table and chain (policy accept) if needed: a table per purpose, so
    /// that a test can delete its own rules with `nft delete table inet TABLE`.
    pub fn nft_rule(&self, table: &str, hook: &str, rule: &str) {
        let chain = format!("{{ type filter hook {hook} priority 0; policy accept; }}");
        self.run_ok(&["nft", "add", "table", "inet", table]);
        self.run_ok(&["nft", "add", "chain", "inet", table, hook, &chain]);
        let mut argv = vec!["nft", "add", "rule", "inet", table, hook];
        argv.extend(rule.split_whitespace());
        self.run_ok(&argv);
    }

    /// Runs argv inside the namespace, panicking (with its output) unless it exits 0; returns
    /// stdout.
    pub fn run_ok(&self, argv: &[&str]) -> String {
        let mut c = self.cmd(argv[0]);
        c.args(&argv[1..]);
        run_ok(&mut c, IP_TIMEOUT, &argv.join(" "))
    }

    /// Pids of processes inside the namespace.
    pub fn pids(&self) -> Vec<u32> {
        ns_pids(&self.name)
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        destroy_namespace(&self.name);
    }
}

fn tool_exists(tool: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists())
}

fn ns_pids(name: &str) -> Vec<u32> {
    match run_with_timeout(Command::new("ip").args(["netns", "pids", name]), IP_TIMEOUT) {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Kills everything inside, deletes the namespace and /etc/netns/<name>. Never panics.
fn destroy_namespace(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pids = ns_pids(name);
        if pids.is_empty() || Instant::now() >= deadline {
            break;
        }
        let mut kill = Command::new("kill");
        kill.arg("-9").args(pids.iter().map(|p| p.to_string()));
        let _ = run_with_timeout(&mut kill, IP_TIMEOUT);
        thread::sleep(Duration::from_millis(20));
    }
    {
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = run_with_timeout(Command::new("ip").args(["netns", "del", name]), IP_TIMEOUT);
    }
    let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(name));
}

/// Removes `pgr-<pid>-<n>` namespaces whose creating process is gone (a killed earlier run).
fn remove_stale_namespaces() {
    let Ok(out) = run_with_timeout(Command::new("ip").args(["netns", "list"]), IP_TIMEOUT) else {
        return;
    };
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    if let Ok(dir) = std::fs::read_dir("/etc/netns") {
        names.extend(
            dir.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned()),
        );
    }
    names.sort();
    names.dedup();
    for name in names {
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid_is_dead(pid) {
            destroy_namespace(&name);
        }
    }
}

fn remove_stale_temp_dirs() {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix("pgr-cluster-")
            .or_else(|| name.strip_prefix("pgr-home-"))
        else {
            continue;
        };
        if let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok())
            && pid_is_dead(pid)
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
