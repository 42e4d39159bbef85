//! Pseudo-terminals for tests of what pgreach does on a terminal: the sweep's progress bar on
//! stderr, the `-W` password prompt on the controlling terminal. No `unsafe`: nix opens the pair
//! and reads the terminal's modes; util-linux's `setsid --ctty` makes it a controlling terminal.

use std::os::fd::OwnedFd;
use std::process::Command;

use nix::pty::{Winsize, openpty as nix_openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};

/// A pseudo-terminal pair of 24 rows by 100 columns: (master, slave).
pub fn openpty() -> (std::fs::File, OwnedFd) {
    // A width, so that a progress bar has room to draw in.
    let size = Winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix_openpty(Some(&size), None).expect("openpty");
    (std::fs::File::from(pty.master), pty.slave)
}

/// Makes `slave` the controlling terminal of the process `cmd` starts (a new session), so
/// that it opens `/dev/tty` there, as a program run from a shell does: `cmd` becomes
/// `sh -c 'exec setsid --ctty --wait PROGRAM ARGS < /dev/pts/N'`, whatever stdin the caller
/// gives it later. The environment is carried over as `cmd` set it (the harness's commands
/// start from an empty one).
pub fn controlling_terminal(cmd: &mut Command, slave: &OwnedFd) {
    let tty = nix::unistd::ttyname(slave).expect("the terminal's name");
    let mut wrapped = Command::new("/bin/sh");
    wrapped
        .arg("-c")
        .arg("tty=$1; shift; exec /usr/bin/setsid --ctty --wait \"$@\" < \"$tty\"")
        .arg("sh")
        .arg(tty)
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    *cmd = wrapped;
}

/// Whether the terminal echoes what is typed (its `ECHO` flag), read through the master: on
/// Linux the master's TCGETS reports the slave's settings.
pub fn echoes(master: &std::fs::File) -> bool {
    let termios = tcgetattr(master).expect("tcgetattr");
    termios.local_flags.contains(LocalFlags::ECHO)
}
