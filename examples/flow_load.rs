//! A load generator for the whole sign-in flow that measures the server's cost, not
//! its own: it starts the release binary (`roomgate serve`) as a child process in
//! Twilio mode, answers its Verify calls from a mock in this process after a fixed
//! latency, and runs N concurrent participants, each doing join form → sign-in →
//! code → room page → token over and over, every flow as another of U users and with
//! a fresh cookie jar. Each participant has users of its own (U is raised to N if
//! smaller): one person doesn't sign in twice at once, and if they did, their two
//! sign-ins would share one verification, which the first approval ends (as at
//! Verify), and the second would fail.
//!
//!     cargo build --release --bin roomgate
//!     cargo build --release --example flow_load
//!     cargo run --release --example flow_load -- [participants] [seconds] [verify_ms] \
//!         [--users N] [--redis-url URL] [--refused] [--lockstep]
//!
//! With `--refused`, each participant instead posts sign-ins over and over from the
//! one address, with the per-network sign-in limit left at its default (20 a minute):
//! almost every one is refused (429), and a "flow" is one refused sign-in. That is the
//! cost of a flood.
//!
//! Defaults: 50 participants, 10 s, Verify answering in 50 ms, 1,000 users (or one per
//! participant, if more), the
//! embedded store in a fresh temporary data directory (`--redis-url` uses Redis
//! instead, under a prefix of its own). The server is `$ROOMGATE_BIN`, else the
//! `roomgate` next to this example's directory (`target/release/roomgate`). Build the
//! server on its own, as above: built in one command with the examples, it would get
//! the features the dev-dependencies turn on (reqwest's cookie store, tokio's
//! test-util…), which the shipped binary doesn't have (1 MB more code).
//!
//! After a 2 s warm-up (not counted), `seconds` are measured: flows per second (those
//! ended in the window), failed flows, the latency percentiles of a whole flow (those
//! begun in the window too) and of each step (those ended in it), the server's CPU
//! time over the window (from /proc/PID/stat) per flow and in cores, and per flow by
//! thread (from /proc/PID/task/*/stat: the HTTP workers, the store's and the audit
//! log's writers, the ACL watcher), its resident
//! memory at idle, at its peak (sampled every 100 ms) and at the end, and this
//! process's own CPU (generator and Verify mock), which shares the machine with it.
//!
//! Participants begin their first flow spread evenly over one closed-loop period (two
//! Verify calls; at most half the warm-up), as people arriving do, rather than all at
//! once. Started in lockstep
//! (`--lockstep`, as before 2026-12-07), they reach the server in waves that Verify's
//! fixed latency keeps together for the whole run, and, at 256 participants, each ends
//! the same whole number of flows in the window, so flows per second measure where the
//! window's edges fall as much as the server.
//!
//! Each participant keeps one connection open from flow to flow, as a reverse proxy
//! does to roomgate (`deploy/nginx.conf` keeps upstream connections alive); only its
//! cookies start empty every flow.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

// The generator shares the machine with the server it measures, so it allocates as the
// server does: with glibc's allocator it spent a fifth of its CPU in malloc and free.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: cargo run --release --example flow_load -- \
                     [participants] [seconds] [verify_ms] [--users N] [--redis-url URL] [--refused] [--lockstep]";
const ROOM: &str = "standup";
const WARM_UP: Duration = Duration::from_secs(2);
const STEPS: [&str; 5] = ["join form", "sign-in", "code check", "room page", "token"];

struct Options {
    participants: usize,
    seconds: u64,
    verify_ms: u64,
    users: usize,
    redis_url: Option<String>,
    /// Sign-ins refused by the per-network limit instead of whole flows.
    refused: bool,
    /// Every participant's first flow at the same instant.
    lockstep: bool,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut positional = Vec::new();
    let (mut users, mut redis_url, mut refused, mut lockstep) = (1000usize, None, false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--users" => {
                users = value("--users")?
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--users must be a whole number"))?;
                anyhow::ensure!(users >= 1, "--users must be at least 1");
            }
            "--redis-url" => redis_url = Some(value("--redis-url")?),
            "--refused" => refused = true,
            "--lockstep" => lockstep = true,
            _ if !arg.starts_with('-') && positional.len() < 3 => positional.push(
                arg.parse::<u64>()
                    .map_err(|_| anyhow::anyhow!("{arg:?} is not a whole number\n{USAGE}"))?,
            ),
            _ => anyhow::bail!("unexpected argument {arg:?}\n{USAGE}"),
        }
    }
    let participants = positional.first().copied().unwrap_or(50) as usize;
    anyhow::ensure!(participants >= 1, "at least one participant");
    Ok(Options {
        participants,
        seconds: positional.get(1).copied().unwrap_or(10).max(1),
        verify_ms: positional.get(2).copied().unwrap_or(50),
        // A user each at least: see the loop in `run`.
        users: users.max(participants),
        redis_url,
        refused,
        lockstep,
    })
}

