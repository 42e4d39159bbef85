//! Real PostgreSQL clusters (Debian's 15 unless [`ClusterSpec::version`] picks another major),
//! created with initdb in a temp dir and run inside a [`Netns`].

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::files::{postgres_dir, postgres_ids, write_owned, write_with_mode};
use super::netns::Netns;
use super::pgdist::PgDist;
use super::process::{CLEAN_PATH, Captured, run, run_ok, run_with_timeout};
use super::tls::{IssuedCert, TestCa};

/// Where Debian's PostgreSQL 15 server binaries live (not the /usr/bin Perl wrappers).
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// SANs of the default server certificate.
pub const DEFAULT_CERT_NAMES: &[&str] = &["localhost", "dual.test", "127.0.0.1", "::1"];

const INITDB_TIMEOUT: Duration = Duration::from_secs(90);
const START_TIMEOUT: Duration = Duration::from_secs(45);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
const PSQL_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of a PostgreSQL 15 binary, e.g. `pg_bin("psql")`.
pub fn pg_bin(name: &str) -> String {
    format!("{PG_BIN}/{name}")
}

/// How to build a [`Cluster`]. Defaults: port 5432, listen on `127.0.0.1,::1`, ssl off,
/// initdb's pg_hba.conf (trust for local and loopback), max_connections 20,
/// server certificate for [`DEFAULT_CERT_NAMES`].
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    ssl: bool,
    listen: String,
    port: u16,
    hba: Option<Vec<String>>,
    password_encryption: Option<String>,
    roles: Vec<(String, String)>,
    conf: Vec<String>,
    max_connections: u32,
    server_cert_names: Vec<String>,
    /// (certificate chain PEM, key PEM) served instead of the rcgen-made certificate.
    server_cert_pem: Option<(String, String)>,
    /// PEM written as `ssl_ca_file` (the server then requests client certificates).
    ssl_ca_pem: Option<String>,
    server: PgDist,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            ssl: false,
            listen: "127.0.0.1,::1".into(),
            port: 5432,
            hba: None,
            password_encryption: None,
            roles: Vec::new(),
            conf: Vec::new(),
            max_connections: 20,
            server_cert_names: DEFAULT_CERT_NAMES.iter().map(|s| s.to_string()).collect(),
            server_cert_pem: None,
            ssl_ca_pem: None,
            server: PgDist::Debian15,
        }
    }
}

impl ClusterSpec {
    pub fn new() -> ClusterSpec {
        ClusterSpec::default()
    }

    /// `ssl = on` with the rcgen-made server certificate and key.
    pub fn ssl(mut self, on: bool) -> Self {
        self.ssl = on;
        self
    }

