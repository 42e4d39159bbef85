//! The diagnosis: from the collected facts alone, what libpq would do under each sslmode
//! ([`matrix`]) and what is wrong and what to change ([`findings`]). Pure functions over
//! [`crate::facts`]: no IO, no clock (the caller passes `now`), no configuration beyond what the
//! report records.
//!
//! ```text
//! Report ─▶ matrix::for_address / for_report ─▶ SslModes   (libpq's outcome per sslmode)
//!        ─▶ findings::findings                 ─▶ Vec<Finding> (most fundamental layer first)
//! ```
//!
//! `server_error` reads a server's ErrorResponse (SQLSTATE first, the English text only to
//! split a SQLSTATE into sub-cases); `dates` reads the certificates' RFC 3339 dates.

mod dates;
pub mod findings;
pub mod matrix;
mod server_error;
#[cfg(test)]
pub(crate) mod testkit;

use crate::facts::{
    AddressFacts, Channel, Family, Report, Severity, StartupFacts, Summary, Verdict,
};

/// Fills the judgements into a report of facts: each address's matrix and whether the
/// configured sslmode reaches authentication there, the run's matrix (libpq's walk over the
/// addresses), the findings, and the summary.
pub fn apply(report: &mut Report, opts: &findings::Options) {
    let per_address: Vec<_> = (report.addresses.iter())
        .map(|a| matrix::for_address(a, &*report))
        .collect();
    for (a, modes) in report.addresses.iter_mut().zip(per_address) {
        a.reached_auth = matrix::outcome(&modes, opts.sslmode).reaches_auth;
        a.sslmodes = Some(modes);
    }
    let modes = matrix::for_report(report);
    let libpq_reaches_auth = matrix::outcome(&modes, opts.sslmode).reaches_auth;
    report.sslmodes = Some(modes);
    report.findings = findings::findings(report, opts);
    let count = |sev| report.findings.iter().filter(|f| f.severity == sev).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    report.summary = Summary {
        addresses: report.addresses.len(),
        reached_auth: report.addresses.iter().filter(|a| a.reached_auth).count(),
        libpq_reaches_auth,
        errors,
        warnings,
        verdict: match (errors, warnings) {
            (0, 0) => Verdict::Ok,
            (0, _) => Verdict::Warning,
            _ => Verdict::Error,
        },
    };
}

pub(crate) use server_error::quote as quote_error;

/// The address as findings and reports name it: `127.0.0.1:5432`, `[::1]:5432`, or the
/// socket file's path.
pub fn address_label(a: &AddressFacts) -> String {
    match a.family {
        Family::Ipv4 => format!("{}:{}", a.address, a.port),
        Family::Ipv6 => format!("[{}]:{}", a.address, a.port),
        Family::Unix => a.address.clone(),
    }
}

/// The startup that went over `channel` on this address, wherever the probe recorded it:
/// `startup` holds the channel the configured sslmode tries first, `startup_other` the other.
/// A startup that was skipped has no channel and is never returned.
pub(crate) fn startup_on(a: &AddressFacts, channel: Channel) -> Option<&StartupFacts> {
    std::iter::once(&a.startup)
        .chain(a.startup_other.as_ref())
        .find(|s| s.channel == Some(channel))
}

/// How a channel is named in reasons and evidence.
pub(crate) fn channel_words(a: &AddressFacts, channel: Channel) -> &'static str {
    match (a.family, channel) {
        (Family::Unix, _) => "over the Unix socket",
        (_, Channel::Tls) => "over SSL",
        (_, Channel::Plaintext) => "without SSL",
    }
}
