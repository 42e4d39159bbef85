//! One full probe (TCP, SSLRequest, TLS 1.3, StartupMessage, first auth request, polite close)
//! against an in-process server on loopback, beside the same exchange done with bare
//! tokio-rustls: the floor, what TCP and TLS themselves cost.
//!
//! The server behaves like PostgreSQL 15 with its defaults where they change the client's cost:
//! it answers `S`, offers only P-256 for the key exchange (`ssl_ecdh_curve = prime256v1`),
//! issues no session tickets (PostgreSQL turns them off), reads the StartupMessage, answers
//! AuthenticationSASL and waits for the client to leave. It runs on a thread of its own; the
//! client runs on the bench thread, so the `client_cpu` group (thread CPU time) counts the
//! client alone, while the `wall` group includes both sides and the scheduler.
//!
//! A counting global allocator (the `allocation-counter` crate, client thread only) prints
//! allocations per probe: how many the report holds, and of the rest beyond the bare exchange,
//! how many x509-parser's parse of the chain accounts for and how many are pgreach's own. They
//! are figures to read, not a pass/fail check. With `PGREACH_BENCH_PROFILE=N` the binary skips
//! criterion and runs N probes, for `perf stat`, callgrind or DHAT (keeping the reports, so
//! DHAT's at-exit figures are what they hold). With `PGREACH_BENCH_INTERLEAVE=N` it skips
//! criterion and measures client CPU in N rounds that alternate between the clients, for a
//! machine busy with other work.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use pgreach::config::SslMode;
use pgreach::facts::{StartupStatus, TlsStatus};
use pgreach::probe::{AddrTarget, ProbeSettings, probe_address};
use pgreach::tls::TlsBase;
use pgreach::tls::anchors::{TrustAnchors, TrustFacts};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio_rustls::{TlsAcceptor, TlsConnector};

// ---------------------------------------------------------------------------------------------
// Counting and timing on the client thread.

/// Allocations (reallocations included), bytes requested, and blocks still live at the end
/// (for a probe: the ones its facts hold), on this thread while `f` runs.
fn counted<T>(f: impl FnOnce() -> T) -> (T, allocation_counter::AllocationInfo) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    (out.expect("the closure ran"), info)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    use nix::time::{ClockId, clock_gettime};
    let ts = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).expect("thread CPU clock");
    Duration::from(ts)
}

// ---------------------------------------------------------------------------------------------
// The in-process server.

/// AuthenticationSASL as PostgreSQL 15 sends it with scram-sha-256 and channel binding.
const AUTH_SASL: &[u8] =
    b"R\x00\x00\x00\x2a\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00";

fn provider(kx: &[&'static dyn rustls::crypto::SupportedKxGroup]) -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        kx_groups: kx.to_vec(),
        ..ring::default_provider()
    })
}

fn server_config(pki: &common::Pki) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_provider(provider(&[ring::kx_group::SECP256R1]))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![pki.leaf.clone(), pki.intermediate.clone()],
            pki.leaf_key(),
        )
        .unwrap();
    // PostgreSQL issues no tickets; PGREACH_BENCH_TICKETS=N makes a server that does, to see
    // what a client that resumes would (not) record.
    config.send_tls13_tickets = std::env::var("PGREACH_BENCH_TICKETS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Arc::new(config)
}

async fn serve_one(mut tcp: TcpStream, acceptor: TlsAcceptor) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut request = [0u8; 8];
    tcp.read_exact(&mut request).await?;
    tcp.write_all(b"S").await?;
    let mut tls = acceptor.accept(tcp).await?;
    let mut len = [0u8; 4];
    tls.read_exact(&mut len).await?;
    let len = (u32::from_be_bytes(len) as usize).clamp(8, 10_004);
    let mut body = vec![0u8; len - 4];
    tls.read_exact(&mut body).await?;
    tls.write_all(AUTH_SASL).await?;
    tls.flush().await?;
    // Like a backend waiting for the password: the client's close_notify or FIN ends it.
    let mut sink = [0u8; 256];
    while tls.read(&mut sink).await? > 0 {}
    Ok(())
}

