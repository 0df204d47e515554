//! Sets `RETRY_ON_VERSION` for `--version`: the package version, and the git
//! revision when built from a git checkout of retry-on itself (not from a
//! packaged crate, even one unpacked inside some other repository).

use std::path::Path;
use std::process::Command;

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let revision = match Path::new(&dir).join(".git").exists() {
        true => revision(&dir),
        false => None,
    };
    link_for_start_up();
    match revision {
        Some(revision) => println!("cargo:rustc-env=RETRY_ON_VERSION={version} ({revision})"),
        None => println!("cargo:rustc-env=RETRY_ON_VERSION={version}"),
    }
}

/// The short revision of HEAD, and a rerun when HEAD or its branch moves.
fn revision(dir: &str) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").current_dir(dir).args(args).output().ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
    };
    let revision = git(&["rev-parse", "--short", "HEAD"])?;
    let mut watched = vec![git(&["rev-parse", "--git-path", "HEAD"])];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git(&["rev-parse", "--git-path", &branch]));
        watched.push(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
    for path in watched.into_iter().flatten() {
        // A path that does not exist would make cargo rerun this on every
        // build; a branch still packed in packed-refs is written as a loose
        // ref on the next commit, which its directory's scan sees.
        let path = Path::new(dir).join(path);
        match (path.exists(), path.parent()) {
            (true, _) => println!("cargo:rerun-if-changed={}", path.display()),
            (false, Some(parent)) if parent.is_dir() => println!("cargo:rerun-if-changed={}", parent.display()),
            (false, _) => {}
        }
    }
    Some(revision)
}

/// On Linux with glibc, links the binary as a position-dependent executable
/// (`-no-pie`): the dynamic loader then has no relocations of retry-on's own
/// to apply at every start, and fewer pages are dirtied: about 50 fewer page
/// faults and 0.2 ms less CPU per run here (bench/notes.md). The cost is ASLR
/// for the binary's own code; the libraries, stack and heap stay randomised.
fn link_for_start_up() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bin=retry-on=-no-pie");
    }
}
