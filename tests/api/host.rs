//! Host controls: exactly the Video API requests of Twilio's spec, only for a verified
//! host of the room, always with the CSRF header; and room creation on first token.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use roomgate::startup::Overrides;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const ROOM_PATH: &str = "/v1/Rooms/RM0123456789abcdef0123456789abcdef";
const PARTICIPANTS_PATH: &str = "/v1/Rooms/RM0123456789abcdef0123456789abcdef/Participants";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

impl TestApp {
    async fn get_participants(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}/participants")).await
    }

    async fn post_host(&self, path: &str, csrf: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path));
        if let Some(csrf) = csrf {
            req = req.header("X-CSRF-Token", csrf);
        }
        req.send().await.unwrap()
    }

    async fn post_remove(&self, room: &str, identity: &str, csrf: Option<&str>) -> Response {
        self.post_host(
            &format!("/rooms/{room}/participants/{identity}/remove"),
            csrf,
        )
        .await
    }

    async fn post_end(&self, room: &str, csrf: Option<&str>) -> Response {
        self.post_host(&format!("/rooms/{room}/end"), csrf).await
    }
}

/// `GET /v1/Rooms/standup` (FetchRoom by UniqueName): the room in progress.
fn fetch_standup() -> Mock {
    // As roomgate made it: with our status callback.
    let mut room = room_json("standup", "in-progress");
    room["status_callback"] = json!("http://127.0.0.1:8080/twilio/room-events");
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_query(&[]))
        .respond_with(ResponseTemplate::new(200).set_body_json(room))
}

/// bob, connected to standup, as the participant list finds him by identity.
fn bob_is_connected() -> Mock {
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_query(&[("Status", "connected"), ("Identity", "bob")]))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(participants_page(vec![participant_json(
                PA_BOB,
                "bob",
                "connected",
            )])),
        )
}

/// UpdateParticipant `Status=disconnected` for the participant `sid`.
fn disconnects(sid: &str, identity: &str) -> Mock {
    Mock::given(method("POST"))
        .and(path(format!("{PARTICIPANTS_PATH}/{sid}")))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_form(&[("Status", "disconnected")]))
        .respond_with(ResponseTemplate::new(202).set_body_json(participant_json(
            sid,
            identity,
            "disconnected",
        )))
}

async fn video_requests(app: &TestApp) -> Vec<wiremock::Request> {
    calls_to(&app.video).await
}

