//! Evidence against real PostgreSQL 15 clusters: the pcap pgreach writes is read back by tshark
//! (Debian's package), which must decode PostgreSQL and TLS on both address families; with the
//! key log, the StartupMessage inside TLS; the JSON transcript parses and carries labels.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::process::run_ok;
use support::{
    Cluster, ClusterSpec, HeldSessions, Netns, PgBouncer, PgBouncerSpec, Pgpool, PgpoolSpec,
    address, at, run_pgreach, strings,
};

const TSHARK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs tshark on `pcap` with `args`; returns stdout (panics on failure).
fn tshark(pcap: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(args);
    run_ok(&mut cmd, TSHARK_TIMEOUT, &format!("tshark {args:?}"))
}

/// `tshark -T fields -e …` output as rows of columns.
fn fields(pcap: &Path, filter: &[&str], cols: &[&str]) -> Vec<Vec<String>> {
    let mut args: Vec<&str> = filter.to_vec();
    args.extend(["-T", "fields", "-E", "separator=|"]);
    for c in cols {
        args.extend(["-e", c]);
    }
    tshark(pcap, &args)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

/// With `PGREACH_KEEP_EVIDENCE=DIR`, copies the evidence files there for a look in Wireshark.
fn keep_evidence(dir: &Path) {
    let Some(keep) = std::env::var_os("PGREACH_KEEP_EVIDENCE") else {
        return;
    };
    std::fs::create_dir_all(&keep).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        std::fs::copy(entry.path(), Path::new(&keep).join(entry.file_name())).unwrap();
    }
}

/// Every label of every event of every connection (each event has a list, maybe empty).
fn all_labels(doc: &Value) -> Vec<&str> {
    at(doc, "connections")
        .as_array()
        .expect("connections[]")
        .iter()
        .flat_map(|c| at(c, "labels").as_array().expect("labels[]"))
        .flat_map(strings)
        .collect()
}

fn has(labels: &[&str], prefix: &str) -> bool {
    labels.iter().any(|l| l.starts_with(prefix))
}

