//! `--libpq VERSION`: pgreach's prediction for the configured sslmode held against the real
//! libpq of that version (Debian's 15, the npm builds' 16, 17 and 18), connecting to real
//! servers 15, 17 and 18. Each case is a connection string an application might carry; for
//! each, pgreach must say "reaches authentication" exactly when that libpq connects, and when
//! libpq refuses the settings before connecting, pgreach must quote libpq's own message.

mod support;

use support::{Cluster, ClusterSpec, Libpq, Netns, finding, run_pgreach};

const ROLE: &str = "app";
const PASSWORD: &str = "app-secret";

/// TLS on, both hostssl and plaintext allowed (so the weak modes connect when libpq lets
/// them), SCRAM for `app`.
fn cluster(ns: &Netns, major: u32) -> Cluster {
    let spec = ClusterSpec::new();
    let spec = if major == 15 {
        spec
    } else {
        spec.version(major)
    };
    Cluster::start(
        ns,
        spec.ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&[
                "hostssl all all 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ])
            .role(ROLE, PASSWORD),
    )
}

/// What an application might put in its connection string.
const CASES: &[&str] = &[
    "sslmode=require",
    "sslmode=prefer",
    // libpq 17+: direct TLS. Weak modes are refused; require needs a server that speaks it.
    "sslmode=require sslnegotiation=direct",
    "sslmode=prefer sslnegotiation=direct",
    "sslmode=require sslnegotiation=postgres",
    // Refused by every version, each in its own words.
    "sslmode=require connect_timeout=2.5",
    "sslmode=require target_session_attrs=sometimes",
    "sslmode=require gssencmode=maybe",
    "sslmode=require ssl_min_protocol_version=TLSv1.4",
    "sslmode=require ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2",
    "sslmode=Require",
    // Keywords libpq 15 does not know.
    "sslmode=require sslcertmode=allow",
    "sslmode=require sslcertmode=sometimes",
    "sslmode=require load_balance_hosts=random",
    "sslmode=require require_auth=scram-sha-256",
    // libpq 18 only.
    "sslmode=require min_protocol_version=3.0",
    // sslrootcert=system: libpq 16+ refuses a weak mode with it; libpq 15 looks for a file
    // called "system" and, under require, connects without one.
    "sslmode=require sslrootcert=system",
    // What the client accepts from the server's authentication request (SCRAM here; over
    // TLS with SCRAM-SHA-256-PLUS).
    "sslmode=disable require_auth=md5",
    "sslmode=require require_auth=!scram-sha-256",
    "sslmode=require require_auth=scram-sha-256,md5",
    "sslmode=require require_auth=md5,!password",
    "sslmode=disable channel_binding=require",
    "sslmode=prefer channel_binding=require",
    "sslmode=allow channel_binding=require",
    // sslcertmode (16+): this server asks for no client certificate.
    "sslmode=require sslcertmode=require",
    "sslmode=prefer sslcertmode=disable",
    // The TLS range: the handshake is limited to it; TLSv1.1 alone is below the default
    // minimum (TLSv1.2), an inverted range.
    "sslmode=require ssl_min_protocol_version=TLSv1.3",
    "sslmode=require ssl_max_protocol_version=TLSv1.2",
    "sslmode=require ssl_max_protocol_version=TLSv1.1",
    "sslmode=require ssl_min_protocol_version='' ssl_max_protocol_version=TLSv1.1",
    // Protocol 3.2 (libpq 18): servers before 18 offer only 3.0.
    "sslmode=require min_protocol_version=3.2",
    "sslmode=require max_protocol_version=latest",
    "sslmode=require min_protocol_version=3.2 max_protocol_version=3.0",
    // Accepted everywhere.
    "sslmode=require sslsni=0 target_session_attrs=any",
];

/// One comparison; returns a line describing a disagreement.
fn compare(ns: &Netns, server: u32, libpq: Libpq, case: &str) -> Option<String> {
    let target = format!("host=127.0.0.1 port=5432 user={ROLE} dbname=postgres {case}");
    let judge = libpq.connect(ns, &format!("{target} password={PASSWORD}"));
    assert_eq!(judge.lib_version / 10000, libpq.major(), "{judge:?}");
    let version = libpq.major().to_string();
    let run = run_pgreach(Some(ns), &["--json", "--libpq", &version, &target], &[]);
    let report = run.json();
    let mode = report["config"]["sslmode"].as_str().unwrap_or_default();
    let predicted = &report["sslmodes"][mode.replace('-', "_")];
    let reaches = report["summary"]["libpq_reaches_auth"] == true;
    let context = format!("server {server}, libpq {version}, {case:?}");
    if reaches != judge.ok {
        return Some(format!(
            "{context}: pgreach says reaches_auth={reaches} ({predicted}), libpq connected={} ({:?})",
            judge.ok, judge.error
        ));
    }
    let refused = report["config"]["refusals"]
        .as_array()
        .is_some_and(|r| !r.is_empty());
    if refused {
        // libpq's message, word for word (libpq prefixes connect_timeout's with the server).
        let reason = predicted["reason"].as_str().unwrap_or_default();
        if !judge.error.contains(reason) || reason.is_empty() {
            return Some(format!(
                "{context}: pgreach quotes {reason:?}, libpq said {:?}",
                judge.error
            ));
        }
        finding(&report, "libpq_refuses_settings", "error");
        if run.status != 1 {
            return Some(format!(
                "{context}: exit {} for a refusal\n{run}",
                run.status
            ));
        }
    }
    None
}

fn judge_every_case(server: u32) {
    let ns = Netns::new();
    let _cluster = cluster(&ns, server);
    let mut misses = Vec::new();
    let mut compared = 0;
    for libpq in [Libpq::V15, Libpq::V16, Libpq::V17, Libpq::V18] {
        for case in CASES {
            compared += 1;
            misses.extend(compare(&ns, server, libpq, case));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {compared} comparisons disagree:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn every_libpq_agrees_with_pgreach_on_server_15() {
    judge_every_case(15);
}

#[test]
fn every_libpq_agrees_with_pgreach_on_server_17() {
    judge_every_case(17);
}

#[test]
fn every_libpq_agrees_with_pgreach_on_server_18() {
    judge_every_case(18);
}

/// The report says whose behaviour it predicts, in every format.
#[test]
fn the_report_names_the_libpq_version() {
    let ns = Netns::new();
    let _cluster = cluster(&ns, 18);
    let target = format!("host=127.0.0.1 port=5432 user={ROLE} dbname=postgres");
    let text = run_pgreach(Some(&ns), &["--libpq", "16", &target], &[]);
    assert!(
        text.stdout
            .contains("What libpq 16 does under each sslmode"),
        "{text}"
    );
    let md = run_pgreach(Some(&ns), &["--format", "markdown", &target], &[]);
    assert!(
        md.stdout
            .contains("## What libpq 18 does under each sslmode"),
        "{md}"
    );
    let json = run_pgreach(Some(&ns), &["--json", "--libpq", "15", &target], &[]).json();
    assert_eq!(json["config"]["libpq"], "15");
}

/// A socket directory whose socket path does not fit `sockaddr_un`: libpq refuses it before
/// trying, in words pgreach must repeat (not a connection failure).
#[test]
fn a_socket_path_over_107_bytes_is_refused_like_libpq() {
    let ns = Netns::new();
    let dir = format!("/tmp/{}", "s".repeat(100));
    let target = format!("host={dir} port=5432 user={ROLE} dbname=postgres");
    let run = run_pgreach(Some(&ns), &["--json", &target], &[]);
    let report = run.json();
    let reason = report["sslmodes"]["prefer"]["reason"]
        .as_str()
        .unwrap_or_default();
    for libpq in [Libpq::V15, Libpq::V18] {
        let judge = libpq.connect(&ns, &target);
        assert!(!judge.ok);
        assert_eq!(judge.error.trim_end(), reason, "{libpq:?}\n{run}");
    }
    assert!(
        reason.ends_with("is too long (maximum 107 bytes)"),
        "{reason}"
    );
}

/// `load_balance_hosts=random` (libpq 16+) against two real servers, one that lets the app in
/// and one whose pg_hba.conf rejects it (an ErrorResponse stops libpq where it is): the app
/// connects or fails depending on the order libpq picks, and pgreach must call the outcome
/// uncertain, not a success or a failure. In the order given, it is certain.
#[test]
fn random_load_balancing_over_a_good_and_a_rejecting_server_is_uncertain() {
    let ns = Netns::new();
    let _good = cluster(&ns, 18);
    let _rejecting = Cluster::start(
        &ns,
        ClusterSpec::new()
            .version(18)
            .listen("127.0.0.2")
            .hba(&["host all all 0.0.0.0/0 reject"])
            .role(ROLE, PASSWORD),
    );
    let target =
        format!("host=127.0.0.1,127.0.0.2 port=5432 user={ROLE} dbname=postgres sslmode=disable");

    let random = format!("{target} load_balance_hosts=random");
    let report = run_pgreach(Some(&ns), &["--json", &random], &[]).json();
    let disable = &report["sslmodes"]["disable"];
    assert_eq!(disable["uncertain"], true, "{disable}");
    assert_eq!(disable["reaches_auth"], false, "{disable}");
    let reason = disable["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("1 of 2 orders"), "{reason}");
    // libpq itself: both outcomes show up (each try is a coin flip; 24 tries miss one
    // outcome with probability 2^-23).
    let tries: Vec<bool> = (0..24)
        .map(|_| {
            let judge = Libpq::V18.connect(&ns, &format!("{random} password={PASSWORD}"));
            judge.ok
        })
        .collect();
    assert!(tries.contains(&true) && tries.contains(&false), "{tries:?}");

    // In the order given, the first server lets the app in every time, as pgreach says.
    let report = run_pgreach(Some(&ns), &["--json", &target], &[]).json();
    let disable = &report["sslmodes"]["disable"];
    assert_eq!(disable["reaches_auth"], true, "{disable}");
    assert_eq!(disable["uncertain"], false, "{disable}");
    let judge = Libpq::V18.connect(&ns, &format!("{target} password={PASSWORD}"));
    assert!(judge.ok, "{judge:?}");
}
