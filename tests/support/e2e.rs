//! Shared pieces of the end-to-end tests (tests/e2e_*.rs), which run real
//! programs (kubectl, terraform, git, curl, npm) through retry-on against
//! local servers and local state: finding the program or skipping, starting
//! processes with their output read line by line, and bounded waits.
//!
//! Include it beside the common helpers:
//!   mod common;
//!   #[path = "support/e2e.rs"] mod e2e;

use crate::common::child::{Lines, wait_bounded};
use crate::common::command::{BIN, isolated};
use crate::common::run::{Run, describe};
use crate::common::skip::{available_or_skip, on_path};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The bound on any one process or wait. Generous: 2 shared cores, and
/// other test binaries building or running beside these.
pub const WITHIN: Duration = Duration::from_secs(180);

/// `program` on PATH, or None after printing one `skipped: ...` line for
/// `test`. With RETRY_ON_REQUIRE_<PROGRAM>=1 a missing program is a failure.
pub fn require(program: &str, test: &str) -> Option<PathBuf> {
    let found = on_path(program);
    let switch = format!("RETRY_ON_REQUIRE_{}", program.to_ascii_uppercase());
    let missing = format!("'{program}' is not on PATH");
    available_or_skip(
        found.is_some(),
        &switch,
        test,
        &missing,
        "see .ci/run for how CI installs it",
    )
    .then_some(found)
    .flatten()
}

/// `retry-on OPTS... -- ARGV...` with the common isolated environment
/// (empty but for PATH and a HOME that does not exist); callers add what
/// the program needs with `.env()`.
pub fn retry_on<S: AsRef<OsStr>>(opts: &[&str], argv: &[S]) -> Command {
    let mut cmd = isolated(BIN);
    cmd.args(opts).arg("--").args(argv);
    cmd
}

/// The program alone (ARGV[0] with ARGV[1..]), in the same environment.
pub fn alone<S: AsRef<OsStr>>(argv: &[S]) -> Command {
    let program = argv[0].as_ref().to_string_lossy().into_owned();
    let mut cmd = isolated(&program);
    cmd.args(&argv[1..]);
    cmd
}

/// A started process whose stdout and stderr are read line by line. Killed
/// (the process itself) if dropped while still running.
pub struct Proc {
    pub what: String,
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

pub fn start(mut cmd: Command) -> Proc {
    let what = describe(&cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = Lines::new(child.stdout.take().unwrap());
    let stderr = Lines::new(child.stderr.take().unwrap());
    Proc {
        what,
        child,
        stdout,
        stderr,
    }
}

impl Proc {
    /// Waits (at most WITHIN) for the process to end and its output to close.
    pub fn finish(&mut self) -> Run {
        let status = wait_bounded(&mut self.child, WITHIN);
        Run {
            what: self.what.clone(),
            status,
            stdout: self.stdout.all(WITHIN).join("\n"),
            stderr: self.stderr.all(WITHIN).join("\n"),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to the end (at most WITHIN).
pub fn run(cmd: Command) -> Run {
    start(cmd).finish()
}

/// The first line of `program --version` (or of the args given), for the
/// log; empty if it cannot be run.
pub fn version(argv: &[&str]) -> String {
    let out = alone(argv).stdin(Stdio::null()).output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        }
        Err(_) => String::new(),
    }
}
