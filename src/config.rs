//! Configuration files and profiles: finding the user's file, reading it and
//! the built-in profiles, and placing every error at its file, line, column
//! and key. [`resolve`] stacks the layers and hands them to `settings`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::cli::{Layer, Selection};
use crate::error::Error;
use crate::parse::LogFormat;
use crate::settings::{HookKind, Layers, Place, Placed, Settings, Source};

/// `(NAME, text)` of a built-in profile: `config/NAME.toml` as build.rs
/// wrote it, with the same keys and values and no comments, which are most
/// of each file and were most of what parsing it cost.
macro_rules! profile {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("OUT_DIR"), "/profiles/", $name, ".toml")),
        )
    };
}

/// The built-in profiles, parsed by the same code as user files.
pub const BUILT_IN_PROFILES: &[(&str, &str)] = &[
    profile!("aws"),
    profile!("aws-eventual-consistency"),
    profile!("curl"),
    profile!("git"),
    profile!("apt"),
    profile!("terraform"),
    profile!("kubectl"),
    profile!("helm"),
    profile!("npm"),
    profile!("pip"),
    profile!("cargo"),
    profile!("docker"),
    profile!("gh"),
    profile!("gcloud"),
    profile!("az"),
];

/// A user configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserFile {
    defaults: Option<Defaults>,
    #[serde(default)]
    profile: BTreeMap<ProfileName, Section>,
}

/// A profile's name: what `-P` takes and `--list-profiles` and the shell
/// completions show, one word.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
struct ProfileName(String);

impl TryFrom<String> for ProfileName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        match name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            true => Err(format!(
                "a profile's name is one word, with no spaces or control characters: {name:?}"
            )),
            false => Ok(ProfileName(name)),
        }
    }
}

/// A `[profile.NAME]` table, checked as a whole where it was written.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Layer")]
struct Section(Layer);

impl TryFrom<Layer> for Section {
    type Error = String;
    fn try_from(layer: Layer) -> Result<Self, String> {
        match layer.quiet == Some(true) && layer.verbose == Some(true) {
            true => Err("quiet and verbose are both true; say one, as -q and -v cannot both be given".into()),
            false => Ok(Section(layer)),
        }
    }
}

/// The `[defaults]` table: a section without a description.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Layer")]
struct Defaults(Layer);

impl TryFrom<Layer> for Defaults {
    type Error = String;
    fn try_from(layer: Layer) -> Result<Self, String> {
        match layer.description {
            Some(_) => Err("only a profile can have a description".into()),
            None => Section::try_from(layer).map(|Section(layer)| Defaults(layer)),
        }
    }
}

/// Where a profile is defined.
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

/// A text that layers were read from, to place their values in it.
#[derive(Clone, Debug)]
struct Text {
    /// How messages name it: a file's path, or `built-in profile NAME`.
    name: String,
    body: Arc<str>,
    built_in: bool,
    /// Where each line starts, found once: every pattern is placed, and a
    /// file may hold thousands.
    line_starts: Arc<OnceLock<Vec<usize>>>,
}

impl Place for Text {
    /// `config NAME, line L, column C, key K`; for a built-in profile, whose
    /// text build.rs rewrote, `built-in profile NAME, key K`.
    fn place(&self, span: &Range<usize>, key: &str) -> String {
        if self.built_in {
            return format!("{}, key {key}", self.name);
        }
        let line_starts = self.line_starts.get_or_init(|| line_starts(&self.body));
        let (line, column) = line_and_column_in(&self.body, line_starts, span.start);
        format!("config {}, line {line}, column {column}, key {key}", self.name)
    }

    fn built_in(&self) -> bool {
        self.built_in
    }
}

impl Text {
    fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        toml::from_str(&self.body).map_err(|e| Error::Config(describe_toml_error(&e, &self.body, &self.name)))
    }
}

/// A profile, ready to be stacked.
pub struct Profile {
    pub name: String,
    layer: Layer,
    text: Text,
}

