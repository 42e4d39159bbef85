//! Runs the phases for one address — connect, SSLRequest, TLS, startup — under one deadline,
//! and turns each outcome into facts. A failed phase marks the later ones skipped; whatever was
//! measured is kept.

mod extra;
pub mod ssl_request;
pub mod startup;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::SslMode;
use crate::evidence::{Purpose, Recorded, Recorder};
use crate::facts::{
    AddressFacts, AddressPlace, AuthMethod, Channel, Family, LoginFacts, LoginStatus, Phases,
    SslAnswer, SslRequestFacts, StartupFacts, TcpFacts, millis,
};
use crate::tls::TlsBase;

/// A byte stream a probe phase can run over: a socket in production, an in-memory pipe in
/// unit tests.
pub trait Wire: AsyncRead + AsyncWrite + Unpin + Send {
    /// Copies bytes the peer sent that nobody has read yet into `buf`, without consuming them
    /// or waiting; returns how many were copied (1 for an empty `buf` when anything waits).
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize;
}

/// recv(2) with MSG_PEEK and MSG_DONTWAIT: what the kernel holds for `fd` right now, copied
/// and left in place; 0 when nothing waits (EAGAIN) or on any error.
fn peek_socket(fd: RawFd, buf: &mut [u8]) -> usize {
    use nix::sys::socket::{MsgFlags, recv};
    // A peek of zero bytes would say nothing: with an empty `buf`, one byte is peeked into a
    // byte of our own, so the answer still tells whether anything waits.
    let mut one = [0u8; 1];
    let into = if buf.is_empty() { &mut one[..] } else { buf };
    recv(fd, into, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT).unwrap_or(0)
}

impl Wire for TcpStream {
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize {
        peek_socket(self.as_raw_fd(), buf)
    }
}

impl Wire for UnixStream {
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize {
        peek_socket(self.as_raw_fd(), buf)
    }
}

