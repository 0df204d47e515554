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

/// The lines of a child's output, read on a thread of their own so that a
/// wait for a line can time out even when the child prints nothing.
pub struct Lines {
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Lines {
    pub fn new(output: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for the first line for which `wanted` holds and returns it;
    /// panics, showing every line seen so far, after `within` or at the end.
    pub fn wait_for(&mut self, wanted: impl Fn(&str) -> bool, within: Duration) -> String {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("no wanted line within {within:?} ({e}); saw {:?}", self.seen),
            }
        }
    }

    /// Waits for a line that starts with `prefix` and returns the rest of it.
    pub fn wait_for_prefix(&mut self, prefix: &str, within: Duration) -> String {
        let line = self.wait_for(|line| line.starts_with(prefix), within);
        line[prefix.len()..].to_string()
    }

    /// Every line up to the end of the output, including those seen so far.
    pub fn all(&mut self, within: Duration) -> Vec<String> {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return self.seen.clone(),
                Err(e) => panic!("output did not end within {within:?} ({e}); saw {:?}", self.seen),
            }
        }
    }
}

/// retry-on started with piped stdout and stderr, each read line by line.
pub struct Running {
    pub child: Child,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to retry-on's own pid.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).expect("signal retry-on");
    }

    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        wait_bounded(&mut self.child, within)
    }
}

/// Starts retry-on with `args`, the given stdin, and piped stdout and stderr.
pub fn start(args: &[&str], stdin: Stdio) -> Running {
    let mut child = retry_on_std()
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn retry-on");
    let stdout = Lines::new(child.stdout.take().unwrap());
    let stderr = Lines::new(child.stderr.take().unwrap());
    Running { child, stdout, stderr }
}

/// Parses whitespace-separated pids, as a child script prints them with `echo $$ $!`.
pub fn pids(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .map(|pid| pid.parse().unwrap_or_else(|_| panic!("not a pid: {pid:?} in {text:?}")))
        .collect()
}

/// Waits until none of `pids` is alive; returns false if one still is after `within`.
pub fn all_gone(pids: &[i32], within: Duration) -> bool {
    wait_until(within, || !pids.iter().any(|&pid| alive(pid)))
}

/// Kills leftover processes of a test, ignoring those already gone.
pub fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// The state letter of a process (R, S, T, Z…), as /proc shows it.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Polls `condition` until it holds; returns false if it still does not after `within`.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// retry-on with `args`, run by script(1) on a fresh pseudo-terminal that is
/// its stdin, stdout and stderr and whose foreground process group it is in.
/// What is written to the returned command's stdin is typed on the terminal
/// (so "\x03" is Ctrl-C); its stdout is what the terminal shows, with CRLF
/// line ends. None when script(1) is not installed.
pub fn on_a_terminal(args: &[&str]) -> Option<Command> {
    let installed = Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !installed {
        eprintln!("script(1) is not installed: skipping a terminal test");
        return None;
    }
    let quote = |word: &str| format!("'{}'", word.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(BIN).chain(args.iter().copied()).map(quote).collect();
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &line.join(" "), "/dev/null"]);
    isolate(cmd.env_clear());
    Some(cmd)
}

/// `program` with the same clean environment as [`retry_on_std`], for
/// commands that start retry-on themselves.
pub fn isolated(program: &str) -> Command {
    let mut cmd = Command::new(program);
    isolate(cmd.env_clear());
    cmd
}
