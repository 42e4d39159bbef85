//! `pgreach sweep` and `pgreach watch` against real clusters, closed and firewalled ports, a
//! fake server and counting listeners, all inside network namespaces of the test's own. Limits
//! are measured from the server side: a listener that records when it accepted each connection
//! and how many were open at once. Also: the progress bar (stderr on a pseudo-terminal or not),
//! `watch --json` while its server goes away and comes back, and descriptors running out under
//! a running sweep.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterSpec, FakeServer, Netns, Step, at, run_pgreach};

/// Runs `f` on a thread that has entered `ns`'s network namespace: sockets it creates (a
/// listener, a fake server) live in that namespace, where pgreach runs.
fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", ns.name());
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Changes only this thread's network namespace.
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
        f()
    })
    .join()
    .expect("netns thread")
}

/// A listener that accepts everything, holds each connection for `hold`, then closes it;
/// it records accept times and the most connections open at once.
struct Counting {
    addr: SocketAddr,
    accepts: Arc<Mutex<Vec<Instant>>>,
    open: Arc<AtomicUsize>,
    max_open: Arc<AtomicUsize>,
}

impl Counting {
    fn start(ns: &Netns, hold: Duration) -> Counting {
        // 0.0.0.0 so that every 127.x.y.z of a CIDR block reaches it.
        let listener = in_netns(ns, || TcpListener::bind("0.0.0.0:0").expect("bind"));
        let c = Counting {
            addr: listener.local_addr().unwrap(),
            accepts: Arc::default(),
            open: Arc::default(),
            max_open: Arc::default(),
        };
        let (accepts, open, max_open) = (c.accepts.clone(), c.open.clone(), c.max_open.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                accepts.lock().unwrap().push(Instant::now());
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                max_open.fetch_max(now, Ordering::SeqCst);
                let open = open.clone();
                thread::spawn(move || {
                    thread::sleep(hold);
                    // Count the connection closed before the client can see the close.
                    open.fetch_sub(1, Ordering::SeqCst);
                    drop(stream);
                });
            }
        });
        c
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn accepted(&self) -> Vec<Instant> {
        self.accepts.lock().unwrap().clone()
    }
}

fn write_targets(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    f
}

/// stdout as JSON Lines: the target/invalid lines by target key, and the summary (which every
/// sweep writes last, also when interrupted: panics without one).
fn parse_lines(stdout: &str) -> (BTreeMap<String, Value>, Value, usize) {
    let mut targets = BTreeMap::new();
    let mut summary = None;
    let mut count = 0;
    for line in stdout.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        match v["type"].as_str() {
            Some("target" | "invalid") => {
                count += 1;
                let key = v["target"].as_str().expect("target key").to_owned();
                assert!(
                    targets.insert(key.clone(), v).is_none(),
                    "{key} reported twice"
                );
            }
            Some("summary") => {
                assert!(summary.is_none(), "a second summary: {line}");
                summary = Some(at(&v, "data").clone());
            }
            other => panic!("unexpected line type {other:?}: {line}"),
        }
    }
    let summary = summary.unwrap_or_else(|| panic!("no summary line in\n{stdout}"));
    (targets, summary, count)
}

fn keys(m: &BTreeMap<String, Value>) -> BTreeSet<String> {
    m.keys().cloned().collect()
}

