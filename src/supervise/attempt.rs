//! The state of one running attempt, with one method per event.

use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use tokio::process::{Child, ChildStderr, ChildStdout};

use super::group::{Lifecycle, Limits, ProcessGroup};
use super::pump::{Leftovers, Pump};
use super::{Attempt, DRAIN_GRACE, Ended, ending};
use crate::console::{Sink, pass_on};
use crate::error::Error;
use crate::pattern::Hit;
use crate::platform::is_broken;
use crate::policy::{Matched, Outcome, Stream};
use crate::signals::Signals;
use crate::spool::SpillBuffer;
use crate::terminal::Terminal;

/// How often an attempt that may need the terminal is checked for having
/// been stopped by it.
const TERMINAL_CHECK: Duration = Duration::from_millis(100);

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
    /// When output stops being read after the exit.
    drain_until: Option<Instant>,
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
            drain_until: None,
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
        self.drain_until = Some(Instant::now() + DRAIN_GRACE);
        // What the command wrote before it exited is passed on in full, however long that takes.
        self.stderr.owe_pending();
        self.stdout.owe_pending();
    }

    /// When to stop reading output: the grace after the exit, once what was
    /// owed has been passed on.
    pub(super) fn drain_due(&self) -> Option<Instant> {
        self.drain_until.filter(|_| !self.stderr.owes() && !self.stdout.owes())
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

    pub(super) fn on_stderr(&mut self, read: Option<usize>) {
        let Some(n) = read else { return };
        let written = pass_on(Sink::Stderr, self.stderr.chunk(n));
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
            None => pass_on(self.stdout_sink, self.stdout.chunk(n)),
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

    /// Gives the terminal back, waits for the scanners and, after a stop,
    /// for the group to be empty; then says how the attempt ended.
    pub(super) async fn finish(mut self, signals: &mut Signals) -> Result<Ended, Error> {
        if let Some(terminal) = self.terminal.filter(|_| self.lent) {
            terminal.take_back();
        }
        self.stderr.keep_draining(Sink::Stderr, self.leftovers);
        self.stdout.keep_draining(self.stdout_sink, self.leftovers);
        let stderr_hits = self.stderr.finish();
        let stdout_hits = self.stdout.finish();
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
