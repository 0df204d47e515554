//! The command's stdout and stderr: grandchildren that hold the pipes,
//! when the streams are piped at all, --hold-stdout, and a closed stdout.

use crate::common::child::wait_bounded;
use crate::common::command::{BIN, isolated, tempdir};
use crate::common::exit::shell_code;
use crate::common::finished::retry_on;
use crate::common::procfs::{alive, all_gone, kill_all};
use crate::{BOUND, PROMPT, code, pipe_name, text};
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Instant;

/// `sh -c 'sleep 60 & echo err >&2; exit 3'`: the background sleep keeps the
/// piped stream open, and retry-on must not wait for it.
#[test]
fn a_grandchild_holding_a_pipe_does_not_hold_up_the_run() {
    let dir = tempdir();
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
        kill_all(&[grandchild]);

        assert_eq!(code(&output), 3, "{flag}: {output:?}");
        assert!(text(&output.stderr).starts_with("err\n"), "{flag}: {output:?}");
        assert_eq!(text(&output.stdout), "out\n", "{flag}");
        assert!(took < PROMPT, "{flag}: waited {took:?} for the grandchild");
        assert!(held, "the test needs the grandchild to still be running");
    }
}

#[test]
fn a_grandchild_flooding_stderr_does_not_hold_up_the_run() {
    let dir = tempdir();
    let pidfile = dir.path().join("pid");
    let script = format!("yes flood >&2 &\necho $! > '{}'\nexit 3", pidfile.display());
    let started = Instant::now();
    let mut child = isolated(BIN)
        .args(["-p", "something", "-n", "1", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, BOUND);
    let took = started.elapsed();
    let flooder: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // Once retry-on stops reading, the flooder's next write breaks its pipe.
    let stopped = all_gone(&[flooder], BOUND);
    kill_all(&[flooder]);
    assert_eq!(shell_code(status), 3);
    assert!(took < PROMPT, "kept reading the flood for {took:?}");
    assert!(stopped, "the flooder still runs after retry-on stopped reading");
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
        let mut child = isolated(BIN)
            .args(flags)
            .args(["-n", "1", "--", "sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(out_writer.try_clone().unwrap())
            .stderr(err_writer.try_clone().unwrap())
            .spawn()
            .unwrap();
        wait_bounded(&mut child, BOUND);
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
        let mut child = isolated(BIN)
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
        let status = wait_bounded(&mut child, BOUND);
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
    let mut child = isolated(BIN)
        .args(["-n", "1", "--hold-stdout", "--", "sh", "-c", "echo held"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    wait_bounded(&mut child, BOUND);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
