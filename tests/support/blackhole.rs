//! A TCP proxy on 127.0.0.1 that can turn into a black hole: once cut, it
//! still accepts connections and reads what arrives, but passes nothing on
//! and answers nothing, as a network that drops packets does. With no
//! upstream it is a black hole from the start: a service that never answers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
}

impl Proxy {
    /// A proxy to `upstream` (a port on 127.0.0.1), passing traffic on until cut.
    pub fn to(upstream: u16) -> Proxy {
        Proxy::start(Some(upstream))
    }

    /// A service that accepts connections and never answers.
    pub fn silent() -> Proxy {
        Proxy::start(None)
    }

    fn start(upstream: Option<u16>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(upstream.is_none()));
        let cut_for_thread = Arc::clone(&cut);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let cut = Arc::clone(&cut_for_thread);
                std::thread::spawn(move || serve(client, upstream, &cut));
            }
        });
        Proxy { port, cut }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, nothing gets through in either direction.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

/// One connection: to the upstream while not cut; swallowed when cut.
fn serve(client: TcpStream, upstream: Option<u16>, cut: &Arc<AtomicBool>) {
    let server = match upstream {
        Some(port) if !cut.load(Ordering::SeqCst) => TcpStream::connect(("127.0.0.1", port)).ok(),
        _ => None,
    };
    let Some(server) = server else {
        return swallow(client);
    };
    let (client_in, server_in) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let back = Arc::clone(cut);
    std::thread::spawn(move || pump(server_in, client, &back));
    pump(client_in, server, cut);
}

/// Passes bytes from `from` to `to` until either end closes; once cut,
/// drops them, and keeps both ends open so that nothing looks closed.
fn pump(mut from: TcpStream, mut to: TcpStream, cut: &AtomicBool) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !cut.load(Ordering::SeqCst) && to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    if !cut.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        // Held open: a black hole never says goodbye.
        std::mem::forget(to);
    }
}

/// Reads and drops everything, and never answers or closes.
fn swallow(mut client: TcpStream) {
    let mut buffer = [0u8; 16 * 1024];
    while matches!(client.read(&mut buffer), Ok(n) if n > 0) {}
    std::mem::forget(client);
}
