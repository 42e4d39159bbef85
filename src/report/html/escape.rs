//! Text into HTML: everything from the server, the target or the settings passes through
//! [`esc`] before it reaches the page, so a `<script>` in an ErrorResponse shows as text.

use std::fmt::Write as _;

/// Escapes text for an element's content or a quoted attribute value. Characters that HTML
/// forbids in a document even when escaped (NUL, other control characters, noncharacters) —
/// a hostile server can put them in any string — become U+FFFD, so the page stays valid.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if forbidden(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Control characters and noncharacters: parse errors in an HTML document (WHATWG "control
/// character in input stream", "noncharacter in input stream").
fn forbidden(c: char) -> bool {
    let n = u32::from(c);
    c.is_control() || (0xFDD0..=0xFDEF).contains(&n) || (n & 0xFFFE) == 0xFFFE
}

/// Milliseconds as a person reads them: `0.42 ms`, `12.3 ms`, `2.00 s`.
pub fn duration(ms: f64) -> String {
    let mut s = String::new();
    let _ = if ms >= 1000.0 {
        write!(s, "{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        write!(s, "{ms:.1} ms")
    } else {
        write!(s, "{ms:.2} ms")
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_and_quotes_become_entities() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn characters_html_forbids_are_replaced() {
        assert_eq!(
            esc("a\0b\x1bc\u{FDD0}d\u{FFFF}e\n"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\n"
        );
        assert_eq!(esc("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn durations_keep_three_significant_digits() {
        assert_eq!(duration(0.4213), "0.42 ms");
        assert_eq!(duration(12.34), "12.3 ms");
        assert_eq!(duration(2003.0), "2.00 s");
    }
}
