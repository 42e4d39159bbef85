//! Answering the server's authentication request: trust, cleartext (only over TLS unless
//! `--allow-cleartext`), MD5, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, with libpq's
//! `channel_binding` and `require_auth` checks before any password is sent.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::scram::{self, Binding, ScramClient, ScramError};
use super::wire::{Conn, RecvError};
use super::{ChannelBinding, LoginFacts, LoginSettings, LoginStatus, Peer, digests};
use crate::config::Secret;
use crate::facts::{AuthMethod, Channel, ServerError};
use crate::pgwire::backend::{AuthRequest, Message};
use crate::pgwire::session::{self, SessionMessage};

const SCRAM: &str = "SCRAM-SHA-256";
const SCRAM_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// Runs the authentication exchange; true when the server sent AuthenticationOk. Otherwise
/// `facts` says why it stopped.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    first: AuthRequest,
    settings: &LoginSettings,
    peer: &Peer<'_>,
    facts: &mut LoginFacts,
) -> bool {
    let policies = settings
        .channel_binding
        .clone()
        .and_then(|cb| settings.require_auth.clone().map(|ra| (cb, ra)));
    let (binding, require_auth) = match policies {
        Ok(p) => p,
        Err(e) => return stop(facts, LoginStatus::ConfigError, e),
    };
    let mut request = first;
    let mut answered = false;
    loop {
        let method = match &request {
            AuthRequest::Ok => {
                if !answered {
                    facts.method = Some("trust");
                    if let Err(e) = require_auth.check("none") {
                        return stop(facts, LoginStatus::PolicyRefused, e);
                    }
                }
                if binding == ChannelBinding::Require && facts.channel_binding.is_none() {
                    return stop(
                        facts,
                        LoginStatus::PolicyRefused,
                        "channel binding required, but server authenticated client without channel binding",
                    );
                }
                return true;
            }
            AuthRequest::CleartextPassword => "password",
            AuthRequest::Md5Password { .. } => "md5",
            AuthRequest::Sasl { .. } => "scram-sha-256",
            other => {
                facts.method = Some(AuthMethod::of(other).as_str());
                return stop(
                    facts,
                    LoginStatus::UnsupportedMethod,
                    format!(
                        "the server asks for {} authentication (code {}), which pgreach does not implement",
                        AuthMethod::of(other),
                        other.code()
                    ),
                );
            }
        };
        if answered {
            return stop(
                facts,
                LoginStatus::ProtocolViolation,
                "a second authentication request after our answer",
            );
        }
        answered = true;
        facts.method = Some(method);
        if let Err(e) = require_auth.check(method) {
            return stop(facts, LoginStatus::PolicyRefused, e);
        }
        if binding == ChannelBinding::Require && method != "scram-sha-256" {
            return stop(
                facts,
                LoginStatus::PolicyRefused,
                format!(
                    "channel binding required, but the server requested {method} authentication"
                ),
            );
        }
        if method == "password" && peer.channel == Channel::Plaintext && !settings.allow_cleartext {
            return stop(
                facts,
                LoginStatus::RefusedCleartext,
                "the server asks for the password in cleartext over an unencrypted connection; not sent (use TLS, or --allow-cleartext)",
            );
        }
        let Some((password, source)) = settings.password_for(peer.host, peer.port) else {
            return stop(
                facts,
                LoginStatus::NoPassword,
                "the server asks for a password and none was supplied (URI/conninfo, PGPASSWORD, the password file, DB_PASSWORD with --env django, or -W)",
            );
        };
        facts.password_source = Some(source);
        let sent = match request {
            AuthRequest::Sasl { mechanisms } => {
                scram_exchange(conn, &mechanisms, &password, binding, peer, facts).await
            }
            AuthRequest::Md5Password { salt } => {
                let digest =
                    digests::md5_password(&settings.user, password.expose().as_bytes(), salt);
                send_password(conn, digest.as_bytes(), facts).await
            }
            _ => send_password(conn, password.expose().as_bytes(), facts).await,
        };
        if !sent {
            return false;
        }
        request = match conn.recv().await {
            Ok(SessionMessage::Backend(Message::Authentication(r))) => r,
            other => return unexpected(facts, other, "the answer to our password"),
        };
    }
}

async fn send_password<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    password: &[u8],
    facts: &mut LoginFacts,
) -> bool {
    let mut out = BytesMut::new();
    if session::password_message(&mut out, password).is_err() {
        return stop(
            facts,
            LoginStatus::ConfigError,
            "the password contains a NUL byte",
        );
    }
    match conn.send(&out).await {
        Ok(()) => true,
        Err(e) => stop(facts, LoginStatus::IoError, e.to_string()),
    }
}

