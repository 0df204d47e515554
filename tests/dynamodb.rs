//! `--lock dynamodb://TABLE/KEY`: a lease in DynamoDB, against moto's server
//! (tests/support/moto.rs), each test with a moto of its own. Every test runs
//! the real binary and synchronises on lines that it or its child prints.
//!
//! Without `moto_server` on PATH the tests that need it print one
//! `skipped: ...` line and pass, unless RETRY_ON_REQUIRE_MOTO=1.
//!
//! They need the cargo feature `dynamodb` (`cargo test --features
//! dynamodb`); without it, `without_the_sdk` checks that such a lock is
//! refused, from a flag or a file, and that `--explain` says so. Where the
//! network must fail, a proxy (tests/support/blackhole.rs) stands between
//! retry-on and moto, and is cut.

mod common {
    #[cfg(feature = "dynamodb")]
    #[allow(dead_code)] // this binary uses only part of it
    pub mod child;
    pub mod command;
    #[cfg(feature = "dynamodb")]
    pub mod exit;
    #[cfg(feature = "dynamodb")]
    pub mod skip;
}
#[cfg(feature = "dynamodb")]
#[path = "support/blackhole.rs"]
mod blackhole;
#[cfg(feature = "dynamodb")]
#[path = "support/moto.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod moto;

#[cfg(not(feature = "dynamodb"))]
mod without_the_sdk {
    use super::common::command::{BIN, isolated, tempdir};

    /// retry-on's exit code, stdout and stderr for `args`.
    fn run(args: &[&str]) -> (Option<i32>, String, String) {
        let out = isolated(BIN).args(args).output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }

    #[test]
    fn without_the_feature_a_dynamodb_lock_is_125_and_says_so() {
        let (code, stdout, stderr) = run(&["--lock", "dynamodb://locks/k", "--", "echo", "ran"]);
        assert_eq!(code, Some(125), "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains("built without DynamoDB locks (cargo feature \"dynamodb\")"),
            "{stderr}"
        );
        assert!(
            stderr.contains("cargo install --locked --path . --features dynamodb"),
            "it says how to get a build with them: {stderr}"
        );
    }

    /// Without the feature, a DynamoDB lock from a config file was refused
    /// with `--lock dynamodb://…`, naming a flag nobody typed.
    #[test]
    fn without_the_feature_a_dynamodb_lock_from_a_config_file_names_the_file_line_and_key() {
        let dir = tempdir();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[defaults]\nattempts = 2\nlock = \"dynamodb://locks/k\"\n").unwrap();
        let (code, stdout, stderr) = run(&["-c", file.to_str().unwrap(), "--", "echo", "ran"]);
        assert_eq!(code, Some(125), "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains(&format!(
                "config {}, line 3, column 8, key lock: dynamodb://locks/k: this retry-on was built without \
                 DynamoDB locks",
                file.display()
            )),
            "{stderr}"
        );
        assert!(!stderr.contains("--lock dynamodb"), "{stderr}");
    }

    /// Without the feature, `--explain` showed a DynamoDB lock as if it would work.
    #[test]
    fn without_the_feature_explain_says_the_dynamodb_lock_is_not_in_this_build() {
        let (code, stdout, stderr) = run(&["--lock", "dynamodb://locks/k", "--explain"]);
        assert_eq!(code, Some(0), "{stderr}");
        let row = stdout
            .lines()
            .find(|l| l.starts_with("lock "))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(row.contains("dynamodb://locks/k (not in this build)"), "{row}");
        assert!(
            stdout.contains("cargo install --locked --path . --features dynamodb"),
            "{stdout}"
        );
    }
}

#[cfg(feature = "dynamodb")]
mod with_the_sdk {

    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    use super::blackhole::Proxy;
    use super::common::child::{Lines, Running};
    use super::common::command::{BIN, isolated, tempdir};
    use super::common::exit::shell_code;
    use super::moto::{self, Moto};
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;
    use serde_json::Value;

