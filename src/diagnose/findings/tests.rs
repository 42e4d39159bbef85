//! Every finding code from hand-built facts: code, severity, addresses, and a next step that
//! names what to change.

use super::*;
use crate::diagnose::testkit::*;
use crate::facts::{
    AuthMethod, LookupOutcome, Severity, SslAnswer, StartupStatus, TcpStatus, TlsStatus,
};

const HOST: &str = "db.example.com";

fn run(r: &Report, mode: SslMode) -> Vec<Finding> {
    findings(
        r,
        &Options {
            sslmode: mode,
            expiry_warn_days: 30,
            now: now(),
        },
    )
}

fn codes(fs: &[Finding]) -> Vec<FindingCode> {
    fs.iter().map(|f| f.code).collect()
}

/// The one finding with `code`; its texts are non-empty and the next step names `needle`.
fn only(fs: &[Finding], code: FindingCode, needle: &str) -> Finding {
    let matching: Vec<&Finding> = fs.iter().filter(|f| f.code == code).collect();
    assert_eq!(matching.len(), 1, "{code} in {:?}", codes(fs));
    let f = matching[0];
    assert!(
        !f.summary.is_empty() && f.summary.ends_with('.'),
        "{}",
        f.summary
    );
    assert!(
        f.next_step.contains(needle),
        "{code}: {:?} lacks {needle:?}",
        f.next_step
    );
    assert!(!f.evidence.is_empty(), "{code} has no evidence");
    f.clone()
}

fn absent(fs: &[Finding], code: FindingCode) {
    assert!(!codes(fs).contains(&code), "{code} in {:?}", codes(fs));
}

fn ok_v4(host: &str) -> crate::facts::AddressFacts {
    tcp(host, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build()
}

fn with_trust(mut r: Report, root_file: bool) -> Report {
    r.trust = trust(root_file);
    r
}

// ── config ─────────────────────────────────────────────────────────────────────────────

#[test]
fn root_cert_missing_under_verify_modes_only() {
    let r = report("verify-full", vec![ok_v4(HOST)]);
    let fs = run(&r, SslMode::VerifyFull);
    let f = only(&fs, FindingCode::RootCertMissing, "sslrootcert");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.addresses.is_empty() && f.host.is_none());
    assert_eq!(
        fs[0].code,
        FindingCode::RootCertMissing,
        "config comes first"
    );
    absent(&run(&r, SslMode::Require), FindingCode::RootCertMissing);
    // Sockets never use TLS: verify-full over a socket needs no root file.
    let s = unix("/run/postgresql/.s.PGSQL.5432")
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    assert!(run(&report("verify-full", vec![s]), SslMode::VerifyFull).is_empty());
}

#[test]
fn sslrootcert_system_with_a_weak_mode() {
    let mut r = report("require", vec![ok_v4(HOST)]);
    r.trust.source = crate::facts::FileSource::System;
    r.trust.certificates = 100;
    let fs = run(&r, SslMode::Require);
    let f = only(
        &fs,
        FindingCode::SslrootcertSystemWeakSslmode,
        "sslmode=verify-full",
    );
    assert_eq!(f.severity, Severity::Error);
    absent(
        &run(&r, SslMode::VerifyFull),
        FindingCode::SslrootcertSystemWeakSslmode,
    );
}

// ── DNS ────────────────────────────────────────────────────────────────────────────────

fn unresolved(a: LookupOutcome, aaaa: LookupOutcome, system: Result<Vec<&str>, &str>) -> Report {
    let mut r = report("prefer", Vec::new());
    r.hosts.push(crate::facts::HostFacts {
        host: "nope.example.com".into(),
        port: 5432,
        kind: crate::facts::HostKind::Name,
        dns: Some(dns(a, aaaa, system)),
    });
    r
}

#[test]
fn dns_nxdomain() {
    let r = unresolved(
        LookupOutcome::Nxdomain,
        LookupOutcome::Nxdomain,
        Err("Name or service not known"),
    );
    let fs = run(&r, SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::DnsNxdomain,
        "dig +search nope.example.com",
    );
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.host.as_deref(), Some("nope.example.com"));
    assert!(f.addresses.is_empty());
    assert_eq!(fs.len(), 1, "{:?}", codes(&fs));
}

