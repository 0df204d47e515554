//! Regression tests for what an adversarial audit of the edges (issue 10)
//! found still broken: each is named after what broke, and fails on the
//! code before its fix.

mod common {
    pub mod child;
    pub mod command;
    pub mod exit;
    pub mod finished;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod procfs;
    pub mod scripts;
}

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::child::start;
use common::command::{BIN, isolated, tempdir};
use common::exit::shell_code;
use common::finished::retry_on;
use predicates::str::contains;

const BOUND: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether the `SigIgn:` line of a /proc/PID/status in `text` has SIGPIPE (13).
fn sigpipe_ignored(text: &str) -> bool {
    let mask = text
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .unwrap_or_else(|| panic!("no SigIgn line in {text:?}"));
    u64::from_str_radix(mask.trim(), 16).unwrap() & (1 << (13 - 1)) != 0
}

/// `trap '' PIPE; exec retry-on -- cmd` gave the command a default SIGPIPE
/// (Rust's `Command` resets it), where alone, and under GNU `timeout`, it
/// inherits the ignored one.
#[test]
fn a_parent_s_ignored_sigpipe_stays_ignored_for_the_command() {
    let from_bash = |line: &str| isolated("bash").args(["-c", line]).output().unwrap();
    let status = "grep SigIgn /proc/self/status";
    let alone = from_bash(&format!("trap '' PIPE; exec {status}"));
    assert!(
        sigpipe_ignored(&text(&alone.stdout)),
        "the shell did not ignore SIGPIPE"
    );
    let under = from_bash(&format!("trap '' PIPE; exec {BIN} -n 1 -- {status}"));
    assert!(
        sigpipe_ignored(&text(&under.stdout)),
        "the command lost the ignored SIGPIPE"
    );
    // A hook too, and with more than one attempt.
    let hook = from_bash(&format!(
        "trap '' PIPE; exec {BIN} -n 2 --check-first --check '{status} >&2; exit 1' -- true"
    ));
    assert!(
        sigpipe_ignored(&text(&hook.stderr)),
        "the hook lost the ignored SIGPIPE"
    );
    // A parent that does not ignore it: the default, as before.
    let default = from_bash(&format!("exec {BIN} -n 1 -- {status}"));
    assert!(!sigpipe_ignored(&text(&default.stdout)));
}