#[tokio::test]
async fn a_host_lists_the_connected_participants() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    fetch_standup().expect(1).mount(&app.video).await;
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_query(&[("Status", "connected")]))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(participants_page(vec![
                participant_json(PA_ALICE, "alice", "connected"),
                participant_json(PA_BOB, "bob", "connected"),
            ])),
        )
        .expect(1)
        .mount(&app.video)
        .await;

    assert_json(
        app.get_participants("standup").await,
        StatusCode::OK,
        json!({
            "room": "standup",
            "participants": [
                {"identity": "alice", "since": "2026-11-22T08:00:00Z"},
                {"identity": "bob", "since": "2026-11-22T08:00:00Z"}
            ]
        }),
    )
    .await;
    let got = video_requests(&app).await;
    let order: Vec<(String, String)> = got
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect();
    assert_eq!(
        order,
        [
            ("GET".to_owned(), "/v1/Rooms/standup".to_owned()),
            ("GET".to_owned(), PARTICIPANTS_PATH.to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_room_twilio_does_not_have_lists_nobody() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(twilio_error(404, 20404))
        .expect(1)
        .mount(&app.video)
        .await;

    assert_json(
        app.get_participants("standup").await,
        StatusCode::OK,
        json!({"room": "standup", "participants": []}),
    )
    .await;
    assert_eq!(video_requests(&app).await.len(), 1);
}

#[tokio::test]
async fn a_host_removes_a_participant_by_identity() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_standup().expect(1).mount(&app.video).await;
    bob_is_connected().expect(1).mount(&app.video).await;
    disconnects(PA_BOB, "bob").expect(1).mount(&app.video).await;

    assert_json(
        app.post_remove("standup", "bob", Some(&csrf)).await,
        StatusCode::OK,
        json!({"removed": "bob"}),
    )
    .await;
    let got = video_requests(&app).await;
    assert_eq!(
        got.len(),
        3,
        "FetchRoom, ListRoomParticipant, UpdateRoomParticipant"
    );
    assert_eq!(got[2].method.as_str(), "POST");
    let removed = app.audit_events("participant_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["username"], "bob");
    assert_eq!(removed[0]["room"], "standup");
}

#[tokio::test]
async fn removing_someone_not_connected_is_404_and_disconnects_nobody() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_standup().expect(1).mount(&app.video).await;
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .and(exact_query(&[("Status", "connected"), ("Identity", "bob")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(participants_page(vec![])))
        .expect(1)
        .mount(&app.video)
        .await;

    assert_json(
        app.post_remove("standup", "bob", Some(&csrf)).await,
        StatusCode::NOT_FOUND,
        json!({"error": "not_in_room"}),
    )
    .await;
    assert!(
        video_requests(&app)
            .await
            .iter()
            .all(|r| r.method.as_str() == "GET"),
        "nothing was POSTed"
    );
    // Barred all the same (the host asked for it), and so audited; that Twilio had
    // nobody to disconnect is on record after it.
    let removed = app.audit_events("participant_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["username"], "bob");
    assert_eq!(removed[0]["detail"], "by alice");
    let not_done = app.audit_events("participant_not_disconnected");
    assert_eq!(not_done.len(), 1);
    assert_eq!(not_done[0]["username"], "bob");
    assert_eq!(not_done[0]["detail"], "by alice; not connected");
    app.sign_in("standup", "bob").await;
    let token = app.post_token("standup").await;
    assert_eq!(token.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_host_ends_the_room() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_standup().expect(1).mount(&app.video).await;
    Mock::given(method("POST"))
        .and(path(ROOM_PATH))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_form(&[("Status", "completed")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(room_json("standup", "completed")))
        .expect(1)
        .mount(&app.video)
        .await;

    assert_json(
        app.post_end("standup", Some(&csrf)).await,
        StatusCode::OK,
        json!({"ended": "standup"}),
    )
    .await;
    assert_eq!(video_requests(&app).await.len(), 2);
    let ended = app.audit_events("room_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["username"], "alice");
    assert_eq!(ended[0]["room"], "standup");
}

#[tokio::test]
async fn a_participant_is_not_a_host() {
    let app = spawn_app().await;
    app.sign_in("standup", "bob").await;
    let csrf = app.room_csrf("standup").await;
    let not_host = json!({"error": "not_host"});

    assert_json(
        app.get_participants("standup").await,
        StatusCode::FORBIDDEN,
        not_host.clone(),
    )
    .await;
    assert_json(
        app.post_remove("standup", "alice", Some(&csrf)).await,
        StatusCode::FORBIDDEN,
        not_host.clone(),
    )
    .await;
    assert_json(
        app.post_end("standup", Some(&csrf)).await,
        StatusCode::FORBIDDEN,
        not_host,
    )
    .await;
    assert!(video_requests(&app).await.is_empty(), "no Video API call");
    // Refused before anything else: alice was not barred by bob's attempt.
    assert!(app.audit_events("participant_removed").is_empty());
}

#[tokio::test]
async fn a_session_verified_for_another_room_has_no_say_here() {
    let app = spawn_app().await;
    // alice hosts standup and all-hands; verified for all-hands only, her session
    // can't end standup.
    app.sign_in("all-hands", "alice").await;
    let csrf = app.room_csrf("all-hands").await;
    let resp = app.post_end("standup", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // She may not join board at all: signing in wouldn't help, so that is a 403, on
    // every host endpoint, as on the recording controls.
    let not_allowed = json!({"error": "not_allowed"});
    assert_json(
        app.get_participants("board").await,
        StatusCode::FORBIDDEN,
        not_allowed.clone(),
    )
    .await;
    assert_json(
        app.post_remove("board", "bob", Some(&csrf)).await,
        StatusCode::FORBIDDEN,
        not_allowed.clone(),
    )
    .await;
    assert_json(
        app.post_end("board", Some(&csrf)).await,
        StatusCode::FORBIDDEN,
        not_allowed,
    )
    .await;
    assert!(video_requests(&app).await.is_empty());
    assert!(app.audit_events("participant_removed").is_empty());
}

#[tokio::test]
async fn host_posts_without_the_right_csrf_header_are_refused() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    let wrong = format!("{csrf}x");
    for csrf in [None, Some(""), Some(wrong.as_str())] {
        assert_json(
            app.post_remove("standup", "bob", csrf).await,
            StatusCode::FORBIDDEN,
            json!({"error": "csrf"}),
        )
        .await;
        assert_json(
            app.post_end("standup", csrf).await,
            StatusCode::FORBIDDEN,
            json!({"error": "csrf"}),
        )
        .await;
    }
    assert!(video_requests(&app).await.is_empty(), "no Video API call");
    assert!(app.audit_events("participant_removed").is_empty());
}

#[tokio::test]
async fn host_controls_need_a_verified_session() {
    let app = spawn_app().await;
    let csrf = app.csrf_token("standup").await;
    let not_verified = json!({"error": "not_verified"});
    assert_json(
        app.get_participants("standup").await,
        StatusCode::UNAUTHORIZED,
        not_verified.clone(),
    )
    .await;
    assert_json(
        app.post_end("standup", Some(&csrf)).await,
        StatusCode::UNAUTHORIZED,
        not_verified,
    )
    .await;
    assert!(video_requests(&app).await.is_empty());
}

/// Two browsers, alice (host) and bob, both signed in to standup; alice removes bob.
/// The app's client is bob's after, and his room page's CSRF token is returned.
async fn alice_removes_bob(app: &mut TestApp) -> String {
    // The room exists, so tokens need no room creation.
    fetch_standup().mount(&app.video).await;
    bob_is_connected().expect(1).mount(&app.video).await;
    disconnects(PA_BOB, "bob").expect(1).mount(&app.video).await;
    app.sign_in("standup", "bob").await;
    let bob = app.client.clone();
    let bob_csrf = app.room_csrf("standup").await;
    app.client = new_client();
    app.sign_in("standup", "alice").await;
    let alice_csrf = app.room_csrf("standup").await;
    assert_eq!(
        app.post_remove("standup", "bob", Some(&alice_csrf))
            .await
            .status(),
        StatusCode::OK
    );
    app.client = bob;
    bob_csrf
}

#[tokio::test]
async fn a_removed_participant_is_barred_from_the_room_for_ten_minutes() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    let bob_csrf = alice_removes_bob(&mut app).await;
    let resp = app.post_token_with("standup", Some(&bob_csrf)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.headers()["retry-after"], "600");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({"error": "removed"}));

    clock.advance(Duration::from_secs(9 * 60));
    let resp = app.post_token_with("standup", Some(&bob_csrf)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(resp.headers()["retry-after"], "60");

    clock.advance(Duration::from_secs(60));
    let resp = app.post_token_with("standup", Some(&bob_csrf)).await;
    assert_eq!(resp.status(), StatusCode::OK, "the ban lasts 10 minutes");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["identity"], "bob");
}

/// A host removed by another host is no host while the bar lasts: they can't end the
/// room, list or remove anyone (the host who removed them included).
#[tokio::test]
async fn a_removed_host_has_no_host_powers_while_barred() {
    let (mut app, clock) = spawn_app_with_clock(&[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")]).await;
    let two_hosts = TEST_ACL.replace(
        "rooms = [\"*\"]\nchannels",
        "rooms = [\"*\"]\nrole = \"host\"\nchannels",
    );
    app.acl
        .replace(roomgate::acl::Acl::parse("acl.toml", &two_hosts).unwrap());
    let bob_csrf = alice_removes_bob(&mut app).await;
    for resp in [
        app.get_participants("standup").await,
        app.post_remove("standup", "alice", Some(&bob_csrf)).await,
        app.post_end("standup", Some(&bob_csrf)).await,
    ] {
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_host");
    }
    // The bar over, a host again.
    clock.advance(Duration::from_secs(10 * 60));
    let _listed = Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(participants_page(vec![])))
        .mount_as_scoped(&app.video)
        .await;
    assert_eq!(
        app.get_participants("standup").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_bar_applies_to_the_room_it_was_given_in() {
    let (mut app, _clock) = spawn_app_with_clock(&[]).await;
    fetch_standup().mount(&app.video).await;
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(participants_page(vec![participant_json(
                PA_BOB,
                "bob",
                "connected",
            )])),
        )
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PARTICIPANTS_PATH}/{PA_BOB}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(participant_json(
            PA_BOB,
            "bob",
            "disconnected",
        )))
        .mount(&app.video)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/retro"))
        .respond_with(ResponseTemplate::new(200).set_body_json(room_json("retro", "in-progress")))
        .mount(&app.video)
        .await;

    app.sign_in("standup", "alice").await;
    let alice_csrf = app.room_csrf("standup").await;
    let alice = app.client.clone();
    app.client = new_client();
    app.sign_in("retro", "bob").await;
    let bob = app.client.clone();
    app.client = alice;
    assert_eq!(
        app.post_remove("standup", "bob", Some(&alice_csrf))
            .await
            .status(),
        StatusCode::OK
    );
    app.client = bob;
    assert_eq!(app.post_token("retro").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn video_api_errors_are_503_not_500() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(twilio_error(500, 20500))
        .expect(3)
        .mount(&app.video)
        .await;

    for resp in [
        app.get_participants("standup").await,
        app.post_remove("standup", "bob", Some(&csrf)).await,
        app.post_end("standup", Some(&csrf)).await,
    ] {
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()["retry-after"], "10");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "video_unavailable");
    }
    // bob is barred though not disconnected: the records say both, the removal first.
    let removed = app.audit_events("participant_removed");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["detail"], "by alice");
    let not_done = app.audit_events("participant_not_disconnected");
    assert_eq!(not_done.len(), 1);
    assert_eq!(not_done[0]["detail"], "by alice; video unavailable");
}

/// A host's action waits for the Video API 15 s at most, however many calls it takes:
/// a listing that Twilio pages slowly (each page just within a call's timeout, each
/// naming a next one) took minutes, and the host panel's polls piled up behind it.
#[tokio::test]
async fn a_host_action_is_answered_within_its_deadline_however_slow_the_pages() {
    let app = spawn_app_with(&[], Default::default()).await;
    app.sign_in("standup", "alice").await;
    fetch_standup().mount(&app.video).await;
    let mut page = participants_page(vec![]);
    page["meta"]["next_page_url"] = json!(format!(
        "https://video.twilio.com/v1/Rooms/{ROOM_SID}/Participants?Status=connected&PageSize=50&Page=1&PageToken=PT1"
    ));
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page)
                .set_delay(Duration::from_millis(1900)),
        )
        .mount(&app.video)
        .await;
    let began = std::time::Instant::now();
    let resp = app.get_participants("standup").await;
    let took = began.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "video_unavailable");
    // 20 pages of 1.9 s would be 38 s.
    assert!(took < Duration::from_secs(25), "{took:?}");
}

