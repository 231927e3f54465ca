//! Recording controls: a host of a `recording = "host"` room starts and stops its
//! recording with exactly the Recording Rules request of Twilio's spec; nobody else
//! may; every participant can ask whether it is recording; and `always` rooms are
//! created recording.

use reqwest::{Response, StatusCode};
use roomgate::acl::Acl;
use roomgate::startup::Overrides;
use roomgate::twilio::signature::SignatureValidator;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

pub const RULES_PATH: &str = "/v1/Rooms/RM0123456789abcdef0123456789abcdef/RecordingRules";
pub const INCLUDE_ALL: &str = r#"[{"type":"include","all":true}]"#;
const EXCLUDE_ALL: &str = r#"[{"type":"exclude","all":true}]"#;
pub const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";
pub const SIGNED_URL: &str = "http://127.0.0.1:8080/twilio/room-events";

/// The test ACL, plus harry (a host of another room) and room settings: hosts
/// record standup, all-hands always records, every other room never.
fn recording_acl() -> String {
    format!(
        "{TEST_ACL}
[users.harry]
phone = \"+16135550123\"
rooms = [\"board\"]
role = \"host\"

[rooms.standup]
recording = \"host\"
retention_days = 90

[rooms.all-hands]
recording = \"always\"
"
    )
}

impl TestApp {
    /// Put the recording ACL in force, as a reload would.
    pub fn use_recording_acl(&self) {
        self.acl
            .replace(Acl::parse("test-acl.toml", &recording_acl()).unwrap());
    }

    pub async fn post_recording(&self, room: &str, action: &str, csrf: Option<&str>) -> Response {
        self.post_with_csrf_header(&format!("/rooms/{room}/recording/{action}"), csrf)
            .await
    }

    pub async fn get_recording(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}/recording")).await
    }
}

pub async fn spawn_recording_app() -> TestApp {
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], Overrides::default()).await;
    app.use_recording_acl();
    app
}

pub fn fetch_room(name: &str) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!("/v1/Rooms/{name}")))
        .and(header("authorization", video_basic_auth().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(room_json(name, "in-progress")))
}

/// `UpdateRoomRecordingRule` with exactly this `Rules`, answered as the spec shows.
pub fn recording_rules(rules: &'static str, rule_type: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(RULES_PATH))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_form(&[("Rules", rules)]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "room_sid": ROOM_SID,
            "date_created": "2026-11-22T08:00:00Z",
            "date_updated": "2026-11-22T08:05:00Z",
            "rules": [{"type": rule_type, "all": true}]
        })))
}

async fn video_posts(app: &TestApp) -> usize {
    app.video
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count()
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the metrics"))
}

#[tokio::test]
async fn a_host_starts_and_stops_recording_and_every_participant_sees_it() {
    let mut app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    let alice = std::mem::replace(&mut app.client, new_client());
    app.sign_in("standup", "bob").await;
    let bob = std::mem::replace(&mut app.client, alice);
    let csrf = app.room_csrf("standup").await;
    fetch_room("standup").expect(2).mount(&app.video).await;
    let include = recording_rules(INCLUDE_ALL, "include")
        .expect(1)
        .mount_as_scoped(&app.video)
        .await;

    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
    assert_json(
        app.post_recording("standup", "start", Some(&csrf)).await,
        StatusCode::OK,
        json!({"recording": true}),
    )
    .await;
    drop(include);
    // Bob, a participant, is told.
    let alice = std::mem::replace(&mut app.client, bob);
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": true}),
    )
    .await;
    let bob = std::mem::replace(&mut app.client, alice);

    let _exclude = recording_rules(EXCLUDE_ALL, "exclude")
        .expect(1)
        .mount_as_scoped(&app.video)
        .await;
    assert_json(
        app.post_recording("standup", "stop", Some(&csrf)).await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
    app.client = bob;
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
    assert_eq!(video_posts(&app).await, 2);

    let started = app.audit_events("recording_started");
    assert_eq!(started.len(), 1, "{}", app.audit_text());
    assert_eq!(started[0]["username"], "alice");
    assert_eq!(started[0]["room"], "standup");
    assert_eq!(app.audit_events("recording_stopped").len(), 1);

    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    for (series, n) in [
        (
            r#"roomgate_recording_controls_total{action="start",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"roomgate_recording_controls_total{action="stop",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"roomgate_recording_controls_total{action="start",outcome="refused"}"#,
            0.0,
        ),
    ] {
        assert_eq!(metric(&metrics, series), n, "{series}");
    }
}

