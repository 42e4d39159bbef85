//! Phase 4: the StartupMessage and the server's first answer — the authentication method it
//! asks for, or the error it refuses with. The connection is closed at the authentication
//! request, before any password: PostgreSQL logs nothing for a client that leaves there.

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::facts::{
    AuthMethod, Channel, NegotiateProtocol, ServerError, StartupFacts, StartupStatus, millis,
};
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
    exchange_holding(stream, (params, 0), channel, deadline, None).await
}

/// Where a startup held for `--login` stopped: the first authentication request (including
/// AuthenticationOk) and the bytes already read past it. The connection is still open.
pub struct Pending {
    pub request: AuthRequest,
    pub buffered: BytesMut,
}

/// [`exchange`] asking for protocol 3.`minor`, except that with `hold` it stops at the first authentication request —
/// AuthenticationOk included, without reading on or saying Terminate — and puts it in `hold`,
/// for `crate::login` to continue on the same connection.
pub async fn exchange_holding<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    (params, minor): (&[(&str, &str)], u16),
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
    // One buffer for the whole exchange: the StartupMessage goes out of it, the answer comes
    // into it.
    let mut buf = BytesMut::with_capacity(BUF_CAPACITY);
    if let Err(e) = frontend::startup_message_for(&mut buf, minor, params) {
        facts.status = StartupStatus::ProtocolViolation;
        facts.detail = Some(e.to_string());
        return facts;
    }
    let result = timeout_at(deadline, converse(stream, &mut buf, &mut facts, hold)).await;
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

