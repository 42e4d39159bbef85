//! Parses `postgres://` and `postgresql://` URIs into libpq keyword/value pairs, as libpq's
//! `conninfo_uri_parse_options` does, and redacts passwords from URIs quoted in messages.
//!
//! Form: `postgres[ql]://[user[:password]@][host][:port][,...][/dbname][?param=value&...]`,
//! percent-decoded everywhere, IPv6 hosts in brackets. Spaces follow libpq 18: around a part
//! they are dropped (`?sslmode = require`), inside one they are refused (libpq 15 kept both).

use super::ConfigError;
use super::keywords;
use super::pairs::{Pairs, find_any, from_suffix, keyword_value, push_nonempty};

/// libpq compares these case-sensitively (`uri_prefix_length` in fe-connect.c).
const PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

/// The length of the URI prefix, if `s` starts with one.
pub(super) fn prefix_len(s: &str) -> Option<usize> {
    PREFIXES
        .iter()
        .find(|prefix| s.starts_with(*prefix))
        .map(|prefix| prefix.len())
}

/// Parses a URI like libpq's `conninfo_uri_parse_options`, including its quirks: the user info
/// ends at the first `@`, and with several hosts the port list keeps one (possibly empty) entry
/// per host, so `postgres://a,b/` means port 5432 for both even if PGPORT is set.
pub(super) fn parse(s: &str, from: Option<&str>) -> Result<Pairs, ConfigError> {
    let fail = |reason: String| {
        ConfigError::new(format!(
            "cannot parse URI \"{}\"{}: {reason}",
            redact(s),
            from_suffix(from)
        ))
    };
    let prefix = prefix_len(s).ok_or_else(|| fail("not a postgres:// URI".into()))?;
    let rest = &s[prefix..];
    let mut pairs = Pairs::new();

    let mut pos = parse_userinfo(rest, &mut pairs).map_err(&fail)?;
    let (after_hosts, next) = parse_netlocs(rest, pos, &mut pairs).map_err(&fail)?;
    pos = after_hosts;

    let mut next = next;
    if next == Some('/') {
        let start = pos + 1;
        let end = find_any(rest, start, &['?']);
        // An empty dbname is not stored, so PGDATABASE still applies (as in libpq).
        push_nonempty(
            &mut pairs,
            "dbname",
            decode(&rest[start..end], "dbname").map_err(&fail)?,
        );
        pos = end;
        next = rest[pos..].chars().next();
    }
    if next == Some('?') {
        parse_query(&rest[pos + 1..], &mut pairs).map_err(&fail)?;
    }
    Ok(pairs)
}

/// Reads `user[:password]@` if present; returns where the host list starts.
fn parse_userinfo(rest: &str, pairs: &mut Pairs) -> Result<usize, String> {
    let end = find_any(rest, 0, &['@', '/']);
    if !rest[end..].starts_with('@') {
        return Ok(0);
    }
    let userinfo = &rest[..end];
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    push_nonempty(pairs, "user", decode(user, "user name")?);
    if let Some(password) = password {
        push_nonempty(pairs, "password", decode(password, "password")?);
    }
    Ok(end + 1)
}

/// Reads `host[:port][,host[:port]...]` from `pos`; returns the position after it and the
/// character that ended it (`/`, `?` or end of input).
fn parse_netlocs(
    rest: &str,
    mut pos: usize,
    pairs: &mut Pairs,
) -> Result<(usize, Option<char>), String> {
    let mut hosts = String::new();
    let mut ports = String::new();
    loop {
        let (host, after_host) = parse_one_host(rest, pos)?;
        pos = after_host;
        hosts.push_str(&decode(host, "host")?);
        let mut next = rest[pos..].chars().next();
        if next == Some(':') {
            let end = find_any(rest, pos + 1, &['/', '?', ',']);
            ports.push_str(&decode(&rest[pos + 1..end], "port")?);
            pos = end;
            next = rest[pos..].chars().next();
        }
        if next != Some(',') {
            push_nonempty(pairs, "host", hosts);
            push_nonempty(pairs, "port", ports);
            return Ok((pos, next));
        }
        pos += 1;
        hosts.push(',');
        ports.push(',');
    }
}

/// One host of the list: `[v6 address]` (brackets removed) or a name / IPv4 address.
fn parse_one_host(rest: &str, pos: usize) -> Result<(&str, usize), String> {
    if !rest[pos..].starts_with('[') {
        let end = find_any(rest, pos, &[':', '/', '?', ',']);
        return Ok((&rest[pos..end], end));
    }
    let start = pos + 1;
    let close = rest[start..]
        .find(']')
        .map(|i| i + start)
        .ok_or("missing \"]\" after IPv6 host address")?;
    if close == start {
        return Err("IPv6 host address may not be empty".into());
    }
    let after = close + 1;
    match rest[after..].chars().next() {
        None | Some(':' | '/' | '?' | ',') => Ok((&rest[start..close], after)),
        Some(c) => Err(format!(
            "unexpected character \"{c}\" after IPv6 host address (expected \":\" or \"/\")"
        )),
    }
}