/// A recorded stream peeks through to its socket, and the recording notes what was seen.
impl<S: Wire> Wire for Recorded<S> {
    fn waiting_bytes(&self, buf: &mut [u8]) -> usize {
        let n = self.get_ref().waiting_bytes(buf);
        self.note_peeked(buf.get(..n.min(buf.len())).unwrap_or_default());
        n
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
    pub tls: Arc<TlsBase>,
    /// `sslsni`: send the host name as SNI where libpq would.
    pub sni: bool,
    /// The protocol minor version the StartupMessage asks for (libpq 18's
    /// `max_protocol_version`: 0, or 2 for 3.2).
    pub protocol_minor: u16,
    /// One connection per address, over the channel the sslmode tries first; no second
    /// connection over the other channel.
    pub quiet_server: bool,
    /// Optional questions, each on a connection of its own.
    pub direct_tls: bool,
    pub gssenc: bool,
    /// One TLS base per version to try (empty unless `--tls-versions`).
    pub tls_versions: Arc<Vec<(&'static str, TlsBase)>>,
    /// Logs every connection's bytes for `--transcript`/`--pcap`; `None` records nothing.
    pub recorder: Option<Arc<Recorder>>,
    /// `--login`: log in on the configured sslmode's first connection (`None`: stop at the
    /// authentication request).
    pub login: Option<Arc<crate::login::LoginSettings>>,
}

impl ProbeSettings {
    fn startup_params(&self) -> [(&str, &str); 3] {
        [
            ("user", self.user.as_str()),
            ("database", self.dbname.as_str()),
            ("application_name", self.application_name.as_str()),
        ]
    }

    /// libpq's first attempt is plaintext for `disable` and `allow`, SSLRequest otherwise.
    fn plaintext_first(&self) -> bool {
        matches!(self.sslmode, SslMode::Disable | SslMode::Allow)
    }
}

/// A TCP connection, logged when the run records evidence.
type Conn = Recorded<TcpStream>;

/// `tcp::connect`, registering the connection (or the failed attempt) with the recorder.
async fn connect(
    addr: SocketAddr,
    deadline: Instant,
    recorder: Option<&Arc<Recorder>>,
    purpose: Purpose,
) -> (TcpFacts, Option<Conn>) {
    let started = recorder.map(|r| r.now_us());
    let (facts, stream) = tcp::connect(addr, deadline).await;
    let family = ip_family(addr);
    // getsockname only when there is a recorder to tell.
    let local = recorder
        .and(stream.as_ref())
        .and_then(|s| s.local_addr().ok());
    let stream = register(
        recorder.zip(started),
        (purpose, family, local),
        || format!("{addr}"),
        &facts,
        stream,
    );
    (facts, stream)
}

/// Registers a connection (or the failed attempt described by `facts`) with the recorder
/// started at `recording`; with none, only wraps the stream.
fn register<S>(
    recording: Option<(&Arc<Recorder>, u64)>,
    (purpose, family, local): (Purpose, Family, Option<SocketAddr>),
    peer: impl FnOnce() -> String,
    facts: &TcpFacts,
    stream: Option<S>,
) -> Option<Recorded<S>> {
    let Some((rec, started)) = recording else {
        return stream.map(|s| Recorded::new(s, None));
    };
    match stream {
        Some(s) => {
            let handle = rec.open(purpose, family, local, peer(), started);
            Some(Recorded::new(s, Some(handle)))
        }
        None => {
            let error = facts.error.clone().unwrap_or_else(|| "failed".into());
            rec.failed(purpose, family, peer(), started, error);
            None
        }
    }
}

/// One address to probe.
#[derive(Debug, Clone)]
pub enum AddrTarget {
    Tcp {
        /// The host as the user typed it.
        host: String,
        /// The name TLS sends as SNI: the typed host name, none for IP literals.
        tls_name: Option<String>,
        /// The host verify-full checks: the typed host (name or IP literal); none when only
        /// hostaddr was given.
        verify_host: Option<String>,
        addr: SocketAddr,
        system_rank: Option<usize>,
    },
    Unix {
        host: String,
        path: PathBuf,
        port: u16,
    },
}

impl AddrTarget {
    /// Which address the facts about this target are about.
    pub fn place(&self) -> AddressPlace {
        match self {
            AddrTarget::Tcp {
                host,
                addr,
                system_rank,
                ..
            } => AddressPlace {
                host: host.clone(),
                address: addr.ip().to_string(),
                family: ip_family(*addr),
                port: addr.port(),
                system_rank: *system_rank,
            },
            AddrTarget::Unix { host, path, port } => AddressPlace {
                host: host.clone(),
                address: path.display().to_string(),
                family: Family::Unix,
                port: *port,
                system_rank: None,
            },
        }
    }
}

/// A TCP address's family, for the facts and the transcript.
fn ip_family(addr: SocketAddr) -> Family {
    if addr.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    }
}

/// Probes one address through every phase.
pub async fn probe_address(target: &AddrTarget, settings: &ProbeSettings) -> AddressFacts {
    let start = Instant::now();
    let place = target.place();
    let mut facts = match target {
        AddrTarget::Tcp {
            tls_name,
            verify_host,
            addr,
            ..
        } => {
            let span = tracing::info_span!("address", %addr);
            let target = TcpTarget {
                names: tls::TlsNames {
                    sni: tls_name
                        .as_deref()
                        .filter(|h| settings.sni && crate::tls::hostname::sends_sni(h)),
                    verify_host: verify_host.as_deref(),
                    ip: addr.ip(),
                },
                addr: *addr,
            };
            probe_tcp(place, &target, settings).instrument(span).await
        }
        AddrTarget::Unix { path, .. } => {
            let span = tracing::info_span!("address", path = %path.display());
            probe_unix(place, path, settings).instrument(span).await
        }
    };
    facts.elapsed_ms = millis(start.elapsed());
    facts
}

/// Where to connect, and the name TLS uses there.
struct TcpTarget<'a> {
    names: tls::TlsNames<'a>,
    addr: SocketAddr,
}

async fn probe_tcp(
    place: AddressPlace,
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
) -> AddressFacts {
    let deadline = Instant::now() + settings.timeout;
    let addr = target.addr;
    let purpose = if settings.plaintext_first() {
        Purpose::PlaintextStartup
    } else {
        Purpose::SslRequest
    };
    let (tcp, stream) = connect(addr, deadline, settings.recorder.as_ref(), purpose)
        .instrument(tracing::info_span!("tcp"))
        .await;
    tracing::debug!(status = ?tcp.status, elapsed_ms = tcp.elapsed_ms, "tcp");
    let Some(stream) = stream else {
        return AddressFacts::unreached(
            place,
            tcp,
            "TCP connection failed",
            "TCP connection failed",
        );
    };
    let phases = main_channels(stream, target, settings, deadline).await;
    let mut facts = AddressFacts::new(place, tcp, phases);
    extra_questions(target, settings, &mut facts).await;
    facts
}

