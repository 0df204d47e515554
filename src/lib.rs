//! retry-on: run a command and retry it when its output says the failure
//! is transient. The binary's `main` only calls [`main`].
//!
//! `src/README.md` gives the modules, each with what it owns, in layers: a
//! module imports only modules of the layers below its own.

mod backoff;
pub mod cli;
mod clock;
pub mod config;
mod console;
pub mod error;
mod exit;
mod job;
mod lock;
pub mod parse;
pub mod pattern;
mod platform;
mod policy;
mod report;
mod retry;
pub mod settings;
mod signals;
mod spool;
mod stdin;
mod supervise;
mod terminal;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Parsed};
use crate::config::Catalog;
use crate::error::Error;
use crate::exit::Exit;
use crate::parse::LogFormat;
use crate::pattern::Patterns;
use crate::settings::Settings;

/// Runs retry-on with the process's arguments and ends it the right way.
pub fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let exit = run_from_args(std::env::args_os()).unwrap_or_else(|failure| {
        let at = report::FailedAt {
            attempt: 0,
            attempts: failure.attempts,
            elapsed: started.elapsed(),
        };
        report::fatal(&failure.error, failure.format, &at);
        Exit::Code(failure.error.exit_code())
    });
    exit.into_exit_code()
}

/// A failure before the run, with what is known of how to report it.
struct Failure {
    error: Error,
    /// The log format, as far as it is known.
    format: Option<LogFormat>,
    /// The attempts allowed, once the settings are resolved.
    attempts: Option<u32>,
}

/// Adds to an error what is known of how to report it.
fn failure(format: Option<LogFormat>, attempts: Option<u32>) -> impl FnOnce(Error) -> Failure {
    move |error| Failure {
        error,
        format,
        attempts,
    }
}

fn run_from_args(args: impl IntoIterator<Item = OsString>) -> Result<Exit, Failure> {
    let args: Vec<OsString> = args.into_iter().collect();
    // A command line that does not parse may still have asked for a format.
    let asked_format = cli::asked_log_format(&args).or_else(config::environment_log_format);
    let cli = match Cli::parse(args, help_defaults).map_err(failure(asked_format, None))? {
        Parsed::Run(cli) => cli,
        Parsed::Shown => return Ok(Exit::Code(0)),
    };
    if let Some(kind) = cli.generate {
        print(&cli::generate::generate(
            kind,
            Cli::command_with_defaults(&help_defaults()),
        ));
        return Ok(Exit::Code(0));
    }
    // Until the configuration is read, what the flags and the environment say.
    let typed_format = cli.flags.log_format.or_else(config::environment_log_format);
    let catalog = Catalog::load(&cli.selection).map_err(failure(typed_format, None))?;
    if cli.selection.list_profiles {
        print(&report::profiles(&catalog.list().map_err(failure(typed_format, None))?));
        return Ok(Exit::Code(0));
    }
    let settings = resolve(&cli, &catalog).map_err(failure(typed_format, None))?;
    let resolved = failure(Some(settings.output.log_format), Some(settings.schedule.attempts));
    run_resolved(&settings, cli.explain).map_err(resolved)
}

/// Each flag's default, as `--help` shows it: worked out only for the help,
/// the man page and the completions, not on every run.
fn help_defaults() -> Vec<(&'static str, String)> {
    Settings::defaults()
        .keys()
        .into_iter()
        .map(|(key, value)| (key, report::value_text(key, value)))
        // A flag that is off unless given says nothing of its default.
        .filter(|(_, text)| text != "false")
        .collect()
}

/// Resolves the settings from the command line and the configuration.
fn resolve(cli: &Cli, catalog: &Catalog) -> Result<Settings, Error> {
    let profile = cli
        .selection
        .profile
        .as_deref()
        .map(|name| catalog.profile(name))
        .transpose()?;
    Ok(config::resolve(
        &cli.flags,
        cli.command.clone(),
        profile.as_ref(),
        catalog,
    ))
}

/// Explains the settings, or runs the command with them.
fn run_resolved(settings: &Settings, explain: bool) -> Result<Exit, Error> {
    if let Some(contradiction) = settings.contradiction() {
        return Err(Error::Usage(contradiction));
    }
    let matching = &settings.matching;
    let merged = !explain && !settings.process.hold_stdout && platform::stdout_is_stderr();
    let patterns = Patterns::compile(&matching.pattern_lists(), merged).map_err(Error::Usage)?;
    if explain {
        print(&report::explain(settings));
        return Ok(Exit::Code(0));
    }
    let child_signals = platform::own_signal_dispositions();
    descriptors_to_spare().map_err(|e| Error::io("cannot start the runtime", e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::io("cannot start the runtime", e))?;
    runtime.block_on(retry::retry(settings, &patterns, child_signals))
}

/// The runtime and its signal driver take a few descriptors, and tokio
/// panics (aborts, in a release build) when the signal driver cannot have
/// its pair: under a tight `ulimit -n`, check first that they are there.
fn descriptors_to_spare() -> std::io::Result<()> {
    let pipes: std::io::Result<Vec<_>> = (0..4).map(|_| std::io::pipe()).collect();
    pipes.map(drop)
}

fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
