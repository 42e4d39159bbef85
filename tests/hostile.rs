//! Hostile peers: every stall and every kind of garbage a scripted server can produce, each
//! asserted to be classified in pgreach's own words and to finish within the deadline.
//!
//! Every run uses `--connect-timeout 2 --quiet-server` (one connection per address, so one
//! deadline) and must finish within the deadline plus a margin for process start and
//! scheduling ([`support::run_within_deadline`]).

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde_json::Value;
use support::{
    FakeServer, PgreachRun, Step, TestCa, assert_null, at, backend_message, codes, run_pgreach,
    run_within_deadline,
};

/// Runs pgreach against 127.0.0.1:`port` and checks that it kept its deadline.
fn probe_port(port: u16, extra: &[&str]) -> (PgreachRun, Value) {
    run_within_deadline(None, &format!("127.0.0.1:{port}"), extra)
}

/// Probes `server` and returns the one address's facts.
fn probe(server: &FakeServer) -> Value {
    let (_, report) = probe_port(server.port(), &[]);
    at(&report, "addresses.0").clone()
}

/// SSLRequest answered `N`, then the StartupMessage read: the point where the server answers
/// the startup.
fn after_startup(rest: Vec<Step>) -> Vec<Step> {
    let mut script = vec![
        Step::Expect(8),
        Step::Send(b"N".to_vec()),
        Step::ExpectUntagged,
    ];
    script.extend(rest);
    script
}

/// `bytes`, one `Send` each, with `gap_ms` between: a trickle.
fn trickle(bytes: &[u8], gap_ms: u64) -> Vec<Step> {
    bytes
        .iter()
        .flat_map(|&b| [Step::Send(vec![b]), Step::SleepMs(gap_ms)])
        .collect()
}

// ---- Stalls ------------------------------------------------------------------------------

#[test]
fn never_accepting_times_out_in_tcp() {
    // A listener with a backlog of one that never accepts: once its queue is full, the kernel
    // drops further SYNs, exactly like a listener whose application hangs.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        // Each completed handshake sits in the accept queue; later ones stay half-open.
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    let (_, report) = probe_port(addr.port(), &[]);
    let a = &report["addresses"][0];
    assert_eq!(a["tcp"]["status"], "timeout", "{a:#}");
    assert_eq!(a["ssl_request"]["answer"], "skipped");
}

#[test]
fn accepting_and_saying_nothing_times_out_in_ssl_request() {
    let server = FakeServer::spawn(vec![Step::Expect(8), Step::SleepMs(6000), Step::Close]);
    let a = probe(&server);
    assert_eq!(a["tcp"]["status"], "ok");
    assert_eq!(a["ssl_request"]["answer"], "timeout", "{a:#}");
}

#[test]
fn ssl_answer_one_byte_per_second_is_cut_at_the_deadline() {
    let mut script = vec![Step::Expect(8), Step::SleepMs(500)];
    script.extend(trickle(b"E\x00\x00\x00\x40SFATAL\0Mslow", 1000));
    let server = FakeServer::spawn(script);
    let a = probe(&server);
    let s = &a["ssl_request"];
    assert_eq!(s["answer"], "E", "{a:#}");
    assert_null(s, "error");
    let detail = s["detail"].as_str().unwrap();
    assert!(detail.contains("cut short"), "{s:#}");
    assert!(detail.contains("before the deadline"), "{s:#}");
}

#[test]
fn stall_in_the_middle_of_the_tls_handshake_times_out_in_tls() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"S".to_vec()),
        Step::Drain(300),
        // The header of a ServerHello record, then nothing.
        Step::Send(b"\x16\x03\x03\x00\x7a\x02\x00".to_vec()),
        Step::SleepMs(6000),
        Step::Close,
    ]);
    let a = probe(&server);
    assert_eq!(a["ssl_request"]["answer"], "S");
    assert_eq!(a["tls"]["status"], "timeout", "{a:#}");
    assert_eq!(a["startup"]["status"], "skipped");
}

#[test]
fn endless_error_response_without_terminator_times_out() {
    // A length within the cap, then fields that never reach it, 50 ms apart.
    let mut rest = vec![Step::Send(b"E\x00\x00\xf0\x00SFATAL\0M".to_vec())];
    rest.extend(trickle(&[b'x'; 200], 50));
    let server = FakeServer::spawn(after_startup(rest));
    let a = probe(&server);
    assert_eq!(a["ssl_request"]["answer"], "N");
    assert_eq!(a["startup"]["status"], "timeout", "{a:#}");
}

#[test]
fn endless_error_response_over_the_cap_stops_at_the_header() {
    let mut rest = vec![Step::Send(b"E\x7f\xff\xff\xffSFATAL\0M".to_vec())];
    rest.extend(trickle(&[b'x'; 200], 50));
    let server = FakeServer::spawn(after_startup(rest));
    let a = probe(&server);
    let st = &a["startup"];
    assert_eq!(st["status"], "protocol_violation", "{a:#}");
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .contains("over the limit of 65536")
    );
}