#[test]
fn dns_no_address() {
    let r = unresolved(
        LookupOutcome::NoRecords,
        LookupOutcome::NoRecords,
        Err("No address associated with hostname"),
    );
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::DnsNoAddress,
        "A (or AAAA) record",
    );
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn dns_timeout_is_an_error_only_when_nothing_resolved() {
    let r = unresolved(
        LookupOutcome::Timeout,
        LookupOutcome::Timeout,
        Err("Temporary failure in name resolution"),
    );
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::DnsTimeout,
        "/etc/resolv.conf",
    );
    assert_eq!(f.severity, Severity::Error);
    let r = unresolved(
        LookupOutcome::Answers,
        LookupOutcome::Timeout,
        Ok(vec!["10.0.0.5"]),
    );
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::DnsTimeout,
        "hostaddr",
    );
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn dns_lookup_failed() {
    let r = unresolved(
        LookupOutcome::ServerFailure,
        LookupOutcome::ServerFailure,
        Err("SERVFAIL"),
    );
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::DnsLookupFailed,
        "getent ahosts",
    );
    assert_eq!(f.severity, Severity::Error);
    // A name that resolves has no DNS finding.
    let r = unresolved(
        LookupOutcome::Answers,
        LookupOutcome::NoRecords,
        Ok(vec!["10.0.0.5"]),
    );
    assert!(run(&r, SslMode::Prefer).is_empty());
}

// ── TCP and address families ──────────────────────────────────────────────────────────

fn v6_then_v4(v6: crate::facts::AddressFacts) -> Report {
    let v4 = tcp("localhost", "127.0.0.1")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    report("prefer", vec![v6, v4])
}

#[test]
fn ipv6_refused_first_is_a_harmless_fallback() {
    let v6 = tcp("localhost", "::1")
        .tcp_failed(TcpStatus::Refused, "Connection refused (os error 111)")
        .build();
    let fs = run(&v6_then_v4(v6), SslMode::Prefer);
    let refused = only(&fs, FindingCode::AddressRefused, "listen_addresses");
    assert_eq!(refused.severity, Severity::Error);
    assert_eq!(refused.addresses, vec!["[::1]:5432"]);
    let differ = only(&fs, FindingCode::Ipv6Ipv4Differ, "listen on IPv6");
    assert_eq!(differ.severity, Severity::Info);
    assert_eq!(differ.addresses, vec!["[::1]:5432"]);
    assert!(
        differ.summary.contains("falls back to IPv4"),
        "{}",
        differ.summary
    );
    assert_eq!(
        codes(&fs),
        vec![FindingCode::AddressRefused, FindingCode::Ipv6Ipv4Differ]
    );
}

#[test]
fn ipv6_timing_out_first_delays_every_connection() {
    let v6 = tcp("localhost", "::1")
        .tcp_failed(TcpStatus::Timeout, "timed out")
        .build();
    let fs = run(&v6_then_v4(v6), SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::AddressTimeout, "nc -vz").severity,
        Severity::Error
    );
    let differ = only(&fs, FindingCode::Ipv6Ipv4Differ, "AAAA");
    assert_eq!(differ.severity, Severity::Warning);
    assert!(
        differ.summary.contains("connect_timeout (10 s)"),
        "{}",
        differ.summary
    );
}

#[test]
fn ipv6_stopping_libpq_makes_the_difference_an_error() {
    let v6 = tcp("localhost", "::1")
        .tls_ok()
        .tls_startup(hba_no_entry("::1", "SSL encryption"))
        .plain_startup(hba_no_entry("::1", "no encryption"))
        .build();
    let fs = run(&v6_then_v4(v6), SslMode::Prefer);
    let differ = only(&fs, FindingCode::Ipv6Ipv4Differ, "pg_hba.conf");
    assert_eq!(differ.severity, Severity::Error);
    assert!(differ.summary.contains("app fails"), "{}", differ.summary);
}

#[test]
fn address_unreachable_and_untried_addresses() {
    let tried = tcp(HOST, "10.0.0.5")
        .tcp_failed(TcpStatus::Unreachable, "No route to host (os error 113)")
        .build();
    let untried = tcp(HOST, "10.0.0.6")
        .rank(None)
        .tcp_failed(TcpStatus::Unreachable, "No route to host (os error 113)")
        .build();
    let fs = run(&report("prefer", vec![tried.clone()]), SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::AddressUnreachable,
        "ip route get 10.0.0.5",
    );
    assert_eq!(f.severity, Severity::Error);
    let fs = run(&report("prefer", vec![untried]), SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::AddressUnreachable, "ip route").severity,
        Severity::Warning
    );
}

