//! A local stand-in for the AWS IAM Query API, good enough for the AWS CLI
//! (`aws --endpoint-url http://127.0.0.1:PORT iam ...`) and for `curl`.
//!
//! std only, on the tests' HTTP server (support/http.rs: one thread accepts,
//! one thread per connection, keep-alive, chunked bodies).
//!
//! Supported actions: GetUser, UpdateUser, PutUserPolicy, GetUserPolicy,
//! DeleteUserPolicy, ListUserPolicies, TagUser, UntagUser, ListUserTags,
//! CreateAccessKey, DeleteAccessKey, ListAccessKeys.
//! Modifying actions (UpdateUser, PutUserPolicy, DeleteUserPolicy, TagUser,
//! UntagUser, CreateAccessKey, DeleteAccessKey) are subject to the configured
//! [`Conflict`] mode, and to [`Config::lose`]: a write that is applied but
//! whose response never reaches the client (see [`Lost`]).
//!
//! As in IAM, a user has at most [`MAX_ACCESS_KEYS`] access keys: one more
//! CreateAccessKey answers 409 LimitExceeded.
//!
//! A test can act as another client of the same account, synchronously,
//! from inside the endpoint: [`Server::on_call`] runs a closure after each
//! call has been decided and before its response is written.
//!
//! Control routes (not IAM): `GET /_counts` (plain text), `GET /_counts.json`
//! (or `/_counts?format=json`), `POST /_reset`.
//!
//! Include it with `#[path = "support/iam.rs"] mod iam;`, beside
//! `#[path = "support/http.rs"] mod http;`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http;

pub const XMLNS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
pub const ACCOUNT_ID: &str = "123456789012";
pub const MAX_ACCESS_KEYS: usize = 2;
pub const LIMIT_MESSAGE: &str = "Cannot exceed quota for AccessKeysPerUser: 2";
pub const INTERNAL_FAILURE_MESSAGE: &str = "We encountered an internal error. Please try again.";
pub const CONFLICT_MESSAGE: &str = "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.";

/// How modifying calls conflict. Applies per user (entity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conflict {
    /// Never answer ConcurrentModification.
    #[default]
    None,
    /// The first N modifying calls on each user answer ConcurrentModification.
    FirstN(u32),
    /// Each modifying call holds its user for this long (the server sleeps
    /// while holding it); another modifying call on the same user arriving
    /// meanwhile answers ConcurrentModification at once.
    Hold(Duration),
}

/// How the response to a write that has been applied is lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The connection is closed without a byte of response (botocore:
    /// "Connection was closed before we received a valid response from
    /// endpoint URL").
    Close,
    /// 500 InternalFailure (Type Receiver), as IAM answers when it fails
    /// after the change is stored.
    InternalFailure,
}

/// The first `first_n` successful writes on each user are applied (stored,
/// counted as [`Outcome::Lost`]) and then their response is lost `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lose {
    pub how: Lost,
    pub first_n: u32,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// Known users; each starts with path `/`, no policies, no tags.
    pub users: Vec<String>,
    pub conflict: Conflict,
    /// Every call naming one of these users answers 403 AccessDenied.
    pub deny_users: Vec<String>,
    /// Every call of one of these actions answers 403 AccessDenied.
    pub deny_actions: Vec<String>,
    /// Applied writes whose response is lost; `None`: every response arrives.
    pub lose: Option<Lose>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            users: vec!["alice".to_string()],
            conflict: Conflict::None,
            deny_users: Vec::new(),
            deny_actions: Vec::new(),
            lose: None,
        }
    }
}

impl Config {
    /// `alice` only, no conflicts, nothing denied.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn users(mut self, users: &[&str]) -> Self {
        self.users = users.iter().map(|u| u.to_string()).collect();
        self
    }
    pub fn first_n(mut self, n: u32) -> Self {
        self.conflict = Conflict::FirstN(n);
        self
    }
    pub fn hold(mut self, hold: Duration) -> Self {
        self.conflict = Conflict::Hold(hold);
        self
    }
    pub fn deny_action(mut self, action: &str) -> Self {
        self.deny_actions.push(action.to_string());
        self
    }
    /// The first `n` successful writes on each user are applied and their
    /// response is lost `how`.
    pub fn lose_first(mut self, n: u32, how: Lost) -> Self {
        self.lose = Some(Lose { how, first_n: n });
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Ok,
    /// 409 ConcurrentModification
    Conflict,
    /// 404 NoSuchEntity
    NotFound,
    /// 403 AccessDenied
    Denied,
    /// 400 (unknown action, missing parameter) or 409 EntityAlreadyExists
    Invalid,
    /// 409 LimitExceeded (e.g. a third access key)
    Limit,
    /// The write was applied, but its response was lost (connection closed,
    /// or 500 InternalFailure): see [`Lose`].
    Lost,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::Conflict,
        Outcome::NotFound,
        Outcome::Denied,
        Outcome::Invalid,
        Outcome::Limit,
        Outcome::Lost,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Conflict => "conflict",
            Outcome::NotFound => "not-found",
            Outcome::Denied => "denied",
            Outcome::Invalid => "invalid",
            Outcome::Limit => "limit",
            Outcome::Lost => "lost",
        }
    }
}

