//! What the tests that run the real `roomgate` binary share: starting it, reading what
//! it prints, stopping it (gently or with `kill -9`), a browser-like client, and a
//! mocked Twilio Verify.
#![allow(dead_code)] // each test binary uses its own part of this

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub mod twilio;

use twilio::{ACCOUNT_SID, API_KEY_SID, SERVICE_SID};

pub const EXAMPLE_ACL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");

/// A directory of its own under the system's temp dir.
pub fn fresh_dir(what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "roomgate-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    // An earlier run with the same process id may have left one (with its store).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Verify's answer for a verification in `status`.
pub fn verification(status: &str) -> serde_json::Value {
    twilio::verification_json(status)
}

/// A Verify mock: every start answers "pending", every check "approved".
pub async fn approving_verify() -> MockServer {
    let verify = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/Verifications$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(verification("pending")))
        .mount(&verify)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/VerificationCheck$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(verification("approved")))
        .mount(&verify)
        .await;
    verify
}

/// How many requests the mock received whose path ends with `suffix`.
pub async fn calls(server: &MockServer, suffix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with(suffix))
        .count()
}

/// The environment of a Twilio-mode roomgate talking to `verify`, keeping its state in
/// `data_dir`, with a fixed session key (so cookies outlive a restart).
pub fn twilio_env(verify: &MockServer, data_dir: &Path) -> BTreeMap<String, String> {
    [
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_DATA_DIR", data_dir.display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            data_dir.with_extension("audit.log").display().to_string(),
        ),
        ("ROOMGATE_SESSION_KEY", "R".repeat(64)),
        ("RUST_LOG", "info".to_owned()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("TWILIO_API_KEY_SID", API_KEY_SID.to_owned()),
        ("TWILIO_API_KEY_SECRET", "test-secret".to_owned()),
        ("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID.to_owned()),
        ("TWILIO_VERIFY_BASE_URL", verify.uri()),
        ("TWILIO_VIDEO_BASE_URL", verify.uri()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One running `roomgate serve`.
pub struct Roomgate {
    child: Child,
    pub base: String,
    output: Arc<Mutex<String>>,
    /// The tasks reading its stdout and stderr: done once it has exited and every line
    /// it wrote is in `output`.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

/// Append each line `stream` prints to `into`; the task ends at the stream's end.
pub fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut out = into.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    })
}

impl Roomgate {
    /// Start `roomgate serve` on a free port with exactly `env` (nothing inherited),
    /// and wait until it listens. `addr` may name a fixed port (for a proxy in front).
    pub async fn start(env: &BTreeMap<String, String>, addr: &str) -> Roomgate {
        Self::try_start(env, addr)
            .await
            .unwrap_or_else(|out| panic!("roomgate did not start:\n{out}"))
    }

    /// As [`Self::start`], or what it printed if it exited instead.
    pub async fn try_start(env: &BTreeMap<String, String>, addr: &str) -> Result<Roomgate, String> {
        // The example list unless the environment names another (one a test edits).
        let acl = env.get("ROOMGATE_ACL").map_or(EXAMPLE_ACL, String::as_str);
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(["serve", "--addr", addr, "--acl", acl])
            .env_clear()
            .envs(env)
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the roomgate binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), output.clone()),
            collect(child.stderr.take().unwrap(), output.clone()),
        ];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let line = output
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains("listening on "))
                .map(str::to_owned);
            if let Some(line) = line {
                let base = line.split("listening on ").nth(1).unwrap();
                let base = base.split_whitespace().next().unwrap().to_owned();
                return Ok(Roomgate {
                    child,
                    base,
                    output,
                    readers,
                });
            }
            if child.try_wait().ok().flatten().is_some() || tokio::time::Instant::now() > deadline {
                // Let the last lines arrive.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(output.lock().unwrap().clone());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its admin listener's `/metrics`, from the line it prints after the listening
    /// one: with `ROOMGATE_ADMIN_ADDR` at `:0`, the port is the system's pick, so no
    /// port probed here can be taken by something else in between.
    pub async fn metrics_url(&self) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output();
            if let Some(rest) = out.lines().find_map(|l| l.split("metrics on ").nth(1)) {
                let url = rest.split_whitespace().next().unwrap();
                return url.trim_end_matches(',').to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no metrics line in:\n{out}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// `kill -HUP`: re-read the ACL and the secrets' files.
    pub fn sighup(&self) {
        let pid = self.child.id().expect("roomgate is running");
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// `kill -9`: no chance to flush or clean up.
    pub async fn kill9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// `kill` (SIGTERM), then wait for it to exit: everything it printed.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        // Every line it wrote, read to the end of its output.
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
        }
        self.output()
    }
}