#[test]
fn trickled_huge_sasl_list_times_out() {
    let mut rest = vec![Step::Send(b"R\x00\x00\xf0\x00\x00\x00\x00\x0a".to_vec())];
    for _ in 0..40 {
        rest.push(Step::Send(b"SCRAM-SHA-256\0".to_vec()));
        rest.push(Step::SleepMs(100));
    }
    let server = FakeServer::spawn(after_startup(rest));
    let a = probe(&server);
    assert_eq!(a["startup"]["status"], "timeout", "{a:#}");
    assert_null(&a, "startup.auth");
}

#[test]
fn sasl_list_over_the_cap_is_refused_at_once() {
    let rest = vec![
        Step::Send(b"R\x00\x10\x00\x00\x00\x00\x00\x0aSCRAM-SHA-256\0".to_vec()),
        Step::SleepMs(3000),
    ];
    let server = FakeServer::spawn(after_startup(rest));
    let started = Instant::now();
    let a = probe(&server);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at the header"
    );
    assert_eq!(a["startup"]["status"], "protocol_violation", "{a:#}");
}

// ---- Garbage, classified -----------------------------------------------------------------

#[test]
fn a_non_postgresql_byte_is_other() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"220 mail.example ESMTP\r\n".to_vec()),
        Step::Close,
    ]);
    let s = probe(&server)["ssl_request"].clone();
    assert_eq!(s["answer"], "other", "{s:#}");
    assert_eq!(s["byte"], b'2');
    assert_eq!(s["peer_bytes"], "220 mail.example ESMTP\\r\\n");
}

#[test]
fn e_then_garbage_is_e_without_an_error() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"E\x01\x02\xff garbage".to_vec()),
        Step::Close,
    ]);
    let s = probe(&server)["ssl_request"].clone();
    assert_eq!(s["answer"], "E", "{s:#}");
    assert_null(&s, "error");
    assert_eq!(s["peer_bytes"], "E\\x01\\x02\\xff garbage");
    assert!(s["detail"].as_str().unwrap().contains("neither"));
}

#[test]
fn s_then_plaintext_is_unencrypted_data_after_ssl() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send([&b"S"[..], &backend_message(b'R', b"\x00\x00\x00\x00")].concat()),
        Step::Drain(500),
        Step::Close,
    ]);
    let (_, report) = probe_port(server.port(), &[]);
    let a = &report["addresses"][0];
    assert_eq!(a["ssl_request"]["answer"], "S");
    assert_eq!(a["ssl_request"]["unencrypted_bytes_after_s"], 9);
    assert_null(a, "tls");
    assert!(
        codes(&report).contains(&"unencrypted_data_after_ssl"),
        "{report:#}"
    );
}

#[test]
fn a_tls_alert_is_alert_received() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"S".to_vec()),
        Step::Drain(300),
        // alert(21), TLS 1.2, length 2: fatal(2) handshake_failure(40).
        Step::Send(b"\x15\x03\x03\x00\x02\x02\x28".to_vec()),
        Step::Close,
    ]);
    let t = probe(&server)["tls"].clone();
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["failure"], "alert_received");
    assert!(t["error"].as_str().unwrap().contains("HandshakeFailure"));
}

#[test]
fn a_record_that_is_not_a_handshake_is_unexpected_message() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"S".to_vec()),
        Step::Drain(300),
        // application_data(23) before any handshake.
        Step::Send(b"\x17\x03\x03\x00\x05hello".to_vec()),
        Step::Close,
    ]);
    let t = probe(&server)["tls"].clone();
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["failure"], "unexpected_message");
}

#[test]
fn plaintext_where_tls_should_be_is_malformed_message() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"S".to_vec()),
        Step::Drain(300),
        Step::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
        Step::Close,
    ]);
    let t = probe(&server)["tls"].clone();
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["failure"], "malformed_message");
}

#[test]
fn a_certificate_that_does_not_parse_is_certificate_unparsable() {
    let ca = TestCa::new("hostile CA");
    let leaf = ca.issue(&["localhost"]);
    let garbage = CertificateDer::from(b"\x30\x82\x01\x00not a certificate".to_vec());
    let peer = TlsPeer::spawn(vec![garbage], &leaf.key_pem);
    let t = probe_tls_peer(&peer);
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["failure"], "certificate_unparsable");
    assert!(t["chain"][0]["parse_error"].is_string(), "{t:#}");
}

#[test]
fn a_chain_of_fifty_certificates_is_chain_too_long() {
    let ca = TestCa::new("hostile CA");
    let leaf = ca.issue(&["localhost"]);
    let mut chain = vec![CertificateDer::from(leaf.cert_der.clone())];
    chain.extend((0..49).map(|_| CertificateDer::from(ca.cert_der().to_vec())));
    let peer = TlsPeer::spawn(chain, &leaf.key_pem);
    let t = probe_tls_peer(&peer);
    assert_eq!(t["status"], "failed", "{t:#}");
    assert_eq!(t["failure"], "chain_too_long");
    assert_eq!(
        t["chain"].as_array().unwrap().len(),
        16,
        "only the first 16 are kept"
    );
    assert!(t["error"].as_str().unwrap().contains("50 certificates"));
}

