//! The calls that are specific to Linux, each with a portable fallback, so
//! that a port to another Unix is this one file's work. Only Linux is built
//! and tested today.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

use nix::sys::signal::{SigHandler, SigSet, SigmaskHow, Signal, killpg, signal, sigprocmask};
use nix::unistd::{Pid, tcgetpgrp, tcsetpgrp};

/// Whether any process of the group is alive. Zombies do not count: init
/// may take a while to reap orphans, and `kill(-pgid, 0)` still finds them.
pub(crate) fn group_alive(pgid: Pid) -> bool {
    if killpg(pgid, None).is_err() {
        return false;
    }
    living_member(pgid).unwrap_or(true)
}

/// Whether `/proc` shows a member of the group that is not a zombie; `None`
/// where `/proc` cannot be read.
#[cfg(target_os = "linux")]
fn living_member(pgid: Pid) -> Option<bool> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(entries.flatten().any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the command name, which is in parentheses: state ppid pgrp …
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(pgid.as_raw()) && state != "Z" && state != "X"
    }))
}

#[cfg(not(target_os = "linux"))]
fn living_member(_pgid: Pid) -> Option<bool> {
    None
}

/// Asks for a larger pipe, so that the command can write ahead while a
/// chunk is passed on. Best effort: the default works too.
pub(crate) fn grow_pipe(pipe: BorrowedFd<'_>, bytes: i32) {
    #[cfg(target_os = "linux")]
    let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(bytes));
    #[cfg(not(target_os = "linux"))]
    let _ = (pipe, bytes);
}

/// How many bytes are waiting to be read from a pipe (FIONREAD); 0 if unknown.
pub(crate) fn pending_bytes(pipe: BorrowedFd<'_>) -> usize {
    let mut pending: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let ok = unsafe { nix::libc::ioctl(pipe.as_raw_fd(), nix::libc::FIONREAD, &mut pending) } == 0;
    if ok { usize::try_from(pending).unwrap_or(0) } else { 0 }
}

/// The signal that stopped process `pid`, if it is stopped, without reaping
/// or consuming the stop (waitid with WNOWAIT).
pub(crate) fn stopped_by(pid: Pid) -> Option<Signal> {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
        let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Stopped(_, signal)) => Some(signal),
            _ => None,
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// The terminal's foreground process group.
pub(crate) fn foreground_group(terminal: impl AsFd) -> Option<Pid> {
    tcgetpgrp(terminal).ok()
}

/// Makes `group` the terminal's foreground group. From a background group
/// this would stop retry-on with SIGTTOU, unless that is blocked meanwhile.
pub(crate) fn set_foreground_group(terminal: impl AsFd, group: Pid) {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old));
    let _ = tcsetpgrp(terminal, group);
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
}

/// Whether retry-on's stdout and stderr are one open file (`>log 2>&1`, or
/// one pipe), and not a terminal: then the command's writes to both must
/// reach it in the order they were made. A pipe or FIFO opened twice
/// (`2>/dev/stdout`, `>fifo 2>fifo`) is one stream too: both ends write
/// into the same buffer. (A regular file opened twice is not: each
/// descriptor writes at its own offset.)
pub(crate) fn stdout_is_stderr() -> bool {
    let (out, err) = (io::stdout(), io::stderr());
    if nix::unistd::isatty(&out).unwrap_or(false) {
        return false;
    }
    let (Ok(a), Ok(b)) = (nix::sys::stat::fstat(&out), nix::sys::stat::fstat(&err)) else {
        return false;
    };
    let same_file = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    let kind = nix::sys::stat::SFlag::from_bits_truncate(a.st_mode) & nix::sys::stat::SFlag::S_IFMT;
    if same_file && kind == nix::sys::stat::SFlag::S_IFIFO {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        let me = nix::unistd::getpid().as_raw();
        // SAFETY: kcmp compares two descriptors of this process; no memory is passed.
        let same = unsafe {
            nix::libc::syscall(nix::libc::SYS_kcmp, me, me, 0 /* KCMP_FILE */, 1, 2)
        };
        if same >= 0 {
            return same == 0;
        }
    }
    // Without kcmp, the same file will do.
    same_file
}

