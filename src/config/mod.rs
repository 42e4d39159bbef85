//! Validated configuration: merges flags, the TARGET argument, the application's environment, a
//! libpq service file and libpq's environment into one `Config`, remembering where every setting
//! came from.
//!
//! # Precedence
//!
//! Highest first. Each setting is taken from the first source that gives it, so a connection
//! string and the environment combine the way they do in libpq (a conninfo value beats the
//! environment variable; environment variables fill in what the connection string leaves out).
//!
//! | # | source | examples | `Source` | origin |
//! |---|---|---|---|---|
//! | 1 | explicit flags | `-h -p -U -d --sslmode --sslrootcert --sslcert --sslkey --connect-timeout` | `flag` | `--host`, `--port`, … |
//! | 2 | the positional TARGET | `db:5433`, `postgres://…`, `"host=… sslmode=…"`, `/var/run/postgresql` | `argument` | `uri`, `conninfo`, `host:port`, `socket path` |
//! | 3 | the application's settings | `--env libpq` (default): `DATABASE_URL`, only when no TARGET is given; `--env django`: `DB_HOST DB_PORT DB_NAME DB_USER DB_PASSWORD DB_SSLMODE DB_SSLROOTCERT` (`DATABASE_URL` is then ignored) | `env` | the variable name |
//! | 4 | the connection service file | `service=NAME` from 1–3, else `PGSERVICE`: the `[NAME]` section of `PGSERVICEFILE` (else `~/.pg_service.conf`), or if not there of `pg_service.conf` in `PGSYSCONFDIR` (else Debian's `/etc/postgresql-common`) | `service` | the file and section, `/home/app/.pg_service.conf [NAME]` |
//! | 5 | libpq's variables | `PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGSSLMODE PGSSLROOTCERT PGSSLCERT PGSSLKEY PGCONNECT_TIMEOUT PGAPPNAME` (and the other `PG*` variables libpq reads, recorded only) | `env` | the variable name |
//! | 6 | defaults | host: the socket directory, `/var/run/postgresql` or `/tmp`, whichever has a socket for the port, else `/var/run/postgresql` (libpq never falls back to TCP); port 5432; user: the OS user; dbname: the user; sslmode `prefer` (`verify-full` with `sslrootcert=system`); connect_timeout 10 s; application_name `pgreach` | `default` | the reason |
//!
//! Notes:
//! * `host`, `hostaddr` and `port` are separate settings, as in libpq: `-h` overrides the host of
//!   a `host:port` TARGET but keeps its port, and a `PGHOSTADDR` in the environment still applies
//!   to a host given on the command line.
//! * `-d` may be a URI or conninfo string, as with psql; its settings count as flags, and the other
//!   flags override them.
//! * A `connect_timeout` of 0 or less means "wait forever" to libpq; pgreach uses 10 s instead.
//! * An empty value in a connection string (`port=`, `?port=`, `host=''`) is kept, as in libpq:
//!   it keeps the environment variable out and means the keyword's default (`sslmode=` is then
//!   invalid). An empty flag or `DB_*` variable counts as not given, so the next source fills
//!   it in (an empty `DB_HOST` means "not set" in Django). (libpq differs in one corner pgreach
//!   does not model: an empty value in a service file counts as given there. An empty
//!   `PGSERVICE` is modelled: libpq looks for the service "" and fails.)
//! * A service named but not defined, or a service file libpq cannot parse, is libpq's error.

mod auth_policy;
mod build;
mod conninfo;
mod endpoints;
mod env;
mod keywords;
mod layers;
mod libpq;
mod module;
mod options;
mod pairs;
mod service;
mod target;
mod uri;

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::vocabulary::vocabulary;
use layers::Layers;

pub use auth_policy::{AuthRequirement, ChannelBinding, RequireAuth};
pub use libpq::{
    LibpqVersion, LoadBalanceHosts, ProtocolVersion, RefusedSetting, SslCertMode, SslNegotiation,
    TlsRange,
};
pub use module::{Module, ProbeOption, is_module_key};
pub use options::{
    ColorChoice, DEFAULT_EXPIRY_WARN_DAYS, EnvMode, EvidenceConfig, FailOn, Format, Input,
    LoginOptions, TranscriptFormat,
};
pub use target::redact_connection_string;

/// The keyword/value pairs a TARGET sets, in the order written (a later pair overrides an
/// earlier one), before other sources are merged or any value is validated: for a connection
/// string, what libpq's `PQconninfoParse` gives (tests/conformance.rs holds the two together).
pub fn target_pairs(target: &str) -> Result<Vec<(&'static str, String)>, ConfigError> {
    target::parse_target(target, None).map(|parsed| parsed.pairs)
}

/// Reads the configuration from `args`, the environment lookup `env` (in production
/// `|k| std::env::var(k).ok()`) and the local filesystem (to find a default Unix socket).
pub fn load(args: &Input, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_with(args, env, &|path: &Path| path.exists())
}