#[test]
fn ssl_on_pcap_decodes_with_tshark_on_both_families_and_keylog_decrypts() {
    let ns = Netns::new();
    let cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(true)
            .port(5433)
            .listen("127.0.0.1,::1")
            .password_encryption("scram-sha-256")
            .hba(&[
                "host all all 127.0.0.1/32 scram-sha-256",
                "host all all ::1/128 scram-sha-256",
            ])
            .role("app", "app-secret"),
    );
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("probe.pcapng");
    let keylog = dir.path().join("keys.log");
    let transcript = dir.path().join("transcript.json");
    let run = run_pgreach(
        Some(&ns),
        &[
            "--json",
            "localhost",
            "-p",
            "5433",
            "-U",
            "app",
            "-d",
            "postgres",
            "--pcap",
            pcap.to_str().unwrap(),
            "--keylog",
            keylog.to_str().unwrap(),
            "--transcript",
            transcript.to_str().unwrap(),
            "--transcript-format",
            "json",
            // Every kind of connection pgreach opens, so each gets a flow tshark checks.
            "--direct-tls",
            "--gssenc",
            "--tls-versions",
        ],
        &[],
    );
    // The report is still printed (direct TLS fails on PostgreSQL 15: a fact of the report,
    // `direct_tls.supported` false, not an error of the run).
    assert_eq!(run.json()["schema_version"], 1, "{run}");
    assert!(
        run.stderr.contains("tshark -d tcp.port==5433,pgsql"),
        "the Decode As hint for a non-5432 port: {run}"
    );
    assert!(
        run.stderr.contains("warning: writing TLS session secrets"),
        "{run}"
    );
    keep_evidence(dir.path());
    let port = cluster.port().to_string();
    let decode = format!("tcp.port=={port},pgsql");

    // The pcap's comment names pgreach and the decode option.
    // capinfos comes with tshark (wireshark-common); a missing one fails the test.
    let text = run_ok(
        Command::new("capinfos").arg(&pcap),
        TSHARK_TIMEOUT,
        "capinfos",
    );
    assert!(text.contains("pgreach"), "{text}");
    assert!(text.contains(&decode), "{text}");

    // SSLRequest on both families, decoded as pgsql.
    let rows = fields(
        &pcap,
        &["-d", &decode, "-Y", "pgsql"],
        &["ip.src", "ipv6.src", "pgsql.type"],
    );
    let ssl_requests: Vec<_> = rows
        .iter()
        .filter(|r| r[2].contains("SSL request"))
        .collect();
    assert!(
        ssl_requests.iter().any(|r| r[0] == "127.0.0.1")
            && ssl_requests.iter().any(|r| r[1] == "::1"),
        "SSLRequest over IPv4 and IPv6: {rows:?}"
    );
    // The second connection's plaintext StartupMessage (the "other channel").
    assert!(
        rows.iter().any(|r| r[2].contains("Startup message")),
        "{rows:?}"
    );

    // The ClientHello after 'S', on both families.
    let hellos = fields(
        &pcap,
        &["-d", &decode, "-Y", "tls.handshake.type==1"],
        &["ip.src", "ipv6.src", "tls.handshake.extensions_server_name"],
    );
    assert!(
        hellos.iter().any(|r| r[0] == "127.0.0.1") && hellos.iter().any(|r| r[1] == "::1"),
        "{hellos:?}"
    );
    assert!(
        hellos.iter().all(|r| r[2] == "localhost"),
        "SNI: {hellos:?}"
    );

    // With the key log, the StartupMessage and the SASL request inside TLS.
    let keylog_opt = format!("tls.keylog_file:{}", keylog.display());
    let inside = fields(
        &pcap,
        &["-d", &decode, "-o", &keylog_opt, "-Y", "tls && pgsql"],
        &["ip.src", "ipv6.src", "pgsql.type", "pgsql.parameter_value"],
    );
    let startups: Vec<_> = inside
        .iter()
        .filter(|r| r[2].contains("Startup message"))
        .collect();
    assert!(
        startups.iter().any(|r| r[0] == "127.0.0.1") && startups.iter().any(|r| r[1] == "::1"),
        "StartupMessage inside TLS on both families: {inside:?}"
    );
    assert!(startups.iter().all(|r| r[3].contains("app")), "{inside:?}");
    assert!(
        inside
            .iter()
            .any(|r| r[2].contains("Authentication request")),
        "{inside:?}"
    );

    // No TCP problem tshark would flag (bad checksums are not checked by default; sequence
    // analysis is).
    let problems = tshark(
        &pcap,
        &["-Y", "tcp.analysis.flags && !tcp.analysis.window_update"],
    );
    assert!(
        problems.trim().is_empty(),
        "TCP analysis flags:\n{problems}"
    );

    // The transcript parses and is labelled.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&transcript).unwrap()).unwrap();
    assert_eq!(doc["format"], "pgreach-transcript");
    let labels = all_labels(&doc);
    assert!(has(&labels, "SSLRequest"), "{labels:?}");
    assert!(has(&labels, "'S'"), "{labels:?}");
    assert!(has(&labels, "TLS Handshake record"), "{labels:?}");
    assert!(
        labels.iter().any(|l| l.contains("ClientHello")),
        "{labels:?}"
    );
    assert!(
        has(&labels, "StartupMessage protocol 3.0 user=app"),
        "{labels:?}"
    );
    assert!(
        has(
            &labels,
            "AuthenticationSASL mechanisms=SCRAM-SHA-256-PLUS,SCRAM-SHA-256"
        ),
        "{labels:?}"
    );
    let purposes: Vec<&str> = doc["connections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["purpose"].as_str())
        .collect();
    for p in [
        "ssl-request",
        "plaintext-startup",
        "direct-tls",
        "gssenc",
        "tls-version-probe",
    ] {
        assert!(purposes.contains(&p), "{p}: {purposes:?}");
    }
    assert!(has(&labels, "GSSENCRequest"), "{labels:?}");
}

