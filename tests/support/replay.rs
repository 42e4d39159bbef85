//! A replay server: serves the server side of a recorded pgreach transcript (captures/*.json)
//! back to pgreach on 127.0.0.1, connection by connection, byte for byte where it can.
//!
//! For each accepted connection it reads the client's first bytes (SSLRequest, GSSENCRequest,
//! CancelRequest, StartupMessage or a TLS ClientHello), takes the first recorded connection
//! not yet served whose first sent chunk is of the same kind, and walks its events: before
//! each recorded `received` chunk it waits until the client has sent at least as many bytes
//! (on that layer) as it had before that chunk in the recording, then writes the chunk; at
//! the end it closes as recorded (FIN after pgreach's FIN, its own FIN, or RST).
//!
//! Limitation: a TLS handshake cannot be replayed byte for byte (both sides' randomness and
//! keys are in it). When the recorded server answered a ClientHello with a handshake record,
//! the replay does a real TLS handshake instead (rustls, with the given certificate, pinned to
//! the TLS version and cipher suite read from the recorded ServerHello), skips the recorded
//! `tcp`-layer bytes from there on and replays the `tls`-layer events (the plaintext inside
//! TLS) through the session. What only the handshake carries (certificate chain, client
//! certificate request, key exchange group, session tickets) is not the recorded one. A server
//! that answered the ClientHello with anything else (an alert, an ErrorResponse) is replayed
//! as plain bytes. `peeked` events (server bytes pgreach looked at without reading them, the
//! check for data after `S`) are not replayed, nor are connections that failed to open: the one listener accepts every connection, whatever
//! address the recording had. Connections that begin with the same message are served in
//! recorded order, which is right when the client opens them one after another.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use pgreach::evidence::transcript::Document;
use pgreach::evidence::{ConnLog, Dir, Event, Layer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::tls::IssuedCert;

/// Longest wait for the client's next bytes (or its close) on one connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing replay waits for the client's FIN.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);
/// Longest the accept loop runs, whatever happens.
const ACCEPT_DEADLINE: Duration = Duration::from_secs(120);

/// The first message a client sends, as far as the replay tells connections apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstMessage {
    SslRequest,
    GssEncRequest,
    CancelRequest,
    Startup,
    TlsClientHello,
    Other,
}

impl FirstMessage {
    /// Classifies the start of a client's byte stream; `None` until enough bytes are there.
    fn of(bytes: &[u8]) -> Option<FirstMessage> {
        if bytes.first() == Some(&0x16) {
            return Some(FirstMessage::TlsClientHello);
        }
        let code: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        Some(match u32::from_be_bytes(code) {
            80_877_103 => FirstMessage::SslRequest,
            80_877_104 => FirstMessage::GssEncRequest,
            80_877_102 => FirstMessage::CancelRequest,
            0x0003_0000..=0x0003_ffff => FirstMessage::Startup,
            _ => FirstMessage::Other,
        })
    }
}

/// How one accepted connection went.
#[derive(Debug, Clone)]
pub struct Served {
    pub first: Option<FirstMessage>,
    /// The recorded connection's id, when one matched.
    pub recorded: Option<u32>,
    /// `Err` says where the client stopped following the recording.
    pub result: Result<(), String>,
}

/// A running replay of one transcript; [`ReplayServer::finish`] stops it and says what was
/// served.
pub struct ReplayServer {
    port: u16,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
    served: Arc<Mutex<Vec<Served>>>,
    recorded: Vec<u32>,
}

/// One recorded connection and the TLS configuration its replay needs.
struct Script {
    conn: ConnLog,
    /// Index of the event (the ClientHello) where the real TLS handshake takes over.
    tls_from: Option<usize>,
    tls: Option<Arc<ServerConfig>>,
}

impl ReplayServer {
    /// Listens on 127.0.0.1 (port 0) and serves `doc`'s connections. `cert` is presented
    /// where the recording had a TLS handshake; panics if one is needed and `cert` is `None`,
    /// or if the recorded ServerHello chose what rustls cannot serve.
    pub fn spawn(doc: &Document, cert: Option<&IssuedCert>) -> ReplayServer {
        ReplayServer::spawn_with_alpn(doc, cert, None)
    }