/// Each optional question gets a fresh budget: it is a separate connection, not part of the
/// exchange libpq's connect_timeout covers.
async fn extra_questions(
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
    facts: &mut AddressFacts,
) {
    let budget = || Instant::now() + settings.timeout;
    if settings.direct_tls {
        facts.direct_tls = Some(extra::direct_tls(target, settings, budget()).await);
    }
    if settings.gssenc {
        facts.gssenc = Some(extra::gssenc(target.addr, settings, budget()).await);
    }
    if !settings.tls_versions.is_empty() {
        facts.tls_versions = extra::tls_versions(target, settings, budget()).await;
    }
}

/// The configured sslmode's first channel, then (unless `--quiet-server`) the other one on a
/// second connection.
async fn main_channels(
    stream: Conn,
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
    deadline: Instant,
) -> Phases {
    let addr = target.addr;
    if settings.plaintext_first() {
        let mut stream = stream;
        let login = LoginAt::tcp(settings, target);
        let (startup, login) = startup_and_login(
            &mut stream,
            settings,
            Channel::Plaintext,
            deadline,
            login.as_ref(),
            None,
        )
        .await;
        drop(stream);
        if settings.quiet_server {
            let reason = format!(
                "sslmode={} starts without SSL, and --quiet-server allows one connection",
                settings.sslmode.as_str()
            );
            return Phases {
                ssl_request: SslRequestFacts::skipped(reason),
                tls: None,
                startup,
                startup_other: None,
                login,
            };
        }
        // The other channel on a connection of its own, with a budget of its own: it is a
        // separate question, not a retry that eats into the first answer's time.
        let deadline = Instant::now() + settings.timeout;
        let recorder = settings.recorder.as_ref();
        let (ssl_request, tls, startup_other) =
            match reconnect(addr, deadline, recorder, Purpose::SslRequest).await {
                Ok(stream) => {
                    // The other channel's connection never logs in.
                    let attempt = ssl_attempt(stream, target, settings, None, deadline).await;
                    // After `N` the "other" startup went over plaintext again: nothing new.
                    let over_tls = attempt.startup.channel == Some(Channel::Tls);
                    let other = over_tls.then_some(attempt.startup);
                    (attempt.ssl_request, attempt.tls, other)
                }
                Err(reason) => (SslRequestFacts::skipped(reason), None, None),
            };
        Phases {
            ssl_request,
            tls,
            startup,
            startup_other,
            login,
        }
    } else {
        let login = LoginAt::tcp(settings, target);
        let mut phases = ssl_attempt(stream, target, settings, login.as_ref(), deadline).await;
        let plaintext_seen = phases.startup.channel == Some(Channel::Plaintext);
        phases.startup_other = if !settings.quiet_server && !plaintext_seen {
            let deadline = Instant::now() + settings.timeout;
            let recorder = settings.recorder.as_ref();
            let second = reconnect(addr, deadline, recorder, Purpose::PlaintextStartup).await;
            Some(match second {
                Ok(mut stream) => {
                    run_startup(&mut stream, settings, Channel::Plaintext, deadline).await
                }
                Err(reason) => StartupFacts::skipped(reason),
            })
        } else {
            None
        };
        phases
    }
}

