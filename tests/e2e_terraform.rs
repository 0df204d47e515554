//! End-to-end: the real `terraform` through retry-on, against a real
//! local-state lock. One `terraform apply` holds the lock while a
//! `terraform_data` resource's `local-exec` provisioner waits for a file the
//! test creates; a second apply, through retry-on, meets the lock until the
//! first one is done. terraform_data is built in: no provider is downloaded,
//! and nothing leaves the machine (CHECKPOINT_DISABLE=1, an empty CLI config).
//!
//! terraform is not in Debian or any registry. Without `terraform` on PATH
//! the test prints one `skipped: ...` line and passes, unless
//! RETRY_ON_REQUIRE_TERRAFORM=1, in which case it fails.

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

use common::run::is_retry_line;
use e2e::{WITHIN, alone, require, retry_on, run};
use std::path::Path;
use std::process::Command;

/// The terraform profile's patterns; its schedule starts at 10s, so shorter
/// waits here.
const OPTS: &[&str] = &["-P", "terraform", "-d", "200ms", "--max-delay", "500ms"];
const LOCKED: &str = "Error: Error acquiring the state lock";

const MAIN_TF: &str = r#"
variable "run" {
  type = string
}

# Replaced on every run with a new value of var.run. Its provisioner says
# when it starts, then waits for the file `release` (the test creates it)
# while this apply holds the state lock; it also stops waiting when the
# test's directory is gone, so that a failed test leaves nothing behind.
resource "terraform_data" "held" {
  input            = var.run
  triggers_replace = [var.run]

  provisioner "local-exec" {
    command = "echo \"provisioner started run=${self.input}\"; while [ ! -e release ] && [ -e main.tf ]; do sleep 0.05; done; echo \"provisioner done run=${self.input}\""
  }
}

output "run" {
  value = terraform_data.held.output
}
"#;

/// Private HOME and CLI config; no checkpoint calls, no prompts.
fn tf_env(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir.join("work"))
        .env("HOME", dir.join("home"))
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("TF_CLI_CONFIG_FILE", dir.join("empty.tfrc"))
        .env("CHECKPOINT_DISABLE", "1")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
}

fn apply_argv(run: u32) -> Vec<String> {
    [
        "terraform",
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-lock-timeout=0s",
        "-var",
        &format!("run={run}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn apply_is_retried_until_the_state_lock_is_free() {
    if require(
        "terraform",
        "e2e_terraform::apply_is_retried_until_the_state_lock_is_free",
    )
    .is_none()
    {
        return;
    }
    let tmp = common::command::tempdir();
    let dir = tmp.path();
    for d in ["home", "work"] {
        std::fs::create_dir(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("empty.tfrc"), "").unwrap();
    std::fs::write(dir.join("work/main.tf"), MAIN_TF).unwrap();
    let tf = |argv: &[String]| {
        let mut cmd = alone(argv);
        tf_env(&mut cmd, dir);
        cmd
    };
    let v = e2e::version(&["terraform", "version"]);
    println!("{v}");
    let init = run(tf(&["terraform", "init", "-input=false", "-no-color"].map(String::from)));
    init.assert_success();

    // The first apply takes the lock and holds it in its provisioner.
    let mut holder = e2e::start(tf(&apply_argv(1)));
    holder
        .stdout
        .wait_for(|l| l.ends_with("(local-exec): provisioner started run=1"), WITHIN);

    // Can fail: terraform alone, and retry-on with one attempt, meet the lock.
    let locked = run(tf(&apply_argv(2)));
    locked.assert_failure();
    assert_eq!(locked.stderr_count(LOCKED), 1, "{locked}");
    let mut cmd = retry_on(&[OPTS, &["-n", "1"]].concat(), &apply_argv(2));
    tf_env(&mut cmd, dir);
    let once = run(cmd);
    assert_eq!(once.code(), locked.code(), "{once}");
    assert_eq!(once.stderr_count(LOCKED), 1, "{once}");

    // Through retry-on: the lock is let go once two attempts have met it.
    let mut cmd = retry_on(&[OPTS, &["-n", "60"]].concat(), &apply_argv(2));
    tf_env(&mut cmd, dir);
    let mut second = e2e::start(cmd);
    for _ in 0..2 {
        second.stderr.wait_for(is_retry_line, WITHIN);
    }
    std::fs::write(dir.join("work/release"), "").unwrap();
    let first = holder.finish();
    first.assert_success();
    assert!(
        first
            .stdout
            .contains("Apply complete! Resources: 1 added, 0 changed, 0 destroyed."),
        "{first}"
    );
    let r = second.finish();
    r.assert_success();
    let failed = r.stderr_count(LOCKED);
    assert!(failed >= 2, "{r}");
    assert_eq!(
        r.retries(),
        failed,
        "every failed attempt met the lock, and was retried\n{r}"
    );
    assert!(
        r.stdout
            .contains("Apply complete! Resources: 1 added, 0 changed, 1 destroyed."),
        "{r}"
    );
    let out = run(tf(&["terraform", "output", "-raw", "run"].map(String::from)));
    out.assert_success();
    assert_eq!(out.stdout, "2", "{out}");
    println!("terraform apply: {} attempts, {failed} met the state lock", failed + 1);
}
