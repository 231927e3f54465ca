//! The real binary in local mode, as a newcomer runs it: start it, read the code from
//! its output, finish the flow, decode the token.

mod support;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Server {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    base: String,
}

impl Server {
    async fn start() -> Server {
        Self::start_in(&support::fresh_dir("data")).await
    }

    /// Keeping its state in `data` (kept across a restart).
    async fn start_in(data: &std::path::Path) -> Server {
        Self::start_with(data, &[]).await
    }

    /// With `vars` set too.
    async fn start_with(data: &std::path::Path, vars: &[(&str, &str)]) -> Server {
        let acl = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");
        // An empty working directory: no developer `.env` can leak into the test.
        let dir = std::env::temp_dir().join(format!("roomgate-bin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(["serve", "--acl", acl, "--addr", "127.0.0.1:0"])
            .env_clear()
            .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
            .env("ROOMGATE_DATA_DIR", data)
            .env("RUST_LOG", "info")
            .envs(vars.iter().copied())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the roomgate binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = listening_base(&mut stdout).await;
        Server {
            child,
            stdout,
            base,
        }
    }
}

/// The base URL from the start-up line ("… listening on http://…").
async fn listening_base(stdout: &mut Lines<BufReader<ChildStdout>>) -> String {
    let line = next_line_with(stdout, "listening on ").await;
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address after \"listening on\"")
        .to_owned()
}

async fn next_line_with(lines: &mut Lines<BufReader<ChildStdout>>, needle: &str) -> String {
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("roomgate exited before printing {needle:?}");
    })
    .await
    .expect("roomgate printed in time")
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

#[tokio::test]
async fn local_mode_flow_through_the_real_binary() {
    let mut server = Server::start().await;
    let client = support::browser();
    let url = |p: &str| format!("{}{}", server.base, p);

    let (resp, csrf) = support::sign_in(&client, &server.base, "standup", "Alice").await;
    assert_eq!(resp.status(), 303);

    let line = next_line_with(&mut server.stdout, "user=alice").await;
    let code = field(&line, "code=").to_owned();
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));

    let resp = support::post_code(&client, &server.base, "standup", &code, &csrf).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/rooms/standup");

    let csrf = support::room_csrf(&client, &server.base, "standup")
        .await
        .expect("the room page");
    let body: Value = client
        .post(url("/rooms/standup/token"))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = body["token"].as_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["cty"], "twilio-fpa;v=1");
    assert_eq!(claims["grants"]["identity"], "alice");
    assert_eq!(claims["grants"]["video"]["room"], "standup");
    assert_eq!(claims["exp"], body["expires_at"]);
    assert!(
        claims["jti"]
            .as_str()
            .unwrap()
            .starts_with(claims["iss"].as_str().unwrap())
    );

    server.child.kill().await.unwrap();
}

