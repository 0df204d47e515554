//! The lock's part of the retry loop: taking it before each attempt
//! (bounded by `--lock-timeout`, the deadline and signals), holding it while
//! the attempt runs, and giving it back after.

use std::future::Future;
use std::time::Instant;

use super::Run;
use crate::clock::{alarm, earliest};
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::lock::{Holder, Lock, LockGuard, Taken};
use crate::signals::Signals;
use crate::supervise::{Attempt, Ended, run_attempt};

impl Run<'_> {
    /// Runs the attempt while holding `guard`, if any: says at once if the
    /// lock is lost meanwhile (the attempt still runs to its end), and
    /// releases it after.
    pub(super) async fn run_holding(
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
