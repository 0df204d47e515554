//! retry-on on a pseudo-terminal of its own, from script(1).

use std::io::Write;
use std::process::{Child, Stdio};

use super::child::Lines;
use super::command::{BIN, isolated};
use super::skip::{available_or_skip, on_path};

/// The switch that makes a missing script(1) or bash a failure.
const REQUIRE: &str = "RETRY_ON_REQUIRE_SCRIPT";

/// Whether an interactive bash is there to drive job control; see [`available_or_skip`].
pub fn have_bash() -> bool {
    available_or_skip(
        on_path("bash").is_some(),
        REQUIRE,
        "the job-control terminal test",
        "bash is not installed",
        "install bash",
    )
}

/// `shell_line` run by `sh` under script(1), on a fresh pseudo-terminal
/// that is its stdin, stdout and stderr and whose foreground process group
/// it is in. What is written to the returned child's stdin is typed on the
/// terminal (so "\x03" is Ctrl-C); the returned lines are what the terminal
/// shows, with CRLF line ends. None when script(1) is missing and the test
/// is skipped; see [`available_or_skip`].
pub fn start_script(shell_line: &str) -> Option<(Child, Lines)> {
    let have_script = available_or_skip(
        on_path("script").is_some(),
        REQUIRE,
        "the terminal tests",
        "script(1) is not installed",
        "install it (Debian: apt-get install bsdutils)",
    );
    if !have_script {
        return None;
    }
    let mut terminal = isolated("script")
        .args(["-qfec", shell_line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script(1)");
    let screen = Lines::new(terminal.stdout.take().unwrap());
    Some((terminal, screen))
}

/// retry-on with `args` on a terminal; see [`start_script`].
pub fn start_on_a_terminal(args: &[&str]) -> Option<(Child, Lines)> {
    let quote = |word: &str| format!("'{}'", word.replace('\'', "'\\''"));
    let line: Vec<String> = std::iter::once(BIN).chain(args.iter().copied()).map(quote).collect();
    start_script(&line.join(" "))
}

/// Types `keys` on the terminal of a child from [`start_script`].
pub fn type_on(terminal: &mut Child, keys: &[u8]) {
    terminal.stdin.as_mut().unwrap().write_all(keys).unwrap();
}
