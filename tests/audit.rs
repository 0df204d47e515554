//! Regression tests for what an adversarial audit of the edges (issue 10)
//! found still broken: each is named after what broke, and fails on the
//! code before its fix.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod procfs;
}

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::child::{start, wait_bounded};
use common::command::{BIN, isolated, tempdir};
use common::exit::shell_code;
use common::procfs::{all_gone, pids};

/// How long anything may take before a test calls it a hang. Generous: the
/// machine is small and shared.
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

/// The end of a long text, for a message.
fn tail(text: &str) -> &str {
    let start = text.char_indices().rev().nth(300).map_or(0, |(i, _)| i);
    &text[start..]
}

/// Runs `line` with `sh -c` under /usr/bin/time; returns the output, with
/// the peak memory in KiB taken out of its stderr.
fn with_peak_memory(line: &str) -> (std::process::Output, u64) {
    let mut out = isolated("sh")
        .args([
            "-c",
            &line.replace("retry-on", &format!("/usr/bin/time -f peak-kib=%M {BIN}")),
        ])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-kib="))
        .unwrap_or_else(|| panic!("no peak from /usr/bin/time in {:?}", tail(&stderr)))
        .parse()
        .unwrap();
    out.stderr = stderr
        .lines()
        .filter(|l| !l.starts_with("peak-kib=") && !l.starts_with("Command exited"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes();
    (out, peak)
}

/// A background process that holds the piped stderr open on every attempt
/// left a task with a 128 KiB buffer and a descriptor per attempt: memory
/// and descriptors grew without bound, and with `ulimit -n 30` the run ended
/// "cannot run "sh": Too many open files", 126, blaming the command.
#[test]
fn pipes_left_open_by_background_processes_are_bounded() {
    let (out, peak) = with_peak_memory(
        "ulimit -n 30; exec retry-on -p x -n 40 -d 1ms -b constant -- sh -c 'sleep 10 & echo x >&2; exit 3'",
    );
    let stderr = text(&out.stderr);
    assert_eq!(shell_code(out.status), 3, "{stderr}");
    assert!(stderr.contains("attempt 40/40 failed (exit 3); giving up"), "{stderr}");
    assert!(peak < 16 * 1024, "peak memory {peak} KiB");
}

/// Out of descriptors, retry-on said "cannot run "sh": Too many open
/// files" and exited 126, as if the command could not be executed; with
/// fewer still, tokio's signal driver panicked (101), and a stdin to replay
/// could be given to the command empty. Under every limit the run is now
/// either whole or retry-on's own failure (125), with the reason; some limit
/// is low enough for the spawn itself to fail.
#[test]
fn running_out_of_descriptors_is_retry_on_s_own_failure() {
    let mut spawn_failed = false;
    for limit in 4..40 {
        let line = format!("echo in | {{ ulimit -n {limit}; exec {BIN} -p x -n 2 -- cat; }}");
        let out = isolated("sh").args(["-c", &line]).output().unwrap();
        let stderr = text(&out.stderr);
        match shell_code(out.status) {
            0 => assert_eq!(text(&out.stdout), "in\n", "limit {limit}: {stderr}"),
            125 => {
                assert!(stderr.contains("Too many open files"), "limit {limit}: {stderr}");
                spawn_failed |= stderr.contains("cannot start \"cat\": retry-on ran out of resources");
            }
            code => panic!("limit {limit}: exit {code}: {stderr}"),
        }
    }
    assert!(spawn_failed, "no limit made the spawn itself fail");
}

/// `size` bytes of one line, which a pathological pattern takes minutes to
/// search (far longer in a debug build), written to a file in `dir`.
fn slow_to_scan(dir: &std::path::Path, size: usize) -> std::path::PathBuf {
    let long_line = dir.join("long-line");
    std::fs::write(&long_line, vec![b'y'; size]).unwrap();
    long_line
}

/// With a slow scanner, waiting for a spare buffer (and then for the scan
/// thread) blocked the runtime's one thread: `-t 2s` went unheeded, as did
/// TERM and INT, for as long as matching took (over 40 s).
#[test]
fn a_slow_scanner_does_not_hold_up_the_timeout() {
    let dir = tempdir();
    let started = Instant::now();
    let (out, peak) = with_peak_memory(&format!(
        "exec timeout -s KILL 50 retry-on -n 1 -t 2s -p 'y{{10000}}Z' -- sh -c \"cat '{}' >&2; sleep 10\"",
        slow_to_scan(dir.path(), 2_000_000).display()
    ));
    assert_eq!(shell_code(out.status), 124);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(peak < 16 * 1024, "peak memory {peak} KiB");
}

/// The same for a signal: TERM while the scanner is far behind ends the run
/// at once, as it does when matching keeps up. (The line fits in the pipe
/// and the scanner's buffers, so that the command gets to say `written`.)
#[test]
fn a_slow_scanner_does_not_hold_up_a_signal() {
    let dir = tempdir();
    let body = format!(
        "cat '{}' >&2; echo written; sleep 10",
        slow_to_scan(dir.path(), 1_000_000).display()
    );
    let mut run = start(&["-n", "1", "-p", "y{10000}Z", "--", "sh", "-c", &body], Stdio::null());
    run.stdout.wait_for(|line| line == "written", BOUND);
    let sent = Instant::now();
    run.signal(nix::sys::signal::Signal::SIGTERM);
    let status = wait_bounded(&mut run.child, Duration::from_secs(20));
    assert_eq!(shell_code(status), 143);
    assert!(sent.elapsed() < Duration::from_secs(10), "took {:?}", sent.elapsed());
}

/// Without `-p`, the command writes to stderr directly, and retry-on's own
/// line was glued to its unfinished last line: `boomretry-on: attempt 1/2
/// failed…` in a log file, and in JSON mode `boom{"…` on a pipe, which is
/// not JSON. A file is read back; in JSON mode a pipe is passed through.
#[test]
fn retry_on_s_own_line_starts_on_a_new_line_when_stderr_is_not_passed_through() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let args = [
        "-n",
        "2",
        "-d",
        "1ms",
        "--",
        "sh",
        "-c",
        "printf boom >&2; printf out; exit 3",
    ];
    let file = std::fs::File::create(&log).unwrap();
    let status = isolated(BIN).args(args).stderr(file).status().unwrap();
    assert_eq!(status.code(), Some(3));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "boom\nretry-on: attempt 1/2 failed (exit 3); retrying in 1ms\n\
         boom\nretry-on: attempt 2/2 failed (exit 3); giving up: no attempts left\n"
    );
    // `>log 2>&1`: one file, one offset.
    let file = std::fs::File::create(&log).unwrap();
    let status = isolated(BIN)
        .args(args)
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("boomout\nretry-on: attempt 1/2 failed"), "{text}");

    let out = isolated(BIN).arg("--log-format=json").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().filter(|line| *line == "boom").count(), 2, "{stderr}");
    for line in stderr.lines().filter(|line| *line != "boom") {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    }
}

