//! Running one attempt: spawn the command in its own process group, stream
//! and scan its output, enforce the timeout and deadline, forward signals,
//! and make sure nothing of a stopped attempt outlives it.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::sleep_until;

use crate::error::Error;
use crate::pattern::{Hit, Hits, PatternSet, ScanThread};
use crate::policy::{Ending, Matched, Outcome, Stop, Stream};
use crate::spool::SpillBuffer;
use crate::stdin::Stdin;
use crate::terminal::Terminal;

/// How long output is still read after the command exits, for a background
/// process that holds the pipe open. Then retry-on stops reading.
pub const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// How often an attempt that may need the terminal is checked for having
/// been stopped by it.
const TERMINAL_CHECK: Duration = Duration::from_millis(100);

/// How often a stopped attempt's process group is checked for survivors.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// The size of each read from the command's pipes.
const CHUNK: usize = 128 * 1024;

/// The capacity asked for the command's output pipes (the kernel's default is 64 KiB).
const PIPE_SIZE: i32 = 1024 * 1024;

/// The signals that stop a run: SIGINT, SIGTERM, SIGHUP and SIGQUIT.
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
        })
    }

    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
            _ = self.quit.recv() => Signal::SIGQUIT,
        }
    }
}

/// The compiled patterns of a run.
pub struct Patterns {
    pub stderr: Option<PatternSet>,
    pub stdout: Option<PatternSet>,
    pub abort: Option<PatternSet>,
}

/// What one attempt needs.
pub struct Attempt<'a> {
    pub command: &'a [OsString],
    pub number: u32,
    pub attempts: u32,
    pub stdin: &'a Stdin,
    pub patterns: &'a Patterns,
    /// Run in retry-on's process group (`--foreground`) instead of a new one.
    pub foreground: bool,
    pub hold_stdout: bool,
    /// When to stop the attempt, and why.
    pub stop_at: Option<(Instant, Stop)>,
    /// The terminal to lend the attempt if it needs it (not with `--foreground`).
    pub terminal: Option<&'a Terminal>,
    pub kill_signal: Signal,
    pub kill_after: Duration,
}

pub struct Ended {
    pub outcome: Outcome,
    /// The attempt's stdout, with `--hold-stdout`.
    pub held: Option<SpillBuffer>,
}

/// Where signals for the attempt go: its process group, or the command alone.
#[derive(Clone, Copy)]
struct Target {
    pid: Pid,
    group: bool,
}

impl Target {
    /// Sends `signal`, and in group mode CONT after it, as GNU timeout does:
    /// a stopped process would otherwise only see the signal once KILL came,
    /// or never if no KILL follows.
    fn send(self, signal: Signal) {
        if !self.group {
            let _ = kill(self.pid, signal);
            return;
        }
        let _ = killpg(self.pid, signal);
        if !matches!(signal, Signal::SIGKILL | Signal::SIGCONT | Signal::SIGSTOP) {
            let _ = killpg(self.pid, Signal::SIGCONT);
        }
    }
}