/// `roomgate serve ARGS` in local mode with the example list, which must refuse to
/// start: what it says.
async fn refused_start(args: &[&str]) -> String {
    let acl = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--acl", acl])
        .args(args)
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn local_mode_refuses_a_public_address() {
    let stderr = refused_start(&["--addr", "0.0.0.0:0"]).await;
    assert!(
        stderr.contains("local mode only listens on loopback"),
        "{stderr}"
    );
}

#[tokio::test]
async fn start_up_reports_every_problem_and_no_secret() {
    let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--acl", "/nonexistent/acl.toml"])
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .env("TWILIO_ACCOUNT_SID", "AC123")
        .env("TWILIO_API_KEY_SECRET", "super-secret-value")
        .env("ROOMGATE_TOKEN_TTL", "5")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing: TWILIO_API_KEY_SID, TWILIO_VERIFY_SERVICE_SID"),
        "{stderr}"
    );
    assert!(stderr.contains("ROOMGATE_TOKEN_TTL must be"), "{stderr}");
    assert!(stderr.contains("/nonexistent/acl.toml"), "{stderr}");
    assert!(!stderr.contains("super-secret-value"));

    // A value given by a flag is named by its flag.
    let stderr = refused_start(&["--token-ttl", "5", "--addr", "nonsense"]).await;
    assert!(
        stderr.contains("--token-ttl must be a whole number"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--addr must be an IP address and port"),
        "{stderr}"
    );
    assert!(!stderr.contains("ROOMGATE_TOKEN_TTL"), "{stderr}");
}

#[tokio::test]
async fn acl_check_prints_a_summary_or_every_error() {
    let ok = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args([
            "acl",
            "check",
            concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml"),
        ])
        .output()
        .await
        .unwrap();
    assert!(ok.status.success());
    let summary = String::from_utf8_lossy(&ok.stdout);
    assert_eq!(summary.trim(), "3 users, 3 rooms, any room for 1 user");

    let bad = std::env::temp_dir().join(format!("roomgate-bad-acl-{}.toml", std::process::id()));
    std::fs::write(
        &bad,
        "[users.carol]\nphone = \"555-0101\"\nrooms = [\"standup\"]\n\n[users.dave]\nphone = \"+14155550101\"\nrooms = []\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["acl", "check"])
        .arg(&bad)
        .output()
        .await
        .unwrap();
    std::fs::remove_file(&bad).ok();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":2:9: users.carol.phone"), "{stderr}");
    assert!(stderr.contains("users.dave.rooms"), "{stderr}");
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_keep_the_acl_from_loading() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");
    let check = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["acl", "check", example])
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .env("ROOMGATE_ALLOWED_COUNTRIES", "us, ca")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert_eq!(check.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("users.bob.phone: +44********56 is in GB"),
        "{stderr}"
    );
    assert!(stderr.contains("users.carol.phone"), "{stderr}");
    assert!(
        !stderr.contains("+447400123456"),
        "numbers are masked: {stderr}"
    );

    let serve = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--addr", "127.0.0.1:0", "--acl", example])
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .env("ROOMGATE_ALLOWED_COUNTRIES", "US,CA")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(!serve.status.success());
    assert!(String::from_utf8_lossy(&serve.stderr).contains("is in GB"));
}

#[tokio::test]
async fn the_start_up_line_says_passkeys_need_localhost() {
    let mut server = Server::start().await;
    // The default public URL is an IP address, where browsers refuse WebAuthn.
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let line = next_line_with(&mut server.stdout, "passkeys").await;
    assert_eq!(
        line,
        format!(
            "passkeys need http://localhost:{port} (browsers refuse them on an IP address): set ROOMGATE_PUBLIC_URL=http://localhost:{port} and open that"
        )
    );
}

/// Where passkeys work is the public URL (the relying party's origin), not the port
/// the server listens on (a proxy in front of it, say).
#[tokio::test]
async fn the_start_up_line_says_where_passkeys_work() {
    let public = "http://localhost:18999";
    let mut server = Server::start_with(
        &support::fresh_dir("data"),
        &[("ROOMGATE_PUBLIC_URL", public)],
    )
    .await;
    let line = next_line_with(&mut server.stdout, "passkeys").await;
    assert_eq!(line, format!("passkeys work at {public}"));
}

/// The admin listener's address is printed with its real port, even when the setting
/// left the port to the system (`127.0.0.1:0` here), and it answers there.
#[tokio::test]
async fn the_start_up_lines_give_the_admin_address() {
    let mut server = Server::start().await;
    let line = next_line_with(&mut server.stdout, "metrics on ").await;
    let url = line
        .split_whitespace()
        .find(|w| w.ends_with("/metrics,"))
        .map(|w| w.trim_end_matches(','))
        .unwrap_or_else(|| panic!("no metrics URL in {line:?}"));
    assert!(!url.contains(":0/"), "{line}");
    let client = reqwest::Client::new();
    let metrics = client.get(url).send().await.unwrap();
    assert_eq!(metrics.status(), 200, "{url}");
    assert!(metrics.text().await.unwrap().contains("roomgate_"));
    let ready = url.replace("/metrics", "/readyz");
    assert_eq!(client.get(&ready).send().await.unwrap().status(), 200);
}