/// Snapshot of call counts keyed by (user, action, outcome). Calls that name
/// no user are counted under user `-`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub by_key: BTreeMap<(String, String, Outcome), u64>,
}

impl Counts {
    pub fn get(&self, user: &str, action: &str, outcome: Outcome) -> u64 {
        self.sum(|u, a, o| u == user && a == action && o == outcome)
    }
    /// All calls of `action` on `user`, whatever the outcome.
    pub fn calls(&self, user: &str, action: &str) -> u64 {
        self.sum(|u, a, _| u == user && a == action)
    }
    /// All calls with this outcome on any user.
    pub fn outcome_total(&self, outcome: Outcome) -> u64 {
        self.sum(|_, _, o| o == outcome)
    }
    pub fn total(&self) -> u64 {
        self.sum(|_, _, _| true)
    }
    fn sum(&self, f: impl Fn(&str, &str, Outcome) -> bool) -> u64 {
        self.by_key
            .iter()
            .filter(|((u, a, o), _)| f(u, a, *o))
            .map(|(_, n)| n)
            .sum()
    }
}

/// One IAM call as the server saw it (in arrival order of the decision).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub action: String,
    /// `-` when the call named no user.
    pub user: String,
    pub outcome: Outcome,
    /// Decoded form parameters, in the order sent.
    pub params: Vec<(String, String)>,
}

impl Call {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// One access key of a user, as ListAccessKeys shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// `Active` (the only status this endpoint gives).
    pub status: String,
    pub create_date: String,
}

#[derive(Clone, Debug, Default)]
struct User {
    path: String,
    policies: BTreeMap<String, String>,
    tags: Vec<(String, String)>,
    access_keys: Vec<AccessKey>,
    /// Modifying calls seen (for Conflict::FirstN).
    modifying_calls: u64,
    /// Successful writes whose response was lost (for Config::lose).
    lost_responses: u64,
    /// Held by an in-flight modifying call (for Conflict::Hold).
    busy: bool,
}

impl User {
    fn new() -> Self {
        User {
            path: "/".to_string(),
            ..User::default()
        }
    }
}

#[derive(Default)]
struct State {
    users: BTreeMap<String, User>,
    counts: Counts,
    log: Vec<Call>,
    /// Access keys created so far (for their ids), over all users.
    keys_created: u64,
}

/// The endpoint's state as a [`Server::on_call`] closure sees it: the test,
/// as another client of the account, changes it here.
pub struct Store<'a> {
    st: &'a mut State,
}

impl Store<'_> {
    /// What another writer's UpdateUser --new-path would store. False if
    /// there is no such user.
    pub fn set_user_path(&mut self, user: &str, path: &str) -> bool {
        match self.st.users.get_mut(user) {
            Some(u) => {
                u.path = path.to_string();
                true
            }
            None => false,
        }
    }
}

type CallHook = Box<dyn FnMut(&Call, &mut Store<'_>) + Send>;

struct Shared {
    config: Config,
    state: Mutex<State>,
    next_id: AtomicU64,
    seed: u64,
    hook: Mutex<Option<CallHook>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the whole server down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn request_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let s = self.seed;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (s >> 32) as u32,
            (s >> 16) as u16,
            (s & 0xfff) as u16,
            ((s >> 12) & 0xfff) as u16,
            n
        )
    }
    fn reset(&self) {
        let mut st = self.lock();
        *st = State::default();
        for u in &self.config.users {
            st.users.insert(u.clone(), User::new());
        }
    }
}

