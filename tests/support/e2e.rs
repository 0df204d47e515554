//! Shared pieces of the end-to-end tests (tests/e2e_*.rs), which run real
//! programs (kubectl, terraform, git, curl, npm) through retry-on against
//! local servers and local state: finding the program or skipping, starting
//! processes with their output read line by line, and bounded waits.
//!
//! Include it beside the common helpers:
//!   mod common;
//!   #[path = "support/e2e.rs"] mod e2e;
#![allow(dead_code)]

use crate::common::child::{Lines, wait_bounded};
use crate::common::command::{BIN, isolated};
use crate::common::exit::shell_code;
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The bound on any one process or wait. Generous: 2 shared cores, and
/// other test binaries building or running beside these.
pub const WITHIN: Duration = Duration::from_secs(180);

/// `name` on PATH, as an executable file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// `program` on PATH, or None after printing one `skipped: ...` line for
/// `test`. With RETRY_ON_REQUIRE_<PROGRAM>=1 a missing program is a failure.
pub fn require(program: &str, test: &str) -> Option<PathBuf> {
    if let Some(p) = on_path(program) {
        return Some(p);
    }
    let switch = format!("RETRY_ON_REQUIRE_{}", program.to_ascii_uppercase());
    if std::env::var(&switch).as_deref() == Ok("1") {
        panic!("{switch}=1 but '{program}' is not on PATH (see .ci/run for how CI installs it)");
    }
    // Straight to stderr, past the test harness's capture.
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {test}: '{program}' is not on PATH; set {switch}=1 to make this a failure"
    );
    None
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

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
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

#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        shell_code(self.status)
    }
    pub fn assert_success(&self) {
        assert!(self.status.success(), "{} failed\n{self}", self.what);
    }
    pub fn assert_failure(&self) {
        assert!(
            !self.status.success(),
            "{} succeeded, expected a failure\n{self}",
            self.what
        );
    }
    /// Lines of stderr that start with `prefix` (so not retry-on's own
    /// lines, which quote what matched).
    pub fn stderr_count(&self, prefix: &str) -> usize {
        self.stderr.lines().filter(|l| l.starts_with(prefix)).count()
    }
    /// retry-on's own "attempt K/N failed (...); retrying in ..." lines.
    pub fn retries(&self) -> usize {
        self.stderr.lines().filter(|l| is_retry_line(l)).count()
    }
    /// retry-on's own lines (those starting "retry-on: ").
    pub fn own_lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with("retry-on: ")).collect()
    }
}

/// retry-on's line for a failed attempt that it retries.
pub fn is_retry_line(line: &str) -> bool {
    line.starts_with("retry-on: attempt ") && line.contains(" failed (") && line.contains("; retrying in ")
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- {} ({:?})\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.what, self.status, self.stdout, self.stderr
        )
    }
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
