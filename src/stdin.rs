//! Giving every attempt the same stdin.
//!
//! A terminal, a character device such as /dev/null, or a run of one attempt
//! is inherited as it is. A regular file is inherited and rewound before each
//! attempt. Anything else (a pipe, a socket) is read only as fast as the
//! first attempt consumes it, kept in a [`SpillBuffer`], and replayed to
//! every later attempt through a pipe of its own.

use std::fs::File;
use std::io::{self, Read};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{SFlag, fstat};
use nix::unistd::{Whence, isatty, lseek};

use crate::spool::SpillBuffer;

const CHUNK: usize = 64 * 1024;

pub enum Stdin {
    Inherit,
    /// A regular file, rewound to this offset before each attempt.
    Rewind(i64),
    Replay(Arc<Replay>),
}

impl Stdin {
    pub fn prepare(attempts: u32) -> Stdin {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if attempts == 1 || isatty(fd).unwrap_or(false) {
            return Stdin::Inherit;
        }
        let Ok(stat) = fstat(fd) else { return Stdin::Inherit };
        let kind = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
        if kind == SFlag::S_IFREG
            && let Ok(offset) = lseek(fd, 0, Whence::SeekCur)
        {
            return Stdin::Rewind(offset);
        }
        if kind == SFlag::S_IFCHR || kind == SFlag::S_IFDIR {
            return Stdin::Inherit;
        }
        Stdin::Replay(Arc::new(Replay::default()))
    }

    /// The child's stdin for the next attempt.
    pub fn for_attempt(&self) -> Stdio {
        match self {
            Stdin::Inherit => Stdio::inherit(),
            Stdin::Rewind(offset) => {
                let _ = lseek(io::stdin().as_fd(), *offset, Whence::SeekSet);
                Stdio::inherit()
            }
            Stdin::Replay(_) => Stdio::piped(),
        }
    }

    /// Starts feeding an attempt's stdin pipe; the feeding stops when the
    /// returned guard is dropped.
    pub fn feed(&self, pipe: Option<OwnedFd>) -> Option<Feeding> {
        let (Stdin::Replay(replay), Some(pipe)) = (self, pipe) else {
            return None;
        };
        let done = Arc::new(AtomicBool::new(false));
        let (replay, flag) = (Arc::clone(replay), Arc::clone(&done));
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || replay.pump(pipe, &flag))
            .ok()
            .map(|_| Feeding { done })
    }
}

pub struct Feeding {
    done: Arc<AtomicBool>,
}

impl Drop for Feeding {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct Replay {
    state: Mutex<Spooled>,
    grew: Condvar,
}

#[derive(Default)]
struct Spooled {
    data: SpillBuffer,
    /// Our stdin reached its end (or failed): nothing more will come.
    ended: bool,
    /// A feeder is blocked reading our stdin; the others wait for it.
    reading: bool,
}

impl Replay {
    /// Copies everything spooled so far into `pipe`, then reads more of our
    /// stdin as the child takes it, until the end or until `done`.
    fn pump(&self, pipe: OwnedFd, done: &AtomicBool) {
        let mut buf = vec![0u8; CHUNK];
        let mut offset = 0u64;
        while !done.load(Ordering::Relaxed) {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if offset < state.data.len() {
                let Ok(n) = state.data.read_at(offset, &mut buf) else {
                    return;
                };
                drop(state);
                if write_all(&pipe, &buf[..n], done).is_err() {
                    return;
                }
                offset += n as u64;
                continue;
            }
            if state.ended {
                return;
            }
            if state.reading {
                drop(self.grew.wait_timeout(state, Duration::from_millis(100)));
                continue;
            }
            state.reading = true;
            drop(state);
            let read = read_stdin(&mut buf);
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.reading = false;
            match read {
                Ok(0) | Err(_) => state.ended = true,
                Ok(n) => {
                    if state.data.append(&buf[..n]).is_err() {
                        state.ended = true;
                    }
                }
            }
            self.grew.notify_all();
        }
    }
}

fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
    // Read fd 0 directly: std's Stdin would buffer bytes we must account for.
    // SAFETY: fd 0 stays open for the life of the process; ManuallyDrop keeps it so.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Writes to the child's (non-blocking) pipe, waiting in short polls so that
/// a child that stops reading cannot keep this thread past `done`.
fn write_all(pipe: &OwnedFd, mut data: &[u8], done: &AtomicBool) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(pipe, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                if done.load(Ordering::Relaxed) {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLOUT)];
                let _ = poll(&mut fds, PollTimeout::from(100u16));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
