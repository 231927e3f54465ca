//! The pipeline against a Video API mocked from the spec's shapes (and the docs' Media
//! redirect), a media server that can break mid-download, and an in-memory bucket that
//! can refuse. The property every fault test checks: nothing on Twilio is deleted
//! before the object is stored and verified, no object is stored twice, and the job
//! finishes once things work again.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::*;
use crate::recordings::test_bucket::Bucket;
use crate::store::memory::MemoryStore;
use crate::twilio::credentials::ApiKeys;
use crate::twilio::verify::http_client;
use crate::video::VideoConfig;

const ROOM_SID: &str = "RM0123456789abcdef0123456789abcdef";
const COMPOSITION_SID: &str = "CJ0123456789abcdef0123456789abcdef";
const TRACK_A: &str = "RT00000000000000000000000000000001";
const TRACK_B: &str = "RT00000000000000000000000000000002";
const CALLBACK: &str = "https://gate.example.com/twilio/room-events";

/// The media, 3 MiB of a known pattern.
fn media() -> Vec<u8> {
    (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect()
}

/// Serves the media once per connection: whole, or cut off after half (a download
/// breaking halfway), as `break_first` says for the first `break_first` requests.
async fn media_server(break_first: u32) -> (Url, Arc<AtomicU32>) {
    let sized = !SIZES_UNKNOWN.with(|s| s.get());
    let short = SHORT_MEDIA.with(|s| s.get());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU32::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                let mut body = media();
                if short {
                    body.truncate(body.len() / 3);
                }
                // Without a length, the body ends when the connection closes.
                let length = if sized {
                    format!("Content-Length: {}\r\n", body.len())
                } else {
                    String::new()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n{length}Connection: close\r\n\r\n"
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let cut = if n < break_first {
                    body.len() / 2
                } else {
                    body.len()
                };
                let _ = socket.write_all(&body[..cut]).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    let url = Url::parse(&format!(
        "http://{addr}/media/{COMPOSITION_SID}.mp4?Signature=secret"
    ))
    .unwrap();
    (url, served)
}

fn composition(status: &str) -> Value {
    json!({
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "status": status,
        "date_created": "2026-12-05T20:00:00Z",
        "date_completed": if status == "completed" { json!("2026-12-05T20:05:00Z") } else { Value::Null },
        "date_deleted": null,
        "sid": COMPOSITION_SID,
        "room_sid": ROOM_SID,
        "audio_sources": ["*"],
        "audio_sources_excluded": [],
        "video_layout": {"grid": {"video_sources": ["*"]}},
        "resolution": "640x480",
        "trim": true,
        "format": "mp4",
        "bitrate": 64,
        "size": if status == "completed" && !SIZES_UNKNOWN.with(|s| s.get()) { json!(media().len()) } else { Value::Null },
        "duration": if status == "completed" { json!(1800) } else { Value::Null },
        "media_external_location": null,
        "status_callback": CALLBACK,
        "status_callback_method": "POST",
        "url": format!("https://video.twilio.com/v1/Compositions/{COMPOSITION_SID}"),
        "links": {"media": format!("https://video.twilio.com/v1/Compositions/{COMPOSITION_SID}/Media")}
    })
}

fn track(sid: &str) -> Value {
    json!({
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "status": "completed",
        "date_created": "2026-12-05T20:00:00Z",
        "sid": sid,
        "source_sid": "MT0123456789abcdef0123456789abcdef",
        "size": 1024,
        "url": format!("https://video.twilio.com/v1/Rooms/{ROOM_SID}/Recordings/{sid}"),
        "type": "audio",
        "duration": 1800,
        "container_format": "mka",
        "codec": "opus",
        "grouping_sids": {"room_sid": ROOM_SID},
        "track_name": "mic",
        "offset": 0,
        "media_external_location": null,
        "room_sid": ROOM_SID,
        "links": {"media": format!("https://video.twilio.com/v1/Recordings/{sid}/Media")}
    })
}

fn page(key: &str, items: Vec<Value>) -> Value {
    json!({ key: items, "meta": {
        "page": 0, "page_size": 100, "first_page_url": "", "previous_page_url": null,
        "url": "", "next_page_url": null, "key": key
    }})
}

thread_local! {
    /// Whether the next fixture's composition and media say their size: the spec lets
    /// a composition's `size` be null, and a body may end with its connection.
    static SIZES_UNKNOWN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Whether the next fixture's media is a third of the composition Twilio
    /// describes, its length saying so (a whole response, but not the recording).
    static SHORT_MEDIA: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The next fixture's `give_up_after` (tests run on their own threads).
    static GIVE_UP: std::cell::Cell<Duration> =
        const { std::cell::Cell::new(Duration::from_secs(2 * 86_400)) };
}

struct Fixture {
    video: MockServer,
    bucket: Arc<Bucket>,
    pipeline: Arc<Pipeline>,
    served: Arc<AtomicU32>,
}

/// A Video mock where the room has two tracks and no composition yet; the composition
/// is `completed` when fetched and its media redirects to `media`.
async fn fixture(break_downloads: u32, compositions_listed: Vec<Value>) -> Fixture {
    fixture_with(
        break_downloads,
        compositions_listed,
        0,
        Duration::from_millis(20),
    )
    .await
}

/// As [`fixture`], but the composition is `processing` for its first `unfinished`
/// looks, and a job waiting on it looks again after `composing_poll` (doubling).
async fn fixture_with(
    break_downloads: u32,
    compositions_listed: Vec<Value>,
    unfinished: u64,
    composing_poll: Duration,
) -> Fixture {
    let video = MockServer::start().await;
    if unfinished > 0 {
        Mock::given(method("GET"))
            .and(path(format!("/v1/Compositions/{COMPOSITION_SID}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(composition("processing")))
            .up_to_n_times(unfinished)
            .mount(&video)
            .await;
    }
    let (media_url, served) = media_server(break_downloads).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Rooms/{ROOM_SID}/Recordings")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page("recordings", vec![track(TRACK_A), track(TRACK_B)])),
        )
        .mount(&video)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Compositions"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(page("compositions", compositions_listed)),
        )
        .mount(&video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Compositions"))
        .respond_with(ResponseTemplate::new(201).set_body_json(composition("enqueued")))
        .mount(&video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(composition("completed")))
        .mount(&video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}/Media")))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", media_url.as_str())
                .set_body_json(json!({ "redirect_to": media_url.as_str() })),
        )
        .mount(&video)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&video)
        .await;
    let bucket = Arc::new(Bucket::default());
    let client = VideoClient::new(
        http_client(Duration::from_secs(5)),
        VideoConfig {
            base_url: video.uri(),
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            api_key: ApiKeys::fixed("SK0123456789abcdef0123456789abcdef", "key-secret"),
        },
    );
    let settings = PipelineSettings {
        poll: Duration::from_millis(20),
        composing_poll,
        first_retry: Duration::from_millis(20),
        max_retry: Duration::from_millis(40),
        // Long enough for every test but the one that gives up.
        give_up_after: GIVE_UP.with(|g| g.get()),
        ..PipelineSettings::default()
    };
    let pipeline = Pipeline::new(
        Arc::new(MemoryStore::new()),
        client,
        bucket.clone(),
        http_client(Duration::from_secs(5)),
        AuditLog::disabled(),
        Some(Url::parse(CALLBACK).unwrap()),
        settings,
    );
    Fixture {
        video,
        bucket,
        pipeline,
        served,
    }
}

fn room() -> RoomName {
    RoomName::parse("standup").unwrap()
}

impl Fixture {
    async fn record(&self) -> Recording {
        self.pipeline
            .catalog()
            .get(ROOM_SID)
            .await
            .unwrap()
            .unwrap()
    }

    /// Run the worker until the recording satisfies `done` (or fail after 10 s).
    async fn run_until(&self, done: impl Fn(&Recording) -> bool) -> Recording {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.pipeline.start_due().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            let rec = self.record().await;
            if done(&rec) {
                return rec;
            }
            assert!(tokio::time::Instant::now() < deadline, "stuck at {rec:?}");
        }
    }

    async fn requests(&self, verb: &str) -> Vec<Request> {
        self.video
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.method.as_str() == verb)
            .collect()
    }

    /// Twilio refuses the next `refusals` deletes; the room ends, and its job runs
    /// until Twilio has refused twice: stored, its copies still there.
    async fn stored_while_twilio_refuses_deletes(&self, refusals: u64) -> Recording {
        Mock::given(method("DELETE"))
            .respond_with(ResponseTemplate::new(403).set_body_json(json!({
                "code": 20003, "message": "Authenticate", "more_info": "", "status": 403
            })))
            .up_to_n_times(refusals)
            .with_priority(1)
            .mount(&self.video)
            .await;
        self.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
        let refused = self.run_until(|r| r.attempts >= 2).await;
        assert_eq!(refused.stage, Stage::DeleteOnTwilio, "{refused:?}");
        refused
    }

    async fn deletes(&self) -> Vec<String> {
        self.requests("DELETE")
            .await
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect()
    }
}

