//! The calls that are specific to Linux, each with a portable fallback, so
//! that a port to another Unix is this one file's work. Only Linux is built
//! and tested today.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::signal::{SigSet, SigmaskHow, Signal, killpg, sigprocmask};
use nix::unistd::{Pid, tcgetpgrp, tcsetpgrp};

/// Whether any process of the group is alive. Zombies do not count: init
/// may take a while to reap orphans, and `kill(-pgid, 0)` still finds them.
pub fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None).is_err() {
        return false;
    }
    living_member(pgid).unwrap_or(true)
}

/// Whether `/proc` shows a member of the group that is not a zombie; `None`
/// where `/proc` cannot be read.
#[cfg(target_os = "linux")]
fn living_member(pgid: Pid) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the command name, which is in parentheses: state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid.as_raw()) && state != "Z" && state != "X"
    }))
}

#[cfg(not(target_os = "linux"))]
fn living_member(_pgid: Pid) -> Option<bool> {
    None
}

/// Asks for a larger pipe, so that the command can write ahead while a
/// chunk is passed on. Best effort: the default works too.
pub fn grow_pipe(pipe: BorrowedFd<'_>, bytes: i32) {
    #[cfg(target_os = "linux")]
    let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(bytes));
    #[cfg(not(target_os = "linux"))]
    let _ = (pipe, bytes);
}

/// How many bytes are waiting to be read from a pipe (FIONREAD); 0 if unknown.
pub fn pending_bytes(pipe: BorrowedFd<'_>) -> usize {
    let mut pending: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let ok = unsafe { nix::libc::ioctl(pipe.as_raw_fd(), nix::libc::FIONREAD, &mut pending) } == 0;
    if ok { usize::try_from(pending).unwrap_or(0) } else { 0 }
}

/// The signal that stopped process `pid`, if it is stopped, without reaping
/// or consuming the stop (waitid with WNOWAIT).
pub fn stopped_by(pid: Pid) -> Option<Signal> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Stopped(_, signal)) => Some(signal),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The terminal's foreground process group.
pub fn foreground_group(terminal: impl AsFd) -> Option<Pid> {
    tcgetpgrp(terminal).ok()
}

/// Makes `group` the terminal's foreground group. From a background group
/// this would stop retry-on with SIGTTOU, unless that is blocked meanwhile.
pub fn set_foreground_group(terminal: impl AsFd, group: Pid) {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
    let _ = tcsetpgrp(terminal, group);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}
