//! Passing a child's piped output on to retry-on's own stdout or stderr,
//! with the thread that scans it for patterns, and the pipes that outlive
//! their attempt.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::AsFd;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::console::{Sink, pass_on};
use crate::pattern::{PatternSet, ScanThread};
use crate::platform::{grow_pipe, pending_bytes};

/// The size of each read from the command's pipes.
const READ_SIZE: usize = 128 * 1024;

/// The capacity asked for the command's output pipes (the kernel's default is 64 KiB).
const PIPE_SIZE: i32 = 1024 * 1024;

/// How many pipes that outlived their attempts are passed on at once.
const LEFTOVERS_KEPT: usize = 4;

/// The size of each read from such a pipe: what comes there is a
/// background process's trickle, not the command's stream.
const LEFTOVER_READ_SIZE: usize = 16 * 1024;

/// The pipes that a background process still held open when their attempt
/// ended, each passed on by a task of its own for as long as retry-on runs.
/// At most [`LEFTOVERS_KEPT`] are: a command that leaves one behind on every
/// attempt would otherwise cost a descriptor and a buffer per attempt,
/// without bound. The oldest is closed first; its writer then gets SIGPIPE
/// (or EPIPE) at its next write, as when retry-on exits.
#[derive(Default)]
pub(crate) struct Leftovers {
    drains: RefCell<VecDeque<tokio::task::JoinHandle<()>>>,
}

impl Leftovers {
    fn keep(&self, drain: tokio::task::JoinHandle<()>) {
        let mut drains = self.drains.borrow_mut();
        drains.retain(|kept| !kept.is_finished());
        if drains.len() >= LEFTOVERS_KEPT
            && let Some(oldest) = drains.pop_front()
        {
            // Dropping the task drops its end of the pipe.
            oldest.abort();
        }
        drains.push_back(drain);
    }
}

/// One piped output stream of the command, with the thread that scans it.
pub(super) struct Pump<R> {
    pipe: Option<R>,
    scan: Option<ScanThread>,
    buf: Vec<u8>,
    /// Bytes that were in the pipe when the command exited and are still to be read.
    owed: usize,
}

impl<R: AsyncRead + AsFd + Unpin> Pump<R> {
    pub(super) fn new(pipe: Option<R>, sets: [Option<&PatternSet>; 3]) -> Self {
        let [retry, abort, hints] = sets;
        let Some(pipe) = pipe else {
            return Pump {
                pipe: None,
                scan: None,
                buf: Vec::new(),
                owed: 0,
            };
        };
        grow_pipe(pipe.as_fd(), PIPE_SIZE);
        let scan = match (retry, abort, hints) {
            (None, None, None) => None,
            _ => Some(ScanThread::new(
                retry.cloned(),
                abort.cloned(),
                hints.cloned(),
                READ_SIZE,
            )),
        };
        // With a scanner, the first read takes its buffer from it.
        let buf = match scan {
            Some(_) => Vec::new(),
            None => vec![0u8; READ_SIZE],
        };
        Pump {
            pipe: Some(pipe),
            scan,
            buf,
            owed: 0,
        }
    }

    pub(super) fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    /// Whether bytes that were in the pipe at the command's exit are still unread.
    pub(super) fn owes(&self) -> bool {
        self.owed > 0
    }

    pub(super) fn close(&mut self) {
        self.pipe = None;
        self.owed = 0;
    }

    /// Notes how much is waiting in the pipe now: it is passed on in full.
    pub(super) fn owe_pending(&mut self) {
        if let Some(pipe) = &self.pipe {
            self.owed = pending_bytes(pipe.as_fd());
        }
    }

    /// Reads the next chunk; returns its length, or `None` at the end (and
    /// the pipe closes). Pends forever when closed, so it can sit in a
    /// `select!`; it also waits there for the scanner to give a buffer back.
    pub(super) async fn read(&mut self) -> Option<usize> {
        let Some(pipe) = self.pipe.as_mut() else {
            return std::future::pending().await;
        };
        if let Some(scan) = &mut self.scan
            && self.buf.is_empty()
        {
            self.buf = scan.buffer().await;
        }
        match pipe.read(&mut self.buf).await {
            Ok(0) | Err(_) => {
                self.close();
                None
            }
            Ok(n) => {
                self.owed = self.owed.saturating_sub(n);
                Some(n)
            }
        }
    }

    pub(super) fn chunk(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// Hands the chunk just read, and passed on, to the scanner; the next
    /// read takes a fresh buffer.
    pub(super) fn scan(&mut self, n: usize) {
        if let Some(scan) = &mut self.scan {
            scan.scan(std::mem::take(&mut self.buf), n);
        }
    }

    /// Hands a pipe that is still open after the drain grace to a task of
    /// its own, kept among the `leftovers`, which passes on to `sink` what a
    /// background process writes there, unscanned: the attempt is over.
    /// With no sink (the attempt's stdout was held, and is not written),
    /// it is read and dropped, as the rest of that attempt's stdout was.
    pub(super) fn keep_draining(&mut self, sink: Option<Sink>, leftovers: &Leftovers)
    where
        R: Send + 'static,
    {
        let Some(mut pipe) = self.pipe.take() else { return };
        leftovers.keep(tokio::spawn(async move {
            let mut buf = vec![0u8; LEFTOVER_READ_SIZE];
            while let Ok(n) = pipe.read(&mut buf).await {
                let passed = match sink {
                    Some(sink) => pass_on(sink, &buf[..n]),
                    None => Ok(()),
                };
                if n == 0 || passed.is_err() {
                    break;
                }
            }
        }));
    }

    pub(super) fn is_scanning(&self) -> bool {
        self.scan.is_some()
    }

    /// Stops scanning: the scan thread drops what it has not searched yet,
    /// and what comes next is only passed on.
    pub(super) fn abandon_scan(&mut self) {
        if self.scan.take().is_some() && self.buf.is_empty() {
            self.buf = vec![0u8; READ_SIZE];
        }
    }

    /// The scan of what was read, to be waited for; the pipe is closed.
    pub(super) fn take_scan(&mut self) -> Option<ScanThread> {
        self.pipe = None;
        self.scan.take()
    }
}
