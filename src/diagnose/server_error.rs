//! Reads a server's ErrorResponse for the diagnosis: by SQLSTATE first, and by the English
//! message text only to split a SQLSTATE into its sub-cases (reference §4.2, §4.3). The text
//! follows the server's `lc_messages`, so an unrecognised text degrades to the SQLSTATE's
//! generic meaning rather than to a wrong diagnosis.

use crate::facts::ServerError;

/// What an ErrorResponse means for reaching the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 57P03 "the database system is starting up".
    StartingUp,
    /// 57P03 "the database system is shutting down".
    ShuttingDown,
    /// 57P03 "in recovery mode", "not yet accepting connections", "not accepting connections"
    /// (crash recovery, or a standby that is not (yet) in hot standby).
    InRecovery,
    /// 57P03 with a text we do not recognise.
    CannotConnectNow,
    /// 53300 "sorry, too many clients already" and its post-authentication relatives.
    TooManyClients,
    /// 28000 "no pg_hba.conf entry for …".
    HbaNoEntry(HbaMessage),
    /// 28000 "pg_hba.conf rejects connection for …".
    HbaReject(HbaMessage),
    /// 28000 "connection requires a valid client certificate".
    ClientCertificate,
    /// 28000 with a text we do not recognise: most likely pg_hba.conf in another language.
    Authorization,
    /// 08P01 "SSL required": PgBouncer with `client_tls_sslmode = require` (or `verify-*`)
    /// refuses a startup without SSL this way; PostgreSQL itself says so through pg_hba.conf.
    SslRequired,
    /// Any other SQLSTATE (or none).
    Other,
}

/// The encryption state a pg_hba message names: PG14+ "no encryption" / "SSL encryption" /
/// "GSS encryption", PG12–13 "SSL off" / "SSL on" (absent when the server lacks SSL support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HbaEncryption {
    None,
    Ssl,
    Gss,
}

/// The fields of a pg_hba message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct HbaMessage {
    /// The client address as the server saw it (NAT and proxies show here).
    pub client: Option<String>,
    pub user: Option<String>,
    pub database: Option<String>,
    pub encryption: Option<HbaEncryption>,
    /// "… replication connection from host …": a physical walsender.
    pub replication: bool,
}

pub(crate) const CANNOT_CONNECT_NOW: &str = "57P03";
const TOO_MANY_CONNECTIONS: &str = "53300";
const INVALID_AUTHORIZATION: &str = "28000";
const PROTOCOL_VIOLATION: &str = "08P01";

/// Classifies an ErrorResponse.
pub(crate) fn classify(e: &ServerError) -> Refusal {
    let message = e.message.as_deref().unwrap_or("");
    match e.sqlstate.as_deref() {
        Some(CANNOT_CONNECT_NOW) => cannot_connect_now(message),
        Some(TOO_MANY_CONNECTIONS) => Refusal::TooManyClients,
        Some(INVALID_AUTHORIZATION) => authorization(message),
        Some(PROTOCOL_VIOLATION) if message.eq_ignore_ascii_case("SSL required") => {
            Refusal::SslRequired
        }
        _ => Refusal::Other,
    }
}

fn cannot_connect_now(message: &str) -> Refusal {
    if message.contains("starting up") {
        Refusal::StartingUp
    } else if message.contains("shutting down") {
        Refusal::ShuttingDown
    } else if message.contains("in recovery mode")
        // PG14+ standbys: "not yet accepting connections" (not consistent yet),
        // "not accepting connections" (hot_standby = off).
        || message.contains("accepting connections")
    {
        Refusal::InRecovery
    } else {
        Refusal::CannotConnectNow
    }
}

fn authorization(message: &str) -> Refusal {
    if message.starts_with("no pg_hba.conf entry") {
        Refusal::HbaNoEntry(parse_hba(message))
    } else if message.starts_with("pg_hba.conf rejects") {
        Refusal::HbaReject(parse_hba(message))
    } else if message.contains("valid client certificate") {
        Refusal::ClientCertificate
    } else {
        Refusal::Authorization
    }
}

