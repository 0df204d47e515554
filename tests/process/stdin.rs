//! stdin: replayed to every attempt (from memory, a spilled file, a
//! rewound regular file), inherited when there is nothing to replay, and
//! never waited for when the command does not read it.

use crate::common::child::wait_bounded;
use crate::common::command::{BIN, isolated, tempdir};
use crate::common::exit::shell_code;
use crate::common::finished::retry_on;
use crate::{BOUND, PROMPT, code, pipe_name, text};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn piped_stdin_is_replayed_to_every_attempt() {
    let output = retry_on()
        .args([
            "-n",
            "3",
            "-d",
            "0",
            "-e",
            "1",
            "--",
            "sh",
            "-c",
            "echo \"got $(cat)\"; exit 1",
        ])
        .write_stdin("data")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{output:?}");
    assert_eq!(text(&output.stdout), "got data\ngot data\ngot data\n");
}

/// 10 MiB crosses the in-memory limit of the spool, so later attempts read
/// it back from the temporary file.
#[test]
fn large_piped_stdin_is_replayed_byte_exact_across_the_spill() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let input: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut cksum = Command::new("cksum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cksum.stdin.take().unwrap().write_all(&input).unwrap();
    let expected = text(&cksum.wait_with_output().unwrap().stdout);

    let output = retry_on()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "cksum; exit 1"])
        .write_stdin(input)
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(code(&output), 1, "{output:?}");
    assert_eq!(text(&output.stdout), expected.repeat(3));
}

/// Each attempt reads only part of its stdin; the next still gets it all.
#[test]
fn a_partly_read_stdin_is_replayed_from_the_start() {
    let output = retry_on()
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "head -n 1; exit 1"])
        .write_stdin("one\ntwo\nthree\n")
        .timeout(BOUND)
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "one\none\none\n");
}

#[test]
fn a_regular_file_on_stdin_is_rewound_to_its_starting_offset() {
    let dir = tempdir();
    let path = dir.path().join("input");
    std::fs::write(&path, "skipdata").unwrap();
    let mut file = File::open(&path).unwrap();
    file.seek(SeekFrom::Start(4)).unwrap();
    let script = "echo \"got $(cat) from $(readlink /proc/$$/fd/0)\"; exit 1";
    let output = isolated(BIN)
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", script])
        .stdin(file)
        .output()
        .unwrap();
    let line = format!("got data from {}\n", path.canonicalize().unwrap().display());
    assert_eq!(text(&output.stdout), line.repeat(3), "{output:?}");
}

#[test]
fn a_command_that_does_not_read_stdin_does_not_hang() {
    // `yes | retry-on -n 3 -- sh -c 'exit 1'`
    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let mut child = isolated(BIN)
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "exit 1"])
        .stdin(yes.stdout.take().unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, BOUND);
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(shell_code(status), 1);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    // A pipe that stays open and silent.
    let (reader, writer) = std::io::pipe().unwrap();
    let started = Instant::now();
    let mut child = isolated(BIN)
        .args(["-q", "-n", "3", "-d", "0", "--", "sh", "-c", "exit 1"])
        .stdin(reader)
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, BOUND);
    drop(writer);
    assert_eq!(shell_code(status), 1);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

/// With one attempt there is nothing to replay: the command gets retry-on's
/// own stdin, as do character devices such as /dev/null.
#[test]
fn stdin_is_inherited_for_one_attempt_and_for_devices() {
    let script = "readlink /proc/$$/fd/0";
    let (reader, writer) = std::io::pipe().unwrap();
    let ours = pipe_name(&reader);
    let output = isolated(BIN)
        .args(["-n", "1", "--", "sh", "-c", script])
        .stdin(reader)
        .output()
        .unwrap();
    drop(writer);
    assert_eq!(text(&output.stdout).trim(), ours, "{output:?}");

    let output = isolated(BIN)
        .args([
            "-q",
            "-n",
            "2",
            "-d",
            "0",
            "--",
            "sh",
            "-c",
            &format!("{script}; exit 1"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&output.stdout), "/dev/null\n/dev/null\n", "{output:?}");

    // A pipe with more than one attempt is replayed through a pipe of its own.
    let (reader, writer) = std::io::pipe().unwrap();
    let ours = pipe_name(&reader);
    drop(writer);
    let output = isolated(BIN)
        .args(["-q", "-n", "2", "-d", "0", "--", "sh", "-c", script])
        .stdin(reader)
        .output()
        .unwrap();
    let theirs = text(&output.stdout);
    assert!(theirs.starts_with("pipe:[") && theirs.trim() != ours, "{theirs}");
}
