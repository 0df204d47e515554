//! The one way the tests build a command that runs retry-on: isolated from
//! the configuration of whoever runs the tests.
//!
//! tests/common holds one module per family of helpers, and each test binary
//! declares only the modules it uses (`mod common { pub mod command; … }`):
//! a helper that some binary compiles but never calls would be dead code
//! there, and hiding that with `allow(dead_code)` hides truly dead helpers too.

use std::ffi::OsStr;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_retry-on");

/// `program` (retry-on, or something that starts it) with a cleared
/// environment but for PATH and a HOME that does not exist: a developer's
/// own XDG_CONFIG_HOME, RETRY_ON_CONFIG or ~/.config/retry-on must not
/// change what the tests see.
pub fn isolated(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", "/nonexistent-retry-on-test-home");
    cmd
}

/// A temporary directory for scripts, lock files and configs.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}
