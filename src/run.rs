//! The program's edge: arguments → config → probes → report → exit code. Errors become exit
//! codes here and nowhere else.
//!
//! Exit codes: 0 no error findings; 1 error findings (or warnings, with `--fail-on warning`);
//! 2 usage error (bad flag, target or setting); 3 internal error.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use futures_util::future::join_all;
use tokio::task::JoinSet;

use crate::cli::{Args, ColorChoice, Format};
use crate::config::{self, Config, HostSpec};
use crate::diagnose;
use crate::facts::{HostFacts, HostKind, Report, Severity};
use crate::probe::{self, AddrTarget, ProbeSettings};
use crate::report;
use crate::resolve::{self, Dns};
use crate::setup::TlsSetup;
use std::sync::Arc;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERNAL: u8 = 3;

pub fn main() -> ExitCode {
    let cli = match crate::cli::Cli::parse_args() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are "errors" to clap but successes to the user.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let args: Args = match cli.command {
        Some(command) => return crate::sweep::main(command),
        None => cli.args,
    };
    if args.format == Format::Prometheus {
        eprintln!("pgreach: --format prometheus is only for `pgreach sweep`");
        return ExitCode::from(EXIT_USAGE);
    }
    let env = |name: &str| std::env::var(name).ok();
    let config = match config::load(&args, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pgreach: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    init_tracing(config.verbose);
    match std::panic::catch_unwind(|| run(&config)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("pgreach: internal error: {e}");
            ExitCode::from(EXIT_INTERNAL)
        }
        Err(_) => ExitCode::from(EXIT_INTERNAL),
    }
}

fn run(config: &Config) -> io::Result<u8> {
    // One thread: a probe waits on the network, not the CPU, and worker threads cost more to
    // start (thread creation, cgroup reads, cross-thread wake-ups) than they save. Concurrent
    // addresses share it; one TLS handshake's CPU (well under a millisecond) is the most it
    // can add to another address's timings.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let recorder = match crate::evidence::start(&config.evidence) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pgreach: --keylog: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let mut report = runtime.block_on(collect_recorded(config, recorder.clone()));
    let evidence_ok =
        crate::evidence::finish(recorder.as_deref(), &config.evidence, &command_line());
    judge(config, &mut report);
    let stdout = io::stdout();
    // Buffered: stdout is line-buffered, and a JSON report is hundreds of lines.
    let mut out = io::BufWriter::new(stdout.lock());
    let written = match config.format {
        Format::Json => report::json::write(&mut out, &report),
        Format::Prometheus => Err(io::Error::other(
            "--format prometheus needs `pgreach sweep`",
        )),
        Format::Markdown => report::markdown::write(&mut out, &report, &command_line()),
        Format::Text => {
            let style = report::text::Style {
                color: use_color(config.color, stdout.is_terminal()),
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
    } else if fails(&report, config.fail_on.threshold()) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    })
}

/// Judges the facts as of now: findings and verdict (see `diagnose::apply`).
pub(crate) fn judge(config: &Config, report: &mut Report) {
    let opts = diagnose::findings::Options {
        sslmode: config.sslmode,
        expiry_warn_days: config.expiry_warn_days.into(),
        now: time::OffsetDateTime::now_utc(),
    };
    diagnose::apply(report, &opts);
}

