//! `--format prometheus`: metrics for node_exporter's textfile collector. The format wants
//! every sample of a metric family together, so samples are gathered per family while the
//! sweep runs and written at the end (write to a temporary file, then rename it into the
//! collector's directory, so node_exporter never reads half a file).

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::facts::Report;

/// (name, help) of each family, in output order.
const FAMILIES: [(&str, &str); 5] = [
    (
        "pgreach_probe_success",
        "1 if libpq with the configured sslmode would reach authentication on this target.",
    ),
    (
        "pgreach_probe_duration_seconds",
        "Wall time of the whole probe of the target.",
    ),
    (
        "pgreach_phase_duration_seconds",
        "Time each phase took per address (dns per host).",
    ),
    (
        "pgreach_tcp_up",
        "1 if the TCP connection to the address succeeded.",
    ),
    (
        "pgreach_tls_cert_not_after_timestamp_seconds",
        "Expiry of the server's leaf certificate, as a Unix timestamp.",
    ),
];

/// Samples gathered so far, one buffer per family.
#[derive(Default)]
pub struct Metrics {
    families: [String; 5],
}

/// A label value with `\`, `"` and newlines escaped as the exposition format requires.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn add(&mut self, target: &str, report: &Report, elapsed_seconds: f64) {
        let t = escape(target);
        let [success, duration, phases, tcp_up, cert] = &mut self.families;
        let ok = u8::from(report.summary.libpq_reaches_auth);
        let _ = writeln!(success, "pgreach_probe_success{{target=\"{t}\"}} {ok}");
        let _ = writeln!(
            duration,
            "pgreach_probe_duration_seconds{{target=\"{t}\"}} {elapsed_seconds:.6}"
        );
        report.phase_times(|address, port, name, ms| {
            let _ = writeln!(
                phases,
                "pgreach_phase_duration_seconds{{target=\"{t}\",address=\"{}\",port=\"{port}\",phase=\"{name}\"}} {:.6}",
                escape(address),
                ms / 1000.0
            );
        });
        for a in &report.addresses {
            let up = u8::from(a.tcp.status == crate::facts::TcpStatus::Ok);
            let labels = format!(
                "target=\"{t}\",address=\"{}\",port=\"{}\"",
                escape(&a.address),
                a.port
            );
            let _ = writeln!(tcp_up, "pgreach_tcp_up{{{labels}}} {up}");
            let leaf = a.tls.as_ref().and_then(|tls| tls.chain.first());
            if let Some(ts) = leaf.and_then(|c| unix_time(&c.not_after)) {
                let _ = writeln!(
                    cert,
                    "pgreach_tls_cert_not_after_timestamp_seconds{{{labels}}} {ts}"
                );
            }
        }
    }

    /// Appends another target's samples.
    pub fn merge(&mut self, other: Metrics) {
        for (all, more) in self.families.iter_mut().zip(other.families) {
            all.push_str(&more);
        }
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        for ((name, help), samples) in FAMILIES.iter().zip(&self.families) {
            writeln!(out, "# HELP {name} {help}")?;
            writeln!(out, "# TYPE {name} gauge")?;
            out.write_all(samples.as_bytes())?;
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (what the certificate facts carry) as Unix seconds.
pub fn unix_time(rfc3339: &str) -> Option<i64> {
    let (date, clock) = rfc3339.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i32>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut c = clock
        .split('.')
        .next()?
        .splitn(3, ':')
        .map(str::parse::<u8>);
    let (h, min, s) = (c.next()?.ok()?, c.next()?.ok()?, c.next()?.ok()?);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(y, month, u8::try_from(day).ok()?).ok()?;
    let t = time::Time::from_hms(h, min, s.min(59)).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_escaping() {
        assert_eq!(unix_time("1970-01-02T00:00:00Z"), Some(86400));
        assert_eq!(unix_time("2024-03-01T12:00:00Z"), Some(1_709_294_400));
        assert_eq!(unix_time("garbage"), None);
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn families_are_declared_once_each() {
        let mut out = Vec::new();
        Metrics::default().write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("# TYPE").count(), FAMILIES.len());
    }
}
