//! `pgreach exporter` against real clusters, hostile fake peers and a real Prometheus (Debian's
//! `prometheus` package), all inside network namespaces of the test's own: Prometheus scrapes
//! the exporter with the multi-target relabelling and the test reads the series back through
//! its HTTP API; two exporters share the targets by `hashmod`; scrapes arrive 100 at a time;
//! a silent server is answered within the scrape timeout; descriptors stay flat over thousands
//! of probes; the allow list refuses without a packet sent; a bad configuration is refused at
//! start and on reload.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterSpec, FakeOptions, FakeServer, Netns, Step, run_pgreach};

const BIN: &str = env!("CARGO_BIN_EXE_pgreach");
const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";
/// Any one HTTP exchange with the exporter or Prometheus.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Prometheus starting, or a series showing up in it.
const PROMETHEUS_WAIT: Duration = Duration::from_secs(90);

/// Runs `f` on a thread that has entered `ns`'s network namespace: sockets it creates live in
/// that namespace, where the exporter and Prometheus run.
fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", ns.name());
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("netns thread")
}

/// An HTTP answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    head: String,
    body: String,
    elapsed: Duration,
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.0: one request, the body ends at close), from the
/// calling thread, which must be in the right namespace.
fn get_here(port: u16, path: &str, headers: &[(&str, &str)]) -> Reply {
    let started = Instant::now();
    let mut s =
        TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("connect {port}: {e}"));
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
    let mut req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        elapsed: started.elapsed(),
    }
}