/// Whether the byte before where the next write to `output` lands, when it
/// is a regular file, is not a newline: read back from the file (through
/// `/proc/self/fd`, as the descriptor itself is usually write-only), at the
/// offset that the command, which shares the descriptor, left it at, or at
/// the file's end when it is opened for appending (`2>>log`, where another
/// descriptor may have appended since). `None` when that cannot be known:
/// not a regular file, or not readable.
pub(crate) fn file_ends_mid_line(output: BorrowedFd<'_>) -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::FileExt;
        let stat = nix::sys::stat::fstat(output).ok()?;
        let kind = nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode) & nix::sys::stat::SFlag::S_IFMT;
        if kind != nix::sys::stat::SFlag::S_IFREG {
            return None;
        }
        let flags = nix::fcntl::fcntl(output, nix::fcntl::FcntlArg::F_GETFL).ok()?;
        let appending = nix::fcntl::OFlag::from_bits_truncate(flags).contains(nix::fcntl::OFlag::O_APPEND);
        let offset = match appending {
            true => stat.st_size,
            false => nix::unistd::lseek(output, 0, nix::unistd::Whence::SeekCur).ok()?,
        };
        let Some(last) = u64::try_from(offset).ok()?.checked_sub(1) else {
            return Some(false);
        };
        let file = std::fs::File::open(format!("/proc/self/fd/{}", output.as_raw_fd())).ok()?;
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, last).ok()?;
        Some(byte[0] != b'\n')
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = output;
        None
    }
}

/// Whether one of retry-on's own outputs is broken: a pipe or socket whose
/// reader has gone.
pub(crate) fn is_broken(output: BorrowedFd<'_>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(output, PollFlags::POLLOUT)];
    let polled = poll(&mut fds, PollTimeout::ZERO).unwrap_or(0);
    let broken = PollFlags::POLLERR | PollFlags::POLLHUP;
    polled > 0 && fds[0].revents().is_some_and(|r| r.intersects(broken))
}

/// Whether signal `number` is ignored (as a parent such as `nohup` may leave it).
pub(crate) fn is_ignored(number: i32) -> bool {
    current_action(number).is_some_and(|action| action.sa_sigaction == nix::libc::SIG_IGN)
}

/// Whether signal `number` was ignored when retry-on started: as it is now,
/// but for the two that retry-on changes for itself before anything runs.
pub(crate) fn was_ignored(number: i32) -> bool {
    match number {
        nix::libc::SIGPIPE => SIGPIPE_WAS_IGNORED.load(Ordering::Relaxed),
        nix::libc::SIGXFSZ => XFSZ_WAS_IGNORED.load(Ordering::Relaxed),
        _ => is_ignored(number),
    }
}