/// SCRAM-SHA-256[-PLUS] up to the server-final-message; true when the server's signature
/// checked out (AuthenticationOk is read by the caller).
async fn scram_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut Conn<'_, S>,
    mechanisms: &[String],
    password: &Secret,
    policy: ChannelBinding,
    peer: &Peer<'_>,
    facts: &mut LoginFacts,
) -> bool {
    let offered = |m: &str| mechanisms.iter().any(|x| x == m);
    let tls = peer.channel == Channel::Tls;
    if offered(SCRAM_PLUS) && !tls {
        return stop(
            facts,
            LoginStatus::ProtocolViolation,
            "server offered SCRAM-SHA-256-PLUS authentication over a non-SSL connection",
        );
    }
    let end_point = peer.leaf_cert.and_then(digests::tls_server_end_point);
    let (mechanism, binding) = match (policy, offered(SCRAM_PLUS), end_point) {
        (ChannelBinding::Disable, _, _) => (SCRAM, Binding::NotSupported),
        (_, true, Some(hash)) => (SCRAM_PLUS, Binding::TlsServerEndPoint(hash)),
        (ChannelBinding::Require, true, None) => {
            return stop(
                facts,
                LoginStatus::PolicyRefused,
                "channel binding required, but the server certificate's signature algorithm names no hash for tls-server-end-point",
            );
        }
        (ChannelBinding::Require, false, _) => {
            return stop(
                facts,
                LoginStatus::PolicyRefused,
                "channel binding is required, but the server does not offer SCRAM-SHA-256-PLUS",
            );
        }
        // We could bind but the server did not offer it: say so ("y"), which lets a server
        // that does support it detect a downgrade.
        (_, _, _) if tls => (SCRAM, Binding::NotOffered),
        _ => (SCRAM, Binding::NotSupported),
    };
    if mechanism == SCRAM && !offered(SCRAM) {
        return stop(
            facts,
            LoginStatus::UnsupportedMethod,
            format!(
                "none of the server's SASL mechanisms is supported: {}",
                mechanisms.join(", ")
            ),
        );
    }
    if mechanism == SCRAM_PLUS {
        facts.method = Some("scram-sha-256-plus");
        facts.channel_binding = Some("tls-server-end-point");
    }
    let nonce = match scram::new_nonce() {
        Ok(n) => n,
        Err(e) => return stop(facts, LoginStatus::IoError, format!("no random nonce: {e}")),
    };
    let client = ScramClient::new("", password.expose().as_bytes(), nonce, binding);
    let mut out = BytesMut::new();
    session::sasl_initial_response(&mut out, mechanism, client.client_first().as_bytes());
    if let Err(e) = conn.send(&out).await {
        return stop(facts, LoginStatus::IoError, e.to_string());
    }
    let server_first = match conn.recv().await {
        Ok(SessionMessage::SaslContinue(data)) => data,
        other => return unexpected(facts, other, "SCRAM's server-first-message"),
    };
    // PBKDF2 is CPU work (4096 rounds by default, capped): off the async threads.
    let computed = tokio::task::spawn_blocking(move || client.client_final(&server_first)).await;
    let (expect, client_final) = match computed {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return stop(facts, LoginStatus::ProtocolViolation, e.to_string()),
        Err(e) => return stop(facts, LoginStatus::IoError, e.to_string()),
    };
    let mut out = BytesMut::new();
    session::sasl_response(&mut out, client_final.as_bytes());
    if let Err(e) = conn.send(&out).await {
        return stop(facts, LoginStatus::IoError, e.to_string());
    }
    let server_final = match conn.recv().await {
        Ok(SessionMessage::SaslFinal(data)) => data,
        other => return unexpected(facts, other, "SCRAM's server-final-message"),
    };
    match expect.verify(&server_final) {
        Ok(()) => {
            facts.server_signature_verified = Some(true);
            true
        }
        Err(ScramError::SignatureMismatch) => {
            facts.server_signature_verified = Some(false);
            stop(
                facts,
                LoginStatus::ServerSignatureInvalid,
                "the server's SCRAM signature is wrong: it does not know the password's verifier (an impostor or a proxy that terminates authentication)",
            )
        }
        Err(e) => stop(facts, LoginStatus::ProtocolViolation, e.to_string()),
    }
}

/// Records what arrived instead of what was expected; always false.
fn unexpected(
    facts: &mut LoginFacts,
    got: Result<SessionMessage, RecvError>,
    expected: &str,
) -> bool {
    match got {
        Ok(SessionMessage::Backend(Message::ErrorResponse(fields))) => {
            facts.error = Some(ServerError::from(fields));
            facts.status = LoginStatus::AuthFailed;
            false
        }
        Ok(other) => stop(
            facts,
            LoginStatus::ProtocolViolation,
            format!("expected {expected}, got {}", describe(&other)),
        ),
        Err(e @ (RecvError::Decode(_) | RecvError::TooMany)) => {
            stop(facts, LoginStatus::ProtocolViolation, e.to_string())
        }
        Err(e) => stop(facts, LoginStatus::IoError, e.to_string()),
    }
}

pub(super) fn describe(m: &SessionMessage) -> String {
    match m {
        SessionMessage::Backend(Message::Other { tag, len }) => format!(
            "a '{}' message ({len} bytes)",
            crate::pgwire::backend::printable(*tag)
        ),
        SessionMessage::Backend(Message::Authentication(r)) => {
            format!("an authentication request (code {})", r.code())
        }
        SessionMessage::SaslContinue(_) => "a SASL continuation".into(),
        SessionMessage::SaslFinal(_) => "a SASL final message".into(),
        SessionMessage::BackendKey { .. } => "BackendKeyData".into(),
        SessionMessage::RowDescription { .. } => "RowDescription".into(),
        SessionMessage::DataRow { .. } => "DataRow".into(),
        SessionMessage::CommandComplete { .. } => "CommandComplete".into(),
        SessionMessage::EmptyQuery => "EmptyQueryResponse".into(),
        SessionMessage::Backend(other) => format!("{other:?}"),
    }
}

pub(super) fn stop(facts: &mut LoginFacts, status: LoginStatus, detail: impl Into<String>) -> bool {
    facts.status = status;
    facts.detail = Some(detail.into());
    false
}
