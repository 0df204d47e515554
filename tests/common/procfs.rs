//! Processes as /proc shows them: whether the ones a test started are still
//! there, and in what state.

use std::time::{Duration, Instant};

/// Parses whitespace-separated pids, as a child script prints them with `echo $$ $!`.
pub fn pids(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .map(|pid| pid.parse().unwrap_or_else(|_| panic!("not a pid: {pid:?} in {text:?}")))
        .collect()
}

/// The fields of /proc/PID/stat after the command name, from the state
/// (field 3) on; None when there is no such process.
fn stat_after_name(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces and parentheses itself.
    let (_, after) = stat.rsplit_once(')')?;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// The state letter of a process (R, S, T, Z…); None when there is no such process.
pub fn state(pid: i32) -> Option<char> {
    stat_after_name(pid)?.first()?.chars().next()
}

/// The process group of a process (field 5 of /proc/PID/stat).
pub fn process_group(pid: i32) -> Option<i32> {
    stat_after_name(pid)?.get(2)?.parse().ok()
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    !matches!(state(pid), None | Some('Z' | 'X'))
}

/// Polls `condition` until it holds; returns false if it still does not after `within`.
pub fn wait_until(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits until none of `pids` is alive; returns false if one still is after `within`.
pub fn all_gone(pids: &[i32], within: Duration) -> bool {
    wait_until(within, || !pids.iter().any(|&pid| alive(pid)))
}

/// Kills leftover processes of a test, ignoring those already gone.
pub fn kill_all(pids: &[i32]) {
    for &pid in pids {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}
