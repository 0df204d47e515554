//! Regression tests for defects found at the edges: each is named after
//! what broke, and fails on the code before its fix.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    pub mod exit;
    pub mod finished;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod procfs;
    pub mod scripts;
}

use std::time::Duration;

use common::child::start;
use common::command::{BIN, isolated, tempdir};
use common::exit::shell_code;
use common::finished::retry_on;
use common::procfs::{all_gone, pids};
use common::scripts::script;
use predicates::prelude::*;
use predicates::str::contains;

const BOUND: Duration = Duration::from_secs(60);

/// `-t 0` and `--max-time 0` killed the attempt at once; in GNU `timeout`,
/// and now here, 0 means no limit, in config files too.
#[test]
fn a_zero_timeout_or_deadline_means_no_limit() {
    for flags in [["-t", "0"], ["--max-time", "0"]] {
        retry_on()
            .args(flags)
            .args(["-n", "1", "--", "sh", "-c", "sleep 0.3; echo done"])
            .timeout(BOUND)
            .assert()
            .success()
            .stdout("done\n");
    }
    let dir = tempdir();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[defaults]\ntimeout = 0\nmax_time = \"0s\"\n").unwrap();
    retry_on()
        .arg("-c")
        .arg(&config)
        .args(["-n", "1", "--", "sh", "-c", "sleep 0.3; echo done"])
        .timeout(BOUND)
        .assert()
        .success()
        .stdout("done\n");
}

/// `-d 18446744073709552s` printed "retrying in 384ms" and slept for ever.
#[test]
fn durations_over_a_hundred_years_are_refused_with_125() {
    for value in ["18446744073709552s", "600000000y", "1e20"] {
        retry_on()
            .args(["-d", value, "--", "true"])
            .assert()
            .code(125)
            .stderr(contains(value))
            .stderr(contains("100 years"));
    }
}

/// `-n -1` and `-d -1s` said "unexpected argument '-1'", naming no flag.
#[test]
fn a_negative_number_is_refused_naming_its_flag() {
    for (flag, value) in [("-n", "-1"), ("-d", "-1s"), ("--max-delay", "-5"), ("-e", "-1")] {
        retry_on()
            .args([flag, value, "--", "true"])
            .assert()
            .code(125)
            .stderr(contains(format!("invalid value '{value}'")));
    }
}

/// `-p '-ERR'` and `-p '--- FAIL'` were refused as unknown flags.
#[test]
fn a_pattern_that_begins_with_a_dash_is_a_pattern() {
    retry_on()
        .args([
            "-p",
            "-ERR",
            "-n",
            "2",
            "-d",
            "1ms",
            "--",
            "sh",
            "-c",
            "echo '-ERR busy' >&2; exit 3",
        ])
        .assert()
        .code(3)
        .stderr(contains("matched \"-ERR\""));
    retry_on()
        .args(["-p", "--- FAIL", "--explain"])
        .assert()
        .success()
        .stdout(contains("--- FAIL"));
}

