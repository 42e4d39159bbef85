//! Bounded execution of child processes: every command the harness runs has a deadline.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// PATH given to every child whose environment the harness clears.
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a bounded command produced.
#[derive(Debug, Clone)]
pub struct Captured {
    /// `None` only if the process could not be reaped after being killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The deadline passed and the process was killed.
    pub timed_out: bool,
    pub elapsed: Duration,
    /// `{:?}` of the command, for messages.
    pub command: String,
}

impl Captured {
    /// Exit code as a shell reports it: the code, or 128 + signal number, or -1.
    pub fn code(&self) -> i32 {
        exit_code(self.status)
    }

    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A multi-line description for panic messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nexit: {}{} after {:.2?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code(),
            if self.timed_out {
                " (TIMED OUT, killed)"
            } else {
                ""
            },
            self.elapsed,
            self.stdout_str(),
            self.stderr_str()
        )
    }

    /// Panics (with [`Captured::describe`] and `what`) unless the command succeeded.
    pub fn ok(self, what: &str) -> Captured {
        if !self.success() {
            panic!("{what} failed\n{}", self.describe());
        }
        self
    }
}

pub fn exit_code(status: Option<ExitStatus>) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => c,
            (None, Some(sig)) => 128 + sig,
            _ => -1,
        },
        None => -1,
    }
}

/// Runs `cmd` with stdin from /dev/null and captured stdout/stderr, killing it after `timeout`.
/// Returns `Err` only if the process could not be started. Never panics, so it is safe in `Drop`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<Captured> {
    let command = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let out_buf = Arc::new(Mutex::new(Vec::new()));
    let err_buf = Arc::new(Mutex::new(Vec::new()));
    let mut readers = 0;
    if let Some(pipe) = child.stdout.take() {
        spawn_reader(pipe, out_buf.clone(), done_tx.clone());
        readers += 1;
    }
    if let Some(pipe) = child.stderr.take() {
        spawn_reader(pipe, err_buf.clone(), done_tx.clone());
        readers += 1;
    }
    drop(done_tx);

    let deadline = start + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(_) => break None,
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };

    // Wait (bounded) for the readers to hit EOF; a grandchild holding the pipe must not hang us.
    let drain_deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..readers {
        let left = drain_deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }

    let stdout = out_buf.lock().map(|b| b.clone()).unwrap_or_default();
    let stderr = err_buf.lock().map(|b| b.clone()).unwrap_or_default();
    Ok(Captured {
        status,
        stdout,
        stderr,
        timed_out,
        elapsed: start.elapsed(),
        command,
    })
}

fn spawn_reader<R: Read + Send + 'static>(
    mut pipe: R,
    buf: Arc<Mutex<Vec<u8>>>,
    done: mpsc::Sender<()>,
) {
    thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = buf.lock() {
                        b.extend_from_slice(&chunk[..n]);
                    }
                }
            }
        }
        let _ = done.send(());
    });
}

/// [`run_with_timeout`] that panics if the command cannot be started.
pub fn run(cmd: &mut Command, timeout: Duration) -> Captured {
    let desc = format!("{cmd:?}");
    run_with_timeout(cmd, timeout).unwrap_or_else(|e| panic!("cannot start {desc}: {e}"))
}

/// [`run`] that also panics unless the command exits 0; returns its stdout.
pub fn run_ok(cmd: &mut Command, timeout: Duration, what: &str) -> String {
    run(cmd, timeout).ok(what).stdout_str()
}

/// The first line of `BINARY --version`, e.g. `PgBouncer 1.18.0`.
pub fn version_line(binary: &str) -> String {
    let what = format!("{binary} --version");
    let out = run_ok(
        Command::new(binary).arg("--version"),
        Duration::from_secs(10),
        &what,
    );
    out.lines().next().unwrap_or_default().trim().to_owned()
}
