//! Process supervision (issue 3): timeouts, process trees, pipes held by
//! grandchildren, signals, stdin replay, --hold-stdout, broken pipes,
//! --lock, and hygiene over many attempts. Every test runs the real binary
//! and synchronises on lines its child prints, never on fixed sleeps.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alive, pids, retry_on, retry_on_std, shell_code, start};
use nix::sys::signal::Signal;

/// How long anything may take before a test calls it a hang. Generous: the
/// machine is small and shared.
const BOUND: Duration = Duration::from_secs(30);
/// What "promptly" means when retry-on must not wait for something slow.
const PROMPT: Duration = Duration::from_secs(3);

fn code(output: &std::process::Output) -> i32 {
    shell_code(output.status)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `pipe:[inode]`, as /proc/PID/fd shows the pipe that `fd` is an end of.
fn pipe_name(fd: impl AsFd) -> String {
    let stat = nix::sys::stat::fstat(fd.as_fd()).unwrap();
    format!("pipe:[{}]", stat.st_ino)
}

/// A child script that traps `signal`, prints `ready PID`, and waits; on the
/// signal it prints `got SIGNAL`, stops its background sleep and exits `code`.
/// (A background job of a non-interactive sh ignores INT and QUIT, so the
/// trap stops it itself.)
fn trapping(signal: &str, code: i32) -> String {
    format!(
        "sleep 60 & pid=$!\n\
         trap 'echo got {signal}; kill $pid 2>/dev/null; exit {code}' {signal}\n\
         echo \"ready $$\"\n\
         wait"
    )
}

// ---------------------------------------------------------------------------
// Per-attempt timeout

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
    common::kill_all(&[first, second].concat());

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

#[test]
fn kill_signal_int_reaches_the_command() {
    // The timeout is long enough for sh to set its trap first.
    let script = "trap 'echo got INT; exit 0' INT\necho ready\nwhile :; do sleep 0.1; done";
    let output = retry_on()
        .args(["-n", "1", "-t", "2s", "--kill-signal", "INT", "--", "sh", "-c", script])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124, "{output:?}");
    assert_eq!(text(&output.stdout), "ready\ngot INT\n");
}

