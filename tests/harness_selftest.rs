//! Tests of the test harness itself (tests/support): if these fail, no other integration test
//! can be trusted.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::process::run;
use support::{Cluster, ClusterSpec, FakeServer, Netns, Step, pg_bin, run_pgreach};

const T: Duration = Duration::from_secs(30);

fn getent(ns: &Netns, name: &str) -> support::Captured {
    let mut c = ns.cmd("getent");
    c.args(["ahosts", name]);
    run(&mut c, T)
}

fn addresses(out: &support::Captured) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = out
        .stdout_str()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn netns_resolves_names_from_its_own_hosts_file() {
    let ns = Netns::new();
    let both = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    for name in ["dual.test", "localhost"] {
        let out = getent(&ns, name).ok(name);
        assert_eq!(
            addresses(&out),
            both,
            "{name} in {}\n{}",
            ns.name(),
            out.describe()
        );
    }
    let v4 = getent(&ns, "v4only.test").ok("v4only.test");
    assert_eq!(addresses(&v4), vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    let v6 = getent(&ns, "v6only.test").ok("v6only.test");
    assert_eq!(addresses(&v6), vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);

    // No DNS server runs in the namespace: unknown names fail, and fast.
    let unknown = getent(&ns, "nonexistent.invalid");
    assert!(!unknown.success(), "{}", unknown.describe());
    assert!(
        unknown.elapsed < Duration::from_secs(10),
        "{}",
        unknown.describe()
    );

    // The root namespace is not affected by the namespace's hosts file.
    let root = run(Command::new("getent").args(["ahosts", "dual.test"]), T);
    assert!(
        !root.success(),
        "dual.test leaked into the root namespace\n{}",
        root.describe()
    );
}

#[test]
fn netns_drop_kills_processes_and_deletes_namespace() {
    let ns = Netns::new();
    let name = ns.name().to_owned();
    let mut sleeper = ns
        .cmd("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep in netns");
    // `ip netns exec` execs in place: wait until the child is inside the namespace.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ns.pids().contains(&sleeper.id()) {
        assert!(Instant::now() < deadline, "sleep never showed up in {name}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Path::new("/etc/netns").join(&name).join("hosts").exists());

    drop(ns);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = sleeper.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = sleeper.kill();
            panic!("process inside the namespace survived its Drop");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        !status.success(),
        "sleep should have been killed, got {status}"
    );
    let list = run(Command::new("ip").args(["netns", "list"]), T).ok("ip netns list");
    let names: Vec<String> = list
        .stdout_str()
        .lines()
        .filter_map(|l| Some(l.split_whitespace().next()?.to_owned()))
        .collect();
    assert!(!names.contains(&name), "{name} still listed: {names:?}");
    assert!(!Path::new("/etc/netns").join(&name).exists());
}

/// `bash -c 'exec 3<>/dev/tcp/HOST/PORT'` inside the namespace, killed after 1 s: exit 0 =
/// connected, 124 = timed out (dropped), other = refused/failed.
fn tcp_connect_code(ns: &Netns, host: &str, port: u16) -> i32 {
    let mut c = ns.cmd("timeout");
    c.args([
        "1",
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{host}/{port}"),
    ]);
    run(&mut c, T).code()
}

#[test]
fn ssl_cluster_on_both_families_with_valid_chain_and_firewall() {
    let ns = Netns::new();
    let c = Cluster::start(&ns, ClusterSpec::new().ssl(true).listen("127.0.0.1,::1"));
    assert_eq!(c.port(), 5432);
    assert_eq!(c.pg_isready("127.0.0.1"), 0, "IPv4\n{}", c.log());
    assert_eq!(c.pg_isready("::1"), 0, "IPv6\n{}", c.log());
    assert_eq!(c.psql("SHOW ssl"), "on");

    // Key material as PostgreSQL wants it.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let key = std::fs::metadata(c.server_key_path()).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let ca = std::fs::metadata(c.ca_path()).unwrap();
    assert_eq!(ca.permissions().mode() & 0o777, 0o644);
    assert_eq!(std::fs::read_to_string(c.ca_path()).unwrap(), c.ca_pem());
    assert_eq!(c.ca_der()[0], 0x30, "CA DER is an ASN.1 SEQUENCE");
    assert_ne!(key.uid(), 0, "server.key must belong to postgres");

    // libpq verifies the rcgen chain and the name, over both families (localhost is dual).
    for host in ["localhost", "dual.test"] {
        let mut psql = c.pg_cmd("psql");
        psql.args([
            "-X",
            "-Atc",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .arg(format!(
            "host={host} port={} user=postgres dbname=postgres sslmode=verify-full \
                 sslrootcert={} connect_timeout=10",
            c.port(),
            c.ca_path().display()
        ));
        let out = run(&mut psql, T).ok("psql sslmode=verify-full");
        assert_eq!(out.stdout_str().trim(), "t", "{}", out.describe());
    }
    assert!(
        c.log().contains("connection authorized"),
        "log_connections is on"
    );

    // Firewall DROP: first only ::1, then the whole port; connects time out instead of failing.
    assert_eq!(tcp_connect_code(&ns, "::1", c.port()), 0);
    ns.drop_tcp(IpAddr::V6(Ipv6Addr::LOCALHOST), c.port());
    assert_eq!(
        tcp_connect_code(&ns, "::1", c.port()),
        124,
        "::1 should be dropped"
    );
    assert_eq!(
        tcp_connect_code(&ns, "127.0.0.1", c.port()),
        0,
        "127.0.0.1 still open"
    );
    ns.drop_tcp_port(c.port());
    assert_eq!(
        tcp_connect_code(&ns, "127.0.0.1", c.port()),
        124,
        "port should be dropped"
    );
    // Nothing listens on 5433: refused, not dropped.
    let refused = tcp_connect_code(&ns, "127.0.0.1", 5433);
    assert!(
        refused != 0 && refused != 124,
        "refused expected, got {refused}"
    );
    // The Unix socket is unaffected.
    assert_eq!(c.psql("SELECT 1"), "1");
}

#[test]
fn v4_only_md5_cluster_with_wrong_name_certificate() {
    let ns = Netns::new();
    let c = Cluster::start(
        &ns,
        ClusterSpec::new()
            .listen("127.0.0.1")
            .port(6543)
            .ssl(true)
            .server_cert_names(&["wrong.test"])
            .password_encryption("md5")
            .role("alice", "s3cret'pw")
            .hba(&["host all all 127.0.0.1/32 md5", "host all all ::1/128 md5"])
            .max_connections(10),
    );
    assert_eq!(c.pg_isready("127.0.0.1"), 0);
    assert_eq!(c.pg_isready("::1"), 2, "::1 must not be listened on");
    assert_eq!(c.psql("SHOW max_connections"), "10");
    assert_eq!(
        c.psql("SELECT rolpassword LIKE 'md5%' FROM pg_authid WHERE rolname = 'alice'"),
        "t"
    );

    let login = |password: &str, sslmode: &str, host: &str| {
        let mut psql = c.pg_cmd("psql");
        psql.args(["-X", "-Atc", "SELECT current_user"])
            .arg(format!(
                "host={host} hostaddr=127.0.0.1 port={} user=alice dbname=postgres \
                 sslmode={sslmode} sslrootcert={} connect_timeout=10",
                c.port(),
                c.ca_path().display()
            ))
            .env("PGPASSWORD", password);
        run(&mut psql, T)
    };
    let ok = login("s3cret'pw", "verify-ca", "localhost").ok("md5 login, verify-ca");
    assert_eq!(ok.stdout_str().trim(), "alice");
    let bad = login("nope", "verify-ca", "localhost");
    assert!(!bad.success());
    assert!(
        bad.stderr_str().contains("password authentication failed"),
        "{}",
        bad.describe()
    );
    // The certificate names wrong.test only: verify-full to localhost must fail, to it succeed.
    let wrong = login("s3cret'pw", "verify-full", "localhost");
    assert!(!wrong.success(), "{}", wrong.describe());
    assert!(
        wrong.stderr_str().contains("wrong.test"),
        "{}",
        wrong.describe()
    );
    login("s3cret'pw", "verify-full", "wrong.test").ok("verify-full to the certificate's name");

    // Changing pg_hba.conf at run time.
    c.set_hba(&["host all all 127.0.0.1/32 reject"]);
    let rejected = login("s3cret'pw", "verify-ca", "localhost");
    assert!(
        rejected.stderr_str().contains("rejects connection"),
        "{}",
        rejected.describe()
    );
}

#[test]
fn cluster_start_failure_reports_the_server_log() {
    let ns = Netns::new();
    let result = std::panic::catch_unwind(|| {
        Cluster::start(
            &ns,
            ClusterSpec::new().conf("shared_buffers = 'not a size'"),
        )
    });
    let err = result.err().expect("start must fail with a bad setting");
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("did not start"), "{msg}");
    assert!(
        msg.contains("shared_buffers"),
        "log tail missing from: {msg}"
    );
}

#[test]
fn fake_server_exchanges_exact_bytes() {
    let ssl_request = [0u8, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let srv = FakeServer::spawn(vec![
        Step::ExpectUntagged,
        Step::Send(b"N".to_vec()),
        Step::Expect(3),
        Step::Send(b"xyz".to_vec()),
        Step::ExpectTagged,
        Step::Close,
    ]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&ssl_request).unwrap();
    let mut one = [0u8; 1];
    s.read_exact(&mut one).unwrap();
    assert_eq!(&one, b"N");
    s.write_all(b"abc").unwrap();
    let mut three = [0u8; 3];
    s.read_exact(&mut three).unwrap();
    assert_eq!(&three, b"xyz");
    s.write_all(&[b'X', 0, 0, 0, 4]).unwrap(); // Terminate
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "server sent more than scripted: {rest:?}");
    assert!(
        srv.wait(Duration::from_secs(10)),
        "script did not finish: {:?}",
        srv.events()
    );

    let mut expected = ssl_request.to_vec();
    expected.extend_from_slice(b"abc");
    expected.extend_from_slice(&[b'X', 0, 0, 0, 4]);
    assert_eq!(srv.received(), expected);
    assert_eq!(srv.accepted(), 1);
    // One connection only: the listener is gone.
    assert!(TcpStream::connect(("127.0.0.1", srv.port())).is_err());
}

#[test]
fn fake_server_reset_stall_and_multiple_connections() {
    let srv = FakeServer::spawn(vec![Step::Expect(2), Step::Reset]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"hi").unwrap();
    let mut buf = [0u8; 16];
    let err = s.read(&mut buf).expect_err("reset expected");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert_eq!(srv.received(), b"hi");

    let srv = FakeServer::spawn_n(vec![Step::SleepMs(300), Step::Send(b"late".to_vec())], 2);
    let start = Instant::now();
    let mut a = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    let mut b = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    for s in [&mut a, &mut b] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"late");
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(290), "no stall: {took:?}");
    assert!(
        took < Duration::from_millis(3000),
        "connections not served concurrently: {took:?}"
    );
    assert!(srv.wait(Duration::from_secs(10)));
    assert_eq!(srv.accepted(), 2);

    // A client that never sends: Expect gives up at the io timeout and records the EOF.
    let srv = FakeServer::spawn(vec![Step::Expect(4), Step::Send(b"never".to_vec())]);
    let s = TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert!(srv.wait(Duration::from_secs(10)));
    assert!(
        srv.events().iter().any(|e| e.contains("EOF after 0 of 4")),
        "{:?}",
        srv.events()
    );
}

#[test]
fn pgreach_runs_hermetically_inside_and_outside_a_namespace() {
    let ns = Netns::new();
    for netns in [None, Some(&ns)] {
        let r = run_pgreach(netns, &["--help"], &[]);
        r.expect_status(0);
        assert!(!r.stdout.is_empty(), "{r}");
    }
    // The binaries the harness relies on are the real PostgreSQL 15 ones.
    let v = run(Command::new(pg_bin("postgres")).arg("--version"), T).ok("postgres --version");
    assert!(v.stdout_str().contains(" 15."), "{}", v.describe());
}
