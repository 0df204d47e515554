//! Every line retry-on itself prints: as text, as JSON, or as GitHub Actions
//! workflow commands (the text lines, each at the level of what it says).

mod github;

use std::cell::RefCell;
use std::ffi::OsString;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::config::Summary;
use crate::error::Error;
use crate::exit::{Exit, TIMED_OUT};
use crate::lock::{Holder, Lost};
use crate::parse::{AnySignal, LogFormat, ToText, show_duration};
use crate::policy::{Ending, GiveUp, Matched, Outcome, Reason, Stop, Verdict};
use crate::settings::{HookKind, Output, Settings};

/// How much retry-on says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// What a text line says, which decides its level as a workflow command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    /// A `-v` line: an attempt starts, a lock is awaited, a first attempt succeeded.
    Progress,
    /// Said at normal verbosity, neither a retry nor a failure: how
    /// `--on-giveup` ended, whose lease a lock waits for.
    Note,
    /// An attempt failed and will be retried.
    Retrying,
    /// An attempt succeeded after others failed.
    Recovered,
    /// retry-on stops without success: it gave up, did not retry, was
    /// interrupted, or could not run the command.
    Failed,
}

impl Meaning {
    /// Its workflow command; `None` for a plain line of the log.
    fn level(self) -> Option<github::Level> {
        Some(match self {
            Meaning::Note => return None,
            Meaning::Progress => github::Level::Debug,
            Meaning::Retrying => github::Level::Warning,
            Meaning::Recovered => github::Level::Notice,
            Meaning::Failed => github::Level::Error,
        })
    }
}

/// Writes retry-on's own lines to stderr, each with one write.
pub(crate) struct Reporter {
    verbosity: Verbosity,
    format: LogFormat,
    attempts: u32,
    started: Instant,
    /// The JSON log's last event (`give_up` or `success`), held back until
    /// the run is over ([`Reporter::finish`]): `--on-giveup` and writing the
    /// held stdout come after the decision, and may change the exit.
    last_event: RefCell<Option<Value>>,
}

impl Reporter {
    pub(crate) fn new(output: &Output, attempts: u32) -> Reporter {
        let verbosity = match (output.quiet, output.verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        };
        Reporter {
            verbosity,
            format: output.log_format,
            attempts,
            started: Instant::now(),
            last_event: RefCell::new(None),
        }
    }

    /// retry-on itself failed at attempt `attempt` (0: before the first):
    /// said even with `--quiet`, and in the JSON log as its last event.
    pub(crate) fn failed(&self, attempt: u32, error: &Error) {
        let at = FailedAt {
            attempt,
            attempts: Some(self.attempts),
            elapsed: self.started.elapsed(),
        };
        match self.format {
            LogFormat::Json => *self.last_event.borrow_mut() = Some(failure_event(error, &at)),
            format => write_stderr(&failure_text(error, Some(format), &at)),
        }
    }

    /// The run is over and exits with `exit`: writes the JSON log's last
    /// event, with the exit code the process exits with.
    pub(crate) fn finish(&self, exit: Exit) {
        if let Some(mut event) = self.last_event.take() {
            event["exit_code"] = json!(exit.shell_code());
            event["elapsed_ms"] = json!(self.started.elapsed().as_millis() as u64);
            write_stderr(&format!("{event}\n"));
        }
    }

    pub(crate) fn attempt_started(&self, attempt: u32, command: &[OsString]) {
        match self.format {
            LogFormat::Json => {
                let command: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                self.event("attempt_start", attempt, json!({ "command": command }))
            }
            LogFormat::Text | LogFormat::Github if self.verbosity == Verbosity::Verbose => self.line(
                Meaning::Progress,
                &format!("{}: running {}", self.attempt(attempt), shell_words(command)),
            ),
            LogFormat::Text | LogFormat::Github => {}
        }
    }

