//! Giving every attempt the same stdin.
//!
//! A terminal, a character device such as /dev/null, or a run of one attempt
//! is inherited as it is. A regular file is inherited and rewound before each
//! attempt. Anything else (a pipe, a socket) is read only as fast as the
//! attempts consume it, kept in a [`SpillBuffer`], and replayed to every
//! later attempt through a pipe of its own.
//!
//! One reader thread, started with the first attempt, is the only one that
//! reads our stdin; it may block there for the rest of the run and holds no
//! other descriptor. Each attempt has a feeder thread that copies the spool
//! into the attempt's pipe; it ends, and is joined, when the attempt ends.

use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read};
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, mpsc};
use std::thread::JoinHandle;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{SFlag, fstat};
use nix::unistd::{Whence, isatty, lseek};

use crate::spool::SpillBuffer;

/// The size of each read of our stdin, and of each copy into a child's pipe.
const COPY_SIZE: usize = 64 * 1024;

pub(crate) enum Stdin {
    /// Every attempt uses retry-on's own stdin as it is.
    Inherit,
    /// A regular file, rewound to this offset before each attempt.
    Rewind(i64),
    Replay(Arc<Replay>),
}

impl Stdin {
    pub(crate) fn prepare(attempts: u32) -> Stdin {
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

    /// The child's stdin for the next attempt; a regular file is rewound
    /// to where it started.
    pub(crate) fn rewind_for_attempt(&self) -> Stdio {
        match self {
            Stdin::Inherit => Stdio::inherit(),
            Stdin::Rewind(offset) => {
                let _ = lseek(io::stdin().as_fd(), *offset, Whence::SeekSet);
                Stdio::inherit()
            }
            Stdin::Replay(_) => Stdio::piped(),
        }
    }

    /// Why stdin could not be kept for another attempt, if it could not.
    pub(crate) fn lost(&self) -> Option<String> {
        match self {
            Stdin::Replay(replay) => replay.lock().lost.clone(),
            _ => None,
        }
    }

    /// Readies the feeding of the next attempt's stdin pipe. Called before
    /// the spawn, so that the command finds retry-on's threads and
    /// descriptors already in place; [`Feeding::start`] then hands the pipe
    /// over. Dropping the feeding stops it and waits for it, so that nothing
    /// of the attempt's stdin (thread or descriptor) outlives the attempt.
    /// An error when no thread or descriptor is to be had: the command would
    /// otherwise get an empty stdin.
    pub(crate) fn feeding(&self) -> io::Result<Option<Feeding>> {
        let Stdin::Replay(replay) = self else {
            return Ok(None);
        };
        replay.start_reader()?;
        let (woken, wake) = io::pipe()?;
        let (hand_over, handed) = mpsc::channel::<OwnedFd>();
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (replay, stop) = (Arc::clone(replay), Arc::clone(&stop));
            std::thread::Builder::new().name("stdin-feeder".into()).spawn(move || {
                if let Ok(pipe) = handed.recv() {
                    replay.pump(&pipe, &FeedStop { flag: &stop, woken });
                }
            })?
        };
        Ok(Some(Feeding {
            replay: Arc::clone(replay),
            stop,
            wake: Some(wake),
            hand_over: Some(hand_over),
            feeder: Some(feeder),
        }))
    }
}

pub(crate) struct Feeding {
    replay: Arc<Replay>,
    stop: Arc<AtomicBool>,
    /// Closing it wakes a feeder waiting for room in the child's pipe.
    wake: Option<PipeWriter>,
    hand_over: Option<mpsc::Sender<OwnedFd>>,
    feeder: Option<JoinHandle<()>>,
}

impl Feeding {
    /// Starts copying our stdin into the attempt's pipe.
    pub(crate) fn start(&mut self, pipe: Option<OwnedFd>) {
        if let (Some(hand_over), Some(pipe)) = (self.hand_over.take(), pipe) {
            let _ = hand_over.send(pipe);
        }
    }
}

impl Drop for Feeding {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.wake.take());
        drop(self.hand_over.take());
        // Taking the lock orders this wake-up after the feeder's last check.
        drop(self.replay.lock());
        self.replay.changed.notify_all();
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
    }
}

/// How a feeder learns that its attempt is over.
struct FeedStop<'a> {
    flag: &'a AtomicBool,
    /// Readable (at its end) once the attempt is over.
    woken: PipeReader,
}

impl FeedStop<'_> {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