#[tokio::test]
async fn an_unreachable_video_api_is_503_not_500() {
    let app = spawn_app_with(
        &[("TWILIO_VIDEO_BASE_URL", "http://127.0.0.1:1")],
        Overrides::default(),
    )
    .await;
    app.sign_in("standup", "alice").await;
    let resp = app.get_participants("standup").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "video_unavailable");
}

#[tokio::test]
async fn local_mode_has_no_video_service() {
    let app = spawn_local_app().await;
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let codes = app.codes.clone();
    assert!(
        eventually(Duration::from_secs(2), || {
            let codes = codes.clone();
            async move { !codes.lock().unwrap().is_empty() }
        })
        .await,
        "the local verifier sent a code"
    );
    let code = app.codes.lock().unwrap()[0].code.clone();
    assert_is_redirect_to(&app.post_code("standup", &code).await, "/rooms/standup");
    let csrf = app.room_csrf("standup").await;

    let body = json!({
        "error": "no_video_service",
        "message": "No video service is configured (local mode)."
    });
    for resp in [
        app.get_participants("standup").await,
        app.post_remove("standup", "bob", Some(&csrf)).await,
        app.post_end("standup", Some(&csrf)).await,
    ] {
        assert_json(resp, StatusCode::SERVICE_UNAVAILABLE, body.clone()).await;
    }
    assert!(video_requests(&app).await.is_empty());
}

