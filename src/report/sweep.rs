//! `pgreach sweep`'s output: the JSON Lines envelope of every line, and what a sweep found
//! over all targets: counts per verdict, finding code, TLS version and
//! auth method, and the certificates that expire soon. Each target is reduced to a small
//! [`Tally`] as soon as it finishes, so the summary's size does not grow with the fleet
//! (except the expiring list, which is capped).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::facts::{FindingCode, Report, Verdict};

/// The `{"type","target","data"}` envelope of every output line (sweep and watch).
#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    data: T,
}

/// One output line: `data` in the envelope, `target` named when the line is about one.
pub fn json_line<T: Serialize>(kind: &str, target: Option<&str>, data: T) -> String {
    serde_json::to_string(&Envelope { kind, target, data })
        .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"data\":{:?}}}", e.to_string()))
}

/// The line for an input line that is not a valid target.
pub fn invalid_line(target: &str, error: &str) -> String {
    #[derive(Serialize)]
    struct Invalid<'a> {
        error: &'a str,
    }
    json_line("invalid", Some(target), Invalid { error })
}

/// Most expiring certificates listed one by one; the total is always counted.
const EXPIRING_LISTED_MAX: usize = 1000;

/// A leaf certificate that expires within `--expiry-warn` days (or already has).
#[derive(Debug, Clone, Serialize)]
pub struct Expiring {
    pub target: String,
    pub address: String,
    pub port: u16,
    pub subject: String,
    pub not_after: String,
    pub days_left: i64,
}

/// One target, reduced to what the summary counts.
#[derive(Debug, Default)]
pub struct Tally {
    pub verdict: Verdict,
    pub codes: Vec<FindingCode>,
    pub tls_versions: Vec<String>,
    pub auth_methods: Vec<String>,
    pub expiring: Vec<Expiring>,
}

/// The auth method as counted: `sasl` carries its mechanisms (`sasl:SCRAM-SHA-256`), because
/// SCRAM with or without channel binding is exactly what an inventory asks about.
fn auth_label(auth: &str, mechanisms: &[String]) -> String {
    if mechanisms.is_empty() {
        auth.to_owned()
    } else {
        format!("{auth}:{}", mechanisms.join(","))
    }
}

pub fn tally(target: &str, report: &Report, expiry_warn_days: i64) -> Tally {
    let mut codes: Vec<FindingCode> = report.findings.iter().map(|f| f.code).collect();
    codes.sort_unstable();
    codes.dedup();
    let mut t = Tally {
        verdict: report.summary.verdict,
        codes,
        ..Tally::default()
    };
    for a in &report.addresses {
        if let Some(v) = a.tls.as_ref().and_then(|tls| tls.version.clone()) {
            t.tls_versions.push(v);
        }
        for s in std::iter::once(&a.startup).chain(a.startup_other.as_ref()) {
            if let Some(auth) = s.auth {
                t.auth_methods
                    .push(auth_label(auth.as_str(), &s.sasl_mechanisms));
            }
        }
        let leaf = a.tls.as_ref().and_then(|tls| tls.chain.first());
        if let Some(cert) = leaf
            && let Some(days) = cert.days_left
            && days <= expiry_warn_days
        {
            t.expiring.push(Expiring {
                target: target.to_owned(),
                address: a.address.clone(),
                port: a.port,
                subject: cert.subject.clone(),
                not_after: cert.not_after.clone(),
                days_left: days,
            });
        }
    }
    // An address counted once per target even when both channels reported the same method.
    t.auth_methods.sort();
    t.auth_methods.dedup();
    t
}

