//! The `sweep` and `watch` subcommands' flags, turned into their commands' plain options. Each
//! takes every single-target flag too (user, dbname, sslmode, sslrootcert, timeouts…): those
//! are the per-target defaults.

use super::Args;
use crate::commands::sweep::SweepOptions;
use crate::commands::watch::WatchOptions;

/// Probe many targets from a file or stdin: one JSON line per target, then a summary.
///
/// One target per input line (host, host:port, [v6]:port, URI, conninfo or a CIDR
/// block such as 10.0.0.0/28:5432), `#` starts a comment. Writes one JSON line per target as
/// soon as it finishes ({"type":"target","target":LINE,"data":REPORT}, REPORT as with --json),
/// then a {"type":"summary"} line. The probe flags below are the defaults for every line; a
/// line's own settings (a URI's sslmode=…) win, except --host/--port, which override every line.
#[derive(Debug, Clone, clap::Args)]
#[command(
    disable_help_flag = true,
    mut_arg("target", |a| a
        .value_name("FILE")
        .help("File with one target per line; `-` or nothing reads stdin."))
)]
pub struct SweepArgs {
    #[command(flatten)]
    pub probe: Args,

    /// Addresses probed at the same time, over all targets.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub concurrency: usize,

    /// New connections per second over the whole sweep (decimals allowed; 0 = unlimited). An
    /// address counts for every connection its probe may open (2 unless --quiet-server).
    #[arg(long, default_value_t = 0.0, value_name = "R")]
    pub rate: f64,

    /// Addresses of one IP probed at the same time, to stay polite to one server.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub per_host_concurrency: usize,

    /// Seconds allowed for one target from DNS to its last address (addresses still running
    /// then are reported as timed out).
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    pub deadline: f64,

    /// Skip targets already present in this earlier sweep output (JSON Lines); then append
    /// only the new ones to your output.
    #[arg(long, value_name = "OUT.jsonl")]
    pub resume: Option<std::path::PathBuf>,

    /// Take share I of N (1-based) of the input, split by a hash of each normalised line, so
    /// that N machines together cover the list exactly once.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,

    /// Also print the summary as text on stderr at the end.
    #[arg(long)]
    pub summary: bool,

    /// Most addresses a CIDR block in the input may expand to (larger blocks are refused).
    #[arg(long, default_value_t = 65536, value_name = "N")]
    pub max_cidr: u64,
}

/// Probe one target again and again: each change of outcome, then latency percentiles.
///
/// Prints a line whenever the outcome (verdict, finding codes, or an address's TCP status,
/// SSLRequest answer or startup result) changes, and at the end (after --count probes or
/// Ctrl-C) p50/p90/p99 latency per phase. --json prints JSON Lines instead; --html FILE also
/// writes the latencies over time as a page.
#[derive(Debug, Clone, clap::Args)]
#[command(disable_help_flag = true)]
pub struct WatchArgs {
    #[command(flatten)]
    pub probe: Args,

    /// Time between the starts of two probes: 500ms, 5s, 2m or plain seconds.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub interval: String,

    /// Stop after this many probes (default: until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// At the end, also write a self-contained HTML page to FILE: latency per phase over
    /// time, each change of outcome marked, and the percentile table.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

impl From<SweepArgs> for SweepOptions {
    fn from(a: SweepArgs) -> SweepOptions {
        SweepOptions {
            probe: a.probe.into(),
            concurrency: a.concurrency,
            rate: a.rate,
            per_host_concurrency: a.per_host_concurrency,
            deadline: a.deadline,
            resume: a.resume,
            shard: a.shard,
            summary: a.summary,
            max_cidr: a.max_cidr,
        }
    }
}

impl From<WatchArgs> for WatchOptions {
    fn from(a: WatchArgs) -> WatchOptions {
        WatchOptions {
            probe: a.probe.into(),
            interval: a.interval,
            count: a.count,
            html: a.html,
        }
    }
}
