//! The retry loop: attempts, decisions, waits and hooks, from resolved
//! settings. The hooks' part of the loop is in [`hooks`], the lock's in
//! [`locking`].

mod hooks;
mod locking;

use std::io::Write;
use std::time::{Duration, Instant};

use crate::backoff::hinted;
use crate::clock::earliest;
use crate::error::Error;
use crate::exit::Exit;
use crate::job;
use crate::lock::Lock;
use crate::parse;
use crate::pattern::Patterns;
use crate::platform::ChildSignals;
use crate::policy::{self, Outcome, Reason, Rules, Stop, Verdict};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::signals::Signals;
use crate::spool::SpillBuffer;
use crate::stdin::Stdin;
use crate::supervise::{Attempt, Leftovers};
use crate::terminal::Terminal;

/// What stays the same across the attempts of a run.
struct Run<'a> {
    settings: &'a Settings,
    patterns: &'a Patterns,
    lock: Option<&'a Lock>,
    reporter: Reporter,
    rules: Rules,
    stdin: Stdin,
    terminal: Option<Terminal>,
    /// The `--max-time` deadline.
    deadline: Option<Instant>,
    child_signals: ChildSignals,
    leftovers: Leftovers,
    /// See [`Attempt::pass_stderr`].
    pass_stderr: bool,
}

/// Runs the command until it succeeds or retry-on gives up.
pub(crate) async fn retry(
    settings: &Settings,
    patterns: &Patterns,
    child_signals: ChildSignals,
) -> Result<Exit, Error> {
    let schedule = &settings.schedule;
    // The deadline counts from here: opening the lock is part of the run.
    let deadline = schedule.max_time.map(|t| Instant::now() + t);
    let reporter = Reporter::new(&settings.output, schedule.attempts);
    let mut signals = Signals::install().map_err(|e| Error::io("cannot install signal handlers", e))?;
    job::pass_on().map_err(|e| Error::io("cannot install signal handlers", e))?;
    let lock = match &settings.process.lock {
        Some(target) => match locking::open_lock(settings, target, deadline, &reporter, &mut signals).await? {
            Ok(lock) => Some(lock),
            Err(exit) => {
                reporter.finish(exit);
                return Ok(exit);
            }
        },
        None => None,
    };
    let run = Run {
        settings,
        patterns,
        lock: lock.as_ref(),
        reporter,
        rules: Rules {
            has_conditions: patterns.stderr.is_some()
                || patterns.stdout.is_some()
                || settings.matching.conditions.exit_codes.is_some(),
            exit_codes: settings.matching.conditions.exit_codes.clone(),
            attempts: schedule.attempts,
        },
        stdin: Stdin::prepare(schedule.attempts),
        terminal: if settings.process.foreground {
            None
        } else {
            Terminal::find()
        },
        deadline,
        child_signals,
        leftovers: Leftovers::default(),
        pass_stderr: json_lines_need_passing(settings),
    };
    let exit = match run.go(&mut signals).await {
        Ok(exit) => exit,
        // A failure of retry-on's own during the run ends it like any
        // other end: the JSON log's last event, with the attempt it came at.
        Err(Failed { attempt, error }) => {
            run.reporter.failed(attempt, &error);
            Exit::Code(error.exit_code())
        }
    };
    run.reporter.finish(exit);
    Ok(exit)
}

/// retry-on's own failure, at attempt `attempt` (0: before the first).
struct Failed {
    attempt: u32,
    error: Error,
}

/// Places an error at its attempt.
fn at(attempt: u32) -> impl FnOnce(Error) -> Failed {
    move |error| Failed { attempt, error }
}

/// In JSON mode every line retry-on writes must be one object, also after a
/// last line of the command's that has no newline (`printf boom >&2`): when
/// only passing the command's stderr on can tell (a pipe, a socket), it is
/// passed on. Text and workflow-command lines are not worth that: a
/// background process holding a piped stderr dies of SIGPIPE at its next
/// write once retry-on has exited (README, Processes).
fn json_lines_need_passing(settings: &Settings) -> bool {
    let output = &settings.output;
    output.log_format == crate::parse::LogFormat::Json && !output.quiet && crate::console::line_ends_need_passing()
}

/// What comes after an attempt.
enum Step {
    Done(Exit),
    Retry(Box<Retry>),
}

/// A failed attempt that will be retried.
struct Retry {
    outcome: Outcome,
    reason: Reason,
    wait: Duration,
    /// The wait the output asked for (`--retry-after`).
    asked: Option<Duration>,
    /// Its stdout, with `--hold-stdout`.
    held: Option<SpillBuffer>,
}

