//! `pgreach watch --html FILE`: the same kind of page as the single report, for a series of
//! probes — latency per phase over time (one SVG polyline per phase, each change of outcome
//! marked with a vertical line), the percentile table and the list of outcome changes.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::escape::{duration, esc};
use super::style::{self, FAILED, phase_color};
use super::waterfall::tick_step;
use crate::report::watch::{Outcome, Stats};

/// One probe's latencies: per phase the slowest address's time (the one an application
/// waits for), and the whole probe's.
pub struct Sample {
    pub probe: u64,
    pub phases: BTreeMap<&'static str, f64>,
}

/// A probe whose outcome differed from the one before (the first probe counts too).
pub struct Change {
    pub probe: u64,
    /// RFC 3339.
    pub time: String,
    pub outcome: Outcome,
}

/// What a watch run saw, for the page.
pub struct History<'a> {
    /// The target as typed, passwords already redacted.
    pub target: String,
    pub samples: Vec<Sample>,
    pub changes: Vec<Change>,
    pub stats: &'a BTreeMap<&'static str, Stats>,
}

/// The phases drawn, in the order of a connection.
const LINES: [(&str, &str); 6] = [
    ("dns", "DNS"),
    ("tcp", "TCP"),
    ("ssl_request", "SSLRequest"),
    ("tls", "TLS"),
    ("startup", "startup"),
    ("total", "whole probe"),
];

pub fn write(out: &mut dyn Write, h: &History) -> io::Result<()> {
    style::open_page(out, &format!("pgreach watch: {}", h.target))?;
    writeln!(out, "<h1>pgreach watch: {}</h1>", esc(&h.target))?;
    let changes = h.changes.len().saturating_sub(1);
    writeln!(
        out,
        "<p class=\"note\">{} probe(s), {changes} change(s) of outcome.</p>",
        h.samples.len()
    )?;
    writeln!(out, "<h2 id=\"latency\">Latency per phase</h2>")?;
    writeln!(
        out,
        "<p class=\"note\">Per probe, each phase's time at the slowest address. \
         <span style=\"color:{FAILED}\">Red dashed lines</span>: the outcome changed.</p>"
    )?;
    style::legend(out, &LINES)?;
    chart(out, h)?;
    percentiles(out, h.stats)?;
    change_list(out, &h.changes)?;
    style::close_page(out)
}

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;
/// Most probes drawn with a dot each.
const MAX_DOTS: usize = 60;

fn chart(out: &mut dyn Write, h: &History) -> io::Result<()> {
    let max = h
        .samples
        .iter()
        .flat_map(|s| s.phases.values().copied())
        .fold(0.0_f64, f64::max);
    let step = tick_step(max);
    let top = (max / step).ceil().max(1.0) * step;
    let last = h.samples.iter().map(|s| s.probe).max().unwrap_or(1).max(2);
    let x = |probe: u64| LEFT + (probe as f64 - 1.0) / (last as f64 - 1.0) * (WIDTH - LEFT - RIGHT);
    let y = |ms: f64| TOP + (1.0 - ms / top) * (HEIGHT - TOP - BOTTOM);
    writeln!(
        out,
        "<svg class=\"latency\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         role=\"img\" aria-label=\"Latency per phase over the probes\">"
    )?;
    let ticks = (top / step).round() as u32;
    for i in 0..=ticks {
        let ms = f64::from(i) * step;
        writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e3e7eb\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#5b6670\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y(ms) + 3.0,
            duration(ms),
            y = y(ms)
        )?;
    }
    // About ten probe numbers along the bottom, whatever the count.
    let every = last.div_ceil(10).max(1);
    for probe in (1..=last).filter(|p| (p - 1) % every == 0 || *p == last) {
        writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#5b6670\">{probe}</text>",
            x(probe),
            HEIGHT - BOTTOM + 14.0
        )?;
    }
    writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"10\" fill=\"#5b6670\">probe</text>",
        HEIGHT - 4.0
    )?;
    for c in h.changes.iter().skip(1) {
        let xc = x(c.probe);
        let codes: Vec<&str> = c.outcome.findings.iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "<line class=\"change\" data-probe=\"{}\" x1=\"{xc:.1}\" y1=\"{TOP}\" x2=\"{xc:.1}\" y2=\"{:.1}\" \
             stroke=\"{FAILED}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"><title>probe {}: {} [{}]</title></line>",
            c.probe,
            HEIGHT - BOTTOM,
            c.probe,
            c.outcome.verdict,
            esc(&codes.join(", "))
        )?;
        writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" fill=\"{FAILED}\">→ {}</text>",
            xc + 3.0,
            TOP + 10.0,
            c.outcome.verdict
        )?;
    }
    for (phase, label) in LINES {
        let points: Vec<String> = h
            .samples
            .iter()
            .filter_map(|s| {
                s.phases
                    .get(phase)
                    .map(|ms| format!("{:.1},{:.1}", x(s.probe), y(*ms)))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let width = if phase == "total" { 2.0 } else { 1.5 };
        writeln!(
            out,
            "<polyline data-phase=\"{phase}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" points=\"{}\"><title>{label}</title></polyline>",
            phase_color(phase),
            points.join(" ")
        )?;
        // A dot per probe while they are few enough to tell apart.
        if points.len() <= MAX_DOTS {
            for p in &points {
                let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
                writeln!(
                    out,
                    "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"2.5\" fill=\"{}\"/>",
                    phase_color(phase)
                )?;
            }
        }
    }
    writeln!(out, "</svg>")
}

fn percentiles(out: &mut dyn Write, stats: &BTreeMap<&'static str, Stats>) -> io::Result<()> {
    writeln!(out, "<h2 id=\"percentiles\">Percentiles</h2>")?;
    writeln!(
        out,
        "<table class=\"percentiles\">\n<tr><th>phase</th><th>n</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>"
    )?;
    for (phase, s) in stats {
        writeln!(
            out,
            "<tr data-phase=\"{phase}\"><td>{phase}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.n,
            duration(s.p50_ms),
            duration(s.p90_ms),
            duration(s.p99_ms),
            duration(s.max_ms)
        )?;
    }
    writeln!(out, "</table>")
}

fn change_list(out: &mut dyn Write, changes: &[Change]) -> io::Result<()> {
    writeln!(out, "<h2 id=\"changes\">Outcomes</h2>")?;
    writeln!(
        out,
        "<table class=\"changes\">\n<tr><th>probe</th><th>time</th><th>verdict · findings</th><th>addresses</th></tr>"
    )?;
    for c in changes {
        let codes: Vec<&str> = c.outcome.findings.iter().map(|f| f.as_str()).collect();
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
            c.probe,
            esc(&c.time),
            c.outcome.verdict,
            esc(&codes.join(", ")),
            esc(&c.outcome.addresses.join("\n")).replace('\n', "<br>")
        )?;
    }
    writeln!(out, "</table>")
}
