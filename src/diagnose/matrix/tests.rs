//! The matrix against hand-built facts: one scenario per server setup, every mode asserted.

use super::*;
use crate::diagnose::testkit::*;
use crate::facts::{AuthMethod, NameVerdict, SslAnswer, StartupStatus, TcpStatus, TlsStatus};

const HOST: &str = "db.example.com";

/// `(reaches_auth, stage)` per mode, weakest first.
fn table(m: &SslModes) -> Vec<(bool, &'static str)> {
    SslMode::ALL
        .iter()
        .map(|mode| {
            let o = outcome(m, *mode);
            (o.reaches_auth, o.stage.as_str())
        })
        .collect()
}

const AUTH: (bool, &str) = (true, "auth");

fn hostssl_only() -> AddressFacts {
    tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(hba_no_entry("10.0.0.9", "no encryption"))
        .build()
}

#[test]
fn hostssl_only_server() {
    let m = for_address(&hostssl_only(), &trust(true));
    let err = (false, "server_error");
    assert_eq!(table(&m), vec![err, AUTH, AUTH, AUTH, AUTH, AUTH]);
    assert!(
        m.disable.reason.contains("no pg_hba.conf entry"),
        "{}",
        m.disable.reason
    );
    assert!(
        m.allow.reason.contains("retries with SSL"),
        "{}",
        m.allow.reason
    );
    assert!(m.prefer.reason.contains("over SSL"), "{}", m.prefer.reason);
    assert_eq!(m.prefer.address.as_deref(), Some("10.0.0.5:5432"));
    assert!(!m.prefer.uncertain);
}

#[test]
fn allow_reaches_auth_over_ssl_on_its_retry() {
    let a = hostssl_only();
    let v = verdict(&a, &trust(true), SslMode::Allow);
    assert_eq!(v.channel, Some(Channel::Tls));
    let v = verdict(&a, &trust(true), SslMode::Disable);
    assert_eq!(v.channel, None);
}

#[test]
fn hostnossl_server() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(hba_no_entry("10.0.0.9", "SSL encryption"))
        .plain_startup(auth(AuthMethod::Md5))
        .build();
    let m = for_address(&a, &trust(true));
    let err = (false, "server_error");
    assert_eq!(table(&m), vec![AUTH, AUTH, AUTH, err, err, err]);
    assert!(
        m.prefer
            .reason
            .contains("retries without SSL and reaches md5"),
        "{}",
        m.prefer.reason
    );
    assert_eq!(
        verdict(&a, &trust(true), SslMode::Prefer).channel,
        Some(Channel::Plaintext)
    );
    assert!(
        m.require.reason.contains("SSL encryption"),
        "{}",
        m.require.reason
    );
}

#[test]
fn ssl_off_server() {
    // prefer's probe: 'N', then the startup over plaintext on the same connection.
    let prefer_probe = tcp(HOST, "10.0.0.5")
        .answer(SslAnswer::N)
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    // allow's probe: the plaintext startup first, then 'N' on the second connection.
    let allow_probe = tcp(HOST, "10.0.0.5")
        .plaintext_first()
        .answer(SslAnswer::N)
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    for a in [prefer_probe, allow_probe] {
        let m = for_address(&a, &trust(true));
        let no = (false, "ssl_negotiation");
        assert_eq!(table(&m), vec![AUTH, AUTH, AUTH, no, no, no]);
        assert_eq!(
            m.verify_full.reason,
            "server does not support SSL, but SSL was required"
        );
        assert!(m.prefer.reason.contains("does not support SSL"));
    }
}

fn untrusted() -> AddressFacts {
    tcp(HOST, "10.0.0.5")
        .tls_ok()
        .chain_fails(
            crate::facts::ChainCode::UnknownIssuer,
            "unable to get local issuer certificate",
        )
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build()
}

#[test]
fn untrusted_chain_without_a_root_file() {
    let m = for_address(&untrusted(), &trust(false));
    let cfg = (false, "config");
    assert_eq!(table(&m), vec![AUTH, AUTH, AUTH, AUTH, cfg, cfg]);
    assert_eq!(
        m.verify_ca.reason,
        "root certificate file \"/home/app/.postgresql/root.crt\" does not exist"
    );
}

