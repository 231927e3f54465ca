//! Passkeys (issue 11): a participant who signed in by SMS registers one and signs in
//! with it later, with no Verify call. A software authenticator plays the browser.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use roomgate::startup::Overrides;
use serde_json::Value;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::timing::median;

const ROOM: &str = "standup";

/// Asking for passkey options counts against the name's starts like asking for a
/// code; these tests also ask for several codes at once, so the cooldown is off.
async fn spawn(vars: &[(&str, &str)]) -> TestApp {
    let mut all = vec![
        ("ROOMGATE_PUBLIC_URL", PASSKEY_ORIGIN),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
    ];
    all.extend_from_slice(vars);
    spawn_app_with(&all, Overrides::default()).await
}

fn origin() -> Url {
    Url::parse(PASSKEY_ORIGIN).unwrap()
}

/// A fresh software authenticator that claims user verification (the soft one can't
/// really verify a user; roomgate requires the flag).
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

/// Sign `username` in by SMS and register a passkey in `key`: its id.
async fn register(app: &TestApp, key: &mut SoftPasskey, username: &str) -> String {
    app.sign_in(ROOM, username).await;
    let csrf = app.room_csrf(ROOM).await;
    register_signed_in(app, key, &csrf).await
}

/// Register a passkey in `key` for the member signed in (`csrf`: the room page's).
async fn register_signed_in(app: &TestApp, key: &mut SoftPasskey, csrf: &str) -> String {
    let start = app.post_passkey_register_start(ROOM, csrf).await;
    assert_eq!(start.status(), StatusCode::OK);
    let start = json(start).await;
    let options = serde_json::from_value(serde_json::json!({ "publicKey": start["publicKey"] }))
        .expect("registration options webauthn-rs can read");
    let credential = key.do_registration(origin(), options).expect("registers");
    let credential = serde_json::to_value(&credential).unwrap();
    let done = app
        .post_passkey_register_finish(ROOM, csrf, start["ceremony"].as_str().unwrap(), &credential)
        .await;
    assert_eq!(done.status(), StatusCode::CREATED);
    json(done).await["id"].as_str().unwrap().to_owned()
}

/// Options for `username` from the join form of a signed-out client: (ceremony, the
/// options, the join form's CSRF token).
async fn options(app: &TestApp, username: &str) -> (String, Value, String) {
    let csrf = app.csrf_token(ROOM).await;
    let resp = app.post_passkey_options(ROOM, username, &csrf).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(resp).await;
    (
        body["ceremony"].as_str().unwrap().to_owned(),
        body["publicKey"].clone(),
        csrf,
    )
}