#[test]
fn error_response_with_non_utf8_text_is_kept_and_shown_safely() {
    let body = b"SFATAL\0C28000\0Mr\xf4le \x1b[31m\"app\"\xff\0\0";
    let rest = vec![Step::Send(backend_message(b'E', body)), Step::Close];
    let server = FakeServer::spawn(after_startup(rest.clone()));
    let st = probe(&server)["startup"].clone();
    assert_eq!(st["status"], "error", "{st:#}");
    assert_eq!(st["error"]["sqlstate"], "28000");
    assert_eq!(st["error"]["message"], "r\\xf4le \\x1b[31m\"app\"\\xff");
    // The text report shows it without the raw escape byte.
    let server = FakeServer::spawn(after_startup(rest));
    let target = format!("127.0.0.1:{}", server.port());
    let run = run_pgreach(
        None,
        &["--connect-timeout", "2", "--quiet-server", &target],
        &[],
    );
    assert!(run.stdout.contains("r\\xf4le"), "{run}");
    assert!(!run.stdout.contains("\x1b[31m\"app"), "{run}");
}

#[test]
fn zero_and_negative_lengths_are_protocol_violations() {
    for header in [
        &b"R\x00\x00\x00\x00"[..],
        b"R\xff\xff\xff\xfe",
        b"E\x00\x00\x00\x03",
    ] {
        let server = FakeServer::spawn(after_startup(vec![
            Step::Send(header.to_vec()),
            Step::SleepMs(3000),
        ]));
        let st = probe(&server)["startup"].clone();
        assert_eq!(st["status"], "protocol_violation", "{st:#}");
        assert!(
            st["detail"].as_str().unwrap().contains("impossible length"),
            "{st:#}"
        );
    }
}

#[test]
fn a_message_that_cannot_appear_before_auth_is_a_protocol_violation() {
    let server = FakeServer::spawn(after_startup(vec![
        Step::Send(backend_message(b'D', b"\x00\x01\x00\x00\x00\x01x")),
        Step::SleepMs(3000),
    ]));
    let st = probe(&server)["startup"].clone();
    assert_eq!(st["status"], "protocol_violation", "{st:#}");
    assert!(
        st["detail"].as_str().unwrap().contains("type 'D'"),
        "{st:#}"
    );
}

#[test]
fn a_reset_in_the_middle_of_a_message_is_io_error() {
    let server = FakeServer::spawn(after_startup(vec![
        Step::Send(b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCR".to_vec()),
        Step::SleepMs(200),
        Step::Reset,
    ]));
    let st = probe(&server)["startup"].clone();
    assert_eq!(st["status"], "io_error", "{st:#}");
    assert!(
        st["detail"]
            .as_str()
            .unwrap()
            .contains("middle of a message"),
        "{st:#}"
    );
}

#[test]
fn a_close_right_after_accept_is_eof() {
    let server = FakeServer::spawn(vec![Step::Close]);
    let a = probe(&server);
    assert_eq!(a["tcp"]["status"], "ok");
    assert_eq!(a["ssl_request"]["answer"], "eof", "{a:#}");
    assert_eq!(a["startup"]["status"], "skipped");
}

// ---- A real TLS server with a hostile chain ----------------------------------------------

/// Answers SSLRequest with `S` and completes a real TLS handshake (rustls) presenting `chain`
/// as is — a chain no certificate loader would accept — signed with the leaf key `key_pem`.
struct TlsPeer {
    port: u16,
}

#[derive(Debug)]
struct FixedChain(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedChain {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl TlsPeer {
    fn spawn(chain: Vec<CertificateDer<'static>>, key_pem: &str) -> TlsPeer {
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("test key PEM");
        let signer = rustls::crypto::ring::sign::any_supported_type(&key).expect("signing key");
        let certified = Arc::new(CertifiedKey::new(chain, signer));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(FixedChain(certified)));
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(20);
            let mut sock = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(5)),
                    Err(_) => return,
                }
            };
            let _ = sock.set_nonblocking(false);
            let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
            let mut req = [0u8; 8];
            if sock.read_exact(&mut req).is_err() || sock.write_all(b"S").is_err() {
                return;
            }
            let Ok(mut conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            // Drive the handshake until the client gives up (it will).
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    break;
                }
            }
        });
        TlsPeer { port }
    }
}

fn probe_tls_peer(peer: &TlsPeer) -> Value {
    let (_, report) = probe_port(peer.port, &["--sslmode", "require"]);
    at(&report, "addresses.0.tls").clone()
}
