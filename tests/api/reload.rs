//! The ACL file is watched: an edit on disk is in force within 2 s, a broken, empty or
//! half-written file keeps the last good list, and `/readyz` tells which.

use std::io::Write;
use std::time::Duration;

use reqwest::StatusCode;
use roomgate::startup::Overrides;
use serde_json::Value;

use crate::helpers::*;

const CAROL_PHONE: &str = "+14155550123";
const DAVE_PHONE: &str = "+14155550124";
/// How long a change may take to be in force (the watcher promises 2 s).
const WITHIN: Duration = Duration::from_secs(3);
/// The public `/readyz` when the file was refused: no path, no detail.
const NOT_READY: &str = "not ready: the ACL file was rejected; the last good list is in service";

fn with_user(base: &str, user: &str, phone: &str, rooms: &str) -> String {
    format!("{base}\n[users.{user}]\nphone = \"{phone}\"\nrooms = {rooms}\n")
}

/// An app whose limits let the same browser sign in over and over while polling.
async fn spawn_reload_app() -> TestApp {
    let app = spawn_app_with(
        &[
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
            ("ROOMGATE_STARTS_PER_USER", "1000"),
            ("ROOMGATE_STARTS_PER_PHONE", "1000"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_HOUR", "1000"),
            ("ROOMGATE_SMS_BUDGET_PER_DAY", "1000"),
        ],
        Overrides::default(),
    )
    .await;
    mock_start_ok().mount(&app.verify).await;
    app
}

/// The phone numbers Verify has been asked to send a code to.
async fn codes_sent_to(app: &TestApp) -> Vec<String> {
    app.verify
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == START_PATH)
        .filter_map(|r| {
            form_pairs(r)
                .into_iter()
                .find(|(k, _)| k == "To")
                .map(|(_, v)| v)
        })
        .collect()
}

async fn sends_to(app: &TestApp, phone: &str) -> usize {
    codes_sent_to(app)
        .await
        .iter()
        .filter(|p| *p == phone)
        .count()
}

/// Sign in as `user` until Verify is asked to send a code to `phone`, for at most
/// [`WITHIN`]. Unknown users get the same answer and no SMS, so Verify is the witness.
async fn sign_in_reaches_verify(app: &TestApp, room: &str, user: &str, phone: &str) -> bool {
    let before = sends_to(app, phone).await;
    eventually(WITHIN, || async move {
        assert_is_redirect_to(
            &app.post_login(room, user).await,
            &format!("/rooms/{room}/verify"),
        );
        // The start runs in the background: give it a moment before asking Verify.
        eventually(Duration::from_millis(200), || async {
            sends_to(app, phone).await > before
        })
        .await
    })
    .await
}

/// A sign-in as `user` that reaches no Verify request within 300 ms.
async fn sign_in_sends_nothing(app: &TestApp, room: &str, user: &str, phone: &str) -> bool {
    let before = sends_to(app, phone).await;
    app.post_login(room, user).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sends_to(app, phone).await == before
}

async fn admin_readyz(app: &TestApp) -> (StatusCode, String) {
    let resp = app.admin_get("/readyz").await;
    (resp.status(), resp.text().await.unwrap())
}

async fn public_readyz(app: &TestApp) -> (StatusCode, String) {
    let resp = app.get("/readyz").await;
    (resp.status(), resp.text().await.unwrap())
}

async fn until_admin_readyz(app: &TestApp, status: StatusCode) -> (StatusCode, String) {
    poll_until(WITHIN, || async move {
        let got = admin_readyz(app).await;
        (got.0 == status, got)
    })
    .await
    .1
}

