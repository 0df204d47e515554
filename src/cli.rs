//! What the user typed. A flag and the config-file key of the same name
//! are one field of [`Layer`], parsed by clap from the command line and by
//! serde from a file, so an option is declared once. Clap stays here.

pub(crate) mod generate;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{OsStringValueParser, PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, ValueHint};
use serde::Deserialize;

use crate::backoff::{Backoff, Jitter};
use crate::error::Error;
use crate::parse::{
    AnySignal, At, Choice, DelayList, ExitCodes, Factor, FromText, LeaseLength, Limit, Located, LockTarget, LogFormat,
    Value,
};

/// Each example once, as what it does and then the command line: `--help`
/// shows them after the options (`AFTER_HELP`, made at compile time) and
/// the man page renders `EXAMPLES`, so the two cannot say different things.
macro_rules! examples {
    ($($what:literal $command:literal)*) => {
        pub(crate) const EXAMPLES: &[(&str, &str)] = &[$(($what, $command)),*];
        const AFTER_HELP: &str = concat!(
            "Examples:\n",
            $("  # ", $what, "\n  ", $command, "\n\n",)*
            "Exit status: the last attempt's; 0 if --check passed; 1 if the command's stdout\n\
             could not be written (a full disk); 124 if the last attempt was stopped by --timeout\n\
             or --max-time; 125 if retry-on itself failed (bad flag, regex, duration or config;\n\
             a lock or a hook that failed); 126 if the command cannot be executed; 127 if it (or\n\
             its #! interpreter) is not found; 128+N if it was killed by signal N."
        );
    };
}

examples! {
    "Retry an IAM call that another writer is racing (waits 1s, 2s, 4s, 8s):"
    "retry-on -p ConcurrentModification -- aws iam update-user --user-name alice --new-path /ops/"

    "Use the built-in aws profile (throttling, conflicts, 5xx, connection errors):"
    "retry-on -P aws -- aws iam attach-role-policy --role-name r --policy-arn arn:aws:iam::aws:policy/ReadOnlyAccess"

    "Retry exit codes 1 and 40-45, at most 10 times, every 500ms, each try limited to 30s:"
    "retry-on -e 1,40-45 -n 10 -d 500ms -b constant -t 30s -- ./flaky-job"

    "Show the resolved settings and the exact schedule, without running anything:"
    "retry-on -P aws --seed 1 --explain"
}

/// Run a command and retry it when its output says the failure is transient.
///
/// retry-on runs COMMAND, passes its output through unchanged, and matches its
/// stderr line by line against patterns. When an attempt fails and a retry
/// condition holds, it waits on a backoff schedule and runs the command again.
/// With no condition at all (-p, --stdout-pattern, -e), any failure is retried.
#[derive(Debug, Parser)]
#[command(
    name = "retry-on",
    version = env!("RETRY_ON_VERSION"),
    override_usage = "retry-on [OPTIONS] [--] COMMAND [ARGS]...\n       retry-on [OPTIONS] --explain | --list-profiles",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub flags: Layer,
    #[command(flatten)]
    pub selection: Selection,
    /// Print the resolved settings, where each came from, and the exact delay schedule,
    /// then exit without running anything.
    #[arg(long, conflicts_with_all = ["generate", "list_profiles"], help_heading = "Output")]
    pub explain: bool,
    /// Write a man page (man) or a shell's completion script (complete-bash, complete-zsh,
    /// complete-fish, complete-powershell, complete-elvish) to stdout, and exit.
    #[arg(long, value_name = "KIND", value_parser = choice::<generate::Kind>(), allow_hyphen_values = true, conflicts_with = "list_profiles", help_heading = "Output")]
    pub generate: Option<generate::Kind>,
    /// The command to run, and its arguments. Everything from COMMAND on belongs to the command,
    /// even arguments that look like retry-on's flags. It is run directly, never through a shell.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        value_hint = ValueHint::CommandWithArguments,
        required_unless_present_any = ["explain", "list_profiles", "generate"],
    )]
    pub command: Vec<OsString>,
}

