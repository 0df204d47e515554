//! A small HTTP/1.1 server on std only, for the end-to-end tests' fake
//! servers (kube_api.rs, npm_registry.rs, flaky_http.rs).
//!
//! Binds 127.0.0.1:0 (never any other address); one thread accepts, one
//! thread per connection (keep-alive, Content-Length and chunked bodies,
//! `Expect: 100-continue`). A handler turns each request into a response;
//! every request is logged, with its arrival time and sequence number, so a
//! test can count exactly what the server saw.
//!
//! Include it as `#[path = "support/http.rs"] mod http;` (the other support
//! servers refer to it as `crate::http`).

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    /// 0 for the first request the server saw, then 1, 2, ...
    pub seq: usize,
    /// When its header had been read.
    pub at: Instant,
    pub method: String,
    /// The request target as sent, query included.
    pub target: String,
    /// The path alone (origin form), without the query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Close the connection instead of answering: a lost response.
    pub hang_up: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into(),
            hang_up: false,
        }
    }
    /// No answer: the connection is closed without a byte of response.
    pub fn hang_up() -> Response {
        Response {
            hang_up: true,
            ..Response::text(0, "")
        }
    }
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "application/json", body)
    }
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response::new(status, "text/plain", body)
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

struct Shared {
    handler: Box<Handler>,
    log: Mutex<Vec<Request>>,
    stopping: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking handler must not take the whole server down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running server. Dropping it stops the listener and closes open
/// connections.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `handler` on 127.0.0.1 and an ephemeral port.
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
        Server::bind(0, handler).expect("bind 127.0.0.1:0")
    }

    /// Serves `handler` on 127.0.0.1:`port` (0: an ephemeral port).
    pub fn bind(port: u16, handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            handler: Box::new(handler),
            log: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });
        let sh = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(listener, sh))?;
        Ok(Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.addr.port())
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        relock(&self.shared.log).clone()
    }

    /// How many requests so far satisfy `f`.
    pub fn count(&self, f: impl Fn(&Request) -> bool) -> usize {
        relock(&self.shared.log).iter().filter(|r| f(r)).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        for (_, c) in std::mem::take(&mut *relock(&self.shared.conns)) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut id = 0u64;
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        id += 1;
        let this = id;
        if let Ok(c) = stream.try_clone() {
            relock(&shared.conns).insert(this, c);
        }
        let sh = Arc::clone(&shared);
        let spawned = thread::Builder::new().name("http-conn".into()).spawn(move || {
            let _ = serve(stream, &sh);
            relock(&sh.conns).remove(&this);
        });
        if spawned.is_err() {
            relock(&shared.conns).remove(&this);
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some((mut req, keep_alive)) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let resp = {
            // Numbered and logged before the handler runs, so that a handler
            // may look at the log (e.g. to count earlier requests).
            let mut log = relock(&shared.log);
            req.seq = log.len();
            log.push(req.clone());
            drop(log);
            (shared.handler)(&req)
        };
        if resp.hang_up {
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        }
        write_response(&mut writer, &req, &resp, keep_alive)?;
        if !keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

const MAX_LINE: u64 = 64 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn read_line(r: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(bad("line too long or truncated"));
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

/// `Ok(None)` on a clean end of the connection between requests.
fn read_request(r: &mut impl BufRead, w: &mut impl Write) -> io::Result<Option<(Request, bool)>> {
    let line = loop {
        match read_line(r)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("malformed request line"));
    };
    let mut headers = Vec::new();
    loop {
        let l = read_line(r)?.ok_or_else(|| bad("end of input in the header"))?;
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').ok_or_else(|| bad("malformed header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let path = path
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(path);
    let mut req = Request {
        seq: 0,
        at,
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        headers,
        body: Vec::new(),
    };
    let conn = req.header("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if version.eq_ignore_ascii_case("HTTP/1.0") {
        conn.contains("keep-alive")
    } else {
        !conn.contains("close")
    };
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        w.flush()?;
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let size_line = read_line(r)?.ok_or_else(|| bad("end of input in a chunk size"))?;
            let hex = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
            if req.body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            if size == 0 {
                while !read_line(r)?.ok_or_else(|| bad("end of input in trailers"))?.is_empty() {}
                break;
            }
            let start = req.body.len();
            req.body.resize(start + size, 0);
            r.read_exact(&mut req.body[start..])?;
            if !read_line(r)?
                .ok_or_else(|| bad("end of input after a chunk"))?
                .is_empty()
            {
                return Err(bad("missing CRLF after a chunk"));
            }
        }
    } else if let Some(cl) = req.header("content-length") {
        let n: usize = cl.parse().map_err(|_| bad("bad content-length"))?;
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        req.body.resize(n, 0);
        r.read_exact(&mut req.body)?;
    }
    Ok(Some((req, keep_alive)))
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

fn write_response(w: &mut impl Write, req: &Request, resp: &Response, keep_alive: bool) -> io::Result<()> {
    let mut out = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    w.write_all(out.as_bytes())?;
    if !req.method.eq_ignore_ascii_case("HEAD") {
        w.write_all(&resp.body)?;
    }
    w.flush()
}
