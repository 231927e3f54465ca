use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Response, StatusCode};
use roomgate::acl::Acl;
use roomgate::config::Settings;
use roomgate::startup::{Application, Overrides};
use roomgate::verify::local::CodeNotice;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub use crate::twilio::{
    ACCOUNT_SID, ALICE_PHONE, API_KEY_SID, CHECK_PATH, ROOM_SID, SERVICE_PATH, SERVICE_SID,
    START_PATH, VERIFICATION_SID, basic_auth, service_json, verification_json,
};
pub const API_KEY_SECRET: &str = "test-api-key-secret-0123456789";

pub const TEST_ACL: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup", "all-hands"]
role = "host"

[users.bob]
phone = "+447400123456"
rooms = ["*"]
channels = ["sms", "call"]
"#;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub verify: MockServer,
    /// Twilio Video's REST API, mocked (Twilio-mode apps).
    pub video: MockServer,
    pub acl: Arc<roomgate::acl::AclStore>,
    /// The ACL file the app watches.
    pub acl_path: std::path::PathBuf,
    /// The admin listener (`/metrics`, `/readyz`).
    pub admin_address: String,
    /// Codes the local verifier "sent" (local-mode apps only).
    pub codes: Arc<Mutex<Vec<CodeNotice>>>,
    /// The app's audit log, to flush what it has folded.
    pub audit: roomgate::audit::AuditLog,
    /// Where the app stores recordings' files.
    pub recordings: Arc<dyn roomgate::recordings::storage::ObjectStorage>,
}

/// A path in the temporary directory no other test of this run (or of another run
/// at once) has: `{prefix}{pid}-{n}{suffix}`.
fn unique_temp(prefix: &str, suffix: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("{prefix}{}-{n}{suffix}", std::process::id()))
}

/// A private copy of the test ACL on disk, so the app's file watcher has its own file.
fn test_acl_file() -> std::path::PathBuf {
    let dir = unique_temp("roomgate-api-", "");
    // An earlier run with the same process id may have left one (with its store).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("acl.toml");
    std::fs::write(&path, TEST_ACL).unwrap();
    path
}

fn test_settings(extra: &[(&str, String)]) -> Settings {
    let acl = test_acl_file();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("ROOMGATE_ADDR".into(), "127.0.0.1:0".into()),
        ("ROOMGATE_ADMIN_ADDR".into(), "127.0.0.1:0".into()),
        ("ROOMGATE_SESSION_KEY".into(), "k".repeat(64)),
        ("ROOMGATE_ACL".into(), acl.display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG".into(),
            acl.with_file_name("audit.log").display().to_string(),
        ),
        // The embedded store, in this test's own directory.
        (
            "ROOMGATE_DATA_DIR".into(),
            acl.with_file_name("data").display().to_string(),
        ),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), v.clone());
    }
    Settings::from_lookup(|k| vars.get(k).cloned()).expect("test settings are valid")
}

/// The app in Twilio mode, with Verify mocked.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], Overrides::default()).await
}

