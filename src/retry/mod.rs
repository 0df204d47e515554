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
use crate::supervise::Attempt;
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
    };
    let exit = run.go(&mut signals).await?;
    run.reporter.finish(exit);
    Ok(exit)
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
    async fn go(&self, signals: &mut Signals) -> Result<Exit, Error> {
        if let Some(exit) = self.check_first(signals).await? {
            return Ok(exit);
        }
        let backoff = self.settings.schedule.backoff();
        let mut delays = backoff.delays();
        for number in 1.. {
            let scheduled = delays.next().unwrap_or_default();
            let retry = match self.attempt(number, scheduled, signals).await {
                Ok(Step::Done(exit)) => return Ok(exit),
                Ok(Step::Retry(retry)) => retry,
                Err(error) => return Err(self.cannot_run(number, error, signals).await),
            };
            let Retry {
                outcome: failed,
                reason,
                wait,
                asked,
                held,
            } = *retry;
            if let Some(exit) = self.on_retry(number, &failed, signals).await? {
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
            if let Some(exit) = self.check(number, &failed, signals).await? {
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
        match parse::duration(text) {
            Ok(asked) => (hinted(scheduled, asked, self.settings.schedule.max_delay), Some(asked)),
            Err(why) => {
                self.reporter.ignored_hint(number, &why);
                (scheduled, None)
            }
        }
    }

    /// Writes the final attempt's held stdout (`--hold-stdout`). When its
    /// reader has gone, the run ends as for a closed output: SIGPIPE.
    fn write_held(&self, number: u32, held: Option<&SpillBuffer>) -> Option<Exit> {
        let held = held?;
        let mut out = std::io::stdout().lock();
        match held.write_to(&mut out).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.reporter.held_output_lost(number, &e);
                Some(Exit::Signal(nix::sys::signal::Signal::SIGPIPE))
            }
            _ => None,
        }
    }

    /// When an attempt starting `now` must stop: at its `--timeout`, or at the deadline.
    fn stop_at(&self, now: Instant) -> Option<(Instant, Stop)> {
        earliest(
            self.settings.process.timeout.map(|t| (now + t, Stop::Timeout)),
            self.deadline.map(|d| (d, Stop::Deadline)),
        )
    }
}
