//! Rate limits and lockouts from the outside: the attempt over a limit never reaches
//! Verify, a fresh cookie jar doesn't reset anything, and each limit ends when its time
//! is up (an injected clock stands in for the waiting).

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::Value;

use roomgate::startup::Overrides;
use roomgate::store::memory::MemoryStore;

use crate::helpers::*;

const LIMITED: &str = "Please wait";
/// A code's five checks used up.
const TOO_MANY: &str = "Too many attempts";
const LOCKED: &str = "Sign-in locked";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One failed verification from a new browser: a sign-in, then five wrong codes.
/// Returns the answer to the fifth. (The fifth ends the name's verification, as at
/// Verify, so the next sign-in has five checks again.)
async fn fail_verification(app: &mut TestApp, username: &str) -> Response {
    assert_is_redirect_to(
        &app.post_login_afresh("standup", username).await,
        "/rooms/standup/verify",
    );
    for left in ["4 attempts", "3 attempts", "2 attempts", "1 attempt left"] {
        let resp = app.post_code("standup", "000000").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(resp.text().await.unwrap().contains(left), "{left}");
    }
    app.post_code("standup", "000000").await
}

/// What a sign-in from a new browser gets.
#[derive(Clone, Copy)]
enum Answer {
    /// A code is sent: the redirect to the code page.
    Code,
    /// The "Please wait" notice (a limit), with `Retry-After` in seconds.
    Limited(u64),
    /// The "Sign-in locked" notice, with `Retry-After` in seconds.
    Locked(u64),
}
use Answer::{Code, Limited, Locked};

/// Each row: wait `after` seconds on the clock, then sign `username` in to `room` from
/// a new browser and check the answer.
async fn sign_ins(
    app: &mut TestApp,
    clock: &roomgate::clock::ManualClock,
    rows: &[(u64, &str, &str, Answer)],
) {
    for &(after, room, username, answer) in rows {
        if after > 0 {
            clock.advance(secs(after));
        }
        let resp = app.post_login_afresh(room, username).await;
        match answer {
            Code => assert_is_redirect_to(&resp, &format!("/rooms/{room}/verify")),
            Limited(wait) => {
                assert_notice(resp, StatusCode::TOO_MANY_REQUESTS, Some(wait), LIMITED).await;
            }
            Locked(wait) => {
                assert_notice(resp, StatusCode::TOO_MANY_REQUESTS, Some(wait), LOCKED).await;
            }
        }
    }
}

/// `count` failed verifications of `username` that lock nothing.
async fn fail_verifications(app: &mut TestApp, username: &str, count: usize) {
    for _ in 0..count {
        let last = fail_verification(app, username).await;
        assert_notice(last, StatusCode::TOO_MANY_REQUESTS, None, TOO_MANY).await;
    }
}

