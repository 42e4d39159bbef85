//! Command-line arguments exactly as typed: parsed by clap, validated later by `config::load`.
//!
//! The flags follow psql's spelling (`-h` is the host, so help is `--help` only). No flag reads an
//! environment variable through clap: the `PG*`, `DATABASE_URL` and `DB_*` variables are read by
//! `config`, which records where every setting came from.

use std::fmt;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::config::{ColorChoice, EnvMode, FailOn, Format, Input, LibpqVersion, TranscriptFormat};

mod choices;
mod completions;
mod exporter;
mod man;
mod sweep;

pub use completions::CompletionsArgs;
pub use exporter::ExporterArgs;
pub use sweep::{SweepArgs, WatchArgs};

use crate::commands::{self, EXIT_OK, EXIT_USAGE};

/// What `--version` prints after the name: the crate version, and the commit and its date when
/// built from a git checkout (`0.1.0 (abc1234 2026-12-02)`); see build.rs.
pub const VERSION: &str = env!("PGREACH_VERSION");

/// The date of that commit (`2026-12-02`), or empty when not built from git: the man page's
/// date, so that the same commit always renders the same page.
const COMMIT_DATE: &str = env!("PGREACH_COMMIT_DATE");

/// Raw, unvalidated arguments. Ports and timeouts stay strings here so that `config` can reject a
/// bad value with a message naming the flag, the same way it names an environment variable.
#[derive(Clone, Default, Parser)]
#[command(
    name = "pgreach",
    version = VERSION,
    about = "Explain why an application cannot reach its PostgreSQL server, layer by layer.",
    long_about = "Explain why an application cannot reach its PostgreSQL server, layer by layer: \
                  DNS, TCP, SSLRequest, TLS and certificate checks, and the server's first answer \
                  to a StartupMessage. No password is needed. Settings are read like libpq: flags, \
                  then TARGET, then DATABASE_URL (or the DB_* variables with --env django), then \
                  the service file section named by service= or PGSERVICE (pg_service.conf), \
                  then the PG* variables, then libpq's defaults.",
    disable_help_flag = true
)]
pub struct Args {
    /// What to probe: host, host:port, [v6addr]:port, a bare IPv6 address, a postgres:// or
    /// postgresql:// URI, a libpq conninfo string ("host=... port=..."), or a Unix-socket
    /// directory (or socket file such as /var/run/postgresql/.s.PGSQL.5432).
    #[arg(value_name = "TARGET")]
    pub target: Option<String>,

    /// Server host name, IP address or Unix-socket directory; a comma list gives several hosts
    /// (overrides TARGET and PGHOST).
    #[arg(short = 'h', long, value_name = "HOST")]
    pub host: Option<String>,

    /// Server port, or a comma list matching the hosts (overrides TARGET and PGPORT).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<String>,

    /// User name sent in the StartupMessage (overrides TARGET and PGUSER; default: the OS user).
    #[arg(short = 'U', long, value_name = "USER")]
    pub username: Option<String>,

    /// Database name sent in the StartupMessage (default: the user name). Like psql's -d, a URI
    /// or conninfo string here is expanded into its settings.
    #[arg(short = 'd', long, value_name = "DBNAME")]
    pub dbname: Option<String>,

    /// libpq sslmode to evaluate: disable, allow, prefer, require, verify-ca or verify-full
    /// (default: prefer, or verify-full with --sslrootcert system).
    #[arg(long, value_name = "MODE")]
    pub sslmode: Option<String>,

    /// CA certificate file for verify-ca/verify-full, or "system" for the system trust store
    /// (libpq's default is ~/.postgresql/root.crt).
    #[arg(long, value_name = "FILE")]
    pub sslrootcert: Option<String>,

    /// Client certificate file offered if the server requests one.
    #[arg(long, value_name = "FILE")]
    pub sslcert: Option<String>,

    /// Private key file for --sslcert.
    #[arg(long, value_name = "FILE")]
    pub sslkey: Option<String>,

    /// Seconds allowed per address for the whole probe, decimals allowed (default: 10; a libpq
    /// value of 0, meaning "wait forever", is replaced by 10).
    #[arg(long, value_name = "SECONDS")]
    pub connect_timeout: Option<String>,

    /// Which application configuration to read besides the PG* variables: libpq reads
    /// DATABASE_URL; django reads DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE and
    /// DB_SSLROOTCERT.
    #[arg(long = "env", value_enum, default_value_t = EnvMode::Libpq, value_name = "SOURCE")]
    pub env: EnvMode,

