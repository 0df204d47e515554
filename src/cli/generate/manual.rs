//! The man page's sections after the options, which the clap definition
//! cannot give: exit status, signals, files and environment, which say what
//! the README says, shorter, and the examples of `--help`.

use clap_mangen::roff::{Roff, bold, roman};

use crate::cli::EXAMPLES;

/// One piece of a section.
enum Block {
    /// A paragraph.
    Text(&'static str),
    /// A tagged paragraph: the tag in bold, then the text indented.
    Item(&'static str, &'static str),
    /// What an example does, then the command line, as typed.
    Example(&'static str, &'static str),
}

use Block::{Example, Item, Text};

/// What retry-on reads from its environment and sets in the command's: a
/// new variable is one line here.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "RETRY_ON_ATTEMPT",
        "Set in the command's environment: the number of the attempt, from 1. A hook sees the \
         attempt that just ended; 0 for --check-first.",
    ),
    (
        "RETRY_ON_ATTEMPTS",
        "Set in the command's environment: the limit of attempts; 0 means none.",
    ),
    (
        "RETRY_ON_EXIT_CODE",
        "Set for the hooks (--check, --on-retry, --on-giveup): the code of the attempt that \
         just ended, or 128+N for signal N.",
    ),
    (
        "RETRY_ON_MATCHED",
        "Set for the hooks: the text that matched, as in the matched \"TEXT\" message; empty if none.",
    ),
    (
        "RETRY_ON_REASON",
        "Set for --on-giveup: why retry-on gave up: attempts, deadline, no-condition, abort, \
         on-retry-failed, cannot-run, output-closed or stdin-lost.",
    ),
    (
        "RETRY_ON_CONFIG",
        "The user's configuration file, first in the search order (see FILES).",
    ),
    (
        "XDG_CONFIG_HOME",
        "retry-on/config.toml under it is second in the search order (see FILES), when it is an \
         absolute path; a relative one is ignored.",
    ),
    (
        "HOME",
        ".config/retry-on/config.toml under it is third in the search order (see FILES).",
    ),
    (
        "GITHUB_ACTIONS",
        "When it is true and no log format was chosen (by a flag, a profile or [defaults]), \
         retry-on writes its lines as GitHub Actions workflow commands (--log-format github).",
    ),
];

const EXIT_STATUS: &[Block] = &[
    Text("retry-on follows GNU timeout's conventions."),
    Item("N", "The exit code of the last attempt, normally."),
    Item(
        "0",
        "--check passed: the desired state already holds, and the command was not run again.",
    ),
    Item(
        "1",
        "retry-on could not write the command's stdout (a full disk, an I/O error; not a closed \
         pipe): it says so with the OS error, and does not retry, as GNU tools exit after a write error.",
    ),
    Item("124", "The last attempt was stopped by --timeout or --max-time."),
    Item(
        "125",
        "retry-on itself failed: a bad flag, regex, duration or configuration file; a lock file \
         that cannot be opened or taken in time; a DynamoDB lock that fails (access denied, no \
         region, missing table, unreachable endpoint); a hook that cannot be started. The message \
         names the bad value and where it was (for a configuration file: the file, line, column and key).",
    ),
    Item("126", "The command was found but cannot be executed."),
    Item(
        "127",
        "The command was not found, or the interpreter its #! line names; the message says which file.",
    ),
    Item(
        "128+N",
        "The command was killed by signal N: retry-on kills itself with the same signal (core \
         dumps off), so that a shell sees 128+N and a script stops on Ctrl-C as it would without retry-on.",
    ),
];

/// `signals::ENDING` without SIGINT, which has an item of its own.
const FORWARDED: &str =
    "SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGIO, SIGPWR, SIGSTKFLT";