    /// How long anything may take before a test calls it a hang (2 shared cores).
    const BOUND: Duration = Duration::from_secs(60);
    const LOCK: &str = "dynamodb://locks/iam-user-alice";

    /// retry-on with `args`, pointed at `moto` (or at `endpoint`) with dummy credentials.
    fn command(endpoint: &str, args: &[&str]) -> Command {
        let mut cmd = isolated(BIN);
        moto::aws_env(&mut cmd, endpoint);
        cmd.args(args);
        cmd
    }

    fn start(cmd: Command) -> Running {
        start_with(cmd, Stdio::null())
    }

    /// With stdin piped, a holder's `read x` holds the lock until the test
    /// closes it (`running.child.stdin.take()`).
    fn start_with(mut cmd: Command, stdin: Stdio) -> Running {
        let mut child = cmd
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn retry-on");
        let stdout = Lines::new(child.stdout.take().unwrap());
        let stderr = Lines::new(child.stderr.take().unwrap());
        Running { child, stdout, stderr }
    }

    fn output(cmd: Command) -> (i32, String, String) {
        let mut running = start(cmd);
        let status = running.wait(BOUND);
        let stdout = running.stdout.all(BOUND).join("\n");
        let stderr = running.stderr.all(BOUND).join("\n");
        (shell_code(status), stdout, stderr)
    }

