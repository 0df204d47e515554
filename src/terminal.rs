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

use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, raise, sigprocmask};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::{Pid, getpgrp, isatty, tcgetpgrp, tcsetpgrp};

/// The terminal on retry-on's stdin, stdout or stderr.
pub struct Terminal {
    fd: i32,
    own_group: Pid,
}

impl Terminal {
    pub fn find() -> Option<Terminal> {
        let fd = [0, 2, 1].into_iter().find(|fd| isatty(borrow(*fd)).unwrap_or(false))?;
        Some(Terminal {
            fd,
            own_group: getpgrp(),
        })
    }

    fn foreground(&self) -> Option<Pid> {
        tcgetpgrp(borrow(self.fd)).ok()
    }

    fn set_foreground(&self, group: Pid) {
        // From a background group this would stop retry-on with SIGTTOU,
        // unless that is blocked while it happens.
        let mut ttou = SigSet::empty();
        ttou.add(Signal::SIGTTOU);
        let mut old = SigSet::empty();
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
        let _ = tcsetpgrp(borrow(self.fd), group);
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }

    /// Looks at the attempt (process group `group`, led by `group`): if the
    /// terminal stopped it and retry-on has the terminal, lends it; if it was
    /// suspended (Ctrl-Z) while it had the terminal, suspends retry-on too
    /// until `fg`, then lends the terminal again. Returns whether it lent it.
    pub fn watch(&self, group: Pid, lent: bool) -> bool {
        let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        let Ok(WaitStatus::Stopped(_, signal)) = waitid(Id::Pid(group), flags) else {
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
    pub fn take_back(&self) {
        self.set_foreground(self.own_group);
    }
}

fn borrow(fd: i32) -> BorrowedFd<'static> {
    // SAFETY: fds 0 to 2 stay open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
