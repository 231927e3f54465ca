use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_whole_flow_ends_with_a_room_scoped_token() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;

    let join = app.get_room("standup").await;
    assert_eq!(join.status(), StatusCode::OK);
    assert!(
        join.text()
            .await
            .unwrap()
            .contains(r#"action="/rooms/standup/login""#)
    );

    assert_is_redirect_to(
        &app.post_login("standup", "  Alice ").await,
        "/rooms/standup/verify",
    );
    let page = app.get_verify("standup").await.text().await.unwrap();
    assert!(page.contains("If you are on the list for this room, we sent you a code by SMS."));
    assert!(
        !page.contains("0101"),
        "the code page never shows the number"
    );

    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    let room = app.get_room("standup").await.text().await.unwrap();
    assert!(
        room.contains(r#"<meta name="csrf-token""#),
        "the room page is shown"
    );

    let resp = app.post_token("standup").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["identity"], "alice");
    assert_eq!(body["room"], "standup");
    let jwt = body["token"].as_str().unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let claims = decode::<Value>(
        jwt,
        &DecodingKey::from_secret(API_KEY_SECRET.as_bytes()),
        &validation,
    )
    .expect("the token is signed with the API Key secret")
    .claims;
    assert_eq!(claims["iss"], API_KEY_SID);
    assert_eq!(claims["sub"], ACCOUNT_SID);
    assert_eq!(claims["grants"]["identity"], "alice");
    assert_eq!(claims["grants"]["video"]["room"], "standup");
    assert_eq!(claims["exp"], body["expires_at"]);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        14_400
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["cty"], "twilio-fpa;v=1");
}

#[tokio::test]
async fn verify_receives_exactly_the_documented_requests() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;

    app.post_login("standup", "alice").await;
    app.post_code("standup", "123 456").await;

    let requests = app.verify.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    let basic = basic_auth(API_KEY_SID, API_KEY_SECRET);
    for req in &requests {
        assert_eq!(req.method.as_str(), "POST");
        assert_eq!(req.headers["authorization"], basic.as_str());
        assert_eq!(
            req.headers["content-type"],
            "application/x-www-form-urlencoded"
        );
    }
    assert_eq!(requests[0].url.path(), START_PATH);
    assert_eq!(
        form_pairs(&requests[0]),
        vec![
            ("To".into(), ALICE_PHONE.into()),
            ("Channel".into(), "sms".into())
        ]
    );
    assert_eq!(requests[1].url.path(), CHECK_PATH);
    assert_eq!(
        form_pairs(&requests[1]),
        vec![
            ("VerificationSid".into(), VERIFICATION_SID.into()),
            ("Code".into(), "123456".into())
        ]
    );
}

