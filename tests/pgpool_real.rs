//! pgreach against a live pgpool-II 4.3 (Debian's `pgpool2`) in front of a real PostgreSQL 15
//! cluster that has ssl on and scram: what pgreach sees is the pooler's answer (its SSLRequest
//! answer, its own SCRAM, its own refusals and certificate), not the cluster's, and a login's
//! session facts describe pgpool-II's own connection to the cluster.

mod support;

use serde_json::Value;
use support::{
    Cluster, ClusterSpec, Netns, Pgpool, PgpoolSpec, address, at, codes, finding, run_pgreach,
};

const SCRAM: &str = "host all all 127.0.0.1/32 scram-sha-256";
const HOSTSSL_SCRAM: &str = "hostssl all all 127.0.0.1/32 scram-sha-256";

/// The cluster behind the pooler: ssl on, scram, role app.
fn cluster(ns: &Netns) -> Cluster {
    Cluster::start(
        ns,
        ClusterSpec::new()
            .ssl(true)
            .password_encryption("scram-sha-256")
            .hba(&[SCRAM])
            .role("app", "app-secret"),
    )
}

fn pgpool(ns: &Netns, cluster: &Cluster, ssl: bool, hba: &[&str]) -> Pgpool {
    Pgpool::start(
        ns,
        cluster,
        PgpoolSpec::new()
            .ssl(ssl)
            .hba(hba)
            .user("app", "app-secret"),
    )
}

/// pgreach's JSON report for 127.0.0.1:`port` as app to postgres, with `extra` flags and
/// PGPASSWORD set (used by `--login` only).
fn probe(ns: &Netns, port: u16, extra: &[&str]) -> Value {
    let port = port.to_string();
    let mut args = vec![
        "--json",
        "127.0.0.1",
        "-p",
        &port,
        "-U",
        "app",
        "-d",
        "postgres",
    ];
    args.extend(extra);
    run_pgreach(Some(ns), &args, &[("PGPASSWORD", "app-secret")]).json()
}

