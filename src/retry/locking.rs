//! The lock's part of the retry loop: opening it (within the deadline),
//! taking it before each attempt (bounded by `--lock-timeout`, the deadline
//! and signals), holding it while the attempt runs, and giving it back after
//! (bounded too).

use std::future::Future;
use std::time::{Duration, Instant};

use super::Run;
use crate::clock::{alarm, earliest};
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::lock::{Holder, LeaseOptions, Lock, LockGuard, Released, Taken};
use crate::parse::{AnySignal, LockTarget, show_duration};
use crate::report::{self, Reporter};
use crate::settings::Settings;
use crate::signals::Signals;
use crate::supervise::{Attempt, Ended, run_attempt};

/// How long giving a lease back may take: a healthy service answers in
/// milliseconds, and one that does not must not hold the run.
const RELEASE_WITHIN: Duration = Duration::from_secs(5);
/// What is left for it once the deadline has passed: a lease left behind
/// keeps the other writers out until it expires.
const RELEASE_PAST_DEADLINE: Duration = Duration::from_secs(1);

/// A lock held for an attempt that has ended, to give back.
pub(super) struct Held<'l> {
    guard: LockGuard<'l>,
    /// Whether its loss was said while the attempt ran.
    lost_said: bool,
}

/// Opens `target` for the run, within the deadline (loading the AWS
/// configuration may take a while) and unless a signal comes first.
pub(super) async fn open_lock(
    settings: &Settings,
    target: &LockTarget,
    deadline: Option<Instant>,
    reporter: &Reporter,
    signals: &mut Signals,
) -> Result<Result<Lock, Exit>, Error> {
    let options = LeaseOptions {
        lease: settings.process.lock_lease,
        create_table: settings.process.lock_create_table,
        command: report::shell_words(&settings.command),
    };
    tokio::select! {
        biased;
        lock = Lock::open(target, options, settings.lock_place.as_deref()) => Ok(Ok(lock?)),
        () = alarm(deadline) => {
            reporter.deadline_while_waiting_for_lock(1, &target.to_string());
            Ok(Err(Exit::Code(TIMED_OUT)))
        }
        signal = signals.recv() => {
            reporter.interrupted(1, signal, "while opening the lock; not running the command");
            Ok(Err(Exit::Signal(signal)))
        }
    }
}