fn free_port() -> u16 {
    // A port nobody listens on inside a fresh namespace: any number works there.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn sweep_reports_every_target_exactly_once() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("*")
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.0/8 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let pg = cluster.port();
    let closed = free_port();
    let dropped = free_port();
    ns.drop_tcp_port(dropped);
    // A hostile server: answers the SSLRequest with a byte that means nothing.
    let fake = in_netns(&ns, || {
        FakeServer::spawn_n(
            vec![Step::Expect(8), Step::Send(b"X".to_vec()), Step::Close],
            2,
        )
    });
    let lines = vec![
        "# fleet inventory".to_owned(),
        format!("127.0.0.1:{pg}   # the primary"),
        format!("127.0.4.8/29:{pg}"),
        format!("127.0.0.1:{closed}"),
        format!("127.0.0.1:{dropped}"),
        format!("127.0.0.1:{}", fake.port()),
        format!("postgres://app:hunter2@127.0.0.1:{pg}/postgres?sslmode=require"),
        String::new(),
        "not:a:target:".to_owned(),
    ];
    let file = write_targets(&lines);
    let run = run_pgreach(
        Some(&ns),
        &[
            "sweep",
            file.path().to_str().unwrap(),
            "-U",
            "app",
            "-d",
            "postgres",
            "--connect-timeout",
            "1",
            "--concurrency",
            "8",
        ],
        &[],
    );
    assert!(!run.stdout.contains("hunter2"), "password leaked\n{run}");
    let (targets, summary, count) = parse_lines(&run.stdout);
    let mut expected: BTreeSet<String> = (8..16).map(|i| format!("127.0.4.{i}:{pg}")).collect();
    expected.extend([
        format!("127.0.0.1:{pg}"),
        format!("127.0.0.1:{closed}"),
        format!("127.0.0.1:{dropped}"),
        format!("127.0.0.1:{}", fake.port()),
        format!("postgres://app:***@127.0.0.1:{pg}/postgres?sslmode=require"),
        "not:a:target:".to_owned(),
    ]);
    assert_eq!(keys(&targets), expected, "\n{run}");
    assert_eq!(count, expected.len());
    // Findings exist (refused, timeout…), so the exit code says so.
    run.expect_status(1);

    let addr0 = |key: &str| targets[key]["data"]["addresses"][0].clone();
    for i in 8..16 {
        let a = addr0(&format!("127.0.4.{i}:{pg}"));
        assert_eq!(a["tcp"]["status"], "ok", "{a:#}");
        assert_eq!(a["startup"]["auth"], "sasl", "{a:#}");
    }
    let primary = addr0(&format!("127.0.0.1:{pg}"));
    assert_eq!(primary["tls"]["version"], "TLSv1.3");
    assert_eq!(
        addr0(&format!("127.0.0.1:{closed}"))["tcp"]["status"],
        "refused"
    );
    assert_eq!(
        addr0(&format!("127.0.0.1:{dropped}"))["tcp"]["status"],
        "timeout"
    );
    let hostile = addr0(&format!("127.0.0.1:{}", fake.port()));
    assert_eq!(hostile["tcp"]["status"], "ok");
    assert_ne!(*at(&hostile, "ssl_request.answer"), "S", "{hostile:#}");
    assert_eq!(targets["not:a:target:"]["type"], "invalid");
    // The same schema as --json, inside the envelope.
    assert_eq!(
        targets[&format!("127.0.0.1:{pg}")]["data"]["schema_version"],
        1
    );

    assert_eq!(summary["targets"], expected.len());
    assert_eq!(summary["invalid"], 1);
    assert_eq!(summary["interrupted"], false);
    assert_eq!(summary["findings"]["address_refused"], 1, "{summary:#}");
    assert!(
        summary["tls_versions"]["TLSv1.3"].as_u64().unwrap() >= 10,
        "{summary:#}"
    );
    assert!(
        summary["auth_methods"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("sasl:SCRAM-SHA-256")),
        "{summary:#}"
    );

    // Prometheus text format: HELP/TYPE once per family, then `name{labels} value` samples.
    let prom = run_pgreach(
        Some(&ns),
        &[
            "sweep",
            file.path().to_str().unwrap(),
            "-U",
            "app",
            "--connect-timeout",
            "1",
            "--format",
            "prometheus",
        ],
        &[],
    );
    let mut types = BTreeSet::new();
    let mut samples = 0;
    for line in prom.stdout.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(types.insert(name.to_owned()), "TYPE {name} twice\n{prom}");
            assert!(rest.ends_with(" gauge"), "{line}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value in {line}"));
        let name = series.split('{').next().unwrap();
        assert!(types.contains(name), "sample before its TYPE: {line}");
        assert!(
            series.ends_with('}') && series.contains("target=\""),
            "{line}"
        );
        samples += 1;
    }
    assert!(samples > 20, "{prom}");
    let success = |t: &str| format!("pgreach_probe_success{{target=\"{t}\"}} ");
    assert!(
        prom.stdout
            .contains(&(success(&format!("127.0.0.1:{pg}")) + "1")),
        "{prom}"
    );
    assert!(
        prom.stdout
            .contains(&(success(&format!("127.0.0.1:{closed}")) + "0")),
        "{prom}"
    );
    assert!(
        prom.stdout
            .contains("pgreach_tls_cert_not_after_timestamp_seconds{"),
        "{prom}"
    );

    // watch: repeated probes, then percentiles per phase.
    let watch = run_pgreach(
        Some(&ns),
        &[
            "watch",
            &format!("127.0.0.1:{pg}"),
            "-U",
            "app",
            "--interval",
            "100ms",
            "--count",
            "3",
        ],
        &[],
    );
    watch.expect_status(0);
    assert!(
        watch.stdout.contains("probe 1: first outcome: ok"),
        "{watch}"
    );
    assert!(
        watch.stdout.contains("3 probes, 0 changes of outcome"),
        "{watch}"
    );
    assert!(
        watch.stdout.lines().any(|l| l.starts_with("tls ")),
        "{watch}"
    );
}

