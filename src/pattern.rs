//! Compiling patterns, and scanning a byte stream for them line by line
//! without ever holding a whole line.
//!
//! The rule: matching is a pure function of each line's bytes. A line is the
//! text between two newlines, without the newline; a last line without a
//! newline counts as a line, and nothing after a final newline does. `^`,
//! `$`, `\A` and `\z` are the line's start and end, however the command's
//! writes were split.
//!
//! At start-up a list is only checked (parsed, not compiled): a bad pattern
//! is an error before anything runs, and a command that writes nothing never
//! pays for building the matcher, which the scan thread does when the first
//! chunk arrives (chunks wait in its bounded channel meanwhile).
//!
//! Each list of patterns becomes one alternation that is run over whole
//! buffers of complete lines at once (without their last newline, so that no
//! empty line is made up after it); a hit there is confirmed on its line
//! alone. A list with a pattern whose meaning depends on more than the line
//! (`\A`, `\z`, `(?-m)^`) is run line by line instead. A line longer than
//! [`WINDOW`] is searched as it streams, keeping only its last [`WINDOW`]
//! bytes, so a match is found on a line of any length as long as the matched
//! text itself is shorter than the window.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};

use memchr::{memchr, memrchr};
use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::hir::{Hir, Look};
use tokio::sync::{mpsc, oneshot};

/// How much of an unfinished line is kept between reads.
pub(crate) const WINDOW: usize = 64 * 1024;

/// A pattern as the user gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternSpec {
    pub text: String,
    /// Literal text, not a regex (`-F`).
    pub fixed: bool,
    pub ignore_case: bool,
    /// Where it was written, for messages.
    pub origin: PatternOrigin,
    /// Which layer of settings it came from, for `--explain`.
    pub source: String,
    /// From a built-in profile, which the tests compile: not checked again.
    pub trusted: bool,
}

/// Where a pattern was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternOrigin {
    /// On the command line, with this flag.
    Flag(&'static str),
    /// In a config file: its name, line, column and key.
    File(String),
}

impl PatternSpec {
    /// A message about this pattern that says where it was written.
    fn complaint(&self, what: &str) -> String {
        match &self.origin {
            PatternOrigin::Flag(flag) => format!("{what} {:?} in {flag}", self.text),
            PatternOrigin::File(place) => format!("{place}: {what} {:?}", self.text),
        }
    }
}

/// The pattern lists of a run, as the user gave them.
pub struct PatternLists<'a> {
    pub stderr: &'a [PatternSpec],
    pub stdout: &'a [PatternSpec],
    pub abort: &'a [PatternSpec],
    pub hints: &'a [PatternSpec],
}

/// The compiled patterns of a run.
pub struct Patterns {
    pub stderr: Option<PatternSet>,
    pub stdout: Option<PatternSet>,
    pub abort: Option<PatternSet>,
    /// `--retry-after`: lines that say how long to wait.
    pub hints: Option<PatternSet>,
    /// The command's stdout and stderr are one stream (`>log 2>&1`): `stderr`
    /// then holds the retry patterns of both, and `stdout` none.
    pub merged: bool,
}

impl Patterns {
    /// Compiles each list; a bad pattern is an error that says where it was
    /// written. With `merged`, the stderr and stdout patterns become one set.
    pub fn compile(lists: &PatternLists<'_>, merged: bool) -> Result<Patterns, String> {
        let abort = PatternSet::compile(lists.abort, "--abort-on")?;
        let hints = PatternSet::compile_hints(lists.hints)?;
        if merged {
            let both: Vec<PatternSpec> = lists.stderr.iter().chain(lists.stdout).cloned().collect();
            let stderr = PatternSet::compile(&both, "--pattern")?;
            return Ok(Patterns {
                stderr,
                stdout: None,
                abort,
                hints,
                merged,
            });
        }
        Ok(Patterns {
            stderr: PatternSet::compile(lists.stderr, "--pattern")?,
            stdout: PatternSet::compile(lists.stdout, "--stdout-pattern")?,
            abort,
            hints,
            merged,
        })
    }

    /// Whether the command's stderr must pass through retry-on to be scanned.
    pub(crate) fn scans_stderr(&self) -> bool {
        self.stderr.is_some() || self.abort.is_some() || self.hints.is_some()
    }
}

/// A checked list of patterns. The matcher is built the first time it is
/// needed (the first output to scan), not at start-up: a run whose command
/// writes nothing never pays for it. Clones share the one matcher.
#[derive(Clone, Debug)]
pub struct PatternSet {
    specs: Arc<[PatternSpec]>,
    /// The option the list came from, for messages.
    option: String,
    /// Hint patterns: report what the capture group took.
    captures: bool,
    matcher: Arc<OnceLock<Result<Matcher, String>>>,
}

/// A list of patterns, compiled.
#[derive(Debug)]
struct Matcher {
    /// All the patterns as one alternation, to find candidates fast.
    any: Regex,
    each: Vec<Regex>,
    sources: Vec<String>,
    /// Some pattern reads the whole text's start or end: search each line alone.
    line_by_line: bool,
    captures: bool,
}

/// What matched: the pattern (its index in its list, and its text as the
/// user gave it) and the text it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub pattern: usize,
    pub source: String,
    pub text: String,
    /// What the pattern's one capture group took, for a hint pattern.
    pub captured: Option<String>,
}

