//! `--check`, `--check-first`, `--on-retry` and `--on-giveup`: shell hooks
//! around the attempts, through the real binary.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    pub mod exit;
    pub mod finished;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod procfs;
}

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::child::start;
use common::command::tempdir;
use common::exit::shell_code;
use common::finished::retry_on;
use predicates::prelude::*;
use predicates::str::contains;

const BOUND: Duration = Duration::from_secs(60);

/// The lines of a log file that hooks and commands append to.
fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A hook that appends `line` (its variables expanded) to `log` and exits `code`.
fn recording(log: &Path, line: &str, code: i32) -> String {
    format!("echo \"{line}\" >> '{}'; exit {code}", log.display())
}

/// A command that appends `attempt N` to `log` and fails with `code`.
fn logging_command(log: &Path, code: i32) -> String {
    format!(
        "echo \"attempt $RETRY_ON_ATTEMPT\" >> '{}'; echo busy >&2; exit {code}",
        log.display()
    )
}

#[test]
fn a_passing_check_stops_the_run_with_0_and_the_command_is_not_run_again() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let check = format!("echo check >> '{}'; exit 0", log.display());
    retry_on()
        .args([
            "-d",
            "10ms",
            "--check",
            &check,
            "--",
            "sh",
            "-c",
            &logging_command(&log, 7),
        ])
        .assert()
        .code(0)
        .stderr(contains("attempt 1/5 failed (exit 7); check passed, not retrying"));
    assert_eq!(log_lines(&log), ["attempt 1", "check"]);
}

#[test]
fn a_failing_check_lets_the_retry_go_ahead_after_the_wait() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let on_retry = format!("echo on-retry >> '{}'", log.display());
    let check = format!("echo check >> '{}'; exit 1", log.display());
    retry_on()
        .args(["-n", "3", "-d", "10ms", "--on-retry", &on_retry, "--check", &check])
        .args(["--", "sh", "-c", &logging_command(&log, 7)])
        .assert()
        .code(7);
    let expected = [
        "attempt 1",
        "on-retry",
        "check",
        "attempt 2",
        "on-retry",
        "check",
        "attempt 3",
    ];
    assert_eq!(log_lines(&log), expected);
}

#[test]
fn check_first_that_passes_runs_nothing_and_one_that_fails_runs_the_command() {
    let dir = tempdir();
    let log = dir.path().join("log");
    retry_on()
        .args([
            "--check",
            "exit 0",
            "--check-first",
            "--",
            "sh",
            "-c",
            &logging_command(&log, 0),
        ])
        .assert()
        .code(0)
        .stderr("retry-on: check passed before the first attempt; nothing to do\n");
    assert!(log_lines(&log).is_empty(), "the command ran");
    retry_on()
        .args([
            "--check",
            "exit 1",
            "--check-first",
            "--",
            "sh",
            "-c",
            &logging_command(&log, 0),
        ])
        .assert()
        .code(0);
    assert_eq!(log_lines(&log), ["attempt 1"]);
}