pub async fn run(attempt: &Attempt<'_>, signals: &mut Signals) -> Result<Ended, Error> {
    let patterns = attempt.patterns;
    let scan_stderr = patterns.stderr.is_some() || patterns.abort.is_some();
    let pipe_stdout = patterns.stdout.is_some() || attempt.hold_stdout;
    let piped = |yes: bool| if yes { Stdio::piped() } else { Stdio::inherit() };

    let program = &attempt.command[0];
    let mut command = tokio::process::Command::new(program);
    command
        .args(&attempt.command[1..])
        .env("RETRY_ON_ATTEMPT", attempt.number.to_string())
        .env("RETRY_ON_ATTEMPTS", attempt.attempts.to_string())
        .stdin(attempt.stdin.for_attempt())
        .stdout(piped(pipe_stdout))
        .stderr(piped(scan_stderr));
    if !attempt.foreground {
        command.process_group(0);
    }
    let mut feeding = attempt.stdin.feeding();
    let mut child = command.spawn().map_err(|source| {
        let command = program.to_string_lossy().into_owned();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { command },
            _ => Error::NotExecutable { command, source },
        }
    })?;
    let target = Target {
        pid: Pid::from_raw(child.id().unwrap_or(0) as i32),
        group: !attempt.foreground,
    };
    let stdin_pipe = child.stdin.take().and_then(|pipe| pipe.into_owned_fd().ok());
    match &mut feeding {
        Some(feeding) => feeding.start(stdin_pipe),
        // Nothing can feed it (no thread or pipe to spare): the command gets an empty stdin, not a hang.
        None => drop(stdin_pipe),
    }

    let mut stderr = Output::new(child.stderr.take(), patterns.stderr.as_ref(), patterns.abort.as_ref())?;
    let mut stdout = Output::new(child.stdout.take(), patterns.stdout.as_ref(), patterns.abort.as_ref())?;
    let mut held = attempt.hold_stdout.then(SpillBuffer::new);
    let mut output_closed = false;

    let mut status: Option<ExitStatus> = None;
    let mut drain_until: Option<Instant> = None;
    let mut stopped: Option<Stop> = None;
    let mut kill_at: Option<Instant> = None;
    let mut interrupted: Option<Signal> = None;
    let terminal = attempt.terminal.filter(|_| target.group);
    let mut terminal_check = terminal.map(|_| Instant::now() + TERMINAL_CHECK);
    let mut lent = false;
    let never = never();

    while status.is_none() || stderr.is_open() || stdout.is_open() {
        // Signals, deadlines and the command's exit come before its output, so
        // that a command (or a background process) that writes without pause
        // cannot starve them.
        tokio::select! {
            biased;
            signal = signals.recv() => {
                on_signal(signal, status.is_some(), target, &mut interrupted, &mut kill_at, attempt.kill_after);
            }
            exit = child.wait(), if status.is_none() => {
                status = Some(exit.map_err(|e| Error::io("waiting for the command", e))?);
                drain_until = Some(Instant::now() + DRAIN_GRACE);
                // What the command wrote before it exited is passed on in full, however long that takes.
                stderr.owe_pending();
                stdout.owe_pending();
            }
            _ = sleep_until(at(attempt.stop_at.map(|(t, _)| t), never)),
                if stopped.is_none() && status.is_none() && attempt.stop_at.is_some() => {
                stopped = attempt.stop_at.map(|(_, why)| why);
                target.send(attempt.kill_signal);
                kill_at = Some(Instant::now() + attempt.kill_after);
            }
            _ = sleep_until(at(kill_at, never)), if kill_at.is_some() && status.is_none() => {
                target.send(Signal::SIGKILL);
                kill_at = None;
            }
            _ = sleep_until(at(terminal_check, never)), if terminal_check.is_some() && status.is_none() => {
                if let Some(terminal) = terminal {
                    lent |= terminal.watch(target.pid, lent);
                }
                terminal_check = Some(Instant::now() + TERMINAL_CHECK);
            }
            _ = sleep_until(at(drain_until, never)), if drain_until.is_some() && stderr.owed == 0 && stdout.owed == 0 => break,
            read = stderr.read() => {
                if let Some(n) = read {
                    let written = write_all(io::stderr().as_fd(), stderr.chunk(n));
                    stderr.scan(n);
                    if written.is_err() {
                        // Our stderr is gone: close the command's, as it would be.
                        stderr.close();
                    }
                }
            }
            read = stdout.read() => {
                if let Some(n) = read {
                    let written = match &mut held {
                        Some(buffer) => {
                            buffer.append(stdout.chunk(n));
                            Ok(())
                        }
                        None => write_all(io::stdout().as_fd(), stdout.chunk(n)),
                    };
                    stdout.scan(n);
                    if written.is_err() {
                        output_closed = true;
                        stdout.close();
                    }
                }
            }
        }
    }
    if let Some(terminal) = terminal.filter(|_| lent) {
        terminal.take_back();
    }
    let stderr_hits = stderr.finish();
    let stdout_hits = stdout.finish();
    let must_empty_group = stopped.is_some() || interrupted == Some(Signal::SIGINT);
    if must_empty_group && target.group {
        empty_group(target, kill_at, signals, &mut interrupted).await;
    }

    let status = status.expect("the loop ends only after the command exits");
    let ending = match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Signaled(signal),
        (None, None) => Ending::Exited(1),
    };
    let matched = |stream, hit: &Option<Hit>| {
        hit.as_ref().map(|hit| Matched {
            stream,
            pattern: hit.source.clone(),
            text: hit.text.clone(),
        })
    };
    let outcome = Outcome {
        ending,
        stopped,
        interrupted,
        retry_match: matched(Stream::Stderr, &stderr_hits.retry)
            .or_else(|| matched(Stream::Stdout, &stdout_hits.retry)),
        abort_match: matched(Stream::Stderr, &stderr_hits.abort)
            .or_else(|| matched(Stream::Stdout, &stdout_hits.abort)),
        output_closed,
        had_terminal: lent,
    };
    Ok(Ended { outcome, held })
}