/// The `{"type":"summary"}` line's data.
#[derive(Debug, Default, Serialize)]
pub struct SweepSummary {
    /// Targets reported (invalid lines included).
    pub targets: u64,
    /// Lines that were not valid targets (bad syntax, oversized CIDR…).
    pub invalid: u64,
    /// Targets skipped because the `--resume` file already had them.
    pub skipped_resume: u64,
    /// True when SIGINT stopped the sweep early; unfinished targets are not reported.
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    /// Targets per verdict: ok, warning, error (and `invalid`).
    pub verdicts: BTreeMap<String, u64>,
    /// Targets per finding code.
    pub findings: BTreeMap<String, u64>,
    /// Addresses per negotiated TLS version.
    pub tls_versions: BTreeMap<String, u64>,
    /// Addresses per first auth request (`sasl` with its mechanisms).
    pub auth_methods: BTreeMap<String, u64>,
    pub expiry_warn_days: i64,
    /// Leaf certificates expiring within `expiry_warn_days` (at most 1000 listed).
    pub expiring_certificates: Vec<Expiring>,
    pub expiring_certificates_total: u64,
    /// Times a probe waited because the process was out of file descriptors.
    pub descriptor_waits: u64,
}

impl SweepSummary {
    pub fn add(&mut self, t: Tally) {
        self.targets += 1;
        *self
            .verdicts
            .entry(t.verdict.as_str().to_owned())
            .or_default() += 1;
        for c in t.codes {
            *self.findings.entry(c.as_str().to_owned()).or_default() += 1;
        }
        for v in t.tls_versions {
            *self.tls_versions.entry(v).or_default() += 1;
        }
        for m in t.auth_methods {
            *self.auth_methods.entry(m).or_default() += 1;
        }
        for e in t.expiring {
            self.expiring_certificates_total += 1;
            if self.expiring_certificates.len() < EXPIRING_LISTED_MAX {
                self.expiring_certificates.push(e);
            }
        }
    }

    pub fn add_invalid(&mut self) {
        self.targets += 1;
        self.invalid += 1;
        *self.verdicts.entry("invalid".to_owned()).or_default() += 1;
    }

    /// The `--summary` text for stderr.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let state = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        writeln!(
            out,
            "pgreach sweep: {} targets in {:.1}s{state}; {} skipped (--resume)",
            self.targets, self.elapsed_seconds, self.skipped_resume
        )?;
        section(out, "verdicts", &self.verdicts)?;
        section(out, "findings (targets)", &self.findings)?;
        section(out, "TLS versions (addresses)", &self.tls_versions)?;
        section(out, "auth methods (addresses)", &self.auth_methods)?;
        writeln!(
            out,
            "certificates expiring within {} days: {}",
            self.expiry_warn_days, self.expiring_certificates_total
        )?;
        for e in &self.expiring_certificates {
            writeln!(
                out,
                "  {:>5}d  {}  {}:{}  {}",
                e.days_left, e.not_after, e.address, e.port, e.target
            )?;
        }
        if self.descriptor_waits > 0 {
            writeln!(
                out,
                "waited {} times for file descriptors",
                self.descriptor_waits
            )?;
        }
        Ok(())
    }
}

fn section(out: &mut dyn Write, title: &str, counts: &BTreeMap<String, u64>) -> io::Result<()> {
    writeln!(out, "{title}:")?;
    if counts.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for (k, n) in counts {
        writeln!(out, "  {n:>7}  {k}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_accumulate_and_the_text_lists_them() {
        let mut s = SweepSummary {
            expiry_warn_days: 30,
            ..SweepSummary::default()
        };
        s.add(Tally {
            verdict: Verdict::Error,
            codes: vec![FindingCode::AddressRefused],
            ..Tally::default()
        });
        s.add(Tally {
            verdict: Verdict::Ok,
            tls_versions: vec!["TLSv1.3".into()],
            auth_methods: vec!["sasl:SCRAM-SHA-256".into()],
            ..Tally::default()
        });
        s.add_invalid();
        assert_eq!(s.targets, 3);
        assert_eq!(s.verdicts["error"], 1);
        assert_eq!(s.verdicts["invalid"], 1);
        let mut text = Vec::new();
        s.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("address_refused"), "{text}");
        assert!(text.contains("sasl:SCRAM-SHA-256"), "{text}");
        assert_eq!(auth_label("md5", &[]), "md5");
    }
}
