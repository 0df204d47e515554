//! A stub Cargo sparse registry for `sparse+http://127.0.0.1:PORT/index/`:
//! its `config.json` and the index file of one crate (one version, no
//! dependencies), whose first N requests answer 503 Service Unavailable.
//! The `.crate` download that config.json points at is not served (404):
//! resolving a lockfile needs only the index. Every request is in the
//! server's log.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/sparse_registry.rs"] mod sparse_registry;

use crate::http::{self, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Registry {
    server: http::Server,
    index_file: String,
}

impl Registry {
    /// Serves crate `name` at `version`; the first `unavailable` requests
    /// for its index file answer 503.
    pub fn start(name: &str, version: &str, unavailable: usize) -> Registry {
        let index_file = format!("/index/{}", index_path(name));
        let entry = format!(
            "{{\"name\":\"{name}\",\"vers\":\"{version}\",\"deps\":[],\"cksum\":\"{}\",\"features\":{{}},\"yanked\":false}}\n",
            "0".repeat(64)
        );
        let seen = Arc::new(AtomicUsize::new(0));
        let file_at = index_file.clone();
        let server = http::Server::start(move |req: &Request| {
            if req.method != "GET" {
                return Response::text(405, "");
            }
            if req.path == "/index/config.json" {
                let host = req.header("host").unwrap_or("127.0.0.1");
                let dl = format!("http://{host}/dl/{{crate}}/{{version}}/download");
                return Response::json(200, format!("{{\"dl\":\"{dl}\"}}"));
            }
            if req.path == file_at {
                if seen.fetch_add(1, Ordering::SeqCst) < unavailable {
                    return Response::text(503, "busy, try again later\n");
                }
                return Response::text(200, entry.clone());
            }
            Response::text(404, "not found\n")
        });
        Registry { server, index_file }
    }

    /// `sparse+http://127.0.0.1:PORT/index/`, for a source or registry.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.server.url())
    }

    /// `http://127.0.0.1:PORT/index/de/mo/demo`: the crate's index file.
    pub fn index_file_url(&self) -> String {
        format!("{}{}", self.server.url(), self.index_file)
    }

    /// Requests for the crate's index file so far, failed ones included.
    pub fn index_file_requests(&self) -> usize {
        self.server.count(|r| r.path == self.index_file)
    }

    /// Requests for config.json so far.
    pub fn config_requests(&self) -> usize {
        self.server.count(|r| r.path == "/index/config.json")
    }

    /// Every request so far, whatever it asked for.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

/// Where a crate's index file lives: `1/a`, `2/ab`, `3/a/abc`, or
/// `ab/cd/abcd...` (the Cargo Book, "Registry Index", Index files).
fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}
