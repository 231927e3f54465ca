//! `POST /twilio/room-events`: Twilio's room status callbacks, accepted only with a
//! valid `X-Twilio-Signature` over the public URL, and recorded in the audit log.

use reqwest::StatusCode;
use roomgate::startup::Overrides;
use roomgate::twilio::signature::SignatureValidator;
use secrecy::SecretString;

use crate::helpers::*;

const AUTH_TOKEN: &str = "fedcba9876543210fedcba9876543210";
/// What Twilio signs: the public URL (the default one here) and the path.
const SIGNED_URL: &str = "http://127.0.0.1:8080/twilio/room-events";

fn signer() -> SignatureValidator {
    SignatureValidator::new(SecretString::from(AUTH_TOKEN))
}

async fn spawn_webhook_app() -> TestApp {
    spawn_app_with(&[("TWILIO_AUTH_TOKEN", AUTH_TOKEN)], Overrides::default()).await
}

#[tokio::test]
async fn a_signed_room_event_is_accepted_and_audited() {
    let app = spawn_webhook_app().await;
    let params = participant_connected("alice", PA_ALICE);
    let signature = signer().sign(SIGNED_URL, &params);

    let resp = app.post_room_event(&params, Some(&signature)).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Written before the response.
    let events = app.audit_events("room_event");
    assert_eq!(events.len(), 1, "{}", app.audit_text());
    assert_eq!(events[0]["status_callback_event"], "participant-connected");
    assert_eq!(events[0]["room"], "standup");
    assert_eq!(events[0]["username"], "alice");
    assert!(app.audit_events("webhook_rejected").is_empty());
}

/// A signed callback says what happened, not when it was sent: the same one again (a
/// replay, or Twilio trying again) is answered 200 and not acted on twice, and the
/// repeats fold into one audit summary rather than a line each.
#[tokio::test]
async fn a_signed_callback_sent_again_is_acted_on_once() {
    let app = spawn_webhook_app().await;
    let params = participant_connected("alice", PA_ALICE);
    let signature = signer().sign(SIGNED_URL, &params);
    for _ in 0..20 {
        let resp = app.post_room_event(&params, Some(&signature)).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(app.audit_count("webhook_rejected").await, 19);
    let repeats = app.audit_events("webhook_rejected");
    assert!(repeats.len() <= 2, "{}", app.audit_text());
    assert!(
        repeats.iter().all(|r| r["detail"] == "repeated"),
        "{repeats:?}"
    );
    assert_eq!(
        app.audit_events("room_event").len(),
        1,
        "{}",
        app.audit_text()
    );

    // The next event of the same participant is another callback (Twilio numbers
    // them), and is acted on.
    let mut next = participant_connected("alice", PA_ALICE);
    for (key, value) in &mut next {
        if key == "SequenceNumber" {
            *value = "2".into();
        }
    }
    let signature = signer().sign(SIGNED_URL, &next);
    assert_eq!(
        app.post_room_event(&next, Some(&signature)).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.audit_events("room_event").len(), 2);
}

/// A callback from before the replay window is refused however well signed: once it
/// is no longer remembered, its time is what keeps a captured one from working again.
#[tokio::test]
async fn a_signed_callback_from_before_the_replay_window_is_refused() {
    let app = spawn_webhook_app().await;
    let old = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(2 * 3600);
    let mut params = participant_connected("alice", PA_ALICE);
    for (key, value) in &mut params {
        if key == "Timestamp" {
            *value = old.to_string();
        }
    }
    let signature = signer().sign(SIGNED_URL, &params);
    let resp = app.post_room_event(&params, Some(&signature)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(app.audit_events("room_event").is_empty());
    let rejected = app.audit_events("webhook_rejected");
    assert_eq!(rejected.len(), 1, "{}", app.audit_text());
    assert_eq!(rejected[0]["detail"], "stale");

    // Within the window: accepted.
    let recent = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(50 * 60);
    for (key, value) in &mut params {
        if key == "Timestamp" {
            *value = recent.to_string();
        }
    }
    let signature = signer().sign(SIGNED_URL, &params);
    let resp = app.post_room_event(&params, Some(&signature)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(app.audit_events("room_event").len(), 1);
}

#[tokio::test]
async fn the_query_string_is_part_of_the_signed_url() {
    let app = spawn_webhook_app().await;
    let params = participant_connected("alice", PA_ALICE);
    let signature = signer().sign(&format!("{SIGNED_URL}?room=standup"), &params);
    let post = |path: &'static str| {
        app.client
            .post(app.url(path))
            .form(&params)
            .header("X-Twilio-Signature", signature.as_str())
            .send()
    };
    assert_eq!(
        post("/twilio/room-events?room=standup")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        post("/twilio/room-events?room=retro")
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post("/twilio/room-events").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.audit_events("room_event").len(), 1);
}

#[tokio::test]
async fn room_ended_makes_the_next_token_create_the_room_again() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    let app = spawn_webhook_app().await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(twilio_error(404, 20404))
        .expect(2)
        .mount(&app.video)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Rooms"))
        .respond_with(ResponseTemplate::new(201).set_body_json(room_json("standup", "in-progress")))
        .expect(2)
        .mount(&app.video)
        .await;
    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms", 1).await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms", 1).await;

    let ended: Vec<(String, String)> = [
        ("AccountSid", ACCOUNT_SID),
        ("RoomName", "standup"),
        ("RoomSid", ROOM_SID),
        ("RoomStatus", "completed"),
        ("RoomType", "group"),
        ("StatusCallbackEvent", "room-ended"),
        ("Timestamp", crate::twilio::callback_timestamp()),
        ("RoomDuration", "1800"),
        ("SequenceNumber", "7"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let signature = signer().sign(SIGNED_URL, &ended);
    assert_eq!(
        app.post_room_event(&ended, Some(&signature)).await.status(),
        StatusCode::OK
    );
    let events = app.audit_events("room_event");
    assert_eq!(events[0]["status_callback_event"], "room-ended");
    assert!(events[0].get("username").is_none());

    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.video, "/v1/Rooms", 2).await;
}

#[tokio::test]
async fn unsigned_or_badly_signed_room_events_are_refused() {
    let app = spawn_webhook_app().await;
    let params = participant_connected("alice", PA_ALICE);
    let good = signer().sign(SIGNED_URL, &params);

    let mut tampered = params.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "ParticipantIdentity" {
            *v = "bob".into();
        }
    }
    let mut extra = params.clone();
    extra.push(("RoomStatus".into(), "completed".into()));
    let other_url = signer().sign("http://127.0.0.1:8080/twilio/other-events", &params);
    let other_host = signer().sign("https://gate.example.com/twilio/room-events", &params);
    let other_token =
        SignatureValidator::new(SecretString::from("another-auth-token")).sign(SIGNED_URL, &params);
    let mut flipped = good.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    type Case<'a> = (&'a str, &'a [(String, String)], Option<&'a str>);
    let cases: [Case; 8] = [
        ("no signature", &params, None),
        ("empty signature", &params, Some("")),
        ("wrong signature", &params, Some(&flipped)),
        ("another account's token", &params, Some(&other_token)),
        ("a tampered parameter", &tampered, Some(&good)),
        ("an added parameter", &extra, Some(&good)),
        ("signed for another path", &params, Some(&other_url)),
        ("signed for another host", &params, Some(&other_host)),
    ];
    for (what, params, signature) in cases {
        let resp = app.post_room_event(params, signature).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
    }

    assert!(
        app.audit_events("room_event").is_empty(),
        "{}",
        app.audit_text()
    );
    // Repeats of one refusal fold into a summary; every one is counted.
    assert_eq!(
        app.audit_count("webhook_rejected").await,
        cases.len() as u64
    );
    // The good signature still works: the refusals changed nothing.
    assert_eq!(
        app.post_room_event(&params, Some(&good)).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.audit_events("room_event").len(), 1);
}

