//! Signals sent to retry-on's own pid: forwarded to the attempt, ending the
//! run, and during the backoff sleep.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::child::start;
use crate::common::exit::shell_code;
use crate::common::procfs::{alive, pids};
use crate::{BOUND, PROMPT, trapping};
use nix::sys::signal::Signal;
#[test]
fn sigint_reaches_the_attempt_and_stops_the_run_with_130() {
    let mut run = start(
        &["-n", "5", "-d", "0", "--", "sh", "-c", &trapping("INT", 1)],
        Stdio::null(),
    );
    run.stdout.wait_for_prefix("ready ", BOUND);
    let sent = Instant::now();
    run.signal(Signal::SIGINT);
    run.stdout.wait_for(|line| line == "got INT", BOUND);
    let status = run.wait(BOUND);
    let took = sent.elapsed();
    let stdout = run.stdout.all(BOUND);
    assert_eq!(shell_code(status), 130);
    assert_eq!(
        stdout.iter().filter(|line| line.starts_with("ready")).count(),
        1,
        "retried: {stdout:?}"
    );
    // The trap ends the whole group, so no kill-after wait (5s by default) is needed.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn sigint_during_the_backoff_sleep_exits_130_at_once() {
    let script = "echo \"attempt $RETRY_ON_ATTEMPT\"; exit 1";
    let mut run = start(&["-n", "3", "-d", "30s", "--", "sh", "-c", script], Stdio::null());
    run.stderr.wait_for(|line| line.contains("retrying in 30s"), BOUND);
    let sent = Instant::now();
    run.signal(Signal::SIGINT);
    let status = run.wait(BOUND);
    assert!(sent.elapsed() < PROMPT, "took {:?}", sent.elapsed());
    assert_eq!(shell_code(status), 130);
    assert_eq!(run.stdout.all(BOUND), ["attempt 1"]);
}

#[test]
fn a_second_sigint_kills_a_command_that_ignores_the_first() {
    let script = "trap 'echo got INT' INT\necho \"ready $$\"\nwhile :; do sleep 0.1; done";
    let mut run = start(
        &["-n", "3", "--kill-after", "60s", "--", "sh", "-c", script],
        Stdio::null(),
    );
    let child = pids(&run.stdout.wait_for_prefix("ready ", BOUND));
    run.signal(Signal::SIGINT);
    run.stdout.wait_for(|line| line == "got INT", BOUND);
    assert!(alive(child[0]), "the command should survive the first SIGINT");
    let sent = Instant::now();
    run.signal(Signal::SIGINT);
    let status = run.wait(BOUND);
    assert!(
        sent.elapsed() < PROMPT,
        "took {:?} after the second SIGINT",
        sent.elapsed()
    );
    assert_eq!(shell_code(status), 130);
    assert!(!alive(child[0]));
    let stderr = run.stderr.all(BOUND).join("\n");
    assert!(stderr.contains("SIGKILL"), "{stderr}");
}

/// SIGTERM, SIGHUP and SIGQUIT go to the attempt's group; retry-on makes no
/// further attempt and exits as the command did.
#[test]
fn term_hup_and_quit_are_forwarded_and_the_command_exit_is_kept() {
    for (signal, name, exit) in [
        (Signal::SIGTERM, "TERM", 7),
        (Signal::SIGQUIT, "QUIT", 9),
        (Signal::SIGHUP, "HUP", 11),
    ] {
        let mut run = start(
            &["-n", "5", "-d", "0", "--", "sh", "-c", &trapping(name, exit)],
            Stdio::null(),
        );
        run.stdout.wait_for_prefix("ready ", BOUND);
        run.signal(signal);
        run.stdout.wait_for(|line| line == format!("got {name}"), BOUND);
        let status = run.wait(BOUND);
        let stdout = run.stdout.all(BOUND);
        assert_eq!(shell_code(status), exit, "{name}");
        assert_eq!(
            stdout.iter().filter(|line| line.starts_with("ready")).count(),
            1,
            "{name}: {stdout:?}"
        );
    }
}

#[test]
fn a_command_killed_by_a_forwarded_signal_gives_128_plus_n() {
    for (signal, expected) in [(Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let mut run = start(
            &["-n", "5", "-d", "0", "--", "sh", "-c", "echo ready; exec sleep 60"],
            Stdio::null(),
        );
        run.stdout.wait_for(|line| line == "ready", BOUND);
        run.signal(signal);
        let status = run.wait(BOUND);
        assert_eq!(shell_code(status), expected, "{signal}");
        assert_eq!(run.stdout.all(BOUND), ["ready"], "{signal}: retried");
    }
}

#[test]
fn sigterm_during_the_backoff_sleep_ends_the_run_with_143() {
    let mut run = start(&["-n", "3", "-d", "30s", "--", "sh", "-c", "exit 1"], Stdio::null());
    run.stderr.wait_for(|line| line.contains("retrying in 30s"), BOUND);
    let sent = Instant::now();
    run.signal(Signal::SIGTERM);
    let status = run.wait(BOUND);
    assert!(sent.elapsed() < PROMPT, "took {:?}", sent.elapsed());
    assert_eq!(shell_code(status), 143);
}

/// The pid of the child that printed `ready PID`.
fn ready_pid(run: &mut crate::common::child::Running) -> i32 {
    pids(&run.stdout.wait_for_prefix("ready ", BOUND))[0]
}

/// A new window size (SIGWINCH to the terminal's foreground group, which is
/// retry-on's) never reached the command in its group of its own.
#[test]
fn a_window_size_change_reaches_the_command() {
    let script = "trap 'echo got WINCH' WINCH; echo \"ready $$\"; \
                  i=0; while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done";
    let mut run = start(&["-n", "1", "--", "sh", "-c", script], Stdio::null());
    ready_pid(&mut run);
    run.signal(Signal::SIGWINCH);
    run.stdout.wait_for(|line| line == "got WINCH", BOUND);
    run.signal(Signal::SIGTERM);
    run.wait(BOUND);
}
