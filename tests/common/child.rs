//! Driving a running retry-on: its output read line by line with time-outs,
//! signals sent to it, and a bounded wait for its end.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::command::{BIN, isolated};

/// Waits for a child with a generous bound; panics (after killing it) if it hangs.
pub fn wait_bounded(child: &mut Child, within: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("{:?} did not finish within {within:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The lines of a child's output, read on a thread of their own so that a
/// wait for a line can time out even when the child prints nothing.
pub struct Lines {
    lines: Receiver<String>,
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
                Err(RecvTimeoutError::Disconnected) => return self.seen.clone(),
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

    pub fn wait(&mut self, within: Duration) -> ExitStatus {
        wait_bounded(&mut self.child, within)
    }
}

/// Starts retry-on with `args`, the given stdin, and piped stdout and stderr.
pub fn start(args: &[&str], stdin: Stdio) -> Running {
    let mut child = isolated(BIN)
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
