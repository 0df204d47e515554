//! The processes of one child (an attempt, or a hook): signalling them, the
//! kill-after escalation, and waiting until none is left.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::job::Running;
use crate::parse::AnySignal;
use crate::platform::send_signal;
use crate::policy::Stop;
use crate::signals::Signals;

/// How often a stopped child's process group is checked for survivors.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// Where signals for a child go: its process group, or the command alone
/// (`--foreground`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcessGroup {
    pub leader: Pid,
    /// The child leads a group of its own.
    pub whole: bool,
}

impl ProcessGroup {
    /// Sends `signal`, and to a whole group CONT after it, as GNU timeout
    /// does: a stopped process would otherwise only see the signal once KILL
    /// came, or never if no KILL follows.
    pub(crate) fn send(self, signal: AnySignal) {
        send_signal(self.leader, self.whole, signal.number());
        let needs_cont = ![Signal::SIGKILL, Signal::SIGCONT, Signal::SIGSTOP]
            .map(AnySignal::from)
            .contains(&signal);
        if self.whole && needs_cont {
            send_signal(self.leader, true, Signal::SIGCONT as i32);
        }
    }

    fn alive(self) -> bool {
        crate::platform::group_alive(self.leader)
    }
}

/// How a child is stopped when its time is up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// When to stop it, and why.
    pub stop_at: Option<(Instant, Stop)>,
    pub kill_signal: AnySignal,
    /// How long after the kill signal KILL follows, if anything is left.
    pub kill_after: Duration,
}

/// The life of one child, from spawn to an empty group: its exit, the limit
/// that stopped it, the signals retry-on forwarded to it, and the pending KILL.
pub(super) struct Lifecycle {
    pub group: ProcessGroup,
    limits: Limits,
    pub status: Option<ExitStatus>,
    pub stopped: Option<Stop>,
    /// A signal that retry-on itself received while the child ran.
    pub interrupted: Option<AnySignal>,
    kill_at: Option<Instant>,
    /// Where window-size changes go meanwhile.
    _running: Running,
}

impl Lifecycle {
    pub(super) fn new(group: ProcessGroup, limits: Limits) -> Lifecycle {
        Lifecycle {
            _running: Running::new(group.leader, group.whole),
            group,
            limits,
            status: None,
            stopped: None,
            interrupted: None,
            kill_at: None,
        }
    }

    pub(super) fn exited(&self) -> bool {
        self.status.is_some()
    }

    /// When the child's limit is due, while it runs and is not stopped yet.
    pub(super) fn stop_due(&self) -> Option<Instant> {
        let running = self.stopped.is_none() && !self.exited();
        self.limits.stop_at.map(|(at, _)| at).filter(|_| running)
    }

    /// The child's time limit, and why it is there.
    pub(super) fn limit(&self) -> Option<(Instant, Stop)> {
        self.limits.stop_at
    }

    /// The limit passed after the child exited, while retry-on still had
    /// its part of the attempt to finish: the child counts as stopped by it.
    pub(super) fn on_limit_after_exit(&mut self) {
        if self.stopped.is_none() {
            self.stopped = self.limits.stop_at.map(|(_, why)| why);
        }
    }

    /// When KILL is due, while the child runs.
    pub(super) fn kill_due(&self) -> Option<Instant> {
        self.kill_at.filter(|_| !self.exited())
    }

    pub(super) fn on_exit(&mut self, status: ExitStatus) {
        self.status = Some(status);
    }

    /// The limit is up: send the kill signal, and schedule KILL.
    pub(super) fn on_stop_due(&mut self) {
        self.stopped = self.limits.stop_at.map(|(_, why)| why);
        self.group.send(self.limits.kill_signal);
        self.kill_at = Some(Instant::now() + self.limits.kill_after);
    }

    pub(super) fn on_kill_due(&mut self) {
        self.group.send(AnySignal::KILL);
        self.kill_at = None;
    }

    /// A signal to retry-on: forward it. A second Ctrl-C kills at once.
    pub(super) fn on_signal(&mut self, signal: AnySignal) {
        if signal == AnySignal::INT && self.interrupted == Some(AnySignal::INT) {
            self.group.send(AnySignal::KILL);
            return;
        }
        if signal == AnySignal::INT || self.interrupted.is_none() {
            self.interrupted = Some(signal);
        }
        // Once the command is reaped its pid may be reused; only its group is safe to signal.
        if !self.exited() || self.group.whole {
            self.group.send(signal);
        }
        if signal == AnySignal::INT && self.kill_at.is_none() {
            self.kill_at = Some(Instant::now() + self.limits.kill_after);
        }
    }

    /// After a stop or a Ctrl-C, waits until nothing alive is left in the
    /// group, sending KILL when it is due.
    pub(super) async fn settle(&mut self, signals: &mut Signals) {
        let must_empty = self.stopped.is_some() || self.interrupted == Some(AnySignal::INT);
        if !must_empty || !self.group.whole {
            return;
        }
        while self.group.alive() {
            if self.kill_at.is_some_and(|t| Instant::now() >= t) {
                self.on_kill_due();
            }
            tokio::select! {
                signal = signals.recv() => {
                    if signal == AnySignal::INT {
                        self.group.send(AnySignal::KILL);
                    }
                    self.interrupted.get_or_insert(signal);
                }
                _ = tokio::time::sleep(GROUP_POLL) => {}
            }
        }
    }
}