/// Issue 6: the summary lists the leaf certificates that expire within `--expiry-warn` days,
/// with the facts of the target's own report, and only those; `--summary` prints it as text.
#[test]
fn expiry_warn_lists_certificates_expiring_within_the_window() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let target = format!("127.0.0.1:{}", cluster.port());
    let file = write_targets(std::slice::from_ref(&target));
    let sweep = |warn_days: &str| {
        let run = run_pgreach(
            Some(&ns),
            &[
                "sweep",
                file.path().to_str().unwrap(),
                "-U",
                "app",
                "--connect-timeout",
                "5",
                "--expiry-warn",
                warn_days,
                "--summary",
            ],
            &[],
        );
        let (targets, summary, count) = parse_lines(&run.stdout);
        assert_eq!(count, 1, "{run}");
        (
            run,
            targets[&target]["data"]["addresses"][0].clone(),
            summary,
        )
    };

    // A window wider than the certificate's life: it is listed with its report's facts.
    let (run, a, summary) = sweep("4000000");
    let leaf = &a["tls"]["chain"][0];
    let days = leaf["days_left"]
        .as_i64()
        .unwrap_or_else(|| panic!("{a:#}"));
    assert!(days > 2, "the harness certificate is long-lived: {leaf:#}");
    assert_eq!(summary["expiry_warn_days"], 4_000_000, "{summary:#}");
    assert_eq!(summary["expiring_certificates_total"], 1, "{summary:#}");
    let listed = &summary["expiring_certificates"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{summary:#}");
    let e = &listed[0];
    assert_eq!(e["target"], target.as_str(), "{e:#}");
    assert_eq!(e["address"], "127.0.0.1", "{e:#}");
    assert_eq!(e["port"], cluster.port(), "{e:#}");
    assert_eq!(e["subject"], leaf["subject"], "{e:#}");
    assert_eq!(e["not_after"], leaf["not_after"], "{e:#}");
    assert_eq!(e["days_left"], days, "{e:#}");
    assert!(
        run.stderr
            .contains("certificates expiring within 4000000 days: 1")
            && run.stderr.contains(&target),
        "--summary lists the expiring certificate on stderr\n{run}"
    );

    // The window ends on the day it expires: listed (days only go down between runs).
    let (_, _, summary) = sweep(&days.to_string());
    assert_eq!(summary["expiring_certificates_total"], 1, "{summary:#}");
    // Two days short of it: not listed, not counted.
    let (_, _, summary) = sweep(&(days - 2).to_string());
    assert_eq!(summary["expiring_certificates_total"], 0, "{summary:#}");
    assert_eq!(
        summary["expiring_certificates"],
        serde_json::json!([]),
        "{summary:#}"
    );
}

#[test]
fn concurrency_per_host_and_rate_limits_hold_at_the_server() {
    let ns = Netns::new();
    let hold = Duration::from_millis(300);

    // 64 addresses (a /26), 4 at a time.
    let server = Counting::start(&ns, hold);
    let file = write_targets(&[format!("127.0.5.0/26:{}", server.port())]);
    let file_arg = file.path().to_str().unwrap();
    let run = run_pgreach(
        Some(&ns),
        &[
            "sweep",
            file_arg,
            "--quiet-server",
            "--concurrency",
            "4",
            "--connect-timeout",
            "5",
        ],
        &[],
    );
    let (targets, ..) = parse_lines(&run.stdout);
    assert_eq!(targets.len(), 64, "{run}");
    assert_eq!(server.accepted().len(), 64);
    let max = server.max_open.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&max),
        "at most 4 at once, and some parallelism: {max}"
    );

    // One IP, many targets (different databases): at most 2 at once by default.
    let server = Counting::start(&ns, hold);
    let lines: Vec<String> = (0..12)
        .map(|i| format!("postgres://127.0.0.1:{}/db{i}", server.port()))
        .collect();
    let file = write_targets(&lines);
    let run = run_pgreach(
        Some(&ns),
        &[
            "sweep",
            file.path().to_str().unwrap(),
            "--quiet-server",
            "--connect-timeout",
            "5",
        ],
        &[],
    );
    assert_eq!(parse_lines(&run.stdout).0.len(), 12, "{run}");
    let max = server.max_open.load(Ordering::SeqCst);
    assert_eq!(max, 2, "--per-host-concurrency defaults to 2");

    // 40 connections at 20/s: at least (40 - burst) / 20 seconds from first to last accept,
    // and no one-second window holds more than the rate plus the burst.
    let server = Counting::start(&ns, Duration::ZERO);
    let file = write_targets(&[
        format!("127.0.6.0/27:{}", server.port()),
        format!("127.0.7.0/29:{}", server.port()),
    ]);
    let run = run_pgreach(
        Some(&ns),
        &[
            "sweep",
            file.path().to_str().unwrap(),
            "--quiet-server",
            "--rate",
            "20",
        ],
        &[],
    );
    assert_eq!(parse_lines(&run.stdout).0.len(), 40, "{run}");
    let mut at = server.accepted();
    at.sort();
    assert_eq!(at.len(), 40);
    let span = at[39] - at[0];
    assert!(
        span >= Duration::from_millis(1800),
        "40 at 20/s took only {span:?}"
    );
    for (i, t) in at.iter().enumerate() {
        let within = at[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(within <= 20 + 2 + 1, "{within} connections within 1 s");
    }
}

