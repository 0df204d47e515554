//! Configuration files and profiles (issue 4): discovery, precedence, and
//! errors that name the file, the line and the key.

mod common {
    pub mod command;
    pub mod finished;
    pub mod scripts;
}

use std::path::{Path, PathBuf};

use common::command::tempdir;
use common::finished::retry_on;
use common::scripts::script;
use predicates::prelude::*;
use predicates::str::contains;

fn write(dir: &Path, relative: &str, text: &str) -> PathBuf {
    let path = dir.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// A line of `--explain`: the key, its value and its source.
fn explained(key: &str, value: &str, source: &str) -> impl Predicate<str> {
    let value = regex::escape(value);
    let source = regex::escape(source);
    predicate::str::is_match(format!(r"(?m)^{key} +{value} +\({source}\)$")).unwrap()
}

const FILE: &str = r#"
[defaults]
attempts = 3
delay = "10ms"
jitter = "equal"

[profile.deploy]
description = "flaky deploy API"
patterns = ["503 Service Unavailable", "(?i)connection reset"]
abort_on = ["AccessDenied"]
exit_codes = "1,255"
attempts = 8
delay = "500ms"
max_delay = "30s"
timeout = "2m"
"#;

#[test]
fn flags_beat_the_profile_which_beats_defaults_which_beat_built_ins() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", FILE);
    let run = |args: &[&str]| {
        let mut cmd = retry_on();
        cmd.arg("-c").arg(&file).args(args).arg("--explain");
        cmd.assert().success()
    };
    run(&["-P", "deploy", "-n", "4"])
        .stdout(explained("attempts", "4", "flag"))
        .stdout(explained("delay", "500ms", "profile deploy"))
        .stdout(explained("jitter", "equal", "defaults"))
        .stdout(explained("factor", "2", "built-in"))
        .stdout(explained("timeout", "2m", "profile deploy"))
        .stdout(explained("exit_codes", "1,255", "profile deploy"));
    run(&["-P", "deploy"]).stdout(explained("attempts", "8", "profile deploy"));
    run(&[])
        .stdout(explained("attempts", "3", "defaults"))
        .stdout(explained("delay", "10ms", "defaults"));
    retry_on()
        .args(["--no-config", "--explain"])
        .assert()
        .success()
        .stdout(explained("attempts", "5", "built-in"));
}

#[test]
fn patterns_on_the_command_line_add_to_the_profile_s() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", FILE);
    retry_on()
        .arg("-c")
        .arg(&file)
        .args([
            "-P",
            "deploy",
            "-p",
            "SlowDown",
            "--abort-on",
            "NoSuchEntity",
            "--explain",
        ])
        .assert()
        .success()
        .stdout(explained("patterns", "SlowDown", "flag"))
        .stdout(explained("patterns", "503 Service Unavailable", "profile deploy"))
        .stdout(explained("abort_on", "NoSuchEntity", "flag"))
        .stdout(explained("abort_on", "AccessDenied", "profile deploy"));
    // And both kinds really retry.
    let fails_once = |message: &str| {
        let body = format!("[ \"$RETRY_ON_ATTEMPT\" = 2 ] && exit 0; echo '{message}' >&2; exit 2");
        script(dir.path(), "once", &body)
    };
    for message in [
        "SlowDown",
        "HTTP/1.1 503 Service Unavailable",
        "Connection Reset by peer",
    ] {
        let cmd = fails_once(message);
        retry_on()
            .arg("-c")
            .arg(&file)
            .args(["-P", "deploy", "-p", "SlowDown", "-d", "1ms", "--"])
            .arg(&cmd)
            .assert()
            .success();
    }
}

#[test]
fn a_flag_s_fixed_strings_does_not_change_a_profile_s_regexes() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", FILE);
    let cmd = script(
        dir.path(),
        "reset",
        "[ \"$RETRY_ON_ATTEMPT\" = 2 ] && exit 0; echo 'connection RESET' >&2; exit 2",
    );
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "deploy", "-F", "-p", "a.b", "-d", "1ms", "--"])
        .arg(&cmd)
        .assert()
        .success();
}

#[test]
fn a_user_profile_replaces_the_built_in_one_of_the_same_name() {
    let dir = tempdir();
    let file = write(
        dir.path(),
        "c.toml",
        "[profile.aws]\ndescription = \"mine\"\npatterns = [\"MyCode\"]\nattempts = 2\n",
    );
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "aws", "--explain"])
        .assert()
        .success()
        .stdout(explained("attempts", "2", "profile aws"))
        .stdout(explained("patterns", "MyCode", "profile aws"))
        .stdout(contains("Throttling").not());
    retry_on()
        .arg("-c")
        .arg(&file)
        .arg("--list-profiles")
        .assert()
        .success()
        .stdout(
            predicate::str::is_match(format!(
                r"(?m)^aws +mine +\({}\)$",
                regex::escape(&file.display().to_string())
            ))
            .unwrap(),
        )
        .stdout(predicate::str::is_match(r"(?m)^curl .*\(built-in\)$").unwrap());
}

