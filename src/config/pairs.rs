//! Keyword/value pairs, the common result of the target parsers (`target`, `uri`, `conninfo`),
//! and the small helpers they share.

/// Keyword/value pairs in the order written; a later pair overrides an earlier one.
pub(crate) type Pairs = Vec<(&'static str, String)>;

/// " (from SOURCE)" for error messages, or nothing for the positional argument.
pub(super) fn from_suffix(from: Option<&str>) -> String {
    from.map(|f| format!(" (from {f})")).unwrap_or_default()
}

/// Adds a pair unless the value is empty: libpq treats an empty value as not given.
pub(super) fn push_nonempty(pairs: &mut Pairs, key: &'static str, value: String) {
    if !value.is_empty() {
        pairs.push((key, value));
    }
}

/// Byte index of the first of `stops` at or after `from`, or the end.
pub(super) fn find_any(s: &str, from: usize, stops: &[char]) -> usize {
    s[from..].find(stops).map_or(s.len(), |i| i + from)
}
