//! Snapshot of the text report for a fixed report, so a change in wording or layout is a
//! visible diff. `PGREACH_UPDATE_SNAPSHOTS=1 cargo test` rewrites the snapshot.

use super::{Style, write};
use crate::diagnose::testkit::*;
use crate::facts::Report;

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