/// Twilio's callbacks are a few hundred bytes. A body over the limit is refused with
/// `413` and nothing to read, audited like any other refusal (repeats folded), and even
/// a good signature doesn't get it in.
#[tokio::test]
async fn an_oversized_callback_is_refused_and_audited() {
    let app = spawn_webhook_app().await;
    let mut params = participant_connected("alice", PA_ALICE);
    params.push(("Padding".into(), "x".repeat(17 * 1024)));
    let signature = signer().sign(SIGNED_URL, &params);
    for _ in 0..3 {
        let resp = app.post_room_event(&params, Some(&signature)).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            resp.text().await.unwrap(),
            "",
            "nothing said but the status"
        );
    }
    assert!(app.audit_events("room_event").is_empty());
    let rejected = app.audit_events("webhook_rejected");
    assert_eq!(rejected.len(), 1, "repeats fold: {}", app.audit_text());
    assert_eq!(rejected[0]["detail"], "body too large");
    assert_eq!(app.audit_count("webhook_rejected").await, 3);

    // Under the limit, the same callback is taken.
    let params = participant_connected("alice", PA_ALICE);
    let signature = signer().sign(SIGNED_URL, &params);
    let resp = app.post_room_event(&params, Some(&signature)).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_signed_url_is_the_public_url_not_the_address_reached() {
    let app = spawn_webhook_app().await;
    let params = participant_connected("alice", PA_ALICE);
    // What a naive check would use: the address the request actually came in on.
    let reached = format!("{}/twilio/room-events", app.address);
    let signature = signer().sign(&reached, &params);
    assert_eq!(
        app.post_room_event(&params, Some(&signature))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(app.audit_events("room_event").is_empty());
}

#[tokio::test]
async fn a_configured_public_url_is_what_must_be_signed() {
    let app = spawn_app_with(
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("ROOMGATE_PUBLIC_URL", "https://gate.example.com"),
        ],
        Overrides::default(),
    )
    .await;
    let params = participant_connected("alice", PA_ALICE);
    let default = signer().sign(SIGNED_URL, &params);
    let public = signer().sign("https://gate.example.com/twilio/room-events", &params);
    assert_eq!(
        app.post_room_event(&params, Some(&default)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_room_event(&params, Some(&public)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn without_an_auth_token_every_room_event_is_refused() {
    let app = spawn_app().await;
    let params = participant_connected("alice", PA_ALICE);
    for signature in [
        None,
        Some(signer().sign(SIGNED_URL, &params)),
        // What an empty Auth Token would sign with.
        Some(SignatureValidator::new(SecretString::from("")).sign(SIGNED_URL, &params)),
    ] {
        let resp = app.post_room_event(&params, signature.as_deref()).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    assert!(app.audit_events("room_event").is_empty());
    assert_eq!(app.audit_count("webhook_rejected").await, 3);
}

#[tokio::test]
async fn local_mode_refuses_room_events() {
    let app = spawn_local_app().await;
    let params = participant_connected("alice", PA_ALICE);
    let signature = signer().sign(SIGNED_URL, &params);
    assert_eq!(
        app.post_room_event(&params, Some(&signature))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(app.audit_events("room_event").is_empty());
}
