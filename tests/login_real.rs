//! `--login` (issue 5) against real PostgreSQL 15 clusters in network namespaces: SCRAM with and
//! without channel binding (and with a non-ASCII password, SASLprepped like libpq's), the `-W`
//! prompt on a terminal, MD5, cleartext over TLS and (refused) over plaintext, wrong passwords,
//! missing roles and databases under trust and SCRAM, the password file (right entry; mode 0644
//! ignored with a warning), read-only servers, connection slots nearly used up. A hand-scripted
//! fake server only for what no real server does: a wrong SCRAM server signature.
//!
//! Every test also checks that the password appears nowhere in pgreach's output.

mod support;

use support::files::write_with_mode;
use support::{
    HeldSessions, address, assert_no_finding, assert_null, at, backend_message, finding,
};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::{
    Cluster, ClusterSpec, Netns, PgreachRun, StandbyKind, replication_primary, run_pgreach,
    run_with_timeout, start_standby,
};

/// A password no output may contain.
const PASSWORD: &str = "Pw-9f3kq2-Zx!uniq";

#[track_caller]
fn no_password_in(run: &PgreachRun) {
    assert!(!run.stdout.contains(PASSWORD), "password in stdout\n{run}");
    assert!(!run.stderr.contains(PASSWORD), "password in stderr\n{run}");
}

/// `--login --json` against 127.0.0.1, with `env`; returns the run, the report and the
/// address's `login` object.
fn login(ns: &Netns, args: &[&str], env: &[(&str, &str)]) -> (PgreachRun, Value, Value) {
    let mut all = vec!["--json", "--login", "--connect-timeout", "5"];
    all.extend_from_slice(args);
    let run = run_pgreach(Some(ns), &all, env);
    no_password_in(&run);
    let report = run.json();
    let login = at(address(&report, "127.0.0.1"), "login").clone();
    (run, report, login)
}

fn scram_cluster(ns: &Netns) -> Cluster {
    scram_cluster_with_role(ns, "app", PASSWORD)
}

/// SSL on, SCRAM required over TLS and plaintext, one role `name` with `password`.
fn scram_cluster_with_role(ns: &Netns, name: &str, password: &str) -> Cluster {
    Cluster::start(
        ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .ssl(true)
            .password_encryption("scram-sha-256")
            .role(name, password)
            .hba(&[
                "hostssl all all 127.0.0.1/32 scram-sha-256",
                "hostnossl all all 127.0.0.1/32 scram-sha-256",
            ]),
    )
}