/// Parses `… host "H", user "U", database "D", <encryption>` (and the replication form
/// `… replication connection from host "H", user "U", <encryption>`).
fn parse_hba(message: &str) -> HbaMessage {
    let encryption = if message.ends_with("no encryption") || message.ends_with("SSL off") {
        Some(HbaEncryption::None)
    } else if message.ends_with("SSL encryption") || message.ends_with("SSL on") {
        Some(HbaEncryption::Ssl)
    } else if message.ends_with("GSS encryption") {
        Some(HbaEncryption::Gss)
    } else {
        None
    };
    HbaMessage {
        client: quoted_after(message, "host \""),
        user: quoted_after(message, "user \""),
        database: quoted_after(message, "database \""),
        encryption,
        replication: message.contains("replication connection"),
    }
}

/// The text between `prefix` (which ends with a quote) and the next quote.
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let (_, rest) = message.split_once(prefix)?;
    let (value, _) = rest.split_once('"')?;
    Some(value.to_owned())
}

/// `FATAL 28000: no pg_hba.conf entry …` — the error as quoted in reasons and evidence.
pub(crate) fn quote(e: &ServerError) -> String {
    let severity = e.severity.as_deref().unwrap_or("ERROR");
    let code = e.sqlstate.as_deref().unwrap_or("?????");
    let message = e.message.as_deref().unwrap_or("(no message)");
    format!("{severity} {code}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::testkit::server_error;

    fn kind(code: &str, msg: &str) -> Refusal {
        classify(&server_error(code, msg))
    }

    #[test]
    fn sqlstate_57p03_is_split_by_text() {
        let cases = [
            ("the database system is starting up", Refusal::StartingUp),
            (
                "the database system is shutting down",
                Refusal::ShuttingDown,
            ),
            (
                "the database system is in recovery mode",
                Refusal::InRecovery,
            ),
            (
                "the database system is not yet accepting connections",
                Refusal::InRecovery,
            ),
            (
                "the database system is not accepting connections",
                Refusal::InRecovery,
            ),
            ("das Datenbanksystem startet", Refusal::CannotConnectNow),
        ];
        for (msg, want) in cases {
            assert_eq!(kind("57P03", msg), want, "{msg}");
        }
    }

    #[test]
    fn pg_hba_messages_of_both_eras_are_parsed() {
        let v14 = kind(
            "28000",
            "no pg_hba.conf entry for host \"10.0.0.9\", user \"app\", database \"shop\", no encryption",
        );
        assert_eq!(
            v14,
            Refusal::HbaNoEntry(HbaMessage {
                client: Some("10.0.0.9".into()),
                user: Some("app".into()),
                database: Some("shop".into()),
                encryption: Some(HbaEncryption::None),
                replication: false,
            })
        );
        let v13 = kind(
            "28000",
            "pg_hba.conf rejects connection for host \"::1\", user \"app\", database \"shop\", SSL on",
        );
        let Refusal::HbaReject(m) = v13 else {
            panic!("{v13:?}")
        };
        assert_eq!(m.client.as_deref(), Some("::1"));
        assert_eq!(m.encryption, Some(HbaEncryption::Ssl));
        let repl = kind(
            "28000",
            "no pg_hba.conf entry for replication connection from host \"10.1.1.1\", user \"rep\", GSS encryption",
        );
        let Refusal::HbaNoEntry(m) = repl else {
            panic!("{repl:?}")
        };
        assert!(m.replication);
        assert_eq!(m.database, None);
        assert_eq!(m.encryption, Some(HbaEncryption::Gss));
    }

    #[test]
    fn unrecognised_texts_fall_back_to_the_sqlstate() {
        assert_eq!(
            kind("28000", "keine pg_hba.conf-Eintrag"),
            Refusal::Authorization
        );
        assert_eq!(
            kind("28000", "connection requires a valid client certificate"),
            Refusal::ClientCertificate
        );
        assert_eq!(kind("53300", "sorry"), Refusal::TooManyClients);
        assert_eq!(kind("08P01", "invalid startup packet"), Refusal::Other);
        // PgBouncer's refusal of a plaintext startup under client_tls_sslmode=require.
        assert_eq!(kind("08P01", "SSL required"), Refusal::SslRequired);
        // A quote that never closes is not a client address.
        let open = kind("28000", "no pg_hba.conf entry for host \"10.0.0.1");
        assert_eq!(open, Refusal::HbaNoEntry(HbaMessage::default()));
    }
}