#[test]
fn sigint_flushes_finished_targets_and_exits_cleanly() {
    let ns = Netns::new();
    // Slow targets: the server holds every connection far longer than the test waits.
    let slow = Counting::start(&ns, Duration::from_secs(30));
    let closed = free_port();
    let mut lines: Vec<String> = (0..5).map(|i| format!("127.0.8.{i}:{closed}")).collect();
    lines.push(format!("127.0.9.0/28:{}", slow.port()));
    let file = write_targets(&lines);
    let args = [
        "sweep",
        file.path().to_str().unwrap(),
        "--connect-timeout",
        "40",
        "--deadline",
        "50",
    ];
    let mut live = Live::spawn(&ns, &args, Stdio::null(), &[]);
    // The five closed ports finish at once.
    for i in 0..5 {
        live.wait_line(Duration::from_secs(20), &format!("target {i}"), |v| {
            v["type"] == "target"
        });
    }
    // The slow targets are all connected and waiting; interrupt now.
    let wait_connected = Instant::now() + Duration::from_secs(10);
    while slow.accepted().len() < 16 && Instant::now() < wait_connected {
        thread::sleep(Duration::from_millis(50));
    }
    live.signal(nix::sys::signal::Signal::SIGINT);
    let (code, out) = live.finish(Duration::from_secs(10));
    assert_eq!(code, Some(130), "exit code after SIGINT");
    let (targets, summary, _) = parse_lines(&out.join("\n"));
    let expected: BTreeSet<String> = (0..5).map(|i| format!("127.0.8.{i}:{closed}")).collect();
    assert_eq!(
        keys(&targets),
        expected,
        "only the finished targets, each once"
    );
    assert_eq!(summary["interrupted"], true, "{summary:#}");
    assert_eq!(summary["targets"], 5);
}

