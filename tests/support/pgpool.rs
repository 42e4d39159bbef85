//! pgpool-II (Debian's package `pgpool2`, /usr/sbin/pgpool) in front of a test [`Cluster`], run
//! as `postgres` inside the cluster's [`Netns`] with its own port and a temporary config dir.
//!
//! It never touches the package's own service: that one reads /etc/pgpool2 and listens in the
//! root namespace; ours is started with `-f`, `-a` and `-F` naming generated files, listens
//! only inside a private namespace, and keeps its sockets, pid, status and log files in its
//! own temp dir.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cluster::{Cluster, DEFAULT_CERT_NAMES};
use super::files::{postgres_dir, postgres_ids, write_owned};
use super::netns::Netns;
use super::process::{CLEAN_PATH, run_ok, version_line};

/// Debian's pgpool-II binary.
pub const PGPOOL_BIN: &str = "/usr/sbin/pgpool";

/// How long pgpool-II may take to log that it started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the immediate shutdown may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// What pgpool-II logs once its children accept connections.
const STARTED: &str = "pgpool-II successfully started";

/// What the generated pgpool.conf and pool_hba.conf say. Defaults: port 9998 (the package's
/// service uses 5433, its PCP 9898), listen on 127.0.0.1, `ssl = off`, pool_hba.conf
/// `host all all 127.0.0.1/32 scram-sha-256`, no users.
#[derive(Debug, Clone)]
pub struct PgpoolSpec {
    port: u16,
    ssl: bool,
    hba: Vec<String>,
    /// Lines of pool_passwd: (user, plaintext password).
    users: Vec<(String, String)>,
}

impl Default for PgpoolSpec {
    fn default() -> Self {
        PgpoolSpec {
            port: 9998,
            ssl: false,
            hba: vec!["host all all 127.0.0.1/32 scram-sha-256".into()],
            users: Vec::new(),
        }
    }
}

impl PgpoolSpec {
    pub fn new() -> PgpoolSpec {
        PgpoolSpec::default()
    }

    /// `port`; below 32768 so it never meets an ephemeral port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// pgpool-II's own `ssl = on`, with `ssl_cert`/`ssl_key` a certificate from the cluster's
    /// CA for [`DEFAULT_CERT_NAMES`], like the cluster's own.
    pub fn ssl(mut self, on: bool) -> Self {
        self.ssl = on;
        self
    }