#[test]
fn scram_plus_over_tls_and_plain_scram() {
    let ns = Netns::new();
    let _c = scram_cluster(&ns);
    let pw = [("PGPASSWORD", PASSWORD)];

    // TLS: the server offers -PLUS, channel_binding=prefer (the default) uses it.
    let (run, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=require"],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}\n{run}");
    assert_eq!(l["method"], "scram-sha-256-plus");
    assert_eq!(l["channel_binding"], "tls-server-end-point");
    assert_eq!(l["server_signature_verified"], true);
    assert_eq!(l["password_source"], "PGPASSWORD");
    assert_eq!(l["channel"], "tls");
    let s = &l["session"];
    assert_eq!(s["current_user"], "app");
    assert_eq!(s["current_database"], "postgres");
    assert_eq!(s["client_address"], "127.0.0.1");
    assert_eq!(s["server_address"], "127.0.0.1");
    assert_eq!(s["in_recovery"], false);
    assert_eq!(s["ssl"], true);
    assert!(
        s["ssl_version"].as_str().unwrap().starts_with("TLS"),
        "{s:#}"
    );
    assert_eq!(s["max_connections"], 20);
    assert_eq!(s["superuser_reserved_connections"], 3);
    assert_eq!(s["role_connection_limit"], -1);
    assert!(s["connections_in_use"].as_u64().unwrap() >= 1);
    assert_eq!(l["backend_key"], "***");
    assert!(l["backend_pid"].as_u64().is_some());
    assert!(
        l["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "server_version")
    );
    finding(&report, "login_ok", "info");
    assert_no_finding(&report, "ssl_not_in_use");
    assert_eq!(run.status, 0, "{run}");

    // TLS with channel_binding=disable: plain SCRAM-SHA-256.
    let (_, _, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=require channel_binding=disable"],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_eq!(l["method"], "scram-sha-256");
    assert_null(&l, "channel_binding");

    // Plaintext: SCRAM without binding; channel_binding=require refuses it like libpq.
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=disable"],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_eq!(l["method"], "scram-sha-256");
    assert_eq!(l["session"]["ssl"], false);
    assert_no_finding(&report, "ssl_not_in_use"); // sslmode=disable expects no SSL
    let (_, _, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=disable channel_binding=require"],
        &pw,
    );
    assert_eq!(l["status"], "policy_refused", "{l:#}");

    // require_auth is honoured.
    let (_, _, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=require require_auth=md5"],
        &pw,
    );
    assert_eq!(l["status"], "policy_refused", "{l:#}");
    assert!(
        l["detail"].as_str().unwrap().contains("require_auth")
            || l["detail"].as_str().unwrap().contains("requirement")
    );
}

#[test]
fn wrong_password_missing_role_and_database_under_scram() {
    let ns = Netns::new();
    let _c = scram_cluster(&ns);
    let (run, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=require"],
        &[("PGPASSWORD", "not-the-password")],
    );
    assert_eq!(l["status"], "auth_failed", "{l:#}");
    assert_eq!(l["error"]["sqlstate"], "28P01");
    finding(&report, "password_failed", "error");
    assert_eq!(run.status, 1);

    // A missing role: the server fakes a SCRAM challenge, so the client sees 28P01 too.
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=nosuchrole dbname=postgres sslmode=require"],
        &[("PGPASSWORD", PASSWORD)],
    );
    assert_eq!(
        l["method"], "scram-sha-256-plus",
        "the mock challenge looks real: {l:#}"
    );
    assert_eq!(l["error"]["sqlstate"], "28P01");
    let f = finding(&report, "password_failed", "error");
    assert!(f["summary"].as_str().unwrap().contains("does not exist"));
    assert_no_finding(&report, "role_missing");

    // A missing database: visible only after authentication.
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=nosuchdb sslmode=require"],
        &[("PGPASSWORD", PASSWORD)],
    );
    assert_eq!(l["status"], "session_refused", "{l:#}");
    assert_eq!(l["error"]["sqlstate"], "3D000");
    finding(&report, "database_missing", "error");
}

/// A non-ASCII password, which the server stored SASLprepped (Ⅸ becomes IX, the soft hyphen
/// goes): libpq logs in with it as typed, and so must pgreach, over TLS (SCRAM-SHA-256-PLUS)
/// and plaintext (SCRAM-SHA-256).
#[test]
fn non_ascii_password_is_prepared_like_libpq() {
    const TYPED: &str = "\u{2168}-na\u{EF}ve\u{AD}-Pw7";
    const PREPARED: &str = "IX-na\u{EF}ve-Pw7";
    let ns = Netns::new();
    let c = scram_cluster_with_role(&ns, "intl", TYPED);
    for sslmode in ["require", "disable"] {
        let conninfo = format!(
            "host=127.0.0.1 port={} user=intl dbname=postgres sslmode={sslmode}",
            c.port()
        );
        // libpq itself, the reference.
        let mut psql = c.pg_cmd("psql");
        psql.args(["-X", "-w", "-Atc", "SELECT current_user", &conninfo])
            .env("PGPASSWORD", TYPED);
        let out = run_with_timeout(&mut psql, Duration::from_secs(30)).expect("psql runs");
        assert!(out.success(), "psql, sslmode={sslmode}: {}", out.describe());
        assert_eq!(out.stdout_str().trim(), "intl");

        let (run, _, l) = login(&ns, &[&conninfo], &[("PGPASSWORD", TYPED)]);
        assert_eq!(l["status"], "ok", "sslmode={sslmode}: {l:#}\n{run}");
        let method = if sslmode == "require" {
            "scram-sha-256-plus"
        } else {
            "scram-sha-256"
        };
        assert_eq!(l["method"], method);
        assert_eq!(l["session"]["current_user"], "intl");
        for secret in [TYPED, PREPARED] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{run}"
            );
        }
    }
}

