//! Timing is part of enumeration: a sign-in for a username on the list must not take
//! longer than one for a name nobody has, so the call to Verify stays off the response
//! path; and a wrong code for a name nobody has must take as long as one that Verify
//! checks. The only timed assertions in the suite are here.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roomgate::startup::Overrides;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const ROUNDS: usize = 30;
const VERIFY_DELAY: Duration = Duration::from_millis(300);

/// The median of an even number of timings (the passkey tests use it too).
pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let mid = times.len() / 2;
    (times[mid - 1] + times[mid]) / 2
}

/// The median time for a listed name and for a name nobody has, printed, and checked
/// to be within 100 ms of each other.
fn alike_medians(known: Vec<Duration>, unknown: Vec<Duration>, what: &str) -> Duration {
    let (known, unknown) = (median(known), median(unknown));
    eprintln!("median {what}: known {known:?}, unknown {unknown:?}");
    assert!(
        known.abs_diff(unknown) <= Duration::from_millis(100),
        "known {known:?} vs unknown {unknown:?}"
    );
    known
}

/// A wrong code posted from the session's code page, and how long its answer took.
/// The form (and its connection) is ready before the clock starts.
async fn timed_wrong_code(app: &TestApp) -> (Duration, reqwest::Response) {
    let html = app.get_verify("standup").await.text().await.unwrap();
    let csrf = extract_csrf(&html).unwrap();
    let started = Instant::now();
    let resp = app
        .post_code_with("standup", &[("code", "000000"), ("csrf_token", &csrf)])
        .await;
    (started.elapsed(), resp)
}

#[tokio::test]
async fn known_and_unknown_usernames_get_the_same_answer_in_the_same_time() {
    // Every limit that could turn a sign-in away during the run is raised.
    let app = spawn_app_with(
        &[
            ("ROOMGATE_STARTS_PER_USER", "1000"),
            ("ROOMGATE_STARTS_PER_PHONE", "1000"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_HOUR", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_DAY", "1000"),
        ],
        Overrides::default(),
    )
    .await;
    // Every known sign-in reaches this slow Verify, so the delay is really in play.
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(verification_json("pending"))
                .set_delay(VERIFY_DELAY),
        )
        .expect(ROUNDS as u64)
        .mount(&app.verify)
        .await;

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut reference = None;
    for round in 0..ROUNDS {
        // Alternate who goes first, so neither always follows the other's Verify call.
        let order = if round % 2 == 0 {
            ["alice", "mallory"]
        } else {
            ["mallory", "alice"]
        };
        for name in order {
            // A new browser; its form (and connection) ready before the clock starts.
            let request = app.login_ready("standup", name).await;

            let started = Instant::now();
            let resp = request.send().await.unwrap();
            let took = started.elapsed();

            let answer = comparable(resp).await;
            assert_eq!(answer.0, StatusCode::SEE_OTHER);
            match &reference {
                None => reference = Some(answer),
                Some(first) => assert_eq!(&answer, first, "{name}, round {round}"),
            }
            let times = if name == "alice" {
                &mut known
            } else {
                &mut unknown
            };
            times.push(took);
        }
    }

    let (known, unknown) = (median(known), median(unknown));
    eprintln!("median sign-in response: known {known:?}, unknown {unknown:?}");
    let gap = known.abs_diff(unknown);
    assert!(
        gap <= Duration::from_millis(50),
        "known {known:?} vs unknown {unknown:?}"
    );
    assert!(
        known < VERIFY_DELAY / 2,
        "the sign-in waited for Verify: {known:?}"
    );
    // Every known sign-in's start (the unknown ones' stand-ins only fetch the Service).
    assert_requests_settle_at(&app.verify, START_PATH, ROUNDS).await;
}

/// A wrong code for alice waits for Verify's check; one for mallory, who was sent
/// nothing, waits as long (the latest checks' times, drawn from), with the same page.
#[tokio::test]
async fn a_wrong_code_takes_as_long_for_a_name_nobody_has() {
    const CHECK_DELAY: Duration = Duration::from_millis(300);
    const CODE_ROUNDS: usize = 8;
    // Moved ten minutes a round, so each round's sign-in has five checks of its own
    // (a name's sign-ins within ten minutes share them, as Verify's do). Each round's
    // window ends unapproved, a failure: the lockout is kept out of the way.
    let clock = std::sync::Arc::new(roomgate::clock::ManualClock::default());
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_LOCKOUT_FAILURES", "100"),
            ("ROOMGATE_STARTS_PER_USER", "1000"),
            ("ROOMGATE_STARTS_PER_PHONE", "1000"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ],
        Overrides {
            clock: Some(clock.clone()),
            ..Default::default()
        },
    )
    .await;
    mock_start_ok().mount(&app.verify).await;
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(verification_json("pending"))
                .set_delay(CHECK_DELAY),
        )
        .expect(CODE_ROUNDS as u64)
        .mount(&app.verify)
        .await;

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..CODE_ROUNDS {
        clock.advance(Duration::from_secs(600));
        for name in ["alice", "mallory"] {
            app.client = new_client();
            app.post_login("standup", name).await;
            let (took, resp) = timed_wrong_code(&app).await;
            let (status, _, body) = comparable(resp).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}, round {round}"
            );
            assert!(body.contains("4 attempts left"), "{name}: {body}");
            if name == "alice" {
                &mut known
            } else {
                &mut unknown
            }
            .push(took);
        }
    }
    let known = alike_medians(known, unknown, "wrong-code response");
    assert!(known >= CHECK_DELAY, "{known:?}");
}

/// "Call me instead" from alice, who may only get texts, keeps her text's code and
/// starts nothing; from mallory it sends nothing either. A wrong code right after
/// takes as long for both: alice's waits for what a start would have taken, as
/// mallory's does, then her check.
#[tokio::test]
async fn a_wrong_code_after_a_call_refused_takes_as_long_for_a_name_nobody_has() {
    const DELAY: Duration = Duration::from_millis(300);
    const CALL_ROUNDS: usize = 4;
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_STARTS_PER_USER", "1000"),
            ("ROOMGATE_STARTS_PER_PHONE", "1000"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ],
        Overrides::default(),
    )
    .await;
    for (path_, status) in [(START_PATH, 201), (CHECK_PATH, 200)] {
        Mock::given(method("POST"))
            .and(path(path_))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(verification_json("pending"))
                    .set_delay(DELAY),
            )
            .mount(&app.verify)
            .await;
    }

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..CALL_ROUNDS {
        for name in ["alice", "mallory"] {
            app.client = new_client();
            app.post_login("standup", name).await;
            // alice's text has gone out (and taught the pace a start's time).
            tokio::time::sleep(DELAY * 2).await;
            let html = app.get_verify("standup").await.text().await.unwrap();
            let csrf = extract_csrf(&html).unwrap();
            let call = app
                .post_form("/rooms/standup/call", &[("csrf_token", &csrf)])
                .await;
            assert_eq!(call.status(), StatusCode::SEE_OTHER, "{name}");
            let (took, resp) = timed_wrong_code(&app).await;
            assert_eq!(
                resp.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{name}, round {round}"
            );
            if name == "alice" {
                &mut known
            } else {
                &mut unknown
            }
            .push(took);
        }
    }
    let known = alike_medians(known, unknown, "wrong code after a call");
    assert!(
        known >= DELAY * 2 - DELAY / 3,
        "a start's time, then the check: {known:?}"
    );
}