    /// `listen_addresses`, e.g. `"127.0.0.1"`, `"::1"`, `"127.0.0.1,::1"`, `"*"`.
    pub fn listen(mut self, addresses: &str) -> Self {
        self.listen = addresses.into();
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// pg_hba.conf lines replacing the default; `local all postgres trust` is always prepended.
    pub fn hba(mut self, lines: &[&str]) -> Self {
        self.hba = Some(lines.iter().map(|s| s.to_string()).collect());
        self
    }

    /// `"md5"` or `"scram-sha-256"`: how passwords of [`ClusterSpec::role`]s are stored.
    pub fn password_encryption(mut self, method: &str) -> Self {
        self.password_encryption = Some(method.into());
        self
    }

    /// A LOGIN role created after start (call repeatedly for several).
    pub fn role(mut self, name: &str, password: &str) -> Self {
        self.roles.push((name.into(), password.into()));
        self
    }

    /// Extra postgresql.conf lines (appended last, so they override).
    pub fn conf(mut self, lines: &str) -> Self {
        self.conf.push(lines.into());
        self
    }

    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// SANs of the server certificate (IP literals become IP SANs), e.g. a wrong name.
    pub fn server_cert_names(mut self, names: &[&str]) -> Self {
        self.server_cert_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Serve this certificate file content (leaf first, then any intermediates) and key
    /// instead of the rcgen-made certificate; [`Cluster::server_cert`] is then unrelated.
    pub fn server_cert_pem(mut self, chain_pem: &str, key_pem: &str) -> Self {
        self.server_cert_pem = Some((chain_pem.into(), key_pem.into()));
        self
    }

    /// `ssl_ca_file` with this PEM: the server requests (and verifies) client certificates.
    pub fn ssl_ca_pem(mut self, pem: &str) -> Self {
        self.ssl_ca_pem = Some(pem.into());
        self
    }

    /// Run the npm build of this major version (13–18, see support/pgdist.rs) instead of
    /// Debian's PostgreSQL 15. Client tools (`psql`, `pg_isready`) stay Debian's 15.
    pub fn version(mut self, major: u32) -> Self {
        self.server = PgDist::Npm(major);
        self
    }
}

/// A running PostgreSQL server. Dropping it stops the server (`-m immediate`) and removes
/// its directory, also when the test panics.
pub struct Cluster {
    netns: String,
    port: u16,
    ca: TestCa,
    server_cert: IssuedCert,
    server: PgDist,
    // Field order: `dir` is dropped (removed) after Drop::drop stopped the server.
    dir: tempfile::TempDir,
}

impl Cluster {
    pub fn start(ns: &Netns, spec: ClusterSpec) -> Cluster {
        let dir = postgres_dir("");
        let owner = postgres_ids();

        // TLS material.
        let ca = TestCa::new("pgreach test CA");
        let names: Vec<&str> = spec.server_cert_names.iter().map(String::as_str).collect();
        let server_cert = ca.issue(&names);
        let root = dir.path();
        write_with_mode(&root.join("ca.pem"), ca.cert_pem(), 0o644);
        let (served_cert, served_key) = match &spec.server_cert_pem {
            Some((cert, key)) => (cert.as_str(), key.as_str()),
            None => (server_cert.cert_pem.as_str(), server_cert.key_pem.as_str()),
        };
        write_owned(&root.join("server.crt"), served_cert, 0o644, owner);
        write_owned(&root.join("server.key"), served_key, 0o600, owner);
        if let Some(pem) = &spec.ssl_ca_pem {
            write_owned(&root.join("client_ca.pem"), pem, 0o644, owner);
        }

        // initdb (needs no network: runs in the root namespace). Its instructions go to the
        // captured stdout: initdb 13 has no --no-instructions.
        let data = root.join("data");
        let mut initdb = Command::new("runuser");
        initdb
            .args(["-u", "postgres", "--"])
            .args(spec.server.argv("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]);
        clean_env(&mut initdb).current_dir(root);
        run_ok(&mut initdb, INITDB_TIMEOUT, "initdb");

        // postgresql.conf: appended settings override initdb's.
        let mut conf = String::from("\n# --- pgreach test harness ---\n");
        let q = |s: &str| s.replace('\'', "''");
        let _ = writeln!(conf, "listen_addresses = '{}'", q(&spec.listen));
        let _ = writeln!(conf, "port = {}", spec.port);
        let _ = writeln!(
            conf,
            "unix_socket_directories = '{}'",
            q(&root.display().to_string())
        );
        let _ = writeln!(conf, "max_connections = {}", spec.max_connections);
        let _ = writeln!(conf, "ssl = {}", if spec.ssl { "on" } else { "off" });
        let _ = writeln!(
            conf,
            "ssl_cert_file = '{}'",
            root.join("server.crt").display()
        );
        let _ = writeln!(
            conf,
            "ssl_key_file = '{}'",
            root.join("server.key").display()
        );
        if spec.ssl_ca_pem.is_some() {
            let _ = writeln!(
                conf,
                "ssl_ca_file = '{}'",
                root.join("client_ca.pem").display()
            );
        }
        conf.push_str(
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nlog_connections = on\nlog_disconnections = on\n\
             logging_collector = off\nlog_line_prefix = '%m [%p] %q%u@%d '\n",
        );
        if let Some(m) = &spec.password_encryption {
            let _ = writeln!(conf, "password_encryption = '{}'", q(m));
        }
        for extra in &spec.conf {
            conf.push_str(extra);
            conf.push('\n');
        }
        append_file(&data.join("postgresql.conf"), &conf);
        if let Some(lines) = &spec.hba {
            let mut hba = String::from("local all postgres trust\n");
            for l in lines {
                hba.push_str(l);
                hba.push('\n');
            }
            std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        }

        let cluster = Cluster {
            netns: ns.name().to_owned(),
            port: spec.port,
            ca,
            server_cert,
            server: spec.server,
            dir,
        };

        // Start inside the namespace. From here on, Drop stops whatever did start.
        let mut start = cluster.pg_ctl_cmd();
        start
            .arg("-l")
            .arg(cluster.log_path())
            .args(["-w", "-t", "30", "start"]);
        let out = run(&mut start, START_TIMEOUT);
        if !out.success() {
            panic!(
                "PostgreSQL did not start in netns {}\n{}\n--- server log (tail) ---\n{}",
                cluster.netns,
                out.describe(),
                cluster.log_tail(60)
            );
        }

        for (name, password) in &spec.roles {
            cluster.psql(&format!(
                "CREATE ROLE {} LOGIN PASSWORD {}",
                quote_ident(name),
                quote_literal(password)
            ));
        }
        cluster
    }

    fn pg_ctl_cmd(&self) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.netns,
            "runuser",
            "-u",
            "postgres",
            "--",
        ])
        .args(self.server.argv("pg_ctl"))
        .arg("-D")
        .arg(self.data_dir());
        clean_env(&mut c).current_dir(self.dir.path());
        c
    }

    /// A command for a PostgreSQL binary (`psql`, `pg_isready`, ...) run as root inside the
    /// cluster's namespace, with a cleared environment (PATH, HOME=cluster dir, LC_ALL=C).
    pub fn pg_cmd(&self, binary: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns]).arg(pg_bin(binary));
        clean_env(&mut c).env("HOME", self.dir.path());
        c
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn netns_name(&self) -> &str {
        &self.netns
    }

