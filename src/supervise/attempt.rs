//! The state of one running attempt, with one method per event.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tokio::process::{Child, ChildStderr, ChildStdout};

use super::group::{Lifecycle, Limits, ProcessGroup};
use super::pump::{Leftovers, Pump};
use super::{Attempt, DRAIN_GRACE, Ended, ending};
use crate::clock::alarm;
use crate::console::{Sink, pass_on};
use crate::error::Error;
use crate::pattern::{Hit, Hits, ScanThread};
use crate::platform::is_broken;
use crate::policy::{Matched, Outcome, Stream};
use crate::signals::Signals;
use crate::spool::SpillBuffer;
use crate::terminal::Terminal;

/// How often an attempt that may need the terminal is checked for having
/// been stopped by it.
const TERMINAL_CHECK: Duration = Duration::from_millis(100);

/// How long after an attempt's time limit the scan of its output is still
/// waited for: it is usually through in milliseconds.
const SCAN_GRACE: Duration = Duration::from_secs(1);

pub(super) struct AttemptState<'a> {
    pub life: Lifecycle,
    pub stderr: Pump<ChildStderr>,
    pub stdout: Pump<ChildStdout>,
    /// Where the stdout pipe goes: stdout, or stdout that is also stderr.
    stdout_sink: Sink,
    /// The attempt's stdout, with `--hold-stdout`.
    held_stdout: Option<SpillBuffer>,
    /// retry-on's own stdout was closed under the command.
    output_closed: bool,
    /// Why retry-on could not write the command's stdout, if it could not
    /// for another reason than a closed pipe.
    output_failed: Option<String>,
    /// Why the held stdout had to be written early, if it had.
    held_overflow: Option<String>,
    /// When the command exited.
    exited_at: Option<Instant>,
    /// How long writing the command's output on took after the later of
    /// the limit and the exit: a slow reader of retry-on's output, which
    /// the scan's deadline does not count against the scan.
    passing: Duration,
    terminal: Option<&'a Terminal>,
    terminal_check: Option<Instant>,
    /// Where a pipe still open after the attempt goes on being passed on.
    leftovers: &'a Leftovers,
    /// Whether the attempt was lent the terminal.
    lent: bool,
}

impl<'a> AttemptState<'a> {
    pub(super) fn new(
        attempt: &Attempt<'a>,
        group: ProcessGroup,
        limits: Limits,
        child: &mut Child,
        merged: bool,
    ) -> Result<Self, Error> {
        let patterns = attempt.patterns;
        let terminal = attempt.terminal.filter(|_| group.whole);
        let stdout_retry = if merged { &patterns.stderr } else { &patterns.stdout };
        Ok(AttemptState {
            life: Lifecycle::new(group, limits),
            stderr: Pump::new(
                child.stderr.take(),
                [
                    patterns.stderr.as_ref(),
                    patterns.abort.as_ref(),
                    patterns.hints.as_ref(),
                ],
            ),
            stdout: Pump::new(
                child.stdout.take(),
                [stdout_retry.as_ref(), patterns.abort.as_ref(), patterns.hints.as_ref()],
            ),
            stdout_sink: if merged { Sink::Both } else { Sink::Stdout },
            held_stdout: attempt.process.hold_stdout.then(SpillBuffer::new),
            output_closed: false,
            output_failed: None,
            held_overflow: None,
            exited_at: None,
            passing: Duration::ZERO,
            terminal,
            terminal_check: terminal.map(|_| Instant::now() + TERMINAL_CHECK),
            leftovers: attempt.leftovers,
            lent: false,
        })
    }

    /// Whether there is still something to wait for: the command, or its output.
    pub(super) fn running(&self) -> bool {
        !self.life.exited() || self.stderr.is_open() || self.stdout.is_open()
    }

    pub(super) fn on_exit(&mut self, status: std::process::ExitStatus) {
        self.life.on_exit(status);
        self.exited_at = Some(Instant::now());
        // What the command wrote before it exited is passed on in full, however long that takes.
        self.stderr.owe_pending();
        self.stdout.owe_pending();
    }

