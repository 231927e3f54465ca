//! The S3 backend against a real S3-compatible server that enforces SigV4: s3s-fs
//! (crates.io, installed by `scripts/test`). Found through `ROOMGATE_TEST_S3S_FS`
//! (a path) or on `PATH`; without it these tests fail, they don't skip.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use roomgate::recordings::storage::s3::S3Storage;
use roomgate::recordings::storage::{
    ByteStream, Disposition, ObjectStorage, StorageError, StorageSettings,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

const ACCESS_KEY: &str = "roomgate-test-access";
const SECRET_KEY: &str = "roomgate-test-secret-0123456789";
const BUCKET: &str = "recordings";
const MIB: usize = 1024 * 1024;

/// An s3s-fs process on a free port with its own directory; killed on drop.
struct S3sFs {
    child: Child,
    root: PathBuf,
    endpoint: String,
}

impl S3sFs {
    async fn start() -> Self {
        let binary = std::env::var_os("ROOMGATE_TEST_S3S_FS")
            .map(PathBuf::from)
            .or_else(|| find_on_path("s3s-fs"))
            .expect(
                "s3s-fs is needed by these tests and was not found on PATH (or in \
                 ROOMGATE_TEST_S3S_FS): install it with \
                 `cargo install --locked s3s-fs@0.14.1 --features binary`, as scripts/test does",
            );
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "roomgate-s3s-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        // A bucket is a directory to s3s-fs.
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let server = Self {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("s3s-fs did not start listening on port {port}");
    }

    fn storage(&self) -> S3Storage {
        s3_storage(&self.endpoint, SECRET_KEY)
    }

    /// The keys in the bucket under `prefix`, listed through the S3 API.
    async fn list(&self, prefix: &str) -> Vec<String> {
        let bucket = Bucket::new(
            self.endpoint.parse().unwrap(),
            UrlStyle::Path,
            BUCKET,
            "us-east-1",
        )
        .unwrap();
        let credentials = Credentials::new(ACCESS_KEY, SECRET_KEY);
        let mut action = bucket.list_objects_v2(Some(&credentials));
        action.with_prefix(prefix);
        let text = reqwest::get(action.sign(Duration::from_secs(60)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        rusty_s3::actions::ListObjectsV2::parse_response(&text)
            .unwrap()
            .contents
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Multipart uploads still open (s3s-fs keeps one file per upload and part).
    fn open_uploads(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with(".upload"))
            .collect()
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The backend as `serve` would build it from the settings, for `endpoint`, with
/// `secret` as the secret key.
fn s3_storage(endpoint: &str, secret: &str) -> S3Storage {
    let vars = [
        ("ROOMGATE_RECORDINGS_S3_ENDPOINT", endpoint),
        ("ROOMGATE_RECORDINGS_S3_BUCKET", BUCKET),
        ("ROOMGATE_RECORDINGS_S3_REGION", "us-east-1"),
        ("ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID", ACCESS_KEY),
        ("ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY", secret),
        ("ROOMGATE_RECORDINGS_S3_PATH_STYLE", "true"),
    ];
    let settings = StorageSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    S3Storage::new(
        settings.s3.as_ref().unwrap(),
        roomgate::twilio::verify::http_client(Duration::from_secs(10)),
    )
    .unwrap()
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// `len` bytes that are not all alike, in chunks of an odd size (so parts don't
/// line up with chunks).
fn generated(len: usize) -> (Vec<u8>, ByteStream) {
    let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = data
        .chunks(300_001)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    (data, futures_util::stream::iter(chunks).boxed())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

#[tokio::test]
async fn a_multipart_upload_is_stored_verified_and_read_back_through_a_link() {
    let s3 = S3sFs::start().await;
    let storage = s3.storage();
    let (data, body) = generated(12 * MIB + 17);
    let stored = storage.put("rooms/standup/CJ1.mp4", body).await.unwrap();
    assert_eq!(stored.size, data.len() as u64);
    assert_eq!(stored.sha256, sha256(&data));
    assert_eq!(
        storage.stat("rooms/standup/CJ1.mp4").await.unwrap(),
        Some(stored)
    );
    assert_eq!(storage.stat("rooms/standup/none.mp4").await.unwrap(), None);

    let link = storage
        .link(
            "rooms/standup/CJ1.mp4",
            Duration::from_secs(60),
            &Disposition::Attachment {
                filename: "standup 2026-12-05.mp4".into(),
            },
        )
        .unwrap();
    let response = get(link.expose_secret()).await;
    assert_eq!(response.status(), 200);
    // Two parts of 8 MiB at most: S3's multipart ETag ends in -2.
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.trim_matches('"').ends_with("-2"), "{etag}");
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"standup 2026-12-05.mp4\"; filename*=UTF-8''standup%202026-12-05.mp4"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(sha256(&body), stored.sha256);
    assert!(s3.open_uploads().is_empty(), "{:?}", s3.open_uploads());
}

#[tokio::test]
async fn the_server_refuses_tampered_expired_and_unsigned_requests() {
    let s3 = S3sFs::start().await;
    let storage = s3.storage();
    let (_, body) = generated(1000);
    storage.put("rooms/a/r.mp4", body).await.unwrap();
    let ttl = Duration::from_secs(60);

    let link = storage
        .link("rooms/a/r.mp4", ttl, &Disposition::Inline)
        .unwrap();
    let link = link.expose_secret();
    assert_eq!(get(link).await.status(), 200);

    // Another signature, another object, a longer life: each breaks the signature.
    let mut tampered = link.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(get(&tampered).await.status(), 403);
    let other_key = link.replace("rooms/a/r.mp4", "rooms/a/s.mp4");
    assert_eq!(get(&other_key).await.status(), 403);
    let longer = link.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
    assert_ne!(longer, link);
    assert_eq!(get(&longer).await.status(), 403);

    // Signed half a minute ago for one minute: still good, so what refuses the
    // next one is its age alone.
    let recent = storage
        .link_signed_at(
            "rooms/a/r.mp4",
            ttl,
            &Disposition::Inline,
            SystemTime::now() - Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(get(recent.expose_secret()).await.status(), 200);
    // Signed ten minutes ago for one minute.
    let expired = storage
        .link_signed_at(
            "rooms/a/r.mp4",
            ttl,
            &Disposition::Inline,
            SystemTime::now() - Duration::from_secs(600),
        )
        .unwrap();
    assert_eq!(get(expired.expose_secret()).await.status(), 403);

    let unsigned = format!("{}/{BUCKET}/rooms/a/r.mp4", s3.endpoint);
    assert_eq!(get(&unsigned).await.status(), 403);
}

#[tokio::test]
async fn a_stream_that_breaks_halfway_leaves_no_object_and_no_upload() {
    let s3 = S3sFs::start().await;
    let storage = s3.storage();
    let (data, _) = generated(9 * MIB);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(bytes::Bytes::copy_from_slice(&data)),
        Err(std::io::Error::other("the media download broke")),
    ];
    let err = storage
        .put(
            "rooms/b/broken.mp4",
            futures_util::stream::iter(chunks).boxed(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Source(_)), "{err:?}");
    assert_eq!(storage.stat("rooms/b/broken.mp4").await.unwrap(), None);
    assert!(s3.list("rooms/b/").await.is_empty());
    // The abort is sent in the background as the upload is dropped.
    for _ in 0..100 {
        if s3.open_uploads().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the multipart upload was not aborted: {:?}",
        s3.open_uploads()
    );
}

#[tokio::test]
async fn writing_a_key_again_replaces_it() {
    let s3 = S3sFs::start().await;
    let storage = s3.storage();
    let (_, first) = generated(6 * MIB);
    storage.put("rooms/c/x.mp4", first).await.unwrap();
    let (data, second) = generated(100);
    let stored = storage.put("rooms/c/x.mp4", second).await.unwrap();
    assert_eq!(s3.list("rooms/c/").await, ["rooms/c/x.mp4"]);
    assert_eq!(storage.stat("rooms/c/x.mp4").await.unwrap(), Some(stored));
    assert_eq!(stored.sha256, sha256(&data));

    storage.delete("rooms/c/x.mp4").await.unwrap();
    storage.delete("rooms/c/x.mp4").await.unwrap();
    assert!(s3.list("rooms/c/").await.is_empty());
}

#[tokio::test]
async fn check_stores_a_probe_sees_unsigned_gets_refused_and_cleans_up() {
    let s3 = S3sFs::start().await;
    let report = s3.storage().check().await.unwrap();
    assert_eq!(report.backend, "s3");
    assert_eq!(report.unsigned_get_status, 403);
    assert!(report.passed(), "{report:?}");
    assert!(s3.list("roomgate-probe/").await.is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_a_refusal_not_a_hang() {
    let s3 = S3sFs::start().await;
    let storage = s3_storage(&s3.endpoint, "not-the-secret");
    let (_, body) = generated(10);
    let err = storage.put("rooms/d/x.mp4", body).await.unwrap_err();
    assert!(
        matches!(err, StorageError::Refused { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("not-the-secret"));
}

/// `roomgate recordings check` with only `vars` set, from a directory with no `.env`.
async fn check_command(dir: &Path, vars: &[(&str, &str)]) -> (bool, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["recordings", "check"])
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[tokio::test]
async fn the_check_command_reports_each_step_and_fails_on_a_refusal() {
    let s3 = S3sFs::start().await;
    let mut vars = vec![
        ("ROOMGATE_RECORDINGS_S3_ENDPOINT", s3.endpoint.as_str()),
        ("ROOMGATE_RECORDINGS_S3_BUCKET", BUCKET),
        ("ROOMGATE_RECORDINGS_S3_REGION", "us-east-1"),
        ("ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID", ACCESS_KEY),
        ("ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY", SECRET_KEY),
        ("ROOMGATE_RECORDINGS_S3_PATH_STYLE", "true"),
    ];
    let (ok, out) = check_command(&s3.root, &vars).await;
    assert!(ok, "{out}");
    assert!(out.contains("backend: s3\n"), "{out}");
    assert!(
        out.contains(&format!("location: bucket {BUCKET} at {}", s3.endpoint)),
        "{out}"
    );
    assert!(out.contains("unsigned GET: refused (HTTP 403)"), "{out}");
    assert!(out.contains("probe deleted: yes"), "{out}");

    vars[4].1 = "not-the-secret";
    let (ok, out) = check_command(&s3.root, &vars).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("failed: the storage refused CreateMultipartUpload (HTTP 403"),
        "{out}"
    );
    assert!(!out.contains("not-the-secret"), "{out}");

    // Half a configuration stops before anything is tried.
    let (ok, out) = check_command(&s3.root, &vars[..2]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("missing: ROOMGATE_RECORDINGS_S3_REGION"),
        "{out}"
    );
}

#[tokio::test]
async fn the_check_command_without_a_bucket_checks_the_data_directory() {
    let dir = std::env::temp_dir().join(format!("roomgate-rec-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let (ok, out) = check_command(&dir, &[("ROOMGATE_DATA_DIR", data.to_str().unwrap())]).await;
    assert!(ok, "{out}");
    assert!(out.contains("backend: local\n"), "{out}");
    assert!(
        out.contains(&format!("location: {}", data.join("recordings").display())),
        "{out}"
    );
    assert!(out.contains("unsigned GET: refused (HTTP 403)"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn server_side_encryption_is_requested_and_signed() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    // Refused, so the upload stops at its first request.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string("<Error><Code>AccessDenied</Code><Message>no</Message></Error>"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let storage = s3_storage(&server.uri(), SECRET_KEY);
    let (_, body) = generated(10);
    let err = storage.put("rooms/e/x.mp4", body).await.unwrap_err();
    assert!(
        matches!(&err, StorageError::Refused { status: 403, code: Some(c), .. } if c == "AccessDenied"),
        "{err:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let create = &requests[0];
    assert_eq!(create.url.path(), format!("/{BUCKET}/rooms/e/x.mp4"));
    assert!(create.url.query_pairs().any(|(k, _)| k == "uploads"));
    assert_eq!(create.headers["x-amz-server-side-encryption"], "AES256");
    let signed: String = create
        .url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(signed, "host;x-amz-server-side-encryption");
}

#[tokio::test]
async fn an_unreachable_storage_is_an_error_that_shows_no_signed_url() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage = s3_storage(&format!("http://127.0.0.1:{port}"), SECRET_KEY);
    let (_, body) = generated(10);
    let err = storage.put("rooms/f/x.mp4", body).await.unwrap_err();
    assert!(matches!(err, StorageError::Unreachable { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    for secret in [
        "X-Amz-Signature",
        "X-Amz-Credential",
        ACCESS_KEY,
        SECRET_KEY,
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(storage.stat("rooms/f/x.mp4").await.is_err());
}

#[tokio::test]
async fn a_part_stored_differently_fails_the_upload_and_aborts_it() {
    use wiremock::matchers::{method, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>{BUCKET}</Bucket><Key>rooms/g/x.mp4</Key><UploadId>UPLOAD-1</UploadId></InitiateMultipartUploadResult>"#
        )))
        .mount(&server)
        .await;
    // The server says it stored other bytes than those sent.
    Mock::given(method("PUT"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", "\"0123456789abcdef0123456789abcdef\""),
        )
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(query_param("uploadId", "UPLOAD-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let storage = s3_storage(&server.uri(), SECRET_KEY);
    let (data, body) = generated(1000);
    let err = storage.put("rooms/g/x.mp4", body).await.unwrap_err();
    assert!(matches!(err, StorageError::Mismatch(_)), "{err:?}");

    let requests = server.received_requests().await.unwrap();
    let part = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    // Sent with the MD5 the server must check it against.
    assert_eq!(
        part.headers["content-md5"],
        base64::engine::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            <md5::Md5 as sha2::Digest>::digest(&data)
        )
        .as_str()
    );
    // Nothing was completed; the abort goes out in the background.
    assert!(
        !requests.iter().any(
            |r| r.method.as_str() == "POST" && r.url.query().unwrap_or("").contains("uploadId")
        )
    );
    for _ in 0..100 {
        let requests = server.received_requests().await.unwrap();
        if requests.iter().any(|r| r.method.as_str() == "DELETE") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the multipart upload was not aborted");
}

#[tokio::test]
async fn a_failing_storage_is_left_alone_once_its_breaker_opens() {
    use roomgate::metrics::Outbound;
    use roomgate::twilio::guard::{Guard, GuardConfig};
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = GuardConfig {
        failure_threshold: 2,
        ..GuardConfig::STORAGE
    };
    let storage = s3_storage(&format!("http://127.0.0.1:{port}"), SECRET_KEY)
        .with_guard(Guard::new(Outbound::Storage, config, None));
    for _ in 0..2 {
        let err = storage.stat("rooms/h/x.mp4").await.unwrap_err();
        assert!(matches!(err, StorageError::Unreachable { .. }), "{err:?}");
    }
    let err = storage.stat("rooms/h/x.mp4").await.unwrap_err();
    assert!(
        matches!(err, StorageError::Busy { retry_after, .. } if retry_after > Duration::ZERO),
        "{err:?}"
    );
}

/// The recordings pipeline into the real bucket, with Twilio Video mocked from the
/// spec's shapes: while the bucket refuses (here: it doesn't exist), nothing on Twilio
/// is deleted and nothing is stored; once it accepts, the job finishes with one
/// verified object, and only then are Twilio's copies deleted.
#[tokio::test]
async fn the_pipeline_waits_out_a_refusing_bucket_and_deletes_on_twilio_only_after_storing() {
    use std::sync::Arc;

    use roomgate::audit::AuditLog;
    use roomgate::recordings::catalog::{Recording, Stage};
    use roomgate::recordings::pipeline::{Pipeline, PipelineSettings};
    use roomgate::store::memory::MemoryStore;
    use roomgate::video::{VideoClient, VideoConfig};
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const ROOM_SID: &str = "RM0123456789abcdef0123456789abcdef";
    const CJ: &str = "CJ0123456789abcdef0123456789abcdef";
    let s3 = S3sFs::start().await;
    // A bucket that can't take anything: where s3s-fs keeps it there is a plain file.
    std::fs::remove_dir_all(s3.root.join(BUCKET)).unwrap();
    std::fs::write(s3.root.join(BUCKET), b"not a bucket").unwrap();
    let (data, _) = generated(9 * MIB);

    let video = MockServer::start().await;
    let composition = json!({"sid": CJ, "room_sid": ROOM_SID, "status": "completed",
        "size": data.len(), "duration": 42, "format": "mp4"});
    let mocks = [
        (
            "GET",
            format!("/v1/Rooms/{ROOM_SID}/Recordings"),
            ResponseTemplate::new(200).set_body_json(json!({"recordings": [
                {"sid": "RT00000000000000000000000000000001", "status": "completed", "room_sid": ROOM_SID}
            ], "meta": {"next_page_url": null}})),
        ),
        (
            "GET",
            "/v1/Compositions".to_owned(),
            ResponseTemplate::new(200)
                .set_body_json(json!({"compositions": [], "meta": {"next_page_url": null}})),
        ),
        (
            "POST",
            "/v1/Compositions".to_owned(),
            ResponseTemplate::new(201).set_body_json(composition.clone()),
        ),
        (
            "GET",
            format!("/v1/Compositions/{CJ}"),
            ResponseTemplate::new(200).set_body_json(composition),
        ),
        (
            "GET",
            format!("/v1/Compositions/{CJ}/Media"),
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/signed/{CJ}.mp4", video.uri())),
        ),
        (
            "GET",
            format!("/signed/{CJ}.mp4"),
            ResponseTemplate::new(200).set_body_bytes(data.clone()),
        ),
    ];
    for (verb, at, answer) in mocks {
        Mock::given(method(verb))
            .and(path(at))
            .respond_with(answer)
            .mount(&video)
            .await;
    }
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&video)
        .await;

    let client = VideoClient::new(
        roomgate::twilio::verify::http_client(Duration::from_secs(5)),
        VideoConfig {
            base_url: video.uri(),
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            api_key: roomgate::twilio::credentials::ApiKeys::fixed(
                "SK0123456789abcdef0123456789abcdef",
                "key-secret",
            ),
        },
    );
    let pipeline = Pipeline::new(
        Arc::new(MemoryStore::new()),
        client,
        Arc::new(s3.storage()),
        roomgate::twilio::verify::http_client(Duration::from_secs(5)),
        AuditLog::disabled(),
        None,
        PipelineSettings {
            first_retry: Duration::from_millis(50),
            max_retry: Duration::from_millis(100),
            ..PipelineSettings::default()
        },
    );
    let room = roomgate::domain::RoomName::parse("standup").unwrap();
    assert!(pipeline.room_ended(&room, ROOM_SID).await.unwrap());
    let record = async || pipeline.catalog().get(ROOM_SID).await.unwrap().unwrap();
    let deletes = async || {
        video
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count()
    };

    // Run the worker until the recording satisfies `done`.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let run_until = async |done: &dyn Fn(&Recording) -> bool| loop {
        let rec = record().await;
        if done(&rec) {
            return rec;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rec:?}");
        pipeline.start_due().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    run_until(&|r| r.attempts >= 2).await;
    let refused = record().await;
    assert_eq!(refused.stage, Stage::Upload);
    assert!(
        refused.last_error.as_deref().unwrap().contains("refused"),
        "{refused:?}"
    );
    assert_eq!(deletes().await, 0, "Twilio's copies deleted before storing");

    // The operator repairs the bucket.
    std::fs::remove_file(s3.root.join(BUCKET)).unwrap();
    std::fs::create_dir_all(s3.root.join(BUCKET)).unwrap();
    run_until(&|r| r.stage == Stage::Stored).await;
    let stored = record().await;
    let keys = s3.list("standup/").await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(Some(keys[0].as_str()), stored.object_key.as_deref());
    let held = s3.storage().stat(&keys[0]).await.unwrap().unwrap();
    assert_eq!(held.sha256, sha256(&data));
    assert_eq!(stored.size, Some(data.len() as u64));
    assert_eq!(
        deletes().await,
        2,
        "the composition and the track, once each"
    );
    assert!(s3.open_uploads().is_empty());
}

/// The bucket's key pair from `_FILE` variables is re-read on `SIGHUP` by the running
/// server: a link signed with a wrong secret is refused by the bucket; after the file
/// is corrected and roomgate told, the next link works. Through the real binary.
#[tokio::test]
async fn the_running_server_rereads_the_buckets_key_pair_on_sighup() {
    use std::sync::Arc;

    use roomgate::clock::SystemClock;
    use roomgate::domain::RoomName;
    use roomgate::recordings::catalog::{Catalog, Recording, Stage};
    use roomgate::store::embedded::EmbeddedStore;

    const ID: &str = "RM0000000000000000000000000000abcd";
    let s3 = S3sFs::start().await;
    let data = support::fresh_dir("s3-sighup");
    let key = format!("standup/{ID}.mp4");
    let (bytes, body) = generated(MIB);
    let stored = s3.storage().put(&key, body).await.unwrap();
    // The catalog as the pipeline leaves it, in the store the server will open.
    {
        let store = Arc::new(
            EmbeddedStore::open(&data, Arc::new(SystemClock))
                .await
                .unwrap(),
        );
        let room = RoomName::parse("standup").unwrap();
        let mut rec = Recording::new(ID, &room, SystemTime::now());
        rec.stage = Stage::Stored;
        rec.object_key = Some(key.clone());
        rec.size = Some(stored.size);
        Catalog::new(store)
            .save(&rec, Duration::from_secs(86_400), false)
            .await
            .unwrap();
    }
    let id_file = data.join("s3-key-id");
    let secret_file = data.join("s3-secret");
    std::fs::write(&id_file, ACCESS_KEY).unwrap();
    std::fs::write(&secret_file, "an-old-secret-the-bucket-no-longer-takes").unwrap();

    let verify = support::approving_verify().await;
    let mut env = support::twilio_env(&verify, &data);
    for (k, v) in [
        ("ROOMGATE_RECORDINGS_S3_ENDPOINT", s3.endpoint.clone()),
        ("ROOMGATE_RECORDINGS_S3_BUCKET", BUCKET.to_owned()),
        ("ROOMGATE_RECORDINGS_S3_REGION", "us-east-1".to_owned()),
        ("ROOMGATE_RECORDINGS_S3_PATH_STYLE", "true".to_owned()),
        (
            "ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID_FILE",
            id_file.display().to_string(),
        ),
        (
            "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY_FILE",
            secret_file.display().to_string(),
        ),
    ] {
        env.insert(k.to_owned(), v);
    }
    let app = support::Roomgate::start(&env, "127.0.0.1:0").await;
    let client = support::browser();
    let (login, csrf) = support::sign_in(&client, &app.base, "standup", "alice").await;
    assert_eq!(login.status(), 303);
    let code = support::post_code(&client, &app.base, "standup", "123456", &csrf).await;
    assert_eq!(code.status(), 303);
    let csrf = support::room_csrf(&client, &app.base, "standup")
        .await
        .expect("alice is in");
    let fetch_through_a_link = async || {
        let answer: serde_json::Value = client
            .post(app.url(&format!("/rooms/standup/recordings/{ID}/play")))
            .header("X-CSRF-Token", &csrf)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        get(answer["url"].as_str().expect("a link")).await
    };

    assert_eq!(
        fetch_through_a_link().await.status(),
        403,
        "signed with the old secret"
    );
    std::fs::write(&secret_file, SECRET_KEY).unwrap();
    app.sighup();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let file = loop {
        let file = fetch_through_a_link().await;
        if file.status() == 200 {
            break file;
        }
        assert!(tokio::time::Instant::now() < deadline, "never re-read");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(file.bytes().await.unwrap().to_vec(), bytes);
    assert!(
        !app.output().contains(SECRET_KEY),
        "the secret in the server's output"
    );
    app.stop().await;
}
