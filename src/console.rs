//! retry-on's own stdout and stderr, which the command's output passes
//! through and retry-on's own lines share: writing to them, and starting
//! retry-on's lines on a line of their own.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::platform::file_ends_mid_line;

/// Whether the last byte passed on to retry-on's stderr ended a line.
static MID_LINE: AtomicBool = AtomicBool::new(false);

/// Where the command's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sink {
    Stdout,
    Stderr,
    /// Retry-on's stdout, which is also its stderr (`>log 2>&1`).
    Both,
}

/// Passes the command's bytes on, and notes whether a line is left open
/// where retry-on's own lines go.
pub(crate) fn pass_on(sink: Sink, data: &[u8]) -> io::Result<()> {
    let written = match sink {
        Sink::Stdout | Sink::Both => write_fully(io::stdout().as_fd(), data),
        Sink::Stderr => write_fully(io::stderr().as_fd(), data),
    };
    if sink != Sink::Stdout
        && written.is_ok()
        && let Some(last) = data.last()
    {
        MID_LINE.store(*last != b'\n', Ordering::Relaxed);
    }
    written
}

/// Writes one of retry-on's own lines to stderr, in one write, on a line of
/// its own even when the command left its last line unfinished: as the
/// file says, when stderr is a regular file (the command may have written
/// to it directly), else as the bytes passed on through retry-on say.
pub(crate) fn own_line(line: &str) {
    let passed_mid_line = MID_LINE.swap(false, Ordering::Relaxed);
    let mid_line = file_ends_mid_line(io::stderr().as_fd()).unwrap_or(passed_mid_line);
    let text = match mid_line {
        true => format!("\n{line}"),
        false => line.to_string(),
    };
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Whether retry-on can know where the command's last line on stderr ended
/// only by passing it on: stderr is not a terminal, whose contents nobody
/// can read back, nor a regular file, which can be.
pub(crate) fn line_ends_need_passing() -> bool {
    let stderr = io::stderr();
    !nix::unistd::isatty(stderr.as_fd()).unwrap_or(false) && file_ends_mid_line(stderr.as_fd()).is_none()
}

/// Writes all of `data` to one of retry-on's own output streams, which may
/// have been left non-blocking by whoever shares it.
fn write_fully(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