/// `$ROOMGATE_BIN`, else `roomgate` in the directory above this example's
/// (`target/release/examples/flow_load` → `target/release/roomgate`).
fn server_binary() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("ROOMGATE_BIN") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .ok_or_else(|| anyhow::anyhow!("no directory above this example's"))?
            .join("roomgate"),
    };
    anyhow::ensure!(
        path.is_file(),
        "no roomgate binary at {}: run `cargo build --release` first (or set ROOMGATE_BIN)",
        path.display()
    );
    Ok(path)
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn username(i: usize) -> String {
    format!("user{i:05}")
}

/// U users, each with a number of their own, all allowed in the room.
fn acl(users: usize) -> String {
    let mut text = String::with_capacity(users * 64);
    for i in 0..users {
        text.push_str(&format!(
            "[users.{}]\nphone = \"+1415{:07}\"\nrooms = [\"{ROOM}\"]\n\n",
            username(i),
            2_000_000 + i
        ));
    }
    text
}

/// Verify's resource as the mock answers it: a start "pending", a check "approved".
const PENDING: &str = r#"{"sid":"VE0123456789abcdef0123456789abcdef","service_sid":"VA0123456789abcdef0123456789abcdef","account_sid":"AC0123456789abcdef0123456789abcdef","to":"+14152000000","channel":"sms","status":"pending","valid":false}"#;
const APPROVED: &str = r#"{"sid":"VE0123456789abcdef0123456789abcdef","service_sid":"VA0123456789abcdef0123456789abcdef","account_sid":"AC0123456789abcdef0123456789abcdef","to":"+14152000000","channel":"sms","status":"approved","valid":true}"#;
/// The Video API's room, in progress, so tokens don't create it.
const ROOM_IN_PROGRESS: &str = r#"{"sid":"RM0123456789abcdef0123456789abcdef","unique_name":"standup","status":"in-progress"}"#;

/// Verify and the Video API in this process, on hyper directly: every start
/// "pending", every check "approved", after `delay`; the room (no delay) in
/// progress. A mock that does nothing else, since it shares the machine with the
/// server it measures (wiremock, matching every call against every mock, cost it
/// more). Returns the base URL.
async fn verify_mock(delay: Duration) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let answer = hyper::service::service_fn(move |req| twilio_answer(req, delay));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer),
            );
        }
    });
    Ok(base)
}