/// The app in Twilio mode with extra settings (environment variables) and seams.
pub async fn spawn_app_with(vars: &[(&str, &str)], overrides: Overrides) -> TestApp {
    let verify = MockServer::start().await;
    let video = MockServer::start().await;
    let mut all = vec![
        ("TWILIO_VIDEO_BASE_URL", video.uri()),
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("TWILIO_API_KEY_SID", API_KEY_SID.into()),
        ("TWILIO_API_KEY_SECRET", API_KEY_SECRET.into()),
        ("TWILIO_VERIFY_SERVICE_SID", SERVICE_SID.into()),
        ("TWILIO_VERIFY_BASE_URL", verify.uri()),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let overrides = Overrides {
        verify_timeout: overrides.verify_timeout.or(Some(Duration::from_secs(2))),
        ..overrides
    };
    start(
        test_settings(&all),
        verify,
        video,
        overrides,
        Default::default(),
    )
    .await
}

/// The app in local mode, codes caught in `codes`.
pub async fn spawn_local_app() -> TestApp {
    spawn_local_app_with(&[]).await
}

/// [`spawn_local_app`] with extra settings (environment variables).
pub async fn spawn_local_app_with(vars: &[(&str, &str)]) -> TestApp {
    spawn_local(vars, Overrides::default()).await
}

/// The app in local mode with a clock that moves only when told to.
pub async fn spawn_local_app_with_clock() -> (TestApp, Arc<roomgate::clock::ManualClock>) {
    let clock = Arc::new(roomgate::clock::ManualClock::default());
    let overrides = Overrides {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    (spawn_local(&[], overrides).await, clock)
}

async fn spawn_local(vars: &[(&str, &str)], overrides: Overrides) -> TestApp {
    let codes: Arc<Mutex<Vec<CodeNotice>>> = Default::default();
    let sink_codes = codes.clone();
    let overrides = Overrides {
        code_sink: Some(Arc::new(move |n: &CodeNotice| {
            sink_codes.lock().unwrap().push(n.clone())
        })),
        ..overrides
    };
    let verify = MockServer::start().await;
    let video = MockServer::start().await;
    let vars: Vec<(&str, String)> = vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    start(test_settings(&vars), verify, video, overrides, codes).await
}

async fn start(
    settings: Settings,
    verify: MockServer,
    video: MockServer,
    overrides: Overrides,
    codes: Arc<Mutex<Vec<CodeNotice>>>,
) -> TestApp {
    init_test_log();
    let mut overrides = overrides;
    if overrides.store.is_none() {
        overrides.store = redis_store(overrides.clock.clone()).await;
    }
    let acl = Acl::load(&settings.acl_path).expect("test ACL parses");
    let acl_path = settings.acl_path.clone();
    let app = Application::build_with(settings, acl, overrides)
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = format!("http://127.0.0.1:{}", app.admin_port());
    let acl = app.acl_handle();
    let audit = app.audit_handle();
    let recordings = app.recordings_storage();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: new_client(),
        verify,
        video,
        acl,
        acl_path,
        admin_address,
        codes,
        audit,
        recordings,
    }
}

/// The session cookie a response set (`name=value`), if any.
pub fn session_cookie(resp: &Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("roomgate="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// A browser-like client: keeps cookies, doesn't follow redirects.
pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn init_test_log() {
    if std::env::var_os("TEST_LOG").is_some() {
        // The log's writer thread lives as long as the test process.
        static LOG: std::sync::OnceLock<Option<roomgate::telemetry::TerminalGuard>> =
            std::sync::OnceLock::new();
        LOG.get_or_init(|| roomgate::telemetry::init("debug"));
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_home(&self) -> Response {
        self.get("/").await
    }

    pub async fn get_room(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}")).await
    }

    /// The CSRF token of this client's session, from the join form.
    pub async fn csrf_token(&self, room: &str) -> String {
        let html = self.get_room(room).await.text().await.unwrap();
        extract_csrf(&html).expect("the page carries a CSRF token")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_login(&self, room: &str, username: &str) -> Response {
        let csrf = self.csrf_token(room).await;
        self.post_login_with(room, &[("username", username), ("csrf_token", &csrf)])
            .await
    }

    pub async fn post_login_with(&self, room: &str, form: &[(&str, &str)]) -> Response {
        self.post_form(&format!("/rooms/{room}/login"), form).await
    }

    pub async fn get_verify(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}/verify")).await
    }

    pub async fn post_code(&self, room: &str, code: &str) -> Response {
        let html = self.get_verify(room).await.text().await.unwrap();
        let csrf = match extract_csrf(&html) {
            Some(csrf) => csrf,
            // No code form in this session: take the token from the join form.
            None => self.csrf_token(room).await,
        };
        self.post_code_with(room, &[("code", code), ("csrf_token", &csrf)])
            .await
    }

    pub async fn post_code_with(&self, room: &str, form: &[(&str, &str)]) -> Response {
        self.post_form(&format!("/rooms/{room}/verify"), form).await
    }

    /// The token endpoint with the CSRF header the room page would send.
    pub async fn post_token(&self, room: &str) -> Response {
        let html = self.get_room(room).await.text().await.unwrap();
        let csrf = extract_meta_csrf(&html).unwrap_or_default();
        self.post_token_with(room, Some(&csrf)).await
    }

    pub async fn post_token_with(&self, room: &str, csrf: Option<&str>) -> Response {
        self.post_with_csrf_header(&format!("/rooms/{room}/token"), csrf)
            .await
    }

    /// A `POST` with no body, as the room page's scripts send them: the CSRF token,
    /// if any, in the `X-CSRF-Token` header.
    pub async fn post_with_csrf_header(&self, path: &str, csrf: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path));
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send().await.unwrap()
    }

    pub async fn post_logout(&self, room: &str) -> Response {
        let html = self.get_room(room).await.text().await.unwrap();
        let csrf = extract_csrf(&html).unwrap_or_default();
        self.post_form("/logout", &[("csrf_token", &csrf)]).await
    }

    /// A recording's file through a link the storage issued (a path and query).
    pub async fn get_recording_file(&self, link: &str) -> Response {
        self.get(link).await
    }

    /// Remove a user from the live ACL, as a reload would.
    pub fn remove_user(&self, username: &str) {
        let text: String = TEST_ACL
            .split("\n\n")
            .filter(|block| !block.contains(&format!("[users.{username}]")))
            .collect::<Vec<_>>()
            .join("\n\n");
        let acl = Acl::parse("test-acl.toml", &text).unwrap();
        self.acl.replace(acl);
    }

    /// Sign in as `username` to `room` through a mocked Verify that approves `code`.
    pub async fn sign_in(&self, room: &str, username: &str) {
        let _start = mock_start_ok().mount_as_scoped(&self.verify).await;
        let _check = mock_check("approved").mount_as_scoped(&self.verify).await;
        assert_is_redirect_to(
            &self.post_login(room, username).await,
            &format!("/rooms/{room}/verify"),
        );
        assert_is_redirect_to(
            &self.post_code(room, "123456").await,
            &format!("/rooms/{room}"),
        );
    }
}

pub fn extract_csrf(html: &str) -> Option<String> {
    extract_after(html, r#"name="csrf_token" value=""#)
}

pub fn extract_meta_csrf(html: &str) -> Option<String> {
    extract_after(html, r#"<meta name="csrf-token" content=""#)
}

fn extract_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

/// A JSON answer of the room page's endpoints: this status and body, never cached.
pub async fn assert_json(resp: Response, status: StatusCode, body: Value) {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.json::<Value>().await.unwrap(), body);
}

pub fn assert_is_redirect_to(resp: &Response, location: &str) {
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "expected a 303 to {location}"
    );
    assert_eq!(resp.headers()["location"], location);
}

pub fn mock_start_ok() -> Mock {
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(ResponseTemplate::new(201).set_body_json(verification_json("pending")))
}

pub fn mock_check(status: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(verification_json(status)))
}

