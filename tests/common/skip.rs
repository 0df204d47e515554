//! Tests that need a program the machine may lack: they are skipped, with
//! one `skipped: …` line, unless a RETRY_ON_REQUIRE_* switch makes the lack
//! a failure (as CI does, so that nothing is skipped there).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// `name` on PATH, as an executable file.
pub fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// True when the tests can run (`available`). Otherwise panics when the
/// environment variable `switch` is 1, or says once per test binary that
/// `tests` were skipped because of what is `missing`, and returns false.
pub fn available_or_skip(available: bool, switch: &str, tests: &str, missing: &str, remedy: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var(switch).as_deref() == Ok("1") {
        panic!("{switch}=1 but {missing}; {remedy}");
    }
    static SAID: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if SAID.lock().unwrap().insert(missing.to_string()) {
        // Straight to stderr, past the test harness's capture.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {tests}: {missing}; {remedy}, or set {switch}=1 to make this a failure"
        );
    }
    false
}
