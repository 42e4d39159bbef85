//! What keeps a sweep polite and alive: the global rate of new connections (a token bucket),
//! a cap per server IP, and the file-descriptor budget (raised at start, and waited on rather
//! than failed when it runs out).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// A token bucket in its "virtual scheduling" form (GCRA): each reservation is given the
/// moment it may start, so waiters are served in order and nobody polls. `burst` tokens may be
/// spent at once after an idle period.
#[derive(Debug)]
pub struct TokenBucket {
    /// Time one token takes to refill.
    per_token: Duration,
    /// How far behind "now" the schedule may lag: the burst allowance.
    burst: Duration,
    /// When the next reservation may start, if the bucket were empty.
    next: Option<Instant>,
}

impl TokenBucket {
    /// `rate` tokens per second (> 0), with a burst of `burst` tokens (at least 1).
    pub fn new(rate: f64, burst: f64) -> TokenBucket {
        let per_token = Duration::from_secs_f64(1.0 / rate);
        TokenBucket {
            per_token,
            burst: per_token.mul_f64((burst - 1.0).max(0.0)),
            next: None,
        }
    }

    /// Reserves `cost` tokens; returns when the caller may go ahead (possibly `now`).
    pub fn reserve(&mut self, now: Instant, cost: u32) -> Instant {
        let earliest = now.checked_sub(self.burst).unwrap_or(now);
        let start = self.next.map_or(now, |n| n.max(earliest));
        self.next = Some(start + self.per_token * cost);
        start.max(now)
    }
}

/// The bucket shared by every task of a sweep; `None` rate means unlimited.
#[derive(Clone)]
pub struct Rate(Option<Arc<Mutex<TokenBucket>>>);

impl Rate {
    pub fn new(per_second: f64) -> Rate {
        if per_second > 0.0 && per_second.is_finite() {
            // A tenth of a second's worth of burst: smooth, yet not one wakeup per token.
            let burst = (per_second / 10.0).max(1.0);
            Rate(Some(Arc::new(Mutex::new(TokenBucket::new(
                per_second, burst,
            )))))
        } else {
            Rate(None)
        }
    }

    /// Waits until `cost` new connections may be opened.
    pub async fn acquire(&self, cost: u32) {
        let Some(bucket) = &self.0 else { return };
        let at = match bucket.lock() {
            Ok(mut b) => b.reserve(Instant::now(), cost),
            Err(poisoned) => poisoned.into_inner().reserve(Instant::now(), cost),
        };
        tokio::time::sleep_until(at).await;
    }
}

/// At most `per_host` probes of one IP at a time. Entries disappear when their last user
/// leaves, so a sweep over a million addresses does not keep a million semaphores.
#[derive(Clone)]
pub struct PerHost {
    per_host: usize,
    map: Arc<Mutex<HostMap>>,
}

/// Per IP: how many tasks hold or wait for a slot, and the slots.
type HostMap = HashMap<IpAddr, (usize, Arc<Semaphore>)>;

/// Holds one of a host's slots; gives it back (and maybe the map entry) on drop.
pub struct HostSlot {
    _permit: OwnedSemaphorePermit,
    _user: HostUser,
}

/// Counts as a user of a host's entry from before the wait until the slot is dropped, so a
/// wait that is cancelled (deadline, Ctrl-C) still gives its count back.
struct HostUser {
    ip: IpAddr,
    owner: PerHost,
}

impl PerHost {
    pub fn new(per_host: usize) -> PerHost {
        PerHost {
            per_host: per_host.max(1),
            map: Arc::default(),
        }
    }

