//! The report page's sections besides the waterfall: verdict, findings, the sslmode matrix,
//! the certificate chains and the settings. Every value from the facts goes through
//! [`esc`]; the settings already carry `***` for secrets, as in the other formats.

use std::io::{self, Write};

use super::escape::esc;
use crate::config::SslMode;
use crate::diagnose::matrix::outcome;
use crate::facts::{AddressFacts, CertificateFacts, Finding, Report, TlsFacts};

pub fn verdict(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let s = &report.summary;
    let (errors, warnings) = (s.errors, s.warnings);
    let reach = super::super::reach_sentence(report);
    let (class, head) = match (errors, warnings) {
        (0, 0) => ("ok", "OK".to_owned()),
        (0, w) => ("warning", format!("{w} warning(s)")),
        (e, w) => ("error", format!("{e} error(s), {w} warning(s)")),
    };
    writeln!(
        out,
        "<p class=\"verdict {class}\" data-verdict=\"{}\"><strong>Verdict: {head}</strong> — {}.</p>",
        s.verdict,
        esc(&reach)
    )?;
    let Some(modes) = &report.sslmodes else {
        return Ok(());
    };
    let mode = report.config.sslmode;
    let o = outcome(modes, mode);
    let at = o
        .address
        .as_ref()
        .map(|a| format!(" at {a}"))
        .unwrap_or_default();
    let what = if o.reaches_auth {
        format!("reaches authentication{at}")
    } else {
        format!("stops at {}{at}: {}", o.stage, o.reason)
    };
    let uncertain = if o.uncertain { " (uncertain)" } else { "" };
    writeln!(
        out,
        "<p>With sslmode={mode}, libpq {} {}{uncertain}.</p>",
        report.config.libpq,
        esc(&what)
    )
}

pub fn findings(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    writeln!(out, "<h2 id=\"findings\">Findings</h2>")?;
    if findings.is_empty() {
        return writeln!(out, "<p>No findings.</p>");
    }
    for f in findings {
        let scope = match (f.addresses.is_empty(), &f.host) {
            (false, _) => format!(" — {}", f.addresses.join(", ")),
            (true, Some(h)) => format!(" — {h}"),
            (true, None) => String::new(),
        };
        writeln!(
            out,
            "<section class=\"finding {sev}\" data-code=\"{code}\">\n<h3><span class=\"sev\">{sev}</span><code>{code}</code>{}</h3>",
            esc(&scope),
            sev = f.severity,
            code = f.code,
        )?;
        writeln!(out, "<p>{}</p>", esc(&f.summary))?;
        writeln!(
            out,
            "<p><span class=\"next\">Next step:</span> {}</p>",
            esc(&f.next_step)
        )?;
        // Folded (HTML's own disclosure, no script) so the waterfall stays near the top.
        if !f.evidence.is_empty() {
            writeln!(
                out,
                "<details><summary>Evidence</summary><pre>{}</pre></details>",
                esc(&f.evidence.join("\n"))
            )?;
        }
        writeln!(out, "</section>")?;
    }
    Ok(())
}

pub fn matrix(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(
        out,
        "<h2 id=\"sslmodes\">What libpq {} does under each sslmode</h2>",
        report.config.libpq
    )?;
    let Some(modes) = &report.sslmodes else {
        return writeln!(out, "<p>Not computed.</p>");
    };
    writeln!(
        out,
        "<table class=\"sslmodes\">\n<tr><th>sslmode</th><th>reaches auth</th><th>stage</th><th>address</th><th>reason</th></tr>"
    )?;
    for &mode in SslMode::ALL {
        let o = outcome(modes, mode);
        let configured = mode == report.config.sslmode;
        let (class, name) = if configured {
            (" class=\"configured\"", format!("{mode} (configured)"))
        } else {
            ("", mode.to_string())
        };
        let reaches = match (o.reaches_auth, o.uncertain) {
            (true, _) => "<span class=\"yes\">yes</span>",
            (false, true) => "uncertain",
            (false, false) => "<span class=\"no\">no</span>",
        };
        writeln!(
            out,
            "<tr{class} data-sslmode=\"{mode}\"><td>{name}</td><td>{reaches}</td><td>{}</td><td>{}</td><td class=\"wrap\">{}</td></tr>",
            o.stage,
            esc(o.address.as_deref().unwrap_or("—")),
            esc(&o.reason)
        )?;
    }
    writeln!(out, "</table>")
}

