//! The global SMS budget: the operator hears at 80 % and at the cap, through a signed
//! webhook; past the cap nothing reaches Verify and everyone gets "Service busy".

use std::time::Duration;

use reqwest::StatusCode;
use roomgate::alerts::{SIGNATURE_HEADER, sign, verify};
use serde_json::{Value, json};
use wiremock::MockServer;

use crate::helpers::*;

const SECRET: &str = ALERT_SECRET;
/// `ManualClock::default()`: 1 800 000 000 s, the start of a minute.
const CLOCK_START: &str = "2027-01-15T08:00:00Z";

/// Alerts go out in the background: wait (bounded) until `n` have arrived.
async fn wait_for_alerts(hooks: &MockServer, n: usize) -> Vec<wiremock::Request> {
    for _ in 0..500 {
        let got = hooks.received_requests().await.unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the webhook did not receive {n} alerts in time");
}

/// The alert's JSON, after checking its signature against the body as received.
fn signed_alert(req: &wiremock::Request) -> Value {
    assert_eq!(req.headers["content-type"], "application/json");
    let signature = req.headers[SIGNATURE_HEADER].to_str().unwrap();
    let hex = signature.strip_prefix("sha256=").expect("sha256=<hex>");
    assert_eq!(hex.len(), 64);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(verify(SECRET.as_bytes(), &req.body, signature));
    assert_eq!(signature, sign(SECRET.as_bytes(), &req.body));
    serde_json::from_slice(&req.body).unwrap()
}

#[tokio::test]
async fn the_budget_alerts_at_80_percent_and_at_the_cap_then_sends_nothing() {
    let hooks = alert_hooks(&["sms_budget_warning", "sms_budget_exhausted"]).await;
    let webhook = format!("{}/alerts", hooks.uri());
    let (mut app, clock) = spawn_app_with_clock(&budget_settings(
        ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "5"),
        &webhook,
    ))
    .await;
    let starts = mock_start_ok().expect(5).mount_as_scoped(&app.verify).await;

    // Three codes: below 80 %, no alert.
    for name in ["alice", "bob", "alice"] {
        assert_is_redirect_to(
            &app.post_login_afresh("standup", name).await,
            "/rooms/standup/verify",
        );
    }
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
    assert!(hooks.received_requests().await.unwrap().is_empty());

    // The fourth is 80 % of five.
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "bob").await,
        "/rooms/standup/verify",
    );
    let got = wait_for_alerts(&hooks, 1).await;
    assert_eq!(
        signed_alert(&got[0]),
        json!({"event": "sms_budget_warning", "window": "minute", "used": 4, "limit": 5, "at": CLOCK_START})
    );

    // The fifth spends the budget: the operator hears at once.
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let got = wait_for_alerts(&hooks, 2).await;
    assert_eq!(
        signed_alert(&got[1]),
        json!({"event": "sms_budget_exhausted", "window": "minute", "used": 5, "limit": 5, "at": CLOCK_START})
    );
    assert_requests_settle_at(&app.verify, START_PATH, 5).await;

    // Beyond the cap: "Service busy" until the minute is over, for anyone.
    let known = app.post_login_afresh("standup", "bob").await;
    let known = comparable(known).await;
    let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        known
            .1
            .contains(&("retry-after".to_owned(), "60".to_owned()))
    );
    assert!(known.2.contains("<h1>Service busy</h1>"));
    clock.advance(Duration::from_secs(59));
    assert_notice(
        app.post_login_afresh("standup", "alice").await,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(1),
        "Service busy",
    )
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 5).await;
    drop(starts);

    // The next minute has a budget of its own, and no news for the operator.
    clock.advance(Duration::from_secs(1));
    let _next = mock_start_ok().expect(1).mount_as_scoped(&app.verify).await;
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    assert_requests_settle_at(&app.verify, START_PATH, 6).await;
    assert_eq!(hooks.received_requests().await.unwrap().len(), 2);
}

/// A sign-in turned away because the budget is spent sent no code, so it must not count
/// as one of the name's codes: following the busy page's `Retry-After` must work.
#[tokio::test]
async fn a_sign_in_refused_for_the_budget_costs_the_name_nothing() {
    let (mut app, clock) = spawn_app_with_clock(&[("ROOMGATE_SMS_BUDGET_PER_MINUTE", "1")]).await;
    mock_start_ok().expect(2).mount(&app.verify).await;

    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    clock.advance(Duration::from_secs(59));
    assert_notice(
        app.post_login_afresh("standup", "bob").await,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(1),
        "Service busy",
    )
    .await;
    // As the page said: a second later, in the next minute's budget.
    clock.advance(Duration::from_secs(1));
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "bob").await,
        "/rooms/standup/verify",
    );
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
}