/// One layer of settings: the command line's flags, or a config file's
/// `[defaults]` or profile. A file key is the long flag's name with `_` for
/// `-`; the repeatable pattern flags are plural. Unset means "not said here".
#[derive(Clone, Debug, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// What a profile is for (config files only).
    #[arg(skip)]
    pub description: Option<String>,

    /// Retry when a line of stderr matches REGEX. Repeatable; any match counts.
    #[arg(short = 'p', long = "pattern", value_name = "REGEX", value_parser = located, allow_hyphen_values = true, help_heading = "Matching")]
    pub patterns: Option<Vec<Located>>,
    /// Treat every pattern given on the command line as literal text, not a regex.
    #[arg(
        short = 'F',
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Matching"
    )]
    pub fixed_strings: Option<bool>,
    /// Match every pattern given on the command line without regard to case.
    #[arg(
        short = 'i',
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Matching"
    )]
    pub ignore_case: Option<bool>,
    /// Retry when a line of stdout matches REGEX (stdout is then piped through retry-on).
    /// Repeatable.
    #[arg(long = "stdout-pattern", value_name = "REGEX", value_parser = located, allow_hyphen_values = true, help_heading = "Matching")]
    pub stdout_patterns: Option<Vec<Located>>,
    /// Retry when the exit code is in LIST, such as 1,40-45,255.
    #[arg(short = 'e', long = "exit-code", value_name = "LIST", value_parser = text::<ExitCodes>, allow_hyphen_values = true, help_heading = "Matching")]
    pub exit_codes: Option<Value<ExitCodes>>,
    /// Wait at least as long as the output asks: REGEX has one capture group that takes a number
    /// of seconds or a duration, such as 'Retry-After: (\d+)'. The last matching line wins; the
    /// wait stays under --max-delay. Not a retry condition. Repeatable.
    #[arg(long = "retry-after", value_name = "REGEX", value_parser = located, allow_hyphen_values = true, help_heading = "Matching")]
    pub retry_after: Option<Vec<Located>>,
    /// Never retry an attempt whose output matched REGEX, even if a retry pattern matched too.
    /// Repeatable.
    #[arg(long = "abort-on", value_name = "REGEX", value_parser = located, allow_hyphen_values = true, help_heading = "Matching")]
    pub abort_on: Option<Vec<Located>>,

    /// Total attempts, the first included; 0 means no limit.
    #[arg(
        short = 'n',
        long,
        value_name = "N",
        allow_hyphen_values = true,
        help_heading = "Schedule"
    )]
    pub attempts: Option<u32>,
    /// The first delay: 250ms, 2s, 1m30s, or a bare number of seconds.
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = text::<Duration>, allow_hyphen_values = true, help_heading = "Schedule")]
    pub delay: Option<Value<Duration>>,
    /// How delays grow: d, d, d… (constant); d, 2d, 3d… (linear); d, d·f, d·f²… (exponential);
    /// d, d, 2d, 3d, 5d… (fibonacci).
    #[arg(short = 'b', long, value_name = "KIND", value_parser = choice::<Backoff>(), allow_hyphen_values = true, help_heading = "Schedule")]
    pub backoff: Option<Backoff>,
    /// The multiplier of exponential backoff.
    #[arg(long, value_name = "F", value_parser = text::<Factor>, allow_hyphen_values = true, help_heading = "Schedule")]
    pub factor: Option<Value<Factor>>,
    /// The cap on any single delay, from -b, --delays or jitter.
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>, allow_hyphen_values = true, help_heading = "Schedule")]
    pub max_delay: Option<Value<Duration>>,
    /// An explicit schedule such as 1s,5s,30s; its last value repeats. Overrides -d and -b.
    #[arg(long, value_name = "LIST", value_parser = text::<DelayList>, allow_hyphen_values = true, help_heading = "Schedule")]
    pub delays: Option<Value<DelayList>>,
    /// Randomise delays: full is rand(0, d); equal is d/2 + rand(0, d/2); decorrelated is
    /// min(cap, rand(first delay, previous·3)).
    #[arg(short = 'j', long, value_name = "KIND", value_parser = choice::<Jitter>(), allow_hyphen_values = true, help_heading = "Schedule")]
    pub jitter: Option<Jitter>,
    /// Seed the jitter, to make it repeatable.
    #[arg(long, value_name = "N", allow_hyphen_values = true, help_heading = "Schedule")]
    pub seed: Option<u64>,
    /// A deadline for the whole run. retry-on never sleeps past it, and stops an attempt still
    /// running at it (exit 124). 0 means no deadline.
    #[arg(long, value_name = "DURATION", value_parser = text::<Limit>, allow_hyphen_values = true, help_heading = "Schedule")]
    pub max_time: Option<Value<Limit>>,

    /// Stop an attempt that runs longer than DURATION; it counts as a failure that may be
    /// retried. 0 means no timeout, as for GNU timeout.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = text::<Limit>, allow_hyphen_values = true, help_heading = "Process")]
    pub timeout: Option<Value<Limit>>,
    /// The signal that stops a timed-out attempt's process group: TERM, SIGTERM, 15, or a realtime
    /// one such as RTMIN+1.
    #[arg(long, value_name = "SIG", value_parser = text::<AnySignal>, allow_hyphen_values = true, help_heading = "Process")]
    pub kill_signal: Option<Value<AnySignal>>,
    /// Send KILL to the group if anything in it is still alive this long after the kill
    /// signal.
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>, allow_hyphen_values = true, help_heading = "Process")]
    pub kill_after: Option<Value<Duration>>,
    /// Run the command in retry-on's own process group, so that it gets the terminal, Ctrl-C
    /// and Ctrl-Z directly. Timeouts then signal only the command, not its children (as GNU
    /// timeout --foreground). Without it, a command that reads the terminal is lent it.
    #[arg(long, num_args = 0, default_missing_value = "true", help_heading = "Process")]
    pub foreground: Option<bool>,
    /// Hold each attempt's stdout and write only the final attempt's to retry-on's stdout.
    #[arg(long, num_args = 0, default_missing_value = "true", help_heading = "Process")]
    pub hold_stdout: Option<bool>,
    /// Hold an exclusive lock during each attempt, released during backoff sleeps: on FILE
    /// (created if missing), or a lease on item KEY of a DynamoDB table with
    /// dynamodb://TABLE/KEY, for writers on different machines.
    #[arg(long, value_name = "FILE|URL", value_parser = lock_target(), value_hint = ValueHint::FilePath, allow_hyphen_values = true, help_heading = "Process")]
    pub lock: Option<At<Value<LockTarget>>>,
    /// Give up (exit 125) if --lock is not taken within DURATION.
    #[arg(long, value_name = "DURATION", value_parser = text::<Duration>, allow_hyphen_values = true, help_heading = "Process")]
    pub lock_timeout: Option<Value<Duration>>,
    /// How long a DynamoDB lease lasts unless renewed; it is renewed every third of it while
    /// an attempt runs, so a holder that dies frees the lock within DURATION.
    #[arg(long, value_name = "DURATION", value_parser = text::<LeaseLength>, allow_hyphen_values = true, help_heading = "Process")]
    pub lock_lease: Option<Value<LeaseLength>>,
    /// Create the DynamoDB table of --lock (on-demand billing) if it is missing.
    #[arg(long, num_args = 0, default_missing_value = "true", help_heading = "Process")]
    pub lock_create_table: Option<bool>,

    /// Run CMD (with sh -c) before each retry, after the wait: if it exits 0, the desired state
    /// already holds, and retry-on stops and exits 0 without running the command again.
    #[arg(long, value_name = "CMD", value_parser = shell_command, allow_hyphen_values = true, help_heading = "Hooks")]
    #[serde(default, deserialize_with = "shell_command_in_file")]
    pub check: Option<String>,
    /// With --check, also run it once before the first attempt: if it exits 0, the command
    /// never runs.
    #[arg(long, num_args = 0, default_missing_value = "true", help_heading = "Hooks")]
    pub check_first: Option<bool>,
    /// Run CMD (with sh -c) after a failed attempt that will be retried, before the wait; if it
    /// fails, retry-on stops retrying ('CMD || true' to go on anyway).
    #[arg(long, value_name = "CMD", value_parser = shell_command, allow_hyphen_values = true, help_heading = "Hooks")]
    #[serde(default, deserialize_with = "shell_command_in_file")]
    pub on_retry: Option<String>,
    /// Run CMD (with sh -c) once when retry-on gives up (not when interrupted); its exit code
    /// is reported and changes nothing.
    #[arg(long, value_name = "CMD", value_parser = shell_command, allow_hyphen_values = true, help_heading = "Hooks")]
    #[serde(default, deserialize_with = "shell_command_in_file")]
    pub on_giveup: Option<String>,
    /// The time limit of each hook; one that runs out gets TERM, with its process group, then
    /// KILL after --kill-after. 0 means no limit.
    #[arg(long, value_name = "DURATION", value_parser = text::<Limit>, allow_hyphen_values = true, help_heading = "Hooks")]
    pub hook_timeout: Option<Value<Limit>>,

    /// Print none of retry-on's lines about attempts, retries and giving up. Its own errors
    /// (exit 125, 126, 127) are still printed, and the command's and the hooks' output is never
    /// silenced.
    #[arg(
        short = 'q',
        long,
        num_args = 0,
        default_missing_value = "true",
        conflicts_with = "verbose",
        help_heading = "Output"
    )]
    pub quiet: Option<bool>,
    /// Also say when each attempt starts and when the first one succeeds.
    #[arg(
        short = 'v',
        long,
        num_args = 0,
        default_missing_value = "true",
        help_heading = "Output"
    )]
    pub verbose: Option<bool>,
    /// The form of retry-on's own lines: text, json (one object per line per event), or github
    /// (GitHub Actions workflow commands; the default when GITHUB_ACTIONS=true).
    #[arg(long, value_name = "FORMAT", value_parser = choice::<LogFormat>(), allow_hyphen_values = true, help_heading = "Output")]
    pub log_format: Option<LogFormat>,
}

