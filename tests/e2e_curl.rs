//! End-to-end: the real `curl` through retry-on against a flaky HTTP server
//! on 127.0.0.1 (tests/support/flaky_http.rs) that answers 503 twice, the
//! first time with `Retry-After: 2`.
//!
//! Without `curl` on PATH each test prints one `skipped: ...` line and
//! passes, unless RETRY_ON_REQUIRE_CURL=1, in which case it fails.

mod common {
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod run;
    pub mod skip;
}
#[path = "support/e2e.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod e2e;
#[path = "support/flaky_http.rs"]
mod flaky_http;
#[path = "support/http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;

use e2e::{alone, require, retry_on, run};
use flaky_http::{FlakyHttp, unavailable};
use std::time::Duration;

/// The curl profile's patterns with a short first delay (its schedule would
/// start at 1s).
const OPTS: &[&str] = &["-P", "curl", "-d", "100ms"];
const BODY: &str = "hello from 127.0.0.1\n";
const HTTP_503: &str = "curl: (22) The requested URL returned error: 503";

fn server() -> FlakyHttp {
    FlakyHttp::start(vec![unavailable(Some(2)), unavailable(None)], BODY)
}

fn curl_argv(srv: &FlakyHttp) -> Vec<String> {
    ["curl", "--fail", "-sS", "-v", "--noproxy", "*", &srv.url("/file.txt")]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Two 503s, then the file: exactly three requests.
#[test]
fn curl_is_retried_through_503s() {
    if require("curl", "e2e_curl::curl_is_retried_through_503s").is_none() {
        return;
    }
    println!("{}", e2e::version(&["curl", "--version"]));

    // Can fail: curl alone meets the first 503 and fails (exit 22).
    let srv = server();
    let curl = run(alone(&curl_argv(&srv)));
    assert_eq!(curl.code(), 22, "{curl}");
    assert_eq!(curl.stderr_count(HTTP_503), 1, "{curl}");
    assert_eq!(curl.stderr_count("< Retry-After: 2"), 1, "{curl}");
    assert_eq!(srv.hits(), 1);

    // ... and so does retry-on with one attempt, with curl's exit code.
    let srv = server();
    let once = run(retry_on(&[OPTS, &["-n", "1"]].concat(), &curl_argv(&srv)));
    assert_eq!(once.code(), 22, "{once}");
    assert_eq!(srv.hits(), 1, "{once}");

    let srv = server();
    let r = run(retry_on(OPTS, &curl_argv(&srv)));
    r.assert_success();
    assert_eq!(r.stdout, BODY.trim_end(), "{r}");
    assert_eq!(srv.hits(), 3, "{r}");
    assert_eq!(r.stderr_count(HTTP_503), 2, "{r}");
    assert_eq!(r.retries(), 2, "{r}");
    println!("curl: {} requests, waits between them {:?}", srv.hits(), srv.gaps());
}

/// The first 503 says `Retry-After: 2`: the next attempt comes at least 2 s
/// later, although the schedule alone (`-d 100ms`) would wait far less.
#[test]
fn curl_waits_as_long_as_retry_after_says() {
    if require("curl", "e2e_curl::curl_waits_as_long_as_retry_after_says").is_none() {
        return;
    }
    let srv = server();
    let r = run(retry_on(OPTS, &curl_argv(&srv)));
    r.assert_success();
    assert_eq!(srv.hits(), 3, "{r}");
    let gaps = srv.gaps();
    println!("curl: waits between the 3 requests: {gaps:?}");
    assert!(
        gaps[0] >= Duration::from_secs(2),
        "the attempt after `Retry-After: 2` came {:?} after the hinted failure\n{r}",
        gaps[0]
    );
}
