//! Regressions: each test names what used to go wrong.

use std::fs::File;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::child::{Lines, start, wait_bounded};
use crate::common::command::{BIN, isolated, tempdir};
use crate::common::exit::shell_code;
use crate::common::finished::retry_on;
use crate::common::procfs::{alive, kill_all, pids, state, wait_until};
use crate::{BOUND, PROMPT, code, text};
use nix::sys::signal::Signal;
// ---------------------------------------------------------------------------
// Regressions

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
/// wait out --kill-after (5s) for a timed-out one and then KILL it. The
/// command must have stopped itself before its timeout, which a loaded
/// machine may delay: a run where it had not is tried again with a longer
/// timeout.
#[test]
fn a_stopped_command_is_continued_so_the_kill_signal_reaches_it() {
    for timeout in [300, 600, 1200, 2400, 4800].map(Duration::from_millis) {
        let started = Instant::now();
        let mut run = start(
            &[
                "-n",
                "1",
                "-t",
                &format!("{}ms", timeout.as_millis()),
                "--",
                "sh",
                "-c",
                "echo \"ready $$\"; kill -STOP 0; echo continued",
            ],
            Stdio::null(),
        );
        let child = pids(&run.stdout.wait_for_prefix("ready ", BOUND))[0];
        // Stopped, or already gone because the timeout came first.
        let mut seen = None;
        wait_until(BOUND, || {
            seen = state(child);
            matches!(seen, Some('T' | 'Z' | 'X') | None)
        });
        let stopped = seen == Some('T');
        let status = run.wait(BOUND);
        let took = started.elapsed();
        if !stopped {
            continue;
        }
        let stderr = run.stderr.all(BOUND).join("\n");
        assert_eq!(shell_code(status), 124, "{stderr}");
        assert!(stderr.contains("killed by SIGTERM"), "{stderr}");
        // Well before the KILL that would come 5s after the timeout.
        assert!(
            took < timeout + Duration::from_millis(3700),
            "waited for KILL: {took:?}"
        );
        return;
    }
    panic!("the command never stopped itself before its timeout, even with 4.8s");
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
    let stopped = wait_until(BOUND, || state(child[0]) == Some('T'));
    assert!(stopped, "the command did not stop itself");
    let sent = Instant::now();
    run.signal(Signal::SIGTERM);
    let status = wait_until(PROMPT, || !alive(run.pid()));
    kill_all(&child);
    assert!(
        status,
        "retry-on still waits on the stopped command after {:?}",
        sent.elapsed()
    );
    assert_eq!(shell_code(run.wait(BOUND)), 143);
}

/// Without a usable temporary directory, the spool used to drop everything
/// past its first 4 MiB: the replayed stdin was cut short without a word.
/// Then it kept everything in memory, without bound. Now the attempt at hand
/// gets every byte, and retry-on says that it cannot retry without a copy.
#[test]
fn nothing_is_lost_when_the_spool_cannot_spill_to_a_temp_file() {
    let input: Vec<u8> = (0..6_000_000u32).map(|i| (i % 251) as u8).collect();
    let output = retry_on()
        .env("TMPDIR", "/nonexistent-retry-on-tmp")
        .args(["-n", "2", "-d", "0", "--", "sh", "-c", "wc -c; exit 1"])
        .write_stdin(input.clone())
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout).split_whitespace().collect::<Vec<_>>(), ["6000000"]);
    assert!(
        text(&output.stderr).contains("not retrying: stdin could not be kept for another attempt"),
        "{}",
        text(&output.stderr)
    );

    // Held stdout that cannot spill is written early, and the rest passed through.
    let dir = tempdir();
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
    let dir = tempdir();
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
            let mut cmd = isolated("setpriv");
            cmd.args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups", "--", BIN]);
            cmd
        } else {
            isolated(BIN)
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
    let mut child = isolated(BIN)
        .args(["-q", "-n", "1", "-p", "never", "--", "sh", "-c"])
        .arg("head -c 600000 /dev/zero | tr '\\0' x >&2; echo exited; exit 3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = Lines::new(child.stdout.take().unwrap());
    out.wait_for(|line| line == "exited", BOUND);
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
    let status = wait_bounded(&mut child, BOUND);
    assert_eq!(shell_code(status), 3);
    assert_eq!(err.len(), 600_000, "lost {} bytes", 600_000 - err.len() as i64);
    assert!(err.iter().all(|b| *b == b'x'));
}
