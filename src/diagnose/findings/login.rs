//! Findings from `--login`: whether the credentials work, and what only a session shows — a
//! read-only server, connection slots nearly used up, SSL not actually in use.

use crate::config::SslMode;
use crate::diagnose::server_error::quote;
use crate::facts::{Family, FindingCode, Severity};
use crate::facts::{LoginFacts, LoginStatus, SessionFacts};

use super::{At, Draft, Layer, Text};

/// Share of the slots this role can get at which `connections_near_limit` fires.
const NEAR_LIMIT: f64 = 0.8;

/// Every login finding for one address.
pub(super) fn login(at: &At) -> Vec<Draft> {
    let Some(l) = at.a.login.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(refused(at, l));
    if let Some(s) = &l.session {
        out.extend(read_only(at, l, s));
        out.extend(near_limit(at, s));
        out.extend(ssl_not_in_use(at, s));
    }
    if l.status == LoginStatus::Ok {
        out.push(ok(at, l));
    }
    out
}

fn evidence(at: &At, l: &LoginFacts) -> Vec<String> {
    let mut ev = Vec::new();
    if let Some(e) = &l.error {
        ev.push(format!("{}: {}", at.label(), quote(e)));
    }
    if let Some(d) = &l.detail {
        ev.push(format!("{}: {d}", at.label()));
    }
    if let Some(src) = &l.password_source {
        ev.push(format!("password from {src}"));
    }
    ev.extend(l.password_warnings.iter().cloned());
    ev
}

fn user<'a>(at: &At<'a>) -> &'a str {
    &at.ctx.report.config.user
}

fn database<'a>(at: &At<'a>) -> &'a str {
    &at.ctx.report.config.dbname
}

/// The login did not get a session: wrong password, missing role or database, an impostor
/// server, or a reason of our own.
fn refused(at: &At, l: &LoginFacts) -> Option<Draft> {
    let ev = evidence(at, l);
    let sqlstate = l.error.as_ref().and_then(|e| e.sqlstate.as_deref());
    let routine = l.error.as_ref().and_then(|e| e.routine.as_deref());
    let message = l
        .error
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .unwrap_or("");
    let (user, db) = (user(at), database(at));
    let draft =
        |layer, code, severity, text| Some(at.draft(layer, code, severity, text, ev.clone()));
    match (l.status, sqlstate) {
        (LoginStatus::ServerSignatureInvalid, _) => draft(
            Layer::AuthMethod,
            FindingCode::ServerSignatureInvalid,
            Severity::Error,
            Text::new(
                "The server accepted the SCRAM proof but could not prove that it knows the password's verifier: it is not the server the password was set on (an impostor, or a proxy that terminates authentication).",
                "Do not send this password to this address again until you know what answers there: check the address and certificate (sslmode=verify-full with the right sslrootcert), and any pooler or proxy in between (it must pass SCRAM through, or hold the same verifier).",
            ),
        ),
        (_, Some("28P01")) => draft(
            Layer::AuthMethod,
            FindingCode::PasswordFailed,
            Severity::Error,
            Text::new(
                format!(
                    "The server refused the password for user \"{user}\": the password is wrong, or the role does not exist or has no password (with md5 and SCRAM the server does not tell the client which)."
                ),
                format!(
                    "Compare the password the app uses ({}) with the role's: reset it with `ALTER ROLE \"{user}\" PASSWORD '...'` (psql's `\\password {user}`) or update the app's secret; the server log's DETAIL line for this attempt says whether the role exists (`SELECT 1 FROM pg_roles WHERE rolname = '{user}'`).",
                    l.password_source.as_deref().unwrap_or("no source")
                ),
            ),
        ),
        (_, Some("3D000")) => draft(
            Layer::AuthMethod,
            FindingCode::DatabaseMissing,
            Severity::Error,
            Text::new(
                format!(
                    "The credentials work, but database \"{db}\" does not exist on this server."
                ),
                format!(
                    "Check the database name the app uses (dbname/PGDATABASE/the URI path; it defaults to the user name) against `SELECT datname FROM pg_database`, or create it: `CREATE DATABASE \"{db}\" OWNER \"{user}\"`."
                ),
            ),
        ),
        (_, Some("28000"))
            if routine == Some("InitializeSessionUserId") || message.starts_with("role \"") =>
        {
            draft(
                Layer::AuthMethod,
                FindingCode::RoleMissing,
                Severity::Error,
                Text::new(
                    format!(
                        "Authentication passed (trust), but role \"{user}\" does not exist on this server."
                    ),
                    format!(
                        "Check the user name the app uses (user/PGUSER/the URI) against `SELECT rolname FROM pg_roles`, or create the role: `CREATE ROLE \"{user}\" LOGIN PASSWORD '...'`."
                    ),
                ),
            )
        }
        (LoginStatus::RefusedCleartext, _) => draft(
            Layer::AuthMethod,
            FindingCode::AuthCleartextOverPlaintext,
            Severity::Warning,
            Text::new(
                "The server asks for the password in cleartext on an unencrypted connection; pgreach did not send it.",
                "Use SSL for this connection (a `hostssl` line and sslmode=require or stricter), or switch the pg_hba.conf method to `scram-sha-256`; pass --allow-cleartext only on a network you trust.",
            ),
        ),
        (LoginStatus::Ok | LoginStatus::Skipped, _) => None,
        _ => draft(
            Layer::AuthMethod,
            FindingCode::LoginFailed,
            Severity::Warning,
            Text::new(
                format!(
                    "The login as \"{user}\" did not complete ({}).",
                    l.status.as_str()
                ),
                "Read the evidence: supply a password (URI, PGPASSWORD, ~/.pgpass with mode 0600, or -W), or adjust channel_binding/require_auth; other failures are server-side (see the server's message).",
            ),
        ),
    }
}