    /// Which libpq major version the application loads: the sslmode matrix and the findings
    /// predict what that version does (the keywords it knows, the values it refuses,
    /// sslrootcert=system, sslnegotiation).
    #[arg(long, value_enum, default_value_t = LibpqVersion::V18, value_name = "VERSION")]
    pub libpq: LibpqVersion,

    /// One connection per address, over the channel the sslmode tries first. By default pgreach
    /// also sends the startup over the other channel (plaintext or TLS) on a second connection,
    /// to show pg_hba rules that differ between the two.
    #[arg(long)]
    pub quiet_server: bool,

    /// Also try a direct TLS connection (PostgreSQL 17+ `sslnegotiation=direct`): a ClientHello
    /// with ALPN `postgresql` right after connect, on a connection of its own. Implied by
    /// `sslnegotiation=direct` in the target or PGSSLNEGOTIATION.
    #[arg(long)]
    pub direct_tls: bool,

    /// Also send a GSSENCRequest on a connection of its own and report the answer (G/N/error).
    #[arg(long)]
    pub gssenc: bool,

    /// Also find out which of TLS 1.2 and TLS 1.3 the server accepts (one connection each).
    #[arg(long)]
    pub tls_versions: bool,

    /// Write every byte of every connection, with timestamps and decoded PostgreSQL messages
    /// and TLS records, to FILE ("-" for stdout). Passwords are redacted (see --show-secrets).
    #[arg(long, value_name = "FILE")]
    pub transcript: Option<std::path::PathBuf>,

    /// Transcript format: a hex dump for a person, or JSON for tools.
    #[arg(long, value_enum, default_value_t = TranscriptFormat::Text, value_name = "FORMAT")]
    pub transcript_format: TranscriptFormat,

    /// Write the probe's own connections to FILE as pcapng (synthesised TCP flows; no root
    /// needed) for Wireshark or tshark.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<std::path::PathBuf>,

    /// Append TLS secrets to FILE in the NSS key log format, so Wireshark can decrypt the TLS in
    /// the pcap (default: $SSLKEYLOGFILE if set). Anyone with the file can read those sessions.
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<std::path::PathBuf>,

    /// Keep password and SASL message bodies in --transcript and --pcap instead of filler.
    #[arg(long)]
    pub show_secrets: bool,

    /// Log in with the password (from the URI/conninfo, PGPASSWORD, the password file, DB_PASSWORD
    /// with --env django, or -W), then run one short read-only transaction: current database and
    /// user, the addresses the server sees, recovery and read-only state, SSL in use,
    /// connection slots. One login per address, over the channel the sslmode uses first.
    #[arg(long)]
    pub login: bool,

    /// With --login: prompt for the password (no echo) before connecting, as psql's -W.
    #[arg(short = 'W', long = "password")]
    pub password_prompt: bool,

    /// With --login: send a cleartext password (pg_hba `password`, `ldap`, `pam`, ...) over an
    /// unencrypted connection. Without it pgreach refuses, and says so.
    #[arg(long)]
    pub allow_cleartext: bool,

    /// Print one JSON document instead of the text report (the same as `--format json`).
    #[arg(long)]
    pub json: bool,

    /// Report format: text for a person, json for scripts, markdown to paste into a ticket,
    /// html for a self-contained page with a phase waterfall.
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// Write the report to FILE instead of stdout (any format; a single probe only).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// Warn about a server certificate that expires within this many days.
    #[arg(long, default_value_t = crate::config::DEFAULT_EXPIRY_WARN_DAYS, value_name = "DAYS")]
    pub expiry_warn: u32,

    /// Which findings make the exit code 1: errors only (default), or warnings too.
    #[arg(long, value_enum, default_value_t = FailOn::Error, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// When to color the text report.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Show more detail; repeat (-vv) for protocol-level tracing.
    #[arg(short = 'v', long, action = ArgAction::Count)]
    pub verbose: u8,

    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

// The whole command line: `pgreach [TARGET] [flags]` for one target, or a subcommand that
// takes the same probe flags (`sweep`, `watch`). After a flag, a subcommand's name is read as
// the TARGET (`pgreach -U app sweep` probes a host named "sweep" and reports it missing from
// DNS), so a sweep never runs with flags half-applied. (Plain comments: a doc comment here
// would replace the help text `Args` declares.)
#[derive(Debug, Parser)]
#[command(
    name = "pgreach",
    version = VERSION,
    disable_help_flag = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub args: Args,

    #[command(subcommand)]
    pub command: Option<Command>,
}

// Modes besides probing one target (a plain comment, for the same reason as on `Cli`): each
// subcommand's help text is the doc comment of its `*Args` struct.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Sweep(SweepArgs),
    Watch(WatchArgs),
    Exporter(ExporterArgs),
    Completions(CompletionsArgs),
}

