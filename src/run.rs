//! The retry loop: attempts, decisions and sleeps, from resolved settings.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::error::Error;
use crate::exit::{Exit, OWN_FAILURE, TIMED_OUT};
use crate::lock::{Held, Lock};
use crate::pattern::PatternSet;
use crate::policy::{self, Rules, Stop, Verdict};
use crate::report::Reporter;
use crate::stdin::Stdin;
use crate::supervise::{self, Attempt, Patterns, Signals};
use crate::terminal::Terminal;

/// Compiles every pattern of the settings; a bad one is an error before anything runs.
pub fn compile(settings: &Settings) -> Result<Patterns, Error> {
    Ok(Patterns {
        stderr: PatternSet::compile(&settings.patterns, "--pattern").map_err(Error::Usage)?,
        stdout: PatternSet::compile(&settings.stdout_patterns, "--stdout-pattern").map_err(Error::Usage)?,
        abort: PatternSet::compile(&settings.abort_on, "--abort-on").map_err(Error::Usage)?,
    })
}

pub async fn run(settings: &Settings, patterns: &Patterns, lock: Option<&Lock>) -> Result<Exit, Error> {
    let started = Instant::now();
    let deadline = settings.max_time.map(|t| started + t);
    let reporter = Reporter::new(settings.verbosity, settings.log_format, settings.attempts);
    let rules = Rules {
        has_conditions: patterns.stderr.is_some() || patterns.stdout.is_some() || settings.exit_codes.is_some(),
        exit_codes: settings.exit_codes.clone(),
        attempts: settings.attempts,
    };
    let stdin = Stdin::prepare(settings.attempts);
    let terminal = if settings.foreground { None } else { Terminal::find() };
    let mut signals = Signals::install().map_err(|e| Error::io("cannot install signal handlers", e))?;
    let mut delays = settings.schedule.delays();

    for number in 1.. {
        let held_lock = match lock {
            Some(lock) => match take_lock(lock, number, settings, deadline, &reporter, &mut signals).await? {
                Ok(held) => Some(held),
                Err(exit) => return Ok(exit),
            },
            None => None,
        };
        let stop_at = stop_at(Instant::now(), settings.timeout, deadline);
        let attempt = Attempt {
            command: &settings.command,
            number,
            attempts: settings.attempts,
            stdin: &stdin,
            patterns,
            foreground: settings.foreground,
            hold_stdout: settings.hold_stdout,
            stop_at,
            terminal: terminal.as_ref(),
            kill_signal: settings.kill_signal,
            kill_after: settings.kill_after,
        };
        reporter.attempt_started(number, &settings.command);
        let began = Instant::now();
        let ended = supervise::run(&attempt, &mut signals).await?;
        drop(held_lock);

        let delay = delays.next().unwrap_or_default();
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let verdict = policy::decide(&rules, &ended.outcome, number, delay, remaining);
        reporter.attempt_ended(number, &ended.outcome, &verdict, began.elapsed());
        let reason = match verdict {
            Verdict::Retry(reason) => reason,
            Verdict::Succeeded | Verdict::GiveUp(_) => {
                if let Some(held) = &ended.held {
                    let mut out = std::io::stdout().lock();
                    let _ = held.write_to(&mut out).and_then(|()| out.flush());
                }
                return Ok(Exit::of(&ended.outcome));
            }
        };
        reporter.sleeping(number, &ended.outcome, &reason, delay);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            signal = signals.recv() => {
                reporter.interrupted_while_waiting(number, signal);
                return Ok(Exit::Signal(signal));
            }
        }
    }
    unreachable!("attempts are counted without end")
}

/// When this attempt must stop: at its `--timeout`, or at the `--max-time` deadline.
fn stop_at(now: Instant, timeout: Option<Duration>, deadline: Option<Instant>) -> Option<(Instant, Stop)> {
    earliest(
        timeout.map(|t| (now + t, Stop::Timeout)),
        deadline.map(|d| (d, Stop::Deadline)),
    )
}

/// The earlier of two optional limits, each with what it means; the first wins a tie.
fn earliest<T>(a: Option<(Instant, T)>, b: Option<(Instant, T)>) -> Option<(Instant, T)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Takes the lock, waiting at most `--lock-timeout` and never past the deadline.
/// `Ok(Err(exit))` means give up with that exit.
async fn take_lock<'a>(
    lock: &'a Lock,
    number: u32,
    settings: &Settings,
    deadline: Option<Instant>,
    reporter: &Reporter,
    signals: &mut Signals,
) -> Result<Result<Held<'a>, Exit>, Error> {
    if let Some(held) = lock.try_take()? {
        return Ok(Ok(held));
    }
    reporter.waiting_for_lock(number, lock.path());
    let began = Instant::now();
    let give_up = earliest(
        settings.lock_timeout.map(|t| (began + t, OWN_FAILURE)),
        deadline.map(|d| (d, TIMED_OUT)),
    );
    tokio::select! {
        held = lock.take() => Ok(Ok(held?)),
        _ = tokio::time::sleep_until(supervise::at(give_up.map(|g| g.0), supervise::never())), if give_up.is_some() => {
            reporter.lock_timed_out(lock.path(), began.elapsed());
            Ok(Err(Exit::Code(give_up.map_or(OWN_FAILURE, |g| g.1))))
        }
        signal = signals.recv() => {
            reporter.interrupted_while_waiting(number, signal);
            Ok(Err(Exit::Signal(signal)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_limit_wins_and_the_first_wins_a_tie() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert_eq!(earliest(Some((later, 'a')), Some((now, 'b'))), Some((now, 'b')));
        assert_eq!(earliest(Some((now, 'a')), Some((now, 'b'))), Some((now, 'a')));
        assert_eq!(earliest(None, Some((now, 'b'))), Some((now, 'b')));
        assert_eq!(earliest::<char>(None, None), None);
        let stop = stop_at(now, Some(Duration::from_secs(5)), Some(later));
        assert_eq!(stop, Some((later, Stop::Deadline)));
    }
}
