//! The `--login` lines of an address block: how the login went, then what the session saw.

use std::io::{self, Write};

use super::Style;
use super::layout::{Tone, phase};
use crate::facts::AddressFacts;
use crate::facts::{LoginFacts, LoginStatus, SessionFacts};

pub(super) fn write_login(out: &mut dyn Write, a: &AddressFacts, style: Style) -> io::Result<()> {
    let Some(l) = &a.login else {
        return Ok(());
    };
    let (text, tone) = outcome(l);
    phase(out, "login", &text, Some(l.elapsed_ms), tone, style)?;
    if let Some(s) = &l.session {
        phase(out, "session", &session_line(s), None, Tone::Dim, style)?;
        phase(out, "slots", &slots_line(s), None, Tone::Dim, style)?;
    }
    Ok(())
}

fn outcome(l: &LoginFacts) -> (String, Tone) {
    let method = l.method.unwrap_or("?");
    let source = l
        .password_source
        .as_deref()
        .map(|s| format!(", password from {s}"))
        .unwrap_or_default();
    let error = l
        .error
        .as_ref()
        .map(|e| {
            format!(
                "{} {}",
                e.sqlstate.as_deref().unwrap_or("?????"),
                e.message.as_deref().unwrap_or("")
            )
        })
        .or_else(|| l.detail.clone())
        .unwrap_or_default();
    match l.status {
        LoginStatus::Ok => (format!("ok: {method}{source}"), Tone::Good),
        LoginStatus::Skipped => (format!("skipped ({error})"), Tone::Dim),
        status => (
            format!("{} ({method}{source}): {error}", status.as_str()),
            Tone::Bad,
        ),
    }
}

fn session_line(s: &SessionFacts) -> String {
    let or_q = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
    let ssl = match s.ssl {
        Some(true) => format!("SSL {} {}", or_q(&s.ssl_version), or_q(&s.ssl_cipher)),
        _ => "no SSL".into(),
    };
    let mode = match (s.in_recovery, s.default_transaction_read_only) {
        (Some(true), _) => "standby (read-only)",
        (_, Some(true)) => "read-only by default",
        _ => "read-write",
    };
    format!(
        "{} as {}; server {} sees client {}; {ssl}; {mode}",
        or_q(&s.current_database),
        or_q(&s.current_user),
        s.server_address.as_deref().unwrap_or("(socket)"),
        s.client_address.as_deref().unwrap_or("(socket)"),
    )
}

fn slots_line(s: &SessionFacts) -> String {
    let n = |v: Option<u32>| v.map_or("?".to_owned(), |v| v.to_string());
    let states: Vec<String> = s
        .connections_by_state
        .iter()
        .map(|c| format!("{} {}", c.count, c.state))
        .collect();
    let limit = match s.role_connection_limit {
        Some(l) if l >= 0 => format!("; role limit {l}, {} used", n(s.role_connections)),
        _ => String::new(),
    };
    format!(
        "{} in use of {} for this role (max_connections {}){limit}; {}",
        n(s.connections_in_use),
        n(s.connections_available_to_role),
        n(s.max_connections),
        states.join(", ")
    )
}
