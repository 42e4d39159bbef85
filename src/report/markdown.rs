//! The ticket report: a markdown document to paste into an issue — the target, the command
//! line, the verdict, the findings with their evidence, a table per address, the sslmode
//! matrix and the settings with their sources. It renders `report.findings` and
//! `report.sslmodes` as given; it judges nothing itself.

use std::io::{self, Write};

use crate::config::SslMode;
use crate::diagnose::matrix::outcome;
use crate::diagnose::{address_label, matrix};
use crate::facts::{
    AddressFacts, Family, Finding, HostFacts, Report, Severity, SslAnswer, StartupFacts,
    StartupStatus, TcpStatus, TlsStatus,
};

/// Writes the report. `command_line` must already have its secrets redacted.
pub fn write(out: &mut dyn Write, report: &Report, command_line: &str) -> io::Result<()> {
    writeln!(out, "# pgreach report: {}", target(&report.hosts))?;
    writeln!(out)?;
    fenced(out, "sh", command_line)?;
    writeln!(out)?;
    verdict(out, report)?;
    findings(out, &report.findings)?;
    addresses(out, &report.addresses)?;
    matrix_table(out, report)?;
    settings(out, report)
}

fn target(hosts: &[HostFacts]) -> String {
    if hosts.is_empty() {
        return "(no host)".into();
    }
    hosts
        .iter()
        .map(|h| match h.kind {
            crate::facts::HostKind::Unix => format!("{} (port {})", h.host, h.port),
            _ if h.host.contains(':') => format!("[{}]:{}", h.host, h.port),
            _ => format!("{}:{}", h.host, h.port),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let s = &report.summary;
    writeln!(
        out,
        "**Verdict: {}** — {} of {} address(es) reached authentication; pgreach {}, sslmode={}, user={}, dbname={}.",
        s.verdict,
        s.reached_auth,
        s.addresses,
        report.pgreach_version,
        report.config.sslmode,
        text(&report.config.user),
        text(&report.config.dbname)
    )?;
    let configured = Some(report.config.sslmode);
    if let (Some(modes), Some(mode)) = (&report.sslmodes, configured) {
        let o = outcome(modes, mode);
        let at = o
            .address
            .as_ref()
            .map(|a| format!(" at {}", text(a)))
            .unwrap_or_default();
        let what = if o.reaches_auth {
            format!("reaches authentication{at}")
        } else {
            format!("stops at `{}`{at}: {}", o.stage, text(&o.reason))
        };
        let uncertain = if o.uncertain { " (uncertain)" } else { "" };
        writeln!(out)?;
        let libpq = report.config.libpq;
        writeln!(out, "With sslmode={mode}, libpq {libpq} {what}{uncertain}.")?;
    }
    let count = |sev: Severity| report.findings.iter().filter(|f| f.severity == sev).count();
    writeln!(out)?;
    writeln!(
        out,
        "Findings: {} error(s), {} warning(s), {} info.",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    )
}

fn findings(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "## Findings")?;
    writeln!(out)?;
    if findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    for (n, f) in findings.iter().enumerate() {
        let mut title = format!("{}. {} `{}`", n + 1, severity(f.severity), f.code);
        match (f.addresses.is_empty(), &f.host) {
            (false, _) => title.push_str(&format!(" — {}", text(&f.addresses.join(", ")))),
            (true, Some(h)) => title.push_str(&format!(" — {}", text(h))),
            (true, None) => {}
        }
        if n > 0 {
            writeln!(out)?;
        }
        writeln!(out, "### {title}")?;
        writeln!(out)?;
        writeln!(out, "{}", text(&f.summary))?;
        writeln!(out)?;
        writeln!(out, "**Next step:** {}", text(&f.next_step))?;
        if !f.evidence.is_empty() {
            writeln!(out)?;
            fenced(out, "text", &f.evidence.join("\n"))?;
        }
    }
    Ok(())
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn addresses(out: &mut dyn Write, addresses: &[AddressFacts]) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "## Addresses")?;
    writeln!(out)?;
    if addresses.is_empty() {
        return writeln!(out, "No address was probed.");
    }
    writeln!(
        out,
        "| address | family | tcp | ssl | tls | startup (auth/error) | ms |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---:|")?;
    for a in addresses {
        let startup: Vec<String> = std::iter::once(&a.startup)
            .chain(a.startup_other.as_ref())
            .map(|s| startup_cell(a, s))
            .collect();
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.1} |",
            cell(&address_label(a)),
            family(a),
            cell(&tcp_cell(a)),
            cell(&ssl_cell(a)),
            cell(&tls_cell(a)),
            startup
                .iter()
                .map(|s| cell(s))
                .collect::<Vec<_>>()
                .join("<br>"),
            a.elapsed_ms
        )?;
    }
    Ok(())
}