#[test]
fn address_error_for_a_reset() {
    let a = tcp(HOST, "10.0.0.5")
        .tcp_failed(TcpStatus::Reset, "Connection reset by peer")
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::AddressError, "nc -vz").severity,
        Severity::Error
    );
}

// ── not PostgreSQL ─────────────────────────────────────────────────────────────────────

#[test]
fn not_postgres_http() {
    let a = tcp(HOST, "10.0.0.5")
        .other_byte(b'H', "HTTP/1.1 400 Bad Request\\r\\n")
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    let f = only(&fs, FindingCode::NotPostgres, "SHOW port");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.summary.contains("an HTTP server"), "{}", f.summary);
    assert!(
        f.evidence.iter().any(|e| e.contains("HTTP/1.1 400")),
        "{:?}",
        f.evidence
    );
    assert_eq!(codes(&fs), vec![FindingCode::NotPostgres]);
}

#[test]
fn not_postgres_ssh_banner_looks_like_s() {
    let a = tcp(HOST, "10.0.0.5")
        .injected(20, "SSH-2.0-OpenSSH_9.6\\r\\n")
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    assert!(
        only(&fs, FindingCode::NotPostgres, "ss -ltnp")
            .summary
            .contains("SSH")
    );
    absent(&fs, FindingCode::UnencryptedDataAfterSsl);
}

#[test]
fn not_postgres_silent_on_both_channels() {
    let a = tcp(HOST, "10.0.0.5")
        .answer(SslAnswer::Eof)
        .plain_startup(broken(StartupStatus::Eof, "closed"))
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    only(&fs, FindingCode::NotPostgres, "proxy");
    absent(&fs, FindingCode::SslRequestFailed);
    absent(&fs, FindingCode::StartupFailed);
}

// ── server state ───────────────────────────────────────────────────────────────────────

fn both(code: &str, message: &str) -> Report {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(refused(code, message))
        .plain_startup(refused(code, message))
        .build();
    report("prefer", vec![a])
}

#[test]
fn cannot_connect_now_variants() {
    let cases = [
        (
            "the database system is starting up",
            FindingCode::ServerStartingUp,
            "pg_isready",
        ),
        (
            "the database system is shutting down",
            FindingCode::ServerShuttingDown,
            "pg_ctl stop",
        ),
        (
            "the database system is in recovery mode",
            FindingCode::ServerInRecovery,
            "primary",
        ),
        (
            "the database system is not yet accepting connections",
            FindingCode::ServerInRecovery,
            "hot_standby",
        ),
    ];
    for (message, code, needle) in cases {
        let fs = run(&both("57P03", message), SslMode::Prefer);
        let f = only(&fs, code, needle);
        assert_eq!(f.severity, Severity::Error, "{code}");
        assert_eq!(f.addresses, vec!["10.0.0.5:5432"]);
        assert!(
            f.evidence.iter().any(|e| e.contains(message)),
            "{:?}",
            f.evidence
        );
    }
}

#[test]
fn hot_standby_after_trust() {
    let mut st = auth(AuthMethod::Trust);
    st.parameters = vec![("in_hot_standby".into(), "on".into())];
    let a = tcp(HOST, "10.0.0.5").tls_ok().tls_startup(st).build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::ServerInRecovery,
        "target_session_attrs=read-write",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.summary.contains("read-only"));
}

#[test]
fn too_many_clients() {
    let fs = run(
        &both("53300", "sorry, too many clients already"),
        SslMode::Prefer,
    );
    let f = only(&fs, FindingCode::TooManyClients, "pg_stat_activity");
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn server_rejected_for_unknown_errors() {
    let fs = run(
        &both("08P01", "invalid startup packet layout"),
        SslMode::Prefer,
    );
    let f = only(&fs, FindingCode::ServerRejected, "server log");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.summary.contains("08P01"));
    // A localised 57P03 too.
    let fs = run(
        &both("57P03", "das Datenbanksystem fährt herunter"),
        SslMode::Prefer,
    );
    only(&fs, FindingCode::ServerRejected, "server log");
    // A localised 28000 points at pg_hba.conf.
    let fs = run(
        &both("28000", "keine Zeile in pg_hba.conf"),
        SslMode::Prefer,
    );
    only(&fs, FindingCode::ServerRejected, "pg_hba_file_rules");
}

