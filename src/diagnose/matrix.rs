//! What libpq would do under each sslmode, predicted from one probe's facts (reference §6.2,
//! §6.3, §8.1): per address ([`for_address`]), and for the whole target walking the addresses
//! in libpq's order ([`for_report`]).
//!
//! # How libpq is modelled
//!
//! Each mode is a sequence of attempts over two channels, SSL and plaintext, each read from the
//! facts of the connection that went over that channel (`startup` / `startup_other`):
//!
//! | sslmode | first attempt | `N` | TLS fails (handshake, root file, chain) | ErrorResponse before auth |
//! |---|---|---|---|---|
//! | disable | plaintext | — | — | stop |
//! | allow | plaintext | (on the retry) stop | (on the retry) stop | retry **with** SSL |
//! | prefer | SSL | plaintext on the same connection | retry without SSL | retry without SSL |
//! | require | SSL | stop: "server does not support SSL, but SSL was required" | stop | stop |
//! | verify-ca / verify-full | SSL, chain checked (and name for verify-full) | stop | stop | stop |
//!
//! Decisions, with the reference section they rest on:
//! * A root file that exists (`sslrootcert`, or `~/.postgresql/root.crt`) makes libpq check the
//!   chain in **every** mode that does TLS (§6.3): `require` then behaves like `verify-ca`,
//!   `prefer` falls back to plaintext on an untrusted chain, `allow`'s SSL retry fails.
//! * The root file is read only after the server answered `S` (§6.3): a server answering `N`
//!   gives "server does not support SSL…", not the missing-file error. A missing file under
//!   verify-* fails at stage `config`, with libpq's words.
//! * A client certificate libpq cannot use (`sslcert` without its key, a key readable by
//!   others, a key that does not match) fails every SSL attempt in `initialize_SSL`, whether or
//!   not the server asks for a certificate, right after the root file is read: like a root-file
//!   failure, `prefer` retries without SSL and `allow`'s SSL retry fails.
//! * `sslrootcert=system` with any mode but verify-full is refused by libpq 16+ before it
//!   connects (§6.4): stage `config`, no address.
//! * Unencrypted bytes after `S` are a hard error in every SSL attempt, **without** prefer's
//!   plaintext retry: libpq checks them after a *successful* handshake and `goto error_return`
//!   (§1.5), unlike a failed handshake, which `CONNECTION_FAILED()` retries (§6.2).
//! * `E`, EOF, a reset or another byte in answer to SSLRequest are hard errors too (§1.4,
//!   "goto error_return"); so are EOF and protocol violations after the StartupMessage.
//! * SQLSTATE 57P03 is never retried on the other channel ("nor is there much point in changing
//!   SSL or GSS mode", §4.5); it moves libpq to the next **host**.
//! * A timeout anywhere is libpq's connect_timeout (§8.2): it moves to the next address, and a
//!   fallback on the same address gets no fresh timer, so it is not retried on the other channel.
//! * Unix sockets are always plaintext, whatever sslmode says (§6.2).
//! * GSSAPI encryption is not modelled: the probe does not hold Kerberos credentials, and
//!   without a credential cache libpq skips it (§6.2).
//! * A fact the mode needs but the probe did not collect (`--quiet-server` skips the other
//!   channel) makes the outcome `uncertain`, stage `unknown`, with the reason saying what is
//!   missing.
//!
//! Stages: `dns`, `tcp`, `ssl_negotiation`, `tls_handshake`, `config`, `certificate`,
//! `hostname`, `server_error`, `startup` (EOF, reset or garbage after the StartupMessage),
//! `auth`, and `unknown` for an uncertain outcome.

mod attempt;
mod auth;
mod tls;

use crate::config::{LoadBalanceHosts, SslCertMode, SslMode, SslNegotiation};
use crate::facts::{
    AddressFacts, Channel, Family, HostFacts, ModeOutcome, Report, SslModes, Stage, TcpStatus,
    TrustFacts,
};
use crate::facts::{ClientIdentityFacts, FileSource};

use super::{address_label, channel_words};
use attempt::{Failure, Step, plaintext, tcp_failure};
use tls::{Checks, Ssl, over_ssl};

pub(crate) use attempt::auth_words;
pub use auth::Policy;
pub(crate) use tls::{Roots, name_mismatch, roots};