#[test]
fn untrusted_chain_with_a_root_file_makes_require_verify_ca() {
    let a = untrusted();
    let m = for_address(&a, &trust(true));
    let bad = (false, "certificate");
    assert_eq!(table(&m), vec![AUTH, AUTH, AUTH, bad, bad, bad]);
    assert!(
        m.require
            .reason
            .starts_with("certificate verify failed: unable to get local")
    );
    // prefer silently falls back to plaintext.
    assert!(
        m.prefer.reason.contains("retries without SSL"),
        "{}",
        m.prefer.reason
    );
    assert_eq!(
        verdict(&a, &trust(true), SslMode::Prefer).channel,
        Some(Channel::Plaintext)
    );
}

#[test]
fn root_file_without_certificates() {
    let mut t = trust(true);
    t.certificates = 0;
    let m = for_address(&hostssl_only(), &t);
    assert_eq!(m.require.stage.as_str(), "config");
    assert!(
        m.require
            .reason
            .contains("could not read root certificate file")
    );
    assert_eq!(m.verify_full.stage.as_str(), "config");
    // prefer cannot set up SSL: it retries without, and this server wants SSL.
    assert_eq!(m.prefer.stage.as_str(), "server_error");
}

#[test]
fn name_mismatch_under_verify_full() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .name_fails(&["DNS:other.example.com", "DNS:*.example.org", "CN:x"])
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let m = for_address(&a, &trust(true));
    assert_eq!(
        table(&m),
        vec![AUTH, AUTH, AUTH, AUTH, AUTH, (false, "hostname")]
    );
    assert_eq!(
        m.verify_full.reason,
        "server certificate for \"other.example.com\" (and 1 other name(s)) does not match host name \"db.example.com\""
    );
}

#[test]
fn libpq_mismatch_wording() {
    let v = |host: &str, names: &[&str]| NameVerdict {
        ok: false,
        host: host.into(),
        matched: None,
        names: names.iter().map(|s| s.to_string()).collect(),
        reason: String::new(),
    };
    assert_eq!(
        name_mismatch(&v("h", &["CN:only"])),
        "server certificate for \"only\" does not match host name \"h\""
    );
    assert_eq!(
        name_mismatch(&v("h", &[])),
        "could not get server's host name from server certificate"
    );
    // An IP host with only DNS SANs: the CN is examined too (PG15+).
    assert_eq!(
        name_mismatch(&v("10.0.0.5", &["DNS:a", "CN:b"])),
        "server certificate for \"a\" (and 1 other name(s)) does not match host name \"10.0.0.5\""
    );
}

#[test]
fn unix_socket_ignores_sslmode() {
    let a = unix("/var/run/postgresql/.s.PGSQL.5432")
        .plain_startup(auth(AuthMethod::Trust))
        .build();
    let m = for_address(&a, &trust(false));
    assert_eq!(table(&m), vec![AUTH; 6]);
    assert!(m.verify_full.reason.contains("over the Unix socket"));
    assert_eq!(
        m.disable.address.as_deref(),
        Some("/var/run/postgresql/.s.PGSQL.5432")
    );
}

#[test]
fn tcp_failure_stops_every_mode_at_tcp() {
    let a = tcp(HOST, "10.0.0.5")
        .tcp_failed(TcpStatus::Refused, "Connection refused (os error 111)")
        .build();
    let m = for_address(&a, &trust(true));
    assert_eq!(table(&m), vec![(false, "tcp"); 6]);
    assert_eq!(
        m.require.reason,
        "connection to server at \"db.example.com\" (10.0.0.5), port 5432 failed: Connection refused (os error 111)"
    );
}

