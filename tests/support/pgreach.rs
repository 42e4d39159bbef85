//! Running the pgreach binary under test, hermetically and with a hard timeout.

use std::fmt;
use std::process::Command;
use std::time::Duration;

use super::netns::Netns;
use super::process::{CLEAN_PATH, Captured, run};

/// Hard limit for one pgreach run; past it the run is killed and the test panics.
pub const PGREACH_TIMEOUT: Duration = Duration::from_secs(60);

/// The deadline [`run_within_deadline`] gives pgreach (`--connect-timeout 2`): behaviour.
pub const DEADLINE: Duration = Duration::from_secs(2);
/// What a run may take beyond [`DEADLINE`]: process start and scheduling on a loaded machine.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// What one pgreach run produced.
#[derive(Debug, Clone)]
pub struct PgreachRun {
    /// Exit code (128 + signal if killed by a signal).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl PgreachRun {
    /// stdout parsed as JSON; panics with stdout and stderr if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("pgreach stdout is not JSON: {e}\n{self}"))
    }

    /// Panics with the whole run unless the exit code is `code`.
    #[track_caller]
    pub fn expect_status(&self, code: i32) -> &Self {
        assert_eq!(self.status, code, "unexpected pgreach exit code\n{self}");
        self
    }
}

impl fmt::Display for PgreachRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pgreach exit {} after {:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs pgreach with `args`, inside `ns` if given, with a cleared environment: only PATH,
/// HOME (a fresh empty temp dir, so no ~/.postgresql or ~/.pgpass leaks in) and `env`.
/// Panics if it runs longer than [`PGREACH_TIMEOUT`].
pub fn run_pgreach(ns: Option<&Netns>, args: &[&str], env: &[(&str, &str)]) -> PgreachRun {
    run_pgreach_with_timeout(ns, args, env, PGREACH_TIMEOUT)
}

/// `pgreach --json --connect-timeout 2 --quiet-server EXTRA… TARGET` (inside `ns` if given):
/// one connection per address, so one [`DEADLINE`], which the run must keep (within
/// [`DEADLINE_MARGIN`]). Returns the run and its report.
#[track_caller]
pub fn run_within_deadline(
    ns: Option<&Netns>,
    target: &str,
    extra: &[&str],
) -> (PgreachRun, serde_json::Value) {
    let mut args = vec!["--json", "--connect-timeout", "2", "--quiet-server"];
    args.extend_from_slice(extra);
    args.push(target);
    let run = run_pgreach(ns, &args, &[]);
    assert!(
        run.elapsed < DEADLINE + DEADLINE_MARGIN,
        "pgreach took {:?}, over the deadline {DEADLINE:?} + {DEADLINE_MARGIN:?}\n{run}",
        run.elapsed
    );
    let report = run.json();
    (run, report)
}

/// [`run_pgreach`] with a different hard timeout.
pub fn run_pgreach_with_timeout(
    ns: Option<&Netns>,
    args: &[&str],
    env: &[(&str, &str)],
    timeout: Duration,
) -> PgreachRun {
    let (mut cmd, _home) = pgreach_command(ns, args, env);
    let out = run(&mut cmd, timeout);
    if out.timed_out {
        panic!(
            "pgreach did not finish within {timeout:?}\n{}",
            out.describe()
        );
    }
    PgreachRun::from(out)
}

/// The hermetic command [`run_pgreach`] runs, for a test that must set it up further (a
/// terminal, say) before running it; keep the returned HOME until the run is over.
pub fn pgreach_command(
    ns: Option<&Netns>,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Command, tempfile::TempDir) {
    super::netns::cleanup_stale_once();
    let bin = env!("CARGO_BIN_EXE_pgreach");
    let home = tempfile::Builder::new()
        .prefix(&format!("pgr-home-{}-", std::process::id()))
        .tempdir()
        .expect("temp HOME");
    let mut cmd = match ns {
        Some(ns) => ns.cmd(bin),
        None => Command::new(bin),
    };
    cmd.args(args)
        .env_clear()
        .env("PATH", CLEAN_PATH)
        .env("HOME", home.path())
        .current_dir(home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd, home)
}

impl From<Captured> for PgreachRun {
    fn from(out: Captured) -> PgreachRun {
        PgreachRun {
            status: out.code(),
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
            elapsed: out.elapsed,
        }
    }
}
