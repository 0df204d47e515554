//! retry-on: run a command and retry it when its output says the failure
//! is transient. The binary's `main` only calls [`main`].

pub mod backoff;
pub mod cli;
pub mod config;
pub mod error;
pub mod exit;
pub mod lock;
pub mod parse;
pub mod pattern;
pub mod policy;
pub mod report;
pub mod run;
pub mod spool;
pub mod stdin;
pub mod supervise;
pub mod terminal;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::Cli;
use crate::config::Catalog;
use crate::error::Error;
use crate::exit::{Exit, OWN_FAILURE};
use crate::lock::Lock;
use crate::report::Reporter;

/// Runs retry-on with the process's arguments and ends it the right way.
pub fn main() -> ExitCode {
    match run(std::env::args_os()) {
        Ok(exit) => exit.into_exit_code(),
        Err(error) => {
            Reporter::error(&error.to_string());
            ExitCode::from(error.exit_code())
        }
    }
}

pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<Exit, Error> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            let done = matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion);
            return Ok(Exit::Code(if done { 0 } else { OWN_FAILURE }));
        }
    };
    let request = cli.into_request();
    let catalog = Catalog::load(&request.selection)?;
    if request.list_profiles {
        print(&report::profiles(&catalog.list()?));
        return Ok(Exit::Code(0));
    }
    let profile = match request.selection.profile {
        Some(name) => Some((name.clone(), catalog.profile(&name)?)),
        None => None,
    };
    let settings = config::resolve(request.flags, request.command, profile, &catalog);
    let patterns = run::compile(&settings)?;
    if request.explain {
        print(&report::explain(&settings));
        return Ok(Exit::Code(0));
    }
    let lock = settings.lock.as_deref().map(Lock::open).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::io("cannot start the runtime", e))?;
    runtime.block_on(run::run(&settings, &patterns, lock.as_ref()))
}

fn print(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
