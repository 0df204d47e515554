//! Job control that reaches retry-on but is meant for the command: Ctrl-Z
//! (SIGTSTP) and a new window size (SIGWINCH). The terminal sends both to
//! its foreground process group, which is retry-on's, while each attempt
//! (and hook) runs in a group of its own: without this, Ctrl-Z would stop
//! retry-on alone and leave the command running, and the command would
//! never hear of a resize. (An attempt lent the terminal gets both from it
//! directly; see `terminal`.)

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{Signal, raise};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};

use crate::platform::{is_ignored, send_signal};

/// The child running now: its process group's ID, or with `--foreground`
/// minus its pid (it is in retry-on's group); 0 when none runs.
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// Marks a child as the one running, until dropped.
pub(crate) struct Running(());

impl Running {
    /// The child `leader`, leading a group of its own if `whole`.
    pub(crate) fn new(leader: Pid, whole: bool) -> Running {
        let raw = leader.as_raw();
        RUNNING.store(if whole { raw } else { -raw }, Ordering::Relaxed);
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.store(0, Ordering::Relaxed);
    }
}

/// Sends `signal` to the running child, if one runs.
fn to_running(signal: Signal) {
    match RUNNING.load(Ordering::Relaxed) {
        0 => {}
        group if group > 0 => send_signal(Pid::from_raw(group), true, signal as i32),
        pid => send_signal(Pid::from_raw(-pid), false, signal as i32),
    }
}

/// Passes Ctrl-Z and window-size changes on to the running child, for the
/// rest of the run, by tasks of their own: Ctrl-Z stops the child, then
/// retry-on, as one job, and when the shell continues retry-on (`fg`,
/// `bg`), it continues the child. A signal that retry-on's parent made it
/// ignore stays ignored.
pub(crate) fn pass_on() -> io::Result<()> {
    if !is_ignored(Signal::SIGTSTP as i32) {
        let mut stop = signal(SignalKind::from_raw(Signal::SIGTSTP as i32))?;
        tokio::spawn(async move {
            while stop.recv().await.is_some() {
                to_running(Signal::SIGTSTP);
                // SIGSTOP, which cannot be caught: retry-on stops here.
                let _ = raise(Signal::SIGSTOP);
                to_running(Signal::SIGCONT);
            }
        });
    }
    if !is_ignored(Signal::SIGWINCH as i32) {
        let mut resized = signal(SignalKind::window_change())?;
        tokio::spawn(async move {
            while resized.recv().await.is_some() {
                to_running(Signal::SIGWINCH);
            }
        });
    }
    Ok(())
}
