//! End-to-end: the real `git` through retry-on, against a repository in a
//! temporary directory whose `.git/index.lock` another process holds for a
//! while, as a concurrent git process would.
//!
//! Without `git` on PATH each test prints one `skipped: ...` line and
//! passes, unless RETRY_ON_REQUIRE_GIT=1, in which case it fails.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod procfs;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod run;
    pub mod skip;
}
#[path = "support/e2e.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod e2e;

use common::run::is_retry_line;
use e2e::{WITHIN, alone, require, retry_on, run};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The git profile's patterns, with short waits.
const OPTS: &[&str] = &["-P", "git", "-d", "100ms", "--max-delay", "300ms"];

/// A private HOME, no system config, no pager, no editor.
fn git_env(cmd: &mut Command, dir: &Path) {
    cmd.env("HOME", dir.join("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("GIT_EDITOR", "true")
        .env("LC_ALL", "C");
}

fn git(dir: &Path, repo: &Path, args: &[&str]) -> common::run::Run {
    let mut argv = vec!["git", "-C", repo.to_str().unwrap()];
    argv.extend(args);
    let mut cmd = alone(&argv);
    git_env(&mut cmd, dir);
    let r = run(cmd);
    r.assert_success();
    r
}

#[test]
fn commit_is_retried_while_another_process_holds_the_index_lock() {
    if require(
        "git",
        "e2e_git::commit_is_retried_while_another_process_holds_the_index_lock",
    )
    .is_none()
    {
        return;
    }
    println!("{}", e2e::version(&["git", "--version"]));
    let tmp = common::command::tempdir();
    let dir = tmp.path();
    std::fs::create_dir(dir.join("home")).unwrap();
    let repo = dir.join("repo");
    git(dir, dir, &["init", "-q", "repo"]);
    git(dir, &repo, &["config", "user.name", "Retry On"]);
    git(dir, &repo, &["config", "user.email", "retry-on@example.invalid"]);
    git(dir, &repo, &["config", "commit.gpgsign", "false"]);
    std::fs::write(repo.join("file.txt"), "hello\n").unwrap();
    git(dir, &repo, &["add", "file.txt"]);
    let lock = repo.join(".git/index.lock");
    let failure = format!("fatal: Unable to create '{}': File exists.", lock.display());

    // Another process takes the lock and holds it until told to let go.
    let mut holder = Command::new("sh")
        .args([
            "-c",
            r#": > "$1" && echo held && read _ && rm "$1" && echo released"#,
            "holder",
        ])
        .arg(&lock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the lock holder");
    let mut let_go = holder.stdin.take().unwrap();
    let mut held = common::child::Lines::new(holder.stdout.take().unwrap());
    held.wait_for(|l| l == "held", WITHIN);

    let commit = [
        "git",
        "-C",
        repo.to_str().unwrap(),
        "commit",
        "-q",
        "-m",
        "committed through retry-on",
    ];

    // Can fail: git alone, and retry-on with one attempt, fail on the lock.
    let mut cmd = alone(&commit);
    git_env(&mut cmd, dir);
    let alone_run = run(cmd);
    alone_run.assert_failure();
    assert_eq!(alone_run.stderr_count(&failure), 1, "{alone_run}");
    let mut cmd = retry_on(&[OPTS, &["-n", "1"]].concat(), &commit);
    git_env(&mut cmd, dir);
    let once = run(cmd);
    assert_eq!(once.code(), alone_run.code(), "{once}");
    assert_eq!(once.stderr_count(&failure), 1, "{once}");

    // Through retry-on: let go of the lock once two attempts have met it.
    let mut cmd = retry_on(&[OPTS, &["-n", "30"]].concat(), &commit);
    git_env(&mut cmd, dir);
    let mut p = e2e::start(cmd);
    for _ in 0..2 {
        p.stderr.wait_for(is_retry_line, WITHIN);
    }
    writeln!(let_go, "go").unwrap();
    held.wait_for(|l| l == "released", WITHIN);
    let r = p.finish();
    assert!(common::procfs::wait_until(WITHIN, || holder
        .try_wait()
        .unwrap()
        .is_some()));
    r.assert_success();
    let failed = r.stderr_count(&failure);
    assert!(failed >= 2, "{r}");
    assert_eq!(
        r.retries(),
        failed,
        "every failed attempt met the lock, and was retried\n{r}"
    );
    assert!(!lock.exists());
    let log = git(dir, &repo, &["log", "--format=%s"]);
    assert_eq!(log.stdout, "committed through retry-on", "{log}");
    println!("git commit: {} attempts, {failed} met the held index.lock", failed + 1);
}
