//! Per-attempt timeouts, --kill-after, --kill-signal, --max-time and
//! --foreground: what is signalled, when, and what survives.

use crate::common::child::start;
use crate::common::exit::shell_code;
use crate::common::finished::retry_on;
use crate::common::procfs::{alive, kill_all, pids, process_group};
use crate::{BOUND, code, text};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn a_timed_out_last_attempt_exits_124() {
    let started = Instant::now();
    let output = retry_on()
        .args(["-n", "1", "-t", "300ms", "--", "sh", "-c", "echo ready; sleep 60"])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124, "{output:?}");
    assert_eq!(text(&output.stdout), "ready\n");
    assert!(text(&output.stderr).contains("timed out"), "{output:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_timed_out_attempt_is_retried_and_the_last_one_exits_124() {
    let output = retry_on()
        .args(["-n", "3", "-d", "0", "-t", "200ms", "--", "sh", "-c"])
        .arg("echo \"attempt $RETRY_ON_ATTEMPT\"; sleep 60")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124, "{output:?}");
    assert_eq!(text(&output.stdout), "attempt 1\nattempt 2\nattempt 3\n");
}

#[test]
fn a_timed_out_attempt_followed_by_a_success_exits_0() {
    let output = retry_on()
        .args(["-n", "3", "-d", "0", "-t", "300ms", "--", "sh", "-c"])
        .arg("echo \"attempt $RETRY_ON_ATTEMPT\"; [ $RETRY_ON_ATTEMPT -ge 2 ] || sleep 60")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{output:?}");
    assert_eq!(text(&output.stdout), "attempt 1\nattempt 2\n");
}

/// The child starts a grandchild that ignores TERM. Each attempt's pids are
/// checked when the next attempt has started and again after retry-on exits.
#[test]
fn no_process_of_a_timed_out_attempt_survives() {
    let script = "(trap '' TERM; exec sleep 60) &\necho \"pids $$ $!\"\nwait";
    let started = Instant::now();
    let mut run = start(
        &[
            "-n",
            "2",
            "-d",
            "0",
            "-t",
            "300ms",
            "--kill-after",
            "300ms",
            "--",
            "sh",
            "-c",
            script,
        ],
        Stdio::null(),
    );
    let first = pids(&run.stdout.wait_for_prefix("pids ", BOUND));
    let second = pids(&run.stdout.wait_for_prefix("pids ", BOUND));
    let survivors: Vec<i32> = first.iter().copied().filter(|&pid| alive(pid)).collect();
    let status = run.wait(BOUND);
    let took = started.elapsed();
    let late: Vec<i32> = second.iter().copied().filter(|&pid| alive(pid)).collect();
    kill_all(&[first, second].concat());

    assert!(
        survivors.is_empty(),
        "attempt 1 left {survivors:?} running into attempt 2"
    );
    assert!(late.is_empty(), "attempt 2 left {late:?} running after retry-on exited");
    assert_eq!(shell_code(status), 124);
    // Two attempts, each waiting out --kill-after for the TERM-proof grandchild.
    assert!(
        took >= Duration::from_millis(1200),
        "the grandchild cannot die before KILL: {took:?}"
    );
}

#[test]
fn kill_follows_kill_after_when_the_command_ignores_the_kill_signal() {
    let script = "trap '' TERM\necho \"ready $$\"\nwhile :; do sleep 0.1; done";
    let started = Instant::now();
    let mut run = start(
        &[
            "-n",
            "1",
            "-t",
            "300ms",
            "--kill-after",
            "700ms",
            "--",
            "sh",
            "-c",
            script,
        ],
        Stdio::null(),
    );
    let child = pids(&run.stdout.wait_for_prefix("ready ", BOUND));
    let status = run.wait(BOUND);
    let took = started.elapsed();
    let stderr = run.stderr.all(BOUND).join("\n");
    assert_eq!(shell_code(status), 124, "{stderr}");
    assert!(stderr.contains("killed by SIGKILL"), "{stderr}");
    assert!(!alive(child[0]));
    // 300ms + 700ms at least; well under the default kill-after of 5s.
    assert!(
        took >= Duration::from_millis(1000),
        "KILL came before --kill-after: {took:?}"
    );
    assert!(took < Duration::from_millis(4500), "KILL came late: {took:?}");
}

/// `retry-on -n 1 -t TIMEOUT ARGS`, with a TIMEOUT of 2s, then 4s, then 8s,
/// until a run's command printed every line of `ready` (which it does once
/// its traps are set) before the timeout came; returns that run's exit and
/// stdout. A command that was not ready when the kill signal came tested
/// nothing, and on a loaded machine that can happen; a run that got ready is
/// checked in full. (Read with a bound: a process that missed the signal
/// may hold the pipe open.)
fn run_ready_before_the_timeout(args: &[&str], ready: &[&str]) -> (i32, String) {
    for timeout in ["2s", "4s", "8s"] {
        let mut run = start(&[&["-n", "1", "-t", timeout], args].concat(), Stdio::null());
        let status = run.wait(BOUND);
        let stdout = run.stdout.all(BOUND);
        if ready.iter().all(|want| stdout.iter().any(|line| line == want)) {
            return (
                shell_code(status),
                stdout.iter().map(|line| format!("{line}\n")).collect(),
            );
        }
    }
    panic!("the command was never ready before its timeout, even with 8s");
}

