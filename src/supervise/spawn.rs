//! Starting a child as `execvp` would, and saying exactly why when it cannot
//! be started.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tokio::process::{Child, Command};

use crate::error::Error;
use crate::platform::ChildSignals;

/// Spawns `argv` with the command that `build` makes of it. A file that the
/// kernel cannot execute for want of a `#!` line is run by `/bin/sh`, as
/// `execvp`, GNU `timeout` and `env` do.
pub(super) fn spawn(argv: &[OsString], build: impl Fn(&[OsString]) -> Command) -> Result<Child, Error> {
    let spawned = match build(argv).spawn() {
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOEXEC) => {
            let script = find_program(&argv[0]).map_or_else(|| argv[0].clone(), PathBuf::into_os_string);
            let mut through_sh = vec![OsString::from("/bin/sh"), script];
            through_sh.extend(argv[1..].iter().cloned());
            build(&through_sh).spawn()
        }
        other => other,
    };
    spawned.map_err(|e| spawn_error(&argv[0], e))
}

/// Makes the child die with retry-on, gives it back the signal dispositions
/// retry-on changed for itself and, with `merge_output`, makes its stderr
/// the pipe its stdout is.
pub(super) fn prepare_child(command: &mut Command, child_signals: ChildSignals, merge_output: bool) {
    let parent = nix::unistd::getpid();
    // SAFETY: the closure makes only async-signal-safe calls (signal, prctl, getppid, dup2).
    unsafe {
        command.pre_exec(move || {
            child_signals.apply_in_child(parent)?;
            if merge_output {
                nix::unistd::dup2_stderr(std::io::stdout())?;
            }
            Ok(())
        });
    }
}

fn spawn_error(program: &OsStr, source: io::Error) -> Error {
    let command = program.to_string_lossy().into_owned();
    // Out of descriptors (for the pipes, or in the child before exec),
    // processes or memory: retry-on's own failure, not the command's.
    let own = [
        nix::libc::EMFILE,
        nix::libc::ENFILE,
        nix::libc::EAGAIN,
        nix::libc::ENOMEM,
    ];
    if source.raw_os_error().is_some_and(|errno| own.contains(&errno)) {
        return Error::io(
            format!("cannot start {command:?}: retry-on ran out of resources"),
            source,
        );
    }
    if source.kind() != io::ErrorKind::NotFound {
        return Error::NotExecutable { command, source };
    }
    match find_program(program) {
        None => Error::NotFound { command },
        // The file is there: what is missing is what it needs to run.
        Some(path) => Error::MissingInterpreter {
            command,
            interpreter: interpreter_of(&path),
        },
    }
}

/// Where `execvp` would find `program`: the path itself if it has a `/`,
/// else the first executable file of that name in `$PATH`.
fn find_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program)).filter(|p| p.exists());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The interpreter a `#!` line names, if the file has one.
fn interpreter_of(path: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).ok()?;
    let line = head[..n].strip_prefix(b"#!")?.split(|b| *b == b'\n').next()?;
    let interpreter = String::from_utf8_lossy(line).split_whitespace().next()?.to_string();
    Some(interpreter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_on_the_path_or_by_its_own_path() {
        assert!(find_program(OsStr::new("sh")).is_some());
        assert!(find_program(OsStr::new("/bin/sh")).is_some());
        assert_eq!(find_program(OsStr::new("no-such-program-anywhere")), None);
    }

    #[test]
    fn the_interpreter_is_read_from_the_hash_bang_line() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/nonexistent/sh -e\necho hi\n").unwrap();
        assert_eq!(interpreter_of(&script).as_deref(), Some("/nonexistent/sh"));
        std::fs::write(&script, "echo no hash bang\n").unwrap();
        assert_eq!(interpreter_of(&script), None);
    }
}
