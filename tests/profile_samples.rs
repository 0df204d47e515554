//! Checks the built-in profiles in `config/*.toml` against real-looking
//! stderr lines in `tests/samples/<name>.txt`.
//!
//! Sample file format: one stderr line per sample line.
//! * `+ <line>`: must match at least one of the profile's `patterns`;
//! * `- <line>`: must match none of them;
//! * lines starting with `#`, and blank lines, are ignored.
//!
//! Everything after the two-character prefix is the stderr line, leading
//! spaces included. Patterns are compiled the way retry-on matches stderr:
//! `regex::bytes`, multi-line mode, one line at a time.
//!
//! This test parses the TOML directly; it can later be switched to the
//! crate's own profile loader.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use regex::bytes::{Regex, RegexBuilder};

/// Top-level keys a profile may use (long flag names with `_` for `-`).
const ALLOWED_KEYS: &[&str] = &[
    "description",
    "patterns",
    "abort_on",
    "exit_codes",
    "attempts",
    "delay",
    "backoff",
    "factor",
    "max_delay",
    "jitter",
    "max_time",
    "timeout",
];

const BACKOFFS: &[&str] = &["constant", "linear", "exponential", "fibonacci"];
const JITTERS: &[&str] = &["none", "full", "equal", "decorrelated"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Profile {
    name: String,
    table: toml::Table,
    patterns: Vec<(String, Regex)>,
    abort_on: Vec<(String, Regex)>,
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).multi_line(true).build()
}

/// Reads a `[...]` array of strings; records problems in `errors`.
fn string_array(name: &str, table: &toml::Table, key: &str, errors: &mut Vec<String>) -> Vec<String> {
    match table.get(key) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| match v.as_str() {
                Some(s) => Some(s.to_owned()),
                None => {
                    errors.push(format!("{name}: {key}[{i}] is not a string: {v}"));
                    None
                }
            })
            .collect(),
        Some(other) => {
            errors.push(format!("{name}: {key} is not an array: {other}"));
            Vec::new()
        }
    }
}

/// A regex prefilter needs a literal to look for: require a run of at least
/// three letters outside escapes and character classes, and no leading `.*`.
fn has_literal(pattern: &str) -> bool {
    let p = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    let mut run = 0;
    let mut chars = p.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                run = 0;
            }
            '[' if !in_class => {
                in_class = true;
                run = 0;
            }
            ']' if in_class => in_class = false,
            c if !in_class && c.is_ascii_alphabetic() => {
                run += 1;
                if run >= 3 {
                    return true;
                }
            }
            _ => run = 0,
        }
    }
    false
}

fn load_profiles(errors: &mut Vec<String>) -> Vec<Profile> {
    let dir = root().join("config");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no profiles in {}", dir.display());

    let mut profiles = Vec::new();
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(&path).unwrap();
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}: invalid TOML: {e}"));
                continue;
            }
        };
        check_keys(&name, &table, errors);

        let compile = |key: &str, errors: &mut Vec<String>| {
            string_array(&name, &table, key, errors)
                .into_iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    if !has_literal(&p) {
                        errors.push(format!(
                            "{name}: {key}[{i}] has no literal text for a prefilter (or starts with .*): {p}"
                        ));
                    }
                    match build(&p) {
                        Ok(re) => Some((p, re)),
                        Err(e) => {
                            errors.push(format!("{name}: {key}[{i}] is not a valid regex: {p}\n{e}"));
                            None
                        }
                    }
                })
                .collect::<Vec<_>>()
        };
        let patterns = compile("patterns", errors);
        let abort_on = compile("abort_on", errors);
        if patterns.is_empty() {
            errors.push(format!("{name}: no usable patterns"));
        }
        profiles.push(Profile {
            name,
            table,
            patterns,
            abort_on,
        });
    }
    profiles
}

fn check_keys(name: &str, table: &toml::Table, errors: &mut Vec<String>) {
    for (key, value) in table {
        if !ALLOWED_KEYS.contains(&key.as_str()) {
            errors.push(format!("{name}: unknown key `{key}`"));
            continue;
        }
        let ok = match key.as_str() {
            "description" => value
                .as_str()
                .is_some_and(|s| !s.trim().is_empty() && !s.contains('\n')),
            "patterns" => value.as_array().is_some_and(|a| !a.is_empty()),
            "abort_on" => value.is_array(),
            "exit_codes" => value
                .as_str()
                .is_some_and(|s| s.split(',').all(|c| c.trim().parse::<u8>().is_ok())),
            "attempts" => value.as_integer().is_some_and(|n| n >= 1),
            "factor" => value.as_float().is_some_and(|f| f >= 1.0),
            "backoff" => value.as_str().is_some_and(|s| BACKOFFS.contains(&s)),
            "jitter" => value.as_str().is_some_and(|s| JITTERS.contains(&s)),
            "delay" | "max_delay" | "max_time" | "timeout" => {
                value.as_str().is_some_and(|s| humantime::parse_duration(s).is_ok())
            }
            _ => unreachable!(),
        };
        if !ok {
            errors.push(format!("{name}: bad value for `{key}`: {value}"));
        }
    }
    if !table.contains_key("description") {
        errors.push(format!("{name}: missing `description`"));
    }
    if !table.contains_key("patterns") {
        errors.push(format!("{name}: missing `patterns`"));
    }
}

