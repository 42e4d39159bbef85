//! Integration-test harness for pgreach: real PostgreSQL 15 clusters (and PgBouncer or pgpool-II in
//! front of them) in private network namespaces, a scripted fake server for hostile peers, a replay
//! server for recorded captures, and a hermetic way to run the binary. Real components, not
//! mocks: the fake server plays only what no real server does. Use from a test file with
//! `mod support;`.
//!
//! Requirements (installed by ./scripts/test when run as root): root, `ip` (iproute2),
//! PostgreSQL 15 under /usr/lib/postgresql/15/bin, `nft` (nftables) for [`Netns::drop_tcp_port`];
//! for other majors ([`ClusterSpec::version`]) the npm builds scripts/fetch-postgres installs,
//! gcc for the libpq judge ([`Libpq`]), and Debian's pgpool2 for [`Pgpool`].
//!
//! Every wait is bounded; everything a test creates is removed by `Drop`, also on panic.
//! Declare the namespace before the cluster (`let ns = Netns::new(); let c = Cluster::start(&ns,
//! ..);`) so the cluster is stopped before its namespace is deleted.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod dns;
pub mod fake;
pub mod files;
pub mod held;
pub mod libpq;
pub mod netns;
pub mod pgbouncer;
pub mod pgdist;
pub mod pgpool;
pub mod pgreach;
pub mod process;
pub mod pty;
pub mod replay;
pub mod report;
pub mod standby;
pub mod tls;

pub use cluster::{
    BaseBackupSpec, Cluster, ClusterSpec, DEFAULT_CERT_NAMES, PG_BIN, pg_bin, quote_ident,
    quote_literal,
};
pub use dns::{DnsServer, DnsZone, blackhole_resolver};
pub use fake::{FakeOptions, FakeServer, Step, backend_message, s_then_injected_bytes};
pub use held::HeldSessions;
pub use libpq::{Connected, Libpq, Parsed};
pub use netns::Netns;
pub use pgbouncer::{PgBouncer, PgBouncerSpec};
pub use pgdist::{MAJORS, NpmBuild, PgDist};
pub use pgpool::{Pgpool, PgpoolSpec};
pub use pgreach::{
    DEADLINE, DEADLINE_MARGIN, PGREACH_TIMEOUT, PgreachRun, pgreach_command, run_pgreach,
    run_pgreach_with_timeout, run_within_deadline,
};
pub use process::{Captured, run_with_timeout};
pub use replay::{ReplayOutcome, ReplayServer};
pub use report::{
    address, assert_exit_follows_findings, assert_no_finding, assert_null, at, codes, finding, get,
    home_as_tilde, setting, strings,
};
pub use standby::{StandbyKind, replication_primary, start_standby, wait_isready};
pub use tls::{IssuedCert, TestCa};
