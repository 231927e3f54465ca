//! API key rotation through the real binary: the key comes from files, `SIGHUP` re-reads
//! them, and the new key is used from then on without dropping a session. A malformed
//! new key is refused and the old one stays in service.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use roomgate::twilio::signature::SignatureValidator;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::twilio::{
    ACCOUNT_SID, CHECK_PATH, ROOM_SID, SERVICE_SID, START_PATH, basic_auth as basic,
    verification_json as verification,
};

const KEY1_SID: &str = "SK11111111111111111111111111111111";
const KEY1_SECRET: &str = "first-api-key-secret-0123456789";
const KEY2_SID: &str = "SK22222222222222222222222222222222";
const KEY2_SECRET: &str = "second-api-key-secret-9876543210";

const ACL: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup"]
role = "host"

[users.bob]
phone = "+447400123456"
rooms = ["*"]

[users.carol]
phone = "+14155550123"
rooms = ["standup"]
"#;

/// The binary, serving in Twilio mode against a mocked Twilio.
struct Server {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
    twilio: MockServer,
}

impl Server {
    async fn start() -> Server {
        Self::start_with(&[], &[]).await
    }

    /// With extra files in its directory and extra environment variables (`{dir}` in a
    /// value is that directory).
    async fn start_with(files: &[(&str, &str)], extra: &[(&str, &str)]) -> Server {
        let dir = std::env::temp_dir().join(format!(
            "roomgate-rotation-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("acl.toml"), ACL).unwrap();
        write_key(&dir, KEY1_SID, KEY1_SECRET);
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }

        let twilio = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(START_PATH))
            .respond_with(ResponseTemplate::new(201).set_body_json(verification("pending")))
            .mount(&twilio)
            .await;
        Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(verification("approved")))
            .mount(&twilio)
            .await;
        // The room is in progress with nobody in it: a host's participant list asks
        // Video every time, so it shows which key Video was called with. (Tokens ask
        // about the room once, in the background.)
        Mock::given(method("GET"))
            .and(path("/v1/Rooms/standup"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "sid": ROOM_SID,
                "unique_name": "standup",
                "status": "in-progress"
            })))
            .mount(&twilio)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/v1/Rooms/{ROOM_SID}/Participants")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "participants": [],
                "meta": { "next_page_url": null }
            })))
            .mount(&twilio)
            .await;

        let acl = dir.join("acl.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(["serve", "--addr", "127.0.0.1:0", "--acl"])
            .arg(&acl)
            .env_clear()
            .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
            .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
            .env("ROOMGATE_SESSION_KEY", "r".repeat(72))
            .env("ROOMGATE_AUDIT_LOG", dir.join("audit.log"))
            .env("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
            .env("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID)
            .env("TWILIO_API_KEY_SID_FILE", dir.join("key-sid"))
            .env("TWILIO_API_KEY_SECRET_FILE", dir.join("key-secret"))
            .env("TWILIO_VERIFY_BASE_URL", twilio.uri())
            .env("TWILIO_VIDEO_BASE_URL", twilio.uri())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(
                extra
                    .iter()
                    .map(|(k, v)| (*k, v.replace("{dir}", &dir.display().to_string()))),
            )
            // No developer `.env` can leak in.
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the roomgate binary starts");

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                sink.lock().unwrap().push(line);
            }
        });

        let mut out_lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let listening = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = out_lines.next_line().await.unwrap() {
                if line.contains("listening on http://") {
                    return line;
                }
            }
            panic!(
                "roomgate exited before listening:\n{}",
                stderr.lock().unwrap().join("\n")
            );
        })
        .await
        .expect("roomgate started in time");
        // Keep draining stdout so the child never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });
        let port: u16 = listening
            .split("listening on http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {listening:?}"));
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
            dir,
            twilio,
        }
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    fn sighup(&self) {
        let pid = self.child.id().expect("roomgate is running");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Wait (at most 10 s) for a stderr line containing `needle`; that line.
    async fn log_line(&self, needle: &str) -> String {
        for _ in 0..200 {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {needle:?} on stderr:\n{}", self.stderr_text());
    }

    /// How many requests Twilio has received so far.
    async fn twilio_requests(&self) -> Vec<wiremock::Request> {
        self.twilio.received_requests().await.unwrap_or_default()
    }

    /// Sign `user` in to standup in a new browser; the browser, the Verify requests
    /// the sign-in made, and the room page's CSRF token.
    async fn sign_in(&self, user: &str) -> (reqwest::Client, Vec<wiremock::Request>, String) {
        let before = self.twilio_requests().await.len();
        let client = support::browser();
        let base = &self.base;
        let (resp, csrf) = support::sign_in(&client, base, "standup", user).await;
        assert_eq!(resp.status(), 303);
        let resp = support::post_code(&client, base, "standup", "123456", &csrf).await;
        assert_eq!(resp.status(), 303, "{user} verified");
        assert_eq!(resp.headers()["location"], "/rooms/standup");
        let room_csrf = support::room_csrf(&client, base, "standup")
            .await
            .expect("the room page");
        let verify: Vec<_> = self.twilio_requests().await[before..]
            .iter()
            .filter(|r| r.url.path().starts_with("/v2/"))
            .cloned()
            .collect();
        let paths: Vec<&str> = verify.iter().map(|r| r.url.path()).collect();
        assert_eq!(paths, [START_PATH, CHECK_PATH], "{user}'s sign-in");
        (client, verify, room_csrf)
    }

    /// A token for a verified browser: its claims, checked against `secret`, and the
    /// Video requests made from then to the end of a participant list asked for right
    /// after it (alice is a host; others' lists are refused without a Video call).
    async fn token(
        &self,
        client: &reqwest::Client,
        csrf: &str,
        secret: &str,
    ) -> (Value, Vec<wiremock::Request>) {
        let before = self.twilio_requests().await.len();
        let resp = client
            .post(self.url("/rooms/standup/token"))
            .header("X-CSRF-Token", csrf)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "a token is issued");
        let body: Value = resp.json().await.unwrap();
        let jwt = body["token"].as_str().unwrap();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Value>(
            jwt,
            &DecodingKey::from_secret(secret.as_bytes()),
            &validation,
        )
        .unwrap_or_else(|e| panic!("the token is not signed with the expected secret: {e}"))
        .claims;
        client
            .get(self.url("/rooms/standup/participants"))
            .send()
            .await
            .unwrap();
        let video = self.twilio_requests().await[before..]
            .iter()
            .filter(|r| r.url.path().starts_with("/v1/"))
            .cloned()
            .collect();
        (claims, video)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// POST a signed `participant-connected` callback; the status.
async fn post_room_event(server: &Server, auth_token: &str) -> u16 {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("RoomName", "standup"),
        ("RoomSid", "RM0123456789abcdef0123456789abcdef"),
        ("RoomStatus", "in-progress"),
        ("RoomType", "group"),
        ("StatusCallbackEvent", "participant-connected"),
        ("Timestamp", support::twilio::callback_timestamp()),
        ("ParticipantSid", "PA0123456789abcdef0123456789abcdef"),
        ("ParticipantStatus", "connected"),
        ("ParticipantIdentity", "alice"),
        ("SequenceNumber", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = SignatureValidator::new(SecretString::from(auth_token))
        .sign("http://127.0.0.1:8080/twilio/room-events", &params);
    reqwest::Client::new()
        .post(server.url("/twilio/room-events"))
        .form(&params)
        .header("X-Twilio-Signature", signature)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn write_key(dir: &Path, sid: &str, secret: &str) {
    // Written with a trailing newline, as `echo` and editors leave them.
    std::fs::write(dir.join("key-sid"), format!("{sid}\n")).unwrap();
    std::fs::write(dir.join("key-secret"), format!("{secret}\n")).unwrap();
}

fn assert_auth(requests: &[wiremock::Request], sid: &str, secret: &str) {
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(
            r.headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some(basic(sid, secret)),
            "Authorization of {} {}",
            r.method,
            r.url.path()
        );
    }
}

#[tokio::test]
async fn api_keys_are_reread_on_sighup_without_dropping_sessions() {
    let server = Server::start().await;

    // Key 1 from the files.
    let (alice, verify, alice_csrf) = server.sign_in("alice").await;
    assert_auth(&verify, KEY1_SID, KEY1_SECRET);
    let (claims, video) = server.token(&alice, &alice_csrf, KEY1_SECRET).await;
    assert_eq!(claims["iss"], KEY1_SID);
    assert_eq!(claims["sub"], ACCOUNT_SID);
    assert_auth(&video, KEY1_SID, KEY1_SECRET);

    // A malformed SID, with a new secret beside it: half a key is no key.
    std::fs::write(server.dir.join("key-sid"), "SK-not-a-key-sid\n").unwrap();
    std::fs::write(server.dir.join("key-secret"), format!("{KEY2_SECRET}\n")).unwrap();
    server.sighup();
    let error = server.log_line("secrets not re-read").await;
    assert!(error.contains("ERROR"), "{error}");
    assert!(error.contains("TWILIO_API_KEY_SID_FILE"), "{error}");
    let (_bob, verify, _) = server.sign_in("bob").await;
    assert_auth(&verify, KEY1_SID, KEY1_SECRET);
    let (claims, video) = server.token(&alice, &alice_csrf, KEY1_SECRET).await;
    assert_eq!(claims["iss"], KEY1_SID);
    assert_auth(&video, KEY1_SID, KEY1_SECRET);
    assert!(!server.stderr_text().contains("API key rotated"));

    // Key 2, whole.
    write_key(&server.dir, KEY2_SID, KEY2_SECRET);
    server.sighup();
    let rotated = server.log_line("API key rotated").await;
    assert!(rotated.contains(KEY2_SID), "{rotated}");

    let (carol, verify, carol_csrf) = server.sign_in("carol").await;
    assert_auth(&verify, KEY2_SID, KEY2_SECRET);
    let (claims, _) = server.token(&carol, &carol_csrf, KEY2_SECRET).await;
    assert_eq!(claims["iss"], KEY2_SID);

    // alice, verified under key 1, keeps her session; her new token is key 2's.
    let (claims, video) = server.token(&alice, &alice_csrf, KEY2_SECRET).await;
    assert_eq!(claims["iss"], KEY2_SID);
    assert_eq!(claims["grants"]["identity"], "alice");
    assert!(
        claims["jti"].as_str().unwrap().starts_with(KEY2_SID),
        "{claims}"
    );
    assert_auth(&video, KEY2_SID, KEY2_SECRET);

    // No secret ever reached the log.
    let log = server.stderr_text();
    for secret in [KEY1_SECRET, KEY2_SECRET] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }
}

#[tokio::test]
async fn the_auth_token_file_is_reread_on_sighup() {
    const TOKEN1: &str = "11111111111111111111111111111111";
    const TOKEN2: &str = "22222222222222222222222222222222";
    let server = Server::start_with(
        &[("auth-token", &format!("{TOKEN1}\n"))],
        &[("TWILIO_AUTH_TOKEN_FILE", "{dir}/auth-token")],
    )
    .await;
    assert_eq!(post_room_event(&server, TOKEN1).await, 200);
    assert_eq!(post_room_event(&server, TOKEN2).await, 403);

    std::fs::write(server.dir.join("auth-token"), format!("{TOKEN2}\n")).unwrap();
    server.sighup();
    server.log_line("Auth Token re-read").await;
    assert_eq!(post_room_event(&server, TOKEN2).await, 200);
    assert_eq!(post_room_event(&server, TOKEN1).await, 403);
    // The API key was left as it was.
    assert!(!server.stderr_text().contains("API key rotated"));
    let log = server.stderr_text();
    for token in [TOKEN1, TOKEN2] {
        assert!(!log.contains(token), "the Auth Token in the log:\n{log}");
    }
}