#[test]
fn check_first_without_check_is_a_usage_error() {
    retry_on()
        .args(["--check-first", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("--check-first needs --check"));
}

#[test]
fn a_failing_on_retry_stops_with_the_attempt_s_code_and_or_true_opts_out() {
    let dir = tempdir();
    let log = dir.path().join("log");
    retry_on()
        .args([
            "-d",
            "10ms",
            "--on-retry",
            "exit 3",
            "--",
            "sh",
            "-c",
            &logging_command(&log, 7),
        ])
        .assert()
        .code(7)
        .stderr(contains(
            "attempt 1/5 failed (exit 7); not retrying: --on-retry exited 3",
        ));
    assert_eq!(log_lines(&log), ["attempt 1"]);
    std::fs::remove_file(&log).unwrap();
    retry_on()
        .args(["-n", "2", "-d", "10ms", "--on-retry", "false || true"])
        .args(["--", "sh", "-c", &logging_command(&log, 7)])
        .assert()
        .code(7);
    assert_eq!(log_lines(&log), ["attempt 1", "attempt 2"]);
}

/// Runs retry-on with `args` and an `--on-giveup` that logs its reason;
/// returns the reasons logged and retry-on's exit code.
fn giveup_reasons(args: &[&str]) -> (Vec<String>, i32) {
    let dir = tempdir();
    let log = dir.path().join("log");
    let hook = format!(
        "echo \"$RETRY_ON_REASON $RETRY_ON_EXIT_CODE\" >> '{}'; exit 9",
        log.display()
    );
    let out = retry_on()
        .args(["-d", "10ms", "--on-giveup", &hook])
        .args(args)
        .timeout(BOUND)
        .output()
        .unwrap();
    (log_lines(&log), shell_code(out.status))
}

#[test]
fn on_giveup_runs_once_with_the_reason_and_changes_no_exit_code() {
    let cases: [(&[&str], &str, i32); 7] = [
        (&["-n", "2", "--", "sh", "-c", "exit 4"], "attempts 4", 4),
        (&["-p", "nothing", "--", "sh", "-c", "exit 4"], "no-condition 4", 4),
        (
            &["--abort-on", "fatal", "--", "sh", "-c", "echo fatal >&2; exit 4"],
            "abort 4",
            4,
        ),
        (
            &["--on-retry", "exit 1", "--", "sh", "-c", "exit 4"],
            "on-retry-failed 4",
            4,
        ),
        (&["--", "no-such-command-anywhere"], "cannot-run 127", 127),
        (
            &["--max-time", "2s", "--delays", "5s", "--", "sh", "-c", "exit 4"],
            "deadline 4",
            4,
        ),
        (&["--", "sh", "-c", "exit 0"], "", 0),
    ];
    for (args, reason, code) in cases {
        let (reasons, exit) = giveup_reasons(args);
        let expected: Vec<&str> = if reason.is_empty() { vec![] } else { vec![reason] };
        assert_eq!(reasons, expected, "{args:?}");
        assert_eq!(exit, code, "{args:?}");
    }
}

#[test]
fn hooks_see_the_attempt_its_code_and_what_matched() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let record = |name: &str, code: i32| {
        let fields = "$RETRY_ON_ATTEMPT/$RETRY_ON_ATTEMPTS code=$RETRY_ON_EXIT_CODE matched=$RETRY_ON_MATCHED";
        recording(&log, &format!("{name} {fields}"), code)
    };
    retry_on()
        .args(["-n", "2", "-d", "10ms", "-p", "Throttl[a-z]+", "--check-first"])
        .args(["--check", &record("check", 1), "--on-retry", &record("on-retry", 0)])
        .args(["--", "sh", "-c", "echo 'Rate (Throttling)' >&2; kill -TERM $$"])
        .assert()
        .failure();
    let expected = [
        "check 0/2 code= matched=",
        "on-retry 1/2 code=143 matched=Throttling",
        "check 1/2 code=143 matched=Throttling",
    ];
    assert_eq!(log_lines(&log), expected);
}

#[test]
fn hooks_read_no_stdin_and_write_to_stderr_even_with_quiet() {
    let out = retry_on()
        .args([
            "-q",
            "-n",
            "2",
            "-d",
            "10ms",
            "--on-retry",
            "cat; echo from-the-hook; echo hook-err >&2",
        ])
        .args(["--", "sh", "-c", "echo from-the-command; exit 1"])
        .write_stdin("stdin for the command\n")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "from-the-command\nfrom-the-command\n", "{stderr}");
    assert_eq!(stderr, "from-the-hook\nhook-err\n");
}

#[test]
fn a_check_that_runs_out_of_time_is_killed_with_its_group_and_the_retry_goes_ahead() {
    let dir = tempdir();
    let pids = dir.path().join("pids");
    let check = format!("sleep 30 & echo $$ $! > '{}'; wait", pids.display());
    let started = Instant::now();
    retry_on()
        .args([
            "-n",
            "2",
            "-d",
            "10ms",
            "--hook-timeout",
            "300ms",
            "--kill-after",
            "1s",
            "--check",
            &check,
        ])
        .args(["--", "sh", "-c", "exit 6"])
        .timeout(BOUND)
        .assert()
        .code(6)
        .stderr(contains("--check ran out of --hook-timeout"))
        .stderr(contains("attempt 2/2 failed (exit 6)"));
    assert!(started.elapsed() < Duration::from_secs(20));
    let pids = common::procfs::pids(&std::fs::read_to_string(&pids).unwrap());
    assert!(
        common::procfs::all_gone(&pids, BOUND),
        "the check's group outlived its timeout"
    );
}

#[test]
fn an_on_retry_that_runs_out_of_time_counts_as_failed() {
    retry_on()
        .args(["-d", "10ms", "--hook-timeout", "200ms", "--on-retry", "sleep 30"])
        .args(["--", "sh", "-c", "exit 6"])
        .timeout(BOUND)
        .assert()
        .code(6)
        .stderr(contains("not retrying: --on-retry ran out of --hook-timeout"));
}

