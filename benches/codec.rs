//! Criterion benchmarks of the pure codec: decoding each backend message kind pgreach
//! understands, and encoding the StartupMessage.
//!
//! Every input is built from exact bytes as a server sends them; each iteration decodes from a
//! fresh `BytesMut` (the copy is part of what a read loop pays too).

use std::hint::black_box;

use bytes::{BufMut, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use pgreach::pgwire::{MAX_PREAUTH_MESSAGE, backend, frontend};

/// `tag, Int32 length, body`: one backend message.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn auth(code: u32, rest: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(rest);
    message(b'R', &body)
}

/// The fields a PostgreSQL 15 server sends for a pg_hba rejection.
fn error_fields() -> Vec<u8> {
    let mut body = Vec::new();
    for (code, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28000"),
        (
            b'M',
            "no pg_hba.conf entry for host \"10.0.0.7\", user \"app\", database \"app\", no encryption",
        ),
        (b'F', "auth.c"),
        (b'L', "543"),
        (b'R', "ClientAuthentication"),
    ] {
        body.push(code);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    body
}

/// One sample of every message kind the decoder distinguishes.
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let mut v = vec![
        ("auth_ok", auth(0, &[])),
        ("auth_cleartext", auth(3, &[])),
        ("auth_md5", auth(5, &[1, 2, 3, 4])),
        ("auth_gss", auth(7, &[])),
        (
            "auth_sasl",
            auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
        ),
        ("auth_sasl_continue", auth(11, &[b'r'; 84])),
        ("auth_sasl_final", auth(12, &[b'v'; 46])),
        ("error_response", message(b'E', &error_fields())),
        ("notice_response", message(b'N', &error_fields())),
        (
            "parameter_status",
            message(b'S', b"server_version\x0015.8\0"),
        ),
        (
            "backend_key_data",
            message(b'K', &[0, 0, 0x30, 0x39, 1, 2, 3, 4]),
        ),
        ("ready_for_query", message(b'Z', b"I")),
        ("other", message(b'D', &[0; 16])),
    ];
    let mut npv = Vec::new();
    npv.put_u32(0);
    npv.put_u32(1);
    npv.put_slice(b"_pq_.unknown_option\0");
    v.push(("negotiate_protocol_version", message(b'v', &npv)));
    v
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, bytes) in samples() {
        // Guard the bench against measuring an error path.
        let mut check = BytesMut::from(&bytes[..]);
        assert!(matches!(
            backend::decode(&mut check, MAX_PREAUTH_MESSAGE),
            Ok(Some(_))
        ));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(black_box(&bytes[..]));
                black_box(backend::decode(&mut buf, MAX_PREAUTH_MESSAGE))
            })
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    // What pgreach sends by default: user, database and application_name.
    let params = [
        ("user", "postgres"),
        ("database", "postgres"),
        ("application_name", "pgreach"),
    ];
    c.bench_function("encode/startup_message", |b| {
        let mut buf = BytesMut::with_capacity(128);
        b.iter(|| {
            buf.clear();
            frontend::startup_message(&mut buf, black_box(&params)).unwrap();
            black_box(buf.len())
        })
    });
    c.bench_function("encode/startup_message_fresh_buffer", |b| {
        b.iter(|| {
            let mut buf = BytesMut::new();
            frontend::startup_message(&mut buf, black_box(&params)).unwrap();
            black_box(buf)
        })
    });
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
