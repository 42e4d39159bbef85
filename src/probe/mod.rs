//! Runs the phases for one address — connect, SSLRequest, TLS, startup — under one deadline,
//! and turns each outcome into facts. A failed phase marks the later ones skipped; whatever was
//! measured is kept.

pub mod ssl_request;
pub mod startup;
pub mod tcp;
pub mod tls;

use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::SslMode;
use crate::facts::{
    AddressFacts, Channel, Family, SslAnswer, SslRequestFacts, StartupFacts, TlsStatus, millis,
};

/// A byte stream a probe phase can run over: a socket in production, an in-memory pipe in
/// unit tests.
pub trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    /// Copies bytes the peer sent that nobody has read yet into `buf`, without consuming them
    /// or waiting; returns how many are waiting (which may exceed `buf.len()`).
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize;
}

fn peek_socket(sock: socket2::SockRef<'_>, buf: &mut [u8]) -> usize {
    // The socket is non-blocking (tokio set it so), so an empty queue is WouldBlock, not a wait.
    let mut raw = vec![MaybeUninit::<u8>::uninit(); buf.len().max(1)];
    match sock.peek(&mut raw) {
        Ok(n) => {
            for (dst, src) in buf.iter_mut().zip(&raw[..n]) {
                // SAFETY: `peek` initialised the first `n` bytes.
                *dst = unsafe { src.assume_init() };
            }
            n
        }
        Err(_) => 0,
    }
}

impl Wire for TcpStream {
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize {
        peek_socket(socket2::SockRef::from(self), buf)
    }
}

impl Wire for UnixStream {
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize {
        peek_socket(socket2::SockRef::from(self), buf)
    }
}

#[cfg(test)]
impl Wire for tokio::io::DuplexStream {
    fn waiting_bytes(&self, _buf: &mut [u8]) -> usize {
        0
    }
}

/// What the probe needs to know besides the address: the same for every address of a run.
#[derive(Clone)]
pub struct ProbeSettings {
    pub user: String,
    pub dbname: String,
    pub application_name: String,
    pub sslmode: SslMode,
    /// libpq's connect_timeout: one budget for the whole exchange with one address.
    pub timeout: Duration,
    pub tls: Arc<ClientConfig>,
}

impl ProbeSettings {
    fn startup_params(&self) -> Vec<(&str, &str)> {
        vec![
            ("user", self.user.as_str()),
            ("database", self.dbname.as_str()),
            ("application_name", self.application_name.as_str()),
        ]
    }
}

/// One address to probe.
#[derive(Debug, Clone)]
pub enum AddrTarget {
    Tcp {
        /// The host as the user typed it.
        host: String,
        /// The name TLS sends and verifies: the typed host name, none for IP literals.
        tls_name: Option<String>,
        addr: SocketAddr,
        system_rank: Option<usize>,
    },
    Unix {
        host: String,
        path: PathBuf,
        port: u16,
    },
}

/// Probes one address through every phase.
pub async fn probe_address(target: &AddrTarget, settings: &ProbeSettings) -> AddressFacts {
    let start = Instant::now();
    let deadline = start + settings.timeout;
    let mut facts = match target {
        AddrTarget::Tcp {
            host,
            tls_name,
            addr,
            system_rank,
        } => {
            let span = tracing::info_span!("address", %addr);
            probe_tcp(
                host,
                tls_name.as_deref(),
                *addr,
                *system_rank,
                settings,
                deadline,
            )
            .instrument(span)
            .await
        }
        AddrTarget::Unix { host, path, port } => {
            let span = tracing::info_span!("address", path = %path.display());
            probe_unix(host, path, *port, settings, deadline)
                .instrument(span)
                .await
        }
    };
    facts.reached_auth = facts.startup.auth.is_some();
    facts.elapsed_ms = millis(start.elapsed());
    facts
}

fn skipped_ssl(reason: &str) -> SslRequestFacts {
    SslRequestFacts {
        answer: SslAnswer::Skipped,
        elapsed_ms: None,
        byte: None,
        error: None,
        detail: Some(reason.to_owned()),
        unencrypted_bytes_after_s: None,
    }
}

