//! The commands: `run` (one target), `sweep` (many), `watch` (one, repeatedly), `exporter`
//! (a Prometheus exporter probing what each scrape names). Each turns
//! plain options into probes through `session` and output through `report`, and ends in an
//! exit code. Errors become exit codes here and nowhere else.
//!
//! Exit codes: 0 no error findings; 1 error findings (or warnings, with `--fail-on warning`);
//! 2 usage error (bad flag, target or setting); 3 internal error; 130 interrupted (sweep).

pub mod exporter;
pub mod run;
pub mod sweep;
pub mod watch;

use std::io;
use std::process::ExitCode;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERNAL: u8 = 3;
/// The conventional exit code after SIGINT (128 + 2).
pub const EXIT_INTERRUPTED: u8 = 130;

/// A usage error: the message on stderr, exit code 2.
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("pgreach: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// The process environment, as `config::load` reads it.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The multi-threaded runtime of `sweep` and `watch`.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("pgreach: internal error: {e}");
            ExitCode::from(EXIT_INTERNAL)
        })
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "pgreach=info",
        _ => "pgreach=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_target(false)
        .try_init();
}