    /// Said once per wait; at normal verbosity too when the lock names its
    /// holder, or says it had just been given back (a lease).
    pub(crate) fn waiting_for_lock(&self, attempt: u32, lock: &str, holder: &Holder) {
        let this = self.attempt(attempt);
        match (self.format, holder) {
            (LogFormat::Json, Holder::Named(holder)) => {
                self.event("lock_wait", attempt, json!({ "lock": lock, "holder": holder }))
            }
            (LogFormat::Json, _) => self.event("lock_wait", attempt, json!({ "lock": lock, "holder": null })),
            (_, Holder::Named(holder)) => self.line(
                Meaning::Note,
                &format!("{this}: waiting for the lock on {lock}, held by {holder}"),
            ),
            (_, Holder::Gone) => self.line(
                Meaning::Note,
                &format!("{this}: waiting for the lock on {lock} (its holder was just giving it back)"),
            ),
            (_, Holder::Unknown) if self.verbosity == Verbosity::Verbose => {
                self.line(Meaning::Progress, &format!("{this}: waiting for the lock on {lock}"))
            }
            (_, Holder::Unknown) => {}
        }
    }

    /// The JSON log's `lock_taken`, with how long it took.
    pub(crate) fn lock_taken(&self, attempt: u32, lock: &str, waited: Duration) {
        if self.format == LogFormat::Json {
            let waited_ms = waited.as_millis() as u64;
            self.event("lock_taken", attempt, json!({ "lock": lock, "waited_ms": waited_ms }));
        }
    }

    /// The JSON log's `lock_released`.
    pub(crate) fn lock_released(&self, attempt: u32, lock: &str) {
        if self.format == LogFormat::Json {
            self.event("lock_released", attempt, json!({ "lock": lock }));
        }
    }

    /// A lease lost while this attempt ran: another writer took it, or it
    /// could not be renewed in time.
    pub(crate) fn lock_lost(&self, attempt: u32, lock: &str, lost: &Lost) {
        let (reason, error) = match lost {
            Lost::TakenOver => ("taken", None),
            Lost::NotRenewed { error, .. } => ("not_renewed", Some(error)),
        };
        if self.format == LogFormat::Json {
            return self.event(
                "lock_lost",
                attempt,
                json!({ "lock": lock, "reason": reason, "error": error }),
            );
        }
        let why = match lost {
            Lost::TakenOver => "another writer took the lease after it expired (retry-on was stalled)".to_string(),
            Lost::NotRenewed { lease, error } => format!(
                "could not renew the lease for {} ({error}), so another writer may take it",
                show_duration(*lease)
            ),
        };
        self.line(
            Meaning::Retrying,
            &format!(
                "{}: lost the lock on {lock}: {why}; the attempt runs on without it",
                self.attempt(attempt)
            ),
        );
    }

    /// A lease that could not be given back: it stays until `expires`.
    pub(crate) fn lock_release_failed(&self, attempt: u32, lock: &str, error: &str, expires: Option<SystemTime>) {
        let left = expires.map(|at| at.duration_since(SystemTime::now()).unwrap_or_default());
        if self.format == LogFormat::Json {
            let at_ms = expires.map(|at| at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64);
            let left_ms = left.map(|left| left.as_millis() as u64);
            return self.event(
                "lock_release_failed",
                attempt,
                json!({ "lock": lock, "error": error, "expires_at_ms": at_ms, "expires_in_ms": left_ms }),
            );
        }
        let expiry = match (expires, left) {
            (Some(_), Some(left)) if left.is_zero() => "; it has expired already".to_string(),
            (Some(at), Some(left)) => {
                let whole = Duration::from_secs(left.as_millis().div_ceil(1000) as u64);
                format!("; it expires in {}, at {}", show_duration(whole), utc_time(at))
            }
            _ => String::new(),
        };
        self.line(
            Meaning::Retrying,
            &format!(
                "{}: could not release the lease on {lock}: {error}{expiry}",
                self.attempt(attempt)
            ),
        );
    }

