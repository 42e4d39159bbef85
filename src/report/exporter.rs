//! `pgreach exporter`'s answers: one probe's metrics (`/probe`) and the exporter's own
//! (`/metrics`), in the Prometheus text format or, when the scraper asks for it, OpenMetrics.
//! Metric names follow blackbox_exporter's where it has one (`probe_success`,
//! `probe_duration_seconds`, `probe_ssl_earliest_cert_expiry`); the rest are pgreach's own.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

use crate::config::SslMode;
use crate::diagnose::address_label;
use crate::facts::{Family, Report, SslModes};
use crate::report::prometheus::{escape, unix_time};
use crate::vocabulary::vocabulary;

vocabulary! {
    /// The exposition format of an answer.
    pub enum Exposition {
        /// The Prometheus text format 0.0.4.
        Text = "text",
        /// OpenMetrics 1.0.0 (Prometheus asks for it first).
        OpenMetrics = "openmetrics",
    }
}

impl Exposition {
    /// OpenMetrics when the `Accept` header names it, the text format otherwise.
    pub fn from_accept(accept: Option<&str>) -> Exposition {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Exposition::OpenMetrics,
            _ => Exposition::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::Text => "text/plain; version=0.0.4; charset=utf-8",
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

vocabulary! {
    /// How a probe that ran ended, for `pgreach_exporter_probes_total`.
    #[derive(PartialOrd, Ord)]
    pub enum ProbeResult {
        /// probe_success 1.
        Success = "success",
        Failure = "failure",
    }
}

vocabulary! {
    /// Why a request got no probe.
    pub enum Refusal {
        /// 400: no target, an unknown module, an unparsable target, a setting in the URL.
        BadRequest = "bad_request",
        /// 403: the target is outside the allow list.
        Forbidden = "forbidden",
        /// 503: every probe slot stayed busy.
        Overloaded = "overloaded",
    }
}

vocabulary! {
    /// How a reload of the configuration file ended.
    pub enum ReloadResult {
        Success = "success",
        Failure = "failure",
    }
}

/// The exporter's own counters at one moment.
pub struct ExporterStats {
    /// (module, result, probes), in a stable order.
    pub probes: Vec<(String, ProbeResult, u64)>,
    pub in_flight: usize,
    pub max_concurrent: usize,
    pub refused: Vec<(Refusal, u64)>,
    pub reloads: Vec<(ReloadResult, u64)>,
    pub last_reload_successful: bool,
    pub last_reload_success_seconds: f64,
    /// Descriptors the process holds (`/proc/self/fd`), where that can be read.
    pub open_fds: Option<usize>,
}

enum Kind {
    Gauge,
    Counter,
    /// A gauge whose samples are 1 and whose labels carry the information.
    Info,
}

/// Builds one answer, family by family.
struct Writer {
    out: String,
    format: Exposition,
}

impl Writer {
    fn new(format: Exposition) -> Writer {
        Writer {
            out: String::with_capacity(4096),
            format,
        }
    }

    /// Writes the family `name` with its samples; a family without samples is left out. A
    /// label set seen twice keeps its first value: the same address twice in a multi-host
    /// target must not make a duplicate series, which would fail the whole scrape.
    fn family(&mut self, name: &str, kind: Kind, help: &str, samples: Vec<(String, f64)>) {
        if samples.is_empty() {
            return;
        }
        let open = self.format == Exposition::OpenMetrics;
        let (type_name, kind_word, suffix) = match kind {
            Kind::Gauge => (name.to_owned(), "gauge", ""),
            Kind::Counter if open => (name.to_owned(), "counter", "_total"),
            Kind::Counter => (format!("{name}_total"), "counter", "_total"),
            Kind::Info if open => (name.to_owned(), "info", "_info"),
            Kind::Info => (format!("{name}_info"), "gauge", "_info"),
        };
        let _ = writeln!(self.out, "# HELP {type_name} {help}");
        let _ = writeln!(self.out, "# TYPE {type_name} {kind_word}");
        let mut seen = HashSet::new();
        for (labels, value) in samples {
            if !seen.insert(labels.clone()) {
                continue;
            }
            let braces = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            };
            let _ = writeln!(self.out, "{name}{suffix}{braces} {value}");
        }
    }

    fn finish(mut self) -> String {
        if self.format == Exposition::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// `a="x",b="y"`, values escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out
}

/// Milliseconds as seconds, rounded to the microsecond the facts carry (so `0.001912`, not
/// `0.0019119999999999999`).
fn seconds(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1_000_000.0
}

fn one(flag: bool) -> f64 {
    f64::from(u8::from(flag))
}

/// The metrics of one probe, judged (see `session::judge`).
pub fn probe(report: &Report, elapsed: Duration, format: Exposition) -> String {
    let mut w = Writer::new(format);
    w.family(
        "probe_success",
        Kind::Gauge,
        "1 if libpq, under the module's sslmode, would reach authentication on the target.",
        vec![(String::new(), one(report.summary.libpq_reaches_auth))],
    );
    w.family(
        "probe_duration_seconds",
        Kind::Gauge,
        "How long the probe took, DNS to the last address.",
        vec![(String::new(), elapsed.as_secs_f64())],
    );
    let expiry = report
        .addresses
        .iter()
        .filter_map(|a| a.tls.as_ref())
        .flat_map(|t| &t.chain)
        .filter_map(|c| unix_time(&c.not_after))
        .min();
    w.family(
        "probe_ssl_earliest_cert_expiry",
        Kind::Gauge,
        "Earliest expiry of the certificates the server sent, as a Unix timestamp.",
        expiry
            .map(|t| (String::new(), t as f64))
            .into_iter()
            .collect(),
    );
    w.family(
        "pgreach_sslmode_reaches_auth",
        Kind::Gauge,
        "1 if libpq with this sslmode would reach authentication on the target.",
        sslmode_samples(report.sslmodes.as_ref()),
    );
    address_families(&mut w, report);
    let mut findings: Vec<(String, f64)> = Vec::new();
    for f in &report.findings {
        let l = labels(&[("code", f.code.as_str()), ("severity", f.severity.as_str())]);
        match findings.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += 1.0,
            None => findings.push((l, 1.0)),
        }
    }
    w.family(
        "pgreach_finding",
        Kind::Gauge,
        "Findings of the probe by code and severity (the codes of pgreach's JSON report).",
        findings,
    );
    w.finish()
}

fn sslmode_samples(modes: Option<&SslModes>) -> Vec<(String, f64)> {
    let Some(m) = modes else {
        return Vec::new();
    };
    SslMode::ALL
        .iter()
        .map(|mode| {
            let outcome = match mode {
                SslMode::Disable => &m.disable,
                SslMode::Allow => &m.allow,
                SslMode::Prefer => &m.prefer,
                SslMode::Require => &m.require,
                SslMode::VerifyCa => &m.verify_ca,
                SslMode::VerifyFull => &m.verify_full,
            };
            (
                labels(&[("sslmode", mode.as_str())]),
                one(outcome.reaches_auth),
            )
        })
        .collect()
}

/// The per-address families.
fn address_families(w: &mut Writer, report: &Report) {
    let mut reached = Vec::new();
    let mut answers = Vec::new();
    let mut methods = Vec::new();
    let mut versions = Vec::new();
    for a in &report.addresses {
        let address = address_label(a);
        let family = match a.family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
            Family::Unix => "unix",
        };
        reached.push((
            labels(&[("address", &address), ("family", family)]),
            one(a.reached_auth),
        ));
        let answer = a.ssl_request.answer.as_str();
        answers.push((labels(&[("address", &address), ("answer", answer)]), 1.0));
        for method in [&a.startup]
            .into_iter()
            .chain(a.startup_other.as_ref())
            .filter_map(|s| s.auth)
        {
            let l = labels(&[("address", &address), ("method", method.as_str())]);
            methods.push((l, 1.0));
        }
        if let Some(v) = a.tls.as_ref().and_then(|t| t.version.as_deref()) {
            versions.push((labels(&[("address", &address), ("version", v)]), 1.0));
        }
    }
    let mut phases = Vec::new();
    report.phase_times(|address, port, phase, ms| {
        let place = match address.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{address}]:{port}"),
            Err(_) => format!("{address}:{port}"),
        };
        phases.push((
            labels(&[("address", &place), ("phase", phase)]),
            seconds(ms),
        ));
    });
    w.family(
        "pgreach_address_reaches_auth",
        Kind::Gauge,
        "1 if the module's sslmode reaches authentication on this address.",
        reached,
    );
    w.family(
        "pgreach_phase_duration_seconds",
        Kind::Gauge,
        "How long each phase took: dns per host, tcp, ssl_request, tls and startup per address.",
        phases,
    );
    w.family(
        "pgreach_ssl_request_answer",
        Kind::Gauge,
        "The server's answer to the SSLRequest (S, N, E, eof, timeout, other, error, skipped).",
        answers,
    );
    w.family(
        "pgreach_auth_method",
        Kind::Gauge,
        "The authentication method the server asked for, per address.",
        methods,
    );
    w.family(
        "pgreach_tls_version",
        Kind::Info,
        "The TLS version the handshake with this address agreed on.",
        versions,
    );
}

