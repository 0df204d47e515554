//! `cargo run --example iam-endpoint -- [FLAGS]`: serve the local IAM
//! endpoint until killed. The first stdout line is
//! `listening on 127.0.0.1:PORT`.
//!
//! Flags (each also read from the environment variable shown; flags win):
//!   --port N            IAM_ENDPOINT_PORT       0 = pick a free port (default)
//!   --mode M            IAM_ENDPOINT_MODE       none | first-n | hold
//!                                               (default: implied by the next two, else none)
//!   --first-n N         IAM_ENDPOINT_FIRST_N    first N modifying calls per user conflict (default 3)
//!   --hold-ms MS        IAM_ENDPOINT_HOLD_MS    a modifying call holds its user MS ms (default 200)
//!   --users A,B         IAM_ENDPOINT_USERS      known users (default alice,u); --user NAME repeats
//!   --deny-users A,B    IAM_ENDPOINT_DENY_USERS    answer AccessDenied for these users
//!   --deny-actions X,Y  IAM_ENDPOINT_DENY_ACTIONS  answer AccessDenied for these actions
//!   --lose-first N      IAM_ENDPOINT_LOSE_FIRST    the first N successful writes per user are
//!                                               applied, then their response is lost (default 0)
//!   --lose-how H        IAM_ENDPOINT_LOSE_HOW      close (the connection) | internal-failure (500)
//!                                               (default close)
//!
//! HTTP: POST / (IAM Query), GET /_counts (text), GET /_counts.json, POST /_reset.

#[path = "http.rs"]
#[allow(dead_code)] // this binary uses only part of it
mod http;
#[path = "iam.rs"]
#[allow(dead_code)] // the endpoint serves; the tests inspect it
mod iam;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: iam-endpoint [--port N] [--mode none|first-n|hold] [--first-n N] [--hold-ms MS] [--users A,B] [--user NAME]... [--deny-users A,B] [--deny-actions X,Y] [--lose-first N] [--lose-how close|internal-failure]";

struct Opts {
    port: u16,
    mode: Option<String>,
    first_n: Option<u32>,
    hold_ms: Option<u64>,
    users: Option<Vec<String>>,
    deny_users: Vec<String>,
    deny_actions: Vec<String>,
    lose_first: u32,
    lose_how: String,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: not a valid number: {v:?}"))
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        port: env("IAM_ENDPOINT_PORT")
            .map(|v| num("IAM_ENDPOINT_PORT", &v))
            .transpose()?
            .unwrap_or(0),
        mode: env("IAM_ENDPOINT_MODE"),
        first_n: env("IAM_ENDPOINT_FIRST_N")
            .map(|v| num("IAM_ENDPOINT_FIRST_N", &v))
            .transpose()?,
        hold_ms: env("IAM_ENDPOINT_HOLD_MS")
            .map(|v| num("IAM_ENDPOINT_HOLD_MS", &v))
            .transpose()?,
        users: env("IAM_ENDPOINT_USERS").map(|v| list(&v)),
        deny_users: env("IAM_ENDPOINT_DENY_USERS").map(|v| list(&v)).unwrap_or_default(),
        deny_actions: env("IAM_ENDPOINT_DENY_ACTIONS").map(|v| list(&v)).unwrap_or_default(),
        lose_first: env("IAM_ENDPOINT_LOSE_FIRST")
            .map(|v| num("IAM_ENDPOINT_LOSE_FIRST", &v))
            .transpose()?
            .unwrap_or(0),
        lose_how: env("IAM_ENDPOINT_LOSE_HOW").unwrap_or_else(|| "close".into()),
    };
    let mut cli_users: Option<Vec<String>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => o.port = num(&flag, &value()?)?,
            "--mode" => o.mode = Some(value()?),
            "--first-n" => o.first_n = Some(num(&flag, &value()?)?),
            "--hold-ms" => o.hold_ms = Some(num(&flag, &value()?)?),
            "--users" => cli_users.get_or_insert_with(Vec::new).extend(list(&value()?)),
            "--user" => cli_users.get_or_insert_with(Vec::new).push(value()?),
            "--deny-users" | "--deny-user" => o.deny_users.extend(list(&value()?)),
            "--deny-actions" | "--deny-action" => o.deny_actions.extend(list(&value()?)),
            "--lose-first" => o.lose_first = num(&flag, &value()?)?,
            "--lose-how" => o.lose_how = value()?,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    if cli_users.is_some() {
        o.users = cli_users;
    }
    Ok(o)
}

fn config(o: &Opts) -> Result<iam::Config, String> {
    let mode = match (&o.mode, o.first_n, o.hold_ms) {
        (Some(m), _, _) => m.clone(),
        (None, Some(_), None) => "first-n".into(),
        (None, None, Some(_)) => "hold".into(),
        (None, None, None) => "none".into(),
        (None, Some(_), Some(_)) => {
            return Err("both --first-n and --hold-ms given: pick one with --mode".into());
        }
    };
    let conflict = match mode.as_str() {
        "none" => iam::Conflict::None,
        "first-n" => iam::Conflict::FirstN(o.first_n.unwrap_or(3)),
        "hold" => iam::Conflict::Hold(Duration::from_millis(o.hold_ms.unwrap_or(200))),
        m => return Err(format!("--mode: expected none, first-n or hold, got {m:?}")),
    };
    let how = match o.lose_how.as_str() {
        "close" => iam::Lost::Close,
        "internal-failure" | "500" => iam::Lost::InternalFailure,
        h => return Err(format!("--lose-how: expected close or internal-failure, got {h:?}")),
    };
    let lose = (o.lose_first > 0).then_some(iam::Lose {
        how,
        first_n: o.lose_first,
    });
    Ok(iam::Config {
        users: o.users.clone().unwrap_or_else(|| vec!["alice".into(), "u".into()]),
        conflict,
        deny_users: o.deny_users.clone(),
        deny_actions: o.deny_actions.clone(),
        lose,
    })
}

fn main() -> ExitCode {
    let cfg = match parse().and_then(|o| config(&o).map(|c| (o.port, c))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("iam-endpoint: {e}");
            return ExitCode::from(2);
        }
    };
    let (port, cfg) = cfg;
    let summary = format!(
        "users={} conflict={:?} deny_users={:?} deny_actions={:?} lose={:?}",
        cfg.users.join(","),
        cfg.conflict,
        cfg.deny_users,
        cfg.deny_actions,
        cfg.lose
    );
    let srv = match iam::Server::bind(cfg, port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("iam-endpoint: cannot bind 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on 127.0.0.1:{}", srv.port());
    let _ = out.flush();
    drop(out);
    eprintln!("iam-endpoint: {summary}");
    loop {
        std::thread::park();
    }
}
