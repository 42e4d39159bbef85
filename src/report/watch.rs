//! `pgreach watch`'s output: a line per change of outcome and the latency percentiles at the
//! end, as text or JSON Lines.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

/// What counts as "the outcome" of one probe: verdict, finding codes, and per address the
/// TCP status, the SSLRequest answer and the startup result. Timings are not part of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub verdict: crate::facts::Verdict,
    pub findings: Vec<crate::facts::FindingCode>,
    pub addresses: Vec<String>,
}

#[derive(Serialize)]
pub struct Stats {
    pub n: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Now, as RFC 3339 (UTC): the time printed beside each change of outcome.
pub fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub fn print_change(
    out: &mut dyn Write,
    json: bool,
    probe: u64,
    first: bool,
    now: &Outcome,
    total_ms: f64,
) -> io::Result<()> {
    if json {
        #[derive(Serialize)]
        struct Change<'a> {
            probe: u64,
            time: String,
            first: bool,
            total_ms: f64,
            #[serde(flatten)]
            outcome: &'a Outcome,
        }
        let data = Change {
            probe,
            time: timestamp(),
            first,
            total_ms,
            outcome: now,
        };
        writeln!(out, "{}", super::sweep::json_line("change", None, &data))?;
    } else {
        let what = if first {
            "first outcome"
        } else {
            "outcome changed"
        };
        writeln!(
            out,
            "{}  probe {probe}: {what}: {} [{}] ({total_ms:.1} ms)",
            timestamp(),
            now.verdict,
            now.findings
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        for a in &now.addresses {
            writeln!(out, "    {a}")?;
        }
    }
    out.flush()
}

pub fn print_stats(
    out: &mut dyn Write,
    json: bool,
    probes: u64,
    changes: u64,
    stats: &BTreeMap<&'static str, Stats>,
) -> io::Result<()> {
    if json {
        #[derive(Serialize)]
        struct Latency<'a> {
            probes: u64,
            changes: u64,
            phases: &'a BTreeMap<&'static str, Stats>,
        }
        let data = Latency {
            probes,
            changes,
            phases: stats,
        };
        writeln!(out, "{}", super::sweep::json_line("latency", None, &data))?;
    } else {
        writeln!(out, "{probes} probes, {changes} changes of outcome")?;
        writeln!(
            out,
            "{:<12} {:>6} {:>10} {:>10} {:>10} {:>10}",
            "phase", "n", "p50 ms", "p90 ms", "p99 ms", "max ms"
        )?;
        for (phase, s) in stats {
            writeln!(
                out,
                "{phase:<12} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                s.n, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            )?;
        }
    }
    out.flush()
}