    fn kill(pid: i32, signal: Signal) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), signal);
    }

    fn epoch_millis() -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.unwrap().as_millis() as i64
    }

    /// The `expires_at` of lease KEY in table `locks`, read from moto.
    fn expiry_of(moto: &Moto, key: &str) -> i64 {
        let body = format!(r#"{{"TableName":"locks","Key":{{"lock_key":{{"S":"{key}"}}}},"ConsistentRead":true}}"#);
        let answer: Value = serde_json::from_str(&moto.call("GetItem", &body)).unwrap();
        answer["Item"]["expires_at"]["N"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no expires_at in {answer}"))
    }

    /// Creates table `locks` as `--lock-create-table` would.
    fn create_locks_table(moto: &Moto) {
        moto.call(
            "CreateTable",
            r#"{"TableName":"locks","BillingMode":"PAY_PER_REQUEST",
                "AttributeDefinitions":[{"AttributeName":"lock_key","AttributeType":"S"}],
                "KeySchema":[{"AttributeName":"lock_key","KeyType":"HASH"}]}"#,
        );
    }

    /// `retry-on --lock LOCK --lock-timeout LOCK_TIMEOUT -- echo ran` at `endpoint`.
    fn echo_with_lock_timeout(endpoint: &str, lock_timeout: &str) -> (i32, String, String) {
        output(command(
            endpoint,
            &["--lock", LOCK, "--lock-timeout", lock_timeout, "--", "echo", "ran"],
        ))
    }

    /// retry-on with `--lock-timeout lock_timeout` takes LOCK and runs the command.
    fn assert_takes_the_lease(moto: &Moto, lock_timeout: &str) {
        let (code, stdout, stderr) = echo_with_lock_timeout(&moto.url(), lock_timeout);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout, "ran");
    }

    /// The JSON log's events among `lines`, in order.
    fn events(lines: &[String]) -> Vec<Value> {
        lines
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event.get("event").is_some())
            .collect()
    }

    fn names(events: &[Value]) -> Vec<&str> {
        events.iter().map(|e| e["event"].as_str().unwrap()).collect()
    }

    /// An SDK error used to print as about 1.7 KB of debug output (headers,
    /// body, `Extensions {…}`); it is one line of retry-on's own.
    fn assert_one_short_line(stderr: &str) {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.len() < 400, "{} bytes: {stderr}", stderr.len());
        for debug in ["Extensions", "headers", "DispatchFailure", "ServiceError", "{"] {
            assert!(!stderr.contains(debug), "{debug:?} in {stderr}");
        }
    }

    /// A holder of LOCK at `endpoint` whose attempt says `A started` and
    /// runs until its stdin is closed; `args` come first.
    fn holder(endpoint: &str, args: &[&str]) -> Running {
        let mut all = args.to_vec();
        all.extend([
            "-n",
            "1",
            "--lock",
            LOCK,
            "--lock-create-table",
            "--",
            "sh",
            "-c",
            "echo A started; read x; true",
        ]);
        let mut a = start_with(command(endpoint, &all), Stdio::piped());
        a.stdout.wait_for(|l| l == "A started", BOUND);
        a
    }

    #[test]
    fn a_lease_is_taken_and_released_and_the_json_log_says_so() {
        let Some(moto) = Moto::start() else { return };
        let (code, stdout, stderr) = output(command(
            &moto.url(),
            &[
                "--lock",
                LOCK,
                "--lock-create-table",
                "--log-format",
                "json",
                "--",
                "echo",
                "ran",
            ],
        ));
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stdout, "ran");
        let events: Vec<&str> = stderr
            .lines()
            .filter_map(|line| line.split("\"event\":\"").nth(1)?.split('"').next())
            .collect();
        assert_eq!(
            events,
            ["lock_taken", "attempt_start", "attempt_end", "lock_released", "success"],
            "{stderr}"
        );
        // The table is there now: no flag needed, and the lease was given back.
        let (code, _, stderr) = output(command(
            &moto.url(),
            &["--lock", LOCK, "--lock-timeout", "5s", "--", "true"],
        ));
        assert_eq!(code, 0, "{stderr}");
    }

    #[test]
    fn a_missing_table_without_the_flag_is_125_naming_the_table_and_the_flag() {
        let Some(moto) = Moto::start() else { return };
        let (code, stdout, stderr) = output(command(&moto.url(), &["--lock", LOCK, "--", "echo", "ran"]));
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "", "the command must not run");
        assert!(stderr.contains("DynamoDB table \"locks\" does not exist"), "{stderr}");
        assert!(stderr.contains("--lock-create-table"), "{stderr}");
    }

    #[test]
    fn an_unreachable_endpoint_is_125_after_the_sdk_retries_within_a_bounded_time() {
        let endpoint = format!("http://127.0.0.1:{}", moto::free_port());
        let began = Instant::now();
        let (code, stdout, stderr) = output(command(&endpoint, &["--lock", LOCK, "--", "echo", "ran"]));
        let took = began.elapsed();
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "", "the command must not run");
        assert!(stderr.starts_with(&format!("retry-on: lock {LOCK}: ")), "{stderr}");
        assert!(stderr.contains("Connection refused"), "{stderr}");
        assert_one_short_line(&stderr);
        assert!(took < Duration::from_secs(30), "took {took:?}");
        println!("unreachable endpoint: 125 after {took:.2?}");
    }

    #[test]
    fn no_region_is_125_and_says_how_to_set_one() {
        let mut cmd = command("http://127.0.0.1:9", &["--lock", LOCK, "--", "true"]);
        cmd.env_remove("AWS_DEFAULT_REGION");
        let (code, _, stderr) = output(cmd);
        assert_eq!(code, 125, "{stderr}");
        assert!(stderr.contains("no AWS region"), "{stderr}");
    }

    #[test]
    fn a_writer_waits_and_says_for_whom_until_the_holder_releases() {
        let Some(moto) = Moto::start() else { return };
        let url = moto.url();
        let mut a = holder(&url, &[]);
        let mut b = start(command(&url, &["--lock", LOCK, "--", "echo", "B ran"]));
        let line = b.stderr.wait_for(|l| l.contains("waiting for the lock"), BOUND);
        let pid = a.pid();
        assert!(
            line.contains(&format!("pid {pid}, running sh -c 'echo A started; read x; true'")),
            "{line}"
        );
        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
        b.stdout.wait_for(|l| l == "B ran", BOUND);
        assert_eq!(shell_code(b.wait(BOUND)), 0);
    }

    /// A holder killed with KILL stops renewing; the next writer takes the
    /// lease once the expiry the holder last wrote has passed, and within one
    /// poll interval (2s at most) of it. The test reads that expiry from the
    /// item itself, so the bound does not depend on when the last renewal was.
    #[test]
    fn a_dead_holders_lease_expires_and_the_next_writer_takes_it() {
        let Some(moto) = Moto::start() else { return };
        let url = moto.url();
        let lease = ["--lock", LOCK, "--lock-lease", "2s"];
        let mut holder_args = lease.to_vec();
        holder_args.extend([
            "--lock-create-table",
            "--",
            "sh",
            "-c",
            "echo holding $$; exec sleep 120",
        ]);
        let mut a = start(command(&url, &holder_args));
        let child: i32 = a.stdout.wait_for_prefix("holding ", BOUND).parse().unwrap();
        let mut waiter_args = lease.to_vec();
        waiter_args.extend(["--", "echo", "B ran"]);
        let mut b = start(command(&url, &waiter_args));
        b.stderr.wait_for(|l| l.contains("waiting for the lock"), BOUND);

        kill(a.pid(), Signal::SIGKILL);
        kill(child, Signal::SIGKILL);
        let _ = a.wait(BOUND);
        let expires_at = expiry_of(&moto, "iam-user-alice");
        b.stdout.wait_for(|l| l == "B ran", BOUND);
        let ran = epoch_millis();
        assert_eq!(shell_code(b.wait(BOUND)), 0);
        println!(
            "dead holder (lease 2s): the next writer ran {}ms after the lease expired",
            ran - expires_at
        );
        assert!(
            ran >= expires_at,
            "B ran {}ms before the lease expired",
            expires_at - ran
        );
        // One poll (2s at most), then a margin for B's PutItem, its echo and a loaded machine.
        assert!(
            ran - expires_at < 2_000 + 3_000,
            "B ran {}ms after the expiry",
            ran - expires_at
        );
    }

    /// An attempt longer than three lease lengths keeps the lease: nobody else
    /// enters meanwhile, and it is not lost.
    #[test]
    fn renewal_keeps_the_lease_through_a_long_attempt() {
        let Some(moto) = Moto::start() else { return };
        let url = moto.url();
        let dir = tempdir();
        let log = dir.path().join("log");
        let log = log.to_str().unwrap();
        let a_script = format!("echo 'A start' >> {log}; echo A started; sleep 4; echo 'A end' >> {log}");
        let mut a = start(command(
            &url,
            &[
                "--lock",
                LOCK,
                "--lock-lease",
                "1s",
                "--lock-create-table",
                "--",
                "sh",
                "-c",
                &a_script,
            ],
        ));
        a.stdout.wait_for(|l| l == "A started", BOUND);
        let b_script = format!("echo B >> {log}");
        let mut b = start(command(
            &url,
            &[
                "--lock",
                LOCK,
                "--lock-lease",
                "1s",
                "--log-format",
                "json",
                "--",
                "sh",
                "-c",
                &b_script,
            ],
        ));
        b.stderr.wait_for(|l| l.contains("\"event\":\"lock_wait\""), BOUND);
        assert_eq!(shell_code(a.wait(BOUND)), 0);
        assert_eq!(shell_code(b.wait(BOUND)), 0);
        assert_eq!(std::fs::read_to_string(log).unwrap(), "A start\nA end\nB\n");
        let a_said = a.stderr.all(BOUND);
        assert!(a_said.is_empty(), "{a_said:?}");
    }

    /// A holder stalled past its lease (SIGSTOP) loses it to the next writer;
    /// when it runs again its renewal fails, it says so, and its attempt still
    /// runs to its end.
    #[test]
    fn a_stalled_holder_that_lost_the_lease_says_so_and_finishes() {
        let Some(moto) = Moto::start() else { return };
        let url = moto.url();
        let mut a = start_with(
            command(
                &url,
                &[
                    "-n",
                    "1",
                    "--lock",
                    LOCK,
                    "--lock-lease",
                    "1s",
                    "--lock-create-table",
                    "--log-format",
                    "json",
                    "--",
                    "sh",
                    "-c",
                    "echo A started; read x; echo A ended",
                ],
            ),
            Stdio::piped(),
        );
        a.stdout.wait_for(|l| l == "A started", BOUND);
        kill(a.pid(), Signal::SIGSTOP);
        let mut b = start(command(
            &url,
            &[
                "--lock",
                LOCK,
                "--lock-lease",
                "1s",
                "--",
                "sh",
                "-c",
                "echo B holds; sleep 3",
            ],
        ));
        b.stdout.wait_for(|l| l == "B holds", BOUND);
        kill(a.pid(), Signal::SIGCONT);
        let lost = a.stderr.wait_for(|l| l.contains("\"event\":\"lock_lost\""), BOUND);
        assert!(lost.contains(LOCK), "{lost}");
        assert_eq!(shell_code(b.wait(BOUND)), 0);
        drop(a.child.stdin.take());
        a.stdout.wait_for(|l| l == "A ended", BOUND);
        assert_eq!(shell_code(a.wait(BOUND)), 0);
    }

    #[test]
    fn an_unknown_scheme_is_a_usage_error() {
        let (code, stdout, stderr) = output(command(
            "http://127.0.0.1:9",
            &["--lock", "s3://bucket/k", "--", "echo", "ran"],
        ));
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(stderr.contains("unknown lock scheme \"s3\""), "{stderr}");
    }

    #[test]
    fn a_bad_lock_in_a_config_file_names_the_file_line_and_key() {
        let dir = tempdir();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[defaults]\nattempts = 2\nlock = \"dynamodb://locks\"\n").unwrap();
        let (code, _, stderr) = output(command(
            "http://127.0.0.1:9",
            &["-c", file.to_str().unwrap(), "--", "true"],
        ));
        assert_eq!(code, 125, "{stderr}");
        assert!(
            stderr.contains(&format!("config {}, line 3, column 8, key lock:", file.display())),
            "{stderr}"
        );
        assert!(stderr.contains("dynamodb://TABLE/KEY"), "{stderr}");
    }

    #[test]
    fn explain_shows_the_lock_url_and_the_lease() {
        let dir = tempdir();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[defaults]\nlock = \"dynamodb://locks/k\"\nlock_lease = \"45s\"\n",
        )
        .unwrap();
        let (code, stdout, stderr) = output(command(
            "http://127.0.0.1:9",
            &["-c", file.to_str().unwrap(), "--lock-create-table", "--explain"],
        ));
        assert_eq!(code, 0, "{stderr}");
        let row = |key: &str| {
            stdout
                .lines()
                .find(|l| l.split_whitespace().next() == Some(key))
                .unwrap_or_else(|| panic!("no {key} in {stdout}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(row("lock"), "lock dynamodb://locks/k (defaults)");
        assert_eq!(row("lock_lease"), "lock_lease 45s (defaults)");
        assert_eq!(row("lock_create_table"), "lock_create_table true (flag)");
    }

    /// `--lock-timeout` bounds the wait for a lease (125), and Ctrl-C while
    /// waiting gives 130; neither runs the command.
    #[test]
    fn lock_timeout_and_ctrl_c_while_waiting_for_a_lease() {
        let Some(moto) = Moto::start() else { return };
        let url = moto.url();
        let mut a = holder(&url, &[]);

        let (code, stdout, stderr) = echo_with_lock_timeout(&url, "1s");
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains(&format!("could not take the lock on {LOCK} within")),
            "{stderr}"
        );

        let mut c = start(command(&url, &["--lock", LOCK, "--", "echo", "ran"]));
        c.stderr.wait_for(|l| l.contains("waiting for the lock"), BOUND);
        c.signal(Signal::SIGINT);
        assert_eq!(shell_code(c.wait(BOUND)), 130);
        assert!(c.stdout.all(BOUND).is_empty());

        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
    }

    /// The DeleteItem that gives the lease back got no answer (the network
    /// dropped everything): retry-on waited for the SDK's three tries of 10s
    /// each, about 34s, then logged `lock_released` and `success` as if it had
    /// given the lease back, with the wait in the attempt's `duration_ms`.
    #[test]
    fn a_release_that_gets_no_answer_says_so_within_seconds_and_keeps_the_exit_code() {
        let Some(moto) = Moto::start() else { return };
        let proxy = Proxy::to(moto.port());
        let mut a = holder(&proxy.url(), &["--log-format", "json"]);
        proxy.cut();
        let cut = Instant::now();
        drop(a.child.stdin.take());
        assert_eq!(
            shell_code(a.wait(BOUND)),
            0,
            "a lease not given back changes no exit code"
        );
        let took = cut.elapsed();
        let said = a.stderr.all(BOUND);
        let events = events(&said);
        assert_eq!(
            names(&events),
            [
                "lock_taken",
                "attempt_start",
                "attempt_end",
                "lock_release_failed",
                "success"
            ],
            "{said:#?}"
        );
        let (ended, failed) = (&events[2], &events[3]);
        assert_eq!(failed["lock"], LOCK);
        assert!(
            failed["error"].as_str().unwrap().contains("no answer within 5s"),
            "{failed}"
        );
        let left = failed["expires_in_ms"].as_u64().unwrap();
        assert!(
            (20_000..=30_000).contains(&left),
            "the 30s lease expires by itself: {failed}"
        );
        let ms = |event: &Value, key: &str| event[key].as_u64().unwrap();
        assert!(
            ms(ended, "duration_ms") + 4_000 < ms(failed, "elapsed_ms"),
            "the attempt's duration leaves out the release: {ended} {failed}"
        );
        println!("a release with no answer: retry-on exited {took:.2?} after the network was cut");
        assert!(took < Duration::from_secs(15), "took {took:?}");
    }

    /// Ctrl-C while the lease's DeleteItem got no answer was ignored:
    /// retry-on went on waiting for the SDK (about 34s), then exited 0.
    #[test]
    fn ctrl_c_during_a_release_that_gets_no_answer_ends_the_run_at_once() {
        let Some(moto) = Moto::start() else { return };
        let proxy = Proxy::to(moto.port());
        let mut a = holder(&proxy.url(), &["-v"]);
        proxy.cut();
        drop(a.child.stdin.take());
        a.stderr.wait_for(|l| l.contains("attempt 1/1 succeeded"), BOUND);
        let interrupted = Instant::now();
        a.signal(Signal::SIGINT);
        assert_eq!(shell_code(a.wait(BOUND)), 130);
        let took = interrupted.elapsed();
        let said = a.stderr.all(BOUND).join("\n");
        assert!(
            said.contains(&format!(
                "could not release the lease on {LOCK}: interrupted by SIGINT; it expires in "
            )),
            "{said}"
        );
        assert!(
            said.contains("interrupted by SIGINT while releasing the lock"),
            "{said}"
        );
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }

    /// With moto gone by the end of the attempt (connection refused), the
    /// failed DeleteItem was still logged as `lock_released`.
    #[test]
    fn a_release_refused_by_a_dead_service_says_so_instead_of_lock_released() {
        let Some(moto) = Moto::start() else { return };
        let mut a = holder(&moto.url(), &["--log-format", "json"]);
        drop(moto);
        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
        let said = a.stderr.all(BOUND);
        let events = events(&said);
        assert!(!names(&events).contains(&"lock_released"), "{said:#?}");
        let failed = events
            .iter()
            .find(|e| e["event"] == "lock_release_failed")
            .unwrap_or_else(|| panic!("no lock_release_failed in {said:#?}"));
        let error = failed["error"].as_str().unwrap();
        assert!(
            error.starts_with("DynamoDB DeleteItem: no connection to the service: Connection refused"),
            "{error}"
        );
    }

    /// A holder cut off from DynamoDB never learnt that it had lost the
    /// lease: its renewals failed in silence, the lease expired, the next
    /// writer took it, both ran at once, and the first said nothing.
    #[test]
    fn a_holder_cut_off_from_dynamodb_counts_its_lease_lost_when_it_expires() {
        let Some(moto) = Moto::start() else { return };
        let proxy = Proxy::to(moto.port());
        let mut a = holder(&proxy.url(), &["--lock-lease", "2s", "--log-format", "json"]);
        proxy.cut();
        let cut = Instant::now();
        let mut b = start(command(
            &moto.url(),
            &["--lock", LOCK, "--lock-lease", "2s", "--", "echo", "B holds"],
        ));
        let lost = a
            .stderr
            .wait_for(|l| l.contains("\"event\":\"lock_lost\""), Duration::from_secs(20));
        let took = cut.elapsed();
        let lost: Value = serde_json::from_str(&lost).unwrap();
        assert_eq!(lost["reason"], "not_renewed", "{lost}");
        assert!(
            lost["error"].as_str().unwrap().starts_with("DynamoDB UpdateItem: "),
            "{lost}"
        );
        // The last renewal was at most a lease (2s) before the cut; then a margin.
        assert!(took < Duration::from_secs(2 + 3), "lost {took:?} after the cut");
        b.stdout.wait_for(|l| l == "B holds", BOUND);
        assert_eq!(shell_code(b.wait(BOUND)), 0);
        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
        let said = a.stderr.all(BOUND);
        let events = names(&events(&said)).join(" ");
        assert_eq!(
            events, "lock_taken attempt_start lock_lost attempt_end success",
            "said once, and not released: {said:#?}"
        );
    }

    /// The same loss in text: the cause is that renewals did not get
    /// through, not "retry-on was stalled".
    #[test]
    fn a_lease_lost_for_want_of_renewal_says_why_in_one_line() {
        let Some(moto) = Moto::start() else { return };
        let proxy = Proxy::to(moto.port());
        let mut a = holder(&proxy.url(), &["--lock-lease", "1s"]);
        proxy.cut();
        let line = a
            .stderr
            .wait_for(|l| l.contains("lost the lock"), Duration::from_secs(20));
        assert!(
            line.starts_with(&format!(
                "retry-on: attempt 1/1: lost the lock on {LOCK}: could not renew the lease for 1s (DynamoDB UpdateItem: "
            )),
            "{line}"
        );
        assert!(line.ends_with("; the attempt runs on without it"), "{line}");
        assert!(!line.contains("stalled"), "{line}");
        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
    }

    /// A table whose partition key is not `lock_key` gave the SDK's debug
    /// rendering of a ValidationException.
    #[test]
    fn a_table_with_another_key_is_one_line_with_the_services_code_and_message() {
        let Some(moto) = Moto::start() else { return };
        moto.call(
            "CreateTable",
            r#"{"TableName":"wrongkey","BillingMode":"PAY_PER_REQUEST",
                "AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],
                "KeySchema":[{"AttributeName":"id","KeyType":"HASH"}]}"#,
        );
        let (code, stdout, stderr) = output(command(
            &moto.url(),
            &["--lock", "dynamodb://wrongkey/k", "--", "echo", "ran"],
        ));
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with(
                "retry-on: lock dynamodb://wrongkey/k: DynamoDB PutItem: ValidationException: \
                 One or more parameter values were invalid: Missing the key id in the item"
            ),
            "{stderr}"
        );
        assert!(stderr.contains("partition key must be \"lock_key\""), "{stderr}");
        assert_one_short_line(&stderr);
    }

    #[test]
    fn a_key_longer_than_dynamodb_takes_is_one_line_naming_the_limit() {
        let key = "k".repeat(2049);
        let lock = format!("dynamodb://locks/{key}");
        let (code, stdout, stderr) = output(command("http://127.0.0.1:9", &["--lock", &lock, "--", "echo", "ran"]));
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains("KEY is 2049 bytes, and DynamoDB takes at most 2048"),
            "{stderr}"
        );
        assert_one_short_line(&stderr);
    }

    /// A request that timed out printed the SDK's debug rendering too.
    #[test]
    fn a_silent_endpoint_is_one_line_saying_it_did_not_answer() {
        let silent = Proxy::silent();
        let mut cmd = command(&silent.url(), &["--lock", LOCK, "--", "echo", "ran"]);
        cmd.env("AWS_MAX_ATTEMPTS", "1");
        let (code, stdout, stderr) = output(cmd);
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.starts_with(&format!(
                "retry-on: lock {LOCK}: DynamoDB PutItem: the service did not answer"
            )),
            "{stderr}"
        );
        assert_one_short_line(&stderr);
    }

    /// `--lock-timeout` against an endpoint that never answers said "could
    /// not take the lock … within 3s", as if another writer held it.
    #[test]
    fn a_lock_timeout_against_a_silent_endpoint_says_the_service_did_not_answer() {
        let silent = Proxy::silent();
        let (code, stdout, stderr) = echo_with_lock_timeout(&silent.url(), "3s");
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "retry-on: could not take the lock on {LOCK}: the lock service did not answer within 3s (--lock-timeout)"
            )
        );
    }

    /// `--lock-timeout 0` on a busy lease said "another process holds it",
    /// where the item names the holder.
    #[test]
    fn lock_timeout_0_on_a_busy_lease_names_the_holder() {
        let Some(moto) = Moto::start() else { return };
        let mut a = holder(&moto.url(), &[]);
        let (code, stdout, stderr) = echo_with_lock_timeout(&moto.url(), "0");
        assert_eq!(code, 125, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains(&format!(
                "could not take the lock on {LOCK}: it is held by {} pid {}, running sh -c 'echo A started; read x; true', lease expiring in ",
                nix::unistd::gethostname().unwrap().to_string_lossy(),
                a.pid()
            )),
            "{stderr}"
        );
        assert!(stderr.contains(", and --lock-timeout 0 does not wait"), "{stderr}");
        drop(a.child.stdin.take());
        assert_eq!(shell_code(a.wait(BOUND)), 0);
    }

    /// `--lock-timeout 0` bounded the first PutItem by zero time, so it
    /// never took a lease, even a free one, and said another process held it.
    #[test]
    fn lock_timeout_0_takes_a_free_lease() {
        let Some(moto) = Moto::start() else { return };
        create_locks_table(&moto);
        assert_takes_the_lease(&moto, "0");
    }

    /// An item with no `expires_at` (not a lease retry-on wrote) was waited
    /// on for ever: the condition `expires_at < :now` never held.
    #[test]
    fn an_item_with_no_expiry_is_taken_as_expired() {
        let Some(moto) = Moto::start() else { return };
        create_locks_table(&moto);
        moto.call(
            "PutItem",
            r#"{"TableName":"locks","Item":{"lock_key":{"S":"iam-user-alice"},"owner_host":{"S":"elsewhere"}}}"#,
        );
        assert_takes_the_lease(&moto, "5s");
    }

    /// Loading the AWS configuration (here: asking a silent instance
    /// metadata service for the region) ran before the --max-time deadline
    /// started, so `--max-time 1s` did not bound it.
    #[test]
    fn the_max_time_deadline_counts_loading_the_aws_configuration() {
        let silent = Proxy::silent();
        let mut cmd = command(
            "http://127.0.0.1:9",
            &["--max-time", "1s", "--lock", LOCK, "--", "echo", "ran"],
        );
        cmd.env_remove("AWS_DEFAULT_REGION")
            .env("AWS_EC2_METADATA_DISABLED", "false")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", silent.url());
        let began = Instant::now();
        let (code, stdout, stderr) = output(cmd);
        let took = began.elapsed();
        assert_eq!(code, 124, "{stderr}");
        assert_eq!(stdout, "");
        assert!(
            stderr.contains("the --max-time deadline passed while waiting for the lock"),
            "{stderr}"
        );
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }
}
