//! Facts about `--login`: how the authentication went and what the session showed.

use serde::Serialize;

use crate::vocabulary::vocabulary;

use super::{Channel, Millis, ServerError};

vocabulary! {
    /// Where a login attempt ended.
    pub enum LoginStatus {
        /// Authenticated, the session started and the queries ran.
        Ok = "ok",
        /// The startup never reached an authentication request: nothing to log in to.
        Skipped = "skipped",
        /// The server asked for a password and no source supplied one.
        NoPassword = "no_password",
        /// A cleartext password was requested over an unencrypted connection: not sent.
        RefusedCleartext = "refused_cleartext",
        /// `channel_binding` or `require_auth` refused what the server offered (as libpq would).
        PolicyRefused = "policy_refused",
        /// A method pgreach does not implement (GSSAPI, SSPI, OAUTHBEARER, …).
        UnsupportedMethod = "unsupported_method",
        /// The server refused the credentials (an ErrorResponse during authentication).
        AuthFailed = "auth_failed",
        /// SCRAM: the server could not prove it knows the password.
        ServerSignatureInvalid = "server_signature_invalid",
        /// Authenticated, but the session did not start (role or database missing, no slots, …).
        SessionRefused = "session_refused",
        /// The session started but the queries failed.
        QueryFailed = "query_failed",
        Timeout = "timeout",
        IoError = "io_error",
        ProtocolViolation = "protocol_violation",
        /// `channel_binding` or `require_auth` has a value libpq would refuse.
        ConfigError = "config_error",
    }
}

/// What `--login` found at one address.
#[derive(Debug, Clone, Serialize)]
pub struct LoginFacts {
    pub status: LoginStatus,
    pub channel: Channel,
    /// `trust`, `password`, `md5`, `scram-sha-256` or `scram-sha-256-plus`; null when the
    /// attempt stopped before one was chosen.
    pub method: Option<&'static str>,
    /// `tls-server-end-point` when SCRAM bound the exchange to the TLS channel.
    pub channel_binding: Option<&'static str>,
    /// Where the password came from (`uri`, `conninfo`, `PGPASSWORD`, `DB_PASSWORD`,
    /// `passfile PATH line N`, `prompt (-W)`); never the password itself.
    pub password_source: Option<String>,
    /// libpq's warnings about the password file (e.g. group- or world-readable: ignored).
    pub password_warnings: Vec<String>,
    /// SCRAM only: whether the server proved it knows the password.
    pub server_signature_verified: Option<bool>,
    /// The server's ErrorResponse, when it sent one.
    pub error: Option<ServerError>,
    /// Our own explanation when the attempt stopped without a server error.
    pub detail: Option<String>,
    /// ParameterStatus messages after AuthenticationOk, in order.
    pub parameters: Vec<(String, String)>,
    /// BackendKeyData: the backend's process id …
    pub backend_pid: Option<u32>,
    /// … and its cancel key: hex with `--show-secrets`, else `***`.
    pub backend_key: Option<String>,
    pub backend_key_length: Option<usize>,
    /// The answers of the read-only queries.
    pub session: Option<SessionFacts>,
    /// From the authentication request to Terminate.
    pub elapsed_ms: Millis,
}

impl LoginFacts {
    pub fn new(status: LoginStatus, channel: Channel) -> LoginFacts {
        LoginFacts {
            status,
            channel,
            method: None,
            channel_binding: None,
            password_source: None,
            password_warnings: Vec::new(),
            server_signature_verified: None,
            error: None,
            detail: None,
            parameters: Vec::new(),
            backend_pid: None,
            backend_key: None,
            backend_key_length: None,
            session: None,
            elapsed_ms: 0.0,
        }
    }

    /// Facts for a startup that never reached authentication.
    pub fn skipped(channel: Channel, reason: impl Into<String>) -> LoginFacts {
        let mut f = LoginFacts::new(LoginStatus::Skipped, channel);
        f.detail = Some(reason.into());
        f
    }
}

/// The answers of the session's questions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionFacts {
    pub current_database: Option<String>,
    pub current_user: Option<String>,
    /// `inet_server_addr()`: the address the server accepted on (null over a Unix socket).
    pub server_address: Option<String>,
    /// `inet_client_addr()`: the client address as the server sees it (NAT, proxies).
    pub client_address: Option<String>,
    pub in_recovery: Option<bool>,
    pub transaction_read_only: Option<bool>,
    pub default_transaction_read_only: Option<bool>,
    /// This session's row of `pg_stat_ssl`.
    pub ssl: Option<bool>,
    pub ssl_version: Option<String>,
    pub ssl_cipher: Option<String>,
    pub ssl_bits: Option<u32>,
    pub max_connections: Option<u32>,
    pub superuser_reserved_connections: Option<u32>,
    /// PostgreSQL 16+; null before.
    pub reserved_connections: Option<u32>,
    pub is_superuser: Option<bool>,
    /// Member of `pg_use_reserved_connections` (PostgreSQL 16+; null before).
    pub uses_reserved_connections: Option<bool>,
    /// `rolconnlimit` of the session's role: -1 is no limit.
    pub role_connection_limit: Option<i32>,
    /// Client backends of this role, this session included.
    pub role_connections: Option<u32>,
    /// Client backends in all, this session included.
    pub connections_in_use: Option<u32>,
    /// Client backends by `pg_stat_activity.state`; `unknown` for sessions of other roles
    /// whose state this role may not see.
    pub connections_by_state: Vec<StateCount>,
    /// The slots this role can get: max_connections minus the reserved ones it may not use.
    pub connections_available_to_role: Option<u32>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StateCount {
    pub state: String,
    pub count: u32,
}