    /// One line for the decision after an attempt.
    pub(crate) fn attempt_ended(&self, attempt: u32, outcome: &Outcome, verdict: &Verdict, took: Duration) {
        if let Some(why) = &outcome.held_overflow {
            self.held_overflow(attempt, why);
        }
        if self.format == LogFormat::Json {
            return self.json_ended(attempt, outcome, verdict, took);
        }
        let this = self.attempt(attempt);
        let what = describe(outcome);
        let meaning = match verdict {
            Verdict::Succeeded if attempt > 1 => Meaning::Recovered,
            Verdict::Succeeded | Verdict::Retry(_) => Meaning::Progress,
            Verdict::GiveUp(_) => Meaning::Failed,
        };
        let text = match verdict {
            Verdict::Succeeded if attempt > 1 || self.verbosity == Verbosity::Verbose => format!("{this} succeeded"),
            Verdict::Succeeded => return,
            Verdict::Retry(_) => return, // said by `sleeping`, with the delay
            Verdict::GiveUp(why) => match why {
                GiveUp::NoMatch => format!("{this} failed ({what}); not retrying: no retry condition held"),
                GiveUp::Aborted(m) => {
                    format!(
                        "{this} failed ({what}, matched abort pattern {}); not retrying",
                        quote(&m.text)
                    )
                }
                GiveUp::AttemptsExhausted(_) => format!("{this} failed ({what}); giving up: no attempts left"),
                GiveUp::DeadlineAhead { delay, .. } => format!(
                    "{this} failed ({what}); giving up: waiting {} would pass the --max-time deadline",
                    show_duration(*delay)
                ),
                GiveUp::DeadlineReached => format!("{this} stopped at the --max-time deadline ({what}); giving up"),
                GiveUp::Interrupted(signal) => {
                    format!("{this} interrupted by {} ({what}); not retrying", signal.full_name())
                }
                GiveUp::CommandInterrupted => format!("{this} failed ({what}); not retrying an interrupted command"),
                GiveUp::OutputClosed => format!("{this} failed ({what}); not retrying: its output was closed"),
                GiveUp::OutputFailed(why) => {
                    format!("{this} ended ({what}), but its stdout could not be written ({why}); not retrying")
                }
                GiveUp::StdinLost(why) => {
                    format!("{this} failed ({what}); not retrying: stdin could not be kept for another attempt ({why})")
                }
            },
        };
        self.line(meaning, &text);
    }

    /// Announces the wait before the next attempt.
    pub(crate) fn sleeping(
        &self,
        attempt: u32,
        outcome: &Outcome,
        reason: &Reason,
        delay: Duration,
        asked: Option<Duration>,
    ) {
        if self.format == LogFormat::Json {
            let hint = asked.map(|d| d.as_millis() as u64);
            let data = json!({ "delay_ms": delay.as_millis() as u64, "reason": reason_name(reason), "hint": hint });
            return self.event("sleep", attempt, data);
        }
        let asked = asked.map_or_else(String::new, |d| format!(" (the output asked for {})", show_duration(d)));
        let this = self.attempt(attempt);
        let what = describe(outcome);
        let why = match reason {
            Reason::Matched(m) => format!(", matched {}", quote(&m.text)),
            Reason::ExitCode(_) | Reason::TimedOut | Reason::AnyFailure => String::new(),
        };
        self.line(
            Meaning::Retrying,
            &format!(
                "{this} failed ({what}{why}); retrying in {}{asked}",
                show_duration(delay)
            ),
        );
    }

