//! The libpq connection keywords pgreach recognises: their environment variables, whether pgreach
//! acts on them, and whether their values are secret.
//!
//! The list follows `PQconninfoOptions` in libpq's fe-connect.c (PostgreSQL 18). A keyword that is
//! not here is rejected, exactly as libpq rejects it, so a typo in an application's connection
//! string shows up as the error the application itself would get.

/// One libpq connection keyword.
#[derive(Debug)]
pub(crate) struct Keyword {
    /// The keyword as written in a conninfo string or URI query.
    pub name: &'static str,
    /// The environment variable libpq reads when the keyword is not given.
    pub env: Option<&'static str>,
    /// Whether pgreach's probe uses the value. Others are recorded for the report only.
    pub used: bool,
    /// Whether the value must be shown as `***`.
    pub secret: bool,
}

const fn kw(name: &'static str, env: Option<&'static str>, used: bool, secret: bool) -> Keyword {
    Keyword {
        name,
        env,
        used,
        secret,
    }
}

/// In report order: the settings pgreach uses first, then the recorded ones in libpq's order.
pub(crate) const KEYWORDS: &[Keyword] = &[
    kw("host", Some("PGHOST"), true, false),
    kw("hostaddr", Some("PGHOSTADDR"), true, false),
    kw("port", Some("PGPORT"), true, false),
    kw("user", Some("PGUSER"), true, false),
    kw("dbname", Some("PGDATABASE"), true, false),
    kw("password", Some("PGPASSWORD"), true, true),
    kw("sslmode", Some("PGSSLMODE"), true, false),
    kw("sslrootcert", Some("PGSSLROOTCERT"), true, false),
    kw("sslcert", Some("PGSSLCERT"), true, false),
    kw("sslkey", Some("PGSSLKEY"), true, false),
    kw("connect_timeout", Some("PGCONNECT_TIMEOUT"), true, false),
    kw("application_name", Some("PGAPPNAME"), true, false),
    // Used only when application_name is not set, as in libpq.
    kw("fallback_application_name", None, true, false),
    kw("service", Some("PGSERVICE"), true, false),
    kw("passfile", Some("PGPASSFILE"), false, false),
    kw("require_auth", Some("PGREQUIREAUTH"), false, false),
    kw("channel_binding", Some("PGCHANNELBINDING"), false, false),
    kw("client_encoding", Some("PGCLIENTENCODING"), false, false),
    kw("options", Some("PGOPTIONS"), false, false),
    kw("keepalives", None, false, false),
    kw("keepalives_idle", None, false, false),
    kw("keepalives_interval", None, false, false),
    kw("keepalives_count", None, false, false),
    kw("tcp_user_timeout", None, false, false),
    // Used: decides direct TLS and, with libpq 17+, the matrix.
    kw("sslnegotiation", Some("PGSSLNEGOTIATION"), true, false),
    kw("sslcompression", Some("PGSSLCOMPRESSION"), false, false),
    kw("sslcertmode", Some("PGSSLCERTMODE"), false, false),
    kw("sslpassword", None, false, true),
    kw("sslkeylogfile", None, false, false),
    kw("sslcrl", Some("PGSSLCRL"), true, false),
    kw("sslcrldir", Some("PGSSLCRLDIR"), true, false),
    kw("sslsni", Some("PGSSLSNI"), true, false),
    kw("requirepeer", Some("PGREQUIREPEER"), false, false),
    kw(
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        false,
        false,
    ),
    kw(
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        false,
        false,
    ),
    kw(
        "min_protocol_version",
        Some("PGMINPROTOCOLVERSION"),
        false,
        false,
    ),
    kw(
        "max_protocol_version",
        Some("PGMAXPROTOCOLVERSION"),
        false,
        false,
    ),
    kw("gssencmode", Some("PGGSSENCMODE"), false, false),
    kw("krbsrvname", Some("PGKRBSRVNAME"), false, false),
    kw("gsslib", Some("PGGSSLIB"), false, false),
    kw("gssdelegation", Some("PGGSSDELEGATION"), false, false),
    kw("replication", None, false, false),
    kw(
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        false,
        false,
    ),
    kw(
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        false,
        false,
    ),
    kw("scram_client_key", None, false, true),
    kw("scram_server_key", None, false, true),
    kw("oauth_issuer", None, false, false),
    kw("oauth_client_id", None, false, false),
    kw("oauth_client_secret", None, false, true),
    kw("oauth_scope", None, false, false),
];

/// The keyword spelled exactly `name` (libpq keywords are case-sensitive).
pub(crate) fn lookup(name: &str) -> Option<&'static Keyword> {
    KEYWORDS.iter().find(|k| k.name == name)
}

/// Whether a keyword's value must never be shown.
pub(crate) fn is_secret(name: &str) -> bool {
    lookup(name).is_some_and(|k| k.secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_env_vars_are_unique() {
        for (i, a) in KEYWORDS.iter().enumerate() {
            for b in &KEYWORDS[i + 1..] {
                assert_ne!(a.name, b.name);
                if a.env.is_some() {
                    assert_ne!(a.env, b.env, "{} and {}", a.name, b.name);
                }
            }
        }
    }

    #[test]
    fn lookup_is_exact_and_secrets_are_marked() {
        assert_eq!(lookup("sslmode").map(|k| k.env), Some(Some("PGSSLMODE")));
        assert!(lookup("SSLMODE").is_none());
        assert!(lookup("ssl").is_none());
        for secret in [
            "password",
            "sslpassword",
            "scram_client_key",
            "scram_server_key",
            "oauth_client_secret",
        ] {
            assert!(is_secret(secret), "{secret}");
        }
        assert!(!is_secret("user"));
        assert!(!is_secret("nonsense"));
    }
}