/// With no key configured, local mode keeps the one it made in the data directory: a
/// session verified before a restart is still verified after it.
#[tokio::test]
async fn a_local_session_outlives_a_restart() {
    let data = support::fresh_dir("data-restart");
    let mut server = Server::start_in(&data).await;
    let client = support::browser();
    let (resp, csrf) = support::sign_in(&client, &server.base, "standup", "alice").await;
    assert_eq!(resp.status(), 303);
    let line = next_line_with(&mut server.stdout, "user=alice").await;
    let code = field(&line, "code=").to_owned();
    let verified = support::post_code(&client, &server.base, "standup", &code, &csrf).await;
    assert_eq!(verified.status(), 303);
    let cookie = support::session_cookie(&verified).expect("the verified session's cookie");
    server.child.kill().await.unwrap();

    let key = std::fs::read_to_string(data.join("session.key")).unwrap();
    assert!(!key.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("session.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut server = Server::start_in(&data).await;
    let copy = support::browser_with_cookie(&cookie);
    assert!(
        support::room_csrf(&copy, &server.base, "standup")
            .await
            .is_some(),
        "the room page, not the join form, after the restart"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("session.key")).unwrap(),
        key
    );
    server.child.kill().await.unwrap();
}

/// A code printed before a `kill -9` is the code to type after it: local mode keeps its
/// verifications in the store (sealed under the kept session key), like Verify would
/// keep them through a restart of ours.
#[tokio::test]
async fn a_local_code_asked_for_before_a_crash_works_after_it() {
    let data = support::fresh_dir("data-code-restart");
    let mut server = Server::start_in(&data).await;
    let client = support::browser();
    let (resp, csrf) = support::sign_in(&client, &server.base, "standup", "alice").await;
    assert_eq!(resp.status(), 303);
    let cookie = support::session_cookie(&resp).expect("the signing-in session's cookie");
    let line = next_line_with(&mut server.stdout, "user=alice").await;
    let code = field(&line, "code=").to_owned();
    // The code is printed a moment before the sign-in records that it went out (a
    // crash in between loses that sign-in, as it would with Verify): let that land,
    // then SIGKILL, so nothing else gets to flush.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.child.kill().await.unwrap();

    let server = Server::start_in(&data).await;
    let same_browser = support::browser_with_cookie(&cookie);
    let resp = support::post_code(&same_browser, &server.base, "standup", &code, &csrf).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/rooms/standup");
    let verified = support::session_cookie(&resp).expect("the verified session's cookie");
    assert!(
        support::room_csrf(
            &support::browser_with_cookie(&verified),
            &server.base,
            "standup"
        )
        .await
        .is_some(),
        "the room page after the code"
    );
}

/// Make the pipe behind `fd` as small as Linux allows (one page), so a few lines fill it.
#[cfg(target_os = "linux")]
fn shrink_pipe(fd: &impl std::os::fd::AsRawFd) {
    #[allow(unsafe_code)]
    // SAFETY: fcntl on a file descriptor we own; F_SETPIPE_SZ takes an int.
    let set = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(set >= 4096, "F_SETPIPE_SZ failed");
}

/// A terminal that stops reading (a full pipe, a window paused with Ctrl-S) must not
/// stall the server: the log and the local codes are written by threads of their own,
/// from queues. Here both of its outputs are pipes of one page that nobody reads while
/// 150 people sign in (each a code on stdout and log lines on stderr, many times what
/// a page holds). Every sign-in is still answered at once; once the pipes are read
/// again, every code and every log line arrives.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn output_nobody_reads_does_not_stall_the_server() {
    const PEOPLE: usize = 150;
    let dir = support::fresh_dir("unread-output");
    let acl = dir.join("acl.toml");
    let mut text = String::new();
    for i in 0..PEOPLE {
        text.push_str(&format!(
            "[users.user{i:03}]\nphone = \"+1415200{i:04}\"\nrooms = [\"standup\"]\n\n"
        ));
    }
    std::fs::write(&acl, text).unwrap();
    let many = "100000";
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--acl")
        .arg(&acl)
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "info")
        .env("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", many)
        .env("ROOMGATE_PENDING_SIGNINS_MAX", many)
        .env("ROOMGATE_SMS_BUDGET_PER_MINUTE", many)
        .env("ROOMGATE_SMS_BUDGET_PER_HOUR", many)
        .env("ROOMGATE_SMS_BUDGET_PER_DAY", many)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the roomgate binary starts");
    let stderr = child.stderr.take().unwrap();
    shrink_pipe(&stderr);
    let stdout = child.stdout.take().unwrap();
    shrink_pipe(&stdout);
    let mut stdout = BufReader::new(stdout).lines();
    let base = listening_base(&mut stdout).await;

    // Nothing reads stdout or stderr from here until every sign-in is answered.
    let client = support::browser();
    for i in 0..PEOPLE {
        let user = format!("user{i:03}");
        let (resp, _) = tokio::time::timeout(
            Duration::from_secs(10),
            support::sign_in(&client, &base, "standup", &user),
        )
        .await
        .unwrap_or_else(|_| panic!("the sign-in of {user} was not answered: the server stalled"));
        assert_eq!(resp.status(), 303, "{user}");
    }

    // Read again: every code arrives, then the log (to its end, once it exits).
    let mut codes = std::collections::BTreeSet::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while codes.len() < PEOPLE {
            let line = stdout
                .next_line()
                .await
                .unwrap()
                .expect("roomgate's stdout");
            if line.contains("code=") {
                codes.insert(field(&line, "user=").to_owned());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {PEOPLE} codes printed", codes.len()));
    let mut log = String::new();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stderr = stderr;
        stderr.read_to_string(&mut log).await.map(|_| log)
    });
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .arg(&pid)
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("roomgate stops")
        .unwrap();
    let log = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let requested = log.matches("sign-in requested").count();
    assert_eq!(
        requested, PEOPLE,
        "a log line per sign-in, none dropped:\n{log}"
    );
    assert!(!log.contains("log lines dropped"), "{log}");
    // A pipe is not a terminal: no colour codes to split `key=value` fields.
    assert!(!log.contains('\u{1b}'), "{log}");
    assert!(log.contains("user=u-"), "{log}");
}

