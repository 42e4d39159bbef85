//! The probe against every PostgreSQL major version users run (13–18, the npm builds that
//! scripts/fetch-postgres installs), and real libpq 15 and 18 as judges of real servers.
//! Each version gets the same questions; where the true answer differs between versions (the
//! wording of a pg_hba refusal, direct TLS), the test says which version answers what.

mod support;

use support::{
    Cluster, ClusterSpec, Libpq, Netns, address, assert_exit_follows_findings, assert_null,
    finding, run_pgreach, strings,
};

const ROLE: &str = "app";
const PASSWORD: &str = "app-secret";

/// The cluster `spec` describes, with TLS on, reachable on 127.0.0.1 only over TLS (hostssl,
/// SCRAM-SHA-256 for the role `app`).
fn hostssl_scram_cluster(ns: &Netns, spec: ClusterSpec) -> Cluster {
    Cluster::start(
        ns,
        spec.ssl(true)
            .listen("127.0.0.1")
            .password_encryption("scram-sha-256")
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"])
            .role(ROLE, PASSWORD),
    )
}

fn pgreach_json(
    ns: &Netns,
    sslmode: &str,
    extra: &[&str],
) -> (support::PgreachRun, serde_json::Value) {
    let mut args = vec![
        "--json",
        "127.0.0.1",
        "-U",
        ROLE,
        "-d",
        "postgres",
        "--sslmode",
        sslmode,
    ];
    args.extend_from_slice(extra);
    let run = run_pgreach(Some(ns), &args, &[]);
    let report = run.json();
    (run, report)
}

/// What pgreach must see on a server of `major`, the facts that change between versions.
fn probe_is_right_about(major: u32) {
    let ns = Netns::new();
    let cluster = hostssl_scram_cluster(&ns, ClusterSpec::new().version(major));
    let version_num: u32 = cluster.psql("SHOW server_version_num").parse().unwrap();
    assert_eq!(
        version_num / 10000,
        major,
        "the cluster runs the major asked for"
    );

    // Over TLS: SSLRequest answered `S`, the handshake, and the method pg_hba.conf asks.
    let (run, report) = pgreach_json(&ns, "require", &["--direct-tls"]);
    assert_eq!(run.status, 0, "reaches authentication over TLS\n{run}");
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert_eq!(a["ssl_request"]["unencrypted_bytes_after_s"], 0);
    assert_eq!(a["tls"]["status"], "ok", "{a:#}");
    assert_eq!(a["tls"]["version"], "TLSv1.3");
    let st = &a["startup"];
    assert_eq!(st["channel"], "tls");
    assert_eq!(st["auth"], "sasl", "{st:#}");
    assert_eq!(st["auth_code"], 10);
    assert_eq!(
        strings(&st["sasl_mechanisms"]),
        ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    );
    // TLS without SSLRequest (sslnegotiation=direct) arrived in PostgreSQL 17; older servers
    // read the ClientHello as a startup packet of absurd length and close.
    let direct = &a["direct_tls"];
    assert_eq!(direct["supported"], major >= 17, "{direct:#}");
    if major >= 17 {
        assert_eq!(direct["tls"]["status"], "ok", "{direct:#}");
        assert_eq!(direct["alpn_echoed"], true, "{direct:#}");
    } else {
        assert_eq!(direct["tls"]["status"], "failed", "{direct:#}");
    }

    // In plaintext, hostssl-only pg_hba.conf refuses; PostgreSQL 13 words it "SSL off", 14 and
    // later "no encryption". Both are the same finding.
    let (run, report) = pgreach_json(&ns, "disable", &[]);
    let st = &address(&report, "127.0.0.1")["startup"];
    assert_eq!(st["channel"], "plaintext");
    assert_eq!(st["error"]["sqlstate"], "28000", "{st:#}");
    let wording = if major <= 13 {
        "SSL off"
    } else {
        "no encryption"
    };
    assert_eq!(
        st["error"]["message"],
        format!(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"{ROLE}\", database \
             \"postgres\", {wording}"
        ),
        "{st:#}"
    );
    finding(&report, "ssl_required_by_hba", "error");
    assert_eq!(run.status, 1, "{run}");
    assert_exit_follows_findings(&run, &report);
}

#[test]
fn postgres_13() {
    probe_is_right_about(13);
}

#[test]
fn postgres_14() {
    probe_is_right_about(14);
}

#[test]
fn postgres_15() {
    probe_is_right_about(15);
}

#[test]
fn postgres_16() {
    probe_is_right_about(16);
}

#[test]
fn postgres_17() {
    probe_is_right_about(17);
}

#[test]
fn postgres_18() {
    probe_is_right_about(18);
}

fn conninfo(extra: &str) -> String {
    format!("host=127.0.0.1 port=5432 user={ROLE} password={PASSWORD} dbname=postgres {extra}")
}