#[test]
fn the_deadline_stops_a_hook_and_gives_up_with_the_last_attempt_s_code() {
    let started = Instant::now();
    retry_on()
        .args(["-d", "10ms", "--max-time", "1s", "--check", "sleep 30"])
        .args(["--", "sh", "-c", "exit 6"])
        .timeout(BOUND)
        .assert()
        .code(6)
        .stderr(contains("the --max-time deadline stopped --check; giving up"))
        .stderr(contains("attempt 2").not());
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn a_signal_during_a_hook_stops_everything_without_on_giveup() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let giveup = format!("echo on-giveup >> '{}'", log.display());
    let args = [
        "-d",
        "10ms",
        "--check",
        "echo check-ready >&2; sleep 30",
        "--on-giveup",
        &giveup,
        "--",
        "sh",
        "-c",
        "exit 6",
    ];
    let mut run = start(&args, Stdio::null());
    run.stderr.wait_for(|line| line == "check-ready", BOUND);
    run.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(shell_code(run.wait(BOUND)), 143);
    run.stderr
        .wait_for(|line| line.contains("interrupted by SIGTERM during --check"), BOUND);
    assert!(log_lines(&log).is_empty(), "--on-giveup ran after an interrupt");
}

#[test]
fn explain_and_the_json_log_show_the_hooks() {
    retry_on()
        .args(["--check", "test -e done", "--on-giveup", "notify", "--explain"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^check +test -e done +\(flag\)$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^on_giveup +notify +\(flag\)$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^hook_timeout +1m +\(built-in\)$").unwrap());
    let out = retry_on()
        .args([
            "--log-format",
            "json",
            "-d",
            "10ms",
            "--check",
            "exit 0",
            "--",
            "sh",
            "-c",
            "exit 1",
        ])
        .output()
        .unwrap();
    let events: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        [
            "attempt_start",
            "attempt_end",
            "sleep",
            "hook_start",
            "hook_end",
            "check_passed",
            "success"
        ]
    );
}

#[test]
fn a_profile_may_set_hooks_and_list_profiles_says_so() {
    let dir = tempdir();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[profile.careful]\ndescription = \"checks first\"\ncheck = \"exit 0\"\ncheck_first = true\n",
    )
    .unwrap();
    retry_on()
        .arg("-c")
        .arg(&config)
        .arg("--list-profiles")
        .assert()
        .success()
        .stdout(contains("checks first [runs --check]"));
    retry_on()
        .arg("-c")
        .arg(&config)
        .args(["-P", "careful", "--", "false"])
        .assert()
        .code(0)
        .stderr(contains("check passed before the first attempt"));
}

/// `--on-giveup` was skipped, without a word, once the deadline had passed:
/// the deadline is often why retry-on gives up. It now runs, bounded by
/// `--hook-timeout` alone, whether the deadline stopped an attempt or a hook.
#[test]
fn on_giveup_runs_when_the_deadline_has_passed() {
    let stopped_attempt = ["--max-time", "1s", "--", "sh", "-c", "echo ready >&2; sleep 30"];
    let (reasons, exit) = giveup_reasons(&stopped_attempt);
    assert_eq!((reasons, exit), (vec!["deadline 143".to_string()], 124));
    let stopped_check = ["--max-time", "1s", "--check", "sleep 30", "--", "sh", "-c", "exit 4"];
    let (reasons, exit) = giveup_reasons(&stopped_check);
    assert_eq!((reasons, exit), (vec!["deadline 4".to_string()], 4));
}

/// The JSON log's last event is `give_up` (or `success`), with the code the
/// process exits with, even when `--on-giveup` runs after the decision; and
/// `hook_end` says how the hook ended.
#[test]
fn the_json_log_ends_with_give_up_after_on_giveup() {
    let out = retry_on()
        .args([
            "--log-format",
            "json",
            "-n",
            "1",
            "--on-giveup",
            "exit 3",
            "--",
            "false",
        ])
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["attempt_start", "attempt_end", "hook_start", "hook_end", "give_up"]
    );
    let hook_end = &events[3];
    assert_eq!(hook_end["hook"], "on_giveup");
    assert_eq!(hook_end["exit_code"], 3);
    assert_eq!(hook_end["timed_out"], false);
    assert_eq!(hook_end["deadline"], false);
    assert!(hook_end["duration_ms"].is_u64());
    assert_eq!(events[4]["exit_code"], 1);
    assert_eq!(shell_code(out.status), 1);
}

/// `--check ''` passed every time (`sh -c ''` exits 0), so a failed command
/// exited 0; and nothing could unset a profile's hook. An empty hook is none.
#[test]
fn an_empty_hook_is_none_and_unsets_a_profile_s() {
    let dir = tempdir();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[profile.careful]\ncheck = \"exit 0\"\ncheck_first = true\non_retry = \"exit 1\"\n",
    )
    .unwrap();
    retry_on()
        .args(["-n", "2", "-d", "10ms", "--check", "", "--", "false"])
        .assert()
        .code(1)
        .stderr(contains("check passed").not());
    retry_on()
        .arg("-c")
        .arg(&config)
        .args([
            "-P",
            "careful",
            "-n",
            "2",
            "-d",
            "10ms",
            "--check",
            "",
            "--on-retry",
            " ",
        ])
        .args(["--", "false"])
        .assert()
        .code(1)
        .stderr(contains("attempt 2/2 failed (exit 1); giving up"));
}