fn get(ns: &Netns, port: u16, path: &str, headers: &[(&str, &str)]) -> Reply {
    let path = path.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    in_netns(ns, move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        get_here(port, &path, &h)
    })
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A running `pgreach exporter` inside a namespace; killed on drop.
struct Exporter {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Exporter {
    fn start(ns: &Netns, config: &str, extra: &[&str]) -> Exporter {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgreach-exporter.yml");
        std::fs::write(&path, config).unwrap();
        let mut cmd = ns.cmd(BIN);
        cmd.args(["exporter", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .args(extra)
            .env_clear()
            .env("PATH", support::process::CLEAN_PATH)
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn exporter");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                    let port: u16 = rest.split('/').next().unwrap().parse().unwrap();
                    let _ = tx.send(port);
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let mut exporter = Exporter {
            child,
            port: 0,
            stderr,
            config: path,
            _dir: dir,
        };
        exporter.port = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the exporter did not start:\n{}", exporter.log()));
        exporter
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn get(&self, ns: &Netns, path: &str) -> Reply {
        get(ns, self.port, path, &[])
    }

    fn probe(&self, ns: &Netns, target: &str, module: &str) -> Reply {
        self.get(
            ns,
            &format!("/probe?target={}&module={module}", enc(target)),
        )
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    fn hangup(&self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::SIGHUP,
        )
        .unwrap();
    }

    /// A sample of the exporter's own `/metrics`, 0 when absent.
    fn own_metric(&self, ns: &Netns, series: &str) -> f64 {
        sample(&self.get(ns, "/metrics").body, series).unwrap_or(0.0)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample written exactly `series` (name and labels) in a text answer.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A running Prometheus inside a namespace; killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(ns: &Netns, config: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, config).unwrap();
        let check = Command::new(PROMTOOL)
            .args(["check", "config"])
            .arg(&path)
            .output()
            .expect("promtool (apt-get install prometheus)");
        assert!(
            check.status.success(),
            "promtool check config:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let port = 9090;
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = ns
            .cmd(PROMETHEUS)
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn prometheus");
        let p = Prometheus { child, port, dir };
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            let ready = in_netns(ns, move || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && get_here(port, "/-/ready", &[]).status == 200
            });
            if ready {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready:\n{}",
                p.log()
            );
            thread::sleep(Duration::from_millis(250));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's result vector.
    fn query(&self, ns: &Netns, q: &str) -> Vec<Value> {
        let r = get(
            ns,
            self.port,
            &format!("/api/v1/query?query={}", enc(q)),
            &[],
        );
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// `q`'s result once `done` accepts it, waiting for scrapes up to [`PROMETHEUS_WAIT`].
    fn wait_for(&self, ns: &Netns, q: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + PROMETHEUS_WAIT;
        loop {
            let result = self.query(ns, q);
            if done(&result) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "{q} never became ready: {result:?}\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// label values of a result → its value.
fn by_labels(result: &[Value], labels: &[&str]) -> BTreeMap<Vec<String>, f64> {
    result
        .iter()
        .map(|r| {
            let key = labels
                .iter()
                .map(|l| r["metric"][*l].as_str().unwrap_or_default().to_owned())
                .collect();
            let value = r["value"][1].as_str().unwrap().parse().unwrap();
            (key, value)
        })
        .collect()
}

/// The multi-target scrape job: the target becomes `__param_target` and `instance`, the
/// exporter the address scraped.
fn scrape_job(name: &str, module: &str, targets: &[String], exporter: u16) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "  - job_name: {name}\n    metrics_path: /probe\n    params: {{ module: [{module}] }}\n\
         \x20   static_configs:\n      - targets: [{}]\n    relabel_configs:\n\
         \x20     - source_labels: [__address__]\n        target_label: __param_target\n\
         \x20     - source_labels: [__param_target]\n        target_label: instance\n\
         \x20     - target_label: __address__\n        replacement: 127.0.0.1:{exporter}\n",
        list.join(", ")
    )
}

const GLOBAL: &str = "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\nscrape_configs:\n";

/// Runs promtool check metrics on an answer (the text format).
fn promtool_accepts(body: &str) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n--- answer ---\n{body}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Four real clusters (healthy; ssl off; a certificate for another name; pg_hba reject) and a
/// closed port, and a CA file trusting every cluster's certificate.
struct Fleet {
    healthy: Cluster,
    _ssl_off: Cluster,
    _wrong_name: Cluster,
    _reject: Cluster,
    cas: PathBuf,
    _dir: tempfile::TempDir,
}

const PORTS: [u16; 5] = [5433, 5434, 5435, 5436, 5437];

impl Fleet {
    fn start(ns: &Netns) -> Fleet {
        let scram = ["host all all all scram-sha-256"];
        let healthy = Cluster::start(
            ns,
            ClusterSpec::new()
                .ssl(true)
                .port(PORTS[0])
                .hba(&scram)
                .max_connections(250),
        );
        let ssl_off = Cluster::start(ns, ClusterSpec::new().port(PORTS[1]).hba(&scram));
        let wrong_name = Cluster::start(
            ns,
            ClusterSpec::new()
                .ssl(true)
                .port(PORTS[2])
                .hba(&scram)
                .server_cert_names(&["wrong.example"]),
        );
        let reject = Cluster::start(
            ns,
            ClusterSpec::new()
                .ssl(true)
                .port(PORTS[3])
                .hba(&["host all all all reject"]),
        );
        let dir = tempfile::tempdir().unwrap();
        let cas = dir.path().join("cas.pem");
        let pem: String = [&healthy, &ssl_off, &wrong_name, &reject]
            .iter()
            .map(|c| c.ca_pem().to_owned())
            .collect();
        std::fs::write(&cas, pem).unwrap();
        Fleet {
            healthy,
            _ssl_off: ssl_off,
            _wrong_name: wrong_name,
            _reject: reject,
            cas,
            _dir: dir,
        }
    }

    fn targets(&self) -> Vec<String> {
        PORTS.iter().map(|p| format!("localhost:{p}")).collect()
    }

    fn config(&self, extra: &str) -> String {
        format!(
            "modules:\n  verify: {{ sslmode: verify-full, sslrootcert: {}, user: monitor, dbname: postgres, connect_timeout: 3 }}\n  default: {{ user: monitor, dbname: postgres }}\n{extra}",
            self.cas.display()
        )
    }
}

#[test]
fn prometheus_reads_probe_success_and_the_sslmode_matrix() {
    let ns = Netns::new();
    let fleet = Fleet::start(&ns);
    let exporter = Exporter::start(&ns, &fleet.config(""), &[]);
    let targets = fleet.targets();

    // The answer itself passes promtool, and carries the certificate's expiry.
    let healthy = exporter.probe(&ns, &targets[0], "verify");
    assert_eq!(healthy.status, 200, "{healthy:?}");
    promtool_accepts(&healthy.body);
    assert_eq!(
        sample(&healthy.body, "probe_success"),
        Some(1.0),
        "{}",
        healthy.body
    );
    let expiry = sample(&healthy.body, "probe_ssl_earliest_cert_expiry").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(expiry > now, "{}", healthy.body);
    for phase in ["dns", "tcp", "ssl_request", "tls", "startup"] {
        assert!(
            healthy.body.contains(&format!("phase=\"{phase}\"")),
            "{phase}\n{}",
            healthy.body
        );
    }
    assert!(
        healthy
            .body
            .contains("pgreach_auth_method{address=\"127.0.0.1:5433\",method=\"sasl\"} 1")
    );
    assert!(
        healthy
            .body
            .contains("pgreach_tls_version_info{address=\"127.0.0.1:5433\",version=\"TLSv1.3\"} 1")
    );
    // So does every failure's answer (findings, skipped phases, no certificate).
    for t in &targets[1..] {
        let r = exporter.probe(&ns, t, "verify");
        assert_eq!(r.status, 200, "{t}: {r:?}");
        promtool_accepts(&r.body);
    }
    let open = get(
        &ns,
        exporter.port,
        &format!("/probe?target={}&module=verify", enc(&targets[0])),
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    );
    assert!(
        open.head.contains("application/openmetrics-text"),
        "{}",
        open.head
    );
    assert!(open.body.ends_with("# EOF\n"));

    let config = format!(
        "{GLOBAL}{}",
        scrape_job("pgreach", "verify", &targets, exporter.port)
    );
    let prom = Prometheus::start(&ns, &config);
    // Prometheus asks for OpenMetrics: `up` 1 means it parsed every answer.
    prom.wait_for(&ns, "up{job=\"pgreach\"} == 1", |r| {
        r.len() == targets.len()
    });
    let success = prom.wait_for(&ns, "probe_success", |r| r.len() == targets.len());
    let success = by_labels(&success, &["instance"]);
    let expected_success = [1.0, 0.0, 0.0, 0.0, 0.0];
    for (t, want) in targets.iter().zip(expected_success) {
        assert_eq!(
            success[&vec![t.clone()]],
            want,
            "probe_success of {t}: {success:?}"
        );
    }

    let modes = prom.wait_for(&ns, "pgreach_sslmode_reaches_auth", |r| {
        r.len() == 6 * targets.len()
    });
    let modes = by_labels(&modes, &["instance", "sslmode"]);
    // disable, allow, prefer, require, verify-ca, verify-full
    let expected: [[f64; 6]; 5] = [
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], // healthy
        [1.0, 1.0, 1.0, 0.0, 0.0, 0.0], // ssl off
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0], // certificate for another name
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], // pg_hba reject
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], // closed
    ];
    let names = [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ];
    for (t, row) in targets.iter().zip(expected) {
        for (mode, want) in names.iter().zip(row) {
            let got = modes[&vec![t.clone(), mode.to_string()]];
            assert_eq!(got, want, "{t} sslmode={mode}: {modes:?}");
        }
    }

    let findings = prom.query(&ns, "pgreach_finding");
    let findings = by_labels(&findings, &["instance", "code"]);
    for (target, code) in [
        (&targets[1], "ssl_not_supported"),
        (&targets[2], "cert_name_mismatch"),
        (&targets[3], "pg_hba_reject"),
        (&targets[4], "address_refused"),
    ] {
        assert!(
            findings.contains_key(&vec![target.clone(), code.to_owned()]),
            "{target}: no {code} in {findings:?}"
        );
    }
    drop(prom);
    assert_eq!(fleet.healthy.port(), PORTS[0]);
}

#[test]
fn refusals_name_the_reason_and_the_allow_list_sends_no_packet() {
    let ns = Netns::new();
    // Names the namespace resolves (its own /etc/hosts) to addresses outside the allow list.
    let hosts = ns.etc_dir().join("hosts");
    let mut h = std::fs::read_to_string(&hosts).unwrap();
    h.push_str("10.99.0.1 outside.test\n127.0.0.1 mixed.test\n10.99.0.2 mixed.test\n10.99.0.3 x.db.internal\n");
    std::fs::write(&hosts, h).unwrap();
    // A route, so that a connection to 10.99/16 would send packets (to nowhere); a counter for
    // each: none may leave for the refused addresses, while the vouched name's address (a
    // positive control) does get its SYN.
    ns.run_ok(&["ip", "route", "add", "10.99.0.0/16", "dev", "lo"]);
    ns.nft_rule(
        "count",
        "output",
        "ip daddr 10.99.0.0/16 ip daddr != 10.99.0.3 counter",
    );
    ns.nft_rule("count", "output", "ip daddr 10.99.0.3 counter");
    let config = "allow: [127.0.0.0/8, \"*.db.internal\"]\nmodules:\n  default: { user: monitor, password: hunter2 }\n";
    let exporter = Exporter::start(&ns, config, &["-v"]);

    let cases: &[(&str, u16, &str)] = &[
        ("/probe", 400, "missing target"),
        ("/probe?module=default", 400, "missing target"),
        (
            "/probe?target=localhost:1&module=nope",
            400,
            "unknown module \"nope\"",
        ),
        (
            "/probe?target=localhost:1&sslmode=disable",
            400,
            "module setting",
        ),
        (
            "/probe?target=localhost:1&password=x",
            400,
            "module setting",
        ),
        (
            "/probe?target=localhost:1&bogus=1",
            400,
            "unknown parameter",
        ),
        (
            "/probe?target=mysql%3A%2F%2Fh",
            400,
            "unsupported URI scheme",
        ),
        (
            "/probe?target=postgres%3A%2F%2Fu%3Asecret%40localhost%2Fdb",
            400,
            "may not set password",
        ),
        (
            "/probe?target=host%3Dlocalhost%20sslrootcert%3D%2Fetc%2Fshadow",
            400,
            "may not set sslrootcert",
        ),
        (
            "/probe?target=10.99.0.9%3A5432",
            403,
            "10.99.0.9 is outside the allow list",
        ),
        (
            "/probe?target=%5B%3A%3Affff%3A10.99.0.9%5D%3A5432",
            403,
            "outside the allow list",
        ),
        (
            "/probe?target=host%3Dlocalhost%20hostaddr%3D10.99.0.4",
            403,
            "outside the allow list",
        ),
        (
            "/probe?target=outside.test%3A5432",
            403,
            "outside.test resolves to 10.99.0.1",
        ),
        (
            "/probe?target=mixed.test%3A5432",
            403,
            "resolves to 10.99.0.2",
        ),
        (
            "/probe?target=%2Fvar%2Frun%2Fpostgresql",
            403,
            "Unix socket",
        ),
        ("/nothing", 404, "not found"),
    ];
    for (path, status, words) in cases {
        let r = exporter.get(&ns, path);
        assert_eq!(r.status, *status, "{path}: {r:?}");
        assert!(r.body.contains(words), "{path}: {}", r.body);
        assert_eq!(r.body.lines().count(), 1, "{path}: one line: {}", r.body);
        assert!(
            !r.body.contains("secret") && !r.body.contains("hunter2"),
            "{}",
            r.body
        );
    }
    // One scrape is a bounded amount of work: 17 hosts are refused.
    let many = format!("host={}", vec!["localhost"; 17].join(","));
    let r = exporter.probe(&ns, &many, "default");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("at most 16"), "{}", r.body);

    // A name the list vouches for may resolve anywhere: probed (and unanswered here).
    let vouched = get(
        &ns,
        exporter.port,
        "/probe?target=x.db.internal%3A5432",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "2")],
    );
    assert_eq!(vouched.status, 200, "{vouched:?}");
    assert_eq!(sample(&vouched.body, "probe_success"), Some(0.0));
    let counted = ns.run_ok(&["nft", "list", "table", "inet", "count"]);
    let packets: Vec<u64> = counted
        .split("packets ")
        .skip(1)
        .map(|s| s.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(packets.len(), 2, "{counted}");
    assert_eq!(
        packets[0], 0,
        "a packet left for a refused address\n{counted}"
    );
    assert!(packets[1] > 0, "the control counted nothing\n{counted}");

    let m = exporter.get(&ns, "/metrics").body;
    promtool_accepts(&m);
    assert_eq!(
        sample(
            &m,
            "pgreach_exporter_refused_requests_total{reason=\"bad_request\"}"
        ),
        Some(10.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "pgreach_exporter_refused_requests_total{reason=\"forbidden\"}"
        ),
        Some(6.0),
        "{m}"
    );
    let log = exporter.log();
    assert!(!log.contains("secret") && !log.contains("hunter2"), "{log}");
    assert!(log.contains("outside the allow list"), "{log}");
    let index = exporter.get(&ns, "/");
    assert!(
        index.body.contains("password: ***") && !index.body.contains("hunter2"),
        "{}",
        index.body
    );
    assert_eq!(exporter.get(&ns, "/-/healthy").status, 200);
}

#[test]
fn a_bad_configuration_is_refused_at_start_and_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "modules:\n  verify:\n    user: monitor\n    sslmode: verify_full\n",
    )
    .unwrap();
    let run = run_pgreach(
        None,
        &[
            "exporter",
            "--listen",
            "127.0.0.1:0",
            "--config",
            bad.to_str().unwrap(),
        ],
        &[],
    );
    run.expect_status(2);
    for words in ["bad.yml", "line 4", "sslmode", "verify_full"] {
        assert!(run.stderr.contains(words), "{words}: {run}");
    }

    let ns = Netns::new();
    let exporter = Exporter::start(&ns, "modules:\n  default: { user: monitor }\n", &[]);
    std::fs::write(
        &exporter.config,
        "modules:\n  default: { sslmod: require }\n",
    )
    .unwrap();
    exporter.hangup();
    let failed = "pgreach_exporter_config_reloads_total{result=\"failure\"}";
    wait_until(
        || exporter.own_metric(&ns, failed) == 1.0,
        "a failed reload is counted",
    );
    assert!(
        exporter
            .log()
            .contains("reload failed, keeping the running configuration"),
        "{}",
        exporter.log()
    );
    assert!(exporter.log().contains("sslmod"), "{}", exporter.log());
    assert_eq!(
        exporter.own_metric(&ns, "pgreach_exporter_config_last_reload_successful"),
        0.0
    );
    // The old configuration still serves.
    assert_eq!(exporter.probe(&ns, "localhost:1", "default").status, 200);

    std::fs::write(
        &exporter.config,
        "modules:\n  default: {}\n  quick: { connect_timeout: 1 }\n",
    )
    .unwrap();
    exporter.hangup();
    let ok = "pgreach_exporter_config_reloads_total{result=\"success\"}";
    wait_until(
        || exporter.own_metric(&ns, ok) == 1.0,
        "a good reload is counted",
    );
    assert_eq!(exporter.probe(&ns, "localhost:1", "quick").status, 200);
    assert_eq!(
        exporter.own_metric(&ns, "pgreach_exporter_config_last_reload_successful"),
        1.0
    );
}

fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Scrapes `paths` all at once, each on a thread of its own, with `headers`.
fn scrape_together(
    ns: &Netns,
    port: u16,
    paths: Vec<String>,
    headers: &[(&str, &str)],
) -> Vec<Reply> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let start = Arc::new(std::sync::Barrier::new(paths.len()));
    let ns_path = format!("/run/netns/{}", ns.name());
    let handles: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let (headers, start, ns_path) = (headers.clone(), start.clone(), ns_path.clone());
            thread::spawn(move || {
                let file = std::fs::File::open(&ns_path).unwrap();
                nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                let h: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                start.wait();
                get_here(port, &path, &h)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn silent_server(ns: &Netns, connections: usize) -> FakeServer {
    in_netns(ns, move || {
        FakeServer::with_options(
            vec![Step::Drain(20_000)],
            FakeOptions {
                connections,
                accept_timeout: Duration::from_secs(120),
                io_timeout: Duration::from_secs(30),
                ..FakeOptions::default()
            },
        )
    })
}

#[test]
fn a_hundred_scrapes_at_once_a_silent_server_and_no_leaks() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .port(5433)
            .hba(&["host all all all scram-sha-256"])
            .max_connections(250),
    );
    let silent = silent_server(&ns, 400);
    let garbage = in_netns(&ns, || {
        FakeServer::spawn_n(
            vec![
                Step::Expect(8),
                Step::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
                Step::Close,
            ],
            5000,
        )
    });
    let exporter = Exporter::start(
        &ns,
        "modules:\n  default: { user: monitor, dbname: postgres }\n",
        &[],
    );

    // 100 at once: 60 healthy, 20 silent, 20 hostile; Prometheus would allow 3 s.
    let mut paths = Vec::new();
    for i in 0..100 {
        let target = match i % 5 {
            0 => format!("127.0.0.1:{}", silent.port()),
            1 => format!("127.0.0.1:{}", garbage.port()),
            _ => format!("localhost:{}", cluster.port()),
        };
        paths.push(format!("/probe?target={}", enc(&target)));
    }
    let started = Instant::now();
    let replies = scrape_together(
        &ns,
        exporter.port,
        paths.clone(),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "3")],
    );
    let all = started.elapsed();
    for (path, r) in paths.iter().zip(&replies) {
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert!(
            r.elapsed < Duration::from_secs(3),
            "{path} answered after {:?}",
            r.elapsed
        );
        let want = if path.contains("localhost") { 1.0 } else { 0.0 };
        assert_eq!(
            sample(&r.body, "probe_success"),
            Some(want),
            "{path}\n{}",
            r.body
        );
    }
    assert!(all < Duration::from_secs(4), "100 scrapes took {all:?}");
    // The silent server's answer still says how far the probe got.
    let quiet = &replies[0].body;
    assert!(quiet.contains("phase=\"tcp\""), "{quiet}");
    assert!(quiet.contains("answer=\"timeout\""), "{quiet}");

    // Descriptors: flat over a few thousand probes of every kind.
    let round = |n: usize| {
        let paths: Vec<String> = (0..n)
            .map(|i| {
                let target = match i % 3 {
                    0 => format!("localhost:{}", cluster.port()),
                    1 => format!("127.0.0.1:{}", garbage.port()),
                    _ => "127.0.0.1:1".to_owned(),
                };
                format!("/probe?target={}", enc(&target))
            })
            .collect();
        for r in scrape_together(&ns, exporter.port, paths, &[]) {
            assert_eq!(r.status, 200, "{r:?}");
        }
    };
    round(50);
    thread::sleep(Duration::from_millis(300));
    let before = exporter.open_fds();
    for _ in 0..60 {
        round(50);
    }
    thread::sleep(Duration::from_millis(300));
    let after = exporter.open_fds();
    assert!(
        after <= before + 4,
        "descriptors grew from {before} to {after} over 3000 probes"
    );
    let probes = exporter.own_metric(
        &ns,
        "pgreach_exporter_probes_total{module=\"default\",result=\"success\"}",
    ) + exporter.own_metric(
        &ns,
        "pgreach_exporter_probes_total{module=\"default\",result=\"failure\"}",
    );
    assert_eq!(probes, 3150.0);
    assert_eq!(
        exporter.own_metric(&ns, "pgreach_exporter_probes_in_flight"),
        0.0
    );
}