#[test]
fn ssl_off_pcap_on_5432_and_text_transcript() {
    let ns = Netns::new();
    let _cluster = Cluster::start(
        &ns,
        ClusterSpec::new()
            .ssl(false)
            .listen("127.0.0.1,::1")
            .password_encryption("md5")
            .hba(&["host all all 127.0.0.1/32 md5", "host all all ::1/128 md5"])
            .role("app", "app-secret"),
    );
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("probe.pcapng");
    let run = run_pgreach(
        Some(&ns),
        &[
            "localhost",
            "-U",
            "app",
            "-d",
            "postgres",
            "--pcap",
            pcap.to_str().unwrap(),
            "--transcript",
            "-",
            "--color",
            "never",
        ],
        &[],
    );
    assert!(!run.stderr.contains("Decode As"), "no hint on 5432: {run}");
    // Port 5432: Wireshark decodes pgsql without -d.
    let rows = fields(
        &pcap,
        &["-Y", "pgsql"],
        &["ip.src", "ipv6.src", "pgsql.type"],
    );
    for (col, src) in [(0, "127.0.0.1"), (1, "::1")] {
        let mine: Vec<_> = rows.iter().filter(|r| r[col] == src).collect();
        assert!(
            mine.iter().any(|r| r[2].contains("SSL request")),
            "{src}: {rows:?}"
        );
        assert!(
            mine.iter().any(|r| r[2].contains("Startup message")),
            "{src}: {rows:?}"
        );
    }
    let hellos = tshark(&pcap, &["-Y", "tls.handshake.type==1"]);
    assert!(hellos.trim().is_empty(), "no TLS with ssl=off: {hellos}");
    // The text transcript went to stdout with the report.
    assert!(run.stdout.contains("# SSLRequest"), "{run}");
    assert!(run.stdout.contains("# 'N'"), "{run}");
    assert!(run.stdout.contains("# AuthenticationMD5Password"), "{run}");
    assert!(run.stdout.contains("pgreach → server, 8 bytes"), "{run}");
}

/// Issue 7: with no `--keylog`, `SSLKEYLOGFILE` names the key log, with the same warning.
#[test]
fn sslkeylogfile_stands_for_keylog() {
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
    let dir = tempfile::tempdir().unwrap();
    let keylog = dir.path().join("env-keys.log");
    let target = format!("127.0.0.1:{}", cluster.port());
    let run = run_pgreach(
        Some(&ns),
        &[
            "--json",
            &target,
            "-U",
            "app",
            "-d",
            "postgres",
            "--sslmode",
            "require",
        ],
        &[("SSLKEYLOGFILE", keylog.to_str().unwrap())],
    );
    let report = run.json();
    assert_eq!(
        address(&report, "127.0.0.1")["tls"]["status"],
        "ok",
        "{run}"
    );
    assert!(
        run.stderr.contains("warning: writing TLS session secrets"),
        "{run}"
    );
    let text = std::fs::read_to_string(&keylog)
        .unwrap_or_else(|e| panic!("{}: {e}\n{run}", keylog.display()));
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET ",
        "CLIENT_TRAFFIC_SECRET_0 ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(label)),
            "no {label}line in the key log:\n{text}"
        );
    }
}

/// What stands between pgreach and the cluster in a recorded scenario.
enum Front {
    /// pgreach talks to the cluster itself, on 5432.
    Direct,
    /// pgreach talks to the cluster after every connection slot was taken by a held session.
    SlotsHeld(usize),
    /// pgreach talks to PgBouncer (in the same namespace), which forwards to the cluster.
    Bouncer(PgBouncerSpec),
    /// pgreach talks to pgpool-II (in the same namespace), which forwards to the cluster.
    Pgpool(PgpoolSpec),
}

