//! The stream wrapper that logs every read and write of a connection, with its time and
//! direction, into the run's [`Recorder`](super::Recorder).
//!
//! Without a handle (recording off) every call goes straight to the inner stream: no copy, no
//! lock. `waiting_bytes` is delegated, so the SSLRequest phase's check for bytes after `S`
//! sees the socket itself.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{ConnLog, Dir, Event, Layer, Recorder, lock};

/// Where one connection's observations go.
#[derive(Clone)]
pub struct ConnHandle {
    recorder: Arc<Recorder>,
    log: Arc<Mutex<ConnLog>>,
}

impl ConnHandle {
    pub(super) fn new(recorder: Arc<Recorder>, log: Arc<Mutex<ConnLog>>) -> ConnHandle {
        ConnHandle { recorder, log }
    }

    fn push(&self, make: impl FnOnce(u64) -> Event) {
        let t_us = self.recorder.now_us();
        lock(&self.log).events.push(make(t_us));
    }

    fn data(&self, dir: Dir, layer: Layer, bytes: &[u8]) {
        self.push(|t_us| Event::Data {
            t_us,
            dir,
            layer,
            bytes: bytes.to_vec(),
        });
    }

    /// Records a close once: the first FIN or RST observed from each side is what the wire saw.
    fn close(&self, event: fn(u64) -> Event) {
        let t_us = self.recorder.now_us();
        let ev = event(t_us);
        let mut log = lock(&self.log);
        let seen = log
            .events
            .iter()
            .any(|e| std::mem::discriminant(e) == std::mem::discriminant(&ev));
        let reset = log.events.iter().any(|e| matches!(e, Event::Reset { .. }));
        if !seen && !reset {
            log.events.push(ev);
        }
    }

    fn error(&self, e: &io::Error) {
        let mut log = lock(&self.log);
        if !log.events.iter().any(|e| matches!(e, Event::Reset { .. })) {
            let t_us = self.recorder.now_us();
            log.events.push(Event::Reset {
                t_us,
                error: e.to_string(),
            });
        }
    }
}

/// A stream whose traffic is logged when `handle` is set.
pub struct Recorded<S> {
    inner: S,
    handle: Option<ConnHandle>,
    layer: Layer,
}

impl<S> Recorded<S> {
    /// Wraps a socket: `handle` is `None` when recording is off.
    pub fn new(inner: S, handle: Option<ConnHandle>) -> Recorded<S> {
        Recorded {
            inner,
            handle,
            layer: Layer::Tcp,
        }
    }

    /// Wraps the plaintext side of a TLS session running over a recorded socket, so the
    /// transcript shows the PostgreSQL messages inside TLS too.
    pub fn tls_plaintext(inner: S, handle: Option<ConnHandle>) -> Recorded<S> {
        Recorded {
            inner,
            handle,
            layer: Layer::Tls,
        }
    }

    /// The connection's log, for a wrapper one layer up.
    pub fn handle(&self) -> Option<ConnHandle> {
        self.handle.clone()
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(h) = &this.handle {
            match &polled {
                Poll::Ready(Ok(())) => {
                    let new = &buf.filled()[before..];
                    if !new.is_empty() {
                        h.data(Dir::Received, this.layer, new);
                    } else if this.layer == Layer::Tcp && buf.remaining() > 0 {
                        h.close(|t_us| Event::PeerClose { t_us });
                    }
                }
                Poll::Ready(Err(e)) if this.layer == Layer::Tcp => h.error(e),
                _ => {}
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Some(h) = &this.handle {
            match &polled {
                Poll::Ready(Ok(n)) if *n > 0 => {
                    h.data(Dir::Sent, this.layer, buf.get(..*n).unwrap_or(buf))
                }
                Poll::Ready(Err(e)) if this.layer == Layer::Tcp => h.error(e),
                _ => {}
            }
        }
        polled
    }

    /// Unrecorded, a flight of several TLS records leaves in one `writev` as it would from
    /// the bare socket, not one `send` per record. Recorded, each record stays a chunk of its
    /// own in the log, as the transcript labels them.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.handle.is_none() {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        let buf = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        Pin::new(this).poll_write(cx, buf)
    }

    fn is_write_vectored(&self) -> bool {
        self.handle.is_none() && self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        if let (Some(h), Poll::Ready(Ok(()))) = (&this.handle, &polled)
            && this.layer == Layer::Tcp
        {
            h.close(|t_us| Event::LocalClose { t_us });
        }
        polled
    }
}

impl<S> Drop for Recorded<S> {
    /// Dropping the socket closes it: the kernel sends FIN (unless we already shut down).
    fn drop(&mut self) {
        if let Some(h) = &self.handle
            && self.layer == Layer::Tcp
        {
            h.close(|t_us| Event::LocalClose { t_us });
        }
    }
}

impl<S> Recorded<S> {
    /// Logs bytes seen waiting in the socket without reading them (a peek).
    pub fn note_peeked(&self, seen: &[u8]) {
        if let Some(h) = &self.handle
            && !seen.is_empty()
        {
            h.push(|t_us| Event::Peeked {
                t_us,
                bytes: seen.to_vec(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Purpose;
    use crate::facts::Family;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn logs_both_directions_and_the_close() {
        let recorder = Arc::new(Recorder::new());
        let (client, mut server) = tokio::io::duplex(64);
        let handle = recorder.open(
            Purpose::SslRequest,
            Family::Ipv4,
            Some("127.0.0.1:40000".parse().unwrap()),
            "127.0.0.1:5432".into(),
            0,
        );
        let mut rec = Recorded::new(client, Some(handle));
        rec.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.unwrap();
        server.write_all(b"S").await.unwrap();
        drop(server);
        let mut buf = Vec::new();
        rec.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"S");
        drop(rec);
        let logs = recorder.snapshot();
        let kinds: Vec<_> = logs[0]
            .events
            .iter()
            .map(|e| match e {
                Event::Data { dir, bytes, .. } => format!("{dir:?}:{}", bytes.len()),
                other => format!("{other:?}").split(' ').next().unwrap().to_owned(),
            })
            .collect();
        assert_eq!(kinds, ["Sent:5", "Received:1", "PeerClose", "LocalClose"]);
    }

    #[tokio::test]
    async fn without_a_handle_bytes_pass_through() {
        let (client, mut server) = tokio::io::duplex(64);
        let mut rec = Recorded::new(client, None);
        rec.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        server.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"x");
    }
}
