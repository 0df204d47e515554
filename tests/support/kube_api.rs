//! A fake Kubernetes API server for `kubectl --server http://127.0.0.1:PORT`:
//! discovery (`/version`, `/api`, `/apis`, `/api/v1`) and one ConfigMap that
//! can be read (GET) and patched (PATCH, strategic-merge or merge patches of
//! its `data`). The first N PATCHes answer a real 409 Conflict `Status`, as
//! the API server does when an update's resourceVersion is stale:
//!
//!   Error from server (Conflict): Operation cannot be fulfilled on
//!   configmaps "NAME": the object has been modified; please apply your
//!   changes to the latest version and try again
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/kube_api.rs"] mod kube_api;

use crate::http::{self, Request, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    pub data: BTreeMap<String, String>,
    /// The first `conflicts` PATCHes of the ConfigMap answer 409 Conflict.
    pub conflicts: u32,
}

impl Config {
    /// ConfigMap `default/demo` with `data: {color: blue}`, no conflicts.
    pub fn new() -> Config {
        Config {
            namespace: "default".into(),
            name: "demo".into(),
            data: BTreeMap::from([("color".to_string(), "blue".to_string())]),
            conflicts: 0,
        }
    }
    pub fn conflicts(mut self, n: u32) -> Config {
        self.conflicts = n;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

/// What the PATCHes of the ConfigMap met, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patched {
    Conflict,
    Ok,
    BadPatch,
}

struct State {
    data: BTreeMap<String, String>,
    resource_version: u64,
    patches: Vec<Patched>,
}

pub struct KubeApi {
    server: http::Server,
    state: Arc<Mutex<State>>,
}

impl KubeApi {
    pub fn start(config: Config) -> KubeApi {
        let state = Arc::new(Mutex::new(State {
            data: config.data.clone(),
            resource_version: 1000,
            patches: Vec::new(),
        }));
        let (cfg, st) = (config.clone(), Arc::clone(&state));
        let server = http::Server::start(move |req| route(&cfg, &st, req));
        KubeApi { server, state }
    }

    /// `http://127.0.0.1:PORT`, for `kubectl --server`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn server(&self) -> &http::Server {
        &self.server
    }

    /// Outcomes of the ConfigMap's PATCHes, in order.
    pub fn patches(&self) -> Vec<Patched> {
        self.state.lock().unwrap().patches.clone()
    }

    /// PATCH requests on any path.
    pub fn patch_requests(&self) -> usize {
        self.server.count(|r| r.method == "PATCH")
    }

    pub fn data(&self) -> BTreeMap<String, String> {
        self.state.lock().unwrap().data.clone()
    }
}

fn object_path(c: &Config) -> String {
    format!("/api/v1/namespaces/{}/configmaps/{}", c.namespace, c.name)
}

pub fn conflict_message(name: &str) -> String {
    format!(
        "Operation cannot be fulfilled on configmaps \"{name}\": the object has been modified; \
         please apply your changes to the latest version and try again"
    )
}

fn status(code: u16, reason: &str, message: &str, name: &str) -> Response {
    Response::json(
        code,
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\
             \"message\":{},\"reason\":\"{reason}\",\"details\":{{\"name\":{},\"kind\":\"configmaps\"}},\
             \"code\":{code}}}",
            json_str(message),
            json_str(name)
        ),
    )
}

fn configmap(c: &Config, st: &State) -> Response {
    let data: Vec<String> = st
        .data
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    Response::json(
        200,
        format!(
            "{{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":{},\"namespace\":{},\
             \"uid\":\"6f1c2d3e-0000-4000-8000-000000000001\",\"resourceVersion\":\"{}\",\
             \"creationTimestamp\":\"2026-01-01T00:00:00Z\"}},\"data\":{{{}}}}}",
            json_str(&c.name),
            json_str(&c.namespace),
            st.resource_version,
            data.join(",")
        ),
    )
}

