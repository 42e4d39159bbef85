//! Which libpq's behaviour is predicted (`--libpq`), the keywords each version knows, and the
//! settings that version refuses before it connects anywhere, in its own words.
//!
//! Every message here was read from the real libraries (Debian's libpq 15, and the libpq 16, 17
//! and 18 of the official builds the tests install) with tests/support/libpq_judge.c; the tests
//! in tests/libpq_versions.rs hold them to it.

use super::Source;
use super::auth_policy::RequireAuth;
use super::keywords::{self, KEYWORDS};
use super::layers::{Layers, Raw};
use crate::vocabulary::vocabulary;

vocabulary! {
    /// A libpq major version whose connection behaviour pgreach models.
    #[derive(Default, PartialOrd, Ord)]
    pub enum LibpqVersion {
        V15 = "15",
        V16 = "16",
        V17 = "17",
        #[default]
        V18 = "18",
    }
}

impl LibpqVersion {
    /// The first version that accepts `keyword` in a connection string (15 for everything
    /// older): read from `PQconninfoParse`'s option list of each version.
    pub(crate) fn introducing(keyword: &str) -> LibpqVersion {
        match keyword {
            "gssdelegation" | "load_balance_hosts" | "require_auth" | "sslcertmode" => {
                LibpqVersion::V16
            }
            "sslnegotiation" => LibpqVersion::V17,
            "max_protocol_version"
            | "min_protocol_version"
            | "oauth_client_id"
            | "oauth_client_secret"
            | "oauth_issuer"
            | "oauth_scope"
            | "scram_client_key"
            | "scram_server_key"
            | "sslkeylogfile" => LibpqVersion::V18,
            _ => LibpqVersion::V15,
        }
    }

    /// Whether this version knows `keyword`.
    pub fn knows(self, keyword: &str) -> bool {
        LibpqVersion::introducing(keyword) <= self
    }

    /// libpq 16 and later read `sslrootcert=system` as the platform's trust store (libpq 15
    /// looks for a file called `system`).
    pub fn has_system_roots(self) -> bool {
        self >= LibpqVersion::V16
    }
}

vocabulary! {
    /// How libpq starts TLS (libpq 17+ `sslnegotiation`).
    #[derive(Default)]
    pub enum SslNegotiation {
        /// SSLRequest first, then the handshake (every version).
        #[default]
        Postgres = "postgres",
        /// A ClientHello straight after connect (libpq 17+).
        Direct = "direct",
    }
}

vocabulary! {
    /// libpq 16+ `load_balance_hosts`.
    #[derive(Default)]
    pub enum LoadBalanceHosts {
        /// Hosts in the order given, addresses in getaddrinfo's order.
        #[default]
        Disable = "disable",
        /// Hosts shuffled, and each host's addresses shuffled.
        Random = "random",
    }
}

vocabulary! {
    /// libpq 16+ `sslcertmode`: whether a client certificate is sent, or required to be asked for.
    #[derive(Default)]
    pub enum SslCertMode {
        /// No client certificate is sent, even when one is configured.
        Disable = "disable",
        /// Sent when the server asks and one is configured (libpq's default).
        #[default]
        Allow = "allow",
        /// As allow, and the connection fails unless the server asked for one.
        Require = "require",
    }
}

vocabulary! {
    /// A protocol version libpq 18 can ask for (`min_protocol_version`, `max_protocol_version`).
    #[derive(Default, PartialOrd, Ord)]
    pub enum ProtocolVersion {
        /// What every libpq asks for by default, libpq 18 included.
        #[default]
        V3_0 = "3.0",
        V3_2 = "3.2",
    }
}

impl ProtocolVersion {
    /// libpq's words: `latest` is 3.2 in libpq 18.
    pub(crate) fn from_libpq(value: &str) -> Option<ProtocolVersion> {
        match value {
            "latest" => Some(ProtocolVersion::V3_2),
            other => ProtocolVersion::from_word(other),
        }
    }

    pub fn minor(self) -> u16 {
        match self {
            ProtocolVersion::V3_0 => 0,
            ProtocolVersion::V3_2 => 2,
        }
    }
}

/// Which of the TLS versions pgreach speaks (1.2 and 1.3) `ssl_min_protocol_version` and
/// `ssl_max_protocol_version` allow; libpq's minimum defaults to TLSv1.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsRange {
    pub tls12: bool,
    pub tls13: bool,
}

impl TlsRange {
    pub(crate) fn of(layers: &Layers, version: LibpqVersion) -> TlsRange {
        // A value libpq refuses stops the run anyway; the probe then uses libpq's defaults.
        let (min, max) = tls_bounds(layers, version).unwrap_or((TLS12, 0));
        let max = if max == 0 { u8::MAX } else { max };
        TlsRange {
            tls12: min <= TLS12 && TLS12 <= max,
            tls13: min <= TLS13 && TLS13 <= max,
        }
    }
}

