//! End-to-end proof of the hooks (--check, --check-first, --on-retry,
//! --on-giveup) with the real AWS CLI against the local IAM endpoint
//! (tests/support/iam.rs).
//!
//! The hooks contract these tests hold retry-on to:
//! * `--check CMD` runs after a failed attempt that would be retried, after
//!   the wait, right before the next attempt. Exit 0: the desired state
//!   already holds; retry-on exits 0 without running the command again and
//!   prints `retry-on: attempt N failed (…); check passed, not retrying`.
//! * `--check-first` also runs the check once before the first attempt
//!   (RETRY_ON_ATTEMPT=0); exit 0: the command never runs, exit 0.
//! * `--on-retry CMD` runs after a failed attempt that will be retried,
//!   before the wait. Non-zero: stop, exit with the failed attempt's code.
//! * `--on-giveup CMD` runs once when retry-on gives up.
//! * Hooks run as `sh -c CMD`, stdin /dev/null, stdout+stderr to retry-on's
//!   stderr, with RETRY_ON_ATTEMPT, RETRY_ON_ATTEMPTS, RETRY_ON_EXIT_CODE,
//!   RETRY_ON_MATCHED and (on-giveup) RETRY_ON_REASON.
//!
//! The `emulated_*` tests run the same scenarios through a plain `sh` retry
//! loop that follows that contract instead of retry-on: they prove the
//! endpoint side (and give the figures the retry-on tests must match)
//! independently of retry-on.
//!
//! The AWS CLI's own retries are turned off in every AWS CLI call here
//! (AWS_RETRY_MODE=standard, AWS_MAX_ATTEMPTS=1): left on, botocore itself
//! re-sends a CreateAccessKey whose response was lost (a 500 or a closed
//! connection) and creates the second key before retry-on sees anything
//! (see `aws_cli_own_retries_repeat_a_write_whose_response_was_lost`); the
//! counts below must be about retry-on.
//!
//! Without `aws` on PATH each test prints one `skipped: ...` line and passes,
//! unless RETRY_ON_REQUIRE_AWS=1, in which case it fails.

#[path = "support/aws_cli.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod aws_cli;
#[path = "support/http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;
#[path = "support/iam.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod iam;

mod common {
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod run;
    pub mod skip;
}