/// On an abort, `RETRY_ON_MATCHED` held the retry pattern's text instead of
/// the abort text that the message quotes; and `RETRY_ON_REASON` from retry-on's
/// own environment showed through in `--check` and `--on-retry`.
#[test]
fn matched_is_the_quoted_text_and_reason_is_only_for_on_giveup() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let record = |name: &str, code: i32| {
        recording(
            &log,
            &format!("{name} matched=$RETRY_ON_MATCHED reason=$RETRY_ON_REASON"),
            code,
        )
    };
    retry_on()
        .env("RETRY_ON_REASON", "outer")
        .args(["-n", "2", "-d", "10ms", "-p", "busy", "--abort-on", "fatal"])
        .args(["--check", &record("check", 1), "--on-retry", &record("on-retry", 0)])
        .args(["--on-giveup", &record("on-giveup", 0)])
        .args(["--", "sh", "-c"])
        .arg("if [ $RETRY_ON_ATTEMPT = 1 ]; then echo busy >&2; else echo 'fatal: busy' >&2; fi; exit 4")
        .assert()
        .code(4)
        .stderr(contains("matched abort pattern \"fatal\""));
    let expected = [
        "on-retry matched=busy reason=",
        "check matched=busy reason=",
        "on-giveup matched=fatal reason=abort",
    ];
    assert_eq!(log_lines(&log), expected);
}

/// A hook that the system refuses to start (here an argument longer than
/// the kernel takes, E2BIG) is retry-on's own failure, with the hook shortened.
#[test]
fn a_hook_that_cannot_start_is_retry_on_s_own_failure() {
    let dir = tempdir();
    let config = dir.path().join("c.toml");
    let huge = "x".repeat(200_000);
    std::fs::write(&config, format!("[defaults]\non_retry = \"{huge}\"\n")).unwrap();
    let out = retry_on()
        .arg("-c")
        .arg(&config)
        .args(["-d", "10ms", "--", "false"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(shell_code(out.status), 125, "{stderr}");
    assert!(stderr.contains("cannot run the hook \"xxxx"), "{stderr}");
    assert!(stderr.contains("...\" with /bin/sh"), "{stderr}");
    assert!(stderr.len() < 1000, "{stderr}");
}

/// Ctrl-C and HUP during a hook stop everything, as TERM does, and retry-on
/// ends as if killed by the signal: 130 and 129.
#[test]
fn ctrl_c_and_hup_during_a_hook_end_the_run_as_that_signal() {
    use nix::sys::signal::Signal;
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGHUP, 129)] {
        let args = [
            "-d",
            "10ms",
            "--on-retry",
            "echo hook-ready >&2; sleep 30",
            "--",
            "sh",
            "-c",
            "exit 6",
        ];
        let mut run = start(&args, Stdio::null());
        run.stderr.wait_for(|line| line == "hook-ready", BOUND);
        run.signal(signal);
        assert_eq!(shell_code(run.wait(BOUND)), code, "{signal}");
        run.stderr.wait_for(
            |line| line.contains(&format!("interrupted by {} during --on-retry", signal.as_str())),
            BOUND,
        );
    }
}

/// A hook that ignores TERM when its time is up gets KILL `--kill-after` later.
#[test]
fn a_hook_that_ignores_term_is_killed_after_kill_after() {
    let started = Instant::now();
    retry_on()
        .args(["-n", "1", "--hook-timeout", "300ms", "--kill-after", "500ms"])
        .args(["--on-giveup", "trap '' TERM; sleep 30; sleep 30"])
        .args(["--", "false"])
        .timeout(BOUND)
        .assert()
        .code(1)
        .stderr(contains("--on-giveup ran out of --hook-timeout (killed by SIGKILL)"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

/// `--on-giveup`'s exit code is reported, and does not change retry-on's;
/// a closed output is a reason of its own.
#[test]
fn on_giveup_s_code_is_said_and_a_closed_output_is_its_reason() {
    retry_on()
        .args(["-n", "1", "--on-giveup", "exit 9", "--", "false"])
        .assert()
        .code(1)
        .stderr(contains("retry-on: --on-giveup exited 9"));
    let dir = tempdir();
    let log = dir.path().join("log");
    let hook = format!("echo \"$RETRY_ON_REASON\" >> '{}'", log.display());
    let bin = common::command::BIN;
    let pipeline = format!("'{bin}' -d 10ms --on-giveup \"$1\" -- yes | head -c 5 >/dev/null");
    let out = common::command::isolated("sh")
        .args(["-c", &pipeline, "sh", &hook])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(log_lines(&log), ["output-closed"]);
}
