//! Findings (issue 4), each made by a real condition: real PostgreSQL 15 clusters in a network
//! namespace of their own (IPv4-only listeners, hostssl/hostnossl/reject pg_hba, ssl=off,
//! md5/password/trust, max_connections exhausted by held sessions, a standby from a base backup,
//! a smart shutdown with a held session, a standby stuck before recovery starts), nftables
//! rules that drop or reject with ICMP, a closed port; the fake server only where no real
//! component behaves that way (an HTTP or SSH peer, bytes injected after `S`).
//!
//! Every test asserts the facts first, then the finding (code, severity, addresses), then that
//! the exit code follows the findings (1 with an error finding, else 0).

mod support;

use support::{
    HeldSessions, address, assert_exit_follows_findings, assert_no_finding, assert_null, at,
    strings,
};

use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Cluster, ClusterSpec, FakeServer, Netns, PgreachRun, StandbyKind, Step, replication_primary,
    run_pgreach, s_then_injected_bytes, start_standby, wait_isready,
};

// ---------------------------------------------------------------------------------------------
// Reading the report

/// Severities, as the rule in `src/diagnose/findings.rs` gives them: `error` when the configured
/// sslmode fails on an address libpq tries; `warning` when the app works but is weak or fragile
/// (md5, trust, a cleartext password, a read-only standby, a slow family fallback); `info` for
/// harmless facts and advice (a fast fallback, sslmode below verify-full).
const ERROR: &str = "error";
const WARNING: &str = "warning";
const INFO: &str = "info";

/// The finding with `code`: it must have `severity`, concern at least `addresses` (as
/// `127.0.0.1:5432` / `[::1]:5432`), and say what is wrong and what to do.
#[track_caller]
fn expect_finding<'a>(
    report: &'a Value,
    code: &str,
    severity: &str,
    addresses: &[&str],
) -> &'a Value {
    let f = support::finding(report, code, severity);
    let have = strings(&f["addresses"]);
    for a in addresses {
        assert!(have.contains(a), "{code} concerns {a}: {f:#}");
    }
    f
}

/// The finding's summary and evidence as one string, for "does it quote X" checks.
fn finding_text(f: &Value) -> String {
    let mut s = at(f, "summary")
        .as_str()
        .expect("summary is text")
        .to_owned();
    for e in strings(&f["evidence"]) {
        s.push('\n');
        s.push_str(e);
    }
    s
}

fn pgreach(ns: &Netns, args: &[&str]) -> (PgreachRun, Value) {
    let mut all = vec!["--json", "--connect-timeout", "2"];
    all.extend_from_slice(args);
    let run = run_pgreach(Some(ns), &all, &[]);
    let report = run.json();
    (run, report)
}

// ---------------------------------------------------------------------------------------------
// Real conditions

/// Rejects TCP to `port` on 127.0.0.1 with ICMP host-unreachable and on ::1 with ICMPv6
/// address-unreachable (nftables, a table of its own, in the namespace's input hook).
fn reject_with_icmp(ns: &Netns, port: u16) {
    let rule = |to: &str, with: &str| format!("{to} tcp dport {port} reject with {with}");
    ns.nft_rule(
        "pgrreject",
        "input",
        &rule("ip daddr 127.0.0.1", "icmp type host-unreachable"),
    );
    ns.nft_rule(
        "pgrreject",
        "input",
        &rule("ip6 daddr ::1", "icmpv6 type addr-unreachable"),
    );
}