/// `-W` asks on the terminal, like psql -W: the prompt appears there, echo is off while the
/// password is typed, and the login uses what was typed.
#[test]
fn w_prompts_on_the_terminal_without_echo() {
    let ns = Netns::new();
    let _c = scram_cluster(&ns);
    let (mut master, slave) = support::pty::openpty();
    let (mut cmd, _home) = support::pgreach_command(
        Some(&ns),
        &[
            "--json",
            "--login",
            "-W",
            "--connect-timeout",
            "5",
            "host=127.0.0.1 user=app dbname=postgres sslmode=require",
        ],
        &[],
    );
    support::pty::controlling_terminal(&mut cmd, &slave);

    // The terminal's side: wait for the prompt and for echo to go off, type the password,
    // then keep reading until pgreach is gone (every wait bounded).
    let typist = thread::spawn(move || {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 1024];
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8_lossy(&seen).contains("Password for user app: ") {
            assert!(std::time::Instant::now() < deadline, "no prompt: {seen:?}");
            match master.read(&mut chunk) {
                Ok(0) | Err(_) => panic!("the terminal closed before the prompt: {seen:?}"),
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
        while support::pty::echoes(&master) {
            assert!(std::time::Instant::now() < deadline, "echo stays on");
            thread::sleep(Duration::from_millis(5));
        }
        master
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        // Ends with EIO once pgreach and our copy of the slave are closed.
        while let Ok(n @ 1..) = master.read(&mut chunk) {
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let out = run_with_timeout(&mut cmd, Duration::from_secs(40)).expect("pgreach starts");
    drop(slave);
    let terminal = typist.join().expect("the terminal side");

    let run = PgreachRun::from(out);
    no_password_in(&run);
    assert!(!terminal.contains(PASSWORD), "echoed: {terminal:?}");
    let report = run.json();
    let l = &address(&report, "127.0.0.1")["login"];
    assert_eq!(l["status"], "ok", "{l:#}\n{run}");
    assert_eq!(l["password_source"], "prompt (-W)");
    assert_eq!(l["method"], "scram-sha-256-plus");
}

#[test]
fn md5_and_cleartext_over_tls_and_plaintext() {
    let ns = Netns::new();
    let _c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .ssl(true)
            .password_encryption("md5")
            .role("app", PASSWORD)
            .role("clear", PASSWORD)
            .hba(&[
                "host all clear 127.0.0.1/32 password",
                "host all all 127.0.0.1/32 md5",
            ]),
    );
    let pw = [("PGPASSWORD", PASSWORD)];
    let (run, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=disable"],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}\n{run}");
    assert_eq!(l["method"], "md5");
    finding(&report, "login_ok", "info");

    // Cleartext over TLS: sent.
    let (_, _, l) = login(
        &ns,
        &["host=127.0.0.1 user=clear dbname=postgres sslmode=require"],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_eq!(l["method"], "password");
    assert_eq!(l["session"]["ssl"], true);

    // Cleartext over plaintext: refused without --allow-cleartext.
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=clear dbname=postgres sslmode=disable"],
        &pw,
    );
    assert_eq!(l["status"], "refused_cleartext", "{l:#}");
    // Nothing was taken, nothing sent.
    assert_null(&l, "password_source");
    finding(&report, "auth_cleartext_over_plaintext", "warning");
    assert_no_finding(&report, "login_ok");
    // With --allow-cleartext it is sent; the transcript and pcap still do not show it.
    let evidence = tempfile::tempdir().unwrap();
    let transcript = evidence.path().join("t.txt");
    let pcap = evidence.path().join("p.pcapng");
    let (_, _, l) = login(
        &ns,
        &[
            "host=127.0.0.1 user=clear dbname=postgres sslmode=disable",
            "--allow-cleartext",
            "--transcript",
            transcript.to_str().unwrap(),
            "--pcap",
            pcap.to_str().unwrap(),
        ],
        &pw,
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    let needle = PASSWORD.as_bytes();
    for file in [&transcript, &pcap] {
        let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!bytes.is_empty(), "{} is empty", file.display());
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "password in {}",
            file.display()
        );
    }
    // The text transcript is a hex dump (16 bytes a row), where the password would be split
    // across rows and not appear as one run of text: search the dumped bytes themselves.
    let text = std::fs::read_to_string(&transcript).unwrap();
    let dumped = hexdump_bytes(&text);
    assert!(!dumped.is_empty(), "no hex dump rows in\n{text}");
    assert!(
        !dumped.windows(needle.len()).any(|w| w == needle),
        "password in the transcript's hex dump\n{text}"
    );

    // sslmode=prefer against a server without SSL would be ssl_not_in_use; here the server
    // has SSL, so prefer uses it.
    let (_, report, l) = login(&ns, &["host=127.0.0.1 user=app dbname=postgres"], &pw);
    assert_eq!(l["channel"], "tls", "{l:#}");
    assert_no_finding(&report, "ssl_not_in_use");
}

/// Every byte of the text transcript's hex dump rows (`    0010  70 00 … |p...|`), in order.
fn hexdump_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((offset, rest)) = line.split_once("  ") else {
            continue;
        };
        let Some((hex, _ascii)) = rest.split_once('|') else {
            continue;
        };
        if offset.len() != 4 || !offset.chars().all(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        for b in hex.split_whitespace() {
            out.push(u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("{b:?} in {line}: {e}")));
        }
    }
    out
}

