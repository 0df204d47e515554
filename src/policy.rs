//! Given how an attempt ended, decide whether to retry: pure code.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::parse::{AnySignal, ExitCodes};

/// How the command's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    Exited(i32),
    Signaled(i32),
}

impl Ending {
    /// The status as a shell shows it: the exit code, or 128+N for signal N.
    pub(crate) fn code(self) -> i32 {
        match self {
            Ending::Exited(code) => code,
            Ending::Signaled(signal) => 128 + signal,
        }
    }
}

/// Why retry-on stopped an attempt itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `--timeout` ran out for this attempt.
    Timeout,
    /// `--max-time` ran out for the whole run.
    Deadline,
}

/// Which output stream a pattern matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
    /// Stdout and stderr as one stream (`>log 2>&1`).
    Both,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Matched {
    pub stream: Stream,
    /// The pattern as the user gave it.
    pub pattern: String,
    /// The text it matched.
    pub text: String,
}

/// Everything the decision needs to know about one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub ending: Ending,
    pub stopped: Option<Stop>,
    /// A signal that retry-on itself received during the attempt.
    pub interrupted: Option<AnySignal>,
    pub retry_match: Option<Matched>,
    pub abort_match: Option<Matched>,
    /// retry-on's own stdout or stderr was closed under the command (a broken pipe).
    pub output_closed: bool,
    /// retry-on could not write the command's stdout for another reason (a
    /// full disk): the OS error.
    pub output_failed: Option<String>,
    /// The command was lent the terminal, so Ctrl-C went to it, not to retry-on.
    pub had_terminal: bool,
    /// What the last `--retry-after` line captured: the wait the output asked for.
    pub hint: Option<String>,
    /// Why `--hold-stdout` had to write the held stdout early, if it had.
    pub held_overflow: Option<String>,
    /// Why stdin could not be kept for another attempt, if it could not.
    pub stdin_lost: Option<String>,
}

impl Outcome {
    #[cfg(test)]
    pub fn exited(code: i32) -> Outcome {
        Outcome {
            ending: Ending::Exited(code),
            stopped: None,
            interrupted: None,
            retry_match: None,
            abort_match: None,
            output_closed: false,
            output_failed: None,
            had_terminal: false,
            hint: None,
            held_overflow: None,
            stdin_lost: None,
        }
    }
}

/// The retry conditions of a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules {
    /// Whether any retry condition (a pattern or an exit-code list) was given.
    pub has_conditions: bool,
    pub exit_codes: Option<ExitCodes>,
    /// Total attempts; 0 means no limit.
    pub attempts: u32,
}

/// Why a failed attempt is worth another try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Matched(Matched),
    ExitCode(i32),
    TimedOut,
    /// No condition was given, so any failure is retried.
    AnyFailure,
}

/// Why retry-on stops after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GiveUp {
    /// Retry conditions were given and none held.
    NoMatch,
    Aborted(Matched),
    AttemptsExhausted(Reason),
    /// The next delay would end at or after `--max-time`.
    DeadlineAhead {
        reason: Reason,
        delay: Duration,
    },
    /// `--max-time` stopped the attempt.
    DeadlineReached,
    /// retry-on was sent this signal.
    Interrupted(AnySignal),
    /// The command died of SIGINT: someone meant to stop it.
    CommandInterrupted,
    /// The command's output has nowhere to go: a later attempt cannot do better.
    OutputClosed,
    /// Its stdout could not be written (the OS error): what was lost cannot
    /// be taken back, even after a success.
    OutputFailed(String),
    /// Stdin could not be kept, so no later attempt could be given it (the OS error).
    StdinLost(String),
}