#[tokio::test]
async fn a_participant_and_a_host_of_another_room_get_403() {
    let mut app = spawn_recording_app().await;
    // bob may join standup, but is no host.
    app.sign_in("standup", "bob").await;
    let csrf = app.room_csrf("standup").await;
    for action in ["start", "stop"] {
        assert_json(
            app.post_recording("standup", action, Some(&csrf)).await,
            StatusCode::FORBIDDEN,
            json!({"error": "not_host"}),
        )
        .await;
    }
    // harry hosts board, and has no say in standup: not even whether it records.
    app.client = new_client();
    app.sign_in("board", "harry").await;
    let csrf = app.room_csrf("board").await;
    for action in ["start", "stop"] {
        assert_json(
            app.post_recording("standup", action, Some(&csrf)).await,
            StatusCode::FORBIDDEN,
            json!({"error": "not_allowed"}),
        )
        .await;
    }
    assert_json(
        app.get_recording("standup").await,
        StatusCode::FORBIDDEN,
        json!({"error": "not_allowed"}),
    )
    .await;
    // alice may join standup, but her session was verified for all-hands: she is
    // asked to sign in here, as a visitor is.
    app.client = new_client();
    app.sign_in("all-hands", "alice").await;
    let csrf = app.room_csrf("all-hands").await;
    assert_json(
        app.post_recording("standup", "start", Some(&csrf)).await,
        StatusCode::UNAUTHORIZED,
        json!({"error": "not_verified"}),
    )
    .await;
    assert_json(
        app.get_recording("standup").await,
        StatusCode::UNAUTHORIZED,
        json!({"error": "not_verified"}),
    )
    .await;
    // A visitor is asked to sign in.
    app.client = new_client();
    assert_json(
        app.get_recording("standup").await,
        StatusCode::UNAUTHORIZED,
        json!({"error": "not_verified"}),
    )
    .await;
    assert!(calls_to(&app.video).await.is_empty(), "no Video API call");
    assert!(app.audit_events("recording_started").is_empty());
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert_eq!(
        metric(
            &metrics,
            r#"roomgate_recording_controls_total{action="start",outcome="refused"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn recording_controls_need_the_csrf_header() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    let wrong = format!("{csrf}x");
    for csrf in [None, Some(wrong.as_str())] {
        assert_json(
            app.post_recording("standup", "start", csrf).await,
            StatusCode::FORBIDDEN,
            json!({"error": "csrf"}),
        )
        .await;
    }
    assert!(calls_to(&app.video).await.is_empty());
}

#[tokio::test]
async fn hosts_control_recording_only_where_the_setting_is_host() {
    let app = spawn_recording_app().await;
    // all-hands records always: nothing to start or stop, and it says it records.
    app.sign_in("all-hands", "alice").await;
    let csrf = app.room_csrf("all-hands").await;
    for action in ["start", "stop"] {
        let resp = app.post_recording("all-hands", action, Some(&csrf)).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "recording_not_host");
        assert_eq!(body["recording"], "always");
    }
    assert_json(
        app.get_recording("all-hands").await,
        StatusCode::OK,
        json!({"recording": true}),
    )
    .await;
    assert!(calls_to(&app.video).await.is_empty());
    // A room without settings is never recorded: nothing to start...
    app.acl
        .replace(Acl::parse("test-acl.toml", TEST_ACL).unwrap());
    let resp = app.post_recording("all-hands", "start", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(resp.json::<Value>().await.unwrap()["recording"], "off");
    assert!(calls_to(&app.video).await.is_empty());
    // ...but a recording started before the setting changed can still be stopped.
    fetch_room("all-hands").expect(1).mount(&app.video).await;
    recording_rules(EXCLUDE_ALL, "exclude")
        .expect(1)
        .mount(&app.video)
        .await;
    assert_json(
        app.post_recording("all-hands", "stop", Some(&csrf)).await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
}

#[tokio::test]
async fn a_video_api_failure_is_503_and_changes_nothing_it_can_take_back() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_room("standup").mount(&app.video).await;
    // A 5xx may have taken effect all the same: the rules are put back, once.
    Mock::given(method("POST"))
        .and(path(RULES_PATH))
        .and(exact_form(&[(
            "Rules",
            r#"[{"type":"include","all":true}]"#,
        )]))
        .respond_with(twilio_error(500, 20500))
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path(RULES_PATH))
        .and(exact_form(&[(
            "Rules",
            r#"[{"type":"exclude","all":true}]"#,
        )]))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "room_sid": "RM0123456789abcdef0123456789abcdef",
            "rules": [{"type": "exclude", "all": true}]
        })))
        .expect(1)
        .mount(&app.video)
        .await;
    let resp = app.post_recording("standup", "start", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "video_unavailable"
    );
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
    assert!(app.audit_events("recording_started").is_empty());

    // Failing without an answer, and taking it back failing too: it may be recording,
    // so the room is shown as recording rather than not.
    Mock::given(method("POST"))
        .and(path(RULES_PATH))
        .respond_with(twilio_error(503, 20503))
        .expect(2)
        .with_priority(1)
        .mount(&app.video)
        .await;
    let resp = app.post_recording("standup", "start", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": true}),
    )
    .await;
}

