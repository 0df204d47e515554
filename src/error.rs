//! retry-on's own failures, each with the exit code it maps to.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::exit;
use crate::parse::show_duration;

#[derive(Debug, Error)]
pub enum Error {
    /// The command line could not be parsed: clap's own message, in full.
    #[error("{0}")]
    Arguments(String),
    /// A bad flag or flag value.
    #[error("{0}")]
    Usage(String),
    /// A bad or unreadable configuration file, or an unknown profile.
    #[error("{0}")]
    Config(String),
    #[error("cannot run {command:?}: {source}")]
    NotExecutable { command: String, source: io::Error },
    #[error("{command}: command not found")]
    NotFound { command: String },
    #[error("{command}: {}: No such file or directory", interpreter.as_deref().map_or_else(|| "a file it needs to run (such as its ELF interpreter)".to_string(), |i| format!("its interpreter {i}")))]
    MissingInterpreter {
        command: String,
        interpreter: Option<String>,
    },
    #[error("cannot use lock file {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    /// The lock was not taken within `--lock-timeout`: held by `holder` (as
    /// far as the lock says), or its service never `answered`.
    #[error("{}", lock_timeout_message(lock, *limit, holder.as_deref(), *answered))]
    LockTimeout {
        lock: String,
        limit: Duration,
        holder: Option<String>,
        answered: bool,
    },
    /// A lock service (DynamoDB) refused or failed: its own message.
    #[error("lock {lock}: {message}")]
    LockService { lock: String, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

fn lock_timeout_message(lock: &str, limit: Duration, holder: Option<&str>, answered: bool) -> String {
    if !answered {
        return format!(
            "could not take the lock on {lock}: the lock service did not answer within {} (--lock-timeout)",
            show_duration(limit)
        );
    }
    let holds = holder.map_or_else(
        || "another process holds it".to_string(),
        |h| format!("it is held by {h}"),
    );
    match limit.is_zero() {
        true => format!("could not take the lock on {lock}: {holds}, and --lock-timeout 0 does not wait"),
        false => format!(
            "could not take the lock on {lock} within {}: {holds}",
            show_duration(limit)
        ),
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotExecutable { .. } => exit::CANNOT_EXECUTE,
            Error::NotFound { .. } | Error::MissingInterpreter { .. } => exit::NOT_FOUND,
            Error::Arguments(_)
            | Error::Usage(_)
            | Error::Config(_)
            | Error::Lock { .. }
            | Error::LockTimeout { .. }
            | Error::LockService { .. }
            | Error::Io { .. } => exit::OWN_FAILURE,
        }
    }

    /// Whether the command could not be started at all (126, 127).
    pub(crate) fn is_cannot_run(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. } | Error::MissingInterpreter { .. } | Error::NotExecutable { .. }
        )
    }

    /// Whether the message is already a whole report (clap's), not a line
    /// for retry-on to prefix with its name.
    pub(crate) fn is_rendered(&self) -> bool {
        matches!(self, Error::Arguments(_))
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
