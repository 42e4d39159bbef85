//! Turns the facts into findings: what is wrong, where, and the concrete next step — sorted so
//! the most fundamental layer comes first, because fixing it may make the others disappear.
//!
//! Each layer has its own file (`network`: config-free DNS/TCP/"is it PostgreSQL"; `server`:
//! readiness and capacity; `ssl`: negotiation, handshake, trust anchors; `cert`: the
//! certificate; `hba`: pg_hba.conf and the authentication method). Detectors look at one
//! address (or host) at a time; findings with the same code for the same host are then merged
//! into one that lists every address concerned.
//!
//! # Severity
//!
//! The rule: **error** = it stops the configured sslmode from reaching authentication on an
//! address libpq tries (the same address failing in the sslmode matrix). The same problem on an
//! address libpq never tries (not returned by getaddrinfo), or where the prediction is
//! `uncertain`, is a **warning**. Everything else by judgement:
//!
//! | code | error when | otherwise |
//! |---|---|---|
//! | `root_cert_missing`, `sslrootcert_system_weak_sslmode` | always (libpq refuses the settings) | — |
//! | `dns_nxdomain`, `dns_no_address`, `dns_lookup_failed` | getaddrinfo found no address | (not emitted) |
//! | `dns_timeout` | getaddrinfo found no address | warning: each lookup waits |
//! | `address_refused`, `address_timeout`, `address_unreachable`, `address_error`, `socket_missing` | always (per the rule) | — |
//! | `ipv6_ipv4_differ` | libpq stops at the failing family | warning: the failing family is tried first and times out (every connection waits connect_timeout); info: a fast fallback, or the working family first |
//! | `not_postgres`, `ssl_request_failed`, `tls_handshake_failed`, `startup_failed` | per the rule | warning |
//! | `server_starting_up`, `server_shutting_down`, `server_in_recovery`, `too_many_clients`, `server_rejected`, `client_cert_required` | per the rule | warning (seen on the channel the configured sslmode does not use) |
//! | `server_in_recovery` after `trust` with `in_hot_standby=on` | — | warning: a read-only standby |
//! | `ssl_not_supported` | sslmode require or stricter | info for prefer/allow: the connection is unencrypted |
//! | `ssl_required_by_hba`, `ssl_required_by_server` (a pooler's "SSL required") | per the rule (sslmode=disable) | warning for allow (every connection fails once, then retries with SSL); info otherwise |
//! | `ssl_rejected_by_hba` | per the rule (require and stricter) | warning for prefer (every connection fails once, then retries unencrypted); info otherwise |
//! | `unencrypted_data_after_ssl` | per the rule | warning |
//! | `cert_untrusted`, `cert_revoked`, `cert_chain_incomplete`, `cert_expired`, `cert_not_yet_valid` | the configured sslmode checks the chain and fails (verify-ca/full, or require with a root file) | warning when TLS is used unchecked or prefer falls back to plaintext; info for disable |
//! | `cert_name_mismatch` | sslmode verify-full | info |
//! | `cert_expiring_soon` | — | warning |
//! | `pg_hba_no_entry`, `pg_hba_reject` | per the rule | warning |
//! | `auth_cleartext_over_plaintext` | — | warning when the configured sslmode authenticates over plaintext; info otherwise |
//! | `auth_md5`, `auth_trust` | — | warning |
//! | `auth_refused_by_client` (`require_auth`, `channel_binding=require`) | per the rule | warning |
//! | `libpq_refuses_settings`, `sslnegotiation_direct_weak_sslmode` | always (libpq refuses the settings) | — |
//! | `direct_tls_not_supported` (`sslnegotiation=direct`) | per the rule | warning |
//! | `post_auth_error` (trust, then e.g. database does not exist) | — | warning: authentication was reached, the session was not |
//! | `sslmode_below_verify_full` | — | info |
//! | `password_failed`, `role_missing`, `database_missing`, `server_signature_invalid` (`--login`) | always | — |
//! | `ssl_not_in_use` (`--login`) | sslmode require or stricter | warning for prefer |
//! | `read_only_server`, `connections_near_limit`, `login_failed` (`--login`) | — | warning |
//! | `login_ok` (`--login`) | — | info |
//!
//! Codes beyond the required vocabulary: `dns_lookup_failed`, `address_error`,
//! `ssl_request_failed`, `tls_handshake_failed`, `client_cert_required`, `post_auth_error`,
//! `sslrootcert_system_weak_sslmode`, plus `server_rejected` and `startup_failed` for what the
//! server says that no other code recognises.

mod cert;
mod hba;
mod login;
mod network;
mod server;
mod ssl;

use time::OffsetDateTime;

use crate::config::SslMode;
use crate::facts::{AddressFacts, Finding, FindingCode, Report, Severity};

use super::address_label;
use super::matrix::{self, Verdict};

/// What the findings depend on besides the facts.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sslmode the application uses: it decides what is an error.
    pub sslmode: SslMode,
    /// A leaf certificate with this many days left or fewer gets `cert_expiring_soon`.
    pub expiry_warn_days: i64,
    /// The time certificates are judged at.
    pub now: OffsetDateTime,
}

