//! The hooks' part of the retry loop: `--check` (also `--check-first`),
//! `--on-retry` and `--on-giveup`, each run as `sh -c CMD` by `supervise`
//! and bounded by `--hook-timeout` and (but for `--on-giveup`) the
//! `--max-time` deadline.

use std::time::Instant;

use super::Run;
use crate::clock::earliest;
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::policy::{GiveUp, Outcome, Stop};
use crate::settings::HookKind;
use crate::signals::Signals;
use crate::supervise::{Hook, HookEnd, run_hook};

/// What a hook's end means for the run.
enum HookVerdict {
    /// It exited 0.
    Passed,
    /// It failed, or ran out of its own time.
    Failed(HookEnd),
    /// A signal stopped it: the run is over, with this exit.
    Interrupted(Exit),
    /// The `--max-time` deadline stopped it: retry-on gives up, with this exit.
    Deadline(Exit),
}

impl Run<'_> {
    /// `--check-first`: when the state already holds, the command never runs.
    pub(super) async fn check_first(&self, signals: &mut Signals) -> Result<Option<Exit>, Error> {
        if !self.settings.hooks.check_first {
            return Ok(None);
        }
        self.check_at(0, None, signals).await
    }

    /// `--check`, after the wait and before attempt `number + 1`.
    pub(super) async fn check(
        &self,
        number: u32,
        failed: &Outcome,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        self.check_at(number, Some(failed), signals).await
    }

    /// `--check` after attempt `number` (0: before the first), which `failed`.
    async fn check_at(
        &self,
        number: u32,
        failed: Option<&Outcome>,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        let Some(command) = &self.settings.hooks.check else {
            return Ok(None);
        };
        let last = failed.map_or(Exit::Code(TIMED_OUT), Exit::of);
        let at = At {
            number,
            outcome: failed,
            reason: None,
            last,
        };
        match self.run_named(HookKind::Check, command, at, signals).await? {
            HookVerdict::Passed => {
                match failed {
                    Some(failed) => self.reporter.check_passed(number, failed),
                    None => self.reporter.check_passed_first(),
                }
                Ok(Some(Exit::Code(0)))
            }
            HookVerdict::Failed(_) => Ok(None),
            HookVerdict::Interrupted(exit) => Ok(Some(exit)),
            HookVerdict::Deadline(exit) => self.gave_up_at_deadline(number, failed, exit, signals).await,
        }
    }

    /// `--on-retry`, before the wait: a failed cleanup makes the next attempt unsafe.
    pub(super) async fn on_retry(
        &self,
        number: u32,
        failed: &Outcome,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        let Some(command) = &self.settings.hooks.on_retry else {
            return Ok(None);
        };
        let exit = Exit::of(failed);
        let at = At {
            number,
            outcome: Some(failed),
            reason: None,
            last: exit,
        };
        match self.run_named(HookKind::OnRetry, command, at, signals).await? {
            HookVerdict::Passed => Ok(None),
            HookVerdict::Failed(end) => {
                self.reporter.on_retry_failed(number, failed, end.ending, end.stopped);
                let hooked = self
                    .giveup_hook(number, "on-retry-failed", Some(failed), exit, signals)
                    .await?;
                Ok(Some(hooked.unwrap_or(exit)))
            }
            HookVerdict::Interrupted(exit) => Ok(Some(exit)),
            HookVerdict::Deadline(exit) => self.gave_up_at_deadline(number, Some(failed), exit, signals).await,
        }
    }

    /// The deadline stopped a hook: retry-on gives up, and `--on-giveup` runs.
    async fn gave_up_at_deadline(
        &self,
        number: u32,
        failed: Option<&Outcome>,
        exit: Exit,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        let hooked = self.giveup_hook(number, "deadline", failed, exit, signals).await?;
        Ok(Some(hooked.unwrap_or(exit)))
    }

    /// `--on-giveup`, once, when retry-on gives up for a reason other than an
    /// interrupt. `Some(exit)` only when a signal ends the run meanwhile.
    pub(super) async fn on_giveup(
        &self,
        number: u32,
        why: &GiveUp,
        outcome: Option<&Outcome>,
        exit: Exit,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        match why.reason_word() {
            Some(reason) => self.giveup_hook(number, reason, outcome, exit, signals).await,
            None => Ok(None),
        }
    }

    /// An attempt that could not start (126, 127) is a give-up too.
    pub(super) async fn cannot_run(&self, number: u32, error: Error, signals: &mut Signals) -> Error {
        if error.is_cannot_run() {
            let exit = Exit::Code(error.exit_code());
            if let Err(hook_error) = self.giveup_hook(number, "cannot-run", None, exit, signals).await {
                return hook_error;
            }
        }
        error
    }

    /// `--on-giveup`. It runs after retrying is over, so the deadline does not
    /// bound it (it may be why retry-on gave up): `--hook-timeout` does.
    async fn giveup_hook(
        &self,
        number: u32,
        reason: &'static str,
        outcome: Option<&Outcome>,
        exit: Exit,
        signals: &mut Signals,
    ) -> Result<Option<Exit>, Error> {
        let Some(command) = &self.settings.hooks.on_giveup else {
            return Ok(None);
        };
        let at = At {
            number,
            outcome,
            reason: Some(reason),
            last: exit,
        };
        match self.run_named(HookKind::OnGiveup, command, at, signals).await? {
            HookVerdict::Interrupted(exit) => Ok(Some(exit)),
            _ => Ok(None),
        }
    }

    /// Runs one hook and says what its end means.
    async fn run_named(
        &self,
        kind: HookKind,
        command: &str,
        at: At<'_>,
        signals: &mut Signals,
    ) -> Result<HookVerdict, Error> {
        let At {
            number,
            outcome,
            reason,
            last,
        } = at;
        let hooks = &self.settings.hooks;
        let timeout = hooks.hook_timeout.map(|t| (Instant::now() + t, Stop::Timeout));
        let deadline = match kind {
            HookKind::OnGiveup => None,
            HookKind::Check | HookKind::OnRetry => self.deadline.map(|d| (d, Stop::Deadline)),
        };
        let hook = Hook {
            command,
            env: hook_env(number, self.settings.schedule.attempts, outcome, last, reason),
            stop_at: earliest(timeout, deadline),
            kill_after: self.settings.process.kill_after,
            child_signals: self.child_signals,
        };
        self.reporter.hook_started(kind, number, command);
        let end = run_hook(&hook, signals).await?;
        self.reporter
            .hook_ended(kind, number, end.ending, end.stopped, end.took);
        Ok(match (end.interrupted, end.stopped) {
            (Some(signal), _) => {
                self.reporter
                    .interrupted(number, signal, &format!("during {}; not retrying", kind.flag()));
                HookVerdict::Interrupted(Exit::Signal(signal))
            }
            (None, Some(Stop::Deadline)) => {
                self.reporter.deadline_during_hook(kind, number, last);
                HookVerdict::Deadline(last)
            }
            _ if end.succeeded() => HookVerdict::Passed,
            _ => HookVerdict::Failed(end),
        })
    }
}

