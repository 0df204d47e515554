//! Every line retry-on itself prints, as text or as JSON.

use std::ffi::OsString;
use std::io::Write;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::config::Summary;
use crate::parse::{LogFormat, ToText, show_duration, signal_name};
use crate::policy::{Ending, GiveUp, Matched, Outcome, Reason, Stop, Verdict};
use crate::settings::{Output, Settings};

/// How much retry-on says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Writes retry-on's own lines to stderr, each with one write.
pub struct Reporter {
    verbosity: Verbosity,
    format: LogFormat,
    attempts: u32,
    started: Instant,
}

impl Reporter {
    pub fn new(output: &Output, attempts: u32) -> Reporter {
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
        }
    }

    pub fn attempt_started(&self, attempt: u32, command: &[OsString]) {
        match self.format {
            LogFormat::Json => {
                let command: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
                self.event("attempt_start", attempt, json!({ "command": command }))
            }
            LogFormat::Text if self.verbosity == Verbosity::Verbose => {
                self.line(&format!("{}: running {}", self.attempt(attempt), shell_words(command)))
            }
            LogFormat::Text => {}
        }
    }

    /// Said once per wait; at normal verbosity too when the lock names its holder (a lease).
    pub fn waiting_for_lock(&self, attempt: u32, lock: &str, holder: Option<&str>) {
        match (self.format, holder) {
            (LogFormat::Json, _) => self.event("lock_wait", attempt, json!({ "lock": lock, "holder": holder })),
            (LogFormat::Text, Some(holder)) => self.line(&format!(
                "{}: waiting for the lock on {lock}, held by {holder}",
                self.attempt(attempt)
            )),
            (LogFormat::Text, None) if self.verbosity == Verbosity::Verbose => {
                self.line(&format!("{}: waiting for the lock on {lock}", self.attempt(attempt)))
            }
            (LogFormat::Text, None) => {}
        }
    }

    /// The JSON log's `lock_taken`, with how long it took.
    pub fn lock_taken(&self, attempt: u32, lock: &str, waited: Duration) {
        if self.format == LogFormat::Json {
            let waited_ms = waited.as_millis() as u64;
            self.event("lock_taken", attempt, json!({ "lock": lock, "waited_ms": waited_ms }));
        }
    }

    /// The JSON log's `lock_released`.
    pub fn lock_released(&self, attempt: u32, lock: &str) {
        if self.format == LogFormat::Json {
            self.event("lock_released", attempt, json!({ "lock": lock }));
        }
    }

    /// A lease that another writer took while this attempt ran.
    pub fn lock_lost(&self, attempt: u32, lock: &str) {
        match self.format {
            LogFormat::Json => self.event("lock_lost", attempt, json!({ "lock": lock })),
            LogFormat::Text => self.line(&format!(
                "{}: lost the lock on {lock}: another writer took the lease after it expired \
                 (retry-on was stalled); the attempt runs on without it",
                self.attempt(attempt)
            )),
        }
    }

    /// One line for the decision after an attempt.
    pub fn attempt_ended(&self, attempt: u32, outcome: &Outcome, verdict: &Verdict, took: Duration) {
        if self.format == LogFormat::Json {
            return self.json_ended(attempt, outcome, verdict, took);
        }
        let this = self.attempt(attempt);
        let what = describe(outcome);
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
                    format!(
                        "{this} interrupted by SIG{} ({what}); not retrying",
                        signal_name(*signal)
                    )
                }
                GiveUp::CommandInterrupted => format!("{this} failed ({what}); not retrying an interrupted command"),
                GiveUp::OutputClosed => format!("{this} failed ({what}); not retrying: its output was closed"),
            },
        };
        self.line(&text);
    }

    /// Announces the wait before the next attempt.
    pub fn sleeping(&self, attempt: u32, outcome: &Outcome, reason: &Reason, delay: Duration) {
        if self.format == LogFormat::Json {
            let data = json!({ "delay_ms": delay.as_millis() as u64, "reason": reason_name(reason) });
            return self.event("sleep", attempt, data);
        }
        let this = self.attempt(attempt);
        let what = describe(outcome);
        let why = match reason {
            Reason::Matched(m) => format!(", matched {}", quote(&m.text)),
            Reason::ExitCode(_) | Reason::TimedOut | Reason::AnyFailure => String::new(),
        };
        self.line(&format!(
            "{this} failed ({what}{why}); retrying in {}",
            show_duration(delay)
        ));
    }

    pub fn interrupted_while_waiting(&self, attempt: u32, signal: Signal) {
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "interrupted", "signal": signal.as_str() }),
            ),
            LogFormat::Text => self.line(&format!(
                "interrupted by {} while waiting to retry; not retrying",
                signal.as_str()
            )),
        }
    }

    pub fn interrupted_while_waiting_for_lock(&self, attempt: u32, signal: Signal) {
        match self.format {
            LogFormat::Json => self.event(
                "give_up",
                attempt,
                json!({ "reason": "interrupted", "signal": signal.as_str() }),
            ),
            LogFormat::Text => self.line(&format!(
                "interrupted by {} while waiting for the lock; not running the command",
                signal.as_str()
            )),
        }
    }

    pub fn deadline_while_waiting_for_lock(&self, attempt: u32, lock: &str) {
        match self.format {
            LogFormat::Json => self.event("give_up", attempt, json!({ "reason": "deadline", "lock": lock })),
            LogFormat::Text => self.line(&format!(
                "{}: the --max-time deadline passed while waiting for the lock on {lock}; giving up",
                self.attempt(attempt),
            )),
        }
    }

    /// A failure of retry-on itself; printed even with `--quiet`.
    pub fn error(message: &str) {
        write_stderr(&format!("retry-on: {message}\n"));
    }

    fn json_ended(&self, attempt: u32, outcome: &Outcome, verdict: &Verdict, took: Duration) {
        let (exit_code, signal) = match outcome.ending {
            Ending::Exited(code) => (code, None),
            Ending::Signaled(n) => (128 + n, Signal::try_from(n).ok().map(Signal::as_str)),
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
                "exit_code": exit_code,
                "signal": signal,
                "timed_out": outcome.stopped == Some(Stop::Timeout),
                "deadline": outcome.stopped == Some(Stop::Deadline),
                "matched": matched(&outcome.retry_match),
                "abort_matched": matched(&outcome.abort_match),
                "duration_ms": took.as_millis() as u64,
            }),
        );
        match verdict {
            Verdict::Succeeded => self.event("success", attempt, json!({})),
            Verdict::Retry(_) => {}
            Verdict::GiveUp(why) => {
                let (reason, extra) = match why {
                    GiveUp::NoMatch => ("no_match", Value::Null),
                    GiveUp::Aborted(m) => ("aborted", json!(m.pattern)),
                    GiveUp::AttemptsExhausted(_) => ("attempts_exhausted", Value::Null),
                    GiveUp::DeadlineAhead { delay, .. } => ("deadline", json!(delay.as_millis() as u64)),
                    GiveUp::DeadlineReached => ("deadline", Value::Null),
                    GiveUp::Interrupted(signal) => ("interrupted", json!(signal.as_str())),
                    GiveUp::CommandInterrupted => ("command_interrupted", Value::Null),
                    GiveUp::OutputClosed => ("output_closed", Value::Null),
                };
                self.event(
                    "give_up",
                    attempt,
                    json!({ "reason": reason, "detail": extra, "exit_code": exit_code }),
                );
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
        write_stderr(&format!("{object}\n"));
    }

    fn line(&self, text: &str) {
        if self.verbosity != Verbosity::Quiet {
            write_stderr(&format!("retry-on: {text}\n"));
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

/// "exit 255", "killed by SIGKILL", "timed out, killed by SIGTERM".
fn describe(outcome: &Outcome) -> String {
    let ending = match outcome.ending {
        Ending::Exited(code) => format!("exit {code}"),
        Ending::Signaled(n) => match Signal::try_from(n) {
            Ok(signal) => format!("killed by {}", signal.as_str()),
            Err(_) => format!("killed by signal {n}"),
        },
    };
    match outcome.stopped {
        Some(Stop::Timeout) => format!("timed out, {ending}"),
        _ => ending,
    }
}

/// A command line as a shell user would type it: words with anything but
/// plain characters go in single quotes.
pub fn shell_words(words: &[OsString]) -> String {
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

fn write_stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The text of `--explain`: every setting with its source, then the schedule.
pub fn explain(settings: &Settings) -> String {
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
    for (key, value) in settings.keys() {
        rows.push((key, value_text(key, value), settings.sources.of(key).to_string()));
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
    out
}

/// A setting's value as `--explain` and `--help` show it, with what an
/// unset or zero value means where that is not plain.
pub fn value_text(key: &str, value: &dyn ToText) -> String {
    match (key, value.to_text()) {
        ("attempts", Some(n)) if n == "0" => "0 (no limit)".to_string(),
        ("seed", None) => "none (random)".to_string(),
        ("lock_timeout", None) => "none (wait)".to_string(),
        (_, Some(text)) => text,
        (_, None) => "none".to_string(),
    }
}

/// `schedule: waits of 1s, 2s, … between N attempts (… of waiting at most)`.
fn schedule_line(settings: &Settings) -> String {
    let attempts = settings.schedule.attempts;
    let retries = match attempts {
        0 => 10,
        n => n as usize - 1,
    };
    let backoff = settings.schedule.backoff();
    let delays: Vec<Duration> = backoff.delays().take(retries).collect();
    let shown: Vec<String> = delays.iter().map(|d| show_duration(*d)).collect();
    let total: Duration = delays.iter().sum();
    let attempts_text = match attempts {
        0 => "unlimited attempts".to_string(),
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    match (attempts, shown.is_empty()) {
        (_, true) => format!("schedule: no waits ({attempts_text})\n"),
        (0, false) => format!("schedule: waits of {}, … between {attempts_text}\n", shown.join(", ")),
        _ => format!(
            "schedule: waits of {} between {attempts_text} ({} of waiting at most)\n",
            shown.join(", "),
            show_duration(total)
        ),
    }
}

/// The text of `--list-profiles`.
pub fn profiles(list: &[Summary]) -> String {
    let width = list.iter().map(|s| s.name.len()).max().unwrap_or(0);
    list.iter()
        .map(|s| format!("{:<width$}  {}  ({})\n", s.name, s.description, s.origin))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Ending;

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