/// Starts the server on a thread of its own; returns its loopback address.
fn start_server(pki: &common::Pki) -> SocketAddr {
    let acceptor = TlsAcceptor::from(server_config(pki));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = serve_one(tcp, acceptor).await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The two clients.

fn anchors(pki: &common::Pki) -> Arc<TrustAnchors> {
    Arc::new(TrustAnchors::new(
        TrustFacts {
            source: pgreach::facts::FileSource::File,
            path: Some("root.crt".into()),
            exists: true,
            certificates: 1,
            error: None,
            crl: None,
        },
        vec![pki.root.clone()],
    ))
}

struct Probe {
    target: AddrTarget,
    settings: ProbeSettings,
}

impl Probe {
    fn new(addr: SocketAddr, pki: &common::Pki) -> Probe {
        Probe {
            target: AddrTarget::Tcp {
                host: common::HOST.into(),
                tls_name: Some(common::HOST.into()),
                verify_host: Some(common::HOST.into()),
                addr,
                system_rank: Some(0),
            },
            settings: ProbeSettings {
                user: "postgres".into(),
                dbname: "postgres".into(),
                application_name: "pgreach".into(),
                sslmode: SslMode::Require,
                timeout: Duration::from_secs(5),
                tls: Arc::new(TlsBase::new(None, anchors(pki), None)),
                sni: true,
                protocol_minor: 0,
                quiet_server: true,
                direct_tls: false,
                gssenc: false,
                tls_versions: Arc::new(Vec::new()),
                recorder: None,
                login: None,
            },
        }
    }

    async fn run(&self) -> pgreach::facts::AddressFacts {
        probe_address(&self.target, &self.settings).await
    }
}

/// A verifying rustls client with nothing else: what any TLS client sending the same
/// ClientHello must at least pay.
fn bare_config(pki: &common::Pki, p256_first: bool) -> Arc<ClientConfig> {
    let kx: &[&'static dyn rustls::crypto::SupportedKxGroup] = if p256_first {
        &[
            ring::kx_group::SECP256R1,
            ring::kx_group::X25519,
            ring::kx_group::SECP384R1,
        ]
    } else {
        // ring's default order.
        &[
            ring::kx_group::X25519,
            ring::kx_group::SECP256R1,
            ring::kx_group::SECP384R1,
        ]
    };
    let mut roots = RootCertStore::empty();
    roots.add(pki.root.clone()).unwrap();
    let mut config = ClientConfig::builder_with_provider(provider(kx))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // A PostgreSQL server never resumes, so every connection is a full handshake.
    config.resumption = rustls::client::Resumption::disabled();
    // The same ClientHello as the probe's, which offers PostgreSQL's ALPN as libpq 17+ does
    // (tokio-rustls and rustls copy the protocol list three times per connection).
    config.alpn_protocols = vec![pgreach::tls::PG_ALPN.to_vec()];
    Arc::new(config)
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn startup_bytes() -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    pgreach::pgwire::frontend::startup_message(
        &mut buf,
        &[
            ("user", "postgres"),
            ("database", "postgres"),
            ("application_name", "pgreach"),
        ],
    )
    .unwrap();
    buf.to_vec()
}

/// TCP, SSLRequest, `S`, TLS handshake; with `startup`, the StartupMessage and the whole first
/// answer too; then close_notify.
async fn bare(addr: SocketAddr, config: &Arc<ClientConfig>, startup: Option<&[u8]>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tcp.write_all(&SSL_REQUEST).await.unwrap();
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"S");
    // Owned, as any client's host name is when it comes from its configuration (rustls then
    // copies it for SNI; a borrowed literal would spare the bare client those copies).
    let name = ServerName::try_from(common::HOST.to_string()).unwrap();
    let mut tls = TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .unwrap();
    if let Some(startup) = startup {
        tls.write_all(startup).await.unwrap();
        let mut reply = [0u8; AUTH_SASL.len()];
        tls.read_exact(&mut reply).await.unwrap();
    }
    let _ = tls.shutdown().await;
}

