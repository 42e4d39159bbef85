//! Phase 4: the StartupMessage and the server's first answer — the authentication method it
//! asks for, or the error it refuses with. The connection is closed at the authentication
//! request, before any password: PostgreSQL logs nothing for a client that leaves there.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::facts::{Channel, NegotiateProtocol, ServerError, StartupFacts, StartupStatus, millis};
use crate::pgwire::backend::{AuthRequest, Message};
use crate::pgwire::{self, backend, frontend};

/// Sends the StartupMessage and reads until the first authentication request or error. With
/// `trust` (AuthenticationOk) it reads on to ReadyForQuery, then says Terminate.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    params: &[(&str, &str)],
    channel: Channel,
    deadline: Instant,
) -> StartupFacts {
    exchange_holding(stream, params, channel, deadline, None).await
}

/// Where a startup held for `--login` stopped: the first authentication request (including
/// AuthenticationOk) and the bytes already read past it. The connection is still open.
pub struct Pending {
    pub request: AuthRequest,
    pub buffered: BytesMut,
}

/// [`exchange`], except that with `hold` it stops at the first authentication request —
/// AuthenticationOk included, without reading on or saying Terminate — and puts it in `hold`,
/// for `crate::login` to continue on the same connection.
pub async fn exchange_holding<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    params: &[(&str, &str)],
    channel: Channel,
    deadline: Instant,
    hold: Option<&mut Option<Pending>>,
) -> StartupFacts {
    let start = Instant::now();
    let mut facts = StartupFacts {
        channel: Some(channel),
        detail: None,
        ..StartupFacts::skipped("")
    };
    let mut out = BytesMut::new();
    if let Err(e) = frontend::startup_message(&mut out, params) {
        facts.status = StartupStatus::ProtocolViolation;
        facts.detail = Some(e.to_string());
        return facts;
    }
    let result = timeout_at(deadline, converse(stream, &out, &mut facts, hold)).await;
    facts.elapsed_ms = Some(millis(start.elapsed()));
    match result {
        Err(_) => {
            facts.status = StartupStatus::Timeout;
            facts.detail = Some(match facts.auth {
                Some(_) => "timed out after authentication, before ReadyForQuery".into(),
                None => "no answer to the StartupMessage before the deadline".into(),
            });
        }
        Ok(Err(e)) => {
            facts.status = StartupStatus::IoError;
            facts.detail = Some(e.to_string());
        }
        Ok(Ok(())) => {}
    }
    facts
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    startup: &[u8],
    facts: &mut StartupFacts,
    mut hold: Option<&mut Option<Pending>>,
) -> std::io::Result<()> {
    stream.write_all(startup).await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut messages = 0usize;
    loop {
        match backend::decode(&mut buf, pgwire::MAX_PREAUTH_MESSAGE) {
            Ok(Some(_)) if messages >= MAX_PREAUTH_MESSAGES => {
                facts.status = StartupStatus::ProtocolViolation;
                facts.detail = Some(format!(
                    "more than {MAX_PREAUTH_MESSAGES} messages without reaching an answer"
                ));
                return Ok(());
            }
            Ok(Some(msg)) => {
                messages += 1;
                if let (Some(hold), Message::Authentication(req)) = (hold.as_deref_mut(), &msg)
                    && facts.auth.is_none()
                {
                    let request = req.clone();
                    absorb(msg, facts);
                    let buffered = buf.split();
                    *hold = Some(Pending { request, buffered });
                    return Ok(());
                }
                if absorb(msg, facts) {
                    if facts.auth == Some("trust") && facts.error.is_none() {
                        let mut bye = BytesMut::new();
                        frontend::terminate(&mut bye);
                        // Best effort: the answer is already recorded.
                        let _ = stream.write_all(&bye).await;
                    }
                    return Ok(());
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                facts.status = StartupStatus::ProtocolViolation;
                facts.detail = Some(e.to_string());
                return Ok(());
            }
        }
        // `decode` refuses a length over the cap before the body is buffered, and a read adds
        // at most READ_CHUNK bytes, so `buf` never holds more than one capped message and one
        // chunk.
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return Err(mid_message(e, buf.len())),
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if n == 0 {
            facts.status = StartupStatus::Eof;
            facts.detail = Some(if buf.is_empty() {
                "the server closed the connection without answering".into()
            } else {
                format!(
                    "the server closed the connection mid-message ({} bytes)",
                    buf.len()
                )
            });
            return Ok(());
        }
    }
}

/// The most messages read before the exchange must be over. A server sends at most a
/// NegotiateProtocolVersion and an authentication request, or (with trust) about twenty
/// ParameterStatus messages; a peer that sends an endless stream of small, valid messages is a
/// protocol violation long before it could fill memory.
pub const MAX_PREAUTH_MESSAGES: usize = 256;

/// How much is read from the socket at once.
const READ_CHUNK: usize = 8 * 1024;

/// Says where a read error struck: a reset with part of a message buffered is "mid-message".
fn mid_message(e: std::io::Error, buffered: usize) -> std::io::Error {
    match (e.kind(), buffered) {
        (std::io::ErrorKind::ConnectionReset, 0) => {
            std::io::Error::new(e.kind(), format!("the server reset the connection ({e})"))
        }
        (std::io::ErrorKind::ConnectionReset, n) => std::io::Error::new(
            e.kind(),
            format!(
                "the server reset the connection in the middle of a message, after {n} bytes \
                 of it ({e})"
            ),
        ),
        _ => e,
    }
}

/// Records one message; returns true when the exchange is over.
fn absorb(msg: Message, facts: &mut StartupFacts) -> bool {
    let authenticated = facts.auth == Some("trust");
    match msg {
        Message::Authentication(AuthRequest::Ok) if !authenticated => {
            facts.status = StartupStatus::AuthRequest;
            facts.auth = Some("trust");
            facts.auth_code = Some(0);
            false
        }
        Message::Authentication(req) if !authenticated => {
            facts.status = StartupStatus::AuthRequest;
            facts.auth = Some(req.method());
            facts.auth_code = Some(req.code());
            if let AuthRequest::Sasl { mechanisms } = req {
                facts.sasl_mechanisms = mechanisms;
            }
            true
        }
        Message::ErrorResponse(fields) => {
            facts.status = StartupStatus::Error;
            facts.error = Some(ServerError::from(&fields));
            true
        }
        Message::NegotiateProtocolVersion {
            newest_minor,
            unrecognized,
        } if !authenticated => {
            facts.negotiate_protocol = Some(NegotiateProtocol {
                newest_minor,
                unrecognized_options: unrecognized,
            });
            false
        }
        Message::NoticeResponse(_) => false,
        Message::ParameterStatus { name, value } if authenticated => {
            facts.parameters.push((name, value));
            false
        }
        Message::BackendKeyData { .. } if authenticated => false,
        Message::ReadyForQuery { .. } if authenticated => true,
        other => {
            facts.status = StartupStatus::ProtocolViolation;
            facts.detail = Some(format!(
                "unexpected message at this point: {}",
                describe(&other)
            ));
            true
        }
    }
}

fn describe(m: &Message) -> String {
    match m {
        Message::Other { tag, len } => {
            format!("type '{}' ({len} bytes)", backend::printable(*tag))
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::duplex;

    async fn run(reply: &'static [u8]) -> (StartupFacts, Vec<u8>) {
        let (mut client, mut server) = duplex(65536);
        let peer = tokio::spawn(async move {
            let mut got = vec![0u8; 4];
            server.read_exact(&mut got).await.unwrap();
            let len = u32::from_be_bytes([got[0], got[1], got[2], got[3]]) as usize;
            got.resize(len, 0);
            server.read_exact(&mut got[4..]).await.unwrap();
            server.write_all(reply).await.unwrap();
            // Our side is done talking: the client sees EOF if it wants more.
            server.shutdown().await.unwrap();
            let mut rest = Vec::new();
            // Reads until the client drops its end.
            let _ = server.read_to_end(&mut rest).await;
            (got, rest)
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let facts = exchange(
            &mut client,
            &[("user", "app"), ("database", "db")],
            Channel::Plaintext,
            deadline,
        )
        .await;
        drop(client);
        let (sent, after) = peer.await.unwrap();
        assert_eq!(&sent[8..], b"user\0app\0database\0db\0\0");
        (facts, after)
    }

    #[tokio::test]
    async fn md5_request() {
        let (f, after) = run(b"R\x00\x00\x00\x0c\x00\x00\x00\x05abcd").await;
        assert_eq!(f.status, StartupStatus::AuthRequest);
        assert_eq!(f.auth, Some("md5"));
        assert_eq!(f.auth_code, Some(5));
        assert!(after.is_empty(), "no password is sent");
    }

    #[tokio::test]
    async fn negotiate_then_sasl() {
        let (f, _) = run(b"v\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0").await;
        assert_eq!(f.auth, Some("sasl"));
        assert_eq!(f.sasl_mechanisms, vec!["SCRAM-SHA-256".to_string()]);
        assert_eq!(f.negotiate_protocol.unwrap().newest_minor, 0);
    }

    #[tokio::test]
    async fn error_response() {
        let (f, _) = run(b"E\x00\x00\x00\x1dSFATAL\0C57P03\0Mstarting\0\0").await;
        assert_eq!(f.status, StartupStatus::Error);
        assert_eq!(f.error.unwrap().sqlstate.as_deref(), Some("57P03"));
        assert_eq!(f.auth, None);
    }

    #[tokio::test]
    async fn trust_reads_to_ready_and_terminates() {
        let (f, after) = run(b"R\x00\x00\x00\x08\x00\x00\x00\x00S\x00\x00\x00\x19server_version\x0015.18\0K\x00\x00\x00\x0c\x00\x00\x00\x01\x00\x00\x00\x02Z\x00\x00\x00\x05I").await;
        assert_eq!(f.status, StartupStatus::AuthRequest);
        assert_eq!(f.auth, Some("trust"));
        assert_eq!(
            f.parameters,
            vec![("server_version".into(), "15.18".into())]
        );
        assert_eq!(after, b"X\x00\x00\x00\x04");
    }

    #[tokio::test]
    async fn eof_mid_message() {
        let (f, _) = run(b"R\x00\x00\x00").await;
        assert_eq!(f.status, StartupStatus::Eof);
    }

    #[tokio::test]
    async fn endless_notices_are_cut_off() {
        let notice: &[u8] = b"N\x00\x00\x00\x0dSNOTICE\0\0";
        let many: &'static [u8] = notice.repeat(MAX_PREAUTH_MESSAGES + 5).leak();
        let (f, _) = run(many).await;
        assert_eq!(f.status, StartupStatus::ProtocolViolation);
        assert!(f.detail.unwrap().contains("more than"));
    }

    #[tokio::test]
    async fn unexpected_type_is_a_protocol_violation() {
        let (f, _) = run(b"D\x00\x00\x00\x06\x00\x00").await;
        assert_eq!(f.status, StartupStatus::ProtocolViolation);
    }
}
