//! Renders a [`Report`](crate::facts::Report): the only code that formats output (stdout, the
//! file `--output`/`--html` names, and the exporter's HTTP answers).

pub mod exporter;
pub mod html;
pub mod json;
pub mod markdown;
pub mod prometheus;
pub mod sweep;
pub mod text;
pub mod watch;

/// Compares a rendered report with its stored snapshot under `src/report/snapshots/`, or
/// rewrites the snapshot when `PGREACH_UPDATE_SNAPSHOTS` is set (then review the diff).
#[cfg(test)]
pub(crate) fn assert_snapshot(name: &str, want: &str, got: &str) {
    if std::env::var_os("PGREACH_UPDATE_SNAPSHOTS").is_some() {
        let path = format!("{}/src/report/snapshots/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::write(path, got).expect("write snapshot");
        return;
    }
    assert!(
        got == want,
        "{name} changed; rerun with PGREACH_UPDATE_SNAPSHOTS=1 and review the diff.\n--- got ---\n{got}"
    );
}

/// The verdict's second half, the same in every format: how many addresses reach
/// authentication under the configured sslmode.
pub(crate) fn reach_sentence(report: &crate::facts::Report) -> String {
    let s = &report.summary;
    format!(
        "{} of {} address(es) reach authentication with sslmode={}",
        s.reached_auth, s.addresses, report.config.sslmode
    )
}