use aws_cli::{TIMEOUT, aws_argv, run, spawn};
use common::command::{BIN, tempdir};
use common::run::Run;
use iam::{Config, Lost, Outcome, Server};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What `-P aws` matches for the failures the endpoint produces here (the
/// emulated retry loop uses it the way retry-on uses the profile).
const TRANSIENT: &str = r"An error occurred \((InternalFailure|ConcurrentModification)\)|Connection was closed before we received a valid response from endpoint URL";

/// retry-on's options in every run: the aws profile, with a short schedule.
const SHORT: [&str; 4] = ["-P", "aws", "-d", "100ms"];

// ------------------------------------------------------------ commands

/// The AWS CLI's own retries off (one HTTP request per `aws` call), so that
/// every count is about retry-on. Hooks inherit this.
fn retries_off(mut cmd: Command) -> Command {
    cmd.env("AWS_RETRY_MODE", "standard").env("AWS_MAX_ATTEMPTS", "1");
    cmd
}

fn have_aws() -> bool {
    aws_cli::have_aws("the hooks end-to-end tests")
}

/// The AWS CLI alone, its own retries off.
fn aws(srv: &Server, args: &[&str]) -> Command {
    retries_off(aws_cli::aws(srv, args))
}

/// `retry-on OPTS... -- aws …`, the AWS CLI's own retries off.
fn retry_on(srv: &Server, opts: &[&str], args: &[&str]) -> Command {
    retries_off(aws_cli::retry_on(srv, opts, args))
}

fn with_aws_env(program: &str) -> Command {
    retries_off(aws_cli::with_aws_env(program))
}

/// `retry-on OPTS... -- sh -c SCRIPT`
fn retry_on_sh(opts: &[&str], script: &str) -> Command {
    let mut cmd = with_aws_env(BIN);
    cmd.args(opts).arg("--").args(["sh", "-c", script]);
    cmd
}

/// The same as a shell command line, for hooks and scripts: the AWS CLI
/// against the endpoint (the hooks inherit the AWS_* environment).
fn aws_sh(srv: &Server, args: &str) -> String {
    format!("aws --endpoint-url {} iam {args}", srv.url())
}

const KEY_COUNT: &str = r#"list-access-keys --user-name alice --query "length(AccessKeyMetadata)" --output text"#;
const USER_PATH: &str = "get-user --user-name alice --query User.Path --output text";

/// The issue's check: alice has an access key already.
fn key_exists_check(srv: &Server) -> String {
    format!(r#"test "$({})" -ge 1"#, aws_sh(srv, KEY_COUNT))
}

/// The issue's check: alice's path is /ops/ already.
fn path_is_ops_check(srv: &Server) -> String {
    format!(r#"test "$({})" = /ops/"#, aws_sh(srv, USER_PATH))
}

/// Single-quoted for sh.
fn sq(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn read_lines(p: &Path) -> Vec<String> {
    match std::fs::read_to_string(p) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading {}: {e}", p.display()),
    }
}

/// The AWS CLI's exit code for a call that fails, run alone.
fn aws_failure_code(srv: &Server, args: &[&str]) -> i32 {
    let r = run(aws(srv, args));
    assert!(!r.status.success(), "expected the AWS CLI to fail\n{r}");
    r.code()
}

// ------------------------------------------------------------ emulation

/// A plain `sh` retry loop that follows the hooks contract: retry while
/// stderr matches TRANSIENT, up to `max` attempts; between attempts run
/// ON_RETRY (non-zero: stop) and then CHECK (zero: stop, exit 0). Prints
/// `emulated: attempt N failed; check passed, not retrying` like retry-on.
const EMULATED_RETRY_ON: &str = r#"
max=$1 on_retry=$2 check=$3 pattern=$4
shift 4
err=$(mktemp) || exit 125
n=0
while :; do
    n=$((n + 1))
    RETRY_ON_ATTEMPT=$n "$@" 2>"$err"
    code=$?
    cat "$err" >&2
    [ "$code" -eq 0 ] && { rm -f "$err"; exit 0; }
    grep -Eq "$pattern" "$err" || { rm -f "$err"; exit "$code"; }
    [ "$n" -ge "$max" ] && { rm -f "$err"; exit "$code"; }
    if [ -n "$on_retry" ]; then
        RETRY_ON_ATTEMPT=$n RETRY_ON_ATTEMPTS=$max RETRY_ON_EXIT_CODE=$code sh -c "$on_retry" </dev/null >&2 \
            || { rm -f "$err"; exit "$code"; }
    fi
    if [ -n "$check" ] && RETRY_ON_ATTEMPT=$n sh -c "$check" </dev/null >&2; then
        echo "emulated: attempt $n failed; check passed, not retrying" >&2
        rm -f "$err"
        exit 0
    fi
done
"#;

/// `sh -c EMULATED_RETRY_ON` with `argv` as the command.
fn emulated(max: u32, on_retry: &str, check: &str, argv: &[String]) -> Command {
    let mut cmd = with_aws_env("sh");
    cmd.args(["-c", EMULATED_RETRY_ON, "emulated-retry-on"])
        .args([max.to_string().as_str(), on_retry, check, TRANSIENT])
        .args(argv);
    cmd
}

// ------------------------------------------------------------ 1. lost response

const CREATE_KEY: [&str; 3] = ["create-access-key", "--user-name", "alice"];

/// (CreateAccessKey calls, keys alice ends with) after one run of `cmd`.
fn keys_after(srv: &Server, cmd: Command) -> (Run, u64, usize) {
    let r = run(cmd);
    let calls = srv.counts().calls("alice", "CreateAccessKey");
    let keys = srv.access_keys("alice").expect("alice").len();
    (r, calls, keys)
}

/// Test 1: CreateAccessKey is applied but its response is lost (500
/// InternalFailure, or the connection closed). Retrying blindly creates a
/// second key; with --check (a key exists) retry-on stops at one.
#[test]
fn lost_response_without_check_leaves_two_keys_with_check_one() {
    if !have_aws() {
        return;
    }
    for how in [Lost::InternalFailure, Lost::Close] {
        // Without --check: attempt 1 creates key 1 and loses the answer;
        // -P aws retries it; attempt 2 creates key 2.
        let srv = Server::start(Config::new().lose_first(1, how));
        let (r, calls, keys) = keys_after(&srv, retry_on(&srv, &[&SHORT[..], &["-n", "5"]].concat(), &CREATE_KEY));
        r.assert_success();
        let c = srv.counts();
        assert_eq!(calls, 2, "{how:?}: {c:?}\n{r}");
        assert_eq!(c.get("alice", "CreateAccessKey", Outcome::Lost), 1, "{c:?}");
        assert_eq!(c.get("alice", "CreateAccessKey", Outcome::Ok), 1, "{c:?}");
        assert_eq!(keys, 2, "{how:?}: two keys without --check\n{r}");
        // The second key's secret reached stdout; the first one is lost.
        let kept = srv.access_keys("alice").unwrap();
        assert!(
            r.stdout.contains(&kept[1].secret) && !r.stdout.contains(&kept[0].secret),
            "{r}"
        );
        let (calls_without, keys_without) = (calls, keys);

        // With --check: attempt 1 creates key 1 and loses the answer; the
        // check (after the wait) sees one key: no second CreateAccessKey.
        let srv = Server::start(Config::new().lose_first(1, how));
        let check = key_exists_check(&srv);
        let (r, calls, keys) = keys_after(
            &srv,
            retry_on(
                &srv,
                &[&SHORT[..], &["-n", "5", "--check", &check]].concat(),
                &CREATE_KEY,
            ),
        );
        assert_eq!(r.code(), 0, "{how:?}: check passed means exit 0\n{r}");
        let c = srv.counts();
        assert_eq!(calls, 1, "{how:?}: {c:?}\n{r}");
        assert_eq!(c.get("alice", "CreateAccessKey", Outcome::Lost), 1, "{c:?}");
        assert_eq!(c.calls("alice", "ListAccessKeys"), 1, "the check ran once: {c:?}\n{r}");
        assert_eq!(keys, 1, "{how:?}: one key with --check\n{r}");
        let passed = r.check_passed_lines();
        assert_eq!(passed.len(), 1, "{r}");
        // `attempt N failed (…)`; retry-on writes N as `1/5` (attempt/limit).
        assert!(
            passed[0].starts_with("retry-on: attempt 1 failed (")
                || passed[0].starts_with("retry-on: attempt 1/5 failed ("),
            "{r}"
        );

        println!(
            "lost response ({how:?}), retry-on -P aws: without --check {calls_without} CreateAccessKey calls, {keys_without} keys; with --check {calls} call, {keys} key"
        );
    }
}

/// Test 1b: --check-first: the key exists, so the command never runs; when
/// it does not, the check runs with RETRY_ON_ATTEMPT=0 and the command runs.
#[test]
fn check_first_skips_create_access_key_when_a_key_exists() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new());
    let check = format!("echo check-ran attempt=$RETRY_ON_ATTEMPT; {}", key_exists_check(&srv));
    let opts = [&SHORT[..], &["-n", "5", "--check", &check, "--check-first"]].concat();

    // No key yet: the check fails, attempt 1 creates the key.
    let r = run(retry_on(&srv, &opts, &CREATE_KEY));
    r.assert_success();
    assert_eq!(
        r.stderr_lines_starting("check-ran attempt=0"),
        vec!["check-ran attempt=0"],
        "{r}"
    );
    assert_eq!(srv.counts().calls("alice", "CreateAccessKey"), 1, "{r}");
    assert_eq!(srv.access_keys("alice").unwrap().len(), 1);

    // The key exists: nothing to do, the command never runs.
    let r = run(retry_on(&srv, &opts, &CREATE_KEY));
    assert_eq!(r.code(), 0, "{r}");
    let c = srv.counts();
    assert_eq!(
        c.calls("alice", "CreateAccessKey"),
        1,
        "no second CreateAccessKey: {c:?}\n{r}"
    );
    assert_eq!(c.calls("alice", "ListAccessKeys"), 2, "one check per run: {c:?}\n{r}");
    assert_eq!(srv.access_keys("alice").unwrap().len(), 1);
    assert!(r.stdout.is_empty(), "the command did not run\n{r}");
}

/// The same scenario through the emulated retry loop (passes without the
/// hooks in retry-on): the endpoint side of test 1, and its figures.
#[test]
fn emulated_lost_response_two_keys_without_check_one_with() {
    if !have_aws() {
        return;
    }
    for how in [Lost::InternalFailure, Lost::Close] {
        let srv = Server::start(Config::new().lose_first(1, how));
        let argv = aws_argv(&srv, &CREATE_KEY);
        let (r, calls_without, keys_without) = keys_after(&srv, emulated(5, "", "", &argv));
        r.assert_success();
        assert_eq!((calls_without, keys_without), (2, 2), "{how:?}\n{r}");
        let lost_line = match how {
            Lost::InternalFailure => "An error occurred (InternalFailure) when calling the CreateAccessKey operation",
            Lost::Close => "Connection was closed before we received a valid response from endpoint URL",
        };
        assert_eq!(r.stderr_lines_starting(lost_line).len(), 1, "{r}");

        let srv = Server::start(Config::new().lose_first(1, how));
        let argv = aws_argv(&srv, &CREATE_KEY);
        let (r, calls, keys) = keys_after(&srv, emulated(5, "", &key_exists_check(&srv), &argv));
        r.assert_success();
        assert_eq!((calls, keys), (1, 1), "{how:?}\n{r}");
        assert_eq!(srv.counts().calls("alice", "ListAccessKeys"), 1);
        assert_eq!(
            r.stderr_lines_starting("emulated: attempt 1 failed; check passed, not retrying")
                .len(),
            1,
            "{r}"
        );
        println!(
            "lost response ({how:?}), emulated retry loop: without check {calls_without} CreateAccessKey calls, {keys_without} keys; with check {calls} call, {keys} key"
        );
    }
}

/// Why the AWS CLI's retries are off in these tests: left on (v1 default,
/// legacy mode), botocore itself re-sends the CreateAccessKey whose response
/// was lost, and one `aws` call leaves two keys.
#[test]
fn aws_cli_own_retries_repeat_a_write_whose_response_was_lost() {
    if !have_aws() {
        return;
    }
    for how in [Lost::InternalFailure, Lost::Close] {
        let srv = Server::start(Config::new().lose_first(1, how));
        let mut cmd = aws(&srv, &CREATE_KEY);
        cmd.env_remove("AWS_RETRY_MODE").env_remove("AWS_MAX_ATTEMPTS");
        let (r, calls, keys) = keys_after(&srv, cmd);
        r.assert_success();
        assert_eq!((calls, keys), (2, 2), "{how:?}\n{r}");

        // With them off, the one call fails and leaves one key.
        let srv = Server::start(Config::new().lose_first(1, how));
        let (r, calls, keys) = keys_after(&srv, aws(&srv, &CREATE_KEY));
        assert!(!r.status.success(), "{r}");
        assert_eq!((calls, keys), (1, 1), "{how:?}\n{r}");
    }
}

/// The endpoint's access keys through the real AWS CLI: the IAM XML shapes
/// parse, and a third key is LimitExceeded (409), which -P aws does not retry.
#[test]
fn access_keys_through_the_aws_cli_and_the_two_key_limit() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new());
    for _ in 0..2 {
        let r = run(aws(
            &srv,
            &[
                &CREATE_KEY[..],
                &["--query", "AccessKey.[UserName,Status,AccessKeyId]", "--output", "text"],
            ]
            .concat(),
        ));
        r.assert_success();
        let fields: Vec<&str> = r.stdout.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{r}");
        assert_eq!(&fields[..2], ["alice", "Active"], "{r}");
        assert!(fields[2].starts_with("AKIA") && fields[2].len() == 20, "{r}");
    }
    let r = run(aws(
        &srv,
        &[
            "list-access-keys",
            "--user-name",
            "alice",
            "--query",
            "AccessKeyMetadata[].AccessKeyId",
            "--output",
            "text",
        ],
    ));
    r.assert_success();
    let ids: Vec<String> = srv.access_keys("alice").unwrap().into_iter().map(|k| k.id).collect();
    assert_eq!(r.stdout.split_whitespace().collect::<Vec<_>>(), ids, "{r}");

    let r = run(retry_on(&srv, &SHORT, &CREATE_KEY));
    assert_ne!(r.code(), 0, "{r}");
    assert_eq!(
        r.stderr_lines_starting("An error occurred (LimitExceeded) when calling the CreateAccessKey operation")
            .len(),
        1,
        "{r}"
    );
    let c = srv.counts();
    assert_eq!(
        c.get("alice", "CreateAccessKey", Outcome::Limit),
        1,
        "not retried: {c:?}"
    );
    assert_eq!(c.calls("alice", "CreateAccessKey"), 3, "{c:?}");

    let r = run(aws(
        &srv,
        &["delete-access-key", "--user-name", "alice", "--access-key-id", &ids[0]],
    ));
    r.assert_success();
    assert_eq!(srv.access_keys("alice").unwrap().len(), 1);
}