/// A second connection to the same address, for the other channel. The first connection
/// worked, so running out of descriptors here is this process's state, not the target's: wait
/// (backing off from 5 to 100 ms) for other probes of a sweep to give some back and try again,
/// until the deadline.
async fn reconnect(
    addr: SocketAddr,
    deadline: Instant,
    recorder: Option<&Arc<Recorder>>,
    purpose: Purpose,
) -> Result<Conn, String> {
    let mut pause = Duration::from_millis(5);
    loop {
        let (tcp, stream) = connect(addr, deadline, recorder, purpose).await;
        if let Some(stream) = stream {
            return Ok(stream);
        }
        if !tcp.out_of_descriptors() || Instant::now() + pause >= deadline {
            return Err(format!(
                "second connection failed: {}",
                tcp.error.unwrap_or_else(|| "unknown error".into())
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// SSLRequest, then TLS after `S` and the startup over it, or the startup over plaintext after
/// `N` (as libpq's `prefer` continues), all on one connection; with `login`, logs in after the
/// startup. `startup_other` is left for a second connection to fill.
async fn ssl_attempt(
    mut stream: Conn,
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
    login: Option<&LoginAt<'_>>,
    deadline: Instant,
) -> Phases {
    let ssl_request = ssl_request::negotiate(&mut stream, deadline)
        .instrument(tracing::info_span!("ssl_request"))
        .await;
    tracing::debug!(answer = ?ssl_request.answer, "ssl_request");
    let mut tls_facts = None;
    let (startup, login) = match ssl_request.answer {
        SslAnswer::N => {
            startup_and_login(
                &mut stream,
                settings,
                Channel::Plaintext,
                deadline,
                login,
                None,
            )
            .await
        }
        SslAnswer::S if ssl_request.unencrypted_bytes_after_s == Some(0) => {
            let handle = stream.handle();
            let (tls, tls_stream) = tls::handshake(stream, &settings.tls, &target.names, deadline)
                .instrument(tracing::info_span!("tls"))
                .await;
            tracing::debug!(status = ?tls.status, version = ?tls.version, "tls");
            tls_facts = Some(tls);
            match tls_stream {
                Some(s) => {
                    // For SCRAM channel binding; copied only when there is a login to use it.
                    let leaf = login.and(s.get_ref().1.peer_certificates());
                    let leaf = leaf.and_then(|c| c.first()).map(|c| c.as_ref().to_vec());
                    // The plaintext inside TLS is logged too, so the transcript shows the
                    // StartupMessage and the server's answer, not only ciphertext.
                    let mut s = Recorded::tls_plaintext(s, handle);
                    let outcome = startup_and_login(
                        &mut s,
                        settings,
                        Channel::Tls,
                        deadline,
                        login,
                        leaf.as_deref(),
                    )
                    .await;
                    // close_notify, then FIN: the polite close, bounded by a short timeout.
                    let _ = tokio::time::timeout(Duration::from_millis(200), s.shutdown()).await;
                    outcome
                }
                None => (StartupFacts::skipped("TLS handshake failed"), None),
            }
        }
        SslAnswer::S => (
            StartupFacts::skipped(
                "unencrypted data arrived after 'S': libpq refuses such a connection",
            ),
            None,
        ),
        other => (
            StartupFacts::skipped(format!(
                "SSLRequest answered {}",
                serde_json::to_string(&other).unwrap_or_default()
            )),
            None,
        ),
    };
    Phases {
        ssl_request,
        tls: tls_facts,
        startup,
        startup_other: None,
        login,
    }
}

async fn probe_unix(
    place: AddressPlace,
    path: &std::path::Path,
    settings: &ProbeSettings,
) -> AddressFacts {
    let deadline = Instant::now() + settings.timeout;
    let recorder = settings.recorder.as_ref();
    let started = recorder.map(|r| r.now_us());
    let (tcp, stream) = tcp::connect_unix(path, deadline).await;
    let stream = register(
        recorder.zip(started),
        (Purpose::PlaintextStartup, Family::Unix, None),
        || format!("{}", path.display()),
        &tcp,
        stream,
    );
    let (startup, login) = match stream {
        Some(mut stream) => {
            let login = settings.login.as_deref().map(|settings| LoginAt {
                settings,
                host: place.host.clone(),
                port: place.port,
            });
            startup_and_login(
                &mut stream,
                settings,
                Channel::Plaintext,
                deadline,
                login.as_ref(),
                None,
            )
            .await
        }
        None => (
            StartupFacts::skipped("connection to the socket failed"),
            None,
        ),
    };
    let socket_missing = tcp.no_such_file();
    let port = place.port;
    let phases = Phases {
        ssl_request: SslRequestFacts::skipped("Unix socket: libpq never asks for SSL here"),
        tls: None,
        startup,
        startup_other: None,
        login,
    };
    let mut facts = AddressFacts::new(place, tcp, phases);
    if socket_missing {
        facts.localhost_tcp = Some(tcp::localhost(port, settings.timeout).await);
    }
    facts
}

/// `--login` on one connection: its settings, and the host and port libpq matches in the
/// password file.
struct LoginAt<'a> {
    settings: &'a crate::login::LoginSettings,
    host: String,
    port: u16,
}

impl<'a> LoginAt<'a> {
    /// For a TCP address: the host as typed, else the hostaddr. `None` without `--login`, so
    /// a probe without it builds no host string.
    fn tcp(settings: &'a ProbeSettings, target: &TcpTarget<'_>) -> Option<LoginAt<'a>> {
        let login = settings.login.as_deref()?;
        let host = match target.names.verify_host {
            Some(h) => h.to_owned(),
            None => format!("{}", target.addr.ip()),
        };
        Some(LoginAt {
            settings: login,
            host,
            port: target.addr.port(),
        })
    }
}

/// The startup, then with `login` the login on the same connection (see `crate::login`).
async fn startup_and_login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    settings: &ProbeSettings,
    channel: Channel,
    deadline: Instant,
    login: Option<&LoginAt<'_>>,
    leaf_cert: Option<&[u8]>,
) -> (StartupFacts, Option<LoginFacts>) {
    let Some(login) = login else {
        return (run_startup(stream, settings, channel, deadline).await, None);
    };
    let mut pending = None;
    let params = settings.startup_params();
    let mut facts = startup::exchange_holding(
        stream,
        (&params, settings.protocol_minor),
        channel,
        deadline,
        Some(&mut pending),
    )
    .instrument(tracing::info_span!("startup", ?channel))
    .await;
    let Some(startup::Pending { request, buffered }) = pending else {
        let reason = "the startup did not reach an authentication request";
        return (facts, Some(LoginFacts::skipped(channel, reason)));
    };
    let peer = crate::login::Peer {
        host: &login.host,
        port: login.port,
        channel,
        leaf_cert,
    };
    let facts_login = crate::login::login(stream, request, buffered, login.settings, &peer)
        .instrument(tracing::info_span!("login", ?channel))
        .await;
    // After `trust` the startup alone would have read on to ReadyForQuery: keep its facts the
    // same with and without --login.
    if facts.auth == Some(AuthMethod::Trust) {
        facts.parameters = facts_login.parameters.clone();
        if facts_login.status == LoginStatus::SessionRefused {
            facts.status = crate::facts::StartupStatus::Error;
            facts.error = facts_login.error.clone();
        }
    }
    (facts, Some(facts_login))
}

async fn run_startup<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    settings: &ProbeSettings,
    channel: Channel,
    deadline: Instant,
) -> StartupFacts {
    let params = settings.startup_params();
    let startup = (&params[..], settings.protocol_minor);
    let facts = startup::exchange_holding(stream, startup, channel, deadline, None)
        .instrument(tracing::info_span!("startup", ?channel))
        .await;
    tracing::debug!(status = ?facts.status, auth = ?facts.auth, "startup");
    facts
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Peeks as `Wire` does, and checks that nothing was consumed.
    async fn peeks<S: Wire>(mut reader: S, mut writer: impl AsyncWrite + Unpin) {
        let mut empty = [0u8; 0];
        assert_eq!(reader.waiting_bytes(&mut empty), 0, "nothing sent yet");
        writer.write_all(b"hello").await.unwrap();
        writer.flush().await.unwrap();
        // Wait for the bytes without reading them.
        let mut all = [0u8; 8];
        let arrived = async {
            while reader.waiting_bytes(&mut all) < 5 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), arrived)
            .await
            .expect("the bytes arrive");
        assert_eq!(&all[..5], b"hello");
        // An empty buffer still tells that something waits.
        assert_eq!(reader.waiting_bytes(&mut empty), 1);
        let mut three = [0u8; 3];
        assert_eq!(reader.waiting_bytes(&mut three), 3);
        assert_eq!(&three, b"hel");
        let mut read = [0u8; 5];
        reader.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"hello", "peeking consumed nothing");
        assert_eq!(reader.waiting_bytes(&mut all), 0);
    }

    #[tokio::test]
    async fn tcp_peek_into_any_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let ((server, _), client) = tokio::try_join!(listener.accept(), client).unwrap();
        peeks(client, server).await;
    }

    #[tokio::test]
    async fn unix_peek_into_any_buffer() {
        let (a, b) = UnixStream::pair().unwrap();
        peeks(a, b).await;
    }
}
