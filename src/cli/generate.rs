//! `--generate KIND`: the man page (clap_mangen) and the shell completions
//! (clap_complete), made from the clap definition so that they never drift
//! from the flags. Only what those crates cannot know is added here: the
//! man page's sections after the options (`manual`), and, for the shells
//! that allow it, the profile names after `-P` and the command after `--`
//! or the first operand (the scripts beside `manual.rs` under `generate/`).

use clap::Command;
use clap::builder::ArgAction;
use clap_complete::Shell;
use clap_mangen::Man;
use clap_mangen::roff::Roff;

use crate::parse::Choice;

mod manual;

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Man,
    Complete(Shell),
}

impl Choice for Kind {
    const ALL: &'static [(&'static str, Self)] = &[
        ("man", Kind::Man),
        ("complete-bash", Kind::Complete(Shell::Bash)),
        ("complete-zsh", Kind::Complete(Shell::Zsh)),
        ("complete-fish", Kind::Complete(Shell::Fish)),
        ("complete-powershell", Kind::Complete(Shell::PowerShell)),
        ("complete-elvish", Kind::Complete(Shell::Elvish)),
    ];
}

/// The text of `--generate KIND` for `command`, the full clap definition.
pub(crate) fn generate(kind: Kind, command: Command) -> String {
    match kind {
        Kind::Man => man(command),
        Kind::Complete(shell) => completion(shell, command),
    }
}

/// `retry-on.1`: clap_mangen's sections for the name, synopsis, description
/// and options, then ours, then the version.
fn man(command: Command) -> String {
    let man = Man::new(command.clone());
    let mut out: Vec<u8> = Vec::new();
    let rendered = man
        .render_title(&mut out)
        .and_then(|()| man.render_name_section(&mut out))
        .and_then(|()| man.render_synopsis_section(&mut out))
        .and_then(|()| man.render_description_section(&mut out))
        .and_then(|()| man.render_options_section(&mut out));
    rendered.expect("writing to a Vec cannot fail");
    let mut roff = Roff::default();
    manual::sections(&mut roff);
    roff.to_writer(&mut out).expect("writing to a Vec cannot fail");
    man.render_version_section(&mut out)
        .expect("writing to a Vec cannot fail");
    ascii(&String::from_utf8(out).expect("roff is UTF-8"))
}