/// `load`, with the check "does this Unix socket file exist?" supplied by the caller, so tests
/// do not depend on the machine they run on. A service file, when one is named, is read from
/// the machine.
pub fn load_with(
    args: &Input,
    env: &dyn Fn(&str) -> Option<String>,
    socket_exists: &dyn Fn(&Path) -> bool,
) -> Result<Config, ConfigError> {
    load_with_files(args, env, socket_exists, &|path: &Path| std::fs::read(path))
}

/// `load_with`, with the service files read through `read_file` too.
pub fn load_with_files(
    args: &Input,
    env: &dyn Fn(&str) -> Option<String>,
    socket_exists: &dyn Fn(&Path) -> bool,
    read_file: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Config, ConfigError> {
    // What the application hands libpq as its connection string, lowest precedence first: each
    // layer overrides what the previous ones set.
    let mut given = Layers::default();
    env::apply_app_source(&mut given, env, args.env, args.target.is_some())?;
    if let Some(text) = &args.target {
        let parsed = target::parse_target(text, None)?;
        given.apply(parsed.pairs, Source::Argument, parsed.origin);
    }
    apply_flags(&mut given, args)?;
    // Then libpq's conninfo_add_defaults: the service file, then the PG* variables, fill in
    // what the connection string leaves out.
    let mut layers = Layers::default();
    env::apply_libpq_vars(&mut layers, env);
    service::apply(&mut layers, &given, env, read_file)?;
    layers.overlay(given);
    build::build(&layers, args, env, socket_exists)
}

fn apply_flags(layers: &mut Layers, args: &Input) -> Result<(), ConfigError> {
    if let Some(dbname) = &args.dbname {
        // psql expands a connection string given as the database name (expand_dbname).
        if target::is_connection_string(dbname) {
            let parsed = target::parse_connection_string(dbname, Some("--dbname"))?;
            layers.apply(parsed.pairs, Source::Flag, "--dbname");
        } else {
            layers.set("dbname", dbname, Source::Flag, "--dbname");
        }
    }
    let flags = [
        ("host", "--host", &args.host),
        ("port", "--port", &args.port),
        ("user", "--username", &args.username),
        ("sslmode", "--sslmode", &args.sslmode),
        ("sslrootcert", "--sslrootcert", &args.sslrootcert),
        ("sslcert", "--sslcert", &args.sslcert),
        ("sslkey", "--sslkey", &args.sslkey),
        (
            "connect_timeout",
            "--connect-timeout",
            &args.connect_timeout,
        ),
    ];
    for (keyword, flag, value) in flags {
        if let Some(value) = value {
            layers.set(keyword, value, Source::Flag, flag);
        }
    }
    Ok(())
}

/// Everything the probe needs, validated, plus the report of where each setting came from.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to connect, in libpq's order: a multi-host list gives several endpoints.
    pub endpoints: Vec<Endpoint>,
    pub user: String,
    pub dbname: String,
    /// What goes in the StartupMessage: the user's application_name, else "pgreach".
    pub application_name: String,
    pub sslmode: SslMode,
    /// As given; "system" is kept verbatim. `None` means libpq's `~/.postgresql/root.crt`.
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    /// CRL file and directory, read with the root file. `None` for both means libpq's
    /// `~/.postgresql/root.crl`.
    pub sslcrl: Option<String>,
    pub sslcrldir: Option<String>,
    /// libpq sends the host name as the TLS server name (`sslsni=1`, the default).
    pub sslsni: bool,
    /// Whose behaviour is predicted (`--libpq`, default 18).
    pub libpq: LibpqVersion,
    /// `sslnegotiation` as that libpq reads it (always `postgres` before 17).
    pub sslnegotiation: SslNegotiation,
    /// Settings that libpq refuses before connecting: the application cannot connect at all.
    pub refusals: Vec<RefusedSetting>,
    /// What the client accepts from the server's authentication request (libpq 16+
    /// `require_auth`; `channel_binding`), as that libpq reads them.
    pub require_auth: Option<RequireAuth>,
    pub channel_binding: ChannelBinding,
    /// libpq 16+ `load_balance_hosts`.
    pub load_balance_hosts: LoadBalanceHosts,
    /// libpq 16+ `sslcertmode`.
    pub sslcertmode: SslCertMode,
    /// libpq 18 `min_protocol_version` / `max_protocol_version` (3.0 otherwise).
    pub min_protocol_version: ProtocolVersion,
    pub max_protocol_version: ProtocolVersion,
    /// The TLS versions `ssl_min_protocol_version` / `ssl_max_protocol_version` allow.
    pub tls_range: TlsRange,
    /// Per address, for the whole probe of that address (as libpq applies connect_timeout).
    pub connect_timeout: Duration,
    pub password: Option<Secret>,
    /// Every effective setting, secrets shown as `***`, in a stable order for the report.
    pub settings: Vec<Setting>,
    pub env_mode: EnvMode,
    /// The report format; `--json` is the same as `--format json`.
    pub format: Format,
    pub expiry_warn_days: u32,
    pub fail_on: FailOn,
    /// One connection per address (see `--quiet-server`).
    pub quiet_server: bool,
    /// Extra questions, each on a connection of its own (see `--direct-tls`, `--gssenc`,
    /// `--tls-versions`). `direct_tls` is also set by `sslnegotiation=direct`.
    pub direct_tls: bool,
    pub gssenc: bool,
    pub tls_versions: bool,
    /// `--transcript`, `--pcap`, `--keylog` (or SSLKEYLOGFILE), `--show-secrets`.
    pub evidence: EvidenceConfig,
    pub color: ColorChoice,
    pub verbose: u8,
    /// `--login`, `-W`, `--allow-cleartext` (and `--show-secrets` for the cancel key).
    pub login: LoginOptions,
}