impl Run<'_> {
    /// Runs the attempt while holding `guard`, if any, and says at once if
    /// the lock is lost meanwhile (the attempt still runs to its end). The
    /// lock comes back with the attempt's end, to give back.
    pub(super) async fn run_holding<'l>(
        &self,
        attempt: &Attempt<'_>,
        signals: &mut Signals,
        guard: Option<LockGuard<'l>>,
    ) -> (Result<Ended, Error>, Option<Held<'l>>) {
        let (Some(lock), Some(mut guard)) = (self.lock, guard) else {
            return (run_attempt(attempt, signals).await, None);
        };
        let running = run_attempt(attempt, signals);
        tokio::pin!(running);
        let mut lost_said = false;
        let ended = tokio::select! {
            ended = &mut running => ended,
            lost = guard.lost() => {
                lost_said = true;
                self.reporter.lock_lost(attempt.number, &lock.name(), &lost);
                running.await
            }
        };
        (ended, Some(Held { guard, lost_said }))
    }

    /// Gives the lock back after attempt `number`, within [`RELEASE_WITHIN`]
    /// and the deadline. `Some(signal)` when a signal came first (said): the
    /// run ends with it.
    ///
    /// A release that fails is said, and changes no exit code: the run's
    /// outcome is the command's, and a lease not given back expires by
    /// itself, which only keeps the next writer waiting until then.
    pub(super) async fn give_back(
        &self,
        number: u32,
        held: Option<Held<'_>>,
        signals: &mut Signals,
    ) -> Option<AnySignal> {
        let (Some(lock), Some(Held { guard, lost_said })) = (self.lock, held) else {
            return None;
        };
        let name = lock.name();
        let expires = guard.expires();
        let now = Instant::now();
        let left = self.deadline.map_or(RELEASE_WITHIN, |deadline| {
            deadline.saturating_duration_since(now).max(RELEASE_PAST_DEADLINE)
        });
        let within = RELEASE_WITHIN.min(left);
        let released = tokio::select! {
            biased;
            released = guard.release() => released,
            () = tokio::time::sleep(within) => Released::Failed(format!("no answer within {}", show_duration(within))),
            signal = signals.recv() => {
                let why = format!("interrupted by {}", signal.full_name());
                self.reporter.lock_release_failed(number, &name, &why, expires);
                self.reporter.interrupted(number, signal, "while releasing the lock");
                return Some(signal);
            }
        };
        match released {
            Released::Given => self.reporter.lock_released(number, &name),
            Released::Lost(lost) if !lost_said => self.reporter.lock_lost(number, &name, &lost),
            Released::Lost(_) => {}
            Released::Failed(error) => self.reporter.lock_release_failed(number, &name, &error, expires),
        }
        None
    }

    /// Takes the lock, waiting at most `--lock-timeout` (0: not at all) and
    /// never past the deadline. `Ok(Err(exit))` means the run is over.
    pub(super) async fn take_lock<'l>(
        &self,
        lock: &'l Lock,
        number: u32,
        signals: &mut Signals,
    ) -> Result<Result<LockGuard<'l>, Exit>, Error> {
        let began = Instant::now();
        let lock_timeout = self.settings.process.lock_timeout;
        let deadline = self.deadline.map(|d| (d, true));
        let give_up = earliest(lock_timeout.map(|t| (began + t, false)), deadline);
        // Even the first try is bounded: a lease is a request that may be
        // slow. But `--lock-timeout 0` means one try, not none: the try
        // itself is bounded only by the deadline (and the SDK's timeouts).
        let no_wait = lock_timeout.is_some_and(|t| t.is_zero());
        let first_give_up = if no_wait { deadline } else { give_up };
        let first = self.bounded(lock, number, first_give_up, signals, &Holder::Unknown, lock.try_take());
        let guard = match first.await? {
            Ok(Taken::Got(guard)) => guard,
            Ok(Taken::Busy(holder)) if no_wait => {
                return Err(self.timed_out(lock, &holder));
            }
            Ok(Taken::Busy(holder)) => {
                self.reporter.waiting_for_lock(number, &lock.name(), &holder);
                match self
                    .bounded(lock, number, give_up, signals, &holder, lock.take())
                    .await?
                {
                    Ok(guard) => guard,
                    Err(exit) => return Ok(Err(exit)),
                }
            }
            Err(exit) => return Ok(Err(exit)),
        };
        self.reporter.lock_taken(number, &lock.name(), began.elapsed());
        Ok(Ok(guard))
    }

    fn timed_out(&self, lock: &Lock, holder: &Holder) -> Error {
        Error::LockTimeout {
            lock: lock.name(),
            limit: self.settings.process.lock_timeout.unwrap_or_default(),
            holder: match holder {
                Holder::Named(holder) => Some(holder.clone()),
                Holder::Unknown | Holder::Gone => None,
            },
            answered: lock.answered(),
        }
    }

    /// Runs `step` of taking the lock unless `give_up` (the `--lock-timeout`,
    /// or the deadline when its flag is true) comes first, or a signal.
    /// `holder` is who held the lock when last asked, for the message.
    async fn bounded<T>(
        &self,
        lock: &Lock,
        number: u32,
        give_up: Option<(Instant, bool)>,
        signals: &mut Signals,
        holder: &Holder,
        step: impl Future<Output = Result<T, Error>>,
    ) -> Result<Result<T, Exit>, Error> {
        tokio::select! {
            biased;
            taken = step => Ok(Ok(taken?)),
            _ = alarm(give_up.map(|(at, _)| at)) => {
                if give_up.is_some_and(|(_, deadline)| deadline) {
                    self.reporter.deadline_while_waiting_for_lock(number, &lock.name());
                    return Ok(Err(Exit::Code(TIMED_OUT)));
                }
                Err(self.timed_out(lock, holder))
            }
            signal = signals.recv() => {
                self.reporter.interrupted(number, signal, "while waiting for the lock; not running the command");
                Ok(Err(Exit::Signal(signal)))
            }
        }
    }
}
