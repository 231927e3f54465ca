//! "Call me instead" on the code page: a voice call for a user the ACL allows calls
//! (bob, in the test ACL), the same page and nothing sent for anyone else.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use roomgate::verify::Channel;
use roomgate::verify::local::format_notice;

use crate::helpers::*;

const BOB_PHONE: &str = "+447400123456";
const CALL_SID: &str = "VEcafecafecafecafecafecafecafecafe";
const LIMITED: &str = "Please wait";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// "Call me instead" from the session's code page, with its CSRF token.
async fn post_call(app: &TestApp, room: &str) -> reqwest::Response {
    let html = app.get_verify(room).await.text().await.unwrap();
    let csrf = extract_csrf(&html).expect("the code page has a form");
    app.post_form(&format!("/rooms/{room}/call"), &[("csrf_token", &csrf)])
        .await
}

/// A start answered with the call's own verification.
fn mock_call_start(form: &[(&str, &str)]) -> Mock {
    let mut body = verification_json("pending");
    body["sid"] = json!(CALL_SID);
    body["channel"] = json!("call");
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .and(exact_form(form))
        .respond_with(ResponseTemplate::new(201).set_body_json(body))
}

/// Starts Verify received with `Channel=call`.
async fn calls_received(app: &TestApp) -> usize {
    app.verify
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == START_PATH)
        .filter(|r| form_pairs(r).contains(&("Channel".into(), "call".into())))
        .count()
}

