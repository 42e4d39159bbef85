//! Evidence against real PostgreSQL 15 clusters: the pcap pgreach writes is read back by tshark
//! (Debian's package), which must decode PostgreSQL and TLS on both address families; with the
//! key log, the StartupMessage inside TLS; the JSON transcript parses and carries labels.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{Cluster, ClusterSpec, Netns, run_pgreach, run_with_timeout};

const TSHARK_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs tshark on `pcap` with `args`; returns stdout (panics on failure).
fn tshark(pcap: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(args);
    let out = run_with_timeout(&mut cmd, TSHARK_TIMEOUT).expect("tshark runs (apt install tshark)");
    assert!(
        !out.timed_out && out.code() == 0,
        "tshark {args:?} failed\n{}",
        out.describe()
    );
    out.stdout_str()
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

fn all_labels(doc: &Value) -> Vec<String> {
    doc["connections"]
        .as_array()
        .expect("connections[]")
        .iter()
        .flat_map(|c| c["labels"].as_array().cloned().unwrap_or_default())
        .flat_map(|ls| ls.as_array().cloned().unwrap_or_default())
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect()
}

fn has(labels: &[String], prefix: &str) -> bool {
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
    // The report is still printed (direct TLS fails on PostgreSQL 15: a finding, not an error).
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
    let info = run_with_timeout(Command::new("capinfos").arg(&pcap), TSHARK_TIMEOUT);
    if let Ok(info) = info {
        let text = info.stdout_str();
        assert!(text.contains("pgreach"), "{text}");
        assert!(text.contains(&decode), "{text}");
    }

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

/// Records the exchanges in `captures/` (see captures/README.md for the provenance):
/// `PGREACH_RECORD_CAPTURES=captures cargo test --test evidence_real record_captures -- --ignored`.
#[test]
#[ignore = "regenerates captures/; run on purpose"]
fn record_captures() {
    let out = std::env::var("PGREACH_RECORD_CAPTURES").unwrap_or_else(|_| "captures".into());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(out);
    std::fs::create_dir_all(&out).unwrap();
    let scenarios: Vec<(&str, ClusterSpec)> = vec![
        (
            "pg15-ssl-on-scram",
            ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["host all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
        ),
        (
            "pg15-ssl-off-md5",
            ClusterSpec::new()
                .ssl(false)
                .password_encryption("md5")
                .hba(&["host all all 127.0.0.1/32 md5"])
                .role("app", "app-secret"),
        ),
        (
            "pg15-hostssl-only",
            ClusterSpec::new()
                .ssl(true)
                .password_encryption("scram-sha-256")
                .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
                .role("app", "app-secret"),
        ),
        (
            "pg15-ssl-off-trust",
            ClusterSpec::new()
                .ssl(false)
                .hba(&["host all all 127.0.0.1/32 trust"])
                .role("app", "app-secret"),
        ),
    ];
    for (name, spec) in scenarios {
        let ns = Netns::new();
        let _cluster = Cluster::start(&ns, spec);
        let file = out.join(format!("{name}.json"));
        let file = file.to_str().unwrap();
        let args = [
            "127.0.0.1",
            "-U",
            "app",
            "-d",
            "postgres",
            "--transcript-format",
            "json",
            "--transcript",
            file,
        ];
        run_pgreach(Some(&ns), &args, &[]);
        // Replace the temporary paths in the recorded command line with the stable form.
        let text = std::fs::read_to_string(file).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        doc["command_line"] = Value::String(format!(
            "pgreach 127.0.0.1 -U app -d postgres --transcript-format json --transcript captures/{name}.json"
        ));
        std::fs::write(file, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
}

/// Every message of every recorded capture decodes: no chunk is left unlabelled as garbage,
/// and the labels stored in the file are the ones the current labeller gives.
#[test]
fn every_capture_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("captures/").flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
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
    assert!(seen >= 4, "captures/ holds the recorded exchanges");
}