/// Which configuration to read.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Configuration")]
pub struct Selection {
    /// Read configuration from FILE instead of the user's config file.
    #[arg(short = 'c', long, value_name = "FILE", value_hint = ValueHint::FilePath, allow_hyphen_values = true, conflicts_with = "no_config")]
    pub config: Option<PathBuf>,
    /// Use the profile NAME from the config file or the built-in ones (see --list-profiles).
    #[arg(short = 'P', long, value_name = "NAME", allow_hyphen_values = true)]
    pub profile: Option<String>,
    /// Read no user configuration file; built-in profiles stay available.
    #[arg(long)]
    pub no_config: bool,
    /// List the profiles, with their descriptions and where each comes from, and exit.
    #[arg(long)]
    pub list_profiles: bool,
}

fn text<T: FromText>(text: &str) -> Result<Value<T>, String> {
    T::from_text(text).map(Value)
}

/// `--lock`: a path (which need not be UTF-8) or `dynamodb://TABLE/KEY`.
fn lock_target() -> impl TypedValueParser<Value = At<Value<LockTarget>>> {
    OsStringValueParser::new().try_map(|text| LockTarget::from_os(text).map(|target| At::flag(Value(target))))
}

/// A hook's shell command. One that begins with `-` is a command (`-x`
/// is no flag of retry-on's there), but `--` is the end of retry-on's
/// options, not a command: `--check -- cmd` left out the check.
fn shell_command(text: &str) -> Result<String, String> {
    match text {
        "--" => Err("'--' ends retry-on's options; give the shell command before it".to_string()),
        _ => Ok(text.to_string()),
    }
}