/// Verify's `FetchService`, answered.
pub fn mock_service_ok() -> Mock {
    Mock::given(method("GET"))
        .and(path(SERVICE_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(service_json()))
}

/// Verify down as a whole: every call answered `template`, but for calls another mock
/// (of the default priority, whenever mounted) answers.
pub fn verify_down(template: ResponseTemplate) -> Mock {
    Mock::given(wiremock::matchers::any())
        .respond_with(template)
        .with_priority(10)
}

/// A Twilio error response in the classic shape.
pub fn twilio_error(http: u16, code: u32) -> ResponseTemplate {
    ResponseTemplate::new(http).set_body_json(json!({
        "code": code,
        "message": format!("error {code}"),
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": http
    }))
}

/// The form pairs of a request Verify received.
pub fn form_pairs(req: &wiremock::Request) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&req.body).expect("Verify requests are form-encoded")
}

/// Wait until Verify has received `n` requests (starts run in the background).
pub async fn wait_for_requests(server: &MockServer, n: usize) -> Vec<wiremock::Request> {
    for _ in 0..200 {
        let got = server.received_requests().await.unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("Verify did not receive {n} requests in time");
}

/// Status, headers and body, with the per-session cookie and CSRF values blanked: what
/// must be the same for a known and an unknown username.
pub async fn comparable(resp: Response) -> (StatusCode, Vec<(String, String)>, String) {
    let status = resp.status();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(name, _)| *name != "date")
        .map(|(name, value)| {
            let value = value.to_str().unwrap().to_owned();
            let value = if *name == "set-cookie" {
                // Same cookie name and attributes; the encrypted value differs per session.
                let (name, rest) = value.split_once('=').unwrap();
                let attrs = rest.split_once(';').map(|x| x.1).unwrap_or("");
                format!("{name}=<value>;{attrs}")
            } else {
                value
            };
            (name.to_string(), value)
        })
        .collect();
    headers.sort();
    let body = resp.text().await.unwrap();
    let body = match extract_csrf(&body) {
        Some(csrf) => body.replace(&csrf, "<csrf>"),
        None => body,
    };
    (status, headers, body)
}

