//! The human report: settings, DNS, then one block per address with a line per phase, aligned
//! for an 80-column terminal. Colour only when asked for (see [`Style`]).

use std::io::{self, Write};

mod layout;
mod login;
mod summary;

pub use layout::Style;
use layout::{Tone, ordinal, phase, truncate, wrap};

use crate::facts::{
    AddressFacts, AuthMethod, Family, HostFacts, LookupFacts, LookupOutcome, LookupSource, Report,
    SslAnswer, StartupFacts, StartupStatus, SystemStatus, TcpStatus, TlsFacts, TlsStatus,
};

pub fn write(out: &mut dyn Write, report: &Report, style: Style) -> io::Result<()> {
    let c = &report.config;
    writeln!(
        out,
        "pgreach {} · libpq {} · sslmode={} · user={} · dbname={}",
        report.pgreach_version, c.libpq, c.sslmode, c.user, c.dbname
    )?;
    writeln!(out)?;
    summary::write_verdict(out, report, style)?;
    summary::write_findings(out, &report.findings, style)?;
    if let Some(modes) = &report.sslmodes {
        writeln!(out)?;
        summary::write_matrix(out, modes, c.sslmode.as_str(), c.libpq, style)?;
    }
    writeln!(out)?;
    writeln!(out, "Settings")?;
    for s in &c.settings {
        let source = format!("{} {}", s.source.as_str(), s.origin);
        // name (17) + value (25) + source (36) + indent fits 80 columns; a long source wraps.
        for (i, part) in wrap(source.trim(), 36).iter().enumerate() {
            let (name, value) = if i == 0 {
                (s.name, truncate(&s.value, 24))
            } else {
                ("", String::new())
            };
            writeln!(
                out,
                "  {name:<17}{value:<25}{}",
                style.paint(Tone::Dim, part)
            )?;
        }
    }
    for host in &report.hosts {
        writeln!(out)?;
        write_host(out, host, style)?;
        let addrs: Vec<&AddressFacts> = report
            .addresses
            .iter()
            .filter(|a| a.host == host.host && a.port == host.port)
            .collect();
        for addr in &addrs {
            writeln!(out)?;
            write_address(out, addr, addrs.len() > 1, style)?;
        }
    }
    Ok(())
}

fn write_host(out: &mut dyn Write, host: &HostFacts, style: Style) -> io::Result<()> {
    let Some(dns) = &host.dns else {
        return writeln!(out, "{} port {} — no DNS needed", host.host, host.port);
    };
    writeln!(out, "{} port {} — DNS", host.host, host.port)?;
    lookup_line(out, "A", &dns.a, style)?;
    lookup_line(out, "AAAA", &dns.aaaa, style)?;
    if !dns.cname_chain.is_empty() {
        phase(
            out,
            "CNAME",
            &dns.cname_chain.join(" → "),
            None,
            Tone::Dim,
            style,
        )?;
    }
    let sys = &dns.system;
    let (text, tone) = if sys.status == SystemStatus::Ok {
        let list: Vec<String> = sys.addresses.iter().map(|a| a.to_string()).collect();
        (format!("{} (libpq's order)", list.join(", ")), Tone::Good)
    } else {
        (
            format!("error: {}", sys.error.as_deref().unwrap_or("unknown")),
            Tone::Bad,
        )
    };
    phase(out, "getaddrinfo", &text, Some(sys.elapsed_ms), tone, style)
}

fn lookup_line(out: &mut dyn Write, label: &str, l: &LookupFacts, style: Style) -> io::Result<()> {
    let (text, tone) = match l.outcome {
        LookupOutcome::Answers => {
            let list: Vec<String> = l.addresses.iter().map(|a| a.to_string()).collect();
            (list.join(", "), Tone::Good)
        }
        LookupOutcome::NoRecords => ("no records".to_owned(), Tone::Warn),
        LookupOutcome::Nxdomain => ("NXDOMAIN: the name does not exist".to_owned(), Tone::Bad),
        LookupOutcome::Timeout => ("timed out".to_owned(), Tone::Bad),
        LookupOutcome::ServerFailure => (
            format!("server failure: {}", l.error.as_deref().unwrap_or("")),
            Tone::Bad,
        ),
        LookupOutcome::Error => (
            format!("error: {}", l.error.as_deref().unwrap_or("")),
            Tone::Bad,
        ),
    };
    let text = if l.source == LookupSource::Hosts {
        format!("{text} (hosts file)")
    } else {
        text
    };
    phase(out, label, &text, Some(l.elapsed_ms), tone, style)
}

