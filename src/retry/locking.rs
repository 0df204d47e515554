//! The lock's part of the retry loop: taking it before each attempt
//! (bounded by `--lock-timeout`, the deadline and signals), holding it while
//! the attempt runs, and giving it back after.

use std::future::Future;
use std::time::Instant;

use super::Run;
use crate::clock::earliest;
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::lock::{Lock, LockGuard, Taken};
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
        let give_up = earliest(
            lock_timeout.map(|t| (began + t, false)),
            self.deadline.map(|d| (d, true)),
        );
        // Even the first try is bounded: a lease is a request that may be slow.
        let first = self.bounded(lock, number, give_up, signals, lock.try_take());
        let guard = match first.await? {
            Ok(Taken::Got(guard)) => guard,
            Ok(Taken::Busy(_)) if lock_timeout.is_some_and(|t| t.is_zero()) => {
                return Err(self.timed_out(lock));
            }
            Ok(Taken::Busy(holder)) => {
                self.reporter.waiting_for_lock(number, &lock.name(), holder.as_deref());
                match self.bounded(lock, number, give_up, signals, lock.take()).await? {
                    Ok(guard) => guard,
                    Err(exit) => return Ok(Err(exit)),
                }
            }
            Err(exit) => return Ok(Err(exit)),
        };
        self.reporter.lock_taken(number, &lock.name(), began.elapsed());
        Ok(Ok(guard))
    }

    fn timed_out(&self, lock: &Lock) -> Error {
        Error::LockTimeout {
            lock: lock.name(),
            limit: self.settings.process.lock_timeout.unwrap_or_default(),
        }
    }

    /// Runs `step` of taking the lock unless `give_up` (the `--lock-timeout`,
    /// or the deadline when its flag is true) comes first, or a signal.
    async fn bounded<T>(
        &self,
        lock: &Lock,
        number: u32,
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
                Err(self.timed_out(lock))
            }
            signal = signals.recv() => {
                self.reporter.interrupted(number, signal, "while waiting for the lock; not running the command");
                Ok(Err(Exit::Signal(signal)))
            }
        }
    }
}
