use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn unknown_and_known_users_get_the_same_response_and_only_known_ones_reach_verify() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;

    let known = comparable(app.post_login("standup", "alice").await).await;
    let known_page = comparable(app.get_verify("standup").await).await;
    app.client = new_client();
    let unknown = comparable(app.post_login("standup", "mallory").await).await;
    let unknown_page = comparable(app.get_verify("standup").await).await;

    assert_eq!(known, unknown);
    assert_eq!(known_page, unknown_page);
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
}

#[tokio::test]
async fn a_user_not_allowed_in_the_room_looks_like_an_unknown_one() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(0).mount(&app.verify).await;

    // alice may join standup and all-hands, not board.
    let not_allowed = comparable(app.post_login("board", "alice").await).await;
    app.client = new_client();
    let unknown = comparable(app.post_login("board", "mallory").await).await;
    assert_eq!(not_allowed, unknown);
    assert_eq!(not_allowed.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_unknown_user_gets_the_generic_error_and_no_verify_call() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("pending").expect(1).mount(&app.verify).await;

    app.post_login("standup", "alice").await;
    let known = comparable(app.post_code("standup", "000000").await).await;
    app.client = new_client();
    app.post_login("standup", "nobody").await;
    let unknown = comparable(app.post_code("standup", "000000").await).await;

    assert_eq!(known, unknown);
    assert!(known.2.contains("4 attempts left"));
}

/// A name longer than a username may be is nobody's, not the user whose name it
/// begins with: cutting it down to 64 characters would send that user a code they
/// never asked for, and sign the typist in as them with it.
#[tokio::test]
async fn a_name_too_long_is_nobody_not_the_user_it_begins_with() {
    let app = spawn_app().await;
    let longest = "l".repeat(64);
    let text =
        format!("{TEST_ACL}\n[users.{longest}]\nphone = \"+14155550177\"\nrooms = [\"standup\"]\n");
    app.acl
        .replace(roomgate::acl::Acl::parse("test-acl.toml", &text).unwrap());
    mock_start_ok().mount(&app.verify).await;

    for typed in [
        format!("{longest}-impostor"),
        format!("{longest}x"),
        format!(" {}L ", longest.to_uppercase()),
    ] {
        assert_is_redirect_to(
            &app.post_login("standup", &typed).await,
            "/rooms/standup/verify",
        );
    }
    // No code for anyone: each sign-in's call stands in for a start, alike.
    assert_requests_settle_at(&app.verify, SERVICE_PATH, 3).await;
    assert_eq!(requests_to(&app.verify, START_PATH).await, 0);
    // The user's own name still gets its code.
    app.post_login("standup", &longest).await;
    assert_requests_settle_at(&app.verify, START_PATH, 1).await;
}

#[tokio::test]
async fn invalid_usernames_are_treated_like_unknown_ones() {
    let app = spawn_app().await;
    mock_start_ok().expect(0).mount(&app.verify).await;
    // Distinct after trimming and lowercasing, so the per-name limit stays out of it.
    for name in ["   ", "../../etc", "<script>", &"a".repeat(500), "Ünïcode"] {
        assert_is_redirect_to(
            &app.post_login("standup", name).await,
            "/rooms/standup/verify",
        );
    }
}

/// Verify keeps one verification per number: signing in again within its ten minutes
/// (a new browser, or "Send a new code") is a resend, with the checks already used
/// still used, and no more time. A name nobody has gets the same: its sign-ins share
/// their checks and their ten minutes too, so the answers don't tell them apart.
/// Run in local mode, whose verifier keeps Verify's rules.
#[tokio::test]
async fn signing_in_again_shares_checks_and_expiry_whoever_the_name_is() {
    let mut answers = Vec::new();
    for name in ["alice", "nobody"] {
        let (mut app, clock) = spawn_local_app_with_clock().await;
        let mut seen = Vec::new();
        assert_is_redirect_to(
            &app.post_login_afresh("standup", name).await,
            "/rooms/standup/verify",
        );
        for _ in 0..4 {
            seen.push(comparable(app.post_code("standup", "000000").await).await);
        }
        // Past the name's 30 s between codes: a new browser, the same window.
        clock.advance(std::time::Duration::from_secs(31));
        assert_is_redirect_to(
            &app.post_login_afresh("standup", name).await,
            "/rooms/standup/verify",
        );
        for _ in 0..2 {
            seen.push(comparable(app.post_code("standup", "000000").await).await);
        }

        // Later, a fresh window: signed in again nine minutes into it, the code still
        // ends ten minutes after the first one went out.
        clock.advance(std::time::Duration::from_secs(3600));
        app.post_login_afresh("standup", name).await;
        clock.advance(std::time::Duration::from_secs(540));
        app.post_login_afresh("standup", name).await;
        clock.advance(std::time::Duration::from_secs(90));
        seen.push(comparable(app.post_code("standup", "000000").await).await);
        answers.push(seen);
    }
    let [known, unknown] = &answers[..] else {
        unreachable!()
    };
    for (i, (k, u)) in known.iter().zip(unknown).enumerate() {
        assert_eq!(k.0, u.0, "check {i}: status");
        assert_eq!(k.2, u.2, "check {i}: page");
    }
    // The fifth check was the window's last; the sixth finds none left.
    assert!(known[3].2.contains("1 attempt left"), "{}", known[3].2);
    assert_eq!(known[4].0, reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(known[6].0, reqwest::StatusCode::GONE);
}