/// Checks every sample line of one profile; returns its failures.
fn check_samples(profile: &Profile, samples: &Path, errors: &mut Vec<String>) {
    let name = &profile.name;
    let text = match fs::read_to_string(samples) {
        Ok(t) => t,
        Err(e) => {
            errors.push(format!("{name}: no samples file {}: {e}", samples.display()));
            return;
        }
    };
    let mut plus = 0;
    let mut minus = 0;
    let mut used = vec![false; profile.patterns.len()];
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let (expect_match, line) = if let Some(rest) = raw.strip_prefix("+ ") {
            (true, rest)
        } else if let Some(rest) = raw.strip_prefix("- ") {
            (false, rest)
        } else {
            errors.push(format!(
                "{name}: {}:{lineno}: line must start with \"+ \", \"- \" or \"#\": {raw}",
                samples.display()
            ));
            continue;
        };
        let matching: Vec<usize> = profile
            .patterns
            .iter()
            .enumerate()
            .filter(|(_, (_, re))| re.is_match(line.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        if expect_match {
            plus += 1;
            for &i in &matching {
                used[i] = true;
            }
            if matching.is_empty() {
                errors.push(format!(
                    "{name}: line {lineno}: expected a match, none of the patterns matched:\n    {line}"
                ));
            }
        } else {
            minus += 1;
            for i in matching {
                errors.push(format!(
                    "{name}: line {lineno}: expected no match, but pattern {i} matched:\n    {line}\n    pattern: {}",
                    profile.patterns[i].0
                ));
            }
        }
    }
    if plus == 0 || minus == 0 {
        errors.push(format!(
            "{name}: {} needs at least one + and one - sample (has {plus} +, {minus} -)",
            samples.display()
        ));
    }
    for (i, was_used) in used.iter().enumerate() {
        if !was_used {
            errors.push(format!(
                "{name}: pattern {i} is not matched by any + sample: {}",
                profile.patterns[i].0
            ));
        }
    }
}

fn report(errors: Vec<String>) {
    if errors.is_empty() {
        return;
    }
    let mut msg = format!("{} problem(s) in the built-in profiles:\n", errors.len());
    for e in &errors {
        let _ = writeln!(msg, "- {e}");
    }
    panic!("{msg}");
}

#[test]
fn every_profile_matches_its_samples() {
    let mut errors = Vec::new();
    let profiles = load_profiles(&mut errors);
    let samples_dir = root().join("tests/samples");
    for profile in &profiles {
        let samples = samples_dir.join(format!("{}.txt", profile.name));
        check_samples(profile, &samples, &mut errors);
    }
    // No orphan samples files.
    let names: BTreeSet<String> = profiles.iter().map(|p| p.name.clone()).collect();
    for entry in fs::read_dir(&samples_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !names.contains(&stem) {
                errors.push(format!("{}: samples file without a profile", path.display()));
            }
        }
    }
    report(errors);
}

fn profile(name: &str) -> Profile {
    let mut errors = Vec::new();
    let found = load_profiles(&mut errors)
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("profile {name} not found"));
    report(errors);
    found
}

fn str_key<'a>(p: &'a Profile, key: &str) -> Option<&'a str> {
    p.table.get(key).and_then(|v| v.as_str())
}

#[test]
fn aws_schedule_is_the_sdk_standard_mode() {
    let aws = profile("aws");
    assert_eq!(aws.table.get("attempts").and_then(|v| v.as_integer()), Some(8));
    assert_eq!(str_key(&aws, "delay"), Some("1s"));
    assert_eq!(str_key(&aws, "backoff"), Some("exponential"));
    assert_eq!(aws.table.get("factor").and_then(|v| v.as_float()), Some(2.0));
    assert_eq!(str_key(&aws, "max_delay"), Some("20s"));
    assert_eq!(str_key(&aws, "jitter"), Some("full"));
}

#[test]
fn aws_eventual_consistency_extends_aws_and_has_a_deadline() {
    let aws = profile("aws");
    let ec = profile("aws-eventual-consistency");
    // There is no include mechanism: the patterns are copied and must stay in sync.
    let ec_patterns: BTreeSet<&str> = ec.patterns.iter().map(|(p, _)| p.as_str()).collect();
    for (p, _) in &aws.patterns {
        assert!(
            ec_patterns.contains(p.as_str()),
            "aws pattern missing from aws-eventual-consistency: {p}"
        );
    }
    let ec_abort: BTreeSet<&str> = ec.abort_on.iter().map(|(p, _)| p.as_str()).collect();
    for (p, _) in &aws.abort_on {
        assert!(
            ec_abort.contains(p.as_str()),
            "aws abort_on missing from aws-eventual-consistency: {p}"
        );
    }
    assert!(ec.patterns.len() > aws.patterns.len());
    let max_time = str_key(&ec, "max_time").expect("aws-eventual-consistency needs max_time");
    let max_time = humantime::parse_duration(max_time).unwrap();
    assert!(
        (90..=150).contains(&max_time.as_secs()),
        "max_time should be about 2 minutes, is {max_time:?}"
    );
}

