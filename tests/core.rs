//! The core contract (issue 2): matching, the schedule, the decision, exit
//! codes and pass-through, run on the real binary against small scripts.

mod common {
    pub mod command;
    pub mod exit;
    pub mod finished;
    pub mod scripts;
}

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::command::tempdir;
use common::exit::shell_code;
use common::finished::retry_on;
use common::scripts::script;
use predicates::prelude::*;
use predicates::str::contains;

const CONFLICT: &str = "An error occurred (ConcurrentModification) when calling the UpdateUser operation: busy";

/// A script that fails with `message` on stderr and exit `code` for its first
/// `failures` attempts, then prints "done" and succeeds.
fn flaky(dir: &std::path::Path, failures: u32, code: i32, message: &str) -> String {
    let body =
        format!("if [ \"$RETRY_ON_ATTEMPT\" -le {failures} ]; then echo '{message}' >&2; exit {code}; fi\necho done");
    script(dir, "flaky", &body).display().to_string()
}

#[test]
fn a_matching_failure_is_retried_until_success() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 2, 255, CONFLICT);
    retry_on()
        .args(["-p", "ConcurrentModification", "-d", "10ms", "--", &cmd])
        .assert()
        .success()
        .stdout("done\n")
        .stderr(contains(
            "attempt 1/5 failed (exit 255, matched \"ConcurrentModification\"); retrying in 10ms",
        ))
        .stderr(contains(
            "attempt 2/5 failed (exit 255, matched \"ConcurrentModification\"); retrying in 20ms",
        ))
        .stderr(contains("attempt 3/5 succeeded"))
        .stderr(contains(CONFLICT).count(2));
}

#[test]
fn a_failure_that_matches_nothing_is_not_retried() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 5, 255, "An error occurred (AccessDenied) when calling");
    retry_on()
        .args(["-p", "ConcurrentModification", "-d", "10ms", "--", &cmd])
        .assert()
        .code(255)
        .stderr(contains(
            "attempt 1/5 failed (exit 255); not retrying: no retry condition held",
        ))
        .stderr(contains("AccessDenied").count(1));
}

#[test]
fn success_is_never_retried_even_when_stderr_matched() {
    let dir = tempdir();
    let cmd = script(dir.path(), "ok", &format!("echo '{CONFLICT}' >&2; echo ran"));
    retry_on()
        .args(["-p", "ConcurrentModification", "-d", "10ms", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stdout("ran\n")
        .stderr(format!("{CONFLICT}\n"));
}

#[test]
fn without_conditions_any_failure_is_retried() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 2, 3, "boom");
    retry_on()
        .args(["-d", "10ms", "--", &cmd])
        .assert()
        .success()
        .stdout("done\n");
}

#[test]
fn attempts_run_out_with_the_last_exit_code() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 99, 42, "Throttling");
    retry_on()
        .args(["-p", "Throttling", "-n", "3", "-d", "1ms", "--", &cmd])
        .assert()
        .code(42)
        .stderr(contains("attempt 3/3 failed (exit 42); giving up: no attempts left"))
        .stderr(contains("Throttling\n").count(3));
}

#[test]
fn exit_code_lists_select_what_is_retried() {
    let dir = tempdir();
    let listed = flaky(dir.path(), 1, 42, "x");
    retry_on()
        .args(["-e", "1,40-45,255", "-d", "1ms", "--", &listed])
        .assert()
        .success();
    let dir = tempdir();
    let unlisted = flaky(dir.path(), 1, 46, "x");
    retry_on()
        .args(["-e", "1,40-45,255", "-d", "1ms", "--", &unlisted])
        .assert()
        .code(46);
}

#[test]
fn abort_on_wins_over_a_retry_pattern() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 5, 255, "(Throttling) but also AccessDenied");
    retry_on()
        .args([
            "-p",
            "Throttling",
            "--abort-on",
            "AccessDenied",
            "-d",
            "1ms",
            "--",
            &cmd,
        ])
        .assert()
        .code(255)
        .stderr(contains("matched abort pattern \"AccessDenied\"); not retrying"))
        .stderr(contains("AccessDenied").count(2));
}