/// The app in Twilio mode with extra settings and a clock that moves only when told to.
pub async fn spawn_app_with_clock(
    vars: &[(&str, &str)],
) -> (TestApp, Arc<roomgate::clock::ManualClock>) {
    let clock = Arc::new(roomgate::clock::ManualClock::default());
    let overrides = Overrides {
        clock: Some(clock.clone()),
        ..Default::default()
    };
    (spawn_app_with(vars, overrides).await, clock)
}

/// The requests `server` has received, but for the recording pipeline's look for
/// missed room ends (`GET /v1/Rooms?Status=completed…`), which it makes at start-up
/// whatever a test does.
pub async fn calls_to(server: &MockServer) -> Vec<wiremock::Request> {
    let mut calls = server.received_requests().await.unwrap_or_default();
    calls.retain(|r| !(r.method == wiremock::http::Method::GET && r.url.path() == "/v1/Rooms"));
    calls
}

/// How many requests `server` has received for `path` (see [`calls_to`]).
pub async fn requests_to(server: &MockServer, path: &str) -> usize {
    calls_to(server)
        .await
        .iter()
        .filter(|r| r.url.path() == path)
        .count()
}

/// Wait for `n` requests to `path` (background work), give anything more the time to
/// arrive, then check that nothing more did.
pub async fn assert_requests_settle_at(server: &MockServer, path: &str, n: usize) {
    for _ in 0..200 {
        if requests_to(server, path).await >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(requests_to(server, path).await, n, "requests to {path}");
}

/// A participant-facing notice page: its status, `Retry-After` (or none) and title.
/// Returns the page, for more checks.
pub async fn assert_notice(
    resp: Response,
    status: StatusCode,
    retry_after: Option<u64>,
    title: &str,
) -> String {
    assert_eq!(resp.status(), status, "status of the {title:?} page");
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned()),
        retry_after.map(|s| s.to_string()),
        "Retry-After of the {title:?} page"
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains(&format!("<h1>{title}</h1>")),
        "{title:?} not in:\n{html}"
    );
    html
}

impl TestApp {
    /// `post_login` from a browser that has never been here (a new cookie jar, which
    /// then stays this app's client).
    pub async fn post_login_afresh(&mut self, room: &str, username: &str) -> Response {
        self.client = new_client();
        self.post_login(room, username).await
    }
}

// ---------------------------------------------------------------------------------
// Twilio Video fixtures, exact-request matchers, the audit log, bounded polling.