#[test]
fn abort_on_stops_known_permanent_failures() {
    // (profile, stderr line, whether abort_on must match)
    let cases: &[(&str, &str, bool)] = &[
        (
            "aws",
            "An error occurred (ResourceConflictException) when calling the CreateFunction operation: Function already exist: my-fn",
            true,
        ),
        (
            "aws",
            "An error occurred (ResourceConflictException) when calling the AddPermission operation: The statement id (allow-s3) provided already exists. Please provide a new statement id, or remove the existing statement.",
            true,
        ),
        ("aws", "    \"Message\": \"Function already exist: my-fn\"", true),
        (
            "aws",
            "An error occurred (ResourceConflictException) when calling the UpdateFunctionConfiguration operation: The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:my-fn",
            false,
        ),
        (
            "aws-eventual-consistency",
            "An error occurred (ResourceConflictException) when calling the CreateFunction operation: Function already exist: my-fn",
            true,
        ),
        (
            "git",
            "error: RPC failed; HTTP 413 curl 22 The requested URL returned error: 413",
            true,
        ),
        (
            "git",
            "error: RPC failed; HTTP 400 curl 22 The requested URL returned error: 400",
            true,
        ),
        ("git", "ERROR: Write access to repository not granted.", true),
        ("git", "ERROR: Permission to org/repo.git denied to deploy-bot.", true),
        (
            "git",
            "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502",
            false,
        ),
        ("git", "fatal: the remote end hung up unexpectedly", false),
        (
            "terraform",
            "│ Error message: operation error DynamoDB: PutItem, https response error StatusCode: 400, RequestID: X, ResourceNotFoundException: Requested resource not found",
            true,
        ),
        (
            "terraform",
            "│ Error message: AccessDeniedException: User: arn:aws:iam::123456789012:user/ci is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/tf-locks",
            true,
        ),
        (
            "terraform",
            "│ Error message: operation error DynamoDB: PutItem, https response error StatusCode: 400, RequestID: X, ConditionalCheckFailedException: The conditional request failed",
            false,
        ),
    ];
    let mut errors = Vec::new();
    let profiles = load_profiles(&mut errors);
    for (name, line, want) in cases {
        let p = profiles.iter().find(|p| p.name == *name).unwrap();
        let got = p.abort_on.iter().any(|(_, re)| re.is_match(line.as_bytes()));
        if got != *want {
            errors.push(format!("{name}: abort_on match should be {want} for:\n    {line}"));
        }
    }
    report(errors);
}

/// The same samples through retry-on's own loader and matcher: every file in
/// `config/` is built in, loads as a profile, and its compiled patterns
/// (with abort patterns, as an attempt sees them) match each `+` sample and no
/// `-` sample.
#[test]
fn built_in_profiles_work_through_retry_on_s_own_code() {
    use retry_on::config::{BUILT_IN_PROFILES, Catalog, Selection, resolve};
    use retry_on::pattern::{PatternSet, Scanner};

    let files = fs::read_dir(root().join("config"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "toml"));
    assert_eq!(
        files.count(),
        BUILT_IN_PROFILES.len(),
        "every config/*.toml must be listed in BUILT_IN_PROFILES"
    );

    let catalog = Catalog::load(&Selection {
        no_config: true,
        ..Selection::default()
    })
    .unwrap();
    let mut errors = Vec::new();
    for (name, _) in BUILT_IN_PROFILES {
        let layer = catalog.profile(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let settings = resolve(
            Default::default(),
            Vec::new(),
            Some((name.to_string(), layer)),
            &catalog,
        );
        let retry = PatternSet::compile(&settings.patterns, "patterns").unwrap();
        let samples = fs::read_to_string(root().join(format!("tests/samples/{name}.txt"))).unwrap();
        for (number, line) in samples.lines().enumerate() {
            let (want, text) = match line.split_at_checked(2) {
                Some(("+ ", text)) => (true, text),
                Some(("- ", text)) => (false, text),
                _ => continue,
            };
            let mut scanner = Scanner::new(retry.as_ref(), None);
            scanner.feed(format!("{text}\n").as_bytes());
            if scanner.retry_hit().is_some() != want {
                errors.push(format!("{name}.txt:{}: {line}", number + 1));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "samples that retry-on's matcher gets wrong:\n{}",
        errors.join("\n")
    );
}