#[test]
fn resume_and_shards_add_up_to_the_full_run() {
    let ns = Netns::new();
    let closed = free_port();
    let file = write_targets(&[
        format!("127.0.10.0/27:{closed}"),
        format!("127.0.11.1:{closed}"),
        "# done".into(),
    ]);
    let path = file.path().to_str().unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec!["sweep", path];
        args.extend_from_slice(extra);
        let run = run_pgreach(Some(&ns), &args, &[]);
        parse_lines(&run.stdout)
    };
    let (full, summary, _) = sweep(&[]);
    assert_eq!(full.len(), 33);
    assert_eq!(summary["targets"], 33);

    let mut union = BTreeSet::new();
    let mut total = 0;
    for i in 1..=3 {
        let (part, ..) = sweep(&["--shard", &format!("{i}/3")]);
        assert!(
            !part.is_empty() && part.len() < 33,
            "shard {i} took {}",
            part.len()
        );
        total += part.len();
        union.extend(keys(&part));
    }
    assert_eq!(total, 33, "shards are disjoint");
    assert_eq!(union, keys(&full), "shards cover the input");

    // A first run that only got through half, then a resumed run: together, the full run.
    let first = run_pgreach(Some(&ns), &["sweep", path, "--shard", "1/2"], &[]);
    let previous = tempfile::NamedTempFile::new().unwrap();
    // Simulate a run killed mid-write: a torn last line is re-probed, not trusted.
    std::fs::write(
        previous.path(),
        format!("{}{{\"type\":\"target\",\"tar", first.stdout),
    )
    .unwrap();
    let (done, ..) = parse_lines(&first.stdout);
    let (rest, summary, _) = sweep(&["--resume", previous.path().to_str().unwrap()]);
    assert_eq!(summary["skipped_resume"], done.len());
    assert!(keys(&done).is_disjoint(&keys(&rest)));
    let both: BTreeSet<String> = keys(&done).union(&keys(&rest)).cloned().collect();
    assert_eq!(both, keys(&full));
}

#[test]
fn out_of_descriptors_slows_down_instead_of_failing() {
    let ns = Netns::new();
    let server = Counting::start(&ns, Duration::from_millis(50));
    let file = write_targets(&[format!("127.0.12.0/26:{}", server.port())]);
    // A hard limit of 40 descriptors: far fewer than --concurrency 256 would need.
    let script = format!(
        "ulimit -n 40 && exec {} sweep {} --quiet-server --connect-timeout 5",
        env!("CARGO_BIN_EXE_pgreach"),
        file.path().display()
    );
    let out = support::run_with_timeout(
        ns.cmd("sh")
            .args(["-c", &script])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("HOME", std::env::temp_dir()),
        Duration::from_secs(60),
    )
    .expect("run sh");
    let stdout = out.stdout_str();
    let (targets, summary, _) = parse_lines(&stdout);
    assert_eq!(
        targets.len(),
        64,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (key, t) in &targets {
        let status = &t["data"]["addresses"][0]["tcp"]["status"];
        assert_eq!(status, "ok", "{key} failed instead of waiting: {t:#}");
    }
    assert_eq!(summary["targets"], 64);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lowered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A pgreach child whose stdout lines arrive on a channel as they are written, so a test can
/// act between two lines (stop a server, lower a limit, send SIGINT).
struct Live {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// The run's HOME, kept until the run is over.
    _home: tempfile::TempDir,
}

impl Live {
    /// Runs pgreach with `args` inside `ns`, hermetically as [`support::run_pgreach`] does
    /// (a clean environment plus `env`), with stderr to `stderr`.
    fn spawn(ns: &Netns, args: &[&str], stderr: Stdio, env: &[(&str, &str)]) -> Live {
        let (mut cmd, home) = support::pgreach_command(Some(ns), args, env);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawn pgreach");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
            _home: home,
        }
    }

    /// Reads lines until one satisfies `pred` (returned), or panics after `within`.
    fn wait_line(&mut self, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                    if pred(&v) {
                        return v;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {what} within {within:?}; seen: {:#?}",
                        self.seen
                    );
                }
            }
        }
    }

    /// Waits (bounded) for the exit; returns the exit code and every line written.
    fn finish(mut self, within: Duration) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "pgreach still running after {within:?}; seen: {:#?}",
                    self.seen
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        // The reader ends at EOF, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code(), self.seen)
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal our own child");
    }
}

