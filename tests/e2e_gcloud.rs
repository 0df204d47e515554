//! End-to-end: the real `gcloud` through retry-on against a fake Cloud
//! Resource Manager API on 127.0.0.1 (tests/support/resource_manager.rs)
//! whose first setIamPolicy answers 409 ABORTED, "There were concurrent
//! policy changes": `gcloud projects add-iam-policy-binding` is a
//! read-modify-write, and gcloud does not retry it (its apitools layer
//! retries 429 and 5xx, not 409).
//!
//! No account: the token is a dummy (CLOUDSDK_AUTH_ACCESS_TOKEN), gcloud's
//! configuration lives in a temporary CLOUDSDK_CONFIG, and its on-GCE cache
//! says "not on GCE" so that it does not look up the metadata server.
//!
//! The Google Cloud SDK is in no registry we use: the test runs where
//! `gcloud` is installed and prints one `skipped: ...` line where it is not,
//! unless RETRY_ON_REQUIRE_GCLOUD=1 (set by .ci/run only where it is found).

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
#[path = "support/resource_manager.rs"]
mod resource_manager;

use common::run::Run;
use e2e::{alone, require, retry_on, run};
use resource_manager::{CONCURRENT, ETAG, ResourceManager};
use std::path::Path;
use std::process::Command;

/// The gcloud profile's patterns with short waits (its schedule starts at 2s).
const OPTS: &[&str] = &["-P", "gcloud", "-d", "100ms", "--max-delay", "200ms"];
const ROLE: &str = "roles/viewer";
const MEMBER: &str = "user:retry-on@example.com";
const ARGV: &[&str] = &[
    "gcloud",
    "projects",
    "add-iam-policy-binding",
    "demo-project",
    "--member=user:retry-on@example.com",
    "--role=roles/viewer",
    "--condition=None",
];

/// gcloud with its configuration in `dir`, a dummy token, the Resource
/// Manager API at the fake, and nothing else to reach: no prompts, no usage
/// reports, no update check, no metadata server.
fn gcloud_env(cmd: &mut Command, dir: &Path, api: &ResourceManager) {
    let config = dir.join("gcloud-config");
    std::fs::create_dir_all(&config).unwrap();
    // gce_cache.py reads this file before it would ask DNS for
    // metadata.google.internal.
    std::fs::write(config.join("gce"), "False").unwrap();
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("CLOUDSDK_CONFIG", &config)
        .env("CLOUDSDK_AUTH_ACCESS_TOKEN", "not-a-real-token")
        .env("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER", api.url())
        .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
        .env("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true")
        .env("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true")
        .env("CLOUDSDK_CORE_CHECK_GCE_METADATA", "false")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
}

/// gcloud's error line for the 409 (api_lib/util/exceptions.py).
fn conflicts(r: &Run) -> usize {
    let line = format!(
        "ERROR: (gcloud.projects.add-iam-policy-binding) Resource in projects [demo-project:setIamPolicy] is the subject of a conflict: {CONCURRENT}"
    );
    r.stderr_count(&line)
}

/// One run against a fresh fake, alone or through retry-on with `opts`.
fn add_binding(dir: &Path, opts: Option<&[&str]>) -> (Run, ResourceManager) {
    let api = ResourceManager::start(1, ROLE, MEMBER);
    let mut cmd = match opts {
        None => alone(ARGV),
        Some(opts) => retry_on(opts, ARGV),
    };
    gcloud_env(&mut cmd, dir, &api);
    (run(cmd), api)
}

#[test]
fn add_iam_policy_binding_is_retried_through_concurrent_policy_changes() {
    if require(
        "gcloud",
        "e2e_gcloud::add_iam_policy_binding_is_retried_through_concurrent_policy_changes",
    )
    .is_none()
    {
        return;
    }
    let tmp = common::command::tempdir();
    let dir = tmp.path();

    // Can fail: gcloud alone meets the conflict, and does not retry it.
    let (gcloud, api) = add_binding(dir, None);
    gcloud.assert_failure();
    assert_eq!(conflicts(&gcloud), 1, "{gcloud}");
    assert_eq!((api.get_calls(), api.set_calls()), (1, 1), "{gcloud}");

    // ... and so does retry-on with one attempt, with gcloud's exit code.
    let (once, api) = add_binding(dir, Some(&[OPTS, &["-n", "1"]].concat()));
    assert_eq!(once.code(), gcloud.code(), "{once}");
    assert_eq!(conflicts(&once), 1, "{once}");
    assert_eq!(api.set_calls(), 1, "{once}");

    let (r, api) = add_binding(dir, Some(OPTS));
    r.assert_success();
    assert_eq!(r.retries(), 1, "{r}");
    assert_eq!(conflicts(&r), 1, "{r}");
    assert_eq!(
        r.stderr_count("Updated IAM policy for project [demo-project]."),
        1,
        "{r}"
    );
    assert!(r.stdout.contains(MEMBER), "{r}");
    // The whole read-modify-write again: a new read, then the write.
    assert_eq!((api.get_calls(), api.set_calls()), (2, 2), "{r}");
    assert_eq!(
        api.requests().len(),
        4,
        "gcloud asked for something else too: {:?}",
        api.requests().iter().map(|q| &q.target).collect::<Vec<_>>()
    );
    let last = api.requests().pop().unwrap().body_text();
    assert!(last.contains(ETAG) && last.contains(MEMBER), "{last}");

    let mut version = alone(&["gcloud", "--version"]);
    gcloud_env(&mut version, dir, &api);
    let version = run(version);
    println!("{}", version.stdout.lines().next().unwrap_or(""));
    println!("gcloud add-iam-policy-binding: 2 attempts, 2 reads and 2 writes (the first write answered 409)");
}
