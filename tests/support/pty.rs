//! Pseudo-terminals for tests of what pgreach does on a terminal: the sweep's progress bar on
//! stderr, the `-W` password prompt on the controlling terminal.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A pseudo-terminal pair of 24 rows by 100 columns: (master, slave).
pub fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // A width, so that a progress bar has room to draw in.
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two descriptors it opened; name and termios may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened by openpty and are owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

/// Makes `slave` the controlling terminal of the process `cmd` starts (a new session), so
/// that it opens `/dev/tty` there, as a program run from a shell does. `slave` must stay open
/// until the process has started.
pub fn controlling_terminal(cmd: &mut Command, slave: &OwnedFd) {
    let fd = slave.as_raw_fd();
    // SAFETY: setsid and ioctl are async-signal-safe, as a pre_exec closure requires.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Whether the terminal echoes what is typed (its `ECHO` flag), read through the master: on
/// Linux the master's TCGETS reports the slave's settings.
pub fn echoes(master: &std::fs::File) -> bool {
    // SAFETY: termios is plain data, filled in by tcgetattr.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a termios to write into.
    let rc = unsafe { libc::tcgetattr(master.as_raw_fd(), &mut termios) };
    assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
    termios.c_lflag & libc::ECHO != 0
}
