//! Everything a run needs, resolved once from layers of what the user typed
//! (flags, a profile, the user file's `[defaults]`) over the built-in
//! defaults, with where each value came from. Nothing after this looks at
//! flags or files.
//!
//! The settings are grouped as the command line is. Each group is declared
//! once with `group!`: its keys, their types and their defaults; that one
//! declaration gives the struct, its resolution and its keys for `--explain`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

use crate::backoff::{self, Backoff, Jitter};
use crate::cli::Layer;
use crate::parse::{AnySignal, At, DelayList, ExitCodes, Factor, LockTarget, LogFormat, ToText};
use crate::pattern::{PatternLists, PatternOrigin, PatternSpec};

/// Where a setting came from, for `--explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Profile(String),
    Defaults,
    /// Set by the environment retry-on runs in (GitHub Actions).
    Environment,
    BuiltIn,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Profile(name) => write!(f, "profile {name}"),
            Source::Defaults => f.write_str("defaults"),
            Source::Environment => f.write_str("environment"),
            Source::BuiltIn => f.write_str("built-in"),
        }
    }
}

impl Source {
    /// How strong a layer of this source is: flags are strongest.
    fn strength(&self) -> u8 {
        match self {
            Source::Flag => 4,
            Source::Profile(_) => 3,
            Source::Defaults => 2,
            Source::Environment => 1,
            Source::BuiltIn => 0,
        }
    }
}

/// A text that layers are read from, which can say where in it a value was.
pub(crate) trait Place {
    /// Where the value at byte range `span`, under `key`, was: for messages.
    fn place(&self, span: &Range<usize>, key: &str) -> String;

    /// Whether the text ships with retry-on (a built-in profile), whose
    /// patterns the tests compile, so that they need no check at run time.
    fn built_in(&self) -> bool {
        false
    }
}

/// A layer of settings, where it came from, and the text it was read from
/// (`None` for flags).
pub(crate) struct Placed<'a> {
    pub layer: &'a Layer,
    pub source: Source,
    pub text: Option<&'a dyn Place>,
}

/// The layers of a run, strongest first.
pub(crate) struct Layers<'a>(pub Vec<Placed<'a>>);

impl Layers<'_> {
    /// The value of the strongest layer that sets it, else `default`; records its source.
    fn pick<T, L: Clone + Into<T>>(
        &self,
        key: &'static str,
        field: impl Fn(&Layer) -> &Option<L>,
        default: impl FnOnce() -> T,
        sources: &mut Sources,
    ) -> T {
        for placed in &self.0 {
            if let Some(value) = field(placed.layer) {
                sources.0.insert(key, placed.source.clone());
                return value.clone().into();
            }
        }
        sources.0.insert(key, Source::BuiltIn);
        default()
    }

    /// Where a file set the value that [`Layers::pick`] takes for `key`:
    /// `None` when a flag set it, or nothing did.
    fn place<T>(&self, key: &'static str, field: impl Fn(&Layer) -> &Option<At<T>>) -> Option<String> {
        let placed = self.0.iter().find(|placed| field(placed.layer).is_some())?;
        let span = field(placed.layer).as_ref()?.span.as_ref()?;
        Some(placed.text?.place(span, key))
    }

    /// Gathers one pattern list from every layer. Each pattern is read with
    /// the `fixed_strings` and `ignore_case` of its own layer or, where that
    /// layer does not say, of the layers below it; a flag never changes how a
    /// profile's patterns are read.
    fn patterns(
        &self,
        key: &'static str,
        flag: &'static str,
        list: impl Fn(&Layer) -> &Option<Vec<crate::parse::Located>>,
    ) -> Vec<PatternSpec> {
        let mut specs = Vec::new();
        for (index, placed) in self.0.iter().enumerate() {
            let Some(texts) = list(placed.layer) else { continue };
            let below = &self.0[index..];
            let fixed = below.iter().find_map(|p| p.layer.fixed_strings).unwrap_or(false);
            let ignore_case = below.iter().find_map(|p| p.layer.ignore_case).unwrap_or(false);
            for text in texts {
                let origin = match (placed.text, &text.span) {
                    (Some(file), Some(span)) => PatternOrigin::File(file.place(span, key)),
                    _ => PatternOrigin::Flag(flag),
                };
                specs.push(PatternSpec {
                    text: text.text.clone(),
                    fixed,
                    ignore_case,
                    origin,
                    source: placed.source.to_string(),
                    trusted: placed.text.is_some_and(|text| text.built_in()),
                });
            }
        }
        specs
    }
}