async fn twilio_answer(
    req: Request<Incoming>,
    delay: Duration,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    // Read the form to its end, so the connection is kept for the next call.
    body.collect().await?;
    let path = parts.uri.path();
    let (status, json) = match parts.method {
        Method::POST if path.ends_with("/Verifications") => (StatusCode::CREATED, PENDING),
        Method::POST if path.ends_with("/VerificationCheck") => (StatusCode::OK, APPROVED),
        Method::GET if path.starts_with("/v1/Rooms/") => (StatusCode::OK, ROOM_IN_PROGRESS),
        _ => {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            return Ok(resp);
        }
    };
    if json != ROOM_IN_PROGRESS {
        tokio::time::sleep(delay).await;
    }
    let mut resp = Response::new(Full::new(Bytes::from_static(json.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// The running `roomgate serve`, and the last lines it wrote to stderr.
struct Server {
    child: Child,
    pid: u32,
    base: String,
    /// Its admin listener's `/metrics`.
    metrics_url: String,
    stderr: Arc<Mutex<(Vec<String>, usize)>>,
}

/// Keep reading `stream` (so the child never blocks on a full pipe), keeping the
/// first 20 lines and counting all of them.
fn drain(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<(Vec<String>, usize)>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut kept = into.lock().unwrap();
            if kept.0.len() < 20 {
                kept.0.push(line);
            }
            kept.1 += 1;
        }
    });
}

async fn start_server(
    bin: &Path,
    env: &BTreeMap<&str, String>,
    cwd: &Path,
) -> anyhow::Result<Server> {
    let mut child = Command::new(bin)
        .arg("serve")
        .env_clear()
        .envs(env)
        // No `.env` from wherever this was started.
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let stderr = Arc::new(Mutex::new((Vec::new(), 0)));
    drain(child.stderr.take().unwrap(), stderr.clone());
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // Both ports are the system's pick (`:0`), read from what the server prints: a
    // port probed here and handed over could be taken in between (by one of the last
    // run's thousands of connections, say).
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        let mut base = None;
        while let Ok(Some(line)) = stdout.next_line().await {
            let url_after = |marker: &str| {
                let rest = line.split(marker).nth(1)?;
                let url = rest.split_whitespace().next()?;
                Some(url.trim_end_matches(',').to_owned())
            };
            if let Some(url) = url_after("listening on ") {
                base = Some(url);
            } else if let Some(url) = url_after("metrics on ") {
                return base.map(|base| (base, url));
            }
        }
        None
    })
    .await;
    // Keep draining stdout too.
    let rest = stdout.into_inner();
    drain(rest, Arc::new(Mutex::new((Vec::new(), 0))));
    match listening {
        Ok(Some((base, metrics_url))) => Ok(Server {
            child,
            pid,
            base,
            metrics_url,
            stderr,
        }),
        _ => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let said = stderr.lock().unwrap().0.join("\n");
            anyhow::bail!("roomgate did not start:\n{said}")
        }
    }
}

impl Server {
    /// SIGTERM, then SIGKILL if it is still there after 5 s.
    async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Clock ticks per second, for /proc/PID/stat.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A thread's or process's name and utime + stime in clock ticks, from the text of
/// its /proc `stat`: fields 14 and 15, counted after the parenthesised name (which
/// may hold spaces and parentheses).
fn name_and_ticks(stat: &str) -> Option<(&str, u64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // The fields after the name start at field 3 (state): field n is fields[n - 3].
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((&stat[open + 1..close], ticks))
}

/// utime + stime of `pid` ("self" for this process), in clock ticks.
fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    name_and_ticks(&stat)
        .map(|(_, ticks)| ticks)
        .ok_or_else(|| anyhow::anyhow!("odd stat"))
}

/// utime + stime of each of `pid`'s threads, in clock ticks, summed by thread name
/// (`/proc/PID/task/*/stat`): where the server's CPU goes (HTTP workers, the store's
/// writer, the audit log's writer…) without a profiler. A thread that ended in
/// between is missed, which the whole-process figure is not.
fn cpu_ticks_by_thread(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((name, ticks)) = name_and_ticks(&stat) {
            *by_name.entry(name.to_owned()).or_insert(0) += ticks;
        }
    }
    by_name
}

/// VmRSS of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// Store operations so far, from the admin listener's `/metrics`: operation → (count,
/// seconds spent).
async fn store_ops(metrics_url: &str) -> BTreeMap<String, (f64, f64)> {
    let mut ops: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let Ok(resp) = reqwest::get(metrics_url).await else {
        return ops;
    };
    let text = resp.text().await.unwrap_or_default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("roomgate_store_duration_seconds_") else {
            continue;
        };
        let (kind, rest) = rest.split_once('{').unwrap_or(("", ""));
        let Some(op) = rest
            .split("operation=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            continue;
        };
        let value: f64 = rest
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let entry = ops.entry(op.to_owned()).or_default();
        match kind {
            "count" => entry.0 += value,
            "sum" => entry.1 += value,
            _ => {}
        }
    }
    ops
}

/// One participant's browser: a keep-alive HTTP/1.1 connection to the server
/// (opened again if it closes or fails) and the cookies of the current flow. On
/// hyper's connection API rather than reqwest: the generator shares the machine with
/// the server it measures, and reqwest's pool, layers and URL parsing took most of
/// the generator's CPU.
struct Browser {
    addr: String,
    host: HeaderValue,
    conn: Option<SendRequest<Full<Bytes>>>,
    cookies: BTreeMap<String, String>,
}

/// What a request gets back: its status and its body.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }
}

