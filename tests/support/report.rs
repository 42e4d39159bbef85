//! Reading a `--json` report in tests: the entry for one address, string lists, finding codes,
//! and the rule that the exit code follows the error findings.

use serde_json::Value;

use super::pgreach::PgreachRun;

/// The address entry for `ip` in a report.
#[track_caller]
pub fn address<'a>(report: &'a Value, ip: &str) -> &'a Value {
    report["addresses"]
        .as_array()
        .expect("addresses[]")
        .iter()
        .find(|a| a["address"] == ip)
        .unwrap_or_else(|| panic!("no address {ip} in {report:#}"))
}

/// A JSON array of strings as `&str`s (empty when not an array).
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The codes of the report's findings, in order.
pub fn codes(report: &Value) -> Vec<&str> {
    report["findings"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["code"].as_str()).collect())
        .unwrap_or_default()
}

/// Exit 1 exactly when there is an error finding, 0 otherwise.
#[track_caller]
pub fn assert_exit_follows_findings(run: &PgreachRun, report: &Value) {
    let errors = report["findings"]
        .as_array()
        .expect("findings[]")
        .iter()
        .any(|f| f["severity"] == "error");
    assert_eq!(
        run.status,
        if errors { 1 } else { 0 },
        "exit code vs findings {:?}\n{run}",
        codes(report)
    );
}

/// The finding with `code`, which must have `severity` and say what is wrong and what to do
/// (non-empty `summary` and `next_step`). Panics listing the codes present when it is missing.
#[track_caller]
pub fn finding<'a>(report: &'a Value, code: &str, severity: &str) -> &'a Value {
    let f = report["findings"]
        .as_array()
        .expect("findings[]")
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| {
            panic!(
                "no finding {code:?} (have {:?})\n{:#}",
                codes(report),
                report["findings"]
            )
        });
    assert_eq!(f["severity"], severity, "{code}: {f:#}");
    for field in ["summary", "next_step"] {
        assert!(
            f[field].as_str().is_some_and(|s| !s.is_empty()),
            "{code}: {field} is empty: {f:#}"
        );
    }
    f
}

/// Panics, listing the findings, if the report has a finding with `code`.
#[track_caller]
pub fn assert_no_finding(report: &Value, code: &str) {
    assert!(
        !codes(report).contains(&code),
        "unexpected finding {code}\n{:#}",
        report["findings"]
    );
}

/// `text` with every temporary HOME the harness makes (`/tmp/pgr-home-<pid>-<random>`) written
/// as `~`, so reports from different runs compare equal.
pub fn home_as_tilde(text: &str) -> String {
    let prefix = format!("{}/pgr-home-", std::env::temp_dir().display());
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        out.push('~');
        let after = &rest[at + prefix.len()..];
        rest = &after[after.find(['/', '"']).unwrap_or(after.len())..];
    }
    out.push_str(rest);
    out
}
