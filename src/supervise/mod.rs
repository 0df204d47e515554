//! Running one attempt: spawn the command in its own process group, stream
//! and scan its output, enforce the timeout and deadline, forward signals,
//! and make sure nothing of a stopped attempt outlives it.
//!
//! [`group`] owns the life of a child (signals, limits, KILL, an empty
//! group) and serves both kinds of child, attempts and [`hook`]s; [`pump`]
//! passes output on; the attempt's own state, one method per event, is in
//! [`attempt`].

mod attempt;
mod group;
mod hook;
mod pump;
mod spawn;

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use self::attempt::AttemptState;
pub(crate) use self::group::{Limits, ProcessGroup};
pub(crate) use self::hook::{Hook, HookEnd, run_hook};
pub(crate) use self::pump::Leftovers;
use crate::clock::alarm;
use crate::error::Error;
use crate::pattern::Patterns;
use crate::platform::ChildSignals;
use crate::policy::{Ending, Outcome, Stop};
use crate::settings::Process;
use crate::signals::Signals;
use crate::spool::SpillBuffer;
use crate::stdin::Stdin;
use crate::terminal::Terminal;

/// How long an attempt waits for the rest of its output after the command
/// exits, for a background process that holds the pipe open. Then the attempt
/// ends, and what that process writes is passed on, unscanned, among the
/// run's [`Leftovers`].
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// What one attempt needs.
pub(crate) struct Attempt<'a> {
    pub command: &'a [OsString],
    pub number: u32,
    pub attempts: u32,
    pub process: &'a Process,
    /// When to stop the attempt, and why.
    pub stop_at: Option<(Instant, Stop)>,
    pub stdin: &'a Stdin,
    pub patterns: &'a Patterns,
    /// The terminal to lend the attempt if it needs it (not with `--foreground`).
    pub terminal: Option<&'a Terminal>,
    /// What the command gets back of retry-on's own signal dispositions.
    pub child_signals: ChildSignals,
    /// The run's pipes that outlived their attempts.
    pub leftovers: &'a Leftovers,
    /// Pass the command's stderr on through retry-on even with nothing to
    /// match there, so that retry-on's own lines start on lines of their own.
    pub pass_stderr: bool,
}

/// How an attempt ended, and its stdout with `--hold-stdout`.
pub(crate) struct Ended {
    pub outcome: Outcome,
    pub held: Option<SpillBuffer>,
}

/// Runs one attempt to its end.
pub(crate) async fn run_attempt(attempt: &Attempt<'_>, signals: &mut Signals) -> Result<Ended, Error> {
    let patterns = attempt.patterns;
    let stderr_through = patterns.scans_stderr() || attempt.pass_stderr;
    // One stream for both (`2>&1`): it all comes through the stdout pipe, in order.
    let merge = patterns.merged && stderr_through;
    let scan_stderr = stderr_through && !merge;
    let pipe_stdout = merge || patterns.stdout.is_some() || attempt.process.hold_stdout;
    let piped = |yes: bool| if yes { Stdio::piped() } else { Stdio::inherit() };

    // Out of threads or descriptors, the command would get an empty stdin.
    let mut feeding = (attempt.stdin.feeding()).map_err(|e| Error::io("cannot pass stdin on to the command", e))?;
    let mut child = spawn::spawn(attempt.command, |argv| {
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .env("RETRY_ON_ATTEMPT", attempt.number.to_string())
            .env("RETRY_ON_ATTEMPTS", attempt.attempts.to_string())
            .stdin(attempt.stdin.rewind_for_attempt())
            .stdout(piped(pipe_stdout))
            .stderr(piped(scan_stderr));
        if !attempt.process.foreground {
            command.process_group(0);
        }
        // stdin is inherited, or a pipe or file of retry-on's only when it was open.
        let inherited = 1 | u8::from(!pipe_stdout) << 1 | u8::from(!scan_stderr && !merge) << 2;
        spawn::prepare_child(&mut command, attempt.child_signals.inheriting(inherited), merge);
        command
    })?;
    let stdin_pipe = child.stdin.take().and_then(|pipe| pipe.into_owned_fd().ok());
    match &mut feeding {
        Some(feeding) => feeding.start(stdin_pipe),
        None => drop(stdin_pipe),
    }
    let group = ProcessGroup {
        leader: Pid::from_raw(child.id().unwrap_or(0) as i32),
        whole: !attempt.process.foreground,
    };
    let limits = Limits {
        stop_at: attempt.stop_at,
        kill_signal: attempt.process.kill_signal,
        kill_after: attempt.process.kill_after,
    };
    let mut state = AttemptState::new(attempt, group, limits, &mut child, merge)?;
    while state.running() {
        // Signals, deadlines and the command's exit come before its output, so
        // that a command (or a background process) that writes without pause
        // cannot starve them.
        tokio::select! {
            biased;
            signal = signals.recv() => state.on_signal(signal),
            exit = child.wait(), if !state.life.exited() => {
                state.on_exit(exit.map_err(|e| Error::io("waiting for the command", e))?);
            }
            _ = alarm(state.life.stop_due()) => state.life.on_stop_due(),
            _ = alarm(state.life.kill_due()) => state.life.on_kill_due(),
            _ = alarm(state.terminal_check_due()) => state.on_terminal_check(),
            _ = alarm(state.scan_due()) => state.on_scan_due(),
            _ = alarm(state.drain_due()) => break,
            read = state.stderr.read() => state.on_stderr(read),
            read = state.stdout.read() => state.on_stdout(read),
        }
    }
    let mut ended = state.finish(signals).await?;
    ended.outcome.stdin_lost = attempt.stdin.lost();
    Ok(ended)
}

/// How a child's process ended, from its wait status.
fn ending(status: ExitStatus) -> Ending {
    match (status.code(), status.signal()) {
        (Some(code), _) => Ending::Exited(code),
        (None, Some(signal)) => Ending::Signaled(signal),
        (None, None) => Ending::Exited(1),
    }
}