#[test]
fn the_user_file_is_found_in_each_of_its_three_places() {
    let home = tempdir();
    let xdg = tempdir();
    let elsewhere = tempdir();
    write(
        home.path(),
        ".config/retry-on/config.toml",
        "[defaults]\nattempts = 11\n",
    );
    write(xdg.path(), "retry-on/config.toml", "[defaults]\nattempts = 12\n");
    let named = write(elsewhere.path(), "named.toml", "[defaults]\nattempts = 13\n");
    let explain = |envs: &[(&str, &Path)]| {
        let mut cmd = retry_on();
        for (key, value) in envs {
            cmd.env(key, value);
        }
        cmd.arg("--explain").assert().success()
    };
    explain(&[("HOME", home.path())]).stdout(explained("attempts", "11", "defaults"));
    explain(&[("HOME", home.path()), ("XDG_CONFIG_HOME", xdg.path())]).stdout(explained("attempts", "12", "defaults"));
    explain(&[
        ("HOME", home.path()),
        ("XDG_CONFIG_HOME", xdg.path()),
        ("RETRY_ON_CONFIG", &named),
    ])
    .stdout(explained("attempts", "13", "defaults"));
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    explain(&[("HOME", home.path()), ("XDG_CONFIG_HOME", Path::new("relative/dir"))])
        .stdout(explained("attempts", "11", "defaults"));
    // -c wins over all; --no-config reads none.
    let mut cmd = retry_on();
    cmd.env("RETRY_ON_CONFIG", &named)
        .arg("-c")
        .arg(write(elsewhere.path(), "c.toml", "[defaults]\nattempts = 14\n"));
    cmd.arg("--explain")
        .assert()
        .success()
        .stdout(explained("attempts", "14", "defaults"));
    let mut cmd = retry_on();
    cmd.env("RETRY_ON_CONFIG", &named).args(["--no-config", "--explain"]);
    cmd.assert().success().stdout(explained("attempts", "5", "built-in"));
}

/// Runs with a config whose text is `text`; expects exit 125 and a message
/// naming the file and everything in `needles`.
fn rejects(text: &str, needles: &[&str]) {
    let dir = tempdir();
    let file = write(dir.path(), "bad.toml", text);
    let mut assert = retry_on().arg("-c").arg(&file).args(["--", "true"]).assert().code(125);
    assert = assert.stderr(contains(file.display().to_string()));
    for needle in needles {
        assert = assert.stderr(contains(*needle));
    }
}

#[test]
fn syntax_errors_name_file_and_line() {
    rejects("[defaults]\nattempts = 3\ndelay = \"1s\n", &["line 3", "column"]);
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_line() {
    rejects(
        "[defaults]\nattempts = 3\nattempt = 4\n",
        &["line 3", "key attempt", "unknown field `attempt`"],
    );
    rejects("[profile.x]\npatterns = []\nretries = 2\n", &["line 3", "key retries"]);
    rejects("[default]\nattempts = 3\n", &["line 1", "unknown field `default`"]);
}

#[test]
fn wrong_types_and_bad_values_are_errors_naming_the_key_and_line() {
    rejects(
        "[defaults]\n\nattempts = \"many\"\n",
        &["line 3", "key attempts", "invalid type"],
    );
    rejects(
        "[profile.p]\ndelay = \"5 parsecs\"\n",
        &["line 2", "key delay", "\"5 parsecs\""],
    );
    rejects("[profile.p]\njitter = \"lots\"\n", &["line 2", "key jitter", "lots"]);
    rejects(
        "[profile.p]\nexit_codes = \"1,x\"\n",
        &["line 2", "key exit_codes", "\"x\""],
    );
    rejects(
        "[profile.p]\nkill_signal = \"SIGNOPE\"\n",
        &["line 2", "key kill_signal", "SIGNOPE"],
    );
    rejects("[profile.p]\npatterns = \"one\"\n", &["line 2", "key patterns"]);
}

#[test]
fn a_bad_regex_in_a_profile_is_an_error() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", "[profile.p]\npatterns = [\"a(\"]\n");
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "p", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("\"a(\""));
}

