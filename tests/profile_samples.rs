//! Checks the built-in profiles in `config/*.toml` against real stderr lines
//! in `tests/samples/<name>.txt`, through retry-on's own loader, settings
//! and scanner: what a run with `-P NAME` would decide for each line.
//!
//! Sample file format, one stderr line per sample line:
//! * `+ <line>`: a retry pattern matches it and no abort pattern does;
//! * `- <line>`: no retry pattern matches it;
//! * `! <line>`: an abort pattern matches it (so it is never retried);
//! * lines starting with `#`, and blank lines, are ignored.
//!
//! Everything after the two-character prefix is the line, leading spaces included.
//!
//! Each retry pattern needs a `+` sample that it matches alone, each abort
//! pattern a `!` sample, and each `retry_after` pattern a sample from which
//! it takes a wait that retry-on would read as a duration. That sample is
//! usually a `-` line: a line that says how long to wait, such as curl's
//! `< Retry-After: 2`, is not a failure by itself and must not match a retry
//! pattern.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use retry_on::cli::{Layer, Selection};
use retry_on::config::{self, BUILT_IN_PROFILES, Catalog};
use retry_on::parse::{FromText, ToText};
use retry_on::pattern::{PatternLists, PatternSpec, Patterns, Scanner};
use retry_on::settings::Settings;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A built-in profile as a run with `-P name` and no other flag resolves it.
fn settings(name: &str) -> Settings {
    let catalog = Catalog::load(&Selection {
        no_config: true,
        ..Selection::default()
    })
    .unwrap();
    let profile = catalog.profile(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    config::resolve(&Layer::default(), Vec::new(), Some(&profile), &catalog)
}

fn compile(settings: &Settings) -> Patterns {
    let m = &settings.matching;
    Patterns::compile(&m.pattern_lists(), false).unwrap()
}

/// What the scanner finds in one line: (a retry pattern matched, an abort pattern matched).
fn verdict(patterns: &Patterns, line: &str) -> (bool, bool) {
    let mut scanner = Scanner::new(patterns.stderr.as_ref(), patterns.abort.as_ref());
    scanner.feed(format!("{line}\n").as_bytes());
    scanner.finish();
    (scanner.retry_hit().is_some(), scanner.abort_hit().is_some())
}

/// Whether the one pattern `spec` matches `line`.
fn matches_alone(spec: &PatternSpec, line: &str) -> bool {
    let one = Patterns::compile(
        &PatternLists {
            stderr: std::slice::from_ref(spec),
            stdout: &[],
            abort: &[],
            hints: &[],
        },
        false,
    )
    .unwrap();
    verdict(&one, line).0
}

/// The wait that the hint pattern `spec` takes from `line`, if it matches
/// and its capture is a duration, as the retry loop would read it.
fn hint_in(spec: &PatternSpec, line: &str) -> Option<Duration> {
    let one = Patterns::compile(
        &PatternLists {
            stderr: &[],
            stdout: &[],
            abort: &[],
            hints: std::slice::from_ref(spec),
        },
        false,
    )
    .unwrap();
    // Scanned as a retry set is: the hit of a hint set carries its capture.
    let mut scanner = Scanner::new(one.hints.as_ref(), None);
    scanner.feed(format!("{line}\n").as_bytes());
    scanner.finish();
    let captured = scanner.retry_hit()?.captured.as_deref()?;
    Duration::from_text(captured).ok()
}

/// Whether a pattern has a literal run of 3+ characters for the regex
/// crate's prefilter, so that matching stays fast on long output.
fn has_literal(pattern: &str) -> bool {
    if pattern.starts_with(".*") {
        return false;
    }
    let mut run = 0;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next();
                run = if escaped.is_some_and(|e| "()[]{}.*+?|^$\\-/ ".contains(e)) {
                    run + 1
                } else {
                    0
                };
            }
            c if c.is_alphanumeric() || " _-:'\"/,;=<>@!#%&~`".contains(c) => run += 1,
            _ => run = 0,
        }
        if run >= 3 {
            return true;
        }
    }
    false
}