/// A script whose interpreter is missing was reported as "command not
/// found", which named the wrong file.
#[test]
fn a_missing_interpreter_is_named_not_taken_for_a_missing_command() {
    let dir = tempdir();
    let path = dir.path().join("bad-interpreter");
    std::fs::write(&path, "#!/nonexistent/interpreter\necho hi\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    retry_on()
        .arg("--")
        .arg(&path)
        .assert()
        .code(127)
        .stderr(contains("/nonexistent/interpreter"))
        .stderr(contains("command not found").not());
}

/// A script without `#!` failed with 126 "Exec format error"; execvp, GNU
/// `timeout`, `env` and `xargs` run it with /bin/sh.
#[test]
fn a_script_without_a_hash_bang_line_runs_with_sh() {
    let dir = tempdir();
    let path = dir.path().join("no-hash-bang");
    std::fs::write(&path, "echo \"ran with $# arguments: $1\"\n").unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    retry_on()
        .arg("--")
        .arg(&path)
        .arg("first")
        .assert()
        .success()
        .stdout("ran with 1 arguments: first\n");
}

/// Started with SIGCHLD ignored, retry-on could run nothing: "waiting for
/// the command: No child processes".
#[test]
fn a_parent_that_ignores_sigchld_does_not_stop_retry_on() {
    let line = format!("trap '' CHLD; exec {} -n 2 -d 1ms -- sh -c 'exit 3'", BIN);
    // bash, not dash: dash does not pass an ignored SIGCHLD on to what it runs.
    isolated("bash")
        .args(["-c", &line])
        .output()
        .map(|out| {
            assert_eq!(out.status.code(), Some(3), "{out:?}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("attempt 2/2 failed (exit 3)"));
        })
        .unwrap();
}

/// A signal retry-on did not handle (USR1, USR2, ALRM) killed it and left
/// the attempt running in its own process group, where nothing reached it.
#[test]
fn a_signal_retry_on_does_not_handle_still_stops_the_attempt() {
    for signal in [
        nix::sys::signal::Signal::SIGUSR1,
        nix::sys::signal::Signal::SIGUSR2,
        nix::sys::signal::Signal::SIGALRM,
    ] {
        let dir = tempdir();
        let marker = dir.path().join("survived");
        let body = format!("echo $$; sleep 3; touch '{}'", marker.display());
        let child = script(dir.path(), "slow", &body);
        let mut run = start(&[child.to_str().unwrap()], std::process::Stdio::null());
        let pid = pids(&run.stdout.wait_for(|_| true, BOUND));
        run.signal(signal);
        let status = run.wait(BOUND);
        assert_eq!(shell_code(status), 128 + signal as i32, "{signal}");
        // Once the script is gone, nothing can write the marker any more.
        assert!(all_gone(&pid, BOUND), "the attempt outlived retry-on after {signal}");
        assert!(!marker.exists(), "the attempt ran on after {signal}");
    }
}

/// `timeout -s KILL 0.5 retry-on -- sh -c 'sleep 2; echo survived > f'`
/// wrote the file: SIGKILL cannot be caught, so the command must die with
/// retry-on by itself.
#[test]
fn the_command_dies_with_a_sigkilled_retry_on() {
    let dir = tempdir();
    let marker = dir.path().join("survived");
    let body = format!("echo $$; sleep 2; touch '{}'", marker.display());
    let child = script(dir.path(), "slow", &body);
    let mut run = start(&[child.to_str().unwrap()], std::process::Stdio::null());
    let pid = pids(&run.stdout.wait_for(|_| true, BOUND));
    run.signal(nix::sys::signal::Signal::SIGKILL);
    run.wait(BOUND);
    // Within the 2 s the script sleeps: it must die with retry-on, not finish.
    assert!(
        all_gone(&pid, Duration::from_millis(1500)),
        "the command outlived a SIGKILLed retry-on"
    );
    assert!(!marker.exists());
}

/// A lock file in a new directory, held by this test until the file drops.
fn held_lock() -> (tempfile::TempDir, std::path::PathBuf, std::fs::File) {
    let dir = tempdir();
    let lock = dir.path().join("lock");
    let holder = std::fs::File::create(&lock).unwrap();
    holder.lock().unwrap();
    (dir, lock, holder)
}

/// `--lock-timeout 0` said "within 1ms"; it means "try once, do not wait".
#[test]
fn lock_timeout_zero_says_it_did_not_wait() {
    let (_dir, lock, _holder) = held_lock();
    retry_on()
        .arg("--lock")
        .arg(&lock)
        .args(["--lock-timeout", "0", "--", "true"])
        .timeout(BOUND)
        .assert()
        .code(125)
        .stderr(contains("--lock-timeout 0 does not wait"))
        .stderr(contains("within").not());
}

/// `--max-time` running out while waiting for the lock used the
/// lock-timeout message, and a signal there said "while waiting to retry".
#[test]
fn the_lock_wait_says_what_ended_it() {
    let (_dir, lock, _holder) = held_lock();
    retry_on()
        .arg("--lock")
        .arg(&lock)
        .args(["--max-time", "300ms", "--", "true"])
        .timeout(BOUND)
        .assert()
        .code(124)
        .stderr(contains("deadline passed while waiting for the lock"));
    let mut run = start(
        &["-v", "--lock", lock.to_str().unwrap(), "--", "true"],
        std::process::Stdio::null(),
    );
    run.stderr.wait_for(|line| line.contains("waiting for the lock"), BOUND);
    run.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(shell_code(run.wait(BOUND)), 143);
    run.stderr
        .wait_for(|line| line.contains("while waiting for the lock"), BOUND);
}

/// `-e 141 -- sh -c 'kill -PIPE $$'` was not retried and said "its output
/// was closed", though retry-on's own output was fine.
#[test]
fn a_sigpipe_death_is_retried_when_retry_on_s_output_is_fine() {
    let out = retry_on()
        .args(["-e", "141", "-n", "3", "-d", "1ms", "--", "sh", "-c", "kill -PIPE $$"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(shell_code(out.status), 141, "{stderr}");
    assert!(
        stderr.contains("attempt 3/3 failed (killed by SIGPIPE); giving up: no attempts left"),
        "{stderr}"
    );
    assert!(!stderr.contains("output was closed"), "{stderr}");
}

/// `printf boom >&2; exit 3` gave `boomretry-on: attempt 1/2 …`, and in
/// JSON mode a line that was not JSON.
#[test]
fn retry_on_s_own_line_starts_on_a_new_line_after_an_unfinished_one() {
    let args = [
        "-p",
        "boom",
        "-n",
        "2",
        "-d",
        "1ms",
        "--",
        "sh",
        "-c",
        "printf boom >&2; exit 3",
    ];
    let out = retry_on().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "boom\nretry-on: attempt 1/2 failed (exit 3, matched \"boom\"); retrying in 1ms\n\
         boom\nretry-on: attempt 2/2 failed (exit 3); giving up: no attempts left\n"
    );
    let out = retry_on().arg("--log-format=json").args(args).output().unwrap();
    for line in String::from_utf8_lossy(&out.stderr).lines().filter(|l| *l != "boom") {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

/// The last JSON event of a run, checked against how the run ended.
fn last_event(out: &std::process::Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
        .collect();
    let last = events
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no event in {stderr:?}"));
    assert!(last["event"] == "give_up" || last["event"] == "success", "{stderr}");
    assert_eq!(last["exit_code"], shell_code(out.status), "{stderr}");
    last
}

/// In JSON mode, "command not found", "cannot run" and the lock timeout were
/// text lines, a spawn failure had no `give_up`, and a timed-out run's
/// `give_up` said 143 where retry-on exited 124.
#[test]
fn the_json_log_ends_every_run_with_the_exit_code_it_exits_with() {
    let dir = tempdir();
    let not_executable = dir.path().join("not-executable");
    std::fs::write(&not_executable, "echo hi\n").unwrap();
    let (_lock_dir, lock, _holder) = held_lock();
    let runs: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--", "no-such-command-anywhere"], "cannot_run"),
        (vec!["--", not_executable.to_str().unwrap()], "cannot_run"),
        (
            vec!["--lock", lock.to_str().unwrap(), "--lock-timeout", "0", "--", "true"],
            "lock_timeout",
        ),
        (vec!["-t", "100ms", "-n", "1", "--", "sleep", "5"], "attempts_exhausted"),
        (
            vec!["-n", "2", "-d", "1ms", "--", "sh", "-c", "exit 3"],
            "attempts_exhausted",
        ),
        (vec!["--", "true"], ""),
    ];
    for (args, reason) in runs {
        let out = retry_on()
            .arg("--log-format=json")
            .args(&args)
            .timeout(BOUND)
            .output()
            .unwrap();
        let last = last_event(&out);
        if !reason.is_empty() {
            assert_eq!(last["reason"], reason, "{args:?}");
        }
    }
}

/// With `-p`, stderr passed through retry-on and stdout did not, so
/// `>log 2>&1` got the command's writes out of order.
#[test]
fn two_to_one_keeps_the_order_of_the_command_s_writes() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let file = std::fs::File::create(&log).unwrap();
    // 5 MB of stderr is more than a pipe holds, so a stderr that lags
    // behind stdout would show.
    let body = "head -c 5000000 /dev/zero | tr '\\0' e >&2; echo; echo OUT; echo ERR-END >&2; exit 3";
    let status = isolated(BIN)
        .args(["-p", "ERR-END", "-n", "2", "-d", "1ms", "--", "sh", "-c", body])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let text = std::fs::read_to_string(&log).unwrap();
    let one = format!("{}\nOUT\nERR-END\n", "e".repeat(5_000_000));
    let retried = "retry-on: attempt 1/2 failed (exit 3, matched \"ERR-END\"); retrying in 1ms\n";
    let gave_up = "retry-on: attempt 2/2 failed (exit 3); giving up: no attempts left\n";
    assert!(
        text == format!("{one}{retried}{one}{gave_up}"),
        "out of order: OUT at {:?}",
        text.find("OUT")
    );
}

/// The same through one pipe (`2>&1 | …`): `-p` and `--stdout-pattern`
/// then both match the lines of that one stream.
#[test]
fn stdout_and_stderr_as_one_pipe_are_one_stream_for_the_patterns() {
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = isolated(BIN)
        .args([
            "-p",
            "^out-line$",
            "-n",
            "2",
            "-d",
            "1ms",
            "--",
            "sh",
            "-c",
            "echo err-line >&2; echo out-line; exit 3",
        ])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut { reader }, &mut text).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(3));
    assert!(
        text.starts_with("err-line\nout-line\nretry-on: attempt 1/2 failed (exit 3, matched \"out-line\")"),
        "{text}"
    );
}

/// With `--hold-stdout`, TERM, INT or HUP during the wait left stdout empty,
/// though the attempt that ran last is then the final one.
#[test]
fn a_signal_during_the_wait_writes_the_held_stdout() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        let args = [
            "--hold-stdout",
            "-d",
            "30s",
            "--",
            "sh",
            "-c",
            "echo held-output; exit 1",
        ];
        let mut run = start(&args, std::process::Stdio::null());
        run.stderr.wait_for(|line| line.contains("retrying in 30s"), BOUND);
        run.signal(signal);
        assert_eq!(shell_code(run.wait(BOUND)), 128 + signal as i32);
        assert_eq!(run.stdout.all(BOUND), vec!["held-output"], "{signal}");
    }
}