    /// The server build this cluster runs.
    pub fn server(&self) -> PgDist {
        self.server
    }

    /// The temp dir holding everything (also the Unix socket directory).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// PEM file of the CA that signed the server certificate (mode 0644).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn ca_pem(&self) -> &str {
        self.ca.cert_pem()
    }

    pub fn ca_der(&self) -> &[u8] {
        self.ca.cert_der()
    }

    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    pub fn server_cert(&self) -> &IssuedCert {
        &self.server_cert
    }

    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    pub fn server_key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Another certificate from the same CA (e.g. a client certificate).
    pub fn issue_cert(&self, names: &[&str]) -> IssuedCert {
        self.ca.issue(names)
    }

    /// Runs `psql -Atc sql` as postgres over the Unix socket; panics on failure; returns stdout
    /// with the trailing newline removed.
    pub fn psql(&self, sql: &str) -> String {
        let out = self.psql_try(sql);
        if !out.success() {
            panic!(
                "psql failed: {sql}\n{}\n--- server log (tail) ---\n{}",
                out.describe(),
                self.log_tail(20)
            );
        }
        out.stdout_str().trim_end_matches('\n').to_owned()
    }

    /// [`Cluster::psql`] without the panic.
    pub fn psql_try(&self, sql: &str) -> Captured {
        let mut c = self.pg_cmd("psql");
        c.arg("-X")
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-Atc", sql]);
        run(&mut c, PSQL_TIMEOUT)
    }

    /// `pg_isready -h host -p port -t 5` inside the namespace; its exit code
    /// (0 accepting, 1 rejecting, 2 no response, 3 bad parameters).
    pub fn pg_isready(&self, host: &str) -> i32 {
        let mut c = self.pg_cmd("pg_isready");
        c.args(["-h", host, "-p", &self.port.to_string(), "-t", "5"]);
        run(&mut c, PSQL_TIMEOUT).code()
    }

    /// Replaces pg_hba.conf (again prepending `local all postgres trust`) and reloads.
    pub fn set_hba(&self, lines: &[&str]) {
        let mut hba = String::from("local all postgres trust\n");
        for l in lines {
            hba.push_str(l);
            hba.push('\n');
        }
        std::fs::write(self.data_dir().join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        self.reload();
    }

    /// `SELECT pg_reload_conf()`, then waits briefly so the postmaster has re-read its files.
    pub fn reload(&self) {
        self.psql("SELECT pg_reload_conf()");
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = self.pg_ctl_cmd();
        stop.args(["-m", "immediate", "-w", "-t", "10", "stop"]);
        let stopped = run_with_timeout(&mut stop, STOP_TIMEOUT).is_ok_and(|o| o.success());
        if !stopped {
            // Namespace already gone, or pg_ctl hung: kill the postmaster directly.
            if let Ok(pidfile) = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
                && let Some(pid) = pidfile.lines().next().map(str::trim)
            {
                let _ = run_with_timeout(
                    Command::new("kill").args(["-9", pid]),
                    Duration::from_secs(5),
                );
            }
        }
        // `dir` (TempDir) is removed when the fields drop, right after this.
    }
}

fn clean_env(c: &mut Command) -> &mut Command {
    c.env_clear().env("PATH", CLEAN_PATH).env("LC_ALL", "C")
}

fn append_file(path: &Path, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("append {}: {e}", path.display()));
}

/// SQL identifier quoting.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// SQL string literal quoting (standard_conforming_strings is on).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

// --- Standbys made from base backups, and direct pg_ctl access (see support/standby.rs) ---

/// How [`Cluster::from_base_backup`] makes a second cluster from a running one.
#[derive(Debug, Clone)]
pub struct BaseBackupSpec {
    /// The new cluster's port (in the same namespace as the primary).
    pub port: u16,
    /// Extra postgresql.conf lines, appended last (e.g. `hot_standby = off`).
    pub conf: Vec<String>,
    /// Extra postgresql.auto.conf lines, appended after the `primary_conninfo` that
    /// `pg_basebackup -R` wrote, so they override it.
    pub auto_conf: Vec<String>,
    /// `-X stream` (the backup holds the WAL it needs to become consistent) or `-X none`
    /// (it does not: the standby waits for WAL from `primary_conninfo`).
    pub include_wal: bool,
    /// `pg_ctl -w`: wait until the server is ready or a standby in recovery. Without it the
    /// caller waits for whatever state it expects.
    pub wait: bool,
}

