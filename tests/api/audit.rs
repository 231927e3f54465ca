//! The audit log: every step of a sign-in on disk before the response, phone numbers
//! only sealed with the audit key, and `audit show` opening them with that key only.

use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use roomgate::audit::{AuditKey, ShowOptions};
use roomgate::startup::Overrides;
use serde_json::Value;

use crate::helpers::*;

/// Every way alice's number could be written out in the clear.
const ALICE_NUMBER_FORMS: [&str; 3] = ["+14155550101", "14155550101", "4155550101"];

fn random_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

fn one(app: &TestApp, event: &str) -> Value {
    let records = app.audit_events(event);
    assert_eq!(records.len(), 1, "one {event} in:\n{}", app.audit_text());
    records.into_iter().next().unwrap()
}

fn assert_alice_in_standup(record: &Value) {
    assert_eq!(record["username"], "alice", "{record}");
    assert_eq!(record["room"], "standup", "{record}");
    assert_eq!(record["ip"], "127.0.0.1", "{record}");
}

fn assert_no_plain_number(text: &str) {
    for form in ALICE_NUMBER_FORMS {
        assert!(!text.contains(form), "{form} in the audit log:\n{text}");
    }
}

fn show(app: &TestApp, key: Option<AuditKey>) -> String {
    let mut out = Vec::new();
    roomgate::audit::show(
        ShowOptions {
            file: app.audit_path(),
            since: None,
            user: None,
            room: None,
            key,
        },
        &mut out,
    )
    .expect("audit show reads the log");
    String::from_utf8(out).unwrap()
}

/// The `audit show` lines of one event.
fn lines_of<'a>(shown: &'a str, event: &str) -> Vec<&'a str> {
    shown
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(event))
        .collect()
}