const API_RESOURCES: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["cm"]},{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["create","delete","get","list","patch","update","watch"],"shortNames":["ns"]}]}"#;

fn route(c: &Config, state: &Mutex<State>, req: &Request) -> Response {
    let obj = object_path(c);
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/version") => Response::json(
            200,
            r#"{"major":"1","minor":"32","gitVersion":"v1.32.4","gitCommit":"0000000000000000000000000000000000000000","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.23.8","compiler":"gc","platform":"linux/amd64"}"#,
        ),
        ("GET", "/api") => Response::json(
            200,
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}"#,
        ),
        ("GET", "/apis") => Response::json(200, r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[]}"#),
        ("GET", "/api/v1") => Response::json(200, API_RESOURCES),
        ("GET", p) if p == obj => configmap(c, &state.lock().unwrap()),
        ("PATCH", p) if p == obj => {
            let mut st = state.lock().unwrap();
            let conflicts = st.patches.iter().filter(|p| **p == Patched::Conflict).count();
            if conflicts < c.conflicts as usize {
                st.patches.push(Patched::Conflict);
                return status(409, "Conflict", &conflict_message(&c.name), &c.name);
            }
            let Some(changes) = parse_data_patch(&req.body_text()) else {
                st.patches.push(Patched::BadPatch);
                return status(
                    400,
                    "BadRequest",
                    "the fake API server understands only patches of .data",
                    &c.name,
                );
            };
            for (k, v) in changes {
                match v {
                    Some(v) => st.data.insert(k, v),
                    None => st.data.remove(&k),
                };
            }
            st.resource_version += 1;
            st.patches.push(Patched::Ok);
            configmap(c, &st)
        }
        _ => status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource ({} {})",
                req.method, req.path
            ),
            "",
        ),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ------------------------------------------------------------ a minimal JSON reader

#[derive(Debug)]
enum Json {
    Null,
    Other,
    Str(String),
    Obj(Vec<(String, Json)>),
}

/// The `data` changes of a patch such as `{"data":{"a":"1","b":null}}`:
/// Some(value) sets a key, None deletes it. None when the patch is not JSON
/// or has keys besides `data`/`metadata`.
fn parse_data_patch(text: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    let Json::Obj(top) = v else { return None };
    let mut out = Vec::new();
    for (k, v) in top {
        match (k.as_str(), v) {
            ("data", Json::Obj(fields)) => {
                for (k, v) in fields {
                    match v {
                        Json::Str(s) => out.push((k, Some(s))),
                        Json::Null => out.push((k, None)),
                        _ => return None,
                    }
                }
            }
            ("metadata", _) => {}
            _ => return None,
        }
    }
    Some(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }
    fn value(&mut self) -> Option<Json> {
        self.ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let Json::Str(k) = self.string()? else { return None };
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                    if self.eat(b',').is_none() {
                        self.eat(b'}')?;
                        return Some(Json::Obj(fields));
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(Json::Other);
                }
                loop {
                    self.value()?;
                    if self.eat(b',').is_none() {
                        self.eat(b']')?;
                        return Some(Json::Other);
                    }
                }
            }
            b'"' => self.string(),
            b'n' => self.word("null", Json::Null),
            b't' => self.word("true", Json::Other),
            b'f' => self.word("false", Json::Other),
            b'-' | b'0'..=b'9' => {
                while self.i < self.s.len() && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                Some(Json::Other)
            }
            _ => None,
        }
    }
    fn word(&mut self, w: &str, v: Json) -> Option<Json> {
        self.s[self.i..].starts_with(w.as_bytes()).then(|| {
            self.i += w.len();
            v
        })
    }
    fn string(&mut self) -> Option<Json> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = std::str::from_utf8(&self.s[self.i..]).ok()?;
            let ch = rest.chars().next()?;
            self.i += ch.len_utf8();
            match ch {
                '"' => return Some(Json::Str(out)),
                '\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
                            self.i += 4;
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                        }
                        _ => return None,
                    }
                }
                c => out.push(c),
            }
        }
    }
}
