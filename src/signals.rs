//! The signals that stop a run, received as events.
//!
//! retry-on catches every signal whose default action would end it (apart
//! from SIGPIPE, which it ignores for itself and turns into write errors),
//! so that it never dies leaving an attempt running where nothing reaches
//! it. The standard ones tokio can catch, tokio catches. The rest are
//! relayed (`platform::relay_signals`): the realtime ones, and those the
//! kernel also sends for a fault or a limit (SEGV, BUS, ILL, FPE, ABRT,
//! SYS, TRAP, XFSZ), which count only when another process sent them; a
//! real fault of retry-on's own still ends it as it would have. A signal
//! that retry-on's parent made it ignore stays ignored, as it would for
//! the command run alone.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::task::Poll;

use nix::sys::signal::Signal;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};

use crate::parse::AnySignal;
use crate::platform::{is_ignored, relay_signals};

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

/// The standard signals that end a process and that the kernel sends too:
/// for a fault (SEGV, BUS, ILL, FPE, TRAP, SYS), for `abort` (ABRT), for a
/// file grown past its limit (XFSZ).
const ALSO_THE_KERNEL_S: &[Signal] = &[
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGILL,
    Signal::SIGFPE,
    Signal::SIGABRT,
    Signal::SIGSYS,
    Signal::SIGTRAP,
    Signal::SIGXFSZ,
];

/// The caught signals, for the whole run.
pub(crate) struct Signals {
    caught: Vec<(Signal, tokio::signal::unix::Signal)>,
    /// The pipe the relayed signals come through.
    relayed: AsyncFd<OwnedFd>,
    /// Relayed signals read and not yet received.
    pending: VecDeque<AnySignal>,
}

impl Signals {
    pub(crate) fn install() -> io::Result<Signals> {
        let mut caught = Vec::new();
        for signal_to_catch in ENDING.iter().filter(|s| !is_ignored(**s as i32)) {
            caught.push((*signal_to_catch, signal(SignalKind::from_raw(*signal_to_catch as i32))?));
        }
        let relayed: Vec<i32> = ALSO_THE_KERNEL_S
            .iter()
            .map(|s| *s as i32)
            .chain(AnySignal::realtime().map(AnySignal::number))
            .collect();
        let pipe = relay_signals(&relayed)?;
        // SAFETY: an OwnedFd's descriptor is open and the same for as long as it is owned.
        let relayed = unsafe { AsyncFd::register(pipe) }.map_err(io::Error::from)?;
        Ok(Signals {
            caught,
            relayed,
            pending: VecDeque::new(),
        })
    }

    /// The next signal that arrives.
    pub(crate) async fn recv(&mut self) -> AnySignal {
        let Signals {
            caught,
            relayed,
            pending,
        } = self;
        poll_fn(|cx| {
            for (caught, stream) in caught.iter_mut() {
                if stream.poll_recv(cx).is_ready() {
                    return Poll::Ready(AnySignal::from(*caught));
                }
            }
            loop {
                if let Some(signal) = pending.pop_front() {
                    return Poll::Ready(signal);
                }
                let Poll::Ready(Ok(mut ready)) = relayed.poll_read_ready(cx) else {
                    return Poll::Pending;
                };
                let mut numbers = [0u8; 64];
                match ready.try_io(|pipe| Ok(nix::unistd::read(pipe.get_ref(), &mut numbers)?)) {
                    Ok(Ok(read)) if read > 0 => {
                        let signals = numbers[..read]
                            .iter()
                            .filter_map(|n| AnySignal::from_number(i32::from(*n)));
                        pending.extend(signals);
                    }
                    // The pipe cannot end or fail while retry-on holds its write end.
                    Ok(_) => return Poll::Pending,
                    Err(_would_block) => {}
                }
            }
        })
        .await
    }
}