/// With `--hold-stdout`, a reader that had gone away still gave exit 0.
#[test]
fn held_stdout_into_a_closed_pipe_ends_as_a_closed_output() {
    let dir = tempdir();
    let go = dir.path().join("go");
    let body = format!(
        "while [ ! -e '{}' ]; do sleep 0.01; done; echo held-output",
        go.display()
    );
    let mut child = isolated(BIN)
        .args(["--hold-stdout", "--", "sh", "-c", &body])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    std::fs::write(&go, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(shell_code(out.status), 141, "{stderr}");
    assert!(stderr.contains("its output was closed"), "{stderr}");
}

/// A background process that wrote to the piped stream after the command
/// exited lost its output, and died of SIGPIPE, once the 100 ms drain was over.
#[test]
fn a_background_writer_is_passed_on_during_the_wait() {
    let dir = tempdir();
    let go = dir.path().join("go");
    let body = format!(
        "(while [ ! -e '{}' ]; do sleep 0.01; done; echo late-line >&2) & echo first >&2; exit 3",
        go.display()
    );
    let args = ["-p", "first", "-n", "2", "-d", "1m", "--", "sh", "-c", &body];
    let mut run = start(&args, std::process::Stdio::null());
    run.stderr.wait_for(|line| line.contains("retrying in 1m"), BOUND);
    // The attempt is over, the wait has begun: now the background process
    // writes, and its line must come out well before the next attempt.
    std::fs::write(&go, "").unwrap();
    run.stderr.wait_for(|line| line == "late-line", Duration::from_secs(20));
    run.signal(nix::sys::signal::Signal::SIGTERM);
    run.wait(BOUND);
}

/// Runs retry-on through `sh` with a file-size limit of 1 MiB, so that its
/// temporary spool file cannot grow, and /usr/bin/time to report its peak
/// memory; returns the output and the peak in KiB.
fn under_a_file_size_limit(args: &str, stdin: std::process::Stdio) -> (std::process::Output, u64) {
    let line = format!("ulimit -f 2048; exec /usr/bin/time -f 'peak-kib=%M' {BIN} {args}");
    let out = isolated("sh").args(["-c", &line]).stdin(stdin).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-kib="))
        .unwrap_or_else(|| panic!("no peak from /usr/bin/time in {stderr}"))
        .parse()
        .unwrap();
    (out, peak)
}

/// `--hold-stdout` with a temporary file that could not grow held
/// everything in memory, until the kernel killed retry-on.
#[test]
fn held_stdout_that_cannot_spill_is_written_and_the_rest_passed_through() {
    let (out, peak) = under_a_file_size_limit(
        "--hold-stdout -- sh -c 'head -c 67108864 /dev/zero'",
        std::process::Stdio::null(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(out.stdout.len(), 64 << 20, "{stderr}");
    assert!(out.stdout.iter().all(|b| *b == 0));
    assert!(
        stderr.contains("its stdout could not be held (File too large"),
        "{stderr}"
    );
    assert!(peak < 16 * 1024, "peak memory {peak} KiB");
}

/// Stdin that could not be spooled was held in memory without bound; now
/// the attempt gets it all, and no retry is made without it.
#[test]
fn stdin_that_cannot_be_kept_is_given_whole_to_one_attempt_and_not_retried() {
    let dir = tempdir();
    let input = dir.path().join("input");
    let writer = isolated("sh")
        .args(["-c", &format!("head -c 33554432 /dev/zero > '{}'", input.display())])
        .status()
        .unwrap();
    assert!(writer.success());
    // Through a pipe, so that it must be spooled to be replayed.
    let mut feeder = isolated("cat")
        .arg(&input)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (out, peak) = under_a_file_size_limit(
        "-n 3 -d 1ms -- sh -c 'wc -c >&2; exit 1'",
        feeder.stdout.take().unwrap().into(),
    );
    feeder.wait().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("33554432"), "the attempt got all of stdin: {stderr}");
    assert!(
        stderr.contains(
            "attempt 1/3 failed (exit 1); not retrying: stdin could not be kept for another attempt (File too large"
        ),
        "{stderr}"
    );
    assert!(peak < 16 * 1024, "peak memory {peak} KiB");
}