/// Reads `key=value&...`. Unknown keys are errors, like libpq's "invalid URI query parameter".
fn parse_query(query: &str, pairs: &mut Pairs) -> Result<(), String> {
    let params: Vec<&str> = query.split('&').collect();
    for (i, param) in params.iter().enumerate() {
        // libpq tolerates a trailing '&' but not an empty parameter in the middle.
        if param.is_empty() && i + 1 == params.len() {
            continue;
        }
        let (raw_key, raw_value) = split_param(param)?;
        let key = decode(raw_key, "query parameter name")?;
        let value = decode(raw_value, &format!("value of {key}"))?;
        // JDBC's `ssl=true` is accepted by libpq as `sslmode=require`.
        if key == "ssl" && value == "true" {
            pairs.push(("sslmode", "require".into()));
            continue;
        }
        let pair = keyword_value(&key, value)
            .ok_or_else(|| format!("invalid URI query parameter \"{key}\""))?;
        // Stored even when empty, as libpq does: `?port=` means 5432, not "see PGPORT".
        pairs.push(pair);
    }
    Ok(())
}

fn split_param(param: &str) -> Result<(&str, &str), String> {
    let shown = |param: &str| match param.split_once('=') {
        Some((key, _)) if keywords::is_secret(key) => format!("{key}=***"),
        _ => param.to_string(),
    };
    let (key, value) = param.split_once('=').ok_or_else(|| {
        format!(
            "missing key/value separator \"=\" in URI query parameter \"{}\"",
            shown(param)
        )
    })?;
    if value.contains('=') {
        return Err(format!(
            "extra key/value separator \"=\" in URI query parameter \"{}\"",
            shown(param)
        ));
    }
    Ok((key, value))
}

/// Percent-decodes like libpq 18's `conninfo_uri_decode` (`+` stays `+`; `%00` is refused;
/// spaces around the part are dropped and a space inside it is refused, while `%20` is a
/// space). `what` names the part in the error, which never quotes the value: it may be a
/// password.
fn decode(s: &str, what: &str) -> Result<String, String> {
    let s = s.trim_matches(' ');
    if s.contains(' ') {
        return Err(format!(
            "unexpected spaces in {what}: use percent-encoded spaces (%20) instead"
        ));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        let byte = hex
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("invalid percent-encoded token in {what}"))?;
        if byte == 0 {
            return Err(format!("forbidden value %00 in {what}"));
        }
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out).map_err(|_| format!("percent-decoded {what} is not valid UTF-8"))
}

/// `s` with the password of `scheme://user:password@` and any secret `?key=value` replaced by
/// `***`. Deliberately broader than the parser (last `@` before the path), so a malformed URI is
/// still safe to quote.
pub(super) fn redact(s: &str) -> String {
    let Some(scheme_end) = s.find("://") else {
        return redact_query(s);
    };
    let start = scheme_end + 3;
    let rest = &s[start..];
    let authority = &rest[..find_any(rest, 0, &['/'])];
    let mut out = s[..start].to_string();
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    out.push_str(user);
                    out.push_str(":***");
                }
                None => out.push_str(userinfo),
            }
            out.push_str(&rest[at..]);
        }
        None => out.push_str(rest),
    }
    redact_query(&out)
}