/// A running endpoint, on the shared HTTP server (support/http.rs).
/// Dropping it stops the listener and closes open connections.
pub struct Server {
    http: http::Server,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds 127.0.0.1 on an ephemeral port. Panics if it cannot bind.
    pub fn start(config: Config) -> Server {
        Server::bind(config, 0).expect("iam endpoint: bind 127.0.0.1:0")
    }

    /// Binds 127.0.0.1:`port` (0 = ephemeral).
    pub fn bind(config: Config, port: u16) -> io::Result<Server> {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ ((std::process::id() as u64) << 32);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            seed,
            hook: Mutex::new(None),
        });
        shared.reset();
        let routes = Arc::clone(&shared);
        let http = http::Server::bind(port, move |req| route(&routes, req).into_http())?;
        Ok(Server { http, shared })
    }

    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// `http://127.0.0.1:PORT`, for `aws --endpoint-url`.
    pub fn url(&self) -> String {
        self.http.url()
    }

    pub fn counts(&self) -> Counts {
        self.shared.lock().counts.clone()
    }

    /// The PolicyDocument of every PutUserPolicy call on `user` (whatever its
    /// outcome, conflicts included), in order.
    pub fn policy_documents(&self, user: &str) -> Vec<String> {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|c| c.action == "PutUserPolicy" && c.user == user)
            .filter_map(|c| c.param("PolicyDocument").map(str::to_string))
            .collect()
    }

    /// Current path of `user`, `None` if unknown.
    pub fn user_path(&self, user: &str) -> Option<String> {
        self.shared.lock().users.get(user).map(|u| u.path.clone())
    }

    /// Current policy document stored under (`user`, `policy`).
    pub fn user_policy(&self, user: &str, policy: &str) -> Option<String> {
        self.shared
            .lock()
            .users
            .get(user)
            .and_then(|u| u.policies.get(policy).cloned())
    }

    /// `user`'s access keys, oldest first; `None` if unknown.
    pub fn access_keys(&self, user: &str) -> Option<Vec<AccessKey>> {
        self.shared.lock().users.get(user).map(|u| u.access_keys.clone())
    }

    /// Runs `f` after every IAM call has been decided, counted and logged,
    /// and before its response is written: whatever `f` changes in the
    /// store has happened before the client learns the call's outcome. `f`
    /// runs with the endpoint's state locked (calls are serialised); it
    /// replaces any earlier closure.
    pub fn on_call(&self, f: impl FnMut(&Call, &mut Store<'_>) + Send + 'static) {
        *self.shared.hook.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
    }
}

/// What the IAM routes answer, before it becomes an HTTP response.
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    request_id: Option<String>,
    /// Close the connection instead of answering (a lost response).
    close: bool,
}

impl Answer {
    fn into_http(self) -> http::Response {
        if self.close {
            // The write is stored; the client gets no byte of an answer.
            return http::Response::hang_up();
        }
        let response = http::Response::new(self.status, self.content_type, self.body);
        match self.request_id {
            Some(id) => response.with_header("x-amzn-RequestId", &id),
            None => response,
        }
    }
}

// ---------------------------------------------------------------- routing

fn route(shared: &Shared, req: &http::Request) -> Answer {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    // Absolute-form targets (`http://host/path`) and doubled slashes.
    let path = path
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(path);
    let path = format!("/{}", path.trim_start_matches('/'));
    match path.as_str() {
        "/_counts" | "/_counts.json" => {
            let json = path.ends_with(".json")
                || parse_form(query.as_bytes())
                    .iter()
                    .any(|(k, v)| k == "format" && v == "json");
            let st = shared.lock();
            if json {
                Answer {
                    status: 200,
                    content_type: "application/json",
                    body: counts_json(&st),
                    request_id: None,
                    close: false,
                }
            } else {
                Answer {
                    status: 200,
                    content_type: "text/plain",
                    body: counts_text(&st),
                    request_id: None,
                    close: false,
                }
            }
        }
        "/_reset" => {
            shared.reset();
            Answer {
                status: 200,
                content_type: "text/plain",
                body: "reset\n".into(),
                request_id: None,
                close: false,
            }
        }
        _ if req.method.eq_ignore_ascii_case("POST") => {
            let mut params = parse_form(&req.body);
            // The Query protocol also allows parameters in the URL.
            params.extend(parse_form(query.as_bytes()));
            iam(shared, params)
        }
        _ => Answer {
            status: 405,
            content_type: "text/plain",
            body: "use POST for IAM actions, GET /_counts for counts\n".into(),
            request_id: None,
            close: false,
        },
    }
}