fn allowed_ids(public_key: &Value) -> Vec<String> {
    public_key["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The authenticator's answer to `public_key`, or `None` when it holds none of the
/// credentials asked for.
fn assert_with(key: &mut SoftPasskey, public_key: &Value) -> Option<Value> {
    let options = serde_json::from_value(serde_json::json!({ "publicKey": public_key })).unwrap();
    key.do_authentication(origin(), options)
        .ok()
        .map(|c| serde_json::to_value(&c).unwrap())
}

/// "Use a passkey" from start to end with `key`: the finish's response.
async fn sign_in_with(app: &TestApp, key: &mut SoftPasskey, username: &str) -> reqwest::Response {
    let (ceremony, public_key, csrf) = options(app, username).await;
    let assertion = assert_with(key, &public_key).expect("the authenticator has it");
    app.post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await
}

/// Every Verify request from now on fails the test (checked when the guard drops).
async fn no_verify_calls(app: &TestApp) -> wiremock::MockGuard {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount_as_scoped(&app.verify)
        .await
}

#[tokio::test]
async fn register_after_a_code_then_sign_in_with_no_verify_call() {
    let app = spawn(&[]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;

    // The member sees it on the room page's list.
    let listed = json(app.get_passkeys(ROOM).await).await;
    assert_eq!(listed["passkeys"][0]["id"], id.as_str());
    assert!(listed["passkeys"][0]["last_used"].is_null());
    assert_eq!(app.post_logout(ROOM).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED,
        "signed out"
    );

    let _verify = no_verify_calls(&app).await;
    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    assert_eq!(allowed_ids(&public_key), std::slice::from_ref(&id));
    assert_eq!(public_key["userVerification"], "required");
    assert_eq!(public_key["rpId"], "localhost");
    let assertion = assert_with(&mut key, &public_key).expect("the authenticator has it");
    let done = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(session_cookie(&done).is_some(), "a new session cookie");
    assert_eq!(json(done).await["redirect"], "/rooms/standup");

    // The same verified session a code gives: a token for this room.
    let token = app.post_token(ROOM).await;
    assert_eq!(token.status(), StatusCode::OK);
    assert_eq!(json(token).await["identity"], "alice");
    // The credential was updated after the sign-in (webauthn-rs's counter) and saved.
    let listed = json(app.get_passkeys(ROOM).await).await;
    assert!(listed["passkeys"][0]["last_used"].is_u64(), "{listed}");

    // Audited and counted with the method.
    app.audit.flush().await.unwrap();
    let approvals = app.audit_events("check_approved");
    assert_eq!(approvals.last().unwrap()["detail"], "method=passkey");
    assert_eq!(approvals.last().unwrap()["username"], "alice");
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("roomgate_sign_ins_approved_total{method=\"passkey\"} 1"));
    assert!(metrics.contains("roomgate_sign_ins_approved_total{method=\"code\"} 1"));

    // The counter was saved: the next sign-in works too.
    app.post_logout(ROOM).await;
    let again = sign_in_with(&app, &mut key, "alice").await;
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn registration_excludes_the_users_passkeys_and_they_may_be_removed() {
    let app = spawn(&[]).await;
    let mut first = authenticator();
    let id = register(&app, &mut first, "alice").await;
    let csrf = app.room_csrf(ROOM).await;
    let start = json(app.post_passkey_register_start(ROOM, &csrf).await).await;
    let excluded: Vec<&str> = start["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(excluded, [id.as_str()]);
    assert_eq!(
        start["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );

    // A second authenticator adds a second passkey.
    let mut second = authenticator();
    let creation =
        serde_json::from_value(serde_json::json!({ "publicKey": start["publicKey"] })).unwrap();
    let credential =
        serde_json::to_value(second.do_registration(origin(), creation).unwrap()).unwrap();
    let ceremony = start["ceremony"].as_str().unwrap();
    let done = app
        .post_passkey_register_finish(ROOM, &csrf, ceremony, &credential)
        .await;
    assert_eq!(done.status(), StatusCode::CREATED);
    // The registration ceremony was used: the same answer again is refused.
    let reused = app
        .post_passkey_register_finish(ROOM, &csrf, ceremony, &credential)
        .await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json(app.get_passkeys(ROOM).await).await["passkeys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The owner removes the first one; it no longer signs in.
    let removed = app.post_passkey_remove(ROOM, &id, &csrf).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(
        json(app.get_passkeys(ROOM).await).await["passkeys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.post_passkey_remove(ROOM, &id, &csrf).await.status(),
        StatusCode::NOT_FOUND
    );
    app.audit.flush().await.unwrap();
    assert_eq!(app.audit_events("passkey_registered").len(), 2);
    assert_eq!(app.audit_events("passkey_revoked").len(), 1);
    app.post_logout(ROOM).await;
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(!allowed_ids(&public_key).contains(&id));
    assert!(assert_with(&mut first, &public_key).is_none());
}

/// Revoking a passkey ends the sessions it opened (it only stopped the next sign-in):
/// a stolen passkey's session goes with it. Sessions opened by a code, or by another
/// passkey, stay.
#[tokio::test]
async fn revoking_a_passkey_ends_the_sessions_it_opened() {
    let mut app = spawn(&[]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;
    let owner = app.client.clone();
    // Signed in with the passkey twice, elsewhere.
    let mut stolen = Vec::new();
    for _ in 0..2 {
        app.client = new_client();
        let signed_in = sign_in_with(&app, &mut key, "alice").await;
        assert_eq!(signed_in.status(), StatusCode::OK);
        let csrf = app.room_csrf(ROOM).await;
        assert_eq!(
            app.post_token_with(ROOM, Some(&csrf)).await.status(),
            StatusCode::OK
        );
        stolen.push((app.client.clone(), csrf));
    }

    // The owner, signed in by code, removes it; their own session stays.
    app.client = owner;
    let csrf = app.room_csrf(ROOM).await;
    let removed = app.post_passkey_remove(ROOM, &id, &csrf).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(app.post_token(ROOM).await.status(), StatusCode::OK);

    // One gets no token; the other's room page is the join form again.
    let [(first, first_csrf), (second, _)] = <[_; 2]>::try_from(stolen).unwrap();
    app.client = first;
    assert_json(
        app.post_token_with(ROOM, Some(&first_csrf)).await,
        StatusCode::UNAUTHORIZED,
        serde_json::json!({"error": "not_verified"}),
    )
    .await;
    app.client = second;
    let page = app.get_room(ROOM).await.text().await.unwrap();
    assert!(page.contains("action=\"/rooms/standup/login\""), "{page}");
}

/// A session opened by a passkey can't register another: a stolen passkey would
/// otherwise leave one of the thief's behind when it is revoked. A code proves the
/// number, and its session may; the room page says so instead of offering the button.
#[tokio::test]
async fn a_session_opened_by_a_passkey_adds_no_other() {
    let mut app = spawn(&[]).await;
    let mut key = authenticator();
    let own = register(&app, &mut key, "alice").await;
    let code_page = app.get_room(ROOM).await.text().await.unwrap();
    assert!(!code_page.contains("data-needs-code"), "{code_page}");
    let code_session = app.client.clone();
    app.client = new_client();
    assert_eq!(
        sign_in_with(&app, &mut key, "alice").await.status(),
        StatusCode::OK
    );
    let csrf = app.room_csrf(ROOM).await;
    assert_json(
        app.post_passkey_register_start(ROOM, &csrf).await,
        StatusCode::FORBIDDEN,
        serde_json::json!({"error": "code_required"}),
    )
    .await;
    let page = app.get_room(ROOM).await.text().await.unwrap();
    assert!(
        page.contains("data-needs-code=\"To add another passkey, sign in with a code.\""),
        "{page}"
    );
    // Nor does it finish a registration the code's session began.
    let by_passkey = app.client.clone();
    app.client = code_session.clone();
    let code_csrf = app.room_csrf(ROOM).await;
    let start = json(app.post_passkey_register_start(ROOM, &code_csrf).await).await;
    let options =
        serde_json::from_value(serde_json::json!({ "publicKey": start["publicKey"] })).unwrap();
    let credential =
        serde_json::to_value(authenticator().do_registration(origin(), options).unwrap()).unwrap();
    app.client = by_passkey.clone();
    assert_json(
        app.post_passkey_register_finish(
            ROOM,
            &csrf,
            start["ceremony"].as_str().unwrap(),
            &credential,
        )
        .await,
        StatusCode::FORBIDDEN,
        serde_json::json!({"error": "code_required"}),
    )
    .await;
    // Nor removes the user's others (a thief with one passkey would take the owner's
    // others away); its own it may.
    app.client = code_session;
    let other = register_signed_in(&app, &mut authenticator(), &code_csrf).await;
    app.client = by_passkey;
    assert_json(
        app.post_passkey_remove(ROOM, &other, &csrf).await,
        StatusCode::FORBIDDEN,
        serde_json::json!({"error": "code_required"}),
    )
    .await;
    assert_eq!(
        app.post_passkey_remove(ROOM, &own, &csrf).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn registration_needs_a_verified_session_and_the_csrf_header() {
    let app = spawn(&[]).await;
    let csrf = app.csrf_token(ROOM).await;
    let anonymous = app.post_passkey_register_start(ROOM, &csrf).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    app.sign_in(ROOM, "alice").await;
    let wrong = app.post_passkey_register_start(ROOM, "not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let wrong = app
        .post_passkey_options(ROOM, "alice", "not-the-token")
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
}

/// A ceremony is its session's: its id and challenge are in the page, but an answer
/// to it sent with another session (another browser, a stolen assertion) finishes
/// nothing, and the ceremony is gone; the session that asked can start again.
#[tokio::test]
async fn a_ceremony_is_finished_only_by_the_session_that_asked_for_it() {
    let mut app = spawn(&[]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    let (ceremony, public_key, _) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();
    let victim = std::mem::replace(&mut app.client, new_client());
    let csrf = app.csrf_token(ROOM).await;
    let elsewhere = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(elsewhere).await["error"], "passkey_refused");
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The ceremony was left for its own session, which finishes it.
    app.client = victim;
    let own_csrf = app.csrf_token(ROOM).await;
    assert_eq!(
        app.post_passkey_finish(ROOM, &own_csrf, &ceremony, &assertion)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_replayed_assertion_and_a_reused_ceremony_are_refused() {
    let app = spawn(&[]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;

    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();
    let first = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    app.post_logout(ROOM).await;

    // The same ceremony again, with the same (valid) answer: used once already.
    let csrf = app.csrf_token(ROOM).await;
    let reused = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(reused).await["error"], "passkey_refused");

    // The captured answer replayed against a new ceremony: its challenge is not this one.
    let (fresh, _, csrf) = options(&app, "alice").await;
    let replayed = app
        .post_passkey_finish(ROOM, &csrf, &fresh, &assertion)
        .await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED,
        "no session from either"
    );
}

/// The JSON's structure without its values: keys, and for arrays the distinct shapes
/// of their elements (a name may be answered with one credential or two).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => {
            let mut shapes: Vec<Value> = items.iter().map(shape).collect();
            shapes.sort_by_key(|s| s.to_string());
            shapes.dedup();
            Value::Array(shapes)
        }
        Value::String(_) => Value::String("string".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Null => Value::Null,
    }
}

/// What must match between a known and an unknown name: status, the headers (cookies
/// included, by name and attributes) and the body's shape.
type Observed = (StatusCode, BTreeMap<String, String>, Value);

async fn observed(resp: reqwest::Response) -> Observed {
    let status = resp.status();
    let headers = resp
        .headers()
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "content-length"))
        .map(|(name, value)| {
            let value = value.to_str().unwrap();
            let value = match name.as_str() {
                "set-cookie" => value.split_once(';').map(|x| x.1).unwrap_or("").to_owned(),
                _ => value.to_owned(),
            };
            (name.to_string(), value)
        })
        .collect();
    let body: Value = resp.json().await.unwrap();
    (status, headers, shape(&body))
}

#[tokio::test]
async fn known_and_unknown_names_get_the_same_answers_in_the_same_time() {
    const ROUNDS: usize = 30;
    let app = spawn(&[
        ("ROOMGATE_STARTS_PER_USER", "1000"),
        ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1000"),
        ("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", "1000"),
        ("ROOMGATE_LOCKOUT_FAILURES", "1000"),
    ])
    .await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    let csrf = app.csrf_token(ROOM).await;

    let mut times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut seen: BTreeMap<&str, Vec<Observed>> = BTreeMap::new();
    let mut ids: BTreeMap<&str, Vec<Vec<String>>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            ["alice", "mallory"]
        } else {
            ["mallory", "alice"]
        };
        for who in order {
            let started = Instant::now();
            let resp = app.post_passkey_options(ROOM, who, &csrf).await;
            times.entry(who).or_default().push(started.elapsed());
            let (status, headers, body_shape) = observed(resp).await;
            seen.entry(who)
                .or_default()
                .push((status, headers, body_shape));
            // Asked again, an unknown name shows the same credential ids, as a real one does.
            let (_, public_key, _) = options(&app, who).await;
            ids.entry(who).or_default().push(allowed_ids(&public_key));
        }
    }
    let (known, unknown) = (&seen["alice"][0], &seen["mallory"][0]);
    assert_eq!(known.0, StatusCode::OK);
    assert_eq!(known, unknown, "status, headers, cookies and shape");
    for who in ["alice", "mallory"] {
        assert!(
            seen[who].iter().all(|s| s == known),
            "{who} answered alike each time"
        );
        assert!(
            ids[who].windows(2).all(|w| w[0] == w[1]),
            "{who}'s ids are stable"
        );
    }
    assert!(!known.1.contains_key("set-cookie"), "options set no cookie");
    let (k, u) = (
        median(times["alice"].clone()),
        median(times["mallory"].clone()),
    );
    let gap = k.abs_diff(u);
    assert!(
        gap < Duration::from_millis(50),
        "median options time: known {k:?}, unknown {u:?}"
    );

    // Finishing: a wrong answer for either name looks the same.
    let garbage = serde_json::json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key",
        "response": { "authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA" } });
    let mut finish_times: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut finished: BTreeMap<&str, Observed> = BTreeMap::new();
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 {
            ["alice", "mallory"]
        } else {
            ["mallory", "alice"]
        };
        for who in order {
            let (ceremony, _, csrf) = options(&app, who).await;
            let started = Instant::now();
            let resp = app
                .post_passkey_finish(ROOM, &csrf, &ceremony, &garbage)
                .await;
            finish_times.entry(who).or_default().push(started.elapsed());
            let got = observed(resp).await;
            assert_eq!(got.0, StatusCode::UNAUTHORIZED);
            if let Some(first) = finished.get(who) {
                assert_eq!(first, &got);
            }
            finished.insert(who, got);
        }
    }
    assert_eq!(finished["alice"], finished["mallory"]);
    let (k, u) = (
        median(finish_times["alice"].clone()),
        median(finish_times["mallory"].clone()),
    );
    assert!(
        k.abs_diff(u) < Duration::from_millis(50),
        "median finish time: known {k:?}, unknown {u:?}"
    );
    // A well-formed, signed answer (alice's, to another ceremony) is parsed and its
    // signature checked for alice, and refused at once for mallory: a body made large
    // made that difference tell the names apart. Every refusal waits out the same
    // floor (`REFUSED_NOT_BEFORE`, 100 ms), well above that work.
    let (_, public_key, _) = options(&app, "alice").await;
    let signed = assert_with(&mut key, &public_key).unwrap();
    for who in ["alice", "mallory", "alice", "mallory"] {
        let (ceremony, _, csrf) = options(&app, who).await;
        let started = Instant::now();
        let resp = app
            .post_passkey_finish(ROOM, &csrf, &ceremony, &signed)
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{who}");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{who}: {:?}",
            started.elapsed()
        );
    }
    for who in ["alice", "mallory"] {
        assert!(
            finish_times[who]
                .iter()
                .all(|t| *t >= Duration::from_millis(100))
        );
    }
}

#[tokio::test]
async fn passkey_asks_count_against_the_names_code_limit() {
    let app = spawn(&[("ROOMGATE_STARTS_PER_USER", "2")]).await;
    let csrf = app.csrf_token(ROOM).await;
    for _ in 0..2 {
        let ok = app.post_passkey_options(ROOM, "alice", &csrf).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
    // The name's allowance is spent by passkeys: no code either.
    let code = app.post_login(ROOM, "alice").await;
    assert_eq!(code.status(), StatusCode::TOO_MANY_REQUESTS);
    let more = app.post_passkey_options(ROOM, "alice", &csrf).await;
    assert_eq!(more.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(more.headers().contains_key("retry-after"));
    assert_eq!(json(more).await["error"], "rate_limited");
    // The same for a name nobody has.
    for _ in 0..2 {
        app.post_passkey_options(ROOM, "mallory", &csrf).await;
    }
    let code = app.post_login(ROOM, "mallory").await;
    assert_eq!(code.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A passkey ask refused because everyone's sign-ins are at their cap spends nothing
/// of the name's: asking again (or falling back to a code) once there is room works.
#[tokio::test]
async fn a_passkey_ask_refused_for_everyones_cap_spends_nothing_of_the_names() {
    let app = spawn(&[
        ("ROOMGATE_STARTS_PER_USER", "1"),
        ("ROOMGATE_PENDING_SIGNINS_MAX", "2"),
    ])
    .await;
    let csrf = app.csrf_token(ROOM).await;
    for name in ["visitor1", "visitor2"] {
        let ok = app.post_passkey_options(ROOM, name, &csrf).await;
        assert_eq!(ok.status(), StatusCode::OK);
    }
    // Erin's allowance is one ask: had the first refusal spent it, the next would be
    // her own limit's 429, not everyone's 503.
    for _ in 0..3 {
        let full = app.post_passkey_options(ROOM, "erin", &csrf).await;
        assert_eq!(
            full.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "everyone's cap"
        );
    }
}

#[tokio::test]
async fn passkey_asks_and_codes_share_the_networks_limit() {
    let app = spawn(&[("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "2")]).await;
    let _start = mock_start_ok().mount_as_scoped(&app.verify).await;
    assert_eq!(
        app.post_login(ROOM, "alice").await.status(),
        StatusCode::SEE_OTHER
    );
    let csrf = app.csrf_token(ROOM).await;
    let ok = app.post_passkey_options(ROOM, "bob", &csrf).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let limited = app.post_passkey_options(ROOM, "carol", &csrf).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.post_login(ROOM, "dave").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn failed_passkeys_lock_the_name_out_for_codes_too() {
    let app = spawn(&[("ROOMGATE_LOCKOUT_FAILURES", "2")]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    let garbage = serde_json::json!({ "id": "AAAA" });
    let (ceremony, _, csrf) = options(&app, "alice").await;
    let first = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &garbage)
        .await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    let (ceremony, _, csrf) = options(&app, "alice").await;
    let second = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &garbage)
        .await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json(second).await["error"], "locked_out");

    // Locked for codes and for the passkey alike, even a good one.
    assert_eq!(
        app.post_login(ROOM, "alice").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let csrf = app.csrf_token(ROOM).await;
    let refused = app.post_passkey_options(ROOM, "alice", &csrf).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json(refused).await["error"], "locked_out");
    app.audit.flush().await.unwrap();
    assert_eq!(app.audit_events("lockout").len(), 1);
    let failed = app.audit_events("check_failed");
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|r| r["detail"] == "method=passkey"));
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("roomgate_verifications_failed_total{reason=\"passkey\"} 2"));
    assert!(metrics.contains("roomgate_lockouts_total 1"));
}

#[tokio::test]
async fn a_code_lockout_stops_passkey_sign_ins() {
    let app = spawn(&[("ROOMGATE_LOCKOUT_FAILURES", "1")]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    // Options fetched before the lock, answered after it: refused all the same.
    app.post_logout(ROOM).await;
    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();
    let (other, _, _) = options(&app, "alice").await;
    let wrong = app
        .post_passkey_finish(ROOM, &csrf, &other, &serde_json::json!({}))
        .await;
    assert_eq!(wrong.status(), StatusCode::TOO_MANY_REQUESTS);
    let good = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(good.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// TEST_ACL with alice's entry replaced by `entry` (none when empty).
fn acl_with_alice(entry: &str) -> String {
    let rest: Vec<&str> = TEST_ACL
        .split("\n\n")
        .filter(|block| !block.contains("[users.alice]"))
        .collect();
    format!("{entry}\n\n{}", rest.join("\n\n"))
}

const ALICE_NEW_PHONE: &str = r#"[users.alice]
phone = "+14155550199"
rooms = ["standup", "all-hands"]
role = "host""#;

#[tokio::test]
async fn leaving_the_list_deletes_the_passkeys() {
    let app = spawn(&[]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    // Options taken while alice is on the list, answered after she left it.
    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();

    app.write_acl(&acl_with_alice(""));
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.acl
                .load()
                .user(&roomgate::domain::Username::parse("alice").unwrap())
                .is_none()
        })
        .await
    );
    let refused = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // Back on the list with the same number: the passkey is gone, not just hidden.
    app.write_acl(TEST_ACL);
    assert!(
        eventually(Duration::from_secs(10), || async {
            app.acl
                .load()
                .user(&roomgate::domain::Username::parse("alice").unwrap())
                .is_some()
        })
        .await
    );
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(!allowed_ids(&public_key).contains(&id));
    assert!(assert_with(&mut key, &public_key).is_none());
}

#[tokio::test]
async fn a_new_number_invalidates_the_passkeys_until_proven_by_sms() {
    // Passkey asks spend the name's code allowance; this test makes five.
    let app = spawn(&[("ROOMGATE_STARTS_PER_USER", "10")]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;
    let room_csrf = app.room_csrf(ROOM).await;
    // Options from before the change, answered after it.
    let (ceremony, public_key, _) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();

    app.write_acl(&acl_with_alice(ALICE_NEW_PHONE));
    assert!(
        eventually(Duration::from_secs(10), || async {
            let acl = app.acl.load();
            let alice = acl.user(&roomgate::domain::Username::parse("alice").unwrap());
            alice.is_some_and(|a| a.phone.expose_e164() == "+14155550199")
        })
        .await
    );
    // The session from the old number is signed in no more: it can't register for
    // the new one.
    let start = app.post_passkey_register_start(ROOM, &room_csrf).await;
    assert_eq!(start.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(start).await["error"], "not_verified");

    app.post_logout(ROOM).await;
    let csrf_after = app.csrf_token(ROOM).await;
    let refused = app
        .post_passkey_finish(ROOM, &csrf_after, &ceremony, &assertion)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(!allowed_ids(&public_key).contains(&id));

    // A new SMS sign-in proves the new number; then a new passkey works.
    let mut new_key = authenticator();
    let new_id = register(&app, &mut new_key, "alice").await;
    app.post_logout(ROOM).await;
    let (_, public_key, _) = options(&app, "alice").await;
    assert_eq!(allowed_ids(&public_key), [new_id]);
    assert!(
        assert_with(&mut key, &public_key).is_none(),
        "the old one is gone"
    );
    let ok = sign_in_with(&app, &mut new_key, "alice").await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_removed_by_a_host_is_refused() {
    let mut app = spawn(&[]).await;
    let mut key = authenticator();
    register(&app, &mut key, "bob").await;
    // A host removes bob from the room: the ban is recorded before Twilio is asked,
    // so whatever the (unmocked) Video API answers, bob is barred.
    app.client = new_client();
    app.sign_in(ROOM, "alice").await;
    let csrf = app.room_csrf(ROOM).await;
    app.client
        .post(app.url(&format!("/rooms/{ROOM}/participants/bob/remove")))
        .header("X-CSRF-Token", csrf)
        .send()
        .await
        .unwrap();
    app.client = new_client();

    let refused = sign_in_with(&app, &mut key, "bob").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(json(refused).await["error"], "removed");
}

#[tokio::test]
async fn passkeys_off_means_no_endpoints_and_no_button() {
    let app = spawn(&[("ROOMGATE_PASSKEYS", "off")]).await;
    let html = app.get_room(ROOM).await.text().await.unwrap();
    assert!(!html.contains("use-passkey"));
    let csrf = extract_csrf(&html).unwrap();
    let resp = app.post_passkey_options(ROOM, "alice", &csrf).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Whatever the body: a malformed one is not there either, not a 400.
    let malformed = app
        .client
        .post(app.url(&format!("/rooms/{ROOM}/passkeys/options")))
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
    // Every passkey path, to a visitor with no session and no CSRF header: not
    // there, rather than "sign in" or "forbidden" first.
    let stranger = new_client();
    for (post, path) in [
        (false, "/passkeys"),
        (true, "/passkeys/options"),
        (true, "/passkeys/finish"),
        (true, "/passkeys/register/start"),
        (true, "/passkeys/register/finish"),
        (true, "/passkeys/abc/remove"),
    ] {
        let url = app.url(&format!("/rooms/{ROOM}{path}"));
        let req = if post {
            stranger.post(url)
        } else {
            stranger.get(url)
        };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }

    let on = spawn(&[]).await;
    let html = on.get_room(ROOM).await.text().await.unwrap();
    assert!(html.contains("id=\"use-passkey\""));
}

#[tokio::test]
async fn another_rooms_passkey_shows_the_same_ids_but_does_not_open_this_room() {
    let app = spawn(&[]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    // alice is not on the list for design-review: made-up ids there would differ
    // from the real ones standup shows, telling that the name is real.
    let other = "design-review";
    let csrf = app.csrf_token(other).await;
    let resp = app.post_passkey_options(other, "alice", &csrf).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = json(resp).await;
    assert_eq!(allowed_ids(&body["publicKey"]), std::slice::from_ref(&id));
    let assertion = assert_with(&mut key, &body["publicKey"]).unwrap();
    let refused = app
        .post_passkey_finish(other, &csrf, body["ceremony"].as_str().unwrap(), &assertion)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(refused).await["error"], "passkey_refused");
    assert_eq!(
        app.post_token(other).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// A sign-in that couldn't be recorded is refused, by passkey as by code: "busy" for
/// every name alike.
#[tokio::test]
async fn an_audit_log_that_cannot_be_written_refuses_passkey_sign_ins() {
    let app = spawn(&[("ROOMGATE_AUDIT_LOG", "/dev/full")]).await;
    // The log fails on its first write (this refused code sign-in).
    let code = app.post_login(ROOM, "alice").await;
    assert_eq!(code.status(), StatusCode::SERVICE_UNAVAILABLE);
    let csrf = app.csrf_token(ROOM).await;
    let known = observed(app.post_passkey_options(ROOM, "alice", &csrf).await).await;
    let unknown = observed(app.post_passkey_options(ROOM, "mallory", &csrf).await).await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE);
    let finish = app
        .post_passkey_finish(ROOM, &csrf, "no-such-ceremony", &serde_json::json!({}))
        .await;
    assert_eq!(finish.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(finish).await["error"], "unavailable");
}

/// The audit log failing between a passkey's options and its assertion: the approval
/// is not granted unrecorded.
#[tokio::test]
async fn a_passkey_approval_that_cannot_be_recorded_is_not_granted() {
    let pipe = AuditPipe::open();
    let mut app = spawn(&[("ROOMGATE_AUDIT_LOG", &pipe.path())]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.client = new_client();
    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();

    pipe.close().await;
    let finish = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(finish.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(finish).await["error"], "unavailable");
    let room = app.get_room(ROOM).await.text().await.unwrap();
    assert!(
        extract_meta_csrf(&room).is_none(),
        "not the room page of a member"
    );
    assert!(!pipe.shipped().contains("method=passkey"));
}

/// The binding is checked at sign-in too, for list changes no reload saw (made while
/// roomgate was stopped, say): here the list is swapped in without the reload hook.
#[tokio::test]
async fn sign_in_checks_the_number_even_without_a_reload() {
    // A code and three passkey asks: past the name's default allowance of three.
    let app = spawn(&[("ROOMGATE_STARTS_PER_USER", "10")]).await;
    let mut key = authenticator();
    let id = register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    let (ceremony, public_key, csrf) = options(&app, "alice").await;
    let assertion = assert_with(&mut key, &public_key).unwrap();

    let acl = roomgate::acl::Acl::parse("swapped", &acl_with_alice(ALICE_NEW_PHONE)).unwrap();
    app.acl.replace(acl);
    let refused = app
        .post_passkey_finish(ROOM, &csrf, &ceremony, &assertion)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(!allowed_ids(&public_key).contains(&id));
    // Deleted on the way, not just hidden: the old number back doesn't revive it.
    app.acl
        .replace(roomgate::acl::Acl::parse("back", TEST_ACL).unwrap());
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(!allowed_ids(&public_key).contains(&id));
}

/// A code proves the number it was sent to. Whoever holds alice's old number and asks
/// for a code before the list gives her a new one, then types it after, gets nothing:
/// no session (so no passkey bound to the new number).
#[tokio::test]
async fn a_code_sent_to_the_old_number_does_not_prove_the_new_one() {
    let app = spawn(&[]).await;
    let _start = mock_start_ok().mount_as_scoped(&app.verify).await;
    let _check = mock_check("approved").mount_as_scoped(&app.verify).await;
    assert_is_redirect_to(
        &app.post_login(ROOM, "alice").await,
        &format!("/rooms/{ROOM}/verify"),
    );
    // The code has gone out (to the old number) before the list changes.
    wait_for_requests(&app.verify, 1).await;
    app.acl.replace(
        roomgate::acl::Acl::parse("renumbered", &acl_with_alice(ALICE_NEW_PHONE)).unwrap(),
    );
    let typed = app.post_code(ROOM, "123456").await;
    assert_notice(typed, StatusCode::GONE, None, "This code has expired").await;
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED,
        "not signed in"
    );
    let csrf = app.csrf_token(ROOM).await;
    let start = app.post_passkey_register_start(ROOM, &csrf).await;
    assert!(
        start.status().is_client_error(),
        "no registration: {}",
        start.status()
    );

    // A code sent to the new number works, and binds to it.
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
}

/// At the default limits (resend cooldown included), the join page's quiet fall-back
/// from a passkey to a code gets its code: asking for passkey options sends no text,
/// so it starts no cooldown.
#[tokio::test]
async fn falling_back_to_a_code_right_after_passkey_options_sends_the_code() {
    let app = spawn_app_with(
        &[("ROOMGATE_PUBLIC_URL", PASSKEY_ORIGIN)],
        Overrides::default(),
    )
    .await;
    let _start = mock_start_ok().expect(1).mount_as_scoped(&app.verify).await;
    let csrf = app.csrf_token(ROOM).await;
    let asked = app.post_passkey_options(ROOM, "alice", &csrf).await;
    assert_eq!(asked.status(), StatusCode::OK);
    let fallback = app.post_login(ROOM, "alice").await;
    assert_is_redirect_to(&fallback, &format!("/rooms/{ROOM}/verify"));
    wait_for_requests(&app.verify, 1).await;
}

/// One registration at a time per member: a new start replaces the one under way,
/// which can no longer finish.
#[tokio::test]
async fn only_the_latest_registration_may_finish() {
    let app = spawn(&[]).await;
    app.sign_in(ROOM, "alice").await;
    let csrf = app.room_csrf(ROOM).await;
    let mut starts = Vec::new();
    for _ in 0..2 {
        let start = app.post_passkey_register_start(ROOM, &csrf).await;
        assert_eq!(start.status(), StatusCode::OK);
        starts.push(json(start).await);
    }
    let finish = async |start: &Value| {
        let options =
            serde_json::from_value(serde_json::json!({ "publicKey": start["publicKey"] })).unwrap();
        let credential = authenticator().do_registration(origin(), options).unwrap();
        let credential = serde_json::to_value(&credential).unwrap();
        app.post_passkey_register_finish(
            ROOM,
            &csrf,
            start["ceremony"].as_str().unwrap(),
            &credential,
        )
        .await
    };
    let first = finish(&starts[0]).await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(first).await["error"], "ceremony_invalid");
    let latest = finish(&starts[1]).await;
    assert_eq!(latest.status(), StatusCode::CREATED);
    let listed = json(app.get_passkeys(ROOM).await).await;
    assert_eq!(listed["passkeys"].as_array().unwrap().len(), 1);
}

/// WebAuthn's clone signal: an assertion whose signature counter is not above the
/// one saved by the last sign-in is refused (and audited as such), even though it
/// answers its own ceremony, made when the saved counter was lower.
#[tokio::test]
async fn an_assertion_behind_the_saved_counter_is_refused_as_a_possible_clone() {
    let mut app = spawn(&[("ROOMGATE_STARTS_PER_USER", "10")]).await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    // Two ceremonies at once, in two browsers (a ceremony is its session's); the
    // authenticator answers the first with counter 1, the second with counter 2.
    app.client = new_client();
    let (older, older_options, older_csrf) = options(&app, "alice").await;
    let first_browser = std::mem::replace(&mut app.client, new_client());
    let (newer, newer_options, csrf) = options(&app, "alice").await;
    let behind = assert_with(&mut key, &older_options).unwrap();
    let ahead = assert_with(&mut key, &newer_options).unwrap();
    let ok = app.post_passkey_finish(ROOM, &csrf, &newer, &ahead).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let signed_in = std::mem::replace(&mut app.client, first_browser);
    let refused = app
        .post_passkey_finish(ROOM, &older_csrf, &older, &behind)
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(refused).await["error"], "passkey_refused");
    assert_eq!(
        app.post_token(ROOM).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.audit.flush().await.unwrap();
    let failed = app.audit_events("check_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["detail"], "method=passkey possible_clone");
    // Above the counter its options carried: the owner's own two ceremonies racing
    // look just like this, so the passkey is kept, and so is the session it opened.
    assert!(app.audit_events("passkey_revoked").is_empty());
    app.client = signed_in;
    assert_eq!(app.post_token(ROOM).await.status(), StatusCode::OK);
}

/// The same signal when nothing raced: the saved counter is ahead of the
/// authenticator's (a copy of it signed in since), so webauthn-rs refuses the
/// assertion against the options' own counter. It is audited as a possible clone too,
/// not as an ordinary failure.
#[tokio::test]
async fn an_authenticator_behind_the_saved_counter_is_refused_as_a_possible_clone() {
    use roomgate::store::Store;
    let (app, store) = spawn_with_store().await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    app.post_logout(ROOM).await;
    // A clone signed in 100 times: the saved counter says so.
    let record = store.get("passkeys:alice").await.unwrap().unwrap();
    let mut record: Value = serde_json::from_slice(&record).unwrap();
    let counters = set_counters(&mut record, 100);
    assert_eq!(counters, 1, "{record}");
    let record = serde_json::to_vec(&record).unwrap();
    store
        .put("passkeys:alice", &record, Duration::from_secs(3600))
        .await
        .unwrap();

    let refused = sign_in_with(&app, &mut key, "alice").await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(refused).await["error"], "passkey_refused");
    app.audit.flush().await.unwrap();
    let failed = app.audit_events("check_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["detail"], "method=passkey possible_clone");
    // Two authenticators answer for it, and which is the owner's can't be told: the
    // passkey is revoked, which ends every session it opened (a thief's, who ran the
    // counter ahead and could otherwise lock the owner out and carry on). The owner
    // signs in with a code.
    let revoked = app.audit_events("passkey_revoked");
    assert_eq!(revoked.len(), 1, "{}", app.audit_text());
    assert_eq!(revoked[0]["detail"], "by=possible_clone");
    let (_, public_key, _) = options(&app, "alice").await;
    assert!(
        assert_with(&mut key, &public_key).is_none(),
        "still offered"
    );
}

/// Sets every `counter` in `value` (webauthn-rs's saved signature counter) to `to`;
/// how many there were.
fn set_counters(value: &mut Value, to: u32) -> usize {
    match value {
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, value)| {
                if key == "counter" && value.is_u64() {
                    *value = to.into();
                    1
                } else {
                    set_counters(value, to)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(|v| set_counters(v, to)).sum(),
        _ => 0,
    }
}

/// A passkey endpoint reads no more than 16 KiB of JSON.
#[tokio::test]
async fn an_oversized_passkey_body_is_refused() {
    let app = spawn(&[]).await;
    let csrf = app.csrf_token(ROOM).await;
    let fits = app
        .post_passkey_options(ROOM, &"a".repeat(1024), &csrf)
        .await;
    assert_eq!(fits.status(), StatusCode::OK);
    let huge = app
        .post_passkey_options(ROOM, &"a".repeat(20 * 1024), &csrf)
        .await;
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json(huge).await["error"], "bad_request");
}

/// JSON a passkey endpoint can't read gets the `{error}` its script reads, not
/// actix's words about serde.
#[tokio::test]
async fn unreadable_passkey_json_is_a_json_400() {
    let app = spawn(&[]).await;
    let csrf = app.csrf_token(ROOM).await;
    let options = app.url(&format!("/rooms/{ROOM}/passkeys/options"));
    for (content_type, body) in [
        ("application/json", "{\"username\": 7}"),
        ("application/json", "not json"),
        ("text/plain", "{\"username\": \"alice\"}"),
    ] {
        let resp = app
            .client
            .post(&options)
            .header("X-CSRF-Token", &csrf)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_client_error(), "{body}: {}", resp.status());
        let text = resp.text().await.unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{text}"));
        assert_eq!(answer["error"], "bad_request", "{body}");
    }
}

/// The app on a memory store the test can look into.
async fn spawn_with_store() -> (
    TestApp,
    std::sync::Arc<roomgate::store::memory::MemoryStore>,
) {
    let store = std::sync::Arc::new(roomgate::store::memory::MemoryStore::new());
    let overrides = Overrides {
        store: Some(store.clone()),
        ..Overrides::default()
    };
    let vars = [
        ("ROOMGATE_PUBLIC_URL", PASSKEY_ORIGIN),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
    ];
    (spawn_app_with(&vars, overrides).await, store)
}

/// A passkeys record this build can't read tells nothing: the name gets options like
/// any name without passkeys (not a 503 of its own), and the record is dropped.
#[tokio::test]
async fn an_unreadable_passkeys_record_is_answered_like_none() {
    use roomgate::store::Store;
    let (app, store) = spawn_with_store().await;
    store
        .put("passkeys:alice", b"{\"handle\": 7", Duration::from_secs(60))
        .await
        .unwrap();
    let csrf = app.csrf_token(ROOM).await;
    let alice = observed(app.post_passkey_options(ROOM, "alice", &csrf).await).await;
    let mallory = observed(app.post_passkey_options(ROOM, "mallory", &csrf).await).await;
    assert_eq!(alice.0, StatusCode::OK);
    assert_eq!(alice, mallory);
    assert_eq!(store.get("passkeys:alice").await.unwrap(), None);
}

/// A member who starts registering again and again keeps one ceremony in the store:
/// each new start drops the state of the one it replaces, which could no longer
/// finish anyway. (It was kept five minutes: 100,000 starts made 218 MB.)
#[tokio::test]
async fn starting_a_registration_again_keeps_one_ceremony() {
    use roomgate::store::Store;
    let (app, store) = spawn_with_store().await;
    app.sign_in(ROOM, "alice").await;
    let csrf = app.room_csrf(ROOM).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let start = app.post_passkey_register_start(ROOM, &csrf).await;
        assert_eq!(start.status(), StatusCode::OK);
        ids.push(json(start).await["ceremony"].as_str().unwrap().to_owned());
    }
    let (last, replaced) = ids.split_last().unwrap();
    for id in replaced {
        let kept = store.get(&format!("passkey-ceremony:{id}")).await.unwrap();
        assert_eq!(kept, None, "{id}");
    }
    let kept = store
        .get(&format!("passkey-ceremony:{last}"))
        .await
        .unwrap();
    assert!(kept.is_some());
    // The latest start still finishes.
    register_signed_in(&app, &mut authenticator(), &csrf).await;
}

/// A passkey sign-in, like a code's approval, marks the name signed in: a code
/// sign-in left open in another tab is then no failure when it expires (see
/// `signin::pending`'s sweep).
#[tokio::test]
async fn a_passkey_sign_in_marks_the_name_signed_in() {
    use roomgate::store::Store;
    let (mut app, store) = spawn_with_store().await;
    let mut key = authenticator();
    register(&app, &mut key, "alice").await;
    store.delete("signin-proven:alice").await.unwrap();
    app.client = new_client();
    assert_eq!(
        sign_in_with(&app, &mut key, "alice").await.status(),
        StatusCode::OK
    );
    assert!(store.get("signin-proven:alice").await.unwrap().is_some());
}

/// Finishing a ceremony nobody began writes nothing to the store.
#[tokio::test]
async fn finishing_made_up_ceremonies_writes_nothing() {
    use roomgate::store::Store;
    let (app, store) = spawn_with_store().await;
    let csrf = app.csrf_token(ROOM).await;
    for n in 0..5 {
        let id = format!("made-up-{n}");
        let refused = app
            .post_passkey_finish(ROOM, &csrf, &id, &serde_json::json!({}))
            .await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let used = store
            .get(&format!("passkey-ceremony-used:{id}"))
            .await
            .unwrap();
        assert_eq!(used, None, "{id}");
    }
}
