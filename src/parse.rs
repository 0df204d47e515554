//! The syntax of values, shared by flags and config files: reading them
//! (durations, exit-code lists, delay lists, signals, factors, choices) and
//! writing them back for `--explain`. Each parser returns a message that
//! names the bad value, for the caller to place.

use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// The longest duration retry-on takes: 100 years. Longer ones are typing
/// mistakes, and past it the sums of a schedule could overflow.
pub(crate) const LONGEST: Duration = Duration::from_secs(3_155_760_000);

/// The shortest duration above zero that retry-on takes: it prints and
/// sleeps to the microsecond, so that a shorter one would be shown as, or
/// rounded to, 0, which means "no limit" for a time limit.
pub(crate) const SHORTEST: Duration = Duration::from_micros(1);

/// A duration: humantime (`250ms`, `1m30s`) or a bare number of seconds
/// (`2`, `0.5`), zero or from [`SHORTEST`] to [`LONGEST`].
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let parsed = any_duration(text)?;
    if parsed > LONGEST {
        return Err(format!("invalid duration {text:?}: longer than the limit of 100 years"));
    }
    Ok(parsed)
}

/// The wait a `--retry-after` line asks for: a duration as for [`duration`],
/// where one past [`LONGEST`] (which the cap then shortens) is [`LONGEST`].
pub(crate) fn wait_asked(text: &str) -> Result<Duration, String> {
    any_duration(text).map(|asked| asked.min(LONGEST))
}

/// A duration of any length, zero or at least [`SHORTEST`].
fn any_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!("invalid duration {text:?}: a duration cannot be negative"));
    }
    let parsed = match trimmed.parse::<f64>() {
        Ok(seconds) if seconds.is_nan() => {
            return Err(format!("invalid duration {text:?}: not a number of seconds"));
        }
        Ok(seconds) if seconds > 0.0 && seconds < SHORTEST.as_secs_f64() => Duration::from_nanos(1),
        Ok(seconds) => Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX),
        Err(_) => humantime::parse_duration(trimmed)
            .map_err(|e| format!("invalid duration {text:?}: {e} (examples: 250ms, 2s, 1m30s, or 0.5 for seconds)"))?,
    };
    if !parsed.is_zero() && parsed < SHORTEST {
        return Err(format!(
            "invalid duration {text:?}: above zero but under a microsecond, the shortest retry-on takes (0 means none)"
        ));
    }
    Ok(parsed)
}

/// Prints a duration in humantime form, rounded to the millisecond so that
/// jittered values stay readable (`1s 234ms`, not nanoseconds), or to the
/// microsecond below one.
pub(crate) fn show_duration(d: Duration) -> String {
    let shown = if d < Duration::from_millis(1) {
        Duration::from_micros(d.as_micros() as u64)
    } else {
        // Whole seconds plus rounded milliseconds: a count of milliseconds
        // would wrap past u64 (a schedule's total can be that long).
        let (seconds, millis) = (
            Duration::from_secs(d.as_secs()),
            (d.subsec_nanos() + 500_000) / 1_000_000,
        );
        seconds
            .checked_add(Duration::from_millis(u64::from(millis)))
            .unwrap_or(seconds)
    };
    humantime::format_duration(shown).to_string()
}

/// A comma-separated list of durations (`1s,5s,30s`).
pub(crate) fn delay_list(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|item| duration(item).map_err(|e| format!("in delay list {text:?}: {e}")))
        .collect()
}

/// A set of exit codes such as `1,40-45,255`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExitCodes(Vec<RangeInclusive<i32>>);

impl ExitCodes {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid exit-code list {text:?}: {why} (example: 1,40-45,255)");
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim) {
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let code = |s: &str| {
                s.trim()
                    .parse::<u8>()
                    .map(i32::from)
                    .map_err(|_| bad(&format!("{item:?} is not a code from 0 to 255 or a range of them")))
            };
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(bad(&format!("range {item:?} runs backwards")));
            }
            if high == 0 {
                return Err(bad("0 is success, which is never retried"));
            }
            ranges.push(low..=high);
        }
        Ok(ExitCodes(ranges))
    }

    pub fn contains(&self, code: i32) -> bool {
        self.0.iter().any(|range| range.contains(&code))
    }
}

