//! What the user typed: the command line, kept apart from the settings it
//! resolves to (see `config`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};
use nix::sys::signal::Signal;

use crate::backoff::{Backoff, Jitter};
use crate::config::{DelayList, Factor, FromText, Layer, Selection, Value};
use crate::parse::ExitCodes;
use crate::report::LogFormat;

const EXAMPLES: &str = "\
Examples:
  # Retry an IAM call that another writer is racing (waits 1s, 2s, 4s, 8s):
  retry-on -p ConcurrentModification -- aws iam update-user --user-name alice --new-path /ops/

  # Use the built-in aws profile (throttling, conflicts, 5xx, connection errors):
  retry-on -P aws -- aws iam attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess

  # Retry exit codes 1 and 40-45, at most 10 times, every 500ms, each try limited to 30s:
  retry-on -e 1,40-45 -n 10 -d 500ms -b constant -t 30s -- ./flaky-job

  # Show the resolved settings and the exact schedule, without running anything:
  retry-on -P aws --seed 1 --explain

Exit status: the last attempt's; 124 if the last attempt was stopped by --timeout
or --max-time; 125 if retry-on itself failed (bad flag, regex, duration or config);
126 if the command cannot be executed; 127 if it is not found; 128+N if it was
killed by signal N.";

/// Run a command and retry it when its output says the failure is transient.
///
/// retry-on runs COMMAND, passes its output through unchanged, and matches its
/// stderr line by line against patterns. When an attempt fails and a retry
/// condition holds, it waits on a backoff schedule and runs the command again.
/// With no condition at all (-p, --stdout-pattern, -e), any failure is retried.
#[derive(Debug, Parser)]
#[command(
    name = "retry-on",
    version,
    override_usage = "retry-on [OPTIONS] [--] COMMAND [ARGS]...\n       retry-on [OPTIONS] --explain | --list-profiles",
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub matching: MatchArgs,
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    #[command(flatten)]
    pub process: ProcessArgs,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// The command to run, and its arguments. Everything from COMMAND on belongs to the command,
    /// even arguments that look like retry-on's flags. It is run directly, never through a shell.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        required_unless_present_any = ["explain", "list_profiles"],
    )]
    pub command: Vec<OsString>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Matching")]
pub struct MatchArgs {
    /// Retry when a line of stderr matches REGEX. Repeatable; any match counts.
    #[arg(short = 'p', long = "pattern", value_name = "REGEX")]
    pub patterns: Vec<String>,
    /// Treat every pattern given on the command line as literal text, not a regex.
    #[arg(short = 'F', long)]
    pub fixed_strings: bool,
    /// Match every pattern given on the command line without regard to case.
    #[arg(short = 'i', long)]
    pub ignore_case: bool,
    /// Retry when a line of stdout matches REGEX (stdout is then piped through retry-on).
    /// Repeatable.
    #[arg(long = "stdout-pattern", value_name = "REGEX")]
    pub stdout_patterns: Vec<String>,
    /// Retry when the exit code is in LIST, such as 1,40-45,255.
    #[arg(short = 'e', long = "exit-code", value_name = "LIST", value_parser = text::<ExitCodes>)]
    pub exit_codes: Option<ExitCodes>,
    /// Never retry an attempt whose output matched REGEX, even if a retry pattern matched too.
    /// Repeatable.
    #[arg(long = "abort-on", value_name = "REGEX")]
    pub abort_on: Vec<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Schedule")]
pub struct ScheduleArgs {
    /// Total attempts, the first included; 0 means no limit. [default: 5]
    #[arg(short = 'n', long, value_name = "N")]
    pub attempts: Option<u32>,
    /// The first delay: 250ms, 2s, 1m30s, or a bare number of seconds. [default: 1s]
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = text::<Duration>)]
    pub delay: Option<Duration>,
    /// How delays grow: d, d, d… (constant); d, 2d, 3d… (linear); d, d·f, d·f²… (exponential);
    /// d, d, 2d, 3d, 5d… (fibonacci). [default: exponential]
    #[arg(short = 'b', long, value_name = "KIND")]
    pub backoff: Option<Backoff>,
    /// The multiplier of exponential backoff. [default: 2]
    #[arg(long, value_name = "F", value_parser = text::<Factor>)]
    pub factor: Option<Factor>,
    /// The cap on any single delay, from -b, --delays or jitter. [default: 1m]
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>)]
    pub max_delay: Option<Duration>,
    /// An explicit schedule such as 1s,5s,30s; its last value repeats. Overrides -d and -b.
    #[arg(long, value_name = "LIST", value_parser = text::<DelayList>)]
    pub delays: Option<DelayList>,
    /// Randomise delays: full is rand(0, d); equal is d/2 + rand(0, d/2); decorrelated is
    /// min(cap, rand(first delay, previous·3)). [default: none]
    #[arg(short = 'j', long, value_name = "KIND")]
    pub jitter: Option<Jitter>,
    /// Seed the jitter, to make it repeatable.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// A deadline for the whole run. retry-on never sleeps past it, and stops an attempt still
    /// running at it (exit 124). [default: none]
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>)]
    pub max_time: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Process")]