#[test]
fn unencrypted_bytes_after_s_fail_every_ssl_attempt_without_fallback() {
    let a = tcp(HOST, "10.0.0.5")
        .injected(5, "Shello")
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let m = for_address(&a, &trust(false));
    let bad = (false, "ssl_negotiation");
    assert_eq!(table(&m), vec![AUTH, AUTH, bad, bad, bad, bad]);
    assert_eq!(
        m.prefer.reason,
        "received unencrypted data after SSL response"
    );
}

#[test]
fn tls_handshake_failure_falls_back_only_for_prefer() {
    let a = tcp(HOST, "10.0.0.5")
        .tls_failed(TlsStatus::Failed, "received fatal alert: HandshakeFailure")
        .plain_startup(auth(AuthMethod::Md5))
        .build();
    let m = for_address(&a, &trust(false));
    let bad = (false, "tls_handshake");
    assert_eq!(
        table(&m),
        vec![AUTH, AUTH, AUTH, bad, (false, "config"), (false, "config")]
    );
    assert!(
        m.require
            .reason
            .starts_with("SSL error: received fatal alert")
    );
    let m = for_address(&a, &trust(true));
    assert_eq!(m.verify_ca.stage.as_str(), "tls_handshake");
}

#[test]
fn quiet_server_leaves_the_fallback_uncertain() {
    // prefer's probe with --quiet-server: only the TLS channel, rejected by pg_hba.
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(hba_no_entry("10.0.0.9", "SSL encryption"))
        .build();
    let m = for_address(&a, &trust(true));
    assert!(m.prefer.uncertain);
    assert_eq!(m.prefer.stage.as_str(), "unknown");
    assert!(
        m.prefer.reason.contains("quiet-server"),
        "{}",
        m.prefer.reason
    );
    assert!(!m.require.uncertain);
    assert_eq!(m.require.stage.as_str(), "server_error");
    assert!(m.disable.uncertain);
    // And allow's probe with --quiet-server never sent the SSLRequest.
    let mut b = tcp(HOST, "10.0.0.5")
        .plaintext_first()
        .plain_startup(hba_no_entry("10.0.0.9", "no encryption"))
        .build();
    b.ssl_request.detail = Some("--quiet-server allows one connection".into());
    let m = for_address(&b, &trust(true));
    assert!(m.allow.uncertain);
    assert!(
        m.allow.reason.contains("SSLRequest was not sent"),
        "{}",
        m.allow.reason
    );
    assert!(!m.disable.uncertain);
}

#[test]
fn system_roots_refuse_weak_modes() {
    let mut t = trust(true);
    t.source = crate::facts::FileSource::System;
    t.path = None;
    t.certificates = 140;
    let m = for_address(&hostssl_only(), &t);
    let cfg = (false, "config");
    assert_eq!(table(&m), vec![cfg, cfg, cfg, cfg, cfg, AUTH]);
    assert_eq!(m.require.address, None);
    assert!(m.require.reason.contains("sslrootcert=system"));
}

/// libpq 17+ with sslnegotiation=direct: the weak modes are refused before connecting; the
/// strong ones need a server that speaks direct TLS (with the ALPN echo), and never fall back.
#[test]
fn direct_negotiation_refuses_weak_modes_and_needs_a_direct_server() {
    let root = trust(false);
    let direct = Setup {
        negotiation: SslNegotiation::Direct,
        ..Setup::from(&root)
    };
    let mut a = hostssl_only();
    a.direct_tls = Some(crate::facts::DirectTlsFacts {
        supported: true,
        tls: None,
        alpn_echoed: true,
        detail: None,
    });
    let m = for_address(&a, direct);
    let cfg = (false, "config");
    assert_eq!(table(&m)[..3], [cfg, cfg, cfg]);
    assert!(
        m.prefer.reason.contains("sslnegotiation=direct"),
        "{}",
        m.prefer.reason
    );
    assert_eq!(table(&m)[3], AUTH);

    // PostgreSQL 16 or older: the same server over SSLRequest reaches auth, directly it fails.
    a.direct_tls = Some(crate::facts::DirectTlsFacts {
        supported: false,
        tls: None,
        alpn_echoed: false,
        detail: Some("no direct TLS".into()),
    });
    let m = for_address(&a, direct);
    assert_eq!(table(&m)[3], (false, "tls_handshake"));
    assert_eq!(verdict(&a, direct, SslMode::Require).next, Next::Address);
    assert_eq!(table(&for_address(&a, &root))[3], AUTH);

    // Not probed: uncertain, not a guess.
    a.direct_tls = None;
    assert!(for_address(&a, direct).require.uncertain);
}