/// With `--log-format json`, a value clap refused (`-n abc`) was a text
/// message, where a bad regex or config file is a JSON `give_up`; with
/// `github`, no workflow command. Clap's message is kept whole.
#[test]
fn a_command_line_that_does_not_parse_is_reported_in_the_format_it_asked_for() {
    for format in [["--log-format=json"].as_slice(), &["--log-format", "json"]] {
        let out = isolated(BIN)
            .args(format)
            .args(["-n", "abc", "--", "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        let stderr = text(&out.stderr);
        let event: serde_json::Value =
            serde_json::from_str(stderr.trim_end()).unwrap_or_else(|e| panic!("{stderr:?}: {e}"));
        assert_eq!(event["event"], "give_up");
        assert_eq!(event["exit_code"], 125);
        assert_eq!(event["attempt"], 0);
        let message = event["message"].as_str().unwrap();
        assert!(
            message.starts_with("error: invalid value 'abc' for '--attempts <N>'"),
            "{message}"
        );
    }
    let out = isolated(BIN)
        .args(["--log-format", "github", "-n", "abc", "--", "true"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("::error title=retry-on::error: invalid value 'abc'"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The command's own `--log-format` is not retry-on's.
    let out = isolated(BIN)
        .args(["-n", "abc", "--", "x", "--log-format=json"])
        .output()
        .unwrap();
    assert!(text(&out.stderr).starts_with("error: invalid value 'abc'"));
}

/// `--check -x` (and `--on-retry --x`, `--on-giveup -x`) said "unexpected
/// argument '-x'… tip: to pass '-x' as a value, use '-- -x'", which is wrong:
/// `--` ends retry-on's options. A hook is a shell command, and may begin
/// with `-`; `-c -x.toml`, `-P -x` and `--kill-signal -TERM` are refused
/// naming the flag or the value.
#[test]
fn a_value_that_begins_with_a_dash_is_the_flag_s_value() {
    for hook in ["--check", "--on-retry", "--on-giveup"] {
        let out = isolated(BIN)
            .args(["-n", "1", hook, "-x", "--", "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{hook}: {}", text(&out.stderr));
        // `--` is no command: the hook was left out.
        let out = isolated(BIN).args([hook, "--", "true"]).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{hook}");
        assert!(text(&out.stderr).contains(&format!("invalid value '--' for '{hook} <CMD>'")));
    }
    for (args, named) in [
        (["-c", "-x.toml"], "-x.toml"),
        (["-P", "-x"], "\"-x\""),
        (["--kill-signal", "-TERM"], "'-TERM' for '--kill-signal <SIG>'"),
        (["-b", "-x"], "'-x' for '--backoff <KIND>'"),
    ] {
        let out = isolated(BIN).args(args).args(["--", "true"]).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {stderr}");
        assert!(stderr.contains(named) && !stderr.contains("tip:"), "{args:?}: {stderr}");
    }
}

/// A NUL byte in `lock`, `check`, `on_retry` or `on_giveup` in a config file
/// was taken, and failed only when used (the check after the command had
/// run), naming no file, line or key, and the lock's message wrote the NUL
/// itself to stderr.
#[test]
fn a_nul_byte_in_a_config_file_is_refused_where_it_was_written() {
    let dir = tempdir();
    for key in ["lock", "check", "on_retry", "on_giveup"] {
        let marker = dir.path().join("ran");
        let body = format!("[defaults]\nattempts = 2\n{key} = \"a\\u0000b\"\n");
        let (config, out) = with_config(dir.path(), &body, &["--", "touch", marker.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{key}: {stderr:?}");
        let place = format!(
            "config {}, line 3, column {}, key {key}: ",
            config.display(),
            key.len() + 4
        );
        assert!(
            stderr.contains(&place) && stderr.contains("NUL byte"),
            "{key}: {stderr:?}"
        );
        assert!(!out.stderr.contains(&0), "{key}: the NUL itself was written");
        assert!(!marker.exists(), "{key}: the command ran");
    }
}

/// Runs retry-on with `-c` and a config file in `dir` that holds `body`;
/// returns the file's path and the output.
fn with_config(dir: &std::path::Path, body: &str, args: &[&str]) -> (std::path::PathBuf, std::process::Output) {
    let config = dir.join("c.toml");
    std::fs::write(&config, body).unwrap();
    let out = isolated(BIN).arg("-c").arg(&config).args(args).output().unwrap();
    (config, out)
}

/// `-p ""` and `patterns = [""]` silently matched every line.
#[test]
fn an_empty_pattern_is_refused_naming_where_it_was() {
    let out = isolated(BIN).args(["-p", "", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "retry-on: empty pattern \"\" in --pattern: it would match every line\n"
    );
    let dir = tempdir();
    let (config, out) = with_config(dir.path(), "[defaults]\nabort_on = [\"x\", \"\"]\n", &["--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let place = format!(
        "config {}, line 2, column 18, key abort_on: empty pattern",
        config.display()
    );
    assert!(text(&out.stderr).contains(&place), "{}", text(&out.stderr));
}

/// `quiet` and `verbose` were both taken from one config file, where `-q`
/// and `-v` conflict; and `-v` lost to a `[defaults]` `quiet = true`.
#[test]
fn quiet_and_verbose_are_one_choice() {
    let dir = tempdir();
    let (_, out) = with_config(
        dir.path(),
        "[profile.p]\nquiet = true\nverbose = true\n",
        &["--", "true"],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).contains("[profile.p]: quiet and verbose are both true"));
    let (_, out) = with_config(dir.path(), "[defaults]\nquiet = true\n", &["-v", "--", "true"]);
    assert!(
        text(&out.stderr).contains("attempt 1/5: running true"),
        "{}",
        text(&out.stderr)
    );
}

/// A `--retry-after` line that asked for more than 100 years was ignored
/// (the scheduled wait was kept), where an hour was capped at `--max-delay`.
#[test]
fn a_wait_asked_for_past_a_hundred_years_is_capped_not_ignored() {
    let out = isolated(BIN)
        .args([
            "--retry-after",
            r"wait (\S+)",
            "-n",
            "2",
            "-d",
            "1ms",
            "--max-delay",
            "50ms",
            "--",
        ])
        .args(["sh", "-c", "echo 'wait 101y' >&2; exit 1"])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("retrying in 50ms (the output asked for 100years)"),
        "{stderr}"
    );
}

/// ABRT, SYS, TRAP, FPE, ILL and the realtime signals sent to retry-on by
/// another process ended it and left the command's children running (the
/// command itself died of PR_SET_PDEATHSIG); SEGV and BUS were swallowed by
/// Rust's stack-overflow handler, and XFSZ because retry-on ignored it, and
/// the command ran on. Each is now forwarded, as TERM is: nothing of the
/// attempt outlives it, and retry-on ends as the command did.
#[test]
fn any_signal_another_process_sends_stops_the_attempt_and_its_children() {
    use nix::sys::signal::Signal;
    let realtime = [nix::libc::SIGRTMIN() + 1, nix::libc::SIGRTMAX()];
    let standard = [
        Signal::SIGABRT,
        Signal::SIGSYS,
        Signal::SIGTRAP,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGXFSZ,
    ];
    for number in standard.map(|s| s as i32).into_iter().chain(realtime) {
        let dir = tempdir();
        let marker = dir.path().join("outlived");
        let body = format!("(sleep 2; touch '{}') & echo $$ $!; wait", marker.display());
        let mut run = start(&["-n", "3", "--", "sh", "-c", &body], Stdio::null());
        let attempt = pids(&run.stdout.wait_for(|_| true, BOUND));
        // SAFETY: kill takes plain numbers.
        assert_eq!(unsafe { nix::libc::kill(run.pid(), number) }, 0);
        let status = run.wait(BOUND);
        assert_eq!(shell_code(status), 128 + number, "signal {number}");
        assert!(
            all_gone(&attempt, BOUND),
            "signal {number}: the attempt outlived retry-on"
        );
        assert!(!marker.exists(), "signal {number}: a child of the command ran on");
        let stderr = run.stderr.all(BOUND).join("\n");
        assert!(
            stderr.contains("attempt 1/3 interrupted by SIG"),
            "signal {number}: {stderr}"
        );
    }
}

/// `--kill-signal RTMIN+1` and `--kill-signal 34` were refused; GNU
/// `timeout` takes them.
#[test]
fn a_realtime_kill_signal_is_taken() {
    let first = nix::libc::SIGRTMIN().to_string();
    for signal in ["RTMIN+1", "SIGRTMAX-2", first.as_str()] {
        let out = isolated(BIN)
            .args(["-n", "1", "-t", "200ms", "--kill-signal", signal, "--", "sleep", "5"])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(124), "{signal}: {stderr}");
        assert!(stderr.contains("timed out, killed by SIGRTM"), "{signal}: {stderr}");
    }
}

/// A reader of retry-on's stderr that takes 16 KiB every 50 ms, writing
/// what it read to its stdout; `sh -c` line with retry-on's stderr into it.
fn through_a_slow_reader(retry_on: &str) -> std::process::Output {
    let reader = "import sys, time\n\
        while True:\n    \
            chunk = sys.stdin.buffer.read(16384)\n    \
            if not chunk: break\n    \
            sys.stdout.buffer.write(chunk); time.sleep(0.05)\n";
    let line = format!("{retry_on} 2>&1 >/dev/null | python3 -c '{reader}'; exit ${{PIPESTATUS[0]}}");
    isolated("bash").args(["-c", &line]).output().unwrap()
}

/// A command that wrote 900 KB to stderr and exited 0 at once, behind a
/// slow reader of retry-on's stderr: passing it on took 3 s, and the scan
/// of what was passed on, though through each chunk in microseconds, was
/// "abandoned" 1 s after the 1 s limit. The attempt counted as timed out
/// and was run again, three times in all, and the run exited 124.
#[test]
fn a_successful_command_whose_output_drains_slowly_is_not_timed_out() {
    let out = through_a_slow_reader(&format!(
        "{BIN} -n 3 -d 1ms --timeout 1s -p never -- sh -c 'head -c 900000 /dev/zero >&2; exit 0'"
    ));
    let passed = out.stdout.iter().filter(|byte| **byte == 0).count();
    let said = text(&out.stdout).replace('\0', "");
    assert_eq!((shell_code(out.status), passed), (0, 900_000), "{said}");
    assert_eq!(said, "", "retry-on said something of a successful attempt");
}

/// With `--hold-stdout`, what a background process of a failed attempt
/// wrote to stdout after its attempt ended was passed through, in the
/// middle of the final attempt's output, which alone is to be written.
#[test]
fn a_failed_attempt_s_background_stdout_is_not_written_with_hold_stdout() {
    let dir = tempdir();
    let at = |name: &str| dir.path().join(name).display().to_string();
    let (second, written) = (at("second"), at("written"));
    // Each waits for the other's file, for a minute at most.
    let wait_for = |file: &str| format!("i=0; until [ -e {file} ] || [ $i -ge 6000 ]; do sleep 0.01; i=$((i+1)); done");
    let body = format!(
        "if [ \"$RETRY_ON_ATTEMPT\" = 1 ]; then \
            ({}; echo partial; touch {written}) & \
            echo first; exit 1; \
         fi; \
         touch {second}; {}; echo final",
        wait_for(&second),
        wait_for(&written),
    );
    let out = isolated(BIN)
        .args(["-n", "2", "-d", "1ms", "--hold-stdout", "--", "sh", "-c", &body])
        .output()
        .unwrap();
    assert_eq!(shell_code(out.status), 0, "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "final\n");
}

/// `>>log 2>>log`: two descriptors, both appending. retry-on read back the
/// byte before its stderr's own offset, which the stdout descriptor had
/// appended past, and so glued its line to the command's last line:
/// `boom\noutretry-on: attempt 1/2 failed…`.
#[test]
fn retry_on_s_own_line_starts_on_a_new_line_in_a_file_opened_for_appending() {
    let dir = tempdir();
    let log = dir.path().join("log");
    let line = format!(
        "{BIN} -n 2 -d 1ms -- sh -c 'echo boom >&2; printf out; exit 3' >>'{0}' 2>>'{0}'",
        log.display()
    );
    let status = isolated("sh").args(["-c", &line]).status().unwrap();
    assert_eq!(shell_code(status), 3);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "boom\nout\nretry-on: attempt 1/2 failed (exit 3); retrying in 1ms\n\
         boom\nout\nretry-on: attempt 2/2 failed (exit 3); giving up: no attempts left\n"
    );
}

/// A bad regex was reported in four lines (the parser's picture of the
/// pattern, with a caret), which `--log-format github` turned into one
/// annotation full of `%0A`: now one line says what is wrong and where.
#[test]
fn a_bad_regex_is_reported_in_one_line() {
    let out = isolated(BIN).args(["-p", "a(b", "--", "true"]).output().unwrap();
    assert_eq!(shell_code(out.status), 125);
    assert_eq!(
        text(&out.stderr),
        "retry-on: invalid regex \"a(b\" in --pattern: unclosed group, at character 2\n"
    );
}

/// `--explain --list-profiles`, `--generate man --explain`: one action ran
/// and the other was dropped without a word.
#[test]
fn two_actions_at_once_are_refused() {
    for args in [
        &["--explain", "--list-profiles"][..],
        &["--generate", "man", "--explain"],
        &["--generate", "man", "--list-profiles"],
    ] {
        let out = isolated(BIN).args(args).output().unwrap();
        assert_eq!(shell_code(out.status), 125, "{args:?}");
        assert!(text(&out.stderr).contains("cannot be used with"), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

/// `-e 0` was taken, though an attempt that exits 0 is never retried: it
/// matched nothing, and turned off "retry any failure".
#[test]
fn exit_code_0_is_refused_as_a_retry_condition() {
    let out = isolated(BIN).args(["-e", "0", "--", "false"]).output().unwrap();
    assert_eq!(shell_code(out.status), 125);
    assert!(text(&out.stderr).contains("0 is success, which is never retried"));
}

/// `2>/dev/stdout` into a pipe opens the pipe a second time: a new open
/// file, which the "one stream" check (kcmp) took for another output, so
/// with `-p` the command's stdout and stderr were no longer in its order.
#[test]
fn stderr_opened_again_on_the_stdout_pipe_keeps_the_command_s_order() {
    let body = "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";
    let line = format!("{BIN} -n 1 -p XYZ -- sh -c '{body}' 2>/dev/stdout | cat");
    let out = isolated("bash").args(["-c", &line]).output().unwrap();
    let expected: String = (0..200).map(|i| format!("out{i}\nerr{i}\n")).collect();
    assert_eq!(text(&out.stdout), expected);
}

/// `retry-on -- cmd >&-`: Rust's runtime opens /dev/null on a closed
/// standard descriptor, and the command inherited that, so `echo hi >&-`
/// succeeded with its output lost, where alone (and under GNU `timeout`)
/// it fails. Each closed descriptor now reaches the command closed.
#[test]
fn a_closed_standard_descriptor_reaches_the_command_closed() {
    let probe =
        "for fd in 0 1 2; do [ -e /proc/self/fd/$fd ] && echo \"$fd open\" >&3 || echo \"$fd closed\" >&3; done";
    for close in ["<&-", ">&-", "2>&-"] {
        let run = |prefix: &str| {
            let line = format!("{{ {prefix} sh -c '{probe}' {close}; }} 3>&1");
            text(&isolated("bash").args(["-c", &line]).output().unwrap().stdout)
        };
        let alone = run("");
        assert!(alone.contains("closed"), "{close}: {alone}");
        assert_eq!(run(&format!("{BIN} -n 2 --")), alone, "{close}");
    }
}

/// `-p $'\xff'` said only "invalid UTF-8 was detected in one or more
/// arguments": not which, nor how to match such a byte.
#[test]
fn an_argument_that_is_not_utf8_is_named() {
    use std::os::unix::ffi::OsStrExt;
    let lock = std::ffi::OsStr::from_bytes(b"/tmp/retry-on-\xfe");
    let bad = std::ffi::OsStr::from_bytes(b"a\xff");
    let out = isolated(BIN)
        .arg("--lock")
        .arg(lock)
        .arg("-p")
        .arg(bad)
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(shell_code(out.status), 125);
    assert_eq!(
        text(&out.stderr),
        "error: argument 4 (the value of -p) is not UTF-8: \"a\\xff\"; retry-on's options take text \
         (a pattern matches any byte as (?-u)\\xFF)\n"
    );
}