#[test]
fn a_line_written_in_pieces_with_pauses_still_matches() {
    let dir = tempdir();
    let body = "if [ \"$RETRY_ON_ATTEMPT\" = 1 ]; then\n\
        printf 'An error occurred (Concurr' >&2; sleep 0.2\n\
        printf 'entModifi' >&2; sleep 0.2\n\
        printf 'cation) when calling\\n' >&2; exit 255; fi";
    let cmd = script(dir.path(), "pieces", body);
    retry_on()
        .args(["-p", r"\(ConcurrentModification\)", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stderr(contains("An error occurred (ConcurrentModification) when calling\n"))
        .stderr(contains("retrying in 1ms"));
}

#[test]
fn a_last_line_without_newline_matches() {
    let dir = tempdir();
    let cmd = script(
        dir.path(),
        "nonl",
        "[ \"$RETRY_ON_ATTEMPT\" = 2 ] && exit 0; printf 'SlowDown' >&2; exit 1",
    );
    retry_on()
        .args(["-p", "^SlowDown$", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success();
}

#[test]
fn invalid_utf8_does_not_stop_a_match() {
    let dir = tempdir();
    let cmd = script(
        dir.path(),
        "binary",
        "[ \"$RETRY_ON_ATTEMPT\" = 2 ] && exit 0; printf '\\377\\376 (Throttling) \\303\\050\\n' >&2; exit 1",
    );
    retry_on()
        .args(["-p", "Throttling", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stderr(predicate::function(|err: &[u8]| {
            err.starts_with(b"\xff\xfe (Throttling) \xc3\x28\n")
        }));
}

#[test]
fn matching_is_per_line() {
    let dir = tempdir();
    let cmd = script(dir.path(), "lines", "printf 'foo\\nbar\\n' >&2; exit 1");
    retry_on()
        .args(["-p", r"foo\s+bar", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .code(1)
        .stderr(contains("not retrying"));
}

#[test]
fn fixed_strings_and_ignore_case() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 1, 1, "rate exceeded (a.b)");
    retry_on()
        .args(["-F", "-p", "(a.b)", "-d", "1ms", "--", &cmd])
        .assert()
        .success();
    retry_on()
        .args(["-F", "-p", "(axb)", "-d", "1ms", "--", &cmd])
        .assert()
        .code(1);
    retry_on()
        .args(["-i", "-p", "RATE EXCEEDED", "-d", "1ms", "--", &cmd])
        .assert()
        .success();
    retry_on()
        .args(["-p", "RATE EXCEEDED", "-d", "1ms", "--", &cmd])
        .assert()
        .code(1);
}

#[test]
fn stdout_patterns_match_stdout_and_pass_it_through() {
    let dir = tempdir();
    let body = "if [ \"$RETRY_ON_ATTEMPT\" = 1 ]; then echo 'status: 503 Service Unavailable'; exit 1; fi\necho ok";
    let cmd = script(dir.path(), "out", body);
    retry_on()
        .args(["--stdout-pattern", "503", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stdout("status: 503 Service Unavailable\nok\n");
    // stderr patterns do not look at stdout.
    retry_on()
        .args(["-p", "503", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .code(1);
}

#[test]
fn the_command_gets_its_attempt_number_and_the_limit() {
    let dir = tempdir();
    let cmd = script(
        dir.path(),
        "env",
        "echo \"$RETRY_ON_ATTEMPT/$RETRY_ON_ATTEMPTS\"; [ \"$RETRY_ON_ATTEMPT\" = 3 ]",
    );
    retry_on()
        .args(["-n", "4", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stdout("1/4\n2/4\n3/4\n");
    retry_on()
        .args(["-n", "0", "-d", "1ms", "-q", "--"])
        .arg(&cmd)
        .assert()
        .success()
        .stdout("1/0\n2/0\n3/0\n");
}

#[test]
fn arguments_after_the_command_belong_to_it() {
    retry_on()
        .args(["echo", "-p", "x", "--attempts", "9"])
        .assert()
        .success()
        .stdout("-p x --attempts 9\n");
    retry_on()
        .args(["-n", "1", "--", "echo", "-n", "hi"])
        .assert()
        .success()
        .stdout("hi");
}

#[test]
fn a_100ms_exponential_schedule_waits_100_200_400ms() {
    let dir = tempdir();
    let stamps = dir.path().join("stamps");
    let body = format!("date +%s%N >> '{}'; [ \"$RETRY_ON_ATTEMPT\" = 4 ]", stamps.display());
    let cmd = script(dir.path(), "stamp", &body);
    retry_on()
        .args(["-d", "100ms", "-b", "exponential", "-q", "--"])
        .arg(&cmd)
        .assert()
        .success();
    let text = std::fs::read_to_string(&stamps).unwrap();
    let nanos: Vec<u128> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(nanos.len(), 4);
    for (i, want) in [100u128, 200, 400].iter().enumerate() {
        let gap = (nanos[i + 1] - nanos[i]) / 1_000_000;
        // Never early; generous on lateness, as the machine is shared.
        assert!(
            gap >= *want && gap < want + 400,
            "wait {} was {gap} ms, want {want} ms",
            i + 1
        );
    }
}

/// Each attempt stamps the time it starts; retry-on must end within the
/// 1s 200ms it would otherwise have slept after the last one. (Measured from
/// the last attempt, not from the start of the run: how long the spawns take
/// on a loaded machine does not matter.)
#[test]
fn max_time_gives_up_before_a_sleep_that_would_pass_it() {
    let dir = tempdir();
    let stamps = dir.path().join("stamps");
    let body = format!("date +%s%N >> '{}'; echo x >&2; exit 7", stamps.display());
    let cmd = script(dir.path(), "stamp", &body);
    retry_on()
        .args(["-d", "300ms", "--max-time", "1s", "--"])
        .arg(&cmd)
        .assert()
        .code(7)
        .stderr(contains("retrying in 300ms"))
        .stderr(contains(
            "giving up: waiting 1s 200ms would pass the --max-time deadline",
        ));
    let ended = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let stamps = std::fs::read_to_string(&stamps).unwrap();
    let last: u128 = stamps.lines().last().unwrap().trim().parse().unwrap();
    let after_the_last_attempt = Duration::from_nanos((ended - last) as u64);
    assert!(
        after_the_last_attempt < Duration::from_millis(1200),
        "slept past the point of giving up: ended {after_the_last_attempt:?} after the last attempt began"
    );
}

#[test]
fn max_time_stops_a_running_attempt_with_124() {
    let dir = tempdir();
    let cmd = script(dir.path(), "slow", "echo started; exec sleep 30");
    let started = Instant::now();
    retry_on()
        .args(["--max-time", "500ms", "--"])
        .arg(&cmd)
        .assert()
        .code(124)
        .stdout("started\n")
        .stderr(contains("stopped at the --max-time deadline"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn explain_prints_settings_and_the_schedule_without_running() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let touch = format!("touch '{}'", marker.display());
    retry_on()
        .args(["--explain", "-n", "4", "-d", "250ms", "--", "sh", "-c", &touch])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^attempts +4 +\(flag\)$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^backoff +exponential +\(built-in\)$").unwrap())
        .stdout(contains("command: sh -c 'touch "))
        .stdout(contains("schedule: waits of 250ms, 500ms, 1s between 4 attempts"));
    assert!(!marker.exists(), "--explain ran the command");
    retry_on()
        .arg("--explain")
        .assert()
        .success()
        .stdout(contains("schedule: waits of 1s, 2s, 4s, 8s between 5 attempts"));
}

#[test]
fn explain_with_a_seed_is_repeatable() {
    let run = |seed: &str| {
        let out = retry_on()
            .args(["--explain", "-j", "full", "--seed", seed])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(run("7"), run("7"));
    assert_ne!(run("7"), run("8"));
}

#[test]
fn exit_codes_follow_the_table() {
    let dir = tempdir();
    // The last attempt's own code.
    retry_on()
        .args(["-n", "1", "--", "sh", "-c", "exit 9"])
        .assert()
        .code(9);
    // Killed by signal N: 128+N, as a shell sees it.
    let out = retry_on()
        .args(["-n", "1", "--", "sh", "-c", "kill -USR1 $$"])
        .output()
        .unwrap();
    assert_eq!(shell_code(out.status), 128 + 10);
    // Stopped for the deadline or the timeout.
    retry_on()
        .args(["-n", "1", "-t", "100ms", "--", "sleep", "10"])
        .assert()
        .code(124);
    // retry-on's own failures.
    retry_on()
        .args(["--bogus", "true"])
        .assert()
        .code(125)
        .stderr(contains("--bogus"));
    retry_on()
        .args(["-p", "a(", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("\"a(\""));
    retry_on()
        .args(["-d", "soon", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("\"soon\""));
    retry_on()
        .args(["-e", "1,x", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("\"x\""));
    retry_on()
        .args(["-b", "sideways", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("sideways"));
    retry_on()
        .args(["-n", "1"])
        .assert()
        .code(125)
        .stderr(contains("COMMAND"));
    // Found but not executable; not found. Neither is retried.
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "echo hi").unwrap();
    retry_on()
        .args(["-d", "1ms", "--"])
        .arg(&plain)
        .assert()
        .code(126)
        .stderr(contains("cannot run"));
    retry_on()
        .args(["-d", "1ms", "--", "no-such-command-anywhere"])
        .assert()
        .code(127)
        .stderr("retry-on: no-such-command-anywhere: command not found\n");
}

#[test]
fn output_passes_through_byte_for_byte() {
    let dir = tempdir();
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let file = dir.path().join("data");
    std::fs::write(&file, &data).unwrap();
    let both = format!("cat '{0}'; cat '{0}' >&2", file.display());
    // Inherited stdout, piped stderr.
    retry_on()
        .args(["-p", "never", "--", "sh", "-c", &both])
        .assert()
        .success()
        .stdout(data.clone())
        .stderr(data.clone());
    // Both streams piped.
    retry_on()
        .args(["-p", "never", "--stdout-pattern", "never", "--", "sh", "-c", &both])
        .assert()
        .success()
        .stdout(data.clone())
        .stderr(data);
}

#[test]
fn quiet_silences_retry_on_but_not_the_command() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 1, 1, "oops");
    retry_on()
        .args(["-q", "-d", "1ms", "--", &cmd])
        .assert()
        .success()
        .stdout("done\n")
        .stderr("oops\n");
}

#[test]
fn json_log_has_one_object_per_event() {
    let dir = tempdir();
    let cmd = flaky(dir.path(), 1, 255, CONFLICT);
    let out = retry_on()
        .args([
            "--log-format",
            "json",
            "-p",
            "ConcurrentModification",
            "-d",
            "5ms",
            "--",
            &cmd,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "attempt_start",
            "attempt_end",
            "sleep",
            "attempt_start",
            "attempt_end",
            "success"
        ]
    );
    assert_eq!(events[1]["exit_code"], 255);
    assert_eq!(events[1]["matched"]["pattern"], "ConcurrentModification");
    assert_eq!(events[2]["delay_ms"], 5);
}

#[test]
fn help_has_examples_and_version_prints() {
    retry_on()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Examples:"))
        .stdout(contains("--max-delay"));
    retry_on().arg("-V").assert().success().stdout(contains("retry-on "));
}
