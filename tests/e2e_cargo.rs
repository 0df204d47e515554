//! End-to-end: the real `cargo` through retry-on against a stub sparse
//! registry on 127.0.0.1 (tests/support/sparse_registry.rs) whose index file
//! for the one crate answers 503 once. A temporary project depends on that
//! crate from crates-io, which a temporary CARGO_HOME replaces with the stub
//! (source replacement), so nothing touches the real CARGO_HOME or the
//! network. cargo's own retries are off (CARGO_NET_RETRY=0), so its final
//! error, `failed to get successful HTTP response from ... got 503`, comes at
//! once. `cargo generate-lockfile` needs only the index: no .crate download.
//!
//! Without `cargo` on PATH the test prints one `skipped: ...` line and
//! passes, unless RETRY_ON_REQUIRE_CARGO=1, in which case it fails.

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
#[path = "support/sparse_registry.rs"]
mod sparse_registry;

use common::run::Run;
use e2e::{alone, require, retry_on, run};
use sparse_registry::Registry;
use std::path::Path;
use std::process::Command;

/// The cargo profile's patterns with a short first delay (its schedule
/// starts at 30s).
const OPTS: &[&str] = &["-P", "cargo", "-d", "100ms"];
const ARGV: &[&str] = &["cargo", "generate-lockfile"];

const MANIFEST: &str = r#"[package]
name = "uses-demo"
version = "0.1.0"
edition = "2021"

[dependencies]
demo = "0.1"
"#;

/// A project in `dir/project` and a CARGO_HOME in `dir/cargo-home` whose
/// config replaces crates-io with the stub registry.
fn setup(dir: &Path, registry: &Registry) {
    let home = dir.join("cargo-home");
    std::fs::create_dir_all(&home).unwrap();
    let config = format!(
        "[source.crates-io]\nreplace-with = \"stub\"\n\n[source.stub]\nregistry = \"{}\"\n",
        registry.index_url()
    );
    std::fs::write(home.join("config.toml"), config).unwrap();
    let project = dir.join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("Cargo.toml"), MANIFEST).unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
}

/// CARGO_HOME and HOME in `dir`; cargo's own retries off. The `cargo` on
/// PATH may be rustup's proxy, which needs to know where rustup keeps its
/// toolchains and which one this test runs with.
fn cargo_env(cmd: &mut Command, dir: &Path) {
    cmd.current_dir(dir.join("project"))
        .env("HOME", dir)
        .env("CARGO_HOME", dir.join("cargo-home"))
        .env("CARGO_NET_RETRY", "0")
        .env("CARGO_TERM_COLOR", "never")
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    rustup_env(cmd);
}

fn rustup_env(cmd: &mut Command) {
    for rustup in ["RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Some(value) = std::env::var_os(rustup) {
            cmd.env(rustup, value);
        }
    }
}

/// cargo's final error for the 503 (util/errors.rs HttpNotSuccessful).
fn gave_up(r: &Run, registry: &Registry) -> usize {
    let line = format!(
        "  failed to get successful HTTP response from `{}` (127.0.0.1), got 503",
        registry.index_file_url()
    );
    r.stderr_count(&line)
}

/// One run of `cargo generate-lockfile` in a fresh project against a fresh
/// registry, alone or through retry-on with `opts`.
fn generate(opts: Option<&[&str]>) -> (Run, Registry, tempfile::TempDir) {
    let tmp = common::command::tempdir();
    let registry = Registry::start("demo", "0.1.0", 1);
    setup(tmp.path(), &registry);
    let mut cmd = match opts {
        None => alone(ARGV),
        Some(opts) => retry_on(opts, ARGV),
    };
    cargo_env(&mut cmd, tmp.path());
    (run(cmd), registry, tmp)
}

#[test]
fn generate_lockfile_is_retried_through_a_503_from_the_registry() {
    if require(
        "cargo",
        "e2e_cargo::generate_lockfile_is_retried_through_a_503_from_the_registry",
    )
    .is_none()
    {
        return;
    }
    let mut version = alone(&["cargo", "--version"]);
    rustup_env(&mut version);
    println!("{}", run(version).stdout);

    // Can fail: cargo alone meets the 503 (its own retries are off).
    let (cargo, registry, _tmp) = generate(None);
    cargo.assert_failure();
    assert_eq!(gave_up(&cargo, &registry), 1, "{cargo}");
    assert_eq!(cargo.stderr_count("warning: spurious network error"), 0, "{cargo}");
    assert_eq!(registry.index_file_requests(), 1, "{cargo}");

    // ... and so does retry-on with one attempt, with cargo's exit code.
    let (once, registry, _tmp) = generate(Some(&[OPTS, &["-n", "1"]].concat()));
    assert_eq!(once.code(), cargo.code(), "{once}");
    assert_eq!(gave_up(&once, &registry), 1, "{once}");
    assert_eq!(registry.index_file_requests(), 1, "{once}");

    let (r, registry, tmp) = generate(Some(OPTS));
    r.assert_success();
    assert_eq!(r.retries(), 1, "{r}");
    assert_eq!(gave_up(&r, &registry), 1, "{r}");
    assert_eq!(registry.index_file_requests(), 2, "{r}");
    assert_eq!(registry.config_requests(), 2, "{r}");
    assert_eq!(
        registry.requests().len(),
        4,
        "cargo asked for something else too: {:?}",
        registry.requests().iter().map(|q| &q.target).collect::<Vec<_>>()
    );
    let lock = std::fs::read_to_string(tmp.path().join("project/Cargo.lock")).unwrap();
    assert!(lock.contains("name = \"demo\"\nversion = \"0.1.0\"\n"), "{lock}");
    println!("cargo generate-lockfile: 2 attempts, 2 index-file requests (the first answered 503)");
}
