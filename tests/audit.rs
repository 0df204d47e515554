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

/// `retry-on -- sh -c 'yes; exit $?' | head -c 10` was retried, as was any
/// command that took its closed stdout with an exit code of its own (Python
/// exits 1 or 120): only a death by SIGPIPE counted as a closed output.
#[test]
fn a_closed_stdout_is_not_retried_whatever_the_command_exits_with() {
    for exit in ["$?", "1", "120"] {
        let mut child = isolated(BIN)
            .args(["-n", "3", "-d", "1ms", "--", "sh", "-c", &format!("yes; exit {exit}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 10];
        std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut head).unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("attempt 1/3 failed (exit ") && stderr.contains("); not retrying: its output was closed"),
            "exit {exit}: {stderr}"
        );
        assert!(!stderr.contains("retrying in"), "exit {exit}: {stderr}");
    }
}

/// A file where every write fails with ENOSPC.
fn full_disk() -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()
}

/// retry-on's stdout on a full disk: `--hold-stdout` exited 0 with the
/// output lost, and `--stdout-pattern` said "its output was closed" (141).
/// The command alone exits 1 with ENOSPC; so does retry-on now, saying why.
#[test]
fn a_full_disk_under_stdout_is_a_write_error_not_a_closed_output() {
    for flag in ["--hold-stdout", "--stdout-pattern=zzz"] {
        let out = isolated(BIN)
            .args([flag, "--", "sh", "-c", "head -c 3000000 /dev/zero"])
            .stdout(full_disk())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(shell_code(out.status), 1, "{flag}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{flag}: {stderr}");
        assert!(
            !stderr.contains("closed") && !stderr.contains("retrying in"),
            "{flag}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{flag}: one line: {stderr}");
    }
}

/// With `-p`, a stderr on a full disk made retry-on close the command's
/// stderr pipe, and the command died of SIGPIPE at its next write, where
/// alone it would have seen ENOSPC and (as most do) carried on.
#[test]
fn a_full_disk_under_stderr_does_not_kill_the_command() {
    let out = isolated(BIN)
        .args([
            "-p",
            "zzz",
            "-n",
            "1",
            "--",
            "sh",
            "-c",
            "echo x >&2; echo y >&2; echo done",
        ])
        .stderr(full_disk())
        .output()
        .unwrap();
    assert_eq!(shell_code(out.status), 0);
    assert_eq!(text(&out.stdout), "done\n");
}
