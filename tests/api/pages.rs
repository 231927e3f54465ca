use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_is_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn home_is_a_room_form_that_lists_nobody() {
    let app = spawn_app().await;
    let resp = app.get_home().await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms""#));
    for secret in ["alice", "bob", "standup", "all-hands", "0101"] {
        assert!(!html.contains(secret), "home page mentions {secret}");
    }
}

#[tokio::test]
async fn the_home_form_goes_to_the_room() {
    let app = spawn_app().await;
    assert_is_redirect_to(
        &app.get("/rooms?room=%20Standup%20").await,
        "/rooms/standup",
    );
    let bad = app.get("/rooms?room=..%2Fetc").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Room names use lowercase letters")
    );
}

#[tokio::test]
async fn invalid_room_names_are_404_everywhere() {
    let app = spawn_app().await;
    for path in ["/rooms/Bad_Room", "/rooms/a.b/verify"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        app.post_login_with("Bad_Room", &[("username", "alice")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sign_in_pages_are_not_cached() {
    let app = spawn_app().await;
    let resp = app.get_room("standup").await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_code_page_without_a_sign_in_goes_back_to_the_join_form() {
    let app = spawn_app().await;
    assert_is_redirect_to(&app.get_verify("standup").await, "/rooms/standup");
}

#[tokio::test]
async fn a_garbage_form_body_is_not_a_500() {
    let app = spawn_app().await;
    app.csrf_token("standup").await;
    let resp = app
        .client
        .post(app.url("/rooms/standup/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("%%%&&&===")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "got {}", resp.status());
    let resp = app
        .client
        .post(app.url("/rooms/standup/verify"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "got {}", resp.status());
}

#[tokio::test]
async fn static_assets_are_served() {
    let app = spawn_app().await;
    let resp = app.get("/static/room.js").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
}