impl Browser {
    /// `base` is the server's `http://host:port`.
    fn new(base: &str) -> anyhow::Result<Self> {
        let addr = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow::anyhow!("not an http:// base: {base}"))?
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            host: HeaderValue::from_str(&addr)?,
            addr,
            conn: None,
            cookies: BTreeMap::new(),
        })
    }

    /// A new flow: a browser with empty cookies, on the same connection.
    fn clear(&mut self) {
        self.cookies.clear();
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<Answer> {
        self.send(Method::GET, path, None, None).await
    }

    async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Answer> {
        let body = serde_urlencoded::to_string(form)?;
        self.send(Method::POST, path, Some(body), None).await
    }

    /// A POST with no body and one header (the token's CSRF header).
    async fn post_with(
        &mut self,
        path: &str,
        name: &'static str,
        value: &str,
    ) -> anyhow::Result<Answer> {
        self.send(Method::POST, path, None, Some((name, value)))
            .await
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<String>,
        extra: Option<(&'static str, &str)>,
    ) -> anyhow::Result<Answer> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.clone())
            .header(header::ACCEPT, "*/*");
        if !self.cookies.is_empty() {
            let line: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header(header::COOKIE, line.join("; "));
        }
        if form.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        if let Some((name, value)) = extra {
            req = req.header(name, value);
        }
        let req = req.body(Full::new(form.map(Bytes::from).unwrap_or_default()))?;
        let outcome = tokio::time::timeout(Duration::from_secs(30), self.exchange(req)).await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                anyhow::bail!("no answer in 30 s")
            }
        }
    }

    async fn exchange(&mut self, req: Request<Full<Bytes>>) -> anyhow::Result<Answer> {
        let reusable = match self.conn.take() {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match reusable {
            Some(sender) => sender,
            None => {
                let stream = TcpStream::connect(&self.addr).await?;
                stream.set_nodelay(true)?;
                let (sender, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                sender
            }
        };
        let resp = sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        let closes = parts
            .headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if !closes {
            self.conn = Some(sender);
        }
        for line in parts.headers.get_all(header::SET_COOKIE) {
            let Ok(text) = line.to_str() else { continue };
            let mut attrs = text.split(';');
            let Some((name, value)) = attrs.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let removed = attrs.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("max-age=-")
            });
            if removed || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Ok(Answer {
            status: parts.status,
            body,
        })
    }
}

/// A log line without its colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ … letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn extract(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