fn redact_query(s: &str) -> String {
    let Some((head, query)) = s.split_once('?') else {
        return s.to_string();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if keywords::is_secret(key) => format!("{key}=***"),
            _ => param.to_string(),
        })
        .collect();
    format!("{head}?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected keyword/value pairs.
    type Expected = &'static [(&'static str, &'static str)];

    fn pairs(list: &[(&'static str, &str)]) -> Pairs {
        list.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    fn uri(s: &str) -> Pairs {
        parse(s, None).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn uri_err(s: &str) -> String {
        match parse(s, None) {
            Ok(pairs) => panic!("{s} parsed as {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn uri_forms() {
        let cases: &[(&str, Expected)] = &[
            ("postgres://", &[]),
            ("postgresql://localhost", &[("host", "localhost")]),
            (
                "postgres://u:p@h:5433/db",
                &[
                    ("user", "u"),
                    ("password", "p"),
                    ("host", "h"),
                    ("port", "5433"),
                    ("dbname", "db"),
                ],
            ),
            ("postgres://u@h", &[("user", "u"), ("host", "h")]),
            ("postgres://:p@h", &[("password", "p"), ("host", "h")]),
            (
                "postgres://[::1]:5433/db",
                &[("host", "::1"), ("port", "5433"), ("dbname", "db")],
            ),
            ("postgres://[2001:db8::1]", &[("host", "2001:db8::1")]),
            ("postgres://[fe80::1%25eth0]/", &[("host", "fe80::1%eth0")]),
            (
                "postgres://us%40er:p%3Aw%2Fd@h/my%20db",
                &[
                    ("user", "us@er"),
                    ("password", "p:w/d"),
                    ("host", "h"),
                    ("dbname", "my db"),
                ],
            ),
            (
                "postgres://h1:5432,h2:5433/db",
                &[("host", "h1,h2"), ("port", "5432,5433"), ("dbname", "db")],
            ),
            // libpq keeps one port entry per host, empty meaning 5432.
            (
                "postgres://h1,h2:5433",
                &[("host", "h1,h2"), ("port", ",5433")],
            ),
            ("postgres://h1,h2", &[("host", "h1,h2"), ("port", ",")]),
            (
                "postgres://%2Fvar%2Frun%2Fpostgresql/db",
                &[("host", "/var/run/postgresql"), ("dbname", "db")],
            ),
            (
                "postgres:///db?host=/var/run/postgresql&port=5433",
                &[
                    ("dbname", "db"),
                    ("host", "/var/run/postgresql"),
                    ("port", "5433"),
                ],
            ),
            (
                "postgres://h/?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
                &[
                    ("host", "h"),
                    ("sslmode", "verify-full"),
                    ("sslrootcert", "/etc/ca.pem"),
                    ("connect_timeout", "3"),
                ],
            ),
            (
                "postgres://h?application_name=my+app&hostaddr=10.0.0.1&target_session_attrs=read-write&",
                &[
                    ("host", "h"),
                    ("application_name", "my+app"),
                    ("hostaddr", "10.0.0.1"),
                    ("target_session_attrs", "read-write"),
                ],
            ),
            (
                "postgres://h?ssl=true",
                &[("host", "h"), ("sslmode", "require")],
            ),
            ("postgres://h/", &[("host", "h")]),
            (
                "postgres://h?port=&sslmode=",
                &[("host", "h"), ("port", ""), ("sslmode", "")],
            ),
            (
                "postgres:// h : 5433 /db?  sslmode = require & ssl = true ",
                &[
                    ("host", "h"),
                    ("port", "5433"),
                    ("dbname", "db"),
                    ("sslmode", "require"),
                    ("sslmode", "require"),
                ],
            ),
            (
                "postgres://h/my%20db",
                &[("host", "h"), ("dbname", "my db")],
            ),
            (
                "postgres://h?requiressl=1",
                &[("host", "h"), ("sslmode", "require")],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(uri(input), pairs(expected), "{input}");
        }
    }

    #[test]
    fn uri_errors_name_the_problem_and_hide_the_password() {
        let cases = [
            (
                "postgres://[::1:5432/db",
                "cannot parse URI \"postgres://[::1:5432/db\": missing \"]\"",
            ),
            (
                "postgres://u:secret@[::1:5432/db",
                "cannot parse URI \"postgres://u:***@[::1:5432/db\"",
            ),
            ("postgres://[]/db", "may not be empty"),
            ("postgres://[::1]x/db", "unexpected character \"x\""),
            (
                "postgres://h/db?foo=bar",
                "invalid URI query parameter \"foo\"",
            ),
            (
                "postgres://h/db?ssl=false",
                "invalid URI query parameter \"ssl\"",
            ),
            ("postgres://h/db?sslmode", "missing key/value separator"),
            (
                "postgres://h/db?sslmode=x&&host=h",
                "missing key/value separator",
            ),
            (
                "postgres://h/db?password=se=cret",
                "extra key/value separator \"=\" in URI query parameter \"password=***\"",
            ),
            (
                "postgres://u:sec%zzret@h/db",
                "invalid percent-encoded token in password",
            ),
            ("postgres://h/d%00b", "forbidden value %00 in dbname"),
            ("postgres://h/%ff", "not valid UTF-8"),
            ("postgres://h/my db", "unexpected spaces in dbname"),
            (
                "postgres://u:sec ret@h/db",
                "unexpected spaces in password: use percent-encoded spaces (%20)",
            ),
            (
                "postgres://h?ssl mode=require",
                "unexpected spaces in query",
            ),
        ];
        for (input, needle) in cases {
            let err = uri_err(input);
            assert!(err.contains(needle), "{input}: {err}");
            for secret in ["secret", "se=cret", "zzret", "cret"] {
                assert!(!err.contains(secret), "{input}: {err}");
            }
        }
    }

    #[test]
    fn redaction() {
        let cases = [
            ("postgres://u:pw@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            // Broader than the parser: everything up to the last '@' of the authority.
            ("postgres://u:p@w@h/db", "postgres://u:***@h/db"),
            (
                "postgres://h/db?password=pw&sslmode=require",
                "postgres://h/db?password=***&sslmode=require",
            ),
            ("mysql://u:pw@h/db", "mysql://u:***@h/db"),
            ("plain.host", "plain.host"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected);
        }
    }
}
