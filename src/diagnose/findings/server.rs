//! Findings about the server's state and capacity: not ready (57P03), full (53300), a hot
//! standby, anything else it refuses with before authentication, a startup that breaks off, and
//! errors after `trust` let pgreach in.

use crate::diagnose::server_error::{Refusal, classify, quote};
use crate::diagnose::{channel_words, startup_on};
use crate::facts::{Channel, FindingCode, Severity, StartupFacts, StartupStatus};

use super::{At, Draft, Layer, Text, network};

/// Every server-state finding for one address, from both channels' startups.
pub(super) fn readiness(at: &At) -> Vec<Draft> {
    let mut out = Vec::new();
    for channel in [Channel::Tls, Channel::Plaintext] {
        let Some(st) = startup_on(at.a, channel) else {
            continue;
        };
        let evidence = evidence(at, channel, st);
        let draft = if st.auth.is_some() {
            after_auth(at, st, evidence)
        } else {
            before_auth(at, st, evidence)
        };
        out.extend(draft);
    }
    out
}

fn evidence(at: &At, channel: Channel, st: &StartupFacts) -> Vec<String> {
    let head = format!("{} {}", at.label(), channel_words(at.a, channel));
    let mut lines = Vec::new();
    match &st.error {
        Some(e) => {
            lines.push(format!("{head}: {}", quote(e)));
            lines.extend(e.detail.as_ref().map(|d| format!("DETAIL: {d}")));
            lines.extend(e.hint.as_ref().map(|h| format!("HINT: {h}")));
        }
        None => lines.push(format!(
            "{head}: {}: {}",
            st.status.as_str(),
            st.detail.as_deref().unwrap_or("")
        )),
    }
    lines
}

fn before_auth(at: &At, st: &StartupFacts, evidence: Vec<String>) -> Option<Draft> {
    let (code, text) = match st.status {
        StartupStatus::Error => refusal(at, st)?,
        StartupStatus::Eof
        | StartupStatus::Timeout
        | StartupStatus::IoError
        | StartupStatus::ProtocolViolation
            if network::what_answers(at.a).is_none() =>
        {
            startup_failed()
        }
        _ => return None,
    };
    Some(at.draft(
        Layer::ServerState,
        code,
        at.severity(Severity::Warning),
        text,
        evidence,
    ))
}

/// The codes this file owns for an ErrorResponse before authentication; pg_hba.conf and
/// SQLSTATE 28000 belong to `hba`, and "SSL required" answered while SSL reaches
/// authentication belongs to `ssl` (`ssl_required_by_server`).
fn refusal(at: &At, st: &StartupFacts) -> Option<(FindingCode, Text)> {
    let e = st.error.as_ref()?;
    Some(match classify(e) {
        Refusal::SslRequired => {
            let tls_reaches_auth = startup_on(at.a, Channel::Tls).is_some_and(|t| t.auth.is_some());
            if tls_reaches_auth {
                return None;
            }
            (
                FindingCode::ServerRejected,
                Text::new(
                    "The server (PgBouncer with client_tls_sslmode=require, or a proxy) refuses startups without SSL (\"SSL required\"), and no startup over SSL reached authentication either.",
                    "Fix the SSL side first (see the other findings for this address); then use sslmode=require (or verify-full) in the app's settings.",
                ),
            )
        }
        Refusal::StartingUp => (
            FindingCode::ServerStartingUp,
            Text::new(
                "The server is starting up (or, before PostgreSQL 14, is a standby that does not accept connections yet) and refuses connections.",
                "Wait for the server log to say \"database system is ready to accept connections\" (`pg_isready -h HOST -p PORT` exits 0 then); if it stays, read the log for recovery progress or a standby that cannot reach consistency.",
            ),
        ),
        Refusal::ShuttingDown => (
            FindingCode::ServerShuttingDown,
            Text::new(
                "The server is shutting down and refuses new connections.",
                "Wait for the restart (a smart shutdown waits for every open session: `pg_ctl stop -m fast` ends them), or find who stopped it in the server log; `pg_isready` tells when it accepts again.",
            ),
        ),
        Refusal::InRecovery => (
            FindingCode::ServerInRecovery,
            Text::new(
                "The server is in recovery (crash recovery, or a standby not in hot standby yet) and refuses connections.",
                "Point the app at the primary (or list all hosts with target_session_attrs=read-write); if this standby should serve reads, set `hot_standby = on` and let it reach a consistent state (server log); after a crash, wait for recovery to finish.",
            ),
        ),
        Refusal::TooManyClients => too_many_clients(),
        Refusal::CannotConnectNow | Refusal::Other => (
            FindingCode::ServerRejected,
            Text::new(
                format!(
                    "The server refused the connection before authentication (SQLSTATE {}).",
                    e.sqlstate.as_deref().unwrap_or("none")
                ),
                "Read the server's message in the evidence and the server log at this time (`log_connections = on` shows every attempt), and fix what it names.",
            ),
        ),
        Refusal::HbaNoEntry(_)
        | Refusal::HbaReject(_)
        | Refusal::ClientCertificate
        | Refusal::Authorization => return None,
    })
}

fn too_many_clients() -> (FindingCode, Text) {
    (
        FindingCode::TooManyClients,
        Text::new(
            "The server has no connection slot left (max_connections, or a per-role/per-database limit).",
            "Find who holds the connections (`SELECT usename, application_name, client_addr, state, count(*) FROM pg_stat_activity GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC`), fix leaking or idle clients or put a pooler such as PgBouncer in front; raising max_connections needs a restart.",
        ),
    )
}

fn startup_failed() -> (FindingCode, Text) {
    (
        FindingCode::StartupFailed,
        Text::new(
            "The server (or something in front of it) broke off the connection after the StartupMessage, without an authentication request or an error.",
            "Read the server log at this time (a crashed backend, authentication_timeout, out of memory) and any pooler or proxy limits in front of it; rerun with `-vv` to see the exchange.",
        ),
    )
}

/// `trust` let pgreach in: a hot standby, or an error after authentication.
fn after_auth(at: &At, st: &StartupFacts, evidence: Vec<String>) -> Option<Draft> {
    if let Some(e) = &st.error {
        let (code, text) = match classify(e) {
            Refusal::TooManyClients => too_many_clients(),
            _ => (
                FindingCode::PostAuthError,
                Text::new(
                    "The server authenticated pgreach (trust) and then refused the session: with these settings the app is refused too.",
                    "Fix what the message names: create the database or role (`CREATE DATABASE …`, `CREATE ROLE … LOGIN`), grant CONNECT, or correct dbname/user in the app's settings (DATABASE_URL, PGDATABASE, PGUSER).",
                ),
            ),
        };
        let layer = match code {
            FindingCode::TooManyClients => Layer::ServerState,
            _ => Layer::AuthMethod,
        };
        return Some(at.draft(layer, code, Severity::Warning, text, evidence));
    }
    let standby = st
        .parameters
        .iter()
        .any(|(k, v)| k == "in_hot_standby" && v == "on");
    standby.then(|| {
        at.draft(
            Layer::ServerState,
            FindingCode::ServerInRecovery,
            Severity::Warning,
            Text::new(
                "The server is a hot standby: it accepts connections, but read-only — writes will fail.",
                "Point the app at the primary, or list every host with target_session_attrs=read-write so libpq picks the primary; check with `SELECT pg_is_in_recovery()`.",
            ),
            vec![format!("{}: ParameterStatus in_hot_standby=on", at.label())],
        )
    })
}