fn family(a: &AddressFacts) -> String {
    let name = match a.family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
        Family::Unix => return "Unix".into(),
    };
    match a.system_rank {
        Some(r) => format!("{name} (libpq #{})", r + 1),
        None => format!("{name} (never tried by libpq)"),
    }
}

fn tcp_cell(a: &AddressFacts) -> String {
    match (a.tcp.status, &a.tcp.error) {
        (TcpStatus::Ok, _) => "ok".into(),
        (status, Some(e)) => format!("{}: {e}", status.as_str()),
        (status, None) => status.as_str().to_string(),
    }
}

fn ssl_cell(a: &AddressFacts) -> String {
    let s = &a.ssl_request;
    match s.answer {
        SslAnswer::S => match s.unencrypted_bytes_after_s {
            Some(n) if n > 0 => format!("S + {n} unencrypted byte(s)"),
            _ => "S".into(),
        },
        SslAnswer::Other => format!("other: {}", s.peer_bytes.as_deref().unwrap_or("?")),
        SslAnswer::Skipped => "—".into(),
        answer => answer.as_str().to_string(),
    }
}

fn tls_cell(a: &AddressFacts) -> String {
    let Some(t) = &a.tls else {
        return "—".into();
    };
    match t.status {
        TlsStatus::Ok => t.version.clone().unwrap_or_else(|| "ok".into()),
        TlsStatus::Timeout => "timeout".into(),
        TlsStatus::Failed => format!("failed: {}", t.error.as_deref().unwrap_or("")),
    }
}

fn startup_cell(a: &AddressFacts, s: &StartupFacts) -> String {
    let channel = match (a.family, s.channel) {
        (Family::Unix, _) => "socket",
        (_, Some(crate::facts::Channel::Tls)) => "SSL",
        (_, Some(crate::facts::Channel::Plaintext)) => "plaintext",
        (_, None) => "—",
    };
    let what = match (s.status, s.auth, &s.error) {
        (_, Some(method), None) => matrix::auth_words(method, s),
        (_, Some(method), Some(e)) => format!(
            "{}, then {}",
            matrix::auth_words(method, s),
            crate::diagnose::quote_error(e)
        ),
        (StartupStatus::Error, None, Some(e)) => crate::diagnose::quote_error(e),
        (StartupStatus::Skipped, _, _) => {
            return format!("skipped: {}", s.detail.as_deref().unwrap_or(""));
        }
        (status, _, _) => format!("{}: {}", status.as_str(), s.detail.as_deref().unwrap_or("")),
    };
    format!("{channel}: {what}")
}

fn matrix_table(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "## What libpq {} does under each sslmode",
        report.config.libpq
    )?;
    writeln!(out)?;
    let Some(modes) = &report.sslmodes else {
        return writeln!(out, "Not computed.");
    };
    writeln!(out, "| sslmode | reaches auth | stage | address | reason |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for &mode in SslMode::ALL {
        let o = outcome(modes, mode);
        let name = if mode == report.config.sslmode {
            format!("**{mode}** (configured)")
        } else {
            mode.to_string()
        };
        let reaches = match (o.reaches_auth, o.uncertain) {
            (true, _) => "yes",
            (false, true) => "uncertain",
            (false, false) => "no",
        };
        writeln!(
            out,
            "| {name} | {reaches} | {} | {} | {} |",
            o.stage,
            cell(o.address.as_deref().unwrap_or("—")),
            cell(&o.reason)
        )?;
    }
    Ok(())
}