/// The room Twilio has in progress for `standup` in the Video fixtures.
/// A `participant-connected` status callback for `identity` (participant `sid`) in
/// standup, as Twilio Video sends it.
pub fn participant_connected(identity: &str, sid: &str) -> Vec<(String, String)> {
    [
        ("AccountSid", ACCOUNT_SID),
        ("RoomName", "standup"),
        ("RoomSid", ROOM_SID),
        ("RoomStatus", "in-progress"),
        ("RoomType", "group"),
        ("StatusCallbackEvent", "participant-connected"),
        ("Timestamp", crate::twilio::callback_timestamp()),
        ("ParticipantSid", sid),
        ("ParticipantStatus", "connected"),
        ("ParticipantIdentity", identity),
        ("SequenceNumber", "1"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

pub const PA_ALICE: &str = "PA0123456789abcdef0123456789abcdef";
pub const PA_BOB: &str = "PAfedcba9876543210fedcba9876543210";

/// `Authorization` as Twilio expects it: Basic with the API key SID and secret.
pub fn video_basic_auth() -> String {
    basic_auth(API_KEY_SID, API_KEY_SECRET)
}

/// A `video.v1.room`, with the fields of Twilio's OpenAPI description.
pub fn room_json(unique_name: &str, status: &str) -> Value {
    let url = format!("https://video.twilio.com/v1/Rooms/{ROOM_SID}");
    let done = status == "completed";
    json!({
        "sid": ROOM_SID,
        "status": status,
        "date_created": "2026-11-22T08:00:00Z",
        "date_updated": "2026-11-22T08:00:00Z",
        "account_sid": ACCOUNT_SID,
        "enable_turn": true,
        "unique_name": unique_name,
        "status_callback": null,
        "status_callback_method": "POST",
        "end_time": if done { json!("2026-11-22T08:30:00Z") } else { Value::Null },
        "duration": if done { json!(1800) } else { Value::Null },
        "type": "group",
        "max_participants": 50,
        "max_participant_duration": 14400,
        "max_concurrent_published_tracks": 170,
        "record_participants_on_connect": false,
        "video_codecs": ["VP8", "H264"],
        "media_region": "us1",
        "audio_only": false,
        "empty_room_timeout": 5,
        "unused_room_timeout": 5,
        "large_room": false,
        "url": url,
        "links": {
            "participants": format!("{url}/Participants"),
            "recordings": format!("{url}/Recordings"),
            "recording_rules": format!("{url}/RecordingRules")
        }
    })
}

/// A `video.v1.room.room_participant`.
pub fn participant_json(sid: &str, identity: &str, status: &str) -> Value {
    let url = format!("https://video.twilio.com/v1/Rooms/{ROOM_SID}/Participants/{sid}");
    let gone = status == "disconnected";
    json!({
        "sid": sid,
        "room_sid": ROOM_SID,
        "account_sid": ACCOUNT_SID,
        "status": status,
        "identity": identity,
        "date_created": "2026-11-22T08:00:00Z",
        "date_updated": "2026-11-22T08:01:00Z",
        "start_time": "2026-11-22T08:00:00Z",
        "end_time": if gone { json!("2026-11-22T08:01:00Z") } else { Value::Null },
        "duration": if gone { json!(60) } else { Value::Null },
        "url": url,
        "links": {
            "published_tracks": format!("{url}/PublishedTracks"),
            "subscribed_tracks": format!("{url}/SubscribedTracks"),
            "subscribe_rules": format!("{url}/SubscribeRules"),
            "anonymize": format!("{url}/Anonymize")
        }
    })
}

/// A one-page `ListRoomParticipantResponse`.
pub fn participants_page(participants: Vec<Value>) -> Value {
    let url = format!(
        "https://video.twilio.com/v1/Rooms/{ROOM_SID}/Participants?Status=connected&PageSize=50&Page=0"
    );
    json!({
        "participants": participants,
        "meta": {
            "page": 0,
            "page_size": 50,
            "first_page_url": url,
            "previous_page_url": null,
            "url": url,
            "next_page_url": null,
            "key": "participants"
        }
    })
}

fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    v.sort();
    v
}

/// A form-encoded body with exactly these pairs (any order), nothing more.
pub struct ExactForm(pub Vec<(String, String)>);

pub fn exact_form(pairs: &[(&str, &str)]) -> ExactForm {
    ExactForm(owned_pairs(pairs))
}

impl wiremock::Match for ExactForm {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let form_type = request
            .headers
            .get("content-type")
            .is_some_and(|v| v == "application/x-www-form-urlencoded");
        let Ok(mut got) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&request.body)
        else {
            return false;
        };
        got.sort();
        form_type && request.url.query().is_none() && got == self.0
    }
}

