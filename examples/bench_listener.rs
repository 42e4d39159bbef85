//! A cheap PostgreSQL-speaking listener for benches/sweep.sh: it answers just enough of the
//! protocol for pg_isready to say "accepting connections" and for pgreach to classify md5,
//! so a throughput comparison measures the clients, not a server that forks per connection.
//!
//!     cargo build --release --example bench_listener
//!     bench_listener [--threads N] [--stats FILE] ADDR...      (e.g. 0.0.0.0:6432)
//!
//! Per connection: SSLRequest or GSSENCRequest → `N` (and read on); StartupMessage →
//! AuthenticationMD5Password, then close; CancelRequest or anything else → close. On SIGTERM
//! or SIGINT it writes its counters (`connections`, `ssl_requests`, `startups`) as one line of
//! `key=value` pairs to FILE (or stderr) and exits, so the bench can check how many
//! connections each client opened for the same targets.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};

/// The codes in the first message's second word (PostgreSQL protocol, "Message Formats").
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const PROTOCOL_3_0: u32 = 196_608;
/// A StartupMessage larger than this is not what a prober sends: drop the connection.
const MAX_STARTUP: usize = 10_000;
/// A client that stalls does not hold a task for long.
const IDLE: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    ssl_requests: AtomicU64,
    startups: AtomicU64,
}

fn main() {
    let mut threads = 1;
    let mut stats: Option<String> = None;
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--stats" => stats = args.next(),
            _ => match a.parse() {
                Ok(addr) => addrs.push(addr),
                Err(e) => fail(&format!("{a}: {e} (expected ADDR:PORT)")),
            },
        }
    }
    if addrs.is_empty() || threads == 0 {
        fail("usage: bench_listener [--threads N] [--stats FILE] ADDR:PORT...");
    }
    // One worker by default: on a small machine the client under test should get the rest.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    let counters = Arc::new(Counters::default());
    runtime.block_on(serve(addrs, counters.clone()));
    let line = format!(
        "connections={} ssl_requests={} startups={}\n",
        counters.connections.load(Ordering::Relaxed),
        counters.ssl_requests.load(Ordering::Relaxed),
        counters.startups.load(Ordering::Relaxed),
    );
    let written = match &stats {
        Some(path) => std::fs::write(path, &line),
        None => std::io::stderr().write_all(line.as_bytes()),
    };
    if let Err(e) = written {
        fail(&format!("writing the counters: {e}"));
    }
    runtime.shutdown_background();
}

fn fail(message: &str) -> ! {
    eprintln!("bench_listener: {message}");
    std::process::exit(2);
}

/// Accepts on every address until SIGTERM or SIGINT.
async fn serve(addrs: Vec<SocketAddr>, counters: Arc<Counters>) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        fail("cannot install signal handlers");
    };
    for addr in addrs {
        let listener = TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
        let counters = counters.clone();
        tokio::spawn(async move {
            loop {
                // EMFILE and friends: back off briefly instead of spinning.
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                counters.connections.fetch_add(1, Ordering::Relaxed);
                let counters = counters.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(IDLE, answer(stream, &counters)).await;
                });
            }
        });
    }
    // Tell the bench we are listening (it waits for this line).
    println!("listening");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// One connection: `N` to each encryption request, then AuthenticationMD5Password.
async fn answer(mut stream: TcpStream, counters: &Counters) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    loop {
        let len = stream.read_u32().await? as usize;
        if !(8..=MAX_STARTUP).contains(&len) {
            return Ok(());
        }
        let code = stream.read_u32().await?;
        match code {
            SSL_REQUEST | GSSENC_REQUEST if len == 8 => {
                counters.ssl_requests.fetch_add(1, Ordering::Relaxed);
                stream.write_all(b"N").await?;
            }
            PROTOCOL_3_0 => {
                // The parameters (user, database, …) are not needed for the answer.
                let mut rest = vec![0; len - 8];
                stream.read_exact(&mut rest).await?;
                counters.startups.fetch_add(1, Ordering::Relaxed);
                // 'R', length 12, code 5 (MD5), a four-byte salt.
                stream
                    .write_all(&[b'R', 0, 0, 0, 12, 0, 0, 0, 5, 0x5a, 0x5a, 0x5a, 0x5a])
                    .await?;
                return Ok(());
            }
            _ => return Ok(()),
        }
    }
}
