//! Findings about pg_hba.conf and the authentication method: no matching line, a `reject`
//! line, a client certificate demanded, and methods that are weak (cleartext over plaintext,
//! md5, trust over the network).

use std::net::{IpAddr, SocketAddr};

use crate::config::SslMode;
use crate::diagnose::server_error::{HbaMessage, Refusal, classify, quote};
use crate::diagnose::{channel_words, startup_on};
use crate::facts::{
    AuthMethod, Channel, Family, FindingCode, HostFacts, Severity, SslAnswer, StartupFacts,
};

use super::{At, Ctx, Draft, Layer, Text};

/// How a startup was refused before authentication, if it was.
pub(super) fn refusal(st: &StartupFacts) -> Option<Refusal> {
    if st.auth.is_some() {
        return None;
    }
    st.error.as_ref().map(classify)
}

/// The pg_hba message of a refusal by pg_hba.conf (or, for an unrecognised 28000 text such as
/// a localised one, an empty message: most likely pg_hba.conf too).
pub(super) fn hba_message(r: Refusal) -> Option<HbaMessage> {
    match r {
        Refusal::HbaNoEntry(m) | Refusal::HbaReject(m) => Some(m),
        Refusal::Authorization => Some(HbaMessage::default()),
        _ => None,
    }
}

/// The pg_hba.conf line that lets this client in: `hostssl app app 10.0.0.9/32 scram-sha-256`.
/// The client address is the one the server saw, else this connection's own.
pub(super) fn hba_line(kind: &str, m: &HbaMessage, at: &At) -> String {
    let config = &at.ctx.report.config;
    let user = m.user.as_deref().unwrap_or(&config.user);
    let database = if m.replication {
        "replication"
    } else {
        m.database.as_deref().unwrap_or(&config.dbname)
    };
    // Over a Unix socket the server reports the host as "[local]": a `local` line matches.
    if at.a.family == Family::Unix {
        return format!("local {database} {user} scram-sha-256");
    }
    let client = m
        .client
        .clone()
        .or_else(|| local_ip(at).map(|ip| ip.to_string()))
        .unwrap_or_else(|| "CLIENT_IP".into());
    let bits = if client.contains(':') { 128 } else { 32 };
    format!("{kind} {database} {user} {client}/{bits} scram-sha-256")
}

fn local_ip(at: &At) -> Option<IpAddr> {
    let local = at.a.tcp.local_address.as_deref()?;
    local
        .parse::<SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| local.parse::<IpAddr>())
        .ok()
}

/// Findings gathered over a host's addresses into one: pg_hba lines differ per address (the
/// client address differs per family), so they are collected rather than merged afterwards.
#[derive(Default)]
pub(super) struct Acc {
    severity: Option<Severity>,
    addresses: Vec<String>,
    evidence: Vec<String>,
    lines: Vec<String>,
}

impl Acc {
    pub fn add(&mut self, at: &At, severity: Severity, evidence: String, line: Option<String>) {
        self.severity = Some(self.severity.map_or(severity, |s| s.min(severity)));
        push_new(&mut self.addresses, at.label());
        push_new(&mut self.evidence, evidence);
        if let Some(line) = line {
            push_new(&mut self.lines, line);
        }
    }

    fn note(&mut self, evidence: String) {
        push_new(&mut self.evidence, evidence);
    }

    /// The finding, if anything was added; `next_step` gets the lines as "`a` and `b`".
    pub fn finish(
        self,
        layer: Layer,
        code: FindingCode,
        host: &HostFacts,
        summary: &str,
        next_step: impl FnOnce(&str) -> String,
    ) -> Option<Draft> {
        let severity = self.severity?;
        let lines: Vec<String> = self.lines.iter().map(|l| format!("`{l}`")).collect();
        let text = Text::new(summary, next_step(&lines.join(" and ")));
        Some(Draft::new(layer, code, severity, text, self.evidence).on(&host.host, self.addresses))
    }
}

