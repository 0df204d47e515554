//! A fake Cloud Resource Manager API (v1) for `gcloud projects
//! add-iam-policy-binding` with
//! CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER=http://127.0.0.1:PORT/:
//! `POST /v1/projects/P:getIamPolicy` answers a policy with no bindings, and
//! `POST /v1/projects/P:setIamPolicy` answers the first N times with the
//! 409 ABORTED that the API gives when the policy's etag is stale (another
//! writer changed it between the read and the write), then, if the policy
//! sent carries the one expected binding and the etag read, with that
//! policy under a new etag (400 otherwise). Anything else answers 404.
//!
//! std only, on top of support/http.rs. Include both:
//!   #[path = "support/http.rs"] mod http;
//!   #[path = "support/resource_manager.rs"] mod resource_manager;

use crate::http::{self, Request, Response};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The etag of the policy that getIamPolicy answers.
pub const ETAG: &str = "BwYAAAAAAAA=";

/// The API's message for a stale etag
/// (https://cloud.google.com/iam/docs/policies#etag).
pub const CONCURRENT: &str =
    "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.";

pub struct ResourceManager {
    server: http::Server,
}

impl ResourceManager {
    /// The first `conflicts` setIamPolicy calls answer 409 ABORTED; the
    /// policy to set is to bind `member` to `role`.
    pub fn start(conflicts: usize, role: &str, member: &str) -> ResourceManager {
        let policy =
            format!(r#"{{"version":1,"etag":"BwYAAAAAAAQ=","bindings":[{{"role":"{role}","members":["{member}"]}}]}}"#);
        let wanted = [format!(r#""{role}""#), format!(r#""{member}""#), format!(r#""{ETAG}""#)];
        let sets = Arc::new(AtomicUsize::new(0));
        let server = http::Server::start(move |req: &Request| {
            if req.method != "POST" {
                return Response::json(405, "{}");
            }
            if req.path.ends_with(":getIamPolicy") {
                return Response::json(200, format!(r#"{{"version":1,"etag":"{ETAG}","bindings":[]}}"#));
            }
            if req.path.ends_with(":setIamPolicy") {
                if sets.fetch_add(1, Ordering::SeqCst) < conflicts {
                    return Response::json(
                        409,
                        format!(r#"{{"error":{{"code":409,"message":"{CONCURRENT}","status":"ABORTED"}}}}"#),
                    );
                }
                let body = req.body_text();
                if !wanted.iter().all(|w| body.contains(w.as_str())) {
                    return Response::json(
                        400,
                        r#"{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}"#,
                    );
                }
                return Response::json(200, policy.clone());
            }
            Response::json(
                404,
                r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#,
            )
        });
        ResourceManager { server }
    }

    /// `http://127.0.0.1:PORT/`, for the endpoint override.
    pub fn url(&self) -> String {
        format!("{}/", self.server.url())
    }

    /// setIamPolicy calls so far, failed ones included.
    pub fn set_calls(&self) -> usize {
        self.server.count(|r| r.path.ends_with(":setIamPolicy"))
    }

    /// getIamPolicy calls so far.
    pub fn get_calls(&self) -> usize {
        self.server.count(|r| r.path.ends_with(":getIamPolicy"))
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }
}
