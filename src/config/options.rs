//! The run's options as plain data: what the command line gave ([`Input`], still unvalidated
//! strings where a value needs checking), and the small closed sets of choices. The command
//! line's parser (`cli`) fills these in; nothing here knows about it.

use std::fmt;
use std::path::PathBuf;

use crate::vocabulary::vocabulary;

/// The settings of one probe exactly as given, before validation. Ports and timeouts stay
/// strings so that `config::load` can reject a bad value with a message naming the flag, the
/// same way it names an environment variable.
#[derive(Clone)]
pub struct Input {
    /// The positional TARGET: host, host:port, URI, conninfo string or socket path.
    pub target: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    pub dbname: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub connect_timeout: Option<String>,
    pub env: EnvMode,
    /// Which libpq's behaviour to predict (`--libpq`).
    pub libpq: super::LibpqVersion,
    pub quiet_server: bool,
    pub direct_tls: bool,
    pub gssenc: bool,
    pub tls_versions: bool,
    pub transcript: Option<PathBuf>,
    pub transcript_format: TranscriptFormat,
    pub pcap: Option<PathBuf>,
    pub keylog: Option<PathBuf>,
    pub show_secrets: bool,
    pub login: bool,
    pub password_prompt: bool,
    pub allow_cleartext: bool,
    /// `--json`: the same as `format = Json`.
    pub json: bool,
    pub format: Format,
    /// `--output`: where the report goes instead of stdout.
    pub output: Option<PathBuf>,
    pub expiry_warn: u32,
    pub fail_on: FailOn,
    pub color: ColorChoice,
    pub verbose: u8,
}

/// Days before a certificate's expiry that it is warned about (`--expiry-warn`).
pub const DEFAULT_EXPIRY_WARN_DAYS: u32 = 30;

/// What the command line gives when no flag is typed.
impl Default for Input {
    fn default() -> Input {
        Input {
            target: None,
            host: None,
            port: None,
            username: None,
            dbname: None,
            sslmode: None,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            connect_timeout: None,
            env: EnvMode::default(),
            libpq: super::LibpqVersion::default(),
            quiet_server: false,
            direct_tls: false,
            gssenc: false,
            tls_versions: false,
            transcript: None,
            transcript_format: TranscriptFormat::default(),
            pcap: None,
            keylog: None,
            show_secrets: false,
            login: false,
            password_prompt: false,
            allow_cleartext: false,
            json: false,
            format: Format::default(),
            output: None,
            expiry_warn: DEFAULT_EXPIRY_WARN_DAYS,
            fail_on: FailOn::default(),
            color: ColorChoice::default(),
            verbose: 0,
        }
    }
}