#[tokio::test]
async fn local_mode_says_there_is_no_video_service() {
    let mut app = spawn_local_app().await;
    app.use_recording_acl();
    app.client = new_client();
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let codes = app.codes.clone();
    assert!(
        eventually(std::time::Duration::from_secs(2), || {
            let codes = codes.clone();
            async move { !codes.lock().unwrap().is_empty() }
        })
        .await
    );
    let code = app.codes.lock().unwrap()[0].code.clone();
    assert_is_redirect_to(&app.post_code("standup", &code).await, "/rooms/standup");
    let csrf = app.room_csrf("standup").await;
    assert_json(
        app.post_recording("standup", "start", Some(&csrf)).await,
        StatusCode::SERVICE_UNAVAILABLE,
        json!({
            "error": "no_video_service",
            "message": "No video service is configured (local mode)."
        }),
    )
    .await;
}

#[tokio::test]
async fn the_rooms_signed_callbacks_turn_the_indicator_on_and_off() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "bob").await;
    let signer = SignatureValidator::new(SecretString::from(AUTH_TOKEN));
    let event = |name: &str| -> Vec<(String, String)> {
        [
            ("AccountSid", ACCOUNT_SID),
            ("RoomName", "standup"),
            ("RoomSid", ROOM_SID),
            ("RoomStatus", "in-progress"),
            ("RoomType", "group"),
            ("StatusCallbackEvent", name),
            ("Timestamp", crate::twilio::callback_timestamp()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    // Signed, they turn it on and off; unsigned, they change nothing.
    for (name, signed, recording, status) in [
        ("recording-started", true, true, StatusCode::OK),
        ("recording-completed", true, false, StatusCode::OK),
        ("recording-started", false, false, StatusCode::FORBIDDEN),
    ] {
        let params = event(name);
        let mut req = app
            .client
            .post(app.url("/twilio/room-events"))
            .form(&params);
        if signed {
            req = req.header("X-Twilio-Signature", signer.sign(SIGNED_URL, &params));
        }
        assert_eq!(req.send().await.unwrap().status(), status, "{name}");
        assert_json(
            app.get_recording("standup").await,
            StatusCode::OK,
            json!({ "recording": recording }),
        )
        .await;
    }

    // A callback sent again (Twilio retrying, or a replay) does nothing the first
    // didn't: the old session's `room-ended`, repeated once the next session of the
    // room is recording, leaves that session's sign alone.
    let send = |params: Vec<(String, String)>| {
        let signature = signer.sign(SIGNED_URL, &params);
        app.client
            .post(app.url("/twilio/room-events"))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
    };
    let ended = event("room-ended");
    assert_eq!(send(ended.clone()).await.unwrap().status(), StatusCode::OK);
    let next_session: Vec<(String, String)> = event("recording-started")
        .into_iter()
        .map(|(k, v)| match k.as_str() {
            "RoomSid" => (k, "RMfedcba9876543210fedcba9876543210".to_owned()),
            _ => (k, v),
        })
        .collect();
    assert_eq!(send(next_session).await.unwrap().status(), StatusCode::OK);
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({ "recording": true }),
    )
    .await;
    assert_eq!(send(ended).await.unwrap().status(), StatusCode::OK);
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({ "recording": true }),
    )
    .await;
}