// --- Room creation on first token ---------------------------------------------------

#[tokio::test]
async fn the_first_token_creates_the_room_with_our_status_callback() {
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], Overrides::default()).await;
    app.sign_in("standup", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_query(&[]))
        .respond_with(twilio_error(404, 20404))
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Rooms"))
        .and(header("authorization", video_basic_auth().as_str()))
        .and(exact_form(&[
            ("UniqueName", "standup"),
            ("StatusCallback", "http://127.0.0.1:8080/twilio/room-events"),
            ("StatusCallbackMethod", "POST"),
        ]))
        .respond_with(ResponseTemplate::new(201).set_body_json(room_json("standup", "in-progress")))
        .expect(1)
        .mount(&app.video)
        .await;

    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    // Room creation runs in the background, after the token.
    assert_requests_settle_at(&app.video, "/v1/Rooms", 1).await;
    let got = video_requests(&app).await;
    let order: Vec<(&str, &str)> = got
        .iter()
        .map(|r| (r.method.as_str(), r.url.path()))
        .collect();
    assert_eq!(order, [("GET", "/v1/Rooms/standup"), ("POST", "/v1/Rooms")]);

    // The second token finds the room known: no further Video call.
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(video_requests(&app).await.len(), 2);
}

/// A room Twilio made for a client that connected before roomgate made it (client-side
/// room creation on) has no status callback of ours: nothing tells roomgate of its
/// participants, its end or its recordings. It is told apart (`foreign`, and a
/// warning), and not created again; one with our callback is `exists`.
#[tokio::test]
async fn a_room_a_client_made_is_told_apart_from_ours() {
    let app = spawn_app_with(
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ],
        Overrides::default(),
    )
    .await;
    for (room, callback, outcome) in [
        ("standup", Value::Null, "foreign"),
        (
            "all-hands",
            json!("http://127.0.0.1:8080/twilio/room-events"),
            "exists",
        ),
    ] {
        app.sign_in(room, "alice").await;
        let mut found = room_json(room, "in-progress");
        found["status_callback"] = callback;
        Mock::given(method("GET"))
            .and(path(format!("/v1/Rooms/{room}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(found))
            .mount(&app.video)
            .await;
        assert_eq!(app.post_token(room).await.status(), StatusCode::OK);
        let counted = format!(r#"roomgate_room_ensure_total{{outcome="{outcome}"}} 1"#);
        let (seen, metrics) = poll_until(Duration::from_secs(5), || async {
            let metrics = app.admin_get("/metrics").await.text().await.unwrap();
            (metrics.contains(&counted), metrics)
        })
        .await;
        assert!(seen, "{counted} in:\n{metrics}");
        // Ours is remembered: the next token looks nothing up. The browser's is not
        // (no `room-ended` would clear it): the next token looks it up again.
        assert_eq!(app.post_token(room).await.status(), StatusCode::OK);
        let lookups = if outcome == "foreign" { 2 } else { 1 };
        assert_requests_settle_at(&app.video, &format!("/v1/Rooms/{room}"), lookups).await;
    }
    let calls = calls_to(&app.video).await;
    assert!(
        calls.iter().all(|r| r.method.as_str() == "GET"),
        "no CreateRoom"
    );
}

#[tokio::test]
async fn a_room_already_in_progress_is_not_created_again() {
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], Overrides::default()).await;
    app.sign_in("standup", "alice").await;
    fetch_standup().expect(1).mount(&app.video).await;

    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms/standup", 1).await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        video_requests(&app).await.len(),
        1,
        "one FetchRoom, no CreateRoom"
    );
}