/// The source of each key that is not a pattern list.
#[derive(Clone, Debug, Default)]
pub struct Sources(BTreeMap<&'static str, Source>);

impl Sources {
    pub fn of(&self, key: &str) -> Source {
        self.0.get(key).cloned().unwrap_or(Source::BuiltIn)
    }
}

/// Declares a settings group: each key with its type and default. A key is
/// a field of [`Layer`] of the same name, whose value converts (`Into`) to
/// the key's type.
macro_rules! group {
    ($(#[$doc:meta])* pub struct $group:ident {
        $($(#[$key_doc:meta])* $key:ident: $ty:ty = $default:expr,)*
    }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $group {
            $($(#[$key_doc])* pub $key: $ty,)*
        }

        impl $group {
            fn resolve(layers: &Layers<'_>, sources: &mut Sources) -> $group {
                $group {
                    $($key: layers.pick(stringify!($key), |l| &l.$key, || $default, sources),)*
                }
            }

            /// Each key with its value, in declaration order.
            pub(crate) fn keys(&self) -> Vec<(&'static str, &dyn ToText)> {
                vec![$((stringify!($key), &self.$key as &dyn ToText),)*]
            }
        }
    };
}

group! {
    /// When to try again, and for how long.
    pub struct Schedule {
        /// Total attempts; 0 means no limit.
        attempts: u32 = 5,
        /// The first delay.
        delay: Duration = Duration::from_secs(1),
        backoff: Backoff = Backoff::Exponential,
        /// The multiplier of exponential backoff.
        factor: Factor = Factor(2.0),
        /// The cap on any single delay.
        max_delay: Duration = Duration::from_secs(60),
        /// An explicit list whose last value repeats.
        delays: Option<DelayList> = None,
        jitter: Jitter = Jitter::None,
        seed: Option<u64> = None,
        /// A deadline for the whole run.
        max_time: Option<Duration> = None,
    }
}

group! {
    /// How each attempt is run.
    pub struct Process {
        timeout: Option<Duration> = None,
        kill_signal: AnySignal = AnySignal::TERM,
        kill_after: Duration = Duration::from_secs(5),
        /// Run in retry-on's process group instead of a new one.
        foreground: bool = false,
        hold_stdout: bool = false,
        lock: Option<LockTarget> = None,
        lock_timeout: Option<Duration> = None,
        /// How long a DynamoDB lease lasts unless renewed.
        lock_lease: Duration = Duration::from_secs(30),
        lock_create_table: bool = false,
    }
}

group! {
    /// What retry-on itself prints.
    pub struct Output {
        quiet: bool = false,
        verbose: bool = false,
        log_format: LogFormat = LogFormat::Text,
    }
}

/// Which hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HookKind {
    Check,
    OnRetry,
    OnGiveup,
}

impl HookKind {
    /// Its flag, as messages name it.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            HookKind::Check => "--check",
            HookKind::OnRetry => "--on-retry",
            HookKind::OnGiveup => "--on-giveup",
        }
    }

    /// Its name in the JSON log.
    pub(crate) fn key(self) -> &'static str {
        match self {
            HookKind::Check => "check",
            HookKind::OnRetry => "on_retry",
            HookKind::OnGiveup => "on_giveup",
        }
    }
}

group! {
    /// Shell commands run around the attempts.
    pub struct Hooks {
        /// Run before each retry; exit 0 means the desired state holds.
        check: Option<String> = None,
        /// Run `check` before the first attempt too.
        check_first: bool = false,
        /// Run after a failed attempt that will be retried, before the wait.
        on_retry: Option<String> = None,
        /// Run once when retry-on gives up.
        on_giveup: Option<String> = None,
        /// The time limit of each hook.
        hook_timeout: Option<Duration> = Some(Duration::from_secs(60)),
    }
}

group! {
    /// Retry conditions other than patterns.
    pub struct Conditions {
        exit_codes: Option<ExitCodes> = None,
    }
}

/// What makes an attempt worth retrying, or not.
#[derive(Clone, Debug)]
pub struct Matching {
    pub patterns: Vec<PatternSpec>,
    pub stdout_patterns: Vec<PatternSpec>,
    pub abort_on: Vec<PatternSpec>,
    /// `--retry-after`: lines that say how long to wait (never literal text).
    pub retry_after: Vec<PatternSpec>,
    pub conditions: Conditions,
}

impl Matching {
    fn resolve(layers: &Layers<'_>, sources: &mut Sources) -> Matching {
        Matching {
            patterns: layers.patterns("patterns", "--pattern", |l| &l.patterns),
            stdout_patterns: layers.patterns("stdout_patterns", "--stdout-pattern", |l| &l.stdout_patterns),
            abort_on: layers.patterns("abort_on", "--abort-on", |l| &l.abort_on),
            retry_after: layers
                .patterns("retry_after", "--retry-after", |l| &l.retry_after)
                .into_iter()
                .map(|spec| PatternSpec { fixed: false, ..spec })
                .collect(),
            conditions: Conditions::resolve(layers, sources),
        }
    }

    /// Each pattern list with its key, in `--explain` order.
    pub(crate) fn lists(&self) -> [(&'static str, &[PatternSpec]); 4] {
        [
            ("patterns", &self.patterns),
            ("stdout_patterns", &self.stdout_patterns),
            ("abort_on", &self.abort_on),
            ("retry_after", &self.retry_after),
        ]
    }

    /// The lists, to be compiled.
    pub fn pattern_lists(&self) -> PatternLists<'_> {
        PatternLists {
            stderr: &self.patterns,
            stdout: &self.stdout_patterns,
            abort: &self.abort_on,
            hints: &self.retry_after,
        }
    }
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub command: Vec<OsString>,
    pub matching: Matching,
    pub schedule: Schedule,
    pub process: Process,
    pub hooks: Hooks,
    pub output: Output,
    pub sources: Sources,
    /// Where a config file set `lock`, for messages about it.
    pub lock_place: Option<String>,
}

impl Settings {
    /// Resolves `layers` (strongest first) over the built-in defaults.
    pub(crate) fn resolve(command: Vec<OsString>, layers: &Layers<'_>) -> Settings {
        let mut sources = Sources::default();
        Settings {
            command,
            matching: Matching::resolve(layers, &mut sources),
            schedule: Schedule::resolve(layers, &mut sources),
            process: Process::resolve(layers, &mut sources),
            hooks: Hooks::resolve(layers, &mut sources).without_empty(),
            output: Output::resolve(layers, &mut sources).one_verbosity(&mut sources),
            sources,
            lock_place: layers.place("lock", |layer| &layer.lock),
        }
    }

    /// The built-in defaults alone.
    pub(crate) fn defaults() -> Settings {
        Settings::resolve(Vec::new(), &Layers(Vec::new()))
    }

    /// Every key that is not a pattern list, with its value, group by group.
    pub(crate) fn keys(&self) -> Vec<(&'static str, &dyn ToText)> {
        let mut keys = self.matching.conditions.keys();
        keys.extend(self.schedule.keys());
        keys.extend(self.process.keys());
        keys.extend(self.hooks.keys());
        keys.extend(self.output.keys());
        keys
    }

    /// Settings that make no sense together: a message naming them. (A
    /// `--check ''` that unsets a profile's check unsets its `check_first` too.)
    /// A lock's options given as flags need a lock from some layer; in a
    /// file they are defaults, for the profiles that set one.
    pub(crate) fn contradiction(&self) -> Option<String> {
        let no_check = self.hooks.check.is_none() && self.sources.of("check") == Source::BuiltIn;
        if self.hooks.check_first && no_check {
            let named = match self.sources.of("check_first") {
                Source::Flag => "--check-first".to_string(),
                source => format!("check_first ({source})"),
            };
            return Some(format!(
                "{named} needs --check: the command that says whether the state already holds"
            ));
        }
        const TIMEOUT: (&str, &str) = ("lock_timeout", "--lock-timeout");
        const LEASE: (&str, &str) = ("lock_lease", "--lock-lease");
        const CREATE: (&str, &str) = ("lock_create_table", "--lock-create-table");
        let unused: &[(&str, &str)] = match &self.process.lock {
            None => &[TIMEOUT, LEASE, CREATE],
            Some(LockTarget::File(_)) => &[LEASE, CREATE],
            Some(LockTarget::DynamoDb { .. }) => &[],
        };
        let (_, flag) = unused.iter().find(|(key, _)| self.sources.of(key) == Source::Flag)?;
        Some(match self.process.lock {
            None => format!("{flag} needs a lock: --lock, or a lock that the profile or [defaults] sets"),
            Some(_) => format!("{flag} is for a dynamodb:// lock, and the lock is a file"),
        })
    }
}

impl Output {
    /// `quiet` and `verbose` are one choice, made by the strongest layer that
    /// makes it: `-v` beats a `[defaults]` `quiet = true`. (One layer cannot
    /// make both: clap and the config file refuse that.)
    fn one_verbosity(self, sources: &mut Sources) -> Output {
        if !(self.quiet && self.verbose) {
            return self;
        }
        let (quiet, verbose) = (sources.of("quiet"), sources.of("verbose"));
        match quiet.strength() >= verbose.strength() {
            true => {
                sources.0.insert("verbose", quiet);
                Output { verbose: false, ..self }
            }
            false => {
                sources.0.insert("quiet", verbose);
                Output { quiet: false, ..self }
            }
        }
    }
}

impl Hooks {
    /// An empty hook (`--check ''`) is none: the way to unset a profile's.
    fn without_empty(self) -> Hooks {
        let set = |hook: Option<String>| hook.filter(|command| !command.trim().is_empty());
        Hooks {
            check: set(self.check),
            on_retry: set(self.on_retry),
            on_giveup: set(self.on_giveup),
            ..self
        }
    }
}

impl Schedule {
    /// The backoff schedule these settings describe.
    pub fn backoff(&self) -> backoff::Plan {
        backoff::Plan {
            backoff: self.backoff,
            delay: self.delay,
            factor: self.factor.0,
            max_delay: self.max_delay,
            delays: self.delays.clone().map(|d| d.0),
            jitter: self.jitter,
            seed: self.seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Located, Value};

    fn layer(edit: impl FnOnce(&mut Layer)) -> Layer {
        let mut layer = Layer::default();
        edit(&mut layer);
        layer
    }

    fn placed(layer: &Layer, source: Source) -> Placed<'_> {
        Placed {
            layer,
            source,
            text: None,
        }
    }

    #[test]
    fn the_strongest_layer_that_sets_a_key_wins_and_is_named() {
        let flags = layer(|l| l.attempts = Some(4));
        let profile = layer(|l| {
            l.attempts = Some(8);
            l.delay = Some(Value(Duration::from_millis(500)));
        });
        let defaults = layer(|l| l.jitter = Some(Jitter::Equal));
        let layers = Layers(vec![
            placed(&flags, Source::Flag),
            placed(&profile, Source::Profile("deploy".into())),
            placed(&defaults, Source::Defaults),
        ]);
        let settings = Settings::resolve(Vec::new(), &layers);
        assert_eq!(settings.schedule.attempts, 4);
        assert_eq!(settings.sources.of("attempts"), Source::Flag);
        assert_eq!(settings.schedule.delay, Duration::from_millis(500));
        assert_eq!(settings.sources.of("delay"), Source::Profile("deploy".into()));
        assert_eq!(settings.schedule.jitter, Jitter::Equal);
        assert_eq!(settings.sources.of("jitter"), Source::Defaults);
        assert_eq!(settings.schedule.factor, Factor(2.0));
        assert_eq!(settings.sources.of("factor"), Source::BuiltIn);
    }

    #[test]
    fn defaults_give_five_attempts_from_one_second_doubling() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.schedule.attempts, 5);
        let waits: Vec<u64> = defaults
            .schedule
            .backoff()
            .delays()
            .take(4)
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8]);
        assert_eq!(defaults.process.kill_signal, AnySignal::TERM);
        assert!(defaults.matching.patterns.is_empty());
    }

    /// `-v` with `quiet = true` in `[defaults]` was quiet: each key was
    /// resolved alone, and quiet won over verbose whatever their layers.
    #[test]
    fn the_strongest_layer_chooses_between_quiet_and_verbose() {
        let verbose = layer(|l| l.verbose = Some(true));
        let quiet = layer(|l| l.quiet = Some(true));
        let output = |strong: &Layer, weak: &Layer| {
            let layers = Layers(vec![placed(strong, Source::Flag), placed(weak, Source::Defaults)]);
            let settings = Settings::resolve(Vec::new(), &layers);
            (
                settings.output.quiet,
                settings.output.verbose,
                settings.sources.of("quiet"),
            )
        };
        assert_eq!(output(&verbose, &quiet), (false, true, Source::Flag));
        assert_eq!(output(&quiet, &verbose), (true, false, Source::Flag));
    }

    #[test]
    fn pattern_lists_add_up_and_each_keeps_its_own_layer_s_modifiers() {
        let flags = layer(|l| {
            l.patterns = Some(vec![Located::new("a.b")]);
            l.fixed_strings = Some(true);
        });
        let profile = layer(|l| {
            l.patterns = Some(vec![Located::new("x+")]);
            l.ignore_case = Some(true);
        });
        let layers = Layers(vec![
            placed(&flags, Source::Flag),
            placed(&profile, Source::Profile("p".into())),
        ]);
        let patterns = Settings::resolve(Vec::new(), &layers).matching.patterns;
        let seen: Vec<(&str, bool, bool)> = patterns
            .iter()
            .map(|p| (p.text.as_str(), p.fixed, p.ignore_case))
            .collect();
        assert_eq!(seen, vec![("a.b", true, true), ("x+", false, true)]);
        assert_eq!(patterns[1].source, "profile p");
    }

    #[test]
    fn a_file_pattern_is_placed_in_its_file_and_a_flag_pattern_by_its_flag() {
        let file = layer(|l| {
            l.abort_on = Some(vec![Located {
                text: "(".into(),
                span: Some(10..13),
            }])
        });
        let flags = layer(|l| l.abort_on = Some(vec![Located::new(")")]));
        struct Spans;
        impl Place for Spans {
            fn place(&self, span: &Range<usize>, key: &str) -> String {
                format!("at {}..{} key {key}", span.start, span.end)
            }
        }
        let layers = Layers(vec![
            placed(&flags, Source::Flag),
            Placed {
                layer: &file,
                source: Source::Defaults,
                text: Some(&Spans),
            },
        ]);
        let abort = Settings::resolve(Vec::new(), &layers).matching.abort_on;
        assert_eq!(abort[0].origin, PatternOrigin::Flag("--abort-on"));
        assert_eq!(abort[1].origin, PatternOrigin::File("at 10..13 key abort_on".into()));
    }
}