pub struct ProcessArgs {
    /// Stop an attempt that runs longer than DURATION; it counts as a failure that may be
    /// retried. [default: none]
    #[arg(short = 't', long, value_name = "DURATION", value_parser = text::<Duration>)]
    pub timeout: Option<Duration>,
    /// The signal that stops a timed-out attempt's process group: TERM, SIGTERM or 15.
    /// [default: TERM]
    #[arg(long, value_name = "SIG", value_parser = text::<Signal>)]
    pub kill_signal: Option<Signal>,
    /// Send KILL to the group if anything in it is still alive this long after the kill
    /// signal. [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>)]
    pub kill_after: Option<Duration>,
    /// Run the command in retry-on's own process group, so that it gets the terminal, Ctrl-C
    /// and Ctrl-Z directly. Timeouts then signal only the command, not its children (as GNU
    /// timeout --foreground). Without it, a command that reads the terminal is lent it.
    #[arg(long)]
    pub foreground: bool,
    /// Hold each attempt's stdout and write only the final attempt's to retry-on's stdout.
    #[arg(long)]
    pub hold_stdout: bool,
    /// Hold an exclusive lock on FILE (created if missing) during each attempt, released
    /// during backoff sleeps.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// Give up (exit 125) if --lock is not taken within DURATION. [default: wait]
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>, requires = "lock")]
    pub lock_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Configuration")]
pub struct ConfigArgs {
    /// Read configuration from FILE instead of the user's config file.
    #[arg(short = 'c', long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Use the profile NAME from the config file or the built-in ones (see --list-profiles).
    #[arg(short = 'P', long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Read no user configuration file; built-in profiles stay available.
    #[arg(long)]
    pub no_config: bool,
    /// List the profiles, with their descriptions and where each comes from, and exit.
    #[arg(long)]
    pub list_profiles: bool,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Print none of retry-on's own lines (the command's output is never silenced).
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also say when each attempt starts and when the first one succeeds.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// The form of retry-on's own lines: text, or json (one object per line per event).
    /// [default: text]
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Print the resolved settings, where each came from, and the exact delay schedule,
    /// then exit without running anything.
    #[arg(long)]
    pub explain: bool,
}

fn text<T: FromText>(text: &str) -> Result<T, String> {
    T::from_text(text)
}

/// What the command line asks for, split into its parts.
pub struct Request {
    pub flags: Layer,
    pub command: Vec<OsString>,
    pub selection: Selection,
    pub explain: bool,
    pub list_profiles: bool,
}

impl Cli {
    pub fn into_request(self) -> Request {
        let Cli {
            matching: m,
            schedule: s,
            process: p,
            config: c,
            output: o,
            command,
        } = self;
        let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
        let flag = |on: bool| on.then_some(true);
        let flags = Layer {
            description: None,
            patterns: list(m.patterns),
            stdout_patterns: list(m.stdout_patterns),
            abort_on: list(m.abort_on),
            fixed_strings: flag(m.fixed_strings),
            ignore_case: flag(m.ignore_case),
            exit_codes: m.exit_codes.map(Value),
            attempts: s.attempts,
            delay: s.delay.map(Value),
            backoff: s.backoff,
            factor: s.factor.map(Value),
            max_delay: s.max_delay.map(Value),
            delays: s.delays.map(Value),
            jitter: s.jitter,
            seed: s.seed,
            max_time: s.max_time.map(Value),
            timeout: p.timeout.map(Value),
            kill_signal: p.kill_signal.map(Value),
            kill_after: p.kill_after.map(Value),
            foreground: flag(p.foreground),
            hold_stdout: flag(p.hold_stdout),
            lock: p.lock,
            lock_timeout: p.lock_timeout.map(Value),
            quiet: flag(o.quiet),
            verbose: flag(o.verbose),
            log_format: o.log_format,
        };
        Request {
            flags,
            command,
            selection: Selection {
                config: c.config,
                profile: c.profile,
                no_config: c.no_config,
            },
            explain: o.explain,
            list_profiles: c.list_profiles,
        }
    }
}
