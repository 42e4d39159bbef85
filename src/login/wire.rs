//! The connection as a login sees it: send a message, receive the next decoded one.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::pgwire::backend::DecodeError;
use crate::pgwire::session::{self, MAX_SESSION_MESSAGE, SessionMessage};

/// Why no message arrived.
#[derive(Debug, thiserror::Error)]
pub enum RecvError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the server closed the connection{}", if *.0 == 0 { String::new() } else { format!(" mid-message ({} bytes)", .0) })]
    Eof(usize),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("more than {MAX_MESSAGES} messages in one login: a peer that never stops talking")]
    TooMany,
}

/// The most messages one login reads. A real server sends a handful for authentication, about
/// twenty ParameterStatus, and five or so for our query; the cap keeps a hostile peer's endless
/// stream of small valid messages from growing the facts (the deadline bounds the time).
pub const MAX_MESSAGES: usize = 1024;

pub struct Conn<'a, S> {
    stream: &'a mut S,
    buf: BytesMut,
    received: usize,
}

impl<'a, S: AsyncRead + AsyncWrite + Unpin> Conn<'a, S> {
    /// `buffered`: bytes the startup phase read past the authentication request.
    pub fn new(stream: &'a mut S, buffered: BytesMut) -> Self {
        Conn {
            stream,
            buf: buffered,
            received: 0,
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    pub async fn recv(&mut self) -> Result<SessionMessage, RecvError> {
        loop {
            if let Some(msg) = session::decode(&mut self.buf, MAX_SESSION_MESSAGE)? {
                self.received += 1;
                if self.received > MAX_MESSAGES {
                    return Err(RecvError::TooMany);
                }
                return Ok(msg);
            }
            // `decode` refuses a length over the cap before we buffer it: `buf` stays bounded.
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(RecvError::Eof(self.buf.len()));
            }
        }
    }
}
