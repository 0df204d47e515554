//! Lending retry-on's terminal to an attempt that needs it.
//!
//! Each attempt runs in a process group of its own, which the kernel stops
//! (SIGTTIN, SIGTTOU) when it reads the terminal or changes its settings: a
//! password or MFA prompt, say. When retry-on sees that, and it is itself in
//! the terminal's foreground, it makes the attempt's group the foreground
//! group and continues it, as a shell does for a job brought to the
//! foreground. Ctrl-C then goes to the command; Ctrl-Z stops the command and
//! retry-on with it, and `fg` gives the terminal back to the command.

use std::os::fd::BorrowedFd;

use nix::sys::signal::{Signal, killpg, raise};
use nix::unistd::{Pid, getpgrp, isatty};

use crate::platform::{foreground_group, set_foreground_group, stopped_by};

/// The terminal on retry-on's stdin, stdout or stderr.
pub(crate) struct Terminal {
    fd: i32,
    own_group: Pid,
}

impl Terminal {
    pub(crate) fn find() -> Option<Terminal> {
        let fd = [0, 2, 1].into_iter().find(|fd| isatty(borrow(*fd)).unwrap_or(false))?;
        Some(Terminal {
            fd,
            own_group: getpgrp(),
        })
    }

    fn foreground(&self) -> Option<Pid> {
        foreground_group(borrow(self.fd))
    }

    fn set_foreground(&self, group: Pid) {
        set_foreground_group(borrow(self.fd), group);
    }

    /// Looks at the attempt (process group `group`, led by `group`): if the
    /// terminal stopped it and retry-on has the terminal, lends it; if it was
    /// suspended (Ctrl-Z) while it had the terminal, suspends retry-on too
    /// until `fg`, then lends the terminal again. Returns whether it lent it.
    pub(crate) fn watch(&self, group: Pid, lent: bool) -> bool {
        let Some(signal) = stopped_by(group) else {
            return false;
        };
        match signal {
            Signal::SIGTTIN | Signal::SIGTTOU if self.foreground() == Some(self.own_group) => {}
            Signal::SIGTSTP | Signal::SIGSTOP if lent => {
                self.set_foreground(self.own_group);
                // Stop as the job the shell knows; `fg` continues retry-on here.
                let _ = raise(Signal::SIGTSTP);
                if self.foreground() != Some(self.own_group) {
                    // Continued in the background (`bg`): the command may go on without the terminal.
                    let _ = killpg(group, Signal::SIGCONT);
                    return false;
                }
            }
            _ => return false,
        }
        self.set_foreground(group);
        let _ = killpg(group, Signal::SIGCONT);
        true
    }

    /// Takes the terminal back after an attempt that had it.
    pub(crate) fn take_back(&self) {
        self.set_foreground(self.own_group);
    }
}

fn borrow(fd: i32) -> BorrowedFd<'static> {
    // SAFETY: fds 0 to 2 stay open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
