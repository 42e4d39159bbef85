//! The single-target probe against real PostgreSQL 15 clusters, each in a network namespace
//! of its own where `localhost` resolves to both ::1 and 127.0.0.1 (as on many real hosts).

mod support;

use support::{address, assert_null, finding, setting, strings};

use support::{Cluster, ClusterSpec, Netns, run_pgreach};

#[test]
fn hostssl_scram_cluster_on_both_families() {
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
    let run = run_pgreach(
        Some(&ns),
        &["--json", "localhost", "-U", "app", "-d", "postgres"],
        &[],
    );
    let report = run.json();
    assert_eq!(run.status, 0, "every address reached auth: {}", run.stderr);
    assert_eq!(report["schema_version"], 1);

    let dns = &report["hosts"][0]["dns"];
    assert_eq!(strings(&dns["a"]["addresses"]), ["127.0.0.1"]);
    assert_eq!(strings(&dns["aaaa"]["addresses"]), ["::1"]);
    let mut system = strings(&dns["system"]["addresses"]);
    system.sort();
    assert_eq!(system, ["127.0.0.1", "::1"]);

    for (ip, family) in [("127.0.0.1", "ipv4"), ("::1", "ipv6")] {
        let a = address(&report, ip);
        assert_eq!(a["family"], family);
        assert_eq!(a["port"], cluster.port());
        assert_eq!(a["tcp"]["status"], "ok");
        assert_eq!(a["ssl_request"]["answer"], "S");
        assert_eq!(a["ssl_request"]["unencrypted_bytes_after_s"], 0);
        let tls = &a["tls"];
        assert_eq!(tls["status"], "ok");
        assert_eq!(tls["version"], "TLSv1.3");
        assert_eq!(tls["sni"], "localhost");
        let leaf = &tls["chain"][0];
        assert!(
            strings(&leaf["subject_alt_names"]).contains(&"DNS:localhost"),
            "{leaf:#}"
        );
        assert_eq!(leaf["sha256"].as_str().unwrap().len(), 64);
        let st = &a["startup"];
        assert_eq!(st["channel"], "tls");
        assert_eq!(st["auth"], "sasl");
        assert_eq!(st["auth_code"], 10);
        assert_eq!(
            strings(&st["sasl_mechanisms"]),
            ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
        );
        // The same startup over plaintext, on a second connection: hostssl-only pg_hba.
        let other = &a["startup_other"];
        assert_eq!(other["channel"], "plaintext");
        assert_eq!(other["error"]["sqlstate"], "28000");
        assert!(
            other["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with("no encryption"),
            "{other}"
        );
        assert!(a["tcp"]["elapsed_ms"].as_f64().unwrap() >= 0.0);
        assert!(a["tls"]["elapsed_ms"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn hostssl_only_cluster_refuses_plaintext_with_28000() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let run = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "--sslmode",
            "disable",
            "127.0.0.1",
            "-U",
            "app",
            "-d",
            "appdb",
        ],
        &[],
    );
    assert_eq!(run.status, 1, "plaintext does not reach auth");
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    // sslmode=disable starts in plaintext; the second connection asks for SSL and shows that
    // TLS would get as far as authentication.
    assert_eq!(a["ssl_request"]["answer"], "S");
    assert_eq!(a["tls"]["status"], "ok");
    assert_eq!(a["startup_other"]["channel"], "tls");
    assert_eq!(a["startup_other"]["auth"], "sasl");
    let st = &a["startup"];
    assert_eq!(st["channel"], "plaintext");
    assert_eq!(st["status"], "error");
    assert_eq!(st["error"]["sqlstate"], "28000");
    let msg = st["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"appdb\""
        ) && msg.ends_with("no encryption"),
        "{msg}"
    );
    assert_eq!(st["error"]["severity"], "FATAL");
    assert_eq!(st["error"]["routine"], "ClientAuthentication");

    // --quiet-server: one connection, over the channel sslmode=disable uses.
    let quiet = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "--quiet-server",
            "--sslmode",
            "disable",
            "127.0.0.1",
            "-U",
            "app",
        ],
        &[],
    );
    let report = quiet.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "skipped");
    assert_null(a, "tls");
    assert_null(a, "startup_other");
    assert_eq!(a["startup"]["error"]["sqlstate"], "28000");
}