    /// [`ReplayServer::spawn`], with the replay's TLS handshakes selecting `alpn` when the
    /// client offers it. The recording cannot say whether the live server did: in TLS 1.3 the
    /// ALPN answer travels in the encrypted EncryptedExtensions, so the caller takes it from
    /// the live run's report, as it takes the certificate's names.
    pub fn spawn_with_alpn(
        doc: &Document,
        cert: Option<&IssuedCert>,
        alpn: Option<&[u8]>,
    ) -> ReplayServer {
        let scripts: Vec<Script> = doc
            .connections
            .iter()
            .filter(|c| c.conn.connect_error.is_none())
            .map(|c| script(&c.conn, cert, alpn))
            .collect();
        let recorded = scripts.iter().map(|s| s.conn.id).collect();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind replay listener");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(Mutex::new(Vec::new()));
        let scripts = Arc::new(scripts);
        let used = Arc::new(Mutex::new(vec![false; scripts.len()]));
        let (stop2, served2) = (stop.clone(), served.clone());
        let accept = thread::spawn(move || {
            let deadline = Instant::now() + ACCEPT_DEADLINE;
            let mut workers = Vec::new();
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((sock, _)) => {
                        let (scripts, used, served) =
                            (scripts.clone(), used.clone(), served2.clone());
                        workers.push(thread::spawn(move || {
                            let outcome = serve(sock, &scripts, &used);
                            lock(&served).push(outcome);
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            workers
        });
        ReplayServer {
            port,
            stop,
            accept: Some(accept),
            served,
            recorded,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting, waits for the connections in progress (each bounded by
    /// [`IO_TIMEOUT`]) and returns the outcome.
    pub fn finish(mut self) -> ReplayOutcome {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            for worker in accept.join().unwrap_or_default() {
                let _ = worker.join();
            }
        }
        let served = lock(&self.served).clone();
        let used: Vec<u32> = served.iter().filter_map(|s| s.recorded).collect();
        ReplayOutcome {
            unused: self
                .recorded
                .iter()
                .copied()
                .filter(|id| !used.contains(id))
                .collect(),
            served,
        }
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a replay served, for the test to judge.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    pub served: Vec<Served>,
    /// Recorded connections no client asked for.
    pub unused: Vec<u32>,
}

impl ReplayOutcome {
    /// Every recorded connection was asked for once and followed to its end.
    pub fn faithful(&self) -> bool {
        self.unused.is_empty()
            && self
                .served
                .iter()
                .all(|s| s.recorded.is_some() && s.result.is_ok())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn script(conn: &ConnLog, cert: Option<&IssuedCert>, alpn: Option<&[u8]>) -> Script {
    let tls_from = tls_takeover(conn);
    let tls = tls_from.map(|i| {
        let hello = conn.events[i + 1..]
            .iter()
            .find_map(|e| match e {
                Event::Data {
                    dir: Dir::Received,
                    layer: Layer::Tcp,
                    bytes,
                    ..
                } => Some(bytes.as_slice()),
                _ => None,
            })
            .unwrap_or_default();
        let cert = cert.unwrap_or_else(|| {
            panic!(
                "connection {} of the capture has a TLS handshake: give a certificate",
                conn.id
            )
        });
        let mut config = tls_config(conn.id, hello, cert);
        config.alpn_protocols = alpn.map(|a| vec![a.to_vec()]).unwrap_or_default();
        Arc::new(config)
    });
    Script {
        conn: conn.clone(),
        tls_from,
        tls,
    }
}

/// Where the recording's TLS starts: the first `tcp` chunk the client sent that is a TLS
/// handshake record, when the server's next `tcp` chunk is a handshake record too.
fn tls_takeover(conn: &ConnLog) -> Option<usize> {
    let is_handshake = |b: &[u8]| b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03;
    let i = conn.events.iter().position(|e| {
        matches!(e, Event::Data { dir: Dir::Sent, layer: Layer::Tcp, bytes, .. } if is_handshake(bytes))
    })?;
    let answer = conn.events[i + 1..].iter().find_map(|e| match e {
        Event::Data {
            dir: Dir::Received,
            layer: Layer::Tcp,
            bytes,
            ..
        } => Some(bytes),
        _ => None,
    })?;
    is_handshake(answer).then_some(i)
}

/// A rustls server limited to the version and cipher suite of the recorded ServerHello (or
/// HelloRetryRequest, which names them too), presenting `cert` alone, as the live servers did.
fn tls_config(id: u32, server_hello: &[u8], cert: &IssuedCert) -> ServerConfig {
    let (version, suite) = server_hello_choice(server_hello).unwrap_or_else(|| {
        panic!("connection {id}: the recorded server's first TLS bytes are not a ServerHello")
    });
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|s| u16::from(s.suite()) == suite);
    assert!(
        !provider.cipher_suites.is_empty(),
        "connection {id}: rustls cannot serve the recorded cipher suite {suite:#06x}"
    );
    let version = match version {
        0x0304 => &rustls::version::TLS13,
        0x0303 => &rustls::version::TLS12,
        v => panic!("connection {id}: rustls cannot serve TLS version {v:#06x}"),
    };
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("test key PEM");
    ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .expect("protocol version")
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.cert_der.clone())], key)
        .expect("server certificate")
}

/// (negotiated version, cipher suite) from a TLS record holding a ServerHello: the version
/// is the supported_versions extension's (TLS 1.3), else the legacy field. Bounds-checked:
/// the bytes come from a file.
fn server_hello_choice(rec: &[u8]) -> Option<(u16, u16)> {
    let u16_at = |b: &[u8], i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    // Record header (5) + handshake header (4); type 2 is ServerHello.
    if rec.first() != Some(&0x16) || rec.get(5) != Some(&2) {
        return None;
    }
    let body = rec.get(9..)?;
    let legacy_version = u16_at(body, 0)?;
    let sid_len = usize::from(*body.get(34)?);
    let mut i = 35 + sid_len;
    let suite = u16_at(body, i)?;
    i += 3; // cipher suite, compression method
    let ext_end = (i + 2 + usize::from(u16_at(body, i)?)).min(body.len());
    i += 2;
    while i + 4 <= ext_end {
        let (ty, len) = (u16_at(body, i)?, usize::from(u16_at(body, i + 2)?));
        if ty == 0x002b && len == 2 {
            return Some((u16_at(body, i + 4)?, suite));
        }
        i += 4 + len;
    }
    Some((legacy_version, suite))
}

/// Serves one accepted connection; never panics (the outcome carries what went wrong).
fn serve(sock: TcpStream, scripts: &[Script], used: &Mutex<Vec<bool>>) -> Served {
    let mut served = Served {
        first: None,
        recorded: None,
        result: Ok(()),
    };
    let result = (|| {
        sock.set_nonblocking(false).map_err(err)?;
        sock.set_read_timeout(Some(IO_TIMEOUT)).map_err(err)?;
        sock.set_write_timeout(Some(IO_TIMEOUT)).map_err(err)?;
        let first = first_message(&sock)?;
        served.first = Some(first);
        let script = {
            let mut used = lock(used);
            let i = scripts
                .iter()
                .enumerate()
                .position(|(i, s)| !used[i] && first_sent(&s.conn) == Some(first))
                .ok_or_else(|| format!("no recorded connection starts with {first:?}"))?;
            used[i] = true;
            &scripts[i]
        };
        served.recorded = Some(script.conn.id);
        walk(sock, script)
    })();
    served.result = result;
    served
}

fn err(e: io::Error) -> String {
    e.to_string()
}

/// Peeks (bounded) until the client's first message can be classified.
fn first_message(sock: &TcpStream) -> Result<FirstMessage, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 8];
    loop {
        let n = sock.peek(&mut buf).map_err(err)?;
        if n == 0 {
            return Err("the client closed before sending anything".into());
        }
        if let Some(kind) = FirstMessage::of(&buf[..n]) {
            return Ok(kind);
        }
        if Instant::now() >= deadline {
            return Err(format!("only {n} bytes arrived: {:02x?}", &buf[..n]));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn first_sent(conn: &ConnLog) -> Option<FirstMessage> {
    conn.events.iter().find_map(|e| match e {
        Event::Data {
            dir: Dir::Sent,
            layer: Layer::Tcp,
            bytes,
            ..
        } => FirstMessage::of(bytes),
        _ => None,
    })
}

/// The socket, before and after the TLS takeover.
enum Channel {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Channel {
    fn tcp(&self) -> &TcpStream {
        match self {
            Channel::Plain(s) => s,
            Channel::Tls(s) => &s.sock,
        }
    }

    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Channel::Plain(s) => s,
            Channel::Tls(s) => s.as_mut(),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Walks the recorded events of one connection (see the module docs).
fn walk(sock: TcpStream, script: &Script) -> Result<(), String> {
    let mut chan = Channel::Plain(sock);
    // Bytes the client sent before the current point: recorded, and read so far here.
    let mut recorded_sent = 0usize;
    let mut read = 0usize;
    for (i, event) in script.conn.events.iter().enumerate() {
        if Some(i) == script.tls_from {
            let config = script.tls.clone().ok_or("TLS takeover without a config")?;
            chan = Channel::Tls(Box::new(handshake(chan, config)?));
            (recorded_sent, read) = (0, 0);
        }
        // After the takeover the replayed layer is TLS's plaintext; before it, the socket.
        let layer = if matches!(chan, Channel::Tls(_)) {
            Layer::Tls
        } else {
            Layer::Tcp
        };
        match event {
            Event::Data {
                dir: Dir::Sent,
                layer: l,
                bytes,
                ..
            } if *l == layer => recorded_sent += bytes.len(),
            Event::Data {
                dir: Dir::Received,
                layer: l,
                bytes,
                ..
            } if *l == layer => {
                read += read_until(&mut chan, recorded_sent.saturating_sub(read), layer)?;
                let s = chan.stream();
                s.write_all(bytes)
                    .and_then(|()| s.flush())
                    .map_err(|e| format!("event {i}: writing {} bytes: {e}", bytes.len()))?;
            }
            Event::LocalClose { .. } => return close_after_client(chan),
            // The server ended it: once the client's recorded bytes are in (closing with
            // unread bytes would turn our FIN into an RST).
            Event::PeerClose { .. } | Event::Reset { .. } => {
                read_until(&mut chan, recorded_sent.saturating_sub(read), layer)?;
                return close(chan, matches!(event, Event::Reset { .. }));
            }
            _ => {}
        }
    }
    close_after_client(chan)
}

/// Reads at least `want` more bytes (exactly `want` on the socket, so that nothing after them,
/// such as a ClientHello, is taken from the next phase). Returns how many were read.
fn read_until(chan: &mut Channel, want: usize, layer: Layer) -> Result<usize, String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut got = 0;
    let mut buf = [0u8; 4096];
    while got < want {
        let room = match chan {
            Channel::Plain(_) => (want - got).min(buf.len()),
            Channel::Tls(_) => buf.len(),
        };
        match chan.stream().read(&mut buf[..room]) {
            Ok(0) => {
                return Err(format!(
                    "{layer:?}: the client closed after {got} of {want} expected bytes"
                ));
            }
            Ok(n) => got += n,
            Err(e) if timed_out(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(format!("{layer:?}: {got} of {want} expected bytes: {e}")),
        }
    }
    Ok(got)
}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn handshake(
    chan: Channel,
    config: Arc<ServerConfig>,
) -> Result<StreamOwned<ServerConnection, TcpStream>, String> {
    let Channel::Plain(mut sock) = chan else {
        return Err("TLS inside TLS".into());
    };
    let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + IO_TIMEOUT;
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok(_) => {}
            Err(e) if timed_out(&e) && Instant::now() < deadline => {}
            Err(e) => return Err(format!("TLS handshake: {e}")),
        }
    }
    Ok(StreamOwned::new(conn, sock))
}

/// pgreach closed first in the recording: wait (bounded) for its close, then close too.
fn close_after_client(mut chan: Channel) -> Result<(), String> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = [0u8; 4096];
    loop {
        match chan.stream().read(&mut buf) {
            // EOF, close_notify, or a TLS EOF without close_notify: the client is gone.
            Ok(0) => break,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Ok(_) => {}
            Err(e) if timed_out(&e) && Instant::now() < deadline => {}
            Err(e) if timed_out(&e) => return Err("the client did not close".into()),
            // A reset after the client's last bytes still ends the connection as recorded.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(format!("waiting for the client's close: {e}")),
        }
    }
    close(chan, false)
}

/// Closes our side: FIN (after close_notify for TLS), then waits briefly for the client's
/// FIN so that no unread byte turns the close into an RST; or RST (SO_LINGER 0) when `reset`.
fn close(mut chan: Channel, reset: bool) -> Result<(), String> {
    if reset {
        socket2::SockRef::from(chan.tcp())
            .set_linger(Some(Duration::ZERO))
            .map_err(err)?;
        return Ok(());
    }
    if let Channel::Tls(s) = &mut chan {
        s.conn.send_close_notify();
        let _ = s.flush();
    }
    let mut sock = chan.tcp();
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.set_read_timeout(Some(CLOSE_DRAIN));
    let deadline = Instant::now() + CLOSE_DRAIN;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match sock.read(&mut buf) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    Ok(())
}
