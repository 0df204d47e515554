//! End-to-end: the real AWS CLI (`aws`) run through retry-on against a local
//! IAM endpoint (tests/support/iam.rs).
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
#[cfg(feature = "dynamodb")]
#[path = "support/moto.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod moto;

mod common {
    pub mod command;
    pub mod exit;
    #[allow(dead_code)] // this binary uses only part of it
    pub mod run;
    pub mod skip;
}

use aws_cli::{Running, aws, retry_on, run, run_with_stdin, spawn};
use common::command::tempdir;
use common::run::Run;
use iam::{Config, Outcome, Server};
use std::io::Write;
use std::time::{Duration, Instant};

const CONFLICT_LINE: &str = "An error occurred (ConcurrentModification) when calling the UpdateUser operation: ";

fn have_aws() -> bool {
    aws_cli::have_aws("the AWS CLI end-to-end tests")
}

fn user_path(srv: &Server, user: &str) -> String {
    let r = run(aws(
        srv,
        &[
            "get-user",
            "--user-name",
            user,
            "--query",
            "User.Path",
            "--output",
            "text",
        ],
    ));
    r.assert_success();
    r.stdout.trim_end().to_string()
}

/// The AWS CLI's exit code and its one-line error for a call, run alone.
fn aws_alone(srv: &Server, args: &[&str]) -> (i32, String) {
    let r = run(aws(srv, args));
    assert!(!r.status.success(), "expected the AWS CLI to fail\n{r}");
    let line = r
        .stderr_lines_starting("An error occurred (")
        .first()
        .unwrap_or_else(|| panic!("no AWS CLI error line\n{r}"))
        .to_string();
    (r.code(), line)
}

// ------------------------------------------------------------ tests

/// Test 1: Retried through 3 ConcurrentModification answers; the write lands.
#[test]
fn update_user_retried_through_three_conflicts() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new().first_n(3));
    let r = run(retry_on(
        &srv,
        &["-p", "ConcurrentModification", "-d", "10ms"],
        &["update-user", "--user-name", "alice", "--new-path", "/ops/"],
    ));
    r.assert_success();
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 4, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Conflict), 3, "{c:?}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Ok), 1, "{c:?}");
    assert_eq!(c.total(), 4, "{c:?}");
    // Each failed attempt's AWS CLI error passed through.
    assert_eq!(r.stderr_lines_starting(CONFLICT_LINE).len(), 3, "{r}");
    assert_eq!(user_path(&srv, "alice"), "/ops/");
}

/// Test 2: Out of attempts: the AWS CLI's own exit code and error text.
#[test]
fn update_user_gives_up_with_the_cli_exit_code() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new().first_n(3));
    let args = ["update-user", "--user-name", "alice", "--new-path", "/ops/"];
    let r = run(retry_on(
        &srv,
        &["-p", "ConcurrentModification", "-d", "10ms", "-n", "2"],
        &args,
    ));
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 2, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Conflict), 2, "{c:?}");

    // The third modifying call still conflicts (N = 3): the CLI alone.
    let (code, line) = aws_alone(&srv, &args);
    assert_eq!(srv.counts().calls("alice", "UpdateUser"), 3);
    assert!(line.starts_with(CONFLICT_LINE), "{line}");
    assert_eq!(line, format!("{CONFLICT_LINE}{}", iam::CONFLICT_MESSAGE));
    assert_ne!(code, 0);
    assert_eq!(r.code(), code, "retry-on must exit with the CLI's code\n{r}");
    // Unchanged, once per attempt.
    assert_eq!(
        r.stderr.lines().filter(|l| *l == line).count(),
        2,
        "expected the CLI's error line verbatim twice\n{r}"
    );
    assert_eq!(user_path(&srv, "alice"), "/");
}

/// Test 3: NoSuchEntity is not transient: `-P aws` does not retry it.
#[test]
fn no_such_entity_is_not_retried_by_the_aws_profile() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new());
    let args = ["get-user", "--user-name", "bob"];
    let r = run(retry_on(&srv, &["-P", "aws"], &args));
    let c = srv.counts();
    assert_eq!(c.calls("bob", "GetUser"), 1, "{c:?}\n{r}");
    assert_eq!(c.get("bob", "GetUser", Outcome::NotFound), 1, "{c:?}");

    let (code, line) = aws_alone(&srv, &args);
    assert!(
        line.starts_with("An error occurred (NoSuchEntity) when calling the GetUser operation: "),
        "{line}"
    );
    assert_ne!(code, 0);
    assert_eq!(r.code(), code, "{r}");
    assert_eq!(r.stderr.lines().filter(|l| *l == line).count(), 1, "{r}");
}

