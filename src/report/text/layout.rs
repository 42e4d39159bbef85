//! Layout for the text report: the colour switch, aligned phase lines, word wrap.

use std::io::{self, Write};

/// Width of the phase label column and of the outcome column; with two spaces of indent and a
/// 10-character timing column this fits 80 columns.
pub(super) const LABEL: usize = 15;
pub(super) const OUTCOME: usize = 51;

/// ANSI colour, on or off.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

#[derive(Clone, Copy)]
pub(super) enum Tone {
    Good,
    Bad,
    Warn,
    Dim,
}

impl Style {
    pub(super) fn paint(&self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Warn => "33",
            Tone::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// One aligned line: label, outcome (wrapped onto following lines when long), milliseconds.
pub(super) fn phase(
    out: &mut dyn Write,
    label: &str,
    text: &str,
    ms: Option<f64>,
    tone: Tone,
    style: Style,
) -> io::Result<()> {
    let lines = wrap(text, OUTCOME);
    let time = ms.map(|m| format!("{m:>7.1} ms")).unwrap_or_default();
    for (i, line) in lines.iter().enumerate() {
        let padded = format!("{line:<OUTCOME$}");
        let label = if i == 0 { label } else { "" };
        let time = if i == 0 { time.as_str() } else { "" };
        // Pad only when a timing follows, so lines carry no trailing blanks.
        let body = if time.is_empty() {
            line.as_str()
        } else {
            padded.as_str()
        };
        let painted = style.paint(tone, body);
        writeln!(out, "  {label:<LABEL$}{painted}{time}")?;
    }
    Ok(())
}

/// Greedy word wrap by characters; a word longer than the width is cut.
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let mut word: String = word.to_owned();
        loop {
            let current = lines.last_mut().expect("never empty");
            let used = current.chars().count();
            let need = word.chars().count() + usize::from(used > 0);
            if used + need <= width {
                if used > 0 {
                    current.push(' ');
                }
                current.push_str(&word);
                break;
            }
            if used == 0 {
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                current.push_str(&head);
                if word.is_empty() {
                    break;
                }
            }
            lines.push(String::new());
        }
    }
    lines
}

pub(super) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

pub(super) fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_keeps_words() {
        let lines = wrap(
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", no encryption",
            30,
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "no pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", no encryption"
        );
    }

    #[test]
    fn wrap_cuts_overlong_words() {
        let lines = wrap(&"x".repeat(70), 30);
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            vec![30, 30, 10]
        );
    }

    #[test]
    fn ordinals() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(11), "11th");
        assert_eq!(ordinal(23), "23rd");
    }

    #[test]
    fn no_escape_codes_without_colour() {
        let s = Style { color: false };
        assert_eq!(s.paint(Tone::Bad, "x"), "x");
        assert_eq!(
            Style { color: true }.paint(Tone::Bad, "x"),
            "\x1b[31mx\x1b[0m"
        );
    }
}