#[test]
fn startup_failed_after_a_good_tls_phase() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(broken(
            StartupStatus::Eof,
            "the server closed the connection without answering",
        ))
        .build();
    let fs = run(&report("require", vec![a]), SslMode::Require);
    let f = only(&fs, FindingCode::StartupFailed, "server log");
    assert_eq!(f.severity, Severity::Error);
    absent(&fs, FindingCode::NotPostgres);
}

#[test]
fn post_auth_error_after_trust() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(trust_then("3D000", "database \"app\" does not exist"))
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    let f = only(&fs, FindingCode::PostAuthError, "CREATE DATABASE");
    assert_eq!(f.severity, Severity::Warning);
    only(&fs, FindingCode::AuthTrust, "scram-sha-256");
}

// ── SSL ────────────────────────────────────────────────────────────────────────────────

fn ssl_off() -> Report {
    let a = tcp(HOST, "10.0.0.5")
        .answer(SslAnswer::N)
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    report("require", vec![a])
}

#[test]
fn ssl_not_supported_depends_on_the_mode() {
    let f = only(
        &run(&ssl_off(), SslMode::Require),
        FindingCode::SslNotSupported,
        "ssl = on",
    );
    assert_eq!(f.severity, Severity::Error);
    let f = only(
        &run(&ssl_off(), SslMode::Prefer),
        FindingCode::SslNotSupported,
        "ssl = on",
    );
    assert_eq!(f.severity, Severity::Info);
    assert!(f.summary.contains("unencrypted"));
    absent(
        &run(&ssl_off(), SslMode::Disable),
        FindingCode::SslNotSupported,
    );
}

fn hostssl_only() -> Report {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(hba_no_entry("10.0.0.9", "no encryption"))
        .build();
    with_trust(report("prefer", vec![a]), true)
}

#[test]
fn ssl_required_by_hba() {
    let r = hostssl_only();
    let f = only(
        &run(&r, SslMode::Disable),
        FindingCode::SslRequiredByHba,
        "sslmode=require",
    );
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.addresses, vec!["10.0.0.5:5432"]);
    let f = only(
        &run(&r, SslMode::Allow),
        FindingCode::SslRequiredByHba,
        "sslmode=require",
    );
    assert_eq!(f.severity, Severity::Warning);
    let fs = run(&r, SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::SslRequiredByHba, "Nothing to change").severity,
        Severity::Info
    );
    // Explained by the split: no pg_hba_no_entry on top.
    absent(&fs, FindingCode::PgHbaNoEntry);
}

/// PgBouncer with client_tls_sslmode=require: 08P01 "SSL required" without SSL, SASL over it.
fn pooler_requires_ssl() -> Report {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(refused("08P01", "SSL required"))
        .build();
    with_trust(report("prefer", vec![a]), true)
}

#[test]
fn ssl_required_by_server() {
    let r = pooler_requires_ssl();
    let f = only(
        &run(&r, SslMode::Disable),
        FindingCode::SslRequiredByServer,
        "client_tls_sslmode",
    );
    assert_eq!(f.severity, Severity::Error);
    assert!(f.next_step.contains("sslmode=require"), "{}", f.next_step);
    let fs = run(&r, SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::SslRequiredByServer, "Nothing to change").severity,
        Severity::Info
    );
    // Explained: no generic refusal, and not mistaken for pg_hba.conf.
    absent(&fs, FindingCode::ServerRejected);
    absent(&fs, FindingCode::SslRequiredByHba);
}

#[test]
fn ssl_required_without_a_working_ssl_side_is_a_refusal() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(refused("08P01", "SSL required"))
        .plain_startup(refused("08P01", "SSL required"))
        .build();
    let fs = run(
        &with_trust(report("prefer", vec![a]), true),
        SslMode::Prefer,
    );
    absent(&fs, FindingCode::SslRequiredByServer);
    only(&fs, FindingCode::ServerRejected, "SSL");
}

fn hostnossl() -> Report {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(hba_no_entry("10.0.0.9", "SSL encryption"))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    with_trust(report("prefer", vec![a]), true)
}

#[test]
fn ssl_rejected_by_hba() {
    let r = hostnossl();
    let f = only(
        &run(&r, SslMode::Require),
        FindingCode::SslRejectedByHba,
        "`hostssl app app 10.0.0.9/32 scram-sha-256`",
    );
    assert_eq!(f.severity, Severity::Error);
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::SslRejectedByHba,
        "retries unencrypted",
    );
    assert_eq!(f.severity, Severity::Warning);
    let fs = run(&r, SslMode::Disable);
    assert_eq!(
        only(&fs, FindingCode::SslRejectedByHba, "hostssl").severity,
        Severity::Info
    );
    absent(&fs, FindingCode::PgHbaNoEntry);
}