/// One whole flow as `user`; each step's end and duration go to `step`.
async fn one_flow(
    browser: &mut Browser,
    user: &str,
    mut step: impl FnMut(usize, Instant),
) -> anyhow::Result<()> {
    let room = format!("/rooms/{ROOM}");

    let t = Instant::now();
    let page = browser.get(&room).await?;
    let csrf = extract(page.text(), r#"name="csrf_token" value=""#)
        .ok_or_else(|| anyhow::anyhow!("no csrf (join form answered {})", page.status))?;
    step(0, t);

    let t = Instant::now();
    let resp = browser
        .post_form(
            &format!("{room}/login"),
            &[("username", user), ("csrf_token", &csrf)],
        )
        .await?;
    anyhow::ensure!(resp.status == 303, "sign-in answered {}", resp.status);
    step(1, t);

    let t = Instant::now();
    let resp = browser
        .post_form(
            &format!("{room}/verify"),
            &[("code", "123456"), ("csrf_token", &csrf)],
        )
        .await?;
    anyhow::ensure!(resp.status == 303, "code check answered {}", resp.status);
    step(2, t);

    let t = Instant::now();
    let page = browser.get(&room).await?;
    let csrf = extract(page.text(), r#"<meta name="csrf-token" content=""#)
        .ok_or_else(|| anyhow::anyhow!("no room page (answered {})", page.status))?;
    step(3, t);

    let t = Instant::now();
    let resp = browser
        .post_with(&format!("{room}/token"), "x-csrf-token", &csrf)
        .await?;
    anyhow::ensure!(resp.status == 200, "token answered {}", resp.status);
    step(4, t);
    Ok(())
}

/// One participant of a flood: the join form once, then sign-ins as fast as they are
/// answered, each expected to be refused (429) by the per-network limit.
async fn refuse_until(browser: &mut Browser, measure_from: Instant, measure_to: Instant) -> Tally {
    let mut tally = Tally::default();
    let room = format!("/rooms/{ROOM}");
    let csrf = match browser.get(&room).await {
        Ok(page) => extract(page.text(), r#"name="csrf_token" value=""#),
        Err(_) => None,
    };
    let Some(csrf) = csrf else {
        tally.failed += 1;
        tally.errors.push("no csrf".into());
        return tally;
    };
    let login = format!("{room}/login");
    let mut i = 0usize;
    while Instant::now() < measure_to {
        i += 1;
        let user = username(i);
        let t = Instant::now();
        let outcome = browser
            .post_form(
                &login,
                &[("username", user.as_str()), ("csrf_token", csrf.as_str())],
            )
            .await;
        let end = Instant::now();
        if end < measure_from || end > measure_to {
            continue;
        }
        match outcome {
            Ok(resp) if resp.status == 429 => {
                tally.flows.push(end - t);
                if t >= measure_from {
                    tally.whole.push(end - t);
                }
                tally.steps[1].push(end - t);
            }
            // The limit's own allowance (one every 3 s): answered as it should be.
            Ok(resp) if resp.status == 303 => tally.admitted += 1,
            Ok(resp) => {
                tally.failed += 1;
                if tally.errors.len() < 3 {
                    tally
                        .errors
                        .push(format!("sign-in answered {}", resp.status));
                }
            }
            Err(e) => {
                tally.failed += 1;
                if tally.errors.len() < 3 {
                    tally.errors.push(format!("{e:#}"));
                }
            }
        }
    }
    tally
}

/// What one participant saw within the measured window.
#[derive(Default)]
struct Tally {
    /// Flows that ended within the window (the rate).
    flows: Vec<Duration>,
    /// Those that began within it too (the latencies): one begun in the warm-up
    /// carries the warm-up's start (thousands of connections opened at once).
    whole: Vec<Duration>,
    failed: usize,
    /// `--refused`: sign-ins the limit let through (20 a minute), not failures.
    admitted: usize,
    steps: [Vec<Duration>; 5],
    errors: Vec<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flow_load: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let opts = parse_args()?;
    let bin = server_binary()?;
    if let Some(limit) = open_files_limit() {
        // Each participant holds a connection or two here, and the server as many
        // (plus its own to the Verify mock, which lives here too).
        let wanted = opts.participants as u64 * 3 + 256;
        if limit < wanted {
            eprintln!(
                "warning: `ulimit -n` is {limit}; {} participants want about {wanted} (raise it in this shell)",
                opts.participants
            );
        }
    }

    let verify = verify_mock(Duration::from_millis(opts.verify_ms)).await?;
    let dir =
        TempDir(std::env::temp_dir().join(format!("roomgate-flow-load-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    std::fs::write(dir.0.join("acl.toml"), acl(opts.users))?;

    let big = "1000000".to_owned();
    let mut env: BTreeMap<&str, String> = BTreeMap::from([
        ("RUST_LOG", "warn".to_owned()),
        ("ROOMGATE_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_ACL", dir.0.join("acl.toml").display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            dir.0.join("audit.log").display().to_string(),
        ),
        ("ROOMGATE_SESSION_KEY", "l".repeat(64)),
        (
            "TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef".to_owned(),
        ),
        (
            "TWILIO_API_KEY_SID",
            "SK0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("TWILIO_API_KEY_SECRET", "load-test-secret".to_owned()),
        (
            "TWILIO_VERIFY_SERVICE_SID",
            "VA0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("TWILIO_VERIFY_BASE_URL", verify.clone()),
        ("TWILIO_VIDEO_BASE_URL", verify),
        // Limits are not what this measures.
        ("ROOMGATE_STARTS_PER_USER", big.clone()),
        ("ROOMGATE_STARTS_PER_PHONE", big.clone()),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0".to_owned()),
        ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_TOKENS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_PENDING_SIGNINS_MAX", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_MINUTE", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_HOUR", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_DAY", big),
        // Every participant may wait on Verify at once (2,000 at 300 ms).
        ("ROOMGATE_VERIFY_MAX_IN_FLIGHT", "10000".to_owned()),
    ]);
    if opts.refused {
        // The limit a flood meets.
        env.remove("ROOMGATE_LOGINS_PER_IP_PER_MINUTE");
    }
    let store = match &opts.redis_url {
        Some(url) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            let prefix = format!("flowload-{}-{stamp}:", std::process::id());
            env.insert("ROOMGATE_REDIS_URL", url.clone());
            env.insert("ROOMGATE_REDIS_PREFIX", prefix.clone());
            format!("Redis (prefix {prefix})")
        }
        None => {
            let data = dir.0.join("data");
            env.insert("ROOMGATE_DATA_DIR", data.display().to_string());
            format!("embedded ({})", data.display())
        }
    };

    let server = start_server(&bin, &env, &dir.0).await?;
    let ticks = clock_ticks();
    println!(
        "roomgate flow load: {} ({}), pid {}, {store} store, {} users",
        bin.display(),
        server.base,
        server.pid,
        opts.users
    );
    println!(
        "{} participants{}, Verify answering in {} ms; {} s measured after a {} s warm-up",
        opts.participants,
        if opts.lockstep { " in lockstep" } else { "" },
        opts.verify_ms,
        opts.seconds,
        WARM_UP.as_secs()
    );

    // One browser per participant, made before the clock starts.
    let mut participants = Vec::with_capacity(opts.participants);
    for _ in 0..opts.participants {
        participants.push(Browser::new(&server.base)?);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(server.pid).unwrap_or(0);

    let start = Instant::now() + Duration::from_millis(100);
    let measure_from = start + WARM_UP;
    let measure_to = measure_from + Duration::from_secs(opts.seconds);

    let peak_rss = Arc::new(AtomicU64::new(idle_rss));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, sampling, pid) = (peak_rss.clone(), sampling.clone(), server.pid);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(rss) = rss_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
            }
        })
    };

    let (n, users, refused) = (opts.participants, opts.users, opts.refused);
    // Participant i begins i/N of the way into one closed-loop period (see the top),
    // all of them within the warm-up.
    let spread = if opts.lockstep || refused {
        Duration::ZERO
    } else {
        Duration::from_millis(2 * opts.verify_ms).min(WARM_UP / 2)
    };
    let workers: Vec<_> = participants
        .into_iter()
        .enumerate()
        .map(|(i, mut browser)| {
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let begin = start + spread.mul_f64(i as f64 / n as f64);
                tokio::time::sleep_until(begin.into()).await;
                let mut round = 0;
                if refused {
                    tally = refuse_until(&mut browser, measure_from, measure_to).await;
                }
                while !refused && Instant::now() < measure_to {
                    // Participant i's k-th flow: user i + (k mod ⌊U/N⌋)·N. Each participant
                    // has users of its own, as people do: two flows of one user at once
                    // share a verification (as at Verify), and the first approved ends it
                    // for the other.
                    let user = username(i + (round % (users / n)) * n);
                    round += 1;
                    browser.clear();
                    let t = Instant::now();
                    let outcome = one_flow(&mut browser, &user, |s, began| {
                        let end = Instant::now();
                        if end >= measure_from && end <= measure_to {
                            tally.steps[s].push(end - began);
                        }
                    })
                    .await;
                    let end = Instant::now();
                    if end < measure_from || end > measure_to {
                        continue;
                    }
                    match outcome {
                        Ok(()) => {
                            tally.flows.push(end - t);
                            if t >= measure_from {
                                tally.whole.push(end - t);
                            }
                        }
                        Err(e) => {
                            tally.failed += 1;
                            if tally.errors.len() < 3 {
                                tally.errors.push(format!("{e:#}"));
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();

    // The CPU both processes used over the measured window, and the server's store
    // calls (its `/metrics`).
    let metrics_url = server.metrics_url.clone();
    tokio::time::sleep_until(measure_from.into()).await;
    let (server_cpu0, own_cpu0, t0) = (
        cpu_ticks(&server.pid.to_string())?,
        cpu_ticks("self")?,
        Instant::now(),
    );
    let threads0 = cpu_ticks_by_thread(server.pid);
    let ops0 = store_ops(&metrics_url).await;
    tokio::time::sleep_until(measure_to.into()).await;
    let (server_cpu1, own_cpu1, t1) = (
        cpu_ticks(&server.pid.to_string())?,
        cpu_ticks("self")?,
        Instant::now(),
    );
    let threads1 = cpu_ticks_by_thread(server.pid);
    let ops1 = store_ops(&metrics_url).await;

    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.flows.extend(t.flows);
        all.whole.extend(t.whole);
        all.failed += t.failed;
        all.admitted += t.admitted;
        for (into, from) in all.steps.iter_mut().zip(t.steps) {
            into.extend(from);
        }
        for e in t.errors {
            if all.errors.len() < 5 && !all.errors.contains(&e) {
                all.errors.push(e);
            }
        }
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let end_rss = rss_kib(server.pid).unwrap_or(0);
    let peak_rss = peak_rss.load(Ordering::Relaxed).max(end_rss);

    let wall = (t1 - t0).as_secs_f64();
    let server_cpu = (server_cpu1 - server_cpu0) as f64 / ticks;
    let own_cpu = (own_cpu1 - own_cpu0) as f64 / ticks;
    let flows = all.flows.len();
    let rate = flows as f64 / wall;
    all.whole.sort();
    println!("flows: {flows} ({rate:.1}/s), failed: {}", all.failed);
    if refused {
        println!(
            "admitted by the limit (not counted as flows): {}",
            all.admitted
        );
    }
    if opts.verify_ms > 0 {
        // Two Verify calls per flow, each at least verify_ms.
        let limit = opts.participants as f64 / (2.0 * opts.verify_ms as f64 / 1000.0);
        println!(
            "closed-loop limit {limit:.0} flows/s (participants / 2 Verify calls): {:.1}% of it",
            100.0 * rate / limit
        );
    }
    println!(
        "whole flow: p50 {}  p99 {}  max {} (the {} begun in the window)",
        ms(percentile(&all.whole, 0.5)),
        ms(percentile(&all.whole, 0.99)),
        ms(all.whole.last().copied().unwrap_or_default()),
        all.whole.len()
    );
    for (name, times) in STEPS.iter().zip(all.steps.iter_mut()) {
        times.sort();
        println!(
            "{name:>12}: p50 {}  p99 {}  max {}",
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(times.last().copied().unwrap_or_default())
        );
    }
    println!(
        "server CPU: {server_cpu:.2} s in {wall:.2} s = {:.2} cores; {:.3} ms per flow",
        server_cpu / wall,
        if flows > 0 {
            server_cpu * 1000.0 / flows as f64
        } else {
            f64::NAN
        }
    );
    if flows > 0 {
        let mut split: Vec<(f64, &str)> = threads1
            .iter()
            .map(|(name, t1)| {
                let t0 = threads0.get(name).copied().unwrap_or(0);
                (t1.saturating_sub(t0) as f64 / ticks, name.as_str())
            })
            .filter(|(secs, _)| *secs > 0.0)
            .collect();
        split.sort_by(|a, b| b.0.total_cmp(&a.0));
        let line: Vec<String> = split
            .iter()
            .map(|(secs, name)| format!("{name} {:.3} ms", secs * 1000.0 / flows as f64))
            .collect();
        println!("  per flow by thread: {}", line.join(", "));
    }
    println!(
        "generator CPU (this process, Verify mock included): {own_cpu:.2} s = {:.2} cores; machine: {} cores",
        own_cpu / wall,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "server RSS: idle {}, peak {}, end {}",
        mib(idle_rss),
        mib(peak_rss),
        mib(end_rss)
    );
    if flows > 0 && !ops1.is_empty() {
        let mut line = Vec::new();
        let (mut count, mut secs) = (0.0, 0.0);
        for (op, (n1, s1)) in &ops1 {
            let (n0, s0) = ops0.get(op).copied().unwrap_or_default();
            let (n, s) = (n1 - n0, s1 - s0);
            count += n;
            secs += s;
            // Periodic calls (the health check, the sweep) are not part of a flow.
            if n / flows as f64 >= 0.01 {
                line.push(format!(
                    "{op} {:.2} ({:.3} ms)",
                    n / flows as f64,
                    s * 1000.0 / n
                ));
            }
        }
        println!(
            "store calls per flow (mean time each): {:.2} ({:.3} ms): {}",
            count / flows as f64,
            if count > 0.0 {
                secs * 1000.0 / count
            } else {
                0.0
            },
            line.join(", ")
        );
    }
    for e in &all.errors {
        println!("failure: {e}");
    }
    let (lines, count) = server.stderr.lock().unwrap().clone();
    if count > 0 {
        println!("the server wrote {count} lines to stderr; the first:");
        for line in lines.iter().take(5) {
            println!("  {}", strip_ansi(line));
        }
    }
    server.stop().await;
    drop(dir);
    Ok(())
}
