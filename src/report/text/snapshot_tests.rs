//! Snapshot of the text report for a fixed report, so a change in wording or layout is a
//! visible diff. `PGREACH_UPDATE_SNAPSHOTS=1 cargo test` rewrites the snapshot.

use super::{Style, write};
use crate::config::SslMode;
use crate::diagnose::findings::Options;
use crate::diagnose::testkit::*;
use crate::facts::{Report, TcpStatus};

/// A dual-stack name: IPv6 refused (tried first), IPv4 requiring SSL by pg_hba.
fn dual_stack_hostssl() -> Report {
    let v6 = tcp("db.example.com", "2001:db8::5")
        .tcp_failed(TcpStatus::Refused, "Connection refused (os error 111)")
        .build();
    let v4 = tcp("db.example.com", "10.0.0.5")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth("sasl"))
        .plain_startup(hba_no_entry("10.0.0.9", "no encryption"))
        .build();
    let mut r = report("prefer", vec![v6, v4]);
    r.trust = trust(true);
    let opts = Options {
        sslmode: SslMode::Prefer,
        expiry_warn_days: 30,
        now: now(),
    };
    crate::diagnose::apply(&mut r, &opts);
    r
}

fn render(r: &Report) -> String {
    let mut buf = Vec::new();
    write(&mut buf, r, Style { color: false }).expect("write to a Vec");
    String::from_utf8(buf).expect("utf-8")
}

#[test]
fn snapshot_dual_stack_hostssl() {
    let got = render(&dual_stack_hostssl());
    let want = include_str!("../snapshots/text_dual_stack_hostssl.txt");
    crate::report::assert_snapshot("text_dual_stack_hostssl.txt", want, &got);
}

#[test]
fn every_line_fits_80_columns() {
    for line in render(&dual_stack_hostssl()).lines() {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}