/// One capture: its file name, the cluster, what is in front of it, and a check of the live
/// facts so that a capture that did not show its condition is never written.
struct Scenario {
    name: &'static str,
    cluster: ClusterSpec,
    front: Front,
    /// pgreach flags besides the target, user, database and transcript (e.g. `--direct-tls`);
    /// the replay adds the same ones from the connections' purposes.
    flags: &'static [&'static str],
    check: fn(&Value),
}

/// Port of the PgBouncer scenarios (Debian's own service, if running, uses 6432 in the root
/// namespace; ours runs in a private one anyway).
const BOUNCER_PORT: u16 = 6433;
/// Port of the pgpool-II scenarios (the package's service would use 5433, its PCP 9898).
const PGPOOL_PORT: u16 = 9998;

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "pg15-ssl-on-scram",
            cluster: ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
            front: Front::Direct,
            flags: &[],
            check: |f| assert_eq!(f["addresses"][0]["startup"]["auth"], "sasl", "{f:#}"),
        },
        Scenario {
            name: "pg15-ssl-off-md5",
            cluster: ClusterSpec::new()
                .ssl(false)
                .password_encryption("md5")
                .hba(&["host all all 127.0.0.1/32 md5"])
                .role("app", "app-secret"),
            front: Front::Direct,
            flags: &[],
            check: |f| assert_eq!(f["addresses"][0]["startup"]["auth"], "md5", "{f:#}"),
        },
        Scenario {
            name: "pg15-hostssl-only",
            cluster: ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
            front: Front::Direct,
            flags: &[],
            check: |f| {
                let other = &f["addresses"][0]["startup_other"];
                assert_eq!(other["error"]["sqlstate"], "28000", "{f:#}");
            },
        },
        Scenario {
            name: "pg15-ssl-off-trust",
            cluster: ClusterSpec::new()
                .ssl(false)
                .hba(&["host all all 127.0.0.1/32 trust"])
                .role("app", "app-secret"),
            front: Front::Direct,
            flags: &[],
            check: |f| assert_eq!(f["addresses"][0]["startup"]["auth"], "trust", "{f:#}"),
        },
        // ssl on: the backend does the SSL negotiation and the TLS handshake before it looks
        // for a free slot, so the capture shows the refusal arriving inside TLS (and, on the
        // second connection, in plaintext): TLS working says nothing about capacity.
        Scenario {
            name: "pg15-too-many-clients",
            cluster: ClusterSpec::new()
                .ssl(true)
                .max_connections(4)
                // PostgreSQL 15 wants superuser_reserved_connections < max_connections; with
                // none reserved the held sessions (as postgres) take every slot, and the
                // answer is "sorry, too many clients already", not the reserved-slots one.
                .conf("superuser_reserved_connections = 0")
                .password_encryption("scram-sha-256")
                .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
            front: Front::SlotsHeld(4),
            flags: &[],
            check: |f| {
                let a = &f["addresses"][0];
                assert_eq!(a["tls"]["status"], "ok", "{f:#}");
                for startup in [&a["startup"], &a["startup_other"]] {
                    assert_eq!(startup["error"]["sqlstate"], "53300", "{f:#}");
                    assert_eq!(
                        startup["error"]["message"], "sorry, too many clients already",
                        "{f:#}"
                    );
                }
            },
        },
        Scenario {
            name: "pgbouncer-no-tls-md5",
            cluster: ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
            front: Front::Bouncer(
                PgBouncerSpec::new()
                    .port(BOUNCER_PORT)
                    .auth_type("md5")
                    .client_tls_sslmode("disable")
                    .user("app", "app-secret"),
            ),
            flags: &[],
            check: |f| {
                let a = &f["addresses"][0];
                assert_eq!(a["ssl_request"]["answer"], "N", "{f:#}");
                assert_eq!(a["startup"]["auth"], "md5", "{f:#}");
            },
        },
        // client_tls_sslmode = require: TLS clients reach authentication, plaintext clients
        // are refused by the pooler itself (the cluster behind it has ssl on as well, but
        // PgBouncer answers before it ever connects there).
        Scenario {
            name: "pgbouncer-tls-scram",
            cluster: ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
            front: Front::Bouncer(
                PgBouncerSpec::new()
                    .port(BOUNCER_PORT)
                    .auth_type("scram-sha-256")
                    .client_tls_sslmode("require")
                    .user("app", "app-secret"),
            ),
            flags: &[],
            check: |f| {
                let a = &f["addresses"][0];
                assert_eq!(a["ssl_request"]["answer"], "S", "{f:#}");
                assert_eq!(a["tls"]["status"], "ok", "{f:#}");
                assert_eq!(a["startup"]["auth"], "sasl", "{f:#}");
                assert_eq!(a["startup_other"]["status"], "error", "{f:#}");
            },
        },
    ]
}