    /// When to stop reading output: the grace after the exit, once what was
    /// owed has been passed on.
    pub(super) fn drain_due(&self) -> Option<Instant> {
        let drain_until = self.exited_at.map(|exited| exited + DRAIN_GRACE);
        drain_until.filter(|_| !self.stderr.owes() && !self.stdout.owes())
    }

    pub(super) fn terminal_check_due(&self) -> Option<Instant> {
        self.terminal_check.filter(|_| !self.life.exited())
    }

    pub(super) fn on_terminal_check(&mut self) {
        if let Some(terminal) = self.terminal {
            self.lent |= terminal.watch(self.life.group.leader, self.lent);
        }
        self.terminal_check = Some(Instant::now() + TERMINAL_CHECK);
    }

    /// Counts a write that began at `started` and has just ended towards
    /// [`AttemptState::passing`], for the part of it after the scan clock.
    fn passed_since(&mut self, started: Instant) {
        if let Some(from) = self.scan_clock() {
            self.passing += Instant::now().saturating_duration_since(started.max(from));
        }
    }

    /// The later of the limit and the exit, once both are known: from then
    /// on the scan has [`SCAN_GRACE`] of its own to finish in.
    fn scan_clock(&self) -> Option<Instant> {
        let (limit, _) = self.life.limit()?;
        Some(limit.max(self.exited_at?))
    }

    pub(super) fn on_stderr(&mut self, read: Option<usize>) {
        let Some(n) = read else { return };
        let started = Instant::now();
        let written = pass_on(Sink::Stderr, self.stderr.chunk(n));
        self.passed_since(started);
        self.stderr.scan(n);
        // Our stderr is gone: close the command's, as it would be. Any other
        // error (a full disk) the command alone would have met at that write
        // and most likely ignored: the next chunk is tried again.
        if written.is_err_and(|e| e.kind() == io::ErrorKind::BrokenPipe) {
            self.stderr.close();
        }
    }

    pub(super) fn on_stdout(&mut self, read: Option<usize>) {
        let Some(n) = read else { return };
        let written = match &mut self.held_stdout {
            Some(held) => match held.append(self.stdout.chunk(n)) {
                Ok(()) => Ok(()),
                Err(e) => self.stop_holding(e, n),
            },
            None => {
                let started = Instant::now();
                let written = pass_on(self.stdout_sink, self.stdout.chunk(n));
                self.passed_since(started);
                written
            }
        };
        self.stdout.scan(n);
        // The command's stdout goes nowhere: close its pipe, so that it stops
        // as it would have alone (SIGPIPE, or an error at its next write).
        if let Err(e) = written {
            match e.kind() {
                io::ErrorKind::BrokenPipe => self.output_closed = true,
                _ => self.output_failed = Some(e.to_string()),
            }
            self.stdout.close();
        }
    }

    /// The held stdout cannot grow (`--hold-stdout` with a full disk):
    /// writes what is held, and passes the chunk at hand and the rest through.
    fn stop_holding(&mut self, why: io::Error, n: usize) -> io::Result<()> {
        self.held_overflow = Some(why.to_string());
        let held = self.held_stdout.take().expect("only held output overflows");
        let mut out = io::stdout().lock();
        held.write_to(&mut out)?;
        io::Write::flush(&mut out)?;
        pass_on(self.stdout_sink, self.stdout.chunk(n))
    }

    /// The stream that came through the stdout pipe.
    fn stdout_stream(&self) -> Stream {
        match self.stdout_sink {
            Sink::Both => Stream::Both,
            _ => Stream::Stdout,
        }
    }

    /// A signal to retry-on: forwarded to the command. The run ends, and
    /// what matched no longer matters: the scans are abandoned.
    pub(super) fn on_signal(&mut self, signal: crate::parse::AnySignal) {
        self.life.on_signal(signal);
        self.abandon_scans();
    }

