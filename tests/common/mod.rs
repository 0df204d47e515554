//! Shared helpers for the integration tests: they run the real binary
//! against small child scripts.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_retry-on");

/// The binary under test, with a clean environment for its config lookup.
pub fn retry_on() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(BIN);
    isolate(cmd.env_clear());
    cmd
}

/// The same, as a std Command, for tests that drive the process themselves.
pub fn retry_on_std() -> Command {
    let mut cmd = Command::new(BIN);
    isolate(cmd.env_clear());
    cmd
}

/// Keeps a developer's own config file out of the tests.
fn isolate(cmd: &mut impl EnvSet) {
    cmd.set(
        "PATH",
        &std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
    );
    cmd.set("HOME", "/nonexistent-retry-on-test-home");
}

trait EnvSet {
    fn set(&mut self, key: &str, value: &str);
}

impl EnvSet for assert_cmd::Command {
    fn set(&mut self, key: &str, value: &str) {
        self.env(key, value);
    }
}

impl EnvSet for Command {
    fn set(&mut self, key: &str, value: &str) {
        self.env(key, value);
    }
}

/// A temporary directory for scripts, lock files and configs.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Writes an executable `sh` script and returns its path.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Reads lines from a child's stdout until one equals `want`; panics after `within`.
pub fn wait_for_line(out: &mut BufReader<ChildStdout>, want: &str, within: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        assert!(
            started.elapsed() < within,
            "no line {want:?} within {within:?}; saw {seen:?}"
        );
        let mut line = String::new();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "stdout ended before {want:?}; saw {seen:?}");
        let line = line.trim_end().to_string();
        if line == want {
            return seen;
        }
        seen.push(line);
    }
}

/// Spawns retry-on with piped stdout and stderr.
pub fn spawn(args: &[&str]) -> (Child, BufReader<ChildStdout>) {
    let mut child = retry_on_std()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retry-on");
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// Waits for a child with a generous bound; panics (after killing it) if it hangs.
pub fn wait_bounded(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("retry-on did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The status as a shell would report it: the code, or 128+N for signal N.
pub fn shell_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap())
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        }
        Err(_) => false,
    }
}
