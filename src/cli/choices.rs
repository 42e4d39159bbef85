//! clap's view of config's closed sets of choices: the word each value is typed as (the same
//! word the reports use) and its help line.

use clap::ValueEnum;
use clap::builder::PossibleValue;

use crate::config::{ColorChoice, EnvMode, FailOn, Format, LibpqVersion, TranscriptFormat};

/// Implements `ValueEnum` from a vocabulary's `ALL` and words, with one help line per value.
macro_rules! value_enum {
    ($ty:ty, |$v:ident| $help:expr) => {
        impl ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                <$ty>::ALL
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                let $v = *self;
                let help: &'static str = $help;
                Some(PossibleValue::new($v.as_str()).help(help))
            }
        }
    };
}

value_enum!(EnvMode, |v| match v {
    EnvMode::Libpq => "DATABASE_URL (Rails, Heroku, dj-database-url, most twelve-factor apps)",
    EnvMode::Django =>
        "Django-style DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE, DB_SSLROOTCERT",
});

value_enum!(Format, |v| match v {
    Format::Text => "Aligned text for a terminal",
    Format::Json => "One JSON document (schema in the README)",
    Format::Markdown => "A markdown report to paste into a ticket",
    Format::Prometheus => "Metrics for node_exporter's textfile collector (`pgreach sweep` only)",
    Format::Html => "One self-contained HTML page with a phase waterfall (single probe only)",
});

value_enum!(FailOn, |v| match v {
    FailOn::Error => "Exit 1 only for error findings",
    FailOn::Warning => "Exit 1 for warnings too",
});

value_enum!(ColorChoice, |v| match v {
    ColorChoice::Auto => "Color when stdout is a terminal",
    ColorChoice::Always => "Always color",
    ColorChoice::Never => "Never color",
});

value_enum!(TranscriptFormat, |v| match v {
    TranscriptFormat::Text => "A hex dump with a decoded label per chunk, for a person",
    TranscriptFormat::Json =>
        "One JSON document (format `pgreach-transcript`, version 1), for tools and replay",
});

value_enum!(LibpqVersion, |v| match v {
    LibpqVersion::V15 =>
        "libpq 15: no sslnegotiation, require_auth, sslcertmode, load_balance_hosts; sslrootcert=system is a file name",
    LibpqVersion::V16 =>
        "libpq 16: adds require_auth, sslcertmode, load_balance_hosts, sslrootcert=system",
    LibpqVersion::V17 => "libpq 17: adds sslnegotiation=direct",
    LibpqVersion::V18 => "libpq 18 (default): adds min/max_protocol_version, OAuth, sslkeylogfile",
});
