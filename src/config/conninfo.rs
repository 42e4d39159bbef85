//! Parses libpq conninfo strings (`host=db port = 5433 password='it\'s'`) into keyword/value
//! pairs, as libpq's `conninfo_parse` does, and redacts their secrets for logging.

use super::ConfigError;
use super::keywords;
use super::pairs::{Pairs, from_suffix, keyword_value};
use super::uri;

/// Parses a conninfo string like libpq's `conninfo_parse`.
pub(super) fn parse(s: &str, from: Option<&str>) -> Result<Pairs, ConfigError> {
    let entries = tokenize(s).map_err(|reason| {
        ConfigError::new(format!(
            "cannot parse conninfo{}: {reason}",
            from_suffix(from)
        ))
    })?;
    let mut pairs = Pairs::new();
    for (key, value) in entries {
        let pair = keyword_value(&key, value).ok_or_else(|| {
            ConfigError::new(format!(
                "invalid connection option \"{}\" in conninfo{}",
                uri::redact(&key),
                from_suffix(from)
            ))
        })?;
        // An empty value is kept: in libpq `port=` means "the default", not "see PGPORT".
        pairs.push(pair);
    }
    Ok(pairs)
}

/// Splits a conninfo string into raw (key, value) entries, unquoting and unescaping values.
fn tokenize(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut chars = s.chars().peekable();
    let mut entries = Vec::new();
    loop {
        skip_spaces(&mut chars);
        if chars.peek().is_none() {
            return Ok(entries);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !is_space(c)) {
            key.push(c);
        }
        skip_spaces(&mut chars);
        if chars.next() != Some('=') {
            return Err(format!("missing \"=\" after \"{}\"", uri::redact(&key)));
        }
        skip_spaces(&mut chars);
        let value = if chars.next_if_eq(&'\'').is_some() {
            quoted_value(&mut chars)?
        } else {
            unquoted_value(&mut chars)
        };
        entries.push((key, value));
    }
}

/// C's `isspace` in the C locale, which libpq's `conninfo_parse` uses: unlike
/// `is_ascii_whitespace` it includes the vertical tab.
pub(super) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

fn skip_spaces(chars: &mut Chars<'_>) {
    while chars.next_if(|&c| is_space(c)).is_some() {}
}

/// Up to the next whitespace; a backslash takes the next character literally.
fn unquoted_value(chars: &mut Chars<'_>) -> String {
    let mut value = String::new();
    while let Some(c) = chars.next_if(|&c| !is_space(c)) {
        if c == '\\' {
            value.extend(chars.next());
        } else {
            value.push(c);
        }
    }
    value
}

/// Up to the closing quote (the opening one is consumed); `\'` and `\\` are escapes.
fn quoted_value(chars: &mut Chars<'_>) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match chars.next() {
            None => return Err("unterminated quoted string".into()),
            Some('\'') => return Ok(value),
            Some('\\') => value.extend(chars.next()),
            Some(c) => value.push(c),
        }
    }
}

/// A conninfo string with secret values replaced by `***`; if it cannot be parsed, none of it
/// is shown, since where a value ends is then unknown.
pub(super) fn redact(s: &str) -> String {
    match tokenize(s) {
        Ok(entries) if entries.iter().any(|(key, _)| keywords::is_secret(key)) => entries
            .iter()
            .map(|(key, value)| match keywords::is_secret(key) {
                true => format!("{key}=***"),
                false => format!("{key}={}", quote(value)),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Ok(_) => s.to_string(),
        Err(_) => "(unparsable connection string, not shown)".to_string(),
    }
}

/// Quotes a value so that `tokenize` reads it back unchanged.
fn quote(value: &str) -> String {
    let plain = !value.is_empty() && !value.chars().any(|c| is_space(c) || c == '\'' || c == '\\');
    if plain {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected keyword/value pairs.
    type Expected = &'static [(&'static str, &'static str)];

    fn pairs(list: &[(&'static str, &str)]) -> Pairs {
        list.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    fn conninfo(s: &str) -> Pairs {
        parse(s, None).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn conninfo_err(s: &str) -> String {
        match parse(s, None) {
            Ok(pairs) => panic!("{s} parsed as {pairs:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn conninfo_quoting_and_escapes() {
        let cases: &[(&str, Expected)] = &[
            ("host=h", &[("host", "h")]),
            (
                "  host = h   port =5433 ",
                &[("host", "h"), ("port", "5433")],
            ),
            (
                "host='my host' password='it\\'s \\\\ ok'",
                &[("host", "my host"), ("password", "it's \\ ok")],
            ),
            (
                "password=a\\ b user=u",
                &[("password", "a b"), ("user", "u")],
            ),
            ("host='' port=5433", &[("host", ""), ("port", "5433")]),
            (
                "requiressl=1 host=h",
                &[("sslmode", "require"), ("host", "h")],
            ),
            ("requiressl=0", &[("sslmode", "prefer")]),
            ("dbname='a=b'", &[("dbname", "a=b")]),
            ("host=a,b port=1,2", &[("host", "a,b"), ("port", "1,2")]),
            (
                "host=h gssencmode=disable sslnegotiation=direct sslsni=0 options='-c x=1'",
                &[
                    ("host", "h"),
                    ("gssencmode", "disable"),
                    ("sslnegotiation", "direct"),
                    ("sslsni", "0"),
                    ("options", "-c x=1"),
                ],
            ),
            ("host=a host=b", &[("host", "a"), ("host", "b")]),
            ("host=a\x0bport=1", &[("host", "a"), ("port", "1")]),
        ];
        for (input, expected) in cases {
            assert_eq!(conninfo(input), pairs(expected), "{input}");
        }
    }

    #[test]
    fn conninfo_errors() {
        let cases = [
            (
                "host=h foo=bar",
                "invalid connection option \"foo\" in conninfo",
            ),
            (
                "host=h Host=x",
                "invalid connection option \"Host\" in conninfo",
            ),
            (
                "host=h password='unterminated",
                "unterminated quoted string",
            ),
            ("host=h port", "missing \"=\" after \"port\""),
            ("=x", "invalid connection option \"\""),
        ];
        for (input, needle) in cases {
            let err = conninfo_err(input);
            assert!(err.contains(needle), "{input}: {err}");
            assert!(!err.contains("unterminated'"), "{input}: {err}");
        }
        let err = parse("host=h bogus=1", Some("DATABASE_URL"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid connection option \"bogus\" in conninfo (from DATABASE_URL)"
        );
    }

    #[test]
    fn redaction_round_trips_other_values() {
        assert_eq!(
            redact("host=h password='p w' user='a b' options='-c x=\\'y\\''"),
            "host=h password=*** user='a b' options='-c x=\\'y\\''"
        );
        assert_eq!(redact("host=h  user=u"), "host=h  user=u");
        assert_eq!(redact("sslpassword=k host=h"), "sslpassword=*** host=h");
        assert!(!redact("password='oops").contains("oops"));
    }
}
