//! Running a hook (`--check`, `--on-retry`, `--on-giveup`): a shell command
//! of the user's, run with the machinery of an attempt: its own process
//! group, the time limits, the kill escalation and the forwarded signals.

use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::group::{Lifecycle, Limits, ProcessGroup};
use super::{ending, spawn};
use crate::clock::alarm;
use crate::error::Error;
use crate::parse::AnySignal;
use crate::platform::ChildSignals;
use crate::policy::{Ending, Stop};
use crate::signals::Signals;

/// One run of a hook.
pub(crate) struct Hook<'a> {
    /// The shell command, as the user wrote it.
    pub command: &'a str,
    /// Variables for it, beside the environment retry-on has.
    pub env: Vec<(&'static str, String)>,
    /// When to stop it, and why.
    pub stop_at: Option<(Instant, Stop)>,
    pub kill_after: Duration,
    pub child_signals: ChildSignals,
}

/// How a hook ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookEnd {
    pub ending: Ending,
    /// The limit that stopped it, if one did.
    pub stopped: Option<Stop>,
    /// A signal that retry-on received while it ran.
    pub interrupted: Option<AnySignal>,
    pub took: Duration,
}

impl HookEnd {
    /// Whether it exited 0 by itself.
    pub(crate) fn succeeded(&self) -> bool {
        self.ending == Ending::Exited(0) && self.stopped.is_none()
    }
}

/// Runs a hook to its end: `sh -c COMMAND`, stdin from /dev/null, its
/// output to retry-on's stderr so that it never joins the command's stdout.
pub(crate) async fn run_hook(hook: &Hook<'_>, signals: &mut Signals) -> Result<HookEnd, Error> {
    let began = Instant::now();
    let to_stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("cannot give a hook retry-on's stderr", e))?;
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .args(["-c", hook.command])
        .envs(hook.env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(to_stderr))
        .stderr(Stdio::inherit())
        .process_group(0);
    spawn::prepare_child(&mut command, hook.child_signals.inheriting(1 << 2), false);
    let mut child = command.spawn().map_err(|e| {
        Error::io(
            format!("cannot run the hook {:?} with /bin/sh", shortened(hook.command)),
            e,
        )
    })?;
    let group = ProcessGroup {
        leader: Pid::from_raw(child.id().unwrap_or(0) as i32),
        whole: true,
    };
    let limits = Limits {
        stop_at: hook.stop_at,
        kill_signal: AnySignal::TERM,
        kill_after: hook.kill_after,
    };
    let mut life = Lifecycle::new(group, limits);
    while !life.exited() {
        tokio::select! {
            biased;
            signal = signals.recv() => life.on_signal(signal),
            exit = child.wait() => life.on_exit(exit.map_err(|e| Error::io("waiting for a hook", e))?),
            _ = alarm(life.stop_due()) => life.on_stop_due(),
            _ = alarm(life.kill_due()) => life.on_kill_due(),
        }
    }
    life.settle(signals).await;
    let status = life.status.expect("the loop ends when the hook exits");
    Ok(HookEnd {
        ending: ending(status),
        stopped: life.stopped,
        interrupted: life.interrupted,
        took: began.elapsed(),
    })
}

/// A hook as messages quote it: a long one by its first 60 characters.
fn shortened(command: &str) -> String {
    match command.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", &command[..cut]),
        None => command.to_string(),
    }
}
