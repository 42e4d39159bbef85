//! The phase waterfall: one row per address in the order libpq tries them, one bar per phase
//! that ran, drawn to one time scale in inline SVG. Each `<rect>` carries `data-phase` and
//! `data-outcome` (and `data-failed`) so that tests and readers can query the DOM.
//!
//! The facts hold each phase's elapsed time, not its start, so a row lays its phases end to
//! end: the DNS queries A and AAAA side by side from zero, then TCP, SSLRequest, TLS, startup
//! and the other channel one after another. Addresses are probed concurrently, so every row's
//! connection starts when DNS is done.

use std::io::{self, Write};

use super::escape::{duration, esc};
use super::style::{FAILED, phase_color};
use crate::config::SslMode;
use crate::diagnose::address_label;
use crate::facts::{
    AddressFacts, HostFacts, LookupFacts, LookupOutcome, Report, SslAnswer, StartupFacts,
    StartupStatus, TcpStatus, TlsFacts, TlsStatus,
};

/// Every phase the waterfall can draw, as `data-phase` names it and as a reader does.
pub const PHASES: [(&str, &str); 7] = [
    ("dns_a", "DNS A"),
    ("dns_aaaa", "DNS AAAA"),
    ("tcp", "TCP"),
    ("ssl_request", "SSLRequest"),
    ("tls", "TLS"),
    ("startup", "startup"),
    ("startup_other", "other channel"),
];

/// One phase's bar.
#[derive(Debug)]
pub struct Bar {
    pub phase: &'static str,
    pub start_ms: f64,
    pub ms: f64,
    /// A word from the facts' vocabularies (`ok`, `refused`, `S`, `auth_request`,
    /// `cert_expired` …): the `data-outcome`.
    pub outcome: String,
    pub failed: bool,
    /// What a reader sees on hover: the facts behind the outcome (may hold server text).
    pub detail: String,
}

/// One address's row.
#[derive(Debug)]
pub struct Row {
    pub address: String,
    pub note: String,
    pub bars: Vec<Bar>,
}

/// The rows in libpq's order: host by host as given, and within a host the system resolver's
/// order; addresses getaddrinfo never returned (libpq never tries them) come last.
pub fn rows(report: &Report) -> Vec<Row> {
    let mut addrs: Vec<&AddressFacts> = report.addresses.iter().collect();
    let host_pos = |a: &AddressFacts| {
        report
            .hosts
            .iter()
            .position(|h| h.host == a.host && h.port == a.port)
    };
    addrs.sort_by_key(|a| (host_pos(a), a.system_rank.unwrap_or(usize::MAX)));
    addrs
        .into_iter()
        .map(|a| {
            let host = host_pos(a).and_then(|i| report.hosts.get(i));
            row(a, host, report.config.sslmode)
        })
        .collect()
}

fn row(a: &AddressFacts, host: Option<&HostFacts>, mode: SslMode) -> Row {
    let mut bars = Vec::new();
    let mut t = 0.0;
    if let Some(dns) = host.and_then(|h| h.dns.as_ref()) {
        bars.push(lookup_bar("dns_a", &dns.a));
        bars.push(lookup_bar("dns_aaaa", &dns.aaaa));
        t = dns.a.elapsed_ms.max(dns.aaaa.elapsed_ms);
    }
    let mut push = |mut bar: Bar| {
        bar.start_ms = t;
        t += bar.ms;
        bars.push(bar);
    };
    push(tcp_bar(a));
    if let Some(bar) = ssl_bar(a) {
        push(bar);
    }
    if let Some(bar) = a.tls.as_ref().map(|tls| tls_bar(tls, mode)) {
        push(bar);
    }
    if let Some(bar) = startup_bar("startup", &a.startup) {
        push(bar);
    }
    if let Some(bar) = a
        .startup_other
        .as_ref()
        .and_then(|s| startup_bar("startup_other", s))
    {
        push(bar);
    }
    let rank = match a.system_rank {
        Some(r) => format!("libpq tries it #{}", r + 1),
        None if a.family == crate::facts::Family::Unix => "Unix socket".to_owned(),
        None => "not returned by getaddrinfo: libpq never tries it".to_owned(),
    };
    let reach = if a.reached_auth {
        "reaches authentication"
    } else {
        "does not reach authentication"
    };
    Row {
        address: address_label(a),
        note: format!("{} · {rank} · {reach} with sslmode={mode}", a.family),
        bars,
    }
}

fn bar(phase: &'static str, ms: f64, outcome: &str, failed: bool, detail: String) -> Bar {
    Bar {
        phase,
        start_ms: 0.0,
        ms,
        outcome: outcome.to_owned(),
        failed,
        detail,
    }
}