impl Default for TlsRange {
    fn default() -> TlsRange {
        TlsRange {
            tls12: true,
            tls13: true,
        }
    }
}

/// A setting the chosen libpq refuses before it connects anywhere: the application cannot
/// connect at all, whatever the network does.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RefusedSetting {
    /// The keyword at fault (the first of the pair for an inverted range).
    pub keyword: &'static str,
    /// libpq's own error message, without the trailing newline.
    pub message: String,
    /// Where the setting came from, as in the settings table.
    pub origin: String,
}

/// Whether libpq reads this value as part of a connection string. A `PG*` variable for a
/// keyword the version does not know is simply never read, so it cannot be refused either.
fn from_connection_string(keyword: &str, raw: &Raw) -> bool {
    let env_var = keywords::lookup(keyword).and_then(|k| k.env);
    !(raw.source == Source::Env && env_var == Some(raw.origin.as_str()))
}

/// The value `keyword` has as `version` reads it: `None` when unset, or when it came from an
/// environment variable that version does not read.
pub(crate) fn effective<'a>(
    layers: &'a Layers,
    version: LibpqVersion,
    keyword: &str,
) -> Option<&'a Raw> {
    layers
        .get(keyword)
        .filter(|raw| version.knows(keyword) || from_connection_string(keyword, raw))
}

/// The value of `keyword` that `version` acts on: `None` when unset or when that version does
/// not know the keyword at all (which, from a connection string, is a refusal of its own).
pub(crate) fn acted_on<'a>(
    layers: &'a Layers,
    version: LibpqVersion,
    keyword: &str,
) -> Option<&'a Raw> {
    layers.get(keyword).filter(|_| version.knows(keyword))
}

/// Every refusal, in libpq's order of checks: unknown keywords (the parser), then the option
/// values (`pqConnectOptions2`).
pub(crate) fn refusals(layers: &Layers, version: LibpqVersion) -> Vec<RefusedSetting> {
    let mut out = Vec::new();
    let refuse =
        |out: &mut Vec<RefusedSetting>, keyword: &'static str, message: String, raw: &Raw| {
            out.push(RefusedSetting {
                keyword,
                message,
                origin: raw.origin.clone(),
            })
        };
    for keyword in KEYWORDS {
        let Some(raw) = layers.get(keyword.name) else {
            continue;
        };
        if !version.knows(keyword.name) && from_connection_string(keyword.name, raw) {
            let message = format!("invalid connection option \"{}\"", keyword.name);
            refuse(&mut out, keyword.name, message, raw);
        }
    }
    if !out.is_empty() {
        // The parser stops there: libpq never looks at the values.
        return out;
    }
    for check in CHOICES {
        let Some(raw) = effective(layers, version, check.keyword) else {
            continue;
        };
        if !(check.valid)(&raw.value, version) {
            let message = value_message(check.keyword, &raw.value, version);
            refuse(&mut out, check.keyword, message, raw);
        }
    }
    if let Some(raw) = effective(layers, version, "require_auth")
        && let Err(message) = RequireAuth::parse(&raw.value, version >= LibpqVersion::V18)
    {
        refuse(&mut out, "require_auth", message, raw);
    }
    if let Some(message) = protocol_range(layers, version) {
        let keyword = match layers.get("ssl_min_protocol_version") {
            Some(_) => "ssl_min_protocol_version",
            None => "ssl_max_protocol_version",
        };
        let raw = layers.get(keyword).expect("one of the range was given");
        refuse(&mut out, keyword, message, raw);
    }
    if let Some(message) = protocol_versions(layers, version) {
        let raw = layers.get("min_protocol_version").expect("checked");
        refuse(&mut out, "min_protocol_version", message, raw);
    }
    if let Some(raw) = effective(layers, version, "connect_timeout")
        .filter(|raw| raw.origin != "--connect-timeout" && !is_integer(&raw.value))
    {
        // pgreach's own --connect-timeout takes decimals; libpq's keyword does not.
        let message = format!(
            "invalid integer value \"{}\" for connection option \"connect_timeout\"",
            raw.value
        );
        refuse(&mut out, "connect_timeout", message, raw);
    }
    out
}

/// One keyword with a closed set of values.
struct Choice {
    keyword: &'static str,
    valid: fn(&str, LibpqVersion) -> bool,
}

