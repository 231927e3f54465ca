//! What security depends on outlives the process: through the real binary in Twilio
//! mode (Verify mocked), with the embedded store in a data directory kept across a
//! restart, or across a `kill -9`.

mod support;

use std::time::Duration;

use support::*;

const ROOM: &str = "standup";

/// Sign `who` in all the way; the cookie the verified session was given.
async fn verified(app: &Roomgate, client: &reqwest::Client, who: &str) -> String {
    let (login, csrf) = sign_in(client, &app.base, ROOM, who).await;
    assert_eq!(login.status(), 303, "sign-in accepted");
    let verified = post_code(client, &app.base, ROOM, "123456", &csrf).await;
    assert_eq!(verified.status(), 303, "code approved");
    session_cookie(&verified).expect("the verified session's cookie")
}

/// The copied cookie opens the room (a token is minted) or not (the join page).
async fn copy_still_works(app: &Roomgate, cookie: &str) -> bool {
    let copy = browser_with_cookie(cookie);
    match room_csrf(&copy, &app.base, ROOM).await {
        Some(csrf) => token(&copy, &app.base, ROOM, &csrf).await.status() == 200,
        None => false,
    }
}

async fn log_out(app: &Roomgate, client: &reqwest::Client) {
    let csrf = room_csrf(client, &app.base, ROOM).await.expect("verified");
    let out = client
        .post(app.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303, "logout acknowledged");
}

#[tokio::test]
async fn a_cookie_copied_before_logout_is_refused_after_a_restart() {
    let verify = approving_verify().await;
    let env = twilio_env(&verify, &fresh_dir("restart-logout"));
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let client = browser();
    let copied = verified(&app, &client, "alice").await;
    assert!(
        copy_still_works(&app, &copied).await,
        "the copy works before logout"
    );
    log_out(&app, &client).await;
    assert!(
        !copy_still_works(&app, &copied).await,
        "refused after logout"
    );

    app.stop().await;
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    assert!(
        !copy_still_works(&app, &copied).await,
        "still refused after the restart"
    );
    // The session key is the same, so a cookie that was never revoked still works:
    // what refuses the copy is the remembered revocation, not a new key. (bob: alice's
    // 30 s resend cooldown still runs.)
    let other = browser();
    let fresh = verified(&app, &other, "bob").await;
    app.stop().await;
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    assert!(copy_still_works(&app, &fresh).await);
    app.stop().await;
}

#[tokio::test]
async fn a_revocation_acknowledged_before_kill_9_still_holds_after_it() {
    let verify = approving_verify().await;
    let env = twilio_env(&verify, &fresh_dir("restart-kill9"));
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let client = browser();
    let copied = verified(&app, &client, "alice").await;
    log_out(&app, &client).await;
    // No pause: the revocation must be on disk before the logout was answered.
    app.kill9().await;
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    assert!(!copy_still_works(&app, &copied).await);
    app.stop().await;
}