fn read_only(at: &At, l: &LoginFacts, s: &SessionFacts) -> Option<Draft> {
    let param = |name: &str| {
        l.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let recovery = s.in_recovery == Some(true) || param("in_hot_standby") == Some("on");
    let default_ro = s.default_transaction_read_only == Some(true)
        || param("default_transaction_read_only") == Some("on");
    if !recovery && !default_ro {
        return None;
    }
    let mut ev = vec![format!(
        "{}: pg_is_in_recovery() = {}, default_transaction_read_only = {}",
        at.label(),
        s.in_recovery
            .map_or("?", |b| if b { "true" } else { "false" }),
        s.default_transaction_read_only
            .map_or("?", |b| if b { "on" } else { "off" }),
    )];
    if let Some(addr) = &s.server_address {
        ev.push(format!("inet_server_addr() = {addr}"));
    }
    let text = if recovery {
        Text::new(
            "This server is a standby in recovery: sessions are read-only, so an application that writes fails here (the \"app points at a replica\" mistake).",
            "Point the app at the primary (check DNS and the host list), or add `target_session_attrs=read-write` to its connection settings so libpq skips standbys.",
        )
    } else {
        Text::new(
            "default_transaction_read_only is on for this session: every transaction is read-only unless the app says otherwise, so writes fail.",
            "Find where it is set (`SELECT source, sourcefile FROM pg_settings WHERE name = 'default_transaction_read_only'`, or `ALTER ROLE/DATABASE ... SET`), and turn it off for this app, or point the app at a writable server.",
        )
    };
    Some(at.draft(
        Layer::ServerState,
        FindingCode::ReadOnlyServer,
        Severity::Warning,
        text,
        ev,
    ))
}

fn near_limit(at: &At, s: &SessionFacts) -> Option<Draft> {
    let mut ev = Vec::new();
    if let (Some(used), Some(avail)) = (s.connections_in_use, s.connections_available_to_role)
        && avail > 0
        && f64::from(used) >= NEAR_LIMIT * f64::from(avail)
    {
        ev.push(format!(
            "{}: {used} client connections in use of the {avail} this role can get (max_connections {}, superuser_reserved_connections {}{})",
            at.label(),
            s.max_connections.unwrap_or(0),
            s.superuser_reserved_connections.unwrap_or(0),
            s.reserved_connections.map(|r| format!(", reserved_connections {r}")).unwrap_or_default(),
        ));
    }
    if let (Some(limit), Some(mine)) = (s.role_connection_limit, s.role_connections)
        && limit > 0
        && f64::from(mine) >= NEAR_LIMIT * f64::from(limit)
    {
        ev.push(format!(
            "{}: role {} has {mine} connections of its limit {limit} (rolconnlimit)",
            at.label(),
            s.current_user.as_deref().unwrap_or("?"),
        ));
    }
    if ev.is_empty() {
        return None;
    }
    let states: Vec<String> = s
        .connections_by_state
        .iter()
        .map(|c| format!("{}={}", c.state, c.count))
        .collect();
    if !states.is_empty() {
        ev.push(format!("by state: {}", states.join(", ")));
    }
    Some(at.draft(Layer::ServerState, FindingCode::ConnectionsNearLimit, Severity::Warning, Text::new(
        "Connections are at 80% or more of what this role can get: new connections will soon fail with \"too many clients\" or \"too many connections for role\".",
        "Look at who holds them (`SELECT usename, application_name, client_addr, state, count(*) FROM pg_stat_activity GROUP BY 1,2,3,4 ORDER BY 5 DESC`): close idle sessions, put a pooler (PgBouncer) in front, lower the apps' pool sizes, or raise max_connections / the role's CONNECTION LIMIT.",
    ), ev))
}

fn ssl_not_in_use(at: &At, s: &SessionFacts) -> Option<Draft> {
    let expects_ssl = !matches!(at.mode(), SslMode::Disable | SslMode::Allow);
    if !expects_ssl || at.a.family == Family::Unix || s.ssl == Some(true) {
        return None;
    }
    // `ssl` is null only when pg_stat_ssl had no row for us, which also means no SSL.
    let severity = if matches!(at.mode(), SslMode::Prefer) {
        Severity::Warning
    } else {
        Severity::Error
    };
    Some(at.draft(Layer::Ssl, FindingCode::SslNotInUse, severity, Text::new(
        format!("This session runs without SSL although sslmode={} asks for it: the password exchange and every query travel unencrypted.", at.mode()),
        "Enable SSL on the server (`ssl = on` with a certificate) and set sslmode=require or stricter in the app, so a server without SSL is refused rather than used in the clear.",
    ), vec![format!("{}: pg_stat_ssl.ssl = false for this session", at.label())]))
}

fn ok(at: &At, l: &LoginFacts) -> Draft {
    let s = l.session.as_ref();
    let mut ev = vec![format!(
        "{}: {} as {} to {}{}",
        at.label(),
        l.method.unwrap_or("?"),
        s.and_then(|s| s.current_user.as_deref())
            .unwrap_or(user(at)),
        s.and_then(|s| s.current_database.as_deref())
            .unwrap_or(database(at)),
        l.channel_binding
            .map(|b| format!(", channel binding {b}"))
            .unwrap_or_default(),
    )];
    if let Some(src) = &l.password_source {
        ev.push(format!("password from {src}"));
    }
    if let Some(s) = s {
        if let Some(c) = &s.client_address {
            ev.push(format!("the server sees this client as {c}"));
        }
        if s.ssl == Some(true) {
            ev.push(format!(
                "SSL in use: {} {}",
                s.ssl_version.as_deref().unwrap_or("?"),
                s.ssl_cipher.as_deref().unwrap_or("?")
            ));
        }
    }
    at.draft(Layer::Info, FindingCode::LoginOk, Severity::Info, Text::new(
        "The credentials work: pgreach logged in and ran its read-only queries.",
        "Nothing to change for authentication; if the app still fails, compare its settings with the ones in this report.",
    ), ev)
}