/// A hook's shell command in a config file, which, unlike an argument, can
/// hold a NUL byte: no shell could be given it, so it is refused where it was
/// written, not when the hook is first run.
fn shell_command_in_file<'de, D: serde::Deserializer<'de>>(file: D) -> Result<Option<String>, D::Error> {
    let command = Option::<String>::deserialize(file)?;
    if command.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err(serde::de::Error::custom("a shell command cannot contain a NUL byte"));
    }
    Ok(command)
}

fn located(text: &str) -> Result<Located, String> {
    Ok(Located::new(text))
}

/// A parser for one of a [`Choice`]'s names, which clap lists in help and completions.
fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    let names: Vec<&'static str> = T::ALL.iter().map(|(name, _)| *name).collect();
    PossibleValuesParser::new(names).map(|name| T::from_name(&name).expect("clap checked the name"))
}

/// Which of retry-on's own arguments is not UTF-8, for clap's "invalid
/// UTF-8 was detected in one or more arguments": the first one that is not
/// the value of an option that takes a path (`-c`, `--lock`), which may be
/// any bytes: after it, or joined to it (`--lock=PATH`, `-cPATH`).
fn not_utf8(args: &[OsString]) -> String {
    let takes_a_path = |arg: &OsString| matches!(arg.to_str(), Some("-c" | "--config" | "--lock"));
    let holds_a_path = |arg: &OsString| {
        let bytes = arg.as_encoded_bytes();
        ["--lock=", "--config=", "-c"]
            .iter()
            .any(|flag| bytes.starts_with(flag.as_bytes()))
    };
    let bad = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(i, arg)| arg.to_str().is_none() && !takes_a_path(&args[i - 1]) && !holds_a_path(arg));
    let Some((i, bad)) = bad else {
        return "error: an argument is not UTF-8\n".to_string();
    };
    let after = match args[i - 1].to_str() {
        Some(option) if option.starts_with('-') && i > 1 => format!(" (the value of {option})"),
        _ => String::new(),
    };
    format!(
        "error: argument {i}{after} is not UTF-8: \"{}\"; retry-on's options take text (a \
         pattern matches any byte as (?-u)\\xFF)\n",
        bad.as_encoded_bytes().escape_ascii()
    )
}