fn counts_text(st: &State) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "total {}", st.counts.total());
    for o in Outcome::ALL {
        let _ = writeln!(out, "{} {}", o.as_str(), st.counts.outcome_total(o));
    }
    for ((u, a, o), n) in &st.counts.by_key {
        let _ = writeln!(out, "call {u} {a} {} {n}", o.as_str());
    }
    for (user, received, distinct) in policy_doc_stats(st) {
        let _ = writeln!(out, "policy-documents {user} {received} {distinct}");
    }
    out
}

fn counts_json(st: &State) -> String {
    let mut out = format!("{{\"total\":{}", st.counts.total());
    for o in Outcome::ALL {
        let _ = write!(out, ",\"{}\":{}", o.as_str(), st.counts.outcome_total(o));
    }
    out.push_str(",\"calls\":[");
    for (i, ((u, a, o), n)) in st.counts.by_key.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"user\":{},\"action\":{},\"outcome\":\"{}\",\"count\":{n}}}",
            json_str(u),
            json_str(a),
            o.as_str()
        );
    }
    out.push_str("],\"policy_documents\":[");
    for (i, (user, received, distinct)) in policy_doc_stats(st).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"user\":{},\"received\":{received},\"distinct\":{distinct}}}",
            json_str(&user)
        );
    }
    out.push_str("]}\n");
    out
}

/// (user, PutUserPolicy documents received, distinct documents).
fn policy_doc_stats(st: &State) -> Vec<(String, usize, usize)> {
    let mut per_user: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &st.log {
        if c.action == "PutUserPolicy"
            && let Some(d) = c.param("PolicyDocument")
        {
            per_user.entry(&c.user).or_default().push(d);
        }
    }
    per_user
        .into_iter()
        .map(|(u, mut docs)| {
            let n = docs.len();
            docs.sort_unstable();
            docs.dedup();
            (u.to_string(), n, docs.len())
        })
        .collect()
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// application/x-www-form-urlencoded: `&`-separated, `+` is space, %XX.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let k = percent_decode(it.next().unwrap_or(b""));
            let v = percent_decode(it.next().unwrap_or(b""));
            (k, v)
        })
        .collect()
}

pub fn percent_decode(s: &[u8]) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (as IAM
/// does for policy documents in responses).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------- IAM

const READ_ACTIONS: &[&str] = &[
    "GetUser",
    "GetUserPolicy",
    "ListUserPolicies",
    "ListUserTags",
    "ListAccessKeys",
];
const MODIFY_ACTIONS: &[&str] = &[
    "UpdateUser",
    "PutUserPolicy",
    "DeleteUserPolicy",
    "TagUser",
    "UntagUser",
    "CreateAccessKey",
    "DeleteAccessKey",
];

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `Prefix.member.N.Suffix` values in N order (Suffix empty for plain lists).
fn members(params: &[(String, String)], prefix: &str, suffix: &str) -> Vec<(u32, String)> {
    let head = format!("{prefix}.member.");
    let mut out: Vec<(u32, String)> = params
        .iter()
        .filter_map(|(k, v)| {
            let rest = k.strip_prefix(&head)?;
            let (n, s) = rest.split_once('.').unwrap_or((rest, ""));
            (s == suffix).then(|| Some((n.parse().ok()?, v.clone())))?
        })
        .collect();
    out.sort_by_key(|(n, _)| *n);
    out
}

/// IAM's answer to a request that lacks a required parameter (`field` as IAM spells it, e.g. `userName`).
fn missing_parameter(field: &str) -> String {
    format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    )
}

fn missing_response(shared: &Shared, field: &str) -> (Outcome, Answer) {
    (
        Outcome::Invalid,
        error_response(shared, 400, "Sender", "ValidationError", &missing_parameter(field)),
    )
}

fn error_response(shared: &Shared, status: u16, typ: &str, code: &str, msg: &str) -> Answer {
    let id = shared.request_id();
    Answer {
        status,
        content_type: "text/xml",
        body: format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{typ}</Type>\n    <Code>{code}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{id}</RequestId>\n</ErrorResponse>\n",
            xml_escape(msg)
        ),
        request_id: Some(id),
        close: false,
    }
}

