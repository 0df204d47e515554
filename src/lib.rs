//! retry-on: run a command and retry it when its output says the failure
//! is transient. The binary's `main` only calls [`main`].
//!
//! `src/README.md` gives the modules, each with what it owns, in layers: a
//! module imports only modules of the layers below its own.

mod backoff;
pub mod cli;
mod clock;
pub mod config;
pub mod error;
mod exit;
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
use crate::lock::{LeaseOptions, Lock};
use crate::pattern::Patterns;
use crate::report::Reporter;
use crate::settings::Settings;

/// Runs retry-on with the process's arguments and ends it the right way.
pub fn main() -> ExitCode {
    match run_from_args(std::env::args_os()) {
        Ok(exit) => exit.into_exit_code(),
        Err(error) if error.is_rendered() => {
            let _ = std::io::stderr().write_all(error.to_string().as_bytes());
            ExitCode::from(error.exit_code())
        }
        Err(error) => {
            Reporter::error(&error.to_string());
            ExitCode::from(error.exit_code())
        }
    }
}

fn run_from_args(args: impl IntoIterator<Item = OsString>) -> Result<Exit, Error> {
    let defaults = Settings::defaults();
    let help_defaults: Vec<(&'static str, String)> = defaults
        .keys()
        .into_iter()
        .filter(|(key, _)| !matches!(*key, "foreground" | "hold_stdout" | "quiet" | "verbose"))
        .map(|(key, value)| (key, report::value_text(key, value)))
        .collect();
    let cli = match Cli::parse(args, &help_defaults)? {
        Parsed::Run(cli) => cli,
        Parsed::Shown => return Ok(Exit::Code(0)),
    };
    let catalog = Catalog::load(&cli.selection)?;
    if cli.selection.list_profiles {
        print(&report::profiles(&catalog.list()?));
        return Ok(Exit::Code(0));
    }
    let profile = cli
        .selection
        .profile
        .as_deref()
        .map(|name| catalog.profile(name))
        .transpose()?;
    let Cli { flags, command, .. } = *cli;
    let settings = config::resolve(&flags, command, profile.as_ref(), &catalog);
    let matching = &settings.matching;
    let patterns =
        Patterns::compile(&matching.patterns, &matching.stdout_patterns, &matching.abort_on).map_err(Error::Usage)?;
    if cli.explain {
        print(&report::explain(&settings));
        return Ok(Exit::Code(0));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::io("cannot start the runtime", e))?;
    runtime.block_on(async {
        let lock = match &settings.process.lock {
            Some(target) => Some(Lock::open(target, lease_options(&settings)).await?),
            None => None,
        };
        retry::retry(&settings, &patterns, lock.as_ref()).await
    })
}

fn lease_options(settings: &Settings) -> LeaseOptions {
    LeaseOptions {
        lease: settings.process.lock_lease,
        create_table: settings.process.lock_create_table,
        command: report::shell_words(&settings.command),
    }
}

fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
