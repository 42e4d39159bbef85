//! `pgreach sweep`: many targets, bounded and streaming. Input lines are read on a thread of
//! their own and reach the probing side through a bounded channel; each target becomes a
//! `Config` through `config::load` (the line is its TARGET, the flags its defaults), is probed
//! by [`engine::collect`] under the sweep's limits, diagnosed like a single target, and written
//! as one JSON line the moment it finishes. Also home of `pgreach watch`.
//!
//! ```text
//! FILE ─▶ input (comments, CIDR, shard, resume) ─▶ channel ─▶ targets in flight (JoinSet)
//!        ─▶ engine: per address: host slot ─▶ global slot ─▶ descriptor ─▶ rate ─▶ probe
//!        ─▶ diagnose ─▶ {"type":"target"} line + summary tally (+ prometheus samples)
//! ```

mod cidr;
mod engine;
mod input;
pub(super) mod limits;

use std::io::{self, BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, env, runtime, usage};
use crate::config::{self, FailOn, Format, Input};
use crate::report::prometheus;
use crate::report::sweep::{self as summary, SweepSummary, invalid_line, json_line};
use crate::session;
use input::Item;

/// Lines read ahead of the probes: enough to keep them busy, small enough not to matter.
const INPUT_AHEAD: usize = 1024;

/// Initial room for the lines waiting for stdout: handed over whenever the sweep is about to
/// wait, so this holds one burst of finished targets (a few KiB each).
const OUT_BUFFER: usize = 64 * 1024;

/// `pgreach sweep`'s options: the probe flags (every line's defaults) and the sweep's own.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The probe flags; `target` is the input file (`-` or none: stdin).
    pub probe: Input,
    pub concurrency: usize,
    pub rate: f64,
    pub per_host_concurrency: usize,
    /// Seconds for one target, DNS to last address.
    pub deadline: f64,
    pub resume: Option<std::path::PathBuf>,
    /// `--shard I/N`, as typed.
    pub shard: Option<String>,
    pub summary: bool,
    pub max_cidr: u64,
}

/// Everything a sweep decided before the first probe.
struct Plan {
    /// What every target task needs (shared with them).
    target: Arc<PerTarget>,
    max_targets: usize,
    summary_text: bool,
}

/// The part of the plan target tasks need.
struct PerTarget {
    /// The flags: every line's defaults.
    probe: Input,
    shared: engine::Shared,
    prometheus: bool,
    expiry_warn_days: i64,
    fail_on: FailOn,
}