/// One line of `--list-profiles`.
pub struct Summary {
    pub name: String,
    pub description: String,
    pub origin: Origin,
    /// The hooks the profile sets: shell commands, worth knowing about.
    pub hooks: Vec<&'static str>,
}

/// Built-in profiles and the user file, loaded and checked.
pub struct Catalog {
    defaults: Option<(Layer, Text)>,
    profiles: BTreeMap<String, (Layer, Origin, Text)>,
}

impl Catalog {
    /// Reads the user file that `selection` points at, if any. Built-in
    /// profiles are parsed only when asked for, to keep start-up cheap.
    pub fn load(selection: &Selection) -> Result<Catalog, Error> {
        let path = match (&selection.config, selection.no_config) {
            (Some(path), _) => Some((path.clone(), "-c")),
            (None, true) => None,
            (None, false) => discover(),
        };
        let mut catalog = Catalog {
            defaults: None,
            profiles: BTreeMap::new(),
        };
        let Some((path, named_by)) = path else {
            return Ok(catalog);
        };
        let body = read_config(&path).map_err(|why| {
            Error::Config(format!(
                "cannot read config file {} ({named_by}): {why}",
                path.display()
            ))
        })?;
        let text = Text {
            name: path.display().to_string(),
            body: body.into(),
            built_in: false,
            line_starts: Arc::default(),
        };
        let file: UserFile = text.parse()?;
        catalog.defaults = file.defaults.map(|Defaults(layer)| (layer, text.clone()));
        for (ProfileName(name), Section(layer)) in file.profile {
            catalog
                .profiles
                .insert(name, (layer, Origin::File(path.clone()), text.clone()));
        }
        Ok(catalog)
    }

    /// A profile by name: the user's, else the built-in one.
    pub fn profile(&self, name: &str) -> Result<Profile, Error> {
        if let Some((layer, _, text)) = self.profiles.get(name) {
            return Ok(Profile {
                name: name.to_string(),
                layer: layer.clone(),
                text: text.clone(),
            });
        }
        match built_in(name) {
            Some(text) => Ok(Profile {
                name: name.to_string(),
                layer: text.parse()?,
                text,
            }),
            None => {
                let names: Vec<String> = self.list()?.into_iter().map(|s| s.name).collect();
                Err(Error::Config(format!(
                    "unknown profile {name:?}; profiles: {}",
                    names.join(", ")
                )))
            }
        }
    }

    /// Every profile, user profiles shadowing built-in ones.
    pub fn list(&self) -> Result<Vec<Summary>, Error> {
        let mut all: BTreeMap<String, Summary> = BTreeMap::new();
        for (name, _) in BUILT_IN_PROFILES {
            let layer: Layer = built_in(name).expect("listed").parse()?;
            all.insert(name.to_string(), summary(name, &layer, Origin::BuiltIn));
        }
        for (name, (layer, origin, _)) in &self.profiles {
            all.insert(name.clone(), summary(name, layer, origin.clone()));
        }
        Ok(all.into_values().collect())
    }
}

fn summary(name: &str, layer: &Layer, origin: Origin) -> Summary {
    let hooks = [
        (HookKind::Check, &layer.check),
        (HookKind::OnRetry, &layer.on_retry),
        (HookKind::OnGiveup, &layer.on_giveup),
    ];
    Summary {
        name: name.to_string(),
        description: layer.description.clone().unwrap_or_default(),
        origin,
        hooks: hooks
            .iter()
            .filter(|(_, set)| set.as_ref().is_some_and(|command| !command.trim().is_empty()))
            .map(|(kind, _)| kind.flag())
            .collect(),
    }
}

fn built_in(name: &str) -> Option<Text> {
    let (_, body) = BUILT_IN_PROFILES.iter().find(|(n, _)| *n == name)?;
    Some(Text {
        name: format!("built-in profile {name}"),
        body: (*body).into(),
        built_in: true,
        line_starts: Arc::default(),
    })
}