fn push_new(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// pg_hba.conf refusals that the other channel does not explain (those are `ssl_*_by_hba`),
/// and client certificates demanded by a `cert`/clientcert line.
pub(super) fn pg_hba(ctx: &Ctx, host: &HostFacts) -> Vec<Draft> {
    let mut no_entry = Acc::default();
    let mut reject = Acc::default();
    let mut out = Vec::new();
    for (i, a) in ctx.addresses_of(host) {
        let at = At { ctx, i, a };
        for channel in [Channel::Tls, Channel::Plaintext] {
            let Some(st) = startup_on(a, channel) else {
                continue;
            };
            let other_reaches_auth =
                startup_on(a, other(channel)).is_some_and(|o| o.auth.is_some());
            let Some(e) = st.error.as_ref().filter(|_| st.auth.is_none()) else {
                continue;
            };
            let evidence = format!("{} {}: {}", at.label(), channel_words(a, channel), quote(e));
            let severity = at.severity(Severity::Warning);
            match classify(e) {
                Refusal::HbaNoEntry(m) if !other_reaches_auth => {
                    no_entry.add(&at, severity, evidence, Some(line_for(&at, &m)));
                    if a.family != Family::Unix {
                        no_entry.note(nat_note(&at, &m));
                    }
                }
                Refusal::HbaReject(m) if !other_reaches_auth => {
                    reject.add(&at, severity, evidence, Some(line_for(&at, &m)));
                }
                Refusal::Authorization if !other_reaches_auth => {
                    out.push(unrecognised(&at, severity, evidence));
                }
                Refusal::ClientCertificate => out.push(client_cert(&at, severity, evidence)),
                _ => {}
            }
        }
    }
    out.extend(no_entry.finish(
        Layer::PgHba,
        FindingCode::PgHbaNoEntry,
        host,
        "pg_hba.conf has no line that matches this client address, user and database, so the server refuses before authentication.",
        |lines| format!(
            "Add {lines} to pg_hba.conf (the address is the one the server saw), then `SELECT pg_reload_conf()`; check with `SELECT line_number, type, database, user_name, address, auth_method FROM pg_hba_file_rules`."
        ),
    ));
    out.extend(reject.finish(
        Layer::PgHba,
        FindingCode::PgHbaReject,
        host,
        "A `reject` line in pg_hba.conf matches this client address, user and database.",
        |lines| format!(
            "Find the matching reject line (`SELECT line_number, database, user_name, address FROM pg_hba_file_rules WHERE auth_method = 'reject'`) and, if this client should get in, add {lines} above it, then `SELECT pg_reload_conf()`."
        ),
    ));
    out
}

fn other(channel: Channel) -> Channel {
    match channel {
        Channel::Tls => Channel::Plaintext,
        Channel::Plaintext => Channel::Tls,
    }
}

/// `hostssl` when the app's sslmode will use SSL with this server, `host` otherwise.
fn line_for(at: &At, m: &HbaMessage) -> String {
    let ssl = !matches!(at.mode(), SslMode::Disable | SslMode::Allow)
        && at.a.ssl_request.answer == SslAnswer::S;
    hba_line(if ssl { "hostssl" } else { "host" }, m, at)
}

/// Compares the client address the server saw with this connection's own: a difference means
/// NAT or a proxy, and pg_hba.conf must name the address the server sees.
fn nat_note(at: &At, m: &HbaMessage) -> String {
    let seen = m.client.as_deref().and_then(|c| c.parse::<IpAddr>().ok());
    let local = local_ip(at);
    match (seen, local) {
        (Some(seen), Some(local)) if seen.to_canonical() != local.to_canonical() => format!(
            "{}: the server saw the client as {seen}, but this connection left from {local}: a NAT or proxy rewrites the address, so the pg_hba.conf line must name {seen}",
            at.label()
        ),
        (Some(seen), _) => format!(
            "{}: the server saw the client as {seen}, this connection's own address",
            at.label()
        ),
        (None, _) => format!(
            "{}: the client address was not found in the server's message",
            at.label()
        ),
    }
}

fn unrecognised(at: &At, severity: Severity, evidence: String) -> Draft {
    at.draft(
        Layer::PgHba,
        FindingCode::ServerRejected,
        severity,
        Text::new(
            "The server refused the connection before authentication with SQLSTATE 28000 and a message pgreach does not recognise (maybe localised): most likely pg_hba.conf.",
            "Check the pg_hba.conf lines for this client address, user and database (`SELECT line_number, type, database, user_name, address, auth_method FROM pg_hba_file_rules`) and the server log at this time.",
        ),
        vec![evidence],
    )
}

fn client_cert(at: &At, severity: Severity, evidence: String) -> Draft {
    let requested =
        at.a.tls
            .as_ref()
            .is_some_and(|t| t.client_certificate_requested);
    at.draft(
        Layer::PgHba,
        FindingCode::ClientCertRequired,
        severity,
        Text::new(
            "The matching pg_hba.conf line requires a valid client certificate (`cert`, or clientcert=verify-ca/verify-full), and none was presented.",
            "Give the app a client certificate signed by the server's ssl_ca_file (sslcert=/path/client.crt and sslkey=/path/client.key, or ~/.postgresql/postgresql.crt and postgresql.key) and rerun pgreach with --sslcert/--sslkey.",
        ),
        vec![
            evidence,
            format!("the server requested a client certificate during the handshake: {requested}"),
        ],
    )
}

/// The client's own policy (`require_auth`, `channel_binding=require`) refusing the request the
/// configured sslmode reaches.
pub(super) fn client_policy(at: &At) -> Option<Draft> {
    use crate::facts::Stage;
    let outcome = &at.verdict()?.outcome;
    // The server answered with an authentication request; the client turned it down (its
    // protocol minimum is a startup-stage refusal of the same kind).
    let answered = at.a.startup.auth.is_some();
    let refused = match outcome.stage {
        Stage::Auth => true,
        Stage::Startup => answered,
        _ => false,
    };
    if outcome.reaches_auth || !refused {
        return None;
    }
    let config = &at.ctx.report.config;
    let settings = [
        config
            .require_auth
            .as_ref()
            .map(|r| format!("require_auth={}", r.text)),
        Some(format!("channel_binding={}", config.channel_binding)),
    ];
    let settings: Vec<String> = settings.into_iter().flatten().collect();
    Some(at.draft(
        Layer::AuthMethod,
        FindingCode::AuthRefusedByClient,
        at.severity(Severity::Warning),
        Text::new(
            format!("The server's authentication request does not meet the application's own requirement, so libpq gives up: {}.", outcome.reason),
            "Either change the server so this connection gets what the application requires (a pg_hba.conf method such as `hostssl … scram-sha-256`, which also offers channel binding over TLS; `clientcert=verify-full` for sslcertmode=require; PostgreSQL 18 for protocol 3.2), or relax require_auth / channel_binding / sslcertmode / min_protocol_version in the application's connection string.",
        ),
        vec![format!("{}: {}; {}", at.label(), settings.join(", "), outcome.reason)],
    ))
}

/// Weak authentication methods, on every channel that reached authentication.
pub(super) fn auth_method(at: &At) -> Vec<Draft> {
    let mut out = Vec::new();
    let app_channel = at.verdict().and_then(|v| v.channel);
    for channel in [Channel::Tls, Channel::Plaintext] {
        let Some(st) = startup_on(at.a, channel) else {
            continue;
        };
        let evidence = vec![format!(
            "{} {}: the server asked for {}",
            at.label(),
            channel_words(at.a, channel),
            st.auth
                .map_or_else(String::new, |m| crate::diagnose::matrix::auth_words(m, st))
        )];
        let network = at.a.family != Family::Unix;
        let draft = match st.auth {
            Some(AuthMethod::Password) if network && channel == Channel::Plaintext => {
                let severity = if app_channel == Some(Channel::Plaintext) {
                    Severity::Warning
                } else {
                    Severity::Info
                };
                at.draft(Layer::AuthMethod, FindingCode::AuthCleartextOverPlaintext, severity, Text::new(
                    "The server asks for the password in cleartext on an unencrypted connection: anyone on the path can read it.",
                    "Require SSL for this password: a `hostssl` line in pg_hba.conf and sslmode=require (or stricter) in the app; if the method is `password`, switch it to `scram-sha-256` after re-setting passwords with password_encryption = 'scram-sha-256' (ldap, pam and radius always send the password, so they need SSL).",
                ), evidence)
            }
            Some(AuthMethod::Md5) => at.draft(Layer::AuthMethod, FindingCode::AuthMd5, Severity::Warning, Text::new(
                "The server uses md5 password authentication, which is deprecated and weaker than SCRAM.",
                "Set `password_encryption = 'scram-sha-256'`, re-set the role's password (`\\password ROLE` in psql), then change `md5` to `scram-sha-256` on the matching pg_hba.conf line and `SELECT pg_reload_conf()`.",
            ), evidence),
            Some(AuthMethod::Trust) if network => at.draft(Layer::AuthMethod, FindingCode::AuthTrust, Severity::Warning, Text::new(
                "The server lets this user in over the network without any password (trust).",
                "Replace `trust` with `scram-sha-256` on the pg_hba.conf line that matches this client (`SELECT line_number, type, database, user_name, address, auth_method FROM pg_hba_file_rules`), give the role a password, then `SELECT pg_reload_conf()`.",
            ), evidence),
            _ => continue,
        };
        out.push(draft);
    }
    out
}
