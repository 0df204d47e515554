//! On a terminal (a pseudo-terminal from script(1)): --foreground, Ctrl-C,
//! lending the terminal to a command that reads it, and Ctrl-Z with `fg`.
//!
//! Without script(1) (or, for the Ctrl-Z test, bash) each test prints one
//! `skipped: ...` line and passes, unless RETRY_ON_REQUIRE_SCRIPT=1, in which
//! case it fails.

use crate::common::child::wait_bounded;
use crate::common::command::BIN;
use crate::common::exit::shell_code;
use crate::common::terminal::{have_bash, start_on_a_terminal, start_script, type_on};
use crate::{BOUND, trapping};

/// retry-on with `flags` runs a command that reads a line from the
/// terminal; what is typed must reach it.
fn the_command_reads_what_is_typed(flags: &[&str]) {
    let script = "echo ready; read answer; echo \"got $answer\"";
    let Some((mut terminal, mut screen)) =
        start_on_a_terminal(&[flags, &["-n", "1", "--", "sh", "-c", script]].concat())
    else {
        return;
    };
    screen.wait_for(|line| line.trim_end() == "ready", BOUND);
    type_on(&mut terminal, b"hello\n");
    screen.wait_for(|line| line.trim_end() == "got hello", BOUND);
    assert_eq!(shell_code(wait_bounded(&mut terminal, BOUND)), 0);
}

#[test]
fn with_foreground_the_command_reads_the_terminal() {
    the_command_reads_what_is_typed(&["--foreground"]);
}

/// Ctrl-C typed on the terminal reaches the command, whether it runs in a
/// group of its own (retry-on forwards it) or in retry-on's (--foreground),
/// and the run stops with 130.
#[test]
fn ctrl_c_on_the_terminal_reaches_the_command_and_stops_the_run() {
    for foreground in [false, true] {
        let mut args = vec!["-n", "3", "-d", "0"];
        if foreground {
            args.push("--foreground");
        }
        let script = trapping("INT", 1);
        args.extend_from_slice(&["--", "sh", "-c", &script]);
        let Some((mut terminal, mut screen)) = start_on_a_terminal(&args) else {
            return;
        };
        screen.wait_for(|line| line.starts_with("ready "), BOUND);
        type_on(&mut terminal, b"\x03");
        screen.wait_for(|line| line.contains("got INT"), BOUND);
        let status = wait_bounded(&mut terminal, BOUND);
        let shown = screen.all(BOUND);
        assert_eq!(shell_code(status), 130, "foreground {foreground}: {shown:?}");
        let attempts = shown.iter().filter(|line| line.starts_with("ready ")).count();
        assert_eq!(attempts, 1, "foreground {foreground}: retried: {shown:?}");
    }
}

// ---------------------------------------------------------------------------
// Lending the terminal to a command that reads it (without --foreground)

#[test]
fn a_command_that_reads_the_terminal_is_lent_it() {
    the_command_reads_what_is_typed(&[]);
}

/// Once lent the terminal, the command gets Ctrl-C itself; whether it dies of
/// it or catches it and exits 130 (as the AWS CLI does), the run stops there.
#[test]
fn ctrl_c_stops_the_run_when_the_command_has_the_terminal() {
    for (on_int, want) in [("", 130), ("trap 'echo caught; exit 130' INT; ", 130)] {
        let script = format!("echo ready; read a; echo \"got $a\"; {on_int}read b; echo unreachable");
        let Some((mut terminal, mut screen)) = start_on_a_terminal(&["-n", "3", "-d", "0", "--", "sh", "-c", &script])
        else {
            return;
        };
        screen.wait_for(|line| line.trim_end() == "ready", BOUND);
        type_on(&mut terminal, b"first\n");
        // Reading "first" proves the command has the terminal.
        screen.wait_for(|line| line.trim_end() == "got first", BOUND);
        type_on(&mut terminal, b"\x03");
        let status = wait_bounded(&mut terminal, BOUND);
        let shown = screen.all(BOUND);
        assert_eq!(shell_code(status), want, "{on_int:?}: {shown:?}");
        let attempts = shown.iter().filter(|line| line.trim_end() == "ready").count();
        assert_eq!(attempts, 1, "{on_int:?}: retried after Ctrl-C: {shown:?}");
        assert!(
            shown
                .iter()
                .any(|line| line.contains("not retrying an interrupted command")),
            "{shown:?}"
        );
    }
}

/// Ctrl-Z suspends the command and retry-on as one job; `fg` gives the
/// terminal back to the command. Driven through an interactive bash.
#[test]
fn ctrl_z_suspends_the_job_and_fg_resumes_it_with_the_terminal() {
    if !have_bash() {
        return;
    }
    let Some((mut terminal, mut screen)) = start_script("bash --norc --noprofile -i") else {
        return;
    };
    let command = format!(
        "{} -n 1 -- sh -c 'echo ready; read a; echo \"got $a\"; read b; echo \"got $b\"'\n",
        BIN
    );
    type_on(&mut terminal, command.as_bytes());
    screen.wait_for(|line| line.trim_end().ends_with("ready"), BOUND);
    type_on(&mut terminal, b"first\n");
    screen.wait_for(|line| line.trim_end() == "got first", BOUND);
    type_on(&mut terminal, b"\x1a");
    screen.wait_for(|line| line.contains("Stopped"), BOUND);
    type_on(&mut terminal, b"fg\n");
    type_on(&mut terminal, b"second\n");
    screen.wait_for(|line| line.trim_end() == "got second", BOUND);
    type_on(&mut terminal, b"echo \"status=$?\"; exit\n");
    screen.wait_for(|line| line.trim_end() == "status=0", BOUND);
    wait_bounded(&mut terminal, BOUND);
}