#[test]
fn ipv4_only_md5_cluster_without_ssl() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .password_encryption("md5")
            .hba(&["host all all 127.0.0.1/32 md5"])
            .role("app", "app-secret"),
    );
    let run = run_pgreach(Some(&ns), &["--json", "localhost", "-U", "app"], &[]);
    assert_eq!(
        run.status, 1,
        "::1 is refused, so not every address reached auth"
    );
    let report = run.json();

    let v6 = address(&report, "::1");
    assert_eq!(v6["family"], "ipv6");
    assert_eq!(v6["tcp"]["status"], "refused");
    assert_eq!(v6["ssl_request"]["answer"], "skipped");
    assert_eq!(v6["startup"]["status"], "skipped");
    assert_eq!(v6["reached_auth"], false);

    let v4 = address(&report, "127.0.0.1");
    assert_eq!(v4["tcp"]["status"], "ok");
    assert_eq!(v4["ssl_request"]["answer"], "N");
    assert_null(v4, "tls");
    assert_eq!(v4["startup"]["channel"], "plaintext");
    assert_eq!(v4["startup"]["auth"], "md5");
    assert_eq!(v4["startup"]["auth_code"], 5);
    assert_eq!(v4["reached_auth"], true);
    assert_eq!(report["summary"]["reached_auth"], 1);
    assert_eq!(report["summary"]["addresses"], 2);
}

#[test]
fn trust_cluster_reports_parameters_and_post_auth_errors() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .hba(&["host all all 127.0.0.1/32 trust"]),
    );
    let run = run_pgreach(
        Some(&ns),
        &["--json", "127.0.0.1", "-U", "postgres", "-d", "postgres"],
        &[],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["hosts"][0]["kind"], "ip");
    assert_null(&report, "hosts.0.dns");
    let st = &address(&report, "127.0.0.1")["startup"];
    assert_eq!(st["auth"], "trust");
    assert_eq!(st["auth_code"], 0);
    let version = st["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "server_version")
        .expect("server_version reported");
    assert!(version[1].as_str().unwrap().starts_with("15."), "{version}");

    // A database that does not exist is only visible after authentication: R0, then 3D000.
    let run = run_pgreach(
        Some(&ns),
        &["--json", "127.0.0.1", "-U", "postgres", "-d", "nosuchdb"],
        &[],
    );
    let report = run.json();
    let st = &address(&report, "127.0.0.1")["startup"];
    assert_eq!(st["auth"], "trust");
    assert_eq!(st["status"], "error");
    assert_eq!(st["error"]["sqlstate"], "3D000");
}

#[test]
fn closed_port_is_refused_and_exits_1() {
    let ns = Netns::new();
    let run = run_pgreach(Some(&ns), &["--json", "127.0.0.1:5999"], &[]);
    assert_eq!(run.status, 1);
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["port"], 5999);
    assert_eq!(a["tcp"]["status"], "refused");
    assert_eq!(a["startup"]["status"], "skipped");
    assert_eq!(report["summary"]["verdict"], "error");
}

#[test]
fn unix_socket_directory_is_probed_without_ssl() {
    let ns = Netns::new();
    let cluster = Cluster::start(&ns, ClusterSpec::new().ssl(true).listen("127.0.0.1"));
    let dir = cluster.socket_dir().to_str().unwrap().to_owned();
    let run = run_pgreach(Some(&ns), &["--json", &dir, "-U", "postgres"], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["hosts"][0]["kind"], "unix");
    let a = &report["addresses"][0];
    assert_eq!(a["family"], "unix");
    assert!(
        a["address"].as_str().unwrap().ends_with("/.s.PGSQL.5432"),
        "{a}"
    );
    assert_eq!(a["ssl_request"]["answer"], "skipped");
    assert_eq!(a["startup"]["auth"], "trust");
}

