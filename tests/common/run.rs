//! A finished process, as the end-to-end tests look at it: what ran, how it
//! ended, and its output, with the lines of retry-on's own that they count.

use std::process::{Command, ExitStatus};

use super::exit::shell_code;

#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit, as a shell reports it (128+N for signal N).
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
    pub fn stderr_lines_starting(&self, prefix: &str) -> Vec<&str> {
        self.stderr.lines().filter(|l| l.starts_with(prefix)).collect()
    }
    pub fn stderr_count(&self, prefix: &str) -> usize {
        self.stderr_lines_starting(prefix).len()
    }
    /// retry-on's own lines (those starting "retry-on: ").
    pub fn own_lines(&self) -> Vec<&str> {
        self.stderr_lines_starting("retry-on: ")
    }
    /// retry-on's own "attempt K/N failed (...); retrying in ..." lines.
    pub fn retries(&self) -> usize {
        self.stderr.lines().filter(|l| is_retry_line(l)).count()
    }
    /// retry-on's `attempt N failed (…); check passed, not retrying` lines.
    pub fn check_passed_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("retry-on: attempt ") && l.ends_with("; check passed, not retrying"))
            .collect()
    }
}

/// retry-on's line for a failed attempt that it retries.
pub fn is_retry_line(line: &str) -> bool {
    line.starts_with("retry-on: attempt ") && line.contains(" failed (") && line.contains("; retrying in ")
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (out, err) = (self.stdout.trim_end(), self.stderr.trim_end());
        write!(
            f,
            "--- {} ({:?})\n--- stdout:\n{out}\n--- stderr:\n{err}\n---",
            self.what, self.status
        )
    }
}

/// A command line as a person would read it, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}
