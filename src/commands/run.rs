//! `pgreach TARGET`: one probe, judged and reported in the format asked for; the exit code
//! says whether anything is wrong.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use super::{EXIT_FINDINGS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, init_tracing};
use crate::config::{self, ColorChoice, Config, Format, Input};
use crate::report;
use crate::session;

/// Probes one target as `input` describes it and prints the report.
pub fn main(args: Input) -> ExitCode {
    if args.format == Format::Prometheus {
        eprintln!("pgreach: --format prometheus is only for `pgreach sweep`");
        return ExitCode::from(EXIT_USAGE);
    }
    let config = match config::load(&args, &super::env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pgreach: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    // Opened before probing, so a path that cannot be written is a usage error at once rather
    // than a probe whose report is lost.
    let file = match &args.output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("pgreach: --output {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    init_tracing(config.verbose);
    match std::panic::catch_unwind(|| run(&config, file)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("pgreach: internal error: {e}");
            ExitCode::from(EXIT_INTERNAL)
        }
        Err(_) => ExitCode::from(EXIT_INTERNAL),
    }
}

/// Probes, judges and writes the report to `file`, or to stdout without one.
fn run(config: &Config, file: Option<std::fs::File>) -> io::Result<u8> {
    // One thread: a probe waits on the network, not the CPU, and worker threads cost more to
    // start (thread creation, cgroup reads, cross-thread wake-ups) than they save. Concurrent
    // addresses share it; one TLS handshake's CPU (well under a millisecond) is the most it
    // can add to another address's timings.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let evidence = match crate::evidence::start(&config.evidence) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("pgreach: --keylog: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut report = runtime.block_on(session::collect(config, &evidence));
    let evidence_ok = crate::evidence::finish(
        evidence.recorder.as_deref(),
        &config.evidence,
        &command_line(),
    );
    session::judge(config, &mut report);
    let stdout = io::stdout();
    let is_terminal = file.is_none() && stdout.is_terminal();
    // Buffered: stdout is line-buffered, and a JSON report is hundreds of lines.
    let sink: Box<dyn Write> = match file {
        Some(f) => Box::new(f),
        None => Box::new(stdout.lock()),
    };
    let mut out = io::BufWriter::new(sink);
    let written = match config.format {
        Format::Json => report::json::write(&mut out, &report),
        Format::Prometheus => Err(io::Error::other(
            "--format prometheus needs `pgreach sweep`",
        )),
        Format::Markdown => report::markdown::write(&mut out, &report, &command_line()),
        Format::Html => report::html::write(&mut out, &report),
        Format::Text => {
            let style = report::text::Style {
                color: use_color(config.color, is_terminal),
            };
            report::text::write(&mut out, &report, style)
        }
    };
    match written.and_then(|()| out.flush()) {
        // A closed pipe (`pgreach ... | head`) is the reader's choice, not our failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(if !evidence_ok {
        EXIT_INTERNAL
    } else if session::fails(&report, config.fail_on) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// The command line as typed, with any password in a URI or conninfo argument replaced by
/// `***`, for the markdown report.
fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let a = config::redact_connection_string(&a);
            if a.is_empty() || a.contains(char::is_whitespace) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Colour on a terminal only, never when NO_COLOR is set (no-color.org), unless forced.
fn use_color(choice: ColorChoice, is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}