/// A bodiless request whose query has exactly these pairs (any order), nothing more.
pub struct ExactQuery(pub Vec<(String, String)>);

pub fn exact_query(pairs: &[(&str, &str)]) -> ExactQuery {
    ExactQuery(owned_pairs(pairs))
}

impl wiremock::Match for ExactQuery {
    fn matches(&self, request: &wiremock::Request) -> bool {
        let mut got: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        got.sort();
        got == self.0 && request.body.is_empty()
    }
}

/// Poll `probe` every 50 ms until it holds or `within` has passed; whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if probe().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Poll `probe` every 50 ms until it says done or `within` has passed; whether it
/// did, and what the last probe saw.
pub async fn poll_until<T, F, Fut>(within: Duration, mut probe: F) -> (bool, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = (bool, T)>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (done, seen) = probe().await;
        if done || tokio::time::Instant::now() >= deadline {
            return (done, seen);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// The audit log the app writes (`ROOMGATE_AUDIT_LOG`, next to the ACL file).
    pub fn audit_path(&self) -> std::path::PathBuf {
        self.acl_path.with_file_name("audit.log")
    }

    /// The audit log's raw text (empty if nothing was written yet).
    pub fn audit_text(&self) -> String {
        std::fs::read_to_string(self.audit_path()).unwrap_or_default()
    }

    /// Every audit record, parsed.
    pub fn audit_records(&self) -> Vec<Value> {
        self.audit_text()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// The audit records of one event kind.
    pub fn audit_events(&self, event: &str) -> Vec<Value> {
        self.audit_records()
            .into_iter()
            .filter(|r| r["event"] == event)
            .collect()
    }

    /// `n` sign-in requests for `username` to `room` from one browser at `ip` (sent as
    /// `X-Forwarded-For`, so the app must trust 127.0.0.1 as a proxy), `concurrency` in
    /// flight at a time. The statuses they got, counted.
    pub async fn flood_logins(
        &self,
        ip: &str,
        room: &str,
        username: &str,
        n: usize,
        concurrency: usize,
    ) -> HashMap<StatusCode, usize> {
        self.flood_logins_as(ip, room, |_| username.to_owned(), n, concurrency)
            .await
    }

    /// The CSRF token of `room`'s join form, as `client` gets it.
    async fn join_form_csrf(&self, client: &reqwest::Client, room: &str) -> String {
        let html = client
            .get(self.url(&format!("/rooms/{room}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        extract_csrf(&html).expect("the page carries a CSRF token")
    }

    /// A new browser that has the join form of `room`: its sign-in POST for
    /// `username`, ready to send (connection and CSRF token already in hand).
    pub async fn login_ready(&self, room: &str, username: &str) -> reqwest::RequestBuilder {
        let client = new_client();
        let csrf = self.join_form_csrf(&client, room).await;
        client
            .post(self.url(&format!("/rooms/{room}/login")))
            .form(&[("username", username), ("csrf_token", csrf.as_str())])
    }

    /// [`TestApp::flood_logins`], the `i`-th request for `username(i)`.
    pub async fn flood_logins_as(
        &self,
        ip: &str,
        room: &str,
        username: impl Fn(usize) -> String,
        n: usize,
        concurrency: usize,
    ) -> HashMap<StatusCode, usize> {
        use futures_util::stream::{self, StreamExt};
        let client = new_client();
        let csrf = self.join_form_csrf(&client, room).await;
        let url = self.url(&format!("/rooms/{room}/login"));
        let statuses: Vec<StatusCode> = stream::iter(0..n)
            .map(|i| {
                let name = username(i);
                let form = [("username", name.as_str()), ("csrf_token", csrf.as_str())];
                let req = client.post(&url).header("x-forwarded-for", ip).form(&form);
                async move { req.send().await.expect("the app answers").status() }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut counted = HashMap::new();
        for status in statuses {
            *counted.entry(status).or_insert(0) += 1;
        }
        counted
    }

    /// How many records of one event kind the log stands for once every folded
    /// refusal's summary is written: a summary line counts its `count`, others one.
    pub async fn audit_count(&self, event: &str) -> u64 {
        self.audit.flush().await.expect("the audit log flushes");
        self.audit_events(event)
            .iter()
            .map(|r| r.get("count").map_or(1, |c| c.as_u64().expect("a count")))
            .sum()
    }

    /// `GET` on the admin listener.
    pub async fn admin_get(&self, path: &str) -> Response {
        reqwest::Client::new()
            .get(format!("{}{path}", self.admin_address))
            .send()
            .await
            .unwrap()
    }

    /// Ask for the code page of standup until it answers `status` (what a sign-in's
    /// call to Verify, in the background, decides), for at most 5 s.
    pub async fn until_code_page_says(&self, status: StatusCode) {
        let until = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.get_verify("standup").await.status();
            if got == status {
                return;
            }
            assert!(
                std::time::Instant::now() < until,
                "the code page still says {got}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Replace the ACL file on disk (what the app watches).
    pub fn write_acl(&self, text: &str) {
        std::fs::write(&self.acl_path, text).unwrap();
    }

    /// The `X-CSRF-Token` value the room page of a verified session carries.
    pub async fn room_csrf(&self, room: &str) -> String {
        let html = self.get_room(room).await.text().await.unwrap();
        extract_meta_csrf(&html).expect("the room page (not the join form) is shown")
    }
}

/// With `ROOMGATE_TEST_REDIS_URL` set (scripts/test does, for a second run of this
/// suite), every test app keeps its state in that real Redis, under a prefix of its
/// own, driven by the test's clock when it has one. Otherwise `None`: the embedded
/// store in the test's own directory.
async fn redis_store(
    clock: Option<Arc<dyn roomgate::clock::Clock>>,
) -> Option<Arc<dyn roomgate::store::Store>> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let url = std::env::var("ROOMGATE_TEST_REDIS_URL").ok()?;
    let prefix = format!(
        "api-{}-{}:",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let store = roomgate::store::redis::RedisStore::connect(&url.into(), &prefix)
        .await
        .expect("ROOMGATE_TEST_REDIS_URL answers");
    Some(Arc::new(match clock {
        Some(clock) => store.with_test_clock(clock),
        None => store,
    }))
}

/// The secret of the alert webhook in budget tests.
pub const ALERT_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// An alert webhook at `/alerts` that expects each of `events` exactly once
/// (checked when the server is dropped).
pub async fn alert_hooks(events: &[&str]) -> MockServer {
    let hooks = MockServer::start().await;
    for event in events {
        Mock::given(method("POST"))
            .and(path("/alerts"))
            .and(body_partial_json(json!({ "event": event })))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .named(*event)
            .mount(&hooks)
            .await;
    }
    hooks
}

/// A budget test's settings: the budget cap under test, every other limit out of the
/// way, and alerts to `webhook`, signed with [`ALERT_SECRET`].
pub fn budget_settings<'a>(cap: (&'a str, &'a str), webhook: &'a str) -> [(&'a str, &'a str); 7] {
    [
        cap,
        ("ROOMGATE_STARTS_PER_USER", "100"),
        ("ROOMGATE_STARTS_PER_PHONE", "100"),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1000"),
        ("ROOMGATE_ALERT_WEBHOOK_URL", webhook),
        ("ROOMGATE_ALERT_WEBHOOK_SECRET", ALERT_SECRET),
    ]
}

/// The origin passkey tests give the app (`ROOMGATE_PUBLIC_URL`) and their software
/// authenticator: WebAuthn needs a host name, and `localhost` may be plain http.
pub const PASSKEY_ORIGIN: &str = "http://localhost:8080";

impl TestApp {
    /// A JSON POST carrying `X-CSRF-Token`, as the pages' scripts send.
    async fn post_json(&self, path: &str, csrf: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("X-CSRF-Token", csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// "Use a passkey": options for `username` (`csrf` from the join form).
    pub async fn post_passkey_options(&self, room: &str, username: &str, csrf: &str) -> Response {
        let body = json!({ "username": username });
        self.post_json(&format!("/rooms/{room}/passkeys/options"), csrf, &body)
            .await
    }

    /// The browser's assertion for `ceremony`.
    pub async fn post_passkey_finish(
        &self,
        room: &str,
        csrf: &str,
        ceremony: &str,
        credential: &Value,
    ) -> Response {
        let path = format!("/rooms/{room}/passkeys/finish");
        self.post_ceremony(&path, csrf, ceremony, credential).await
    }

    /// A ceremony's answer, as both finishes take it.
    async fn post_ceremony(
        &self,
        path: &str,
        csrf: &str,
        ceremony: &str,
        credential: &Value,
    ) -> Response {
        let body = json!({ "ceremony": ceremony, "credential": credential });
        self.post_json(path, csrf, &body).await
    }

    /// A verified member asks to register a passkey (`csrf` from the room page).
    pub async fn post_passkey_register_start(&self, room: &str, csrf: &str) -> Response {
        self.post_json(
            &format!("/rooms/{room}/passkeys/register/start"),
            csrf,
            &json!({}),
        )
        .await
    }

    pub async fn post_passkey_register_finish(
        &self,
        room: &str,
        csrf: &str,
        ceremony: &str,
        credential: &Value,
    ) -> Response {
        let path = format!("/rooms/{room}/passkeys/register/finish");
        self.post_ceremony(&path, csrf, ceremony, credential).await
    }

    /// The member's own passkeys.
    pub async fn get_passkeys(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}/passkeys")).await
    }

    pub async fn post_passkey_remove(&self, room: &str, id: &str, csrf: &str) -> Response {
        self.post_json(
            &format!("/rooms/{room}/passkeys/{id}/remove"),
            csrf,
            &json!({}),
        )
        .await
    }
}

impl TestApp {
    /// A status callback to `/twilio/room-events`, with `signature` if any.
    pub async fn post_room_event(
        &self,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> Response {
        let mut req = self
            .client
            .post(self.url("/twilio/room-events"))
            .form(params);
        if let Some(signature) = signature {
            req = req.header("X-Twilio-Signature", signature);
        }
        req.send().await.unwrap()
    }
}

/// An audit log that is a pipe to a log shipper (this), which can go away: every
/// write after that fails (`EPIPE`), as on a full disk.
pub struct AuditPipe {
    path: std::path::PathBuf,
    shipped: Arc<std::sync::Mutex<Vec<u8>>>,
    shipper: tokio::task::JoinHandle<()>,
}

impl AuditPipe {
    /// The pipe, with its reader: open it before the app, which opens it for writing.
    pub fn open() -> Self {
        let path = unique_temp("roomgate-audit-", ".pipe");
        let _ = std::fs::remove_file(&path);
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        let mut reader = tokio::net::unix::pipe::OpenOptions::new()
            .open_receiver(&path)
            .unwrap();
        let shipped = Arc::new(std::sync::Mutex::new(Vec::new()));
        let into = shipped.clone();
        let shipper = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await {
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Self {
            path,
            shipped,
            shipper,
        }
    }

    pub fn path(&self) -> String {
        self.path.to_str().unwrap().to_owned()
    }

    /// What the app has written so far.
    pub fn shipped(&self) -> String {
        String::from_utf8(self.shipped.lock().unwrap().clone()).unwrap()
    }

    /// The shipper goes away.
    pub async fn close(&self) {
        self.shipper.abort();
        while !self.shipper.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for AuditPipe {
    fn drop(&mut self) {
        self.shipper.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}