/// A setting libpq refuses fails every mode of the run before any address; the per-address
/// matrix (what the address would do once the setting is fixed) is left alone.
#[test]
fn a_refused_setting_fails_the_run_not_the_address() {
    let mut r = report("require", vec![hostssl_only()]);
    r.config.refusals.push(crate::config::RefusedSetting {
        keyword: "connect_timeout",
        message: "invalid integer value \"2.5\" for connection option \"connect_timeout\"".into(),
        origin: "conninfo".into(),
    });
    let run = for_report(&r);
    assert_eq!(run.require.stage, Stage::Config);
    assert!(run.require.reason.starts_with("invalid integer value"));
    assert_eq!(run.require.address, None);
    assert_eq!(table(&for_address(&r.addresses[0], &r))[3], AUTH);
}

/// require_auth and channel_binding=require refuse the request the mode reaches, with no
/// retry on the other channel (libpq's words, read from libpq 16 and 18).
#[test]
fn the_clients_auth_policy_refuses_requests_it_does_not_accept() {
    let root = trust(false);
    let md5_only = crate::config::RequireAuth::parse("md5", true).unwrap();
    let policy = |require_auth, channel_binding| Setup {
        auth: Policy {
            require_auth,
            channel_binding,
            ..Policy::default()
        },
        ..Setup::from(&root)
    };
    let mut scram = auth(AuthMethod::Sasl);
    scram.sasl_mechanisms = vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()];
    let mut scram_plain = auth(AuthMethod::Sasl);
    scram_plain.sasl_mechanisms = vec!["SCRAM-SHA-256".into()];
    let a = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(scram)
        .plain_startup(scram_plain)
        .build();
    use crate::config::ChannelBinding::{Prefer, Require};
    let m = for_address(&a, policy(Some(&md5_only), Prefer));
    let auth_failed = (false, "auth");
    // No root file: verify-* stop before any request.
    let cfg = (false, "config");
    assert_eq!(
        table(&m),
        vec![auth_failed, auth_failed, auth_failed, auth_failed, cfg, cfg]
    );
    assert_eq!(
        m.prefer.reason,
        "authentication method requirement \"md5\" failed: server requested SASL authentication"
    );
    let m = for_address(&a, policy(None, Require));
    assert_eq!(table(&m)[..2], [auth_failed, auth_failed]);
    assert_eq!(
        m.disable.reason,
        "channel binding required, but SSL not in use"
    );
    assert_eq!(table(&m)[2..], [AUTH, AUTH, cfg, cfg]);
    assert_eq!(
        verdict(&a, policy(None, Require), SslMode::Disable).next,
        Next::Stop
    );
}

/// load_balance_hosts=random: certain only when every order of hosts and addresses agrees.
#[test]
fn random_load_balancing_is_certain_only_when_every_order_agrees() {
    let good = hostssl_only();
    let mut refused = tcp(HOST, "10.0.0.6")
        .tcp_failed(TcpStatus::Refused, "Connection refused")
        .build();
    refused.system_rank = Some(1);
    let mut r = report("require", vec![good.clone(), refused]);
    r.config.load_balance_hosts = crate::config::LoadBalanceHosts::Random;
    // A refused address only moves libpq on: every order reaches authentication.
    let m = for_report(&r);
    assert!(m.require.reaches_auth && !m.require.uncertain, "{m:?}");
    assert!(
        m.require.reason.contains("in every order"),
        "{}",
        m.require.reason
    );

    // A server error stops libpq where it is: the answer depends on the order.
    let mut stopping = tcp(HOST, "10.0.0.7")
        .tls_ok()
        .tls_startup(refused_startup())
        .build();
    stopping.system_rank = Some(1);
    let mut r = report("require", vec![good, stopping]);
    r.config.load_balance_hosts = crate::config::LoadBalanceHosts::Random;
    let m = for_report(&r);
    assert!(m.require.uncertain && !m.require.reaches_auth, "{m:?}");
    assert!(
        m.require.reason.contains("1 of 2 orders"),
        "{}",
        m.require.reason
    );
}