/// Python's `http.server` (Debian's python3) listening on 127.0.0.1:`port` inside the
/// namespace, killed on drop. Like most HTTP servers it waits for a request line (a newline)
/// before answering anything, so a PostgreSQL client's SSLRequest just stalls.
struct HttpServer {
    child: Child,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    fn start(ns: &Netns, port: u16) -> HttpServer {
        let dir = tempfile::Builder::new()
            .prefix(&format!("pgr-cluster-{}-http-", std::process::id()))
            .tempdir()
            .expect("http.server directory");
        std::fs::write(dir.path().join("index.html"), "<h1>not a database</h1>\n").unwrap();
        let mut c = ns.cmd("/usr/bin/python3");
        c.args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .arg("--directory")
        .arg(dir.path())
        .env_clear()
        .env("PATH", support::process::CLEAN_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start python3 -m http.server: {e}"));
        let mut server = HttpServer { child, _dir: dir };
        // Bounded wait until it accepts: a TCP connect from inside the namespace.
        let deadline = Instant::now() + Duration::from_secs(15);
        let probe =
            format!("import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()");
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("python3 -m http.server exited at start: {status}");
            }
            let mut c = ns.cmd("/usr/bin/python3");
            c.args(["-c", &probe]);
            if support::process::run(&mut c, Duration::from_secs(5)).success() {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "python3 -m http.server did not accept connections within 15 s"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pg_ctl stop -m smart` without waiting: with a session held, the server stays up but
/// answers every new connection with 57P03 "the database system is shutting down".
fn begin_smart_shutdown(cluster: &Cluster) {
    let mut c: Command = cluster.pg_ctl();
    c.args(["-m", "smart", "-W", "stop"]);
    support::process::run_ok(&mut c, Duration::from_secs(20), "pg_ctl stop -m smart -W");
    wait_isready(cluster, 1, "smart shutdown under way");
}

// ---------------------------------------------------------------------------------------------
// Network: refused, timeout, unreachable, IPv4/IPv6 divergence

#[test]
fn closed_port_is_address_refused() {
    let ns = Netns::new();
    let (run, report) = pgreach(&ns, &["127.0.0.1:5999"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "refused");
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    expect_finding(&report, "address_refused", ERROR, &["127.0.0.1:5999"]);
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn dropped_packets_are_address_timeout() {
    let ns = Netns::new();
    ns.drop_tcp_port(5432);
    let (run, report) = pgreach(&ns, &["127.0.0.1"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "timeout");
    let ms = a["tcp"]["elapsed_ms"].as_f64().unwrap();
    assert!(
        (1500.0..=5000.0).contains(&ms),
        "--connect-timeout 2: {ms} ms"
    );
    assert_eq!(a["ssl_request"]["answer"], "skipped");
    assert_eq!(run.status, 1);

    expect_finding(&report, "address_timeout", ERROR, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "address_refused");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn icmp_rejection_is_address_unreachable() {
    let ns = Netns::new();
    reject_with_icmp(&ns, 5432);
    let (run, report) = pgreach(&ns, &["localhost"]);
    for ip in ["127.0.0.1", "::1"] {
        let a = address(&report, ip);
        assert_eq!(a["tcp"]["status"], "unreachable", "{ip}: {a:#}");
        assert!(
            a["tcp"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("No route to host")),
            "{ip}: {a:#}"
        );
    }
    assert_eq!(run.status, 1);

    expect_finding(
        &report,
        "address_unreachable",
        ERROR,
        &["127.0.0.1:5432", "[::1]:5432"],
    );
    assert_no_finding(&report, "address_timeout");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn ipv4_only_listener_probed_as_localhost_is_ipv6_ipv4_differ() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["localhost", "-U", "app"]);
    let v6 = address(&report, "::1");
    assert_eq!(v6["tcp"]["status"], "refused");
    assert_eq!(v6["reached_auth"], false);
    let v4 = address(&report, "127.0.0.1");
    assert_eq!(v4["tcp"]["status"], "ok");
    assert_eq!(v4["startup"]["auth"], "sasl");
    assert_eq!(v4["reached_auth"], true);
    // glibc puts ::1 first for localhost: libpq tries the refused family first.
    assert_eq!(v6["system_rank"], 0, "{v6:#}");
    assert_eq!(v4["system_rank"], 1, "{v4:#}");

    // Refused at once, so libpq falls back to IPv4 without delay: info, beside the refused
    // address itself (an address libpq tries).
    let f = expect_finding(&report, "ipv6_ipv4_differ", INFO, &["[::1]:5432"]);
    let text = finding_text(f);
    assert!(
        text.contains("IPv6") && text.contains("IPv4"),
        "says which family works: {f:#}"
    );
    assert!(
        !strings(&f["addresses"]).contains(&"127.0.0.1:5432"),
        "names the failing family's addresses: {f:#}"
    );
    expect_finding(&report, "address_refused", ERROR, &["[::1]:5432"]);
    assert_exit_follows_findings(&run, &report);

    // The same, with IPv6 packets dropped instead: libpq tries ::1 first and waits for
    // connect_timeout on every connection before IPv4 works.
    ns.drop_tcp("::1".parse().unwrap(), 5432);
    let (run, report) = pgreach(&ns, &["localhost", "-U", "app"]);
    let v6 = address(&report, "::1");
    assert_eq!(v6["tcp"]["status"], "timeout");
    assert_eq!(v6["system_rank"], 0);
    assert_eq!(address(&report, "127.0.0.1")["reached_auth"], true);

    expect_finding(&report, "ipv6_ipv4_differ", WARNING, &["[::1]:5432"]);
    expect_finding(&report, "address_timeout", ERROR, &["[::1]:5432"]);
    assert_exit_follows_findings(&run, &report);
}

// ---------------------------------------------------------------------------------------------
// Something else on the port

#[test]
fn real_http_server_on_the_port_is_not_postgres() {
    let ns = Netns::new();
    let _http = HttpServer::start(&ns, 5432);
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "ok");
    // http.server waits for a newline that the 8-byte SSLRequest never sends.
    assert_eq!(a["ssl_request"]["answer"], "timeout", "{a:#}");
    assert_eq!(a["reached_auth"], false);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "bounded by --connect-timeout 2: {:?}",
        run.elapsed
    );
    assert_eq!(run.status, 1);

    expect_finding(&report, "not_postgres", ERROR, &["127.0.0.1:5432"]);
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn http_server_on_the_port_is_not_postgres() {
    // An HTTP server that rejects the SSLRequest bytes at once, as nginx does ("client sent
    // invalid method"): the fake server, because no HTTP server in the test packages does
    // (Python's http.server waits for a newline: the test above).
    let http = FakeServer::spawn_n(
        vec![
            Step::Expect(8),
            Step::Send(
                b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            ),
            Step::Close,
        ],
        2,
    );
    let target = format!("127.0.0.1:{}", http.port());
    let run = run_pgreach(None, &["--json", "--connect-timeout", "2", &target], &[]);
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "ok");
    assert_eq!(a["ssl_request"]["answer"], "other", "{a:#}");
    assert_eq!(a["ssl_request"]["byte"], u64::from(b'H'));
    assert!(
        a["ssl_request"]["peer_bytes"]
            .as_str()
            .is_some_and(|s| s.starts_with("HTTP/1.1 400 Bad Request")),
        "{a:#}"
    );
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    let f = expect_finding(&report, "not_postgres", ERROR, &[&target]);
    assert!(
        finding_text(f).contains("HTTP"),
        "shows what answers: {f:#}"
    );
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn ssh_banner_on_the_port_is_not_postgres() {
    // An SSH server speaks first: its banner is waiting before our SSLRequest is even read,
    // and its first byte happens to be 'S'.
    let ssh = FakeServer::spawn_n(
        vec![
            Step::Send(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".to_vec()),
            Step::Drain(3000),
            Step::Close,
        ],
        2,
    );
    let target = format!("127.0.0.1:{}", ssh.port());
    let run = run_pgreach(None, &["--json", "--connect-timeout", "2", &target], &[]);
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "ok");
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert!(
        a["ssl_request"]["unencrypted_bytes_after_s"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{a:#}"
    );
    assert!(
        a["ssl_request"]["peer_bytes"]
            .as_str()
            .is_some_and(|s| s.starts_with("SSH-2.0-OpenSSH_9.2")),
        "{a:#}"
    );
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    let f = expect_finding(&report, "not_postgres", ERROR, &[&target]);
    assert!(
        finding_text(f).contains("SSH-2.0"),
        "shows the banner: {f:#}"
    );
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn bytes_after_s_are_unencrypted_data_after_ssl() {
    // CVE-2021-23222: a man in the middle answers `S` and appends its own bytes (here a
    // ParameterStatus) before the TLS handshake. PostgreSQL itself never does this.
    let injected = s_then_injected_bytes();
    let mitm = FakeServer::spawn_n(
        vec![
            Step::Expect(8),
            Step::Send(injected.clone()),
            Step::Drain(3000),
            Step::Close,
        ],
        2,
    );
    let target = format!("127.0.0.1:{}", mitm.port());
    let run = run_pgreach(
        None,
        &[
            "--json",
            "--connect-timeout",
            "2",
            "--sslmode",
            "require",
            &target,
        ],
        &[],
    );
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert_eq!(
        a["ssl_request"]["unencrypted_bytes_after_s"],
        injected.len() - 1,
        "every byte after the S: {a:#}"
    );
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    expect_finding(&report, "unencrypted_data_after_ssl", ERROR, &[&target]);
    assert_exit_follows_findings(&run, &report);
}

// ---------------------------------------------------------------------------------------------
// Server state: starting up, shutting down, in recovery, full

#[test]
fn standby_before_recovery_starts_is_server_starting_up() {
    let ns = Netns::new();
    let primary = Cluster::start(&ns, replication_primary(ClusterSpec::new()));
    let standby = start_standby(&ns, &primary, 5433, StandbyKind::StartingUp);
    let (run, report) = pgreach(&ns, &["127.0.0.1:5433", "-U", "postgres"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "ok");
    let st = &a["startup"];
    assert_eq!(
        st["status"],
        "error",
        "{a:#}\n{}",
        standby.log_tail_lines(20)
    );
    assert_eq!(st["error"]["sqlstate"], "57P03");
    assert_eq!(st["error"]["message"], "the database system is starting up");
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    expect_finding(&report, "server_starting_up", ERROR, &["127.0.0.1:5433"]);
    assert_no_finding(&report, "server_shutting_down");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn smart_shutdown_with_a_held_session_is_server_shutting_down() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let mut held = HeldSessions::new();
    let socket = cluster.socket_dir().to_str().unwrap().to_owned();
    held.hold(&cluster, 1, "postgres", None, &socket);
    begin_smart_shutdown(&cluster);

    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tcp"]["status"], "ok");
    let st = &a["startup"];
    assert_eq!(st["status"], "error", "{a:#}");
    assert_eq!(st["error"]["sqlstate"], "57P03");
    assert_eq!(
        st["error"]["message"],
        "the database system is shutting down"
    );
    assert_eq!(run.status, 1);

    expect_finding(&report, "server_shutting_down", ERROR, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "server_starting_up");
    assert_exit_follows_findings(&run, &report);
    drop(held);
}

#[test]
fn hot_standby_is_server_in_recovery() {
    let ns = Netns::new();
    let primary = Cluster::start(&ns, replication_primary(ClusterSpec::new()));
    let _standby = start_standby(&ns, &primary, 5433, StandbyKind::Hot);
    // trust (initdb's default pg_hba): the server reports in_hot_standby before ReadyForQuery.
    let (run, report) = pgreach(&ns, &["127.0.0.1:5433", "-U", "postgres"]);
    let a = address(&report, "127.0.0.1");
    let st = &a["startup"];
    assert_eq!(st["auth"], "trust", "{a:#}");
    assert_eq!(a["reached_auth"], true);
    let params = st["parameters"].as_array().expect("parameters");
    assert!(
        params
            .iter()
            .any(|p| p[0] == "in_hot_standby" && p[1] == "on"),
        "in_hot_standby=on reported: {st:#}"
    );
    // The primary, for contrast.
    let (_, primary_report) = pgreach(&ns, &["127.0.0.1:5432", "-U", "postgres"]);
    let pst = &address(&primary_report, "127.0.0.1")["startup"];
    assert!(
        pst["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "in_hot_standby" && p[1] == "off"),
        "{pst:#}"
    );

    // Reachable, but read-only: writes will fail.
    expect_finding(&report, "server_in_recovery", WARNING, &["127.0.0.1:5433"]);
    assert_no_finding(&primary_report, "server_in_recovery");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn standby_with_hot_standby_off_is_server_in_recovery() {
    let ns = Netns::new();
    let primary = Cluster::start(&ns, replication_primary(ClusterSpec::new()));
    let _standby = start_standby(&ns, &primary, 5433, StandbyKind::HotStandbyOff);
    let (run, report) = pgreach(&ns, &["127.0.0.1:5433", "-U", "postgres"]);
    let a = address(&report, "127.0.0.1");
    let st = &a["startup"];
    assert_eq!(st["status"], "error", "{a:#}");
    assert_eq!(st["error"]["sqlstate"], "57P03");
    assert_eq!(
        st["error"]["message"],
        "the database system is not accepting connections"
    );
    assert_eq!(st["error"]["detail"], "Hot standby mode is disabled.");
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    expect_finding(&report, "server_in_recovery", ERROR, &["127.0.0.1:5433"]);
    assert_no_finding(&report, "server_starting_up");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn exhausted_max_connections_is_too_many_clients() {
    const MAX: usize = 5;
    const RESERVED: usize = 2;
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .max_connections(MAX as u32)
            .conf(&format!("superuser_reserved_connections = {RESERVED}"))
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    // Every slot taken: the non-superuser ones by `app` over TCP, the reserved ones by the
    // superuser over the socket. A new connection then fails before authentication, whoever
    // it is ("remaining connection slots are reserved" would only show after it).
    let mut held = HeldSessions::new();
    held.hold(
        &cluster,
        MAX - RESERVED,
        "app",
        Some("app-secret"),
        "127.0.0.1",
    );
    let socket = cluster.socket_dir().to_str().unwrap().to_owned();
    held.hold(&cluster, RESERVED, "postgres", None, &socket);

    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app"]);
    let a = address(&report, "127.0.0.1");
    let st = &a["startup"];
    assert_eq!(st["status"], "error", "{a:#}");
    assert_eq!(st["error"]["sqlstate"], "53300");
    assert_eq!(st["error"]["message"], "sorry, too many clients already");
    assert_eq!(a["reached_auth"], false);
    assert_eq!(run.status, 1);

    expect_finding(&report, "too_many_clients", ERROR, &["127.0.0.1:5432"]);
    assert_exit_follows_findings(&run, &report);
    drop(held);
}

// ---------------------------------------------------------------------------------------------
// SSL and pg_hba

#[test]
fn ssl_off_with_sslmode_require_is_ssl_not_supported() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app", "--sslmode", "require"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "N");
    assert_null(a, "tls");
    // pgreach goes on over plaintext after `N` to see what pg_hba says (libpq would not).
    assert_eq!(a["startup"]["channel"], "plaintext");
    assert_eq!(a["startup"]["auth"], "sasl");

    expect_finding(&report, "ssl_not_supported", ERROR, &["127.0.0.1:5432"]);
    // libpq stops at `N` under sslmode=require ("server does not support SSL, but SSL was
    // required"): this address does not reach authentication.
    assert_eq!(a["reached_auth"], false, "require cannot go on after N");
    assert_eq!(run.status, 1);
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn hostssl_only_with_plaintext_is_ssl_required_by_hba() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app", "--sslmode", "disable"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["startup"]["channel"], "plaintext");
    assert_eq!(a["startup"]["error"]["sqlstate"], "28000");
    assert!(
        a["startup"]["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("no encryption"),
        "{a:#}"
    );
    assert_eq!(a["startup_other"]["channel"], "tls");
    assert_eq!(a["startup_other"]["auth"], "sasl");
    assert_eq!(run.status, 1);

    expect_finding(&report, "ssl_required_by_hba", ERROR, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "pg_hba_no_entry");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn hostnossl_only_with_tls_is_ssl_rejected_by_hba() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["hostnossl all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app", "--sslmode", "require"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "S");
    assert_eq!(a["tls"]["status"], "ok");
    assert_eq!(a["startup"]["channel"], "tls");
    assert_eq!(a["startup"]["error"]["sqlstate"], "28000");
    assert!(
        a["startup"]["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("SSL encryption"),
        "{a:#}"
    );
    assert_eq!(a["startup_other"]["channel"], "plaintext");
    assert_eq!(a["startup_other"]["auth"], "sasl");
    assert_eq!(run.status, 1);

    expect_finding(&report, "ssl_rejected_by_hba", ERROR, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "pg_hba_no_entry");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn no_matching_hba_line_is_pg_hba_no_entry_quoting_the_client_address() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["host otherdb all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app", "-d", "appdb"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "N");
    let err = &a["startup"]["error"];
    assert_eq!(err["sqlstate"], "28000");
    assert_eq!(
        err["message"],
        "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"appdb\", \
         no encryption"
    );
    assert_eq!(run.status, 1);

    let f = expect_finding(&report, "pg_hba_no_entry", ERROR, &["127.0.0.1:5432"]);
    assert!(
        finding_text(f).contains("127.0.0.1"),
        "quotes the client address the server saw: {f:#}"
    );
    assert_no_finding(&report, "pg_hba_reject");
    assert_no_finding(&report, "ssl_required_by_hba");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn reject_line_is_pg_hba_reject() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .hba(&[
                "host all app 127.0.0.1/32 reject",
                "host all all 127.0.0.1/32 scram-sha-256",
            ])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app"]);
    let err = &address(&report, "127.0.0.1")["startup"]["error"];
    assert_eq!(err["sqlstate"], "28000");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("pg_hba.conf rejects connection for host \"127.0.0.1\", user \"app\""),
        "{err:#}"
    );
    assert_eq!(run.status, 1);

    expect_finding(&report, "pg_hba_reject", ERROR, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "pg_hba_no_entry");
    assert_exit_follows_findings(&run, &report);
}

// ---------------------------------------------------------------------------------------------
// Authentication methods

#[test]
fn password_method_without_ssl_is_auth_cleartext_over_plaintext() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .hba(&["host all all 127.0.0.1/32 password"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "N");
    assert_eq!(a["startup"]["channel"], "plaintext");
    assert_eq!(a["startup"]["auth"], "password");
    assert_eq!(a["startup"]["auth_code"], 3);
    assert_eq!(a["reached_auth"], true);
    assert_eq!(run.status, 0);

    expect_finding(
        &report,
        "auth_cleartext_over_plaintext",
        WARNING,
        &["127.0.0.1:5432"],
    );
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn md5_method_is_auth_md5() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .password_encryption("md5")
            .hba(&["hostssl all all 127.0.0.1/32 md5"])
            .role("app", "app-secret"),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "app", "--sslmode", "require"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["startup"]["channel"], "tls");
    assert_eq!(a["startup"]["auth"], "md5");
    assert_eq!(a["startup"]["auth_code"], 5);
    assert_eq!(a["reached_auth"], true);
    assert_eq!(run.status, 0);

    expect_finding(&report, "auth_md5", WARNING, &["127.0.0.1:5432"]);
    assert_no_finding(&report, "auth_cleartext_over_plaintext");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn trust_over_tcp_is_auth_trust() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .hba(&["host all all 127.0.0.1/32 trust"]),
    );
    let (run, report) = pgreach(&ns, &["127.0.0.1", "-U", "postgres", "-d", "postgres"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["startup"]["auth"], "trust");
    assert_eq!(a["startup"]["auth_code"], 0);
    assert_eq!(a["reached_auth"], true);
    assert_eq!(run.status, 0);

    expect_finding(&report, "auth_trust", WARNING, &["127.0.0.1:5432"]);
    assert_exit_follows_findings(&run, &report);
}

// ---------------------------------------------------------------------------------------------
// Healthy

#[test]
fn healthy_scram_over_verified_tls_has_no_error_findings() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1,::1")
            .password_encryption("scram-sha-256")
            .hba(&[
                "hostssl all all 127.0.0.1/32 scram-sha-256",
                "hostssl all all ::1/128 scram-sha-256",
            ])
            .role("app", "app-secret"),
    );
    let ca = cluster.ca_path().to_str().unwrap().to_owned();

    // verify-full with the right CA: nothing to fix.
    let (run, report) = pgreach(
        &ns,
        &[
            "localhost",
            "-U",
            "app",
            "--sslmode",
            "verify-full",
            "--sslrootcert",
            &ca,
        ],
    );
    for ip in ["127.0.0.1", "::1"] {
        let a = address(&report, ip);
        assert_eq!(a["tls"]["status"], "ok", "{ip}");
        assert_eq!(a["tls"]["version"], "TLSv1.3", "{ip}");
        assert_eq!(a["startup"]["channel"], "tls", "{ip}");
        assert_eq!(a["startup"]["auth"], "sasl", "{ip}");
        assert_eq!(a["reached_auth"], true, "{ip}");
    }
    assert_eq!(run.status, 0, "{run}");
    let severities: Vec<&str> = at(&report, "findings")
        .as_array()
        .expect("findings[]")
        .iter()
        .map(|f| at(f, "severity").as_str().expect("severity is text"))
        .collect();
    assert!(
        !severities.contains(&ERROR) && !severities.contains(&WARNING),
        "healthy: {:#}",
        report["findings"]
    );
    assert_no_finding(&report, "sslmode_below_verify_full");
    assert_exit_follows_findings(&run, &report);
    // The facts behind "nothing to fix": the root file is trusted, both verdicts pass.
    assert_eq!(report["trust"]["source"], "file", "{:#}", report["trust"]);
    assert_eq!(report["trust"]["certificates"], 1);
    for ip in ["127.0.0.1", "::1"] {
        let tls = &address(&report, ip)["tls"];
        assert_eq!(tls["verify_ca"]["ok"], true, "{ip}: {tls:#}");
        assert_eq!(tls["verify_full"]["ok"], true, "{ip}: {tls:#}");
    }

    // The same server with sslmode=require: it works, and the certificate would pass
    // verify-full, so the advice is to use it (info, exit 0).
    let (run, report) = pgreach(
        &ns,
        &[
            "localhost",
            "-U",
            "app",
            "--sslmode",
            "require",
            "--sslrootcert",
            &ca,
        ],
    );
    assert_eq!(run.status, 0, "{run}");
    assert_eq!(address(&report, "127.0.0.1")["tls"]["status"], "ok");

    let f = expect_finding(&report, "sslmode_below_verify_full", INFO, &[]);
    assert_eq!(f["host"], "localhost", "{f:#}");
    assert_exit_follows_findings(&run, &report);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tls"]["verify_full"]["ok"], true, "{a:#}");
}
