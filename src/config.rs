//! Configuration: layers of partial settings (the command line, a profile,
//! the user file's `[defaults]`, the built-in defaults) resolved once into
//! one [`Settings`] value that remembers where each value came from.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use crate::backoff::{Backoff, Jitter, Schedule};
use crate::error::Error;
use crate::parse::{self, ExitCodes};
use crate::pattern::PatternSpec;
use crate::report::{LogFormat, Verbosity};

/// The built-in profiles, parsed by the same code as user files.
pub const BUILT_IN_PROFILES: &[(&str, &str)] = &[
    ("aws", include_str!("../config/aws.toml")),
    (
        "aws-eventual-consistency",
        include_str!("../config/aws-eventual-consistency.toml"),
    ),
    ("curl", include_str!("../config/curl.toml")),
    ("git", include_str!("../config/git.toml")),
    ("apt", include_str!("../config/apt.toml")),
    ("terraform", include_str!("../config/terraform.toml")),
    ("kubectl", include_str!("../config/kubectl.toml")),
    ("helm", include_str!("../config/helm.toml")),
    ("npm", include_str!("../config/npm.toml")),
    ("pip", include_str!("../config/pip.toml")),
    ("cargo", include_str!("../config/cargo.toml")),
    ("docker", include_str!("../config/docker.toml")),
    ("gh", include_str!("../config/gh.toml")),
    ("gcloud", include_str!("../config/gcloud.toml")),
    ("az", include_str!("../config/az.toml")),
];

/// One layer of settings, as a file or the command line gives them. A key is
/// the long flag's name with `_` for `-`; the pattern lists are plural.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    pub description: Option<String>,
    pub patterns: Option<Vec<String>>,
    pub stdout_patterns: Option<Vec<String>>,
    pub abort_on: Option<Vec<String>>,
    pub fixed_strings: Option<bool>,
    pub ignore_case: Option<bool>,
    pub exit_codes: Option<Value<ExitCodes>>,
    pub attempts: Option<u32>,
    pub delay: Option<Value<Duration>>,
    pub backoff: Option<Backoff>,
    pub factor: Option<Value<Factor>>,
    pub max_delay: Option<Value<Duration>>,
    pub delays: Option<Value<DelayList>>,
    pub jitter: Option<Jitter>,
    pub seed: Option<u64>,
    pub max_time: Option<Value<Duration>>,
    pub timeout: Option<Value<Duration>>,
    pub kill_signal: Option<Value<Signal>>,
    pub kill_after: Option<Value<Duration>>,
    pub foreground: Option<bool>,
    pub hold_stdout: Option<bool>,
    pub lock: Option<PathBuf>,
    pub lock_timeout: Option<Value<Duration>>,
    pub quiet: Option<bool>,
    pub verbose: Option<bool>,
    pub log_format: Option<LogFormat>,
}

/// A user configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    defaults: Option<Layer>,
    #[serde(default)]
    profile: BTreeMap<String, Layer>,
}

/// Where a setting came from, for `--explain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Profile(String),
    Defaults,
    BuiltIn,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("flag"),
            Source::Profile(name) => write!(f, "profile {name}"),
            Source::Defaults => f.write_str("defaults"),
            Source::BuiltIn => f.write_str("built-in"),
        }
    }
}

/// Everything a run needs, resolved once; nothing after this looks at flags.
#[derive(Clone, Debug)]
pub struct Settings {
    pub command: Vec<OsString>,
    pub patterns: Vec<PatternSpec>,
    pub stdout_patterns: Vec<PatternSpec>,
    pub abort_on: Vec<PatternSpec>,
    pub exit_codes: Option<ExitCodes>,
    pub attempts: u32,
    pub schedule: Schedule,
    pub max_time: Option<Duration>,
    pub timeout: Option<Duration>,
    pub kill_signal: Signal,
    pub kill_after: Duration,
    pub foreground: bool,
    pub hold_stdout: bool,
    pub lock: Option<PathBuf>,
    pub lock_timeout: Option<Duration>,
    pub verbosity: Verbosity,
    pub log_format: LogFormat,
    /// `(key, value, source)` for each setting, in `--explain` order.
    pub explained: Vec<(&'static str, String, Source)>,
}

/// What the command line says about which configuration to read.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub config: Option<PathBuf>,
    pub profile: Option<String>,
    pub no_config: bool,
}