const CHOICES: &[Choice] = &[
    Choice {
        keyword: "channel_binding",
        valid: |v, _| matches!(v, "disable" | "prefer" | "require"),
    },
    Choice {
        keyword: "sslmode",
        valid: |v, _| super::SslMode::from_word(v).is_some(),
    },
    Choice {
        keyword: "sslnegotiation",
        valid: |v, _| SslNegotiation::from_word(v).is_some(),
    },
    Choice {
        keyword: "sslcertmode",
        valid: |v, _| matches!(v, "disable" | "allow" | "require"),
    },
    Choice {
        keyword: "gssencmode",
        valid: |v, _| matches!(v, "disable" | "prefer" | "require"),
    },
    Choice {
        keyword: "ssl_min_protocol_version",
        valid: |v, _| tls_version_rank(v).is_some(),
    },
    Choice {
        keyword: "ssl_max_protocol_version",
        valid: |v, _| tls_version_rank(v).is_some(),
    },
    Choice {
        keyword: "target_session_attrs",
        valid: |v, _| {
            matches!(
                v,
                "any" | "read-write" | "read-only" | "primary" | "standby" | "prefer-standby"
            )
        },
    },
    Choice {
        keyword: "load_balance_hosts",
        valid: |v, _| matches!(v, "disable" | "random"),
    },
    Choice {
        keyword: "min_protocol_version",
        valid: |v, _| ProtocolVersion::from_libpq(v).is_some(),
    },
    Choice {
        keyword: "max_protocol_version",
        valid: |v, _| ProtocolVersion::from_libpq(v).is_some(),
    },
];

/// libpq's message for a value outside its set. libpq 17 started quoting the TLS range
/// keywords.
fn value_message(keyword: &str, value: &str, version: LibpqVersion) -> String {
    let quoted = keyword.starts_with("ssl_") && keyword.ends_with("_protocol_version");
    if quoted && version >= LibpqVersion::V17 {
        format!("invalid \"{keyword}\" value: \"{value}\"")
    } else {
        format!("invalid {keyword} value: \"{value}\"")
    }
}