/// The findings for a report, most fundamental layer first; errors before warnings before
/// info within a layer; one finding per code and host.
pub fn findings(report: &Report, opts: &Options) -> Vec<Finding> {
    let ctx = Ctx::new(report, opts);
    let mut drafts = Vec::new();
    drafts.extend(ssl::config(&ctx));
    drafts.extend(network::dns(&ctx));
    for (i, a) in report.addresses.iter().enumerate() {
        let at = At { ctx: &ctx, i, a };
        drafts.extend(network::tcp(&at));
        drafts.extend(network::not_postgres(&at));
        drafts.extend(server::readiness(&at));
        drafts.extend(ssl::negotiation(&at));
        drafts.extend(cert::certificate(&at));
        drafts.extend(hba::auth_method(&at));
        drafts.extend(hba::client_policy(&at));
        drafts.extend(login::login(&at));
    }
    for host in &report.hosts {
        drafts.extend(network::families(&ctx, host));
        drafts.extend(ssl::hba_split(&ctx, host));
        drafts.extend(hba::pg_hba(&ctx, host));
        drafts.extend(cert::below_verify_full(&ctx, host));
    }
    merge_and_sort(drafts)
}

/// The layers, most fundamental first: the order findings are reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Layer {
    Config,
    Dns,
    Tcp,
    NotPostgres,
    ServerState,
    Ssl,
    Certificate,
    PgHba,
    AuthMethod,
    Info,
}

/// A finding and the layer it belongs to.
pub(crate) struct Draft {
    pub layer: Layer,
    pub finding: Finding,
}

impl Draft {
    /// A finding about no host in particular (the settings); `on` names the host.
    pub fn new(
        layer: Layer,
        code: FindingCode,
        severity: Severity,
        text: Text,
        evidence: Vec<String>,
    ) -> Draft {
        Draft {
            layer,
            finding: Finding {
                code,
                severity,
                addresses: Vec::new(),
                host: None,
                summary: text.summary,
                next_step: text.next_step,
                evidence,
            },
        }
    }

    /// The same finding about these addresses of `host`.
    pub fn on(mut self, host: &str, addresses: Vec<String>) -> Draft {
        self.finding.host = Some(host.to_owned());
        self.finding.addresses = addresses;
        self
    }
}

/// Everything detectors share: the report, the options, and the configured sslmode's verdict
/// for every address.
pub(crate) struct Ctx<'a> {
    pub report: &'a Report,
    pub opts: &'a Options,
    verdicts: Vec<Verdict>,
}

impl<'a> Ctx<'a> {
    fn new(report: &'a Report, opts: &'a Options) -> Ctx<'a> {
        let verdicts = report
            .addresses
            .iter()
            .map(|a| matrix::verdict(a, report, opts.sslmode))
            .collect();
        Ctx {
            report,
            opts,
            verdicts,
        }
    }

    /// The addresses of a host with their index, in report order.
    pub fn addresses_of(
        &self,
        host: &crate::facts::HostFacts,
    ) -> impl Iterator<Item = (usize, &'a AddressFacts)> + '_ {
        let (name, port) = (host.host.clone(), host.port);
        self.report
            .addresses
            .iter()
            .enumerate()
            .filter(move |(_, a)| a.host == name && a.port == port)
    }

    pub fn verdict(&self, i: usize) -> Option<&Verdict> {
        self.verdicts.get(i)
    }
}

/// One address being examined.
pub(crate) struct At<'a> {
    pub ctx: &'a Ctx<'a>,
    pub i: usize,
    pub a: &'a AddressFacts,
}

impl At<'_> {
    pub fn mode(&self) -> SslMode {
        self.ctx.opts.sslmode
    }

    pub fn verdict(&self) -> Option<&Verdict> {
        self.ctx.verdict(self.i)
    }

    /// The severity rule: error when the configured sslmode fails on an address libpq tries,
    /// warning when libpq never tries it or the prediction is uncertain, else `otherwise`.
    pub fn severity(&self, otherwise: Severity) -> Severity {
        match self.verdict() {
            Some(v) if v.outcome.reaches_auth => otherwise,
            Some(v) if v.outcome.uncertain => Severity::Warning,
            _ if !matrix::tried_by_libpq(self.a) => Severity::Warning,
            _ => Severity::Error,
        }
    }

    pub fn label(&self) -> String {
        address_label(self.a)
    }

    /// A finding about this address.
    pub fn draft(
        &self,
        layer: Layer,
        code: FindingCode,
        severity: Severity,
        text: Text,
        evidence: Vec<String>,
    ) -> Draft {
        Draft::new(layer, code, severity, text, evidence).on(&self.a.host, vec![self.label()])
    }
}

/// The two sentences of a finding.
pub(crate) struct Text {
    pub summary: String,
    pub next_step: String,
}

impl Text {
    pub fn new(summary: impl Into<String>, next_step: impl Into<String>) -> Text {
        Text {
            summary: summary.into(),
            next_step: next_step.into(),
        }
    }
}

/// One finding per code and host: the first one's words, every address, every distinct piece
/// of evidence, the most severe severity. Then sorted by layer and severity, stable otherwise.
fn merge_and_sort(drafts: Vec<Draft>) -> Vec<Finding> {
    let mut merged: Vec<Draft> = Vec::new();
    for d in drafts {
        let same = merged
            .iter_mut()
            .find(|m| m.finding.code == d.finding.code && m.finding.host == d.finding.host);
        match same {
            Some(m) => absorb(&mut m.finding, d.finding),
            None => merged.push(d),
        }
    }
    merged.sort_by_key(|d| (d.layer, d.finding.severity));
    merged.into_iter().map(|d| d.finding).collect()
}

fn absorb(into: &mut Finding, from: Finding) {
    into.severity = into.severity.min(from.severity);
    for a in from.addresses {
        if !into.addresses.contains(&a) {
            into.addresses.push(a);
        }
    }
    for e in from.evidence {
        if !into.evidence.contains(&e) {
            into.evidence.push(e);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