/// The lost response at the HTTP level: the write is stored, and the client
/// gets either no byte at all (the connection is closed) or a 500
/// InternalFailure in IAM's XML error shape.
#[test]
fn endpoint_loses_the_response_after_storing_the_write() {
    use std::io::{Read, Write};
    let body = "Action=CreateAccessKey&Version=2010-05-08&UserName=alice";
    let exchange = |srv: &Server| -> String {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            conn,
            "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // Connection: close, so every answer ends with the close.
        let mut out = Vec::new();
        match conn.read_to_end(&mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("reading the answer: {e}"),
        }
        String::from_utf8(out).unwrap()
    };

    let srv = Server::start(Config::new().lose_first(1, Lost::Close));
    assert_eq!(exchange(&srv), "", "no byte of an answer");
    assert_eq!(srv.access_keys("alice").unwrap().len(), 1, "but the key is stored");
    let ok = exchange(&srv);
    assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    assert!(ok.contains("<CreateAccessKeyResult>\n    <AccessKey>\n"), "{ok}");
    assert_eq!(srv.access_keys("alice").unwrap().len(), 2);
    let limit = exchange(&srv);
    assert!(limit.starts_with("HTTP/1.1 409 "), "{limit}");
    assert!(limit.contains("<Code>LimitExceeded</Code>"), "{limit}");
    let c = srv.counts();
    assert_eq!(
        (
            c.get("alice", "CreateAccessKey", Outcome::Lost),
            c.get("alice", "CreateAccessKey", Outcome::Ok),
            c.get("alice", "CreateAccessKey", Outcome::Limit)
        ),
        (1, 1, 1),
        "{c:?}"
    );

    let srv = Server::start(Config::new().lose_first(1, Lost::InternalFailure));
    let failed = exchange(&srv);
    assert!(failed.starts_with("HTTP/1.1 500 "), "{failed}");
    assert!(
        failed.contains("<Type>Receiver</Type>\n    <Code>InternalFailure</Code>"),
        "{failed}"
    );
    assert_eq!(srv.access_keys("alice").unwrap().len(), 1, "but the key is stored");
}