/// Start-up warnings in the log: a misspelt setting would silently leave its default
/// in force (here: per-IP limits counting the proxy), so it is named, with the setting
/// meant; and in Twilio mode, rooms set to record without the Auth Token that checks
/// the callbacks which take recordings off Twilio.
#[tokio::test]
async fn start_up_warnings_name_a_misspelt_setting_and_unmanaged_recordings() {
    let acl = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--acl", acl, "--addr", "127.0.0.1:0"])
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .env("ROOMGATE_TRUSTED_PROXY", "10.0.0.1")
        // Twilio mode, with nothing to call at start-up.
        .env("TWILIO_ACCOUNT_SID", format!("AC{}", "0".repeat(32)))
        .env("TWILIO_API_KEY_SID", format!("SK{}", "0".repeat(32)))
        .env("TWILIO_API_KEY_SECRET", "not-a-real-secret")
        .env("TWILIO_VERIFY_SERVICE_SID", format!("VA{}", "0".repeat(32)))
        .env("ROOMGATE_SESSION_KEY", "k".repeat(64))
        .current_dir(support::fresh_dir("cwd"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the roomgate binary starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let started = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("starting") && line.contains("workers") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(started, Ok(true), "not started within 20 s:\n{log}");
    let warning = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{log}"))
    };
    let misspelt = warning("ROOMGATE_TRUSTED_PROXY");
    assert!(misspelt.contains("WARN"), "{misspelt}");
    assert!(
        misspelt.contains(
            "is not a roomgate setting and is ignored; did you mean ROOMGATE_TRUSTED_PROXIES?"
        ),
        "{misspelt}"
    );
    let recordings = warning("rooms are set to record, but TWILIO_AUTH_TOKEN is not set");
    assert!(
        recordings.contains("WARN") && recordings.contains("room=standup"),
        "{recordings}"
    );
}