/// The counts in indicatif's "{pos} targets done" frames.
fn progress_counts(text: &str) -> Vec<u64> {
    text.match_indices(" targets done")
        .filter_map(|(i, _)| {
            let before = &text[..i];
            let digits = before.len()
                - before
                    .chars()
                    .rev()
                    .take_while(char::is_ascii_digit)
                    .count();
            before[digits..].parse().ok()
        })
        .collect()
}

#[test]
fn progress_bar_only_when_stderr_is_a_terminal() {
    let ns = Netns::new();
    // 32 targets, 4 at a time, each held 250 ms by the server: about 2 s, so the bar (a tick
    // every 200 ms) is drawn several times with counts between 0 and 32.
    let server = Counting::start(&ns, Duration::from_millis(250));
    let file = write_targets(&[format!("127.0.14.0/27:{}", server.port())]);
    let args = [
        "sweep",
        file.path().to_str().unwrap(),
        "--quiet-server",
        "--concurrency",
        "4",
        "--connect-timeout",
        "5",
    ];

    // stderr on a terminal, stdout still a pipe (as in `pgreach sweep … > out.jsonl`).
    let (mut master, slave) = support::pty::openpty();
    // indicatif also hides the bar when TERM is unset or `dumb`, as on a real terminal it is not.
    let term = [("TERM", "xterm")];
    let live = Live::spawn(&ns, &args, Stdio::from(slave), &term);
    // Our copy of the slave went with the command: the master reads EOF (EIO) once pgreach
    // exits.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut master, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tx.send(all);
    });
    let (code, lines) = live.finish(Duration::from_secs(30));
    let terminal = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the terminal reader ends after pgreach exits");
    let terminal = String::from_utf8_lossy(&terminal);
    // 1: the listener closes without answering, an error finding for every target.
    assert_eq!(code, Some(1), "{terminal}");
    let (targets, ..) = parse_lines(&lines.join("\n"));
    assert_eq!(targets.len(), 32, "stdout carries the targets, not the bar");
    let counts = progress_counts(&terminal);
    assert!(
        counts.len() >= 2 && counts.iter().all(|&n| n <= 32),
        "progress frames with counts on the terminal: {counts:?}\n{terminal:?}"
    );
    assert!(
        counts.iter().any(|&n| 0 < n && n < 32),
        "a count taken mid-sweep: {counts:?}"
    );
    assert!(terminal.contains("in flight"), "{terminal:?}");

    // The same sweep (and TERM) with stderr on a pipe: nothing at all there.
    let run = run_pgreach(Some(&ns), &args, &term);
    run.expect_status(1);
    assert_eq!(parse_lines(&run.stdout).0.len(), 32);
    assert!(
        run.stderr.is_empty(),
        "no progress output without a terminal: {:?}",
        run.stderr
    );
}

/// `{"type":"latency"}` phase statistics: n, and p50 ≤ p90 ≤ p99 ≤ max, all positive.
fn check_phase(phases: &Value, phase: &str, n: u64) -> [f64; 4] {
    let s = &phases[phase];
    assert_eq!(s["n"], n, "{phase}: {phases:#}");
    let p = ["p50_ms", "p90_ms", "p99_ms", "max_ms"].map(|k| {
        s[k].as_f64()
            .unwrap_or_else(|| panic!("{phase}.{k}: {phases:#}"))
    });
    assert!(
        p[0] > 0.0 && p.windows(2).all(|w| w[0] <= w[1]),
        "{phase}: percentiles out of order {p:?}"
    );
    p
}