    /// pool_hba.conf lines (pgpool-II's own client authentication, `enable_pool_hba = on`);
    /// `local all all trust` is always prepended.
    pub fn hba(mut self, lines: &[&str]) -> Self {
        self.hba = lines.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A user of pool_passwd, stored as `TEXT<password>`: pgpool-II needs the clear password
    /// to answer SCRAM both to the client and to the backend.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }
}

/// A running pgpool-II; dropping it stops it (SIGQUIT, then SIGKILL) and removes its dir.
pub struct Pgpool {
    child: Child,
    port: u16,
    conf: String,
    // Dropped after Drop::drop stopped the process.
    dir: tempfile::TempDir,
}

impl Pgpool {
    /// Starts pgpool-II in `ns` in raw mode with the cluster as its one backend
    /// (`backend_hostname0 = '127.0.0.1'`) and waits (bounded) until its log says it started.
    pub fn start(ns: &Netns, cluster: &Cluster, spec: PgpoolSpec) -> Pgpool {
        let dir = postgres_dir("pgpool-");
        let owner = postgres_ids();
        let root = dir.path();

        let mut passwd = String::new();
        for (user, password) in &spec.users {
            let _ = writeln!(passwd, "{user}:TEXT{password}");
        }
        write_owned(&root.join("pool_passwd"), &passwd, 0o600, owner);
        let mut hba = String::from("local all all trust\n");
        for line in &spec.hba {
            let _ = writeln!(hba, "{line}");
        }
        write_owned(&root.join("pool_hba.conf"), &hba, 0o644, owner);
        write_owned(&root.join("pcp.conf"), "", 0o600, owner);
        if spec.ssl {
            let cert = cluster.issue_cert(DEFAULT_CERT_NAMES);
            write_owned(&root.join("server.crt"), &cert.cert_pem, 0o644, owner);
            write_owned(&root.join("server.key"), &cert.key_pem, 0o600, owner);
        }
        let conf = config(root, cluster.port(), &spec);
        write_owned(&root.join("pgpool.conf"), &conf, 0o644, owner);
        let log = File::create(root.join("pgpool.log")).expect("create pgpool.log");

        // setpriv execs (no fork, unlike runuser), so the child *is* pgpool-II's main process
        // and signalling it stops its children too. -n: stay in the foreground, log to stderr.
        let mut cmd = ns.cmd("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            PGPOOL_BIN,
            "-n",
        ])
        .arg("-f")
        .arg(root.join("pgpool.conf"))
        .arg("-a")
        .arg(root.join("pool_hba.conf"))
        .arg("-F")
        .arg(root.join("pcp.conf"))
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .env("LC_ALL", "C")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PGPOOL_BIN} (apt install pgpool2): {e}"));
        let mut pgpool = Pgpool {
            child,
            port: spec.port,
            conf,
            dir,
        };
        pgpool.wait_started();
        pgpool
    }

    /// Polls the log for [`STARTED`]; panics with the log if pgpool-II exits or does not get
    /// there within [`START_TIMEOUT`].
    fn wait_started(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            if log.contains(STARTED) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pgpool exited ({status}) before starting\n--- conf ---\n{}\n--- log ---\n{log}",
                    self.conf
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "pgpool not started within {START_TIMEOUT:?}\n--- conf ---\n{}\n--- log ---\n{log}",
                    self.conf
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The generated pgpool.conf.
    pub fn conf(&self) -> &str {
        &self.conf
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgpool.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `pgpool --version`, e.g. `pgpool-II version 4.3.5 (tamahomeboshi)`.
    pub fn version() -> String {
        version_line(PGPOOL_BIN)
    }
}

/// pgpool.conf for one backend at 127.0.0.1:`backend_port`, with every file pgpool-II writes
/// (sockets, pid, status) in `root`.
fn config(root: &Path, backend_port: u16, spec: &PgpoolSpec) -> String {
    let dir = root.display();
    let mut c = String::new();
    // raw: one backend, no replication checks that would need an sr_check_user.
    c.push_str("backend_clustering_mode = 'raw'\n");
    let _ = writeln!(c, "listen_addresses = '127.0.0.1'\nport = {}", spec.port);
    let _ = writeln!(c, "socket_dir = '{dir}'\npcp_socket_dir = '{dir}'");
    let _ = writeln!(c, "wd_ipc_socket_dir = '{dir}'\nlogdir = '{dir}'");
    let _ = writeln!(c, "pid_file_name = '{dir}/pgpool.pid'");
    let _ = writeln!(c, "memqcache_oiddir = '{dir}/oiddir'");
    // PCP on its Unix socket only: no second TCP port to pick.
    c.push_str("pcp_listen_addresses = ''\n");
    let _ = writeln!(
        c,
        "backend_hostname0 = '127.0.0.1'\nbackend_port0 = {backend_port}"
    );
    c.push_str("backend_flag0 = 'DISALLOW_TO_FAILOVER'\n");
    c.push_str("enable_pool_hba = on\n");
    let _ = writeln!(c, "pool_passwd = '{dir}/pool_passwd'");
    // Few children: a test opens a handful of connections, one after another.
    c.push_str("num_init_children = 4\nmax_pool = 1\n");
    c.push_str("health_check_period = 0\nsr_check_period = 0\n");
    // `info` so that the start-up line waited for ([`STARTED`]) is logged.
    c.push_str("log_destination = 'stderr'\nlog_min_messages = 'info'\nlog_connections = on\n");
    if spec.ssl {
        c.push_str("ssl = on\n");
        let _ = writeln!(
            c,
            "ssl_cert = '{dir}/server.crt'\nssl_key = '{dir}/server.key'"
        );
    } else {
        c.push_str("ssl = off\n");
    }
    c
}

impl Drop for Pgpool {
    fn drop(&mut self) {
        // SIGQUIT is pgpool-II's immediate shutdown: the main process kills its children and
        // removes its pid file and sockets; SIGKILL if it lingers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-QUIT", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