async fn probe_tcp(
    host: &str,
    tls_name: Option<&str>,
    addr: SocketAddr,
    system_rank: Option<usize>,
    settings: &ProbeSettings,
    deadline: Instant,
) -> AddressFacts {
    let (tcp, stream) = tcp::connect(addr, deadline)
        .instrument(tracing::info_span!("tcp"))
        .await;
    tracing::debug!(status = ?tcp.status, elapsed_ms = tcp.elapsed_ms, "tcp");
    let mut facts = AddressFacts {
        host: host.to_owned(),
        address: addr.ip().to_string(),
        family: match addr.ip() {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        },
        port: addr.port(),
        system_rank,
        tcp,
        ssl_request: skipped_ssl("TCP connection failed"),
        tls: None,
        startup: startup::skipped("TCP connection failed"),
        reached_auth: false,
        elapsed_ms: 0.0,
    };
    let Some(mut stream) = stream else {
        return facts;
    };
    if settings.sslmode == SslMode::Disable {
        facts.ssl_request = skipped_ssl("sslmode=disable: libpq sends no SSLRequest");
        facts.startup = plaintext_startup(&mut stream, settings, deadline).await;
        return facts;
    }
    facts.ssl_request = ssl_request::negotiate(&mut stream, deadline)
        .instrument(tracing::info_span!("ssl_request"))
        .await;
    tracing::debug!(answer = ?facts.ssl_request.answer, "ssl_request");
    match facts.ssl_request.answer {
        SslAnswer::N => {
            facts.startup = plaintext_startup(&mut stream, settings, deadline).await;
        }
        SslAnswer::S if facts.ssl_request.unencrypted_bytes_after_s == Some(0) => {
            let ip = addr.ip();
            let (tls, tls_stream) =
                tls::handshake(stream, &settings.tls, tls_name, Some(ip), deadline)
                    .instrument(tracing::info_span!("tls"))
                    .await;
            tracing::debug!(status = ?tls.status, version = ?tls.version, "tls");
            let ok = tls.status == TlsStatus::Ok;
            facts.tls = Some(tls);
            facts.startup = match tls_stream {
                Some(mut s) if ok => {
                    let f = run_startup(&mut s, settings, Channel::Tls, deadline).await;
                    // close_notify, then FIN: the polite close. Bounded by a short timeout.
                    let _ = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
                    f
                }
                _ => startup::skipped("TLS handshake failed"),
            };
        }
        SslAnswer::S => {
            facts.startup = startup::skipped(
                "unencrypted data arrived after 'S': libpq refuses such a connection",
            );
        }
        other => {
            facts.startup = startup::skipped(format!(
                "SSLRequest answered {}",
                serde_json::to_string(&other).unwrap_or_default()
            ));
        }
    }
    facts
}

async fn probe_unix(
    host: &str,
    path: &std::path::Path,
    port: u16,
    settings: &ProbeSettings,
    deadline: Instant,
) -> AddressFacts {
    let (tcp, stream) = tcp::connect_unix(path, deadline).await;
    let mut facts = AddressFacts {
        host: host.to_owned(),
        address: path.display().to_string(),
        family: Family::Unix,
        port,
        system_rank: None,
        tcp,
        ssl_request: skipped_ssl("Unix socket: libpq never asks for SSL here"),
        tls: None,
        startup: startup::skipped("connection to the socket failed"),
        reached_auth: false,
        elapsed_ms: 0.0,
    };
    if let Some(mut stream) = stream {
        facts.startup = plaintext_startup(&mut stream, settings, deadline).await;
    }
    facts
}

async fn plaintext_startup<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    settings: &ProbeSettings,
    deadline: Instant,
) -> StartupFacts {
    run_startup(stream, settings, Channel::Plaintext, deadline).await
}

async fn run_startup<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    settings: &ProbeSettings,
    channel: Channel,
    deadline: Instant,
) -> StartupFacts {
    let facts = startup::exchange(stream, &settings.startup_params(), channel, deadline)
        .instrument(tracing::info_span!("startup", ?channel))
        .await;
    tracing::debug!(status = ?facts.status, auth = ?facts.auth, "startup");
    facts
}
