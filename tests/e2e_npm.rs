//! End-to-end: the real `npm` through retry-on against a stub registry on
//! 127.0.0.1 (tests/support/npm_registry.rs) that answers 503 once, then the
//! package document.
//!
//! Without `npm` on PATH each test prints one `skipped: ...` line and
//! passes, unless RETRY_ON_REQUIRE_NPM=1, in which case it fails.

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
#[path = "support/npm_registry.rs"]
mod npm_registry;

use e2e::{alone, require, retry_on, run};
use npm_registry::{Config, Registry};
use std::path::Path;
use std::process::Command;

/// The profile under test, with a short first delay (its schedule starts
/// at 30s); its patterns unchanged.
const OPTS: &[&str] = &["-P", "npm", "-d", "100ms"];

/// npm >= 10 says "npm error code E503"; npm 9 (Debian 12's) "npm ERR! code E503".
fn e503_lines(r: &common::run::Run) -> usize {
    r.stderr_count("npm error code E503") + r.stderr_count("npm ERR! code E503")
}

fn npm_argv(reg: &Registry) -> Vec<String> {
    [
        "npm",
        "view",
        "retry-on-demo",
        "--registry",
        &reg.url(),
        "--fetch-retries=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// HOME, cache and config files in `dir`; no update check, no proxies.
fn npm_env(cmd: &mut Command, dir: &Path) {
    let (user, global) = (dir.join("user-npmrc"), dir.join("global-npmrc"));
    std::fs::write(&user, "").unwrap();
    std::fs::write(&global, "").unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    cmd.env("HOME", dir.join("home"))
        .env("npm_config_cache", dir.join("cache"))
        .env("npm_config_userconfig", &user)
        .env("npm_config_globalconfig", &global)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_loglevel", "warn")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
}

#[test]
fn npm_view_is_retried_through_a_503() {
    if require("npm", "e2e_npm::npm_view_is_retried_through_a_503").is_none() {
        return;
    }
    println!("npm {}", e2e::version(&["npm", "--version"]));
    let dir = common::command::tempdir();

    // Can fail: npm alone meets the 503 (its own retries are off).
    let reg = Registry::start(Config::new().unavailable(1));
    let mut cmd = alone(&npm_argv(&reg));
    npm_env(&mut cmd, dir.path());
    let npm = run(cmd);
    npm.assert_failure();
    assert_eq!(e503_lines(&npm), 1, "{npm}");
    assert_eq!(reg.packument_requests(), 1, "{npm}");

    // ... and so does retry-on with one attempt, with npm's exit code.
    let reg = Registry::start(Config::new().unavailable(1));
    let mut cmd = retry_on(&[OPTS, &["-n", "1"]].concat(), &npm_argv(&reg));
    npm_env(&mut cmd, dir.path());
    let once = run(cmd);
    assert_eq!(once.code(), npm.code(), "{once}");
    assert_eq!(reg.packument_requests(), 1, "{once}");

    let reg = Registry::start(Config::new().unavailable(1));
    let mut cmd = retry_on(OPTS, &npm_argv(&reg));
    npm_env(&mut cmd, dir.path());
    let r = run(cmd);
    r.assert_success();
    assert_eq!(r.retries(), 1, "{r}");
    assert_eq!(e503_lines(&r), 1, "{r}");
    assert_eq!(reg.packument_requests(), 2, "{r}");
    assert_eq!(
        reg.total_requests(),
        2,
        "npm asked for something else too: {:?}",
        reg.requests()
    );
    assert!(r.stdout.contains("retry-on-demo@1.2.3 | MIT"), "{r}");
    println!(
        "npm view: {} packument requests (1 answered 503)",
        reg.packument_requests()
    );
}