/// Each distinct chain once (servers behind one name usually share it), with the addresses
/// that sent it and libpq's verify-ca and verify-full judgements.
pub fn certificates(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out, "<h2 id=\"certificates\">Certificate chain</h2>")?;
    let mut chains: Vec<(&TlsFacts, Vec<&AddressFacts>)> = Vec::new();
    for a in &report.addresses {
        let Some(tls) = a.tls.as_ref().filter(|t| !t.chain.is_empty()) else {
            continue;
        };
        let same = |(t, _): &&mut (&TlsFacts, Vec<&AddressFacts>)| {
            t.chain
                .iter()
                .map(|c| &c.sha256)
                .eq(tls.chain.iter().map(|c| &c.sha256))
        };
        match chains.iter_mut().find(|e| same(e)) {
            Some((_, addrs)) => addrs.push(a),
            None => chains.push((tls, vec![a])),
        }
    }
    if chains.is_empty() {
        return writeln!(out, "<p>No server sent a certificate.</p>");
    }
    for (tls, addrs) in chains {
        let labels: Vec<String> = addrs
            .iter()
            .map(|a| crate::diagnose::address_label(a))
            .collect();
        writeln!(out, "<p>Sent by {}.</p>", esc(&labels.join(", ")))?;
        if let Some(v) = &tls.verify_ca {
            let class = if v.ok { "yes" } else { "no" };
            writeln!(
                out,
                "<p>verify-ca: <span class=\"{class}\">{}</span></p>",
                esc(&v.reason)
            )?;
        }
        if let Some(v) = &tls.verify_full {
            let class = if v.ok { "yes" } else { "no" };
            writeln!(
                out,
                "<p>verify-full: <span class=\"{class}\">{}</span></p>",
                esc(&v.reason)
            )?;
        }
        for (i, c) in tls.chain.iter().enumerate() {
            certificate(out, i, c)?;
        }
    }
    Ok(())
}

/// One certificate as a small two-column table: at 800 px a row per field reads better than a
/// column per field.
fn certificate(out: &mut dyn Write, i: usize, c: &CertificateFacts) -> io::Result<()> {
    let role = if i == 0 {
        "leaf"
    } else {
        "sent after the leaf"
    };
    writeln!(out, "<table class=\"chain\" data-index=\"{i}\">")?;
    writeln!(out, "<tr><th colspan=\"2\">#{i} ({role})</th></tr>")?;
    if let Some(e) = &c.parse_error {
        writeln!(
            out,
            "<tr><td colspan=\"2\">unparsable: {}</td></tr>",
            esc(e)
        )?;
        return writeln!(out, "</table>");
    }
    let left = match c.days_left {
        Some(d) if d < 0 => format!(" <span class=\"no\">expired {} day(s) ago</span>", -d),
        Some(d) => format!(" ({d} day(s) left)"),
        None => String::new(),
    };
    let bits = c.key_bits.map(|b| format!(" {b}")).unwrap_or_default();
    let kind = match (c.is_ca, c.self_signed) {
        (true, true) => " · CA, self-signed",
        (true, false) => " · CA",
        (false, true) => " · self-signed",
        (false, false) => "",
    };
    let field = |out: &mut dyn Write, name: &str, value: &str| {
        writeln!(
            out,
            "<tr><th>{name}</th><td class=\"wrap\">{value}</td></tr>"
        )
    };
    field(out, "subject", &esc(&c.subject))?;
    field(out, "issuer", &esc(&c.issuer))?;
    let valid = format!("{} – {}{left}", esc(&c.not_before), esc(&c.not_after));
    field(out, "valid", &valid)?;
    field(out, "names", &esc(&c.subject_alt_names.join(", ")))?;
    let key = format!(
        "{}{bits}{kind} · {}",
        esc(&c.key_type),
        esc(&c.signature_algorithm)
    );
    field(out, "key", &key)?;
    field(out, "SHA-256", &format!("<code>{}</code>", esc(&c.sha256)))?;
    writeln!(out, "</table>")
}

pub fn settings(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    writeln!(out, "<h2 id=\"settings\">Settings</h2>")?;
    writeln!(
        out,
        "<table class=\"settings\">\n<tr><th>setting</th><th>value</th><th>source</th></tr>"
    )?;
    for s in &report.config.settings {
        writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=\"wrap\">{}</td><td class=\"wrap\">{} <span class=\"note\">{}</span></td></tr>",
            esc(s.name),
            esc(&s.value),
            s.source.as_str(),
            esc(&s.origin)
        )?;
    }
    writeln!(out, "</table>")?;
    let t = &report.trust;
    writeln!(
        out,
        "<p>Trust anchors: {}{}, {}, {} certificate(s){}.</p>",
        t.source,
        t.path
            .as_ref()
            .map(|p| format!(" <code>{}</code>", esc(p)))
            .unwrap_or_default(),
        if t.exists { "present" } else { "missing" },
        t.certificates,
        t.error
            .as_ref()
            .map(|e| format!(", error: {}", esc(e)))
            .unwrap_or_default()
    )
}