#[test]
fn ssl_not_in_use_when_prefer_meets_a_server_without_ssl() {
    let ns = Netns::new();
    let _c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .role("app", PASSWORD)
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"]),
    );
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=app dbname=postgres sslmode=prefer"],
        &[("PGPASSWORD", PASSWORD)],
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_eq!(l["session"]["ssl"], false);
    finding(&report, "ssl_not_in_use", "warning");
}

#[test]
fn trust_missing_role_and_database_and_read_only_default() {
    let ns = Netns::new();
    let _c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .conf("default_transaction_read_only = on")
            .hba(&["host all all 127.0.0.1/32 trust"]),
    );
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=nosuchrole dbname=postgres sslmode=disable"],
        &[],
    );
    assert_eq!(l["method"], "trust");
    assert_eq!(l["status"], "session_refused", "{l:#}");
    assert_eq!(l["error"]["sqlstate"], "28000");
    finding(&report, "role_missing", "error");

    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=postgres dbname=nosuchdb sslmode=disable"],
        &[],
    );
    assert_eq!(l["error"]["sqlstate"], "3D000", "{l:#}");
    finding(&report, "database_missing", "error");

    let (run, report, l) = login(
        &ns,
        &["host=127.0.0.1 user=postgres dbname=postgres sslmode=disable"],
        &[],
    );
    assert_eq!(l["status"], "ok", "{l:#}\n{run}");
    assert_null(&l, "password_source");
    assert_eq!(l["session"]["default_transaction_read_only"], true);
    assert_eq!(l["session"]["is_superuser"], true);
    finding(&report, "read_only_server", "warning");
    // The startup facts are the same as without --login (trust: parameters recorded).
    let st = &report["addresses"][0]["startup"];
    assert_eq!(st["auth"], "trust");
    assert!(
        st["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "default_transaction_read_only" && p[1] == "on")
    );
}