impl PatternSpec {
    /// The pattern as a regex: escaped when it is literal text.
    fn regex_source(&self) -> String {
        match self.fixed {
            true => regex::escape(&self.text),
            false => self.text.clone(),
        }
    }

    /// Checks a regex (not plain text) and bounds its compiled size. One
    /// that matches every line, even an empty one (`()`, `.*`, `$`), is
    /// refused, as the empty pattern is: the rare regex that can match
    /// nothing at all is tried on a few lines to see whether it does (an
    /// empty one, a long one with every printable ASCII character, and one
    /// of control and non-UTF-8 bytes): `^[^:]*$` or `^.{0,3}$` are fine.
    fn checked_size(&self) -> Result<u64, String> {
        let hir = self.parse()?;
        if needs_a_newline(&hir) {
            return Err(format!("{}: {NEVER_MATCHES}", self.complaint("pattern")));
        }
        if hir.properties().minimum_len() == Some(0) {
            let probe = regex::bytes::RegexBuilder::new(&self.regex_source())
                .multi_line(true)
                .case_insensitive(self.ignore_case)
                .build();
            let printable: Vec<u8> = (b' '..=b'~').cycle().take(300).collect();
            let lines = [&b""[..], b"x", &printable, b"\x01\t\xff"];
            if probe.is_ok_and(|regex| lines.iter().all(|line| regex.is_match(line))) {
                return Err(format!("{}: it would match every line", self.complaint("pattern")));
            }
        }
        Ok(size_bound(&hir))
    }

    /// Parses the pattern as the matcher will (bytes, multi-line), without
    /// compiling it: the check a bad pattern fails before anything runs.
    fn parse(&self) -> Result<Hir, String> {
        regex_syntax::ParserBuilder::new()
            .multi_line(true)
            .case_insensitive(self.ignore_case)
            .utf8(false)
            .build()
            .parse(&self.regex_source())
            .map_err(|e| format!("{}: {}", self.complaint("invalid regex"), one_line(&e)))
    }
}

/// A regex syntax error in one line: what is wrong and where, without the
/// parser's picture of the pattern with a caret under the place.
fn one_line(error: &regex_syntax::Error) -> String {
    let (what, span) = match error {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), e.span()),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), e.span()),
        other => return other.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
    };
    match span.start.line {
        1 => format!("{what}, at character {}", span.start.column),
        line => format!("{what}, at line {line}, character {}", span.start.column),
    }
}

impl PatternSet {
    /// Checks `specs` (a built-in profile's are trusted: tests compile them);
    /// `option` names where they came from, for messages. An empty list
    /// gives `None`.
    pub fn compile(specs: &[PatternSpec], option: &str) -> Result<Option<PatternSet>, String> {
        if specs.is_empty() {
            return Ok(None);
        }
        let mut weight: u64 = 0;
        for spec in specs.iter().filter(|spec| !spec.trusted) {
            if spec.text.is_empty() {
                return Err(format!(
                    "{}: it would match every line",
                    spec.complaint("empty pattern")
                ));
            }
            if spec.text.contains('\n') && (spec.fixed || is_plain_text(&spec.text)) {
                return Err(format!("{}: {NEVER_MATCHES}", spec.complaint("pattern")));
            }
            weight = weight.saturating_add(match spec.fixed || is_plain_text(&spec.text) {
                true => spec.text.len() as u64,
                false => spec.checked_size()?,
            });
        }
        let set = PatternSet {
            specs: specs.into(),
            option: option.to_string(),
            captures: false,
            matcher: Arc::default(),
        };
        // A list that might pass the regex engine's size limit is compiled
        // now, so that a refusal too comes before anything runs.
        if weight > EAGER_ABOVE {
            set.compile_now()?;
        }
        Ok(Some(set))
    }

    /// Checks `--retry-after` patterns, each of which must have exactly
    /// one capture group: the wait the output asks for.
    pub(crate) fn compile_hints(specs: &[PatternSpec]) -> Result<Option<PatternSet>, String> {
        let Some(mut set) = PatternSet::compile(specs, "--retry-after")? else {
            return Ok(None);
        };
        for spec in specs {
            let groups = spec.parse()?.properties().explicit_captures_len();
            if groups != 1 {
                return Err(format!(
                    "{}: it must have exactly one capture group, for the wait, and has {groups}",
                    spec.complaint("retry-after pattern")
                ));
            }
        }
        set.captures = true;
        Ok(Some(set))
    }

    /// The compiled patterns, built on first use; an error if they cannot
    /// be (the whole list too large for the regex engine).
    fn matcher(&self) -> Result<&Matcher, &String> {
        self.matcher
            .get_or_init(|| Matcher::build(&self.specs, &self.option, self.captures))
            .as_ref()
    }

    /// Builds the matcher now rather than on first use.
    pub fn compile_now(&self) -> Result<(), String> {
        self.matcher().map(|_| ()).map_err(String::clone)
    }
}

