//! Turns the ways a PostgreSQL target is written — URI, conninfo string, host[:port], [v6]:port,
//! bare IPv6 address, Unix-socket path — into libpq keyword/value pairs, with libpq's rules.
//!
//! Nothing here validates values (ports, sslmodes): that happens once, in `build`, after all
//! sources are merged, so every error can name where the bad value came from. Values stay strings
//! with libpq's comma lists (`host=a,b port=5432,5433`) for the same reason.
//!
//! The URI and conninfo syntaxes live in `uri` and `conninfo`. Their errors never quote a
//! password: URIs are quoted with the password replaced by `***`, conninfo errors quote only the
//! offending keyword.

use std::path::Path;

use super::ConfigError;
use super::pairs::{Pairs, from_suffix};
use super::{conninfo, uri};

/// A parsed target, and how it was written (used as the origin of its settings).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub origin: &'static str,
    pub pairs: Pairs,
}

/// The file name of a PostgreSQL Unix socket, before the port number.
const SOCKET_FILE_PREFIX: &str = ".s.PGSQL.";

/// Whether libpq would treat `s` as a connection string rather than a plain value: it does so
/// for a URI prefix or any `=` (`recognized_connection_string`).
pub(crate) fn is_connection_string(s: &str) -> bool {
    uri::prefix_len(s).is_some() || s.contains('=')
}

/// Parses the positional TARGET or `DATABASE_URL`; `from` names the source in error messages
/// (`None` for the positional argument).
pub(crate) fn parse_target(s: &str, from: Option<&str>) -> Result<Parsed, ConfigError> {
    if let Some(scheme) = foreign_scheme(s) {
        return Err(ConfigError::new(format!(
            "unsupported URI scheme \"{scheme}\" in \"{}\"{}: expected postgres:// or postgresql://",
            uri::redact(s),
            from_suffix(from)
        )));
    }
    // A blank string is an empty conninfo to libpq: it sets nothing.
    if is_connection_string(s) || s.chars().all(conninfo::is_space) {
        parse_connection_string(s, from)
    } else if s.starts_with('/') {
        Ok(parse_socket_path(s))
    } else {
        parse_host_list(s, from)
    }
}

/// Parses a URI or a conninfo string (the caller checked `is_connection_string`).
pub(crate) fn parse_connection_string(s: &str, from: Option<&str>) -> Result<Parsed, ConfigError> {
    if uri::prefix_len(s).is_some() {
        Ok(Parsed {
            origin: "uri",
            pairs: uri::parse(s, from)?,
        })
    } else {
        Ok(Parsed {
            origin: "conninfo",
            pairs: conninfo::parse(s, from)?,
        })
    }
}

/// `mysql://…` and friends: caught early so they are not misread as a host or conninfo string
/// (whose error would quote the whole thing, password included).
fn foreign_scheme(s: &str) -> Option<&str> {
    if uri::prefix_len(s).is_some() {
        return None;
    }
    let (scheme, _) = s.split_once("://")?;
    let plausible = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    plausible.then_some(scheme)
}

// ---------------------------------------------------------------------------------------------
// Host forms: host, host:port, [v6]:port, bare IPv6, comma lists, socket paths
// ---------------------------------------------------------------------------------------------

/// `/dir` is a socket directory; `/dir/.s.PGSQL.5433` is the socket file itself, which names the
/// port too.
fn parse_socket_path(s: &str) -> Parsed {
    let trimmed = if s.len() > 1 {
        s.trim_end_matches('/')
    } else {
        s
    };
    let path = Path::new(trimmed);
    let socket_port = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix(SOCKET_FILE_PREFIX));
    let mut pairs = Pairs::new();
    match (socket_port, path.parent()) {
        (Some(port), Some(dir)) => {
            pairs.push(("host", dir.to_string_lossy().into_owned()));
            pairs.push(("port", port.to_string()));
        }
        _ => pairs.push(("host", trimmed.to_string())),
    }
    Parsed {
        origin: "socket path",
        pairs,
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, a bare IPv6 address, or a comma list of these.
fn parse_host_list(s: &str, from: Option<&str>) -> Result<Parsed, ConfigError> {
    // `user:password@host` without a scheme: refuse it without quoting what precedes the `@`.
    if let Some((_, host)) = s.rsplit_once('@') {
        return Err(ConfigError::new(format!(
            "invalid target \"…@{host}\"{}: to give a user or password write a URI, \
             postgres://user@host/dbname",
            from_suffix(from)
        )));
    }
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for item in s.split(',') {
        let (host, port) = parse_host_port(item).map_err(|reason| {
            ConfigError::new(format!(
                "invalid target \"{s}\"{}: {reason}",
                from_suffix(from)
            ))
        })?;
        hosts.push(host);
        ports.push(port.unwrap_or_default());
    }
    let mut pairs = vec![("host", hosts.join(","))];
    // Only set a port list if some host named a port, so PGPORT still fills in otherwise.
    if ports.iter().any(|p| !p.is_empty()) {
        pairs.push(("port", ports.join(",")));
    }
    pairs.retain(|(_, value)| !value.is_empty());
    Ok(Parsed {
        origin: "host:port",
        pairs,
    })
}

fn parse_host_port(item: &str) -> Result<(String, Option<String>), String> {
    if let Some(inner) = item.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("missing \"]\" in \"{item}\""))?;
        if addr.is_empty() {
            return Err("IPv6 address in brackets may not be empty".into());
        }
        return match after {
            "" => Ok((addr.to_string(), None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((addr.to_string(), Some(port.to_string()))),
                None => Err(format!("unexpected \"{after}\" after \"[{addr}]\"")),
            },
        };
    }
    match item.matches(':').count() {
        0 => Ok((item.to_string(), None)),
        1 => {
            let (host, port) = item.split_once(':').unwrap_or((item, ""));
            Ok((host.to_string(), Some(port.to_string())))
        }
        // Several colons can only be an IPv6 address, which then has no port (use [v6]:port).
        _ if is_ipv6_literal(item) => Ok((item.to_string(), None)),
        _ => Err(format!(
            "\"{item}\" is not an IPv6 address; write [address]:port to give a port"
        )),
    }
}

