//! Every Twilio error maps to its own participant page, never a 500.

use std::time::Duration;

use reqwest::StatusCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Start fails with `template`; the participant types a code and sees the page.
async fn page_for_start_error(template: ResponseTemplate) -> (StatusCode, String) {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(template)
        .expect(1)
        .mount(&app.verify)
        .await;
    mock_check("approved").expect(0).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// Start succeeds; the check fails with `template`.
async fn page_for_check_error(template: ResponseTemplate) -> (StatusCode, String) {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(template)
        .expect(1)
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

#[tokio::test]
async fn start_errors_map_to_their_pages() {
    let cases = [
        (
            twilio_error(400, 60200),
            StatusCode::UNPROCESSABLE_ENTITY,
            "We could not send a code",
        ),
        (
            twilio_error(429, 60203),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many codes requested",
        ),
        (
            twilio_error(429, 60212),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many codes requested",
        ),
        (
            twilio_error(429, 20429),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many codes requested",
        ),
        (
            twilio_error(403, 60410),
            StatusCode::UNPROCESSABLE_ENTITY,
            "We could not send a code",
        ),
        (
            twilio_error(400, 60605),
            StatusCode::UNPROCESSABLE_ENTITY,
            "We could not send a code",
        ),
        (
            twilio_error(401, 20003),
            StatusCode::SERVICE_UNAVAILABLE,
            "Service busy",
        ),
        (
            ResponseTemplate::new(500).set_body_string("<html>oops</html>"),
            StatusCode::SERVICE_UNAVAILABLE,
            "Service busy",
        ),
    ];
    for (template, status, title) in cases {
        let (got, html) = page_for_start_error(template).await;
        assert_eq!(got, status, "{title}");
        assert!(html.contains(title), "{title}: {html}");
        assert!(!html.contains("0101"), "no phone number on error pages");
    }
}

#[tokio::test]
async fn check_errors_map_to_their_pages() {
    let cases = [
        (twilio_error(429, 60202), StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
        (twilio_error(404, 20404), StatusCode::GONE, "This code has expired"),
        (twilio_error(429, 20429), StatusCode::TOO_MANY_REQUESTS, "Too many codes requested"),
        (
            ResponseTemplate::new(404).set_body_json(serde_json::json!({
                "type": "https://www.twilio.com/docs/api/errors/20404",
                "title": "Not Found", "status": 404, "detail": "The requested resource was not found"
            })),
            StatusCode::GONE,
            "This code has expired",
        ),
        (ResponseTemplate::new(503), StatusCode::SERVICE_UNAVAILABLE, "Service busy"),
    ];
    for (template, status, title) in cases {
        let (got, html) = page_for_check_error(template).await;
        assert_eq!(got, status, "{title}");
        assert!(html.contains(title), "{title}: {html}");
    }
}

#[tokio::test]
async fn a_canceled_verification_means_start_again() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("canceled").expect(1).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::GONE);
    assert!(resp.text().await.unwrap().contains("Start again"));
}

#[tokio::test]
async fn a_start_error_also_shows_on_the_code_page() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(twilio_error(403, 60410))
        .expect(1)
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    wait_for_requests(&app.verify, 1).await;
    // The start runs in the background: poll the code page until it has the outcome.
    let mut status = StatusCode::OK;
    for _ in 0..100 {
        status = app.get_verify("standup").await.status();
        if status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_verify_timeout_is_a_busy_page_not_a_500() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(verification_json("approved"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "30");
    assert!(resp.text().await.unwrap().contains("Service busy"));
    // A busy service keeps the sign-in: the participant may try the same code again.
    assert_eq!(app.get_verify("standup").await.status(), StatusCode::OK);
}
