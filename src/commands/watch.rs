//! `pgreach watch TARGET`: the same probe again and again, for failures that come and go
//! (idle timeouts in a middlebox, connection exhaustion, failover). Prints a line whenever
//! the outcome changes, and latency percentiles per phase at the end.

use std::collections::BTreeMap;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::{EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, usage};
use crate::config::{self, Format, Input};
use crate::evidence::Evidence;
use crate::facts::Report;
use crate::report::html::watch as html;
use crate::report::watch::{Outcome, Stats, print_change, print_stats};
use crate::session;

/// Parses `500ms`, `5s`, `2m`, `1h` or plain (decimal) seconds.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("--interval {s:?}: expected a duration like 500ms, 5s or 2m");
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let secs = v * scale;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Nearest-rank percentile of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn outcome(report: &Report) -> Outcome {
    let addresses = report
        .addresses
        .iter()
        .map(|a| {
            format!(
                "{}:{} tcp={} ssl={} startup={}{}",
                a.address,
                a.port,
                a.tcp.status,
                a.ssl_request.answer,
                a.startup.status,
                a.startup
                    .auth
                    .map(|m| format!(" auth={m}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let mut findings: Vec<_> = report.findings.iter().map(|f| f.code).collect();
    findings.sort_unstable();
    findings.dedup();
    Outcome {
        verdict: report.summary.verdict,
        findings,
        addresses,
    }
}

/// Phase → samples in milliseconds.
type Samples = BTreeMap<&'static str, Vec<f64>>;

fn record(samples: &mut Samples, report: &Report, total_ms: f64) {
    report.phase_times(|_, _, phase, ms| {
        samples.entry(phase).or_default().push(ms);
    });
    samples.entry("total").or_default().push(total_ms);
}

fn stats(samples: &mut Samples) -> BTreeMap<&'static str, Stats> {
    samples
        .iter_mut()
        .filter_map(|(phase, v)| {
            v.sort_by(f64::total_cmp);
            Some((
                *phase,
                Stats {
                    n: v.len(),
                    p50_ms: percentile(v, 50.0)?,
                    p90_ms: percentile(v, 90.0)?,
                    p99_ms: percentile(v, 99.0)?,
                    max_ms: *v.last()?,
                },
            ))
        })
        .collect()
}

/// `pgreach watch`'s options: the probe's, plus how often and how many times.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub probe: Input,
    /// `--interval`, as typed: `500ms`, `5s`, `2m` or plain seconds.
    pub interval: String,
    pub count: Option<u64>,
    /// `--html`: also write the latencies over time as a page to this file at the end.
    pub html: Option<std::path::PathBuf>,
}

pub fn main(args: WatchOptions) -> ExitCode {
    let interval = match parse_interval(&args.interval) {
        Ok(d) => d,
        Err(e) => return usage(e),
    };
    if args.count == Some(0) {
        return usage("--count must be at least 1");
    }
    if let Some(flag) = args.probe.evidence_flag() {
        return usage(format!(
            "{flag} records a single probe (`pgreach TARGET {flag} …`), not `pgreach watch`"
        ));
    }
    let config = match config::load(&args.probe, &super::env) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if !matches!(config.format, Format::Text | Format::Json) {
        return usage("watch prints text or JSON Lines (--json); for a page use --html FILE");
    }
    if args.probe.output.is_some() {
        return usage("watch prints to stdout; for a page use --html FILE");
    }
    // Created now, so a path that cannot be written fails before the first probe, not after
    // an hour of watching.
    let html = match &args.html {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some((path.clone(), f)),
            Err(e) => return usage(format!("--html {}: {e}", path.display())),
        },
        None => None,
    };
    super::init_tracing(config.verbose);
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(watch(&config, interval, args.count, html));
    ExitCode::from(code)
}

async fn watch(
    config: &config::Config,
    interval: Duration,
    count: Option<u64>,
    html: Option<(std::path::PathBuf, std::fs::File)>,
) -> u8 {
    let Ok(mut sigint) = signal(SignalKind::interrupt()) else {
        return EXIT_INTERNAL;
    };
    let json = config.format == Format::Json;
    // Trust material and login settings once (a `-W` prompt once, not before every probe);
    // DNS is looked up afresh by every probe.
    let (setup, settings) = session::prepare(config, &Evidence::default());
    let mut out = io::stdout().lock();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut samples = Samples::new();
    let mut previous: Option<Outcome> = None;
    let (mut probes, mut changes, mut failed) = (0u64, 0u64, false);
    let mut page = Page::default();
    while count.is_none_or(|c| probes < c) {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = sigint.recv() => break,
        }
        let started = std::time::Instant::now();
        let mut report = tokio::select! {
            r = session::collect_with(config, &setup, &settings) => r,
            _ = sigint.recv() => break,
        };
        let total_ms = crate::facts::millis(started.elapsed());
        probes += 1;
        session::judge(config, &mut report);
        failed |= session::fails(&report, config.fail_on);
        record(&mut samples, &report, total_ms);
        if html.is_some() {
            page.sample(probes, &report, total_ms);
        }
        let now = outcome(&report);
        if previous.as_ref() != Some(&now) {
            let first = previous.is_none();
            changes += u64::from(!first);
            let _ = print_change(&mut out, json, probes, first, &now, total_ms);
            if html.is_some() {
                page.change(probes, &now);
            }
            previous = Some(now);
        }
    }
    let stats = stats(&mut samples);
    let _ = print_stats(&mut out, json, probes, changes, &stats);
    let written = match html {
        Some((path, file)) => page.write(&path, file, &stats),
        None => true,
    };
    match (written, failed) {
        (false, _) => EXIT_INTERNAL,
        (true, true) => EXIT_FINDINGS,
        (true, false) => EXIT_OK,
    }
}

/// What `--html` draws, gathered probe by probe.
#[derive(Default)]
struct Page {
    target: String,
    samples: Vec<html::Sample>,
    changes: Vec<html::Change>,
}

impl Page {
    /// Per phase the slowest address's time: the one the application waits for.
    fn sample(&mut self, probe: u64, report: &Report, total_ms: f64) {
        let mut phases = BTreeMap::new();
        report.phase_times(|_, _, phase, ms| {
            let slowest = phases.entry(phase).or_insert(ms);
            *slowest = f64::max(*slowest, ms);
        });
        phases.insert("total", total_ms);
        self.samples.push(html::Sample { probe, phases });
        self.target = crate::report::html::target(&report.hosts);
    }

    fn change(&mut self, probe: u64, outcome: &Outcome) {
        self.changes.push(html::Change {
            probe,
            time: crate::report::watch::timestamp(),
            outcome: outcome.clone(),
        });
    }

    /// Writes the page; false (after saying why on stderr) when the file cannot be written.
    fn write(
        self,
        path: &std::path::Path,
        file: std::fs::File,
        stats: &BTreeMap<&'static str, Stats>,
    ) -> bool {
        let history = html::History {
            target: self.target,
            samples: self.samples,
            changes: self.changes,
            stats,
        };
        let mut out = io::BufWriter::new(file);
        let written = html::write(&mut out, &history).and_then(|()| io::Write::flush(&mut out));
        if let Err(e) = &written {
            eprintln!("pgreach: --html {}: {e}", path.display());
        }
        written.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "0s", "-1s", "fast", "5x"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 90.0), Some(90.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
    }
}
