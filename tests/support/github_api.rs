//! A fake GitHub REST API for `gh`, reached as gh's HTTP proxy.
//!
//! With GH_HOST=github.localhost, gh talks to http://api.github.localhost/
//! over plain HTTP (cli/cli internal/ghinstance/host.go, the "local GitHub
//! instance"). That name does not resolve; with HTTP_PROXY pointing here,
//! gh's Go HTTP client sends each request to this server in absolute form
//! (`GET http://api.github.localhost/user`), and nothing leaves 127.0.0.1.
//!
//! Each request is answered from a script of responses, in order; once the
//! script is used up, with 200 and the user `octo`.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/github_api.rs"] mod github_api;

use crate::http::{self, Request, Response};

/// The secondary rate limit, as GitHub words it (docs.github.com, REST API,
/// "Rate limits for the REST API", "Exceeding the rate limit"), with the
/// `Retry-After` header GitHub may send with it.
pub fn secondary_rate_limit(retry_after: Option<u32>) -> Response {
    let r = Response::json(
        403,
        r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#,
    );
    match retry_after {
        Some(s) => r.with_header("Retry-After", &s.to_string()),
        None => r,
    }
}

/// The primary rate limit: none left until the window resets.
pub fn primary_rate_limit() -> Response {
    Response::json(
        403,
        r#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"}"#,
    )
    .with_header("X-RateLimit-Limit", "5000")
    .with_header("X-RateLimit-Remaining", "0")
    .with_header("X-RateLimit-Reset", "4102444800")
}

/// A 5xx with GitHub's JSON body.
pub fn server_error(status: u16) -> Response {
    Response::json(status, r#"{"message":"Server Error"}"#)
}

/// What `GET /user` answers once the script is used up.
pub const USER: &str = r#"{"login":"octo","id":1,"type":"User"}"#;

pub struct GitHubApi {
    server: http::Server,
}

impl GitHubApi {
    /// Answers the first requests with `script`, one each, then 200 [`USER`].
    pub fn start(script: Vec<Response>) -> GitHubApi {
        let server = http::Server::start(move |req: &Request| match script.get(req.seq) {
            Some(r) => r.clone(),
            None => Response::json(200, USER),
        });
        GitHubApi { server }
    }

    /// `http://127.0.0.1:PORT`, for HTTP_PROXY.
    pub fn proxy_url(&self) -> String {
        self.server.url()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}