impl Input {
    /// The first evidence flag given (`--transcript`, `--pcap`, `--keylog`): they record the
    /// connections of one probe, so `sweep` and `watch` refuse them rather than ignore them.
    pub fn evidence_flag(&self) -> Option<&'static str> {
        [
            (self.transcript.is_some(), "--transcript"),
            (self.pcap.is_some(), "--pcap"),
            (self.keylog.is_some(), "--keylog"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

/// Hand-written so that a logged `Input` never shows a password from a URI or conninfo string.
impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_deref().map(super::redact_connection_string);
        f.debug_struct("Input")
            .field("target", &redacted(&self.target))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("dbname", &redacted(&self.dbname))
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("connect_timeout", &self.connect_timeout)
            .field("env", &self.env)
            .field("libpq", &self.libpq)
            .field("json", &self.json)
            .field("format", &self.format)
            .field("output", &self.output)
            .field("expiry_warn", &self.expiry_warn)
            .field("fail_on", &self.fail_on)
            .field("quiet_server", &self.quiet_server)
            .field("direct_tls", &self.direct_tls)
            .field("gssenc", &self.gssenc)
            .field("tls_versions", &self.tls_versions)
            .field("transcript", &self.transcript)
            .field("transcript_format", &self.transcript_format)
            .field("pcap", &self.pcap)
            .field("keylog", &self.keylog)
            .field("show_secrets", &self.show_secrets)
            .field("color", &self.color)
            .field("verbose", &self.verbose)
            .field("login", &self.login)
            .field("password_prompt", &self.password_prompt)
            .field("allow_cleartext", &self.allow_cleartext)
            .finish()
    }
}

vocabulary! {
    /// Which application configuration source is read in addition to libpq's `PG*` variables.
    #[derive(Default)]
    pub enum EnvMode {
        /// DATABASE_URL (Rails, Heroku, dj-database-url, most twelve-factor apps).
        #[default]
        Libpq = "libpq",
        /// Django-style DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE,
        /// DB_SSLROOTCERT.
        Django = "django",
    }
}

vocabulary! {
    /// The report's format.
    #[derive(Default)]
    pub enum Format {
        /// Aligned text for a terminal.
        #[default]
        Text = "text",
        /// One JSON document (schema in the README).
        Json = "json",
        /// A markdown report to paste into a ticket.
        Markdown = "markdown",
        /// Metrics for node_exporter's textfile collector (`pgreach sweep` only).
        Prometheus = "prometheus",
        /// One self-contained HTML page with a phase waterfall (single probe only).
        Html = "html",
    }
}

vocabulary! {
    /// The least severe finding that fails the run.
    #[derive(Default)]
    pub enum FailOn {
        /// Exit 1 only for error findings.
        #[default]
        Error = "error",
        /// Exit 1 for warnings too.
        Warning = "warning",
    }
}

vocabulary! {
    /// When the text report uses color.
    #[derive(Default)]
    pub enum ColorChoice {
        /// Color when stdout is a terminal (and NO_COLOR is not set).
        #[default]
        Auto = "auto",
        Always = "always",
        Never = "never",
    }
}

vocabulary! {
    /// How `--transcript` is written.
    #[derive(Default)]
    pub enum TranscriptFormat {
        /// A hex dump with a decoded label per chunk, for a person.
        #[default]
        Text = "text",
        /// One JSON document (format `pgreach-transcript`, version 1), for tools and replay.
        Json = "json",
    }
}

/// Where evidence goes; validated from the flags and `SSLKEYLOGFILE`.
#[derive(Clone, Debug, Default)]
pub struct EvidenceConfig {
    /// `-` is stdout.
    pub transcript: Option<PathBuf>,
    pub transcript_format: TranscriptFormat,
    pub pcap: Option<PathBuf>,
    /// `--keylog`, else `SSLKEYLOGFILE`.
    pub keylog: Option<PathBuf>,
    /// Keep password and SASL bodies in the transcript and pcap.
    pub show_secrets: bool,
}

impl EvidenceConfig {
    /// `--keylog` wins over `SSLKEYLOGFILE`; an empty variable counts as unset.
    pub fn from_input(input: &Input, env: &dyn Fn(&str) -> Option<String>) -> EvidenceConfig {
        let keylog = input.keylog.clone().or_else(|| {
            env("SSLKEYLOGFILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        EvidenceConfig {
            transcript: input.transcript.clone(),
            transcript_format: input.transcript_format,
            pcap: input.pcap.clone(),
            keylog,
            show_secrets: input.show_secrets,
        }
    }

    /// Whether the connections' bytes are recorded: only for a transcript or a pcap.
    pub fn records(&self) -> bool {
        self.transcript.is_some() || self.pcap.is_some()
    }
}

/// The `--login` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// `--login`: authenticate and run the read-only queries.
    pub enabled: bool,
    /// `-W`: prompt for the password (no echo) before connecting, as psql's `-W`.
    pub prompt: bool,
    /// `--allow-cleartext`: answer a cleartext-password request over plaintext.
    pub allow_cleartext: bool,
    /// `--show-secrets`: show the cancel key in the report.
    pub show_secrets: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(input: Input, keylog_env: Option<&str>) -> EvidenceConfig {
        let env = |k: &str| {
            (k == "SSLKEYLOGFILE")
                .then(|| keylog_env.map(str::to_owned))
                .flatten()
        };
        EvidenceConfig::from_input(&input, &env)
    }

    #[test]
    fn recording_is_on_only_for_a_transcript_or_pcap() {
        assert!(!evidence(Input::default(), None).records());
        let keylog = Input {
            keylog: Some("k".into()),
            ..Input::default()
        };
        assert!(!evidence(keylog, None).records());
        let pcap = Input {
            pcap: Some("p".into()),
            ..Input::default()
        };
        assert!(evidence(pcap, None).records());
        let transcript = Input {
            transcript: Some("-".into()),
            ..Input::default()
        };
        assert!(evidence(transcript, None).records());
    }

    #[test]
    fn keylog_flag_wins_over_sslkeylogfile_and_empty_is_unset() {
        let flag = Input {
            keylog: Some("flag".into()),
            ..Input::default()
        };
        assert_eq!(
            evidence(flag, Some("env")).keylog,
            Some(PathBuf::from("flag"))
        );
        assert_eq!(
            evidence(Input::default(), Some("env")).keylog,
            Some(PathBuf::from("env"))
        );
        assert_eq!(evidence(Input::default(), Some("")).keylog, None);
    }

    #[test]
    fn every_choice_has_a_distinct_word() {
        fn distinct(words: impl Iterator<Item = &'static str>) {
            let mut words: Vec<_> = words.collect();
            let len = words.len();
            words.sort_unstable();
            words.dedup();
            assert_eq!(words.len(), len);
        }
        distinct(EnvMode::ALL.iter().map(|v| v.as_str()));
        distinct(Format::ALL.iter().map(|v| v.as_str()));
        distinct(FailOn::ALL.iter().map(|v| v.as_str()));
        distinct(ColorChoice::ALL.iter().map(|v| v.as_str()));
        distinct(TranscriptFormat::ALL.iter().map(|v| v.as_str()));
    }
}