impl Matcher {
    fn build(specs: &[PatternSpec], option: &str, captures: bool) -> Result<Matcher, String> {
        let mut each = Vec::with_capacity(specs.len());
        let mut alternation = Vec::with_capacity(specs.len());
        for spec in specs {
            let source = spec.regex_source();
            let regex = RegexBuilder::new(&source)
                .multi_line(true)
                .case_insensitive(spec.ignore_case)
                .build()
                .map_err(|e| format!("{}: {e}", spec.complaint("invalid regex")))?;
            alternation.push(format!("(?{}:{source})", if spec.ignore_case { "i" } else { "" }));
            each.push(regex);
        }
        let any = RegexBuilder::new(&alternation.join("|"))
            .multi_line(true)
            .build()
            .map_err(|e| format!("the patterns of {option} together are too large: {e}"))?;
        Ok(Matcher {
            any,
            each,
            sources: specs.iter().map(|s| s.text.clone()).collect(),
            line_by_line: specs.iter().any(anchored_to_haystack),
            captures,
        })
    }

    /// The first match in `hay[start..]`: newline-separated lines, of which
    /// the first starts at `start` (a byte before it is context: the cut-off
    /// part of a long line). The end of `hay` ends its last line, unless
    /// `open_end`, when a match that touches it is not trusted yet.
    fn find(&self, hay: &[u8], start: usize, open_end: bool) -> Option<Hit> {
        self.find_from(hay, start, start, open_end).map(|(hit, _)| hit)
    }

    /// The last match in `hay` (as for [`Matcher::find`]): one per line at most.
    fn find_last(&self, hay: &[u8], start: usize, open_end: bool) -> Option<Hit> {
        let mut from = start;
        let mut last = None;
        while let Some((hit, line_end)) = self.find_from(hay, start, from, open_end) {
            last = Some(hit);
            if line_end >= hay.len() {
                break;
            }
            from = line_end + 1;
        }
        last
    }

    /// The first match from the line that starts at `from` on, with the end of its line.
    fn find_from(&self, hay: &[u8], start: usize, from: usize, open_end: bool) -> Option<(Hit, usize)> {
        let mut from = from;
        let mut each_line = self.line_by_line;
        loop {
            let line_start = if each_line {
                from
            } else {
                // The alternation finds no match starting before the first
                // line that has one; a match across lines means "look at each".
                let m = self.any.find_at(hay, from)?;
                each_line = memchr(b'\n', m.as_bytes()).is_some();
                memrchr(b'\n', &hay[from..m.start()]).map_or(from, |i| from + i + 1)
            };
            let line_end = memchr(b'\n', &hay[line_start..]).map_or(hay.len(), |i| line_start + i);
            let context = if line_start == start {
                start.saturating_sub(1)
            } else {
                line_start
            };
            let open = open_end && line_end == hay.len();
            let line = &hay[context..line_end];
            if let Some(hit) = self.find_in_line(line, line_start - context, open, each_line) {
                return Some((hit, line_end));
            }
            if line_end == hay.len() {
                return None;
            }
            from = line_end + 1;
        }
    }

    /// Which pattern matches the line `line[from..]` (`line[..from]` is
    /// context), if any; `unsure` when the alternation has not looked yet.
    fn find_in_line(&self, line: &[u8], from: usize, open_end: bool, unsure: bool) -> Option<Hit> {
        if unsure && !self.any.is_match_at(line, from) {
            return None;
        }
        self.each.iter().enumerate().find_map(|(pattern, regex)| {
            let m = regex.find_at(line, from)?;
            (!(open_end && m.end() == line.len())).then(|| Hit {
                pattern,
                source: self.sources[pattern].clone(),
                text: String::from_utf8_lossy(m.as_bytes()).into_owned(),
                captured: self.captured(regex, line, from),
            })
        })
    }
}

impl Matcher {
    fn captured(&self, regex: &Regex, line: &[u8], from: usize) -> Option<String> {
        if !self.captures {
            return None;
        }
        let group = regex.captures_at(line, from)?.get(1)?;
        Some(String::from_utf8_lossy(group.as_bytes()).into_owned())
    }
}

/// Why a pattern that holds a newline is refused.
const NEVER_MATCHES: &str = "it holds a newline, and could never match: each line is matched alone";

/// Whether a pattern has no regex syntax at all (`ConcurrentModification`),
/// so that it is valid without parsing: a parse costs about a thousand
/// instructions per character, and a list may hold thousands of patterns.
fn is_plain_text(pattern: &str) -> bool {
    !pattern.chars().any(regex_syntax::is_meta_character)
}

/// The [`size_bound`] of a list above which it is compiled at once rather
/// than on first use. The regex engine refuses a pattern of about 350,000
/// units (`a{350000}`, or `\w{400}` at 6,200 units each), so this leaves a
/// margin of about 7.
const EAGER_ABOVE: u64 = 50_000;

/// An upper bound on the size of a pattern compiled, in units of about one
/// literal byte: a Unicode class counts 8 per range (`\w`'s 770 ranges take
/// the space of about 1,000 literal bytes), and a repetition its count times.
fn size_bound(hir: &Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => 8 * class.ranges().len() as u64,
        HirKind::Class(Class::Bytes(class)) => class.ranges().len() as u64,
        HirKind::Repetition(repetition) => {
            let count = u64::from(repetition.max.unwrap_or(repetition.min).max(1)) + 1;
            size_bound(&repetition.sub).saturating_mul(count)
        }
        HirKind::Capture(capture) => size_bound(&capture.sub).saturating_add(2),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().map(size_bound).fold(1, u64::saturating_add),
    }
}