impl Run<'_> {
    /// Attempts, hooks and waits, until the run is over.
    async fn go(&self, signals: &mut Signals) -> Result<Exit, Failed> {
        if let Some(exit) = self.check_first(signals).await.map_err(at(0))? {
            return Ok(exit);
        }
        let backoff = self.settings.schedule.backoff();
        let mut delays = backoff.delays();
        for number in 1.. {
            let scheduled = delays.next().unwrap_or_default();
            let retry = match self.attempt(number, scheduled, signals).await {
                Ok(Step::Done(exit)) => return Ok(exit),
                Ok(Step::Retry(retry)) => retry,
                Err(error) => return Err(at(number)(self.cannot_run(number, error, signals).await)),
            };
            let Retry {
                outcome: failed,
                reason,
                wait,
                asked,
                held,
            } = *retry;
            if let Some(exit) = self.on_retry(number, &failed, signals).await.map_err(at(number))? {
                return Ok(self.write_held(number, held.as_ref()).unwrap_or(exit));
            }
            self.reporter.sleeping(number, &failed, &reason, wait, asked);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                signal = signals.recv() => {
                    self.reporter.interrupted(number, signal, "while waiting to retry; not retrying");
                    // The attempt that ran last is the final one: its stdout is the output.
                    return Ok(self.write_held(number, held.as_ref()).unwrap_or(Exit::Signal(signal)));
                }
            }
            if let Some(exit) = self.check(number, &failed, signals).await.map_err(at(number))? {
                return Ok(self.write_held(number, held.as_ref()).unwrap_or(exit));
            }
        }
        unreachable!("attempts are counted without end")
    }

    /// Runs attempt `number` and decides: the run is over, or wait (the
    /// `scheduled` delay, or longer if the output asked) and try again.
    async fn attempt(&self, number: u32, scheduled: Duration, signals: &mut Signals) -> Result<Step, Error> {
        let guard = match self.lock {
            Some(lock) => match self.take_lock(lock, number, signals).await? {
                Ok(guard) => Some(guard),
                Err(exit) => return Ok(Step::Done(exit)),
            },
            None => None,
        };
        let settings = self.settings;
        let attempt = Attempt {
            command: &settings.command,
            number,
            attempts: settings.schedule.attempts,
            process: &settings.process,
            stop_at: self.stop_at(Instant::now()),
            stdin: &self.stdin,
            patterns: self.patterns,
            terminal: self.terminal.as_ref(),
            child_signals: self.child_signals,
            leftovers: &self.leftovers,
            pass_stderr: self.pass_stderr,
        };
        self.reporter.attempt_started(number, &settings.command);
        let began = Instant::now();
        let (ended, held) = self.run_holding(&attempt, signals, guard).await;
        let took = began.elapsed();
        let ended = match ended {
            Ok(ended) => ended,
            Err(error) => {
                // The error ends the run whatever the release says, or a signal during it.
                self.give_back(number, held, signals).await;
                return Err(error);
            }
        };

        let (wait, asked) = self.wait_after(number, &ended.outcome, scheduled);
        let remaining = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let verdict = policy::decide(&self.rules, &ended.outcome, number, wait, remaining);
        self.reporter.attempt_ended(number, &ended.outcome, &verdict, took);
        if let Some(signal) = self.give_back(number, held, signals).await {
            let exit = self.write_held(number, ended.held.as_ref());
            return Ok(Step::Done(exit.unwrap_or(Exit::Signal(signal))));
        }
        match verdict {
            Verdict::Retry(reason) => Ok(Step::Retry(Box::new(Retry {
                outcome: ended.outcome,
                reason,
                wait,
                asked,
                held: ended.held,
            }))),
            Verdict::Succeeded => {
                let exit = self.write_held(number, ended.held.as_ref());
                Ok(Step::Done(exit.unwrap_or(Exit::of(&ended.outcome))))
            }
            Verdict::GiveUp(why) => {
                let exit = self
                    .write_held(number, ended.held.as_ref())
                    .unwrap_or(Exit::of(&ended.outcome));
                let hooked = self
                    .on_giveup(number, &why, Some(&ended.outcome), exit, signals)
                    .await?;
                Ok(Step::Done(hooked.unwrap_or(exit)))
            }
        }
    }

    /// The wait before the next attempt: the scheduled one, or what the
    /// output asked for (`--retry-after`) if that is longer, under the cap.
    fn wait_after(&self, number: u32, outcome: &Outcome, scheduled: Duration) -> (Duration, Option<Duration>) {
        let Some(text) = &outcome.hint else {
            return (scheduled, None);
        };
        match parse::wait_asked(text) {
            Ok(asked) => (hinted(scheduled, asked, self.settings.schedule.max_delay), Some(asked)),
            Err(why) => {
                self.reporter.ignored_hint(number, &why);
                (scheduled, None)
            }
        }
    }

    /// Writes the final attempt's held stdout (`--hold-stdout`). When its
    /// reader has gone, the run ends as for a closed output (SIGPIPE); when
    /// the write fails otherwise (a full disk), as GNU tools end after a
    /// write error.
    fn write_held(&self, number: u32, held: Option<&SpillBuffer>) -> Option<Exit> {
        let held = held?;
        let mut out = std::io::stdout().lock();
        let error = held.write_to(&mut out).and_then(|()| out.flush()).err()?;
        let exit = match error.kind() {
            std::io::ErrorKind::BrokenPipe => Exit::Signal(crate::parse::AnySignal::PIPE),
            _ => Exit::Code(crate::exit::WRITE_FAILED),
        };
        self.reporter.held_output_failed(number, &error, exit);
        Some(exit)
    }

    /// When an attempt starting `now` must stop: at its `--timeout`, or at the deadline.
    fn stop_at(&self, now: Instant) -> Option<(Instant, Stop)> {
        earliest(
            self.settings.process.timeout.map(|t| (now + t, Stop::Timeout)),
            self.deadline.map(|d| (d, Stop::Deadline)),
        )
    }
}
