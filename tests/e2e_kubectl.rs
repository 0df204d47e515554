//! End-to-end: the real `kubectl` through retry-on against a fake API server
//! on 127.0.0.1 (tests/support/kube_api.rs). No cluster, no kubeconfig.
//!
//! Without `kubectl` on PATH each test prints one `skipped: ...` line and
//! passes, unless RETRY_ON_REQUIRE_KUBECTL=1, in which case it fails.

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
mod e2e;
#[path = "support/http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;
#[path = "support/kube_api.rs"]
mod kube_api;

use e2e::{alone, require, retry_on, run};
use kube_api::{Config, KubeApi, Patched};
use std::path::Path;

/// The profile under test; short waits so that the test is quick (its
/// schedule starts at 1s), its patterns unchanged.
const PROFILE: &[&str] = &["-P", "kubectl"];
const FAST: &[&str] = &["-d", "100ms", "--max-delay", "200ms"];

/// `kubectl --kubeconfig=/dev/null --server URL patch configmap demo ...`
fn patch_argv(api: &KubeApi, color: &str) -> Vec<String> {
    [
        "kubectl",
        "--kubeconfig=/dev/null",
        "--server",
        &api.url(),
        "--namespace",
        "default",
        "patch",
        "configmap",
        "demo",
        "--type=strategic",
        "-p",
        &format!("{{\"data\":{{\"color\":\"{color}\"}}}}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The profile, FAST, and `-n ATTEMPTS`.
fn opts(attempts: &'static str) -> Vec<&'static str> {
    PROFILE.iter().chain(FAST).chain(&["-n", attempts]).copied().collect()
}

/// kubectl writes its discovery cache under $HOME/.kube.
fn kube_env(cmd: &mut std::process::Command, home: &Path) {
    cmd.env("HOME", home)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
}

const CONFLICT: &str = "Error from server (Conflict): Operation cannot be fulfilled on configmaps \"demo\": the object has been modified; please apply your changes to the latest version and try again";

#[test]
fn patch_is_retried_through_conflicts() {
    if require("kubectl", "e2e_kubectl::patch_is_retried_through_conflicts").is_none() {
        return;
    }
    println!("{}", e2e::version(&["kubectl", "version", "--client"]));
    const N: usize = 3;
    let home = common::command::tempdir();

    // Can fail: one attempt only meets the first conflict and fails with
    // kubectl's own exit code and message.
    let api = KubeApi::start(Config::new().conflicts(N as u32));
    let mut cmd = retry_on(&opts("1"), &patch_argv(&api, "green"));
    kube_env(&mut cmd, home.path());
    let once = run(cmd);
    once.assert_failure();
    assert_eq!(api.patches(), vec![Patched::Conflict], "{once}");
    assert_eq!(api.patch_requests(), 1, "{once}");
    assert_eq!(once.stderr_count(CONFLICT), 1, "{once}");
    let mut cmd = alone(&patch_argv(&api, "green"));
    kube_env(&mut cmd, home.path());
    let kubectl = run(cmd);
    assert_eq!(kubectl.stderr_count(CONFLICT), 1, "{kubectl}");
    assert_eq!(
        once.code(),
        kubectl.code(),
        "retry-on must exit with kubectl's code\n{once}\n{kubectl}"
    );
    assert_eq!(api.data()["color"], "blue");

    // Through retry-on: N conflicts, then the patch lands: N + 1 PATCHes.
    let api = KubeApi::start(Config::new().conflicts(N as u32));
    let mut cmd = retry_on(&opts("6"), &patch_argv(&api, "green"));
    kube_env(&mut cmd, home.path());
    let r = run(cmd);
    r.assert_success();
    let mut want = vec![Patched::Conflict; N];
    want.push(Patched::Ok);
    assert_eq!(api.patches(), want, "{r}");
    assert_eq!(api.patch_requests(), N + 1, "{r}");
    assert_eq!(r.stderr_count(CONFLICT), N, "{r}");
    assert_eq!(r.retries(), N, "{r}");
    assert_eq!(r.stdout.trim(), "configmap/demo patched", "{r}");
    assert_eq!(api.data()["color"], "green");
    println!(
        "kubectl patch: {} PATCHes ({N} answered 409), {} requests in all",
        api.patch_requests(),
        api.server().requests().len()
    );
}

#[test]
fn connection_refused_without_kubeconfig_is_not_retried() {
    if require(
        "kubectl",
        "e2e_kubectl::connection_refused_without_kubeconfig_is_not_retried",
    )
    .is_none()
    {
        return;
    }
    // kubectl without a kubeconfig talks to localhost:8080; the message is
    // only the one this test is about when nothing listens there.
    match std::net::TcpStream::connect(("127.0.0.1", 8080)) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
        other => panic!("this test needs 127.0.0.1:8080 to refuse connections: {other:?}"),
    }
    let home = common::command::tempdir();
    let argv = ["kubectl", "get", "configmap", "demo"];
    let missing = home.path().join("no-such-kubeconfig");
    let env = |cmd: &mut std::process::Command| {
        kube_env(cmd, home.path());
        cmd.env("KUBECONFIG", &missing);
    };
    const REFUSED: &str =
        "The connection to the server localhost:8080 was refused - did you specify the right host or port?";

    let mut cmd = alone(&argv);
    env(&mut cmd);
    let kubectl = run(cmd);
    kubectl.assert_failure();
    assert_eq!(kubectl.stderr_count(REFUSED), 1, "{kubectl}");

    let mut cmd = retry_on(&opts("6"), &argv);
    env(&mut cmd);
    let r = run(cmd);
    r.assert_failure();
    assert_eq!(r.retries(), 0, "not transient: must not be retried\n{r}");
    assert_eq!(r.own_lines().len(), 1, "{r}");
    assert!(r.own_lines()[0].starts_with("retry-on: attempt 1/6 failed"), "{r}");
    assert_eq!(r.stderr_count(REFUSED), 1, "{r}");
    assert_eq!(r.code(), kubectl.code(), "{r}");

    // Can fail: a pattern that does match the message retries it.
    let mut cmd = retry_on(&["-p", "was refused", "-d", "10ms", "-n", "3"], &argv);
    env(&mut cmd);
    let r = run(cmd);
    assert_eq!(r.retries(), 2, "{r}");
    assert_eq!(r.stderr_count(REFUSED), 3, "{r}");
}
