//! End-to-end: the real `pip` through retry-on against a stub package index
//! on 127.0.0.1 (tests/support/python_index.rs) whose wheel download answers
//! 503 once. pip's own retries are off (`--retries 0`), so its final error,
//! `Max retries exceeded ... (Caused by ResponseError('too many 503 error
//! responses'))`, comes at once.
//!
//! Without `pip` on PATH the test prints one `skipped: ...` line and passes,
//! unless RETRY_ON_REQUIRE_PIP=1, in which case it fails.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod run;
    pub mod skip;
}
#[path = "support/e2e.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod e2e;
#[path = "support/http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;
#[path = "support/python_index.rs"]
mod python_index;

use common::run::Run;
use e2e::{alone, require, retry_on, run};
use python_index::{Index, Project};
use std::path::Path;
use std::process::Command;

/// The pip profile's patterns with a short first delay (its schedule starts
/// at 15s).
const OPTS: &[&str] = &["-P", "pip", "-d", "100ms"];
const WHEEL: &str = "demo-1.0-py3-none-any.whl";

/// A pure-Python wheel of `demo` 1.0 (one module), made with the zipfile
/// module of the machine's python3.
const MAKE_WHEEL: &str = r#"
import sys, zipfile
files = {
    "demo.py": "VERSION = '1.0'\n",
    "demo-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n",
    "demo-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: retry-on-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = "".join(name + ",,\n" for name in files) + "demo-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(sys.argv[1], "w") as wheel:
    for name, text in files.items():
        wheel.writestr(name, text)
    wheel.writestr("demo-1.0.dist-info/RECORD", record)
"#;

fn make_wheel(dir: &Path) -> Vec<u8> {
    let path = dir.join(WHEEL);
    let made = run(alone(&["python3", "-c", MAKE_WHEEL, &path.to_string_lossy()]));
    made.assert_success();
    std::fs::read(&path).unwrap()
}

fn index(wheel: &[u8]) -> Index {
    Index::start(Project {
        name: "demo".into(),
        wheel_name: WHEEL.into(),
        wheel: wheel.to_vec(),
        unavailable: 1,
    })
}

fn pip_argv(index: &Index, target: &Path) -> Vec<String> {
    [
        "pip",
        "install",
        "--retries",
        "0",
        "--no-cache-dir",
        "--target",
        &target.to_string_lossy(),
        "--index-url",
        &index.url(),
        "demo",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The isolated environment has no PIP_* variables (this machine sets
/// PIP_FIND_LINKS and PIP_DEFAULT_TIMEOUT); PIP_CONFIG_FILE=/dev/null makes
/// pip read no configuration file at all. No version check (it would ask
/// the index for `pip`), no prompts.
fn pip_env(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
}

/// pip's final error for the wheel's 503 (commands/install.py
/// create_os_error_message around urllib3's MaxRetryError).
fn gave_up(r: &Run) -> usize {
    let cause = format!(
        "Max retries exceeded with url: /files/{WHEEL} (Caused by ResponseError('too many 503 error responses'))"
    );
    r.stderr_lines_starting("ERROR: Could not install packages due to an OSError: ")
        .iter()
        .filter(|l| l.ends_with(&cause))
        .count()
}

#[test]
fn pip_install_is_retried_through_a_503_on_the_wheel() {
    if require("pip", "e2e_pip::pip_install_is_retried_through_a_503_on_the_wheel").is_none() {
        return;
    }
    println!("{}", e2e::version(&["pip", "--version"]));
    let tmp = common::command::tempdir();
    let dir = tmp.path();
    let home = dir.join("home");
    std::fs::create_dir(&home).unwrap();
    let wheel = make_wheel(dir);
    let pip = |cmd: &mut Command| pip_env(cmd, &home);

    // Can fail: pip alone meets the 503 (its own retries are off).
    let idx = index(&wheel);
    let mut cmd = alone(&pip_argv(&idx, &dir.join("alone")));
    pip(&mut cmd);
    let alone_run = run(cmd);
    alone_run.assert_failure();
    assert_eq!(gave_up(&alone_run), 1, "{alone_run}");
    assert_eq!((idx.page_requests(), idx.wheel_requests()), (1, 1), "{alone_run}");

    // ... and so does retry-on with one attempt, with pip's exit code.
    let idx = index(&wheel);
    let mut cmd = retry_on(&[OPTS, &["-n", "1"]].concat(), &pip_argv(&idx, &dir.join("once")));
    pip(&mut cmd);
    let once = run(cmd);
    assert_eq!(once.code(), alone_run.code(), "{once}");
    assert_eq!(gave_up(&once), 1, "{once}");
    assert_eq!(idx.wheel_requests(), 1, "{once}");

    let idx = index(&wheel);
    let target = dir.join("target");
    let mut cmd = retry_on(OPTS, &pip_argv(&idx, &target));
    pip(&mut cmd);
    let r = run(cmd);
    r.assert_success();
    assert_eq!(r.retries(), 1, "{r}");
    assert_eq!(gave_up(&r), 1, "{r}");
    assert!(r.stdout.lines().any(|l| l == "Successfully installed demo-1.0"), "{r}");
    assert_eq!((idx.page_requests(), idx.wheel_requests()), (2, 2), "{r}");
    assert_eq!(
        idx.requests().len(),
        4,
        "pip asked for something else too: {:?}",
        idx.requests().iter().map(|q| &q.target).collect::<Vec<_>>()
    );
    assert!(target.join("demo.py").is_file(), "{r}");
    println!("pip install: 2 attempts, 2 page and 2 wheel requests (the first wheel download answered 503)");
}