/// Test 4: AccessDenied is not transient either.
#[test]
fn access_denied_is_not_retried_by_the_aws_profile() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new().deny_action("UpdateUser"));
    let args = ["update-user", "--user-name", "alice", "--new-path", "/ops/"];
    let r = run(retry_on(&srv, &["-P", "aws"], &args));
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 1, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Denied), 1, "{c:?}");

    let (code, line) = aws_alone(&srv, &args);
    assert!(
        line.starts_with("An error occurred (AccessDenied) when calling the UpdateUser operation: "),
        "{line}"
    );
    assert_ne!(code, 0);
    assert_eq!(r.code(), code, "{r}");
    assert_eq!(user_path(&srv, "alice"), "/");
}

const WRITERS: usize = 8;
const HOLD: Duration = Duration::from_millis(200);

/// Starts WRITERS concurrent `retry-on OPTS -- aws iam update-user` on alice
/// and waits for all of them; returns the runs and the wall time.
fn concurrent_writers(srv: &Server, opts: &[&str]) -> (Vec<Run>, Duration) {
    concurrent_writers_with(srv, opts, &[])
}

/// The same, with more environment for retry-on (and so for `aws`).
fn concurrent_writers_with(srv: &Server, opts: &[&str], env: &[(&str, &str)]) -> (Vec<Run>, Duration) {
    let start = Instant::now();
    let paths: Vec<String> = (0..WRITERS).map(|i| format!("/w{i}/")).collect();
    let running: Vec<Running> = paths
        .iter()
        .map(|p| {
            let mut cmd = retry_on(srv, opts, &["update-user", "--user-name", "alice", "--new-path", p]);
            cmd.envs(env.iter().copied());
            spawn(cmd)
        })
        .collect();
    let runs: Vec<Run> = running.into_iter().map(Running::wait).collect();
    let wall = start.elapsed();
    for r in &runs {
        r.assert_success();
    }
    let final_path = srv.user_path("alice").unwrap();
    assert!(paths.contains(&final_path), "{final_path}");
    (runs, wall)
}

/// Test 5: Real contention: 8 writers on one user, each write holding it 200 ms.
#[test]
fn aws_profile_gets_concurrent_writers_through_contention() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new().hold(HOLD));
    let (_runs, wall) = concurrent_writers(&srv, &["-P", "aws", "-d", "50ms", "--max-delay", "1s", "-n", "30"]);
    let c = srv.counts();
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Ok), WRITERS as u64, "{c:?}");
    assert_eq!(
        c.calls("alice", "UpdateUser"),
        c.get("alice", "UpdateUser", Outcome::Ok) + c.get("alice", "UpdateUser", Outcome::Conflict),
        "{c:?}"
    );
    println!(
        "contention, -P aws: {WRITERS} writers, {} UpdateUser calls ({} conflicts), wall {:.2?}",
        c.calls("alice", "UpdateUser"),
        c.get("alice", "UpdateUser", Outcome::Conflict),
        wall
    );
}

/// Test 6: The same writers serialised with --lock: no conflicts at all.
#[test]
fn lock_serialises_concurrent_writers() {
    if !have_aws() {
        return;
    }
    let dir = tempdir();
    let lock = dir.path().join("iam-alice.lock");
    let lock = lock.to_str().unwrap();
    let srv = Server::start(Config::new().hold(HOLD));
    let (_runs, wall) = concurrent_writers(
        &srv,
        &[
            "-P",
            "aws",
            "-d",
            "50ms",
            "--max-delay",
            "1s",
            "-n",
            "30",
            "--lock",
            lock,
        ],
    );
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), WRITERS as u64, "{c:?}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Ok), WRITERS as u64, "{c:?}");
    assert_eq!(c.outcome_total(Outcome::Conflict), 0, "{c:?}");
    println!(
        "--lock, -P aws: {WRITERS} writers, {} UpdateUser calls (0 conflicts), wall {:.2?}",
        c.calls("alice", "UpdateUser"),
        wall
    );
}

