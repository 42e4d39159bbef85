//! psql sessions held open on a cluster, for conditions that need connection slots in use
//! (too many clients, connections near the limit).

use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cluster::Cluster;

/// psql sessions kept open with `SELECT pg_sleep(60)` (so they end by themselves), killed on
/// drop. Each has `application_name` `pgr-hold-<n>` so the server log shows when it is in.
pub struct HeldSessions {
    children: Vec<Child>,
}

const HOLD_SECONDS: u32 = 60;
const HOLD_READY_TIMEOUT: Duration = Duration::from_secs(20);

impl HeldSessions {
    pub fn new() -> HeldSessions {
        HeldSessions {
            children: Vec::new(),
        }
    }

    /// Opens `n` more sessions as `user` (with `password`, if any) to `host` (an address, or
    /// the cluster's socket directory), and waits until the server log shows each one
    /// authorized. Needs `log_connections = on` (the harness sets it).
    pub fn hold(
        &mut self,
        cluster: &Cluster,
        n: usize,
        user: &str,
        password: Option<&str>,
        host: &str,
    ) {
        let first = self.children.len();
        for i in first..first + n {
            let mut c = cluster.pg_cmd("psql");
            c.args(["-X", "-h", host, "-p", &cluster.port().to_string()])
                .args(["-U", user, "-d", "postgres", "-c"])
                .arg(format!("SELECT pg_sleep({HOLD_SECONDS})"))
                .env("PGAPPNAME", format!("pgr-hold-{i}"))
                .env("PGCONNECT_TIMEOUT", "5")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(p) = password {
                c.env("PGPASSWORD", p);
            }
            let child = c
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start psql: {e}"));
            self.children.push(child);
        }
        let want = self.children.len();
        let deadline = Instant::now() + HOLD_READY_TIMEOUT;
        loop {
            let log = cluster.log();
            let authorized = (0..want)
                .filter(|i| {
                    let name = format!("application_name=pgr-hold-{i}");
                    log.lines().any(|l| {
                        l.contains("connection authorized")
                            && l.split_whitespace().any(|w| w == name)
                    })
                })
                .count();
            if authorized == want {
                return;
            }
            for (i, c) in self.children.iter_mut().enumerate() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "held session pgr-hold-{i} ended early ({status})\n--- server log ---\n{}",
                        cluster.log_tail_lines(30)
                    );
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "only {authorized} of {want} held sessions connected within \
                     {HOLD_READY_TIMEOUT:?}\n--- server log ---\n{}",
                    cluster.log_tail_lines(30)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HeldSessions {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
        }
        for c in &mut self.children {
            let _ = c.wait();
        }
    }
}
