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
    let mut byte = [0u8; 1];
    let exchange = async {
        stream.write_all(&frontend::SSL_REQUEST).await?;
        stream.flush().await?;
        stream.read(&mut byte).await
    };
    let read = timeout_at(deadline, exchange).await;
    facts.elapsed_ms = Some(millis(start.elapsed()));
    match read {
        Err(_) => facts.answer = SslAnswer::Timeout,
        Ok(Err(e)) => {
            facts.answer = SslAnswer::Error;
            facts.detail = Some(match e.kind() {
                std::io::ErrorKind::ConnectionReset => {
                    format!("the server reset the connection instead of answering ({e})")
                }
                _ => e.to_string(),
            });
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
    facts.answer = classify_answer_byte(b);
    match b {
        b'S' => {
            // The answer byte, then up to 64 bytes peeked after it (63 of them shown).
            let mut seen = [0u8; 65];
            seen[0] = b'S';
            let waiting = stream.waiting_bytes(&mut seen[1..]);
            facts.unencrypted_bytes_after_s = Some(waiting);
            if waiting > 0 {
                let seen = &seen[..1 + waiting.min(63)];
                facts.detail = Some(format!(
                    "{waiting} unencrypted byte(s) arrived after 'S' before the TLS handshake: {}",
                    Hex(&seen[1..])
                ));
                facts.peer_bytes = Some(escape_bytes(seen));
            }
        }
        b'N' => {}
        b'E' => {
            let (body, stop) = read_rest(stream, deadline.min(Instant::now() + E_BODY_GRACE)).await;
            match decode_e_answer(&body) {
                EAnswer::Error(e) => facts.error = Some(e),
                EAnswer::Garbage(why) => {
                    // Not a server error: keep what came, escaped, and say why it is not one.
                    let mut seen = [0u8; 64];
                    seen[0] = b'E';
                    let shown = body.len().min(63);
                    seen[1..=shown].copy_from_slice(&body[..shown]);
                    facts.peer_bytes = Some(escape_bytes(&seen[..=shown]));
                    let sep = if stop.is_empty() { "" } else { ", " };
                    facts.detail = Some(format!("'E' followed by {why}{sep}{stop}"));
                }
            }
        }
        other => {
            facts.byte = Some(other);
            // Whatever else the peer volunteers names the service (an HTTP status line, an SSH
            // banner); wait only briefly, since many services say nothing more.
            let until = deadline.min(Instant::now() + BANNER_GRACE);
            let mut seen = [0u8; 64];
            seen[0] = other;
            let n = read_up_to(stream, until, &mut seen[1..]).await;
            facts.peer_bytes = Some(escape_bytes(&seen[..=n]));
            facts.detail = Some(format!(
                "byte 0x{other:02x} ({}) is not a PostgreSQL answer to SSLRequest",
                describe_byte(other)
            ));
        }
    }
}

/// Fills `got` as far as the peer goes, stopping at EOF, an error or `until`; returns how many
/// bytes arrived.
async fn read_up_to<S: Wire>(stream: &mut S, until: Instant, got: &mut [u8]) -> usize {
    let mut n = 0;
    while n < got.len() {
        match timeout_at(until, stream.read(&mut got[n..])).await {
            Ok(Ok(k)) if k > 0 => n += k,
            _ => break,
        }
    }
    n
}

/// Reads what follows an `E`, up to the pre-auth cap, until it is complete, EOF or `until`;
/// also says why it stopped (empty when complete).
async fn read_rest<S: Wire>(stream: &mut S, until: Instant) -> (Vec<u8>, &'static str) {
    let mut body = Vec::new();
    let mut chunk = [0u8; 1024];
    let stop = loop {
        if body.len() >= pgwire::MAX_PREAUTH_MESSAGE {
            break "at pgreach's limit of 64 KiB";
        }
        match timeout_at(until, stream.read(&mut chunk)).await {
            Ok(Ok(0)) => break "then the connection closed",
            Ok(Ok(n)) => {
                body.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if e_answer_complete(&body) {
                    break "";
                }
            }
            Ok(Err(_)) => break "then the connection failed",
            Err(_) => break "then nothing more before the deadline",
        }
    };
    body.truncate(pgwire::MAX_PREAUTH_MESSAGE);
    (body, stop)
}

/// What followed an `E` answer.
#[derive(Debug, Clone)]
pub enum EAnswer {
    /// A server error: a protocol-3 ErrorResponse, or protocol-2 text.
    Error(ServerError),
    /// Neither; the words say what the bytes were instead.
    Garbage(String),
}

/// Whether `body` already holds a whole `E` answer, so there is no need to wait for EOF: a
/// protocol-3 ErrorResponse whose announced length has arrived, or protocol-2 text up to its NUL.
fn e_answer_complete(body: &[u8]) -> bool {
    match body {
        [0, a, b, c, ..] => body.len() >= u32::from_be_bytes([0, *a, *b, *c]) as usize,
        [0, ..] => false,
        _ => body.contains(&0),
    }
}

/// An `E` answer is either a protocol-3 ErrorResponse (its Int32 length starts with a zero
/// byte, as every length under 16 MiB does), or the protocol-2 text the postmaster writes when
/// it cannot fork ("E" + text + NUL). Anything else is garbage, classified, never a panic.
/// `body` is what followed the `E`, at most [`pgwire::MAX_PREAUTH_MESSAGE`] bytes.
pub fn decode_e_answer(body: &[u8]) -> EAnswer {
    if body.first() == Some(&0) {
        let mut framed = BytesMut::with_capacity(body.len() + 1);
        framed.extend_from_slice(b"E");
        framed.extend_from_slice(body);
        return match backend::decode(&mut framed, pgwire::MAX_PREAUTH_MESSAGE) {
            Ok(Some(backend::Message::ErrorResponse(f))) => EAnswer::Error(ServerError::from(f)),
            Ok(Some(_)) => EAnswer::Garbage("an unexpected message".into()),
            Ok(None) => EAnswer::Garbage(format!(
                "an ErrorResponse cut short after {} bytes",
                body.len()
            )),
            Err(e) => EAnswer::Garbage(format!("an undecodable ErrorResponse: {e}")),
        };
    }
    match protocol2_text(body) {
        Some(text) => EAnswer::Error(protocol2_error(text)),
        None if body.is_empty() => EAnswer::Garbage("nothing".into()),
        None => EAnswer::Garbage(format!(
            "{} bytes that are neither an ErrorResponse nor protocol-2 error text",
            body.len()
        )),
    }
}

/// The text of a protocol-2 error: up to the NUL (or the end), UTF-8, with no control
/// characters but line feeds and tabs (the fuzz invariant: kept text is safe to print).
fn protocol2_text(body: &[u8]) -> Option<String> {
    let text = body.split(|&b| b == 0).next().unwrap_or_default();
    let text = std::str::from_utf8(text).ok()?.trim_end();
    let clean = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\t'));
    clean.then(|| text.to_owned())
}

fn protocol2_error(text: String) -> ServerError {
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

/// How the one-byte answer to SSLRequest is classified (before anything that follows it).
pub fn classify_answer_byte(b: u8) -> SslAnswer {
    match b {
        b'S' => SslAnswer::S,
        b'N' => SslAnswer::N,
        b'E' => SslAnswer::E,
        _ => SslAnswer::Other,
    }
}

/// A hint at what kind of server sends this first byte.
pub fn describe_byte(b: u8) -> &'static str {
    match b {
        b'H' => "'H': an HTTP server",
        0x15 => "a TLS alert: a TLS-only endpoint",
        0x16 => "a TLS handshake record",
        b'R' | b'E' => "a protocol message",
        _ if b.is_ascii_graphic() => "printable text: another service's banner",
        _ => "binary data",
    }
}

/// Bytes as hex pairs separated by spaces, written straight into the text that shows them.
struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{b:02x}")?;
        }
        Ok(())
    }
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
        assert_eq!(f.peer_bytes.as_deref(), Some("HTTP/1.1 400"));
        // At most 64 bytes are kept, the answer byte included.
        let f = answer_with(&[1; 100]).await;
        assert_eq!(f.peer_bytes, Some("\\x01".repeat(64)));
    }

    #[tokio::test]
    async fn bytes_waiting_after_s_are_counted_and_shown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap());
        let ((mut server, _), mut client) = tokio::try_join!(listener.accept(), client).unwrap();
        let peer = tokio::spawn(async move {
            let mut req = [0u8; 8];
            server.read_exact(&mut req).await.unwrap();
            // `S` and 70 injected bytes in one write: they arrive together.
            let mut answer = vec![b'S'];
            answer.extend((0..70).map(|i| b'a' + i % 26));
            server.write_all(&answer).await.unwrap();
            server
        });
        let f = negotiate(&mut client, soon()).await;
        drop(peer.await.unwrap());
        assert_eq!(f.answer, SslAnswer::S);
        // 64 of the 70 are peeked, and 63 shown.
        assert_eq!(f.unencrypted_bytes_after_s, Some(64));
        let shown: Vec<u8> = (0..63).map(|i| b'a' + i % 26).collect();
        let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            f.detail.unwrap(),
            format!(
                "64 unencrypted byte(s) arrived after 'S' before the TLS handshake: {}",
                hex.join(" ")
            )
        );
        let mut seen = vec![b'S'];
        seen.extend_from_slice(&shown);
        assert_eq!(f.peer_bytes, Some(String::from_utf8(seen).unwrap()));
    }

    #[tokio::test]
    async fn protocol_2_fork_failure_text() {
        let f =
            answer_with(b"Ecould not fork new process for connection: Cannot allocate memory\n\0")
                .await;
        assert_eq!(f.answer, SslAnswer::E);
        let e = f.error.unwrap();
        assert_eq!(
            e.detail.as_deref().map(|d| d.starts_with("protocol-2")),
            Some(true)
        );
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
    fn decode_e_answer_classifies_garbage() {
        for body in [
            &b"\xff\xfe"[..],
            b"",
            b"\x01\x02\x03",
            b"\x00\x00\x00\x02",
            b"\x00\x00\x00\x00",
            b"\x7f\xff\xff\xff",
            b"\x00\x10\x00\x00SFATAL",
            b"\x00\x00\x00\x0aSFATAL\0\0\0",
            // Found by fuzzing: text with a carriage return inside is not an error message.
            b"TTP/1.1 400 Bad Request\r\n(\n",
        ] {
            assert!(
                matches!(decode_e_answer(body), EAnswer::Garbage(_)),
                "{body:?}"
            );
        }
    }

    #[tokio::test]
    async fn e_then_garbage_keeps_the_bytes() {
        let f = answer_with(b"E\x01\x02garbage").await;
        assert_eq!(f.answer, SslAnswer::E);
        assert!(f.error.is_none());
        assert_eq!(f.peer_bytes.as_deref(), Some("E\\x01\\x02garbage"));
        assert!(f.detail.unwrap().contains("neither"));
    }
}
