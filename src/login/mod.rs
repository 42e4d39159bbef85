//! `--login`: continues a connection past the authentication request with the user's
//! password, proves it (SCRAM-SHA-256[-PLUS], MD5, or cleartext over TLS), and runs one short
//! read-only transaction to show what only a session can: the database and role actually used,
//! the address the server sees, recovery and read-only state, SSL in use, connection slots.
//!
//! Flow: `probe::startup` stops at the first authentication request and hands over the open
//! stream ([`crate::probe::startup::Pending`]); [`login`] answers it ([`auth`]), then reads the
//! session's start and asks its questions ([`session`]). The password is a [`Secret`]: it is
//! sent on the wire and never formatted, logged or stored in facts.
//!
//! One login per address, on the connection of the channel the configured sslmode uses first
//! (never on the second connection over the other channel, nor the optional questions').

mod auth;
mod digests;
mod passfile;
mod policy;
mod scram;
mod session;
mod wire;

use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, timeout_at};

use crate::config::{Config, Secret};
use crate::facts::{Channel, millis};
pub use crate::facts::{LoginFacts, LoginStatus, SessionFacts, StateCount};
use crate::pgwire::backend::AuthRequest;

pub use passfile::Passfile;
pub use policy::{ChannelBinding, RequireAuth};

/// What every login of a run shares: the credentials and the policies.
#[derive(Debug)]
pub struct LoginSettings {
    pub user: String,
    pub dbname: String,
    /// From the connection settings or the prompt, with its source; wins over the passfile.
    password: Option<(Secret, String)>,
    passfile: Passfile,
    allow_cleartext: bool,
    show_secrets: bool,
    channel_binding: Result<ChannelBinding, String>,
    require_auth: Result<RequireAuth, String>,
    /// The budget from the authentication request to Terminate.
    timeout: Duration,
}

impl LoginSettings {
    /// The settings for a run, or `None` without `--login`. With `-W` this prompts on the
    /// terminal now, before any connection (as psql does).
    pub fn from_config(
        config: &Config,
        home: Option<&Path>,
    ) -> std::io::Result<Option<LoginSettings>> {
        if !config.login.enabled {
            return Ok(None);
        }
        let password = if config.login.prompt {
            let p = rpassword::prompt_password(format!("Password for user {}: ", config.user))?;
            Some((Secret::new(p), "prompt (-W)".to_owned()))
        } else {
            config.password.clone().map(|p| {
                let origin = config
                    .setting("password")
                    .map(|s| s.origin.clone())
                    .unwrap_or_else(|| "connection settings".into());
                (p, origin)
            })
        };
        let passfile_path = config
            .setting("passfile")
            .map(|s| s.value.clone().into())
            .or_else(|| home.map(|h| h.join(".pgpass")));
        // libpq reads the passfile only when no password was given.
        let passfile = match (&password, passfile_path) {
            (None, Some(path)) => Passfile::read(&path),
            _ => Passfile::default(),
        };
        for w in &passfile.warnings {
            tracing::warn!("{w}");
        }
        let value = |name| config.setting(name).map(|s| s.value.as_str());
        Ok(Some(LoginSettings {
            user: config.user.clone(),
            dbname: config.dbname.clone(),
            password,
            passfile,
            allow_cleartext: config.login.allow_cleartext,
            show_secrets: config.login.show_secrets,
            channel_binding: ChannelBinding::parse(value("channel_binding")),
            require_auth: RequireAuth::parse(value("require_auth")),
            timeout: config.connect_timeout,
        }))
    }

    /// The password for one host and port, in libpq's order, with where it came from.
    fn password_for(&self, host: &str, port: u16) -> Option<(Secret, String)> {
        if let Some((p, source)) = &self.password {
            return Some((p.clone(), source.clone()));
        }
        let path = self.passfile.path.as_ref()?;
        let (secret, line) = self.passfile.lookup(host, port, &self.dbname, &self.user)?;
        Some((secret, format!("passfile {} line {line}", path.display())))
    }
}

/// Where this connection is, for the password lookup and channel binding.
pub struct Peer<'a> {
    /// The host for the password file: the host as typed (or the hostaddr), or the socket
    /// directory.
    pub host: &'a str,
    pub port: u16,
    pub channel: Channel,
    /// The server's leaf certificate (DER), over TLS.
    pub leaf_cert: Option<&'a [u8]>,
}

/// Logs in on `stream`, which stopped at `request` (with `buffered` bytes already read past
/// it), runs the queries and says Terminate. Bounded by the settings' timeout.
pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: AuthRequest,
    buffered: BytesMut,
    settings: &LoginSettings,
    peer: &Peer<'_>,
) -> LoginFacts {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut facts = LoginFacts::new(LoginStatus::Ok, peer.channel);
    facts.password_warnings = settings.passfile.warnings.clone();
    let mut conn = wire::Conn::new(stream, buffered);
    let run = async {
        let done = auth::authenticate(&mut conn, request, settings, peer, &mut facts).await;
        if done {
            session::run(&mut conn, settings.show_secrets, &mut facts).await;
        }
    };
    if timeout_at(deadline, run).await.is_err() {
        facts.status = LoginStatus::Timeout;
        facts.detail = Some(format!(
            "no answer within {:?} of the authentication request",
            settings.timeout
        ));
    }
    facts.elapsed_ms = millis(start.elapsed());
    tracing::debug!(status = ?facts.status, method = ?facts.method, "login");
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, duplex};

    fn settings() -> LoginSettings {
        LoginSettings {
            user: "app".into(),
            dbname: "app".into(),
            password: Some((Secret::new("pw"), "PGPASSWORD".into())),
            passfile: Passfile::default(),
            allow_cleartext: false,
            show_secrets: false,
            channel_binding: Ok(ChannelBinding::Prefer),
            require_auth: Ok(RequireAuth::default()),
            timeout: Duration::from_secs(5),
        }
    }

    fn peer(channel: Channel) -> Peer<'static> {
        Peer {
            host: "h",
            port: 5432,
            channel,
            leaf_cert: None,
        }
    }

    #[tokio::test]
    async fn an_endless_stream_of_parameters_is_a_protocol_violation() {
        let (mut client, mut server) = duplex(1 << 16);
        let flood = tokio::spawn(async move {
            let msg = b"S\x00\x00\x00\x08a\0b\0";
            for _ in 0..5000 {
                if server.write_all(msg).await.is_err() {
                    return;
                }
            }
        });
        let f = login(
            &mut client,
            AuthRequest::Ok,
            BytesMut::new(),
            &settings(),
            &peer(Channel::Plaintext),
        )
        .await;
        assert_eq!(f.status, LoginStatus::ProtocolViolation, "{f:?}");
        assert!(f.parameters.len() <= wire::MAX_MESSAGES);
        drop(client);
        let _ = flood.await;
    }

    #[tokio::test]
    async fn cleartext_over_plaintext_is_not_sent() {
        let (mut client, mut server) = duplex(1 << 16);
        let f = login(
            &mut client,
            AuthRequest::CleartextPassword,
            BytesMut::new(),
            &settings(),
            &peer(Channel::Plaintext),
        )
        .await;
        assert_eq!(f.status, LoginStatus::RefusedCleartext);
        assert_eq!(f.password_source, None);
        drop(client);
        let mut sent = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut server, &mut sent)
            .await
            .unwrap();
        assert!(sent.is_empty(), "nothing was sent: {sent:?}");
    }
}
