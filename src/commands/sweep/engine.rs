//! One target of a sweep: the same phases as `run::collect`, with the sweep's limits applied
//! per address (global concurrency, per-host slots, rate, descriptors), a deadline for the
//! whole target, and the resolver and TLS trust material shared between targets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::limits::{FdGate, PerHost, Rate};
use crate::config::Config;
use crate::facts::{AddressFacts, Report};
use crate::probe::{self, AddrTarget, ProbeSettings};
use crate::resolve::Dns;
use crate::session::{self, TlsSetup};

/// Distinct TLS setups (lines may name their own sslrootcert) and resolvers (one per
/// connect_timeout) kept; beyond this a cache is emptied rather than grown.
const CACHE_MAX: usize = 64;

type TlsKey = (
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    // sslcrl, sslcrldir: they change what verify-ca decides.
    Option<String>,
    Option<String>,
);

/// Everything the targets of one sweep share.
pub struct Shared {
    /// Addresses in flight (`--concurrency`).
    pub global: Arc<Semaphore>,
    pub hosts: PerHost,
    pub rate: Rate,
    pub fds: FdGate,
    /// `--deadline`, per target.
    pub deadline: Duration,
    home: Option<PathBuf>,
    tls: Mutex<HashMap<TlsKey, Arc<TlsSetup>>>,
    dns: Mutex<HashMap<Duration, Arc<Dns>>>,
}

impl Shared {
    pub fn new(concurrency: usize, per_host: usize, rate: f64, deadline: Duration) -> Shared {
        Shared {
            global: Arc::new(Semaphore::new(concurrency.max(1))),
            hosts: PerHost::new(per_host),
            rate: Rate::new(rate),
            fds: FdGate::default(),
            deadline,
            home: session::home_dir(),
            tls: Mutex::default(),
            dns: Mutex::default(),
        }
    }

    fn tls_for(&self, config: &Config) -> Arc<TlsSetup> {
        let key: TlsKey = (
            config.sslrootcert.clone(),
            config.sslcert.clone(),
            config.sslkey.clone(),
            config.tls_versions,
            config.sslcrl.clone(),
            config.sslcrldir.clone(),
        );
        let mut cache = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(setup) = cache.get(&key) {
            return setup.clone();
        }
        let setup = Arc::new(TlsSetup::load(config, self.home.as_deref(), None));
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, setup.clone());
        setup
    }

    fn dns_for(&self, timeout: Duration) -> Arc<Dns> {
        let mut cache = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache
            .entry(timeout)
            .or_insert_with(|| Arc::new(Dns::from_system(timeout)))
            .clone()
    }
}

/// Probes one target under the sweep's limits; the report is not yet diagnosed.
pub async fn collect(config: &Config, shared: &Shared) -> Report {
    let started = Instant::now();
    let deadline = started + shared.deadline;
    let setup = shared.tls_for(config);
    let settings = setup.probe_settings(config, None, None);
    let dns = shared.dns_for(config.connect_timeout);
    let (hosts, targets) = session::resolve_all(&dns, config).await;

    let cost = config.connections_per_address();
    if let [target] = targets.as_slice() {
        // Most lines name one address: no set of futures to build (it showed in profiles).
        let facts =
            tokio::time::timeout_at(deadline, probe_limited(target, &settings, shared, cost))
                .await
                .unwrap_or_else(|_| past_deadline(target, started.elapsed()));
        return setup.report(config, hosts, vec![facts]);
    }
    let mut pending: FuturesUnordered<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let settings = &settings;
            async move { (i, probe_limited(t, settings, shared, cost).await) }
        })
        .collect();
    let mut results: Vec<Option<AddressFacts>> = targets.iter().map(|_| None).collect();
    let expired = tokio::time::sleep_until(deadline);
    tokio::pin!(expired);
    loop {
        tokio::select! {
            next = pending.next() => match next {
                Some((i, facts)) => results[i] = Some(facts),
                None => break,
            },
            () = &mut expired => break,
        }
    }
    drop(pending);
    let addresses: Vec<AddressFacts> = results
        .into_iter()
        .zip(&targets)
        .map(|(r, t)| r.unwrap_or_else(|| past_deadline(t, started.elapsed())))
        .collect();

    setup.report(config, hosts, addresses)
}

/// One address, once the per-host slot, a global slot, a descriptor and the rate allow it.
async fn probe_limited(
    target: &AddrTarget,
    settings: &ProbeSettings,
    shared: &Shared,
    cost: u32,
) -> AddressFacts {
    // The host slot first: waiting for a busy server must not hold a global slot.
    let _host = match target {
        AddrTarget::Tcp { addr, .. } => Some(shared.hosts.acquire(addr.ip()).await),
        AddrTarget::Unix { .. } => None,
    };
    let _slot = shared.global.acquire().await;
    loop {
        shared.fds.ready().await;
        shared.rate.acquire(cost).await;
        let facts = probe::probe_address(target, settings).await;
        shared.fds.release();
        if facts.tcp.out_of_descriptors() {
            // Not the target's fault: wait for other probes to give descriptors back.
            shared.fds.slow_down().await;
            continue;
        }
        return facts;
    }
}

/// An address still waiting or running when the target's deadline passed.
fn past_deadline(target: &AddrTarget, elapsed: Duration) -> AddressFacts {
    AddressFacts::past_deadline(
        target.place(),
        elapsed,
        "the per-target deadline (--deadline) passed before this address finished",
    )
}

#[cfg(test)]
mod tests {
    use crate::facts::{TcpFacts, TcpStatus};

    #[test]
    fn descriptor_exhaustion_is_told_apart_from_other_errors() {
        let tcp = |status, code: i32| TcpFacts {
            status,
            elapsed_ms: 0.0,
            error: Some(std::io::Error::from_raw_os_error(code).to_string()),
            os_error: Some(code),
            local_address: None,
        };
        assert!(tcp(TcpStatus::Error, nix::libc::EMFILE).out_of_descriptors());
        assert!(tcp(TcpStatus::Error, nix::libc::ENFILE).out_of_descriptors());
        assert!(!tcp(TcpStatus::Refused, nix::libc::ECONNREFUSED).out_of_descriptors());
        assert!(!tcp(TcpStatus::Error, 240).out_of_descriptors());
    }
}