fn ok_response(shared: &Shared, action: &str, result: Option<String>) -> Answer {
    let id = shared.request_id();
    let result = result
        .map(|r| format!("  <{action}Result>\n{r}  </{action}Result>\n"))
        .unwrap_or_default();
    Answer {
        status: 200,
        content_type: "text/xml",
        body: format!(
            "<{action}Response xmlns=\"{XMLNS}\">\n{result}  <ResponseMetadata>\n    <RequestId>{id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
        ),
        request_id: Some(id),
        close: false,
    }
}

fn user_id(name: &str) -> String {
    // Stable, IAM-looking id: AIDA + 17 chars of [A-Z2-7].
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut id = String::from("AIDA");
    for i in 0..17 {
        let x = h.rotate_left(i * 5) ^ (i as u64).wrapping_mul(0x9e3779b97f4a7c15);
        id.push(alphabet[(x & 31) as usize] as char);
    }
    id
}

fn user_xml(name: &str, u: &User) -> String {
    let mut tags = String::new();
    if !u.tags.is_empty() {
        tags.push_str("      <Tags>\n");
        for (k, v) in &u.tags {
            let _ = writeln!(
                tags,
                "        <member>\n          <Key>{}</Key>\n          <Value>{}</Value>\n        </member>",
                xml_escape(k),
                xml_escape(v)
            );
        }
        tags.push_str("      </Tags>\n");
    }
    format!(
        "    <User>\n      <Path>{path}</Path>\n      <UserName>{name}</UserName>\n      <UserId>{id}</UserId>\n      <Arn>arn:aws:iam::{ACCOUNT_ID}:user{path}{name}</Arn>\n      <CreateDate>2024-01-01T00:00:00Z</CreateDate>\n{tags}    </User>\n",
        path = xml_escape(&u.path),
        name = xml_escape(name),
        id = user_id(name),
    )
}

fn iam(shared: &Shared, params: Vec<(String, String)>) -> Answer {
    let action = param(&params, "Action").unwrap_or("").to_string();
    let user = param(&params, "UserName").map(str::to_string);
    let counted_user = user.clone().unwrap_or_else(|| "-".to_string());

    let (mut outcome, mut resp) = decide(shared, &action, user.as_deref(), &params);

    let mut st = shared.lock();
    // A write that was applied may still lose its response.
    if outcome == Outcome::Ok
        && MODIFY_ACTIONS.contains(&action.as_str())
        && let Some(lose) = shared.config.lose
        && let Some(u) = user.as_deref().and_then(|n| st.users.get_mut(n))
        && u.lost_responses < lose.first_n as u64
    {
        u.lost_responses += 1;
        outcome = Outcome::Lost;
        resp = match lose.how {
            Lost::Close => Answer {
                status: 0,
                content_type: "text/plain",
                body: String::new(),
                request_id: None,
                close: true,
            },
            Lost::InternalFailure => {
                error_response(shared, 500, "Receiver", "InternalFailure", INTERNAL_FAILURE_MESSAGE)
            }
        };
    }
    *st.counts
        .by_key
        .entry((counted_user.clone(), action.clone(), outcome))
        .or_insert(0) += 1;
    st.log.push(Call {
        action,
        user: counted_user,
        outcome,
        params,
    });
    let mut hook = shared.hook.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = hook.as_mut() {
        let call = st.log.last().cloned().expect("just logged");
        f(&call, &mut Store { st: &mut st });
    }
    resp
}