/// Where in the run a hook runs.
struct At<'a> {
    /// The attempt that just ended; 0 before the first.
    number: u32,
    outcome: Option<&'a Outcome>,
    /// For `--on-giveup`: why retry-on gave up.
    reason: Option<&'static str>,
    /// How the run ends if the deadline stops the hook.
    last: Exit,
}

/// The variables a hook sees, beside the attempt's environment.
fn hook_env(
    number: u32,
    attempts: u32,
    outcome: Option<&Outcome>,
    exit: Exit,
    reason: Option<&'static str>,
) -> Vec<(&'static str, String)> {
    let exit_code = outcome.map_or(exit.shell_code(), |o| o.ending.code());
    // The text the message quotes: what an abort pattern matched, if one did.
    let matched = outcome
        .and_then(|o| o.abort_match.as_ref().or(o.retry_match.as_ref()))
        .map(|m| m.text.clone());
    vec![
        ("RETRY_ON_ATTEMPT", number.to_string()),
        ("RETRY_ON_ATTEMPTS", attempts.to_string()),
        (
            "RETRY_ON_EXIT_CODE",
            if number == 0 {
                String::new()
            } else {
                exit_code.to_string()
            },
        ),
        ("RETRY_ON_MATCHED", matched.unwrap_or_default()),
        // Empty but for --on-giveup, so that no outer value shows through.
        ("RETRY_ON_REASON", reason.unwrap_or_default().to_string()),
    ]
}