#[test]
fn watch_json_counts_percentiles_and_changes_of_outcome() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .password_encryption("scram-sha-256"),
    );
    let target = format!("127.0.0.1:{}", cluster.port());

    // --count 5 at 100 ms: five probes, one (first) outcome, statistics over five samples.
    let run = run_pgreach(
        Some(&ns),
        &[
            "watch",
            &target,
            "-U",
            "app",
            "--json",
            "--interval",
            "100ms",
            "--count",
            "5",
        ],
        &[],
    );
    run.expect_status(0);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{run}")))
        .collect();
    assert_eq!(lines.len(), 2, "one change line, one latency line\n{run}");
    let first = &lines[0];
    assert_eq!(first["type"], "change", "{first:#}");
    assert_eq!(first["data"]["probe"], 1);
    assert_eq!(first["data"]["first"], true);
    assert_eq!(first["data"]["verdict"], "ok", "{first:#}");
    let address = first["data"]["addresses"][0].as_str().unwrap();
    assert!(
        address.contains("tcp=ok") && address.contains("ssl=S") && address.contains("auth=sasl"),
        "{address}"
    );
    let latency = &lines[1]["data"];
    assert_eq!(lines[1]["type"], "latency");
    assert_eq!(latency["probes"], 5);
    assert_eq!(latency["changes"], 0);
    let phases = &latency["phases"];
    let tcp = check_phase(phases, "tcp", 5);
    for phase in ["ssl_request", "tls", "startup"] {
        check_phase(phases, phase, 5);
    }
    let total = check_phase(phases, "total", 5);
    // Each probe's total includes its TCP connect, so every percentile does too.
    for (t, c) in total.iter().zip(tcp) {
        assert!(*t >= c, "total {total:?} below tcp {tcp:?}");
    }
    // Four intervals between five probes.
    assert!(run.elapsed >= Duration::from_millis(400), "{run}");

    // Until Ctrl-C: the server goes away (refused), then comes back; both changes are reported.
    let args = [
        "watch",
        &target,
        "-U",
        "app",
        "--json",
        "--interval",
        "200ms",
        "--connect-timeout",
        "2",
    ];
    let mut live = Live::spawn(&ns, &args, Stdio::null(), &[]);
    let ok = |v: &Value| v["type"] == "change" && v["data"]["verdict"] == "ok";
    live.wait_line(Duration::from_secs(15), "the first outcome", ok);
    support::process::run(
        cluster
            .pg_ctl()
            .args(["-m", "fast", "-w", "-t", "20", "stop"]),
        Duration::from_secs(30),
    )
    .ok("pg_ctl stop");
    let down = live.wait_line(Duration::from_secs(15), "tcp=refused", |v| {
        v["type"] == "change"
            && v["data"]["addresses"][0]
                .as_str()
                .is_some_and(|a| a.contains("tcp=refused"))
    });
    assert_eq!(down["data"]["first"], false);
    assert_eq!(down["data"]["verdict"], "error", "{down:#}");
    support::process::run(
        cluster
            .pg_ctl()
            .arg("-l")
            .arg(cluster.log_path())
            .args(["-w", "-t", "30", "start"]),
        Duration::from_secs(45),
    )
    .ok("pg_ctl start");
    let up = live.wait_line(Duration::from_secs(15), "the outcome back to ok", ok);
    assert!(
        up["data"]["probe"].as_u64() > down["data"]["probe"].as_u64(),
        "{down:#}\n{up:#}"
    );
    live.signal(nix::sys::signal::Signal::SIGINT);
    let (code, lines) = live.finish(Duration::from_secs(15));
    // A probe in between had error findings (refused).
    assert_eq!(code, Some(1), "{lines:#?}");
    let all: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // First, down, up; a probe may also catch the server stopping or starting (57P03), an
    // outcome of its own in between.
    let changes: Vec<&Value> = all.iter().filter(|v| v["type"] == "change").collect();
    let transitional = |c: &Value| {
        let findings = at(c, "data.findings");
        *findings == serde_json::json!(["server_shutting_down"])
            || *findings == serde_json::json!(["server_starting_up"])
    };
    assert_eq!(
        changes.iter().filter(|&&c| !transitional(c)).count(),
        3,
        "first, down, up: {lines:#?}"
    );
    let latency = &all.last().unwrap()["data"];
    assert_eq!(all.last().unwrap()["type"], "latency", "{lines:#?}");
    assert_eq!(latency["changes"], changes.len() - 1, "{latency:#}");
    let probes = latency["probes"].as_u64().unwrap();
    assert!(
        probes >= up["data"]["probe"].as_u64().unwrap(),
        "{latency:#}"
    );
    // Every probe has a TCP sample (refused ones too) and a total.
    check_phase(&latency["phases"], "tcp", probes);
    check_phase(&latency["phases"], "total", probes);
}