/// Both judges connect over TLS and say which libpq they are; only libpq 18 can also
/// connect with direct TLS, and only to a server that speaks it.
fn libpq_judges_connect_to(ns: &Netns, server_major: u32) {
    for libpq in [Libpq::V15, Libpq::V18] {
        let c = libpq.connect(ns, &conninfo("sslmode=require"));
        assert_eq!(c.lib_version / 10000, libpq.major(), "{libpq:?}: {c:?}");
        assert!(c.ok, "{libpq:?} to server {server_major}: {c:?}");
        assert!(c.ssl_in_use, "{c:?}");
        assert_eq!(c.ssl_protocol.as_deref(), Some("TLSv1.3"), "{c:?}");
        let server = c.server_version.as_deref().unwrap_or_default();
        assert!(
            server.starts_with(&format!("{server_major}.")),
            "{libpq:?}: server_version {server:?}"
        );
    }
    let direct = Libpq::V18.connect(ns, &conninfo("sslmode=require sslnegotiation=direct"));
    assert_eq!(direct.ok, server_major >= 17, "{direct:?}");
}

#[test]
fn libpq_15_and_18_judge_server_18() {
    let ns = Netns::new();
    let _cluster = hostssl_scram_cluster(&ns, ClusterSpec::new().version(18));
    libpq_judges_connect_to(&ns, 18);
}

#[test]
fn libpq_15_and_18_judge_debians_server_15() {
    let ns = Netns::new();
    let _cluster = hostssl_scram_cluster(&ns, ClusterSpec::new());
    libpq_judges_connect_to(&ns, 15);
}

#[test]
fn only_libpq_18_knows_sslnegotiation() {
    let info = "host=db.example sslmode=require sslnegotiation=direct";
    let old = Libpq::V15.parse(info);
    assert_eq!(old.lib_version / 10000, 15, "{old:?}");
    assert_eq!(
        old.options,
        Err("invalid connection option \"sslnegotiation\"\n".to_owned())
    );

    let new = Libpq::V18.parse(info);
    assert_eq!(new.lib_version / 10000, 18, "{new:?}");
    assert_eq!(new.value("sslnegotiation"), Some("direct"), "{new:?}");
    assert_eq!(new.value("host"), Some("db.example"));
    // Every option libpq knows is listed, set or not.
    let options = new.options.as_ref().unwrap();
    assert_eq!(options.get("sslrootcert"), Some(&None), "{options:?}");
}

#[test]
fn libpq_judge_gives_up_at_connect_timeout() {
    let ns = Netns::new();
    ns.drop_tcp_port(5432);
    let started = std::time::Instant::now();
    let c = Libpq::V18.connect(&ns, "host=127.0.0.1 port=5432 connect_timeout=2");
    let elapsed = started.elapsed();
    assert!(!c.ok, "{c:?}");
    assert!(c.error.contains("timeout expired"), "{c:?}");
    assert!(
        elapsed >= std::time::Duration::from_secs(2) && elapsed < std::time::Duration::from_secs(8),
        "connect_timeout=2 overrides the judge's 10 s: took {elapsed:?}"
    );
}

/// A host made only of digits and dots that is not a canonical address (`127.1`, as
/// inet_aton reads it): libpq sends no SNI for it and connects; pgreach must do the same, not
/// refuse the name as an invalid TLS server name.
#[test]
fn ip_like_host_gets_no_sni_like_libpq() {
    let ns = Netns::new();
    let _cluster = hostssl_scram_cluster(&ns, ClusterSpec::new().version(18));
    let target = format!("host=127.1 port=5432 user={ROLE} dbname=postgres sslmode=require");
    let judge = Libpq::V18.connect(&ns, &format!("{target} password={PASSWORD}"));
    assert!(judge.ok, "libpq 18 connects to host=127.1: {judge:?}");

    let run = run_pgreach(Some(&ns), &["--json", &target], &[]);
    let report = run.json();
    let a = address(&report, "127.0.0.1");
    assert_eq!(a["tls"]["status"], "ok", "{a:#}\n{run}");
    assert_null(a, "tls.sni");
    assert_eq!(a["startup"]["status"], "auth_request", "{a:#}");
    assert_eq!(a["reached_auth"], true, "{a:#}");
}

/// `sslsni=0` (libpq 14+) turns SNI off for a host name that would otherwise send it.
#[test]
fn sslsni_0_sends_no_server_name() {
    let ns = Netns::new();
    let _cluster = hostssl_scram_cluster(&ns, ClusterSpec::new().version(18));
    let target = format!("host=localhost port=5432 user={ROLE} dbname=postgres sslmode=require");
    for (extra, sni) in [("", Some("localhost")), (" sslsni=0", None)] {
        let judge = Libpq::V18.connect(&ns, &format!("{target}{extra} password={PASSWORD}"));
        assert!(judge.ok, "libpq 18 with {extra:?}: {judge:?}");
        let run = run_pgreach(Some(&ns), &["--json", &format!("{target}{extra}")], &[]);
        let report = run.json();
        let a = address(&report, "127.0.0.1");
        assert_eq!(a["tls"]["status"], "ok", "{a:#}\n{run}");
        match sni {
            Some(name) => assert_eq!(a["tls"]["sni"], name, "{extra:?}: {a:#}"),
            None => assert_null(a, "tls.sni"),
        }
        assert_eq!(a["reached_auth"], true, "{a:#}");
    }
}