/// Whether every match of `hir` holds a newline, which no line does: such
/// a pattern can never match.
fn needs_a_newline(hir: &Hir) -> bool {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(literal) => literal.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(class)) => class.ranges().iter().all(|r| r.start() == '\n' && r.end() == '\n'),
        HirKind::Class(Class::Bytes(class)) => class.ranges().iter().all(|r| r.start() == b'\n' && r.end() == b'\n'),
        HirKind::Repetition(repetition) => repetition.min > 0 && needs_a_newline(&repetition.sub),
        HirKind::Capture(capture) => needs_a_newline(&capture.sub),
        HirKind::Concat(subs) => subs.iter().any(needs_a_newline),
        HirKind::Alternation(subs) => subs.iter().all(needs_a_newline),
    }
}

/// Whether a pattern asserts the start or end of the whole text (`\A`,
/// `\z`, `^` or `$` outside multi-line mode), which a buffer of many lines
/// would read differently from one line.
fn anchored_to_haystack(spec: &PatternSpec) -> bool {
    if spec.fixed {
        return false;
    }
    let parsed = regex_syntax::ParserBuilder::new()
        .multi_line(true)
        .case_insensitive(spec.ignore_case)
        .build()
        .parse(&spec.text);
    parsed.is_ok_and(|hir| {
        let looks = hir.properties().look_set();
        looks.contains(Look::Start) || looks.contains(Look::End)
    })
}