/// Stacks the flags, the profile, the user file's `[defaults]` and what the
/// environment implies, and resolves them into settings.
pub fn resolve(flags: &Layer, command: Vec<OsString>, profile: Option<&Profile>, catalog: &Catalog) -> Settings {
    let environment = environment_layer(std::env::var_os("GITHUB_ACTIONS").as_deref());
    let mut layers = vec![Placed {
        layer: flags,
        source: Source::Flag,
        text: None,
    }];
    if let Some(profile) = profile {
        layers.push(Placed {
            layer: &profile.layer,
            source: Source::Profile(profile.name.clone()),
            text: Some(&profile.text),
        });
    }
    if let Some((layer, text)) = &catalog.defaults {
        layers.push(Placed {
            layer,
            source: Source::Defaults,
            text: Some(text),
        });
    }
    layers.push(Placed {
        layer: &environment,
        source: Source::Environment,
        text: None,
    });
    Settings::resolve(command, &Layers(layers))
}

/// The layer below `[defaults]`: in a GitHub Actions step (where
/// `GITHUB_ACTIONS` is `true`), retry-on's lines are workflow commands.
fn environment_layer(github_actions: Option<&std::ffi::OsStr>) -> Layer {
    Layer {
        log_format: (github_actions == Some("true".as_ref())).then_some(LogFormat::Github),
        ..Layer::default()
    }
}

/// The log format the environment implies, if any (see [`environment_layer`]).
pub fn environment_log_format() -> Option<LogFormat> {
    environment_layer(std::env::var_os("GITHUB_ACTIONS").as_deref()).log_format
}

/// The user's file, and what named it: `$RETRY_ON_CONFIG` if set and not empty (it must
/// then be readable), else the first of `$XDG_CONFIG_HOME/retry-on/config.toml`
/// (an absolute `XDG_CONFIG_HOME` only, as the XDG spec says) and
/// `~/.config/retry-on/config.toml` that exists.
fn discover() -> Option<(PathBuf, &'static str)> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(named) = var("RETRY_ON_CONFIG") {
        return Some((named, "RETRY_ON_CONFIG"));
    }
    let xdg = var("XDG_CONFIG_HOME")
        .filter(|dir| dir.is_absolute())
        .map(|dir| (dir.join("retry-on/config.toml"), "XDG_CONFIG_HOME"));
    let home = var("HOME").map(|dir| (dir.join(".config/retry-on/config.toml"), "HOME"));
    [xdg, home].into_iter().flatten().find(|(path, _)| path.exists())
}

/// The most of a config file that is read.
const LARGEST_FILE: u64 = 1024 * 1024;

/// Reads a config file: a regular file (not a device or FIFO, which could
/// block or never end) of at most [`LARGEST_FILE`] bytes.
fn read_config(path: &std::path::Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut body = String::new();
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    std::io::Read::read_to_string(&mut std::io::Read::take(file, LARGEST_FILE + 1), &mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > LARGEST_FILE {
        return Err("larger than 1 MiB".to_string());
    }
    Ok(body)
}

/// The line and column (both from 1, the column in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    line_and_column_in(text, &line_starts(text), offset)
}

/// As [`line_and_column`], with the text's [`line_starts`] already found.
fn line_and_column_in(text: &str, line_starts: &[usize], offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = line_starts.partition_point(|&start| start <= offset).max(1);
    (line, text[line_starts[line - 1]..offset].chars().count() + 1)
}

/// The byte offset where each line of `text` starts.
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
        .collect()
}