/// A cluster of the npm build of `major` with the settings of pg15-ssl-on-scram and the given
/// pg_hba.conf lines.
fn npm_cluster(major: u32, hba: &[&str]) -> ClusterSpec {
    ClusterSpec::new()
        .version(major)
        .ssl(true)
        .password_encryption("scram-sha-256")
        .hba(hba)
        .role("app", "app-secret")
}

const SCRAM_HBA: &[&str] = &["host all all 127.0.0.1/32 scram-sha-256"];
const HOSTSSL_HBA: &[&str] = &["hostssl all all 127.0.0.1/32 scram-sha-256"];

/// ssl on and scram: TLS then SASL with channel binding offered (every npm build has OpenSSL).
fn check_ssl_on_scram(f: &Value) {
    let a = &f["addresses"][0];
    assert_eq!(a["tls"]["status"], "ok", "{f:#}");
    assert_eq!(a["startup"]["auth"], "sasl", "{f:#}");
    assert_eq!(
        a["startup"]["sasl_mechanisms"][0], "SCRAM-SHA-256-PLUS",
        "{f:#}"
    );
}

/// hostssl only: TLS reaches SASL, the plaintext startup is refused with 28000.
fn check_hostssl_only(f: &Value) {
    let a = &f["addresses"][0];
    assert_eq!(a["startup"]["auth"], "sasl", "{f:#}");
    assert_eq!(a["startup_other"]["error"]["sqlstate"], "28000", "{f:#}");
}

/// PostgreSQL 13, 17 and 18 (the npm builds, see support/pgdist.rs) in the scenarios whose
/// answers differ between versions: the words of the pg_hba refusal, the ParameterStatus set
/// after AuthenticationOk.
fn version_scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    for (major, on, hostssl, trust) in [
        (
            13,
            "pg13-ssl-on-scram",
            "pg13-hostssl-only",
            "pg13-ssl-off-trust",
        ),
        (
            17,
            "pg17-ssl-on-scram",
            "pg17-hostssl-only",
            "pg17-ssl-off-trust",
        ),
        (
            18,
            "pg18-ssl-on-scram",
            "pg18-hostssl-only",
            "pg18-ssl-off-trust",
        ),
    ] {
        v.push(Scenario {
            name: on,
            cluster: npm_cluster(major, SCRAM_HBA),
            front: Front::Direct,
            flags: &[],
            check: check_ssl_on_scram,
        });
        v.push(Scenario {
            name: hostssl,
            cluster: npm_cluster(major, HOSTSSL_HBA),
            front: Front::Direct,
            flags: &[],
            check: check_hostssl_only,
        });
        v.push(Scenario {
            name: trust,
            cluster: npm_cluster(major, &["host all all 127.0.0.1/32 trust"]).ssl(false),
            front: Front::Direct,
            flags: &[],
            check: |f| assert_eq!(f["addresses"][0]["startup"]["auth"], "trust", "{f:#}"),
        });
    }
    // PostgreSQL 17's direct TLS (libpq's sslnegotiation=direct): a ClientHello with ALPN
    // `postgresql` right after connect, on a connection of its own, reaches SASL.
    for (major, name) in [(17, "pg17-direct-tls"), (18, "pg18-direct-tls")] {
        v.push(Scenario {
            name,
            cluster: npm_cluster(major, SCRAM_HBA),
            front: Front::Direct,
            flags: &["--direct-tls"],
            check: |f| {
                let direct = &f["addresses"][0]["direct_tls"];
                assert_eq!(direct["supported"], true, "{f:#}");
                assert_eq!(direct["alpn_echoed"], true, "{f:#}");
            },
        });
    }
    // An explicit `reject` line: refused on both channels, in its own words.
    v.push(Scenario {
        name: "pg18-hba-reject",
        cluster: npm_cluster(18, &["host all all 127.0.0.1/32 reject"]),
        front: Front::Direct,
        flags: &[],
        check: |f| {
            let a = &f["addresses"][0];
            assert_eq!(a["tls"]["status"], "ok", "{f:#}");
            for startup in [&a["startup"], &a["startup_other"]] {
                assert_eq!(startup["error"]["sqlstate"], "28000", "{f:#}");
            }
        },
    });
    v
}