fn current_action(number: i32) -> Option<nix::libc::sigaction> {
    let mut old = std::mem::MaybeUninit::<nix::libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `old`.
    let read = unsafe { nix::libc::sigaction(number, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction filled `old` when it returned 0.
    (read == 0).then(|| unsafe { old.assume_init() })
}

/// Sends signal `number` to process `pid`, or to its process group; one
/// that nix cannot name (a realtime signal) too.
pub(crate) fn send_signal(pid: Pid, whole_group: bool, number: i32) {
    // SAFETY: kill and killpg take plain numbers and touch no memory.
    let _ = unsafe {
        match whole_group {
            true => nix::libc::killpg(pid.as_raw(), number),
            false => nix::libc::kill(pid.as_raw(), number),
        }
    };
}

/// The write end of the pipe that [`on_relayed_signal`] writes the number
/// of each relayed signal to, one byte each; -1 until [`relay_signals`].
static RELAY: AtomicI32 = AtomicI32::new(-1);

/// retry-on's own process ID, set with [`RELAY`]: a child between fork and
/// exec runs the handler too, and must not relay.
static RELAYING_PID: AtomicI32 = AtomicI32::new(0);

/// What each relayed signal's disposition was before, restored for a signal
/// that is not relayed (Rust's stack-overflow handler, for SEGV and BUS).
static PREVIOUS: OnceLock<Vec<(i32, nix::libc::sigaction)>> = OnceLock::new();

/// Catches `numbers` (but those that retry-on's parent made it ignore) so
/// that another process sending one is an event, read from the returned
/// pipe one byte per signal, while the kernel's own (a fault, a file too
/// large) and retry-on's own (`abort`) keep their effect. This is for the
/// signals that tokio cannot catch (SEGV, ILL, FPE, SIGRTMAX) or that it
/// could but without telling who sent them. Once only.
pub(crate) fn relay_signals(numbers: &[i32]) -> io::Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let relayed: Vec<i32> = numbers.iter().copied().filter(|n| !was_ignored(*n)).collect();
    let previous = relayed.iter().filter_map(|n| Some((*n, current_action(*n)?))).collect();
    if PREVIOUS.set(previous).is_err() {
        return Err(io::Error::other("signals are relayed once only"));
    }
    // SAFETY: getpid has no preconditions.
    RELAYING_PID.store(unsafe { nix::libc::getpid() }, Ordering::Relaxed);
    RELAY.store(write.into_raw_fd(), Ordering::Relaxed);
    // SAFETY: a zeroed sigaction is a valid value, filled in below.
    let mut action: nix::libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_relayed_signal as *const () as usize;
    action.sa_flags = nix::libc::SA_SIGINFO | nix::libc::SA_ONSTACK | nix::libc::SA_RESTART;
    for number in relayed {
        // SAFETY: the handler makes only async-signal-safe calls (write,
        // sigaction, raise) and reads statics set before it is installed.
        if unsafe { nix::libc::sigaction(number, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(read)
}

/// The handler of [`relay_signals`]: a signal sent by another process
/// (`kill`, `sigqueue`) is written to the pipe; any other gets back the
/// effect it would have had without this handler. errno is kept.
extern "C" fn on_relayed_signal(number: i32, info: *mut nix::libc::siginfo_t, _context: *mut nix::libc::c_void) {
    let errno = nix::errno::Errno::last_raw();
    // SAFETY: the kernel passes an SA_SIGINFO handler a valid siginfo.
    let (code, sender) = unsafe { ((*info).si_code, (*info).si_pid()) };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { nix::libc::getpid() };
    if me != RELAYING_PID.load(Ordering::Relaxed) {
        // A child not yet running the command: the signal does to it
        // what it will do to the command, whose exec resets the handler.
        restore_and_raise(number, None);
    } else if code <= 0 && sender != me {
        let byte = number as u8;
        // SAFETY: one byte from a valid buffer; a full pipe drops it (O_NONBLOCK).
        let _ = unsafe { nix::libc::write(RELAY.load(Ordering::Relaxed), (&raw const byte).cast(), 1) };
    } else if number != nix::libc::SIGXFSZ {
        // (A file grown past its limit is a write error, as when it was ignored.)
        let previous = PREVIOUS.get().and_then(|all| all.iter().find(|(n, _)| *n == number));
        // A fault happens again when the handler returns; anything else
        // (retry-on's own abort) is raised again.
        let fault = code > 0
            && [
                nix::libc::SIGSEGV,
                nix::libc::SIGBUS,
                nix::libc::SIGILL,
                nix::libc::SIGFPE,
            ]
            .contains(&number);
        match fault {
            true => restore(number, previous.map(|(_, action)| action)),
            false => restore_and_raise(number, previous.map(|(_, action)| action)),
        }
    }
    nix::errno::Errno::set_raw(errno);
}

/// Gives signal `number` back the disposition `previous` (or the default).
fn restore(number: i32, previous: Option<&nix::libc::sigaction>) {
    // SAFETY: a zeroed sigaction with SIG_DFL is the default disposition.
    let default: nix::libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: the action is the default, or one the process had before.
    unsafe { nix::libc::sigaction(number, previous.unwrap_or(&default), std::ptr::null_mut()) };
}

/// [`restore`], then raises the signal again, to have that effect.
fn restore_and_raise(number: i32, previous: Option<&nix::libc::sigaction>) {
    restore(number, previous);
    // SAFETY: raise is async-signal-safe.
    unsafe { nix::libc::raise(number) };
}

/// Whether SIGPIPE was ignored when retry-on started. Rust's runtime
/// ignores it before `main` (so that a closed output is a write error), and
/// its `Command` gives every child the default back; a parent that ignores
/// it (`trap '' PIPE`) must see the command ignore it too, as with GNU
/// `timeout`. So it is read before Rust's runtime starts, by a constructor.
static SIGPIPE_WAS_IGNORED: AtomicBool = AtomicBool::new(false);

/// Whether SIGXFSZ was ignored when retry-on started, before it ignored it
/// for itself.
static XFSZ_WAS_IGNORED: AtomicBool = AtomicBool::new(false);

/// Which of stdin, stdout and stderr (bit N for descriptor N) were closed
/// when retry-on started (`<&-`, `>&-`): Rust's runtime opens /dev/null on
/// them before `main`, and a command that inherits one must find it closed,
/// as it would alone or under GNU `timeout` (`echo hi >&-` fails).
static CLOSED_AT_START: AtomicU8 = AtomicU8::new(0);

/// Runs before `main`, as every function in `.init_array` does (glibc and
/// musl alike): reads the SIGPIPE disposition and the standard descriptors
/// retry-on inherited.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static READ_AT_START: extern "C" fn() = {
    extern "C" fn read_at_start() {
        SIGPIPE_WAS_IGNORED.store(is_ignored(nix::libc::SIGPIPE), Ordering::Relaxed);
        let closed = (0..3)
            // SAFETY: F_GETFD only asks whether the descriptor is open.
            .filter(|fd| unsafe { nix::libc::fcntl(*fd, nix::libc::F_GETFD) } == -1)
            .fold(0u8, |bits, fd| bits | 1 << fd);
        CLOSED_AT_START.store(closed, Ordering::Relaxed);
    }
    read_at_start
};

/// Sets up retry-on's own signal dispositions before it runs anything:
/// SIGCHLD back to its default, as GNU timeout does (ignored, the kernel
/// would reap the command before retry-on could learn how it ended), and
/// SIGXFSZ ignored, so that a full temporary file is a write error, not
/// death. Returns the dispositions the command must get back: SIGXFSZ's,
/// and an ignored SIGPIPE.
pub(crate) fn own_signal_dispositions() -> ChildSignals {
    // SAFETY: setting the default disposition installs no handler.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
    let restore_xfsz = !is_ignored(nix::libc::SIGXFSZ);
    XFSZ_WAS_IGNORED.store(!restore_xfsz, Ordering::Relaxed);
    // SAFETY: ignoring a signal installs no handler.
    let _ = unsafe { signal(Signal::SIGXFSZ, SigHandler::SigIgn) };
    ChildSignals {
        restore_xfsz,
        ignore_pipe: SIGPIPE_WAS_IGNORED.load(Ordering::Relaxed),
        closed: CLOSED_AT_START.load(Ordering::Relaxed),
        inherited: 0,
    }
}

/// What a child must be given back, of what retry-on changed for itself.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChildSignals {
    restore_xfsz: bool,
    /// retry-on's parent ignored SIGPIPE, which the child's default undoes.
    ignore_pipe: bool,
    /// The standard descriptors closed when retry-on started (see [`CLOSED_AT_START`]).
    closed: u8,
    /// Those the child inherits from retry-on (bit N for descriptor N),
    /// rather than getting a pipe or a file of retry-on's.
    inherited: u8,
}

impl ChildSignals {
    /// The same, for a child that inherits the standard descriptors in
    /// `inherited` (bit N for descriptor N) from retry-on.
    pub(crate) fn inheriting(self, inherited: u8) -> ChildSignals {
        ChildSignals { inherited, ..self }
    }

    /// Run in the child between fork and exec (after Rust's `Command` has
    /// set SIGPIPE to its default): restores SIGXFSZ and SIGPIPE, and makes
    /// the child die if retry-on dies first, even of SIGKILL (on Linux;
    /// elsewhere there is no such call). Only async-signal-safe calls.
    pub(crate) fn apply_in_child(self, parent: Pid) -> io::Result<()> {
        if self.restore_xfsz {
            // SAFETY: restoring the default disposition installs no handler.
            unsafe { signal(Signal::SIGXFSZ, SigHandler::SigDfl) }?;
        }
        if self.ignore_pipe {
            // SAFETY: ignoring a signal installs no handler.
            unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }?;
        }
        for fd in (0..3).filter(|fd| self.closed & self.inherited & 1 << fd != 0) {
            // SAFETY: the descriptor is the /dev/null that stands for a closed one.
            unsafe { nix::libc::close(fd) };
        }
        #[cfg(target_os = "linux")]
        {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // retry-on may have died before the line above: then nothing would come.
            // (No message: nobody is left to read it, and between fork
            // and exec nothing may allocate.)
            if nix::unistd::getppid() != parent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = parent;
        Ok(())
    }
}