#[test]
fn hot_standby_is_read_only_server() {
    let ns = Netns::new();
    let primary = Cluster::start(
        &ns,
        replication_primary(ClusterSpec::new().listen("127.0.0.1")),
    );
    let _standby = start_standby(&ns, &primary, 5433, StandbyKind::Hot);
    let (_, report, l) = login(
        &ns,
        &["host=127.0.0.1 port=5433 user=postgres dbname=postgres sslmode=disable"],
        &[],
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_eq!(l["session"]["in_recovery"], true);
    let f = finding(&report, "read_only_server", "warning");
    assert!(f["summary"].as_str().unwrap().contains("standby"));
}

fn write_pgpass(dir: &std::path::Path, text: &str, mode: u32) -> std::path::PathBuf {
    let path = dir.join(".pgpass");
    write_with_mode(&path, text, mode);
    path
}

#[test]
fn pgpass_right_entry_and_world_readable_file() {
    let ns = Netns::new();
    let _c = scram_cluster(&ns);
    let home = tempfile::tempdir().unwrap();
    let target = "host=127.0.0.1 user=app dbname=postgres sslmode=require";
    let text = format!("# test\notherhost:5432:*:app:wrong\n127.0.0.1:5432:*:app:{PASSWORD}\n");

    // ~/.pgpass (HOME), mode 0600: used, and the report says so.
    write_pgpass(home.path(), &text, 0o600);
    let home_str = home.path().to_str().unwrap();
    let (_, _, l) = login(&ns, &[target], &[("HOME", home_str)]);
    assert_eq!(l["status"], "ok", "{l:#}");
    let src = l["password_source"].as_str().unwrap();
    assert!(
        src.starts_with("passfile ") && src.ends_with(".pgpass line 3"),
        "{src}"
    );

    // PGPASSFILE wins over ~/.pgpass.
    let other = tempfile::tempdir().unwrap();
    let file = write_pgpass(other.path(), &format!("*:*:*:*:{PASSWORD}\n"), 0o600);
    let (_, _, l) = login(
        &ns,
        &[target],
        &[("HOME", home_str), ("PGPASSFILE", file.to_str().unwrap())],
    );
    assert_eq!(l["status"], "ok", "{l:#}");
    assert!(
        l["password_source"]
            .as_str()
            .unwrap()
            .contains(other.path().to_str().unwrap())
    );

    // Mode 0644: ignored with libpq's warning, so no password.
    write_pgpass(home.path(), &text, 0o644);
    let (run, report, l) = login(&ns, &[target], &[("HOME", home_str)]);
    assert_eq!(l["status"], "no_password", "{l:#}");
    let warnings = l["password_warnings"].as_array().unwrap();
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("group or world access"),
        "{l:#}"
    );
    assert!(
        run.stderr.contains("group or world access"),
        "warned on stderr like libpq\n{run}"
    );
    finding(&report, "login_failed", "warning");
}

#[test]
fn connections_near_limit_with_held_sessions() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .max_connections(10)
            .conf("superuser_reserved_connections = 2")
            .password_encryption("scram-sha-256")
            .role("app", PASSWORD)
            .hba(&["host all all 127.0.0.1/32 scram-sha-256"]),
    );
    let args = [
        "host=127.0.0.1 user=app dbname=postgres sslmode=disable",
        "--quiet-server",
    ];
    let pw = [("PGPASSWORD", PASSWORD)];
    let (_, report, l) = login(&ns, &args, &pw);
    assert_eq!(l["status"], "ok", "{l:#}");
    assert_no_finding(&report, "connections_near_limit");

    // 6 held + ours = 7 of the 8 a non-superuser can get (10 - 2 reserved): ≥ 80%.
    let mut held = HeldSessions::new();
    let socket = cluster.socket_dir().to_str().unwrap().to_owned();
    held.hold(&cluster, 6, "postgres", None, &socket);
    let (_, report, l) = login(&ns, &args, &pw);
    assert_eq!(l["status"], "ok", "{l:#}");
    let s = &l["session"];
    assert_eq!(s["connections_available_to_role"], 8);
    assert!(s["connections_in_use"].as_u64().unwrap() >= 7, "{s:#}");
    finding(&report, "connections_near_limit", "warning");
}

