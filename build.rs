//! Sets `RETRY_ON_VERSION` for `--version`: the package version, and the git
//! revision when built from a git checkout of retry-on itself (not from a
//! packaged crate, even one unpacked inside some other repository). Writes
//! the built-in profiles without their comments, and links for a fast start.

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
    compact_profiles(Path::new(&dir));
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

/// Each `config/NAME.toml` as `$OUT_DIR/profiles/NAME.toml`: the same keys
/// and values with no comments. The comments cite the sources and are three
/// quarters of each file; parsing them cost more than anything else that
/// `-P NAME` does at start-up (bench/notes.md).
fn compact_profiles(dir: &Path) {
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("profiles");
    std::fs::create_dir_all(&out).expect("OUT_DIR is writable");
    let config = dir.join("config");
    println!("cargo:rerun-if-changed={}", config.display());
    for entry in std::fs::read_dir(&config).expect("config/ is readable") {
        let path = entry.expect("config/ is readable").path();
        if path.extension().is_none_or(|ext| ext != "toml") {
            continue;
        }
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).expect("a profile is UTF-8");
        let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let compact = toml::to_string(&table).expect("a TOML table serialises");
        std::fs::write(out.join(path.file_name().expect("a file")), compact).expect("OUT_DIR is writable");
    }
}

/// On Linux with glibc:
/// - links the binary as a position-dependent executable (`-no-pie`): the
///   dynamic loader then has no relocations of retry-on's own to apply at
///   every start, and fewer pages are dirtied: about 50 fewer page faults and
///   0.2 ms less CPU per run here (bench/notes.md). The cost is ASLR for the
///   binary's own code; the libraries, stack and heap stay randomised.
/// - links the unwinder from `libgcc_eh.a` instead of loading `libgcc_s.so.1`
///   at every start, as `gcc -static-libgcc` does: one library fewer to map
///   and relocate, and no second round of `cpuid` in its constructor, which
///   a hypervisor may trap: about 0.14 ms less CPU per run here. Only where
///   the C compiler that links the binary has the archive.
fn link_for_start_up() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bin=retry-on=-no-pie");
    if var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static") || var("HOST") != var("TARGET") {
        return; // a static build links libgcc_eh.a already; `cc` is the host's
    }
    // `cc` is the linker rustc runs for this target unless told otherwise.
    let archive = Command::new("cc").arg("-print-file-name=libgcc_eh.a").output().ok();
    let found = archive
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .is_some_and(|path| Path::new(path.trim()).is_absolute());
    if found {
        println!("cargo:rustc-link-lib=static:-bundle,+verbatim=libgcc_eh.a");
    }
}