#[derive(Default)]
pub(crate) struct Replay {
    state: Mutex<Spooled>,
    /// Signalled when the spool grows or ends, when a feeder wants more, and
    /// when a feeding stops.
    changed: Condvar,
    reader: OnceLock<()>,
}

#[derive(Default)]
struct Spooled {
    data: SpillBuffer,
    /// Our stdin reached its end (or failed): nothing more will come.
    ended: bool,
    /// A feeder has passed on everything spooled and waits for more.
    wanted: bool,
    /// Why the spool could not keep all of our stdin (the OS error): no
    /// later attempt can be given the same stdin.
    lost: Option<String>,
    /// A chunk that could not be kept, for the current attempt alone.
    passing: Option<Vec<u8>>,
}

impl Spooled {
    /// Keeps a chunk for every attempt; when the spool cannot grow, hands
    /// it to the current attempt alone.
    fn keep(&mut self, chunk: &[u8]) {
        if self.lost.is_none()
            && let Err(e) = self.data.append(chunk)
        {
            self.lost = Some(e.to_string());
        }
        if self.lost.is_some() {
            self.passing = Some(chunk.to_vec());
        }
    }
}

impl Replay {
    fn lock(&self) -> MutexGuard<'_, Spooled> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, state: MutexGuard<'a, Spooled>) -> MutexGuard<'a, Spooled> {
        self.changed.wait(state).unwrap_or_else(|e| e.into_inner())
    }

    fn start_reader(self: &Arc<Self>) -> io::Result<()> {
        if self.reader.get().is_none() {
            let replay = Arc::clone(self);
            std::thread::Builder::new()
                .name("stdin-reader".into())
                .spawn(move || replay.read_while_wanted())?;
            let _ = self.reader.set(());
        }
        Ok(())
    }

    /// Reads our stdin a chunk at a time, each time a feeder asks for more.
    fn read_while_wanted(&self) {
        let mut buf = vec![0u8; COPY_SIZE];
        loop {
            let mut state = self.lock();
            while !state.wanted {
                state = self.wait(state);
            }
            drop(state);
            let read = read_stdin(&mut buf);
            let mut state = self.lock();
            state.wanted = false;
            match read {
                Ok(n) if n > 0 => state.keep(&buf[..n]),
                _ => state.ended = true,
            }
            let ended = state.ended;
            drop(state);
            self.changed.notify_all();
            if ended {
                return;
            }
        }
    }

    /// Copies the spool into `pipe` from the start, waiting for more as the
    /// child takes it, until the end of our stdin or until `stop`.
    fn pump(&self, pipe: &OwnedFd, stop: &FeedStop<'_>) {
        let mut buf = vec![0u8; COPY_SIZE];
        let mut offset = 0u64;
        loop {
            let mut state = self.lock();
            loop {
                if stop.is_set() {
                    return;
                }
                if offset < state.data.len() {
                    break;
                }
                if let Some(chunk) = state.passing.take() {
                    drop(state);
                    if write_to_child(pipe, &chunk, stop).is_err() {
                        return;
                    }
                    state = self.lock();
                    continue;
                }
                if state.ended {
                    return;
                }
                state.wanted = true;
                self.changed.notify_all();
                state = self.wait(state);
            }
            let Ok(n) = state.data.read_at(offset, &mut buf) else {
                return;
            };
            drop(state);
            if write_to_child(pipe, &buf[..n], stop).is_err() {
                return;
            }
            offset += n as u64;
        }
    }
}

fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
    // Read fd 0 directly: std's Stdin would buffer bytes we must account for.
    // SAFETY: fd 0 stays open for the life of the process; ManuallyDrop keeps it so.
    let mut file = ManuallyDrop::new(unsafe { File::from_raw_fd(0) });
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Someone sharing our stdin made it non-blocking: wait for data.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            other => return other,
        }
    }
}

/// Writes to the child's (non-blocking) pipe, waiting for room or for `stop`,
/// so that a child that stops reading cannot keep the feeder.
fn write_to_child(pipe: &OwnedFd, mut data: &[u8], stop: &FeedStop<'_>) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(pipe, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                if stop.is_set() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let mut fds = [
                    PollFd::new(pipe.as_fd(), PollFlags::POLLOUT),
                    PollFd::new(stop.woken.as_fd(), PollFlags::POLLIN),
                ];
                let _ = poll(&mut fds, PollTimeout::NONE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