#[test]
fn unencrypted_data_after_ssl() {
    let a = tcp(HOST, "10.0.0.5")
        .injected(4, "Sxyz\\x00")
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let r = report("prefer", vec![a]);
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::UnencryptedDataAfterSsl,
        "man in the middle",
    );
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.evidence.iter().any(|e| e.contains("Sxyz")),
        "{:?}",
        f.evidence
    );
    // disable never sends SSLRequest: the app is not stopped.
    let f = only(
        &run(&r, SslMode::Disable),
        FindingCode::UnencryptedDataAfterSsl,
        "pgreach",
    );
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn ssl_request_failed_and_tls_handshake_failed() {
    let a = tcp(HOST, "10.0.0.5")
        .answer(SslAnswer::Eof)
        .plain_startup(auth(AuthMethod::Md5))
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::SslRequestFailed, "sslmode=disable").severity,
        Severity::Error
    );
    absent(&fs, FindingCode::NotPostgres);

    let b = tcp(HOST, "10.0.0.5")
        .tls_failed(TlsStatus::Failed, "peer is incompatible: protocol version")
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let fs = run(&report("require", vec![b.clone()]), SslMode::Require);
    assert_eq!(
        only(
            &fs,
            FindingCode::TlsHandshakeFailed,
            "ssl_min_protocol_version"
        )
        .severity,
        Severity::Error
    );
    // prefer falls back to plaintext: a warning.
    let fs = run(&report("prefer", vec![b]), SslMode::Prefer);
    assert_eq!(
        only(&fs, FindingCode::TlsHandshakeFailed, "openssl").severity,
        Severity::Warning
    );
}

// ── certificates ───────────────────────────────────────────────────────────────────────

fn cert_report(f: impl FnOnce(Addr) -> Addr, root_file: bool) -> Report {
    let a = f(tcp(HOST, "10.0.0.5").tls_ok())
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    with_trust(report("verify-full", vec![a]), root_file)
}

#[test]
fn cert_untrusted() {
    let r = cert_report(
        |a| {
            a.chain_fails(
                crate::facts::ChainCode::UnknownIssuer,
                "self-signed certificate",
            )
        },
        true,
    );
    let f = only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertUntrusted,
        "sslrootcert",
    );
    assert_eq!(f.severity, Severity::Error);
    // require with a root file checks the chain as verify-ca.
    let f = only(
        &run(&r, SslMode::Require),
        FindingCode::CertUntrusted,
        "remove it",
    );
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.evidence.iter().any(|e| e.contains("like verify-ca")),
        "{:?}",
        f.evidence
    );
    // Without a root file, require does not check: a warning.
    let r = cert_report(
        |a| {
            a.chain_fails(
                crate::facts::ChainCode::UnknownIssuer,
                "self-signed certificate",
            )
        },
        false,
    );
    assert_eq!(
        only(
            &run(&r, SslMode::Require),
            FindingCode::CertUntrusted,
            "sslrootcert"
        )
        .severity,
        Severity::Warning
    );
    assert_eq!(
        only(
            &run(&r, SslMode::Disable),
            FindingCode::CertUntrusted,
            "sslrootcert"
        )
        .severity,
        Severity::Info
    );
}

#[test]
fn cert_name_mismatch() {
    let r = cert_report(|a| a.name_fails(&["DNS:other.example.com"]), true);
    let f = only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertNameMismatch,
        "other.example.com",
    );
    assert_eq!(f.severity, Severity::Error);
    assert!(f.next_step.contains("subjectAltName DNS:db.example.com"));
    let f = only(
        &run(&r, SslMode::Require),
        FindingCode::CertNameMismatch,
        "subjectAltName",
    );
    assert_eq!(f.severity, Severity::Info);
}

/// A CN-only certificate probed by IP: the step names the CN (libpq matches it when there are
/// no DNS names) and an IP subjectAltName, the kind libpq matches an IP literal against.
#[test]
fn cert_name_mismatch_by_ip_names_the_cn_and_an_ip_san() {
    let a = tcp("127.0.0.1", "127.0.0.1")
        .tls_ok()
        .name_fails(&["CN:localhost"])
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let r = with_trust(report("verify-full", vec![a]), true);
    let f = only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertNameMismatch,
        "subjectAltName IP:127.0.0.1",
    );
    assert!(
        f.next_step.contains("(e.g. `localhost`)"),
        "{}",
        f.next_step
    );
}

