//! A new window size (SIGWINCH), passed on to the running child. The
//! terminal sends it to its foreground process group, which is retry-on's,
//! while each attempt (and hook) runs in a group of its own: without this,
//! the command would never hear of a resize. (An attempt lent the terminal
//! is the foreground group and gets it directly; with `--foreground` the
//! command is in retry-on's group and gets it too.)
//!
//! Ctrl-Z (SIGTSTP) is not passed on: retry-on would have to stop itself as
//! the kernel stops a job (not at all in an orphaned process group, and
//! only once the command has stopped), from a signal handler, since its one
//! thread may be blocked writing output. It keeps its default: it stops
//! retry-on, and an attempt that has been lent the terminal (`terminal`).

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::platform::{is_ignored, send_signal};

/// The process group of the child running now, in a group of its own; 0
/// when none runs (or it runs in retry-on's group, with `--foreground`).
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// Marks a child as the one running, until dropped.
pub(crate) struct Running(());

impl Running {
    /// The child `leader`, leading a group of its own if `whole`.
    pub(crate) fn new(leader: Pid, whole: bool) -> Running {
        RUNNING.store(if whole { leader.as_raw() } else { 0 }, Ordering::Relaxed);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(0, Ordering::Relaxed);
    }
}

/// Passes window-size changes on to the running child's group, for the
/// rest of the run, by a task of its own. (A group, unlike a pid, stays
/// safe to signal after its leader was reaped.) If retry-on's parent made
/// it ignore SIGWINCH, it stays ignored.
pub(crate) fn pass_on() -> io::Result<()> {
    if is_ignored(Signal::SIGWINCH as i32) {
        return Ok(());
    }
    let mut resized = signal(SignalKind::window_change())?;
    tokio::spawn(async move {
        while resized.recv().await.is_some() {
            match RUNNING.load(Ordering::Relaxed) {
                0 => {}
                group => send_signal(Pid::from_raw(group), true, Signal::SIGWINCH as i32),
            }
        }
    });
    Ok(())
}