fn decide(shared: &Shared, action: &str, user: Option<&str>, params: &[(String, String)]) -> (Outcome, Answer) {
    let modifying = MODIFY_ACTIONS.contains(&action);
    if !modifying && !READ_ACTIONS.contains(&action) {
        let msg = if action.is_empty() {
            "Missing Action".to_string()
        } else {
            format!("The action {action} is not valid for this web service.")
        };
        return (
            Outcome::Invalid,
            error_response(shared, 400, "Sender", "InvalidAction", &msg),
        );
    }
    let Some(user) = user else {
        return missing_response(shared, "userName");
    };
    let cfg = &shared.config;
    if cfg.deny_users.iter().any(|u| u == user) || cfg.deny_actions.iter().any(|a| a == action) {
        let msg = format!(
            "User: arn:aws:iam::{ACCOUNT_ID}:user/tester is not authorized to perform: iam:{action} on resource: user {user} because no identity-based policy allows the iam:{action} action"
        );
        return (
            Outcome::Denied,
            error_response(shared, 403, "Sender", "AccessDenied", &msg),
        );
    }
    let not_found = |shared: &Shared| {
        (
            Outcome::NotFound,
            error_response(
                shared,
                404,
                "Sender",
                "NoSuchEntity",
                &format!("The user with name {user} cannot be found."),
            ),
        )
    };
    let conflict = |shared: &Shared| {
        (
            Outcome::Conflict,
            error_response(shared, 409, "Sender", "ConcurrentModification", CONFLICT_MESSAGE),
        )
    };

    let mut st = shared.lock();
    let Some(u) = st.users.get_mut(user) else {
        drop(st);
        return not_found(shared);
    };
    if !modifying {
        let u = u.clone();
        drop(st);
        return read_action(shared, action, user, &u, params);
    }
    u.modifying_calls += 1;
    match cfg.conflict {
        Conflict::None => {}
        Conflict::FirstN(n) => {
            if u.modifying_calls <= n as u64 {
                drop(st);
                return conflict(shared);
            }
        }
        Conflict::Hold(hold) => {
            if u.busy {
                drop(st);
                return conflict(shared);
            }
            u.busy = true;
            drop(st);
            thread::sleep(hold);
            st = shared.lock();
            if let Some(u) = st.users.get_mut(user) {
                u.busy = false;
            }
        }
    }
    let result = modify(&mut st, action, user, params);
    drop(st);
    match result {
        Ok(body) => (Outcome::Ok, ok_response(shared, action, body)),
        Err((outcome, status, code, msg)) => (outcome, error_response(shared, status, "Sender", code, &msg)),
    }
}