/// Sweeps the targets of the input, streaming one JSON line per target.
pub fn main(args: SweepOptions) -> ExitCode {
    let shard = match args.shard.as_deref().map(input::Shard::parse).transpose() {
        Ok(s) => s,
        Err(e) => return usage(e),
    };
    // A sweep records no connections and logs in nowhere: refusing these flags beats a run
    // that silently leaves out what was asked for.
    let single_probe_only = (args.probe.evidence_flag()).or(args.probe.login.then_some("--login"));
    if let Some(flag) = single_probe_only {
        return usage(format!(
            "{flag} works on a single probe (`pgreach TARGET {flag} …`), not with `pgreach sweep`"
        ));
    }
    // The HTML page draws one probe; a sweep writes JSON Lines (or Prometheus) to stdout.
    if args.probe.format == Format::Html {
        return usage(
            "--format html draws a single probe (`pgreach TARGET --format html`), not `pgreach sweep`",
        );
    }
    if args.probe.output.is_some() {
        return usage("--output writes a single probe's report; `pgreach sweep` writes to stdout");
    }
    if args.concurrency == 0 || args.per_host_concurrency == 0 {
        return usage("--concurrency and --per-host-concurrency must be at least 1");
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return usage(format!(
            "--rate {}: expected a number of connections per second",
            args.rate
        ));
    }
    if !(args.deadline > 0.0 && args.deadline < 1e9) {
        return usage(format!(
            "--deadline {}: expected seconds > 0",
            args.deadline
        ));
    }
    let mut probe = args.probe.clone();
    let source = probe.target.take().filter(|f| f != "-");
    // Validate the flags once, so a bad --sslmode is a usage error rather than a million
    // invalid lines.
    let mut check = probe.clone();
    check.target = Some("localhost".into());
    let checked = match config::load(&check, &env) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    let done = match &args.resume {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => match input::read_done(io::BufReader::new(f)) {
                Ok(d) => d,
                Err(e) => return usage(format!("--resume {}: {e}", path.display())),
            },
            // No earlier output yet: nothing to skip (so --resume can always be passed).
            Err(e) if e.kind() == io::ErrorKind::NotFound => Default::default(),
            Err(e) => return usage(format!("--resume {}: {e}", path.display())),
        },
        None => Default::default(),
    };
    let reader: Box<dyn BufRead + Send> = match &source {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => Box::new(io::BufReader::new(f)),
            Err(e) => return usage(format!("{path}: {e}")),
        },
        None => Box::new(io::BufReader::new(io::stdin())),
    };
    super::init_tracing(checked.verbose);

    // Every probe holds one descriptor at a time (the second channel reconnects after the
    // first closed), so the limit caps the addresses in flight.
    let nofile = limits::raise_nofile().unwrap_or(1024);
    let fd_cap =
        usize::try_from(nofile.saturating_sub(limits::FD_RESERVE).max(8)).unwrap_or(usize::MAX);
    let concurrency = args.concurrency.min(fd_cap);
    if concurrency < args.concurrency {
        eprintln!(
            "pgreach: --concurrency {} lowered to {concurrency}: the open-file limit is {nofile}",
            args.concurrency
        );
    }
    let plan = Plan {
        target: Arc::new(PerTarget {
            prometheus: checked.format == Format::Prometheus,
            probe,
            shared: engine::Shared::new(
                concurrency,
                args.per_host_concurrency,
                args.rate,
                Duration::from_secs_f64(args.deadline),
            ),
            expiry_warn_days: checked.expiry_warn_days.into(),
            fail_on: checked.fail_on,
        }),
        max_targets: concurrency,
        summary_text: args.summary,
    };
    let filter = input::Filter {
        shard,
        done,
        max_cidr: args.max_cidr,
    };
    let (tx, rx) = mpsc::channel(INPUT_AHEAD);
    let feeder = std::thread::spawn(move || input::feed(reader, &filter, &tx));
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    // On a worker rather than this thread: a finished target then wakes the loop where it
    // ran, not this thread through a futex (one per target in profiles).
    let code = runtime.block_on(async move {
        tokio::spawn(async move { run_sweep(&plan, rx, feeder).await })
            .await
            .unwrap_or(EXIT_INTERNAL)
    });
    // Do not wait for a reader thread still blocked on stdin after an interrupt.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// What one target task hands back. (Moved once per target: its size does not matter.)
#[allow(clippy::large_enum_variant)]
enum Done {
    Target {
        line: String,
        tally: summary::Tally,
        metrics: Option<prometheus::Metrics>,
        failed: bool,
    },
    Invalid {
        line: String,
    },
}

fn invalid(line: &str, error: &str) -> Done {
    Done::Invalid {
        line: invalid_line(&input::target_key(line), error),
    }
}

/// Probes one input line from start to finish.
async fn one(line: String, plan: Arc<PerTarget>) -> Done {
    let mut args = plan.probe.clone();
    let key = input::target_key(&line);
    args.target = Some(line);
    let config = match config::load(&args, &env) {
        Ok(c) => c,
        Err(e) => return invalid(args.target.as_deref().unwrap_or_default(), &e.to_string()),
    };
    let started = std::time::Instant::now();
    let mut report = engine::collect(&config, &plan.shared).await;
    session::judge(&config, &mut report);
    let failed = session::fails(&report, plan.fail_on);
    let metrics = plan.prometheus.then(|| {
        let mut m = prometheus::Metrics::default();
        m.add(&key, &report, started.elapsed().as_secs_f64());
        m
    });
    Done::Target {
        tally: summary::tally(&key, &report, plan.expiry_warn_days),
        line: if plan.prometheus {
            String::new()
        } else {
            json_line("target", Some(&key), &report)
        },
        metrics,
        failed,
    }
}

/// Where finished targets go: stdout, the summary, the metrics, the progress bar.
struct Sink {
    /// Lines not yet written to stdout.
    pending: Vec<u8>,
    summary: SweepSummary,
    metrics: Option<prometheus::Metrics>,
    progress: Option<indicatif::ProgressBar>,
    failed: bool,
    /// The reader of stdout went away: stop quietly.
    closed: bool,
}

impl Sink {
    fn take(&mut self, done: Done) {
        let line = match done {
            Done::Target {
                line,
                tally,
                metrics,
                failed,
            } => {
                self.summary.add(tally);
                self.failed |= failed;
                if let (Some(all), Some(m)) = (&mut self.metrics, metrics) {
                    all.merge(m);
                }
                line
            }
            Done::Invalid { line } => {
                self.summary.add_invalid();
                self.failed = true;
                if self.metrics.is_some() {
                    String::new()
                } else {
                    line
                }
            }
        };
        if let Some(p) = &self.progress {
            p.inc(1);
        }
        if !line.is_empty() && !self.closed {
            self.pending.extend_from_slice(line.as_bytes());
            self.pending.push(b'\n');
        }
    }