/// What libpq does after a failed address (§8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Abort the whole attempt (also the answer after success).
    Stop,
    /// Try the next address of this host.
    Address,
    /// Skip the rest of this host's addresses.
    Host,
}

/// One mode's outcome on one address, with what the walk over addresses needs.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub outcome: ModeOutcome,
    /// The channel authentication was reached over.
    pub channel: Option<Channel>,
    pub next: Next,
}

/// What libpq's `initialize_SSL` reads on the client side: the trust anchors, and the client
/// certificate and key. From a [`Report`], or from [`TrustFacts`] alone (no client-certificate
/// problem).
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub trust: &'a TrustFacts,
    /// libpq's message when it would refuse to start TLS because of sslcert/sslkey.
    pub client_error: Option<&'a str>,
    /// How TLS is started (libpq 17+ `sslnegotiation`).
    pub negotiation: SslNegotiation,
    /// Which authentication requests the client accepts.
    pub auth: Policy<'a>,
}

impl<'a> Setup<'a> {
    pub fn new(trust: &'a TrustFacts, client: &'a ClientIdentityFacts) -> Setup<'a> {
        Setup {
            client_error: client.error.as_deref(),
            ..Setup::from(trust)
        }
    }
}

impl<'a> From<&'a TrustFacts> for Setup<'a> {
    fn from(trust: &'a TrustFacts) -> Self {
        Setup {
            trust,
            client_error: None,
            negotiation: SslNegotiation::Postgres,
            auth: Policy::default(),
        }
    }
}

impl<'a> From<&'a Report> for Setup<'a> {
    fn from(report: &'a Report) -> Self {
        Setup {
            negotiation: report.config.sslnegotiation,
            auth: Policy {
                require_auth: report.config.require_auth.as_ref(),
                channel_binding: report.config.channel_binding,
                cert_required: report.config.sslcertmode == SslCertMode::Require,
                min_protocol: report.config.min_protocol_version,
            },
            ..Setup::new(&report.trust, &report.client_certificate)
        }
    }
}

/// What libpq would do with this address alone, under each sslmode.
pub fn for_address<'a>(a: &AddressFacts, setup: impl Into<Setup<'a>>) -> SslModes {
    let setup = setup.into();
    modes(|mode| verdict(a, setup, mode).outcome)
}

/// What libpq would do with the whole target under each sslmode: hosts in the given order,
/// within a host the addresses in getaddrinfo's order.
pub fn for_report(report: &Report) -> SslModes {
    modes(|mode| walk(report, mode))
}

fn modes(mut f: impl FnMut(SslMode) -> ModeOutcome) -> SslModes {
    SslModes {
        disable: f(SslMode::Disable),
        allow: f(SslMode::Allow),
        prefer: f(SslMode::Prefer),
        require: f(SslMode::Require),
        verify_ca: f(SslMode::VerifyCa),
        verify_full: f(SslMode::VerifyFull),
    }
}

/// The outcome of one mode in a [`SslModes`].
pub fn outcome(modes: &SslModes, mode: SslMode) -> &ModeOutcome {
    match mode {
        SslMode::Disable => &modes.disable,
        SslMode::Allow => &modes.allow,
        SslMode::Prefer => &modes.prefer,
        SslMode::Require => &modes.require,
        SslMode::VerifyCa => &modes.verify_ca,
        SslMode::VerifyFull => &modes.verify_full,
    }
}

/// Whether libpq ever connects to this address: sockets always; TCP addresses only when
/// getaddrinfo returned them (the probe also tries addresses only the A/AAAA queries saw).
pub(crate) fn tried_by_libpq(a: &AddressFacts) -> bool {
    a.family == Family::Unix || a.system_rank.is_some()
}

/// The addresses of `host`, in the order libpq tries them, untried ones left out.
pub(crate) fn libpq_order<'a>(report: &'a Report, host: &HostFacts) -> Vec<&'a AddressFacts> {
    let mut list: Vec<&AddressFacts> = report
        .addresses
        .iter()
        .filter(|a| a.host == host.host && a.port == host.port && tried_by_libpq(a))
        .collect();
    list.sort_by_key(|a| a.system_rank.unwrap_or(0));
    list
}

