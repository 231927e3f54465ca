//! A slow or failing Twilio costs a fast "busy", never a slow page: tokens don't wait
//! for Video, sign-ins don't queue behind Verify, and a failing Verify is not called
//! again until its breaker's cool-down is over.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roomgate::acl::Acl;
use roomgate::startup::Overrides;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::helpers::*;

/// Answers with `template` (typically after a long delay) and notes when each request
/// arrived, so a test can tell how many were in flight at once.
#[derive(Clone)]
struct Noted {
    template: ResponseTemplate,
    arrivals: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Noted {
    fn new(template: ResponseTemplate) -> Self {
        Self {
            template,
            arrivals: Arc::default(),
        }
    }

    fn at(&self, path: &str) -> Vec<Instant> {
        self.arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, at)| *at)
            .collect()
    }
}

impl Respond for Noted {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.arrivals
            .lock()
            .unwrap()
            .push((request.url.path().to_owned(), Instant::now()));
        self.template.clone()
    }
}

/// The most arrivals within any `window`. Against a server that never answers and a
/// client that gives up after `timeout`, every request is in flight for `timeout` from
/// its arrival, so with `window` under `timeout` this is a lower bound on the most
/// requests ever in flight at once.
fn most_within(mut times: Vec<Instant>, window: Duration) -> usize {
    times.sort();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| **t - times[i] < window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

const HANG: Duration = Duration::from_secs(30);

fn with_carol(extra: &str) -> Acl {
    Acl::parse(
        "test-acl.toml",
        &format!("{TEST_ACL}\n[users.carol]\nphone = \"+14155550102\"\nrooms = [\"*\"]\n{extra}"),
    )
    .unwrap()
}

async fn metric(app: &TestApp, line: &str) -> bool {
    let text = app.admin_get("/metrics").await.text().await.unwrap();
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn tokens_do_not_wait_for_a_hanging_video_api_which_sees_one_creation_per_room() {
    let client_timeout = Duration::from_secs(2);
    let mut app = spawn_app_with(
        &[],
        Overrides {
            verify_timeout: Some(client_timeout),
            ..Default::default()
        },
    )
    .await;
    let video = Noted::new(
        ResponseTemplate::new(200)
            .set_body_json(room_json("standup", "in-progress"))
            .set_delay(HANG),
    );
    Mock::given(method("GET"))
        .respond_with(video.clone())
        .mount(&app.video)
        .await;
    app.sign_in("standup", "alice").await;
    let alice = (app.client.clone(), app.room_csrf("standup").await);
    app.client = new_client();
    app.sign_in("retro", "bob").await;
    let bob = (app.client.clone(), app.room_csrf("retro").await);

    // Two rooms, ten tokens each, all at once, then a few more while Video still hangs.
    let mut requests = Vec::new();
    for round in 0..3 {
        for _ in 0..if round == 0 { 10 } else { 2 } {
            for (room, (client, csrf)) in [("standup", &alice), ("retro", &bob)] {
                let url = app.url(&format!("/rooms/{room}/token"));
                let send = client.post(url).header("X-CSRF-Token", csrf.as_str());
                requests.push(tokio::spawn(async move {
                    let began = Instant::now();
                    let resp = send.send().await.unwrap();
                    (resp.status(), began.elapsed())
                }));
            }
        }
        for request in requests.drain(..) {
            let (status, took) = request.await.unwrap();
            assert_eq!(status, StatusCode::OK);
            assert!(took < Duration::from_millis(200), "a token took {took:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Each room's lookup is still hanging (the client gives up after 2 s): exactly one
    // request per room has reached Video, the two rooms' running side by side.
    for room in ["standup", "retro"] {
        let arrivals = video.at(&format!("/v1/Rooms/{room}"));
        assert_eq!(arrivals.len(), 1, "{room}: {arrivals:?}");
    }
    assert!(
        metric(
            &app,
            r#"roomgate_room_ensure_skipped_total{reason="in_flight"} 26"#
        )
        .await
    );
}

#[tokio::test]
async fn sign_ins_answer_busy_at_once_while_verify_hangs_and_calls_stay_within_the_bound() {
    let bound = 2;
    let verify_timeout = Duration::from_secs(1);
    // Set as an operator would.
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_VERIFY_MAX_IN_FLIGHT", "2"),
            ("ROOMGATE_BREAKER_FAILURES", "100"),
        ],
        Overrides {
            verify_timeout: Some(verify_timeout),
            ..Default::default()
        },
    )
    .await;
    app.acl.replace(with_carol(""));
    let verify = Noted::new(
        ResponseTemplate::new(201)
            .set_body_json(verification_json("pending"))
            .set_delay(HANG),
    );
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(verify.clone())
        .mount(&app.verify)
        .await;

    // Every sign-in answers at once: the first ones start their codes in the
    // background, the rest are told "busy" while the bound is full, whoever they are.
    let mut answers = Vec::new();
    for who in ["alice", "bob", "carol", "alice", "mallory", "carol", "bob"] {
        let began = Instant::now();
        let resp = app.post_login_afresh("standup", who).await;
        answers.push((resp.status(), began.elapsed()));
        if answers.len() == 2 {
            wait_for_requests(&app.verify, 2).await;
        }
        if answers.len() > 2 {
            assert_notice(
                resp,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(5),
                "Service busy",
            )
            .await;
        }
    }
    for (status, took) in &answers {
        assert!(*took < verify_timeout, "a sign-in took {took:?} ({status})");
    }
    assert_eq!(answers[0].0, StatusCode::SEE_OTHER);
    assert_eq!(answers[1].0, StatusCode::SEE_OTHER);

    // Once the hanging calls have timed out, codes go out again.
    tokio::time::sleep(verify_timeout + Duration::from_millis(200)).await;
    let resp = app.post_login_afresh("standup", "carol").await;
    assert_is_redirect_to(&resp, "/rooms/standup/verify");
    wait_for_requests(&app.verify, 3).await;

    let arrivals = verify.at(START_PATH);
    assert_eq!(arrivals.len(), 3, "{arrivals:?}");
    let in_flight = most_within(arrivals, verify_timeout - Duration::from_millis(100));
    assert!(
        in_flight <= bound,
        "{in_flight} Verify calls in flight at once"
    );
    assert!(
        metric(
            &app,
            r#"roomgate_outbound_rejected_total{service="verify",reason="saturated"} 5"#
        )
        .await
    );
}

#[tokio::test]
async fn a_failing_verify_opens_the_breaker_until_a_probe_after_the_cool_down() {
    let cool_down = Duration::from_secs(1);
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_BREAKER_FAILURES", "2"),
            ("ROOMGATE_BREAKER_COOL_DOWN_SECS", "1"),
        ],
        Overrides::default(),
    )
    .await;
    app.acl.replace(with_carol(""));
    // Alice's code goes out while Verify still works.
    let start_ok = mock_start_ok().mount_as_scoped(&app.verify).await;
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let sent = "roomgate_verifications_started_total 1";
    assert!(eventually(Duration::from_secs(2), || metric(&app, sent)).await);
    let alice = app.client.clone();
    drop(start_ok);

    // Then Verify fails twice in a row: the breaker opens.
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(ResponseTemplate::new(500))
        .expect(2)
        .mount(&app.verify)
        .await;
    for who in ["bob", "carol"] {
        assert_is_redirect_to(
            &app.post_login_afresh("standup", who).await,
            "/rooms/standup/verify",
        );
        wait_for_requests(&app.verify, if who == "bob" { 2 } else { 3 }).await;
    }
    let open = r#"roomgate_outbound_breaker_state{service="verify"} 2"#;
    assert!(
        eventually(Duration::from_secs(2), || metric(&app, open)).await,
        "the breaker opened"
    );

    // Open: a sign-in (anyone's) is told "busy" and a code check gets the generic busy
    // page, neither reaching Verify.
    let check = Noted::new(ResponseTemplate::new(200).set_body_json(verification_json("approved")));
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(check.clone())
        .mount(&app.verify)
        .await;
    let resp = app.post_login_afresh("standup", "mallory").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_notice(
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(1),
        "Service busy",
    )
    .await;
    app.client = alice;
    let resp = app.post_code("standup", "123456").await;
    assert_notice(
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(30),
        "Service busy",
    )
    .await;
    assert_eq!(requests_to(&app.verify, CHECK_PATH).await, 0);
    assert_eq!(requests_to(&app.verify, START_PATH).await, 3);

    // After the cool-down one call goes through as a probe; it succeeds, so the breaker
    // closes and the same code is checked (a busy answer kept the sign-in).
    tokio::time::sleep(cool_down).await;
    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    assert_eq!(check.at(CHECK_PATH).len(), 1);
    assert!(
        metric(
            &app,
            r#"roomgate_outbound_breaker_state{service="verify"} 0"#
        )
        .await
    );
    assert!(
        metric(
            &app,
            r#"roomgate_outbound_breaker_opened_total{service="verify"} 1"#
        )
        .await
    );
}

#[tokio::test]
async fn host_controls_answer_busy_without_calling_a_failing_video_api() {
    let app = spawn_app_with(&[("ROOMGATE_BREAKER_FAILURES", "2")], Overrides::default()).await;
    app.sign_in("standup", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(twilio_error(503, 20503))
        .expect(2)
        .mount(&app.video)
        .await;
    for _ in 0..2 {
        let resp = app.get("/rooms/standup/participants").await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()["retry-after"], "10");
    }
    // Open: answered at once, with the time left of the cool-down, and no request.
    let resp = app.get("/rooms/standup/participants").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&retry), "{retry}");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "video_unavailable");
    assert_eq!(requests_to(&app.video, "/v1/Rooms/standup").await, 2);
}