// ---------------------------------------------------------------------------------------------

struct Bench {
    rt: Runtime,
    addr: SocketAddr,
    probe: Probe,
    /// The chain the server presents, leaf first.
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    p256: Arc<ClientConfig>,
    x25519: Arc<ClientConfig>,
    startup: Vec<u8>,
}

impl Bench {
    fn new() -> Bench {
        let pki = common::pki();
        let addr = start_server(&pki);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let bench = Bench {
            probe: Probe::new(addr, &pki),
            p256: bare_config(&pki, true),
            x25519: bare_config(&pki, false),
            startup: startup_bytes(),
            chain: vec![pki.leaf.clone(), pki.intermediate.clone()],
            rt,
            addr,
        };
        // Guard: measure the successful path only.
        let facts = bench.rt.block_on(bench.probe.run());
        let tls = facts.tls.as_ref().expect("TLS facts");
        assert_eq!(tls.status, TlsStatus::Ok, "{:?}", tls.error);
        assert_eq!(tls.chain.len(), 2);
        assert_eq!(facts.startup.status, StartupStatus::AuthRequest);
        assert_eq!(facts.startup.sasl_mechanisms.len(), 2);
        // A second probe in the same process must record the chain again (no resumption).
        let again = bench.rt.block_on(bench.probe.run());
        let chain = again.tls.as_ref().map_or(0, |t| t.chain.len());
        assert_eq!(chain, 2, "second probe recorded {chain} certificates");
        bench
    }

    /// One client exchange by name, on the bench thread.
    async fn one(&self, which: &str) {
        match which {
            "probe" => {
                std::hint::black_box(self.probe.run().await);
            }
            "bare_handshake_p256" => bare(self.addr, &self.p256, None).await,
            "bare_handshake_x25519_hrr" => bare(self.addr, &self.x25519, None).await,
            "bare_exchange_p256" => bare(self.addr, &self.p256, Some(&self.startup)).await,
            other => unreachable!("{other}"),
        }
    }
}

const CLIENTS: [&str; 4] = [
    "probe",
    "bare_exchange_p256",
    "bare_handshake_p256",
    "bare_handshake_x25519_hrr",
];

