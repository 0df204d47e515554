//! `--log-format github`: retry-on's lines as GitHub Actions workflow
//! commands, escaped as the runner reads them, and chosen by itself when
//! GITHUB_ACTIONS=true and nothing else chose a format.

mod common {
    pub mod command;
    pub mod finished;
    pub mod scripts;
}

use common::command::tempdir;
use common::finished::retry_on;
use common::scripts::script;
use predicates::prelude::*;

fn stderr_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn in_github_actions_retries_are_warnings_and_giving_up_an_error_escaped() {
    let dir = tempdir();
    let failing = script(dir.path(), "fail", "echo 'at 50%, then: conflict' >&2; exit 3");
    let output = retry_on()
        .env("GITHUB_ACTIONS", "true")
        .args(["-n", "2", "-d", "10ms", "-p", "at 50%, then: .*"])
        .arg(&failing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let ours: Vec<String> = stderr_lines(&output)
        .into_iter()
        .filter(|line| line.starts_with("::") || line.starts_with("retry-on"))
        .collect();
    assert_eq!(
        ours,
        [
            r#"::warning title=retry-on::attempt 1/2 failed (exit 3, matched "at 50%25, then: conflict"); retrying in 10ms"#,
            "::error title=retry-on::attempt 2/2 failed (exit 3); giving up: no attempts left",
        ]
    );
}

#[test]
fn success_after_retries_is_a_notice_and_verbose_lines_are_debug_with_line_breaks_escaped() {
    let dir = tempdir();
    let marker = dir.path().join("tried");
    let flaky = script(
        dir.path(),
        "flaky",
        &format!("test -e {0} && exit 0; touch {0}; exit 1", marker.display()),
    );
    let output = retry_on()
        .args(["--log-format", "github", "-v", "-n", "3", "-d", "1ms"])
        .arg(&flaky)
        .arg("two\nlines, 100%")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let lines = stderr_lines(&output);
    let running = format!(
        "::debug::attempt 1/3: running {} 'two%0Alines, 100%25'",
        flaky.display()
    );
    assert_eq!(lines[0], running, "{lines:?}");
    assert_eq!(
        lines[1],
        "::warning title=retry-on::attempt 1/3 failed (exit 1); retrying in 1ms"
    );
    assert_eq!(lines.last().unwrap(), "::notice title=retry-on::attempt 2/3 succeeded");
}

#[test]
fn a_command_that_cannot_run_is_an_error_and_quiet_silences_the_rest() {
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .args(["--", "/nonexistent/retry-on-test-command"])
        .assert()
        .code(127)
        .stderr("::error title=retry-on::/nonexistent/retry-on-test-command: command not found\n");
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .args(["-q", "-n", "2", "-d", "1ms", "--", "false"])
        .assert()
        .code(1)
        .stderr("");
}

#[test]
fn explain_shows_github_chosen_by_the_environment_and_any_choice_overriding_it() {
    let row = |source: &str, value: &str| {
        predicate::str::is_match(format!(r"(?m)^log_format +{value} +\({source}\)$")).unwrap()
    };
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .arg("--explain")
        .assert()
        .success()
        .stdout(row("environment", "github"));
    retry_on()
        .arg("--explain")
        .assert()
        .success()
        .stdout(row("built-in", "text"));
    let dir = tempdir();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "[defaults]\nlog_format = \"json\"\n").unwrap();
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .env("RETRY_ON_CONFIG", &config)
        .arg("--explain")
        .assert()
        .success()
        .stdout(row("defaults", "json"));
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .args(["--log-format", "text", "--explain"])
        .assert()
        .success()
        .stdout(row("flag", "text"));
}

/// In GitHub Actions, a command line that did not parse was an `::error`
/// annotation, but a config file that did not was a plain line, which the
/// Actions page shows as no error at all.
#[test]
fn a_bad_config_file_is_an_error_annotation_too() {
    let dir = tempdir();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[defaults]\nattempts = -1\n").unwrap();
    let expected = format!(
        "::error title=retry-on::config {}, line 2, column 12, key attempts: invalid value: integer `-1`, expected u32\n",
        file.display()
    );
    retry_on()
        .env("GITHUB_ACTIONS", "true")
        .arg("-c")
        .arg(&file)
        .args(["--", "true"])
        .assert()
        .code(125)
        .stderr(expected);
}