fn settings(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "## Settings")?;
    writeln!(out)?;
    writeln!(out, "| setting | value | source |")?;
    writeln!(out, "|---|---|---|")?;
    for s in &report.config.settings {
        writeln!(
            out,
            "| {} | {} | {} ({}) |",
            s.name,
            cell(&s.value),
            s.source.as_str(),
            cell(&s.origin)
        )?;
    }
    let t = &report.trust;
    writeln!(out)?;
    writeln!(
        out,
        "Trust anchors: {}{}, {}, {} certificate(s){}.",
        t.source,
        t.path
            .as_ref()
            .map(|p| format!(" `{p}`"))
            .unwrap_or_default(),
        if t.exists { "present" } else { "missing" },
        t.certificates,
        t.error
            .as_ref()
            .map(|e| format!(", error: {}", text(e)))
            .unwrap_or_default()
    )?;
    let Some(crl) = &t.crl else {
        return Ok(());
    };
    let mut sources = Vec::new();
    if let Some(path) = &crl.path {
        sources.push(format!("file `{path}` ({} CRL(s))", crl.crls));
    }
    if let Some(dir) = &crl.directory {
        sources.push(format!(
            "directory `{dir}` ({} hashed file(s))",
            crl.directory_files
        ));
    }
    writeln!(
        out,
        "CRLs: {}; revocation checking {}{}.",
        if sources.is_empty() {
            "none".to_string()
        } else {
            sources.join(", ")
        },
        if crl.checking { "on" } else { "off" },
        crl.error
            .as_ref()
            .map(|e| format!(" (not loaded, which libpq ignores: {})", text(e)))
            .unwrap_or_default()
    )
}

/// Text outside code: no raw HTML from peer data.
fn text(s: &str) -> String {
    s.replace('<', "&lt;")
}

/// A table cell: no pipes, no line breaks, no raw HTML.
fn cell(s: &str) -> String {
    text(s).replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A fenced code block whose fence is longer than any run of backticks inside.
fn fenced(out: &mut dyn Write, lang: &str, body: &str) -> io::Result<()> {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    writeln!(out, "{fence}{lang}")?;
    writeln!(out, "{body}")?;
    writeln!(out, "{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::*;

    fn render(r: &Report) -> String {
        let mut buf = Vec::new();
        write(
            &mut buf,
            r,
            "pgreach --format markdown 'postgres://app:***@db.example.com/app'",
        )
        .expect("writing to a Vec");
        String::from_utf8(buf).expect("utf-8")
    }

    /// `PGREACH_UPDATE_SNAPSHOTS=1 cargo test` rewrites the snapshot; review the diff.
    #[test]
    fn snapshot_basic() {
        let got = render(&dual_stack_hostssl());
        let want = include_str!("snapshots/markdown_basic.md");
        crate::report::assert_snapshot("markdown_basic.md", want, &got);
    }

    #[test]
    fn peer_text_cannot_break_tables_or_fences() {
        assert_eq!(cell("a|b\nc<script>"), "a\\|b c&lt;script>");
        let mut buf = Vec::new();
        fenced(&mut buf, "text", "x ```` y").unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.starts_with("`````text\n"), "{s}");
        assert!(s.ends_with("\n`````\n"), "{s}");
    }

    #[test]
    fn no_findings_no_matrix() {
        let r = report("prefer", Vec::new());
        let s = render(&r);
        assert!(s.contains("No findings."));
        assert!(s.contains("No address was probed."));
        assert!(s.contains("Not computed."));
        assert!(s.starts_with("# pgreach report: (no host)\n"));
    }
}
