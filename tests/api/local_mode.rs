//! Local mode: the embedded verifier stands in for Verify; nothing reaches Twilio.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn local_mode_runs_the_whole_flow_without_twilio() {
    let app = spawn_local_app().await;
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );

    // The code reaches the sink in the background.
    let mut code = None;
    for _ in 0..100 {
        if let Some(n) = app.codes.lock().unwrap().first() {
            code = Some(n.code.clone());
            assert_eq!(n.username, "alice");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let code = code.expect("the local verifier delivered a code");
    assert_eq!(code.len(), 6);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let resp = app.post_code("standup", wrong).await;
    assert!(resp.text().await.unwrap().contains("4 attempts left"));
    assert_is_redirect_to(&app.post_code("standup", &code).await, "/rooms/standup");

    let room = app.get_room("standup").await.text().await.unwrap();
    assert!(room.contains(r#"<meta name="local-mode" content="true">"#));
    let token: Value = app.post_token("standup").await.json().await.unwrap();
    assert_eq!(token["identity"], "alice");
    assert!(token["token"].as_str().unwrap().split('.').count() == 3);
    assert!(app.verify.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn local_mode_sends_nothing_for_unknown_users() {
    let app = spawn_local_app().await;
    app.post_login("standup", "mallory").await;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.codes.lock().unwrap().is_empty());
}
