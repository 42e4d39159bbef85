//! What real PostgreSQL will not do, played by a scripted peer on loopback: bytes after `S`, a
//! non-PostgreSQL byte, an immediate close, a protocol-2 error, a peer that never answers.
//! Each must be classified.

mod support;

use serde_json::Value;
use support::{FakeServer, Step, assert_null, run_pgreach};

fn probe(server: &FakeServer, extra: &[&str]) -> (i32, Value) {
    let target = format!("127.0.0.1:{}", server.port());
    let mut args = vec!["--json", "--connect-timeout", "5", target.as_str()];
    args.extend_from_slice(extra);
    let run = run_pgreach(None, &args, &[]);
    (run.status, run.json())
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

#[test]
fn bytes_after_s_are_reported_and_tls_is_not_attempted() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"SR\x00\x00\x00\x08\x00\x00\x00\x00".to_vec()),
        // Drain records anything the client sends next, such as a ClientHello.
        Step::Drain(1000),
        Step::Close,
    ]);
    let (status, report) = probe(&server, &[]);
    assert!(
        server.wait(std::time::Duration::from_secs(5)),
        "script finished"
    );
    assert_eq!(status, 1);
    let a = &report["addresses"][0];
    assert_eq!(a["ssl_request"]["answer"], "S");
    assert_eq!(a["ssl_request"]["unencrypted_bytes_after_s"], 9);
    assert_null(a, "tls");
    assert_eq!(a["startup"]["status"], "skipped");
    assert_eq!(&server.received()[..8], &SSL_REQUEST);
    assert_eq!(
        server.received().len(),
        8,
        "no ClientHello after injected bytes"
    );
}

#[test]
fn an_http_server_is_an_other_byte() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()),
        Step::Close,
    ]);
    let (_, report) = probe(&server, &[]);
    let s = &report["addresses"][0]["ssl_request"];
    assert_eq!(s["answer"], "other");
    assert_eq!(s["byte"], b'H');
}

#[test]
fn a_peer_that_closes_at_once_is_eof() {
    let server = FakeServer::spawn(vec![Step::Close]);
    let (status, report) = probe(&server, &[]);
    assert_eq!(status, 1);
    assert_eq!(report["addresses"][0]["tcp"]["status"], "ok");
    assert_eq!(report["addresses"][0]["ssl_request"]["answer"], "eof");
}

#[test]
fn protocol_2_fork_failure_is_decoded() {
    let server = FakeServer::spawn(vec![
        Step::Expect(8),
        Step::Send(
            b"Ecould not fork new process for connection: Resource temporarily unavailable\n\0"
                .to_vec(),
        ),
        Step::Close,
    ]);
    let (_, report) = probe(&server, &[]);
    let s = &report["addresses"][0]["ssl_request"];
    assert_eq!(s["answer"], "E");
    assert_eq!(
        s["error"]["message"],
        "could not fork new process for connection: Resource temporarily unavailable"
    );
}

#[test]
fn a_silent_peer_times_out_within_the_deadline() {
    let server = FakeServer::spawn(vec![Step::Expect(8), Step::SleepMs(5000), Step::Close]);
    let start = std::time::Instant::now();
    let target = format!("127.0.0.1:{}", server.port());
    let run = run_pgreach(None, &["--json", "--connect-timeout", "1", &target], &[]);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(4),
        "deadline held"
    );
    assert_eq!(
        run.json()["addresses"][0]["ssl_request"]["answer"],
        "timeout"
    );
}
