//! The page's look: one inline style sheet (no external fonts or files, so the page opens
//! offline from a ticket attachment) and a colour per phase, shared by the waterfall and the
//! watch chart.

use std::io::{self, Write};

use super::escape::esc;

/// Narrow-window friendly: a readable measure, tables and long server text that wrap, SVGs that
/// scale to the width through their viewBox.
pub const CSS: &str = "\
:root{color-scheme:light}
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;\
color:#1d232a;background:#fff;max-width:62rem;margin:0 auto;padding:1rem 1.25rem 3rem}
h1{font-size:1.4rem;margin:.2rem 0 .6rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:1.8rem 0 .6rem;border-bottom:1px solid #d8dde3;padding-bottom:.2rem}
p,li,pre,code{overflow-wrap:anywhere}
td,th{overflow-wrap:break-word}
td.wrap{overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:.88em}
pre{white-space:pre-wrap;background:#f4f6f8;padding:.5rem .7rem;border-radius:4px;margin:.4rem 0}
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.4rem 0}
th,td{border:1px solid #d8dde3;padding:.25rem .45rem;text-align:left;vertical-align:top}
th{background:#f4f6f8}
table.chain th:not([colspan]){width:6.5rem}
.verdict{font-size:1.1rem;padding:.6rem .8rem;border-radius:6px;border-left:6px solid}
.verdict.ok{background:#e9f6ee;border-color:#2e8b57}
.verdict.warning{background:#fdf6e3;border-color:#c98f00}
.verdict.error{background:#fdecec;border-color:#c62828}
.finding{border:1px solid #d8dde3;border-left:6px solid #8a949e;border-radius:4px;\
padding:.4rem .8rem;margin:.6rem 0}
.finding.error{border-left-color:#c62828}
.finding.warning{border-left-color:#c98f00}
.finding h3{font-size:1rem;margin:.2rem 0}
.sev{font-weight:700;text-transform:uppercase;font-size:.8em;margin-right:.4em}
.next{font-weight:600}
details{margin:.3rem 0}
summary{cursor:pointer;color:#5b6670;font-size:.9em}
.yes{color:#1b6e3c;font-weight:600}
.no{color:#b71c1c;font-weight:600}
tr.configured{background:#eef3fb;font-weight:600}
svg{width:100%;height:auto;display:block;margin:.4rem 0}
svg text{font-family:system-ui,'DejaVu Sans',sans-serif}
.legend span{display:inline-block;margin:.1rem .8rem .1rem 0;font-size:.9em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}
.note{color:#5b6670;font-size:.9em}
footer{margin-top:2rem;color:#5b6670;font-size:.85em}
";

/// The fill of each phase's bar or line; failed bars are red whatever their phase.
pub fn phase_color(phase: &str) -> &'static str {
    match phase {
        "dns_a" => "#5b7fd0",
        "dns_aaaa" => "#8e6fd8",
        "dns" => "#5b7fd0",
        "tcp" => "#2e8b57",
        "ssl_request" => "#c98f00",
        "tls" => "#1f8fb3",
        "startup" => "#7a5236",
        "startup_other" => "#8a949e",
        "total" => "#1d232a",
        _ => "#555f69",
    }
}

/// The colour of a failed phase.
pub const FAILED: &str = "#c62828";

/// The head of the page up to the opening of `<body>`.
pub fn open_page(out: &mut dyn Write, title: &str) -> io::Result<()> {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\">")?;
    writeln!(out, "<head>")?;
    writeln!(out, "<meta charset=\"utf-8\">")?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(out, "<title>{}</title>", esc(title))?;
    writeln!(out, "<style>\n{CSS}</style>")?;
    writeln!(out, "</head>")?;
    writeln!(out, "<body>")
}

pub fn close_page(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "<footer>Written by pgreach {}. Self-contained: no scripts, fonts or styles are loaded from \
         elsewhere.</footer>",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "</body>")?;
    writeln!(out, "</html>")
}

/// A colour key for the phases drawn.
pub fn legend(out: &mut dyn Write, phases: &[(&str, &str)]) -> io::Result<()> {
    write!(out, "<p class=\"legend\">")?;
    for (phase, label) in phases {
        write!(
            out,
            "<span><i style=\"background:{}\"></i>{}</span>",
            phase_color(phase),
            esc(label)
        )?;
    }
    writeln!(out, "</p>")
}
