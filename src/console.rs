//! retry-on's own stdout and stderr, which the command's output passes
//! through and retry-on's own lines share: writing to them, and starting
//! retry-on's lines on a line of their own.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

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
/// its own even when the command left its last line unfinished.
pub(crate) fn own_line(line: &str) {
    let text = match MID_LINE.swap(false, Ordering::Relaxed) {
        true => format!("\n{line}"),
        false => line.to_string(),
    };
    let _ = io::stderr().lock().write_all(text.as_bytes());
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