type ModifyError = (Outcome, u16, &'static str, String);

/// Applies a write; `Ok(Some(xml))` is the body of its `<{action}Result>`.
fn modify(
    st: &mut State,
    action: &str,
    user: &str,
    params: &[(String, String)],
) -> Result<Option<String>, ModifyError> {
    let missing = |name: &str| {
        (
            Outcome::Invalid,
            400,
            "ValidationError",
            missing_parameter(&lower_first(name)),
        )
    };
    let not_found = || {
        (
            Outcome::NotFound,
            404,
            "NoSuchEntity",
            format!("The user with name {user} cannot be found."),
        )
    };
    match action {
        "UpdateUser" => {
            let new_name = param(params, "NewUserName");
            if let Some(n) = new_name
                && n != user
                && st.users.contains_key(n)
            {
                return Err((
                    Outcome::Invalid,
                    409,
                    "EntityAlreadyExists",
                    format!("User with name {n} already exists."),
                ));
            }
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            if let Some(p) = param(params, "NewPath") {
                u.path = p.to_string();
            }
            if let Some(n) = new_name
                && n != user
            {
                let u = st.users.remove(user).ok_or_else(not_found)?;
                st.users.insert(n.to_string(), u);
            }
        }
        "PutUserPolicy" => {
            let name = param(params, "PolicyName").ok_or_else(|| missing("PolicyName"))?;
            let doc = param(params, "PolicyDocument").ok_or_else(|| missing("PolicyDocument"))?;
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            u.policies.insert(name.to_string(), doc.to_string());
        }
        "DeleteUserPolicy" => {
            let name = param(params, "PolicyName").ok_or_else(|| missing("PolicyName"))?;
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            if u.policies.remove(name).is_none() {
                return Err((
                    Outcome::NotFound,
                    404,
                    "NoSuchEntity",
                    format!("The user policy with name {name} cannot be found."),
                ));
            }
        }
        "TagUser" => {
            let keys = members(params, "Tags", "Key");
            let values = members(params, "Tags", "Value");
            if keys.is_empty() {
                return Err(missing("Tags"));
            }
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            for (n, k) in keys {
                let v = values
                    .iter()
                    .find(|(m, _)| *m == n)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                match u.tags.iter_mut().find(|(tk, _)| *tk == k) {
                    Some(t) => t.1 = v,
                    None => u.tags.push((k, v)),
                }
            }
        }
        "UntagUser" => {
            let keys = members(params, "TagKeys", "");
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            u.tags.retain(|(k, _)| !keys.iter().any(|(_, d)| d == k));
        }
        "CreateAccessKey" => {
            let n = st.keys_created;
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            if u.access_keys.len() >= MAX_ACCESS_KEYS {
                return Err((Outcome::Limit, 409, "LimitExceeded", LIMIT_MESSAGE.to_string()));
            }
            let key = AccessKey {
                id: key_chars("AKIA", 16, n),
                secret: key_chars("", 40, n ^ 0x5ec2e7),
                status: "Active".to_string(),
                create_date: format!("2024-01-01T00:{:02}:{:02}Z", (n / 60) % 60, n % 60),
            };
            u.access_keys.push(key.clone());
            st.keys_created += 1;
            return Ok(Some(format!(
                "    <AccessKey>\n      <UserName>{}</UserName>\n      <AccessKeyId>{}</AccessKeyId>\n      <Status>{}</Status>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <CreateDate>{}</CreateDate>\n    </AccessKey>\n",
                xml_escape(user),
                key.id,
                key.status,
                key.secret,
                key.create_date
            )));
        }
        "DeleteAccessKey" => {
            let id = param(params, "AccessKeyId").ok_or_else(|| missing("AccessKeyId"))?;
            let u = st.users.get_mut(user).ok_or_else(not_found)?;
            let before = u.access_keys.len();
            u.access_keys.retain(|k| k.id != id);
            if u.access_keys.len() == before {
                return Err((
                    Outcome::NotFound,
                    404,
                    "NoSuchEntity",
                    format!("The Access Key with id {id} cannot be found."),
                ));
            }
        }
        _ => unreachable!("not a modifying action: {action}"),
    }
    Ok(None)
}

/// `prefix` + `len` characters of [A-Z2-7] (secrets: [A-Za-z0-9/+]) from `n`.
fn key_chars(prefix: &str, len: usize, n: u64) -> String {
    let alphabet: &[u8] = if prefix.is_empty() {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    };
    let mut h: u64 = 0xcbf29ce484222325 ^ n.wrapping_mul(0x9e3779b97f4a7c15);
    let mut out = String::from(prefix);
    for i in 0..len {
        h ^= i as u64;
        h = h.wrapping_mul(0x100000001b3).rotate_left(17) ^ n;
        out.push(alphabet[(h >> 7) as usize % alphabet.len()] as char);
    }
    out
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn read_action(shared: &Shared, action: &str, user: &str, u: &User, params: &[(String, String)]) -> (Outcome, Answer) {
    let result = match action {
        "GetUser" => user_xml(user, u),
        "GetUserPolicy" => {
            let Some(name) = param(params, "PolicyName") else {
                return missing_response(shared, "policyName");
            };
            let Some(doc) = u.policies.get(name) else {
                return (
                    Outcome::NotFound,
                    error_response(
                        shared,
                        404,
                        "Sender",
                        "NoSuchEntity",
                        &format!("The user policy with name {name} cannot be found."),
                    ),
                );
            };
            format!(
                "    <UserName>{}</UserName>\n    <PolicyName>{}</PolicyName>\n    <PolicyDocument>{}</PolicyDocument>\n",
                xml_escape(user),
                xml_escape(name),
                percent_encode(doc)
            )
        }
        "ListUserPolicies" => {
            let mut s = String::from("    <IsTruncated>false</IsTruncated>\n    <PolicyNames>\n");
            for name in u.policies.keys() {
                let _ = writeln!(s, "      <member>{}</member>", xml_escape(name));
            }
            s.push_str("    </PolicyNames>\n");
            s
        }
        "ListUserTags" => {
            let mut s = String::from("    <IsTruncated>false</IsTruncated>\n    <Tags>\n");
            for (k, v) in &u.tags {
                let _ = writeln!(
                    s,
                    "      <member>\n        <Key>{}</Key>\n        <Value>{}</Value>\n      </member>",
                    xml_escape(k),
                    xml_escape(v)
                );
            }
            s.push_str("    </Tags>\n");
            s
        }
        "ListAccessKeys" => {
            let mut s = format!(
                "    <UserName>{}</UserName>\n    <AccessKeyMetadata>\n",
                xml_escape(user)
            );
            for k in &u.access_keys {
                let _ = writeln!(
                    s,
                    "      <member>\n        <UserName>{}</UserName>\n        <AccessKeyId>{}</AccessKeyId>\n        <Status>{}</Status>\n        <CreateDate>{}</CreateDate>\n      </member>",
                    xml_escape(user),
                    k.id,
                    k.status,
                    k.create_date
                );
            }
            s.push_str("    </AccessKeyMetadata>\n    <IsTruncated>false</IsTruncated>\n");
            s
        }
        _ => unreachable!("not a read action: {action}"),
    };
    (Outcome::Ok, ok_response(shared, action, Some(result)))
}