#[tokio::test]
async fn a_failing_video_api_does_not_stop_the_token_and_backs_off() {
    // Long enough that the second token surely comes within it on a busy machine.
    let backoff = Duration::from_secs(2);
    let mut limits = roomgate::startup::OutboundLimits::default();
    limits.rooms.first = backoff;
    let overrides = Overrides {
        outbound: Some(limits),
        ..Default::default()
    };
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], overrides).await;
    app.sign_in("standup", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(twilio_error(404, 20404))
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Rooms"))
        .respond_with(twilio_error(500, 20500))
        .mount(&app.video)
        .await;

    let resp = app.post_token("standup").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["identity"], "alice");
    assert_requests_settle_at(&app.video, "/v1/Rooms", 1).await;
    // Within the backoff, a token starts no new attempt…
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(requests_to(&app.video, "/v1/Rooms").await, 1);
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"roomgate_room_ensure_total{outcome="failed"} 1"#)
            && metrics.contains(r#"roomgate_room_ensure_skipped_total{reason="backoff"} 1"#),
        "{metrics}"
    );
    // …and not recorded as created: after it, the next token tries again.
    tokio::time::sleep(backoff).await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms", 2).await;
}

#[tokio::test]
async fn an_unreachable_video_api_does_not_stop_the_token() {
    let app = spawn_app_with(
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_VIDEO_BASE_URL", "http://127.0.0.1:1"),
        ],
        Overrides::default(),
    )
    .await;
    app.sign_in("standup", "alice").await;
    let resp = app.post_token("standup").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["room"], "standup");
}

/// `participant-connected` for `identity`, as Twilio sends it, signed with AUTH_TOKEN.
async fn signed_participant_connected(app: &TestApp, identity: &str, sid: &str) -> Response {
    let params = participant_connected(identity, sid);
    let signer = roomgate::twilio::signature::SignatureValidator::new(secrecy::SecretString::from(
        AUTH_TOKEN,
    ));
    let signature = signer.sign("http://127.0.0.1:8080/twilio/room-events", &params);
    app.post_room_event(&params, Some(&signature)).await
}

