//! Process supervision (issue 3): one test binary (so that its tests run in
//! parallel), split by topic into the modules below. Every test runs the
//! real binary and synchronises on lines its child prints, never on fixed
//! sleeps.

#[path = "../common"]
mod common {
    pub mod child;
    pub mod command;
    pub mod exit;
    pub mod finished;
    pub mod procfs;
    pub mod skip;
    pub mod terminal;
}

mod hygiene;
mod lock;
mod pipes;
mod regressions;
mod signals;
mod stdin;
mod terminal;
mod timeouts;

use std::time::Duration;

use common::exit::shell_code;

/// How long anything may take before a test calls it a hang. Generous: the
/// machine is small and shared.
pub const BOUND: Duration = Duration::from_secs(30);
/// What "promptly" means when retry-on must not wait for something slow.
pub const PROMPT: Duration = Duration::from_secs(3);

/// The exit of a finished run, as a shell would report it.
pub fn code(output: &std::process::Output) -> i32 {
    shell_code(output.status)
}

/// Output as text, for comparisons and messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A child script that traps `signal`, prints `ready PID`, and waits; on the
/// signal it prints `got SIGNAL`, stops its background sleep and exits `code`.
/// (A background job of a non-interactive sh ignores INT and QUIT, so the
/// trap stops it itself.)
pub fn trapping(signal: &str, code: i32) -> String {
    format!(
        "sleep 60 & pid=$!\n\
         trap 'echo got {signal}; kill $pid 2>/dev/null; exit {code}' {signal}\n\
         echo \"ready $$\"\n\
         wait"
    )
}

/// `pipe:[inode]`, as /proc/PID/fd shows the pipe that `fd` is an end of.
pub fn pipe_name(fd: impl std::os::fd::AsFd) -> String {
    let stat = nix::sys::stat::fstat(fd.as_fd()).unwrap();
    format!("pipe:[{}]", stat.st_ino)
}