// ------------------------------------------------------------ 2. another writer

const UPDATE_OPS: [&str; 5] = ["update-user", "--user-name", "alice", "--new-path", "/ops/"];

/// An endpoint where another writer holds alice (every UpdateUser answers
/// ConcurrentModification) and that writer's own change, path /ops/, lands
/// the moment the first conflict is answered: before the AWS CLI has even
/// printed it, so before any check can run. No timing involved.
fn other_writer_lands_at_first_conflict() -> Server {
    let srv = Server::start(Config::new().first_n(1000));
    let mut landed = false;
    srv.on_call(move |call, store| {
        if !landed && call.action == "UpdateUser" && call.outcome == Outcome::Conflict {
            landed = store.set_user_path("alice", "/ops/");
        }
    });
    srv
}

/// Test 2: another writer got there first: the check sees /ops/ after the
/// first conflict, and no further UpdateUser is made. Without --check,
/// retry-on goes on sending UpdateUser until it gives up.
#[test]
fn another_writer_got_there_first_no_further_update_user() {
    if !have_aws() {
        return;
    }
    let srv = other_writer_lands_at_first_conflict();
    let check = path_is_ops_check(&srv);
    let r = run(retry_on(
        &srv,
        &[&SHORT[..], &["-n", "4", "--check", &check]].concat(),
        &UPDATE_OPS,
    ));
    assert_eq!(r.code(), 0, "{r}");
    let c = srv.counts();
    assert_eq!(
        c.calls("alice", "UpdateUser"),
        1,
        "no UpdateUser after the check: {c:?}\n{r}"
    );
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Conflict), 1, "{c:?}");
    assert_eq!(c.calls("alice", "GetUser"), 1, "one check: {c:?}");
    assert_eq!(srv.user_path("alice").as_deref(), Some("/ops/"));
    assert_eq!(r.check_passed_lines().len(), 1, "{r}");
    let with_check = c.calls("alice", "UpdateUser");

    // Control: the same without --check: all 4 attempts call UpdateUser.
    let srv = other_writer_lands_at_first_conflict();
    let code = aws_failure_code(&Server::start(Config::new().first_n(1)), &UPDATE_OPS);
    let r = run(retry_on(&srv, &[&SHORT[..], &["-n", "4"]].concat(), &UPDATE_OPS));
    assert_eq!(r.code(), code, "gives up with the AWS CLI's code\n{r}");
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 4, "{c:?}\n{r}");
    println!(
        "another writer first, retry-on -P aws -n 4: {with_check} UpdateUser call with --check, {} without",
        c.calls("alice", "UpdateUser")
    );
}