fn form(req: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).unwrap()
}

#[tokio::test]
async fn a_recorded_room_ends_up_stored_verified_and_deleted_on_twilio() {
    let fx = fixture(0, vec![]).await;
    assert!(fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    let rec = fx.run_until(|r| r.stage == Stage::Stored).await;

    // The Compositions request, exactly.
    let posts = fx.requests("POST").await;
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].url.path(), "/v1/Compositions");
    assert_eq!(
        form(&posts[0]),
        [
            ("RoomSid", ROOM_SID),
            ("AudioSources", "*"),
            ("VideoLayout", r#"{"grid":{"video_sources":["*"]}}"#),
            ("Format", "mp4"),
            ("StatusCallback", CALLBACK),
            ("StatusCallbackMethod", "POST"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    // The media was asked for with a short lifetime, with our credentials; the signed
    // URL itself was fetched once.
    let asked: Vec<_> = fx
        .requests("GET")
        .await
        .into_iter()
        .filter(|r| r.url.path().ends_with("/Media"))
        .collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].url.query(), Some("Ttl=60"));
    assert!(asked[0].headers.contains_key("authorization"));
    assert_eq!(fx.served.load(Ordering::SeqCst), 1);

    // Stored once, byte for byte, and the record says what was verified.
    let (key, bytes) = fx.bucket.only_object();
    assert_eq!(bytes, media());
    assert!(
        key.starts_with("standup/") && key.ends_with(&format!("-{ROOM_SID}.mp4")),
        "{key}"
    );
    assert_eq!(rec.size, Some(media().len() as u64));
    assert_eq!(
        rec.sha256.as_deref(),
        Some(hex::encode(sha2::Sha256::digest(media())).as_str())
    );
    assert_eq!(rec.duration_secs, Some(1800));
    assert_eq!(rec.object_key.as_deref(), Some(key.as_str()));

    // Then, and only then, every copy on Twilio went: the composition and both tracks.
    assert_eq!(
        fx.deletes().await,
        [
            format!("/v1/Compositions/{COMPOSITION_SID}"),
            format!("/v1/Recordings/{TRACK_A}"),
            format!("/v1/Recordings/{TRACK_B}"),
        ]
    );
    let all = fx.video.received_requests().await.unwrap();
    let first_delete = all
        .iter()
        .position(|r| r.method.as_str() == "DELETE")
        .unwrap();
    let media_at = all
        .iter()
        .position(|r| r.url.path().ends_with("/Media"))
        .unwrap();
    assert!(media_at < first_delete);
}

#[tokio::test]
async fn a_download_that_breaks_halfway_deletes_nothing_and_is_retried_to_the_end() {
    let fx = fixture(1, vec![]).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let failed = fx.run_until(|r| r.last_error.is_some()).await;
    assert_eq!(failed.stage, Stage::Upload, "{failed:?}");
    assert!(fx.bucket.is_empty(), "a partial download left an object");
    assert!(
        fx.deletes().await.is_empty(),
        "Twilio's copies deleted before storing"
    );

    let rec = fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.bucket.only_object().1, media());
    assert_eq!(fx.served.load(Ordering::SeqCst), 2);
    assert_eq!(fx.deletes().await.len(), 3);
    assert_eq!(rec.last_error, None);
}

