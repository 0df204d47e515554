//! The exit-code mapping, in one place. It follows GNU timeout's conventions.

use std::process::ExitCode;

use nix::libc;
use nix::sys::resource::{Resource, setrlimit};

use crate::parse::AnySignal;

/// An attempt was stopped by `--timeout` or `--max-time`.
pub(crate) const TIMED_OUT: u8 = 124;
/// retry-on itself failed: a bad flag, regex, duration or config file.
pub(crate) const OWN_FAILURE: u8 = 125;
/// The command was found but could not be executed.
pub(crate) const CANNOT_EXECUTE: u8 = 126;
/// The command was not found.
pub(crate) const NOT_FOUND: u8 = 127;
/// retry-on could not write the command's output to its own stdout (a full
/// disk, an I/O error; not a closed pipe): what GNU tools exit with after a
/// write error (`cat > /dev/full`), and what the command alone would most
/// likely have exited with.
pub(crate) const WRITE_FAILED: u8 = 1;

/// How retry-on ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(u8),
    /// Die by this signal, as the command did, so that a shell sees 128+N
    /// and a script stops on Ctrl-C as it would without retry-on.
    Signal(AnySignal),
}

impl Exit {
    /// The status a shell reports for this exit (`$?`).
    pub(crate) fn shell_code(self) -> i32 {
        match self {
            Exit::Code(code) => i32::from(code),
            Exit::Signal(signal) => 128 + signal.number(),
        }
    }

    /// Ends the process this way: returns the code, or raises the signal on
    /// retry-on itself (with core dumps off, as GNU timeout does).
    pub(crate) fn into_exit_code(self) -> ExitCode {
        if let Exit::Signal(sig) = self {
            let _ = setrlimit(Resource::RLIMIT_CORE, 0, 0);
            let number = sig.number();
            // SAFETY: the default disposition installs no handler, and the
            // set is initialised by sigemptyset before it is read.
            unsafe {
                libc::signal(number, libc::SIG_DFL);
                let mut set = std::mem::zeroed::<libc::sigset_t>();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, number);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(number);
            }
        }
        // Reached for codes, and for signals whose default is not to terminate.
        ExitCode::from(self.shell_code().clamp(0, 255) as u8)
    }
}

impl Exit {
    /// How retry-on ends after this last attempt.
    pub(crate) fn of(outcome: &crate::policy::Outcome) -> Exit {
        use crate::policy::Ending;
        if outcome.interrupted == Some(AnySignal::INT) {
            return Exit::Signal(AnySignal::INT);
        }
        if outcome.output_failed.is_some() {
            return Exit::Code(WRITE_FAILED);
        }
        if outcome.stopped.is_some() {
            return Exit::Code(TIMED_OUT);
        }
        match outcome.ending {
            Ending::Exited(code) => Exit::Code(code.clamp(0, 255) as u8),
            Ending::Signaled(number) => match AnySignal::from_number(number) {
                Some(signal) => Exit::Signal(signal),
                None => Exit::Code((128 + number).clamp(0, 255) as u8),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Ending, Outcome, Stop};

    #[test]
    fn the_table() {
        assert_eq!(Exit::of(&Outcome::exited(3)), Exit::Code(3));
        let killed = Outcome {
            ending: Ending::Signaled(9),
            ..Outcome::exited(0)
        };
        assert_eq!(Exit::of(&killed), Exit::Signal(AnySignal::KILL));
        assert_eq!(Exit::Signal(AnySignal::KILL).shell_code(), 137);
        let timed_out = Outcome {
            ending: Ending::Signaled(15),
            stopped: Some(Stop::Timeout),
            ..Outcome::exited(0)
        };
        assert_eq!(Exit::of(&timed_out), Exit::Code(TIMED_OUT));
        let interrupted = Outcome {
            interrupted: Some(AnySignal::INT),
            ..Outcome::exited(0)
        };
        assert_eq!(Exit::of(&interrupted), Exit::Signal(AnySignal::INT));
        let handled_term = Outcome {
            interrupted: Some(AnySignal::TERM),
            ..Outcome::exited(3)
        };
        assert_eq!(Exit::of(&handled_term), Exit::Code(3));
    }
}