/// Someone in the room under a name no user can have (a token made by anything else
/// on the account) is on no list: disconnected on connecting, and a host can remove
/// them by that name. A disconnection that fails is tried again, and audited.
#[tokio::test]
async fn a_stranger_is_kept_out_and_a_failed_disconnect_is_tried_again() {
    let app = spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], Overrides::default()).await;
    fetch_standup().mount(&app.video).await;
    const PA_STRANGER: &str = "PA00000000000000000000000000000bad";
    // The first try fails (Video down a moment), the next one works.
    Mock::given(method("POST"))
        .and(path(format!("{PARTICIPANTS_PATH}/{PA_STRANGER}")))
        .respond_with(twilio_error(503, 20503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.video)
        .await;
    disconnects(PA_STRANGER, "Mallory Stranger")
        .expect(2)
        .mount(&app.video)
        .await;
    let resp = signed_participant_connected(&app, "Mallory Stranger", PA_STRANGER).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // On record before Twilio is answered…
    let removals = app.audit_events("participant_removed");
    assert_eq!(removals.len(), 1);
    assert_eq!(removals[0]["detail"], "on_connect not_on_list");
    assert!(removals[0].get("username").is_none());
    // …then disconnected: the first try fails, the next one (5 s later) works.
    let stranger = format!("{PARTICIPANTS_PATH}/{PA_STRANGER}");
    let (done, tries) = poll_until(Duration::from_secs(10), || async {
        let tries = requests_to(&app.video, &stranger).await;
        (tries >= 2, tries)
    })
    .await;
    assert!(done, "{tries} tries");
    assert!(app.audit_events("participant_not_disconnected").is_empty());

    // A host removes them by the name Twilio lists.
    Mock::given(method("GET"))
        .and(path(PARTICIPANTS_PATH))
        .and(exact_query(&[
            ("Status", "connected"),
            ("Identity", "Mallory Stranger"),
        ]))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(participants_page(vec![participant_json(
                PA_STRANGER,
                "Mallory Stranger",
                "connected",
            )])),
        )
        .mount(&app.video)
        .await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    let resp = app
        .post_remove("standup", "Mallory%20Stranger", Some(&csrf))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"removed": "Mallory Stranger"})
    );
}

/// A token outlives a removal (and the room page keeps a spare): Twilio lets its holder
/// back in. So whoever connects while a host's removal bars them, or while not on the
/// list for the room, is disconnected again as soon as Twilio says they are there;
/// nobody else is.
#[tokio::test]
async fn a_removed_or_delisted_participant_reconnecting_is_disconnected_again() {
    let (mut app, clock) = spawn_app_with_clock(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)]).await;
    fetch_standup().mount(&app.video).await;
    bob_is_connected().mount(&app.video).await;
    // bob's removal by the host, then his reconnection: two disconnections of bob.
    disconnects(PA_BOB, "bob").expect(2).mount(&app.video).await;
    // alice stays; "dave" is on nobody's list (a user removed from the file).
    const PA_DAVE: &str = "PA00000000000000000000000000000dae";
    disconnects(PA_DAVE, "dave")
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{PARTICIPANTS_PATH}/{PA_ALICE}")))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&app.video)
        .await;

    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    assert_eq!(
        app.post_remove("standup", "bob", Some(&csrf))
            .await
            .status(),
        StatusCode::OK
    );

    for (who, sid) in [("bob", PA_BOB), ("alice", PA_ALICE), ("dave", PA_DAVE)] {
        let resp = signed_participant_connected(&app, who, sid).await;
        assert_eq!(resp.status(), StatusCode::OK, "{who}");
    }
    // Disconnected in the background, then audited: the host's removal and two more.
    let (done, removals) = poll_until(Duration::from_secs(5), || async {
        let removals = app.audit_events("participant_removed");
        (removals.len() >= 3, removals)
    })
    .await;
    assert!(done, "{removals:?}");
    let details: Vec<&str> = removals
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert_eq!(
        details
            .iter()
            .filter(|d| **d == "on_connect removed")
            .count(),
        1,
        "{details:?}"
    );
    assert_eq!(
        details
            .iter()
            .filter(|d| **d == "on_connect not_on_list")
            .count(),
        1,
        "{details:?}"
    );

    // Once the bar is over, bob may stay.
    clock.advance(Duration::from_secs(601));
    app.client = new_client();
    let resp = signed_participant_connected(&app, "bob", PA_BOB).await;
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
}
