//! retry-on's own failures, each with the exit code it maps to.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::exit;

#[derive(Debug, Error)]
pub enum Error {
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
    #[error("cannot use lock file {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotExecutable { .. } => exit::CANNOT_EXECUTE,
            Error::NotFound { .. } => exit::NOT_FOUND,
            Error::Usage(_) | Error::Config(_) | Error::Lock { .. } | Error::Io { .. } => exit::OWN_FAILURE,
        }
    }

    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
