//! Every Twilio error maps to its own participant page, never a 500.

use std::time::Duration;

use reqwest::StatusCode;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Start fails with `template`, and the rest of Verify answers `rest`; alice, then
/// mallory (on nobody's list), each type a code: the code page and the check's page
/// for both. `busy`: whether the code pages are to say "busy" once the sign-in's call
/// is back (alice's start, mallory's stand-in for one).
async fn pages_for_start_error(
    template: ResponseTemplate,
    rest: ResponseTemplate,
    busy: bool,
) -> [[(StatusCode, String); 2]; 2] {
    let mut app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(template)
        .expect(1)
        .mount(&app.verify)
        .await;
    verify_down(rest).mount(&app.verify).await;
    mock_check("approved").expect(0).mount(&app.verify).await;
    let mut pages = Vec::new();
    for (n, name) in ["alice", "mallory"].into_iter().enumerate() {
        app.client = new_client();
        app.post_login("standup", name).await;
        // The sign-in's call to Verify is back before its page is asked for.
        wait_for_requests(&app.verify, n + 1).await;
        if busy {
            app.until_code_page_says(StatusCode::SERVICE_UNAVAILABLE)
                .await;
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let page = app.get_verify("standup").await;
        let page = (page.status(), page.text().await.unwrap());
        let checked = app.post_code("standup", "123456").await;
        let checked = (checked.status(), checked.text().await.unwrap());
        pages.push([page, checked]);
    }
    [pages[0].clone(), pages[1].clone()]
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

/// Verify refusing the number (invalid, blocked, too many sends to it) or the
/// account's request rate is said to the log only: a page saying so would tell anyone
/// that the name typed is on the list. alice's pages are an unknown name's.
#[tokio::test]
async fn a_start_refused_for_the_number_looks_like_an_unknown_name() {
    // 60205 (a landline), 60006 (a number not in service) and 60008 (a carrier Verify
    // doesn't reach) are about the number too, not Verify being down; and so is any
    // other answer about the request: a channel the Service has turned off (60223), a
    // number a trial account may not text (21608). Only a listed name's start meets
    // them: said as "busy", they named it.
    for code in [
        60200, 60203, 60212, 20429, 60410, 60605, 60205, 60006, 60008, 60223, 21608,
    ] {
        let http = match code {
            60200 | 60605 | 60006 | 60223 => 400,
            60205 | 60008 | 21608 => 403,
            _ => 429,
        };
        // The rest of Verify answers (the account's rate, 20429, has passed by then).
        let rest = ResponseTemplate::new(200).set_body_json(service_json());
        let [alice, mallory] = pages_for_start_error(twilio_error(http, code), rest, false).await;
        assert_eq!(alice[0].0, StatusCode::OK, "{code}: the code page");
        assert!(
            alice[0]
                .1
                .contains("Ask the host of this room to check the number")
        );
        assert_eq!(alice[1].0, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert!(
            alice[1].1.contains("4 attempts left"),
            "{code}: {}",
            alice[1].1
        );
        let blank = |html: &str| match extract_csrf(html) {
            Some(csrf) => html.replace(&csrf, "<csrf>"),
            None => html.to_owned(),
        };
        for (a, m) in alice.iter().zip(&mallory) {
            assert_eq!((a.0, blank(&a.1)), (m.0, blank(&m.1)), "{code}");
        }
    }
}

/// Verify down (refusing our credentials, or failing) is said to everyone whose
/// sign-in sent nothing too, on the code page and at the check: known or not, the
/// same "busy".
#[tokio::test]
async fn verify_down_at_the_start_is_busy_for_every_name() {
    let cases = [
        twilio_error(401, 20003),
        ResponseTemplate::new(500).set_body_string("<html>oops</html>"),
    ];
    for template in cases {
        let [alice, mallory] = pages_for_start_error(template.clone(), template, true).await;
        for (who, pages) in [("alice", &alice), ("mallory", &mallory)] {
            for (status, html) in pages {
                assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{who}");
                assert!(html.contains("Service busy"), "{who}: {html}");
                assert!(!html.contains("0101"), "no phone number on error pages");
            }
        }
    }
}

/// Once Verify answers again, "busy" is over for every name alike: the sign-in whose
/// start failed while it was down reads as one that sent nothing, as a name nobody has
/// does (kept as a failure of its own, it said "busy" until it expired).
#[tokio::test]
async fn verify_back_ends_busy_for_every_name_alike() {
    let mut app = spawn_app().await;
    // Down for alice's start, and for what mallory's sign-in asks in place of one.
    for call in [START_PATH, SERVICE_PATH] {
        Mock::given(path(call))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .expect(1)
            .mount(&app.verify)
            .await;
    }
    let mut sessions = Vec::new();
    for name in ["alice", "mallory"] {
        app.client = new_client();
        app.post_login("standup", name).await;
        app.until_code_page_says(StatusCode::SERVICE_UNAVAILABLE)
            .await;
        sessions.push(app.client.clone());
    }
    // Verify is back: bob's code goes out, which clears the mark.
    mock_start_ok().expect(1).mount(&app.verify).await;
    app.client = new_client();
    app.post_login("standup", "bob").await;
    app.client = sessions[0].clone();
    app.until_code_page_says(StatusCode::OK).await;

    let mut pages = Vec::new();
    for (name, client) in ["alice", "mallory"].into_iter().zip(sessions) {
        app.client = client;
        let page = comparable(app.get_verify("standup").await).await;
        assert_eq!(page.0, StatusCode::OK, "{name}: {}", page.2);
        pages.push(page);
    }
    assert_eq!(pages[0], pages[1]);
}

#[tokio::test]
async fn check_errors_map_to_their_pages() {
    let cases = [
        (twilio_error(429, 60202), StatusCode::TOO_MANY_REQUESTS, "Too many attempts"),
        (twilio_error(404, 20404), StatusCode::GONE, "This code has expired"),
        // The account's request rate: passing, so busy, and the code kept.
        (twilio_error(429, 20429), StatusCode::SERVICE_UNAVAILABLE, "Service busy"),
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

/// Verify going down between a start and its check: the check says "busy", and so
/// does the check of a name that was sent nothing, rather than "wrong code".
#[tokio::test]
async fn verify_down_at_a_check_is_busy_for_every_name() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    // alice's check; then, with Verify marked down by it, what mallory's sign-in asks
    // in place of a start, and her check in place of one.
    verify_down(ResponseTemplate::new(503))
        .expect(3)
        .mount(&app.verify)
        .await;
    for name in ["alice", "mallory"] {
        app.client = new_client();
        app.post_login("standup", name).await;
        let resp = app.post_code("standup", "123456").await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert!(
            resp.text().await.unwrap().contains("Service busy"),
            "{name}"
        );
    }
}

/// bob's start fails (Verify down for a moment), which marks Verify down; then Verify
/// is back before any call finds out. bob's code page says "busy" (his own start found
/// it down), while sign-ins begun before look alike: alice's code went out, mallory
/// (on nobody's list) was sent nothing, and both get the code form, then "wrong code"
/// at the check. The mark alone made mallory's say "busy" on both pages, as alice's
/// check, reaching Verify, said "wrong": a name told from another.
#[tokio::test]
async fn verify_marked_down_but_back_tells_no_earlier_name_from_another() {
    let mut app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .and(wiremock::matchers::body_string_contains("447400123456"))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&app.verify)
        .await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("pending").expect(1).mount(&app.verify).await;
    // What mallory's sign-in asks in place of a start, and her check in place of one.
    mock_service_ok().expect(2).mount(&app.verify).await;

    let mut sessions = Vec::new();
    for name in ["alice", "mallory"] {
        app.client = new_client();
        app.post_login("standup", name).await;
        sessions.push(app.client.clone());
    }
    wait_for_requests(&app.verify, 2).await;
    app.client = new_client();
    app.post_login("standup", "bob").await;
    app.until_code_page_says(StatusCode::SERVICE_UNAVAILABLE)
        .await;

    let mut pages = Vec::new();
    for (name, client) in ["mallory", "alice"]
        .into_iter()
        .zip(sessions.into_iter().rev())
    {
        app.client = client;
        let page = comparable(app.get_verify("standup").await).await;
        assert_eq!(page.0, StatusCode::OK, "{name}: {}", page.2);
        let resp = app.post_code("standup", "123456").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let checked = resp.text().await.unwrap();
        assert!(checked.contains("4 attempts left"), "{name}: {checked}");
        pages.push(page);
    }
    assert_eq!(pages[0], pages[1]);
}

/// Every name's sign-in finds Verify down by a call of its own: alice's start, and
/// for mallory (on nobody's list) a call that stands in for one, even when hers is the
/// first to find out (nothing has marked Verify down yet). Down, both code pages say
/// "busy"; back (the mark not yet cleared), both get the code form. Asking Verify only
/// once it was marked down, mallory's sign-in, first, showed the form while alice's
/// said "busy".
#[tokio::test]
async fn every_sign_in_finds_verify_down_by_a_call_of_its_own() {
    let mut app = spawn_app_with(
        &[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")],
        Default::default(),
    )
    .await;
    let down = verify_down(ResponseTemplate::new(503))
        .expect(2)
        .mount_as_scoped(&app.verify)
        .await;
    for name in ["mallory", "alice"] {
        app.client = new_client();
        app.post_login("standup", name).await;
        app.until_code_page_says(StatusCode::SERVICE_UNAVAILABLE)
            .await;
    }
    drop(down);

    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_service_ok().expect(1).mount(&app.verify).await;
    let mut pages = Vec::new();
    for (n, name) in ["alice", "mallory"].into_iter().enumerate() {
        app.client = new_client();
        let resp = app.post_login("standup", name).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{name}");
        let page = comparable(app.get_verify("standup").await).await;
        assert_eq!(page.0, StatusCode::OK, "{name}, at once: {}", page.2);
        // And once its call to Verify has come back.
        wait_for_requests(&app.verify, 3 + n).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let page = comparable(app.get_verify("standup").await).await;
        assert_eq!(page.0, StatusCode::OK, "{name}: {}", page.2);
        pages.push(page);
    }
    assert_eq!(pages[0], pages[1]);
}

/// Checks Verify never judged cost no attempt. More failed checks than a sign-in
/// has attempts (5), with Verify answering 503, and still the right code gets in once
/// it is back: an outage doesn't use up the code, end the sign-in or count toward a
/// lockout. (Each took one of the five, and the sixth post was "too many attempts"
/// without Verify being asked.)
#[tokio::test]
async fn checks_verify_never_judged_cost_no_attempt() {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_BREAKER_COOL_DOWN_SECS", "1"),
            ("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", "100"),
        ],
        Default::default(),
    )
    .await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    let down = verify_down(ResponseTemplate::new(503))
        .mount_as_scoped(&app.verify)
        .await;
    // And a name that was sent nothing, whose checks answer as Verify's would.
    let mut app = app;
    app.post_login("standup", "mallory").await;
    let mallory = std::mem::replace(&mut app.client, new_client());
    app.post_login("standup", "alice").await;
    for _ in 0..7 {
        let resp = app.post_code("standup", "123456").await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let alice = std::mem::replace(&mut app.client, mallory);
    for _ in 0..7 {
        let resp = app.post_code("standup", "123456").await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let mallory = std::mem::replace(&mut app.client, alice);
    drop(down);
    mock_check("approved").expect(1).mount(&app.verify).await;
    // Verify's breaker (opened by those failures) lets a probe through after its
    // cool-down.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = app.post_code("standup", "123456").await;
        if resp.status() == StatusCode::SEE_OTHER {
            assert_is_redirect_to(&resp, "/rooms/standup");
            break;
        }
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(std::time::Instant::now() < until, "never got in");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(app.audit_events("check_failed").is_empty());
    assert!(app.audit_events("lockout").is_empty());
    // Verify is back: the name sent nothing has its attempts too, a wrong code with
    // four left, as alice's would be.
    app.client = mallory;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("4 attempts"));
}

/// A check Verify may have judged stays spent: an answer not understood (here a
/// status it doesn't know), like a timeout, may have come after Verify counted the
/// attempt. Five of them, and the sixth post is "too many attempts" without Verify
/// being asked.
#[tokio::test]
async fn a_check_verify_may_have_judged_stays_spent() {
    let app = spawn_app_with(
        &[("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", "100")],
        Default::default(),
    )
    .await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("some_future_status")
        .expect(5)
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    for _ in 0..5 {
        let resp = app.post_code("standup", "123456").await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A verification gone at Verify (20404) while the sign-in is still here: approved by
/// another check an instant ago (a double click landing on two instances), or expired
/// there. The check that finds it says "expired", but it is no failure of its own: the
/// window stays for an approval in it, or for the sweep to count. Here one failure
/// locks the name: counted, the other tab's right code was refused.
#[tokio::test]
async fn a_verification_gone_at_verify_is_no_failure_of_the_check_that_finds_it() {
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_LOCKOUT_FAILURES", "1"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ],
        Default::default(),
    )
    .await;
    mock_start_ok().mount(&app.verify).await;
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(twilio_error(404, 20404))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.verify)
        .await;
    mock_check("approved").expect(1).mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::GONE);
    assert!(resp.text().await.unwrap().contains("This code has expired"));

    // Another tab, in the same window: its code gets in.
    app.client = new_client();
    app.post_login("standup", "alice").await;
    let resp = app.post_code("standup", "123456").await;
    assert_is_redirect_to(&resp, "/rooms/standup");
    app.audit.flush().await.unwrap();
    assert!(
        app.audit_events("lockout").is_empty(),
        "{}",
        app.audit_text()
    );
}