#[test]
fn over_the_bound_scrapes_get_503_and_a_slow_target_delays_no_other() {
    let ns = Netns::new();
    let silent = silent_server(&ns, 50);
    let exporter = Exporter::start(&ns, "modules:\n  default: {}\n", &["--max-concurrent", "2"]);
    let mut paths: Vec<String> = (0..6)
        .map(|_| {
            format!(
                "/probe?target={}",
                enc(&format!("127.0.0.1:{}", silent.port()))
            )
        })
        .collect();
    let replies = scrape_together(
        &ns,
        exporter.port,
        paths.clone(),
        &[("X-Prometheus-Scrape-Timeout-Seconds", "4")],
    );
    let ok: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    let busy: Vec<_> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!((ok.len(), busy.len()), (2, 4), "{replies:?}");
    for r in &busy {
        assert!(r.body.contains("overloaded"), "{}", r.body);
        assert!(
            r.elapsed < Duration::from_secs(2),
            "503 after {:?}",
            r.elapsed
        );
    }
    for r in &ok {
        assert!(
            r.elapsed < Duration::from_secs(4),
            "answered after {:?}",
            r.elapsed
        );
    }
    assert_eq!(
        exporter.own_metric(
            &ns,
            "pgreach_exporter_refused_requests_total{reason=\"overloaded\"}"
        ),
        4.0
    );

    // With more slots, a silent target and a closed port together: the closed one is answered
    // at once.
    let exporter = Exporter::start(&ns, "modules:\n  default: {}\n", &[]);
    paths.truncate(1);
    paths.push(format!("/probe?target={}", enc("127.0.0.1:1")));
    let replies = scrape_together(
        &ns,
        exporter.port,
        paths,
        &[("X-Prometheus-Scrape-Timeout-Seconds", "4")],
    );
    assert!(
        replies[1].elapsed < Duration::from_millis(500),
        "{:?}",
        replies[1].elapsed
    );
    assert!(
        replies[0].elapsed > Duration::from_secs(2),
        "{:?}",
        replies[0].elapsed
    );
}

