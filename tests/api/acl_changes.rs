use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_user_removed_from_the_acl_gets_no_token() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);

    app.remove_user("alice");
    let resp = app.post_token("standup").await;
    // The room page now shows the join form (no CSRF meta), so send the old header value.
    assert!(
        matches!(
            resp.status(),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED
        ),
        "got {}",
        resp.status()
    );
    let resp = app.post_token_with("standup", Some("any")).await;
    assert_ne!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn removal_answers_403_not_allowed_and_no_token() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    // Take the CSRF token while the room page still shows.
    let html = app.get_room("standup").await.text().await.unwrap();
    let csrf = extract_meta_csrf(&html).unwrap();

    app.remove_user("alice");
    let resp = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_allowed");
    assert!(body.get("token").is_none());
    // And the grant is gone for good: even back on the list, sign in again.
    assert_eq!(
        app.post_token_with("standup", Some(&csrf)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_removed_user_sees_the_join_form_not_the_room() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    app.remove_user("alice");
    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms/standup/login""#));
    assert!(!html.contains(r#"<meta name="csrf-token""#));
}

#[tokio::test]
async fn a_user_removed_while_typing_the_code_is_not_let_in() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    app.remove_user("alice");
    let resp = app.post_code("standup", "123456").await;
    assert_ne!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.post_token_with("standup", Some("x")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A number changed on the list (a phone lost or stolen) ends the sessions its code
/// opened, on their next request: no token, and the join form. Its holder must sign in
/// again with the new one.
#[tokio::test]
async fn a_new_number_ends_the_sessions_the_old_one_opened() {
    // Two codes for alice a moment apart.
    let app = spawn_app_with(
        &[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")],
        roomgate::startup::Overrides::default(),
    )
    .await;
    app.sign_in("standup", "alice").await;
    let html = app.get_room("standup").await.text().await.unwrap();
    let csrf = extract_meta_csrf(&html).unwrap();
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);

    let moved = TEST_ACL.replace("+14155550101", "+14155550109");
    app.acl
        .replace(roomgate::acl::Acl::parse("acl.toml", &moved).unwrap());
    let resp = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "not_verified");
    let page = app.get_room("standup").await.text().await.unwrap();
    assert!(
        extract_meta_csrf(&page).is_none(),
        "the join form, not the room"
    );

    // The number back as it was: the session stays ended (the grant is gone).
    app.acl
        .replace(roomgate::acl::Acl::parse("acl.toml", TEST_ACL).unwrap());
    assert_eq!(
        app.post_token_with("standup", Some(&csrf)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Signed in again, with the number the list has: in.
    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
}
