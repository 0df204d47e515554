//! The real AWS CLI against the local IAM endpoint (`iam.rs`), for the
//! end-to-end tests: finding `aws` (or skipping), its environment, and
//! running it (alone, or through retry-on) with a watchdog.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::command::{BIN, isolated};
use crate::common::run::{Run, describe};
use crate::common::skip::{available_or_skip, on_path};
use crate::iam::Server;

/// Per process, and per wait for a file. The AWS CLI takes ~0.8 s to start
/// on 2 shared cores; this is very generous.
pub const TIMEOUT: Duration = Duration::from_secs(240);

// ------------------------------------------------------------ skipping

pub fn have_aws(tests: &str) -> bool {
    available_or_skip(
        on_path("aws").is_some(),
        "RETRY_ON_REQUIRE_AWS",
        tests,
        "the AWS CLI ('aws') is not on PATH",
        "run `bash .ci/install-awscli` and put the directory it prints first on PATH",
    )
}

// ------------------------------------------------------------ commands

/// `program` (`aws`, or retry-on running it) isolated like every command of
/// the tests (which keeps out the user's AWS_* settings and proxies too),
/// with the environment `aws` needs: dummy credentials, no profile or config
/// files, no proxy for the local endpoint. Hooks inherit it.
pub fn with_aws_env(program: &str) -> Command {
    let mut cmd = isolated(program);
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    cmd
}

pub fn aws_argv(srv: &Server, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "aws".to_string(),
        "--endpoint-url".to_string(),
        srv.url(),
        "iam".to_string(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// The AWS CLI alone.
pub fn aws(srv: &Server, args: &[&str]) -> Command {
    let argv = aws_argv(srv, args);
    let mut cmd = with_aws_env(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// `retry-on OPTS... -- aws --endpoint-url URL iam ARGS...`
pub fn retry_on(srv: &Server, opts: &[&str], args: &[&str]) -> Command {
    let mut cmd = with_aws_env(BIN);
    cmd.args(opts).arg("--").args(aws_argv(srv, args));
    cmd
}

// ------------------------------------------------------------ running

/// A started process, waited on by a helper thread; killed after TIMEOUT.
pub struct Running {
    what: String,
    pid: u32,
    rx: mpsc::Receiver<std::io::Result<std::process::Output>>,
    deadline: Instant,
    done: Option<std::process::Output>,
}

pub fn spawn(cmd: Command) -> Running {
    spawn_with_stdin(cmd, None)
}

/// Starts `cmd` with `stdin` written to it (then closed), or /dev/null.
pub fn spawn_with_stdin(mut cmd: Command, stdin: Option<Vec<u8>>) -> Running {
    let what = describe(&cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        thread::spawn(move || {
            // The child may legitimately exit without reading everything.
            let _ = pipe.write_all(&data);
        });
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    Running {
        what,
        pid,
        rx,
        deadline: Instant::now() + TIMEOUT,
        done: None,
    }
}

impl Running {
    /// True once the process has exited (without blocking).
    pub fn exited(&mut self) -> bool {
        if self.done.is_none()
            && let Ok(out) = self.rx.try_recv()
        {
            self.done = Some(out.unwrap_or_else(|e| panic!("waiting for {}: {e}", self.what)));
        }
        self.done.is_some()
    }

    pub fn kill(&self) {
        let _ = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status();
    }

    pub fn wait(mut self) -> Run {
        let out = match self.done.take() {
            Some(out) => out,
            None => {
                let left = self.deadline.saturating_duration_since(Instant::now());
                match self.rx.recv_timeout(left) {
                    Ok(Ok(out)) => out,
                    Ok(Err(e)) => panic!("waiting for {}: {e}", self.what),
                    Err(_) => {
                        self.kill();
                        panic!("{} did not finish within {:?}; killed it", self.what, TIMEOUT);
                    }
                }
            }
        };
        Run {
            what: self.what,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until `file` exists (what a hook of this process creates).
    /// Panics, with the process's output, if it exits first or TIMEOUT
    /// passes.
    pub fn wait_for_file(mut self, file: &Path) -> Running {
        loop {
            if file.exists() {
                return self;
            }
            if self.exited() {
                let run = self.wait();
                panic!("{} ended before {} appeared\n{run}", run.what, file.display());
            }
            if Instant::now() > self.deadline {
                self.kill();
                panic!(
                    "{} did not appear within {:?}; killed {}",
                    file.display(),
                    TIMEOUT,
                    self.what
                );
            }
            // Polling for the file, not timing anything.
            thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn run(cmd: Command) -> Run {
    spawn(cmd).wait()
}

pub fn run_with_stdin(cmd: Command, stdin: &[u8]) -> Run {
    spawn_with_stdin(cmd, Some(stdin.to_vec())).wait()
}
