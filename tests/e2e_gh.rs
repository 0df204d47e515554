//! End-to-end: the real GitHub CLI (`gh api user`) through retry-on against
//! a fake GitHub API on 127.0.0.1 (tests/support/github_api.rs), which gh
//! reaches as its HTTP proxy for the local host name `github.localhost`. No
//! account: GH_TOKEN is a dummy, and gh's config lives in a temporary
//! directory.
//!
//! Without `gh` on PATH each test prints one `skipped: ...` line and passes,
//! unless RETRY_ON_REQUIRE_GH=1, in which case it fails.

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
#[path = "support/github_api.rs"]
mod github_api;
#[path = "support/http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;

use e2e::{alone, require, retry_on, run};
use github_api::{GitHubApi, primary_rate_limit, secondary_rate_limit, server_error};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The gh profile's patterns with short waits (its schedule starts at 15s);
/// the cap stays above the 2 s that a `Retry-After` asks for below.
const OPTS: &[&str] = &["-P", "gh", "-d", "100ms", "--max-delay", "5s"];
const ARGV: &[&str] = &["gh", "api", "user"];
const SECONDARY: &str =
    "gh: You have exceeded a secondary rate limit. Please wait a few minutes before you try again. (HTTP 403)";
const BAD_GATEWAY: &str = "gh: Server Error (HTTP 502)";
const PRIMARY: &str = "gh: API rate limit exceeded for user ID 1. (HTTP 403)";

/// gh for the host github.localhost through the fake API as its proxy, with
/// a dummy token, its config in `dir`, and no update check or prompts.
fn gh_env(cmd: &mut Command, dir: &Path, api: &GitHubApi) {
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("GH_CONFIG_DIR", dir.join("gh-config"))
        .env("GH_HOST", "github.localhost")
        .env("GH_TOKEN", "not-a-real-token")
        .env("HTTP_PROXY", api.proxy_url())
        .env("HTTPS_PROXY", api.proxy_url())
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .env("GH_PROMPT_DISABLED", "1")
        .env("NO_COLOR", "1");
}

/// Every request went to the GitHub host, by way of the proxy.
fn assert_all_for_the_api(api: &GitHubApi) {
    for req in api.requests() {
        assert_eq!(req.target, "http://api.github.localhost/user", "{req:?}");
    }
}

#[test]
fn gh_api_is_retried_through_a_secondary_rate_limit_and_a_502() {
    if require(
        "gh",
        "e2e_gh::gh_api_is_retried_through_a_secondary_rate_limit_and_a_502",
    )
    .is_none()
    {
        return;
    }
    println!("{}", e2e::version(&["gh", "--version"]));
    let tmp = common::command::tempdir();
    let script = || vec![secondary_rate_limit(None), server_error(502)];

    // Can fail: gh alone meets the rate limit (gh does not retry).
    let api = GitHubApi::start(script());
    let mut cmd = alone(ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let gh = run(cmd);
    gh.assert_failure();
    assert_eq!(gh.stderr_count(SECONDARY), 1, "{gh}");
    assert_eq!(api.requests().len(), 1, "{gh}");

    // ... and so does retry-on with one attempt, with gh's exit code.
    let api = GitHubApi::start(script());
    let mut cmd = retry_on(&[OPTS, &["-n", "1"]].concat(), ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let once = run(cmd);
    assert_eq!(once.code(), gh.code(), "{once}");
    assert_eq!(api.requests().len(), 1, "{once}");

    let api = GitHubApi::start(script());
    let mut cmd = retry_on(OPTS, ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let r = run(cmd);
    r.assert_success();
    assert_eq!(r.retries(), 2, "{r}");
    assert_eq!(r.stderr_count(SECONDARY), 1, "{r}");
    assert_eq!(r.stderr_count(BAD_GATEWAY), 1, "{r}");
    assert!(r.stdout.contains(r#""login":"octo""#), "{r}");
    assert_eq!(api.requests().len(), 3, "{r}");
    assert_all_for_the_api(&api);
    println!("gh api: 3 requests (403 secondary rate limit, 502, 200), 2 retries");
}

/// With GH_DEBUG=api gh prints the response headers on stderr, among them
/// `< Retry-After: 2`: the next attempt comes at least 2 s later, although
/// the schedule alone (`-d 100ms`) would wait far less.
#[test]
fn gh_waits_as_long_as_the_secondary_rate_limit_says() {
    if require("gh", "e2e_gh::gh_waits_as_long_as_the_secondary_rate_limit_says").is_none() {
        return;
    }
    let tmp = common::command::tempdir();
    let script = || vec![secondary_rate_limit(Some(2))];

    // Can fail: without GH_DEBUG=api gh does not print the header.
    let api = GitHubApi::start(script());
    let mut cmd = alone(ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let quiet = run(cmd);
    quiet.assert_failure();
    assert_eq!(quiet.stderr_count("< Retry-After:"), 0, "{quiet}");

    let api = GitHubApi::start(script());
    let mut cmd = retry_on(OPTS, ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    cmd.env("GH_DEBUG", "api");
    let r = run(cmd);
    r.assert_success();
    assert_eq!(r.stderr_count("< Retry-After: 2"), 1, "{r}");
    assert_eq!(r.retries(), 1, "{r}");
    let retry = r.own_lines()[0];
    assert!(retry.ends_with("(the output asked for 2s)"), "{r}");
    let reqs = api.requests();
    assert_eq!(reqs.len(), 2, "{r}");
    let gap = reqs[1].at.duration_since(reqs[0].at);
    println!("gh api: the attempt after `Retry-After: 2` came {gap:?} after the rate limit");
    assert!(
        gap >= Duration::from_secs(2),
        "came {gap:?} after the hinted failure\n{r}"
    );
}

/// A primary rate limit lasts until the hour's window resets: not retried.
#[test]
fn gh_primary_rate_limit_is_not_retried() {
    if require("gh", "e2e_gh::gh_primary_rate_limit_is_not_retried").is_none() {
        return;
    }
    let tmp = common::command::tempdir();

    let api = GitHubApi::start(vec![primary_rate_limit()]);
    let mut cmd = retry_on(&[OPTS, &["-n", "5"]].concat(), ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let r = run(cmd);
    r.assert_failure();
    assert_eq!(r.stderr_count(PRIMARY), 1, "{r}");
    assert_eq!(r.retries(), 0, "{r}");
    assert_eq!(r.own_lines().len(), 1, "{r}");
    assert!(r.own_lines()[0].contains("matched abort pattern"), "{r}");
    assert_eq!(api.requests().len(), 1, "{r}");

    // Can fail: a pattern that matches the same line retries it, and the
    // second request gets through.
    let api = GitHubApi::start(vec![primary_rate_limit()]);
    let mut cmd = retry_on(&["-p", "API rate limit exceeded", "-d", "10ms", "-n", "5"], ARGV);
    gh_env(&mut cmd, tmp.path(), &api);
    let r = run(cmd);
    r.assert_success();
    assert_eq!(r.retries(), 1, "{r}");
    assert_eq!(api.requests().len(), 2, "{r}");
}
