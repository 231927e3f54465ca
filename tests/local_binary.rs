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
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the roomgate binary starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = next_line_with(&mut stdout, "listening on ").await;
        let base = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        Server {
            child,
            stdout,
            base,
        }
    }
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

#[tokio::test]
async fn local_mode_refuses_a_public_address() {
    let acl = concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--acl", acl, "--addr", "0.0.0.0:0"])
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
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
    assert!(
        summary.trim().ends_with("rooms") && summary.contains(" users, "),
        "{summary}"
    );

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