/// Test 2b: the other writer is a real `aws iam update-user`, run by the
/// test between retry-on's attempts: --on-retry (before the wait) signals
/// that attempt 1 has failed and waits for the test's go; the check (after
/// the wait) then sees /ops/. UpdateUser calls: retry-on's one conflict and
/// the other writer's one success, nothing more.
#[test]
fn another_writer_between_attempts_via_the_aws_cli() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let failed = dir.path().join("attempt-failed");
    let go = dir.path().join("go");
    // alice is held for one modifying call: retry-on's first UpdateUser.
    let srv = Server::start(Config::new().first_n(1));
    // Bounded: at most TIMEOUT of polling for the go file.
    let on_retry = format!(
        "touch {f}; i=0; while [ ! -e {g} ] && [ $i -lt {n} ]; do sleep 0.02; i=$((i + 1)); done; [ -e {g} ]",
        f = sq(path_str(&failed)),
        g = sq(path_str(&go)),
        n = TIMEOUT.as_millis() / 20
    );
    let check = path_is_ops_check(&srv);
    let running = spawn(retry_on(
        &srv,
        &[&SHORT[..], &["-n", "4", "--on-retry", &on_retry, "--check", &check]].concat(),
        &UPDATE_OPS,
    ));
    let running = running.wait_for_file(&failed);
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 1);
    // The other writer.
    run(aws(&srv, &UPDATE_OPS)).assert_success();
    std::fs::write(&go, "").unwrap();
    let r = running.wait();
    assert_eq!(r.code(), 0, "{r}");
    let c = srv.counts();
    assert_eq!(
        c.get("alice", "UpdateUser", Outcome::Conflict),
        1,
        "retry-on's attempt 1: {c:?}\n{r}"
    );
    assert_eq!(
        c.get("alice", "UpdateUser", Outcome::Ok),
        1,
        "the other writer's: {c:?}\n{r}"
    );
    assert_eq!(c.calls("alice", "UpdateUser"), 2, "no further UpdateUser: {c:?}\n{r}");
    assert_eq!(c.calls("alice", "GetUser"), 1, "one check: {c:?}");
    assert_eq!(r.check_passed_lines().len(), 1, "{r}");
}

