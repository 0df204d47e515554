//! `--generate`: the man page renders cleanly, and the completion scripts,
//! run by the real shells, complete flags, profiles and the command.
//!
//! A test that needs `man`, bash-completion, zsh or fish prints one
//! `skipped: ...` line when it is missing and passes, unless
//! RETRY_ON_REQUIRE_SHELL_TOOLS=1 (as in CI), which makes that a failure.

mod common {
    pub mod command;
    pub mod finished;
    pub mod skip;
}

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use common::command::{BIN, isolated, tempdir};
use common::finished::retry_on;
use common::skip::available_or_skip;
use predicates::prelude::*;

const BASH_COMPLETION: &str = "/usr/share/bash-completion/bash_completion";

/// True when `tool` is there; otherwise says why the test is skipped (or
/// fails, when tools are required).
fn have(tool: &str, present: bool) -> bool {
    available_or_skip(
        present,
        "RETRY_ON_REQUIRE_SHELL_TOOLS",
        "a --generate test",
        &format!("{tool} is missing"),
        ".ci/run installs it",
    )
}

fn on_path(program: &str) -> bool {
    common::skip::on_path(program).is_some()
}

fn generated(kind: &str) -> String {
    let output = retry_on().args(["--generate", kind]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// PATH with the binary under test first, so that scripts find `retry-on`.
fn path_with_bin() -> String {
    let dir = Path::new(BIN).parent().unwrap().display().to_string();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// `shell`, isolated from the configuration of whoever runs the tests (the
/// completions call `retry-on --list-profiles`), with the binary on PATH.
fn shell(shell: &str) -> Command {
    let mut command = isolated(shell);
    command.env("PATH", path_with_bin());
    command
}

/// Runs a bash script with no startup files, the binary on PATH.
fn bash(script: &str) -> Output {
    shell("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .output()
        .unwrap()
}

/// The candidates bash's completion of `words` (the last one being
/// completed) offers, calling the function that the script registered as
/// bash itself would. `setup` runs first (e.g. to load bash-completion).
fn complete_bash(setup: &str, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        r#"{setup}
source <(retry-on --generate complete-bash)
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
function=$(complete -p retry-on | sed -E 's/.* -F ([^ ]+) .*/\1/')
"$function" retry-on "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}" 2>/dev/null
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = quoted.join(" ")
    );
    let output = bash(&script);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// The text of the man page's section `title`, with `\-` as `-`.
fn section(page: &str, title: &str) -> String {
    let headings = [format!(".SH \"{title}\"\n"), format!(".SH {title}\n")];
    let start = headings
        .iter()
        .find_map(|heading| page.find(heading.as_str()).map(|at| at + heading.len()))
        .unwrap_or_else(|| panic!("no section {title}: {page}"));
    let rest = &page[start..];
    rest[..rest.find("\n.SH ").unwrap_or(rest.len())].replace("\\-", "-")
}

/// The warnings plain `groff` gives for the page in `path`: unlike `man`,
/// it runs no `preconv`, and reads bytes past ASCII as Latin-1.
fn groff_warnings(path: &Path) -> String {
    let output = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(path)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The warnings `man` gives while rendering the page in `path`.
fn man_warnings(path: &Path) -> String {
    let output = Command::new("man")
        .args(["--warnings=w", "-l"])
        .arg(path)
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(!output.stdout.is_empty());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_man_page_renders_without_warnings_and_has_our_sections() {
    if !have("man", on_path("man")) {
        return;
    }
    let dir = tempdir();
    let page = dir.path().join("retry-on.1");
    let text = generated("man");
    std::fs::write(&page, &text).unwrap();
    assert_eq!(man_warnings(&page), "");
    for section in ["EXIT STATUS", "SIGNALS", "FILES", "ENVIRONMENT", "EXAMPLES"] {
        assert!(
            text.contains(&format!(".SH \"{section}\"")) || text.contains(&format!(".SH {section}")),
            "{section}"
        );
    }
    for name in [
        "RETRY_ON_ATTEMPT",
        "RETRY_ON_ATTEMPTS",
        "RETRY_ON_CONFIG",
        "XDG_CONFIG_HOME",
        "\\-\\-jitter",
    ] {
        assert!(text.contains(name), "{name}");
    }
    // The check can fail: a page with an unknown macro is warned about.
    std::fs::write(&page, format!("{text}.notamacro\n")).unwrap();
    assert_ne!(man_warnings(&page), "");
}

/// `-b`'s help (`d, d, d…`) reached the page as raw UTF-8, which `man`
/// converts first but plain `groff -ww` warned about ("invalid input
/// character code 128").
#[test]
fn the_man_page_renders_without_warnings_in_plain_groff() {
    if !have("groff", on_path("groff")) {
        return;
    }
    let dir = tempdir();
    let page = dir.path().join("retry-on.1");
    std::fs::write(&page, generated("man")).unwrap();
    assert_eq!(groff_warnings(&page), "");
}

/// The man page's sections once said less than the README: no exit 0 for
/// --check, no 125 for hooks or DynamoDB, no 127 for a `#!` interpreter,
/// three of the forwarded signals, and no word of an absolute
/// XDG_CONFIG_HOME.
#[test]
fn the_man_page_says_what_the_readme_says_about_exits_signals_and_files() {
    let text = generated("man");
    let section = |title| section(&text, title);
    let exit = section("EXIT STATUS");
    for said in ["--check passed", "hook that cannot be started", "DynamoDB", "#! line"] {
        assert!(exit.contains(said), "{said}: {exit}");
    }
    let signals = section("SIGNALS");
    for signal in [
        "INT", "TERM", "HUP", "QUIT", "USR1", "USR2", "ALRM", "VTALRM", "PROF", "XCPU", "IO", "PWR", "STKFLT",
    ] {
        assert!(signals.contains(&format!("SIG{signal}")), "SIG{signal}: {signals}");
    }
    assert!(section("FILES").contains("an absolute XDG_CONFIG_HOME only"));
    assert!(section("ENVIRONMENT").contains("absolute"));
}

/// The examples were written twice, in `--help` and in the man page.
#[test]
fn the_man_page_has_the_examples_of_the_help() {
    let help = String::from_utf8(retry_on().arg("--help").output().unwrap().stdout).unwrap();
    let examples = help.split_once("Examples:\n").expect("--help has examples").1;
    let examples_section = section(&generated("man"), "EXAMPLES");
    let mut count = 0;
    for what in examples.lines().filter_map(|l| l.strip_prefix("  # ")) {
        assert!(examples_section.contains(what), "{what}: {examples_section}");
        count += 1;
    }
    assert!(count >= 2, "{examples}");
}

#[test]
fn generate_runs_nothing() {
    let dir = tempdir();
    let marker = dir.path().join("ran");
    retry_on()
        .args(["--generate", "complete-fish", "touch"])
        .arg(&marker)
        .assert()
        .success();
    assert!(!marker.exists());
}

#[test]
fn an_unknown_kind_is_a_usage_error_that_lists_the_kinds() {
    retry_on()
        .args(["--generate", "complete-tcsh"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains(
            "man, complete-bash, complete-zsh, complete-fish, complete-powershell, complete-elvish",
        ));
}

#[test]
fn the_version_names_the_package_version() {
    retry_on()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(concat!(
            "retry-on ",
            env!("CARGO_PKG_VERSION")
        )));
}

/// `cargo package` once verified the crate in the checkout's own target
/// directory: its build script, run where there is no `.git`, overwrote the
/// checkout's, and the binary under test lost its revision (.ci/run now
/// packages in a target directory of its own). The revision is compared as
/// a prefix of the full hash, which does not depend on how git abbreviates.
#[test]
fn built_in_a_git_checkout_the_version_names_the_revision() {
    let root = env!("CARGO_MANIFEST_DIR");
    let head = Command::new("git")
        .args(["-C", root, "rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success() && Path::new(root).join(".git").exists());
    let Some(head) = head else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: the version's git revision: not a git checkout"
        );
        return;
    };
    let head = String::from_utf8(head.stdout).unwrap();
    let output = retry_on().arg("--version").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let version = String::from_utf8(output.stdout).unwrap();
    let revision = version
        .strip_prefix(concat!("retry-on ", env!("CARGO_PKG_VERSION"), " ("))
        .and_then(|rest| rest.strip_suffix(")\n"));
    assert!(
        revision.is_some_and(|r| r.len() >= 7 && head.trim().starts_with(r)),
        "{version:?} names no revision of HEAD ({}): was {BIN} built outside this checkout?",
        head.trim()
    );
}

/// A Rust binary loads `libgcc_s.so.1` for its unwinder: one more library to
/// map and relocate at every start, whose constructor probes the CPU again
/// (`cpuid`, which a hypervisor may trap). build.rs links the unwinder from
/// `libgcc_eh.a` instead, as `gcc -static-libgcc` does, where `cc` has it.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn the_binary_does_not_load_libgcc_s() {
    let archive = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .expect("cc, the linker, runs");
    let archive = String::from_utf8_lossy(&archive.stdout).trim().to_string();
    if !std::path::Path::new(&archive).is_absolute() {
        return; // no libgcc_eh.a: build.rs leaves the unwinder to libgcc_s
    }
    let ldd = Command::new("ldd").arg(BIN).output().expect("ldd (glibc's) runs");
    let libraries = String::from_utf8_lossy(&ldd.stdout);
    assert!(ldd.status.success(), "{ldd:?}");
    assert!(libraries.contains("libc.so"), "{libraries}");
    assert!(!libraries.contains("libgcc_s"), "{libraries}");
}

#[test]
fn bash_registers_a_completion() {
    let output = bash("source <(retry-on --generate complete-bash); complete -p retry-on");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success() && stdout.contains(" -F ") && stdout.trim_end().ends_with(" retry-on"),
        "{stdout}"
    );
}

#[test]
fn bash_completes_a_flag() {
    assert_eq!(complete_bash("", &["retry-on", "--jit"]), ["--jitter"]);
    assert_eq!(complete_bash("", &["retry-on", "-b", "con"]), ["constant"]);
}

#[test]
fn bash_completes_profile_names_built_in_and_from_the_user_s_file() {
    let profiles = complete_bash("", &["retry-on", "-q", "-P", ""]);
    assert!(
        profiles.iter().any(|p| p == "aws") && profiles.iter().any(|p| p == "curl"),
        "{profiles:?}"
    );
    let dir = tempdir();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[profile.deploy]\npatterns = [\"503\"]\n").unwrap();
    let file = file.to_str().unwrap();
    let profiles = complete_bash("", &["retry-on", "-c", file, "--profile", "de"]);
    assert_eq!(profiles, ["deploy"]);
    let home = format!("HOME={}", dir.path().display());
    let profiles = complete_bash(&home, &["retry-on", "--config", "=", "~/config.toml", "-P", "de"]);
    assert_eq!(profiles, ["deploy"]);
}

/// bash took the word after a cluster such as `-qP` for a flag: it only
/// looked for a previous word of `-P` or `--profile`.
#[test]
fn bash_completes_profile_names_after_a_cluster_ending_in_p() {
    let profiles = complete_bash("", &["retry-on", "-qP", ""]);
    assert!(profiles.iter().any(|p| p == "aws"), "{profiles:?}");
    assert!(!profiles.iter().any(|p| p.starts_with('-')), "{profiles:?}");
    assert_eq!(
        complete_bash("", &["retry-on", "-qP", "aw"]),
        ["aws", "aws-eventual-consistency"]
    );
}

#[test]
fn bash_completes_the_command_after_the_options() {
    for words in [
        &["retry-on", "--", "ech"][..],
        &["retry-on", "-d", "1s", "ech"],
        &["retry-on", "ech"],
    ] {
        let got = complete_bash("", words);
        assert!(got.iter().any(|c| c == "echo"), "{words:?}: {got:?}");
    }
    // A word after the command is the command's, even one that looks like ours.
    assert!(!complete_bash("", &["retry-on", "-n", "2", "echo", "--jit"]).contains(&"--jitter".to_string()));
}

#[test]
fn bash_hands_the_command_s_words_to_its_own_completion() {
    if !have("bash-completion", Path::new(BASH_COMPLETION).exists()) {
        return;
    }
    let setup = format!("source {BASH_COMPLETION}; complete -W 'alpha beta' fakecmd");
    for words in [
        &["retry-on", "-d", "1s", "fakecmd", "al"][..],
        &["retry-on", "--", "fakecmd", "al"],
    ] {
        assert_eq!(complete_bash(&setup, words), ["alpha"], "{words:?}");
    }
}

/// A fish line with the generated script loaded and `setup` run first, in
/// `home`: what `complete -C LINE` offers, each candidate without its
/// description.
fn complete_fish(home: &Path, setup: &str, line: &str) -> Vec<String> {
    let script = home.join("retry-on.fish");
    std::fs::write(&script, generated("complete-fish")).unwrap();
    let output = shell("fish")
        .args([
            "--no-config",
            "-c",
            "source $argv[1]; eval $argv[2]; complete -C $argv[3]",
        ])
        .arg(&script)
        .args([setup, line])
        .env("HOME", home)
        .current_dir(home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

/// A stand-in command with a completion of its own, for each shell.
const FAKE_FISH: &str = "complete -c fakecmd -f -a 'alpha beta'; complete -c fakecmd -l fake-flag";

#[test]
fn fish_completes_profiles_flags_and_the_command() {
    if !have("fish", on_path("fish")) {
        return;
    }
    let dir = tempdir();
    let complete = |line: &str| complete_fish(dir.path(), FAKE_FISH, line);
    assert!(complete("retry-on -P ").iter().any(|c| c == "aws"));
    assert!(complete("retry-on -qP ").iter().any(|c| c == "aws"));
    assert_eq!(complete("retry-on --jit"), ["--jitter"]);
    for line in ["retry-on -d 1s ech", "retry-on -- ech", "retry-on ech"] {
        assert!(complete(line).iter().any(|c| c == "echo"), "{line}");
    }
    for line in [
        "retry-on -- fakecmd al",
        "retry-on -P aws fakecmd al",
        "retry-on -qP aws -- fakecmd al",
    ] {
        assert_eq!(complete(line), ["alpha"], "{line}");
    }
}

/// fish offered retry-on's flags among the command's (`retry-on -n 3 git
/// checkout --` gave `--jitter`, `--attempts` with git's), and after `--`.
#[test]
fn fish_offers_only_the_command_s_completions_once_the_command_starts() {
    if !have("fish", on_path("fish")) {
        return;
    }
    let dir = tempdir();
    let complete = |line: &str| complete_fish(dir.path(), FAKE_FISH, line);
    assert_eq!(complete("retry-on -n 3 fakecmd --"), ["--fake-flag"]);
    assert_eq!(complete("retry-on -- fakecmd --"), ["--fake-flag"]);
    assert_eq!(complete("retry-on -- echo --jit"), Vec::<String>::new());
    assert_eq!(complete("retry-on fakecmd -P "), ["alpha", "beta"]);
}

/// fish listed the user's profiles whatever `-c FILE` said.
#[test]
fn fish_lists_the_profiles_of_the_config_file_on_the_line() {
    if !have("fish", on_path("fish")) {
        return;
    }
    let dir = tempdir();
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[profile.deploy]\npatterns = [\"503\"]\n").unwrap();
    let file = file.to_str().unwrap();
    for line in [
        format!("retry-on -c {file} -P de"),
        format!("retry-on --config={file} --profile de"),
        "retry-on --config ~/config.toml -P de".to_string(),
    ] {
        assert_eq!(complete_fish(dir.path(), "", &line), ["deploy"], "{line}");
    }
    assert_eq!(complete_fish(dir.path(), "", "retry-on -P deplo"), Vec::<String>::new());
}

/// A zsh session on a pseudo-terminal (zsh/zpty), with compinit and the
/// completion in `$1` on fpath, that types `$2` and a TAB, and prints each
/// candidate that compadd is given, one a line; `$3` runs after compinit.
/// The markers are \1 and \2, which the typed lines (echoed back) never
/// contain as such.
const ZSH_COMPLETE: &str = r#"
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT= RPROMPT=; fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'bindkey "^I" complete-word; zstyle ":completion:*" list-grouped false'
zpty -w z 'compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
    local -a hits; builtin compadd -A hits "$@"
    (( $#hits )) && print -r -l -- $'\''\1'\''${^hits}
    builtin compadd "$@"
}'
zpty -w z 'comppostfuncs=(_retry_on_test_done); _retry_on_test_done() { print -r -- $'\''\2'\''; exit }'
zpty -w z "$3"
zpty -w -n z "$2"$'\t'
local line
while zpty -r z line; do
    [[ $line == *$'\2'* ]] && break
    [[ $line == *$'\1'* ]] && print -r -- ${${line#*$'\1'}%$'\r'*}
done
zpty -d z
"#;

/// What zsh's completion offers for `line` (TAB at its end).
fn complete_zsh(home: &Path, line: &str) -> Vec<String> {
    let functions = home.join("functions");
    std::fs::create_dir_all(&functions).unwrap();
    std::fs::write(functions.join("_retry-on"), generated("complete-zsh")).unwrap();
    let driver = home.join("complete.zsh");
    std::fs::write(&driver, ZSH_COMPLETE).unwrap();
    let fake = "_fakecmd() { _arguments --fake-flag '1:word:(alpha beta)' }; compdef _fakecmd fakecmd";
    let output = shell("timeout")
        .args(["60", "zsh", "-f"])
        .arg(&driver)
        .arg(&functions)
        .args([line, fake])
        .env("HOME", home)
        .env("TERM", "dumb")
        .current_dir(home)
        .output()
        .unwrap();
    assert!(output.status.success(), "{line}: {output:?}");
    let mut candidates: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    candidates.sort();
    candidates.dedup();
    candidates
}

#[test]
fn zsh_completes_flags_profiles_and_the_command() {
    if !have("zsh", on_path("zsh")) {
        return;
    }
    let dir = tempdir();
    let complete = |line: &str| complete_zsh(dir.path(), line);
    assert_eq!(complete("retry-on --jit"), ["--jitter"]);
    for line in ["retry-on -P ", "retry-on -qP ", "retry-on --profile="] {
        let profiles = complete(line);
        assert!(
            profiles.iter().any(|p| p == "aws") && profiles.iter().any(|p| p == "curl"),
            "{line}: {profiles:?}"
        );
    }
    let file = dir.path().join("config.toml");
    std::fs::write(&file, "[profile.deploy]\npatterns = [\"503\"]\n").unwrap();
    let line = format!("retry-on -c {} -P de", file.display());
    assert_eq!(complete(&line), ["deploy"]);
    for line in ["retry-on ech", "retry-on -d 1s ech", "retry-on -n 3 -- ech"] {
        assert!(complete(line).iter().any(|c| c == "echo"), "{line}");
    }
    assert_eq!(complete("retry-on -n 3 fakecmd al"), ["alpha"]);
}

/// With `--` as the first word, zsh took `--` for the command's name:
/// `retry-on -- ech` completed nothing, and `retry-on -- ` offered files.
#[test]
fn zsh_completes_the_command_after_a_leading_double_dash() {
    if !have("zsh", on_path("zsh")) {
        return;
    }
    let dir = tempdir();
    let complete = |line: &str| complete_zsh(dir.path(), line);
    assert!(complete("retry-on -- ech").iter().any(|c| c == "echo"));
    assert_eq!(complete("retry-on -- fakecmd al"), ["alpha"]);
    let commands = complete("retry-on -- ");
    assert!(commands.iter().any(|c| c == "echo"), "{commands:?}");
    assert!(!commands.iter().any(|c| c == "complete.zsh"), "{commands:?}");
}

#[test]
fn zsh_accepts_the_script() {
    if !have("zsh", on_path("zsh")) {
        return;
    }
    let dir = tempdir();
    let script = dir.path().join("_retry-on");
    std::fs::write(&script, generated("complete-zsh")).unwrap();
    let output = shell("zsh").arg("-n").arg(&script).output().unwrap();
    assert!(output.status.success(), "{output:?}");
}