/// A server that speaks SCRAM correctly up to the end, then sends a wrong signature.
/// What the fake received: everything up to its last message, and what came after it.
type Received = (Vec<u8>, Vec<u8>);

fn wrong_signature_server() -> (u16, thread::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut seen = Vec::new();
        let mut read_exact = |s: &mut std::net::TcpStream, n: usize| {
            let mut b = vec![0u8; n];
            s.read_exact(&mut b).unwrap();
            seen.extend_from_slice(&b);
            b
        };
        let len = read_exact(&mut s, 4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        read_exact(&mut s, len - 4);
        // AuthenticationSASL (10) offering SCRAM-SHA-256.
        let sasl = backend_message(b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256\0\0");
        s.write_all(&sasl).unwrap();
        // SASLInitialResponse: 'p' len mechanism\0 int32 data
        let hdr = read_exact(&mut s, 5);
        let len = u32::from_be_bytes(hdr[1..5].try_into().unwrap()) as usize;
        let body = read_exact(&mut s, len - 4);
        let data = String::from_utf8_lossy(&body[18..]).into_owned();
        let nonce = data.split("r=").nth(1).unwrap().to_owned();
        let first = format!("r={nonce}SERVERPART,s=c2FsdHNhbHQ=,i=4096");
        // AuthenticationSASLContinue (11).
        let cont = backend_message(b'R', &[&11u32.to_be_bytes()[..], first.as_bytes()].concat());
        s.write_all(&cont).unwrap();
        let hdr = read_exact(&mut s, 5);
        let len = u32::from_be_bytes(hdr[1..5].try_into().unwrap()) as usize;
        read_exact(&mut s, len - 4);
        let fin = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        // AuthenticationSASLFinal (12).
        let fin = backend_message(b'R', &[&12u32.to_be_bytes()[..], fin.as_bytes()].concat());
        s.write_all(&fin).unwrap();
        // An impostor would now say AuthenticationOk; the client must already be gone.
        let _ = s.write_all(b"R\x00\x00\x00\x08\x00\x00\x00\x00");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        (seen, rest)
    });
    (port, handle)
}

#[test]
fn fake_server_with_a_wrong_scram_signature() {
    let (port, server) = wrong_signature_server();
    let port = port.to_string();
    let args = [
        "--json",
        "--login",
        "--quiet-server",
        "--connect-timeout",
        "5",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "app",
        "-d",
        "app",
        "--sslmode",
        "disable",
    ];
    let run = run_pgreach(None, &args, &[("PGPASSWORD", PASSWORD)]);
    no_password_in(&run);
    let report = run.json();
    let l = at(&report, "addresses.0.login");
    assert_eq!(l["status"], "server_signature_invalid", "{l:#}\n{run}");
    assert_eq!(l["server_signature_verified"], false);
    assert_null(l, "session");
    finding(&report, "server_signature_invalid", "error");
    assert_eq!(run.status, 1);
    let (seen, after) = server.join().unwrap();
    assert!(
        !String::from_utf8_lossy(&seen).contains(PASSWORD),
        "SCRAM never sends the password"
    );
    assert!(
        !after.starts_with(b"Q"),
        "no query after a bad signature: {after:?}"
    );
}

#[test]
fn password_never_in_text_markdown_or_debug_logs() {
    let ns = Netns::new();
    let _c = scram_cluster(&ns);
    for format in ["text", "markdown", "json"] {
        for target in [
            format!("postgresql://app:{PASSWORD}@127.0.0.1/postgres?sslmode=require"),
            "host=127.0.0.1 user=app dbname=postgres sslmode=disable".to_owned(),
        ] {
            let run = run_pgreach(
                Some(&ns),
                &[
                    "--login",
                    "--format",
                    format,
                    "-vv",
                    "--connect-timeout",
                    "5",
                    &target,
                ],
                &[("PGPASSWORD", PASSWORD)],
            );
            no_password_in(&run);
            assert_eq!(run.status, 0, "{run}");
        }
    }
}