    pub async fn acquire(&self, ip: IpAddr) -> HostSlot {
        let sem = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let entry = map
                .entry(ip)
                .or_insert_with(|| (0, Arc::new(Semaphore::new(self.per_host))));
            entry.0 += 1;
            entry.1.clone()
        };
        let user = HostUser {
            ip,
            owner: self.clone(),
        };
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = match sem.acquire_owned().await {
            Ok(p) => p,
            Err(_) => unreachable!("per-host semaphores are never closed"),
        };
        HostSlot {
            _permit: permit,
            _user: user,
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

impl Drop for HostUser {
    fn drop(&mut self) {
        let mut map = self.owner.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = map.get_mut(&self.ip) {
            entry.0 -= 1;
            if entry.0 == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
pub fn raise_nofile() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

/// Descriptors kept back for stdout, the resolver, the runtime and the TLS trust store.
pub const FD_RESERVE: u64 = 64;

/// Running out of descriptors: the sweep waits for a probe in flight to finish, then tries
/// again, instead of reporting the target as failed. The limit can shrink under a running
/// sweep (`prlimit`, other descriptors of the process, ENFILE for the whole system), so this is
/// decided per connect, not only at start.
#[derive(Clone, Default)]
pub struct FdGate {
    finished: Arc<Notify>,
    /// A probe met EMFILE/ENFILE and no canary socket has opened since: check before
    /// connecting. Clear most of the time, when checking would cost two syscalls per probe.
    short: Arc<AtomicBool>,
    /// How many times a probe had to wait (reported in the summary).
    pub waits: Arc<AtomicU64>,
}

impl FdGate {
    /// Called whenever an address probe completes.
    pub fn release(&self) {
        self.finished.notify_waiters();
    }

    /// Returns at once unless descriptors ran out recently; then waits until one can be
    /// opened: a socket is created (and closed at once) as a canary, and EMFILE/ENFILE means
    /// waiting for in-flight work to finish.
    pub async fn ready(&self) {
        while self.short.load(Ordering::Relaxed) {
            match socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None) {
                Err(e) if is_out_of_descriptors(&e) => self.slow_down().await,
                _ => self.short.store(false, Ordering::Relaxed),
            }
        }
    }

    /// Waits for a probe in flight to finish (bounded: descriptors may be held elsewhere).
    /// Called when a connect failed for want of a descriptor.
    pub async fn slow_down(&self) {
        self.short.store(true, Ordering::Relaxed);
        self.waits.fetch_add(1, Ordering::Relaxed);
        let _ = tokio::time::timeout(Duration::from_millis(200), self.finished.notified()).await;
    }
}

/// EMFILE (this process) or ENFILE (the whole system).
pub fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_spaces_reservations_after_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0);
        // The first reservation fixes the schedule; then 100 ms per token.
        let starts: Vec<_> = (0..5).map(|_| b.reserve(t0, 1) - t0).collect();
        let ms: Vec<u128> = starts.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [0, 100, 200, 300, 400]);
        // A cost of 2 takes two tokens' time.
        let mut b = TokenBucket::new(10.0, 1.0);
        assert_eq!(b.reserve(t0, 2), t0);
        assert_eq!((b.reserve(t0, 2) - t0).as_millis(), 200);
    }

    #[test]
    fn bucket_allows_a_burst_after_idling_but_no_more() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 3.0);
        b.reserve(t0, 1);
        // Ten seconds idle: three tokens are immediately available, the fourth waits.
        let later = t0 + Duration::from_secs(10);
        let waits: Vec<u128> = (0..4)
            .map(|_| (b.reserve(later, 1) - later).as_millis())
            .collect();
        assert_eq!(waits, [0, 0, 0, 100]);
    }

    #[test]
    fn bucket_rate_over_a_long_run() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50.0, 5.0);
        let last = (0..500).map(|_| b.reserve(t0, 1)).last().unwrap();
        // 500 tokens at 50/s: the last may start after 499 refills, to the millisecond.
        assert_eq!((last - t0).as_millis(), 9980);
    }

    #[tokio::test]
    async fn per_host_slots_are_bounded_and_forgotten() {
        let hosts = PerHost::new(2);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = hosts.acquire(ip).await;
        let b = hosts.acquire(ip).await;
        let third = tokio::time::timeout(Duration::from_millis(50), hosts.acquire(ip)).await;
        assert!(third.is_err(), "a third slot must wait");
        let other = hosts.acquire("127.0.0.2".parse().unwrap()).await;
        drop(a);
        let c = tokio::time::timeout(Duration::from_secs(1), hosts.acquire(ip))
            .await
            .expect("a freed slot is reusable");
        drop((b, c, other));
        assert_eq!(hosts.tracked(), 0);
    }

    #[tokio::test]
    async fn the_gate_checks_only_after_descriptors_ran_out() {
        let gate = FdGate::default();
        // Nothing ran out: no wait, nothing counted.
        tokio::time::timeout(Duration::from_millis(50), gate.ready())
            .await
            .expect("an open gate does not wait");
        assert_eq!(gate.waits.load(Ordering::Relaxed), 0);
        // A connect met EMFILE: the probe waits for a release (or 200 ms), then the canary
        // opens (descriptors are plentiful here) and the gate is open again.
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.slow_down().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(gate.short.load(Ordering::Relaxed));
        gate.release();
        tokio::time::timeout(Duration::from_millis(150), waiter)
            .await
            .expect("a release ends the wait before its 200 ms bound")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(1), gate.ready())
            .await
            .expect("the canary opens");
        assert!(!gate.short.load(Ordering::Relaxed));
        assert_eq!(gate.waits.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn descriptor_errors_are_recognised_by_errno() {
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            nix::libc::EMFILE
        )));
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(
            nix::libc::ENFILE
        )));
        assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(
            nix::libc::ECONNREFUSED
        )));
    }
}