#[test]
fn uri_conninfo_and_env_reach_the_same_server() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .role("app", "app-secret"),
    );
    let uri = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "postgresql://app:app-secret@127.0.0.1:5432/appdb?sslmode=require",
        ],
        &[],
    );
    let conninfo = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "host=127.0.0.1 port=5432 user=app dbname=appdb sslmode=require password='app-secret'",
        ],
        &[],
    );
    let env = run_pgreach(
        Some(&ns),
        &["--json"],
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGUSER", "app"),
            ("PGDATABASE", "appdb"),
            ("PGSSLMODE", "require"),
            ("PGPASSWORD", "app-secret"),
        ],
    );
    let django = run_pgreach(
        Some(&ns),
        &["--json", "--env", "django"],
        &[
            ("DB_HOST", "127.0.0.1"),
            ("DB_USER", "app"),
            ("DB_NAME", "appdb"),
            ("DB_SSLMODE", "require"),
            ("DB_PASSWORD", "app-secret"),
        ],
    );
    for (what, run) in [
        ("uri", &uri),
        ("conninfo", &conninfo),
        ("env", &env),
        ("django", &django),
    ] {
        assert_eq!(run.status, 0, "{what}: {}", run.stderr);
        assert!(
            !run.stdout.contains("app-secret") && !run.stderr.contains("app-secret"),
            "{what}: password leaked"
        );
        let report = run.json();
        assert_eq!(report["config"]["sslmode"], "require", "{what}");
        assert_eq!(report["config"]["user"], "app", "{what}");
        assert_eq!(report["config"]["dbname"], "appdb", "{what}");
        let st = &address(&report, "127.0.0.1")["startup"];
        assert_eq!(st["auth"], "sasl", "{what}");
        assert_eq!(setting(&report, "password")["value"], "***", "{what}");
    }
    let source_of = |run: &support::PgreachRun, name: &str| -> (String, String) {
        let report = run.json();
        let s = setting(&report, name);
        (
            s["source"].as_str().unwrap().to_owned(),
            s["origin"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(source_of(&uri, "sslmode").0, "argument");
    assert_eq!(source_of(&env, "host"), ("env".into(), "PGHOST".into()));
    assert_eq!(source_of(&django, "user"), ("env".into(), "DB_USER".into()));
}

#[test]
fn multi_host_list_is_probed_host_by_host() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1")
            .password_encryption("md5")
            .hba(&["host all all 127.0.0.1/32 md5"])
            .role("app", "app-secret"),
    );
    let run = run_pgreach(
        Some(&ns),
        &["--json", "host=127.0.0.1,127.0.0.2 port=5432,5433 user=app"],
        &[],
    );
    let report = run.json();
    let hosts = report["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0]["host"], "127.0.0.1");
    assert_eq!(hosts[1]["port"], 5433);
    assert_eq!(address(&report, "127.0.0.1")["startup"]["auth"], "md5");
    assert_eq!(address(&report, "127.0.0.2")["tcp"]["status"], "refused");
    assert_eq!(run.status, 1);
}

#[test]
fn text_report_fits_80_columns_without_colour_when_piped() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new().ssl(true).listen("127.0.0.1,::1").hba(&[
            "hostssl all all 127.0.0.1/32 scram-sha-256",
            "host all all ::1/128 md5",
        ]),
    );
    let run = run_pgreach(Some(&ns), &["localhost", "-U", "app"], &[]);
    assert!(
        !run.stdout.contains('\x1b'),
        "no colour on a pipe:\n{}",
        run.stdout
    );
    for line in run.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "too wide ({}): {line}",
            line.chars().count()
        );
    }
    for needle in [
        "[::1]:5432",
        "127.0.0.1:5432",
        "ssl request",
        "startup",
        "SCRAM-SHA-256",
        "Verdict:",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            run.stdout
        );
    }
    // Forced colour is honoured, and NO_COLOR only affects the automatic choice.
    let forced = run_pgreach(
        Some(&ns),
        &["--color", "always", "localhost"],
        &[("NO_COLOR", "1")],
    );
    assert!(forced.stdout.contains("\x1b["), "{}", forced.stdout);
}