impl fmt::Display for ExitCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|r| {
                if r.start() == r.end() {
                    r.start().to_string()
                } else {
                    format!("{}-{}", r.start(), r.end())
                }
            })
            .collect();
        f.write_str(&items.join(","))
    }
}

/// A signal, by its number: a standard one, which nix's [`Signal`] names,
/// or a realtime one (`RTMIN+n`), which it cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnySignal(i32);

impl AnySignal {
    pub(crate) const INT: AnySignal = AnySignal(Signal::SIGINT as i32);
    pub(crate) const KILL: AnySignal = AnySignal(Signal::SIGKILL as i32);
    pub(crate) const PIPE: AnySignal = AnySignal(Signal::SIGPIPE as i32);
    pub(crate) const TERM: AnySignal = AnySignal(Signal::SIGTERM as i32);

    /// Signal `number`, if there is one: standard, or realtime (not the
    /// few below `SIGRTMIN` that the C library keeps for itself).
    pub(crate) fn from_number(number: i32) -> Option<AnySignal> {
        (Signal::try_from(number).is_ok() || realtime().contains(&number)).then_some(AnySignal(number))
    }

    pub(crate) fn number(self) -> i32 {
        self.0
    }

    /// Every realtime signal.
    pub(crate) fn realtime() -> impl Iterator<Item = AnySignal> {
        realtime().map(AnySignal)
    }

    /// Its name without the `SIG` prefix, as `kill -l` prints it: `TERM`,
    /// `RTMIN+1`, `RTMAX-2`.
    pub(crate) fn name(self) -> String {
        if let Ok(signal) = Signal::try_from(self.0) {
            return signal.as_str().trim_start_matches("SIG").to_string();
        }
        let (low, high) = (*realtime().start(), *realtime().end());
        match self.0 {
            n if n == low => "RTMIN".to_string(),
            n if n == high => "RTMAX".to_string(),
            n if n - low <= (high - low) / 2 => format!("RTMIN+{}", n - low),
            n => format!("RTMAX-{}", high - n),
        }
    }

    /// Its name as messages give it: `SIGTERM`, `SIGRTMIN+1`.
    pub(crate) fn full_name(self) -> String {
        format!("SIG{}", self.name())
    }
}

impl From<Signal> for AnySignal {
    fn from(signal: Signal) -> AnySignal {
        AnySignal(signal as i32)
    }
}

/// The realtime signals' numbers.
fn realtime() -> RangeInclusive<i32> {
    #[cfg(target_os = "linux")]
    return nix::libc::SIGRTMIN()..=nix::libc::SIGRTMAX();
    #[cfg(not(target_os = "linux"))]
    #[allow(clippy::reversed_empty_ranges)]
    return 1..=0;
}

/// A signal given as `TERM`, `SIGTERM`, `term`, `15`, `RTMIN+1` or `34`
/// (as GNU `timeout` takes them).
pub(crate) fn signal(text: &str) -> Result<AnySignal, String> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (low, high) = (*realtime().start(), *realtime().end());
    let offset = |from: i32, rest: &str, sign: i32| match rest {
        "" => Some(from),
        _ => rest
            .strip_prefix(if sign > 0 { '+' } else { '-' })?
            .parse::<i32>()
            .ok()
            .map(|n| from + sign * n),
    };
    let number = match trimmed.parse::<i32>() {
        Ok(number) => Some(number),
        Err(_) if name.starts_with("RTMIN") => offset(low, &name[5..], 1),
        Err(_) if name.starts_with("RTMAX") => offset(high, &name[5..], -1),
        Err(_) => format!("SIG{name}").parse::<Signal>().ok().map(|signal| signal as i32),
    };
    number
        .and_then(AnySignal::from_number)
        .ok_or_else(|| format!("unknown signal {text:?} (examples: TERM, SIGINT, 9, RTMIN+1)"))
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
value_into_plain!(Duration, AnySignal, Factor);

