//! A flaky HTTP server for curl: every request is answered from a script of
//! failures, in order, and once the script is used up, with 200 and a fixed
//! body. Each request's arrival time is kept, so that a test can measure the
//! wait between attempts as the server saw it.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/flaky_http.rs"] mod flaky_http;

use crate::http::{self, Request, Response};
use std::time::Duration;

pub struct FlakyHttp {
    server: http::Server,
}

/// `503 Service Unavailable`, optionally with a `Retry-After: SECONDS` hint.
pub fn unavailable(retry_after: Option<u32>) -> Response {
    let r = Response::text(503, "busy, try again later\n");
    match retry_after {
        Some(s) => r.with_header("Retry-After", &s.to_string()),
        None => r,
    }
}

impl FlakyHttp {
    /// Answers the first requests with `failures`, one each, then 200 `body`.
    pub fn start(failures: Vec<Response>, body: &str) -> FlakyHttp {
        let body = body.to_string();
        let server = http::Server::start(move |req: &Request| match failures.get(req.seq) {
            Some(r) => r.clone(),
            None => Response::text(200, body.clone()),
        });
        FlakyHttp { server }
    }

    /// `http://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.server.url(), path.trim_start_matches('/'))
    }

    /// Requests seen so far.
    pub fn hits(&self) -> usize {
        self.server.requests().len()
    }

    /// The time between each request and the next, as the server saw them.
    pub fn gaps(&self) -> Vec<Duration> {
        let reqs = self.server.requests();
        reqs.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect()
    }
}
