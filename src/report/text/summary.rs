//! The head of the text report: the verdict, the findings (most fundamental first) and the
//! sslmode matrix — what a person on call reads before the per-address detail.

use std::io::{self, Write};

use super::layout::{Style, Tone, wrap};
use crate::config::LibpqVersion;
use crate::facts::{Finding, ModeOutcome, Report, Severity, SslModes};

/// Width available for finding text after its indent.
const TEXT: usize = 66;

pub(super) fn write_verdict(out: &mut dyn Write, report: &Report, style: Style) -> io::Result<()> {
    let s = &report.summary;
    let (errors, warnings) = (s.errors, s.warnings);
    let reach = super::super::reach_sentence(report);
    let (text, tone) = match (errors, warnings) {
        (0, 0) => (format!("OK — {reach}."), Tone::Good),
        (0, w) => (format!("{w} warning(s) — {reach}."), Tone::Warn),
        (e, w) => (
            format!("{e} error(s), {w} warning(s) — {reach}."),
            Tone::Bad,
        ),
    };
    for (i, line) in wrap(&text, 70).iter().enumerate() {
        let head = if i == 0 { "Verdict: " } else { "         " };
        writeln!(out, "{head}{}", style.paint(tone, line))?;
    }
    Ok(())
}

pub(super) fn write_findings(
    out: &mut dyn Write,
    findings: &[Finding],
    style: Style,
) -> io::Result<()> {
    for f in findings {
        writeln!(out)?;
        let (label, tone) = match f.severity {
            Severity::Error => ("ERROR", Tone::Bad),
            Severity::Warning => ("WARN ", Tone::Warn),
            Severity::Info => ("INFO ", Tone::Dim),
        };
        let scope = if f.addresses.is_empty() {
            f.host.clone().unwrap_or_default()
        } else {
            f.addresses.join(", ")
        };
        writeln!(out, "{} {}  {}", style.paint(tone, label), f.code, scope)?;
        indented(out, &f.summary, "      ")?;
        indented(out, &format!("→ {}", f.next_step), "      ")?;
        for e in &f.evidence {
            indented(out, &format!("» {e}"), "      ")?;
        }
    }
    Ok(())
}

fn indented(out: &mut dyn Write, text: &str, indent: &str) -> io::Result<()> {
    for line in wrap(text, TEXT) {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}

/// The sslmode matrix as a small table, the configured mode marked with `▸`.
pub(super) fn write_matrix(
    out: &mut dyn Write,
    modes: &SslModes,
    configured: &str,
    libpq: LibpqVersion,
    style: Style,
) -> io::Result<()> {
    writeln!(out, "What libpq {libpq} does under each sslmode:")?;
    let rows: [(&str, &ModeOutcome); 6] = [
        ("disable", &modes.disable),
        ("allow", &modes.allow),
        ("prefer", &modes.prefer),
        ("require", &modes.require),
        ("verify-ca", &modes.verify_ca),
        ("verify-full", &modes.verify_full),
    ];
    for (name, m) in rows {
        let mark = if name == configured { "▸" } else { " " };
        let (verdict, tone) = if m.reaches_auth {
            ("reaches auth", Tone::Good)
        } else {
            ("fails", Tone::Bad)
        };
        let uncertain = if m.uncertain { " (uncertain)" } else { "" };
        let text = format!("{verdict}{uncertain}: {}", m.reason);
        for (i, line) in wrap(&text, 62).iter().enumerate() {
            let head = if i == 0 {
                format!(" {mark} {name:<12}")
            } else {
                " ".repeat(15)
            };
            let painted = if i == 0 {
                style.paint(tone, line)
            } else {
                line.clone()
            };
            writeln!(out, "{head}{painted}")?;
        }
    }
    Ok(())
}