/// Values that can be read from text.
pub trait FromText: Sized {
    const EXPECTING: &'static str;
    fn from_text(text: &str) -> Result<Self, String>;
}

impl FromText for Duration {
    const EXPECTING: &'static str = "a duration such as \"500ms\" or a number of seconds";
    fn from_text(text: &str) -> Result<Self, String> {
        duration(text)
    }
}

impl FromText for AnySignal {
    const EXPECTING: &'static str = "a signal name such as \"TERM\" or a number";
    fn from_text(text: &str) -> Result<Self, String> {
        signal(text)
    }
}

impl FromText for ExitCodes {
    const EXPECTING: &'static str = "exit codes such as \"1,40-45,255\"";
    fn from_text(text: &str) -> Result<Self, String> {
        ExitCodes::parse(text)
    }
}

/// A time limit, where 0 means no limit, as it does for GNU `timeout`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit(pub Duration);

impl FromText for Limit {
    const EXPECTING: &'static str = "a duration such as \"30s\", or 0 for no limit";
    fn from_text(text: &str) -> Result<Self, String> {
        duration(text).map(Limit)
    }
}

impl From<Value<Limit>> for Option<Duration> {
    fn from(limit: Value<Limit>) -> Option<Duration> {
        Some(limit.0.0).filter(|d| !d.is_zero())
    }
}

/// A DynamoDB lease's length (`--lock-lease`): renewed every third of it,
/// so it must leave time for a request between renewals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseLength(pub Duration);

/// The shortest lease: a third of it is what one renewal may take.
pub(crate) const SHORTEST_LEASE: Duration = Duration::from_millis(300);

impl FromText for LeaseLength {
    const EXPECTING: &'static str = "a duration of at least 300ms, such as \"30s\"";
    fn from_text(text: &str) -> Result<Self, String> {
        match duration(text)? {
            lease if lease < SHORTEST_LEASE => Err(format!(
                "{} is too short: a lease must last at least {}",
                show_duration(lease),
                show_duration(SHORTEST_LEASE)
            )),
            lease => Ok(LeaseLength(lease)),
        }
    }
}

impl From<Value<LeaseLength>> for Duration {
    fn from(lease: Value<LeaseLength>) -> Duration {
        lease.0.0
    }
}

/// What `--lock` names: a file (a path, or anything without a `scheme://`)
/// or a lease on an item in a DynamoDB table (`dynamodb://TABLE/KEY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockTarget {
    File(PathBuf),
    DynamoDb { table: String, key: String },
}

impl LockTarget {
    /// Reads a `--lock` value that may be a path that is not UTF-8.
    pub(crate) fn from_os(text: std::ffi::OsString) -> Result<LockTarget, String> {
        match text.into_string() {
            Ok(text) => LockTarget::from_text(&text),
            Err(path) if path.is_empty() => Err("a lock cannot be empty".to_string()),
            Err(path) => Ok(LockTarget::File(PathBuf::from(path))),
        }
    }
}

impl FromText for LockTarget {
    const EXPECTING: &'static str = "a lock file path or dynamodb://TABLE/KEY";
    fn from_text(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a lock cannot be empty".to_string());
        }
        // Only a config file can hold one: no path or key can.
        if text.contains('\0') {
            return Err("a lock cannot contain a NUL byte".to_string());
        }
        let Some((scheme, rest)) = text.split_once("://").filter(|(scheme, _)| is_scheme(scheme)) else {
            return Ok(LockTarget::File(PathBuf::from(text)));
        };
        if !scheme.eq_ignore_ascii_case("dynamodb") {
            return Err(format!(
                "unknown lock scheme {scheme:?} in {text:?}: a lock is a file path or dynamodb://TABLE/KEY"
            ));
        }
        let (table, key) = rest.split_once('/').unwrap_or((rest, ""));
        let table_ok =
            (3..=255).contains(&table.len()) && table.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !table_ok {
            return Err(format!(
                "invalid DynamoDB table {table:?} in {text:?}: 3 to 255 of a-z, A-Z, 0-9, '_', '-', '.'"
            ));
        }
        if key.is_empty() {
            return Err(format!("no KEY in {text:?}: a DynamoDB lock is dynamodb://TABLE/KEY"));
        }
        Ok(LockTarget::DynamoDb {
            table: table.to_string(),
            key: key.to_string(),
        })
    }
}