impl BaseBackupSpec {
    pub fn new(port: u16) -> BaseBackupSpec {
        BaseBackupSpec {
            port,
            conf: Vec::new(),
            auto_conf: Vec::new(),
            include_wal: true,
            wait: true,
        }
    }
}

impl Cluster {
    /// A new cluster in `ns` made with `pg_basebackup -R -c fast` from `primary` over TCP to
    /// 127.0.0.1 as `postgres` (so the primary's pg_hba.conf needs `host replication all
    /// 127.0.0.1/32 trust`, which initdb's default has, and `wal_level = replica`), then
    /// started as a standby on `spec.port`, with a certificate from a CA of its own.
    /// Dropping it stops it like any [`Cluster`]; drop it before its primary.
    pub fn from_base_backup(ns: &Netns, primary: &Cluster, spec: BaseBackupSpec) -> Cluster {
        let dir = postgres_dir("");
        let owner = postgres_ids();
        let root = dir.path();

        let ca = TestCa::new("pgreach test CA (standby)");
        let server_cert = ca.issue(DEFAULT_CERT_NAMES);
        write_with_mode(&root.join("ca.pem"), ca.cert_pem(), 0o644);
        write_owned(
            &root.join("server.crt"),
            &server_cert.cert_pem,
            0o644,
            owner,
        );
        write_owned(&root.join("server.key"), &server_cert.key_pem, 0o600, owner);

        let data = root.join("data");
        let mut backup = Command::new("ip");
        backup
            .args([
                "netns",
                "exec",
                ns.name(),
                "runuser",
                "-u",
                "postgres",
                "--",
            ])
            .arg(pg_bin("pg_basebackup"))
            .args(["-h", "127.0.0.1", "-p", &primary.port().to_string()])
            .args(["-U", "postgres", "-D"])
            .arg(&data)
            .args(["-R", "-c", "fast", "--no-sync", "-X"])
            .arg(if spec.include_wal { "stream" } else { "none" });
        clean_env(&mut backup).current_dir(root);
        let out = run(&mut backup, INITDB_TIMEOUT);
        if !out.success() {
            panic!(
                "pg_basebackup failed\n{}\n--- primary log (tail) ---\n{}",
                out.describe(),
                primary.log_tail(30)
            );
        }

        // The copied postgresql.conf still names the primary's port, socket directory and
        // certificate; settings appended later win.
        let mut conf = String::from("\n# --- pgreach test harness: standby ---\n");
        let _ = writeln!(conf, "port = {}", spec.port);
        let _ = writeln!(conf, "unix_socket_directories = '{}'", root.display());
        let _ = writeln!(
            conf,
            "ssl_cert_file = '{}'",
            root.join("server.crt").display()
        );
        let _ = writeln!(
            conf,
            "ssl_key_file = '{}'",
            root.join("server.key").display()
        );
        for extra in &spec.conf {
            conf.push_str(extra);
            conf.push('\n');
        }
        append_file(&data.join("postgresql.conf"), &conf);
        if !spec.auto_conf.is_empty() {
            let mut auto = String::new();
            for extra in &spec.auto_conf {
                auto.push_str(extra);
                auto.push('\n');
            }
            append_file(&data.join("postgresql.auto.conf"), &auto);
        }

        let cluster = Cluster {
            netns: ns.name().to_owned(),
            port: spec.port,
            ca,
            server_cert,
            server: primary.server,
            dir,
        };
        let mut start = cluster.pg_ctl_cmd();
        start.arg("-l").arg(cluster.log_path());
        if spec.wait {
            start.args(["-w", "-t", "30", "start"]);
        } else {
            start.args(["-W", "start"]);
        }
        let out = run(&mut start, START_TIMEOUT);
        if !out.success() {
            panic!(
                "standby did not start in netns {}\n{}\n--- server log (tail) ---\n{}",
                cluster.netns,
                out.describe(),
                cluster.log_tail(60)
            );
        }
        cluster
    }

    /// `pg_ctl -D <data>` run as postgres inside the namespace (add e.g.
    /// `["-m", "smart", "-W", "stop"]`), with a cleared environment.
    pub fn pg_ctl(&self) -> Command {
        self.pg_ctl_cmd()
    }

    /// The last `lines` lines of the server log.
    pub fn log_tail_lines(&self, lines: usize) -> String {
        self.log_tail(lines)
    }
}