/// The page with every character outside ASCII (the help's `…`, `·`, `²`)
/// written as its `\[uXXXX]` escape, which groff and mandoc read: `groff`
/// alone takes its input for Latin-1, and only `man` runs `preconv` first.
fn ascii(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for c in roff.chars() {
        match c.is_ascii() {
            true => out.push(c),
            false => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    out
}

/// clap_complete's script for `shell`, with our additions where we have them.
fn completion(shell: Shell, mut command: Command) -> String {
    let name = command.get_name().to_string();
    let mut out: Vec<u8> = Vec::new();
    clap_complete::generate(shell, &mut command, &name, &mut out);
    let script = String::from_utf8(out).expect("completion scripts are UTF-8");
    let options = ValuedOptions::of(&command);
    match shell {
        Shell::Bash => bash(&script, &options),
        Shell::Zsh => zsh(&script),
        Shell::Fish => fish(&script, &options),
        // Neither shell has a helper to complete another command's words,
        // and clap_complete's scripts for them take no additions.
        _ => script,
    }
}

/// bash: our function runs first, and hands clap_complete's the words it
/// does not complete itself.
fn bash(script: &str, options: &ValuedOptions) -> String {
    let clap_function = script
        .lines()
        .find_map(|line| line.trim().strip_prefix("complete -F ")?.split_whitespace().next())
        .expect("clap_complete registers a function");
    let ours = include_str!("generate/retry-on.bash")
        .replace("@VALUED@", &options.bash())
        .replace("@SWITCHES@", &options.switches)
        .replace("@CLAP_FUNCTION@", clap_function);
    format!("{script}{ours}")
}

/// zsh: the profile names come from our function, and the command (which
/// clap's ValueHint completes with `_cmdambivalent`) goes through ours too,
/// which drops a `--` that `_arguments` left in front of it.
fn zsh(script: &str) -> String {
    let (first, rest) = script.split_once('\n').unwrap_or((script, ""));
    let rest = rest
        .replace(":NAME:_default'", ":NAME:_retry_on_profiles'")
        .replace(":_cmdambivalent'", ":_retry_on_command'");
    format!("{first}\n{}{rest}", include_str!("generate/retry-on.zsh"))
}

/// fish: each of clap_complete's lines applies only while the word being
/// completed is retry-on's own (fish would offer retry-on's flags among the
/// command's otherwise), and ours completes profiles and the command.
fn fish(script: &str, options: &ValuedOptions) -> String {
    let start = "complete -c retry-on ";
    let own = format!("{start}-n __retry_on_own ");
    let script: String = script
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix(start) {
            Some(rest) => format!("{own}{rest}"),
            None => line.to_string(),
        })
        .collect();
    script + &include_str!("generate/retry-on.fish").replace("@VALUED@", &options.regex())
}

/// The flags that take a value, which a completion must step over to find
/// where the command starts.
struct ValuedOptions {
    longs: Vec<String>,
    shorts: String,
    /// Short flags without a value, which may come first in a cluster (`-qP`).
    switches: String,
}

impl ValuedOptions {
    fn of(command: &Command) -> ValuedOptions {
        let mut options = ValuedOptions {
            longs: Vec::new(),
            shorts: String::new(),
            switches: String::new(),
        };
        for arg in command.get_arguments().filter(|arg| !arg.is_positional()) {
            let takes_value = !matches!(
                arg.get_action(),
                ArgAction::SetTrue | ArgAction::SetFalse | ArgAction::Count | ArgAction::Help | ArgAction::Version
            ) && arg.get_num_args().is_none_or(|n| n.takes_values());
            let longs = arg.get_long_and_visible_aliases().into_iter().flatten();
            let shorts = arg.get_short_and_visible_aliases().into_iter().flatten();
            if takes_value {
                options.longs.extend(longs.map(|long| format!("--{long}")));
                options.shorts.extend(shorts);
            } else {
                options.switches.extend(shorts);
            }
        }
        options.shorts = options.shorts.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        options.switches = options.switches.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        options
    }

    /// A bash `case` pattern: `--delay|…|-[pedP…]|-[Fiqv]*[pedP…]` (the
    /// last, for a cluster such as `-qP`, is as close as a plain glob gets).
    fn bash(&self) -> String {
        let mut patterns = self.longs.clone();
        patterns.push(format!("-[{}]", self.shorts));
        patterns.push(format!("-[{}]*[{}]", self.switches, self.shorts));
        patterns.join("|")
    }

    /// A regex of the same words: `^(--delay|…|-[Fiqv…]*[pedP…])$`.
    fn regex(&self) -> String {
        format!("^({}|-[{}]*[{}])$", self.longs.join("|"), self.switches, self.shorts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;

    fn script(kind: &str) -> String {
        generate(Kind::from_name(kind).unwrap(), Cli::command_with_defaults(&[]))
    }

    #[test]
    fn every_kind_generates_something() {
        for (name, _) in Kind::ALL {
            assert!(script(name).contains("retry-on"), "{name}");
        }
    }

    #[test]
    fn the_flags_that_take_values_are_found_in_the_clap_definition() {
        let options = ValuedOptions::of(&Cli::command_with_defaults(&[]));
        for long in [
            "--pattern",
            "--delay",
            "--profile",
            "--config",
            "--log-format",
            "--generate",
        ] {
            assert!(options.longs.iter().any(|l| l == long), "{long}: {:?}", options.longs);
        }
        for long in ["--quiet", "--explain", "--no-config", "--help", "--fixed-strings"] {
            assert!(!options.longs.iter().any(|l| l == long), "{long}: {:?}", options.longs);
        }
        assert!(
            options.shorts.contains('P') && options.shorts.contains('p'),
            "{}",
            options.shorts
        );
        assert!(!options.shorts.contains('q') && options.switches.contains('q'));
    }

    #[test]
    fn zsh_completes_profiles_with_our_function() {
        let zsh = script("complete-zsh");
        assert!(zsh.starts_with("#compdef retry-on\n"), "{zsh}");
        assert_eq!(zsh.matches(":NAME:_retry_on_profiles'").count(), 2, "{zsh}");
        assert_eq!(zsh.matches(":_retry_on_command'").count(), 1, "{zsh}");
        assert!(!zsh.contains(":_cmdambivalent'"), "{zsh}");
    }

    #[test]
    fn fish_offers_retry_on_s_own_completions_only_for_its_own_words() {
        let fish = script("complete-fish");
        let (clap, ours) = fish.split_once("# Added by retry-on").unwrap();
        assert!(ours.contains("complete -c retry-on -n __retry_on_own -s P"), "{ours}");
        for line in clap.lines().filter(|l| l.starts_with("complete -c retry-on ")) {
            assert!(line.starts_with("complete -c retry-on -n __retry_on_own "), "{line}");
        }
    }

    #[test]
    fn the_man_page_is_ascii() {
        let man = script("man");
        assert!(man.is_ascii(), "{man}");
        assert!(man.contains("d, d, d\\[u2026]"), "{man}");
    }
}