/// `scheme` of `scheme://`, as URLs spell it: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

impl fmt::Display for LockTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTarget::File(path) => write!(f, "{}", path.display()),
            LockTarget::DynamoDb { table, key } => write!(f, "dynamodb://{table}/{key}"),
        }
    }
}

/// The delay list of `--delays`.
#[derive(Clone, Debug, PartialEq)]
pub struct DelayList(pub Vec<Duration>);

impl FromText for DelayList {
    const EXPECTING: &'static str = "a list of durations such as \"1s,5s,30s\"";
    fn from_text(text: &str) -> Result<Self, String> {
        delay_list(text).map(DelayList)
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

/// Text such as a pattern, with where a config file had it (a byte range of
/// the file), so that a message about it can name the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub text: String,
    pub span: Option<Range<usize>>,
}

impl Located {
    pub fn new(text: impl Into<String>) -> Located {
        Located {
            text: text.into(),
            span: None,
        }
    }
}

impl<'de> Deserialize<'de> for Located {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<String>::deserialize(deserializer)?;
        Ok(Located {
            span: Some(spanned.span()),
            text: spanned.into_inner(),
        })
    }
}

/// A value with where a config file had it (a byte range of the file), for
/// a message about it that is only known later (`--lock` in a build that
/// cannot use it).
#[derive(Clone, Debug, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

impl<T> At<T> {
    /// A value from the command line: no place in a file.
    pub fn flag(value: T) -> At<T> {
        At { value, span: None }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(deserializer)?;
        Ok(At {
            span: Some(spanned.span()),
            value: spanned.into_inner(),
        })
    }
}

impl From<At<Value<LockTarget>>> for Option<LockTarget> {
    fn from(at: At<Value<LockTarget>>) -> Option<LockTarget> {
        Some(at.value.0)
    }
}

/// A setting that is one of a few names, such as `-b exponential`.
pub trait Choice: Copy + PartialEq + 'static {
    const ALL: &'static [(&'static str, Self)];

    fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, v)| *v == self).map_or("?", |(n, _)| n)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The form of retry-on's own lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
    /// GitHub Actions workflow commands: the text lines, as warnings, errors and notices.
    Github,
}

impl Choice for LogFormat {
    const ALL: &'static [(&'static str, Self)] = &[
        ("text", LogFormat::Text),
        ("json", LogFormat::Json),
        ("github", LogFormat::Github),
    ];
}

/// A value written back as text, for `--explain`; `None` for a setting
/// that is not set.
pub trait ToText {
    fn to_text(&self) -> Option<String>;
}

impl<T: ToText> ToText for Option<T> {
    fn to_text(&self) -> Option<String> {
        self.as_ref().and_then(ToText::to_text)
    }
}

macro_rules! to_text_by {
    ($($t:ty => $show:expr),* $(,)?) => {$(
        impl ToText for $t {
            fn to_text(&self) -> Option<String> {
                #[allow(clippy::redundant_closure_call)]
                Some(($show)(self))
            }
        }
    )*};
}

to_text_by! {
    bool => bool::to_string,
    u32 => u32::to_string,
    u64 => u64::to_string,
    Duration => |d: &Duration| show_duration(*d),
    AnySignal => |s: &AnySignal| s.name(),
    ExitCodes => ExitCodes::to_string,
    DelayList => DelayList::to_string,
    Factor => |f: &Factor| f.0.to_string(),
    LockTarget => LockTarget::to_string,
    String => String::clone,
    LogFormat => |f: &LogFormat| f.name().to_string(),
}

