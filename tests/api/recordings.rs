//! Recordings from the host's Start to a stored, verified object, Twilio's copies
//! deleted, and a link that plays it: against the Video API mocked from the spec's
//! shapes (and the docs' Media redirect), with the app's own storage. And who may see
//! a room's recordings: its hosts only.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use roomgate::twilio::signature::SignatureValidator;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::recording_controls::{
    AUTH_TOKEN, INCLUDE_ALL, SIGNED_URL, fetch_room, recording_rules, spawn_recording_app,
};

const COMPOSITION_SID: &str = "CJ0123456789abcdef0123456789abcdef";
const TRACKS: [&str; 2] = [
    "RT00000000000000000000000000000001",
    "RT00000000000000000000000000000002",
];

impl TestApp {
    pub async fn get_recordings_page(&self, room: &str) -> Response {
        self.get(&format!("/rooms/{room}/recordings")).await
    }

    pub async fn post_recording_link(
        &self,
        room: &str,
        id: &str,
        purpose: &str,
        csrf: Option<&str>,
    ) -> Response {
        self.post_with_csrf_header(&format!("/rooms/{room}/recordings/{id}/{purpose}"), csrf)
            .await
    }

    /// A Twilio Video status callback, signed as Twilio signs it.
    pub async fn post_signed_room_event(&self, event: &str) -> Response {
        let params: Vec<(String, String)> = [
            ("AccountSid", ACCOUNT_SID),
            ("RoomName", "standup"),
            ("RoomSid", ROOM_SID),
            ("RoomStatus", "completed"),
            ("RoomType", "group"),
            ("StatusCallbackEvent", event),
            ("Timestamp", crate::twilio::callback_timestamp()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let signature =
            SignatureValidator::new(SecretString::from(AUTH_TOKEN)).sign(SIGNED_URL, &params);
        self.client
            .post(self.url("/twilio/room-events"))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await
            .unwrap()
    }
}

/// 2 MiB of a known pattern: the composed mp4.
fn media() -> Vec<u8> {
    (0..2 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect()
}

fn composition(status: &str) -> Value {
    json!({
        "account_sid": ACCOUNT_SID, "status": status, "sid": COMPOSITION_SID,
        "room_sid": ROOM_SID, "date_created": "2026-12-05T21:00:00Z",
        "date_completed": null, "date_deleted": null,
        "audio_sources": ["*"], "audio_sources_excluded": [],
        "video_layout": {"grid": {"video_sources": ["*"]}},
        "resolution": "640x480", "trim": true, "format": "mp4", "bitrate": 64,
        "size": if status == "completed" { json!(media().len()) } else { Value::Null },
        "duration": if status == "completed" { json!(95) } else { Value::Null },
        "media_external_location": null,
        "status_callback": SIGNED_URL, "status_callback_method": "POST",
        "url": format!("https://video.twilio.com/v1/Compositions/{COMPOSITION_SID}"),
        "links": {"media": format!("https://video.twilio.com/v1/Compositions/{COMPOSITION_SID}/Media")}
    })
}

fn list(key: &str, items: Vec<Value>) -> Value {
    json!({ key: items, "meta": {"page": 0, "page_size": 100, "first_page_url": "",
        "previous_page_url": null, "url": "", "next_page_url": null, "key": key}})
}

/// The pipeline's first steps, answered: the room's track recordings, no composition
/// of it yet, and one asked for (as the spec's shapes have them).
fn composing() -> [Mock; 3] {
    let tracks = TRACKS
        .iter()
        .map(|sid| json!({"sid": sid, "status": "completed", "room_sid": ROOM_SID, "type": "video", "size": 1000}))
        .collect();
    [
        Mock::given(method("GET"))
            .and(path(format!("/v1/Rooms/{ROOM_SID}/Recordings")))
            .respond_with(ResponseTemplate::new(200).set_body_json(list("recordings", tracks))),
        Mock::given(method("GET"))
            .and(path("/v1/Compositions"))
            .and(query_param("RoomSid", ROOM_SID))
            .respond_with(ResponseTemplate::new(200).set_body_json(list("compositions", vec![]))),
        Mock::given(method("POST"))
            .and(path("/v1/Compositions"))
            .and(exact_form(&[
                ("RoomSid", ROOM_SID),
                ("AudioSources", "*"),
                ("VideoLayout", r#"{"grid":{"video_sources":["*"]}}"#),
                ("Format", "mp4"),
                ("StatusCallback", SIGNED_URL),
                ("StatusCallbackMethod", "POST"),
            ]))
            .respond_with(ResponseTemplate::new(201).set_body_json(composition("enqueued"))),
    ]
}

/// Everything the pipeline asks Video for, each expected exactly once.
async fn mock_the_pipeline(app: &TestApp) {
    let [tracks, listed, created] = composing();
    tracks.expect(1).mount(&app.video).await;
    // Once to adopt one an earlier attempt asked for, once to delete them all.
    listed.expect(2).mount(&app.video).await;
    created.expect(1).mount(&app.video).await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(composition("completed")))
        .mount(&app.video)
        .await;
    let signed = format!(
        "{}/media-bucket/{COMPOSITION_SID}.mp4?X-Signature=abc",
        app.video.uri()
    );
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}/Media")))
        .and(query_param("Ttl", "60"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", signed.as_str())
                .set_body_json(json!({ "redirect_to": signed })),
        )
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/media-bucket/{COMPOSITION_SID}.mp4")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(media()))
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .expect(3)
        .mount(&app.video)
        .await;
}

async fn requests(app: &TestApp) -> Vec<(String, String)> {
    app.video
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect()
}

#[tokio::test]
async fn from_the_hosts_start_to_a_stored_verified_recording_and_twilios_copies_deleted() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    fetch_room("standup").mount(&app.video).await;
    recording_rules(INCLUDE_ALL, "include")
        .expect(1)
        .mount(&app.video)
        .await;
    let started = app.post_recording("standup", "start", Some(&csrf)).await;
    assert_eq!(started.status(), StatusCode::OK);

    mock_the_pipeline(&app).await;
    assert_eq!(
        app.post_signed_room_event("room-ended").await.status(),
        StatusCode::OK
    );
    // Twilio may say it twice: still one job.
    assert_eq!(
        app.post_signed_room_event("room-ended").await.status(),
        StatusCode::OK
    );

    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while requests(&app)
        .await
        .iter()
        .filter(|(m, _)| m == "DELETE")
        .count()
        < 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            requests(&app).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = requests(&app).await;
    let downloaded = got
        .iter()
        .position(|(_, p)| p.starts_with("/media-bucket/"))
        .unwrap();
    let deletes: Vec<&str> = got
        .iter()
        .filter(|(m, _)| m == "DELETE")
        .map(|(_, p)| p.as_str())
        .collect();
    assert_eq!(
        deletes,
        [
            format!("/v1/Compositions/{COMPOSITION_SID}"),
            format!("/v1/Recordings/{}", TRACKS[0]),
            format!("/v1/Recordings/{}", TRACKS[1]),
        ]
    );
    assert!(got.iter().position(|(m, _)| m == "DELETE").unwrap() > downloaded);

    // The host's page lists it as stored, with its duration and size, and no link.
    let page = app.get_recordings_page("standup").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"data-id="{ROOM_SID}""#)), "{html}");
    assert!(
        html.contains("1:35") && html.contains("2.1 MB") && html.contains("Stored"),
        "{html}"
    );
    assert!(!html.contains("/recordings/files/"));
    // The page's own player (static/recordings.js), named for the recording it plays.
    assert!(html.contains(r#"<div id="recordings-player""#), "{html}");
    assert!(
        html.contains(r#"data-label="Recording that ended "#),
        "{html}"
    );

    // Download: a link valid for seconds, which serves exactly what Twilio had.
    let link = app
        .post_recording_link("standup", ROOM_SID, "download", Some(&csrf))
        .await;
    assert_eq!(link.status(), StatusCode::OK);
    assert_eq!(link.headers()["cache-control"], "no-store");
    let body: Value = link.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let url = body["url"].as_str().unwrap();
    let file = app.get_recording_file(url).await;
    assert_eq!(file.status(), StatusCode::OK);
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment")
            && disposition.contains("standup-")
            && disposition.contains(".mp4"),
        "{disposition}"
    );
    assert_eq!(file.bytes().await.unwrap().to_vec(), media());

    // Play, twice (the player asks again once its link has expired): each served
    // inline, the second from where the player was.
    let mut urls = Vec::new();
    for _ in 0..2 {
        let link = app
            .post_recording_link("standup", ROOM_SID, "play", Some(&csrf))
            .await;
        assert_eq!(link.status(), StatusCode::OK);
        let body: Value = link.json().await.unwrap();
        urls.push(body["url"].as_str().unwrap().to_owned());
    }
    let resumed = app
        .client
        .get(app.url(&urls[1]))
        .header("range", "bytes=1000-")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::PARTIAL_CONTENT);
    assert!(
        resumed.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(resumed.bytes().await.unwrap().to_vec(), media()[1000..]);

    app.audit.flush().await.unwrap();
    assert_eq!(
        app.audit_events("recording_stored").len(),
        1,
        "{}",
        app.audit_text()
    );
    let issued = app.audit_events("recording_link_issued");
    assert_eq!(issued.len(), 3);
    assert_eq!(issued[0]["username"], "alice");
    assert_eq!(issued[0]["room"], "standup");
    assert!(
        !app.audit_text().contains("/recordings/files/"),
        "a link in the audit log"
    );
}

#[tokio::test]
async fn a_participant_and_a_host_of_another_room_get_403_on_the_page_and_on_links() {
    let mut app = spawn_recording_app().await;
    // bob may join standup but is no host.
    app.sign_in("standup", "bob").await;
    let csrf = app.room_csrf("standup").await;
    let page = app.get_recordings_page("standup").await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    // Not a dead end: the way back to the room he is in.
    let html = page.text().await.unwrap();
    assert!(html.contains("Only hosts of this room"), "{html}");
    assert!(
        html.contains(r#"<a class="button" href="/rooms/standup">Back to the room</a>"#),
        "{html}"
    );
    for purpose in ["play", "download"] {
        assert_json(
            app.post_recording_link("standup", ROOM_SID, purpose, Some(&csrf))
                .await,
            StatusCode::FORBIDDEN,
            json!({"error": "not_host"}),
        )
        .await;
    }

    // harry hosts board, not standup.
    app.client = new_client();
    app.sign_in("board", "harry").await;
    let csrf = app.room_csrf("board").await;
    assert_eq!(
        app.get_recordings_page("standup").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get_recordings_page("board").await.status(),
        StatusCode::OK
    );
    let link = app
        .post_recording_link("standup", ROOM_SID, "play", Some(&csrf))
        .await;
    assert_eq!(link.status(), StatusCode::FORBIDDEN);

    // Nobody signed in: sent to sign in first.
    app.client = new_client();
    let page = app.get_recordings_page("standup").await;
    assert_is_redirect_to(&page, "/rooms/standup");
    // Nor is alice, who hosts standup, while her session is verified for all-hands.
    app.sign_in("all-hands", "alice").await;
    let page = app.get_recordings_page("standup").await;
    assert_is_redirect_to(&page, "/rooms/standup");
    assert_eq!(app.audit_events("recording_link_issued").len(), 0);
}

#[tokio::test]
async fn a_host_without_the_csrf_header_gets_no_link_and_an_unknown_recording_is_404() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    let link = app
        .post_recording_link("standup", ROOM_SID, "play", None)
        .await;
    assert_eq!(link.status(), StatusCode::FORBIDDEN);
    assert_json(
        app.post_recording_link("standup", ROOM_SID, "play", Some(&csrf))
            .await,
        StatusCode::NOT_FOUND,
        json!({"error": "not_found"}),
    )
    .await;
}

/// A recording Twilio lost (its composition deleted before our copy was stored) is
/// shown failed in the host's language, with the technical detail after it, marked
/// as English.
#[tokio::test]
async fn a_failed_recording_says_why_in_the_hosts_language() {
    let app = spawn_recording_app().await;
    app.sign_in("standup", "alice").await;
    for mock in composing() {
        mock.mount(&app.video).await;
    }
    Mock::given(method("GET"))
        .and(path(format!("/v1/Compositions/{COMPOSITION_SID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(composition("deleted")))
        .mount(&app.video)
        .await;
    assert_eq!(
        app.post_signed_room_event("room-ended").await.status(),
        StatusCode::OK
    );
    let french = || async {
        app.client
            .get(app.url("/rooms/standup/recordings"))
            .header("accept-language", "fr")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (failed, html) = poll_until(Duration::from_secs(15), || async {
        let html = french().await;
        (html.contains("la copie de Twilio a été supprimée"), html)
    })
    .await;
    assert!(failed, "{html}");
    assert!(
        html.contains(r#"<small class="muted" lang="en">Twilio"#),
        "{html}"
    );
    assert!(
        !html.contains("Échec : Twilio"),
        "not the English reason in a French sentence: {html}"
    );
}
