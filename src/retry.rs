//! The retry loop: attempts, decisions and waits, from resolved settings.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::clock::earliest;
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::lock::{Lock, LockGuard, Taken};
use crate::pattern::Patterns;
use crate::policy::{self, Rules, Stop, Verdict};
use crate::report::Reporter;
use crate::settings::Settings;
use crate::signals::Signals;
use crate::spool::SpillBuffer;
use crate::stdin::Stdin;
use crate::supervise::{Attempt, Ended, run_attempt};
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
}

/// Runs the command until it succeeds or retry-on gives up.
pub async fn retry(settings: &Settings, patterns: &Patterns, lock: Option<&Lock>) -> Result<Exit, Error> {
    let schedule = &settings.schedule;
    let run = Run {
        settings,
        patterns,
        lock,
        reporter: Reporter::new(&settings.output, schedule.attempts),
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
        deadline: schedule.max_time.map(|t| Instant::now() + t),
    };
    let mut signals = Signals::install().map_err(|e| Error::io("cannot install signal handlers", e))?;
    let backoff = schedule.backoff();
    let mut delays = backoff.delays();
    for number in 1.. {
        let delay = delays.next().unwrap_or_default();
        if let Some(exit) = run.attempt(number, delay, &mut signals).await? {
            return Ok(exit);
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            signal = signals.recv() => {
                run.reporter.interrupted_while_waiting(number, signal);
                return Ok(Exit::Signal(signal));
            }
        }
    }
    unreachable!("attempts are counted without end")
}

impl Run<'_> {
    /// Runs attempt `number` and decides; `Some(exit)` when the run is over,
    /// `None` to wait `delay` and try again.
    async fn attempt(&self, number: u32, delay: Duration, signals: &mut Signals) -> Result<Option<Exit>, Error> {
        let guard = match self.lock {
            Some(lock) => match self.take_lock(lock, number, signals).await? {
                Ok(guard) => Some(guard),
                Err(exit) => return Ok(Some(exit)),
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
        };
        self.reporter.attempt_started(number, &settings.command);
        let began = Instant::now();
        let ended = self.run_holding(&attempt, signals, guard).await?;

        let remaining = self.deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let verdict = policy::decide(&self.rules, &ended.outcome, number, delay, remaining);
        self.reporter
            .attempt_ended(number, &ended.outcome, &verdict, began.elapsed());
        match verdict {
            Verdict::Retry(reason) => {
                self.reporter.sleeping(number, &ended.outcome, &reason, delay);
                Ok(None)
            }
            Verdict::Succeeded | Verdict::GiveUp(_) => {
                write_held(ended.held.as_ref());
                Ok(Some(Exit::of(&ended.outcome)))
            }
        }
    }

    /// When an attempt starting `now` must stop: at its `--timeout`, or at the deadline.
    fn stop_at(&self, now: Instant) -> Option<(Instant, Stop)> {
        earliest(
            self.settings.process.timeout.map(|t| (now + t, Stop::Timeout)),
            self.deadline.map(|d| (d, Stop::Deadline)),
        )
    }

    /// Runs the attempt while holding `guard`, if any: says at once if the
    /// lock is lost meanwhile (the attempt still runs to its end), and
    /// releases it after.
    async fn run_holding(
        &self,
        attempt: &Attempt<'_>,
        signals: &mut Signals,
        guard: Option<LockGuard<'_>>,
    ) -> Result<Ended, Error> {
        let (Some(lock), Some(mut guard)) = (self.lock, guard) else {
            return run_attempt(attempt, signals).await;
        };
        let running = run_attempt(attempt, signals);
        tokio::pin!(running);
        let mut lost = false;
        let ended = tokio::select! {
            ended = &mut running => ended,
            () = guard.lost() => {
                lost = true;
                self.reporter.lock_lost(attempt.number, &lock.name());
                running.await
            }
        };
        match guard.release().await {
            true => self.reporter.lock_released(attempt.number, &lock.name()),
            false if !lost => self.reporter.lock_lost(attempt.number, &lock.name()),
            false => {}
        }
        ended
    }

    /// Takes the lock, waiting at most `--lock-timeout` and never past the
    /// deadline. `Ok(Err(exit))` means the run is over, with that exit.
    async fn take_lock<'l>(
        &self,
        lock: &'l Lock,
        number: u32,
        signals: &mut Signals,
    ) -> Result<Result<LockGuard<'l>, Exit>, Error> {
        let began = Instant::now();
        let timeout = self.settings.process.lock_timeout.map(|t| (began + t, false));
        let give_up = earliest(timeout, self.deadline.map(|d| (d, true)));
        // Even the first try is bounded: a lease is a request that may be slow.
        let guard = match self
            .bounded(lock, number, began, give_up, signals, lock.try_take())
            .await?
        {
            Ok(Taken::Got(guard)) => guard,
            Ok(Taken::Busy(holder)) => {
                self.reporter.waiting_for_lock(number, &lock.name(), holder.as_deref());
                match self.bounded(lock, number, began, give_up, signals, lock.take()).await? {
                    Ok(guard) => guard,
                    Err(exit) => return Ok(Err(exit)),
                }
            }
            Err(exit) => return Ok(Err(exit)),
        };
        self.reporter.lock_taken(number, &lock.name(), began.elapsed());
        Ok(Ok(guard))
    }

    /// Runs `step` of taking the lock unless `give_up` (the `--lock-timeout`,
    /// or the deadline when its flag is true) comes first, or a signal.
    async fn bounded<T>(
        &self,
        lock: &Lock,
        number: u32,
        began: Instant,
        give_up: Option<(Instant, bool)>,
        signals: &mut Signals,
        step: impl Future<Output = Result<T, Error>>,
    ) -> Result<Result<T, Exit>, Error> {
        tokio::select! {
            biased;
            taken = step => Ok(Ok(taken?)),
            _ = crate::clock::alarm(give_up.map(|(at, _)| at)) => {
                if give_up.is_some_and(|(_, deadline)| deadline) {
                    self.reporter.deadline_while_waiting_for_lock(number, &lock.name());
                    return Ok(Err(Exit::Code(TIMED_OUT)));
                }
                Err(Error::LockTimeout { lock: lock.name(), waited: began.elapsed() })
            }
            signal = signals.recv() => {
                self.reporter.interrupted_while_waiting_for_lock(number, signal);
                Ok(Err(Exit::Signal(signal)))
            }
        }
    }
}

/// Writes the final attempt's held stdout (`--hold-stdout`).
fn write_held(held: Option<&SpillBuffer>) {
    if let Some(held) = held {
        let mut out = std::io::stdout().lock();
        let _ = held.write_to(&mut out).and_then(|()| out.flush());
    }
}