#[tokio::test]
async fn the_join_page_says_the_room_may_be_recorded_before_sign_in() {
    let app = spawn_recording_app().await;
    let notice = "This room may be recorded.";
    for room in ["standup", "all-hands"] {
        let html = app.get_room(room).await.text().await.unwrap();
        assert!(html.contains(notice), "{room}");
    }
    let html = app.get_room("design").await.text().await.unwrap();
    assert!(
        !html.contains(notice),
        "a room without settings is never recorded"
    );
    // In the visitor's language too.
    let html = app
        .client
        .get(app.url("/rooms/standup"))
        .header("Accept-Language", "fr")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Cette salle peut être enregistrée."),
        "{html}"
    );
}

#[tokio::test]
async fn the_room_page_gives_hosts_start_and_stop_and_everyone_the_indicator() {
    // alice signs in twice in a row.
    let mut app = spawn_app_with(
        &[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")],
        Overrides::default(),
    )
    .await;
    app.use_recording_acl();
    app.sign_in("standup", "alice").await;
    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(html.contains(r#"<meta name="recording" content="host">"#));
    assert!(html.contains(r#"id="recording-start""#));
    assert!(html.contains(r#"id="recording-stop""#));
    assert!(html.contains(r#"id="recording-indicator""#));
    // An always room: nothing to start, the sign all the same.
    app.sign_in("all-hands", "alice").await;
    let html = app.get_room("all-hands").await.text().await.unwrap();
    assert!(html.contains(r#"<meta name="recording" content="always">"#));
    assert!(!html.contains(r#"id="recording-start""#));
    assert!(html.contains(r#"id="recording-indicator""#));
    // A participant gets the sign, not the buttons.
    app.client = new_client();
    app.sign_in("standup", "bob").await;
    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(!html.contains(r#"id="recording-start""#));
    assert!(html.contains(r#"id="recording-indicator""#));
}

#[tokio::test]
async fn an_always_room_is_created_as_a_group_room_recording_on_connect() {
    let app = spawn_recording_app().await;
    app.sign_in("all-hands", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/all-hands"))
        .respond_with(twilio_error(404, 20404))
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Rooms"))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_form(&[
            ("UniqueName", "all-hands"),
            ("Type", "group"),
            ("RecordParticipantsOnConnect", "true"),
            ("StatusCallback", SIGNED_URL),
            ("StatusCallbackMethod", "POST"),
        ]))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(room_json("all-hands", "in-progress")),
        )
        .expect(1)
        .mount(&app.video)
        .await;
    assert_eq!(app.post_token("all-hands").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms", 1).await;
}

#[tokio::test]
async fn room_settings_are_reloaded_live_from_the_file() {
    let app = spawn_app().await;
    let notice = "This room may be recorded.";
    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(!html.contains(notice));
    app.write_acl(&recording_acl());
    let shown = eventually(std::time::Duration::from_secs(5), || async {
        let html = app.get_room("standup").await.text().await.unwrap();
        html.contains(notice)
    })
    .await;
    assert!(shown, "the edited file is in force");
}

#[tokio::test]
async fn ending_the_room_takes_the_sign_away() {
    let app = spawn_app().await;
    app.use_recording_acl();
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_room("standup").expect(2).mount(&app.video).await;
    recording_rules(INCLUDE_ALL, "include")
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v1/Rooms/{ROOM_SID}")))
        .and(exact_form(&[("Status", "completed")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(room_json("standup", "completed")))
        .expect(1)
        .mount(&app.video)
        .await;
    let started = app.post_recording("standup", "start", Some(&csrf)).await;
    assert_eq!(started.status(), StatusCode::OK);
    let ended = app
        .client
        .post(app.url("/rooms/standup/end"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), StatusCode::OK);
    // Without Twilio's callbacks (no Auth Token here), the host's End says enough.
    assert_json(
        app.get_recording("standup").await,
        StatusCode::OK,
        json!({"recording": false}),
    )
    .await;
}
