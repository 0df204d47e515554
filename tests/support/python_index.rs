//! A stub Python package index for `pip install --index-url
//! http://127.0.0.1:PORT/simple/`: the "simple" page of one project (PEP 503:
//! `GET /simple/NAME/`, HTML with one link) and its wheel (`GET
//! /files/WHEEL`), whose first N downloads answer 503 Service Unavailable.
//! Anything else answers 404. Every request is in the server's log.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/python_index.rs"] mod python_index;

use crate::http::{self, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The one project the index serves.
#[derive(Clone, Debug)]
pub struct Project {
    /// The normalised project name, as in `/simple/NAME/`.
    pub name: String,
    /// The wheel's file name, e.g. `demo-1.0-py3-none-any.whl`.
    pub wheel_name: String,
    pub wheel: Vec<u8>,
    /// The first `unavailable` downloads of the wheel answer 503.
    pub unavailable: usize,
}

pub struct Index {
    server: http::Server,
    page_path: String,
    wheel_path: String,
}

impl Index {
    pub fn start(project: Project) -> Index {
        let page_path = format!("/simple/{}/", project.name);
        let wheel_path = format!("/files/{}", project.wheel_name);
        let page = format!(
            "<!DOCTYPE html>\n<html><body><a href=\"{wheel_path}\">{}</a></body></html>\n",
            project.wheel_name
        );
        let downloads = Arc::new(AtomicUsize::new(0));
        let (page_at, wheel_at) = (page_path.clone(), wheel_path.clone());
        let server = http::Server::start(move |req: &Request| {
            if req.method != "GET" {
                return Response::text(405, "");
            }
            if req.path == page_at {
                return Response::new(200, "text/html", page.clone());
            }
            if req.path == wheel_at {
                if downloads.fetch_add(1, Ordering::SeqCst) < project.unavailable {
                    return Response::text(503, "busy, try again later\n");
                }
                return Response::new(200, "application/octet-stream", project.wheel.clone());
            }
            Response::text(404, "Not Found\n")
        });
        Index {
            server,
            page_path,
            wheel_path,
        }
    }

    /// `http://127.0.0.1:PORT/simple/`, for `pip --index-url`.
    pub fn url(&self) -> String {
        format!("{}/simple/", self.server.url())
    }

    /// Requests for the project's page so far.
    pub fn page_requests(&self) -> usize {
        self.server.count(|r| r.path == self.page_path)
    }

    /// Downloads of the wheel so far, failed ones included.
    pub fn wheel_requests(&self) -> usize {
        self.server.count(|r| r.path == self.wheel_path)
    }

    /// Every request so far, whatever it asked for.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}
