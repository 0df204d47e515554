//! A local DynamoDB: moto's server (`moto_server`, from PyPI `moto[server]`;
//! `.ci/install-moto` installs it), started on 127.0.0.1 at a free port for
//! one test and killed when dropped. It is started through
//! `moto_atomic.py`, which has it answer one request at a time, so that a
//! conditional write is atomic as in DynamoDB (see there).
//!
//! Without `moto_server` on PATH, [`Moto::start`] prints one `skipped: ...`
//! line and returns `None`, unless RETRY_ON_REQUIRE_MOTO=1, when it panics.

use std::io::{Read, Write};

use crate::common::skip::{available_or_skip, on_path};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// moto imports much of boto on start-up: slow on a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(90);

pub struct Moto {
    child: Child,
    port: u16,
}

/// A port that nothing listens on (bound, then closed).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// The directory on PATH with `moto_server` (and its venv's `python`).
fn moto_dir() -> Option<std::path::PathBuf> {
    on_path("moto_server").and_then(|p| p.parent().map(|dir| dir.to_path_buf()))
}

/// Dummy credentials and a region for the AWS SDK (and CLI), no profiles
/// or instance metadata, and DynamoDB at `endpoint`.
pub fn aws_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
}

impl Moto {
    /// Starts moto and waits until it answers HTTP (polling, no fixed sleep).
    pub fn start() -> Option<Moto> {
        let dir = moto_dir();
        let found = available_or_skip(
            dir.is_some(),
            "RETRY_ON_REQUIRE_MOTO",
            "the DynamoDB lock tests",
            "moto's server ('moto_server') is not on PATH",
            "install it (bash .ci/install-moto) and put the directory it prints first on PATH",
        );
        let dir = dir.filter(|_| found)?;
        let python = dir.join("python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_atomic.py");
        // The port is free when chosen; another process may take it before
        // moto binds it, so a moto that exits at once is started again.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&python)
                .args([script, "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let mut moto = Moto { child, port };
            if moto.wait_ready() {
                return Some(moto);
            }
        }
        panic!("moto_server did not start");
    }

    /// Polls until moto answers a request; false if it exited first.
    fn wait_ready(&mut self) -> bool {
        let began = Instant::now();
        while began.elapsed() < READY_WITHIN {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if self.answers() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "moto_server did not answer on port {} within {READY_WITHIN:?}",
            self.port
        );
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.port);
        let mut reply = [0u8; 12];
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && reply.starts_with(b"HTTP/1.")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends one DynamoDB request (`CreateTable`, `GetItem`, …, with its JSON
    /// body) straight to moto, as the test's own view of the table; returns
    /// the JSON answer. moto checks no signature, only the scope.
    pub fn call(&self, operation: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             X-Amz-Target: DynamoDB_20120810.{operation}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send to moto");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).expect("read moto's answer");
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "moto refused {operation} {body}: {reply}"
        );
        body.to_string()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
