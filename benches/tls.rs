//! Criterion benchmarks of the CPU-only TLS work a probe does on the chain its server presents
//! (after the handshake): the summary of a three-certificate chain, libpq's host-name matcher,
//! the verify-ca chain check, each from DER, and all of them together from one parse of the
//! chain as a probe does them; and the cost of the rustls configuration, built once per run
//! and copied for each connection.

mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use pgreach::tls::anchors::{TrustAnchors, TrustFacts};
use pgreach::tls::{TlsBase, cert, hostname, verify};
use rustls::pki_types::UnixTime;

fn anchors(pki: &common::Pki) -> TrustAnchors {
    TrustAnchors::new(
        TrustFacts {
            source: pgreach::facts::FileSource::File,
            path: Some("root.crt".into()),
            exists: true,
            certificates: 1,
            error: None,
            crl: None,
        },
        vec![pki.root.clone()],
    )
}

fn certificates(c: &mut Criterion) {
    let pki = common::pki();
    let chain = pki.chain();
    let now = UnixTime::now();
    let anchors = anchors(&pki);

    c.bench_function("cert/summarize_chain_of_3", |b| {
        b.iter(|| {
            black_box(&chain)
                .iter()
                .map(|c| cert::summarize_at(c, now))
                .collect::<Vec<_>>()
        })
    });
    c.bench_function("cert/chain_shape_of_3", |b| {
        b.iter(|| cert::chain_shape(black_box(&chain)))
    });
    c.bench_function("cert/verify_chain_of_3", |b| {
        b.iter(|| verify::verify_chain(black_box(&chain), &anchors, now))
    });
    c.bench_function("hostname/verify_name_leaf", |b| {
        b.iter(|| hostname::verify_name(black_box(&pki.leaf), black_box(common::HOST)))
    });
    // What a probe does with the chain it recorded: one parse, four judgements.
    c.bench_function("cert/judge_chain_of_3", |b| {
        b.iter(|| {
            let parsed = cert::Parsed::chain(black_box(&chain));
            let summary = cert::summarize_chain_parsed(&parsed, now);
            let shape = cert::chain_shape_parsed(&parsed);
            let ca = verify::verify_chain_parsed(&parsed, &anchors, now);
            let full = parsed
                .first()
                .map(|leaf| hostname::verify_name_parsed(leaf, common::HOST));
            (summary, shape, ca, full)
        })
    });
}

fn matcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("hostname/name_matches");
    for (name, pattern, host) in [
        ("exact", "db.example.com", "DB.Example.COM"),
        ("wildcard_hit", "*.example.com", "db.example.com"),
        ("wildcard_two_labels", "*.example.com", "a.db.example.com"),
        ("miss", "db.example.org", "db.example.com"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| hostname::name_matches(black_box(pattern), black_box(host)))
        });
    }
    group.finish();
}

fn config(c: &mut Criterion) {
    let pki = common::pki();
    let anchors = Arc::new(anchors(&pki));
    // What a run pays once.
    c.bench_function("config/tls_base_new", |b| {
        b.iter(|| TlsBase::new(None, anchors.clone(), None))
    });
    // What each connection pays: a copy of the base's configuration with a verifier and a
    // client-certificate resolver of its own.
    let base = TlsBase::new(None, anchors.clone(), None);
    c.bench_function("config/tls_connection", |b| b.iter(|| base.connection()));
}

criterion_group!(benches, certificates, matcher, config);
criterion_main!(benches);