fn lookup_bar(phase: &'static str, l: &LookupFacts) -> Bar {
    let failed = !matches!(l.outcome, LookupOutcome::Answers | LookupOutcome::NoRecords);
    let list: Vec<String> = l.addresses.iter().map(|a| a.to_string()).collect();
    let detail = match (&l.error, list.is_empty()) {
        (Some(e), _) => e.clone(),
        (None, false) => format!("{} ({})", list.join(", "), l.source),
        (None, true) => l.outcome.to_string(),
    };
    bar(phase, l.elapsed_ms, l.outcome.as_str(), failed, detail)
}

fn tcp_bar(a: &AddressFacts) -> Bar {
    let detail = a.tcp.error.clone().unwrap_or_else(|| "connected".into());
    let failed = a.tcp.status != TcpStatus::Ok;
    bar(
        "tcp",
        a.tcp.elapsed_ms,
        a.tcp.status.as_str(),
        failed,
        detail,
    )
}

fn ssl_bar(a: &AddressFacts) -> Option<Bar> {
    let s = &a.ssl_request;
    if s.answer == SslAnswer::Skipped {
        return None;
    }
    let ms = s.elapsed_ms?;
    let injected = s.unencrypted_bytes_after_s.unwrap_or(0) > 0;
    let failed = injected || !matches!(s.answer, SslAnswer::S | SslAnswer::N);
    let detail = match (&s.error, &s.detail, &s.peer_bytes) {
        (Some(e), _, _) => crate::diagnose::quote_error(e),
        (None, Some(d), _) => d.clone(),
        (None, None, Some(p)) => p.clone(),
        (None, None, None) => format!("answered {}", s.answer),
    };
    Some(bar("ssl_request", ms, s.answer.as_str(), failed, detail))
}

/// A handshake that completed can still end libpq's attempt at the certificate: under
/// verify-ca/verify-full a chain or name that fails is this phase's failure.
fn tls_bar(tls: &TlsFacts, mode: SslMode) -> Bar {
    if tls.status != TlsStatus::Ok {
        let detail = tls.error.clone().unwrap_or_else(|| tls.status.to_string());
        return bar("tls", tls.elapsed_ms, tls.status.as_str(), true, detail);
    }
    let verifies = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    if let Some(v) = tls.verify_ca.as_ref().filter(|v| !v.ok) {
        let code = v.code.map(|c| c.as_str()).unwrap_or("untrusted");
        let outcome = format!("cert_{code}");
        return bar("tls", tls.elapsed_ms, &outcome, verifies, v.reason.clone());
    }
    if let Some(v) = tls.verify_full.as_ref().filter(|v| !v.ok) {
        let failed = mode == SslMode::VerifyFull;
        return bar(
            "tls",
            tls.elapsed_ms,
            "cert_name_mismatch",
            failed,
            v.reason.clone(),
        );
    }
    let detail = format!(
        "{} {}",
        tls.version.as_deref().unwrap_or("?"),
        tls.cipher_suite.as_deref().unwrap_or("")
    );
    bar("tls", tls.elapsed_ms, "ok", false, detail)
}

fn startup_bar(phase: &'static str, s: &StartupFacts) -> Option<Bar> {
    if s.status == StartupStatus::Skipped {
        return None;
    }
    let ms = s.elapsed_ms?;
    let channel = s.channel.map(|c| format!(" over {c}")).unwrap_or_default();
    let what = match (&s.error, s.auth) {
        (Some(e), _) => crate::diagnose::quote_error(e),
        (None, Some(m)) => format!("{m} authentication requested"),
        (None, None) => s.detail.clone().unwrap_or_else(|| s.status.to_string()),
    };
    let failed = s.status != StartupStatus::AuthRequest;
    Some(bar(
        phase,
        ms,
        s.status.as_str(),
        failed,
        format!("{what}{channel}"),
    ))
}

/// Geometry, in viewBox units: the SVG scales to the page's width, so these are proportions.
const WIDTH: f64 = 800.0;
const LABEL_W: f64 = 112.0;
const PLOT_W: f64 = 470.0;
const HEAD_H: f64 = 22.0;
const BAR_H: f64 = 14.0;
const LINE_H: f64 = 20.0;
const ROW_GAP: f64 = 12.0;
const AXIS_H: f64 = 24.0;
/// Width of one character of the 12-unit label font, for placing labels without measuring.
const CHAR_W: f64 = 6.6;
/// The narrowest bar drawn, so that a 0.1 ms phase beside a 2 s timeout is still visible.
const MIN_BAR: f64 = 2.0;

