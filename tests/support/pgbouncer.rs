//! PgBouncer (Debian's package, /usr/sbin/pgbouncer) in front of a test [`Cluster`], run as
//! `postgres` inside the cluster's [`Netns`] with its own port and a temporary config dir.
//!
//! It never touches the package's own service: that one reads /etc/pgbouncer/pgbouncer.ini and
//! listens in the root namespace; ours reads a generated ini, listens only inside a private
//! namespace, and keeps its socket, pid and log files in its own temp dir.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cluster::{Cluster, DEFAULT_CERT_NAMES};
use super::files::{postgres_dir, postgres_ids, write_owned};
use super::netns::Netns;
use super::process::{CLEAN_PATH, run_ok, version_line};

/// Debian's PgBouncer binary.
pub const PGBOUNCER_BIN: &str = "/usr/sbin/pgbouncer";

/// How long PgBouncer may take to log that it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGTERM may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the generated pgbouncer.ini says. Defaults: port 6433 (the package's service uses
/// 6432), listen on 127.0.0.1, `auth_type = md5`, no client TLS, no users.
#[derive(Debug, Clone)]
pub struct PgBouncerSpec {
    port: u16,
    auth_type: String,
    /// `client_tls_sslmode` (`disable`, `allow`, `prefer`, `require`, …).
    client_tls_sslmode: String,
    /// Lines of the auth_file: (user, plaintext password).
    users: Vec<(String, String)>,
}

impl Default for PgBouncerSpec {
    fn default() -> Self {
        PgBouncerSpec {
            port: 6433,
            auth_type: "md5".into(),
            client_tls_sslmode: "disable".into(),
            users: Vec::new(),
        }
    }
}

impl PgBouncerSpec {
    pub fn new() -> PgBouncerSpec {
        PgBouncerSpec::default()
    }

    /// `listen_port`; below 32768 so it never meets an ephemeral port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// `auth_type`: `md5`, `scram-sha-256`, `plain`, `trust`, …
    pub fn auth_type(mut self, t: &str) -> Self {
        self.auth_type = t.into();
        self
    }

    /// `client_tls_sslmode`; anything but `disable` also writes `client_tls_key_file` and
    /// `client_tls_cert_file` (a certificate from the cluster's CA for
    /// [`DEFAULT_CERT_NAMES`], like the cluster's own).
    pub fn client_tls_sslmode(mut self, mode: &str) -> Self {
        self.client_tls_sslmode = mode.into();
        self
    }

    /// A user of the auth_file, with its password in plain text (PgBouncer derives md5 and
    /// SCRAM from it).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.into(), password.into()));
        self
    }
}

/// A running PgBouncer; dropping it stops it (SIGTERM, then SIGKILL) and removes its dir.
pub struct PgBouncer {
    child: Child,
    port: u16,
    ini: String,
    // Dropped after Drop::drop stopped the process.
    dir: tempfile::TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer in `ns` with `[databases] * = host=127.0.0.1 port=<cluster port>` and
    /// waits (bounded) until its log says it listens.
    pub fn start(ns: &Netns, cluster: &Cluster, spec: PgBouncerSpec) -> PgBouncer {
        let dir = postgres_dir("bouncer-");
        let owner = postgres_ids();
        let root = dir.path();

        let mut userlist = String::new();
        for (user, password) in &spec.users {
            let _ = writeln!(userlist, "{} {}", quoted(user), quoted(password));
        }
        write_owned(&root.join("userlist.txt"), &userlist, 0o600, owner);

        let mut ini = String::new();
        let _ = writeln!(ini, "[databases]");
        let _ = writeln!(ini, "* = host=127.0.0.1 port={}", cluster.port());
        let _ = writeln!(ini, "[pgbouncer]");
        let _ = writeln!(ini, "listen_addr = 127.0.0.1");
        let _ = writeln!(ini, "listen_port = {}", spec.port);
        let _ = writeln!(ini, "unix_socket_dir = {}", root.display());
        let _ = writeln!(ini, "pidfile = {}", root.join("pgbouncer.pid").display());
        let _ = writeln!(ini, "logfile = {}", root.join("pgbouncer.log").display());
        let _ = writeln!(ini, "auth_type = {}", spec.auth_type);
        let _ = writeln!(ini, "auth_file = {}", root.join("userlist.txt").display());
        let _ = writeln!(ini, "client_tls_sslmode = {}", spec.client_tls_sslmode);
        if spec.client_tls_sslmode != "disable" {
            let cert = cluster.issue_cert(DEFAULT_CERT_NAMES);
            write_owned(&root.join("server.crt"), &cert.cert_pem, 0o644, owner);
            write_owned(&root.join("server.key"), &cert.key_pem, 0o600, owner);
            let _ = writeln!(
                ini,
                "client_tls_cert_file = {}",
                root.join("server.crt").display()
            );
            let _ = writeln!(
                ini,
                "client_tls_key_file = {}",
                root.join("server.key").display()
            );
        }
        write_owned(&root.join("pgbouncer.ini"), &ini, 0o644, owner);

        // setpriv execs (no fork, unlike runuser), so the child *is* PgBouncer and killing it
        // stops it. PgBouncer refuses to run as root.
        let mut cmd = ns.cmd("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
            PGBOUNCER_BIN,
        ])
        .arg(root.join("pgbouncer.ini"))
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .env("LC_ALL", "C")
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {PGBOUNCER_BIN} (apt install pgbouncer): {e}")
        });
        let mut bouncer = PgBouncer {
            child,
            port: spec.port,
            ini,
            dir,
        };
        bouncer.wait_listening();
        bouncer
    }

    /// Polls the log for PgBouncer's "listening on" line; panics with the log if it exits or
    /// does not get there within [`START_TIMEOUT`].
    fn wait_listening(&mut self) {
        let want = format!("listening on 127.0.0.1:{}", self.port);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            if log.contains(&want) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "pgbouncer exited ({status}) before listening\n--- ini ---\n{}\n--- log ---\n{log}",
                    self.ini
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "pgbouncer not listening within {START_TIMEOUT:?}\n--- ini ---\n{}\n--- log ---\n{log}",
                    self.ini
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The generated pgbouncer.ini.
    pub fn ini(&self) -> &str {
        &self.ini
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The first line of `pgbouncer --version`, e.g. `PgBouncer 1.18.0`.
    pub fn version() -> String {
        version_line(PGBOUNCER_BIN)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGTERM lets it remove its pid file and socket; SIGKILL if it lingers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
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

/// An auth_file field: double quotes, inner quotes doubled.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}