/// Scans one output stream of one attempt for the first hit of its retry
/// patterns and of its abort patterns.
pub struct Scanner<'a> {
    /// The retry set, then the abort set, each with its first hit.
    sets: [Option<(&'a PatternSet, Option<Hit>)>; 2],
    /// The hint set, with its last hit.
    hints: Option<(&'a PatternSet, Option<Hit>)>,
    /// The unfinished line, or its last [`WINDOW`] bytes.
    carry: Vec<u8>,
    /// Whether `carry[0]` is only context: the byte before a truncated line's kept tail.
    carry_has_lead: bool,
    /// Why a set could not be compiled, if one could not.
    failed: Option<String>,
}

impl<'a> Scanner<'a> {
    pub fn new(retry: Option<&'a PatternSet>, abort: Option<&'a PatternSet>) -> Self {
        Scanner {
            sets: [retry.map(|s| (s, None)), abort.map(|s| (s, None))],
            hints: None,
            carry: Vec::new(),
            carry_has_lead: false,
            failed: None,
        }
    }

    /// Also looks for the last line that hints at a wait.
    pub(crate) fn with_hints(mut self, hints: Option<&'a PatternSet>) -> Self {
        self.hints = hints.map(|s| (s, None));
        self
    }

    /// Whether a set is still looking for its first hit, or hints for their last.
    pub(crate) fn is_searching(&self) -> bool {
        self.hints.is_some() || self.sets.iter().flatten().any(|(_, hit)| hit.is_none())
    }

    /// What the last hint captured.
    pub(crate) fn hint(&self) -> Option<&str> {
        self.hints.as_ref()?.1.as_ref()?.captured.as_deref()
    }

    pub fn retry_hit(&self) -> Option<&Hit> {
        self.sets[0].as_ref().and_then(|(_, hit)| hit.as_ref())
    }

    pub fn abort_hit(&self) -> Option<&Hit> {
        self.sets[1].as_ref().and_then(|(_, hit)| hit.as_ref())
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if !self.is_searching() {
            return;
        }
        let (Some(first_newline), Some(last_newline)) = (memchr(b'\n', chunk), memrchr(b'\n', chunk)) else {
            self.carry.extend_from_slice(chunk);
            self.trim_carry();
            return;
        };
        let mut whole_lines_from = 0;
        if !self.carry.is_empty() {
            self.carry.extend_from_slice(&chunk[..first_newline]);
            self.search_carry(false);
            whole_lines_from = first_newline + 1;
        }
        // The lines that begin and end in this chunk, without the last newline.
        if whole_lines_from <= last_newline {
            self.search(&chunk[whole_lines_from..last_newline], 0, false);
        }
        self.carry.extend_from_slice(&chunk[last_newline + 1..]);
        self.trim_carry();
    }

    /// Searches the last line, if the stream did not end with a newline.
    pub fn finish(&mut self) {
        if !self.carry.is_empty() {
            self.search_carry(false);
        }
    }

    /// Searches the carried line, which ends here (or, with `open_end`, goes on).
    fn search_carry(&mut self, open_end: bool) {
        let carry = std::mem::take(&mut self.carry);
        self.search(&carry, usize::from(self.carry_has_lead), open_end);
        self.carry = carry;
        self.carry.clear();
        self.carry_has_lead = false;
    }

    fn search(&mut self, hay: &[u8], start: usize, open_end: bool) {
        for (set, hit) in self.sets.iter_mut().flatten().filter(|(_, hit)| hit.is_none()) {
            match set.matcher() {
                Ok(matcher) => *hit = matcher.find(hay, start, open_end),
                Err(why) => _ = self.failed.get_or_insert_with(|| why.clone()),
            }
        }
        if let Some((set, last)) = &mut self.hints {
            match set.matcher() {
                Ok(matcher) => {
                    if let Some(hit) = matcher.find_last(hay, start, open_end) {
                        *last = Some(hit);
                    }
                }
                Err(why) => _ = self.failed.get_or_insert_with(|| why.clone()),
            }
        }
    }

    /// Why a pattern set could not be compiled when it was first needed.
    pub(crate) fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// Keeps an unfinished line bounded: once it passes twice the window,
    /// searches what there is, then keeps the last window and one byte of context.
    fn trim_carry(&mut self) {
        if self.carry.len() <= 2 * WINDOW {
            return;
        }
        let carry = std::mem::take(&mut self.carry);
        self.search(&carry, usize::from(self.carry_has_lead), true);
        let keep_from = carry.len() - WINDOW - 1;
        self.carry = carry;
        self.carry.drain(..keep_from);
        self.carry_has_lead = true;
    }
}

/// The first hits of a stream's two pattern sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hits {
    pub retry: Option<Hit>,
    pub abort: Option<Hit>,
    /// What the last hint line captured.
    pub hint: Option<String>,
    /// Why a pattern set could not be compiled when the output first needed it.
    pub failed: Option<String>,
}

/// How many buffers a [`ScanThread`] lets out at once: this bounds memory,
/// and paces the reader when matching falls behind.
const IN_FLIGHT: usize = 4;

/// A [`Scanner`] on a thread of its own, fed whole buffers, so that matching
/// runs beside the passing on of the output instead of after it. The buffers
/// come back for reuse. The thread starts with the first buffer: a command
/// that writes nothing costs no thread (start-up, bench/notes.md).
///
/// Nothing here blocks the caller, which is the runtime's one thread and
/// must go on handling signals and deadlines however slow matching is: a
/// spare buffer and the hits are awaited. Dropped before its hits came, the
/// scan is abandoned: the thread finishes the search at hand (one buffer),
/// skips the rest and ends, freeing its buffers.
pub(crate) struct ScanThread {
    /// What to scan for, until the thread starts and takes it.
    sets: Option<ScanSets>,
    chunks: Option<SyncSender<(Vec<u8>, usize)>>,
    spare: Option<mpsc::Receiver<Vec<u8>>>,
    hits: Option<oneshot::Receiver<Hits>>,
    abandoned: Arc<AtomicBool>,
    allocated: usize,
    size: usize,
    /// Why the thread could not be started.
    failed: Option<String>,
}

/// The retry, abort and hint patterns a [`ScanThread`] scans for.
type ScanSets = (Option<PatternSet>, Option<PatternSet>, Option<PatternSet>);

impl ScanThread {
    /// Scans for `retry`, `abort` and `hints`, with buffers of `size` bytes.
    pub(crate) fn new(
        retry: Option<PatternSet>,
        abort: Option<PatternSet>,
        hints: Option<PatternSet>,
        size: usize,
    ) -> Self {
        ScanThread {
            sets: Some((retry, abort, hints)),
            chunks: None,
            spare: None,
            hits: None,
            abandoned: Arc::default(),
            allocated: 0,
            size,
            failed: None,
        }
    }

    fn start(&mut self) {
        let Some((retry, abort, hints)) = self.sets.take() else {
            return;
        };
        let (chunks, incoming) = sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
        let (give_back, spare) = mpsc::channel::<Vec<u8>>(IN_FLIGHT);
        let (found, hits) = oneshot::channel::<Hits>();
        let abandoned = Arc::clone(&self.abandoned);
        let worker = std::thread::Builder::new().name("scan".into()).spawn(move || {
            let mut scanner = Scanner::new(retry.as_ref(), abort.as_ref()).with_hints(hints.as_ref());
            for (buffer, len) in incoming {
                if abandoned.load(Ordering::Relaxed) {
                    return;
                }
                scanner.feed(&buffer[..len]);
                let _ = give_back.try_send(buffer);
            }
            scanner.finish();
            let _ = found.send(Hits {
                retry: scanner.retry_hit().cloned(),
                abort: scanner.abort_hit().cloned(),
                hint: scanner.hint().map(str::to_string),
                failed: scanner.failed().map(str::to_string),
            });
        });
        match worker {
            Ok(_) => {
                self.chunks = Some(chunks);
                self.spare = Some(spare);
                self.hits = Some(hits);
            }
            Err(e) => self.failed = Some(format!("cannot start a thread to scan the output: {e}")),
        }
    }

    /// A buffer to read into: one given back, a new one while fewer than
    /// [`IN_FLIGHT`] exist, or else the next one the scanner gives back.
    pub(crate) async fn buffer(&mut self) -> Vec<u8> {
        if let Some(Ok(buffer)) = self.spare.as_mut().map(mpsc::Receiver::try_recv) {
            return buffer;
        }
        if self.allocated < IN_FLIGHT {
            self.allocated += 1;
            return vec![0; self.size];
        }
        let given_back = match &mut self.spare {
            Some(spare) => spare.recv().await,
            None => None,
        };
        given_back.unwrap_or_else(|| vec![0; self.size])
    }

    /// Hands over the first `len` bytes of `buffer` for scanning. Never
    /// waits: at most [`IN_FLIGHT`] buffers exist, and the channel holds them all.
    pub(crate) fn scan(&mut self, buffer: Vec<u8>, len: usize) {
        self.start();
        if let Some(chunks) = &self.chunks {
            let _ = chunks.try_send((buffer, len));
        }
    }

    /// Waits for everything handed over to be scanned.
    pub(crate) async fn finish(mut self) -> Hits {
        self.chunks = None;
        let hits = match self.hits.take() {
            Some(hits) => hits.await.ok(),
            None => None,
        };
        Hits {
            failed: self.failed.take(),
            ..Default::default()
        }
        .or(hits)
    }
}

impl Drop for ScanThread {
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

impl Hits {
    /// `other` if this holds no failure, else this.
    fn or(self, other: Option<Hits>) -> Hits {
        match (self.failed.is_some(), other) {
            (false, Some(other)) => other,
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(text: &str, fixed: bool, ignore_case: bool) -> PatternSpec {
        PatternSpec {
            text: text.into(),
            fixed,
            ignore_case,
            origin: PatternOrigin::Flag("--pattern"),
            source: "flag".into(),
            trusted: false,
        }
    }

    /// The scanner's tests take any pattern, those that `-p` would refuse
    /// (`a*`, which matches every line) too: as trusted, they are not checked.
    fn set(patterns: &[&str]) -> PatternSet {
        let trusted = |p: &&str| PatternSpec {
            trusted: true,
            ..spec(p, false, false)
        };
        let specs: Vec<PatternSpec> = patterns.iter().map(trusted).collect();
        PatternSet::compile(&specs, "-p").unwrap().unwrap()
    }

    fn scan(set: &PatternSet, chunks: &[&[u8]]) -> Option<Hit> {
        let mut scanner = Scanner::new(Some(set), None);
        for chunk in chunks {
            scanner.feed(chunk);
        }
        scanner.finish();
        scanner.retry_hit().cloned()
    }

    fn index(set: &PatternSet, chunks: &[&[u8]]) -> Option<usize> {
        scan(set, chunks).map(|h| h.pattern)
    }

    #[test]
    fn finds_the_pattern_that_matched() {
        let s = set(&["Throttling", "ConcurrentModification"]);
        let hit = scan(&s, &[b"ok\nAn error occurred (ConcurrentModification) when\n"]).unwrap();
        assert_eq!(hit.pattern, 1);
        assert_eq!(hit.text, "ConcurrentModification");
        assert_eq!(index(&s, &[b"nothing here\n"]), None);
    }

    #[test]
    fn a_line_split_across_reads_still_matches() {
        let s = set(&["^Concurrent Modification$"]);
        assert_eq!(index(&s, &[b"x\nConcur", b"rent Mod", b"ification\ny\n"]), Some(0));
        assert_eq!(
            index(&s, &[b"Concur", b"rent Modification"]),
            Some(0),
            "last line without newline"
        );
    }

    #[test]
    fn anchors_are_line_anchors() {
        let s = set(&["^error$"]);
        assert_eq!(index(&s, &[b"an error\n"]), None);
        assert_eq!(index(&s, &[b"first\nerror\nlast\n"]), Some(0));
        assert_eq!(index(&s, &[b"err", b"or\n"]), Some(0));
    }

    #[test]
    fn matches_never_span_lines() {
        let s = set(&[r"foo\s+bar", "[^x]+baz"]);
        assert_eq!(index(&s, &[b"foo\nbar\n"]), None);
        assert_eq!(index(&s, &[b"foo\nbar\nfoo  bar\n"]), Some(0));
        assert_eq!(index(&s, &[b"a\nbaz\n"]), None, "[^x]+ must not eat the newline");
        assert_eq!(index(&s, &[b"a\nab baz\n"]), Some(1));
    }

    #[test]
    fn invalid_utf8_does_not_stop_a_match() {
        let s = set(&["Throttling"]);
        assert_eq!(index(&s, &[b"\xff\xfe (Throttling) \xc3\x28\n"]), Some(0));
    }

    #[test]
    fn fixed_strings_and_ignore_case() {
        let s = PatternSet::compile(&[spec("a.c(", true, false), spec("slowdown", false, true)], "-p")
            .unwrap()
            .unwrap();
        assert_eq!(index(&s, &[b"abc(\n"]), None);
        assert_eq!(index(&s, &[b"x a.c( y\n"]), Some(0));
        assert_eq!(index(&s, &[b"SlowDown\n"]), Some(1));
        let strict = PatternSet::compile(&[spec("slowdown", false, false)], "-p")
            .unwrap()
            .unwrap();
        assert_eq!(index(&strict, &[b"SlowDown\n"]), None);
    }

    #[test]
    fn a_bad_regex_names_itself() {
        let err = PatternSet::compile(&[spec("a(b", false, false)], "--pattern").unwrap_err();
        assert!(err.contains("\"a(b\"") && err.contains("--pattern"), "{err}");
        let in_file = PatternSpec {
            origin: PatternOrigin::File("config f.toml, line 3, column 13, key patterns".into()),
            ..spec("a(b", false, false)
        };
        let err = PatternSet::compile(&[in_file], "--pattern").unwrap_err();
        assert!(
            err.starts_with("config f.toml, line 3, column 13, key patterns: invalid regex \"a(b\""),
            "{err}"
        );
    }

    /// Checking a list only parses it; the matcher is built when output
    /// first needs it, and one the engine refuses is reported then.
    #[test]
    fn a_list_is_compiled_when_first_needed_and_a_refusal_is_reported() {
        let s = set(&["Throttling"]);
        assert!(s.matcher.get().is_none(), "compiled before any output");
        assert_eq!(index(&s, &[b"(Throttling)\n"]), Some(0));
        assert!(s.matcher.get().is_some());

        let huge = PatternSet::compile(&[spec(r"\w{1000}{1000}", false, false)], "--pattern").unwrap_err();
        assert!(huge.contains("exceeds size limit"), "refused at once: {huge}");
    }

    /// The bound that decides when to compile at once must stay above what
    /// the engine takes: a list just under it compiles.
    #[test]
    fn a_list_just_under_the_eager_bound_compiles() {
        for pattern in [r"\w{5}", "a{49990}", r"(?i)\w{3}[a-z]{40}"] {
            let specs = [spec(pattern, false, false)];
            assert!(size_bound(&specs[0].parse().unwrap()) <= EAGER_ABOVE, "{pattern}");
            let set = PatternSet::compile(&specs, "-p").unwrap().unwrap();
            assert!(set.matcher.get().is_none(), "{pattern} compiled at once");
            set.compile_now().unwrap();
        }
    }

    #[test]
    fn plain_text_is_told_from_regex_syntax() {
        assert!(is_plain_text("ServiceError0042: the request was refused"));
        assert!(is_plain_text("Connection reset by peer"));
        for pattern in ["a(b", r"\d", "x*", "a.b", "^a", "a|b", "(?x)a b", "a{2}", "[ab]", "a#b"] {
            assert!(!is_plain_text(pattern), "{pattern}");
        }
    }

    #[test]
    fn a_bytes_pattern_that_is_not_utf8_is_valid() {
        assert_eq!(index(&set(&[r"(?-u:\xFF)x"]), &[b"a\xFFx\n"]), Some(0));
    }

    #[test]
    fn a_huge_line_is_searched_as_it_streams_and_stays_bounded() {
        let s = set(&["NEEDLE", "^start"]);
        let filler = vec![b'x'; 10_000];
        let mut scanner = Scanner::new(Some(&s), None);
        scanner.feed(b"start");
        for _ in 0..1000 {
            scanner.feed(&filler);
            assert!(scanner.carry.len() <= 2 * WINDOW + filler.len());
        }
        scanner.feed(b"NEE");
        scanner.feed(b"DLE");
        scanner.feed(&filler);
        scanner.finish();
        // "^start" matched first, on the line's start; NEEDLE is not needed after that.
        assert_eq!(scanner.retry_hit().unwrap().pattern, 1);

        // `^` must not match where a truncated line's kept tail happens to begin.
        let anchored = set(&["^x+NEEDLE"]);
        let mut big = vec![b'y'];
        big.extend(vec![b'x'; 5 * WINDOW]);
        big.extend(b"NEEDLE\n");
        assert_eq!(index(&anchored, &big.chunks(4096).collect::<Vec<_>>()), None);
        assert_eq!(index(&set(&["NEEDLE"]), &big.chunks(4096).collect::<Vec<_>>()), Some(0));
    }

    #[test]
    fn end_anchor_is_not_fooled_by_an_unfinished_line() {
        let s = set(&["x$"]);
        let mut chunks: Vec<Vec<u8>> = (0..10).map(|_| vec![b'x'; WINDOW]).collect();
        chunks.push(b"y\n".to_vec());
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        assert_eq!(index(&s, &refs), None);
    }

    #[test]
    fn each_set_reports_its_own_first_hit() {
        let retry = set(&["Throttling"]);
        let abort = set(&["AccessDenied"]);
        let mut scanner = Scanner::new(Some(&retry), Some(&abort));
        scanner.feed(b"(Throttling)\n");
        assert!(scanner.is_searching());
        scanner.feed(b"(AccessDenied)\n");
        assert!(!scanner.is_searching());
        assert_eq!(scanner.retry_hit().unwrap().text, "Throttling");
        assert_eq!(scanner.abort_hit().unwrap().text, "AccessDenied");
        assert_eq!(scanner.abort_hit().unwrap().source, "AccessDenied");
    }

    #[test]
    fn a_scan_thread_finds_hits_across_buffers_and_recycles_them() {
        let mut scan = ScanThread::new(
            Some(set(&["Concurrent Modification"])),
            Some(set(&["Denied"])),
            None,
            16,
        );
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for piece in [&b"x\nConcurr"[..], b"ent Mo", b"dificati", b"on\nok\n"] {
            let mut buffer = runtime.block_on(scan.buffer());
            assert_eq!(buffer.len(), 16);
            buffer[..piece.len()].copy_from_slice(piece);
            scan.scan(buffer, piece.len());
        }
        assert!(scan.allocated <= IN_FLIGHT);
        let hits = runtime.block_on(scan.finish());
        assert_eq!(hits.retry.unwrap().text, "Concurrent Modification");
        assert_eq!(hits.abort, None);
    }

    /// `-p '()'`, `.*` or `$` matched every line, a fatal error's too, and
    /// so retried every failure that printed anything.
    #[test]
    fn a_pattern_that_matches_every_line_is_refused() {
        for text in ["()", "|", ".*", "a*", "$", "^", "(foo)?"] {
            let error = PatternSet::compile(&[spec(text, false, false)], "-p").unwrap_err();
            assert!(error.ends_with("it would match every line"), "{text}: {error}");
        }
        // Those that can match nothing at all, but not on every line, are fine.
        for text in ["^$", r"\b", "(?i)^x*$", "a|^b*$", "^[^:]*$", "^[^=]*$", "^.{0,3}$"] {
            assert!(PatternSet::compile(&[spec(text, false, false)], "-p").is_ok(), "{text}");
        }
    }

    /// `-p $'a\nb'` was taken, and could never match: each line is matched alone.
    #[test]
    fn a_pattern_that_needs_a_newline_is_refused() {
        for (text, fixed) in [
            ("a\nb", false),
            ("a\nb", true),
            (r"a\nb", false),
            (r"x[\n]", false),
            (r"(a\n|b\n)+", false),
        ] {
            let error = PatternSet::compile(&[spec(text, fixed, false)], "-p").unwrap_err();
            assert!(error.ends_with("each line is matched alone"), "{text}: {error}");
        }
        for text in ["(?x)a\n b", r"a\s*b", r"(a\n)?b", r"a|\n"] {
            assert!(PatternSet::compile(&[spec(text, false, false)], "-p").is_ok(), "{text}");
        }
    }

    /// `-p ""` and `patterns = [""]` matched every line, silently.
    #[test]
    fn an_empty_pattern_is_refused_where_it_was_written() {
        let mut empty = spec("", false, false);
        let error = PatternSet::compile(std::slice::from_ref(&empty), "-p").unwrap_err();
        assert_eq!(error, "empty pattern \"\" in --pattern: it would match every line");
        empty.origin = PatternOrigin::File("config c.toml, line 2, column 13, key patterns".into());
        let error = PatternSet::compile(&[spec("ok", false, false), empty], "-p").unwrap_err();
        assert!(
            error.starts_with("config c.toml, line 2, column 13, key patterns: empty pattern"),
            "{error}"
        );
    }

    /// `-p '^$'` matched `x\n`: the buffer's end after the last newline was
    /// taken for an empty line.
    #[test]
    fn an_empty_match_after_the_last_newline_is_no_line() {
        let empty = set(&["^$"]);
        assert_eq!(index(&empty, &[b"x\n"]), None);
        assert_eq!(index(&empty, &[b"x\ny"]), None);
        assert_eq!(index(&empty, &[b"x\n", b"y\n"]), None);
        assert_eq!(index(&empty, &[b"x\n\ny\n"]), Some(0), "a real empty line");
        assert_eq!(index(&empty, &[b"\n"]), Some(0), "one empty line");
        let no_colon = set(&["^[^:]*$"]);
        assert_eq!(index(&no_colon, &[b"error: Throttling\n"]), None);
    }

    /// `\A` and `(?-m)^` matched or not depending on how the writes were split.
    #[test]
    fn text_anchors_are_line_anchors_however_the_writes_are_split() {
        for pattern in [r"\Aerror", "(?-m)^error", r"error\z", "(?-m)error$"] {
            let s = set(&[pattern]);
            assert_eq!(index(&s, &[b"ok\nerror\nok\n"]), Some(0), "{pattern}");
            assert_eq!(index(&s, &[b"ok\n", b"error\n"]), Some(0), "{pattern}");
            assert_eq!(index(&s, &[b"an error is here\n"]), None, "{pattern}");
        }
    }

    /// Lines as the rule defines them: between newlines, the last one only if
    /// something follows the last newline.
    fn lines_of(text: &[u8]) -> Vec<&[u8]> {
        let mut lines: Vec<&[u8]> = text.split(|b| *b == b'\n').collect();
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
    }

    /// The reference: each regex run on each line alone.
    fn reference(patterns: &[String], text: &[u8]) -> Option<(usize, String)> {
        let regexes: Vec<Regex> = patterns
            .iter()
            .map(|p| RegexBuilder::new(p).multi_line(true).build().unwrap())
            .collect();
        lines_of(text).into_iter().find_map(|line| {
            regexes.iter().enumerate().find_map(|(i, r)| {
                r.find(line)
                    .map(|m| (i, String::from_utf8_lossy(m.as_bytes()).into_owned()))
            })
        })
    }

    fn pattern_grammar() -> impl Strategy<Value = String> {
        let atom = prop::sample::select(vec![
            "a", "b", "x", ":", " ", ".", r"\s", "[^x]", "(?s).", "^", "$", r"\A", r"\z", "(?-m)^", "(?-m)$", r"\b",
            "[ab]", "",
        ]);
        let quantifier = prop::sample::select(vec!["", "", "*", "+", "?"]);
        prop::collection::vec((atom, quantifier), 1..5)
            .prop_map(|parts| parts.into_iter().map(|(a, q)| format!("{a}{q}")).collect::<String>())
            // An empty pattern is refused; patterns that match an empty string are not.
            .prop_filter("a valid regex, not empty", |p| !p.is_empty() && Regex::new(p).is_ok())
    }

    fn text_grammar() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop::sample::select(b"abx: \t\n\n".to_vec());
        prop::collection::vec(byte, 0..40)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Matching is a pure function of each line's bytes, however the
        /// stream is split.
        #[test]
        fn the_scanner_agrees_with_each_line_alone(
            patterns in prop::collection::vec(pattern_grammar(), 1..4),
            text in text_grammar(),
            cuts in prop::collection::vec(0usize..40, 0..6),
        ) {
            let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let compiled = set(&refs);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([text.len()]) {
                chunks.push(&text[at..cut]);
                at = cut;
            }
            let got = scan(&compiled, &chunks).map(|hit| (hit.pattern, hit.text));
            prop_assert_eq!(got, reference(&patterns, &text));
        }
    }
}