impl GiveUp {
    /// One word for why retry-on gave up, as `--on-giveup` sees it in
    /// `RETRY_ON_REASON`; `None` for an interrupt, which runs no hook.
    pub(crate) fn reason_word(&self) -> Option<&'static str> {
        match self {
            GiveUp::NoMatch => Some("no-condition"),
            GiveUp::Aborted(_) => Some("abort"),
            GiveUp::AttemptsExhausted(_) => Some("attempts"),
            GiveUp::DeadlineAhead { .. } | GiveUp::DeadlineReached => Some("deadline"),
            GiveUp::OutputClosed => Some("output-closed"),
            GiveUp::OutputFailed(_) => Some("output-failed"),
            GiveUp::StdinLost(_) => Some("stdin-lost"),
            GiveUp::Interrupted(_) | GiveUp::CommandInterrupted => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Succeeded,
    Retry(Reason),
    GiveUp(GiveUp),
}

/// The retry decision. `attempt` counts from 1; `next_delay` is the wait
/// before the next attempt; `remaining` is the time left before `--max-time`.
pub(crate) fn decide(
    rules: &Rules,
    outcome: &Outcome,
    attempt: u32,
    next_delay: Duration,
    remaining: Option<Duration>,
) -> Verdict {
    if let Some(signal) = outcome.interrupted {
        return Verdict::GiveUp(GiveUp::Interrupted(signal));
    }
    if let Some(why) = &outcome.output_failed {
        return Verdict::GiveUp(GiveUp::OutputFailed(why.clone()));
    }
    match outcome.stopped {
        Some(Stop::Deadline) => return Verdict::GiveUp(GiveUp::DeadlineReached),
        None if outcome.ending == Ending::Exited(0) => return Verdict::Succeeded,
        _ => {}
    }
    // A death by SIGINT that retry-on did not cause itself (with
    // --kill-signal) means someone stopped the command.
    let died_of = |signal: Signal| outcome.stopped.is_none() && outcome.ending == Ending::Signaled(signal as i32);
    // With the terminal, Ctrl-C reached only the command; many commands
    // (the AWS CLI among them) catch it and exit 130.
    let ctrl_c_exit = outcome.had_terminal && outcome.ending == Ending::Exited(128 + Signal::SIGINT as i32);
    if died_of(Signal::SIGINT) || ctrl_c_exit {
        return Verdict::GiveUp(GiveUp::CommandInterrupted);
    }
    // A broken output of retry-on's own ends the run, however the command
    // took it (SIGPIPE, or an exit code of its own); a SIGPIPE death with
    // retry-on's output fine is an ordinary signal death (a broken internal
    // pipe is transient).
    if outcome.output_closed {
        return Verdict::GiveUp(GiveUp::OutputClosed);
    }
    if let Some(abort) = &outcome.abort_match {
        return Verdict::GiveUp(GiveUp::Aborted(abort.clone()));
    }
    let code = outcome.ending.code();
    let reason = if outcome.stopped == Some(Stop::Timeout) {
        Reason::TimedOut
    } else if let Some(matched) = &outcome.retry_match {
        Reason::Matched(matched.clone())
    } else if rules.exit_codes.as_ref().is_some_and(|codes| codes.contains(code)) {
        Reason::ExitCode(code)
    } else if !rules.has_conditions {
        Reason::AnyFailure
    } else {
        return Verdict::GiveUp(GiveUp::NoMatch);
    };
    if let Some(why) = &outcome.stdin_lost {
        return Verdict::GiveUp(GiveUp::StdinLost(why.clone()));
    }
    if rules.attempts != 0 && attempt >= rules.attempts {
        return Verdict::GiveUp(GiveUp::AttemptsExhausted(reason));
    }
    if remaining.is_some_and(|left| next_delay >= left) {
        return Verdict::GiveUp(GiveUp::DeadlineAhead {
            reason,
            delay: next_delay,
        });
    }
    Verdict::Retry(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(pattern: &str) -> Matched {
        Matched {
            stream: Stream::Stderr,
            pattern: pattern.into(),
            text: pattern.into(),
        }
    }

    fn rules(has_conditions: bool, exit_codes: Option<&str>) -> Rules {
        Rules {
            has_conditions,
            exit_codes: exit_codes.map(|c| ExitCodes::parse(c).unwrap()),
            attempts: 5,
        }
    }

    fn decide1(rules: &Rules, outcome: &Outcome) -> Verdict {
        decide(rules, outcome, 1, Duration::from_secs(1), None)
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn exit_zero_is_success_even_when_stderr_matched() {
        let outcome = Outcome {
            retry_match: Some(matched("x")),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&rules(true, None), &outcome), Verdict::Succeeded);
    }

    #[test]
    fn without_conditions_any_failure_is_retried() {
        assert_eq!(
            decide1(&rules(false, None), &Outcome::exited(3)),
            Verdict::Retry(Reason::AnyFailure)
        );
        let killed = Outcome {
            ending: Ending::Signaled(9),
            ..Outcome::exited(0)
        };
        assert_eq!(
            decide1(&rules(false, None), &killed),
            Verdict::Retry(Reason::AnyFailure)
        );
    }

    #[test]
    fn with_conditions_a_failure_needs_a_match_or_a_listed_code() {
        let r = rules(true, Some("40-45"));
        assert_eq!(decide1(&r, &Outcome::exited(1)), Verdict::GiveUp(GiveUp::NoMatch));
        assert_eq!(decide1(&r, &Outcome::exited(42)), Verdict::Retry(Reason::ExitCode(42)));
        let hit = Outcome {
            retry_match: Some(matched("Throttling")),
            ..Outcome::exited(255)
        };
        assert_eq!(
            decide1(&r, &hit),
            Verdict::Retry(Reason::Matched(matched("Throttling")))
        );
    }

    #[test]
    fn a_signal_death_is_matched_as_128_plus_n() {
        let r = rules(true, Some("137"));
        let killed = Outcome {
            ending: Ending::Signaled(9),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&r, &killed), Verdict::Retry(Reason::ExitCode(137)));
    }

    #[test]
    fn abort_wins_over_a_retry_match() {
        let outcome = Outcome {
            retry_match: Some(matched("Throttling")),
            abort_match: Some(matched("AccessDenied")),
            ..Outcome::exited(255)
        };
        assert_eq!(
            decide1(&rules(true, None), &outcome),
            Verdict::GiveUp(GiveUp::Aborted(matched("AccessDenied")))
        );
    }

    #[test]
    fn a_timed_out_attempt_is_retried() {
        let outcome = Outcome {
            ending: Ending::Signaled(15),
            stopped: Some(Stop::Timeout),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&rules(true, None), &outcome), Verdict::Retry(Reason::TimedOut));
        let exited_zero_after_term = Outcome {
            stopped: Some(Stop::Timeout),
            ..Outcome::exited(0)
        };
        assert_eq!(
            decide1(&rules(true, None), &exited_zero_after_term),
            Verdict::Retry(Reason::TimedOut)
        );
    }