#[test]
fn cert_expired() {
    let r = cert_report(
        |a| {
            a.leaf(|c| c.not_after = "2025-12-01T00:00:00Z".into())
                .chain_fails(crate::facts::ChainCode::Expired, "certificate has expired")
        },
        true,
    );
    let fs = run(&r, SslMode::VerifyCa);
    let f = only(&fs, FindingCode::CertExpired, "ssl_cert_file");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.evidence.iter().any(|e| e.contains("2025-12-01")),
        "{:?}",
        f.evidence
    );
    absent(&fs, FindingCode::CertUntrusted);
    absent(&fs, FindingCode::CertExpiringSoon);
    // The date alone is enough when the chain verdict is missing.
    let r = cert_report(
        |a| a.leaf(|c| c.not_after = "2025-12-01T00:00:00Z".into()),
        false,
    );
    assert_eq!(
        only(&run(&r, SslMode::Prefer), FindingCode::CertExpired, "Renew").severity,
        Severity::Warning
    );
}

#[test]
fn cert_not_yet_valid() {
    let r = cert_report(
        |a| {
            a.leaf(|c| c.not_before = "2026-03-01T00:00:00Z".into())
                .chain_fails(
                    crate::facts::ChainCode::NotYetValid,
                    "certificate is not yet valid",
                )
        },
        true,
    );
    let f = only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertNotYetValid,
        "timedatectl",
    );
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn cert_expiring_soon() {
    let r = cert_report(
        |a| a.leaf(|c| c.not_after = "2026-01-25T00:00:00Z".into()),
        true,
    );
    let f = only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertExpiringSoon,
        "ssl_cert_file",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.evidence[0].contains("10 day(s) left"), "{:?}", f.evidence);
    // The TLS layer's own count wins over the date.
    let r = cert_report(|a| a.leaf(|c| c.days_left = Some(45)), true);
    absent(&run(&r, SslMode::VerifyFull), FindingCode::CertExpiringSoon);
    let r = cert_report(|a| a.leaf(|c| c.days_left = Some(3)), true);
    only(
        &run(&r, SslMode::VerifyFull),
        FindingCode::CertExpiringSoon,
        "Renew",
    );
}

#[test]
fn cert_chain_incomplete() {
    let r = cert_report(
        |a| {
            a.chain_fails(
                crate::facts::ChainCode::MissingIntermediate,
                "unable to get local issuer certificate",
            )
        },
        true,
    );
    let fs = run(&r, SslMode::VerifyFull);
    let f = only(&fs, FindingCode::CertChainIncomplete, "intermediate");
    assert_eq!(f.severity, Severity::Error);
    absent(&fs, FindingCode::CertUntrusted);
}

#[test]
fn cert_revoked_and_crl_problems() {
    let r = cert_report(
        |a| {
            a.chain_fails(
                crate::facts::ChainCode::Revoked,
                "certificate 0 was revoked (OpenSSL: \"certificate revoked\")",
            )
        },
        true,
    );
    let fs = run(&r, SslMode::VerifyFull);
    let f = only(&fs, FindingCode::CertRevoked, "revoked");
    assert_eq!(f.severity, Severity::Error);
    absent(&fs, FindingCode::CertUntrusted);

    // A CRL missing on the client's side is about the CRLs, not the server's CA.
    let r = cert_report(
        |a| {
            a.chain_fails(
                crate::facts::ChainCode::CrlMissing,
                "unable to get certificate CRL",
            )
        },
        true,
    );
    let fs = run(&r, SslMode::VerifyFull);
    let f = only(&fs, FindingCode::CertUntrusted, "openssl crl -hash");
    assert!(f.summary.contains("unable to get certificate CRL"), "{f:?}");
    absent(&fs, FindingCode::CertRevoked);
}

#[test]
fn sslmode_below_verify_full() {
    let r = cert_report(|a| a, true);
    let fs = run(&r, SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::SslmodeBelowVerifyFull,
        "sslmode=verify-full",
    );
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.addresses, vec!["10.0.0.5:5432"]);
    assert_eq!(codes(&fs), vec![FindingCode::SslmodeBelowVerifyFull]);
    absent(
        &run(&r, SslMode::VerifyFull),
        FindingCode::SslmodeBelowVerifyFull,
    );
    let r = cert_report(|a| a.name_fails(&["DNS:other"]), true);
    absent(
        &run(&r, SslMode::Prefer),
        FindingCode::SslmodeBelowVerifyFull,
    );
}