/// The SASL mechanisms the startup's AuthenticationSASL named (empty if none).
fn mechanisms(startup: &Value) -> Vec<&str> {
    at(startup, "sasl_mechanisms")
        .as_array()
        .unwrap_or_else(|| panic!("sasl_mechanisms[]: {startup:#}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

/// pgpool-II's `ssl = off` governs its side: it answers `N` although the cluster it forwards
/// to answers `S`, and it runs SCRAM with the client itself (from pool_passwd) before it ever
/// connects to the cluster. Nor does it speak GSSAPI encryption or direct TLS.
#[test]
fn without_its_tls_pgpool_answers_n_in_front_of_a_cluster_with_ssl() {
    let ns = Netns::new();
    let cluster = cluster(&ns);
    let pool = pgpool(&ns, &cluster, false, &[SCRAM]);

    let direct = probe(&ns, cluster.port(), &[]);
    assert_eq!(address(&direct, "127.0.0.1")["ssl_request"]["answer"], "S");

    let report = probe(&ns, pool.port(), &["--gssenc", "--direct-tls", "--login"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "N", "{a:#}");
    assert_eq!(a["startup"]["channel"], "plaintext", "{a:#}");
    assert_eq!(a["startup"]["auth"], "sasl", "{a:#}");
    assert_eq!(mechanisms(&a["startup"]), ["SCRAM-SHA-256"], "{a:#}");
    assert_eq!(a["gssenc"]["answer"], "N", "{a:#}");
    assert_eq!(a["direct_tls"]["supported"], false, "{a:#}");
    finding(&report, "ssl_not_supported", "info");
    // The login passes pgpool-II's SCRAM and then its own to the cluster; pg_stat_ssl tells of
    // pgpool-II's connection to the cluster, which is plaintext too (ssl = off is for both).
    assert_eq!(a["login"]["status"], "ok", "{a:#}");
    assert_eq!(a["login"]["session"]["ssl"], false, "{a:#}");
    finding(&report, "ssl_not_in_use", "warning");
    assert!(
        pool.log().contains("new connection received"),
        "pgpool answered: {}",
        pool.log()
    );
}

/// With its own TLS and a hostssl-only pool_hba.conf, pgpool-II presents its own certificate,
/// offers SCRAM-SHA-256 without channel binding (the cluster offers -PLUS over TLS), and
/// refuses a plaintext startup with its own words: SQLSTATE XX000 "client authentication
/// failed", the pool_hba.conf detail, a hint to its log, no `V` field, `F` pool_hba.c.
#[test]
fn with_its_tls_pgpool_serves_its_certificate_and_refuses_plaintext_with_xx000() {
    let ns = Netns::new();
    let cluster = cluster(&ns);
    let pool = pgpool(&ns, &cluster, true, &[HOSTSSL_SCRAM]);
    let ca = cluster.ca_path();
    let trust = ["--sslrootcert", ca.to_str().unwrap()];

    let direct = probe(&ns, cluster.port(), &trust);
    let d = address(&direct, "127.0.0.1");
    assert_eq!(mechanisms(&d["startup"])[0], "SCRAM-SHA-256-PLUS", "{d:#}");

    let report = probe(&ns, pool.port(), &trust);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert_eq!(a["tls"]["status"], "ok", "{a:#}");
    assert_eq!(a["tls"]["version"], "TLSv1.3", "{a:#}");
    assert_eq!(a["tls"]["verify_full"]["ok"], true, "{a:#}");
    assert_ne!(
        a["tls"]["chain"][0]["sha256"], d["tls"]["chain"][0]["sha256"],
        "pgpool-II's certificate, not the cluster's"
    );
    assert_eq!(a["startup"]["channel"], "tls", "{a:#}");
    assert_eq!(mechanisms(&a["startup"]), ["SCRAM-SHA-256"], "{a:#}");

    let refusal = &a["startup_other"]["error"];
    assert_eq!(a["startup_other"]["channel"], "plaintext", "{a:#}");
    assert_eq!(refusal["sqlstate"], "XX000", "{a:#}");
    assert_eq!(refusal["message"], "client authentication failed", "{a:#}");
    let detail = refusal["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("no pool_hba.conf entry for host \"127.0.0.1\"")
            && detail.ends_with("SSL off"),
        "{a:#}"
    );
    assert_eq!(refusal["hint"], "see pgpool log for details", "{a:#}");
    // (code, value) pairs as sent: PostgreSQL sends V (the untranslated severity), pgpool
    // does not; F names pgpool-II's source file.
    let fields: Vec<(&str, &str)> = refusal["fields"]
        .as_array()
        .expect("fields[]")
        .iter()
        .filter_map(|f| Some((f[0].as_str()?, f[1].as_str()?)))
        .collect();
    assert!(fields.iter().all(|(code, _)| *code != "V"), "{fields:?}");
    assert!(fields.contains(&("F", "pool_hba.c")), "{fields:?}");

    // libpq without SSL is refused, with SSL it reaches authentication.
    assert_eq!(report["sslmodes"]["disable"]["reaches_auth"], false);
    for mode in ["allow", "prefer", "require", "verify-full"] {
        assert_eq!(report["sslmodes"][mode]["reaches_auth"], true, "{mode}");
    }
    // pgreach reads pg_hba.conf's 28000 as a hostssl rule; pgpool-II's XX000 is a refusal
    // it names no more precisely (the replayed pgpool-tls-scram capture pins the same).
    finding(&report, "server_rejected", "warning");
    assert_eq!(report["summary"]["errors"], 0, "{:?}", codes(&report));
}

/// Through a pooler, pg_stat_ssl describes the pooler's connection to the cluster: with
/// pgpool-II's ssl on and a `host` line, pgreach logs in over plaintext (sslmode=disable) and
/// the session it sees is over TLS, pgpool-II's own.
#[test]
fn through_pgpool_the_session_ssl_is_pgpools_connection_not_pgreachs() {
    let ns = Netns::new();
    let cluster = cluster(&ns);
    let pool = pgpool(&ns, &cluster, true, &[SCRAM]);

    let report = probe(&ns, pool.port(), &["--sslmode", "disable", "--login"]);
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["login"]["status"], "ok", "{a:#}");
    assert_eq!(a["login"]["channel"], "plaintext", "{a:#}");
    assert_eq!(a["login"]["session"]["ssl"], true, "{a:#}");
    assert_eq!(a["login"]["session"]["ssl_version"], "TLSv1.3", "{a:#}");
    finding(&report, "login_ok", "info");
}