    #[test]
    fn the_last_attempt_gives_up() {
        let r = rules(false, None);
        assert_eq!(
            decide(&r, &Outcome::exited(1), 4, S, None),
            Verdict::Retry(Reason::AnyFailure)
        );
        assert_eq!(
            decide(&r, &Outcome::exited(1), 5, S, None),
            Verdict::GiveUp(GiveUp::AttemptsExhausted(Reason::AnyFailure))
        );
        let unlimited = Rules { attempts: 0, ..r };
        assert_eq!(
            decide(&unlimited, &Outcome::exited(1), 10_000, S, None),
            Verdict::Retry(Reason::AnyFailure)
        );
    }

    #[test]
    fn a_delay_that_would_pass_the_deadline_gives_up_at_once() {
        let r = rules(false, None);
        let two = Duration::from_secs(2);
        assert_eq!(
            decide(&r, &Outcome::exited(1), 1, S, Some(two)),
            Verdict::Retry(Reason::AnyFailure)
        );
        assert_eq!(
            decide(&r, &Outcome::exited(1), 1, two, Some(two)),
            Verdict::GiveUp(GiveUp::DeadlineAhead {
                reason: Reason::AnyFailure,
                delay: two
            })
        );
        let stopped = Outcome {
            ending: Ending::Signaled(15),
            stopped: Some(Stop::Deadline),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&r, &stopped), Verdict::GiveUp(GiveUp::DeadlineReached));
    }

    #[test]
    fn interrupts_and_closed_output_are_never_retried() {
        let r = rules(false, None);
        let sent = Outcome {
            interrupted: Some(AnySignal::TERM),
            ..Outcome::exited(1)
        };
        assert_eq!(
            decide1(&r, &sent),
            Verdict::GiveUp(GiveUp::Interrupted(AnySignal::TERM))
        );
        let sigint = Outcome {
            ending: Ending::Signaled(2),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&r, &sigint), Verdict::GiveUp(GiveUp::CommandInterrupted));
        let sigpipe = Outcome {
            ending: Ending::Signaled(13),
            ..Outcome::exited(0)
        };
        assert_eq!(
            decide1(&r, &sigpipe),
            Verdict::Retry(Reason::AnyFailure),
            "retry-on's output is fine"
        );
        let closed = Outcome {
            output_closed: true,
            ..Outcome::exited(1)
        };
        assert_eq!(decide1(&r, &closed), Verdict::GiveUp(GiveUp::OutputClosed));
    }

    /// `--hold-stdout` or `--stdout-pattern` into a full disk exited 0, or
    /// said "its output was closed": the output is lost, whatever the exit.
    #[test]
    fn output_that_could_not_be_written_is_a_failure_even_after_exit_zero() {
        let failed = Outcome {
            output_failed: Some("No space left on device".into()),
            ..Outcome::exited(0)
        };
        let why = GiveUp::OutputFailed("No space left on device".into());
        assert_eq!(decide1(&rules(false, None), &failed), Verdict::GiveUp(why));
    }

    #[test]
    fn without_a_copy_of_stdin_a_retry_cannot_be_given_it() {
        let lost = Outcome {
            stdin_lost: Some("File too large".into()),
            ..Outcome::exited(1)
        };
        assert_eq!(
            decide1(&rules(false, None), &lost),
            Verdict::GiveUp(GiveUp::StdinLost("File too large".into()))
        );
        let succeeded = Outcome {
            stdin_lost: Some("File too large".into()),
            ..Outcome::exited(0)
        };
        assert_eq!(decide1(&rules(false, None), &succeeded), Verdict::Succeeded);
    }

    #[test]
    fn a_kill_signal_of_int_or_pipe_still_counts_as_a_timeout() {
        let r = rules(false, None);
        for signal in [2, 13] {
            let stopped = Outcome {
                ending: Ending::Signaled(signal),
                stopped: Some(Stop::Timeout),
                ..Outcome::exited(0)
            };
            assert_eq!(decide1(&r, &stopped), Verdict::Retry(Reason::TimedOut));
        }
    }

    #[test]
    fn exit_130_is_an_interrupt_only_when_the_command_had_the_terminal() {
        let r = rules(false, None);
        let lent = Outcome {
            had_terminal: true,
            ..Outcome::exited(130)
        };
        assert_eq!(decide1(&r, &lent), Verdict::GiveUp(GiveUp::CommandInterrupted));
        assert_eq!(decide1(&r, &Outcome::exited(130)), Verdict::Retry(Reason::AnyFailure));
    }
}