/// Every problem of one profile's samples, through the real matcher.
fn problems(name: &str) -> Vec<String> {
    let settings = settings(name);
    let patterns = compile(&settings);
    let path = root().join(format!("tests/samples/{name}.txt"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut errors = Vec::new();
    let mut counts = [0; 3];
    let (mut retried, mut aborted, mut samples) = (Vec::new(), Vec::new(), Vec::new());
    for (index, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let at = format!("{name}.txt:{}", index + 1);
        let (kind, line) = match raw.split_at_checked(2) {
            Some((kind @ ("+ " | "- " | "! "), line)) => (kind, line),
            _ => {
                errors.push(format!("{at}: a sample starts with \"+ \", \"- \" or \"! \": {raw}"));
                continue;
            }
        };
        let (retry, abort) = verdict(&patterns, line);
        let (slot, right) = match kind {
            "+ " => (0, retry && !abort),
            "- " => (1, !retry),
            _ => (2, abort),
        };
        counts[slot] += 1;
        if !right {
            errors.push(format!(
                "{at}: wrong for {kind:?} (retry {retry}, abort {abort}): {line}"
            ));
        }
        match kind {
            "+ " => retried.push(line.to_string()),
            "! " => aborted.push(line.to_string()),
            _ => {}
        }
        samples.push(line.to_string());
    }
    if counts[0] == 0 || counts[1] == 0 {
        errors.push(format!("{name}: needs at least one + and one - sample"));
    }
    for spec in &settings.matching.patterns {
        if !retried.iter().any(|line| matches_alone(spec, line)) {
            errors.push(format!("{name}: no + sample for pattern {:?}", spec.text));
        }
        if !has_literal(&spec.text) {
            errors.push(format!("{name}: no literal text for the prefilter in {:?}", spec.text));
        }
    }
    for spec in &settings.matching.abort_on {
        if !aborted.iter().any(|line| matches_alone(spec, line)) {
            errors.push(format!("{name}: no ! sample for abort pattern {:?}", spec.text));
        }
    }
    for spec in &settings.matching.retry_after {
        if !samples.iter().any(|line| hint_in(spec, line).is_some()) {
            errors.push(format!(
                "{name}: no sample from which retry_after {:?} takes a duration",
                spec.text
            ));
        }
    }
    errors
}

#[test]
fn every_built_in_profile_matches_its_samples() {
    let errors: Vec<String> = BUILT_IN_PROFILES.iter().flat_map(|(name, _)| problems(name)).collect();
    assert!(errors.is_empty(), "{} problem(s):\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn every_profile_file_is_built_in_has_samples_and_says_what_it_is_for() {
    let stems = |dir: &str, ext: &str| -> BTreeSet<String> {
        fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let built_in: BTreeSet<String> = BUILT_IN_PROFILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(
        stems("config", "toml"),
        built_in,
        "config/*.toml against BUILT_IN_PROFILES"
    );
    assert_eq!(
        stems("tests/samples", "txt"),
        built_in,
        "tests/samples/*.txt against the profiles"
    );
    let catalog = Catalog::load(&Selection {
        no_config: true,
        ..Selection::default()
    })
    .unwrap();
    for summary in catalog.list().unwrap() {
        let d = &summary.description;
        assert!(
            !d.trim().is_empty() && !d.contains('\n'),
            "{}: description {d:?}",
            summary.name
        );
    }
}

#[test]
fn aws_schedule_is_the_sdk_standard_mode() {
    let schedule = settings("aws").schedule;
    assert_eq!(schedule.attempts, 8);
    assert_eq!(schedule.delay, Duration::from_secs(1));
    assert_eq!(schedule.backoff.to_text().as_deref(), Some("exponential"));
    assert_eq!(schedule.factor.0, 2.0);
    assert_eq!(schedule.max_delay, Duration::from_secs(20));
    assert_eq!(schedule.jitter.to_text().as_deref(), Some("full"));
}

#[test]
fn aws_eventual_consistency_extends_aws_and_has_a_deadline() {
    let aws = settings("aws").matching;
    let ec = settings("aws-eventual-consistency");
    let texts = |specs: &[PatternSpec]| -> BTreeSet<String> { specs.iter().map(|s| s.text.clone()).collect() };
    // There is no include mechanism: the patterns are copied and must stay in sync.
    let missing: Vec<String> = texts(&aws.patterns)
        .difference(&texts(&ec.matching.patterns))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "aws patterns missing: {missing:?}");
    assert!(texts(&aws.abort_on).is_subset(&texts(&ec.matching.abort_on)));
    assert!(ec.matching.patterns.len() > aws.patterns.len());
    let max_time = ec.schedule.max_time.expect("aws-eventual-consistency needs max_time");
    assert!(
        (90..=150).contains(&max_time.as_secs()),
        "max_time should be about 2 minutes, is {max_time:?}"
    );
}

#[test]
fn abort_on_stops_known_permanent_failures() {
    // (profile, stderr line, whether an abort pattern must match)
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
    for (name, line, want) in cases {
        let (_, abort) = verdict(&compile(&settings(name)), line);
        if abort != *want {
            errors.push(format!("{name}: abort should be {want} for:\n    {line}"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// A run trusts a built-in profile's patterns and compiles them only when the
/// command first writes something: so they must compile here, as they are and
/// with `-i` or `-F` from the user's `[defaults]`, and be marked as trusted.
#[test]
fn every_built_in_profile_compiles_whatever_the_case_and_fixed_flags() {
    for (name, _) in BUILT_IN_PROFILES {
        let settings = settings(name);
        for (ignore_case, fixed) in [(false, false), (true, false), (false, true)] {
            let m = &settings.matching;
            let adjust = |specs: &[PatternSpec]| -> Vec<PatternSpec> {
                specs
                    .iter()
                    .map(|spec| {
                        assert!(spec.trusted, "{name}: {:?} is not marked as built-in", spec.text);
                        PatternSpec {
                            ignore_case: spec.ignore_case || ignore_case,
                            fixed: spec.fixed || fixed,
                            ..spec.clone()
                        }
                    })
                    .collect()
            };
            let (stderr, stdout, abort, hints) = (
                adjust(&m.patterns),
                adjust(&m.stdout_patterns),
                adjust(&m.abort_on),
                m.retry_after.clone(),
            );
            let patterns = Patterns::compile(
                &PatternLists {
                    stderr: &stderr,
                    stdout: &stdout,
                    abort: &abort,
                    hints: &hints,
                },
                false,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            for set in [&patterns.stderr, &patterns.stdout, &patterns.abort, &patterns.hints]
                .into_iter()
                .flatten()
            {
                set.compile_now()
                    .unwrap_or_else(|e| panic!("{name} (-i {ignore_case}, -F {fixed}): {e}"));
            }
        }
    }
}