/// The exporter's own metrics.
pub fn exporter(stats: &ExporterStats, format: Exposition) -> String {
    let mut w = Writer::new(format);
    let probes = stats
        .probes
        .iter()
        .map(|(module, result, n)| {
            let l = labels(&[("module", module), ("result", result.as_str())]);
            (l, *n as f64)
        })
        .collect();
    w.family(
        "pgreach_exporter_probes",
        Kind::Counter,
        "Probes run, by module and result (success: probe_success 1).",
        probes,
    );
    w.family(
        "pgreach_exporter_probes_in_flight",
        Kind::Gauge,
        "Probes running now.",
        vec![(String::new(), stats.in_flight as f64)],
    );
    w.family(
        "pgreach_exporter_max_concurrent_probes",
        Kind::Gauge,
        "Probes allowed to run at once (--max-concurrent).",
        vec![(String::new(), stats.max_concurrent as f64)],
    );
    let refused = stats
        .refused
        .iter()
        .map(|(r, n)| (labels(&[("reason", r.as_str())]), *n as f64))
        .collect();
    w.family(
        "pgreach_exporter_refused_requests",
        Kind::Counter,
        "Requests answered without a probe: bad_request (400), forbidden (403), overloaded (503).",
        refused,
    );
    let reloads = stats
        .reloads
        .iter()
        .map(|(r, n)| (labels(&[("result", r.as_str())]), *n as f64))
        .collect();
    w.family(
        "pgreach_exporter_config_reloads",
        Kind::Counter,
        "Reloads of the configuration file (SIGHUP), by result.",
        reloads,
    );
    w.family(
        "pgreach_exporter_config_last_reload_successful",
        Kind::Gauge,
        "1 if the last reload of the configuration file succeeded (or none was asked for).",
        vec![(String::new(), one(stats.last_reload_successful))],
    );
    w.family(
        "pgreach_exporter_config_last_reload_success_timestamp_seconds",
        Kind::Gauge,
        "When the configuration in use was loaded, as a Unix timestamp.",
        vec![(String::new(), stats.last_reload_success_seconds)],
    );
    w.family(
        "pgreach_exporter_open_fds",
        Kind::Gauge,
        "File descriptors the exporter holds.",
        stats
            .open_fds
            .map(|n| (String::new(), n as f64))
            .into_iter()
            .collect(),
    );
    w.family(
        "pgreach_exporter_build",
        Kind::Info,
        "The pgreach version serving.",
        vec![(labels(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)],
    );
    w.finish()
}

/// `/`: what the exporter serves and the modules it has loaded (secrets shown as `***`).
pub fn index(modules: &[(String, Vec<(&'static str, String)>)]) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgreach exporter</title></head><body>\n\
         <h1>pgreach exporter</h1>\n<ul>\n\
         <li><a href=\"/probe?target=localhost:5432&amp;module=default\">/probe?target=HOST:PORT&amp;module=NAME</a></li>\n\
         <li><a href=\"/metrics\">/metrics</a>: the exporter's own metrics</li>\n\
         <li><a href=\"/-/healthy\">/-/healthy</a></li>\n</ul>\n<h2>Modules</h2>\n",
    );
    for (name, settings) in modules {
        let _ = writeln!(out, "<h3>{}</h3>\n<ul>", html(name));
        for (key, value) in settings {
            let _ = writeln!(out, "<li><code>{key}: {}</code></li>", html(value));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> ExporterStats {
        ExporterStats {
            probes: vec![("verify".into(), ProbeResult::Success, 3)],
            in_flight: 1,
            max_concurrent: 128,
            refused: vec![(Refusal::Forbidden, 2)],
            reloads: vec![(ReloadResult::Failure, 1)],
            last_reload_successful: false,
            last_reload_success_seconds: 1.7e9,
            open_fds: Some(12),
        }
    }

    #[test]
    fn counters_are_named_per_format() {
        let text = exporter(&stats(), Exposition::Text);
        assert!(text.contains("# TYPE pgreach_exporter_probes_total counter\n"));
        assert!(
            text.contains(
                "pgreach_exporter_probes_total{module=\"verify\",result=\"success\"} 3\n"
            )
        );
        assert!(text.contains("# TYPE pgreach_exporter_build_info gauge\n"));
        assert!(!text.contains("# EOF"));
        let open = exporter(&stats(), Exposition::OpenMetrics);
        assert!(open.contains("# TYPE pgreach_exporter_probes counter\n"));
        assert!(open.contains("# TYPE pgreach_exporter_build info\n"));
        assert!(open.ends_with("# EOF\n"));
    }

    #[test]
    fn duplicate_label_sets_keep_the_first() {
        let mut w = Writer::new(Exposition::Text);
        let l = labels(&[("address", "a\"b")]);
        w.family("x", Kind::Gauge, "h", vec![(l.clone(), 1.0), (l, 0.0)]);
        let out = w.finish();
        assert_eq!(out.matches("x{").count(), 1, "{out}");
        assert!(out.contains("x{address=\"a\\\"b\"} 1\n"));
    }

    #[test]
    fn accept_header_picks_the_format() {
        let prom = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Exposition::from_accept(Some(prom)), Exposition::OpenMetrics);
        assert_eq!(Exposition::from_accept(Some("*/*")), Exposition::Text);
        assert_eq!(Exposition::from_accept(None), Exposition::Text);
    }
}