#[test]
fn verbose_logs_go_to_stderr_with_phase_spans() {
    let ns = Netns::new();
    let _cluster = Cluster::start(&ns, ClusterSpec::new().ssl(true).listen("127.0.0.1"));
    let run = run_pgreach(
        Some(&ns),
        &["--json", "-vv", "127.0.0.1", "-U", "postgres"],
        &[],
    );
    let _ = run.json(); // stdout is still exactly the JSON document
    for span in ["tcp", "ssl_request", "tls", "startup", "127.0.0.1:5432"] {
        assert!(
            run.stderr.contains(span),
            "stderr lacks {span:?}:\n{}",
            run.stderr
        );
    }
}

#[test]
fn optional_questions_direct_tls_gssenc_and_tls_versions() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .conf("ssl_min_protocol_version = 'TLSv1.3'"),
    );
    let plain = run_pgreach(Some(&ns), &["--json", "127.0.0.1", "-U", "postgres"], &[]).json();
    let a = address(&plain, "127.0.0.1");
    // Not asked, not sent.
    assert_null(a, "direct_tls");
    assert_null(a, "gssenc");
    assert_eq!(a["tls_versions"], serde_json::json!([]));

    let args = [
        "--json",
        "--direct-tls",
        "--gssenc",
        "--tls-versions",
        "127.0.0.1",
        "-U",
        "postgres",
    ];
    let report = run_pgreach(Some(&ns), &args, &[]).json();
    let a = address(&report, "127.0.0.1");
    // PostgreSQL 15 reads a ClientHello as an absurd startup length and closes silently.
    assert_eq!(a["direct_tls"]["supported"], false);
    assert_eq!(a["direct_tls"]["tls"]["status"], "failed");
    // Debian builds PostgreSQL with GSSAPI, so the server says G even without a keytab.
    assert_eq!(a["gssenc"]["answer"], "G");
    let versions: Vec<(&str, bool)> = a["tls_versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap(),
                v["accepted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [("TLSv1.2", false), ("TLSv1.3", true)]);

    // sslnegotiation=direct in the target asks for the direct probe too.
    let report = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "host=127.0.0.1 user=postgres sslmode=require sslnegotiation=direct",
        ],
        &[],
    )
    .json();
    assert_eq!(
        address(&report, "127.0.0.1")["direct_tls"]["supported"],
        false
    );
}

#[test]
fn no_target_probes_what_libpq_would_use_by_default() {
    // Port 5433: no socket for it in /var/run/postgresql or /tmp (the cluster's socket lives in
    // its own directory). libpq's default host is then still the socket directory — it never
    // falls back to TCP — so the application fails; pgreach says so, and that TCP localhost
    // answers on the port.
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .port(5433)
            .ssl(false)
            .listen("127.0.0.1,::1")
            .hba(&[
                "host all all 127.0.0.1/32 trust",
                "host all all ::1/128 trust",
            ]),
    );
    let run = run_pgreach(
        Some(&ns),
        &["--json"],
        &[("PGPORT", "5433"), ("PGUSER", "postgres")],
    );
    let report = run.json();
    assert_eq!(
        report["hosts"][0]["host"], "/var/run/postgresql",
        "{report:#}"
    );
    assert_eq!(setting(&report, "host")["source"], "default");
    let a = address(&report, "/var/run/postgresql/.s.PGSQL.5433");
    assert_eq!(a["tcp"]["status"], "error", "{a:#}");
    assert_eq!(a["localhost_tcp"]["status"], "ok", "{a:#}");
    let f = finding(&report, "socket_missing", "error");
    assert!(
        f["summary"]
            .as_str()
            .is_some_and(|s| s.contains("does answer on TCP localhost:5433")),
        "{f:#}"
    );
    assert_eq!(run.status, 1, "{run}");

    // With PGHOST naming the cluster's socket directory, that is what gets probed.
    let dir = cluster.socket_dir().to_str().unwrap().to_owned();
    let run = run_pgreach(
        Some(&ns),
        &["--json"],
        &[("PGHOST", &dir), ("PGPORT", "5433"), ("PGUSER", "postgres")],
    );
    let report = run.json();
    assert_eq!(report["addresses"][0]["family"], "unix");
    assert_eq!(report["addresses"][0]["startup"]["auth"], "trust");
}
