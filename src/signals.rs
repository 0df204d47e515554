//! The signals that stop a run, received as events.
//!
//! retry-on catches every standard signal whose default action would end it
//! (apart from SIGPIPE and SIGXFSZ, which it ignores for itself and turns
//! into write errors), so that it never dies leaving an attempt running
//! where nothing reaches it. A signal that retry-on's parent made it ignore
//! stays ignored, as it would for the command run alone. Realtime signals
//! are not caught: one ends retry-on, and the command dies with it (see
//! `platform::ChildSignals::apply_in_child`).

use std::future::poll_fn;
use std::io;
use std::task::Poll;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::platform::is_ignored;

/// The standard signals whose default action ends a process, that a
/// program can catch and that the kernel does not send for a fault.
const ENDING: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGXCPU,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGSTKFLT,
];

/// The caught signals, for the whole run.
pub(crate) struct Signals {
    caught: Vec<(Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    pub(crate) fn install() -> io::Result<Signals> {
        let mut caught = Vec::new();
        for signal_to_catch in ENDING.iter().filter(|s| !is_ignored(**s)) {
            caught.push((*signal_to_catch, signal(SignalKind::from_raw(*signal_to_catch as i32))?));
        }
        Ok(Signals { caught })
    }

    /// The next signal that arrives.
    pub(crate) async fn recv(&mut self) -> Signal {
        poll_fn(|cx| {
            for (caught, stream) in &mut self.caught {
                if stream.poll_recv(cx).is_ready() {
                    return Poll::Ready(*caught);
                }
            }
            Poll::Pending
        })
        .await
    }
}
