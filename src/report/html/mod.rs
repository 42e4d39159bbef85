//! The HTML report: one self-contained page for a ticket — verdict, findings with their next
//! steps, the phase waterfall, the sslmode matrix, the certificate chain and the settings, in
//! the text report's order. Inline CSS and SVG only: no script, no font, no file from
//! elsewhere, so it opens offline and reads without JavaScript. Renders the facts as given;
//! judges nothing itself.

use std::io::{self, Write};

mod escape;
mod sections;
mod style;
pub mod watch;
mod waterfall;

pub use escape::esc;

use crate::facts::{HostFacts, HostKind, Report};

/// Writes the page for one probe.
pub fn write(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let target = target(&report.hosts);
    style::open_page(out, &format!("pgreach: {target}"))?;
    let c = &report.config;
    writeln!(out, "<h1>pgreach report: {}</h1>", esc(&target))?;
    writeln!(
        out,
        "<p class=\"note\">pgreach {} · predicts libpq {} · sslmode={} · user={} · dbname={}</p>",
        report.pgreach_version,
        c.libpq,
        c.sslmode,
        esc(&c.user),
        esc(&c.dbname)
    )?;
    sections::verdict(out, report)?;
    sections::findings(out, &report.findings)?;
    write_waterfall(out, report)?;
    sections::matrix(out, report)?;
    sections::certificates(out, report)?;
    sections::settings(out, report)?;
    style::close_page(out)
}

fn write_waterfall(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out, "<h2 id=\"waterfall\">Where the time went</h2>")?;
    let rows = waterfall::rows(report);
    if rows.is_empty() {
        return writeln!(out, "<p>No address was probed.</p>");
    }
    writeln!(
        out,
        "<p class=\"note\">One row per address, in the order libpq tries them; one bar per phase \
         that ran, to one time scale. DNS A and AAAA are asked side by side, then each address's \
         phases follow one another (the addresses are probed at the same time). \
         <span style=\"color:{}\">✗ red, dashed</span>: the phase failed.</p>",
        style::FAILED
    )?;
    style::legend(out, &waterfall::PHASES)?;
    waterfall::write(out, &rows)
}

/// The target as a heading names it: `host:port`, `[v6]:port`, a socket directory.
pub fn target(hosts: &[HostFacts]) -> String {
    if hosts.is_empty() {
        return "(no host)".into();
    }
    hosts
        .iter()
        .map(|h| match h.kind {
            HostKind::Unix => format!("{} (port {})", h.host, h.port),
            _ if h.host.contains(':') => format!("[{}]:{}", h.host, h.port),
            _ => format!("{}:{}", h.host, h.port),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