/// A sign-in request carrying `X-Forwarded-For`, from a new browser.
async fn login_forwarded_for(
    app: &TestApp,
    forwarded_for: Option<&str>,
    username: &str,
) -> StatusCode {
    let mut req = app.login_ready("standup", username).await;
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn a_username_gets_one_code_per_30_seconds_and_three_then_one_every_200_seconds() {
    // The phone's own limit is out of the way: only the username's is at work.
    let (mut app, clock) = spawn_app_with_clock(&[("ROOMGATE_STARTS_PER_PHONE", "100")]).await;
    mock_start_ok().expect(4).mount(&app.verify).await;

    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        (0, "standup", "alice", Code),
        // Another code within 30 s: refused, whatever the cookie.
        (0, "standup", "alice", Limited(30)),
        (29, "standup", "alice", Limited(1)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;

    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        // t = 31 s and 62 s: the second and third codes.
        (2, "standup", "alice", Code),
        (31, "standup", "alice", Code),
        // t = 93 s: all three are spent. Three per ten minutes earns one back every
        // 200 s, the first 200 s after the first code: refused until t = 200 s.
        (31, "standup", "alice", Limited(107)),
        // The name is what counts, however typed and for whichever room.
        (0, "all-hands", " ALICE ", Limited(107)),
        (106, "standup", "alice", Limited(1)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;

    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        // t = 200 s: one code earned back, and spent; the next is 200 s away.
        (1, "standup", "alice", Code),
        (0, "standup", "alice", Limited(200)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 4).await;
}

#[tokio::test]
async fn a_phone_number_limit_shows_on_the_code_page_not_in_the_sign_in_response() {
    let (mut app, clock) = spawn_app_with_clock(&[
        ("ROOMGATE_STARTS_PER_USER", "10"),
        ("ROOMGATE_STARTS_PER_PHONE", "2"),
    ])
    .await;
    mock_start_ok().expect(3).mount(&app.verify).await;
    mock_check("approved").expect(0).mount(&app.verify).await;

    // t = 0 and 31 s (past the 30 s resend cooldown): two codes to alice's phone.
    for _ in 0..2 {
        assert_is_redirect_to(
            &app.post_login_afresh("standup", "alice").await,
            "/rooms/standup/verify",
        );
        clock.advance(secs(31));
    }
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;

    // t = 62 s: the third. Two per ten minutes earns one back every 300 s, the first
    // 300 s after the first code: 238 s from now. The response is the one anybody gets...
    let third = comparable(app.post_login_afresh("standup", "alice").await).await;
    // ...and the refusal is told on the code page, and again at the code check.
    assert_notice(
        app.get_verify("standup").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(238),
        LIMITED,
    )
    .await;
    assert_notice(
        app.post_code("standup", "123456").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(238),
        LIMITED,
    )
    .await;
    let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
    assert_eq!(third, unknown);
    assert_eq!(third.0, StatusCode::SEE_OTHER);
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;

    // t = 300 s: the phone has earned one code back.
    clock.advance(secs(238));
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    assert_eq!(app.get_verify("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
}

#[tokio::test]
async fn twenty_sign_ins_per_minute_from_one_address_then_one_every_3_seconds() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(1).mount(&app.verify).await;

    // Twenty different names, so no name's own limit is reached; no one on the list.
    for i in 0..20 {
        assert_is_redirect_to(
            &app.post_login_afresh("standup", &format!("guest{i}")).await,
            "/rooms/standup/verify",
        );
    }
    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        // The 21st at once, for someone on the list: refused before anything is sent,
        // until the address has earned one back (every 60 / 20 = 3 s).
        (0, "standup", "alice", Limited(3)),
        (2, "standup", "alice", Limited(1)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 0).await;

    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        (1, "standup", "alice", Code),
        // That one is spent at once: the next waits another 3 s.
        (0, "standup", "guest20", Limited(3)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
}

#[tokio::test]
async fn thirty_code_checks_per_minute_from_one_address_then_one_every_2_seconds() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;

    // Six sign-ins for names not on the list, five wrong codes each: thirty checks,
    // none of which has anything to send to Verify.
    for i in 0..6 {
        let last = fail_verification(&mut app, &format!("guest{i}")).await;
        assert_notice(last, StatusCode::TOO_MANY_REQUESTS, None, TOO_MANY).await;
    }
    // The 31st at once, in alice's real sign-in: refused before Verify is asked, until
    // the address has earned one back (every 60 / 30 = 2 s).
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    assert_notice(
        app.post_code("standup", "123456").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(2),
        LIMITED,
    )
    .await;
    // Another browser on the same network fares no better.
    let signed_in = std::mem::replace(&mut app.client, new_client());
    assert_notice(
        app.post_code("standup", "123456").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(2),
        LIMITED,
    )
    .await;
    clock.advance(secs(1));
    assert_notice(
        app.post_code("standup", "123456").await,
        StatusCode::TOO_MANY_REQUESTS,
        Some(1),
        LIMITED,
    )
    .await;
    assert_requests_settle_at(&app.verify, CHECK_PATH, 0).await;

    // Two seconds after the limit was spent the same code goes through.
    clock.advance(secs(1));
    app.client = signed_in;
    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    assert_requests_settle_at(&app.verify, CHECK_PATH, 1).await;
}

#[tokio::test]
async fn forwarded_for_gives_each_client_its_own_limit_behind_a_trusted_proxy() {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2"),
        ],
        Default::default(),
    )
    .await;
    let one = Some("198.51.100.1");
    let two = Some("198.51.100.2");
    let rows = [
        (one, "guest1", StatusCode::SEE_OTHER),
        (one, "guest2", StatusCode::SEE_OTHER),
        (one, "guest3", StatusCode::TOO_MANY_REQUESTS),
        // What the client wrote before our proxy's entry changes nothing.
        (
            Some("203.0.113.9, 198.51.100.1"),
            "guest4",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        // Other clients behind the same proxy have their own budgets.
        (two, "guest5", StatusCode::SEE_OTHER),
        (two, "guest6", StatusCode::SEE_OTHER),
        (None, "guest7", StatusCode::SEE_OTHER),
    ];
    for (xff, username, status) in rows {
        assert_eq!(
            login_forwarded_for(&app, xff, username).await,
            status,
            "{xff:?} {username}"
        );
    }
}

#[tokio::test]
async fn an_ipv6_client_behind_a_trusted_proxy_is_limited_by_its_64() {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2"),
        ],
        Default::default(),
    )
    .await;
    // A host picks addresses in its /64 at will: they all share one budget.
    for (i, xff) in ["2001:db8:1:2::1", "2001:db8:1:2::ffff"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            login_forwarded_for(&app, Some(xff), &format!("guest{i}")).await,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        login_forwarded_for(&app, Some("2001:db8:1:2:abcd::9"), "guest2").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_forwarded_for(&app, Some("2001:db8:1:3::1"), "guest3").await,
        StatusCode::SEE_OTHER
    );
}

/// A proxy that adds an `X-Forwarded-For` line of its own (HAProxy's `option
/// forwardfor`) rather than appending to the client's: the address it saw is on the
/// last line, and a forged first line picks no fresh budget.
#[tokio::test]
async fn a_forged_line_before_the_proxys_own_changes_nothing() {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2"),
        ],
        Default::default(),
    )
    .await;
    for i in 0..3 {
        let resp = app
            .login_ready("standup", &format!("guest{i}"))
            .await
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .header("x-forwarded-for", "203.0.113.5")
            .send()
            .await
            .unwrap();
        let expected = if i < 2 {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(resp.status(), expected, "sign-in {i}");
    }
    // Another address on the proxy's line is another client.
    let resp = app
        .login_ready("standup", "guest9")
        .await
        .header("x-forwarded-for", "198.51.100.0")
        .header("x-forwarded-for", "203.0.113.6")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let app = spawn_app_with(
        &[("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2")],
        Default::default(),
    )
    .await;
    for (i, xff) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        assert_eq!(
            login_forwarded_for(&app, Some(xff), &format!("guest{i}")).await,
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        login_forwarded_for(&app, Some("198.51.100.3"), "guest3").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_forwarded_for(&app, None, "guest4").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn sixty_tokens_per_minute_from_one_address_then_one_every_second() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    app.sign_in("standup", "alice").await;
    let html = app.get_room("standup").await.text().await.unwrap();
    let csrf = extract_meta_csrf(&html).unwrap();
    for _ in 0..60 {
        assert_eq!(
            app.post_token_with("standup", Some(&csrf)).await.status(),
            StatusCode::OK
        );
    }

    // The 61st at once waits until the address earns one back: 60 / 60 = 1 s.
    let over = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.headers()["retry-after"], "1");
    assert_eq!(over.headers()["content-type"], "application/json");
    assert_eq!(over.headers()["cache-control"], "no-store");
    assert_eq!(over.json::<Value>().await.unwrap()["error"], "rate_limited");
    // A new cookie jar doesn't help: the limit is the address's (and comes before the
    // session check: a 429, not the 401 an unverified session gets).
    let verified = std::mem::replace(&mut app.client, new_client());
    let other = app.post_token_with("standup", None).await;
    assert_eq!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(other.headers()["retry-after"], "1");

    // Half a second left: still whole seconds, rounded up.
    clock.advance(Duration::from_millis(500));
    app.client = verified;
    let still = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(still.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(still.headers()["retry-after"], "1");
    clock.advance(Duration::from_millis(500));
    let resp = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["identity"], "alice");
    // Spent at once: the next waits another second.
    let next = app.post_token_with("standup", Some(&csrf)).await;
    assert_eq!(next.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(next.headers()["retry-after"], "1");
}

/// Complements `flow::five_wrong_codes_end_the_verification`: the checks are counted on
/// the server, so sending the sign-in's cookie again doesn't buy a sixth.
#[tokio::test]
async fn replaying_the_sign_in_cookie_buys_no_more_checks() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("pending").expect(5).mount(&app.verify).await;

    let login = app.post_login("standup", "alice").await;
    let cookie = session_cookie(&login).expect("the sign-in sets the cookie");
    let csrf = app.csrf_token("standup").await;
    for _ in 0..4 {
        assert_eq!(
            app.post_code("standup", "000000").await.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
    // A client that keeps no cookies sends the one from the sign-in, twice.
    let replayer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = || {
        replayer
            .post(app.url("/rooms/standup/verify"))
            .header("cookie", &cookie)
            .form(&[("code", "000000"), ("csrf_token", csrf.as_str())])
            .send()
    };
    assert_notice(
        replay().await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        None,
        TOO_MANY,
    )
    .await;
    assert_notice(
        replay().await.unwrap(),
        StatusCode::TOO_MANY_REQUESTS,
        None,
        TOO_MANY,
    )
    .await;
    assert_requests_settle_at(&app.verify, CHECK_PATH, 5).await;
}

fn lockout_settings() -> [(&'static str, &'static str); 3] {
    // Many codes per name, back to back: only the lockout limits sign-ins here.
    [
        ("ROOMGATE_STARTS_PER_USER", "100"),
        ("ROOMGATE_STARTS_PER_PHONE", "100"),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
    ]
}

/// Three verifications left unfinished are three failed verifications: the sweep
/// that takes the last locks the name, and says so as a failed check's lockout does
/// (audited, counted, logged), not in a log line alone. (Several sign-ins within one
/// verification's ten minutes are one verification, as at Verify.)
#[tokio::test]
async fn sign_ins_left_unfinished_lock_the_name_and_the_lockout_is_audited() {
    let (mut app, clock) = spawn_app_with_clock(&lockout_settings()).await;
    mock_start_ok().expect(6).mount(&app.verify).await;
    for _ in 0..3 {
        app.post_login_afresh("standup", "alice").await;
        // Another sign-in within the ten minutes is the same verification.
        app.post_login_afresh("standup", "alice").await;
        // The first two windows are found over by the next sign-in, the last by the
        // sweep.
        clock.advance(secs(601));
    }
    // The sweep runs every 10 s.
    let (locked, lockouts) = poll_until(secs(15), || async {
        app.audit.flush().await.unwrap();
        let lockouts = app.audit_events("lockout");
        (!lockouts.is_empty(), lockouts)
    })
    .await;
    assert!(locked, "no lockout audited");
    assert_eq!(lockouts.len(), 1);
    assert_eq!(lockouts[0]["username"], "alice");
    assert_eq!(lockouts[0]["room"], "standup");
    assert!(
        lockouts[0]["detail"]
            .as_str()
            .unwrap()
            .contains("abandoned"),
        "{}",
        lockouts[0]
    );
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("roomgate_lockouts_total 1"), "{metrics}");
    let refused = app.post_login_afresh("standup", "alice").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A lock shorter than a sign-in's ten minutes ends while the sign-in is pending: a
/// check refused by it costs the code none of its attempts. alice's second sign-in
/// finds her first window over and unapproved, the failure that locks her, and goes
/// on (a lock stops the next); its check is refused while the lock lasts, and once it
/// is over the code still has four attempts left after a wrong one, not three.
#[tokio::test]
async fn a_check_refused_by_a_short_lock_costs_no_attempt() {
    let mut settings = lockout_settings().to_vec();
    settings.extend([
        ("ROOMGATE_LOCKOUT_FAILURES", "1"),
        ("ROOMGATE_LOCKOUT_SECS", "60"),
    ]);
    let (mut app, clock) = spawn_app_with_clock(&settings).await;
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;
    app.post_login_afresh("standup", "alice").await;
    clock.advance(secs(601));
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let locked = app.post_code("standup", "123456").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    clock.advance(secs(61));
    let wrong = app.post_code("standup", "123456").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(html.contains("4 attempts left"), "{html}");
}

/// Guessing four codes a window and logging out (or starting another sign-in) before
/// the fifth: each window ends unapproved all the same, and three lock the name. (The
/// sign-ins were dropped at logout, uncounted: five guesses every ten minutes, for
/// ever.)
#[tokio::test]
async fn logging_out_between_guesses_does_not_escape_the_lockout() {
    let (mut app, clock) = spawn_app_with_clock(&lockout_settings()).await;
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;
    for round in 0..3 {
        app.post_login_afresh("standup", "alice").await;
        for left in (1..=4).rev() {
            let wrong = app.post_code("standup", "000000").await;
            assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY, "{round}");
            assert!(
                wrong
                    .text()
                    .await
                    .unwrap()
                    .contains(&format!("{left} attempt"))
            );
        }
        if round == 1 {
            // Or a new sign-in from the same page, of another name.
            app.post_login("standup", "bob").await;
        } else {
            assert_eq!(
                app.post_logout("standup").await.status(),
                StatusCode::SEE_OTHER
            );
        }
        clock.advance(secs(601));
    }
    let (locked, _) = poll_until(secs(15), || async {
        app.audit.flush().await.unwrap();
        (!app.audit_events("lockout").is_empty(), ())
    })
    .await;
    assert!(locked, "no lockout:\n{}", app.audit_text());
    let refused = app.post_login_afresh("standup", "alice").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn three_failed_verifications_in_an_hour_lock_the_name_for_15_then_30_minutes() {
    let (mut app, clock) = spawn_app_with_clock(&lockout_settings()).await;
    mock_start_ok().expect(7).mount(&app.verify).await;
    mock_check("pending").expect(30).mount(&app.verify).await;

    // Three failed verifications, ten minutes apart: the third locks.
    for _ in 0..2 {
        fail_verifications(&mut app, "alice", 1).await;
        clock.advance(secs(600));
    }
    let third = fail_verification(&mut app, "alice").await;
    assert_notice(third, StatusCode::TOO_MANY_REQUESTS, Some(900), LOCKED).await;

    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        (0, "standup", "alice", Locked(900)),
        (0, "standup", " Alice ", Locked(900)),
        (899, "standup", "alice", Locked(1)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;

    // Fifteen minutes on, signing in works again; the next lockout lasts twice as long.
    clock.advance(secs(1));
    fail_verifications(&mut app, "alice", 2).await;
    let sixth = fail_verification(&mut app, "alice").await;
    assert_notice(sixth, StatusCode::TOO_MANY_REQUESTS, Some(1800), LOCKED).await;
    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        (0, "standup", "alice", Locked(1800)),
        (1799, "standup", "alice", Locked(1)),
    ])
    .await;
    assert_requests_settle_at(&app.verify, START_PATH, 6).await;

    sign_ins(&mut app, &clock, &[(1, "standup", "alice", Code)]).await;
    assert_requests_settle_at(&app.verify, START_PATH, 7).await;
}

#[tokio::test]
async fn failures_toward_a_lockout_are_forgotten_one_per_hour() {
    let (mut app, clock) = spawn_app_with_clock(&lockout_settings()).await;
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;

    // t = 0: two failures each for alice and bob.
    fail_verifications(&mut app, "alice", 2).await;
    fail_verifications(&mut app, "bob", 2).await;
    // t = 1 h: the count has forgotten one of alice's two, so the failure that would have
    // been her third does not lock...
    clock.advance(secs(3600));
    fail_verifications(&mut app, "alice", 1).await;
    // ...but the other is still remembered (where a sliding hour would have dropped
    // both): one more failure makes three, and locks.
    let third_remembered = fail_verification(&mut app, "alice").await;
    assert_notice(
        third_remembered,
        StatusCode::TOO_MANY_REQUESTS,
        Some(900),
        LOCKED,
    )
    .await;

    // t = 2 h: both of bob's have been forgotten; it takes three new failures.
    clock.advance(secs(3600));
    fail_verifications(&mut app, "bob", 2).await;
    let third_new = fail_verification(&mut app, "bob").await;
    assert_notice(third_new, StatusCode::TOO_MANY_REQUESTS, Some(900), LOCKED).await;
}

#[tokio::test]
async fn a_limited_name_looks_the_same_whether_or_not_it_is_on_the_list() {
    let (mut app, clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().expect(3).mount(&app.verify).await;

    for round in 0..3 {
        let known = comparable(app.post_login_afresh("standup", "alice").await).await;
        let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
        assert_eq!(known, unknown);
        assert_eq!(known.0, StatusCode::SEE_OTHER);
        if round == 0 {
            // Within the resend cooldown.
            let known = comparable(app.post_login_afresh("standup", "alice").await).await;
            let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
            assert_eq!(known, unknown);
            assert_eq!(known.0, StatusCode::TOO_MANY_REQUESTS);
        }
        clock.advance(secs(31));
    }
    // The fourth within ten minutes.
    let known = comparable(app.post_login_afresh("standup", "alice").await).await;
    let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(known.2.contains(LIMITED));
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
}

#[tokio::test]
async fn a_locked_out_name_looks_the_same_whether_or_not_it_is_on_the_list() {
    let mut settings = lockout_settings().to_vec();
    settings.push(("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", "1000"));
    let (mut app, _clock) = spawn_app_with_clock(&settings).await;
    mock_start_ok().expect(3).mount(&app.verify).await;
    mock_check("pending").expect(15).mount(&app.verify).await;

    let mut locking = Vec::new();
    for name in ["alice", "mallory"] {
        for _ in 0..2 {
            fail_verification(&mut app, name).await;
        }
        locking.push(comparable(fail_verification(&mut app, name).await).await);
    }
    assert_eq!(locking[0], locking[1]);
    assert!(locking[0].2.contains(LOCKED));

    let known = comparable(app.post_login_afresh("standup", "alice").await).await;
    let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::TOO_MANY_REQUESTS);
    assert!(known.2.contains(LOCKED));
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
}

/// Everyone's sign-ins together are capped (`ROOMGATE_PENDING_SIGNINS_MAX`), known
/// names or not: each is a record in the store until it ends, so a flood of made-up
/// names from many networks can't grow the store without bound. Past the cap it is
/// "Service busy" for everyone, with no code sent. A sign-in refused by its name's own
/// limit spends none of the cap: the cap is spent only once the others allow it.
#[tokio::test]
async fn everyones_sign_ins_together_are_capped_then_everyone_is_told_busy() {
    let (mut app, clock) = spawn_app_with_clock(&[("ROOMGATE_PENDING_SIGNINS_MAX", "3")]).await;
    mock_start_ok().expect(2).mount(&app.verify).await;

    sign_ins(
        &mut app,
        &clock,
        &[
            (0, "standup", "alice", Code),
            // Within alice's resend cooldown: refused by her limit, costs the cap nothing.
            (0, "standup", "alice", Limited(30)),
            (0, "standup", "alice", Limited(30)),
            (0, "standup", "mallory", Code),
            (0, "standup", "trent", Code),
        ],
    )
    .await;
    // Three per 15 minutes, all spent: one comes back every 300 s, for anyone.
    let known = comparable(app.post_login_afresh("standup", "bob").await).await;
    let unknown = comparable(app.post_login_afresh("standup", "oscar").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        known
            .1
            .contains(&("retry-after".to_owned(), "300".to_owned())),
        "{:?}",
        known.1
    );
    assert!(known.2.contains("<h1>Service busy</h1>"));
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
    assert_eq!(
        app.audit_events("limited")
            .iter()
            .filter(|r| r["detail"] == "pending_signins")
            .count(),
        2,
        "{:#?}",
        app.audit_records()
    );

    clock.advance(secs(300));
    sign_ins(&mut app, &clock, &[(0, "standup", "bob", Code)]).await;
    assert_requests_settle_at(&app.verify, START_PATH, 2).await;
}

/// Sign-ins for one name at once: each peeks at the name's limit before spending it
/// (the peek goes along with the network's admission), so all of them may see room;
/// the admission that follows still lets through only what the limit allows. One
/// code, every other answer "too many attempts", and one call to Verify: the losers
/// never reach the number's sends, so the winner's are there (under load they used to
/// spend them first, and the winner then sent nothing). The store takes 20 ms a call,
/// as a distant Redis might, so every peek is made before any admission.
#[tokio::test]
async fn sign_ins_for_one_name_at_once_get_one_code_between_them() {
    let store = MemoryStore::new().with_round_trip(Duration::from_millis(20));
    let overrides = Overrides {
        store: Some(std::sync::Arc::new(store)),
        ..Overrides::default()
    };
    let app = spawn_app_with(&[("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "100")], overrides).await;
    mock_start_ok().mount(&app.verify).await;
    // Every browser has its form first, then all post together.
    let mut posts = Vec::new();
    for _ in 0..30 {
        posts.push(app.login_ready("standup", "alice").await);
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(posts.len()));
    let mut set = tokio::task::JoinSet::new();
    for post in posts {
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            post.send().await.unwrap().status()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = set.join_next().await {
        statuses.push(status.unwrap());
    }
    statuses.sort();
    let mut expected = vec![StatusCode::TOO_MANY_REQUESTS; 29];
    expected.insert(0, StatusCode::SEE_OTHER);
    assert_eq!(statuses, expected);
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
}

/// Once the network's limit refuses, the network's sign-ins are refused before the
/// cookie is read: a bare POST (no cookie, no CSRF token, which would otherwise be a
/// 403) gets the same 429 and notice, audited like the rest with the name typed. For
/// no longer than the wait: then the bare POST is the CSRF check's 403 again, and a
/// real sign-in goes through.
#[tokio::test]
async fn a_network_being_refused_is_refused_before_its_cookie_is_read() {
    let (mut app, clock) =
        spawn_app_with_clock(&[("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2")]).await;
    mock_start_ok().mount(&app.verify).await;
    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[
        (0, "standup", "guest0", Code),
        (0, "standup", "guest1", Code),
        // One every 60 / 2 = 30 s.
        (0, "standup", "guest2", Limited(30)),
    ])
    .await;

    let bare = || {
        new_client()
            .post(app.url("/rooms/standup/login"))
            .form(&[("username", "Mallory ")])
            .send()
    };
    let wait = |secs| async move {
        assert_notice(
            bare().await.unwrap(),
            StatusCode::TOO_MANY_REQUESTS,
            Some(secs),
            LIMITED,
        )
        .await;
    };
    wait(30).await;
    clock.advance(secs(20));
    wait(10).await;
    assert_eq!(
        app.audit_count("limited").await,
        3,
        "every refusal is audited"
    );
    let named = app
        .audit_events("limited")
        .into_iter()
        .filter(|r| r["username"] == "mallory")
        .count();
    assert!(named >= 1, "with the name typed: {}", app.audit_text());

    clock.advance(secs(10));
    assert_eq!(bare().await.unwrap().status(), StatusCode::FORBIDDEN);
    #[rustfmt::skip]
    sign_ins(&mut app, &clock, &[(0, "standup", "guest4", Code)]).await;
}

/// A double-click on "Verify" posts the right code again while the first post is at
/// Verify, which deletes a verification once approved (a second check of it is
/// 20404, "not found"). Counted as failed verifications, three double-clicked
/// sign-ins locked out a participant who had signed in each time. Now every post
/// lands on the room page, Verify is asked once, and nothing counts against the name.
#[tokio::test]
async fn the_right_code_posted_four_times_at_once_signs_in_and_counts_no_failure() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    let (mut app, _clock) = spawn_app_with_clock(&lockout_settings()).await;
    mock_start_ok().mount(&app.verify).await;
    // After an approval, the verification is gone.
    Mock::given(method("POST"))
        .and(path(CHECK_PATH))
        .respond_with(twilio_error(404, 20404))
        .with_priority(10)
        .mount(&app.verify)
        .await;
    for round in 1..=3 {
        // Approved once, slowly enough for the other posts to be on their way.
        let _approve = Mock::given(method("POST"))
            .and(path(CHECK_PATH))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(verification_json("approved"))
                    .set_delay(Duration::from_millis(300)),
            )
            .up_to_n_times(1)
            .with_priority(1)
            .mount_as_scoped(&app.verify)
            .await;
        assert_is_redirect_to(
            &app.post_login_afresh("standup", "alice").await,
            "/rooms/standup/verify",
        );
        let html = app.get_verify("standup").await.text().await.unwrap();
        let csrf = extract_csrf(&html).unwrap();
        let form = [("code", "123456"), ("csrf_token", csrf.as_str())];
        let posts = (0..4).map(|_| app.post_code_with("standup", &form));
        for resp in futures_util::future::join_all(posts).await {
            assert_is_redirect_to(&resp, "/rooms/standup");
        }
        assert!(
            app.get_room("standup")
                .await
                .text()
                .await
                .unwrap()
                .contains("<h1>Room "),
            "round {round}: signed in"
        );
    }
    assert_eq!(
        requests_to(&app.verify, CHECK_PATH).await,
        3,
        "one check a sign-in"
    );
    assert!(app.audit_events("check_failed").is_empty());
    assert!(app.audit_events("lockout").is_empty());
    assert_eq!(app.audit_events("check_approved").len(), 3);
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
}