const SIGNALS: &[Block] = &[
    Text(
        "Each attempt runs in its own process group. When --timeout or --max-time runs out, \
         retry-on sends --kill-signal to the whole group, then CONT, and KILL to the group \
         --kill-after later if anything in it is still alive.",
    ),
    Text(
        "retry-on handles every signal that would end it and can be caught, as below. A signal \
         that retry-on's parent made it ignore stays ignored, as it would for the command alone.",
    ),
    Item(
        "SIGINT",
        "Stops retrying at once, also during a wait. retry-on sends SIGINT to the running \
         attempt's process group, waits for it (with the --kill-after escalation), then exits as \
         if killed by SIGINT (130). A second SIGINT kills the group at once.",
    ),
    Item(
        FORWARDED,
        "Forwarded to the running attempt's (or hook's) process group; no further attempts or \
         hooks. retry-on exits with the command's own status: 128+N if it died of the signal, or \
         its exit code if it handled the signal and exited. During a wait, retry-on exits at once \
         as if killed by the signal. So are the realtime signals (SIGRTMIN to SIGRTMAX), and \
         SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGSEGV, SIGSYS, SIGTRAP and SIGXFSZ when another \
         process sends them; when the kernel sends one of those for a fault of retry-on's own, it \
         has its usual effect.",
    ),
    Item(
        "SIGWINCH",
        "Sent on to the running attempt's (or hook's) process group, which the terminal does not \
         reach while it is not the foreground group (with --foreground, the command gets it from \
         the terminal). SIGTSTP (Ctrl-Z) is not passed on: it stops retry-on, and the command \
         only when it has been lent the terminal.",
    ),
    Text(
        "SIGKILL cannot be caught: the command itself is then killed with retry-on (on Linux), \
         but what the command started is not, and runs on until it ends by itself. A --lock \
         is released when retry-on dies, whatever killed it.",
    ),
];

const FILES: &[Block] = &[
    Text(
        "The user's configuration file is the first of these that exists, unless --config names \
         one or --no-config is given:",
    ),
    Item(
        "1.",
        "$RETRY_ON_CONFIG (when set and not empty, the file it names must be readable: a missing file, a \
         directory or a device is an error, 125)",
    ),
    Item(
        "2.",
        "$XDG_CONFIG_HOME/retry-on/config.toml (an absolute XDG_CONFIG_HOME only, as the XDG spec says)",
    ),
    Item("3.", "~/.config/retry-on/config.toml"),
    Text(
        "A configuration file is a regular file of at most 1 MiB; anything else (a FIFO, \
         /dev/zero) is refused with 125.",
    ),
    Text(
        "It is TOML: an optional [defaults] table applies to every run, and a [profile.NAME] \
         table is used with -P NAME. A key is the long flag's name with _ for -, and the \
         repeatable pattern flags take lists (patterns, stdout_patterns, abort_on, retry_after). \
         Unknown keys, wrong types and bad values are errors: retry-on names the file, the line, \
         the column and the key, and exits 125. A user profile with the name of a built-in one \
         replaces it; an unknown profile name exits 125 and lists the names that exist; \
         --list-profiles lists them all.",
    ),
    Text(
        "Each setting is taken from the first of these that sets it: the flags, the profile, \
         [defaults], the environment (GITHUB_ACTIONS), the built-in defaults. Pattern lists add \
         up instead. --explain shows every setting with where it came from.",
    ),
];

/// Appends the sections to a page whose options clap_mangen has written.
pub(super) fn sections(roff: &mut Roff) {
    let environment: Vec<Block> = ENVIRONMENT.iter().map(|(name, text)| Item(name, text)).collect();
    let examples: Vec<Block> = EXAMPLES.iter().map(|(what, command)| Example(what, command)).collect();
    let sections: [(&str, &[Block]); 5] = [
        ("EXIT STATUS", EXIT_STATUS),
        ("SIGNALS", SIGNALS),
        ("FILES", FILES),
        ("ENVIRONMENT", &environment),
        ("EXAMPLES", &examples),
    ];
    for (title, blocks) in sections {
        roff.control("SH", [title]);
        for block in blocks {
            render(roff, block);
        }
    }
}

fn render(roff: &mut Roff, block: &Block) {
    match block {
        Text(text) => {
            roff.control("PP", []);
            roff.text([roman(*text)]);
        }
        Item(tag, text) => {
            roff.control("TP", []);
            roff.text([bold(*tag)]);
            roff.text([roman(*text)]);
        }
        Example(what, command) => {
            roff.control("PP", []);
            roff.text([roman(*what)]);
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            roff.text([bold(*command)]);
            roff.control("fi", []);
            roff.control("RE", []);
        }
    }
}
