//! After AuthenticationOk: the session's start (ParameterStatus, BackendKeyData,
//! ReadyForQuery), one read-only transaction of questions over the simple Query protocol, and
//! Terminate.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::auth::{describe, stop};
use super::wire::{Conn, RecvError};
use super::{LoginFacts, LoginStatus, SessionFacts, StateCount};
use crate::facts::ServerError;
use crate::pgwire::backend::Message;
use crate::pgwire::frontend;
use crate::pgwire::session::{self as msg, SessionMessage};

/// One transaction, read-only, one row.
///
/// Connections in use: client backends. A role without `pg_read_all_stats` sees other roles'
/// rows with `backend_type` and `state` hidden (NULL); those with a user and a database are
/// counted too (as state `unknown`: launchers have no database, but an autovacuum worker may
/// be counted now and then). Every column is text; NULL where the server has no
/// answer (no TLS row, `reserved_connections` before PostgreSQL 16, a Unix socket's address).
const QUERY: &str = "BEGIN TRANSACTION READ ONLY; \
SELECT current_database(), current_user, \
host(inet_server_addr()), host(inet_client_addr()), \
pg_is_in_recovery(), current_setting('transaction_read_only'), \
current_setting('default_transaction_read_only'), \
s.ssl, s.version, s.cipher, s.bits, \
current_setting('max_connections'), current_setting('superuser_reserved_connections'), \
current_setting('reserved_connections', true), \
r.rolsuper, \
(SELECT pg_has_role(current_user, u.oid, 'member') FROM pg_roles u WHERE u.rolname = 'pg_use_reserved_connections'), \
r.rolconnlimit, \
(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename = current_user), \
(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL)), \
(SELECT string_agg(st || '=' || n, ',' ORDER BY st) FROM (SELECT coalesce(state, 'unknown') AS st, count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend' OR (backend_type IS NULL AND usesysid IS NOT NULL AND datid IS NOT NULL) GROUP BY 1) c) \
FROM pg_roles r LEFT JOIN pg_stat_ssl s ON s.pid = pg_backend_pid() WHERE r.rolname = current_user; \
COMMIT";

/// Reads the session's start, asks the questions, says Terminate.
pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    show_secrets: bool,
    facts: &mut LoginFacts,
) {
    if !until_ready(conn, show_secrets, facts, LoginStatus::SessionRefused).await {
        return;
    }
    let mut out = BytesMut::new();
    // QUERY has no NUL byte: encoding cannot fail.
    let _ = msg::query(&mut out, QUERY);
    if let Err(e) = conn.send(&out).await {
        stop(facts, LoginStatus::IoError, e.to_string());
        return;
    }
    let mut row = None;
    loop {
        match conn.recv().await {
            Ok(SessionMessage::DataRow { values }) => row = Some(values),
            Ok(
                SessionMessage::RowDescription { .. }
                | SessionMessage::CommandComplete { .. }
                | SessionMessage::EmptyQuery
                | SessionMessage::Backend(Message::NoticeResponse(_)),
            ) => {}
            Ok(SessionMessage::Backend(Message::ParameterStatus { name, value })) => {
                facts.parameters.push((name, value));
            }
            Ok(SessionMessage::Backend(Message::ErrorResponse(fields))) => {
                // The transaction is aborted; ReadyForQuery follows, then we leave.
                facts.error = Some(ServerError::from(fields));
                facts.status = LoginStatus::QueryFailed;
            }
            Ok(SessionMessage::Backend(Message::ReadyForQuery { .. })) => break,
            other => {
                record_unexpected(facts, other);
                return;
            }
        }
    }
    if let Some(values) = row {
        facts.session = Some(parse_row(&values));
    } else if facts.status == LoginStatus::Ok {
        stop(facts, LoginStatus::QueryFailed, "the query returned no row");
    }
    // Best effort: everything is recorded.
    let _ = conn.send(&frontend::TERMINATE).await;
}

/// ParameterStatus, BackendKeyData and notices until ReadyForQuery (true) or an error.
async fn until_ready<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    show_secrets: bool,
    facts: &mut LoginFacts,
    on_error: LoginStatus,
) -> bool {
    loop {
        match conn.recv().await {
            Ok(SessionMessage::Backend(Message::ParameterStatus { name, value })) => {
                facts.parameters.push((name, value));
            }
            Ok(SessionMessage::BackendKey { process_id, key }) => {
                facts.backend_pid = Some(process_id);
                facts.backend_key_length = Some(key.len());
                facts.backend_key = Some(if show_secrets {
                    crate::facts::hex(&key)
                } else {
                    "***".into()
                });
            }
            Ok(SessionMessage::Backend(
                Message::NoticeResponse(_) | Message::NegotiateProtocolVersion { .. },
            )) => {}
            Ok(SessionMessage::Backend(Message::ReadyForQuery { .. })) => return true,
            Ok(SessionMessage::Backend(Message::ErrorResponse(fields))) => {
                facts.error = Some(ServerError::from(fields));
                facts.status = on_error;
                return false;
            }
            other => {
                record_unexpected(facts, other);
                return false;
            }
        }
    }
}