    /// Writes the pending lines to stdout. Called before the sweep waits for anything, so a
    /// consumer sees each target as soon as it finishes, yet targets finishing together leave
    /// in one write. The write happens on a blocking thread: a slow reader of stdout must not
    /// stall a runtime worker, where probes in flight are being timed.
    async fn flush(&mut self) {
        if self.closed || self.pending.is_empty() {
            return;
        }
        let mut bytes = std::mem::take(&mut self.pending);
        let written = tokio::task::spawn_blocking(move || {
            let mut out = io::stdout().lock();
            let result = out.write_all(&bytes).and_then(|()| out.flush());
            bytes.clear();
            (bytes, result)
        })
        .await;
        match written {
            // The buffer comes back empty, to be reused.
            Ok((bytes, Ok(()))) => self.pending = bytes,
            _ => self.closed = true,
        }
    }
}

async fn run_sweep(
    plan: &Plan,
    mut rx: mpsc::Receiver<Item>,
    feeder: std::thread::JoinHandle<io::Result<u64>>,
) -> u8 {
    let started = std::time::Instant::now();
    // Registered before the first probe, so an early Ctrl-C is never the default kill.
    let (mut sigint, mut sigterm) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        _ => return EXIT_INTERNAL,
    };
    let mut sink = Sink {
        pending: Vec::with_capacity(OUT_BUFFER),
        summary: SweepSummary {
            expiry_warn_days: plan.target.expiry_warn_days,
            ..SweepSummary::default()
        },
        metrics: plan.target.prometheus.then(prometheus::Metrics::default),
        progress: io::stderr().is_terminal().then(progress_bar),
        failed: false,
        closed: false,
    };
    let mut set = JoinSet::new();
    let mut input_open = true;
    let mut interrupted = false;
    while (input_open || !set.is_empty()) && !sink.closed {
        tokio::select! {
            biased;
            _ = sigint.recv() => { interrupted = true; break; }
            _ = sigterm.recv() => { interrupted = true; break; }
            Some(joined) = set.join_next(), if !set.is_empty() => {
                // A panicked target task is a bug; the others are still reported.
                if let Ok(done) = joined {
                    sink.take(done);
                }
                // Targets that finished meanwhile join the same write.
                while let Some(joined) = set.try_join_next() {
                    if let Ok(done) = joined {
                        sink.take(done);
                    }
                }
                sink.flush().await;
            }
            item = rx.recv(), if input_open && set.len() < plan.max_targets => match item {
                Some(Item::Target(line)) => {
                    set.spawn(one(line, plan.target.clone()));
                }
                Some(Item::Invalid { line, error }) => {
                    sink.take(invalid(&line, &error));
                    sink.flush().await;
                }
                None => input_open = false,
            },
        }
        if let Some(p) = &sink.progress {
            p.set_message(format!("{} in flight", set.len()));
        }
    }
    // Stop the reader, stop starting probes, keep what already finished.
    drop(rx);
    set.abort_all();
    while let Some(joined) = set.join_next().await {
        if let Ok(done) = joined {
            sink.take(done);
        }
    }
    sink.flush().await;
    let mut read_error = None;
    if feeder.is_finished() {
        match feeder.join() {
            Ok(Ok(skipped)) => sink.summary.skipped_resume = skipped,
            Ok(Err(e)) => read_error = Some(e),
            Err(_) => read_error = Some(io::Error::other("input reader panicked")),
        }
    }
    if let Some(p) = sink.progress.take() {
        p.finish_and_clear();
    }
    let summary = &mut sink.summary;
    summary.interrupted = interrupted;
    summary.elapsed_seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    summary.descriptor_waits = plan
        .target
        .shared
        .fds
        .waits
        .load(std::sync::atomic::Ordering::Relaxed);
    if !sink.closed {
        // Writing to a Vec cannot fail.
        let _ = match &sink.metrics {
            Some(m) => m.write(&mut sink.pending),
            None => writeln!(
                sink.pending,
                "{}",
                json_line("summary", None, &sink.summary)
            ),
        };
        sink.flush().await;
    }
    if plan.summary_text {
        let _ = sink.summary.write_text(&mut io::stderr().lock());
    }
    if let Some(e) = read_error {
        eprintln!("pgreach: reading the input: {e}");
        return EXIT_INTERNAL;
    }
    match (interrupted, sink.failed) {
        (true, _) => EXIT_INTERRUPTED,
        (false, true) => EXIT_FINDINGS,
        (false, false) => EXIT_OK,
    }
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {pos} targets done  {per_sec}  {elapsed}  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