/// pgpool-II 4.3 (Debian's pgpool2) in front of a PostgreSQL 15 cluster with ssl on and scram,
/// doing its own client authentication (pool_hba.conf, pool_passwd).
fn pgpool_scenarios() -> Vec<Scenario> {
    let cluster = || {
        ClusterSpec::new()
            .ssl(true)
            .password_encryption("scram-sha-256")
            .hba(SCRAM_HBA)
            .role("app", "app-secret")
    };
    let pgpool = |ssl: bool, hba: &[&str]| {
        PgpoolSpec::new()
            .port(PGPOOL_PORT)
            .ssl(ssl)
            .hba(hba)
            .user("app", "app-secret")
    };
    vec![
        // pgpool's ssl off: `N` although the cluster behind it has ssl on.
        Scenario {
            name: "pgpool-no-tls-scram",
            cluster: cluster(),
            front: Front::Pgpool(pgpool(false, SCRAM_HBA)),
            flags: &[],
            check: |f| {
                let a = &f["addresses"][0];
                assert_eq!(a["ssl_request"]["answer"], "N", "{f:#}");
                assert_eq!(a["startup"]["auth"], "sasl", "{f:#}");
            },
        },
        // pgpool's own TLS and a hostssl-only pool_hba.conf: TLS clients reach its SASL,
        // plaintext ones are refused by pgpool itself.
        Scenario {
            name: "pgpool-tls-scram",
            cluster: cluster(),
            front: Front::Pgpool(pgpool(true, HOSTSSL_HBA)),
            flags: &[],
            check: |f| {
                let a = &f["addresses"][0];
                assert_eq!(a["ssl_request"]["answer"], "S", "{f:#}");
                assert_eq!(a["tls"]["status"], "ok", "{f:#}");
                assert_eq!(a["startup"]["auth"], "sasl", "{f:#}");
                assert_eq!(a["startup_other"]["status"], "error", "{f:#}");
            },
        },
    ]
}

/// Records the exchanges in `captures/` (see captures/README.md for the provenance):
/// `PGREACH_RECORD_CAPTURES=captures cargo test --test evidence_real record_captures -- --ignored`.
/// Next to each transcript `NAME.json` goes `NAME.facts.json`, the `--json` report of the same
/// pgreach run: what tests/replay_captures.rs expects a replay of the transcript to give.
/// `PGREACH_RECORD_ONLY=NAME[,NAME...]` records only those scenarios.
#[test]
#[ignore = "regenerates captures/; run on purpose"]
fn record_captures() {
    let out = std::env::var("PGREACH_RECORD_CAPTURES").unwrap_or_else(|_| "captures".into());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(out);
    std::fs::create_dir_all(&out).unwrap();
    let only = std::env::var("PGREACH_RECORD_ONLY").ok();
    let all = scenarios()
        .into_iter()
        .chain(version_scenarios())
        .chain(pgpool_scenarios());
    for scenario in all {
        if only
            .as_deref()
            .is_some_and(|o| o.split(',').all(|n| n != scenario.name))
        {
            continue;
        }
        record(&out, scenario);
    }
}

