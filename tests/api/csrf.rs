use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn login_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = spawn_app().await;
    mock_start_ok().expect(0).mount(&app.verify).await;
    app.csrf_token("standup").await; // the session exists and has a token

    let missing = app
        .post_login_with("standup", &[("username", "alice")])
        .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = app
        .post_login_with(
            "standup",
            &[("username", "alice"), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let empty = app
        .post_login_with("standup", &[("username", "alice"), ("csrf_token", "")])
        .await;
    assert_eq!(empty.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_from_another_session_does_not_work() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(0).mount(&app.verify).await;
    let other_token = app.csrf_token("standup").await;
    app.client = new_client();
    app.csrf_token("standup").await;
    let resp = app
        .post_login_with(
            "standup",
            &[("username", "alice"), ("csrf_token", &other_token)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn code_check_and_logout_need_the_csrf_token() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(0).mount(&app.verify).await;
    app.post_login("standup", "alice").await;

    let resp = app.post_code_with("standup", &[("code", "123456")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app
        .post_code_with("standup", &[("code", "123456"), ("csrf_token", "nope")])
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app.post_form("/logout", &[("csrf_token", "nope")]).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    wait_for_requests(&app.verify, 1).await;
}

#[tokio::test]
async fn the_token_endpoint_needs_the_csrf_header() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    assert_eq!(
        app.post_token_with("standup", None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post_token_with("standup", Some("forged"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn verification_rotates_the_csrf_token() {
    let app = spawn_app().await;
    let before = app.csrf_token("standup").await;
    app.sign_in("standup", "alice").await;
    let html = app.get_room("standup").await.text().await.unwrap();
    let after = extract_meta_csrf(&html).unwrap();
    assert_ne!(before, after);
}
