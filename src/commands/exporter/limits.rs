//! The exporter's bounds and counters: probe slots (`--max-concurrent`; over the bound a request
//! waits briefly, then gets 503), a cap on open HTTP connections, and what `/metrics` reports.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::report::exporter::{ExporterStats, ProbeResult, Refusal, ReloadResult};

/// How long a request waits for a probe slot before it is answered 503: long enough to ride
/// out a burst of scrapes, short against any scrape timeout.
pub const SLOT_WAIT: Duration = Duration::from_secs(1);

/// HTTP connections open at once, beyond the probe slots: room for `/metrics`, health checks,
/// requests waiting for a slot and kept-alive connections between scrapes (each closed after
/// the server's header timeout). Past it the listener stops accepting (the kernel's backlog
/// holds the rest), so memory stays bounded whatever arrives.
pub const EXTRA_CONNECTIONS: usize = 1024;

/// Probe slots.
pub struct Slots {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Slots {
    pub fn new(max: usize) -> Slots {
        Slots {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot, waiting at most `wait`; `None` means overloaded.
    pub async fn acquire(&self, wait: Duration) -> Option<OwnedSemaphorePermit> {
        let slot = self.slots.clone().acquire_owned();
        tokio::time::timeout(wait, slot).await.ok()?.ok()
    }

    pub fn in_flight(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Stats {
    probes: Mutex<BTreeMap<(String, ProbeResult), u64>>,
    refused: [AtomicU64; 3],
    reloads: [AtomicU64; 2],
    last_reload_failed: AtomicBool,
    loaded_at: Mutex<Option<SystemTime>>,
}

impl Stats {
    pub fn probe(&self, module: &str, result: ProbeResult) {
        let mut probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        *probes.entry((module.to_owned(), result)).or_default() += 1;
    }

    pub fn refused(&self, why: Refusal) {
        let i = Refusal::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A reload's result; `loaded_at` is when the configuration now in use was read.
    pub fn reloaded(&self, result: ReloadResult, loaded_at: Option<SystemTime>) {
        let i = usize::from(result == ReloadResult::Failure);
        self.reloads[i].fetch_add(1, Ordering::Relaxed);
        self.last_reload_failed
            .store(result == ReloadResult::Failure, Ordering::Relaxed);
        if loaded_at.is_some() {
            self.set_loaded(loaded_at);
        }
    }

    pub fn set_loaded(&self, at: Option<SystemTime>) {
        *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn snapshot(&self, slots: &Slots) -> ExporterStats {
        let probes = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = *self.loaded_at.lock().unwrap_or_else(|p| p.into_inner());
        ExporterStats {
            probes: probes
                .iter()
                .map(|((module, result), n)| (module.clone(), *result, *n))
                .collect(),
            in_flight: slots.in_flight(),
            max_concurrent: slots.max(),
            refused: Refusal::ALL
                .iter()
                .zip(&self.refused)
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
            reloads: ReloadResult::ALL
                .iter()
                .zip(&self.reloads)
                .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
                .collect(),
            last_reload_successful: !self.last_reload_failed.load(Ordering::Relaxed),
            last_reload_success_seconds: loaded
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64()),
            open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_house_answers_overloaded_after_the_wait() {
        let slots = Slots::new(1);
        let held = slots.acquire(SLOT_WAIT).await.unwrap();
        assert_eq!(slots.in_flight(), 1);
        let started = std::time::Instant::now();
        assert!(slots.acquire(Duration::from_millis(50)).await.is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(slots.acquire(Duration::from_millis(50)).await.is_some());
    }

    #[test]
    fn counters_add_up() {
        let s = Stats::default();
        s.probe("verify", ProbeResult::Success);
        s.probe("verify", ProbeResult::Success);
        s.probe("verify", ProbeResult::Failure);
        s.refused(Refusal::Forbidden);
        s.reloaded(ReloadResult::Failure, None);
        let snap = s.snapshot(&Slots::new(4));
        assert_eq!(snap.probes.len(), 2);
        assert!(
            snap.probes
                .contains(&("verify".into(), ProbeResult::Success, 2))
        );
        assert!(snap.refused.contains(&(Refusal::Forbidden, 1)));
        assert!(!snap.last_reload_successful);
    }
}