/// Starts the scenario's servers in a fresh namespace and runs pgreach once with both
/// `--json` (the facts) and `--transcript` (the bytes).
fn record(out: &Path, scenario: Scenario) {
    let name = scenario.name;
    let ns = Netns::new();
    let cluster = Cluster::start(&ns, scenario.cluster);
    let mut held = HeldSessions::new();
    // The pooler in front, kept (and stopped on drop) until pgreach is done.
    let mut _front: Option<Box<dyn std::any::Any>> = None;
    let port = match scenario.front {
        Front::Direct => cluster.port(),
        Front::SlotsHeld(n) => {
            let socket_dir = cluster.socket_dir().to_str().unwrap().to_owned();
            held.hold(&cluster, n, "postgres", None, &socket_dir);
            cluster.port()
        }
        Front::Bouncer(spec) => {
            let bouncer = PgBouncer::start(&ns, &cluster, spec);
            let port = bouncer.port();
            _front = Some(Box::new(bouncer));
            port
        }
        Front::Pgpool(spec) => {
            let pgpool = Pgpool::start(&ns, &cluster, spec);
            let port = pgpool.port();
            _front = Some(Box::new(pgpool));
            port
        }
    };
    // pgreach writes the transcript to a temporary file: it reaches captures/ only once the
    // facts passed the scenario's check.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join(format!("{name}.json"));
    let file = file.to_str().unwrap();
    let port_s = port.to_string();
    let mut args = vec!["--json", "127.0.0.1"];
    if port != 5432 {
        args.extend(["-p", &port_s]);
    }
    args.extend(["-U", "app", "-d", "postgres"]);
    args.extend(scenario.flags);
    args.extend(["--transcript-format", "json", "--transcript", file]);
    let run = run_pgreach(Some(&ns), &args, &[]);
    let facts = run.json();
    (scenario.check)(&facts);

    // The recorded command line names the temporary file: store the stable form.
    let text = std::fs::read_to_string(file).unwrap();
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let stable: Vec<String> = args[..args.len() - 1]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("captures/{name}.json")])
        .collect();
    doc["command_line"] = Value::String(format!("pgreach {}", stable.join(" ")));
    std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
    let facts_file = out.join(format!("{name}.facts.json"));
    let facts = serde_json::to_string_pretty(&facts).unwrap() + "\n";
    // The temporary HOME is written as `~`: the stored facts must not name a directory that is gone.
    std::fs::write(&facts_file, support::home_as_tilde(&facts)).unwrap();
}

/// Every message of every recorded capture decodes: no chunk is left unlabelled as garbage,
/// and the labels stored in the file are the ones the current labeller gives.
#[test]
fn every_capture_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("captures/").flatten() {
        let path = entry.path();
        // NAME.facts.json files hold pgreach's report of the recording run, not a transcript.
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !file_name.ends_with(".json") || file_name.ends_with(".facts.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = pgreach::evidence::transcript::read_json(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(doc.format, "pgreach-transcript");
        for conn in &doc.connections {
            let labels = pgreach::evidence::label::annotate(&conn.conn);
            let labels: Vec<Vec<String>> = labels.into_iter().map(|a| a.labels).collect();
            for l in labels.iter().flatten() {
                assert!(
                    !l.starts_with("unparseable")
                        && !l.starts_with("undecodable")
                        && !l.starts_with("not a TLS record")
                        && !l.contains("unknown"),
                    "{}: conn {}: {l}",
                    path.display(),
                    conn.conn.id
                );
            }
            assert_eq!(
                labels,
                conn.labels,
                "{}: conn {}",
                path.display(),
                conn.conn.id
            );
        }
        seen += 1;
    }
    assert!(seen >= 7, "captures/ holds the recorded exchanges");
}