#[tokio::test]
async fn a_code_asked_for_before_a_crash_is_accepted_after_it() {
    let verify = approving_verify().await;
    let env = twilio_env(&verify, &fresh_dir("restart-pending"));
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let client = browser();
    let (login, csrf) = sign_in(&client, &app.base, ROOM, "alice").await;
    assert_eq!(login.status(), 303);
    // The start runs in the background: wait until Verify has been asked.
    for _ in 0..100 {
        if calls(&verify, "/Verifications").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(calls(&verify, "/Verifications").await, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.kill9().await;

    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let checked = post_code(&client, &app.base, ROOM, "123456", &csrf).await;
    assert_eq!(checked.status(), 303, "the pending sign-in survived");
    assert_eq!(
        checked.headers()["location"],
        format!("/rooms/{ROOM}").as_str()
    );
    assert_eq!(calls(&verify, "/VerificationCheck").await, 1);
    assert!(
        room_csrf(&client, &app.base, ROOM).await.is_some(),
        "verified"
    );
    // No second code was sent.
    assert_eq!(calls(&verify, "/Verifications").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_lockout_a_cooldown_and_a_spent_budget_hold_after_a_restart() {
    let verify = approving_verify().await;
    let mut env = twilio_env(&verify, &fresh_dir("restart-limits"));
    for (k, v) in [
        // One failed verification locks; two codes spend the day's budget.
        ("ROOMGATE_LOCKOUT_FAILURES", "1"),
        ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "2"),
        ("ROOMGATE_SMS_BUDGET_PER_HOUR", "2"),
        ("ROOMGATE_SMS_BUDGET_PER_DAY", "2"),
    ] {
        env.insert(k.into(), v.into());
    }
    let app = Roomgate::start(&env, "127.0.0.1:0").await;

    // mallory is on no list: five wrong codes end the sign-in, and lock the name.
    let mallory = browser();
    let (login, csrf) = sign_in(&mallory, &app.base, ROOM, "mallory").await;
    assert_eq!(login.status(), 303);
    let mut last = None;
    for _ in 0..5 {
        last = Some(
            post_code(&mallory, &app.base, ROOM, "000000", &csrf)
                .await
                .status(),
        );
    }
    assert_eq!(last, Some(reqwest::StatusCode::TOO_MANY_REQUESTS), "locked");

    // alice and bob each get a code: the budget (2 a day) is spent, and alice's
    // 30-second resend cooldown runs.
    for who in ["alice", "bob"] {
        let (login, _) = sign_in(&browser(), &app.base, ROOM, who).await;
        assert_eq!(login.status(), 303, "{who} gets a code");
    }
    // Counters may reach the disk up to a second late (the documented window).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.kill9().await;
    let app = Roomgate::start(&env, "127.0.0.1:0").await;

    let (again, _) = sign_in(&browser(), &app.base, ROOM, "mallory").await;
    assert_eq!(again.status(), 429, "mallory is still locked out");
    assert!(again.text().await.unwrap().contains("locked"));

    let (alice, _) = sign_in(&browser(), &app.base, ROOM, "alice").await;
    assert_eq!(alice.status(), 503, "the budget is still spent");
    let retry: u64 = alice.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0, "says when sending resumes");
    assert_eq!(calls(&verify, "/Verifications").await, 2, "no third code");
    app.stop().await;
}

#[tokio::test]
async fn a_resend_cooldown_holds_after_a_restart() {
    let verify = approving_verify().await;
    let env = twilio_env(&verify, &fresh_dir("restart-cooldown"));
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let (login, _) = sign_in(&browser(), &app.base, ROOM, "alice").await;
    assert_eq!(login.status(), 303);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.kill9().await;
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let (again, _) = sign_in(&browser(), &app.base, ROOM, "alice").await;
    assert_eq!(again.status(), 429, "the 30 s cooldown still runs");
    let retry: u64 = again.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "retry after {retry} s");
    assert_eq!(calls(&verify, "/Verifications").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let verify = approving_verify().await;
    let dir = fresh_dir("restart-lock");
    let env = twilio_env(&verify, &dir);
    let first = Roomgate::start(&env, "127.0.0.1:0").await;
    let second = Roomgate::try_start(&env, "127.0.0.1:0").await;
    let Err(out) = second else {
        panic!("a second roomgate started on {}", dir.display());
    };
    assert!(out.contains("in use by another roomgate"), "{out}");
    first.stop().await;
    // Once the first has stopped, the directory is free again.
    Roomgate::start(&env, "127.0.0.1:0").await.stop().await;
}

/// Refusals still folding when roomgate is stopped are written as their summary on
/// the way out, not lost with the process.
#[tokio::test]
async fn a_stop_writes_the_summary_of_refusals_still_folding() {
    let verify = approving_verify().await;
    let data = fresh_dir("restart-fold");
    let mut env = twilio_env(&verify, &data);
    env.insert("ROOMGATE_LOGINS_PER_IP_PER_MINUTE".into(), "1".into());
    let audit_log = std::path::PathBuf::from(&env["ROOMGATE_AUDIT_LOG"]);
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let client = browser();
    let mut refused = 0;
    for _ in 0..30 {
        let (resp, _) = sign_in(&client, &app.base, ROOM, "mallory").await;
        if resp.status() == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 29);
    let limited = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|r| r["event"] == "limited")
            .collect()
    };
    // The first refusal is on disk at once; its repeats wait for the window's end.
    let before = limited(&std::fs::read_to_string(&audit_log).unwrap());
    assert_eq!(before.len(), 1, "{before:?}");
    assert!(before[0].get("count").is_none());

    app.stop().await;
    let after = limited(&std::fs::read_to_string(&audit_log).unwrap());
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[1]["count"], 28, "{after:?}");
    assert_eq!(after[1]["detail"], "login_per_ip");
}

/// A user taken off the list while roomgate was stopped, and put back once it runs
/// again, signs in again: the start compared its list with the one kept at the last
/// change, and ended the sessions from before (the copy of alice's cookie). bob, on
/// both lists all along, keeps his.
#[tokio::test]
async fn a_user_dropped_while_stopped_and_put_back_signs_in_again() {
    let verify = approving_verify().await;
    let data = fresh_dir("restart-acl-while-stopped");
    let acl = data.with_extension("acl.toml");
    let example = std::fs::read_to_string(EXAMPLE_ACL).unwrap();
    std::fs::write(&acl, &example).unwrap();
    let mut env = twilio_env(&verify, &data);
    env.insert("ROOMGATE_ACL".into(), acl.display().to_string());
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    let alices = verified(&app, &browser(), "alice").await;
    let bobs = verified(&app, &browser(), "bob").await;
    assert!(copy_still_works(&app, &alices).await);
    app.stop().await;

    let without_alice = example.replace(
        "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\", \"all-hands\"]\nrole = \"host\"            # runs standup and all-hands\n",
        "",
    );
    assert_ne!(without_alice, example, "the example still lists alice so");
    std::fs::write(&acl, &without_alice).unwrap();
    let app = Roomgate::start(&env, "127.0.0.1:0").await;
    assert!(!copy_still_works(&app, &alices).await, "off the list");

    // Back on the list, as she was, while it runs: reloaded, and her old cookie
    // stays refused.
    let metrics = app.metrics_url().await;
    std::fs::write(&acl, &example).unwrap();
    let reloaded = async {
        loop {
            let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
            if text.lines().any(|l| l == "roomgate_acl_reloads_total 1") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reloaded)
        .await
        .expect("the list with alice back is in service");
    assert!(
        !copy_still_works(&app, &alices).await,
        "the session from before she was dropped stays ended"
    );
    assert!(copy_still_works(&app, &bobs).await, "bob was never dropped");
    app.stop().await;
}
