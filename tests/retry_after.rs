//! `--retry-after REGEX`: waits that the command's output asks for.

mod common {
    pub mod command;
    pub mod finished;
}

use std::time::{Duration, Instant};

use common::command::tempdir;
use common::finished::retry_on;
use predicates::prelude::*;
use predicates::str::contains;

/// A command that prints each of `lines` on stderr and fails.
fn failing_with(lines: &[&str]) -> Vec<String> {
    let body: String = lines.iter().map(|l| format!("echo '{l}' >&2; ")).collect();
    vec!["sh".into(), "-c".into(), format!("{body}exit 1")]
}

#[test]
fn a_hint_makes_the_wait_longer_than_the_schedule() {
    let started = Instant::now();
    retry_on()
        .args(["--retry-after", r"wait (\S+)", "-d", "10ms", "-n", "2", "--"])
        .args(failing_with(&["please wait 1"]))
        .assert()
        .code(1)
        .stderr(contains(
            "attempt 1/2 failed (exit 1); retrying in 1s (the output asked for 1s)",
        ));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
}

#[test]
fn a_hint_is_seconds_or_a_duration_and_the_last_line_wins() {
    for (lines, shown) in [
        (
            &["wait 1.5"][..],
            "retrying in 1s 500ms (the output asked for 1s 500ms)",
        ),
        (&["wait 250ms"][..], "retrying in 250ms (the output asked for 250ms)"),
        (
            &["wait 5", "wait 0.3"][..],
            "retrying in 300ms (the output asked for 300ms)",
        ),
    ] {
        retry_on()
            .args(["--retry-after", r"wait (\S+)", "-d", "10ms", "-n", "2", "--"])
            .args(failing_with(lines))
            .assert()
            .code(1)
            .stderr(contains(shown));
    }
}

#[test]
fn a_hint_never_waits_past_max_delay() {
    retry_on()
        .args([
            "--retry-after",
            r"wait (\S+)",
            "-d",
            "10ms",
            "--max-delay",
            "200ms",
            "-n",
            "2",
            "--",
        ])
        .args(failing_with(&["wait 2m"]))
        .assert()
        .code(1)
        .stderr(contains("retrying in 200ms (the output asked for 2m)"));
}

#[test]
fn a_hint_that_passes_the_deadline_gives_up_at_once() {
    let started = Instant::now();
    retry_on()
        .args(["--retry-after", r"wait (\S+)", "-d", "10ms", "--max-time", "5s", "--"])
        .args(failing_with(&["wait 30"]))
        .assert()
        .code(1)
        .stderr(contains("giving up: waiting 30s would pass the --max-time deadline"));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_hint_alone_never_causes_a_retry() {
    retry_on()
        .args(["-p", "NoSuchError", "--retry-after", r"wait (\S+)", "-d", "10ms", "--"])
        .args(failing_with(&["wait 1"]))
        .assert()
        .code(1)
        .stderr(contains("not retrying: no retry condition held"));
}

#[test]
fn a_hint_that_is_no_duration_is_ignored_and_said_with_v() {
    retry_on()
        .args(["-v", "--retry-after", r"wait (\S+)", "-d", "10ms", "-n", "2", "--"])
        .args(failing_with(&["wait soon"]))
        .assert()
        .code(1)
        .stderr(contains(
            "ignoring the wait the output asked for: invalid duration \"soon\"",
        ))
        .stderr(contains("retrying in 10ms"));
}

#[test]
fn a_hint_on_stdout_counts_when_stdout_is_piped() {
    retry_on()
        .args([
            "--stdout-pattern",
            "busy",
            "--retry-after",
            r"wait (\S+)",
            "-d",
            "10ms",
            "-n",
            "2",
        ])
        .args(["--", "sh", "-c", "echo busy; echo wait 0.2; exit 1"])
        .assert()
        .code(1)
        .stderr(contains("retrying in 200ms (the output asked for 200ms)"));
}

#[test]
fn the_json_sleep_event_has_the_hint() {
    let out = retry_on()
        .args([
            "--log-format",
            "json",
            "--retry-after",
            r"wait (\S+)",
            "-d",
            "10ms",
            "-n",
            "2",
            "--",
        ])
        .args(failing_with(&["wait 0.2"]))
        .output()
        .unwrap();
    let sleep = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "sleep")
        .expect("a sleep event");
    assert_eq!(sleep["hint"], 200);
    assert_eq!(sleep["delay_ms"], 200);
}

#[test]
fn a_hint_pattern_needs_exactly_one_capture_group() {
    for pattern in ["wait \\d+", "wait (\\d+)(s)"] {
        retry_on()
            .args(["--retry-after", pattern, "--", "true"])
            .assert()
            .code(125)
            .stderr(contains(format!("{pattern:?}")))
            .stderr(contains("exactly one capture group"));
    }
    let dir = tempdir();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[profile.p]\npatterns = [\"x\"]\nretry_after = [\"no group\"]\n",
    )
    .unwrap();
    retry_on()
        .arg("-c")
        .arg(&config)
        .args(["-P", "p", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains(format!(
            "config {}, line 3, column 16, key retry_after",
            config.display()
        )));
}

#[test]
fn explain_lists_the_hint_patterns_and_the_curl_profile_has_one() {
    retry_on()
        .args(["--retry-after", r"wait (\d+)", "--explain"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^retry_after +wait \(\\d\+\) +\(flag\)$").unwrap());
    retry_on()
        .args(["-P", "curl", "--explain"])
        .assert()
        .success()
        .stdout(contains("Retry-After").and(contains("(profile curl)")));
}
