//! A scripted TCP peer for what a real PostgreSQL will not do: hostile bytes, stalls, garbage,
//! resets. Listens on loopback in the root namespace; never hangs a test (every accept and read
//! has a timeout and the threads end on their own).

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A backend message as a server frames it: the type byte, an Int32 length counting itself,
/// the body (ErrorResponse, AuthenticationSASL, ParameterStatus, …).
pub fn backend_message(tag: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len() + 4).expect("message length fits an Int32");
    let mut v = vec![tag];
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// What a man in the middle sends for an SSLRequest (CVE-2021-23222): `S`, then at once a
/// plaintext ParameterStatus before any TLS. PostgreSQL itself never does this; every byte
/// after the `S` counts as `unencrypted_bytes_after_s`.
pub fn s_then_injected_bytes() -> Vec<u8> {
    let mut v = b"S".to_vec();
    v.extend(backend_message(b'S', b"application_name\0evil\0"));
    v
}

/// Largest length a framed `Expect*` step accepts (guards against garbage lengths).
const MAX_FRAME: usize = 1 << 20;

/// One step of a [`FakeServer`] script, run in order on each accepted connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read exactly n bytes (ends the connection on EOF/timeout).
    Expect(usize),
    /// Read one untagged packet: Int32 length (including itself) + body, as SSLRequest,
    /// GSSENCRequest, StartupMessage and CancelRequest are framed.
    ExpectUntagged,
    /// Read one tagged message: Byte1 type + Int32 length (including itself) + body.
    ExpectTagged,
    /// Write these bytes.
    Send(Vec<u8>),
    /// Do nothing for this long (a stall).
    SleepMs(u64),
    /// Read and record whatever arrives until the peer closes or this many ms pass.
    Drain(u64),
    /// Graceful close (FIN) and end of the connection.
    Close,
    /// SO_LINGER 0, then close: the peer sees a TCP RST.
    Reset,
}

/// Options for [`FakeServer::with_options`].
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// How many connections to accept (each gets the whole script, concurrently).
    pub connections: usize,
    /// Stop accepting (and close the listener) after this long.
    pub accept_timeout: Duration,
    /// Read/write timeout of every socket operation.
    pub io_timeout: Duration,
    /// Address to bind (port 0 is chosen by the kernel); default 127.0.0.1.
    pub bind: IpAddr,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            connections: 1,
            accept_timeout: Duration::from_secs(30),
            io_timeout: Duration::from_secs(10),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

#[derive(Default)]
struct Shared {
    /// Bytes received, per accepted connection (in accept order).
    received: Mutex<Vec<Vec<u8>>>,
    /// Human-readable log of what happened (EOFs, timeouts, errors), for assertions/debugging.
    events: Mutex<Vec<String>>,
    stop: AtomicBool,
    accepted: AtomicUsize,
    /// Acceptor + connection threads still running.
    running: AtomicUsize,
}

impl Shared {
    fn event(&self, msg: String) {
        if let Ok(mut e) = self.events.lock() {
            e.push(msg);
        }
    }
}