impl fmt::Display for DelayList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|d| show_duration(*d)).collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_targets_are_files_unless_they_name_a_scheme() {
        use super::LockTarget;
        let file = |p: &str| LockTarget::File(p.into());
        assert_eq!(LockTarget::from_text("/tmp/a.lock"), Ok(file("/tmp/a.lock")));
        assert_eq!(LockTarget::from_text("./x://y"), Ok(file("./x://y")));
        assert_eq!(LockTarget::from_text("a b://c"), Ok(file("a b://c")));
        let dynamo = LockTarget::from_text("dynamodb://locks/iam/alice").unwrap();
        assert_eq!(
            dynamo,
            LockTarget::DynamoDb {
                table: "locks".into(),
                key: "iam/alice".into()
            }
        );
        assert_eq!(dynamo.to_string(), "dynamodb://locks/iam/alice");
        let err = LockTarget::from_text("s3://bucket/key").unwrap_err();
        assert!(err.contains("unknown lock scheme \"s3\""), "{err}");
        assert!(
            LockTarget::from_text("dynamodb://locks")
                .unwrap_err()
                .contains("no KEY")
        );
        assert!(
            LockTarget::from_text("dynamodb://locks/")
                .unwrap_err()
                .contains("no KEY")
        );
        assert!(
            LockTarget::from_text("dynamodb://a/k")
                .unwrap_err()
                .contains("invalid DynamoDB table")
        );
        assert!(LockTarget::from_text("").is_err());
    }

    use super::*;

    #[test]
    fn durations_accept_humantime_and_bare_seconds() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(duration("-1").unwrap_err().contains("\"-1\""));
        assert!(duration("5 parsecs").unwrap_err().contains("\"5 parsecs\""));
    }

    /// `-d 18446744073709552s` printed "retrying in 384ms" and then slept
    /// for ever; `1e20` was clamped while `1e999` was refused.
    #[test]
    fn durations_past_a_hundred_years_are_refused() {
        for text in ["18446744073709552s", "600000000y", "1e20", "1e999", "101y"] {
            let error = duration(text).unwrap_err();
            assert!(error.contains(text) && error.contains("100 years"), "{error}");
        }
        assert_eq!(duration("100y"), Ok(LONGEST));
        assert!(duration("NaN").is_err());
    }

    /// `-t 1ns` was shown as "0s" yet killed at once, while `-t 1e-10`
    /// rounded to 0 and meant no limit; `-1s` said "expected number at 0".
    #[test]
    fn durations_under_a_microsecond_or_negative_are_refused_clearly() {
        for text in ["1ns", "999ns", "1e-10", "0.0000001"] {
            let error = duration(text).unwrap_err();
            assert!(error.contains(text) && error.contains("under a microsecond"), "{error}");
        }
        for text in ["-1", "-1s", "-0.5", " -2m"] {
            let error = duration(text).unwrap_err();
            assert!(error.ends_with("a duration cannot be negative"), "{error}");
        }
        assert_eq!(duration("1us"), Ok(SHORTEST));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(duration("0ns"), Ok(Duration::ZERO));
    }

    /// `-n 4294967295 -d 100y --max-delay 100y --explain` printed
    /// "442867569years": the count of milliseconds wrapped past u64.
    #[test]
    fn long_durations_print_without_wrapping() {
        let total = LONGEST.saturating_mul(u32::MAX - 1);
        assert_eq!(show_duration(total), humantime::format_duration(total).to_string());
        assert!(
            show_duration(total).starts_with("429496729"),
            "{}",
            show_duration(total)
        );
        assert_eq!(
            show_duration(Duration::MAX),
            humantime::format_duration(Duration::from_secs(u64::MAX)).to_string()
        );
        assert_eq!(show_duration(Duration::from_micros(1500)), "2ms");
        assert_eq!(show_duration(Duration::from_nanos(1_500)), "1us");
    }

    /// A `--retry-after` line that asked for more than 100 years was ignored,
    /// where one that asked for an hour was capped at `--max-delay`.
    #[test]
    fn a_wait_asked_for_past_the_limit_is_the_limit() {
        assert_eq!(wait_asked("101y"), Ok(LONGEST));
        assert_eq!(wait_asked("1e30"), Ok(LONGEST));
        assert_eq!(wait_asked("30"), Ok(Duration::from_secs(30)));
        assert!(wait_asked("soon").is_err());
    }

    #[test]
    fn durations_print_in_humantime_form() {
        assert_eq!(show_duration(Duration::from_secs(90)), "1m 30s");
        assert_eq!(show_duration(Duration::from_nanos(1_234_567_891)), "1s 235ms");
        assert_eq!(show_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn exit_code_lists() {
        let codes = ExitCodes::parse("1,40-45,255").unwrap();
        for yes in [1, 40, 42, 45, 255] {
            assert!(codes.contains(yes), "{yes}");
        }
        for no in [0, 2, 39, 46, 254] {
            assert!(!codes.contains(no), "{no}");
        }
        assert_eq!(codes.to_string(), "1,40-45,255");
        assert!(ExitCodes::parse("1,x").unwrap_err().contains("\"x\""));
        assert!(ExitCodes::parse("256").is_err());
        assert!(ExitCodes::parse("9-3").unwrap_err().contains("backwards"));
        // 0 alone can never match, and would turn off "retry any failure".
        assert!(ExitCodes::parse("1,0").unwrap_err().contains("0 is success"));
        assert!(ExitCodes::parse("0-0").is_err());
        assert!(ExitCodes::parse("0-255").unwrap().contains(1));
    }

    #[test]
    fn delay_lists() {
        assert_eq!(
            delay_list("1s,5s,30s").unwrap(),
            vec![Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)]
        );
        assert!(delay_list("1s,,2s").is_err());
    }

    #[test]
    fn signals_by_name_prefix_or_number() {
        assert_eq!(signal("TERM"), Ok(AnySignal::TERM));
        assert_eq!(signal("SIGTERM"), Ok(AnySignal::TERM));
        assert_eq!(signal("kill"), Ok(AnySignal::KILL));
        assert_eq!(signal("15"), Ok(AnySignal::TERM));
        assert!(signal("SIGBOGUS").unwrap_err().contains("SIGBOGUS"));
        assert!(signal("99").is_err());
        assert_eq!(AnySignal::INT.name(), "INT");
        assert_eq!(AnySignal::INT.full_name(), "SIGINT");
    }

    /// `--kill-signal RTMIN+1` and `--kill-signal 34` were refused, where
    /// GNU `timeout` takes them.
    #[test]
    fn realtime_signals_by_name_or_number() {
        let low = nix::libc::SIGRTMIN();
        let high = nix::libc::SIGRTMAX();
        assert_eq!(signal("RTMIN").map(AnySignal::number), Ok(low));
        assert_eq!(signal("SIGRTMIN+1").map(AnySignal::number), Ok(low + 1));
        assert_eq!(signal("rtmax-2").map(AnySignal::number), Ok(high - 2));
        assert_eq!(signal(&low.to_string()).map(AnySignal::number), Ok(low));
        for bad in ["RTMIN+99", "RTMAX+1", "RTMIN-1", "RTMINx", "32"] {
            assert!(signal(bad).is_err(), "{bad}");
        }
        for number in low..=high {
            let named = AnySignal::from_number(number).unwrap();
            assert_eq!(signal(&named.name()), Ok(named), "{}", named.name());
        }
        assert_eq!(AnySignal::from_number(low + 1).unwrap().full_name(), "SIGRTMIN+1");
        assert_eq!(AnySignal::from_number(high).unwrap().name(), "RTMAX");
    }
}