// ── pg_hba.conf and authentication ────────────────────────────────────────────────────

#[test]
fn pg_hba_no_entry_behind_nat_on_two_families() {
    let v4 = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(hba_no_entry("192.168.1.7", "SSL encryption"))
        .plain_startup(hba_no_entry("192.168.1.7", "no encryption"))
        .build();
    let v6 = tcp(HOST, "2001:db8::5")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(hba_no_entry("::1", "SSL encryption"))
        .plain_startup(hba_no_entry("::1", "no encryption"))
        .build();
    let r = with_trust(report("prefer", vec![v4, v6]), true);
    let fs = run(&r, SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::PgHbaNoEntry,
        "`hostssl app app 192.168.1.7/32 scram-sha-256`",
    );
    assert!(
        f.next_step
            .contains("`hostssl app app ::1/128 scram-sha-256`"),
        "{}",
        f.next_step
    );
    assert!(f.next_step.contains("pg_reload_conf()"));
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.addresses, vec!["10.0.0.5:5432", "[2001:db8::5]:5432"]);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("NAT or proxy") && e.contains("192.168.1.7")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("::1, this connection's own address")),
        "{:?}",
        f.evidence
    );
    absent(&fs, FindingCode::Ipv6Ipv4Differ);
}

#[test]
fn pg_hba_no_entry_suggests_host_for_plaintext_modes() {
    let a = tcp(HOST, "10.0.0.5")
        .plaintext_first()
        .answer(SslAnswer::N)
        .plain_startup(refused(
            "28000",
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", SSL off",
        ))
        .build();
    let fs = run(&report("disable", vec![a]), SslMode::Disable);
    only(
        &fs,
        FindingCode::PgHbaNoEntry,
        "`host app app 127.0.0.1/32 scram-sha-256`",
    );
}

#[test]
fn pg_hba_no_entry_over_a_unix_socket_suggests_a_local_line() {
    let s = unix("/run/postgresql/.s.PGSQL.5432")
        .plain_startup(refused(
            "28000",
            "no pg_hba.conf entry for host \"[local]\", user \"app\", database \"app\", no encryption",
        ))
        .build();
    let fs = run(&report("prefer", vec![s]), SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::PgHbaNoEntry,
        "`local app app scram-sha-256`",
    );
    assert_eq!(
        f.evidence.len(),
        1,
        "no NAT note for a socket: {:?}",
        f.evidence
    );
}

#[test]
fn pg_hba_reject() {
    let fs = run(
        &both(
            "28000",
            "pg_hba.conf rejects connection for host \"10.0.0.9\", user \"app\", database \"app\", SSL encryption",
        ),
        SslMode::Prefer,
    );
    let f = only(&fs, FindingCode::PgHbaReject, "auth_method = 'reject'");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.next_step.contains("10.0.0.9/32"));
}

#[test]
fn client_cert_required() {
    let mut r = both("28000", "connection requires a valid client certificate");
    if let Some(t) = r.addresses[0].tls.as_mut() {
        t.client_certificate_requested = true;
    }
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::ClientCertRequired,
        "--sslcert",
    );
    assert_eq!(f.severity, Severity::Error);
    assert!(f.evidence.iter().any(|e| e.ends_with("true")));
}

#[test]
fn auth_cleartext_over_plaintext() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Password))
        .plain_startup(auth(AuthMethod::Password))
        .build();
    let r = report("disable", vec![a]);
    let f = only(
        &run(&r, SslMode::Disable),
        FindingCode::AuthCleartextOverPlaintext,
        "hostssl",
    );
    assert_eq!(f.severity, Severity::Warning);
    // prefer sends the password over SSL; only a plaintext client would leak it.
    let f = only(
        &run(&r, SslMode::Prefer),
        FindingCode::AuthCleartextOverPlaintext,
        "sslmode=require",
    );
    assert_eq!(f.severity, Severity::Info);
}

#[test]
fn auth_md5() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Md5))
        .plain_startup(auth(AuthMethod::Md5))
        .build();
    let fs = run(&report("prefer", vec![a]), SslMode::Prefer);
    let f = only(
        &fs,
        FindingCode::AuthMd5,
        "password_encryption = 'scram-sha-256'",
    );
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence.len(), 2, "both channels: {:?}", f.evidence);
}