/// A scripted server; see the module docs.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeServer {
    /// Accepts one connection on 127.0.0.1 and runs `script` on it.
    pub fn spawn(script: Vec<Step>) -> FakeServer {
        FakeServer::with_options(script, FakeOptions::default())
    }

    /// Serves `script` to up to `connections` connections.
    pub fn spawn_n(script: Vec<Step>, connections: usize) -> FakeServer {
        FakeServer::with_options(
            script,
            FakeOptions {
                connections,
                ..FakeOptions::default()
            },
        )
    }

    pub fn with_options(script: Vec<Step>, opts: FakeOptions) -> FakeServer {
        let listener = TcpListener::bind(SocketAddr::new(opts.bind, 0)).expect("bind fake server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared::default());
        shared.running.store(1, Ordering::SeqCst);
        let sh = shared.clone();
        thread::spawn(move || {
            accept_loop(listener, script, opts, &sh);
            sh.running.fetch_sub(1, Ordering::SeqCst);
        });
        FakeServer { addr, shared }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// All bytes received so far, over all connections (in accept order). A snapshot: call
    /// [`FakeServer::wait`] first if the script may still be reading.
    pub fn received(&self) -> Vec<u8> {
        self.received_per_connection().concat()
    }

    pub fn received_per_connection(&self) -> Vec<Vec<u8>> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// What happened (EOF during Expect, timeouts, write errors, ...).
    pub fn events(&self) -> Vec<String> {
        self.shared
            .events
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Waits (at most `timeout`) until every connection's script has finished and the acceptor
    /// has stopped; true if it did.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.shared.running.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for FakeServer {
    /// Tells the threads to stop at their next check; does not block.
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn accept_loop(listener: TcpListener, script: Vec<Step>, opts: FakeOptions, sh: &Arc<Shared>) {
    let deadline = Instant::now() + opts.accept_timeout;
    let mut served = 0;
    while served < opts.connections && !sh.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let idx = {
                    let mut r = sh.received.lock().unwrap_or_else(|e| e.into_inner());
                    r.push(Vec::new());
                    r.len() - 1
                };
                served += 1;
                sh.accepted.fetch_add(1, Ordering::SeqCst);
                sh.running.fetch_add(1, Ordering::SeqCst);
                let (script, io_timeout, sh2) = (script.clone(), opts.io_timeout, sh.clone());
                thread::spawn(move || {
                    sh2.event(format!("conn {idx}: accepted from {peer}"));
                    serve(stream, idx, &script, io_timeout, &sh2);
                    sh2.running.fetch_sub(1, Ordering::SeqCst);
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    sh.event(format!("accept timed out after {:?}", opts.accept_timeout));
                    break;
                }
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => {
                sh.event(format!("accept failed: {e}"));
                break;
            }
        }
    }
    // Listener dropped here: later connects are refused.
}

fn serve(mut stream: TcpStream, idx: usize, script: &[Step], io_timeout: Duration, sh: &Shared) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(io_timeout));
    let _ = stream.set_write_timeout(Some(io_timeout));
    for (i, step) in script.iter().enumerate() {
        if sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let ctx = format!("conn {idx} step {i} {step:?}");
        let ok = match step {
            Step::Expect(n) => read_n(&mut stream, *n, idx, sh, &ctx),
            Step::ExpectUntagged => read_n(&mut stream, 4, idx, sh, &ctx)
                .and_then(|len| frame_body(&len, 0, &ctx, sh))
                .and_then(|body| read_n(&mut stream, body, idx, sh, &ctx)),
            Step::ExpectTagged => read_n(&mut stream, 5, idx, sh, &ctx)
                .and_then(|hdr| frame_body(&hdr, 1, &ctx, sh))
                .and_then(|body| read_n(&mut stream, body, idx, sh, &ctx)),
            Step::Send(bytes) => match stream.write_all(bytes).and_then(|_| stream.flush()) {
                Ok(()) => Some(Vec::new()),
                Err(e) => {
                    sh.event(format!("{ctx}: write failed: {e}"));
                    None
                }
            },
            Step::SleepMs(ms) => {
                let end = Instant::now() + Duration::from_millis(*ms);
                while Instant::now() < end && !sh.stop.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(5).min(end - Instant::now()));
                }
                Some(Vec::new())
            }
            Step::Drain(ms) => {
                drain(&mut stream, Duration::from_millis(*ms), idx, sh, &ctx);
                let _ = stream.set_read_timeout(Some(io_timeout));
                Some(Vec::new())
            }
            Step::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Step::Reset => {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(stream);
                return;
            }
        };
        if ok.is_none() {
            return; // dropping the stream closes it
        }
    }
}

/// Body length of a frame whose Int32 length starts at `hdr[off..]` (length includes itself).
fn frame_body(hdr: &[u8], off: usize, ctx: &str, sh: &Shared) -> Option<usize> {
    let len = u32::from_be_bytes(hdr[off..off + 4].try_into().ok()?) as usize;
    if !(4..=MAX_FRAME).contains(&len) {
        sh.event(format!("{ctx}: implausible frame length {len}"));
        return None;
    }
    Some(len - 4)
}

/// Reads exactly n bytes, recording them as they arrive; None on EOF/timeout/error.
fn read_n(stream: &mut TcpStream, n: usize, idx: usize, sh: &Shared, ctx: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match stream.read(&mut buf[got..]) {
            Ok(0) => {
                sh.event(format!("{ctx}: EOF after {got} of {n} bytes"));
                return None;
            }
            Ok(k) => {
                record(sh, idx, &buf[got..got + k]);
                got += k;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                sh.event(format!("{ctx}: read error after {got} of {n} bytes: {e}"));
                return None;
            }
        }
    }
    Some(buf)
}

fn drain(stream: &mut TcpStream, dur: Duration, idx: usize, sh: &Shared, ctx: &str) {
    let end = Instant::now() + dur;
    let mut chunk = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || sh.stop.load(Ordering::SeqCst) {
            return;
        }
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(50))));
        match stream.read(&mut chunk) {
            Ok(0) => {
                sh.event(format!("{ctx}: peer closed"));
                return;
            }
            Ok(k) => record(sh, idx, &chunk[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                sh.event(format!("{ctx}: read error: {e}"));
                return;
            }
        }
    }
}

fn record(sh: &Shared, idx: usize, bytes: &[u8]) {
    if let Ok(mut r) = sh.received.lock()
        && let Some(v) = r.get_mut(idx)
    {
        v.extend_from_slice(bytes);
    }
}