/// Writes the waterfall's `<svg>`.
pub fn write(out: &mut dyn Write, rows: &[Row]) -> io::Result<()> {
    let end = rows
        .iter()
        .flat_map(|r| r.bars.iter().map(|b| b.start_ms + b.ms))
        .fold(0.0_f64, f64::max);
    let step = tick_step(end);
    let span = (end / step).ceil().max(1.0) * step;
    let x = |ms: f64| LABEL_W + ms / span * PLOT_W;
    let height = AXIS_H
        + rows
            .iter()
            .map(|r| HEAD_H + r.bars.len() as f64 * LINE_H + ROW_GAP)
            .sum::<f64>();
    writeln!(
        out,
        "<svg class=\"waterfall\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         role=\"img\" aria-label=\"Phase waterfall: one row per address\">"
    )?;
    axis(out, step, span, height, &x)?;
    let mut y = AXIS_H;
    for r in rows {
        writeln!(
            out,
            "<g class=\"row\" data-address=\"{}\">",
            esc(&r.address)
        )?;
        writeln!(
            out,
            "<text x=\"4\" y=\"{:.1}\" font-size=\"13\" font-weight=\"600\">{} <tspan font-weight=\"400\" font-size=\"11\" fill=\"#5b6670\">{}</tspan></text>",
            y + 15.0,
            esc(&r.address),
            esc(&r.note)
        )?;
        y += HEAD_H;
        for b in &r.bars {
            bar_line(out, b, y, &x)?;
            y += LINE_H;
        }
        writeln!(out, "</g>")?;
        y += ROW_GAP;
    }
    writeln!(out, "</svg>")
}

/// The time axis: a light vertical line and a label at each tick.
fn axis(
    out: &mut dyn Write,
    step: f64,
    span: f64,
    height: f64,
    x: &dyn Fn(f64) -> f64,
) -> io::Result<()> {
    let ticks = (span / step).round() as u32;
    for i in 0..=ticks {
        let ms = f64::from(i) * step;
        let xi = x(ms);
        let anchor = if i == ticks { "end" } else { "middle" };
        writeln!(
            out,
            "<line x1=\"{xi:.1}\" y1=\"{:.1}\" x2=\"{xi:.1}\" y2=\"{height:.1}\" stroke=\"#e3e7eb\"/>\
             <text x=\"{xi:.1}\" y=\"12\" font-size=\"10\" fill=\"#5b6670\" text-anchor=\"{anchor}\">{}</text>",
            AXIS_H - 6.0,
            duration(ms)
        )?;
    }
    Ok(())
}

fn bar_line(out: &mut dyn Write, b: &Bar, y: f64, x: &dyn Fn(f64) -> f64) -> io::Result<()> {
    let label = PHASES
        .iter()
        .find(|(p, _)| *p == b.phase)
        .map_or(b.phase, |(_, l)| l);
    let (x0, x1) = (
        x(b.start_ms),
        x(b.start_ms + b.ms).max(x(b.start_ms) + MIN_BAR),
    );
    let fill = if b.failed {
        FAILED
    } else {
        phase_color(b.phase)
    };
    let mark = if b.failed { "✗ " } else { "" };
    let text = format!("{mark}{} · {}", duration(b.ms), b.outcome);
    writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"end\" fill=\"#39424b\">{label}</text>",
        LABEL_W - 6.0,
        y + 11.0
    )?;
    // A failed bar is also outlined and dashed, so it stands out without colour.
    let stroke = if b.failed {
        " stroke=\"#7f0000\" stroke-width=\"1.5\" stroke-dasharray=\"3 2\""
    } else {
        ""
    };
    writeln!(
        out,
        "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR_H}\" rx=\"2\" fill=\"{fill}\"{stroke} \
         data-phase=\"{}\" data-outcome=\"{}\" data-failed=\"{}\" data-ms=\"{}\"><title>{label}: {} · {} — {}</title></rect>",
        x1 - x0,
        b.phase,
        esc(&b.outcome),
        b.failed,
        b.ms,
        duration(b.ms),
        esc(&b.outcome),
        esc(&b.detail)
    )?;
    // The label goes right of the bar, else left of it, else inside it in white.
    let width = text.chars().count() as f64 * CHAR_W;
    let (tx, anchor, color) = if x1 + 4.0 + width <= WIDTH - 2.0 {
        (x1 + 4.0, "start", "#1d232a")
    } else if x0 - 4.0 - width >= LABEL_W {
        (x0 - 4.0, "end", "#1d232a")
    } else {
        (x1 - 4.0, "end", "#fff")
    };
    let weight = if b.failed { " font-weight=\"700\"" } else { "" };
    writeln!(
        out,
        "<text class=\"bar-label\" x=\"{tx:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"{anchor}\" fill=\"{color}\"{weight}>{}</text>",
        y + 11.0,
        esc(&text)
    )
}

/// A tick step of 1, 2 or 5 times a power of ten giving about four ticks.
pub fn tick_step(end_ms: f64) -> f64 {
    let raw = (end_ms.max(0.001)) / 4.0;
    let pow = 10f64.powf(raw.log10().floor());
    let m = raw / pow;
    let nice = if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * pow
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(tick_step(2000.0), 500.0);
        assert_eq!(tick_step(7.3), 2.0);
        assert_eq!(tick_step(0.9), 0.5);
        assert!(tick_step(0.0) > 0.0);
    }
}