fn refused_startup() -> crate::facts::StartupFacts {
    refused("28000", "pg_hba.conf rejects connection")
}

#[test]
fn server_answers_other_byte_and_eof() {
    let a = tcp(HOST, "10.0.0.5")
        .other_byte(b'H', "HTTP/1.1 400 Bad Request")
        .plain_startup(broken(StartupStatus::ProtocolViolation, "garbage"))
        .build();
    let m = for_address(&a, &trust(false));
    assert_eq!(
        m.prefer.reason,
        "received invalid response to SSL negotiation: H"
    );
    assert_eq!(m.disable.stage.as_str(), "startup");
    let b = tcp(HOST, "10.0.0.5").answer(SslAnswer::Eof).build();
    assert_eq!(
        for_address(&b, &trust(false)).prefer.stage.as_str(),
        "ssl_negotiation"
    );
}

#[test]
fn cannot_connect_now_moves_to_the_next_host_not_address() {
    let starting = || refused("57P03", "the database system is starting up");
    let a1 = tcp("one", "10.0.0.1")
        .tls_ok()
        .tls_startup(starting())
        .plain_startup(starting())
        .build();
    // Reachable, but libpq never gets here: 57P03 skips the rest of host "one".
    let a2 = tcp("one", "10.0.0.2")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Md5))
        .build();
    let b = tcp("two", "10.0.0.3")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .build();
    let mut r = report("prefer", vec![a1.clone(), a2, b]);
    r.trust = trust(true);
    let m = for_report(&r);
    assert!(m.prefer.reaches_auth, "{:?}", m.prefer);
    assert_eq!(m.prefer.address.as_deref(), Some("10.0.0.3:5432"));
    assert!(m.prefer.reason.contains("SASL"), "{}", m.prefer.reason);
    // prefer does not switch to plaintext after 57P03.
    let alone = for_address(&a1, &trust(true));
    assert_eq!(alone.prefer.stage.as_str(), "server_error");
    assert!(
        !alone.prefer.reason.contains("retries"),
        "{}",
        alone.prefer.reason
    );
    // With only the first host, the outcome is its 57P03.
    let r = report("prefer", vec![a1]);
    let m = for_report(&r);
    assert_eq!(m.prefer.stage.as_str(), "server_error");
    assert!(m.prefer.reason.contains("57P03"));
}

#[test]
fn ipv6_refused_then_ipv4_reaches_auth() {
    let v6 = tcp("localhost", "::1")
        .tcp_failed(TcpStatus::Refused, "Connection refused")
        .build();
    let v4 = tcp("localhost", "127.0.0.1")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let r = report("prefer", vec![v6.clone(), v4]);
    let m = for_report(&r);
    assert!(m.prefer.reaches_auth);
    assert_eq!(m.prefer.address.as_deref(), Some("127.0.0.1:5432"));
    // Only the IPv6 address: the outcome is its TCP failure.
    let m = for_report(&report("prefer", vec![v6]));
    assert_eq!(m.prefer.stage.as_str(), "tcp");
    assert_eq!(m.prefer.address.as_deref(), Some("[::1]:5432"));
}

#[test]
fn a_hard_failure_stops_before_later_addresses() {
    let v6 = tcp("localhost", "::1")
        .tls_ok()
        .tls_startup(hba_no_entry("::1", "SSL encryption"))
        .plain_startup(hba_no_entry("::1", "no encryption"))
        .build();
    let v4 = tcp("localhost", "127.0.0.1")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .build();
    let m = for_report(&report("prefer", vec![v6, v4]));
    assert!(!m.prefer.reaches_auth);
    assert_eq!(m.prefer.address.as_deref(), Some("[::1]:5432"));
}

