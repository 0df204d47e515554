//! --lock: runs on one lock never overlap; the lock is held only during
//! attempts; --lock-timeout; the lock file itself.

use std::fs::File;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::child::start;
use crate::common::command::tempdir;
use crate::common::exit::shell_code;
use crate::common::finished::retry_on;
use crate::common::procfs::wait_until;
use crate::{BOUND, PROMPT, code, text};
use nix::sys::signal::Signal;
/// Whether process `pid` waits for a file lock: /proc/locks shows a waiter
/// as `N: -> FLOCK ADVISORY WRITE PID ...`.
fn waits_for_a_lock(pid: i32) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&"->") && fields.get(5) == Some(&pid.to_string().as_str())
    })
}

/// Two runs of three attempts each on one lock. They genuinely contend: the
/// second starts once the first's command holds the lock, and that command
/// ends only once the second run says it waits for the lock (-v) and the
/// kernel shows it blocked on it; the later attempts contend as they come.
#[test]
fn concurrent_runs_on_one_lock_never_overlap() {
    let dir = tempdir();
    let lock = dir.path().join("lock");
    let log = dir.path().join("log");
    let go = dir.path().join("go");
    nix::unistd::mkfifo(&go, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let script = format!(
        "echo \"start $$\" >> '{log}'
if [ \"$1\" = first ] && [ $RETRY_ON_ATTEMPT = 1 ]; then
  echo holding
  read go < '{go}'
fi
echo \"end $$\" >> '{log}'
exit 1",
        log = log.display(),
        go = go.display(),
    );
    let lock = lock.to_str().unwrap();
    let run = |role: &str, verbosity: &str| {
        start(
            &[
                verbosity, "-n", "3", "-d", "0", "--lock", lock, "--", "sh", "-c", &script, "sh", role,
            ],
            Stdio::null(),
        )
    };
    let mut first = run("first", "-q");
    first.stdout.wait_for(|line| line == "holding", BOUND);
    let mut second = run("second", "-v");
    second
        .stderr
        .wait_for(|line| line.contains("attempt 1/3: waiting for the lock"), BOUND);
    let blocked = wait_until(BOUND, || waits_for_a_lock(second.pid()));
    // Opening the fifo waits for the first command to open it to read. (Let
    // go before any assertion, so that a failure leaves no process behind.)
    std::fs::write(&go, "go\n").unwrap();
    for run in [&mut first, &mut second] {
        assert_eq!(shell_code(run.wait(BOUND)), 1);
    }
    assert!(
        blocked,
        "the second run said it waits for the lock, but it was not blocked on it"
    );
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
    let dir = tempdir();
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
    let dir = tempdir();
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
    let dir = tempdir();
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
    let dir = tempdir();
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
