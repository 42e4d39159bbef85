//! Keyword/value pairs, the common result of the target parsers (`target`, `uri`, `conninfo`),
//! and the small helpers they share.

use super::keywords;

/// Keyword/value pairs in the order written; a later pair overrides an earlier one.
pub(crate) type Pairs = Vec<(&'static str, String)>;

/// " (from SOURCE)" for error messages, or nothing for the positional argument.
pub(super) fn from_suffix(from: Option<&str>) -> String {
    from.map(|f| format!(" (from {f})")).unwrap_or_default()
}

/// Adds a pair unless the value is empty: for the parts of a URI before the query (user,
/// password, host, port, dbname) libpq stores only non-empty values, so `postgres://h:/` leaves
/// the port to PGPORT. (Conninfo values and URI query values are stored even when empty.)
pub(super) fn push_nonempty(pairs: &mut Pairs, key: &'static str, value: String) {
    if !value.is_empty() {
        pairs.push((key, value));
    }
}

/// Byte index of the first of `stops` at or after `from`, or the end.
pub(super) fn find_any(s: &str, from: usize, stops: &[char]) -> usize {
    s[from..].find(stops).map_or(s.len(), |i| i + from)
}

/// The keyword a connection string's `key` sets, and the value, as libpq's `conninfo_storeval`:
/// the deprecated `requiressl` (still honoured by libpq 15 and 18) becomes sslmode, `require`
/// when the value starts with `1`, else `prefer`. `None` for an unknown keyword.
pub(super) fn keyword_value(key: &str, value: String) -> Option<(&'static str, String)> {
    if key == "requiressl" {
        let mode = if value.starts_with('1') {
            "require"
        } else {
            "prefer"
        };
        return Some(("sslmode", mode.to_string()));
    }
    keywords::lookup(key).map(|keyword| (keyword.name, value))
}
