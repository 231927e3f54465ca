//! The recordings pipeline survives `kill -9` mid-upload: through the real binary in
//! Twilio mode, with the embedded store and local storage in one data directory kept
//! across the crash. Nothing on Twilio is deleted before the object is stored and
//! verified, no object is stored twice, and the job finishes after the restart.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use roomgate::twilio::signature::SignatureValidator;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use support::twilio::{ACCOUNT_SID, ROOM_SID};
use support::*;

const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const PUBLIC_URL: &str = "http://127.0.0.1:8080";
const COMPOSITION_SID: &str = "CJ0123456789abcdef0123456789abcdef";
const TRACK: &str = "RT00000000000000000000000000000001";

fn media() -> Vec<u8> {
    (0..4 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect()
}

/// The signed media URL's server. While `stall` is set it sends the headers and half
/// the file, then holds the connection open (an upload in progress); after that it
/// sends the whole file.
struct MediaServer {
    url: String,
    stall: Arc<AtomicBool>,
    half_sent: Arc<AtomicU32>,
    served: Arc<AtomicU32>,
}

async fn media_server() -> MediaServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/composition.mp4?Signature=s3cr3t",
        listener.local_addr().unwrap()
    );
    let stall = Arc::new(AtomicBool::new(true));
    let half_sent = Arc::new(AtomicU32::new(0));
    let served = Arc::new(AtomicU32::new(0));
    let (s, h, n) = (stall.clone(), half_sent.clone(), served.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (stall, half_sent, served) = (s.clone(), h.clone(), n.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = media();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                if stall.load(Ordering::SeqCst) {
                    let _ = socket.write_all(&body[..body.len() / 2]).await;
                    let _ = socket.flush().await;
                    half_sent.fetch_add(1, Ordering::SeqCst);
                    // Hold it open until the test is done with this process.
                    tokio::time::sleep(Duration::from_secs(120)).await;
                    return;
                }
                served.fetch_add(1, Ordering::SeqCst);
                let _ = socket.write_all(&body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    MediaServer {
        url,
        stall,
        half_sent,
        served,
    }
}

fn composition(status: &str) -> Value {
    json!({
        "account_sid": ACCOUNT_SID, "status": status, "sid": COMPOSITION_SID,
        "room_sid": ROOM_SID, "format": "mp4", "trim": true,
        "size": if status == "completed" { json!(media().len()) } else { Value::Null },
        "duration": if status == "completed" { json!(60) } else { Value::Null },
    })
}

async fn mock_video(video: &MockServer, media_url: &str) {
    let list = |key: &str, items: Value| json!({ key: items, "meta": {"next_page_url": null, "key": key} });
    Mock::given(method("GET"))
        .and(path(format!("/v1/Rooms/{ROOM_SID}/Recordings")))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "recordings",
            json!([{ "sid": TRACK, "status": "completed", "room_sid": ROOM_SID }]),
        )))
        .mount(video)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Compositions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list("compositions", json!([]))))
        .mount(video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Compositions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(composition("enqueued")))
        .expect(1)
        .mount(video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(composition("completed")))
        .mount(video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}/Media")))
        .respond_with(ResponseTemplate::new(302).insert_header("Location", media_url))
        .mount(video)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(video)
        .await;
}

async fn deletes(video: &MockServer) -> usize {
    video
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "DELETE")
        .count()
}

/// Temporary files of uploads under way (or interrupted).
fn temporary(data: &Path) -> usize {
    std::fs::read_dir(data.join("recordings/standup"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
                .count()
        })
        .unwrap_or(0)
}

/// The recordings' final files (not temporary or checksum files).
fn objects(data: &Path) -> Vec<std::path::PathBuf> {
    let dir = data.join("recordings/standup");
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
                .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

async fn room_ended(app: &Roomgate) -> u16 {
    let params: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("RoomName", "standup"),
        ("RoomSid", ROOM_SID),
        ("RoomStatus", "completed"),
        ("StatusCallbackEvent", "room-ended"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = format!("{PUBLIC_URL}/twilio/room-events");
    let signature = SignatureValidator::new(SecretString::from(AUTH_TOKEN)).sign(&url, &params);
    reqwest::Client::new()
        .post(app.url("/twilio/room-events"))
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn killed_mid_upload_the_job_resumes_after_the_restart_and_finishes_once() {
    let video = MockServer::start().await;
    let server = media_server().await;
    mock_video(&video, &server.url).await;
    let data = fresh_dir("recordings-kill9");
    let mut env = twilio_env(&video, &data);
    for (k, v) in [
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("ROOMGATE_PUBLIC_URL", PUBLIC_URL),
        ("ROOMGATE_RECORDING_LEASE_SECS", "2"),
        ("ROOMGATE_RECORDING_RETRY_SECS", "1"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }

    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    assert_eq!(room_ended(&app).await, 200);
    // Mid-upload: half the file sent, and roomgate writing it.
    wait_for("half the download", async || {
        server.half_sent.load(Ordering::SeqCst) > 0
    })
    .await;
    wait_for("the upload under way", async || temporary(&data) == 1).await;
    // A host's command opening the same storage meanwhile leaves the upload alone
    // (it deleted its temporary file, and the download started again).
    let check = tokio::process::Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["recordings", "check"])
        .env_clear()
        .envs(&env)
        .output()
        .await
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(temporary(&data), 1, "the upload under way was deleted");
    app.kill9().await;

    assert_eq!(
        deletes(&video).await,
        0,
        "Twilio's copies deleted before storing"
    );
    assert!(objects(&data).is_empty(), "a partial object was stored");
    assert_eq!(
        temporary(&data),
        1,
        "the interrupted upload's temporary file"
    );

    server.stall.store(false, Ordering::SeqCst);
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    wait_for("Twilio's copies deleted", async || {
        deletes(&video).await == 2
    })
    .await;

    let stored = objects(&data);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), media());
    assert_eq!(temporary(&data), 0, "the leftover was removed at start-up");
    assert_eq!(
        server.served.load(Ordering::SeqCst),
        1,
        "downloaded whole once"
    );
    // The composition was asked for once, before the crash; the restart resumed at
    // the upload.
    let posts = video
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(deletes(&video).await, 2, "deleted once each");
    app.stop().await;
}