/// A bad regex in a file used to be reported as `invalid regex "(" in
/// --pattern`, as if it had been typed on the command line.
#[test]
fn a_bad_regex_in_a_config_file_names_the_file_line_and_key() {
    let dir = tempdir();
    let text = "[defaults]\nattempts = 2\n\n[profile.p]\nabort_on = [\"fine\", \"(\"]\n";
    let file = write(dir.path(), "c.toml", text);
    let place = format!(
        "config {}, line 5, column 21, key abort_on: invalid regex \"(\"",
        file.display()
    );
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "p", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains(place));
    retry_on()
        .args(["--abort-on", "(", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("invalid regex \"(\" in --abort-on"));
}

/// Patterns are compiled only when the command first writes, so start-up
/// checks them instead: a pattern that does not parse, or that the regex
/// engine would refuse as too large, must still stop retry-on before the
/// command runs, with its place.
#[test]
fn a_bad_or_too_large_pattern_stops_the_run_before_the_command_starts() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    let touch = format!("touch {}; echo out >&2", marker.display());
    let file = write(
        dir.path(),
        "c.toml",
        "[profile.p]\npatterns = [\"ok\", \"a{400000}\"]\n",
    );
    retry_on()
        .args(["-p", "a(", "--", "sh", "-c", &touch])
        .assert()
        .code(125)
        .stderr(contains("invalid regex \"a(\" in --pattern"));
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "p", "--", "sh", "-c", &touch])
        .assert()
        .code(125)
        .stderr(contains("line 2, column 19, key patterns: invalid regex \"a{400000}\""))
        .stderr(contains("size limit"));
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn an_unknown_profile_lists_the_ones_that_exist() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", FILE);
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-P", "nope", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("unknown profile \"nope\""))
        .stderr(contains("aws, aws-eventual-consistency"))
        .stderr(contains("deploy"));
}

#[test]
fn a_missing_config_file_named_with_c_is_an_error() {
    retry_on()
        .args(["-c", "/nonexistent/retry-on.toml", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("/nonexistent/retry-on.toml"));
}

#[test]
fn lists_accept_toml_arrays_and_durations_accept_numbers() {
    let dir = tempdir();
    let file = write(
        dir.path(),
        "c.toml",
        "[defaults]\ndelays = [\"1s\", 5, \"30s\"]\nexit_codes = [1, 255]\nmax_delay = 90\n",
    );
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["-n", "5", "--explain"])
        .assert()
        .success()
        .stdout(explained("delays", "1s,5s,30s", "defaults"))
        .stdout(explained("exit_codes", "1,255", "defaults"))
        .stdout(explained("max_delay", "1m 30s", "defaults"))
        .stdout(contains("schedule: waits of 1s, 5s, 30s, 30s between 5 attempts"));
}

#[test]
fn the_aws_profile_retries_conflicts_but_not_errors_a_retry_cannot_fix() {
    let dir = tempdir();
    let fails_first = |code: &str| {
        let body = format!(
            "[ \"$RETRY_ON_ATTEMPT\" = 2 ] && exit 0\n\
             echo 'An error occurred ({code}) when calling the UpdateUser operation: nope' >&2; exit 255"
        );
        script(dir.path(), code, &body)
    };
    for code in ["ConcurrentModification", "Throttling", "ServiceUnavailable"] {
        retry_on()
            .args(["-P", "aws", "-d", "1ms", "--"])
            .arg(fails_first(code))
            .assert()
            .success();
    }
    for code in [
        "AccessDenied",
        "NoSuchEntity",
        "MalformedPolicyDocument",
        "LimitExceeded",
    ] {
        retry_on()
            .args(["-P", "aws", "-d", "1ms", "--"])
            .arg(fails_first(code))
            .assert()
            .code(255)
            .stderr(contains("attempt 1/8 failed (exit 255); not retrying"));
    }
}

/// `lock = ""` used to pass the file check and fail only when the lock was
/// opened, with a message that named neither the file nor the line.
#[test]
fn an_empty_lock_path_in_a_file_names_the_line_and_key() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", "[defaults]\nattempts = 2\nlock = \"\"\n");
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["--", "true"])
        .assert()
        .code(125)
        .stderr(contains(format!(
            "config {}, line 3, column 8, key lock:",
            file.display()
        )));
}

/// `RETRY_ON_CONFIG` naming a missing file, a directory or a device was
/// passed over in silence; a file named on purpose must be read or refused.
#[test]
fn a_config_file_named_in_retry_on_config_that_cannot_be_read_is_an_error() {
    let dir = tempdir();
    let missing = dir.path().join("missing.toml");
    for named in [missing.as_path(), dir.path(), Path::new("/dev/null")] {
        retry_on()
            .env("RETRY_ON_CONFIG", named)
            .args(["--", "true"])
            .assert()
            .code(125)
            .stderr(contains(named.display().to_string()))
            .stderr(contains("RETRY_ON_CONFIG"));
    }
}