fn on_signal(
    signal: Signal,
    exited: bool,
    target: Target,
    interrupted: &mut Option<Signal>,
    kill_at: &mut Option<Instant>,
    kill_after: Duration,
) {
    if signal == Signal::SIGINT && *interrupted == Some(Signal::SIGINT) {
        // A second Ctrl-C: no more waiting.
        target.send(Signal::SIGKILL);
        return;
    }
    if signal == Signal::SIGINT || interrupted.is_none() {
        *interrupted = Some(signal);
    }
    // Once the command is reaped its pid may be reused; only its group is safe to signal.
    if !exited || target.group {
        target.send(signal);
    }
    if signal == Signal::SIGINT && kill_at.is_none() {
        *kill_at = Some(Instant::now() + kill_after);
    }
}

/// Waits until nothing alive is left in the group, sending KILL at `kill_at`.
async fn empty_group(
    target: Target,
    mut kill_at: Option<Instant>,
    signals: &mut Signals,
    interrupted: &mut Option<Signal>,
) {
    while group_alive(target.pid) {
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            target.send(Signal::SIGKILL);
            kill_at = None;
        }
        tokio::select! {
            signal = signals.recv() => {
                if signal == Signal::SIGINT {
                    target.send(Signal::SIGKILL);
                }
                interrupted.get_or_insert(signal);
            }
            _ = tokio::time::sleep(GROUP_POLL) => {}
        }
    }
}

/// Whether any process of the group is alive. Zombies do not count: init
/// may take a while to reap orphans, and `kill(-pgid, 0)` still finds them.
pub fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None) == Err(Errno::ESRCH) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|entry| {
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
    })
}

/// When a timer set to `instant` fires; never, for `None`. `never` is worked
/// out once by the caller, to keep the clock out of the per-chunk loop.
pub fn at(instant: Option<Instant>, never: tokio::time::Instant) -> tokio::time::Instant {
    instant.map_or(never, Into::into)
}

/// An instant that no timer of a run reaches.
pub fn never() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// One piped output stream of the command, with the thread that scans it.
struct Output<R> {
    pipe: Option<R>,
    scan: Option<ScanThread>,
    buf: Vec<u8>,
    /// Bytes that were in the pipe when the command exited and are still to be read.
    owed: usize,
}

impl<R: AsyncRead + AsFd + Unpin> Output<R> {
    fn new(pipe: Option<R>, retry: Option<&PatternSet>, abort: Option<&PatternSet>) -> Result<Self, Error> {
        let Some(pipe) = pipe else {
            return Ok(Output {
                pipe: None,
                scan: None,
                buf: Vec::new(),
                owed: 0,
            });
        };
        // A larger pipe lets the command write ahead while a chunk is passed on,
        // and means fewer, larger reads. Best effort: the default works too.
        let _ = fcntl(&pipe, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
        let mut scan = match (retry, abort) {
            (None, None) => None,
            _ => Some(
                ScanThread::start(retry.cloned(), abort.cloned(), CHUNK)
                    .map_err(|e| Error::io("cannot start a thread to scan the output", e))?,
            ),
        };
        let buf = scan.as_mut().map_or_else(|| vec![0u8; CHUNK], ScanThread::buffer);
        Ok(Output {
            pipe: Some(pipe),
            scan,
            buf,
            owed: 0,
        })
    }

    fn is_open(&self) -> bool {
        self.pipe.is_some()
    }

    fn close(&mut self) {
        self.pipe = None;
        self.owed = 0;
    }

    /// Notes how much is waiting in the pipe now (FIONREAD).
    fn owe_pending(&mut self) {
        let Some(pipe) = &self.pipe else { return };
        let mut pending: nix::libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
        let ok = unsafe { nix::libc::ioctl(pipe.as_fd().as_raw_fd(), nix::libc::FIONREAD, &mut pending) } == 0;
        self.owed = if ok { usize::try_from(pending).unwrap_or(0) } else { 0 };
    }

    /// Reads the next chunk; returns its length, or `None` at the end (and
    /// the pipe closes). Pends forever when closed, so it can sit in a `select!`.
    async fn read(&mut self) -> Option<usize> {
        let Some(pipe) = self.pipe.as_mut() else {
            return std::future::pending().await;
        };
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

    fn chunk(&self, n: usize) -> &[u8] {
        &self.buf[..n]
    }

    /// Hands the chunk just read to the scanner, and takes a fresh buffer.
    fn scan(&mut self, n: usize) {
        if let Some(scan) = &mut self.scan {
            let full = std::mem::take(&mut self.buf);
            scan.scan(full, n);
            self.buf = scan.buffer();
        }
    }

    fn finish(&mut self) -> Hits {
        self.pipe = None;
        self.scan.take().map(ScanThread::finish).unwrap_or_default()
    }
}

/// Writes all of `data` to one of retry-on's own output streams, which may
/// have been left non-blocking by whoever shares it.
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
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