    /// `--check-first` passed: the command never runs.
    pub(crate) fn check_passed_first(&self) {
        match self.format {
            LogFormat::Json => {
                self.event("check_passed", 0, json!({}));
                self.event("success", 0, json!({ "exit_code": 0 }));
            }
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Recovered,
                "check passed before the first attempt; nothing to do",
            ),
        }
    }

    /// `--check` passed after attempt `attempt` failed: no more attempts.
    pub(crate) fn check_passed(&self, attempt: u32, failed: &Outcome) {
        match self.format {
            LogFormat::Json => {
                self.event("check_passed", attempt, json!({}));
                self.event("success", attempt, json!({ "exit_code": 0 }));
            }
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Recovered,
                &format!(
                    "{} failed ({}); check passed, not retrying",
                    self.attempt(attempt),
                    describe_with_match(failed)
                ),
            ),
        }
    }

    /// `--on-retry` failed: no more attempts.
    pub(crate) fn on_retry_failed(&self, attempt: u32, failed: &Outcome, hook: Ending, stopped: Option<Stop>) {
        let exit_code = Exit::of(failed).shell_code();
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "on_retry_failed", "exit_code": exit_code }),
            ),
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Failed,
                &format!(
                    "{} failed ({}); not retrying: --on-retry {}",
                    self.attempt(attempt),
                    describe_with_match(failed),
                    hook_result(hook, stopped)
                ),
            ),
        }
    }

    pub(crate) fn hook_started(&self, kind: HookKind, attempt: u32, command: &str) {
        match self.format {
            LogFormat::Json => self.event("hook_start", attempt, json!({ "hook": kind.key(), "command": command })),
            LogFormat::Text | LogFormat::Github if self.verbosity == Verbosity::Verbose => self.line(
                Meaning::Progress,
                &format!("{}: running {}: {command}", self.attempt(attempt), kind.flag()),
            ),
            LogFormat::Text | LogFormat::Github => {}
        }
    }

    /// A hook ended: the JSON log always says so; the text only for
    /// `--on-giveup` (its exit code is reported), a hook that ran out of
    /// time, or with `-v`.
    pub(crate) fn hook_ended(
        &self,
        kind: HookKind,
        attempt: u32,
        ending: Ending,
        stopped: Option<Stop>,
        took: Duration,
    ) {
        let data = json!({
            "hook": kind.key(),
            "exit_code": ending.code(),
            "timed_out": stopped == Some(Stop::Timeout),
            "deadline": stopped == Some(Stop::Deadline),
            "duration_ms": took.as_millis() as u64,
        });
        match self.format {
            LogFormat::Json => self.event("hook_end", attempt, data),
            LogFormat::Text | LogFormat::Github => {
                let said = kind == HookKind::OnGiveup || stopped == Some(Stop::Timeout);
                if said || self.verbosity == Verbosity::Verbose {
                    let meaning = if said { Meaning::Note } else { Meaning::Progress };
                    self.line(meaning, &format!("{} {}", kind.flag(), hook_result(ending, stopped)));
                }
            }
        }
    }

    pub(crate) fn deadline_during_hook(&self, kind: HookKind, attempt: u32, exit: Exit) {
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "deadline", "exit_code": exit.shell_code() }),
            ),
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Failed,
                &format!("the --max-time deadline stopped {}; giving up", kind.flag()),
            ),
        }
    }

    /// The held stdout (`--hold-stdout`) could not grow: it was written early.
    fn held_overflow(&self, attempt: u32, why: &str) {
        let message = format!(
            "{}: its stdout could not be held ({why}): what was held was written, and the rest passed through",
            self.attempt(attempt)
        );
        match self.format {
            LogFormat::Json => self.event("hold_stopped", attempt, json!({ "message": message })),
            LogFormat::Text | LogFormat::Github => self.line(Meaning::Retrying, &message),
        }
    }

    /// The held stdout (`--hold-stdout`) could not be written, and the run
    /// ends with `exit`: its reader is gone, or the write failed (a full disk).
    pub(crate) fn held_output_failed(&self, attempt: u32, error: &std::io::Error, exit: Exit) {
        let (reason, message) = match error.kind() {
            std::io::ErrorKind::BrokenPipe => (
                "output_closed",
                format!(
                    "could not write the held stdout, its reader has gone ({error}); not retrying: its output was closed"
                ),
            ),
            _ => (
                "output_failed",
                format!("could not write the held stdout ({error}); not retrying"),
            ),
        };
        match self.format {
            LogFormat::Json => {
                let data = json!({ "reason": reason, "message": message, "exit_code": exit.shell_code() });
                self.event("give_up", attempt, data);
            }
            LogFormat::Text | LogFormat::Github => self.line(Meaning::Failed, &message),
        }
    }

    /// A `--retry-after` line captured text that is no duration (`-v`).
    pub(crate) fn ignored_hint(&self, attempt: u32, why: &str) {
        if self.verbosity == Verbosity::Verbose && self.format != LogFormat::Json {
            self.line(
                Meaning::Progress,
                &format!(
                    "{}: ignoring the wait the output asked for: {why}",
                    self.attempt(attempt)
                ),
            );
        }
    }

    /// A signal ended the run outside an attempt; `when` says where, and
    /// what was then not done: "while waiting to retry; not retrying".
    pub(crate) fn interrupted(&self, attempt: u32, signal: AnySignal, when: &str) {
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "interrupted", "signal": signal.full_name(), "exit_code": 128 + signal.number() }),
            ),
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Failed,
                &format!("interrupted by {} {when}", signal.full_name()),
            ),
        }
    }

    pub(crate) fn deadline_while_waiting_for_lock(&self, attempt: u32, lock: &str) {
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "deadline", "lock": lock, "exit_code": TIMED_OUT }),
            ),
            LogFormat::Text | LogFormat::Github => self.line(
                Meaning::Failed,
                &format!(
                    "{}: the --max-time deadline passed while waiting for the lock on {lock}; giving up",
                    self.attempt(attempt)
                ),
            ),
        }
    }

    fn json_ended(&self, attempt: u32, outcome: &Outcome, verdict: &Verdict, took: Duration) {
        let exit_code = Exit::of(outcome).shell_code();
        let (ending_code, signal) = match outcome.ending {
            Ending::Exited(code) => (code, None),
            Ending::Signaled(n) => (128 + n, AnySignal::from_number(n).map(AnySignal::full_name)),
        };
        let matched = |m: &Option<Matched>| {
            m.as_ref().map(
                |m| json!({ "pattern": m.pattern, "text": m.text, "stream": format!("{:?}", m.stream).to_lowercase() }),
            )
        };
        self.event(
            "attempt_end",
            attempt,
            json!({
                "exit_code": ending_code,
                "signal": signal,
                "timed_out": outcome.stopped == Some(Stop::Timeout),
                "deadline": outcome.stopped == Some(Stop::Deadline),
                "matched": matched(&outcome.retry_match),
                "abort_matched": matched(&outcome.abort_match),
                "duration_ms": took.as_millis() as u64,
            }),
        );
        match verdict {
            Verdict::Succeeded => self.event("success", attempt, json!({ "exit_code": exit_code })),
            Verdict::Retry(_) => {}
            Verdict::GiveUp(why) => {
                // Each reason with the fields that say more about it, named as
                // the other events name them.
                let (reason, mut data) = match why {
                    GiveUp::NoMatch => ("no_match", json!({})),
                    GiveUp::Aborted(m) => ("aborted", json!({ "pattern": m.pattern })),
                    GiveUp::AttemptsExhausted(_) => ("attempts_exhausted", json!({})),
                    GiveUp::DeadlineAhead { delay, .. } => {
                        ("deadline", json!({ "delay_ms": delay.as_millis() as u64 }))
                    }
                    GiveUp::DeadlineReached => ("deadline", json!({})),
                    GiveUp::Interrupted(signal) => ("interrupted", json!({ "signal": signal.full_name() })),
                    GiveUp::CommandInterrupted => ("command_interrupted", json!({})),
                    GiveUp::OutputClosed => ("output_closed", json!({})),
                    GiveUp::OutputFailed(why) => ("output_failed", json!({ "message": why })),
                    GiveUp::StdinLost(why) => ("stdin_lost", json!({ "message": why })),
                };
                data["reason"] = json!(reason);
                data["exit_code"] = json!(exit_code);
                self.event("give_up", attempt, data);
            }
        }
    }

    fn event(&self, name: &str, attempt: u32, data: Value) {
        if self.verbosity == Verbosity::Quiet {
            return;
        }
        let mut object = json!({
            "event": name,
            "attempt": attempt,
            "attempts": self.attempts,
            "elapsed_ms": self.started.elapsed().as_millis() as u64,
        });
        if let (Value::Object(all), Value::Object(more)) = (&mut object, data) {
            all.extend(more);
        }
        match name {
            // The latest wins: a held stdout that could not be written, or a
            // signal during `--on-giveup`, is how the run really ended.
            "give_up" | "success" => *self.last_event.borrow_mut() = Some(object),
            _ => write_stderr(&format!("{object}\n")),
        }
    }

    fn line(&self, meaning: Meaning, text: &str) {
        match (self.verbosity, self.format, meaning.level()) {
            (Verbosity::Quiet, _, _) => {}
            (_, LogFormat::Github, Some(level)) => write_stderr(&github::command(level, text)),
            _ => write_stderr(&format!("retry-on: {text}\n")),
        }
    }

    fn attempt(&self, attempt: u32) -> String {
        match self.attempts {
            0 => format!("attempt {attempt}"),
            n => format!("attempt {attempt}/{n}"),
        }
    }
}