    /// When a scan still running is abandoned: matching may be far slower
    /// than the command (a pathological pattern on a long line), and an
    /// attempt must not last much past its time limit for it. So the scan
    /// gets [`SCAN_GRACE`] after the later of the limit and the exit, plus
    /// the time that passing the output on took since then: a slow reader
    /// of retry-on's output is not a slow scan.
    pub(super) fn scan_due(&self) -> Option<Instant> {
        let scanning = self.stderr.is_scanning() || self.stdout.is_scanning();
        scanning.then_some(self.scan_clock()? + SCAN_GRACE + self.passing)
    }

    /// The scan ran past its time: the attempt counts as stopped by its
    /// limit, and the rest of its output is passed on unscanned.
    pub(super) fn on_scan_due(&mut self) {
        self.life.on_limit_after_exit();
        self.abandon_scans();
    }

    fn abandon_scans(&mut self) {
        self.stderr.abandon_scan();
        self.stdout.abandon_scan();
    }

    /// Waits for the scanners to be through the attempt's output, handling
    /// signals meanwhile, until [`AttemptState::scan_due`]. An abandoned
    /// scan found nothing.
    async fn scanned(&mut self, signals: &mut Signals) -> (Hits, Hits) {
        let due = self.scan_due();
        let (stderr, stdout) = (self.stderr.take_scan(), self.stdout.take_scan());
        let scans = async {
            let finish = |scan: Option<ScanThread>| async move {
                match scan {
                    Some(scan) => scan.finish().await,
                    None => Hits::default(),
                }
            };
            (finish(stderr).await, finish(stdout).await)
        };
        // A scan that is through wins over its time running out at that moment.
        tokio::select! {
            biased;
            signal = signals.recv() => {
                self.life.on_signal(signal);
                Default::default()
            }
            hits = scans => hits,
            _ = alarm(due) => {
                self.life.on_limit_after_exit();
                Default::default()
            }
        }
    }

    /// Gives the terminal back, waits for the scanners and, after a stop,
    /// for the group to be empty; then says how the attempt ended.
    pub(super) async fn finish(mut self, signals: &mut Signals) -> Result<Ended, Error> {
        if let Some(terminal) = self.terminal.filter(|_| self.lent) {
            terminal.take_back();
        }
        self.stderr.keep_draining(Some(Sink::Stderr), self.leftovers);
        // A held stdout is written only if this attempt is the last, and
        // then retry-on exits: what comes after it would not reach the output.
        let stdout_sink = Some(self.stdout_sink).filter(|_| self.held_stdout.is_none());
        self.stdout.keep_draining(stdout_sink, self.leftovers);
        let (stderr_hits, stdout_hits) = self.scanned(signals).await;
        self.life.settle(signals).await;
        // A pattern list that parsed but that the regex engine refused to
        // compile (too large), found when the output first needed it, or no
        // thread to scan it.
        if let Some(why) = stderr_hits.failed.clone().or_else(|| stdout_hits.failed.clone()) {
            return Err(Error::Usage(why));
        }
        let status = self.life.status.expect("an attempt ends only after the command exits");
        let ending = ending(status);
        // Whatever the command made of it (SIGPIPE, an exit code of its
        // own), an output of retry-on's that is broken now cannot take the
        // output of another attempt.
        let own_output_closed = is_broken(io::stdout().as_fd()) || is_broken(io::stderr().as_fd());
        let matched = |stream, hit: &Option<Hit>| {
            hit.as_ref().map(|hit| Matched {
                stream,
                pattern: hit.source.clone(),
                text: hit.text.clone(),
            })
        };
        let outcome = Outcome {
            ending,
            stopped: self.life.stopped,
            interrupted: self.life.interrupted,
            retry_match: matched(Stream::Stderr, &stderr_hits.retry)
                .or_else(|| matched(self.stdout_stream(), &stdout_hits.retry)),
            abort_match: matched(Stream::Stderr, &stderr_hits.abort)
                .or_else(|| matched(self.stdout_stream(), &stdout_hits.abort)),
            output_closed: self.output_closed || own_output_closed,
            output_failed: self.output_failed,
            hint: stderr_hits.hint.or(stdout_hits.hint),
            held_overflow: self.held_overflow,
            stdin_lost: None,
            had_terminal: self.lent,
        };
        Ok(Ended {
            outcome,
            held: self.held_stdout,
        })
    }
}
