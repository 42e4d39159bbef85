//! Phase 2: SSLRequest and the server's one-byte answer.
//!
//! Exactly one byte is read, from an unbuffered stream, so that anything the peer sends after
//! `S` stays in the socket where [`Wire::waiting_bytes`] can see it: such bytes arrived before
//! our ClientHello, so they were not encrypted and may have been injected (CVE-2021-23222).

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::Wire;
use crate::facts::{ServerError, SslAnswer, SslRequestFacts, escape_bytes, millis};
use crate::pgwire::{self, backend, frontend};

/// How long to keep reading the text of an `E` answer once the `E` arrived: the server writes
/// it in one go and closes, so this only bounds a peer that trickles.
const E_BODY_GRACE: Duration = Duration::from_secs(2);

/// How long to wait for the rest of a non-PostgreSQL peer's first words.
const BANNER_GRACE: Duration = Duration::from_millis(300);

/// Sends SSLRequest and classifies the answer.
pub async fn negotiate<S: Wire>(stream: &mut S, deadline: Instant) -> SslRequestFacts {
    let start = Instant::now();
    let mut facts = SslRequestFacts {
        answer: SslAnswer::Error,
        elapsed_ms: None,
        byte: None,
        error: None,
        detail: None,
        unencrypted_bytes_after_s: None,
        peer_bytes: None,
    };
    let mut request = BytesMut::new();
    frontend::ssl_request(&mut request);
    let mut byte = [0u8; 1];
    let exchange = async {
        stream.write_all(&request).await?;
        stream.flush().await?;
        stream.read(&mut byte).await
    };
    let read = timeout_at(deadline, exchange).await;
    facts.elapsed_ms = Some(millis(start.elapsed()));
    match read {
        Err(_) => facts.answer = SslAnswer::Timeout,
        Ok(Err(e)) => {
            facts.answer = SslAnswer::Error;
            facts.detail = Some(e.to_string());
        }
        Ok(Ok(0)) => {
            facts.answer = SslAnswer::Eof;
            facts.detail = Some("the server closed the connection without answering".into());
        }
        Ok(Ok(_)) => classify_byte(stream, byte[0], deadline, &mut facts).await,
    }
    facts
}

async fn classify_byte<S: Wire>(
    stream: &mut S,
    b: u8,
    deadline: Instant,
    facts: &mut SslRequestFacts,
) {
    match b {
        b'S' => {
            facts.answer = SslAnswer::S;
            let mut peeked = [0u8; 64];
            let waiting = stream.waiting_bytes(&mut peeked);
            facts.unencrypted_bytes_after_s = Some(waiting);
            if waiting > 0 {
                let shown = &peeked[..waiting.min(peeked.len() - 1)];
                facts.detail = Some(format!(
                    "{waiting} unencrypted byte(s) arrived after 'S' before the TLS handshake: {}",
                    hex(shown)
                ));
                let mut all = vec![b'S'];
                all.extend_from_slice(shown);
                facts.peer_bytes = Some(escape_bytes(&all));
            }
        }
        b'N' => facts.answer = SslAnswer::N,
        b'E' => {
            facts.answer = SslAnswer::E;
            let body = read_rest(stream, deadline.min(Instant::now() + E_BODY_GRACE)).await;
            facts.error = Some(decode_e_answer(&body));
        }
        other => {
            facts.answer = SslAnswer::Other;
            facts.byte = Some(other);
            // Whatever else the peer volunteers names the service (an HTTP status line, an SSH
            // banner); wait only briefly, since many services say nothing more.
            let until = deadline.min(Instant::now() + BANNER_GRACE);
            let mut seen = vec![other];
            seen.extend(read_up_to(stream, until, 63).await);
            facts.peer_bytes = Some(escape_bytes(&seen));
            facts.detail = Some(format!(
                "byte 0x{other:02x} ({}) is not a PostgreSQL answer to SSLRequest",
                describe_byte(other)
            ));
        }
    }
}

