//! "Send a new code" from the code page.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::*;

async fn post_resend(app: &TestApp, room: &str) -> reqwest::Response {
    let html = app.get_verify(room).await.text().await.unwrap();
    let csrf = extract_csrf(&html).expect("the code page has a form");
    app.post_form(&format!("/rooms/{room}/resend"), &[("csrf_token", &csrf)])
        .await
}

#[tokio::test]
async fn the_code_page_counts_down_to_the_resend() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    let html = app.get_verify("standup").await.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms/standup/resend""#));
    assert!(html.contains(r#"data-resend-in="30""#), "{html}");
    assert!(html.contains("You can ask for a new code in 30 seconds."));
    wait_for_requests(&app.verify, 1).await;
}

#[tokio::test]
async fn a_resend_waits_for_the_cooldown_then_sends_again() {
    let (app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(2).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    wait_for_requests(&app.verify, 1).await;

    let early = post_resend(&app, "standup").await;
    assert_eq!(early.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(early.headers().contains_key("retry-after"));
    // The code already sent still works: the page leads back to it (and so does its
    // language menu), not to the join form.
    let page = early.text().await.unwrap();
    assert!(page.contains("Please wait"), "{page}");
    assert!(
        page.contains(r#"href="/rooms/standup/verify">Back to the code"#),
        "{page}"
    );
    assert!(!page.contains(r#"href="/rooms/standup""#), "{page}");
    assert!(page.contains("next=%2Frooms%2Fstandup%2Fverify"), "{page}");

    clock.advance(Duration::from_secs(31));
    let html = app.get_verify("standup").await.text().await.unwrap();
    assert!(
        html.contains(r#"data-resend-in="0""#),
        "the countdown is over"
    );
    assert_is_redirect_to(&post_resend(&app, "standup").await, "/rooms/standup/verify");
    let starts = wait_for_requests(&app.verify, 2).await;
    assert_eq!(form_pairs(&starts[1])[0], ("To".into(), ALICE_PHONE.into()));
}

#[tokio::test]
async fn a_resend_looks_the_same_for_unknown_users() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(2).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    clock.advance(Duration::from_secs(31));
    let known = comparable(post_resend(&app, "standup").await).await;
    app.client = new_client();
    app.post_login("standup", "mallory").await;
    clock.advance(Duration::from_secs(31));
    let unknown = comparable(post_resend(&app, "standup").await).await;
    assert_eq!(known, unknown);
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
}

#[tokio::test]
async fn a_resend_without_a_sign_in_goes_back_to_the_join_form() {
    let app = spawn_app().await;
    let csrf = app.csrf_token("standup").await;
    let resp = app
        .post_form("/rooms/standup/resend", &[("csrf_token", &csrf)])
        .await;
    assert_is_redirect_to(&resp, "/rooms/standup");
    let forged = app
        .post_form("/rooms/standup/resend", &[("csrf_token", "nope")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}