impl Config {
    /// How many connections one address's probe may open, each with its own connect_timeout:
    /// the startup, the other channel's startup (unless `--quiet-server`), and the optional
    /// questions (direct TLS, GSSENCRequest, one handshake per TLS version).
    pub fn connections_per_address(&self) -> u32 {
        1 + u32::from(!self.quiet_server)
            + u32::from(self.direct_tls)
            + u32::from(self.gssenc)
            + 2 * u32::from(self.tls_versions)
    }

    /// The reported setting called `name` (a libpq keyword), if it was given or defaulted.
    pub fn setting(&self, name: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.name == name)
    }
}

/// One place to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub host: HostSpec,
    pub port: u16,
}

impl Endpoint {
    /// The socket file for a Unix-socket endpoint: `dir/.s.PGSQL.<port>`.
    pub fn socket_file(&self) -> Option<PathBuf> {
        match &self.host {
            HostSpec::Socket(dir) => Some(dir.join(format!(".s.PGSQL.{}", self.port))),
            _ => None,
        }
    }
}

/// How a host was given; decides whether DNS is used and which name TLS verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostSpec {
    /// A DNS name: resolve it, send it as SNI, verify the certificate against it.
    Name(String),
    /// An IP literal given as the host: no DNS, no SNI; verify-full checks the IP.
    Ip(IpAddr),
    /// An IPv6 literal with a zone, `fe80::1%eth0` (`[fe80::1%25eth0]` in a URI): no DNS, no
    /// SNI, like `Ip`; the zone (an interface name or number) is kept, because libpq hands the
    /// host to getaddrinfo, which turns it into the scope id the connection needs.
    ScopedIp { addr: Ipv6Addr, zone: String },
    /// libpq `hostaddr`: connect to `addr` without DNS; `name` (the `host`, if given) is used for
    /// SNI and certificate verification.
    HostAddr { name: Option<String>, addr: IpAddr },
    /// A Unix-socket directory; the socket file is `dir/.s.PGSQL.<port>`. A name starting with
    /// `@` is a Linux abstract-namespace socket, as in libpq.
    Socket(PathBuf),
}

impl HostSpec {
    /// The host as the user wrote it, for reports.
    pub fn display(&self) -> String {
        match self {
            HostSpec::Name(name) => name.clone(),
            HostSpec::Ip(ip) => ip.to_string(),
            HostSpec::ScopedIp { addr, zone } => format!("{addr}%{zone}"),
            HostSpec::HostAddr {
                name: Some(name),
                addr,
            } => format!("{name} (hostaddr {addr})"),
            HostSpec::HostAddr { name: None, addr } => addr.to_string(),
            HostSpec::Socket(dir) => dir.display().to_string(),
        }
    }
}

vocabulary! {
    /// libpq's sslmode values, weakest first.
    pub enum SslMode {
        Disable = "disable",
        Allow = "allow",
        Prefer = "prefer",
        Require = "require",
        VerifyCa = "verify-ca",
        VerifyFull = "verify-full",
    }
}

impl SslMode {
    /// The list used in error messages.
    pub const EXPECTED: &'static str = "disable, allow, prefer, require, verify-ca, verify-full";
}

/// Exact, case-sensitive match, as libpq does.
impl FromStr for SslMode {
    type Err = ParseSslModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SslMode::from_word(s).ok_or_else(|| ParseSslModeError(s.to_string()))
    }
}

/// A string that is not one of the six sslmodes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid sslmode \"{0}\": expected one of {expected}", expected = SslMode::EXPECTED)]
pub struct ParseSslModeError(pub String);

/// One effective setting and where it came from, for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    /// The libpq keyword.
    pub name: &'static str,
    /// The effective value; secrets are `***`.
    pub value: String,
    pub source: Source,
    /// The flag (`--port`), how the TARGET was written (`uri`, `conninfo`, `host:port`,
    /// `socket path`), the environment variable (`PGPORT`), the service file and section
    /// (`/home/app/.pg_service.conf [mydb]`), or for a default, why.
    pub origin: String,
}

vocabulary! {
    /// The kind of source a setting came from.
    pub enum Source {
        Flag = "flag",
        Argument = "argument",
        Env = "env",
        /// A section of a connection service file (`pg_service.conf`).
        Service = "service",
        Default = "default",
    }
}

/// A password (or other secret) that must never be printed: Debug and Display show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The clear value, for the rare code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A setting that cannot be used; the message names the value and where it came from, and never
/// contains a password. pgreach exits with status 2 on this error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError {
            message: message.into(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}