/// A browser: keeps cookies, follows no redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A browser that sends exactly `cookie` (a copied `name=value`), nothing else.
pub fn browser_with_cookie(cookie: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The text between `marker` and the next `"` in `html`.
pub fn extract(html: &str, marker: &str) -> String {
    let start = html.find(marker).expect(marker) + marker.len();
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_owned()
}

/// The session cookie (`name=value`) a response set, if any.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("roomgate="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// What opening a join page gives a browser.
pub struct JoinPage {
    /// The form's CSRF token.
    pub csrf: String,
    /// The session cookie (`name=value`) the page set, if any.
    pub cookie: Option<String>,
}

/// Open the join page of `room` at `base`.
pub async fn open_join(client: &reqwest::Client, base: &str, room: &str) -> JoinPage {
    let join = client
        .get(format!("{base}/rooms/{room}"))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&join);
    let csrf = extract(&join.text().await.unwrap(), r#"name="csrf_token" value=""#);
    JoinPage { csrf, cookie }
}

/// Post the join page's form for `username`.
pub async fn post_sign_in(
    client: &reqwest::Client,
    base: &str,
    room: &str,
    username: &str,
    csrf: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/rooms/{room}/login"))
        .form(&[("username", username), ("csrf_token", csrf)])
        .send()
        .await
        .unwrap()
}

/// Open the join page of `room` at `base` and post the sign-in for `username`: the
/// response to the post (a redirect to the code page, or a notice), and the CSRF token.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    room: &str,
    username: &str,
) -> (reqwest::Response, String) {
    let join = open_join(client, base, room).await;
    let resp = post_sign_in(client, base, room, username, &join.csrf).await;
    (resp, join.csrf)
}

/// Post `code` for the session's pending sign-in.
pub async fn post_code(
    client: &reqwest::Client,
    base: &str,
    room: &str,
    code: &str,
    csrf: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/rooms/{room}/verify"))
        .form(&[("code", code), ("csrf_token", csrf)])
        .send()
        .await
        .unwrap()
}

/// The room page's CSRF token (for the token endpoint and logout), if the session is
/// verified for `room`; `None` when the page is the join form.
pub async fn room_csrf(client: &reqwest::Client, base: &str, room: &str) -> Option<String> {
    let page = client
        .get(format!("{base}/rooms/{room}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = r#"<meta name="csrf-token" content=""#;
    page.contains(marker).then(|| extract(&page, marker))
}

/// Ask for a Video token as the room page does.
pub async fn token(
    client: &reqwest::Client,
    base: &str,
    room: &str,
    csrf: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/rooms/{room}/token"))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap()
}

/// A real `redis-server` (Debian's package) on a unix socket in a directory of its
/// own, with no persistence. Stopped on drop.
pub struct RedisServer {
    pub dir: PathBuf,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            dir: fresh_dir("redis"),
            child: None,
        };
        server.resume();
        server
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// Start it (again) on the same socket, and wait until it answers.
    pub fn resume(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(self.socket())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server; scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..500 {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not open {}", self.socket().display());
    }

    /// Kill it, as a crash or an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// nginx (Debian's package) running `deploy/nginx.conf` exactly as shipped, with a
/// prefix directory of its own. Stopped on drop.
pub struct Nginx {
    child: std::process::Child,
    pub base: String,
}

/// The addresses `deploy/nginx.conf` names.
pub const PROXY: &str = "127.0.0.1:18080";
pub const INSTANCES: [&str; 2] = ["127.0.0.1:18081", "127.0.0.1:18082"];

impl Nginx {
    pub fn start() -> Nginx {
        let prefix = fresh_dir("nginx");
        let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf");
        let child = std::process::Command::new("nginx")
            .arg("-p")
            .arg(&prefix)
            .args(["-c", conf, "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx runs (Debian package nginx-light; scripts/test installs it)");
        // Owned by the guard from here on, so a panic below still stops (and reaps) it.
        let nginx = Nginx {
            child,
            base: format!("http://{PROXY}"),
        };
        for _ in 0..500 {
            if std::net::TcpStream::connect(PROXY).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("nginx did not listen on {PROXY}");
    }
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers too: a SIGKILLed master leaves them
    /// behind, holding the proxy's port. SIGKILL only if that doesn't end it.
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