#[tokio::test]
async fn an_edit_on_disk_is_in_force_within_two_seconds() {
    let app = spawn_reload_app().await;
    assert!(sign_in_sends_nothing(&app, "standup", "carol", CAROL_PHONE).await);

    app.write_acl(&with_user(TEST_ACL, "carol", CAROL_PHONE, r#"["standup"]"#));

    assert!(
        sign_in_reaches_verify(&app, "standup", "carol", CAROL_PHONE).await,
        "carol's sign-in reached Verify after the edit"
    );
    assert_eq!(public_readyz(&app).await, (StatusCode::OK, "ready".into()));
    assert_eq!(admin_readyz(&app).await, (StatusCode::OK, "ready".into()));
    // Only the rooms given: carol may not join all-hands.
    assert!(sign_in_sends_nothing(&app, "all-hands", "carol", CAROL_PHONE).await);
}

#[tokio::test]
async fn a_replaced_file_is_picked_up_too() {
    // Editors and `roomgate acl` write a new file and rename it over the old one.
    let app = spawn_reload_app().await;
    let tmp = app.acl_path.with_file_name("acl.toml.new");
    std::fs::write(
        &tmp,
        with_user(TEST_ACL, "carol", CAROL_PHONE, r#"["standup"]"#),
    )
    .unwrap();
    std::fs::rename(&tmp, &app.acl_path).unwrap();
    assert!(sign_in_reaches_verify(&app, "standup", "carol", CAROL_PHONE).await);
}

#[tokio::test]
async fn a_broken_file_keeps_the_last_good_list() {
    let app = spawn_reload_app().await;
    // bob alone, with a bracket missing: were it loaded, alice would be gone.
    let broken = "[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"\n";
    app.write_acl(broken);

    let (status, detail) = until_admin_readyz(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{detail}");
    // The admin listener names the file, line and column.
    let located = format!("{}:3:", app.acl_path.display());
    let at = detail
        .find(&located)
        .unwrap_or_else(|| panic!("{located} not in {detail:?}"));
    let column: String = detail[at + located.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        column.parse::<u32>().is_ok_and(|c| c > 0),
        "a column after {located} in {detail:?}"
    );
    // The public one says only that it is not ready.
    assert_eq!(
        public_readyz(&app).await,
        (StatusCode::SERVICE_UNAVAILABLE, NOT_READY.into())
    );

    // The last good list is still in force: alice signs in, gets a token.
    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);

    // Fixed: ready again, and the new list is in force.
    app.write_acl(&with_user(TEST_ACL, "carol", CAROL_PHONE, r#"["standup"]"#));
    assert_eq!(
        until_admin_readyz(&app, StatusCode::OK).await,
        (StatusCode::OK, "ready".into())
    );
    assert_eq!(public_readyz(&app).await.0, StatusCode::OK);
    assert!(sign_in_reaches_verify(&app, "standup", "carol", CAROL_PHONE).await);
}

#[tokio::test]
async fn an_invalid_entry_keeps_the_last_good_list() {
    let app = spawn_reload_app().await;
    // Valid TOML, invalid ACL: one bad number, and carol added.
    let text = with_user(
        &TEST_ACL.replace(ALICE_PHONE, "555-0101"),
        "carol",
        CAROL_PHONE,
        r#"["standup"]"#,
    );
    app.write_acl(&text);
    let (status, detail) = until_admin_readyz(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{detail}");
    assert!(
        detail.contains(&format!(
            "{}:3:9: users.alice.phone",
            app.acl_path.display()
        )),
        "{detail}"
    );
    assert!(sign_in_sends_nothing(&app, "standup", "carol", CAROL_PHONE).await);
    assert!(sign_in_reaches_verify(&app, "standup", "alice", ALICE_PHONE).await);
}

/// The test list with dave added, cut inside dave's phone number: the first half
/// alone is not valid TOML.
fn dave_added_in_two_halves() -> (String, String) {
    let full = with_user(TEST_ACL, "dave", DAVE_PHONE, r#"["standup"]"#);
    let cut = full.find(DAVE_PHONE).unwrap() + 5;
    let (first, rest) = full.split_at(cut);
    assert!(toml::from_str::<toml::Table>(first).is_err());
    (first.to_owned(), rest.to_owned())
}

#[tokio::test]
async fn a_half_written_file_still_held_open_is_never_read() {
    let app = spawn_reload_app().await;
    let (first, rest) = dave_added_in_two_halves();

    let mut file = std::fs::File::create(&app.acl_path).unwrap();
    file.write_all(first.as_bytes()).unwrap();
    file.sync_all().unwrap();
    // Several times what a reload takes: the half file would have been read and
    // refused by now, and the list marked stale.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(admin_readyz(&app).await, (StatusCode::OK, "ready".into()));
    assert!(sign_in_reaches_verify(&app, "standup", "alice", ALICE_PHONE).await);
    file.write_all(rest.as_bytes()).unwrap();
    file.sync_all().unwrap();
    drop(file);

    assert!(
        sign_in_reaches_verify(&app, "standup", "dave", DAVE_PHONE).await,
        "the whole file was loaded once closed"
    );
    assert_eq!(admin_readyz(&app).await, (StatusCode::OK, "ready".into()));
}

#[tokio::test]
async fn a_file_written_in_two_halves_ends_up_loaded() {
    let app = spawn_reload_app().await;
    let (first, rest) = dave_added_in_two_halves();

    // A writer that closes the file between the halves (the watcher looks once a file
    // written in place is closed, so a half still held open is never read at all).
    let mut file = std::fs::File::create(&app.acl_path).unwrap();
    file.write_all(first.as_bytes()).unwrap();
    file.sync_all().unwrap();
    drop(file);
    // The pause lasts until the watcher has read the half file and refused it.
    let (status, detail) = until_admin_readyz(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{detail}");
    // Meanwhile the last good list is in force.
    assert!(sign_in_reaches_verify(&app, "standup", "alice", ALICE_PHONE).await);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&app.acl_path)
        .unwrap();
    file.write_all(rest.as_bytes()).unwrap();
    file.sync_all().unwrap();
    drop(file);

    assert!(
        sign_in_reaches_verify(&app, "standup", "dave", DAVE_PHONE).await,
        "the whole file was loaded"
    );
    assert_eq!(
        until_admin_readyz(&app, StatusCode::OK).await,
        (StatusCode::OK, "ready".into())
    );
}

#[tokio::test]
async fn an_empty_file_keeps_the_last_good_list() {
    let app = spawn_reload_app().await;
    app.write_acl("");
    let (status, detail) = until_admin_readyz(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{detail}");
    assert!(
        detail.contains(&app.acl_path.display().to_string()),
        "{detail}"
    );
    assert_eq!(
        public_readyz(&app).await,
        (StatusCode::SERVICE_UNAVAILABLE, NOT_READY.into())
    );
    assert!(sign_in_reaches_verify(&app, "standup", "alice", ALICE_PHONE).await);
    assert!(sign_in_reaches_verify(&app, "retro", "bob", "+447400123456").await);

    // The very file that was in force before: ready again, nothing else to load.
    app.write_acl(TEST_ACL);
    assert_eq!(
        until_admin_readyz(&app, StatusCode::OK).await,
        (StatusCode::OK, "ready".into())
    );
    assert_eq!(public_readyz(&app).await, (StatusCode::OK, "ready".into()));
}

#[tokio::test]
async fn removal_from_the_file_ends_a_live_session() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let csrf = app.room_csrf("standup").await;
    assert_eq!(
        app.post_token_with("standup", Some(&csrf)).await.status(),
        StatusCode::OK
    );

    // alice's block taken out of the real file.
    let without_alice: String = TEST_ACL
        .split("\n\n")
        .filter(|block| !block.contains("[users.alice]"))
        .collect::<Vec<_>>()
        .join("\n\n");
    assert!(without_alice.contains("[users.bob]") && !without_alice.contains("alice"));
    app.write_acl(&without_alice);

    // A removal waits for the file to stay put for a second: in force within three.
    let (refused, (status, body)) = poll_until(Duration::from_secs(3), || async {
        let resp = app.post_token_with("standup", Some(&csrf)).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        (status != StatusCode::OK, (status, body))
    })
    .await;
    assert!(refused, "alice still got tokens 3 s after her removal");
    assert!(body.get("token").is_none());
    // Her departure is recorded (ending her session) just before the new list is in
    // service: a request in between finds the session ended under the old list (401),
    // one after it finds her off the list (403).
    match status {
        StatusCode::FORBIDDEN => assert_eq!(body["error"], "not_allowed"),
        status => assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}"),
    }

    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms/standup/login""#), "{html}");
    assert!(!html.contains(r#"<meta name="csrf-token""#));
    // Not even the old header gets a token now.
    assert_eq!(
        app.post_token_with("standup", Some(&csrf)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A user taken off the list and put back (the same number) must sign in again: a
/// cookie from before the removal (a copy, or one on a device that made no request
/// meanwhile, so it was never cleared) stays ended. So does one for a room the list
/// took from its user; one for a room kept throughout holds, as do other users'.
#[tokio::test]
async fn a_session_from_before_a_removal_stays_ended_when_the_user_is_listed_again() {
    let mut app = spawn_reload_app().await;
    mock_check("approved").mount(&app.verify).await;
    app.sign_in("standup", "alice").await;
    let alice_csrf = app.room_csrf("standup").await;
    // bob (every room) in a browser of his own.
    let alice = std::mem::replace(&mut app.client, new_client());
    app.sign_in("standup", "bob").await;
    let bob_csrf = app.room_csrf("standup").await;
    let bob = std::mem::replace(&mut app.client, alice);

    let acl = app.acl.clone();
    let may_join = move |user: &str, room: &str| {
        let user = roomgate::domain::Username::parse(user).unwrap();
        let room = roomgate::domain::RoomName::parse(room).unwrap();
        acl.load().allowed(&user, &room).is_some()
    };
    let without_alice: String = TEST_ACL
        .split("\n\n")
        .filter(|block| !block.contains("[users.alice]"))
        .collect::<Vec<_>>()
        .join("\n\n");
    app.write_acl(&without_alice);
    assert!(eventually(WITHIN, || async { !may_join("alice", "standup") }).await);
    app.write_acl(TEST_ACL);
    assert!(eventually(WITHIN, || async { may_join("alice", "standup") }).await);

    // Neither browser made a request while the list was without alice.
    let resp = app.post_token_with("standup", Some(&alice_csrf)).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "alice's old session"
    );
    let html = app.get_room("standup").await.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms/standup/login""#), "{html}");
    let alice = std::mem::replace(&mut app.client, bob.clone());
    let resp = app.post_token_with("standup", Some(&bob_csrf)).await;
    app.client = alice;
    assert_eq!(resp.status(), StatusCode::OK, "bob was not touched");

    // Signed in again, at once, she holds.
    app.sign_in("standup", "alice").await;
    let alice_csrf = app.room_csrf("standup").await;
    assert_eq!(
        app.post_token_with("standup", Some(&alice_csrf))
            .await
            .status(),
        StatusCode::OK
    );

    // Then alice loses all-hands and keeps standup; bob loses "*", which gave him
    // standup too.
    let narrowed = TEST_ACL
        .replace(r#"["standup", "all-hands"]"#, r#"["standup"]"#)
        .replace(r#"rooms = ["*"]"#, r#"rooms = ["standup"]"#);
    app.write_acl(&narrowed);
    assert!(eventually(WITHIN, || async { !may_join("alice", "all-hands") }).await);
    assert_eq!(
        app.post_token_with("standup", Some(&alice_csrf))
            .await
            .status(),
        StatusCode::OK,
        "a room kept throughout holds"
    );
    app.client = bob;
    let resp = app.post_token_with("standup", Some(&bob_csrf)).await;
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "losing \"*\" ends bob's standup too: sooner than needed, never later"
    );
}

/// The list a start put in service is on record before anyone signs in, so an edit
/// made while the service was down (or that a crash kept from being reloaded) is
/// accounted for; each reload after is recorded as well.
#[tokio::test]
async fn the_list_in_service_is_audited_at_start_up_and_at_each_reload() {
    let app = spawn_reload_app().await;
    let users = TEST_ACL.matches("[users.").count();
    let records = app.audit_records();
    let first = records.first().expect("a record at start-up");
    assert_eq!(first["event"], "acl_reloaded", "{records:?}");
    assert_eq!(
        first["detail"],
        format!("{users} users (at start-up)"),
        "{records:?}"
    );

    app.write_acl(&with_user(TEST_ACL, "carol", CAROL_PHONE, r#"["standup"]"#));
    assert!(sign_in_reaches_verify(&app, "standup", "carol", CAROL_PHONE).await);
    let reloaded = app.audit_events("acl_reloaded");
    assert_eq!(reloaded.len(), 2, "{reloaded:?}");
    assert_eq!(reloaded[1]["detail"], format!("{} users", users + 1));
}