#[tokio::test]
async fn a_wrong_code_shows_the_form_again_with_the_attempts_left() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("pending").expect(2).mount(&app.verify).await;

    app.post_login("standup", "alice").await;
    let first = app.post_code("standup", "000000").await;
    assert_eq!(first.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = first.text().await.unwrap();
    assert!(html.contains("That code is not right"));
    assert!(html.contains("4 attempts left"));
    // Said in the title too, and tied to the field (with what was sent where).
    assert!(html.contains("<title>Error: Enter your code"), "{html}");
    assert!(
        html.contains(r#"aria-describedby="code-error code-sent""#),
        "{html}"
    );
    let second = app
        .post_code("standup", "111111")
        .await
        .text()
        .await
        .unwrap();
    assert!(second.contains("3 attempts left"));
    // Not verified: still the join form, and no token.
    assert_eq!(
        app.post_token("standup").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn five_wrong_codes_end_the_verification() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("pending").expect(5).mount(&app.verify).await;

    app.post_login("standup", "alice").await;
    for _ in 0..4 {
        assert_eq!(
            app.post_code("standup", "000000").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    let last = app.post_code("standup", "000000").await;
    assert_eq!(last.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(last.text().await.unwrap().contains("Too many attempts"));
    // Ended, and it says why from then on (not "expired"), without asking Verify
    // again: the code page, and a code posted again.
    let page = app.get_verify("standup").await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.text().await.unwrap().contains("Too many attempts"));
    let again = app.post_code("standup", "123456").await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    let again = again.text().await.unwrap();
    assert!(again.contains("Too many attempts"), "{again}");
    assert!(!again.contains("expired"), "{again}");
}

#[tokio::test]
async fn a_malformed_code_costs_no_attempt_and_reaches_no_verifier() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(0).mount(&app.verify).await;

    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "12ab").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = resp.text().await.unwrap();
    assert!(html.contains("digits only"));
    assert!(!html.contains("attempts left"));
    wait_for_requests(&app.verify, 1).await;
}

#[tokio::test]
async fn a_token_needs_a_verified_session() {
    let app = spawn_app().await;
    let resp = app.post_token("standup").await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "not_verified");
}

#[tokio::test]
async fn a_verified_session_is_scoped_to_its_room() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    // all-hands is on alice's list too, but this session verified for standup only.
    assert_eq!(
        app.post_token("all-hands").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = app.get_room("all-hands").await.text().await.unwrap();
    assert!(page.contains(r#"action="/rooms/all-hands/login""#));
}

#[tokio::test]
async fn the_code_only_works_in_the_session_that_asked_for_it() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(0).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    wait_for_requests(&app.verify, 1).await;

    // Another browser, with its own session, types the code.
    app.client = new_client();
    let resp = app.post_code("standup", "123456").await;
    // No pending sign-in in this session: nothing to check, no call to Verify.
    assert_eq!(resp.status(), StatusCode::GONE);
    assert!(resp.text().await.unwrap().contains("Start again"));
    assert_eq!(
        app.post_token("standup").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    assert_is_redirect_to(&app.post_logout("standup").await, "/");
    assert_eq!(
        app.post_token("standup").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = app.get_room("standup").await.text().await.unwrap();
    assert!(page.contains(r#"action="/rooms/standup/login""#));
}

/// Only a cookie that holds something is revoked on logout. A join form's cookie
/// holds a CSRF token only: revoking it wrote a 12-hour record that nothing ever
/// reads, and anyone could write those as fast as they could ask (a store, Redis's
/// memory or the embedded file, grown without bound by anonymous clients).
#[tokio::test]
async fn an_anonymous_logout_writes_nothing_and_a_revocation_lasts_as_long_as_the_cookie() {
    use std::sync::Arc;

    let store = Arc::new(roomgate::store::memory::MemoryStore::new());
    let app = spawn_app_with(
        &[],
        roomgate::startup::Overrides {
            store: Some(store.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_is_redirect_to(&app.post_logout("standup").await, "/");
    let before = store.tables().len();
    for _ in 0..20 {
        assert_is_redirect_to(&app.post_logout("standup").await, "/");
    }
    assert_eq!(
        store.tables().len(),
        before,
        "anonymous logouts wrote to the store"
    );
    // A cookie holding a pending sign-in is revoked for as long as a sign-in lives
    // (anyone can get one, by posting any name), a signed-in one for the session's
    // lifetime (12 hours).
    let revocations = || {
        let mut e = store.tables().expiries("revoked-session:");
        e.sort_by_key(|(_, at)| *at);
        e
    };
    let now_ms = || {
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    app.post_login("standup", "mallory").await;
    assert_is_redirect_to(&app.post_logout("standup").await, "/");
    let pending = revocations();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let lives = pending[0].1 - now_ms();
    assert!((15 * 60_000..=17 * 60_000).contains(&lives), "{lives} ms");
    // A signed-in session's logout is recorded (a copy of its cookie is refused).
    app.sign_in("standup", "alice").await;
    let signed_in = store.tables().len();
    assert_is_redirect_to(&app.post_logout("standup").await, "/");
    assert_eq!(
        store.tables().len(),
        signed_in + 1,
        "the logout was not recorded"
    );
    let longest = revocations().last().unwrap().1 - now_ms();
    assert!(longest > 11 * 3_600_000, "{:?}", revocations());
}

/// A start whose outcome never reached the store (the store failed as it was saved,
/// or the instance running it died) leaves the sign-in in flight for good. Each post
/// of the code waited out the start, spent one of the five checks, and the fifth
/// locked the name, though Verify was never asked. Now the first post ends the
/// sign-in (its holder asks for a new code), spending and counting nothing.
#[tokio::test]
async fn a_start_whose_outcome_was_lost_ends_the_sign_in_and_spends_nothing() {
    use std::sync::Arc;
    use std::time::Duration;

    let clock = Arc::new(roomgate::clock::ManualClock::default());
    let store = Arc::new(roomgate::store::memory::MemoryStore::with_clock(
        clock.clone(),
    ));
    let overrides = |verify_timeout| roomgate::startup::Overrides {
        store: Some(store.clone()),
        verify_timeout: Some(verify_timeout),
        ..Default::default()
    };
    let first = spawn_app_with(&[], overrides(Duration::from_secs(60))).await;
    // Verify doesn't answer while the test runs: the start's outcome is never saved.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path(START_PATH))
        .respond_with(
            wiremock::ResponseTemplate::new(201)
                .set_body_json(verification_json("pending"))
                .set_delay(Duration::from_secs(60)),
        )
        .mount(&first.verify)
        .await;
    assert_is_redirect_to(
        &first.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );

    // Another instance (or this one after a restart) gets the code, long after any
    // start could have ended.
    let mut other = spawn_app_with(&[], overrides(Duration::from_millis(100))).await;
    other.client = first.client.clone();
    clock.advance(Duration::from_secs(60));
    for _ in 0..2 {
        assert_notice(
            other.post_code("standup", "123456").await,
            StatusCode::GONE,
            None,
            "This code has expired",
        )
        .await;
    }
    assert!(other.verify.received_requests().await.unwrap().is_empty());
    other.audit.flush().await.unwrap();
    assert!(other.audit_events("check_failed").is_empty());
    assert!(other.audit_events("lockout").is_empty());
    // Nothing locked: alice may ask for a new code.
    mock_start_ok().mount(&other.verify).await;
    assert_is_redirect_to(
        &other.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
}

/// A session lasts the lifetime it was given. Restarted with a longer
/// `ROOMGATE_SESSION_TTL`, the server neither lengthens a session made before nor
/// lets in a copy of a cookie logged out before, whose revocation lasted only as long
/// as that session could.
#[tokio::test]
async fn a_longer_lifetime_set_later_neither_lengthens_a_session_nor_revives_a_logged_out_one() {
    use std::sync::Arc;
    use std::time::Duration;

    let clock = Arc::new(roomgate::clock::ManualClock::default());
    let store = Arc::new(roomgate::store::memory::MemoryStore::with_clock(
        clock.clone(),
    ));
    let overrides = || roomgate::startup::Overrides {
        store: Some(store.clone()),
        clock: Some(clock.clone()),
        ..Default::default()
    };
    // The room page, to a browser holding only `cookie`: the room, or the join form.
    let verified = |app: &TestApp, cookie: &str| {
        let request = new_client()
            .get(app.url("/rooms/standup"))
            .header("cookie", cookie)
            .send();
        async move {
            let page = request.await.unwrap().text().await.unwrap();
            !page.contains(r#"action="/rooms/standup/login""#)
        }
    };
    let mut short = spawn_app_with(&[("ROOMGATE_SESSION_TTL", "300")], overrides()).await;
    mock_start_ok().mount(&short.verify).await;
    mock_check("approved").mount(&short.verify).await;
    let mut cookies = Vec::new();
    for who in ["alice", "bob"] {
        short.post_login_afresh("standup", who).await;
        let approved = short.post_code("standup", "123456").await;
        assert_is_redirect_to(&approved, "/rooms/standup");
        cookies.push(session_cookie(&approved).expect("a verified cookie"));
    }
    let (kept, logged_out) = (&cookies[0], &cookies[1]);
    assert_is_redirect_to(&short.post_logout("standup").await, "/");
    assert!(verified(&short, kept).await);
    assert!(!verified(&short, logged_out).await, "a logged-out copy");
    drop(short);

    // Past the 300 s both were given, and the 60 s a revocation outlives them by.
    clock.advance(Duration::from_secs(375));
    let long = spawn_app_with(&[("ROOMGATE_SESSION_TTL", "43200")], overrides()).await;
    assert!(!verified(&long, kept).await, "a session lengthened");
    assert!(
        !verified(&long, logged_out).await,
        "a logged-out cookie revived"
    );
    // A sign-in now gets the new lifetime.
    long.sign_in("standup", "alice").await;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(long.get_room("standup").await.status(), StatusCode::OK);
    assert!(long.room_csrf("standup").await.len() > 10);
}

/// A logout's revocation lasts as long as anything the cookie holds could be used:
/// a grant nearly over, with a sign-in pending beside it (its holder signing in
/// again), is revoked for the sign-in's lifetime, not the grant's last seconds.
#[tokio::test]
async fn a_revocation_outlives_a_pending_sign_in_beside_a_grant_nearly_over() {
    use std::sync::Arc;
    use std::time::Duration;

    let clock = Arc::new(roomgate::clock::ManualClock::default());
    let store = Arc::new(roomgate::store::memory::MemoryStore::with_clock(
        clock.clone(),
    ));
    let app = spawn_app_with(
        &[("ROOMGATE_SESSION_TTL", "300")],
        roomgate::startup::Overrides {
            store: Some(store.clone()),
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    app.sign_in("standup", "alice").await;
    clock.advance(Duration::from_secs(290));
    mock_start_ok().mount(&app.verify).await;
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let now_ms = u64::try_from(
        roomgate::clock::Clock::now(&*clock)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let before = store.tables().expiries("revoked-session:");
    assert_is_redirect_to(&app.post_logout("standup").await, "/");
    let logged_out: Vec<u64> = store
        .tables()
        .expiries("revoked-session:")
        .into_iter()
        .filter(|entry| !before.contains(entry))
        .map(|(_, at)| at - now_ms)
        .collect();
    assert_eq!(logged_out.len(), 1, "{logged_out:?}");
    assert!(logged_out[0] >= 10 * 60_000, "{logged_out:?} ms");
}