fn walk(report: &Report, mode: SslMode) -> ModeOutcome {
    // A setting libpq refuses stops the whole run before any address. Only the run's matrix
    // says so: per address (and for the findings' severities) the matrix shows what happens
    // once the setting is fixed.
    if let Some(refused) = report.config.refusals.first() {
        return fail_outcome(Stage::Config, refused.message.clone(), None);
    }
    if let Some(refusal) = settings_refusal(Setup::from(report), mode) {
        return refusal.outcome;
    }
    // Each host's verdicts, in libpq's order; an empty list is a host that did not resolve.
    let hosts: Vec<(&HostFacts, Vec<Verdict>)> = (report.hosts.iter())
        .map(|host| {
            let verdicts = (libpq_order(report, host).into_iter())
                .map(|a| verdict(a, report, mode))
                .collect();
            (host, verdicts)
        })
        .collect();
    match report.config.load_balance_hosts {
        LoadBalanceHosts::Disable => {
            walk_in_order(hosts.iter().map(|(host, v)| (*host, v.iter().collect())))
        }
        LoadBalanceHosts::Random => walk_in_every_order(&hosts),
    }
}

/// libpq's walk over hosts and their addresses in the order given.
fn walk_in_order<'v>(
    hosts: impl IntoIterator<Item = (&'v HostFacts, Vec<&'v Verdict>)>,
) -> ModeOutcome {
    let mut last: Option<ModeOutcome> = None;
    let mut dns_failure: Option<ModeOutcome> = None;
    for (host, verdicts) in hosts {
        if verdicts.is_empty() {
            dns_failure.get_or_insert_with(|| unresolved(host));
            continue;
        }
        for v in verdicts {
            match v.next {
                Next::Stop => return v.outcome.clone(),
                Next::Address => last = Some(v.outcome.clone()),
                Next::Host => {
                    last = Some(v.outcome.clone());
                    break;
                }
            }
        }
    }
    last.or(dns_failure).unwrap_or_else(nothing_to_try)
}

/// Orders `load_balance_hosts=random` is checked in before it is called uncertain.
const MAX_ORDERS: usize = 720;

/// `load_balance_hosts=random` (libpq 16+, §8.4) shuffles the hosts and each host's addresses:
/// the outcome is certain only when every order gives the same answer, so every order is
/// walked (up to [`MAX_ORDERS`]).
fn walk_in_every_order(hosts: &[(&HostFacts, Vec<Verdict>)]) -> ModeOutcome {
    let Some(orders) = orders_of(hosts) else {
        return uncertain_order(format!(
            "load_balance_hosts=random: more than {MAX_ORDERS} orders of hosts and addresses to check"
        ));
    };
    let outcomes: Vec<ModeOutcome> = (orders.iter())
        .map(|order| {
            walk_in_order(order.iter().map(|(h, addresses)| {
                let (host, verdicts) = &hosts[*h];
                (*host, addresses.iter().map(|&i| &verdicts[i]).collect())
            }))
        })
        .collect();
    let reaching = outcomes.iter().filter(|o| o.reaches_auth).count();
    let first = outcomes.into_iter().next().unwrap_or_else(nothing_to_try);
    if reaching == 0 || reaching == orders.len() {
        return ModeOutcome {
            reason: format!(
                "{} (in every order load_balance_hosts=random can pick)",
                first.reason
            ),
            address: None,
            ..first
        };
    }
    uncertain_order(format!(
        "load_balance_hosts=random: libpq tries the hosts and their addresses in random order, and {reaching} of {} orders reach authentication",
        orders.len()
    ))
}

fn uncertain_order(reason: String) -> ModeOutcome {
    ModeOutcome {
        reaches_auth: false,
        stage: Stage::Unknown,
        reason,
        address: None,
        uncertain: true,
    }
}

/// One order of the walk: host indices, each with the order of its addresses' indices.
type Order = Vec<(usize, Vec<usize>)>;