/// A download that ends when its connection closes, with no size from Twilio to hold
/// it to: a cut can't be told from the end, so it is never taken for the recording
/// (it was stored cut short, and Twilio's copies deleted).
#[tokio::test]
async fn a_download_nobody_gives_the_size_of_is_never_stored_and_twilios_copies_kept() {
    SIZES_UNKNOWN.with(|s| s.set(true));
    let fx = fixture(1, vec![]).await;
    SIZES_UNKNOWN.with(|s| s.set(false));
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let rec = fx.run_until(|r| r.attempts >= 3).await;
    assert_eq!(rec.stage, Stage::Upload, "{rec:?}");
    let error = rec.last_error.unwrap_or_default();
    assert!(error.contains("size"), "{error}");
    assert!(fx.bucket.is_empty(), "an unverifiable download was kept");
    assert!(fx.deletes().await.is_empty(), "Twilio's copies deleted");
    // Each attempt downloaded it again, and dropped it.
    assert!(fx.served.load(Ordering::SeqCst) >= 2);
}

/// A response whole by its own length, but shorter than the composition Twilio
/// describes: not the recording, so never stored, and Twilio's copies kept. (Only the
/// response's length was checked when it had one.)
#[tokio::test]
async fn a_download_shorter_than_twilios_composition_is_never_stored() {
    SHORT_MEDIA.with(|s| s.set(true));
    let fx = fixture(0, vec![]).await;
    SHORT_MEDIA.with(|s| s.set(false));
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let rec = fx.run_until(|r| r.attempts >= 2).await;
    assert_eq!(rec.stage, Stage::Upload, "{rec:?}");
    let error = rec.last_error.unwrap_or_default();
    assert!(error.contains(&format!("of {}", media().len())), "{error}");
    assert!(fx.bucket.is_empty(), "a short download was kept");
    assert!(fx.deletes().await.is_empty(), "Twilio's copies deleted");
}