#[test]
fn addresses_getaddrinfo_did_not_return_are_never_tried() {
    let tried = tcp(HOST, "10.0.0.1")
        .tcp_failed(TcpStatus::Timeout, "timed out")
        .build();
    let untried = tcp(HOST, "10.0.0.2")
        .rank(None)
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .build();
    let m = for_report(&report("prefer", vec![tried, untried]));
    assert!(!m.prefer.reaches_auth);
    assert_eq!(m.prefer.stage.as_str(), "tcp");
    assert!(
        m.prefer.reason.ends_with("timeout expired"),
        "{}",
        m.prefer.reason
    );
}

#[test]
fn timeouts_after_connect_move_to_the_next_address() {
    let slow = tcp(HOST, "10.0.0.1")
        .tls_ok()
        .tls_startup(broken(StartupStatus::Timeout, "no answer"))
        .build();
    let good = tcp(HOST, "10.0.0.2")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Md5))
        .build();
    let m = for_report(&report("prefer", vec![slow, good]));
    assert!(m.prefer.reaches_auth);
    assert_eq!(m.prefer.address.as_deref(), Some("10.0.0.2:5432"));
}

#[test]
fn dns_failure_moves_to_the_next_host() {
    let ok = tcp("two", "10.0.0.3")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .build();
    let mut r = report("prefer", vec![ok]);
    let mut unresolved = r.hosts[0].clone();
    unresolved.host = "one".into();
    unresolved.kind = crate::facts::HostKind::Name;
    unresolved.dns = Some(dns(
        crate::facts::LookupOutcome::Nxdomain,
        crate::facts::LookupOutcome::Nxdomain,
        Err("Name or service not known"),
    ));
    r.hosts.insert(0, unresolved.clone());
    assert!(for_report(&r).prefer.reaches_auth);
    let mut only = report("prefer", Vec::new());
    only.hosts.push(unresolved);
    let m = for_report(&only);
    assert_eq!(table(&m), vec![(false, "dns"); 6]);
    assert_eq!(
        m.require.reason,
        "could not translate host name \"one\" to address: Name or service not known"
    );
}

#[test]
fn unusable_client_key_fails_every_ssl_attempt_after_the_root_file() {
    // libpq's initialize_SSL refuses the key before any handshake, whether or not the server
    // would ask for a certificate (checked against psql in tests/tls_real.rs).
    let msg =
        "certificate present, but not private key file \"/home/app/.postgresql/postgresql.key\"";
    let root = trust(true);
    let setup = Setup {
        client_error: Some(msg),
        ..Setup::from(&root)
    };
    let both = tcp(HOST, "10.0.0.5")
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(auth(AuthMethod::Sasl))
        .build();
    let m = for_address(&both, setup);
    let cfg = (false, "config");
    assert_eq!(table(&m), vec![AUTH, AUTH, AUTH, cfg, cfg, cfg]);
    assert_eq!(m.require.reason, msg);
    assert!(
        m.prefer.reason.contains("retries without SSL"),
        "{}",
        m.prefer.reason
    );
    assert_eq!(
        verdict(&both, setup, SslMode::Prefer).channel,
        Some(Channel::Plaintext)
    );

    // TLS only: prefer's plaintext retry is refused, allow's SSL retry fails on the key.
    let m = for_address(&hostssl_only(), setup);
    assert_eq!(
        table(&m),
        vec![
            (false, "server_error"),
            cfg,
            (false, "server_error"),
            cfg,
            cfg,
            cfg
        ]
    );

    // The root file is read first: verify-* without one say so, not the key's problem.
    let none = trust(false);
    let m = for_address(
        &both,
        Setup {
            client_error: Some(msg),
            ..Setup::from(&none)
        },
    );
    assert!(
        m.verify_ca.reason.contains("root certificate file"),
        "{}",
        m.verify_ca.reason
    );
    assert_eq!(m.require.reason, msg);
}