/// `-c /dev/zero` read until memory ran out, and `-c FIFO` blocked for ever.
#[test]
fn only_a_regular_config_file_of_at_most_a_mebibyte_is_read() {
    let dir = tempdir();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let big = write(dir.path(), "big.toml", &format!("# {}\n", "x".repeat(1 << 20)));
    for (path, why) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (fifo.as_path(), "not a regular file"),
        (big.as_path(), "larger than 1 MiB"),
    ] {
        retry_on()
            .arg("-c")
            .arg(path)
            .args(["--", "true"])
            .timeout(std::time::Duration::from_secs(20))
            .assert()
            .code(125)
            .stderr(contains(path.display().to_string()))
            .stderr(contains(why));
    }
}

/// A lease too short to be renewed was refused only when a DynamoDB lock
/// opened, with no file or line; it is value syntax, refused where written.
#[test]
fn a_lease_too_short_is_refused_where_it_was_written() {
    let dir = tempdir();
    let file = write(dir.path(), "c.toml", "[defaults]\nlock_lease = \"100ms\"\n");
    retry_on()
        .arg("-c")
        .arg(&file)
        .args(["--", "true"])
        .assert()
        .code(125)
        .stderr(contains(format!(
            "config {}, line 2, column 14, key lock_lease:",
            file.display()
        )))
        .stderr(contains("100ms is too short: a lease must last at least 300ms"));
    retry_on()
        .args(["--lock-lease", "299ms", "--", "true"])
        .assert()
        .code(125)
        .stderr(contains("--lock-lease"))
        .stderr(contains("299ms is too short"));
}

/// `--lock-timeout` required `--lock` on the command line (clap's
/// `requires`), so a lock set by a profile or `[defaults]` could not be
/// given a timeout by a flag; and `--lock-lease` or `--lock-create-table`
/// with no lock at all, or with a file lock, were taken without a word.
#[test]
fn a_lock_s_options_given_as_flags_need_a_lock_from_some_layer() {
    let dir = tempdir();
    let lock = dir.path().join("lock").display().to_string();
    let file = write(
        dir.path(),
        "c.toml",
        &format!("[defaults]\nlock_timeout = \"1s\"\n\n[profile.locked]\nlock = \"{lock}\"\n"),
    );
    let run = |args: &[&str]| {
        let mut cmd = retry_on();
        cmd.arg("-c").arg(&file).args(args);
        cmd.assert()
    };
    run(&["-P", "locked", "--lock-timeout", "5s", "--explain"])
        .success()
        .stdout(explained("lock_timeout", "5s", "flag"));
    // In a file, a lock's option is a default for the profiles that lock.
    run(&["-n", "1", "--", "true"]).success();
    for (args, said) in [
        (&["--lock-timeout", "5s"][..], "--lock-timeout needs a lock"),
        (&["--lock-lease", "10s"], "--lock-lease needs a lock"),
        (
            &["-P", "locked", "--lock-lease", "10s"],
            "--lock-lease is for a dynamodb:// lock",
        ),
        (
            &["-P", "locked", "--lock-create-table"],
            "--lock-create-table is for a dynamodb:// lock",
        ),
    ] {
        run(&[args, &["--", "true"]].concat()).code(125).stderr(contains(said));
    }
}

/// `[profile.""]` and `[profile."a b"]` were taken: `--list-profiles`
/// showed a blank name, and the shell completions, which take the first
/// word of each line, offered `a` for `a b`. And a `[defaults]` with a
/// description was refused without saying where.
#[test]
fn a_profile_name_is_one_word_and_a_table_s_errors_name_its_header() {
    let dir = tempdir();
    for (body, said) in [
        (
            "[profile.\"\"]\nattempts = 2\n",
            "line 1, column 10, [profile.\"\"]: a profile's name is one word",
        ),
        (
            "[defaults]\nattempts = 2\n\n[profile.\"a b\"]\nattempts = 2\n",
            "line 4, column 10, [profile.\"a b\"]: a profile's name is one word",
        ),
        (
            "[defaults]\nattempts = 2\ndescription = \"x\"\n",
            "line 1, column 1, [defaults]: only a profile can have a description",
        ),
    ] {
        let file = write(dir.path(), "c.toml", body);
        retry_on()
            .arg("-c")
            .arg(&file)
            .arg("--list-profiles")
            .assert()
            .code(125)
            .stderr(contains(format!("config {}, {said}", file.display())));
    }
}