#[test]
fn kill_signal_int_reaches_the_command() {
    let script = "trap 'echo got INT; exit 0' INT\necho ready\nwhile :; do sleep 0.1; done";
    let (code, stdout) = run_ready_before_the_timeout(&["--kill-signal", "INT", "--", "sh", "-c", script], &["ready"]);
    assert_eq!(code, 124, "{stdout}");
    assert_eq!(stdout, "ready\ngot INT\n");
}

#[test]
fn kill_signal_reaches_every_process_of_the_group() {
    let grandchild = "trap 'echo grandchild got USR1; exit 0' USR1; echo grandchild ready; while :; do sleep 0.1; done";
    let script = format!(
        "sh -c \"{grandchild}\" &\n\
         trap 'echo child got USR1; wait; exit 0' USR1\n\
         echo child ready\n\
         wait"
    );
    let (code, stdout) = run_ready_before_the_timeout(
        &["--kill-signal", "SIGUSR1", "--", "sh", "-c", &script],
        &["child ready", "grandchild ready"],
    );
    assert_eq!(code, 124, "{stdout}");
    assert!(stdout.contains("child got USR1\n"), "{stdout}");
    assert!(stdout.contains("grandchild got USR1\n"), "{stdout}");
}

/// A timeout's kill signal is retry-on's doing: a command it stopped with INT
/// was not interrupted by a user, so the attempt is retried like any timeout.
#[test]
fn a_timeout_with_kill_signal_int_is_still_retried() {
    let output = retry_on()
        .args([
            "-n",
            "2",
            "-d",
            "0",
            "-t",
            "300ms",
            "--kill-signal",
            "INT",
            "--",
            "sh",
            "-c",
        ])
        .arg("echo \"attempt $RETRY_ON_ATTEMPT\"; exec sleep 60")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124, "{output:?}");
    assert_eq!(text(&output.stdout), "attempt 1\nattempt 2\n", "{output:?}");
}

#[test]
fn max_time_stops_the_whole_tree_and_does_not_retry() {
    let script = "(trap '' TERM; exec sleep 60) &\necho \"pids $$ $!\"\nwait";
    let mut run = start(
        &[
            "-n",
            "5",
            "-d",
            "0",
            "--max-time",
            "500ms",
            "--kill-after",
            "300ms",
            "--",
            "sh",
            "-c",
            script,
        ],
        Stdio::null(),
    );
    let tree = pids(&run.stdout.wait_for_prefix("pids ", BOUND));
    let status = run.wait(BOUND);
    let left: Vec<i32> = tree.iter().copied().filter(|&pid| alive(pid)).collect();
    kill_all(&tree);
    assert!(left.is_empty(), "{left:?} outlived the --max-time stop");
    assert_eq!(shell_code(status), 124);
    let stdout = run.stdout.all(BOUND);
    assert_eq!(stdout.len(), 1, "no attempt after the deadline: {stdout:?}");
}

#[test]
fn foreground_keeps_the_command_in_retry_ons_group() {
    // The command waits (for the end of its stdin) while its group is read.
    let script = "echo \"pid $$\"; read end";
    let ours = nix::unistd::getpgrp().as_raw();
    for (foreground, own_group) in [(false, true), (true, false)] {
        let mut args = vec!["-n", "1"];
        if foreground {
            args.push("--foreground");
        }
        args.extend_from_slice(&["--", "sh", "-c", script]);
        let mut run = start(&args, Stdio::piped());
        let pid = pids(&run.stdout.wait_for_prefix("pid ", BOUND))[0];
        let group = process_group(pid);
        drop(run.child.stdin.take());
        run.wait(BOUND);
        if own_group {
            assert_eq!(group, Some(pid), "without --foreground the command leads its own group");
        } else {
            assert_eq!(
                group,
                Some(ours),
                "with --foreground the command stays in retry-on's group"
            );
        }
    }
}

/// With --foreground a timeout signals the command alone: its group is the
/// test's own, which must survive, and so does the command's background job.
#[test]
fn foreground_timeout_signals_only_the_command() {
    let script = "sleep 60 >/dev/null 2>&1 &\necho \"pids $$ $!\"\nwait";
    let mut run = start(
        &["-n", "1", "--foreground", "-t", "300ms", "--", "sh", "-c", script],
        Stdio::null(),
    );
    let tree = pids(&run.stdout.wait_for_prefix("pids ", BOUND));
    let status = run.wait(BOUND);
    let (child, background) = (alive(tree[0]), alive(tree[1]));
    kill_all(&tree);
    assert_eq!(shell_code(status), 124);
    assert!(!child, "the command was not stopped");
    assert!(background, "--foreground signalled more than the command");
}

#[test]
fn an_unknown_kill_signal_is_125_naming_it() {
    for bad in ["BOGUS", "99"] {
        let output = retry_on()
            .args(["--kill-signal", bad, "-t", "1s", "--", "sh", "-c", "echo ran"])
            .timeout(BOUND)
            .output()
            .unwrap();
        assert_eq!(code(&output), 125, "{output:?}");
        assert_eq!(text(&output.stdout), "");
        assert!(text(&output.stderr).contains(bad), "{output:?}");
    }
}