fn wall(c: &mut Criterion, bench: &Bench) {
    let mut group = c.benchmark_group("wall");
    for which in CLIENTS {
        group.bench_function(which, |b| {
            b.iter_custom(|iters| {
                bench.rt.block_on(async {
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        bench.one(which).await;
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

fn client_cpu(c: &mut Criterion, bench: &Bench) {
    let mut group = c.benchmark_group("client_cpu");
    for which in CLIENTS {
        group.bench_function(which, |b| {
            b.iter_custom(|iters| {
                bench.rt.block_on(async {
                    let start = thread_cpu();
                    for _ in 0..iters {
                        bench.one(which).await;
                    }
                    thread_cpu() - start
                })
            })
        });
    }
    group.finish();
}

fn allocations(bench: &Bench, n: u64) {
    let mut per_exchange = std::collections::HashMap::new();
    for which in CLIENTS {
        // One warm-up outside the count: lazily initialised statics are not per-probe costs.
        bench.rt.block_on(bench.one(which));
        let ((), info) = counted(|| {
            bench.rt.block_on(async {
                for _ in 0..n {
                    bench.one(which).await;
                }
            })
        });
        let allocs = info.count_total as f64 / n as f64;
        per_exchange.insert(which, allocs);
        println!(
            "allocations/{which:<26} {allocs:>8.1} allocations per exchange, {:>8.0} bytes requested",
            info.bytes_total as f64 / n as f64
        );
    }
    // What one probe leaves allocated is what its report holds (the facts are dropped after
    // counting); the rest of its allocations were working space.
    let (facts, info) = counted(|| bench.rt.block_on(bench.probe.run()));
    drop(facts);
    let (live, allocs) = (info.count_current, info.count_total);
    println!("allocations/probe_held_by_report       {live:>8} of {allocs} allocations");
    // The rest, beyond the bare exchange and the report: how much of it is x509-parser's own
    // working space, measured by parsing the same certificates alone, and what is left,
    // pgreach's own. Averages over the `n` exchanges above, so that a one-off growth somewhere
    // does not count as per-probe.
    let parse: u64 = (bench.chain.iter())
        .map(|der| {
            counted(|| pgreach::tls::cert::Parsed::new(der))
                .1
                .count_total
        })
        .sum();
    let beyond = per_exchange["probe"] - per_exchange["bare_exchange_p256"] - live as f64;
    let own = beyond - parse as f64;
    println!(
        "allocations/probe_beyond_bare_and_report {beyond:>5.1}: x509-parser parsing the {}-certificate \
         chain {parse}, pgreach's own {own:.1}",
        bench.chain.len(),
    );
}

/// Client CPU per exchange, median of `rounds` rounds; each round runs every client in turn,
/// so load from elsewhere on the machine falls on all of them alike. The ratios are medians of
/// each round's own ratio, which holds better than a ratio of medians on a busy machine.
fn interleaved(bench: &Bench, rounds: usize) {
    const PER_ROUND: u32 = 20;
    let mut rounds_us: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); CLIENTS.len()];
    for _ in 0..rounds {
        for (which, samples) in CLIENTS.iter().zip(&mut rounds_us) {
            let cpu = bench.rt.block_on(async {
                let start = thread_cpu();
                for _ in 0..PER_ROUND {
                    bench.one(which).await;
                }
                thread_cpu() - start
            });
            samples.push(cpu.as_secs_f64() * 1e6 / f64::from(PER_ROUND));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let probe = rounds_us.first().cloned().unwrap_or_default();
    for (which, samples) in CLIENTS.iter().zip(&rounds_us) {
        let ratios = probe.iter().zip(samples).map(|(p, s)| p / s).collect();
        println!(
            "interleaved/{which:<26} {:>7.1} µs client CPU (median of {rounds} rounds of \
             {PER_ROUND}); probe / this = {:.3}",
            median(samples.clone()),
            median(ratios)
        );
    }
}

fn main() {
    let bench = Bench::new();
    if let Ok(n) = std::env::var("PGREACH_BENCH_INTERLEAVE") {
        interleaved(
            &bench,
            n.parse().expect("PGREACH_BENCH_INTERLEAVE=<rounds>"),
        );
        return;
    }
    if let Ok(n) = std::env::var("PGREACH_BENCH_PROFILE") {
        let n: u64 = n.parse().expect("PGREACH_BENCH_PROFILE=<number of probes>");
        let which = std::env::var("PGREACH_BENCH_CLIENT").unwrap_or_else(|_| "probe".into());
        if which == "probe" {
            // The reports are kept to the end, so a heap profiler's at-exit figures (DHAT's
            // "at t-end") are what the reports hold, and everything else was working space.
            let reports: Vec<_> = bench.rt.block_on(async {
                let mut reports = Vec::new();
                for _ in 0..n {
                    reports.push(bench.probe.run().await);
                }
                reports
            });
            std::mem::forget(reports);
            return;
        }
        bench.rt.block_on(async {
            for _ in 0..n {
                bench.one(&which).await;
            }
        });
        return;
    }
    // `cargo test --benches` runs this binary without `--bench`: then every benchmark runs
    // once, untimed, and the allocation count uses a handful of exchanges.
    let timed = std::env::args().any(|a| a == "--bench");
    allocations(&bench, if timed { 200 } else { 3 });
    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    wall(&mut c, &bench);
    client_cpu(&mut c, &bench);
    c.final_summary();
}