/// Whether `report` has a finding at least as severe as `threshold` (`--fail-on`).
pub(crate) fn fails(report: &Report, threshold: Severity) -> bool {
    report.findings.iter().any(|f| f.severity <= threshold)
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

pub(crate) fn init_tracing(verbose: u8) {
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

/// Runs every phase for every address of every host and gathers the facts.
pub async fn collect(config: &Config) -> Report {
    collect_recorded(config, None).await
}

/// [`collect`], logging every connection into `recorder` (for `--transcript`/`--pcap`).
pub async fn collect_recorded(
    config: &Config,
    recorder: Option<Arc<crate::evidence::Recorder>>,
) -> Report {
    // libpq looks in $HOME/.postgresql (falling back to the passwd entry) for root.crt and
    // postgresql.crt/.key when no file is configured.
    let (setup, settings) = prepare(config, recorder);
    collect_with(config, &setup, &settings).await
}

/// What every probe of `config` shares: the trust material and the probe settings (prompting
/// now with `-W`). Built once per run; `watch` reuses them for every probe.
pub(crate) fn prepare(
    config: &Config,
    recorder: Option<Arc<crate::evidence::Recorder>>,
) -> (TlsSetup, ProbeSettings) {
    // libpq looks in $HOME/.postgresql (falling back to the passwd entry) for root.crt and
    // postgresql.crt/.key when no file is configured.
    let home = home_dir();
    let setup = TlsSetup::load(config, home.as_deref());
    let settings = setup.probe_settings(config, recorder, login_settings(config, home.as_deref()));
    (setup, settings)
}

/// [`collect`] with what [`prepare`] built (DNS is fresh for every call).
pub(crate) async fn collect_with(
    config: &Config,
    setup: &TlsSetup,
    settings: &ProbeSettings,
) -> Report {
    let dns = Dns::from_system(config.connect_timeout);
    let (hosts, targets) = resolve_all(&dns, config).await;
    // Every address concurrently; the report keeps the order of `targets`.
    let mut set = JoinSet::new();
    for (i, target) in targets.into_iter().enumerate() {
        let settings = settings.clone();
        set.spawn(async move { (i, probe::probe_address(&target, &settings).await) });
    }
    let mut addresses = Vec::new();
    while let Some(joined) = set.join_next().await {
        // A panicking probe task is a bug; the other addresses are still reported.
        if let Ok(pair) = joined {
            addresses.push(pair);
        }
    }
    addresses.sort_by_key(|(i, _)| *i);
    let addresses: Vec<_> = addresses.into_iter().map(|(_, a)| a).collect();

    setup.report(config, hosts, addresses)
}

/// Resolves every host, concurrently so that several slow hosts cost the slowest one's time
/// rather than the sum: the hosts' facts, and every address to probe, in the user's host order
/// and, within a host, libpq's address order.
pub(crate) async fn resolve_all(dns: &Dns, config: &Config) -> (Vec<HostFacts>, Vec<AddrTarget>) {
    let resolutions = join_all(config.endpoints.iter().map(|ep| plan(dns, ep))).await;
    let mut hosts = Vec::new();
    let mut targets = Vec::new();
    for (host, addrs) in resolutions {
        hosts.push(host);
        targets.extend(addrs);
    }
    (hosts, targets)
}

/// `--login`'s credentials and policies (prompting now with `-W`); a prompt that fails (no
/// terminal) leaves the run without a password, which each login then reports.
fn login_settings(
    config: &Config,
    home: Option<&std::path::Path>,
) -> Option<Arc<crate::login::LoginSettings>> {
    match crate::login::LoginSettings::from_config(config, home) {
        Ok(s) => s.map(Arc::new),
        Err(e) => {
            tracing::warn!("cannot read the password from the terminal: {e}");
            let mut config = config.clone();
            config.login.prompt = false;
            crate::login::LoginSettings::from_config(&config, home)
                .ok()
                .flatten()
                .map(Arc::new)
        }
    }
}

/// libpq's home directory: `$HOME`, else the account's home.
pub(crate) fn home_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Some(h.into()),
        _ => nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.dir),
    }
}

/// Resolves one endpoint (when it is a name) into the addresses to probe.
async fn plan(dns: &Dns, ep: &config::Endpoint) -> (HostFacts, Vec<AddrTarget>) {
    let host = ep.host.display();
    let port = ep.port;
    let tcp = |addr, tls_name: Option<String>, verify_host: Option<String>, rank| AddrTarget::Tcp {
        host: host.clone(),
        tls_name,
        verify_host,
        addr: std::net::SocketAddr::new(addr, port),
        system_rank: rank,
    };
    match &ep.host {
        HostSpec::Name(name) => {
            let facts = dns.resolve(name, port).await;
            let targets = resolve::addresses_to_probe(&facts)
                .into_iter()
                .map(|(ip, rank)| tcp(ip, Some(name.clone()), Some(name.clone()), rank))
                .collect();
            let host_facts = HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Name,
                dns: Some(facts),
            };
            (host_facts, targets)
        }
        HostSpec::Ip(ip) => (
            HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Ip,
                dns: None,
            },
            // A literal is the only address libpq tries for this host.
            vec![tcp(*ip, None, Some(host.clone()), Some(0))],
        ),
        HostSpec::HostAddr { name, addr } => (
            HostFacts {
                host: host.clone(),
                port,
                kind: HostKind::Hostaddr,
                dns: None,
            },
            vec![tcp(*addr, name.clone(), name.clone(), Some(0))],
        ),
        HostSpec::Socket(dir) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            (
                HostFacts {
                    host: host.clone(),
                    port,
                    kind: HostKind::Unix,
                    dns: None,
                },
                vec![AddrTarget::Unix {
                    host: host.clone(),
                    path,
                    port,
                }],
            )
        }
    }
}