/// Built-in profiles and the user file, loaded and checked.
pub struct Catalog {
    /// The user file that was read, if any.
    pub user_file: Option<PathBuf>,
    defaults: Option<Layer>,
    profiles: BTreeMap<String, (Layer, Origin)>,
}

#[derive(Clone, Debug)]
pub enum Origin {
    BuiltIn,
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn => f.write_str("built-in"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Catalog {
    /// Reads the user file that `selection` points at, if any. Built-in
    /// profiles are parsed only when asked for, to keep start-up cheap.
    pub fn load(selection: &Selection) -> Result<Catalog, Error> {
        let path = match (&selection.config, selection.no_config) {
            (Some(path), _) => Some(path.clone()),
            (None, true) => None,
            (None, false) => discover(),
        };
        let mut catalog = Catalog {
            user_file: None,
            defaults: None,
            profiles: BTreeMap::new(),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
            let file: UserFile = parse_toml(&text, &path.display().to_string())?;
            if let Some(defaults) = &file.defaults
                && defaults.description.is_some()
            {
                return Err(Error::Config(format!(
                    "config file {}: [defaults] cannot have a description; only profiles do",
                    path.display()
                )));
            }
            catalog.defaults = file.defaults;
            for (name, layer) in file.profile {
                catalog.profiles.insert(name, (layer, Origin::File(path.clone())));
            }
            catalog.user_file = Some(path);
        }
        Ok(catalog)
    }

    /// A profile by name: the user's, else the built-in one.
    pub fn profile(&self, name: &str) -> Result<Layer, Error> {
        if let Some((layer, _)) = self.profiles.get(name) {
            return Ok(layer.clone());
        }
        match BUILT_IN_PROFILES.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => parse_toml(text, &format!("built-in profile {name}")),
            None => {
                let names: Vec<String> = self.list()?.into_iter().map(|(n, _, _)| n).collect();
                Err(Error::Config(format!(
                    "unknown profile {name:?}; profiles: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// Every profile: `(name, description, origin)`, user profiles shadowing built-in ones.
    pub fn list(&self) -> Result<Vec<(String, String, Origin)>, Error> {
        let mut all: BTreeMap<String, (String, Origin)> = BTreeMap::new();
        for (name, text) in BUILT_IN_PROFILES {
            let layer: Layer = parse_toml(text, &format!("built-in profile {name}"))?;
            all.insert(
                name.to_string(),
                (layer.description.unwrap_or_default(), Origin::BuiltIn),
            );
        }
        for (name, (layer, origin)) in &self.profiles {
            all.insert(
                name.clone(),
                (layer.description.clone().unwrap_or_default(), origin.clone()),
            );
        }
        Ok(all
            .into_iter()
            .map(|(name, (description, origin))| (name, description, origin))
            .collect())
    }
}

/// The user's file: the first of `$RETRY_ON_CONFIG`,
/// `$XDG_CONFIG_HOME/retry-on/config.toml` and `~/.config/retry-on/config.toml` that exists.
fn discover() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    [
        var("RETRY_ON_CONFIG"),
        var("XDG_CONFIG_HOME").map(|d| d.join("retry-on/config.toml")),
        var("HOME").map(|d| d.join(".config/retry-on/config.toml")),
    ]
    .into_iter()
    .flatten()
    .find(|path| path.is_file())
}

fn parse_toml<T: de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, Error> {
    toml::from_str(text).map_err(|e| Error::Config(describe_toml_error(&e, text, origin)))
}

/// `FILE, line L, column C, key K: message`.
fn describe_toml_error(error: &toml::de::Error, text: &str, origin: &str) -> String {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return format!("config {origin}: {message}");
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(key) => format!("config {origin}, line {line}, column {column}, key {key}: {message}"),
        None => format!("config {origin}, line {line}, column {column}: {message}"),
    }
}

/// Resolves the layers into settings. Lists of patterns add up across
/// layers; every other setting comes from the strongest layer that sets it.
pub fn resolve(flags: Layer, command: Vec<OsString>, profile: Option<(String, Layer)>, catalog: &Catalog) -> Settings {
    let (profile_name, profile) = match profile {
        Some((name, layer)) => (Some(name), Some(layer)),
        None => (None, None),
    };
    let defaults = catalog.defaults.clone();
    let layers: Vec<(&Layer, Source)> = [
        Some((&flags, Source::Flag)),
        profile
            .as_ref()
            .map(|l| (l, Source::Profile(profile_name.clone().unwrap_or_default()))),
        defaults.as_ref().map(|l| (l, Source::Defaults)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut explained = Vec::new();

    macro_rules! pick {
        ($key:literal, $field:ident, $default:expr, $show:expr) => {{
            let found = layers
                .iter()
                .find_map(|(layer, source)| layer.$field.clone().map(|v| (v, source.clone())));
            let (value, source) = match found {
                Some((v, source)) => (v.into(), source),
                None => ($default, Source::BuiltIn),
            };
            #[allow(clippy::redundant_closure_call)]
            explained.push(($key, ($show)(&value), source));
            value
        }};
    }
    let show_duration = |d: &Duration| parse::show_duration(*d);
    let show_optional = |d: &Option<Duration>| d.map_or_else(|| "none".to_string(), parse::show_duration);

    let patterns = collect_patterns(&layers, |l| &l.patterns, &mut explained, "patterns");
    let stdout_patterns = collect_patterns(&layers, |l| &l.stdout_patterns, &mut explained, "stdout_patterns");
    let abort_on = collect_patterns(&layers, |l| &l.abort_on, &mut explained, "abort_on");
    let exit_codes: Option<ExitCodes> = pick!("exit_codes", exit_codes, None, |v: &Option<ExitCodes>| v
        .as_ref()
        .map_or_else(|| "none".to_string(), ExitCodes::to_string));
    let attempts: u32 = pick!("attempts", attempts, 5, |v: &u32| if *v == 0 {
        "0 (no limit)".to_string()
    } else {
        v.to_string()
    });
    let delays: Option<DelayList> = pick!("delays", delays, None, |v: &Option<DelayList>| v
        .as_ref()
        .map_or_else(|| "none".to_string(), |d| d.to_string()));
    let delay: Duration = pick!("delay", delay, Duration::from_secs(1), show_duration);
    let backoff: Backoff = pick!("backoff", backoff, Backoff::Exponential, |v: &Backoff| format!("{v:?}")
        .to_lowercase());
    let factor: Factor = pick!("factor", factor, Factor(2.0), |v: &Factor| v.0.to_string());
    let max_delay: Duration = pick!("max_delay", max_delay, Duration::from_secs(60), show_duration);
    let jitter: Jitter = pick!("jitter", jitter, Jitter::None, |v: &Jitter| format!("{v:?}")
        .to_lowercase());
    let seed: Option<u64> = pick!("seed", seed, None, |v: &Option<u64>| v
        .map_or_else(|| "none (random)".to_string(), |s| s.to_string()));
    let max_time: Option<Duration> = pick!("max_time", max_time, None, show_optional);
    let timeout: Option<Duration> = pick!("timeout", timeout, None, show_optional);
    let kill_signal: Signal = pick!("kill_signal", kill_signal, Signal::SIGTERM, |v: &Signal| {
        parse::signal_name(*v).to_string()
    });
    let kill_after: Duration = pick!("kill_after", kill_after, Duration::from_secs(5), show_duration);
    let foreground: bool = pick!("foreground", foreground, false, bool::to_string);
    let hold_stdout: bool = pick!("hold_stdout", hold_stdout, false, bool::to_string);
    let lock: Option<PathBuf> = pick!("lock", lock, None, |v: &Option<PathBuf>| v
        .as_ref()
        .map_or_else(|| "none".to_string(), |p| p.display().to_string()));
    let lock_timeout: Option<Duration> = pick!("lock_timeout", lock_timeout, None, |d: &Option<Duration>| d
        .map_or_else(|| "none (wait)".to_string(), parse::show_duration));
    let quiet: bool = pick!("quiet", quiet, false, bool::to_string);
    let verbose: bool = pick!("verbose", verbose, false, bool::to_string);
    let log_format: LogFormat = pick!("log_format", log_format, LogFormat::Text, |v: &LogFormat| format!(
        "{v:?}"
    )
    .to_lowercase());

    let verbosity = match (quiet, verbose) {
        (true, _) => Verbosity::Quiet,
        (false, true) => Verbosity::Verbose,
        (false, false) => Verbosity::Normal,
    };
    Settings {
        command,
        patterns,
        stdout_patterns,
        abort_on,
        exit_codes,
        attempts,
        schedule: Schedule {
            backoff,
            delay,
            factor: factor.0,
            max_delay,
            delays: delays.map(|d| d.0),
            jitter,
            seed,
        },
        max_time,
        timeout,
        kill_signal,
        kill_after,
        foreground,
        hold_stdout,
        lock,
        lock_timeout,
        verbosity,
        log_format,
        explained,
    }
}

/// Gathers one pattern list from every layer. Each pattern is read with the
/// `fixed_strings` and `ignore_case` of its own layer or, where that layer
/// does not say, of the layers below it; a flag never changes how a
/// profile's patterns are read.
fn collect_patterns(
    layers: &[(&Layer, Source)],
    list: impl Fn(&Layer) -> &Option<Vec<String>>,
    explained: &mut Vec<(&'static str, String, Source)>,
    key: &'static str,
) -> Vec<PatternSpec> {
    let mut specs = Vec::new();
    for (index, (layer, source)) in layers.iter().enumerate() {
        let Some(texts) = list(layer) else { continue };
        let below = &layers[index..];
        let fixed = below.iter().find_map(|(l, _)| l.fixed_strings).unwrap_or(false);
        let ignore_case = below.iter().find_map(|(l, _)| l.ignore_case).unwrap_or(false);
        for text in texts {
            specs.push(PatternSpec {
                text: text.clone(),
                fixed,
                ignore_case,
            });
            let flags = match (fixed, ignore_case) {
                (false, false) => "",
                (true, false) => " (fixed)",
                (false, true) => " (ignore case)",
                (true, true) => " (fixed, ignore case)",
            };
            explained.push((key, format!("{text}{flags}"), source.clone()));
        }
    }
    if specs.is_empty() {
        explained.push((key, "none".to_string(), Source::BuiltIn));
    }
    specs
}

/// A value that flags and files both write as text (files may also use a
/// number, or a list for list-like values).
#[derive(Clone, Debug, PartialEq)]
pub struct Value<T>(pub T);

impl<T> From<Value<T>> for Option<T> {
    fn from(value: Value<T>) -> Option<T> {
        Some(value.0)
    }
}

macro_rules! value_into_plain {
    ($($t:ty),*) => {$(
        impl From<Value<$t>> for $t {
            fn from(value: Value<$t>) -> $t {
                value.0
            }
        }
    )*};
}
value_into_plain!(Duration, Signal, Factor);

/// Values that can be read from text.
pub trait FromText: Sized {
    const EXPECTING: &'static str;
    fn from_text(text: &str) -> Result<Self, String>;
}

impl FromText for Duration {
    const EXPECTING: &'static str = "a duration such as \"500ms\" or a number of seconds";
    fn from_text(text: &str) -> Result<Self, String> {
        parse::duration(text)
    }
}

impl FromText for Signal {
    const EXPECTING: &'static str = "a signal name such as \"TERM\" or a number";
    fn from_text(text: &str) -> Result<Self, String> {
        parse::signal(text)
    }
}

impl FromText for ExitCodes {
    const EXPECTING: &'static str = "exit codes such as \"1,40-45,255\"";
    fn from_text(text: &str) -> Result<Self, String> {
        ExitCodes::parse(text)
    }
}

/// The delay list of `--delays`.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayList(pub Vec<Duration>);

impl FromText for DelayList {
    const EXPECTING: &'static str = "a list of durations such as \"1s,5s,30s\"";
    fn from_text(text: &str) -> Result<Self, String> {
        parse::delay_list(text).map(DelayList)
    }
}

impl fmt::Display for DelayList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|d| parse::show_duration(*d)).collect();
        f.write_str(&items.join(","))
    }
}

/// The multiplier of exponential backoff: a finite number above zero.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Factor(pub f64);

impl FromText for Factor {
    const EXPECTING: &'static str = "a number above zero such as 2 or 1.5";
    fn from_text(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Factor(f)),
            _ => Err(format!(
                "invalid factor {text:?}: must be a number above zero, such as 2 or 1.5"
            )),
        }
    }
}

impl<'de, T: FromText> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: FromText> Visitor<'de> for TextVisitor<T> {
    type Value = Value<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        T::from_text(text).map(Value).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        self.visit_str(&n.to_string())
    }

    /// A list, such as `delays = ["1s", "5s"]` or `exit_codes = [1, 255]`.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Scalar>()? {
            items.push(item.0);
        }
        self.visit_str(&items.join(","))
    }
}

/// One list item: a string or a number, kept as text.
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}