/// Sends the StartupMessage that `buf` holds, then reads the answer into the same `buf`.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    facts: &mut StartupFacts,
    mut hold: Option<&mut Option<Pending>>,
) -> std::io::Result<()> {
    stream.write_all(buf).await?;
    stream.flush().await?;
    buf.clear();
    let mut messages = 0usize;
    loop {
        match backend::decode(buf, pgwire::MAX_PREAUTH_MESSAGE) {
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
                    // The bytes read past the request, for the login to read first.
                    let buffered = std::mem::take(buf);
                    *hold = Some(Pending { request, buffered });
                    return Ok(());
                }
                if absorb(msg, facts) {
                    if facts.auth == Some(AuthMethod::Trust) && facts.error.is_none() {
                        // Best effort: the answer is already recorded.
                        let _ = stream.write_all(&frontend::TERMINATE).await;
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
        // chunk. Every read gets at least READ_ROOM bytes of room: `reserve` does nothing while
        // there is that much, else moves the undecoded bytes back over the messages already
        // decoded when that frees enough (and they are no fewer than the bytes to move), and
        // only otherwise grows the buffer, so many small messages do not grow it.
        buf.reserve(READ_ROOM);
        let n = match stream.read_buf(&mut (&mut *buf).limit(READ_CHUNK)).await {
            Ok(n) => n,
            Err(e) => return Err(mid_message(e, buf.len())),
        };
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

/// The most read from the socket at once.
const READ_CHUNK: usize = 8 * 1024;

/// The least room a read gets, so that a message that does not fit is not read in dribbles.
const READ_ROOM: usize = 1024;

/// The exchange's one buffer starts with room for the StartupMessage, and then for the usual
/// answer (an authentication request, or trust's run of ParameterStatus) in a single read.
const BUF_CAPACITY: usize = 1024;

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
    let authenticated = facts.auth == Some(AuthMethod::Trust);
    match msg {
        Message::Authentication(AuthRequest::Ok) if !authenticated => {
            facts.status = StartupStatus::AuthRequest;
            facts.auth = Some(AuthMethod::Trust);
            facts.auth_code = Some(0);
            false
        }
        Message::Authentication(req) if !authenticated => {
            facts.status = StartupStatus::AuthRequest;
            facts.auth = Some(AuthMethod::of(&req));
            facts.auth_code = Some(req.code());
            if let AuthRequest::Sasl { mechanisms } = req {
                facts.sasl_mechanisms = mechanisms;
            }
            true
        }
        Message::ErrorResponse(fields) => {
            facts.status = StartupStatus::Error;
            facts.error = Some(ServerError::from(fields));
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
            facts.detail = Some(match other {
                Message::Other { tag, len } => format!(
                    "unexpected message at this point: type '{}' ({len} bytes)",
                    backend::Printable(tag)
                ),
                other => format!("unexpected message at this point: {other:?}"),
            });
            true
        }
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
        assert_eq!(f.auth, Some(AuthMethod::Md5));
        assert_eq!(f.auth_code, Some(5));
        assert!(after.is_empty(), "no password is sent");
    }

    #[tokio::test]
    async fn negotiate_then_sasl() {
        let (f, _) = run(b"v\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0").await;
        assert_eq!(f.auth, Some(AuthMethod::Sasl));
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
        assert_eq!(f.auth, Some(AuthMethod::Trust));
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

    /// A peer whose answer arrives in `segments`: a read takes at most what is left of the
    /// next one, as from a socket, then EOF. It keeps what was written and each read's room.
    #[derive(Default)]
    struct Scripted {
        segments: std::collections::VecDeque<Vec<u8>>,
        written: Vec<u8>,
        rooms: Vec<usize>,
    }

    impl AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.rooms.push(buf.remaining());
            if let Some(mut segment) = self.segments.pop_front() {
                let n = segment.len().min(buf.remaining());
                buf.put_slice(&segment[..n]);
                segment.drain(..n);
                if !segment.is_empty() {
                    self.segments.push_front(segment);
                }
            }
            std::task::Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Scripted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    async fn scripted(segments: Vec<Vec<u8>>) -> (StartupFacts, Scripted) {
        let mut peer = Scripted {
            segments: segments.into(),
            ..Scripted::default()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let params = [("user", "app")];
        let facts = exchange(&mut peer, &params, Channel::Plaintext, deadline).await;
        let mut startup = BytesMut::new();
        frontend::startup_message(&mut startup, &params).unwrap();
        assert!(
            peer.written.starts_with(&startup),
            "the StartupMessage went out"
        );
        // No read is a dribble, and none adds more than a chunk.
        for &room in &peer.rooms {
            assert!((READ_ROOM..=READ_CHUNK).contains(&room), "{:?}", peer.rooms);
        }
        (facts, peer)
    }

    /// An ErrorResponse whose message is `message_len` bytes; its length word counts 14 more.
    fn long_error(message_len: usize) -> Vec<u8> {
        let mut body = b"SFATAL\0M".to_vec();
        body.resize(body.len() + message_len, b'm');
        body.extend_from_slice(b"\0\0");
        let mut out = vec![b'E'];
        out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[tokio::test]
    async fn a_message_split_across_reads() {
        let sasl = b"R\x00\x00\x00\x17\x00\x00\x00\x0aSCRAM-SHA-256\0\0";
        let (f, peer) = scripted(vec![
            sasl[..3].to_vec(),
            sasl[3..9].to_vec(),
            sasl[9..].to_vec(),
        ])
        .await;
        assert_eq!(f.auth, Some(AuthMethod::Sasl));
        assert_eq!(f.sasl_mechanisms, vec!["SCRAM-SHA-256".to_string()]);
        assert_eq!(peer.rooms.len(), 3, "one read per segment");
    }

    #[tokio::test]
    async fn messages_larger_than_the_buffer_and_a_chunk() {
        // Up to the pre-auth cap, in one segment and in many small ones.
        for len in [
            BUF_CAPACITY,
            3 * READ_CHUNK,
            pgwire::MAX_PREAUTH_MESSAGE - 14,
        ] {
            let bytes = long_error(len);
            let small = bytes.chunks(100).map(<[u8]>::to_vec).collect();
            for segments in [vec![bytes.clone()], small] {
                let (f, peer) = scripted(segments).await;
                assert_eq!(f.status, StartupStatus::Error, "{len}");
                let message = f.error.unwrap().message.unwrap();
                assert!(message.len() == len && message.bytes().all(|b| b == b'm'));
                assert!(peer.segments.is_empty(), "read to the end");
            }
        }
        // One byte more is over the cap: refused from the header.
        let (f, _) = scripted(vec![long_error(pgwire::MAX_PREAUTH_MESSAGE - 13)]).await;
        assert_eq!(f.status, StartupStatus::ProtocolViolation);
    }

    #[tokio::test]
    async fn many_small_messages_reuse_the_buffer() {
        // 255 notices of 101 bytes (25 KiB in all), then the request: the space of decoded
        // messages is taken back, so the buffer stays near its first size. Were it not, it
        // would grow past 16 KiB and reads would get a whole chunk of room.
        let mut notice = b"N\x00\x00\x00\x64SNOTICE\0M".to_vec();
        notice.resize(99, b'n');
        notice.extend_from_slice(b"\0\0");
        let mut bytes = notice.repeat(MAX_PREAUTH_MESSAGES - 1);
        bytes.extend_from_slice(b"R\x00\x00\x00\x0c\x00\x00\x00\x05abcd");
        let small = bytes.chunks(100).map(<[u8]>::to_vec).collect();
        for segments in [vec![bytes.clone()], small] {
            let (f, peer) = scripted(segments).await;
            assert_eq!(f.auth, Some(AuthMethod::Md5));
            let most = peer.rooms.iter().max().copied().unwrap_or_default();
            assert!(most <= 2 * BUF_CAPACITY, "{most}");
        }
    }

    #[tokio::test]
    async fn eof_after_part_of_a_message_says_how_much() {
        let bytes = long_error(2000);
        let (f, _) = scripted(vec![bytes[..1500].to_vec()]).await;
        assert_eq!(f.status, StartupStatus::Eof);
        assert_eq!(
            f.detail.as_deref(),
            Some("the server closed the connection mid-message (1500 bytes)")
        );
    }

    #[tokio::test]
    async fn held_at_the_request_with_what_follows() {
        let ok = b"R\x00\x00\x00\x08\x00\x00\x00\x00";
        let after = b"S\x00\x00\x00\x08a\0b\0Z\x00\x00\x00\x05I";
        let mut peer = Scripted {
            segments: vec![[&ok[..], &after[..]].concat()].into(),
            ..Scripted::default()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut hold = None;
        let params = [("user", "app")];
        let channel = Channel::Plaintext;
        let f = exchange_holding(&mut peer, (&params, 0), channel, deadline, Some(&mut hold)).await;
        assert_eq!(f.auth, Some(AuthMethod::Trust));
        let Pending { request, buffered } = hold.unwrap();
        assert_eq!(request, AuthRequest::Ok);
        assert_eq!(
            &buffered[..],
            after,
            "the bytes read past the request are handed on"
        );
    }
}