/// Every order of hosts, each with every order of its addresses; `None` when there are more
/// than [`MAX_ORDERS`].
fn orders_of(hosts: &[(&HostFacts, Vec<Verdict>)]) -> Option<Vec<Order>> {
    let factorial = |n: usize| (1..=n).try_fold(1usize, |acc, k| acc.checked_mul(k));
    let count = hosts
        .iter()
        .try_fold(factorial(hosts.len())?, |n, (_, v)| {
            n.checked_mul(factorial(v.len())?)
        })?;
    if count > MAX_ORDERS {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    for host_order in permutations(hosts.len()) {
        let mut partial: Vec<Order> = vec![Vec::new()];
        for h in host_order {
            partial = (partial.iter())
                .flat_map(|prefix| {
                    permutations(hosts[h].1.len())
                        .into_iter()
                        .map(move |addresses| {
                            let mut order = prefix.clone();
                            order.push((h, addresses));
                            order
                        })
                })
                .collect();
        }
        out.extend(partial);
    }
    Some(out)
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}

fn unresolved(host: &HostFacts) -> ModeOutcome {
    let why = host
        .dns
        .as_ref()
        .and_then(|d| d.system.error.clone())
        .unwrap_or_else(|| "no address".into());
    fail_outcome(
        Stage::Dns,
        format!(
            "could not translate host name \"{}\" to address: {why}",
            host.host
        ),
        None,
    )
}

fn nothing_to_try() -> ModeOutcome {
    fail_outcome(Stage::Config, "no host to connect to".into(), None)
}

fn fail_outcome(stage: Stage, reason: String, address: Option<String>) -> ModeOutcome {
    ModeOutcome {
        reaches_auth: false,
        stage,
        reason,
        address,
        uncertain: false,
    }
}

/// libpq's outcome for `mode` on this address.
pub(crate) fn verdict<'a>(a: &AddressFacts, setup: impl Into<Setup<'a>>, mode: SslMode) -> Verdict {
    let s = setup.into();
    let trust = s.trust;
    if let Some(refusal) = settings_refusal(s, mode) {
        return refusal;
    }
    let label = address_label(a);
    if a.tcp.status != TcpStatus::Ok {
        return finish(Step::Fail(tcp_failure(a)), label);
    }
    // libpq never negotiates encryption over a Unix socket (§6.2).
    if a.family == Family::Unix {
        return finish(accepted(a, s.auth, plaintext(a)), label);
    }
    // Only the strong modes get this far with direct TLS (the weak ones are refused above).
    if s.negotiation == SslNegotiation::Direct
        && let Some(step) = without_direct_tls(a)
    {
        return finish(step, label);
    }
    let step = match mode {
        SslMode::Disable => plaintext(a),
        SslMode::Allow => allow(a, s),
        SslMode::Prefer => prefer(a, s),
        SslMode::Require => ssl_only(a, s, Checks::weak(trust)),
        SslMode::VerifyCa => ssl_only(a, s, Checks::CHAIN),
        SslMode::VerifyFull => ssl_only(a, s, Checks::FULL),
    };
    finish(accepted(a, s.auth, step), label)
}

/// What libpq refuses for this sslmode before connecting anywhere, in its order of checks:
/// `sslrootcert=system` with a mode weaker than verify-full (libpq 16+, §6.4), then
/// `sslnegotiation=direct` with a mode that may connect without TLS (libpq 17+, §2).
fn settings_refusal(s: Setup<'_>, mode: SslMode) -> Option<Verdict> {
    let weak = matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer);
    let reason = if s.trust.source == FileSource::System && mode != SslMode::VerifyFull {
        format!(
            "weak sslmode \"{mode}\" may not be used with sslrootcert=system (use \"verify-full\")"
        )
    } else if s.negotiation == SslNegotiation::Direct && weak {
        format!(
            "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct (use \"require\", \"verify-ca\", or \"verify-full\")"
        )
    } else {
        return None;
    };
    Some(Verdict {
        outcome: fail_outcome(Stage::Config, reason, None),
        channel: None,
        next: Next::Stop,
    })
}

/// With `sslnegotiation=direct`, libpq sends a ClientHello straight away and never falls back
/// to SSLRequest: a server that does not speak direct TLS (16 or older, a pooler, ssl=off)
/// fails the connection, and libpq moves to the next address. When the server does speak it,
/// the rest (chain, name, pg_hba) is what the SSLRequest path saw on the same server.
fn without_direct_tls(a: &AddressFacts) -> Option<Step> {
    let Some(direct) = &a.direct_tls else {
        return Some(Step::Unknown(
            "sslnegotiation=direct, but direct TLS was not probed on this address".into(),
        ));
    };
    if direct.supported && direct.alpn_echoed {
        return None;
    }
    let why = direct
        .detail
        .clone()
        .unwrap_or_else(|| "the direct TLS handshake failed".into());
    Some(Step::Fail(
        Failure::new(Stage::TlsHandshake, format!("sslnegotiation=direct: {why}"))
            .then(Next::Address),
    ))
}