/// Parses the process's arguments and runs the command they name.
pub fn main() -> ExitCode {
    // The hidden `man` subcommand is added for parsing only, so that the completion scripts and
    // the man page, generated from `Cli::command()`, never offer it (clap_complete lists hidden
    // subcommands too).
    let matches = match Cli::command().subcommand(man::command()).try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(&e),
    };
    if matches.subcommand_name() == Some(man::NAME) {
        return man::main();
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(&e),
    };
    match cli.command {
        None => commands::run::main(cli.args.into()),
        Some(Command::Sweep(args)) => commands::sweep::main(args.into()),
        Some(Command::Watch(args)) => commands::watch::main(args.into()),
        Some(Command::Exporter(args)) => commands::exporter::main(args.into()),
        Some(Command::Completions(args)) => completions::main(&args),
    }
}

/// Prints clap's message; --help and --version are "errors" to clap but successes to the user.
fn clap_exit(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK })
}

impl From<Args> for Input {
    fn from(a: Args) -> Input {
        Input {
            target: a.target,
            host: a.host,
            port: a.port,
            username: a.username,
            dbname: a.dbname,
            sslmode: a.sslmode,
            sslrootcert: a.sslrootcert,
            sslcert: a.sslcert,
            sslkey: a.sslkey,
            connect_timeout: a.connect_timeout,
            env: a.env,
            libpq: a.libpq,
            quiet_server: a.quiet_server,
            direct_tls: a.direct_tls,
            gssenc: a.gssenc,
            tls_versions: a.tls_versions,
            transcript: a.transcript,
            transcript_format: a.transcript_format,
            pcap: a.pcap,
            keylog: a.keylog,
            show_secrets: a.show_secrets,
            login: a.login,
            password_prompt: a.password_prompt,
            allow_cleartext: a.allow_cleartext,
            json: a.json,
            format: a.format,
            output: a.output,
            expiry_warn: a.expiry_warn,
            fail_on: a.fail_on,
            color: a.color,
            verbose: a.verbose,
        }
    }
}

/// Shows what [`Input`] shows: never a password from a URI or conninfo string.
impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Input::from(self.clone()).fmt(f)
    }
}

#[cfg(test)]
mod config_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("pgreach").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
        Cli::command().debug_assert();
    }

    #[test]
    fn short_h_is_the_host_like_psql() {
        let args = parse(&["-h", "db.example", "-p", "5433", "-U", "app", "-d", "appdb"]).unwrap();
        assert_eq!(args.host.as_deref(), Some("db.example"));
        assert_eq!(args.port.as_deref(), Some("5433"));
        assert_eq!(args.username.as_deref(), Some("app"));
        assert_eq!(args.dbname.as_deref(), Some("appdb"));
        assert_eq!(args.target, None);
    }

    #[test]
    fn defaults() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.env, EnvMode::Libpq);
        assert_eq!(args.color, ColorChoice::Auto);
        assert!(!args.json);
        assert_eq!(args.verbose, 0);
    }

    #[test]
    fn long_flags_enums_and_counts() {
        let args = parse(&[
            "--sslmode",
            "verify-full",
            "--sslrootcert",
            "system",
            "--connect-timeout",
            "2.5",
            "--env",
            "django",
            "--json",
            "--color",
            "never",
            "-vvv",
            "postgres://h/db",
        ])
        .unwrap();
        assert_eq!(args.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(args.sslrootcert.as_deref(), Some("system"));
        assert_eq!(args.connect_timeout.as_deref(), Some("2.5"));
        assert_eq!(args.env, EnvMode::Django);
        assert!(args.json);
        assert_eq!(args.color, ColorChoice::Never);
        assert_eq!(args.verbose, 3);
        assert_eq!(args.target.as_deref(), Some("postgres://h/db"));
    }

    #[test]
    fn help_is_long_only_and_bad_enum_is_rejected() {
        let err = parse(&["--help"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        // `-h` needs a value: it is the host, not help.
        assert!(parse(&["-h"]).is_err());
        assert!(parse(&["--env", "rails"]).is_err());
        assert!(parse(&["--color", "sometimes"]).is_err());
    }

    #[test]
    fn debug_hides_passwords_in_target_and_dbname() {
        let args = parse(&[
            "-d",
            "host=h password='s3cr et'",
            "postgres://u:hunter2@h/db?password=other",
        ])
        .unwrap();
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("other"), "{shown}");
        assert!(shown.contains("u:***@h"), "{shown}");
    }
}