#[test]
fn two_exporters_share_the_targets_by_hashmod() {
    let ns = Netns::new();
    let config = "modules:\n  default: { user: monitor }\n";
    let exporters = [
        Exporter::start(&ns, config, &[]),
        Exporter::start(&ns, config, &[]),
    ];
    // Closed ports: cheap to probe, and each its own target.
    let targets: Vec<String> = (0..24)
        .map(|i| format!("127.0.0.1:{}", 20000 + i))
        .collect();
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let mut job = format!(
        "  - job_name: pgreach\n    metrics_path: /probe\n    params: {{ module: [default] }}\n\
         \x20   static_configs:\n      - targets: [{}]\n    relabel_configs:\n\
         \x20     - source_labels: [__address__]\n        target_label: __param_target\n\
         \x20     - source_labels: [__param_target]\n        target_label: instance\n\
         \x20     - source_labels: [__param_target]\n        modulus: 2\n        target_label: __tmp_shard\n        action: hashmod\n",
        list.join(", ")
    );
    for (i, e) in exporters.iter().enumerate() {
        job.push_str(&format!(
            "      - source_labels: [__tmp_shard]\n        regex: '{i}'\n        target_label: __address__\n        replacement: 127.0.0.1:{}\n\
             \x20     - source_labels: [__tmp_shard]\n        regex: '{i}'\n        target_label: exporter\n        replacement: e{i}\n",
            e.port
        ));
    }
    let prom = Prometheus::start(&ns, &format!("{GLOBAL}{job}"));
    let result = prom.wait_for(&ns, "probe_success", |r| r.len() == targets.len());
    let by_target = by_labels(&result, &["instance", "exporter"]);
    let mut per_exporter = [0usize; 2];
    for t in &targets {
        let owners: Vec<_> = by_target.keys().filter(|k| k[0] == *t).collect();
        assert_eq!(owners.len(), 1, "{t} probed by {owners:?}");
        let i: usize = owners[0][1].trim_start_matches('e').parse().unwrap();
        per_exporter[i] += 1;
    }
    assert!(per_exporter.iter().all(|n| *n > 0), "{per_exporter:?}");
    // Over a minute of scrapes, still one exporter per target.
    let owners = prom.query(
        &ns,
        "count by (instance) (count_over_time(probe_success[1m]) > 0)",
    );
    assert_eq!(owners.len(), targets.len(), "{owners:?}");
    assert!(
        by_labels(&owners, &["instance"])
            .values()
            .all(|n| *n == 1.0),
        "{owners:?}"
    );
    for (i, e) in exporters.iter().enumerate() {
        let probes = e.own_metric(
            &ns,
            "pgreach_exporter_probes_total{module=\"default\",result=\"failure\"}",
        );
        assert!(
            probes >= per_exporter[i] as f64,
            "exporter {i}: {probes} probes"
        );
    }
}