/// Whether the client accepts the authentication request the attempt reached.
fn accepted(a: &AddressFacts, policy: Policy<'_>, step: Step) -> Step {
    let Step::Auth { channel, .. } = &step else {
        return step;
    };
    let refused = crate::diagnose::startup_on(a, *channel)
        .and_then(|s| auth::refusal(policy, a, s, *channel));
    match refused {
        Some((stage, message)) => Step::Fail(Failure::new(stage, message)),
        None => step,
    }
}

fn finish(step: Step, label: String) -> Verdict {
    match step {
        Step::Auth { channel, reason } => Verdict {
            outcome: ModeOutcome {
                reaches_auth: true,
                stage: Stage::Auth,
                reason,
                address: Some(label),
                uncertain: false,
            },
            channel: Some(channel),
            next: Next::Stop,
        },
        Step::Fail(f) => Verdict {
            outcome: fail_outcome(f.stage, f.reason, Some(label)),
            channel: None,
            next: f.next,
        },
        Step::Unknown(why) => Verdict {
            outcome: ModeOutcome {
                reaches_auth: false,
                stage: Stage::Unknown,
                reason: why,
                address: Some(label),
                uncertain: true,
            },
            channel: None,
            next: Next::Stop,
        },
    }
}

/// disable: plaintext only; allow: plaintext, then SSL after an ErrorResponse.
fn allow(a: &AddressFacts, s: Setup<'_>) -> Step {
    match plaintext(a) {
        Step::Fail(first) if first.retry => match over_ssl(a, s, Checks::weak(s.trust)) {
            Ssl::Refused => Step::Fail(Failure::new(
                Stage::SslNegotiation,
                format!(
                    "{}: {}; then with SSL: server does not support SSL, but SSL was required",
                    channel_words(a, Channel::Plaintext),
                    first.reason
                ),
            )),
            Ssl::Step(second) => then(a, first, Channel::Plaintext, second),
        },
        other => other,
    }
}

/// prefer: SSL; plaintext on the same connection after `N`; plaintext on a new connection
/// after a TLS failure or an ErrorResponse.
fn prefer(a: &AddressFacts, s: Setup<'_>) -> Step {
    match over_ssl(a, s, Checks::weak(s.trust)) {
        Ssl::Refused => match plaintext(a) {
            Step::Auth { channel, reason } => Step::Auth {
                channel,
                reason: format!("the server does not support SSL; {reason}"),
            },
            other => other,
        },
        Ssl::Step(Step::Fail(first)) if first.retry => then(a, first, Channel::Tls, plaintext(a)),
        Ssl::Step(other) => other,
    }
}

/// require, verify-ca, verify-full: SSL or nothing.
fn ssl_only(a: &AddressFacts, s: Setup<'_>, checks: Checks) -> Step {
    match over_ssl(a, s, checks) {
        Ssl::Refused => Step::Fail(Failure::new(
            Stage::SslNegotiation,
            "server does not support SSL, but SSL was required",
        )),
        Ssl::Step(step) => step,
    }
}

/// The retry after `first` failed over `first_channel`: libpq's messages accumulate.
fn then(a: &AddressFacts, first: Failure, first_channel: Channel, second: Step) -> Step {
    let before = format!("{}: {}", channel_words(a, first_channel), first.reason);
    let retry = match first_channel {
        Channel::Tls => "retries without SSL",
        Channel::Plaintext => "retries with SSL",
    };
    match second {
        Step::Auth { channel, reason } => Step::Auth {
            channel,
            reason: format!("{before}; {retry} and {reason}"),
        },
        Step::Fail(f) => Step::Fail(Failure {
            reason: format!("{before}; {retry}: {}", f.reason),
            retry: false,
            ..f
        }),
        Step::Unknown(why) => Step::Unknown(format!("{before}; libpq {retry}, but {why}")),
    }
}

#[cfg(test)]
mod tests;
