//! `pgreach sweep` and `pgreach watch` against real clusters, closed and firewalled ports, a
//! fake server and counting listeners, all inside network namespaces of the test's own. Limits
//! are measured from the server side: a listener that records when it accepted each connection
//! and how many were open at once.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterSpec, FakeServer, Netns, Step, run_pgreach};

/// Runs `f` on a thread that has entered `ns`'s network namespace: sockets it creates (a
/// listener, a fake server) live in that namespace, where pgreach runs.
fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", ns.name());
    thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on a valid descriptor only changes this thread's network namespace.
        let rc = unsafe { nix::libc::setns(file.as_raw_fd(), nix::libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
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

/// stdout as JSON Lines: the target/invalid lines by target key, and the summary.
fn parse_lines(stdout: &str) -> (BTreeMap<String, Value>, Value, usize) {
    let mut targets = BTreeMap::new();
    let mut summary = Value::Null;
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
            Some("summary") => summary = v["data"].clone(),
            other => panic!("unexpected line type {other:?}: {line}"),
        }
    }
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
    assert_ne!(hostile["ssl_request"]["answer"], "S", "{hostile:#}");
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

#[test]
fn concurrency_per_host_and_rate_limits_hold_at_the_server() {
    let ns = Netns::new();
    let hold = Duration::from_millis(300);

    // 48 addresses, 4 at a time.
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
    let mut child = ns
        .cmd(env!("CARGO_BIN_EXE_pgreach"))
        .args([
            "sweep",
            file.path().to_str().unwrap(),
            "--connect-timeout",
            "40",
            "--deadline",
            "50",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pgreach");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < 5 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => out.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("only {} lines before the deadline: {out:?}", out.len());
            }
        }
    }
    // The slow targets are all connected and waiting; interrupt now.
    let wait_connected = Instant::now() + Duration::from_secs(10);
    while slow.accepted().len() < 16 && Instant::now() < wait_connected {
        thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { nix::libc::kill(child.id() as i32, nix::libc::SIGINT) };
    let waited = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if waited.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("pgreach did not exit within 10 s of SIGINT");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "exit code after SIGINT");
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        out.push(line);
    }
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
