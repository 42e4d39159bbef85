//! Reading a `--json` report in tests: fields by path (a missing key fails, it never reads as
//! null), the entry for one address, string lists, finding codes, and the rule that the exit
//! code follows the error findings.

use serde_json::Value;

use super::pgreach::PgreachRun;

/// The value at `path` in `v`, or what is missing: `path` is object keys and array indices
/// separated by dots (`addresses.0.tls.verify_ca.code`; a key that itself holds a dot cannot
/// be named this way). An absent key, an index past the end, or a step into a null or a
/// scalar is an error naming the path so far, so that a dropped or renamed field is told
/// apart from a field that is there and null.
pub fn get<'a>(v: &'a Value, path: &str) -> Result<&'a Value, String> {
    let mut here = v;
    let mut walked = String::new();
    for step in path.split('.') {
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(step);
        let parent = here;
        here = match parent {
            Value::Object(map) => map.get(step),
            Value::Array(items) => step.parse::<usize>().ok().and_then(|n| items.get(n)),
            _ => None,
        }
        .ok_or_else(|| format!("no field {walked} (looked up in {parent})"))?;
    }
    Ok(here)
}

/// [`get`] that panics, naming the path, when a key along it is absent.
#[track_caller]
pub fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    get(v, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The field at `path` exists and is null (a missing field fails).
#[track_caller]
pub fn assert_null(v: &Value, path: &str) {
    let got = at(v, path);
    assert!(got.is_null(), "{path} is {got}, expected null, in {v:#}");
}

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

/// The effective setting `name` in `config.settings` (its `value`, `source`, `origin`); panics,
/// listing the settings, when it is not there.
#[track_caller]
pub fn setting<'a>(report: &'a Value, name: &str) -> &'a Value {
    let settings = at(report, "config.settings");
    settings
        .as_array()
        .expect("config.settings[]")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no setting {name} in {settings:#}"))
}

/// A JSON array of strings as `&str`s; panics on anything else (a missing field included).
#[track_caller]
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array of strings, got {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("expected a string, got {s} in {v}"))
        })
        .collect()
}

/// The codes of the report's findings, in order; panics when `findings` or a `code` is
/// missing, so that [`assert_no_finding`] cannot pass on a broken report.
#[track_caller]
pub fn codes(report: &Value) -> Vec<&str> {
    at(report, "findings")
        .as_array()
        .unwrap_or_else(|| panic!("findings is not an array: {report:#}"))
        .iter()
        .map(|f| {
            at(f, "code")
                .as_str()
                .unwrap_or_else(|| panic!("finding code is not a string: {f:#}"))
        })
        .collect()
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