#[tokio::test]
async fn a_sign_in_is_audited_step_by_step_with_the_number_sealed() {
    let key = random_key();
    let app = spawn_app_with(&[("ROOMGATE_AUDIT_KEY", &key)], Overrides::default()).await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;

    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    // On disk before the response: read at once, no waiting.
    let requested = one(&app, "sign_in_requested");
    assert_alice_in_standup(&requested);
    assert_eq!(requested["detail"], "on_list");
    assert!(requested["phone"]["ct"].is_string(), "{requested}");

    // The code is sent in the background, and recorded once Verify has answered.
    let (sent, text) = poll_until(Duration::from_secs(2), || async {
        let text = app.audit_text();
        (text.contains(r#""event":"code_sent""#), text)
    })
    .await;
    assert!(sent, "no code_sent record:\n{text}");
    let code_sent = one(&app, "code_sent");
    assert_alice_in_standup(&code_sent);
    assert!(code_sent["phone"]["ct"].is_string(), "{code_sent}");

    assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
    let approved = one(&app, "check_approved");
    assert_alice_in_standup(&approved);
    // The number the code proved, sealed, and how (as a passkey's says method=passkey).
    assert!(approved["phone"]["ct"].is_string(), "{approved}");
    assert_eq!(approved["detail"], "method=code", "{approved}");

    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_alice_in_standup(&one(&app, "token_minted"));

    let text = app.audit_text();
    assert_no_plain_number(&text);
    let order: Vec<String> = app
        .audit_records()
        .iter()
        .map(|r| r["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        order,
        [
            "acl_reloaded",
            "sign_in_requested",
            "code_sent",
            "check_approved",
            "token_minted"
        ]
    );

    // `audit show` opens the number with the key…
    let with_key = show(&app, Some(AuditKey::from_base64(&key).unwrap()));
    for event in ["sign_in_requested", "code_sent", "check_approved"] {
        let lines = lines_of(&with_key, event);
        assert_eq!(lines.len(), 1, "{with_key}");
        assert!(
            lines[0].contains(&format!("phone={ALICE_PHONE}")),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains("user=alice room=standup"), "{}", lines[0]);
    }
    assert_eq!(lines_of(&with_key, "token_minted").len(), 1, "{with_key}");

    // …and not without it, nor with another key.
    let without = show(&app, None);
    // With the list put in service at start-up.
    assert_eq!(without.lines().count(), 5, "{without}");
    assert_no_plain_number(&without);
    assert_eq!(without.matches("phone=<encrypted>").count(), 3, "{without}");
    let (mut other, mut warnings) = (Vec::new(), Vec::new());
    roomgate::audit::show_with_warnings(
        ShowOptions {
            file: app.audit_path(),
            since: None,
            user: None,
            room: None,
            key: Some(AuditKey::from_base64(&random_key()).unwrap()),
        },
        &mut other,
        &mut warnings,
    )
    .unwrap();
    let other = String::from_utf8(other).unwrap();
    assert_no_plain_number(&other);
    assert_eq!(other.matches("phone=<wrong key").count(), 3, "{other}");
    let warnings = String::from_utf8(warnings).unwrap();
    assert!(warnings.contains("sealed with another key"), "{warnings}");
}

#[tokio::test]
async fn without_an_audit_key_numbers_are_left_out() {
    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    let (sent, text) = poll_until(Duration::from_secs(2), || async {
        let text = app.audit_text();
        (text.contains(r#""event":"code_sent""#), text)
    })
    .await;
    assert!(sent, "no code_sent record:\n{text}");
    assert_no_plain_number(&text);
    assert!(!text.contains(r#""phone""#), "{text}");
    assert_alice_in_standup(&one(&app, "check_approved"));
}

#[tokio::test]
async fn unknown_users_are_audited_without_a_number_or_a_send() {
    let key = random_key();
    let app = spawn_app_with(&[("ROOMGATE_AUDIT_KEY", &key)], Overrides::default()).await;
    app.post_login("standup", "mallory").await;
    let requested = one(&app, "sign_in_requested");
    assert_eq!(requested["username"], "mallory");
    assert_eq!(requested["detail"], "not_on_list");
    assert!(requested.get("phone").is_none(), "{requested}");
    assert_requests_settle_at(&app.verify, START_PATH, 0).await;
    assert!(app.audit_events("code_sent").is_empty());
}

#[tokio::test]
async fn a_refused_acl_edit_writes_no_number_to_the_audit_log() {
    let key = random_key();
    let app = spawn_app_with(&[("ROOMGATE_AUDIT_KEY", &key)], Overrides::default()).await;
    // alice's number edited with one digit too many: not a valid number, refused.
    app.write_acl(&TEST_ACL.replace(ALICE_PHONE, "+141555501011"));
    let (rejected, text) = poll_until(Duration::from_secs(3), || async {
        let text = app.audit_text();
        (text.contains(r#""event":"acl_rejected""#), text)
    })
    .await;
    assert!(rejected, "no acl_rejected record:\n{text}");
    assert_no_plain_number(&text);
}

/// The issue's flood: 20,000 anonymous sign-ins from one address, refused by the
/// per-address limit, while alice signs in from another. The log grows by a few lines,
/// and every step of alice's sign-in is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_sign_ins_costs_a_few_lines_and_hides_no_sign_in() {
    const FLOOD: usize = 20_000;
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1"),
        ],
        Overrides::default(),
    )
    .await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;
    let before = app.audit_records().len();
    let started = std::time::Instant::now();

    let flood = {
        let app = &app;
        async move {
            app.flood_logins("198.51.100.66", "standup", "mallory", FLOOD, 64)
                .await
        }
    };
    // Alice, from 127.0.0.1 (no X-Forwarded-For), in the middle of it.
    let alice = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_is_redirect_to(
            &app.post_login("standup", "alice").await,
            "/rooms/standup/verify",
        );
        assert_is_redirect_to(&app.post_code("standup", "123456").await, "/rooms/standup");
        assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    };
    let (statuses, ()) = tokio::join!(flood, alice);
    let elapsed = started.elapsed();

    // The first one got through (the limit allows one a minute); the rest were refused.
    assert_eq!(statuses.values().sum::<usize>(), FLOOD);
    assert_eq!(
        statuses.get(&StatusCode::TOO_MANY_REQUESTS).copied(),
        Some(FLOOD - 1),
        "{statuses:?}"
    );

    let records = app.audit_records();
    let added = records.len() - before;
    assert!(added <= 100, "{added} lines for {FLOOD} refusals");
    // Every security record of alice's sign-in is there, one line each.
    let alices: Vec<&str> = records
        .iter()
        .filter(|r| r["username"] == "alice")
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    for event in [
        "sign_in_requested",
        "code_sent",
        "check_approved",
        "token_minted",
    ] {
        assert_eq!(
            alices.iter().filter(|e| **e == event).count(),
            1,
            "{event} in {alices:?}"
        );
    }
    // And the refusals are all accounted for once the summaries are written.
    assert_eq!(app.audit_count("limited").await, (FLOOD - 1) as u64);
    let limited = app.audit_events("limited");
    assert!(limited.len() <= 3, "{limited:?}");
    assert!(
        limited
            .iter()
            .all(|r| r["ip"] == "198.51.100.66" && r["detail"] == "login_per_ip"),
        "{limited:?}"
    );
    eprintln!("{FLOOD} refused sign-ins in {elapsed:?}");
}

/// A log that can't be written (`/dev/full` fails every write with ENOSPC) turns new
/// sign-ins away with the busy page, known name or not, and sends no code.
#[tokio::test]
async fn a_full_disk_refuses_new_sign_ins_as_busy() {
    // The operator is told once, however many sign-ins are refused.
    let hooks = alert_hooks(&["audit_log_unavailable"]).await;
    let webhook = format!("{}/alerts", hooks.uri());
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_AUDIT_LOG", "/dev/full"),
            ("ROOMGATE_ALERT_WEBHOOK_URL", &webhook),
            ("ROOMGATE_ALERT_WEBHOOK_SECRET", ALERT_SECRET),
        ],
        Overrides::default(),
    )
    .await;
    mock_start_ok().expect(0).mount(&app.verify).await;

    let known = comparable(app.post_login_afresh("standup", "alice").await).await;
    let unknown = comparable(app.post_login_afresh("standup", "mallory").await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(known.2.contains("<h1>Service busy</h1>"), "{}", known.2);
    // More than the address's 20 sign-ins a minute and alice's 3 codes: a refusal for
    // the log spends no limit, so it stays "busy", never "too many".
    for _ in 0..25 {
        assert_notice(
            app.post_login_afresh("standup", "alice").await,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(30),
            "Service busy",
        )
        .await;
    }
    // The rest of the site still answers.
    assert_eq!(app.get_room("standup").await.status(), StatusCode::OK);
    assert_requests_settle_at(&app.verify, START_PATH, 0).await;
    // Sent in the background: one alert, checked when `hooks` is dropped.
    assert_requests_settle_at(&hooks, "/alerts", 1).await;
}

/// A flood that changes the name it types every time is a new fold key every time: past
/// `ROOMGATE_AUDIT_FOLD_KEYS` its refusals are only counted, so the lines stay few.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_ever_new_names_is_bounded_by_the_fold_keys() {
    const FLOOD: usize = 3_000;
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1"),
            ("ROOMGATE_AUDIT_FOLD_KEYS", "10"),
        ],
        Overrides::default(),
    )
    .await;
    let statuses = app
        .flood_logins_as(
            "198.51.100.67",
            "standup",
            |i| format!("guest{i}"),
            FLOOD,
            64,
        )
        .await;
    assert_eq!(
        statuses.get(&StatusCode::TOO_MANY_REQUESTS).copied(),
        Some(FLOOD - 1),
        "{statuses:?}"
    );
    // Ten names written at once, the rest only counted.
    let limited = app.audit_events("limited");
    assert_eq!(limited.len(), 10, "{limited:?}");
    assert_eq!(app.audit_count("limited").await, (FLOOD - 1) as u64);
    let overflow: Vec<_> = app
        .audit_events("limited")
        .into_iter()
        .filter(|r| r["detail"] == "overflow")
        .collect();
    assert_eq!(overflow.len(), 1, "{overflow:?}");
    assert_eq!(overflow[0]["count"], (FLOOD - 11) as u64);
    assert!(app.audit_records().len() <= 25, "{}", app.audit_text());
}

/// The audit log failing under way (here a pipe to a log shipper that goes away, so
/// every write fails with `EPIPE`): a code approved by Verify is not granted, nor a
/// token handed out, unrecorded. Both answer "busy".
#[tokio::test]
async fn no_approval_or_token_is_granted_unrecorded() {
    let pipe = AuditPipe::open();
    let mut app = spawn_app_with(
        &[
            ("ROOMGATE_AUDIT_LOG", &pipe.path()),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
        ],
        Overrides::default(),
    )
    .await;
    // alice is in; bob has his code, and so has alice in another browser.
    app.sign_in("standup", "alice").await;
    let alice = app.client.clone();
    let _start = mock_start_ok().mount_as_scoped(&app.verify).await;
    let _check = mock_check("approved").mount_as_scoped(&app.verify).await;
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let alice_again = app.client.clone();
    assert_is_redirect_to(
        &app.post_login_afresh("standup", "bob").await,
        "/rooms/standup/verify",
    );
    assert_requests_settle_at(&app.verify, START_PATH, 3).await;
    let before = pipe.shipped();
    assert!(before.contains(r#""event":"check_approved""#), "{before}");

    pipe.close().await;

    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.text().await.unwrap().contains("<h1>Service busy</h1>"));
    assert_eq!(
        requests_to(&app.verify, CHECK_PATH).await,
        2,
        "Verify approved it"
    );
    assert_json(
        app.post_token("standup").await,
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"error": "not_verified"}),
    )
    .await;
    // Nor is it counted as a sign-in: alice's first is the only one.
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("roomgate_sign_ins_approved_total{method=\"code\"} 1\n"),
        "{metrics}"
    );

    // The log known to be down, a code is not even checked (Verify would use it up):
    // busy, and the same code may be tried again later.
    app.client = alice_again;
    let resp = app.post_code("standup", "123456").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(requests_to(&app.verify, CHECK_PATH).await, 2);

    // A load balancer sends sign-ins elsewhere meanwhile.
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.text().await.unwrap(),
        "not ready: the audit log cannot be written"
    );

    app.client = alice;
    let resp = app.post_token("standup").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    assert_json(
        resp,
        StatusCode::SERVICE_UNAVAILABLE,
        serde_json::json!({"error": "unavailable"}),
    )
    .await;
}