/// The log format that raw arguments ask for (`--log-format json`, or
/// `=json`), for reporting a command line that does not parse as the rest
/// of the run would be reported. Only retry-on's own arguments are looked
/// at, those before a `--`.
pub(crate) fn asked_log_format(args: &[OsString]) -> Option<LogFormat> {
    let mut asked = None;
    let mut words = args
        .iter()
        .skip(1)
        .map(|arg| arg.to_str())
        .take_while(|arg| *arg != Some("--"));
    while let Some(word) = words.next() {
        let value = match word {
            Some("--log-format") => words.next().flatten(),
            Some(word) => word.strip_prefix("--log-format="),
            None => None,
        };
        if let Some(format) = value.and_then(LogFormat::from_name) {
            asked = Some(format);
        }
    }
    asked
}

/// What the command line asks for.
pub(crate) enum Parsed {
    Run(Box<Cli>),
    /// Help or the version, which clap has printed.
    Shown,
}

impl Cli {
    /// Parses the command line. `--help` shows each option's default (from
    /// the resolved settings' own defaults), which `defaults` works out only
    /// then: building the help costs more than the rest of a run's start-up.
    pub(crate) fn parse(
        args: impl IntoIterator<Item = OsString>,
        defaults: impl FnOnce() -> Vec<(&'static str, String)>,
    ) -> Result<Parsed, Error> {
        let args: Vec<OsString> = args.into_iter().collect();
        let parsed = Cli::command()
            .try_get_matches_from(&args)
            .and_then(|matches| Cli::from_arg_matches(&matches));
        match parsed {
            Ok(cli) => Ok(Parsed::Run(Box::new(cli))),
            Err(error) if error.kind() == ErrorKind::DisplayHelp => {
                // Only the help shows the defaults: work them out now.
                let help = Cli::command_with_defaults(&defaults()).try_get_matches_from(&args);
                let _ = help.map_or_else(|help| help.print(), |_| error.print());
                Ok(Parsed::Shown)
            }
            Err(error) if error.kind() == ErrorKind::DisplayVersion => {
                let _ = error.print();
                Ok(Parsed::Shown)
            }
            Err(error) if error.kind() == ErrorKind::InvalidUtf8 => Err(Error::Arguments(not_utf8(&args))),
            Err(error) => Err(Error::Arguments(error.to_string())),
        }
    }

    pub(crate) fn command_with_defaults(defaults: &[(&'static str, String)]) -> clap::Command {
        // `mut_args` keeps the flags in their order (`mut_arg` would move each to the end).
        Cli::command().mut_args(|arg| match defaults.iter().find(|(key, _)| arg.get_id() == *key) {
            Some((_, default)) => {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg.help(format!("{help} [default: {default}]"))
            }
            None => arg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `mut_arg` moved every flag with a default to the end of the help, and
    /// its heading with it.
    #[test]
    fn defaults_in_the_help_keep_the_headings_in_order() {
        let defaults = [("attempts", "5".to_string()), ("timeout", "none".to_string())];
        let help = Cli::command_with_defaults(&defaults).render_help().to_string();
        let headings: Vec<&str> = help
            .lines()
            .filter(|l| l.ends_with(':') && !l.starts_with(' '))
            .collect();
        assert_eq!(
            headings,
            [
                "Options:",
                "Matching:",
                "Schedule:",
                "Process:",
                "Hooks:",
                "Output:",
                "Configuration:",
                "Examples:"
            ]
        );
        assert!(help.contains("[default: 5]"), "{help}");
    }

    #[test]
    fn a_flag_left_out_is_unset_not_false() {
        let cli = Cli::try_parse_from(["retry-on", "-q", "--", "true"]).unwrap();
        assert_eq!(cli.flags.quiet, Some(true));
        assert_eq!(cli.flags.verbose, None);
        assert_eq!(cli.flags.foreground, None);
    }
}