fn reason_name(reason: &Reason) -> &'static str {
    match reason {
        Reason::Matched(_) => "matched",
        Reason::ExitCode(_) => "exit_code",
        Reason::TimedOut => "timed_out",
        Reason::AnyFailure => "failed",
    }
}

/// "exit 255, matched "X"": an attempt's end with what matched.
fn describe_with_match(outcome: &Outcome) -> String {
    match &outcome.retry_match {
        Some(m) => format!("{}, matched {}", describe(outcome), quote(&m.text)),
        None => describe(outcome),
    }
}

/// "exited 3", "timed out (killed by SIGTERM)".
fn hook_result(ending: Ending, stopped: Option<Stop>) -> String {
    match (ending, stopped) {
        (Ending::Exited(code), None | Some(Stop::Deadline)) => format!("exited {code}"),
        (Ending::Signaled(n), None | Some(Stop::Deadline)) => format!("was {}", killed_by(n)),
        (Ending::Exited(code), Some(Stop::Timeout)) => format!("ran out of --hook-timeout (exited {code})"),
        (Ending::Signaled(n), Some(Stop::Timeout)) => format!("ran out of --hook-timeout ({})", killed_by(n)),
    }
}

/// "killed by SIGKILL", "killed by SIGRTMIN+1", or "killed by signal N" for
/// one with no name.
fn killed_by(number: i32) -> String {
    match AnySignal::from_number(number) {
        Some(signal) => format!("killed by {}", signal.full_name()),
        None => format!("killed by signal {number}"),
    }
}