/// Test 2 through the emulated retry loop.
#[test]
fn emulated_another_writer_got_there_first() {
    if !have_aws() {
        return;
    }
    let srv = other_writer_lands_at_first_conflict();
    let r = run(emulated(4, "", &path_is_ops_check(&srv), &aws_argv(&srv, &UPDATE_OPS)));
    r.assert_success();
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 1, "{r}");
    assert_eq!(srv.counts().calls("alice", "GetUser"), 1, "{r}");

    let srv = other_writer_lands_at_first_conflict();
    let r = run(emulated(4, "", "", &aws_argv(&srv, &UPDATE_OPS)));
    assert!(!r.status.success(), "{r}");
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 4, "{r}");
    assert_eq!(srv.user_path("alice").as_deref(), Some("/ops/"));
}

// ------------------------------------------------------------ 3. cleanup

/// The command of test 3: refuses to start over a half-written artefact
/// (exit 3), writes the marker, calls UpdateUser, and on success moves the
/// marker to `done`. A failed call leaves the marker behind.
fn half_writing_command(srv: &Server, marker: &Path, done: &Path) -> String {
    format!(
        "if [ -e {m} ]; then echo 'half-written artefact left over' >&2; exit 3; fi; echo half > {m}; {aws} && mv {m} {d}",
        m = sq(path_str(marker)),
        d = sq(path_str(done)),
        aws = aws_sh(srv, "update-user --user-name alice --new-path /ops/")
    )
}