#[test]
fn kill_signal_reaches_every_process_of_the_group() {
    let grandchild = "trap 'echo grandchild got USR1; exit 0' USR1; while :; do sleep 0.1; done";
    let script = format!(
        "sh -c \"{grandchild}\" &\n\
         trap 'echo child got USR1; wait; exit 0' USR1\n\
         wait"
    );
    let output = retry_on()
        .args([
            "-n",
            "1",
            "-t",
            "2s",
            "--kill-signal",
            "SIGUSR1",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124, "{output:?}");
    let stdout = text(&output.stdout);
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
    common::kill_all(&tree);
    assert!(left.is_empty(), "{left:?} outlived the --max-time stop");
    assert_eq!(shell_code(status), 124);
    let stdout = run.stdout.all(BOUND);
    assert_eq!(stdout.len(), 1, "no attempt after the deadline: {stdout:?}");
}

#[test]
fn foreground_keeps_the_command_in_retry_ons_group() {
    let script = "echo \"pid $$ group $(cut -d' ' -f5 /proc/$$/stat)\"";
    let ours = nix::unistd::getpgrp().as_raw().to_string();
    for (foreground, own_group) in [(false, true), (true, false)] {
        let mut args = vec!["-n", "1"];
        if foreground {
            args.push("--foreground");
        }
        let output = retry_on()
            .args(&args)
            .args(["--", "sh", "-c", script])
            .timeout(BOUND)
            .output()
            .unwrap();
        let line = text(&output.stdout);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.len(), 4, "{output:?}");
        if own_group {
            assert_eq!(
                words[3], words[1],
                "without --foreground the command leads its own group"
            );
        } else {
            assert_eq!(
                words[3], ours,
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
    common::kill_all(&tree);
    assert_eq!(shell_code(status), 124);
    assert!(!child, "the command was not stopped");
    assert!(background, "--foreground signalled more than the command");
}

// ---------------------------------------------------------------------------
// Grandchildren holding the pipes

/// `sh -c 'sleep 60 & echo err >&2; exit 3'`: the background sleep keeps the
/// piped stream open, and retry-on must not wait for it.
#[test]
fn a_grandchild_holding_a_pipe_does_not_hold_up_the_run() {
    let dir = common::tempdir();
    // The sleep keeps only the stream that retry-on pipes.
    for (flag, pattern, other) in [
        ("-p", "something", ">/dev/null"),
        ("--stdout-pattern", "something", "2>/dev/null"),
    ] {
        let pidfile = dir.path().join(format!("pid{flag}"));
        let script = format!(
            "sleep 60 {other} &\necho $! > '{}'\necho err >&2\necho out\nexit 3",
            pidfile.display()
        );
        let started = Instant::now();
        let output = retry_on()
            .args([flag, pattern, "--", "sh", "-c", &script])
            .timeout(BOUND)
            .output()
            .unwrap();
        let took = started.elapsed();
        let grandchild: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let held = alive(grandchild);
        common::kill_all(&[grandchild]);

        assert_eq!(code(&output), 3, "{flag}: {output:?}");
        assert!(text(&output.stderr).starts_with("err\n"), "{flag}: {output:?}");
        assert_eq!(text(&output.stdout), "out\n", "{flag}");
        assert!(took < PROMPT, "{flag}: waited {took:?} for the grandchild");
        assert!(held, "the test needs the grandchild to still be running");
    }
}

#[test]
fn a_grandchild_flooding_stderr_does_not_hold_up_the_run() {
    let dir = common::tempdir();
    let pidfile = dir.path().join("pid");
    let script = format!("yes flood >&2 &\necho $! > '{}'\nexit 3", pidfile.display());
    let started = Instant::now();
    let mut child = retry_on_std()
        .args(["-p", "something", "-n", "1", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = common::wait_bounded(&mut child, BOUND);
    let took = started.elapsed();
    let flooder: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // Once retry-on stops reading, the flooder's next write breaks its pipe.
    let stopped = common::all_gone(&[flooder], BOUND);
    common::kill_all(&[flooder]);
    assert_eq!(shell_code(status), 3);
    assert!(took < PROMPT, "kept reading the flood for {took:?}");
    assert!(stopped, "the flooder still runs after retry-on stopped reading");
}

// ---------------------------------------------------------------------------
// Signals sent to retry-on's own pid

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

// ---------------------------------------------------------------------------
// stdin

#[test]
fn piped_stdin_is_replayed_to_every_attempt() {
    let output = retry_on()
        .args([
            "-n",
            "3",
            "-d",
            "0",
            "-e",
            "1",
            "--",
            "sh",
            "-c",
            "echo \"got $(cat)\"; exit 1",
        ])
        .write_stdin("data")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{output:?}");
    assert_eq!(text(&output.stdout), "got data\ngot data\ngot data\n");
}

/// 10 MiB crosses the in-memory limit of the spool, so later attempts read
/// it back from the temporary file.
#[test]
fn large_piped_stdin_is_replayed_byte_exact_across_the_spill() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let input: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut cksum = Command::new("cksum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cksum.stdin.take().unwrap().write_all(&input).unwrap();
    let expected = text(&cksum.wait_with_output().unwrap().stdout);

    let output = retry_on()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "cksum; exit 1"])
        .write_stdin(input)
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{output:?}");
    assert_eq!(text(&output.stdout), expected.repeat(3));
}

/// Each attempt reads only part of its stdin; the next still gets it all.
#[test]
fn a_partly_read_stdin_is_replayed_from_the_start() {
    let output = retry_on()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "head -n 1; exit 1"])
        .write_stdin("one\ntwo\nthree\n")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "one\none\none\n");
}

#[test]
fn a_regular_file_on_stdin_is_rewound_to_its_starting_offset() {
    let dir = common::tempdir();
    let path = dir.path().join("input");
    std::fs::write(&path, "skipdata").unwrap();
    let mut file = File::open(&path).unwrap();
    file.seek(SeekFrom::Start(4)).unwrap();
    let script = "echo \"got $(cat) from $(readlink /proc/$$/fd/0)\"; exit 1";
    let output = retry_on_std()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", script])
        .stdin(file)
        .output()
        .unwrap();
    let line = format!("got data from {}\n", path.canonicalize().unwrap().display());
    assert_eq!(text(&output.stdout), line.repeat(3), "{output:?}");
}