/// Reads up to `max` bytes, stopping at EOF, an error or `until`.
async fn read_up_to<S: Wire>(stream: &mut S, until: Instant, max: usize) -> Vec<u8> {
    let mut got = vec![0u8; max];
    let mut n = 0;
    while n < max {
        match timeout_at(until, stream.read(&mut got[n..])).await {
            Ok(Ok(k)) if k > 0 => n += k,
            _ => break,
        }
    }
    got.truncate(n);
    got
}

/// Reads what follows an `E`, up to the pre-auth cap, until EOF or the grace deadline.
async fn read_rest<S: Wire>(stream: &mut S, until: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    let mut chunk = [0u8; 1024];
    while body.len() < pgwire::MAX_PREAUTH_MESSAGE {
        match timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    body.truncate(pgwire::MAX_PREAUTH_MESSAGE);
    body
}

/// An `E` answer is either a protocol-3 ErrorResponse, or the protocol-2 text the postmaster
/// writes when it cannot fork ("E" + C string). Try the first, fall back to the second.
pub fn decode_e_answer(body: &[u8]) -> ServerError {
    let mut framed = BytesMut::with_capacity(body.len() + 1);
    framed.extend_from_slice(b"E");
    framed.extend_from_slice(body);
    if let Ok(Some(backend::Message::ErrorResponse(f))) =
        backend::decode(&mut framed, pgwire::MAX_PREAUTH_MESSAGE)
    {
        return ServerError::from(&f);
    }
    let text = body.split(|&b| b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(text).trim_end().to_string();
    ServerError {
        severity: None,
        sqlstate: None,
        message: Some(text.clone()),
        detail: Some("protocol-2 error text (sent before the server knows the protocol)".into()),
        hint: None,
        routine: None,
        fields: vec![("text".into(), text)],
    }
}

/// A hint at what kind of server sends this first byte.
fn describe_byte(b: u8) -> &'static str {
    match b {
        b'H' => "'H': an HTTP server",
        0x15 => "a TLS alert: a TLS-only endpoint",
        0x16 => "a TLS handshake record",
        b'R' | b'E' => "a protocol message",
        _ if b.is_ascii_graphic() => "printable text: another service's banner",
        _ => "binary data",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    async fn answer_with(bytes: &'static [u8]) -> SslRequestFacts {
        let (mut client, mut server) = duplex(4096);
        let peer = tokio::spawn(async move {
            let mut req = [0u8; 8];
            server.read_exact(&mut req).await.unwrap();
            assert_eq!(req, [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F]);
            server.write_all(bytes).await.unwrap();
        });
        let facts = negotiate(&mut client, soon()).await;
        peer.await.unwrap();
        facts
    }

    #[tokio::test]
    async fn s_and_n() {
        assert_eq!(answer_with(b"S").await.answer, SslAnswer::S);
        assert_eq!(answer_with(b"N").await.answer, SslAnswer::N);
    }

    #[tokio::test]
    async fn eof_and_other_byte() {
        assert_eq!(answer_with(b"").await.answer, SslAnswer::Eof);
        let f = answer_with(b"HTTP/1.1 400").await;
        assert_eq!(f.answer, SslAnswer::Other);
        assert_eq!(f.byte, Some(b'H'));
    }

    #[tokio::test]
    async fn protocol_2_fork_failure_text() {
        let f =
            answer_with(b"Ecould not fork new process for connection: Cannot allocate memory\n\0")
                .await;
        assert_eq!(f.answer, SslAnswer::E);
        let e = f.error.unwrap();
        assert_eq!(
            e.message.as_deref(),
            Some("could not fork new process for connection: Cannot allocate memory")
        );
        assert_eq!(e.sqlstate, None);
    }

    #[tokio::test]
    async fn protocol_3_error_after_e() {
        let f = answer_with(b"E\x00\x00\x00\x1dSFATAL\0C53300\0Mtoo many\0\0").await;
        let e = f.error.unwrap();
        assert_eq!(e.sqlstate.as_deref(), Some("53300"));
        assert_eq!(e.message.as_deref(), Some("too many"));
    }

    #[test]
    fn decode_e_answer_handles_garbage() {
        let e = decode_e_answer(b"\xff\xfe");
        assert_eq!(e.message.as_deref(), Some("\u{FFFD}\u{FFFD}"));
    }
}