/// `config NAME, line L, column C, key K: message`.
fn describe_toml_error(error: &toml::de::Error, text: &str, name: &str) -> String {
    // serde's words for retry-on's types, in the file's terms.
    let message = error
        .message()
        .trim_end()
        .replace("expected struct Layer", "expected a table of settings")
        .replace("wanted string or table", "expected one of its names, as a string");
    let Some(span) = error.span() else {
        return format!("config {name}: {message}");
    };
    let (line, column) = line_and_column(text, span.start);
    let line_start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line_text = text[line_start..].lines().next().unwrap_or("");
    let key = line_text
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    // A table that is wrong as a whole is placed at its header.
    let header = Some(line_text.trim()).filter(|line| line.starts_with('['));
    match (key, header) {
        (Some(key), _) => format!("config {name}, line {line}, column {column}, key {key}: {message}"),
        (None, Some(header)) => format!("config {name}, line {line}, column {column}, {header}: {message}"),
        (None, None) => format!("config {name}, line {line}, column {column}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_for(text: &str) -> String {
        let text = Text {
            name: "t.toml".into(),
            body: text.into(),
            built_in: false,
            line_starts: Arc::default(),
        };
        match text.parse::<UserFile>() {
            Err(Error::Config(message)) => message,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn toml_errors_name_the_file_line_column_and_key() {
        let message = error_for("[defaults]\nattempts = \"many\"\n");
        assert!(
            message.starts_with("config t.toml, line 2, column 12, key attempts: "),
            "{message}"
        );
        let message = error_for("[defaults]\nbogus = 1\n");
        assert!(message.contains("line 2") && message.contains("bogus"), "{message}");
        let message = error_for("[defaults\n");
        assert!(message.starts_with("config t.toml, line 1"), "{message}");
    }

    #[test]
    fn lines_and_columns_count_from_one_in_characters() {
        assert_eq!(line_and_column("ab\ncé=x", 0), (1, 1));
        assert_eq!(line_and_column("ab\ncé=x", 3), (2, 1));
        assert_eq!(line_and_column("ab\ncé=x", 6), (2, 3));
    }

    #[test]
    fn a_pattern_in_a_file_is_placed_at_its_line_and_key() {
        let text = Text {
            name: "t.toml".into(),
            body: "[profile.p]\npatterns = [\"ok\", \"(\"]\n".into(),
            built_in: false,
            line_starts: Arc::default(),
        };
        let file: UserFile = text.parse().unwrap();
        let layer = &file.profile[&ProfileName("p".into())].0;
        let span = layer.patterns.as_ref().unwrap()[1].span.clone().unwrap();
        assert_eq!(
            text.place(&span, "patterns"),
            "config t.toml, line 2, column 19, key patterns"
        );
    }

    #[test]
    fn in_github_actions_the_log_format_is_github_unless_chosen() {
        assert_eq!(environment_layer(Some("false".as_ref())).log_format, None);
        assert_eq!(environment_layer(None).log_format, None);
        let github = environment_layer(Some("true".as_ref()));
        let resolve = |flags: &Layer| {
            let layers = vec![
                Placed {
                    layer: flags,
                    source: Source::Flag,
                    text: None,
                },
                Placed {
                    layer: &github,
                    source: Source::Environment,
                    text: None,
                },
            ];
            Settings::resolve(Vec::new(), &Layers(layers))
        };
        let settings = resolve(&Layer::default());
        assert_eq!(settings.output.log_format, LogFormat::Github);
        assert_eq!(settings.sources.of("log_format"), Source::Environment);
        let chosen = Layer {
            log_format: Some(LogFormat::Text),
            ..Layer::default()
        };
        assert_eq!(resolve(&chosen).output.log_format, LogFormat::Text);
    }

    /// build.rs rewrites each `config/NAME.toml` without its comments.
    #[test]
    fn each_built_in_profile_holds_exactly_its_file_s_keys_and_values() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut files = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let file: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let (_, text) = BUILT_IN_PROFILES.iter().find(|(n, _)| *n == name).expect("listed");
            assert_eq!(toml::from_str::<toml::Table>(text).unwrap(), file, "{name}");
            assert!(
                !text.contains('#') || file.to_string().contains('#'),
                "{name}: a comment is left"
            );
            files += 1;
        }
        assert_eq!(files, BUILT_IN_PROFILES.len());
    }

    #[test]
    fn every_built_in_profile_parses() {
        for (name, _) in BUILT_IN_PROFILES {
            let parsed: Result<Layer, Error> = built_in(name).unwrap().parse();
            assert!(parsed.is_ok(), "{name}: {:?}", parsed.err());
        }
    }
}