/// The order of libpq's TLS protocol names (compared without regard to case, as libpq does);
/// the empty string means "no bound".
fn tls_version_rank(v: &str) -> Option<u8> {
    ["", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"]
        .iter()
        .position(|name| v.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

const TLS12: u8 = 3;
const TLS13: u8 = 4;

/// libpq's TLS bounds as ranks: the minimum defaults to TLSv1.2, an empty value (rank 0) is
/// no bound. `None` when a value is one libpq refuses (a refusal of its own).
fn tls_bounds(layers: &Layers, version: LibpqVersion) -> Option<(u8, u8)> {
    let rank = |keyword, default| match effective(layers, version, keyword) {
        Some(raw) => tls_version_rank(&raw.value),
        None => Some(default),
    };
    Some((
        rank("ssl_min_protocol_version", TLS12)?,
        rank("ssl_max_protocol_version", 0)?,
    ))
}

/// `sslVerifyProtocolRange`: a minimum above the maximum. Since the minimum defaults to
/// TLSv1.2, `ssl_max_protocol_version=TLSv1.1` alone is already an inverted range.
fn protocol_range(layers: &Layers, version: LibpqVersion) -> Option<String> {
    let (min, max) = tls_bounds(layers, version)?;
    (min > 0 && max > 0 && min > max).then(|| "invalid SSL protocol version range".to_string())
}

/// libpq 18: a minimum protocol above the maximum.
fn protocol_versions(layers: &Layers, version: LibpqVersion) -> Option<String> {
    let get =
        |k| effective(layers, version, k).and_then(|raw| ProtocolVersion::from_libpq(&raw.value));
    let (min, max) = (get("min_protocol_version")?, get("max_protocol_version")?);
    (min > max)
        .then(|| "\"min_protocol_version\" is greater than \"max_protocol_version\"".to_string())
}

/// `parse_int_param`: what strtol reads (leading blanks, a sign, digits), then only blanks.
pub(crate) fn is_integer(value: &str) -> bool {
    let body = value.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let body = body.strip_prefix(['+', '-']).unwrap_or(body);
    let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0
        && body[digits..]
            .trim_end_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
            .is_empty()
        && value.trim().parse::<i64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As a conninfo string gives them: empty values kept.
    fn layers(pairs: &[(&'static str, &str)]) -> Layers {
        let mut layers = Layers::default();
        let pairs = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        layers.apply(pairs, Source::Argument, "conninfo");
        layers
    }

    fn messages(pairs: &[(&'static str, &str)], version: LibpqVersion) -> Vec<String> {
        refusals(&layers(pairs), version)
            .into_iter()
            .map(|r| r.message)
            .collect()
    }

    #[test]
    fn keywords_newer_than_the_version_are_invalid_options() {
        let direct = [("sslnegotiation", "direct"), ("sslmode", "require")];
        assert_eq!(
            messages(&direct, LibpqVersion::V16),
            ["invalid connection option \"sslnegotiation\""]
        );
        assert!(messages(&direct, LibpqVersion::V17).is_empty());
        assert_eq!(
            messages(&[("require_auth", "md5")], LibpqVersion::V15),
            ["invalid connection option \"require_auth\""]
        );
    }

    #[test]
    fn a_variable_the_version_does_not_read_is_ignored_not_refused() {
        let mut l = Layers::default();
        l.set("sslnegotiation", "direct", Source::Env, "PGSSLNEGOTIATION");
        assert!(refusals(&l, LibpqVersion::V16).is_empty());
        assert!(effective(&l, LibpqVersion::V16, "sslnegotiation").is_none());
        assert!(effective(&l, LibpqVersion::V17, "sslnegotiation").is_some());
    }

    #[test]
    fn values_are_checked_with_libpqs_words() {
        let v18 = LibpqVersion::V18;
        assert_eq!(
            messages(&[("target_session_attrs", "foo")], v18),
            ["invalid target_session_attrs value: \"foo\""]
        );
        assert_eq!(
            messages(
                &[("ssl_min_protocol_version", "TLSv1.4")],
                LibpqVersion::V16
            ),
            ["invalid ssl_min_protocol_version value: \"TLSv1.4\""]
        );
        assert_eq!(
            messages(&[("ssl_min_protocol_version", "TLSv1.4")], v18),
            ["invalid \"ssl_min_protocol_version\" value: \"TLSv1.4\""]
        );
        let inverted = [
            ("ssl_min_protocol_version", "tlsv1.3"),
            ("ssl_max_protocol_version", "TLSv1.2"),
        ];
        assert_eq!(
            messages(&inverted, v18),
            ["invalid SSL protocol version range"]
        );
        assert_eq!(
            messages(&[("connect_timeout", "2.5")], v18),
            ["invalid integer value \"2.5\" for connection option \"connect_timeout\""]
        );
        for ok in [" 10", "-1", "+5 ", "0"] {
            assert!(messages(&[("connect_timeout", ok)], v18).is_empty(), "{ok}");
        }
        assert!(messages(&[("sslcertmode", "require"), ("gssencmode", "prefer")], v18).is_empty());
    }

    #[test]
    fn tls_and_protocol_ranges_like_libpq() {
        let v18 = LibpqVersion::V18;
        // The minimum defaults to TLSv1.2: a maximum below it is inverted on its own.
        assert_eq!(
            messages(&[("ssl_max_protocol_version", "TLSv1.1")], v18),
            ["invalid SSL protocol version range"]
        );
        assert!(messages(&[("ssl_max_protocol_version", "TLSv1.2")], v18).is_empty());
        assert!(
            messages(
                &[
                    ("ssl_min_protocol_version", ""),
                    ("ssl_max_protocol_version", "TLSv1.1")
                ],
                v18
            )
            .is_empty()
        );
        assert_eq!(
            messages(
                &[
                    ("min_protocol_version", "3.2"),
                    ("max_protocol_version", "3.0")
                ],
                v18
            ),
            ["\"min_protocol_version\" is greater than \"max_protocol_version\""]
        );
        assert!(
            messages(
                &[
                    ("min_protocol_version", "3.2"),
                    ("max_protocol_version", "latest")
                ],
                v18
            )
            .is_empty()
        );
        let range = |pairs| TlsRange::of(&layers(pairs), v18);
        assert_eq!(
            range(&[]),
            TlsRange {
                tls12: true,
                tls13: true
            }
        );
        assert_eq!(
            range(&[("ssl_min_protocol_version", "TLSv1.3")]),
            TlsRange {
                tls12: false,
                tls13: true
            }
        );
        assert_eq!(
            range(&[("ssl_max_protocol_version", "tlsv1.2")]),
            TlsRange {
                tls12: true,
                tls13: false
            }
        );
    }

    #[test]
    fn pgreachs_own_timeout_flag_takes_decimals() {
        let mut l = Layers::default();
        l.set("connect_timeout", "2.5", Source::Flag, "--connect-timeout");
        assert!(refusals(&l, LibpqVersion::V18).is_empty());
    }

    #[test]
    fn versions_order_and_know_their_keywords() {
        assert!(LibpqVersion::V15 < LibpqVersion::V18);
        assert_eq!(LibpqVersion::default(), LibpqVersion::V18);
        assert!(!LibpqVersion::V15.knows("sslcertmode"));
        assert!(LibpqVersion::V16.knows("sslcertmode"));
        assert!(LibpqVersion::V15.knows("sslsni"));
        assert!(!LibpqVersion::V15.has_system_roots());
    }
}