#[test]
fn a_command_that_does_not_read_stdin_does_not_hang() {
    // `yes | retry-on -n 3 -- sh -c 'exit 1'`
    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let mut child = retry_on_std()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "exit 1"])
        .stdin(yes.stdout.take().unwrap())
        .spawn()
        .unwrap();
    let status = common::wait_bounded(&mut child, BOUND);
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(shell_code(status), 1);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    // A pipe that stays open and silent.
    let (reader, writer) = std::io::pipe().unwrap();
    let started = Instant::now();
    let mut child = retry_on_std()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "exit 1"])
        .stdin(reader)
        .spawn()
        .unwrap();
    let status = common::wait_bounded(&mut child, BOUND);
    drop(writer);
    assert_eq!(shell_code(status), 1);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

/// With one attempt there is nothing to replay: the command gets retry-on's
/// own stdin, as do character devices such as /dev/null.
#[test]
fn stdin_is_inherited_for_one_attempt_and_for_devices() {
    let script = "readlink /proc/$$/fd/0";
    let (reader, writer) = std::io::pipe().unwrap();
    let ours = pipe_name(&reader);
    let output = retry_on_std()
        .args(["-n", "1", "--", "sh", "-c", script])
        .stdin(reader)
        .output()
        .unwrap();
    drop(writer);
    assert_eq!(text(&output.stdout).trim(), ours, "{output:?}");

    let output = retry_on_std()
        .args([
            "-q",
            "-n",
            "2",
            "-d",
            "0",
            "--",
            "sh",
            "-c",
            &format!("{script}; exit 1"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "/dev/null\n/dev/null\n", "{output:?}");

    // A pipe with more than one attempt is replayed through a pipe of its own.
    let (reader, writer) = std::io::pipe().unwrap();
    let ours = pipe_name(&reader);
    drop(writer);
    let output = retry_on_std()
        .args(["-q", "-n", "2", "-d", "0", "--", "sh", "-c", script])
        .stdin(reader)
        .output()
        .unwrap();
    let theirs = text(&output.stdout);
    assert!(theirs.starts_with("pipe:[") && theirs.trim() != ours, "{theirs}");
}

// ---------------------------------------------------------------------------
// stdout

/// stdout is piped only for --stdout-pattern and --hold-stdout, stderr only
/// for -p and --abort-on; otherwise the command writes to retry-on's own.
#[test]
fn stdout_and_stderr_are_inherited_unless_they_must_be_piped() {
    let script = "echo \"$(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2)\"";
    let (out_reader, out_writer) = std::io::pipe().unwrap();
    let (_err_reader, err_writer) = std::io::pipe().unwrap();
    let (our_out, our_err) = (pipe_name(&out_writer), pipe_name(&err_writer));
    let cases: [(&[&str], bool, bool); 5] = [
        (&[], true, true),
        (&["--hold-stdout"], false, true),
        (&["--stdout-pattern", "x"], false, true),
        (&["-p", "x"], true, false),
        (&["--abort-on", "x"], true, false),
    ];
    for (flags, out_inherited, err_inherited) in cases {
        let mut child = retry_on_std()
            .args(flags)
            .args(["-n", "1", "--", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(out_writer.try_clone().unwrap())
            .stderr(err_writer.try_clone().unwrap())
            .spawn()
            .unwrap();
        common::wait_bounded(&mut child, BOUND);
        let mut line = String::new();
        BufReader::new(&out_reader).read_line(&mut line).unwrap();
        let (out, err) = line.trim().split_once(' ').unwrap();
        assert_eq!(out == our_out, out_inherited, "{flags:?}: stdout {out}, ours {our_out}");
        assert_eq!(err == our_err, err_inherited, "{flags:?}: stderr {err}, ours {our_err}");
    }
}

#[test]
fn hold_stdout_writes_only_the_final_attempts_stdout() {
    let script = "if [ $RETRY_ON_ATTEMPT -lt 3 ]; then echo \"partial $RETRY_ON_ATTEMPT\"; exit 1; fi; echo final";
    let output = retry_on()
        .args(["-q", "-n", "5", "-d", "0", "--hold-stdout", "--", "sh", "-c", script])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{output:?}");
    assert_eq!(text(&output.stdout), "final\n");

    // Giving up also shows the last attempt's output, and only that.
    let output = retry_on()
        .args(["-q", "-n", "2", "-d", "0", "--hold-stdout", "--", "sh", "-c", script])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{output:?}");
    assert_eq!(text(&output.stdout), "partial 2\n");
}

/// `retry-on -- yes | head -1`: the command dies of SIGPIPE as it would alone,
/// and so does retry-on, without a retry and without a panic.
#[test]
fn a_closed_stdout_kills_the_command_by_sigpipe_without_retry_or_panic() {
    for flags in [&[][..], &["--stdout-pattern", "never"][..]] {
        let started = Instant::now();
        let mut child = retry_on_std()
            .args(flags)
            .args(["-n", "5", "-d", "0", "--", "yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        head.read_line(&mut line).unwrap();
        assert_eq!(line, "y\n");
        drop(head);
        let status = common::wait_bounded(&mut child, BOUND);
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        assert_eq!(shell_code(status), 141, "{flags:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flags:?}: {stderr}");
        assert!(!stderr.contains("retrying in"), "{flags:?}: {stderr}");
        assert!(started.elapsed() < PROMPT, "{flags:?}: took {:?}", started.elapsed());
    }
}

#[test]
fn hold_stdout_into_a_closed_pipe_does_not_panic() {
    let mut child = retry_on_std()
        .args(["-n", "1", "--hold-stdout", "--", "sh", "-c", "echo held"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    common::wait_bounded(&mut child, BOUND);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---------------------------------------------------------------------------
// --lock

#[test]
fn concurrent_runs_on_one_lock_never_overlap() {
    let dir = common::tempdir();
    let lock = dir.path().join("lock");
    let log = dir.path().join("log");
    let script = format!(
        "echo \"start $$\" >> '{log}'; sleep 0.2; echo \"end $$\" >> '{log}'; exit 1",
        log = log.display()
    );
    let lock = lock.to_str().unwrap();
    let mut runs: Vec<_> = (0..2)
        .map(|_| {
            retry_on_std()
                .args(["-q", "-n", "3", "-d", "0", "--lock", lock, "--", "sh", "-c", &script])
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for run in &mut runs {
        assert_eq!(shell_code(common::wait_bounded(run, BOUND)), 1);
    }
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 12, "{log}");
    for pair in lines.chunks(2) {
        let started = pair[0].strip_prefix("start ");
        assert!(
            started.is_some() && pair[1].strip_prefix("end ") == started,
            "attempts overlapped:\n{log}"
        );
    }
}

#[test]
fn the_lock_is_held_during_an_attempt_and_released_during_the_sleep() {
    let dir = common::tempdir();
    let path = dir.path().join("lock");
    let mut run = start(
        &[
            "-n",
            "2",
            "-d",
            "30s",
            "--lock",
            path.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo ready; read go; exit 1",
        ],
        Stdio::piped(),
    );
    run.stdout.wait_for(|line| line == "ready", BOUND);
    let ours = File::open(&path).unwrap();
    assert!(ours.try_lock().is_err(), "the lock is free during the attempt");
    run.child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    run.stderr.wait_for(|line| line.contains("retrying in 30s"), BOUND);
    assert!(ours.try_lock().is_ok(), "the lock is held during the backoff sleep");
    ours.unlock().unwrap();
    run.signal(Signal::SIGINT);
    assert_eq!(shell_code(run.wait(BOUND)), 130);
}

#[test]
fn lock_timeout_gives_up_with_125_and_runs_nothing() {
    let dir = common::tempdir();
    let path = dir.path().join("lock");
    let holder = File::create(&path).unwrap();
    holder.lock().unwrap();
    let started = Instant::now();
    let output = retry_on()
        .args([
            "--lock",
            path.to_str().unwrap(),
            "--lock-timeout",
            "300ms",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 125, "{output:?}");
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(path.to_str().unwrap()) && stderr.contains("lock"),
        "{stderr}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

#[test]
fn sigint_while_waiting_for_the_lock_exits_130() {
    let dir = common::tempdir();
    let path = dir.path().join("lock");
    let holder = File::create(&path).unwrap();
    holder.lock().unwrap();
    let mut run = start(
        &["-v", "--lock", path.to_str().unwrap(), "--", "sh", "-c", "echo ran"],
        Stdio::null(),
    );
    run.stderr.wait_for(|line| line.contains("waiting for the lock"), BOUND);
    let sent = Instant::now();
    run.signal(Signal::SIGINT);
    let status = run.wait(BOUND);
    assert!(sent.elapsed() < PROMPT, "took {:?}", sent.elapsed());
    assert_eq!(shell_code(status), 130);
    assert_eq!(run.stdout.all(BOUND), Vec::<String>::new());
}

#[test]
fn the_command_does_not_inherit_the_lock_and_the_file_stays() {
    let dir = common::tempdir();
    let path = dir.path().join("new-lock");
    let output = retry_on()
        .args(["--lock", path.to_str().unwrap(), "--", "sh", "-c", "ls -l /proc/$$/fd"])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{output:?}");
    let fds = text(&output.stdout);
    assert!(fds.contains("-> "), "no fd listing: {fds}");
    assert!(!fds.contains("new-lock"), "the command inherited the lock:\n{fds}");
    assert!(path.exists(), "the lock file was not created or was deleted");
}

#[test]
fn an_uncreatable_lock_file_is_125_before_anything_runs() {
    let output = retry_on()
        .args([
            "--lock",
            "/nonexistent-retry-on-dir/sub/lock",
            "--",
            "sh",
            "-c",
            "echo ran",
        ])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 125, "{output:?}");
    assert_eq!(text(&output.stdout), "");
    assert!(
        text(&output.stderr).contains("/nonexistent-retry-on-dir/sub/lock"),
        "{output:?}"
    );
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

// ---------------------------------------------------------------------------
// Hygiene

/// A child script's wait until retry-on has set up its watch on it: tokio
/// opens a pidfd for the child just after the spawn, so a count taken at once
/// may or may not include it. (Bounded, for kernels without pidfds.)
const AWAIT_PIDFD: &str = "n=0; until ls -l /proc/$PPID/fd | grep -q pidfd || [ $n -ge 100 ]; do n=$((n+1)); done";

/// What retry-on holds, seen by its child: `attempt N fds F zombies Z threads T`
/// on the first and the last attempt (on stderr, which --hold-stdout leaves alone).
fn census_script() -> String {
    format!(
        "if [ $RETRY_ON_ATTEMPT = 1 ] || [ $RETRY_ON_ATTEMPT = $RETRY_ON_ATTEMPTS ]; then
  {AWAIT_PIDFD}
  fds=$(ls /proc/$PPID/fd | wc -l)
  zombies=$(cat /proc/[0-9]*/stat 2>/dev/null | sed 's/^.*) //' | awk -v p=$PPID '$2 == p && $1 == \"Z\"' | wc -l)
  threads=$(ls /proc/$PPID/task | wc -l)
  echo \"census $RETRY_ON_ATTEMPT fds $fds zombies $zombies threads $threads\" >&2
fi
exit 1"
    )
}

fn census(flags: &[&str], stdin: Stdio) {
    let mut args = vec!["-q", "-n", "1000", "-d", "0"];
    args.extend_from_slice(flags);
    let script = census_script();
    args.extend_from_slice(&["--", "sh", "-c", &script]);
    let mut run = start(&args, stdin);
    let first = run.stderr.wait_for_prefix("census 1 ", BOUND);
    let last = run.stderr.wait_for_prefix("census 1000 ", Duration::from_secs(120));
    let status = run.wait(BOUND);
    assert_eq!(shell_code(status), 1);
    assert!(first.contains("zombies 0 "), "{flags:?}: {first}");
    assert_eq!(first, last, "{flags:?}: attempt 1 vs attempt 1000");
}

#[test]
fn a_thousand_attempts_leave_no_zombies_or_fds() {
    census(&[], Stdio::null());
}

/// Piped stdin (replayed through a pipe per attempt), piped stderr and held
/// stdout; the stdin pipe stays open and silent, so replay never ends.
#[test]
fn a_thousand_attempts_with_every_pipe_leave_no_zombies_or_fds() {
    let (reader, writer) = std::io::pipe().unwrap();
    census(&["-p", "never", "-e", "1", "--hold-stdout"], Stdio::from(reader));
    drop(writer);
}

// ---------------------------------------------------------------------------
// On a terminal (a pseudo-terminal from script(1))

fn start_on_a_terminal(args: &[&str]) -> Option<(std::process::Child, common::Lines)> {
    let mut child = common::on_a_terminal(args)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = common::Lines::new(child.stdout.take().unwrap());
    Some((child, screen))
}

#[test]
fn with_foreground_the_command_reads_the_terminal() {
    let script = "echo ready; read answer; echo \"got $answer\"";
    let Some((mut terminal, mut screen)) = start_on_a_terminal(&["--foreground", "-n", "1", "--", "sh", "-c", script])
    else {
        return;
    };
    screen.wait_for(|line| line.trim_end() == "ready", BOUND);
    terminal.stdin.as_mut().unwrap().write_all(b"hello\n").unwrap();
    screen.wait_for(|line| line.trim_end() == "got hello", BOUND);
    assert_eq!(shell_code(common::wait_bounded(&mut terminal, BOUND)), 0);
}

/// Ctrl-C typed on the terminal reaches the command, whether it runs in a
/// group of its own (retry-on forwards it) or in retry-on's (--foreground),
/// and the run stops with 130.
#[test]
fn ctrl_c_on_the_terminal_reaches_the_command_and_stops_the_run() {
    for foreground in [false, true] {
        let mut args = vec!["-n", "3", "-d", "0"];
        if foreground {
            args.push("--foreground");
        }
        let script = trapping("INT", 1);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        let Some((mut terminal, mut screen)) = start_on_a_terminal(&args) else {
            return;
        };
        screen.wait_for(|line| line.starts_with("ready "), BOUND);
        terminal.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
        screen.wait_for(|line| line.contains("got INT"), BOUND);
        let status = common::wait_bounded(&mut terminal, BOUND);
        let shown = screen.all(BOUND);
        assert_eq!(shell_code(status), 130, "foreground {foreground}: {shown:?}");
        let attempts = shown.iter().filter(|line| line.starts_with("ready ")).count();
        assert_eq!(attempts, 1, "foreground {foreground}: retried: {shown:?}");
    }
}

// ---------------------------------------------------------------------------
// Regressions

/// Each attempt's stdin feeder thread used to outlive its attempt by up to
/// 100 ms, holding the attempt's pipe, so fds and threads piled up with fast
/// retries (15 fds at attempt 1, 54 at attempt 1000).
#[test]
fn stdin_feeders_of_ended_attempts_linger_no_more() {
    let script = format!(
        "{AWAIT_PIDFD}; echo \"fds $(ls /proc/$PPID/fd | wc -l) threads $(ls /proc/$PPID/task | wc -l)\"; exit 1"
    );
    let (reader, writer) = std::io::pipe().unwrap();
    let output = retry_on_std()
        .args(["-q", "-n", "30", "-d", "0", "--", "sh", "-c", &script])
        .stdin(reader)
        .output()
        .unwrap();
    drop(writer);
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 30, "{output:?}");
    assert!(lines.iter().all(|line| *line == lines[0]), "{stdout}");
}

/// A non-blocking stdin (its flag is shared with whoever else holds the pipe)
/// used to end the replay at the first EAGAIN: every attempt saw empty input.
#[test]
fn a_non_blocking_stdin_is_waited_for_not_taken_as_its_end() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let (reader, mut writer) = std::io::pipe().unwrap();
    fcntl(&reader, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).unwrap();
    let mut run = start(
        &[
            "-q",
            "-n",
            "2",
            "-d",
            "0",
            "--",
            "sh",
            "-c",
            "echo ready >&2; echo \"got $(cat)\"; exit 1",
        ],
        Stdio::from(reader),
    );
    run.stderr.wait_for(|line| line == "ready", BOUND);
    writer.write_all(b"late").unwrap();
    drop(writer);
    assert_eq!(shell_code(run.wait(BOUND)), 1);
    assert_eq!(run.stdout.all(BOUND), ["got late", "got late"]);
}

/// A stopped group only sees a TERM once it is continued: retry-on used to
/// wait out --kill-after (5s) for a timed-out one and then KILL it.
#[test]
fn a_stopped_command_is_continued_so_the_kill_signal_reaches_it() {
    let started = Instant::now();
    let output = retry_on()
        .args([
            "-n",
            "1",
            "-t",
            "300ms",
            "--",
            "sh",
            "-c",
            "echo ready; kill -STOP 0; echo continued",
        ])
        .timeout(BOUND)
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(code(&output), 124, "{output:?}");
    assert!(text(&output.stderr).contains("killed by SIGTERM"), "{output:?}");
    assert!(took < Duration::from_secs(4), "waited for KILL: {took:?}");
}

/// A forwarded SIGTERM used to stay pending on a stopped command, and
/// retry-on waited for it for ever.
#[test]
fn a_forwarded_sigterm_reaches_a_stopped_command() {
    let mut run = start(
        &[
            "-n",
            "3",
            "--",
            "sh",
            "-c",
            "echo \"ready $$\"; kill -STOP 0; echo continued",
        ],
        Stdio::null(),
    );
    let child = pids(&run.stdout.wait_for_prefix("ready ", BOUND));
    let stopped = common::wait_until(BOUND, || common::state(child[0]) == Some('T'));
    assert!(stopped, "the command did not stop itself");
    let sent = Instant::now();
    run.signal(Signal::SIGTERM);
    let status = common::wait_until(PROMPT, || !alive(run.pid()));
    common::kill_all(&child);
    assert!(
        status,
        "retry-on still waits on the stopped command after {:?}",
        sent.elapsed()
    );
    assert_eq!(shell_code(run.wait(BOUND)), 143);
}

/// Without a usable temporary directory, the spool used to drop everything
/// past its first 4 MiB: the replayed stdin and the held stdout were cut short
/// without a word. Now the bytes stay in memory.
#[test]
fn nothing_is_lost_when_the_spool_cannot_spill_to_a_temp_file() {
    let input: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let output = retry_on()
        .env("TMPDIR", "/nonexistent-retry-on-tmp")
        .args(["-q", "-n", "2", "-d", "0", "--", "sh", "-c", "wc -c; exit 1"])
        .write_stdin(input.clone())
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(
        text(&output.stdout).split_whitespace().collect::<Vec<_>>(),
        ["6000000", "6000000"]
    );

    let dir = common::tempdir();
    let path = dir.path().join("input");
    std::fs::write(&path, &input).unwrap();
    let output = retry_on()
        .env("TMPDIR", "/nonexistent-retry-on-tmp")
        .args(["-q", "-n", "1", "--hold-stdout", "--", "cat", path.to_str().unwrap()])
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{:?}", text(&output.stderr));
    assert!(output.stdout == input, "held stdout has {} bytes", output.stdout.len());
}

/// flock needs only a read-only descriptor, but a lock file that another user
/// created (0644) used to be opened for writing too, and retry-on gave up
/// with 125. Run as nobody when the tests run as root; as a read-only file
/// otherwise.
#[test]
fn a_lock_file_that_is_not_writable_still_locks() {
    let dir = common::tempdir();
    let path = dir.path().join("lock");
    std::fs::write(&path, "").unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // /proc/self belongs to the effective user.
    let root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if root {
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let lock = path.to_str().unwrap();
    let args = ["--lock", lock, "--lock-timeout", "300ms", "--", "sh", "-c", "echo ran"];
    let run = || {
        let mut cmd = if root {
            let mut cmd = common::isolated("setpriv");
            cmd.args([
                "--reuid",
                "nobody",
                "--regid",
                "nogroup",
                "--clear-groups",
                "--",
                common::BIN,
            ]);
            cmd
        } else {
            retry_on_std()
        };
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    };
    let holder = File::open(&path).unwrap();
    holder.lock().unwrap();
    let output = run();
    assert_eq!(code(&output), 125, "{output:?}");
    assert!(text(&output.stderr).contains("could not take the lock"), "{output:?}");
    holder.unlock().unwrap();
    let output = run();
    assert_eq!(code(&output), 0, "{output:?}");
    assert_eq!(text(&output.stdout), "ran\n");
}

// ---------------------------------------------------------------------------
// Regressions found after the scanning moved to its own thread

/// A command that writes without pause must not starve its own timeout:
/// the deadline is looked at before the next chunk of output.
#[test]
fn a_command_flooding_stderr_still_times_out() {
    let started = Instant::now();
    let output = retry_on()
        .args([
            "-q",
            "-n",
            "1",
            "-p",
            "never",
            "-t",
            "500ms",
            "--kill-after",
            "500ms",
            "--",
            "sh",
            "-c",
        ])
        .arg("exec yes flood >&2")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 124);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Everything the command wrote before it exited is passed on, even when
/// retry-on's own stderr drains slower than the 100 ms grace: the grace is
/// for output still to come, not for what the pipe already holds.
#[test]
fn output_written_before_exit_reaches_a_slow_reader_in_full() {
    let mut child = retry_on_std()
        .args(["-q", "-n", "1", "-p", "never", "--", "sh", "-c"])
        .arg("head -c 600000 /dev/zero | tr '\\0' x >&2; echo exited; exit 3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    common::wait_for_line(&mut out, "exited", BOUND);
    // The command has exited: now read its output slowly, 16 KiB every 10 ms,
    // so that passing it on takes several times the grace.
    let mut stderr = child.stderr.take().unwrap();
    let mut err = Vec::new();
    let mut piece = [0u8; 16 * 1024];
    loop {
        let n = stderr.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        err.extend_from_slice(&piece[..n]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = common::wait_bounded(&mut child, BOUND);
    assert_eq!(shell_code(status), 3);
    assert_eq!(err.len(), 600_000, "lost {} bytes", 600_000 - err.len() as i64);
    assert!(err.iter().all(|b| *b == b'x'));
}

// ---------------------------------------------------------------------------
// Lending the terminal to a command that reads it (without --foreground)

fn type_on(terminal: &mut std::process::Child, keys: &[u8]) {
    terminal.stdin.as_mut().unwrap().write_all(keys).unwrap();
}

#[test]
fn a_command_that_reads_the_terminal_is_lent_it() {
    let script = "echo ready; read answer; echo \"got $answer\"";
    let Some((mut terminal, mut screen)) = start_on_a_terminal(&["-n", "1", "--", "sh", "-c", script]) else {
        return;
    };
    screen.wait_for(|line| line.trim_end() == "ready", BOUND);
    type_on(&mut terminal, b"hello\n");
    screen.wait_for(|line| line.trim_end() == "got hello", BOUND);
    assert_eq!(shell_code(common::wait_bounded(&mut terminal, BOUND)), 0);
}

/// Once lent the terminal, the command gets Ctrl-C itself; whether it dies of
/// it or catches it and exits 130 (as the AWS CLI does), the run stops there.
#[test]
fn ctrl_c_stops_the_run_when_the_command_has_the_terminal() {
    for (on_int, want) in [("", 130), ("trap 'echo caught; exit 130' INT; ", 130)] {
        let script = format!("echo ready; read a; echo \"got $a\"; {on_int}read b; echo unreachable");
        let Some((mut terminal, mut screen)) = start_on_a_terminal(&["-n", "3", "-d", "0", "--", "sh", "-c", &script])
        else {
            return;
        };
        screen.wait_for(|line| line.trim_end() == "ready", BOUND);
        type_on(&mut terminal, b"first\n");
        // Reading "first" proves the command has the terminal.
        screen.wait_for(|line| line.trim_end() == "got first", BOUND);
        type_on(&mut terminal, b"\x03");
        let status = common::wait_bounded(&mut terminal, BOUND);
        let shown = screen.all(BOUND);
        assert_eq!(shell_code(status), want, "{on_int:?}: {shown:?}");
        let attempts = shown.iter().filter(|line| line.trim_end() == "ready").count();
        assert_eq!(attempts, 1, "{on_int:?}: retried after Ctrl-C: {shown:?}");
        assert!(
            shown
                .iter()
                .any(|line| line.contains("not retrying an interrupted command")),
            "{shown:?}"
        );
    }
}

/// Ctrl-Z suspends the command and retry-on as one job; `fg` gives the
/// terminal back to the command. Driven through an interactive bash.
#[test]
fn ctrl_z_suspends_the_job_and_fg_resumes_it_with_the_terminal() {
    if Command::new("bash")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("bash is not installed: skipping");
        return;
    }
    if common::on_a_terminal(&[]).is_none() {
        return;
    }
    let mut terminal = common::isolated("script")
        .args(["-qfec", "bash --norc --noprofile -i", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut screen = common::Lines::new(terminal.stdout.take().unwrap());
    let command = format!(
        "{} -n 1 -- sh -c 'echo ready; read a; echo \"got $a\"; read b; echo \"got $b\"'\n",
        common::BIN
    );
    type_on(&mut terminal, command.as_bytes());
    screen.wait_for(|line| line.trim_end().ends_with("ready"), BOUND);
    type_on(&mut terminal, b"first\n");
    screen.wait_for(|line| line.trim_end() == "got first", BOUND);
    type_on(&mut terminal, b"\x1a");
    screen.wait_for(|line| line.contains("Stopped"), BOUND);
    type_on(&mut terminal, b"fg\n");
    type_on(&mut terminal, b"second\n");
    screen.wait_for(|line| line.trim_end() == "got second", BOUND);
    type_on(&mut terminal, b"echo \"status=$?\"; exit\n");
    screen.wait_for(|line| line.trim_end() == "status=0", BOUND);
    common::wait_bounded(&mut terminal, BOUND);
}