/// `ranked`: the host has several addresses, so libpq's order is worth showing.
fn write_address(
    out: &mut dyn Write,
    a: &AddressFacts,
    ranked: bool,
    style: Style,
) -> io::Result<()> {
    let title = crate::diagnose::address_label(a);
    let family = a.family.as_str();
    let rank = match a.system_rank {
        Some(r) if ranked => format!(" · libpq tries it {}", ordinal(r + 1)),
        None if ranked => " · not returned by getaddrinfo: libpq never tries it".to_owned(),
        _ => String::new(),
    };
    writeln!(out, "{title}  {family}{rank}")?;

    let tcp_text = match a.tcp.status {
        TcpStatus::Ok => "connected".to_owned(),
        _ => format!(
            "{} ({})",
            a.tcp.status.as_str(),
            a.tcp.error.as_deref().unwrap_or("")
        ),
    };
    let tcp_tone = if a.tcp.status == TcpStatus::Ok {
        Tone::Good
    } else {
        Tone::Bad
    };
    let label = if a.family == Family::Unix {
        "socket"
    } else {
        "tcp"
    };
    phase(
        out,
        label,
        &tcp_text,
        Some(a.tcp.elapsed_ms),
        tcp_tone,
        style,
    )?;

    let s = &a.ssl_request;
    let (text, tone) = match s.answer {
        SslAnswer::S if s.unencrypted_bytes_after_s.unwrap_or(0) > 0 => (
            format!("S, then {}", s.detail.as_deref().unwrap_or("")),
            Tone::Bad,
        ),
        SslAnswer::S => ("S: the server will do TLS".to_owned(), Tone::Good),
        SslAnswer::N => ("N: the server will not do TLS".to_owned(), Tone::Warn),
        SslAnswer::E => (
            format!(
                "E: {}",
                s.error
                    .as_ref()
                    .and_then(|e| e.message.as_deref())
                    .unwrap_or("error")
            ),
            Tone::Bad,
        ),
        SslAnswer::Skipped => (
            format!("skipped ({})", s.detail.as_deref().unwrap_or("")),
            Tone::Dim,
        ),
        _ => (
            format!(
                "{}{}",
                s.answer.as_str(),
                s.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
            Tone::Bad,
        ),
    };
    phase(out, "ssl request", &text, s.elapsed_ms, tone, style)?;

    if let Some(tls) = &a.tls {
        write_tls(out, tls, style)?;
    }
    write_startup(out, a, style)?;
    login::write_login(out, a, style)?;
    write_extras(out, a, style)
}

/// The optional questions (`--direct-tls`, `--gssenc`, `--tls-versions`), when asked.
fn write_extras(out: &mut dyn Write, a: &AddressFacts, style: Style) -> io::Result<()> {
    if let Some(d) = &a.direct_tls {
        let (text, tone) = if d.supported {
            let alpn = if d.alpn_echoed {
                "ALPN postgresql echoed"
            } else {
                "no ALPN echo"
            };
            (format!("supported, {alpn}"), Tone::Good)
        } else {
            (
                d.detail.clone().unwrap_or_else(|| "not supported".into()),
                Tone::Warn,
            )
        };
        let ms = d.tls.as_ref().map(|t| t.elapsed_ms);
        phase(out, "direct tls", &text, ms, tone, style)?;
    }
    if let Some(g) = &a.gssenc {
        let text = match &g.detail {
            Some(d) => format!("{}: {d}", g.answer),
            None => g.answer.to_string(),
        };
        phase(out, "gssencrequest", &text, g.elapsed_ms, Tone::Dim, style)?;
    }
    if !a.tls_versions.is_empty() {
        let list: Vec<String> = a
            .tls_versions
            .iter()
            .map(|v| format!("{} {}", v.version, if v.accepted { "yes" } else { "no" }))
            .collect();
        phase(
            out,
            "tls versions",
            &list.join(", "),
            None,
            Tone::Dim,
            style,
        )?;
    }
    Ok(())
}

fn write_tls(out: &mut dyn Write, tls: &TlsFacts, style: Style) -> io::Result<()> {
    let (text, tone) = match tls.status {
        TlsStatus::Ok => (
            format!(
                "{} {}",
                tls.version.as_deref().unwrap_or("?"),
                tls.cipher_suite.as_deref().unwrap_or("")
            ),
            Tone::Good,
        ),
        TlsStatus::Timeout => ("timed out during the handshake".to_owned(), Tone::Bad),
        TlsStatus::Failed => (
            format!("failed: {}", tls.error.as_deref().unwrap_or("")),
            Tone::Bad,
        ),
    };
    phase(out, "tls", &text, Some(tls.elapsed_ms), tone, style)?;
    if let Some(v) = &tls.verify_ca {
        let tone = if v.ok { Tone::Good } else { Tone::Warn };
        phase(out, "verify-ca", &v.reason, None, tone, style)?;
    }
    if let Some(v) = &tls.verify_full {
        let tone = if v.ok { Tone::Good } else { Tone::Warn };
        phase(out, "verify-full", &v.reason, None, tone, style)?;
    }
    if tls.client_certificate_requested {
        phase(
            out,
            "client cert",
            "the server asked for a client certificate",
            None,
            Tone::Dim,
            style,
        )?;
    }
    for (i, c) in tls.chain.iter().enumerate() {
        let label = if i == 0 { "certificate" } else { "" };
        let text = match &c.parse_error {
            Some(e) => format!("#{i} unparsable: {e}"),
            None => format!("#{i} {} (until {})", c.subject, c.not_after),
        };
        phase(out, label, &text, None, Tone::Dim, style)?;
        if i == 0 && !c.subject_alt_names.is_empty() {
            phase(
                out,
                "",
                &format!("   {}", c.subject_alt_names.join(", ")),
                None,
                Tone::Dim,
                style,
            )?;
        }
    }
    Ok(())
}

fn write_startup(out: &mut dyn Write, a: &AddressFacts, style: Style) -> io::Result<()> {
    startup_line(out, "startup", &a.startup, style)?;
    match &a.startup_other {
        Some(other) => startup_line(out, "other channel", other, style),
        None => Ok(()),
    }
}

fn startup_line(
    out: &mut dyn Write,
    label: &str,
    st: &StartupFacts,
    style: Style,
) -> io::Result<()> {
    let channel = st
        .channel
        .map(|c| format!(" (over {})", c.as_str()))
        .unwrap_or_default();
    let (text, tone) = match st.status {
        StartupStatus::AuthRequest => {
            let what = match st.auth {
                Some(AuthMethod::Trust) => "trust: logged in without a password".to_owned(),
                Some(AuthMethod::Sasl) => format!("SASL: {}", st.sasl_mechanisms.join(", ")),
                Some(AuthMethod::Md5) => "md5 password requested".to_owned(),
                Some(AuthMethod::Password) => "cleartext password requested".to_owned(),
                Some(other) => format!("{other} authentication requested"),
                None => "? authentication requested".to_owned(),
            };
            (format!("{what}{channel}"), Tone::Good)
        }
        StartupStatus::Error => {
            let e = st.error.as_ref();
            let code = e.and_then(|e| e.sqlstate.as_deref()).unwrap_or("?????");
            let msg = e.and_then(|e| e.message.as_deref()).unwrap_or("");
            (format!("{code} {msg}{channel}"), Tone::Bad)
        }
        StartupStatus::Skipped => (
            format!("skipped ({})", st.detail.as_deref().unwrap_or("")),
            Tone::Dim,
        ),
        other => (
            format!(
                "{}: {}{channel}",
                other.as_str(),
                st.detail.as_deref().unwrap_or("")
            ),
            Tone::Bad,
        ),
    };
    phase(out, label, &text, st.elapsed_ms, tone, style)
}
#[cfg(test)]
mod snapshot_tests;