/// Test 6b: The same writers as separate processes sharing no file, each
/// with its own `--lock dynamodb://locks/iam-user-alice` (moto's server as
/// DynamoDB, at AWS_ENDPOINT_URL_DYNAMODB so that `aws iam` is not sent
/// there): no conflicts at all.
#[cfg(feature = "dynamodb")]
#[test]
fn dynamodb_lock_serialises_concurrent_writers() {
    if !have_aws() {
        return;
    }
    let Some(dynamodb) = moto::Moto::start() else { return };
    let srv = Server::start(Config::new().hold(HOLD));
    let url = dynamodb.url();
    let env = [
        ("AWS_ENDPOINT_URL_DYNAMODB", url.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let opts = [
        "-P",
        "aws",
        "-d",
        "50ms",
        "--max-delay",
        "1s",
        "-n",
        "30",
        "--lock",
        "dynamodb://locks/iam-user-alice",
        "--lock-create-table",
    ];
    let (_runs, wall) = concurrent_writers_with(&srv, &opts, &env);
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), WRITERS as u64, "{c:?}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Ok), WRITERS as u64, "{c:?}");
    assert_eq!(c.outcome_total(Outcome::Conflict), 0, "{c:?}");
    println!(
        "--lock dynamodb://, -P aws: {WRITERS} writers, {} UpdateUser calls ({} conflicts), wall {:.2?}",
        c.calls("alice", "UpdateUser"),
        c.outcome_total(Outcome::Conflict),
        wall
    );
}

/// Test 7: Baseline: botocore's own retries (standard mode, 5 attempts) do not
/// retry ConcurrentModification. This is why retry-on exists.
#[test]
fn aws_cli_standard_retries_do_not_cover_concurrent_modification() {
    if !have_aws() {
        return;
    }
    let srv = Server::start(Config::new().first_n(3));
    let mut cmd = aws(&srv, &["update-user", "--user-name", "alice", "--new-path", "/ops/"]);
    cmd.env("AWS_RETRY_MODE", "standard").env("AWS_MAX_ATTEMPTS", "5");
    let r = run(cmd);
    assert!(!r.status.success(), "{r}");
    let c = srv.counts();
    assert_eq!(c.calls("alice", "UpdateUser"), 1, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "UpdateUser", Outcome::Conflict), 1, "{c:?}");
    assert_eq!(r.stderr_lines_starting(CONFLICT_LINE).len(), 1, "{r}");
}

/// Test 8: stdin is replayed to every attempt: each call gets the same document.
#[test]
fn put_user_policy_document_from_stdin_is_replayed_to_every_attempt() {
    if !have_aws() {
        return;
    }
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"ReadOnly","Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::bucket-1","arn:aws:s3:::bucket-1/*"],"Condition":{"StringLike":{"s3:prefix":["a b/+%20&x=y"]}}}]}"#;
    let srv = Server::start(Config::new().first_n(2));
    let r = run_with_stdin(
        retry_on(
            &srv,
            &["-p", "ConcurrentModification", "-d", "10ms"],
            &[
                "put-user-policy",
                "--user-name",
                "alice",
                "--policy-name",
                "p",
                "--policy-document",
                "file:///dev/stdin",
            ],
        ),
        policy.as_bytes(),
    );
    r.assert_success();
    let c = srv.counts();
    assert_eq!(c.calls("alice", "PutUserPolicy"), 3, "{c:?}\n{r}");
    assert_eq!(c.get("alice", "PutUserPolicy", Outcome::Conflict), 2, "{c:?}");
    assert_eq!(c.get("alice", "PutUserPolicy", Outcome::Ok), 1, "{c:?}");
    assert_eq!(srv.policy_documents("alice"), vec![policy.to_string(); 3]);
    assert_eq!(srv.user_policy("alice", "p").as_deref(), Some(policy));
}

/// The endpoint itself, without the AWS CLI: keep-alive and form decoding.
#[test]
fn endpoint_speaks_http_keep_alive_and_form_encoding() {
    use std::io::{BufRead, BufReader, Read};
    let srv = Server::start(Config::new().users(&["alice", "a b"]).first_n(1));
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", srv.port())).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut exchange = |body: &str| -> (u16, String) {
        write!(
            conn,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut b = vec![0; len];
        reader.read_exact(&mut b).unwrap();
        (
            status.split(' ').nth(1).unwrap().parse().unwrap(),
            String::from_utf8(b).unwrap(),
        )
    };
    let upd = "Action=UpdateUser&Version=2010-05-08&UserName=a+b&NewPath=%2Fx+y%2F";
    let (s, b) = exchange(upd);
    assert_eq!(s, 409, "{b}");
    assert!(b.contains("<Code>ConcurrentModification</Code>"), "{b}");
    let (s, b) = exchange(upd);
    assert_eq!(s, 200, "{b}");
    assert!(
        b.starts_with("<UpdateUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"),
        "{b}"
    );
    let (s, b) = exchange("Action=GetUser&Version=2010-05-08&UserName=a%20b");
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("<Path>/x y/</Path>"), "{b}");
    let (s, b) = exchange("Action=GetUser&Version=2010-05-08&UserName=carol");
    assert_eq!(s, 404, "{b}");
    assert!(b.contains("<Code>NoSuchEntity</Code>"), "{b}");
    assert_eq!(srv.user_path("a b").as_deref(), Some("/x y/"));
    let c = srv.counts();
    assert_eq!(c.get("a b", "UpdateUser", Outcome::Conflict), 1);
    assert_eq!(c.get("a b", "UpdateUser", Outcome::Ok), 1);
    assert_eq!(c.get("carol", "GetUser", Outcome::NotFound), 1);
    assert_eq!(c.total(), 4);
}