#[tokio::test]
async fn a_bucket_that_refuses_deletes_nothing_and_the_job_finishes_when_it_accepts() {
    let fx = fixture(0, vec![]).await;
    fx.bucket.refuse_next.store(2, Ordering::SeqCst);
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let failed = fx.run_until(|r| r.attempts >= 2).await;
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .contains("AccessDenied"),
        "{failed:?}"
    );
    assert_eq!(failed.state(), super::super::catalog::State::Processing);
    assert!(fx.deletes().await.is_empty());

    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 3);
    assert_eq!(fx.bucket.only_object().1, media());
    assert_eq!(fx.deletes().await.len(), 3);
}

/// With the bucket known to be down, Twilio's media is neither asked for nor
/// downloaded (each retry fetched it, to be dropped); the job goes on once it is up.
#[tokio::test]
async fn a_bucket_known_to_be_down_costs_no_media_download() {
    let fx = fixture(0, vec![]).await;
    fx.bucket.down.store(true, Ordering::SeqCst);
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let waiting = fx.run_until(|r| r.attempts >= 3).await;
    assert_eq!(waiting.stage, Stage::Upload, "{waiting:?}");
    assert!(
        waiting.last_error.as_deref().unwrap().contains("storage"),
        "{waiting:?}"
    );
    let media_asked = fx
        .requests("GET")
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/Media"))
        .count();
    assert_eq!(media_asked, 0);
    assert_eq!(fx.served.load(Ordering::SeqCst), 0);
    assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 0);

    fx.bucket.down.store(false, Ordering::SeqCst);
    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_same_room_ending_twice_is_one_job_and_one_composition() {
    let fx = fixture(0, vec![]).await;
    assert!(fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    // Told again while the job is unfinished: queued again, still one job.
    assert!(fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    fx.run_until(|r| r.stage == Stage::Stored).await;
    // Told again once it is finished: nothing to do.
    assert!(!fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    assert_eq!(fx.requests("POST").await.len(), 1);
    assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_composition_already_asked_for_is_adopted_not_asked_for_again() {
    // An earlier attempt crashed after Twilio accepted the composition.
    let fx = fixture(0, vec![composition("processing")]).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert!(fx.requests("POST").await.is_empty());
    assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_room_that_recorded_nothing_is_forgotten_after_a_few_looks_and_nothing_composed() {
    let fx = fixture(0, vec![]).await;
    // Twilio lists no tracks, or only ones that failed.
    Mock::given(method("GET"))
        .and(path(format!("/v1/Rooms/{ROOM_SID}/Recordings")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "recordings",
            vec![json!({"sid": TRACK_A, "status": "failed", "room_sid": ROOM_SID})],
        )))
        .with_priority(1)
        .mount(&fx.video)
        .await;
    assert!(fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fx.pipeline.catalog().get(ROOM_SID).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never forgotten");
        fx.pipeline.start_due().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listings = fx
        .requests("GET")
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/Recordings"))
        .count();
    assert_eq!(
        listings, 4,
        "three looks that found nothing, then the decision"
    );
    assert!(fx.requests("POST").await.is_empty());
    assert!(fx.deletes().await.is_empty());
    // A malformed room SID starts nothing at all.
    assert!(!fx.pipeline.room_ended(&room(), "not-a-sid").await.unwrap());
}

async fn composition_looks(fx: &Fixture) -> usize {
    fx.requests("GET")
        .await
        .iter()
        .filter(|r| r.url.path() == format!("/v1/Compositions/{COMPOSITION_SID}"))
        .count()
}

#[tokio::test]
async fn a_composition_still_processing_is_looked_at_again_each_time_later() {
    let fx = fixture_with(0, vec![], 3, Duration::from_millis(50)).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let waiting = fx.run_until(|r| r.looks == 1).await;
    assert_eq!(waiting.stage, Stage::Composing);
    assert!(fx.bucket.is_empty());
    let rec = fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(rec.looks, 3);
    assert_eq!(composition_looks(&fx).await, 4);
    assert_eq!(fx.bucket.only_object().1, media());
}

#[tokio::test]
async fn a_composition_callback_wakes_the_job_waiting_on_it() {
    // Without the callback the job would look again only in an hour.
    let fx = fixture_with(0, vec![], 1, Duration::from_secs(3600)).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    fx.run_until(|r| r.looks == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fx.pipeline.start_due().await,
        0,
        "nothing due before the callback"
    );
    fx.pipeline.composition_changed(ROOM_SID).await.unwrap();
    let rec = fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(rec.size, Some(media().len() as u64));
    // Unknown or malformed SIDs change nothing.
    fx.pipeline
        .composition_changed("RM00000000000000000000000000000009")
        .await
        .unwrap();
    fx.pipeline.composition_changed("junk").await.unwrap();
}

#[tokio::test]
async fn a_job_another_worker_holds_is_left_alone_and_not_woken_by_callbacks() {
    let fx = fixture_with(0, vec![], 1, Duration::from_millis(20)).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    fx.run_until(|r| r.stage == Stage::Composing).await;
    // Another worker (this instance or another) claims the job.
    let store = fx.pipeline.store.clone();
    store
        .put(
            &claim_key(ROOM_SID),
            b"someone-else",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    // A look that was already on its way when the claim changed hands lands first:
    // the job is the other worker's from its next step on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = fx.video.received_requests().await.unwrap().len();
    fx.pipeline.composition_changed(ROOM_SID).await.unwrap();
    for _ in 0..5 {
        fx.pipeline.start_due().await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        fx.video.received_requests().await.unwrap().len(),
        before,
        "a second worker touched a claimed job"
    );
    assert_eq!(fx.record().await.stage, Stage::Composing);
    // Its claim ends (that worker finished or died): the job goes on here.
    store.delete(&claim_key(ROOM_SID)).await.unwrap();
    store
        .schedule(JOBS, ROOM_SID, store.clock().now())
        .await
        .unwrap();
    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 1);
    assert!(
        store.get(&claim_key(ROOM_SID)).await.unwrap().is_none(),
        "claim released"
    );
}

#[tokio::test]
async fn a_stored_recording_is_never_given_up_while_twilio_refuses_deletes() {
    GIVE_UP.with(|g| g.set(Duration::ZERO));
    let fx = fixture(0, vec![]).await;
    GIVE_UP.with(|g| g.set(Duration::from_secs(2 * 86_400)));
    let refused = fx.stored_while_twilio_refuses_deletes(3).await;
    assert!(refused.is_stored(), "hosts can play it meanwhile");
    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.bucket.only_object().1, media());
}

/// A host deletes a recording while Twilio still refuses to delete its copies: ours
/// goes at once, the job keeps at Twilio's until they are gone, then forgets the
/// record; and a `room-ended` told again afterwards doesn't start it over.
#[tokio::test]
async fn a_recording_deleted_while_twilio_refuses_is_forgotten_once_twilio_deletes() {
    let fx = fixture(0, vec![]).await;
    let refused = fx.stored_while_twilio_refuses_deletes(4).await;

    let library = crate::recordings::library::Library::new(
        fx.pipeline.store.clone(),
        fx.bucket.clone(),
        Arc::new(crate::recordings::library::KeepAll),
        AuditLog::disabled(),
        Duration::from_secs(60),
    );
    let alice = crate::domain::Username::parse("alice").unwrap();
    let host = crate::recordings::library::Requester::host(&alice, None);
    library.delete(&refused, &host).await.unwrap();
    assert!(fx.bucket.is_empty());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fx.pipeline.catalog().get(ROOM_SID).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never forgotten");
        fx.pipeline.start_due().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let deleted: Vec<String> = fx
        .requests("DELETE")
        .await
        .iter()
        .skip(4)
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(
        deleted,
        [
            format!("/v1/Compositions/{COMPOSITION_SID}"),
            format!("/v1/Recordings/{TRACK_A}"),
            format!("/v1/Recordings/{TRACK_B}"),
        ]
    );
    // Twilio trying `room-ended` again: nothing starts over.
    assert!(!fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap());
    assert_eq!(fx.pipeline.catalog().get(ROOM_SID).await.unwrap(), None);
    assert_eq!(fx.requests("POST").await.len(), 1);
}

#[tokio::test]
async fn a_job_twilio_never_finishes_is_given_up_and_twilios_copies_kept() {
    GIVE_UP.with(|g| g.set(Duration::ZERO));
    let fx = fixture_with(0, vec![], 1000, Duration::from_millis(20)).await;
    GIVE_UP.with(|g| g.set(Duration::from_secs(2 * 86_400)));
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    let failed = fx.run_until(|r| r.stage == Stage::Failed).await;
    assert!(
        failed
            .last_error
            .as_deref()
            .unwrap()
            .contains("did not finish"),
        "{failed:?}"
    );
    assert!(fx.deletes().await.is_empty());
    assert!(fx.bucket.is_empty());
}

#[tokio::test]
async fn reconciling_queues_an_unfinished_recording_whose_job_was_lost() {
    let fx = fixture(0, vec![]).await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    // The queue entry is lost (a failed write, an expired queue).
    fx.pipeline.store.unschedule(JOBS, ROOM_SID).await.unwrap();
    assert_eq!(fx.pipeline.start_due().await, 0);
    assert_eq!(fx.pipeline.reconcile().await.unwrap(), 1);
    fx.run_until(|r| r.stage == Stage::Stored).await;
    assert_eq!(fx.pipeline.reconcile().await.unwrap(), 0);
}

#[tokio::test]
async fn every_composition_of_the_room_is_deleted_on_twilio() {
    const OTHER: &str = "CJ00000000000000000000000000000042";
    let mut extra = composition("completed");
    extra["sid"] = json!(OTHER);
    let mut elsewhere = composition("completed");
    elsewhere["sid"] = json!("CJ00000000000000000000000000000043");
    elsewhere["room_sid"] = json!("RM00000000000000000000000000000043");
    let fx = fixture(0, vec![]).await;
    Mock::given(method("GET"))
        .and(path("/v1/Compositions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "compositions",
            vec![composition("completed"), extra, elsewhere],
        )))
        .with_priority(1)
        .mount(&fx.video)
        .await;
    fx.pipeline.room_ended(&room(), ROOM_SID).await.unwrap();
    fx.run_until(|r| r.stage == Stage::Stored).await;
    let deletes = fx.deletes().await;
    assert!(deletes.contains(&format!("/v1/Compositions/{COMPOSITION_SID}")));
    assert!(deletes.contains(&format!("/v1/Compositions/{OTHER}")));
    assert!(
        !deletes.iter().any(|d| d.ends_with("43")),
        "another room's composition"
    );
    assert_eq!(deletes.len(), 4);
}

/// A completed room as `ListRoom` gives it, made with `callback`.
fn ended_room(sid: &str, name: &str, callback: Option<&str>) -> Value {
    json!({
        "sid": sid,
        "status": "completed",
        "date_created": "2026-12-05T19:00:00Z",
        "date_updated": "2026-12-05T20:00:00Z",
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "enable_turn": true,
        "unique_name": name,
        "status_callback": callback,
        "status_callback_method": "POST",
        "end_time": "2026-12-05T20:00:00Z",
        "duration": 3600,
        "type": "group",
        "max_participants": 50,
        "max_participant_duration": 14400,
        "max_concurrent_published_tracks": 170,
        "record_participants_on_connect": false,
        "video_codecs": ["VP8"],
        "media_region": "us1",
        "audio_only": false,
        "empty_room_timeout": 5,
        "unused_room_timeout": 5,
        "large_room": false,
        "url": format!("https://video.twilio.com/v1/Rooms/{sid}"),
        "links": {}
    })
}

#[tokio::test]
async fn a_room_whose_end_was_missed_gets_its_job_from_twilios_listing() {
    const NOT_OURS: &str = "RM00000000000000000000000000000043";
    const NO_CALLBACK: &str = "RM00000000000000000000000000000044";
    const UNREADABLE: &str = "RM00000000000000000000000000000045";
    let fx = fixture(0, vec![]).await;
    // One room's record can't be read: the others are looked at all the same.
    fx.pipeline
        .store
        .put(
            &format!("recording:{UNREADABLE}"),
            b"not json",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    Mock::given(method("GET"))
        .and(path("/v1/Rooms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "rooms",
            vec![
                ended_room(UNREADABLE, "standup", Some(CALLBACK)),
                ended_room(ROOM_SID, "standup", Some(CALLBACK)),
                ended_room(
                    NOT_OURS,
                    "standup",
                    Some("https://other.example.com/events"),
                ),
                ended_room(NO_CALLBACK, "standup", None),
            ],
        )))
        .mount(&fx.video)
        .await;

    assert_eq!(fx.pipeline.recover_ended_rooms().await.unwrap(), 1);
    let listing = fx.requests("GET").await;
    let listing = listing
        .iter()
        .find(|r| r.url.path() == "/v1/Rooms")
        .expect("the rooms listed");
    let query: std::collections::HashMap<_, _> = listing.url.query_pairs().collect();
    assert_eq!(query["Status"], "completed");
    let since = crate::clock::text::parse_rfc3339(&query["DateCreatedAfter"]).unwrap();
    let back = SystemTime::now().duration_since(since).unwrap();
    assert!(
        back > Duration::from_secs(23 * 3600) && back <= RECOVER_WITHIN + Duration::from_secs(60)
    );
    // Retention counts from when the room ended, not from when we found out.
    let rec = fx.record().await;
    assert_eq!(rec.room, "standup");
    assert_eq!(
        rec.ended(),
        crate::clock::text::parse_rfc3339("2026-12-05T20:00:00Z").unwrap()
    );
    for other in [NOT_OURS, NO_CALLBACK] {
        assert!(fx.pipeline.catalog().get(other).await.unwrap().is_none());
    }
    let stored = fx.run_until(|r| r.stage == Stage::Stored).await;
    assert!(stored.size.is_some());
    // Known now: not started twice.
    assert_eq!(fx.pipeline.recover_ended_rooms().await.unwrap(), 0);
    // Forgotten (deleted, say): not started again while Twilio still lists the room.
    fx.pipeline.catalog().remove(&stored).await.unwrap();
    assert_eq!(fx.pipeline.recover_ended_rooms().await.unwrap(), 0);
    assert!(fx.pipeline.catalog().get(ROOM_SID).await.unwrap().is_none());
}

#[tokio::test]
async fn missed_room_ends_are_not_looked_for_without_a_status_callback() {
    let fx = fixture(0, vec![]).await;
    let pipeline = Pipeline::new(
        fx.pipeline.store.clone(),
        fx.pipeline.video.clone(),
        fx.bucket.clone(),
        http_client(Duration::from_secs(5)),
        AuditLog::disabled(),
        None,
        fx.pipeline.settings.clone(),
    );
    assert_eq!(pipeline.recover_ended_rooms().await.unwrap(), 0);
    assert!(fx.requests("GET").await.is_empty());
}

/// A step that panics takes its claim's renewal down with it.
#[tokio::test]
async fn a_panicking_step_stops_renewing_its_claim() {
    let renewing = tokio::spawn(std::future::pending::<()>());
    let abort = renewing.abort_handle();
    let step = tokio::spawn(async move {
        let _renewal = super::Renewal(renewing);
        tokio::task::yield_now().await;
        panic!("a step failed unexpectedly");
    });
    assert!(step.await.unwrap_err().is_panic());
    tokio::task::yield_now().await;
    assert!(abort.is_finished(), "still renewing");
}

/// A pipeline on `store` with claims of `lease`, for its claims alone: nothing it
/// could call answers.
fn bare_pipeline(store: Arc<MemoryStore>, lease: Duration) -> Arc<Pipeline> {
    Pipeline::new(
        store,
        VideoClient::new(
            http_client(Duration::from_secs(5)),
            VideoConfig {
                base_url: "http://127.0.0.1:9".into(),
                account_sid: "AC0123456789abcdef0123456789abcdef".into(),
                api_key: ApiKeys::fixed("SK0123456789abcdef0123456789abcdef", "key-secret"),
            },
        ),
        Arc::new(Bucket::default()),
        http_client(Duration::from_secs(5)),
        AuditLog::disabled(),
        None,
        PipelineSettings {
            lease,
            ..PipelineSettings::default()
        },
    )
}

/// A claim that ran out and was taken by another worker while its renewal was on the
/// way to the store stays the other's: the renewal replaces only its own token, in
/// one step, and stops once it has lost it. (Read first and then written, it wrote
/// its token over the other's, and two workers ran one job.)
#[tokio::test(start_paused = true)]
async fn a_renewal_never_takes_back_a_claim_another_worker_took() {
    let trip = Duration::from_millis(10);
    let store = Arc::new(MemoryStore::new().with_round_trip(trip));
    let lease = Duration::from_millis(300);
    let pipeline = bare_pipeline(store.clone(), lease);
    let claim = Claim {
        key: claim_key(ROOM_SID),
        token: "first worker".into(),
    };
    store
        .put(&claim.key, claim.token.as_bytes(), lease)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let renewal = pipeline.renew(ROOM_SID, &claim);
    // The renewal sets out at a third of the lease and reaches the store a round trip
    // later; the other worker's claim lands half a round trip after that, so between
    // a read and a write of the renewal's.
    tokio::time::sleep_until(start + lease / 3 + trip / 2).await;
    store
        .put(&claim.key, b"second worker", lease)
        .await
        .unwrap();
    tokio::time::sleep(lease).await;
    assert_eq!(
        store.get(&claim.key).await.unwrap().as_deref(),
        Some(&b"second worker"[..])
    );
    assert!(renewal.is_finished(), "still renewing a claim it lost");
}

/// A claim held is renewed for as long as its step runs, past its lease, and a store
/// that refuses one renewal doesn't end the others (the claim would run out and
/// another worker start the same job).
#[tokio::test(start_paused = true)]
async fn a_claim_is_renewed_past_its_lease_through_a_refused_renewal() {
    let clock = Arc::new(crate::clock::ManualClock::default());
    let store = Arc::new(MemoryStore::with_clock(clock.clone()));
    let lease = Duration::from_millis(300);
    let pipeline = bare_pipeline(store.clone(), lease);
    let claim = Claim {
        key: claim_key(ROOM_SID),
        token: "this worker".into(),
    };
    store
        .put(&claim.key, claim.token.as_bytes(), lease)
        .await
        .unwrap();
    store.refuse_next(1);
    let renewal = pipeline.renew(ROOM_SID, &claim);
    // Ten leases, the store's clock moving with the runtime's.
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        clock.advance(Duration::from_millis(50));
    }
    assert_eq!(
        store.get(&claim.key).await.unwrap().as_deref(),
        Some(&b"this worker"[..])
    );
    assert!(!renewal.is_finished());
    renewal.abort();
}