fn record_unexpected(facts: &mut LoginFacts, got: Result<SessionMessage, RecvError>) {
    match got {
        Ok(m) => stop(
            facts,
            LoginStatus::ProtocolViolation,
            format!("unexpected {} in the session", describe(&m)),
        ),
        Err(e @ (RecvError::Decode(_) | RecvError::TooMany)) => {
            stop(facts, LoginStatus::ProtocolViolation, e.to_string())
        }
        Err(e) => stop(facts, LoginStatus::IoError, e.to_string()),
    };
}

fn parse_row(v: &[Option<String>]) -> SessionFacts {
    let text = |i: usize| v.get(i).cloned().flatten();
    let flag = |i: usize| text(i).map(|s| matches!(s.as_str(), "t" | "on" | "true"));
    let num = |i: usize| text(i).and_then(|s| s.parse::<u32>().ok());
    let mut f = SessionFacts {
        current_database: text(0),
        current_user: text(1),
        server_address: text(2),
        client_address: text(3),
        in_recovery: flag(4),
        transaction_read_only: flag(5),
        default_transaction_read_only: flag(6),
        ssl: flag(7),
        ssl_version: text(8),
        ssl_cipher: text(9),
        ssl_bits: num(10),
        max_connections: num(11),
        superuser_reserved_connections: num(12),
        reserved_connections: num(13),
        is_superuser: flag(14),
        uses_reserved_connections: flag(15),
        role_connection_limit: text(16).and_then(|s| s.parse().ok()),
        role_connections: num(17),
        connections_in_use: num(18),
        connections_by_state: text(19)
            .map(|s| {
                s.split(',')
                    .filter_map(|pair| {
                        let (state, n) = pair.rsplit_once('=')?;
                        Some(StateCount {
                            state: state.to_owned(),
                            count: n.parse().ok()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        connections_available_to_role: None,
    };
    f.connections_available_to_role = available(&f);
    f
}

/// Slots this role can get (postinit.c): superusers all of max_connections; others lose the
/// superuser-reserved ones, and (16+) the `reserved_connections` unless a member of
/// `pg_use_reserved_connections`.
fn available(f: &SessionFacts) -> Option<u32> {
    let max = f.max_connections?;
    if f.is_superuser? {
        return Some(max);
    }
    let mut reserved = f.superuser_reserved_connections.unwrap_or(0);
    if f.uses_reserved_connections != Some(true) {
        reserved += f.reserved_connections.unwrap_or(0);
    }
    Some(max.saturating_sub(reserved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_parsing_and_available_slots() {
        let s = |x: &str| Some(x.to_owned());
        let row = vec![
            s("app"),
            s("app"),
            s("127.0.0.1"),
            s("127.0.0.1"),
            s("f"),
            s("on"),
            s("off"),
            s("t"),
            s("TLSv1.3"),
            s("TLS_AES_256_GCM_SHA384"),
            s("256"),
            s("20"),
            s("3"),
            None,
            s("f"),
            None,
            s("-1"),
            s("2"),
            s("14"),
            s("active=1,idle=3,unknown=10"),
        ];
        let f = parse_row(&row);
        assert_eq!(f.current_database.as_deref(), Some("app"));
        assert_eq!(f.in_recovery, Some(false));
        assert_eq!(f.transaction_read_only, Some(true));
        assert_eq!(f.ssl, Some(true));
        assert_eq!(f.ssl_bits, Some(256));
        assert_eq!(f.role_connection_limit, Some(-1));
        assert_eq!(f.connections_in_use, Some(14));
        assert_eq!(f.connections_available_to_role, Some(17));
        assert_eq!(f.connections_by_state.len(), 3);
        assert_eq!(
            f.connections_by_state[2],
            StateCount {
                state: "unknown".into(),
                count: 10
            }
        );
        // A short or hostile row yields nulls, not a panic.
        let f = parse_row(&[s("x")]);
        assert_eq!(f.current_user, None);
        assert_eq!(f.connections_available_to_role, None);
    }
}