/// The README's configuration, scrape jobs and alerting rules are the files in
/// `examples/exporter/`, word for word, and they are valid: promtool checks the Prometheus
/// side, and the exporter starts with its own (the CA file pointed at one that exists).
#[test]
fn the_readme_examples_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/exporter");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let files = [
        "pgreach-exporter.yml",
        "prometheus.yml",
        "pgreach-rules.yml",
        "prometheus-sharded.yml",
    ];
    for f in files {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(
            readme.contains(&text),
            "README.md does not show examples/exporter/{f}"
        );
    }
    for (args, file) in [
        (["check", "config"], "prometheus.yml"),
        (["check", "config"], "prometheus-sharded.yml"),
        (["check", "rules"], "pgreach-rules.yml"),
    ] {
        let out = Command::new(PROMTOOL)
            .args(args)
            .arg(dir.join(file))
            .output()
            .expect("promtool");
        assert!(
            out.status.success(),
            "promtool {args:?} {file}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ns = Netns::new();
    let ca = support::TestCa::new("example CA");
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), ca.cert_pem()).unwrap();
    let config = std::fs::read_to_string(dir.join("pgreach-exporter.yml"))
        .unwrap()
        .replace("/etc/ssl/db-ca.pem", ca_file.path().to_str().unwrap());
    let exporter = Exporter::start(&ns, &config, &[]);
    let index = exporter.get(&ns, "/").body;
    assert!(
        index.contains("<h3>verify</h3>") && index.contains("<h3>default</h3>"),
        "{index}"
    );
    // 10.0.0.0/8 is allowed, so the refusal of 192.0.2.1 is the list's, not the default's.
    assert_eq!(exporter.probe(&ns, "192.0.2.1:5432", "verify").status, 403);
}