fn cleanup_hook(log: &Path, marker: &Path) -> String {
    format!(
        r#"echo "attempt=$RETRY_ON_ATTEMPT of=$RETRY_ON_ATTEMPTS code=$RETRY_ON_EXIT_CODE matched=$RETRY_ON_MATCHED" >> {l}; rm {m}"#,
        l = sq(path_str(log)),
        m = sq(path_str(marker))
    )
}

/// Test 3: --on-retry removes the half-written artefact between attempts:
/// two conflicts, three attempts, the hook ran exactly twice.
#[test]
fn on_retry_cleans_up_between_attempts() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let (marker, done, log) = (
        dir.path().join("marker"),
        dir.path().join("done"),
        dir.path().join("on-retry.log"),
    );
    let code = aws_failure_code(&Server::start(Config::new().first_n(1)), &UPDATE_OPS);
    let srv = Server::start(Config::new().first_n(2));
    let r = run(retry_on_sh(
        &[&SHORT[..], &["-n", "5", "--on-retry", &cleanup_hook(&log, &marker)]].concat(),
        &half_writing_command(&srv, &marker, &done),
    ));
    r.assert_success();
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 3, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Ok), 1, "{c:?}");
    assert!(r.stderr_lines_starting("half-written artefact").is_empty(), "{r}");
    let lines = read_lines(&log);
    assert_eq!(lines.len(), 2, "on-retry ran attempts-1 times: {lines:?}\n{r}");
    for (i, line) in lines.iter().enumerate() {
        let prefix = format!("attempt={} of=5 code={code} matched=", i + 1);
        assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}\n{r}");
        assert!(line.contains("ConcurrentModification"), "{line}");
    }
    assert!(!marker.exists() && done.exists(), "{r}");
    assert_eq!(srv.user_path("alice").as_deref(), Some("/ops/"));
}

/// Test 3b: without the hook the artefact of attempt 1 makes attempt 2 fail
/// with exit 3, which -P aws does not retry (the reason for --on-retry).
#[test]
fn without_on_retry_the_half_written_artefact_stops_the_retries() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let (marker, done) = (dir.path().join("marker"), dir.path().join("done"));
    let srv = Server::start(Config::new().first_n(2));
    let r = run(retry_on_sh(
        &[&SHORT[..], &["-n", "5"]].concat(),
        &half_writing_command(&srv, &marker, &done),
    ));
    assert_eq!(r.code(), 3, "{r}");
    assert_eq!(
        r.stderr_lines_starting("half-written artefact left over").len(),
        1,
        "{r}"
    );
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 1);
    assert!(marker.exists() && !done.exists());
}