/// An IPv6 address, optionally with a `%zone` suffix (kept for getaddrinfo).
fn is_ipv6_literal(s: &str) -> bool {
    let addr = s.split_once('%').map_or(s, |(addr, _)| addr);
    addr.parse::<std::net::Ipv6Addr>().is_ok()
}

/// A connection string (URI, conninfo) or plain value, safe to log.
pub fn redact_connection_string(s: &str) -> String {
    if s.contains("://") || !s.contains('=') {
        uri::redact(s)
    } else {
        conninfo::redact(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected keyword/value pairs.
    type Expected = &'static [(&'static str, &'static str)];

    fn pairs(list: &[(&'static str, &str)]) -> Pairs {
        list.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    fn target(s: &str) -> Parsed {
        parse_target(s, None).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn target_err(s: &str) -> String {
        match parse_target(s, None) {
            Ok(p) => panic!("{s} parsed as {:?}", p.pairs),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn positional_host_forms() {
        let cases: &[(&str, &str, Expected)] = &[
            ("db.example.com", "host:port", &[("host", "db.example.com")]),
            (
                "db.example.com:5433",
                "host:port",
                &[("host", "db.example.com"), ("port", "5433")],
            ),
            (
                "10.0.0.5:6432",
                "host:port",
                &[("host", "10.0.0.5"), ("port", "6432")],
            ),
            (
                "[::1]:5433",
                "host:port",
                &[("host", "::1"), ("port", "5433")],
            ),
            ("[2001:db8::7]", "host:port", &[("host", "2001:db8::7")]),
            ("::1", "host:port", &[("host", "::1")]),
            ("fe80::1", "host:port", &[("host", "fe80::1")]),
            ("fe80::1%eth0", "host:port", &[("host", "fe80::1%eth0")]),
            (":5433", "host:port", &[("port", "5433")]),
            (
                "a:5432,b:5433",
                "host:port",
                &[("host", "a,b"), ("port", "5432,5433")],
            ),
            ("a,b", "host:port", &[("host", "a,b")]),
            (
                "a,[::1]:5433",
                "host:port",
                &[("host", "a,::1"), ("port", ",5433")],
            ),
            (
                "/var/run/postgresql",
                "socket path",
                &[("host", "/var/run/postgresql")],
            ),
            ("/tmp/", "socket path", &[("host", "/tmp")]),
            (
                "/var/run/postgresql/.s.PGSQL.5433",
                "socket path",
                &[("host", "/var/run/postgresql"), ("port", "5433")],
            ),
            (
                "/.s.PGSQL.5432",
                "socket path",
                &[("host", "/"), ("port", "5432")],
            ),
            ("postgres://h/db", "uri", &[("host", "h"), ("dbname", "db")]),
            (
                "host=h port=5433",
                "conninfo",
                &[("host", "h"), ("port", "5433")],
            ),
        ];
        for (input, origin, expected) in cases {
            let parsed = target(input);
            assert_eq!(parsed.origin, *origin, "{input}");
            assert_eq!(parsed.pairs, pairs(expected), "{input}");
        }
    }

    #[test]
    fn positional_errors_name_the_value() {
        let cases = [
            ("[::1:5432", "missing \"]\""),
            ("[::1]x", "unexpected \"x\" after \"[::1]\""),
            ("[]:5432", "may not be empty"),
            ("a:b:c", "\"a:b:c\" is not an IPv6 address"),
            ("mysql://u:pw@h/db", "unsupported URI scheme \"mysql\""),
            (
                "u:pw@db:5432",
                "invalid target \"…@db:5432\": to give a user or password",
            ),
        ];
        for (input, needle) in cases {
            let err = target_err(input);
            assert!(err.contains(needle), "{input}: {err}");
            assert!(!err.contains("pw@"), "{input}: {err}");
        }
    }

    #[test]
    fn redaction_of_any_connection_string() {
        let cases = [
            (
                "postgres://u:pw@h/db?sslpassword=x",
                "postgres://u:***@h/db?sslpassword=***",
            ),
            ("host=h password='p w'", "host=h password=***"),
            ("host=h user=u", "host=h user=u"),
            ("db.example:5432", "db.example:5432"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_connection_string(input), expected);
        }
    }
}