#[test]
fn descriptors_running_out_mid_sweep_slow_it_down_instead_of_failing() {
    descriptors_run_out_mid_sweep(true);
}

/// The same with two connections per address: the second one (the other channel) also waits
/// for descriptors instead of being reported as skipped.
#[test]
fn the_second_connection_also_waits_for_descriptors() {
    descriptors_run_out_mid_sweep(false);
}

fn descriptors_run_out_mid_sweep(quiet_server: bool) {
    let ns = Netns::new();
    // 512 targets, 128 at a time, each held 300 ms: several waves, so probes keep opening
    // sockets after the limit is lowered below what is already open.
    let server = Counting::start(&ns, Duration::from_millis(300));
    let file = write_targets(&[
        format!("127.0.15.0/24:{}", server.port()),
        format!("127.0.16.0/24:{}", server.port()),
    ]);
    let mut args = vec![
        "sweep",
        file.path().to_str().unwrap(),
        "--concurrency",
        "128",
        "--connect-timeout",
        "10",
        "--deadline",
        "50",
    ];
    if quiet_server {
        args.push("--quiet-server");
    }
    let mut live = Live::spawn(&ns, &args, Stdio::null(), &[]);
    // The start-up limit is generous; once the first wave is connected (≈ 128 sockets open),
    // another process lowers it to 48 under the running sweep, as `prlimit --nofile` would.
    let connected = Instant::now() + Duration::from_secs(15);
    while server.accepted().len() < 100 && Instant::now() < connected {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        server.accepted().len() >= 100,
        "the first wave never connected"
    );
    // util-linux's prlimit(1) lowers the running child's limit, as prlimit(2) would.
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", live.child.id()))
        .arg("--nofile=48:48")
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit: {status}");
    let summary = live.wait_line(Duration::from_secs(55), "the summary", |v| {
        v["type"] == "summary"
    });
    let (code, lines) = live.finish(Duration::from_secs(10));
    // 1: the server closes without answering the SSLRequest, an error finding per target.
    assert_eq!(code, Some(1), "{summary:#}");
    let (targets, summary, _) = parse_lines(&lines.join("\n"));
    assert_eq!(targets.len(), 512);
    for (key, t) in &targets {
        let address = &t["data"]["addresses"][0];
        assert_eq!(
            address["tcp"]["status"], "ok",
            "{key} failed instead of waiting: {t:#}"
        );
        if !quiet_server {
            // No answer to SSLRequest, so the plaintext startup went over a second connection.
            assert_ne!(
                *at(address, "startup_other.status"),
                "skipped",
                "{key}: the second connection gave up instead of waiting: {t:#}"
            );
        }
    }
    // The waits happened during the run (the limit was not lowered up front).
    assert!(
        summary["descriptor_waits"].as_u64() > Some(0),
        "the sweep never ran out, so this proved nothing: {summary:#}"
    );
    let per_address = if quiet_server { 1 } else { 2 };
    assert_eq!(
        server.accepted().len(),
        512 * per_address,
        "each address connected {per_address} time(s)"
    );
}