/// Test 3c: --on-retry failing stops the retries with the failed attempt's
/// code; --on-giveup runs once, when retry-on gives up, and not otherwise.
#[test]
fn on_retry_failure_stops_and_on_giveup_runs_once() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let code = aws_failure_code(&Server::start(Config::new().first_n(1)), &UPDATE_OPS);

    // on-retry exits 1 after attempt 1: no attempt 2.
    let hook_log = dir.path().join("on-retry.log");
    let srv = Server::start(Config::new().first_n(1000));
    let r = run(retry_on(
        &srv,
        &[
            &SHORT[..],
            &[
                "-n",
                "4",
                "--on-retry",
                &format!("echo attempt=$RETRY_ON_ATTEMPT >> {}; exit 1", sq(path_str(&hook_log))),
            ],
        ]
        .concat(),
        &UPDATE_OPS,
    ));
    assert_eq!(r.code(), code, "{r}");
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 1, "{r}");
    assert_eq!(read_lines(&hook_log), vec!["attempt=1"], "{r}");

    // Out of attempts: on-retry twice, on-giveup once, after attempt 3.
    let (retry_log, giveup_log) = (dir.path().join("retry.log"), dir.path().join("giveup.log"));
    let srv = Server::start(Config::new().first_n(1000));
    let r = run(retry_on(
        &srv,
        &[
            &SHORT[..],
            &[
                "-n",
                "3",
                "--on-retry",
                &format!("echo attempt=$RETRY_ON_ATTEMPT >> {}", sq(path_str(&retry_log))),
                "--on-giveup",
                &format!(
                    r#"echo "attempt=$RETRY_ON_ATTEMPT code=$RETRY_ON_EXIT_CODE reason=$RETRY_ON_REASON" >> {}"#,
                    sq(path_str(&giveup_log))
                ),
            ],
        ]
        .concat(),
        &UPDATE_OPS,
    ));
    assert_eq!(r.code(), code, "{r}");
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 3, "{r}");
    assert_eq!(read_lines(&retry_log), vec!["attempt=1", "attempt=2"], "{r}");
    let giveup = read_lines(&giveup_log);
    assert_eq!(giveup.len(), 1, "{giveup:?}\n{r}");
    let prefix = format!("attempt=3 code={code} reason=");
    assert!(
        giveup[0].starts_with(&prefix) && giveup[0].len() > prefix.len(),
        "{giveup:?}"
    );

    // Success: on-giveup does not run.
    let srv = Server::start(Config::new().first_n(1));
    let r = run(retry_on(
        &srv,
        &[
            &SHORT[..],
            &[
                "-n",
                "3",
                "--on-giveup",
                &format!("touch {}", sq(path_str(&dir.path().join("no")))),
            ],
        ]
        .concat(),
        &UPDATE_OPS,
    ));
    r.assert_success();
    assert!(!dir.path().join("no").exists(), "{r}");
}

/// Test 3 through the emulated retry loop.
#[test]
fn emulated_on_retry_cleans_up_between_attempts() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let (marker, done, log) = (
        dir.path().join("marker"),
        dir.path().join("done"),
        dir.path().join("on-retry.log"),
    );
    let srv = Server::start(Config::new().first_n(2));
    let argv = [
        "sh".to_string(),
        "-c".to_string(),
        half_writing_command(&srv, &marker, &done),
    ];
    let r = run(emulated(5, &cleanup_hook(&log, &marker), "", &argv));
    r.assert_success();
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 3, "{r}");
    let lines = read_lines(&log);
    assert_eq!(lines.len(), 2, "{lines:?}\n{r}");
    assert!(
        lines[0].starts_with("attempt=1 of=5 code=") && lines[1].starts_with("attempt=2 of=5 code="),
        "{lines:?}"
    );
    assert!(!marker.exists() && done.exists());
}