#[test]
fn auth_trust_only_over_the_network() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Trust))
        .build();
    let f = only(
        &run(&report("prefer", vec![a]), SslMode::Prefer),
        FindingCode::AuthTrust,
        "pg_hba_file_rules",
    );
    assert_eq!(f.severity, Severity::Warning);
    let s = unix("/run/postgresql/.s.PGSQL.5432")
        .plain_startup(auth(AuthMethod::Trust))
        .build();
    assert!(run(&report("prefer", vec![s]), SslMode::Prefer).is_empty());
}

// ── merging and order ──────────────────────────────────────────────────────────────────

#[test]
fn one_finding_per_code_and_host_in_layer_order() {
    let expired = |ip: &str, rank: usize| {
        tcp(HOST, ip)
            .rank(Some(rank))
            .tls_ok()
            .leaf(|c| c.not_after = "2025-12-01T00:00:00Z".into())
            .chain_fails(crate::facts::ChainCode::Expired, "certificate has expired")
            .tls_startup(auth(AuthMethod::Md5))
            .build()
    };
    let refused = tcp(HOST, "10.0.0.7")
        .rank(Some(2))
        .tcp_failed(TcpStatus::Refused, "Connection refused")
        .build();
    let r = report(
        "verify-full",
        vec![expired("10.0.0.5", 0), expired("10.0.0.6", 1), refused],
    );
    let fs = run(&r, SslMode::VerifyFull);
    assert_eq!(
        codes(&fs),
        vec![
            FindingCode::RootCertMissing,
            FindingCode::AddressRefused,
            FindingCode::CertExpired,
            FindingCode::AuthMd5
        ]
    );
    let f = &fs[2];
    assert_eq!(f.addresses, vec!["10.0.0.5:5432", "10.0.0.6:5432"]);
    assert_eq!(f.severity, Severity::Error);
}

#[test]
fn errors_come_before_warnings_within_a_layer() {
    let mut drafts = Vec::new();
    for (code, severity) in [
        (FindingCode::AuthMd5, Severity::Info),
        (FindingCode::SslNotSupported, Severity::Error),
        (FindingCode::SslRejectedByHba, Severity::Warning),
    ] {
        drafts.push(Draft {
            layer: Layer::Ssl,
            finding: Finding {
                code,
                severity,
                addresses: vec![],
                host: None,
                summary: String::new(),
                next_step: String::new(),
                evidence: vec![],
            },
        });
    }
    drafts.insert(
        0,
        Draft {
            layer: Layer::Certificate,
            finding: Finding {
                code: FindingCode::CertExpired,
                severity: Severity::Error,
                addresses: vec![],
                host: None,
                summary: String::new(),
                next_step: String::new(),
                evidence: vec![],
            },
        },
    );
    let fs = merge_and_sort(drafts);
    assert_eq!(
        codes(&fs),
        [
            FindingCode::SslNotSupported,
            FindingCode::SslRejectedByHba,
            FindingCode::AuthMd5,
            FindingCode::CertExpired
        ]
    );
}

#[test]
fn a_missing_socket_file_is_told_in_libpqs_words_with_the_tcp_hint() {
    let path = "/var/run/postgresql/.s.PGSQL.5432";
    let missing = |hint: Option<TcpStatus>| {
        let mut a = unix(path)
            .tcp_failed(TcpStatus::Error, "No such file or directory (os error 2)")
            .build();
        a.tcp.os_error = Some(nix::libc::ENOENT);
        a.localhost_tcp = hint.map(|status| crate::facts::TcpFacts {
            status,
            elapsed_ms: 0.1,
            error: None,
            os_error: None,
            local_address: None,
        });
        report("prefer", vec![a])
    };
    let fs = run(&missing(Some(TcpStatus::Ok)), SslMode::Prefer);
    let f = only(&fs, FindingCode::SocketMissing, "host=localhost");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.summary.starts_with(&format!(
            "connection to server on socket \"{path}\" failed: No such file or directory."
        )),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("does answer on TCP localhost:5432"));
    assert_eq!(f.evidence.len(), 2, "{:?}", f.evidence);

    let fs = run(&missing(Some(TcpStatus::Refused)), SslMode::Prefer);
    let f = only(&fs, FindingCode::SocketMissing, "Start the server");
    assert!(
        f.summary
            .contains("Nothing answers on TCP localhost:5432 either")
    );
    absent(&fs, FindingCode::AddressRefused);
}
