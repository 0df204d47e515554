//! A stub npm registry for `npm --registry http://127.0.0.1:PORT`: one
//! package whose packument (`GET /NAME`) answers 503 Service Unavailable the
//! first N times, then a real package document (one version, `latest`).
//! Anything else answers 404 `{"error":"Not found"}` as registry.npmjs.org
//! does. Counts every request.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/npm_registry.rs"] mod npm_registry;

use crate::http::{self, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub version: String,
    pub description: String,
    /// The first `unavailable` packument requests answer 503.
    pub unavailable: usize,
}

impl Config {
    /// `retry-on-demo@1.2.3`, always available.
    pub fn new() -> Config {
        Config {
            name: "retry-on-demo".into(),
            version: "1.2.3".into(),
            description: "A package served by the retry-on end-to-end tests".into(),
            unavailable: 0,
        }
    }
    pub fn unavailable(mut self, n: usize) -> Config {
        self.unavailable = n;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

pub struct Registry {
    server: http::Server,
    packuments: Arc<AtomicUsize>,
}

impl Registry {
    pub fn start(config: Config) -> Registry {
        let packuments = Arc::new(AtomicUsize::new(0));
        let (cfg, count) = (config, Arc::clone(&packuments));
        let server = http::Server::start(move |req: &Request| {
            let port = req
                .header("host")
                .and_then(|h| h.rsplit_once(':'))
                .map(|(_, p)| p.to_string())
                .unwrap_or_default();
            if req.method == "GET" && req.path.trim_start_matches('/') == cfg.name {
                let seen = count.fetch_add(1, Ordering::SeqCst);
                if seen < cfg.unavailable {
                    return Response::json(503, r#"{"error":"Service Unavailable"}"#);
                }
                return Response::json(200, packument(&cfg, &port));
            }
            Response::json(404, r#"{"error":"Not found"}"#)
        });
        Registry { server, packuments }
    }

    /// `http://127.0.0.1:PORT`, for `npm --registry`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Requests for the package document so far (failed ones included).
    pub fn packument_requests(&self) -> usize {
        self.packuments.load(Ordering::SeqCst)
    }

    /// All requests so far, whatever they asked for.
    pub fn total_requests(&self) -> usize {
        self.server.requests().len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}

fn packument(c: &Config, port: &str) -> String {
    let (name, version, description) = (&c.name, &c.version, &c.description);
    format!(
        r#"{{"_id":"{name}","name":"{name}","description":"{description}","dist-tags":{{"latest":"{version}"}},"versions":{{"{version}":{{"name":"{name}","version":"{version}","description":"{description}","license":"MIT","dist":{{"tarball":"http://127.0.0.1:{port}/{name}/-/{name}-{version}.tgz","shasum":"0000000000000000000000000000000000000000"}}}}}},"time":{{"created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","{version}":"2026-01-01T00:00:00.000Z"}},"license":"MIT"}}"#
    )
}