/// "exit 255", "killed by SIGKILL", "timed out, killed by SIGTERM".
fn describe(outcome: &Outcome) -> String {
    let ending = match outcome.ending {
        Ending::Exited(code) => format!("exit {code}"),
        Ending::Signaled(n) => killed_by(n),
    };
    match outcome.stopped {
        Some(Stop::Timeout) => format!("timed out, {ending}"),
        _ => ending,
    }
}

/// A command line as a shell user would type it: words with anything but
/// plain characters go in single quotes.
pub(crate) fn shell_words(words: &[OsString]) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    let quoted: Vec<String> = words
        .iter()
        .map(|word| {
            let word = word.to_string_lossy();
            if !word.is_empty() && word.chars().all(plain) {
                word.into_owned()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect();
    quoted.join(" ")
}

/// Quotes matched text for a message, shortened to keep the line readable.
fn quote(text: &str) -> String {
    const MOST: usize = 80;
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// `12:34:56 UTC`: a time of the next minutes, as the clocks of other
/// machines (and DynamoDB's items) read it.
fn utc_time(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() % 86_400;
    format!("{:02}:{:02}:{:02} UTC", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

fn write_stderr(text: &str) {
    crate::console::own_line(text);
}

/// Where a failure of retry-on's own came, for the JSON log.
pub(crate) struct FailedAt {
    /// The attempt it came at: 0 before the first.
    pub attempt: u32,
    /// The attempts allowed, when the settings got that far.
    pub attempts: Option<u32>,
    pub elapsed: Duration,
}

/// A failure of retry-on itself, as the last line of the run (printed even
/// with `--quiet`); `format` is `None` when nothing said which. Clap's
/// message is kept whole: as it is in text, as the message otherwise.
pub(crate) fn fatal(error: &Error, format: Option<LogFormat>, at: &FailedAt) {
    write_stderr(&failure_text(error, format, at));
}

fn failure_text(error: &Error, format: Option<LogFormat>, at: &FailedAt) -> String {
    let message = error.to_string();
    match format {
        Some(LogFormat::Json) => format!("{}\n", failure_event(error, at)),
        Some(LogFormat::Github) => github::command(github::Level::Error, message.trim_end()),
        Some(LogFormat::Text) | None if error.is_rendered() => message,
        Some(LogFormat::Text) | None => format!("retry-on: {message}\n"),
    }
}

/// The JSON log's `give_up` for a failure of retry-on's own, with the
/// fields every event has.
fn failure_event(error: &Error, at: &FailedAt) -> Value {
    let reason = match error {
        _ if error.is_cannot_run() => "cannot_run",
        Error::LockTimeout { .. } => "lock_timeout",
        _ => "error",
    };
    json!({
        "event": "give_up",
        "attempt": at.attempt,
        "attempts": at.attempts,
        "elapsed_ms": at.elapsed.as_millis() as u64,
        "reason": reason,
        "message": error.to_string().trim_end(),
        "exit_code": error.exit_code(),
    })
}

/// The text of `--explain`: every setting with its source, then the schedule.
pub(crate) fn explain(settings: &Settings) -> String {
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    for (key, specs) in settings.matching.lists() {
        for spec in specs {
            let flags = match (spec.fixed, spec.ignore_case) {
                (false, false) => "",
                (true, false) => " (fixed)",
                (false, true) => " (ignore case)",
                (true, true) => " (fixed, ignore case)",
            };
            rows.push((key, format!("{}{flags}", spec.text), spec.source.clone()));
        }
        if specs.is_empty() {
            rows.push((key, "none".to_string(), "built-in".to_string()));
        }
    }
    let unavailable = settings
        .process
        .lock
        .as_ref()
        .filter(|target| !crate::lock::available(target));
    for (key, value) in settings.keys() {
        let mut text = value_text(key, value);
        if key == "lock" && unavailable.is_some() {
            text.push_str(" (not in this build)");
        }
        rows.push((key, text, settings.sources.of(key).to_string()));
    }
    let mut out = String::new();
    if !settings.command.is_empty() {
        out.push_str(&format!("command: {}\n", shell_words(&settings.command)));
    }
    let width = rows.iter().map(|(key, _, _)| key.len()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .map(|(_, v, _)| v.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    for (key, value, source) in &rows {
        out.push_str(&format!("{key:<width$}  {value:<value_width$}  ({source})\n"));
    }
    out.push_str(&schedule_line(settings));
    let schedule = &settings.schedule;
    if schedule.jitter != crate::backoff::Jitter::None && schedule.seed.is_none() {
        out.push_str("note: jittered without --seed, so each run draws other waits\n");
    }
    if let Some(target) = unavailable {
        out.push_str(&format!(
            "note: this retry-on was built without DynamoDB locks (cargo feature \"dynamodb\"), so \
             --lock {target} fails; build one with them: {}\n",
            crate::lock::HOW_TO_BUILD_WITH_DYNAMODB
        ));
    }
    out
}

/// A setting's value as `--explain` and `--help` show it, with what an
/// unset or zero value means where that is not plain.
pub(crate) fn value_text(key: &str, value: &dyn ToText) -> String {
    match (key, value.to_text()) {
        ("attempts", Some(n)) if n == "0" => "0 (no limit)".to_string(),
        ("seed", None) => "none (random)".to_string(),
        ("lock_timeout", None) => "none (wait)".to_string(),
        (_, Some(text)) => text,
        (_, None) => "none".to_string(),
    }
}

/// How many waits `--explain` lists before it shortens the schedule.
const WAITS_SHOWN: u32 = 10;

/// `schedule: waits of 1s, 2s, … between N attempts (… of waiting at most)`.
/// A long schedule shows its first waits.
fn schedule_line(settings: &Settings) -> String {
    let attempts = settings.schedule.attempts;
    let retries = attempts.saturating_sub(1);
    let backoff = settings.schedule.backoff();
    let shown_count = if attempts == 0 {
        WAITS_SHOWN
    } else {
        retries.min(WAITS_SHOWN)
    };
    let mut shown: Vec<String> = backoff.delays().take(shown_count as usize).map(show_duration).collect();
    let rest = retries - shown_count.min(retries);
    let total = backoff.most_waiting(retries);
    if attempts == 0 || rest > 0 {
        shown.push("…".to_string());
    }
    let attempts_text = match attempts {
        0 => "unlimited attempts".to_string(),
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    match (attempts, shown.is_empty()) {
        (_, true) => format!("schedule: no waits ({attempts_text})\n"),
        (0, false) => format!("schedule: waits of {} between {attempts_text}\n", shown.join(", ")),
        _ => format!(
            "schedule: waits of {} between {attempts_text} ({} of waiting at most)\n",
            shown.join(", "),
            show_duration(total)
        ),
    }
}

/// The text of `--list-profiles`.
pub(crate) fn profiles(list: &[Summary]) -> String {
    let width = list.iter().map(|s| s.name.len()).max().unwrap_or(0);
    list.iter()
        .map(|s| {
            let hooks = match s.hooks.is_empty() {
                true => String::new(),
                false => format!(" [runs {}]", s.hooks.join(", ")),
            };
            format!("{:<width$}  {}{hooks}  ({})\n", s.name, s.description, s.origin)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Ending;

    #[test]
    fn a_lease_expiry_reads_as_the_time_of_day_in_utc() {
        let at = UNIX_EPOCH + Duration::from_secs(20_000 * 86_400 + 12 * 3600 + 34 * 60 + 56);
        assert_eq!(utc_time(at), "12:34:56 UTC");
        assert_eq!(utc_time(UNIX_EPOCH), "00:00:00 UTC");
    }

    #[test]
    fn unset_and_zero_values_say_what_they_mean() {
        assert_eq!(value_text("attempts", &0u32), "0 (no limit)");
        assert_eq!(value_text("attempts", &5u32), "5");
        assert_eq!(value_text("seed", &None::<u64>), "none (random)");
        assert_eq!(value_text("lock_timeout", &None::<Duration>), "none (wait)");
        assert_eq!(value_text("timeout", &None::<Duration>), "none");
        assert_eq!(value_text("delay", &Duration::from_millis(1500)), "1s 500ms");
    }

    #[test]
    fn explain_lists_every_setting_with_its_source_then_the_schedule() {
        let text = explain(&Settings::defaults());
        let row = |key: &str, value: &str| {
            text.lines().any(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                words.first() == Some(&key) && words.get(1) == Some(&value) && line.ends_with("(built-in)")
            })
        };
        assert!(row("attempts", "5"), "{text}");
        assert!(row("patterns", "none"), "{text}");
        assert!(row("kill_signal", "TERM"), "{text}");
        assert!(row("log_format", "text"), "{text}");
        assert!(text.ends_with("schedule: waits of 1s, 2s, 4s, 8s between 5 attempts (15s of waiting at most)\n"));
    }

    /// `-n 4294967295 --explain` aborted on an allocation failure, and
    /// `-n 100000` printed a 400 KB line.
    #[test]
    fn a_long_schedule_is_shortened_not_listed() {
        for attempts in [100_000, u32::MAX] {
            let mut settings = Settings::defaults();
            settings.schedule.attempts = attempts;
            let line = schedule_line(&settings);
            assert!(line.len() < 300, "{line}");
            assert!(line.contains("8s, 16s, 32s, 1m, 1m, 1m, 1m, …"), "{line}");
        }
        let mut settings = Settings::defaults();
        settings.schedule.attempts = 0;
        assert_eq!(
            schedule_line(&settings),
            "schedule: waits of 1s, 2s, 4s, 8s, 16s, 32s, 1m, 1m, 1m, 1m, … between unlimited attempts\n"
        );
    }

    #[test]
    fn outcomes_are_described_as_a_person_would_say_them() {
        assert_eq!(describe(&Outcome::exited(255)), "exit 255");
        let killed = Outcome {
            ending: Ending::Signaled(9),
            ..Outcome::exited(0)
        };
        assert_eq!(describe(&killed), "killed by SIGKILL");
        let timed_out = Outcome {
            stopped: Some(Stop::Timeout),
            ..killed
        };
        assert_eq!(describe(&timed_out), "timed out, killed by SIGKILL");
    }

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let words: Vec<OsString> = ["aws", "iam", "x y", "it's", ""].iter().map(OsString::from).collect();
        assert_eq!(shell_words(&words), r#"aws iam 'x y' 'it'\''s' ''"#);
    }

    #[test]
    fn long_matches_are_shortened_in_quotes() {
        assert_eq!(quote("Throttling"), "\"Throttling\"");
        let long = "x".repeat(200);
        let quoted = quote(&long);
        assert!(quoted.ends_with('…') && quoted.chars().count() == 80 + 3, "{quoted}");
    }
}
