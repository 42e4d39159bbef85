//! Servers in recovery, made for real: a standby started from a base backup of a primary,
//! in hot standby (answers queries, `in_hot_standby = on`), with `hot_standby = off` (answers
//! 57P03 "the database system is not accepting connections" / "Hot standby mode is
//! disabled."), or stuck before recovery even starts (57P03 "the database system is starting
//! up").
//!
//! ```ignore
//! let ns = Netns::new();
//! let primary = Cluster::start(&ns, replication_primary(ClusterSpec::new()));
//! let standby = start_standby(&ns, &primary, 5433, StandbyKind::Hot);
//! ```

use std::thread;
use std::time::{Duration, Instant};

use super::cluster::{BaseBackupSpec, Cluster, ClusterSpec};
use super::netns::Netns;

/// Bound on waiting for a standby to reach the state asked for.
pub const STANDBY_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which recovery state [`start_standby`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyKind {
    /// Hot standby: consistent, accepts read-only sessions; `pg_is_in_recovery()` is true and
    /// `in_hot_standby` is reported as `on` (PostgreSQL 14+).
    Hot,
    /// `hot_standby = off`: in recovery, every connection gets 57P03 "the database system is
    /// not accepting connections", detail "Hot standby mode is disabled.".
    HotStandbyOff,
    /// The backup holds no WAL (`-X none`) and `primary_conninfo` points at a closed port, so
    /// the startup process waits for the checkpoint record forever and the postmaster never
    /// leaves its startup state: 57P03 "the database system is starting up".
    StartingUp,
}

/// `spec` with what a primary needs for [`start_standby`], spelled out although PostgreSQL
/// 15's defaults already allow it: `wal_level = replica` and WAL senders. Its pg_hba.conf must
/// allow `host replication all 127.0.0.1/32 trust` (initdb's default does; add the line when
/// replacing pg_hba with [`ClusterSpec::hba`]).
pub fn replication_primary(spec: ClusterSpec) -> ClusterSpec {
    spec.conf("wal_level = replica\nmax_wal_senders = 4")
}

/// A standby of `primary` on `port` in the same namespace, in the state `kind` names; waits
/// (bounded) until it is there.
pub fn start_standby(ns: &Netns, primary: &Cluster, port: u16, kind: StandbyKind) -> Cluster {
    let mut spec = BaseBackupSpec::new(port);
    match kind {
        StandbyKind::Hot => spec.conf.push("hot_standby = on".into()),
        StandbyKind::HotStandbyOff => spec.conf.push("hot_standby = off".into()),
        StandbyKind::StartingUp => {
            spec.include_wal = false;
            spec.wait = false;
            spec.auto_conf
                .push("primary_conninfo = 'host=127.0.0.1 port=1 connect_timeout=1'".into());
            spec.conf.push("wal_retrieve_retry_interval = 1s".into());
        }
    }
    let standby = Cluster::from_base_backup(ns, primary, spec);
    match kind {
        // 0: accepting connections (consistent, hot standby open).
        StandbyKind::Hot => {
            wait_isready(&standby, 0, "hot standby accepting connections");
            let in_recovery = standby.psql("SELECT pg_is_in_recovery()");
            assert_eq!(in_recovery, "t", "the standby is in recovery");
        }
        // 1: rejecting connections (the postmaster answers with 57P03).
        StandbyKind::HotStandbyOff | StandbyKind::StartingUp => {
            wait_isready(&standby, 1, "standby rejecting connections with 57P03")
        }
    }
    standby
}

/// Polls `pg_isready -h 127.0.0.1` until it exits `code` (0 accepting, 1 rejecting, 2 no
/// response); panics with the server log after [`STANDBY_READY_TIMEOUT`].
pub fn wait_isready(cluster: &Cluster, code: i32, what: &str) {
    let deadline = Instant::now() + STANDBY_READY_TIMEOUT;
    loop {
        let got = cluster.pg_isready("127.0.0.1");
        if got == code {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{what}: pg_isready still exits {got}, not {code}, after {STANDBY_READY_TIMEOUT:?}\n\
                 --- server log (tail) ---\n{}",
                cluster.log_tail_lines(40)
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}