#[tokio::test]
async fn the_code_page_offers_a_call_to_everyone() {
    let mut app = spawn_app().await;
    mock_start_ok().mount(&app.verify).await;
    for name in ["alice", "bob", "mallory"] {
        app.post_login_afresh("standup", name).await;
        let html = app.get_verify("standup").await.text().await.unwrap();
        assert!(html.contains(r#"action="/rooms/standup/call""#), "{html}");
        assert!(html.contains("Call me instead"), "{html}");
    }
}

#[tokio::test]
async fn an_allowed_user_is_called_in_the_pages_language_and_the_calls_code_signs_in() {
    let (app, clock) = spawn_app_with_clock(&[]).await;
    app.get("/language/fr?next=/").await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .and(exact_form(&[
            ("To", BOB_PHONE),
            ("Channel", "sms"),
            ("Locale", "fr"),
        ]))
        .respond_with(ResponseTemplate::new(201).set_body_json(verification_json("pending")))
        .expect(1)
        .mount(&app.verify)
        .await;
    mock_call_start(&[("To", BOB_PHONE), ("Channel", "call"), ("Locale", "fr")])
        .expect(1)
        .mount(&app.verify)
        .await;
    // The code typed is checked against the call's verification.
    mock_check_of("approved", CALL_SID, "123456")
        .expect(1)
        .mount(&app.verify)
        .await;

    assert_is_redirect_to(
        &app.post_login("standup", "bob").await,
        "/rooms/standup/verify",
    );
    wait_for_requests(&app.verify, 1).await;
    // Past the resend cooldown, which a call waits for like a new code.
    clock.advance(secs(31));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    let starts = wait_for_requests(&app.verify, 2).await;
    assert_eq!(
        form_pairs(&starts[1]),
        [
            ("To".to_owned(), BOB_PHONE.to_owned()),
            ("Channel".to_owned(), "call".to_owned()),
            ("Locale".to_owned(), "fr".to_owned()),
        ]
    );
    let html = app.get_verify("standup").await.text().await.unwrap();
    assert!(html.contains("nous vous appelons maintenant"), "{html}");
    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
    // The audit log says it was a call.
    let details = |event: &str| -> Vec<String> {
        app.audit_events(event)
            .iter()
            .map(|r| r["detail"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(details("sign_in_requested"), ["on_list", "on_list_call"]);
    let (_, sent) = poll_until(secs(5), || async {
        let sent = details("code_sent");
        (sent.len() >= 2, sent)
    })
    .await;
    assert_eq!(sent, ["", "call"]);
}

#[tokio::test]
async fn a_call_for_a_user_not_allowed_calls_or_unknown_sends_nothing_and_looks_the_same() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().mount(&app.verify).await;

    let mut answers = Vec::new();
    for name in ["bob", "alice", "mallory"] {
        app.post_login_afresh("standup", name).await;
        clock.advance(secs(31));
        let call = comparable(post_call(&app, "standup").await).await;
        let page = comparable(app.get_verify("standup").await).await;
        answers.push((name, call, page));
    }
    let (_, bob_call, bob_page) = &answers[0];
    assert_eq!(bob_call.0, StatusCode::SEE_OTHER);
    assert_eq!(bob_page.0, StatusCode::OK);
    for (name, call, page) in &answers[1..] {
        assert_eq!(call, bob_call, "{name}");
        assert_eq!(page, bob_page, "{name}");
    }
    // Two texts (bob's and alice's), one call: bob's.
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
    assert_eq!(calls_received(&app).await, 1);
}

#[tokio::test]
async fn a_user_not_allowed_calls_keeps_the_code_from_the_text() {
    let (app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check_of("approved", VERIFICATION_SID, "123456")
        .expect(1)
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    wait_for_requests(&app.verify, 1).await;
    clock.advance(secs(31));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    assert_eq!(calls_received(&app).await, 0);
    let requested: Vec<_> = app
        .audit_events("sign_in_requested")
        .iter()
        .map(|r| r["detail"].clone())
        .collect();
    assert_eq!(requested, [json!("on_list"), json!("call_not_allowed")]);
}

#[tokio::test]
async fn a_call_without_a_sign_in_goes_back_to_the_join_form_and_needs_the_csrf_token() {
    let app = spawn_app().await;
    let csrf = app.csrf_token("standup").await;
    let resp = app
        .post_form("/rooms/standup/call", &[("csrf_token", &csrf)])
        .await;
    assert_is_redirect_to(&resp, "/rooms/standup");
    mock_start_ok().expect(1).mount(&app.verify).await;
    app.post_login("standup", "bob").await;
    let forged = app
        .post_form("/rooms/standup/call", &[("csrf_token", "nope")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
}

#[tokio::test]
async fn a_call_waits_for_the_resend_cooldown_and_counts_toward_the_names_codes() {
    let (app, clock) = spawn_app_with_clock(&[("ROOMGATE_STARTS_PER_PHONE", "100")]).await;
    mock_start_ok().mount(&app.verify).await;
    app.post_login("standup", "bob").await;
    // Within the cooldown: refused, as a new code would be, back to the code page
    // (its language menu too).
    let early = post_call(&app, "standup").await;
    let page = assert_notice(early, StatusCode::TOO_MANY_REQUESTS, Some(30), LIMITED).await;
    assert!(page.contains(r#"href="/rooms/standup/verify""#), "{page}");
    assert!(page.contains("next=%2Frooms%2Fstandup%2Fverify"), "{page}");
    // Three codes per ten minutes for the name, calls among them.
    clock.advance(secs(31));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    clock.advance(secs(31));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    clock.advance(secs(31));
    let fourth = post_call(&app, "standup").await;
    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
    assert_eq!(calls_received(&app).await, 2);
}

#[tokio::test]
async fn a_call_counts_toward_the_phone_numbers_limit() {
    let (app, clock) = spawn_app_with_clock(&[
        ("ROOMGATE_STARTS_PER_USER", "10"),
        ("ROOMGATE_STARTS_PER_PHONE", "2"),
    ])
    .await;
    mock_start_ok().mount(&app.verify).await;
    app.post_login("standup", "bob").await;
    clock.advance(secs(31));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    clock.advance(secs(31));
    // The third to bob's number: the answer anybody gets, the refusal on the code page.
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    assert_notice(
        app.get_verify("standup").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(238),
        LIMITED,
    )
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
    assert_eq!(calls_received(&app).await, 1);
}

#[tokio::test]
async fn a_call_counts_toward_the_networks_sign_ins() {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
            ("ROOMGATE_STARTS_PER_USER", "100"),
            ("ROOMGATE_STARTS_PER_PHONE", "100"),
        ],
        Default::default(),
    )
    .await;
    mock_start_ok().mount(&app.verify).await;
    app.post_login("standup", "bob").await;
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    let third = post_call(&app, "standup").await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("retry-after"));
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
    assert_eq!(calls_received(&app).await, 1);
}

const SECRET: &str = ALERT_SECRET;

#[tokio::test]
async fn the_call_budget_caps_calls_alerts_like_the_sms_budget_and_leaves_texts_alone() {
    let hooks = alert_hooks(&["call_budget_warning", "call_budget_exhausted"]).await;
    let webhook = format!("{}/alerts", hooks.uri());
    let (mut app, clock) = spawn_app_with_clock(&budget_settings(
        ("ROOMGATE_CALL_BUDGET_PER_MINUTE", "2"),
        &webhook,
    ))
    .await;
    mock_start_ok().mount(&app.verify).await;

    app.post_login("standup", "bob").await;
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
    assert!(hooks.received_requests().await.unwrap().is_empty());
    // The second call is 80 % of two, and the cap: both alerts, signed, with the
    // call budget's names.
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    let mut alerts = Vec::new();
    for _ in 0..500 {
        alerts = hooks.received_requests().await.unwrap_or_default();
        if alerts.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut events: Vec<serde_json::Value> = alerts
        .iter()
        .map(|req| {
            let signature = req.headers[roomgate::alerts::SIGNATURE_HEADER]
                .to_str()
                .unwrap();
            assert!(roomgate::alerts::verify(
                SECRET.as_bytes(),
                &req.body,
                signature
            ));
            serde_json::from_slice(&req.body).unwrap()
        })
        .collect();
    events.sort_by_key(|e| e["event"].as_str().unwrap().to_owned());
    assert_eq!(
        events,
        [
            json!({"event": "call_budget_exhausted", "window": "minute", "used": 2, "limit": 2, "at": "2027-01-15T08:00:00Z"}),
            json!({"event": "call_budget_warning", "window": "minute", "used": 2, "limit": 2, "at": "2027-01-15T08:00:00Z"}),
        ]
    );

    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("roomgate_call_budget_used{window=\"minute\"} 2\n"),
        "{metrics}"
    );
    assert!(metrics.contains("roomgate_call_budget_limit{window=\"minute\"} 2\n"));
    assert!(metrics.contains("roomgate_sms_budget_used{window=\"minute\"} 1\n"));

    // Beyond the cap: "Service busy" for a call, whoever asks, and no call made.
    let known = comparable(post_call(&app, "standup").await).await;
    app.post_login_afresh("standup", "mallory").await;
    let unknown = comparable(post_call(&app, "standup").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(known.2.contains("<h1>Service busy</h1>"));
    // Texts have a budget of their own.
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "bob").await,
        "/rooms/standup/verify",
    );
    assert_requests_settle_at(&app.verify, START_PATH, 4).await;
    assert_eq!(calls_received(&app).await, 2);

    // The next minute calls again, with no news for the operator.
    clock.advance(secs(60));
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    assert_requests_settle_at(&app.verify, START_PATH, 5).await;
    assert_eq!(calls_received(&app).await, 3);
    assert_eq!(hooks.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn local_mode_prints_a_call_on_the_terminal() {
    let app = spawn_local_app_with(&[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")]).await;
    app.post_login("standup", "bob").await;
    assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
    let (_, notices) = poll_until(secs(5), || async {
        let codes = app.codes.lock().unwrap().clone();
        (codes.len() >= 2, codes)
    })
    .await;
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0].channel, Channel::Sms);
    assert_eq!(notices[1].channel, Channel::Call);
    let line = format_notice(&notices[1]);
    assert!(
        line.starts_with("roomgate local verifier: user=bob code="),
        "{line}"
    );
    assert!(
        line.ends_with(" by voice call (a real one would read it out)"),
        "{line}"
    );
    // The same verification, so the same code, by text or by call.
    assert_eq!(notices[0].code, notices[1].code);
}

/// A code check with exactly this form, answered with `status`.
/// A check of verification `sid` with `code`, answered as Verify does: with that
/// verification (an approval must name the one checked).
fn mock_check_of(status: &str, sid: &str, code: &str) -> Mock {
    let mut body = verification_json(status);
    body["sid"] = json!(sid);
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .and(exact_form(&[("VerificationSid", sid), ("Code", code)]))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
}

/// "Call me instead" from a user allowed only texts keeps the text's code and sends
/// nothing new: its sign-in finds Verify down by a call of its own, as the same
/// request for a name nobody has does, and both code pages say "busy". (Kept as sent,
/// alice's showed the form while mallory's said "busy".)
#[tokio::test]
async fn a_kept_code_finds_verify_down_as_a_name_nobody_has() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    // mallory's first sign-in's stand-in; Verify answers nothing after.
    mock_service_ok().up_to_n_times(1).mount(&app.verify).await;
    verify_down(ResponseTemplate::new(503))
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    let alice = app.client.clone();
    app.client = new_client();
    app.post_login("standup", "mallory").await;
    let mallory = app.client.clone();
    assert_requests_settle_at(&app.verify, SERVICE_PATH, 1).await;
    assert_eq!(requests_to(&app.verify, START_PATH).await, 1);

    clock.advance(secs(31));
    for (name, client) in [("alice", alice), ("mallory", mallory)] {
        app.client = client;
        assert_is_redirect_to(&post_call(&app, "standup").await, "/rooms/standup/verify");
        app.until_code_page_says(StatusCode::SERVICE_UNAVAILABLE)
            .await;
        let page = app.get_verify("standup").await.text().await.unwrap();
        assert!(page.contains("Service busy"), "{name}: {page}");
    }
    assert_eq!(calls_received(&app).await, 0);
}
