//! `/metrics` on the admin listener: valid Prometheus text, and numbers that move
//! when the flow runs. Never on the public address.

use prometheus_parse::{LineInfo, Scrape, Value};
use reqwest::StatusCode;
use roomgate::startup::Overrides;

use crate::helpers::*;

const DURATION: &str = "roomgate_twilio_request_duration_seconds";

/// `GET /metrics` on the admin listener, checked line by line and parsed.
async fn scrape(app: &TestApp) -> Scrape {
    let resp = app.admin_get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text")
            || content_type.starts_with("text/plain"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    // prometheus_parse skips what it can't read; make sure it skipped nothing.
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        match LineInfo::parse(line) {
            LineInfo::Sample { value, .. } => assert!(
                value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
                "bad value in {line:?}"
            ),
            other => panic!("not a sample: {line:?} ({other:?})"),
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    assert!(!scrape.samples.is_empty(), "{text}");
    scrape
}

fn matches(sample: &prometheus_parse::Sample, labels: &[(&str, &str)]) -> bool {
    labels.iter().all(|(k, v)| sample.labels.get(k) == Some(*v))
}

/// A counter or gauge; 0 when the series doesn't exist (yet).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && matches(s, labels))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name} is not a single value: {other:?}"),
        })
        .collect();
    assert!(found.len() <= 1, "{name}{labels:?} is ambiguous: {found:?}");
    found.first().copied().unwrap_or(0.0)
}

/// Observations of the Twilio latency histogram with these labels (its `+Inf` bucket,
/// summed over the other labels); 0 when there are none.
fn observations(scrape: &Scrape, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == DURATION && matches(s, labels))
        .map(|s| match &s.value {
            Value::Histogram(buckets) => {
                assert!(
                    buckets.windows(2).all(|w| w[0].count <= w[1].count),
                    "buckets are cumulative: {buckets:?}"
                );
                buckets
                    .iter()
                    .find(|b| b.less_than.is_infinite())
                    .expect("a +Inf bucket")
                    .count
            }
            other => panic!("{DURATION} is not a histogram: {other:?}"),
        })
        .sum()
}

#[tokio::test]
async fn metrics_move_when_the_flow_runs() {
    let app = spawn_app_with(
        &[("ROOMGATE_TOKENS_PER_IP_PER_MINUTE", "1")],
        Overrides::default(),
    )
    .await;
    let before = scrape(&app).await;

    app.sign_in("standup", "alice").await;
    assert_eq!(app.post_token("standup").await.status(), StatusCode::OK);
    assert_eq!(
        app.post_token("standup").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let after = scrape(&app).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(moved("roomgate_verifications_started_total", &[]), 1.0);
    assert_eq!(moved("roomgate_verifications_approved_total", &[]), 1.0);
    assert_eq!(moved("roomgate_tokens_minted_total", &[]), 1.0);
    assert_eq!(
        moved("roomgate_limited_total", &[("kind", "token_per_ip")]),
        1.0
    );
    assert_eq!(
        moved("roomgate_limited_total", &[("kind", "login_per_ip")]),
        0.0
    );
    // Every limit kind is there from the start, at zero.
    for kind in [
        "login_per_ip",
        "check_per_ip",
        "token_per_ip",
        "start_per_user",
        "start_per_phone",
        "locked_out",
        "budget",
    ] {
        assert!(
            before
                .samples
                .iter()
                .any(|s| s.metric == "roomgate_limited_total"
                    && s.labels.get("kind") == Some(kind)),
            "roomgate_limited_total{{kind={kind:?}}} missing before any request"
        );
    }

    // The Verify latency histogram: one start, one check, both ok.
    let verify = [("api", "verify")];
    assert_eq!(observations(&before, &verify), 0.0);
    assert_eq!(observations(&after, &verify), 2.0);
    for operation in ["CreateVerification", "CreateVerificationCheck"] {
        let labels = [
            ("api", "verify"),
            ("operation", operation),
            ("outcome", "ok"),
        ];
        assert_eq!(observations(&after, &labels), 1.0, "{operation}");
        let count = value(&after, &format!("{DURATION}_count"), &labels);
        assert_eq!(count, 1.0, "{DURATION}_count for {operation}");
        let sum = value(&after, &format!("{DURATION}_sum"), &labels);
        assert!(sum > 0.0 && sum < 2.0, "{DURATION}_sum {sum}");
    }
}

#[tokio::test]
async fn a_failed_verify_call_is_timed_as_an_error() {
    use wiremock::Mock;
    use wiremock::matchers::{method, path};

    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(START_PATH))
        .respond_with(twilio_error(503, 20503))
        .mount(&app.verify)
        .await;
    app.post_login("standup", "alice").await;
    let labels = [
        ("api", "verify"),
        ("operation", "CreateVerification"),
        ("outcome", "error"),
    ];
    let (seen, _) = poll_until(std::time::Duration::from_secs(2), || async {
        (observations(&scrape(&app).await, &labels) == 1.0, ())
    })
    .await;
    assert!(seen, "the failed start was timed with outcome=error");
    let after = scrape(&app).await;
    assert_eq!(
        value(&after, "roomgate_verifications_started_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn metrics_are_not_served_on_the_public_address() {
    let app = spawn_app().await;
    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = resp.text().await.unwrap();
    assert!(!body.contains("roomgate_"), "{body}");
    // While the admin listener does serve them.
    assert_eq!(app.admin_get("/metrics").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn acl_reloads_show_in_the_metrics() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    assert_eq!(value(&before, "roomgate_acl_users", &[]), 2.0);
    app.write_acl(&format!(
        "{TEST_ACL}\n[users.carol]\nphone = \"+14155550123\"\nrooms = [\"standup\"]\n"
    ));
    let (reloaded, after) = poll_until(std::time::Duration::from_secs(3), || async {
        let after = scrape(&app).await;
        (
            value(&after, "roomgate_acl_reloads_total", &[]) == 1.0,
            after,
        )
    })
    .await;
    assert!(reloaded, "roomgate_acl_reloads_total did not move");
    assert_eq!(value(&after, "roomgate_acl_users", &[]), 3.0);

    app.write_acl("[users.carol]\nphone = 555\n");
    let (rejected, after) = poll_until(std::time::Duration::from_secs(3), || async {
        let after = scrape(&app).await;
        (
            value(&after, "roomgate_acl_rejections_total", &[]) >= 1.0,
            after,
        )
    })
    .await;
    assert!(rejected, "roomgate_acl_rejections_total did not move");
    assert_eq!(value(&after, "roomgate_acl_users", &[]), 3.0);
}

#[tokio::test]
async fn video_calls_are_timed_too() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    let app = spawn_app().await;
    app.sign_in("standup", "alice").await;
    Mock::given(method("GET"))
        .and(path("/v1/Rooms/standup"))
        .respond_with(ResponseTemplate::new(200).set_body_json(room_json("standup", "in-progress")))
        .expect(1)
        .mount(&app.video)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/Rooms/{ROOM_SID}/Participants")))
        .respond_with(ResponseTemplate::new(200).set_body_json(participants_page(vec![])))
        .expect(1)
        .mount(&app.video)
        .await;
    let before = scrape(&app).await;
    let resp = app.get("/rooms/standup/participants").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let after = scrape(&app).await;
    for operation in ["FetchRoom", "ListRoomParticipant"] {
        let labels = [
            ("api", "video"),
            ("operation", operation),
            ("outcome", "ok"),
        ];
        assert_eq!(
            observations(&after, &labels) - observations(&before, &labels),
            1.0,
            "{operation}"
        );
    }
}

/// Store operations of one kind so far, whatever their outcome.
fn store_calls(scrape: &Scrape, operation: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == "roomgate_store_duration_seconds_count"
                && s.labels.get("operation") == Some(operation)
        })
        .map(|s| match s.value {
            Value::Counter(v) | Value::Untyped(v) => v,
            ref other => panic!("a count: {other:?}"),
        })
        .sum()
}

/// A flood from one network is refused on the network's admission alone, and once
/// refused, without the store: the limiter knows the network's wait (see
/// `limits::refused`). Only the sign-ins in flight when the first refusal came ask the
/// store: with the embedded store, an admission each and nothing more (the lockout,
/// the budget, the name's and everyone's limits are not read); on Redis those reads
/// share the admission's round trip, so there they are made, one each.
#[tokio::test]
async fn a_network_being_refused_costs_no_store_calls() {
    const REFUSED: usize = 50;
    let app = spawn_app_with(
        &[
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "1"),
        ],
        Overrides::default(),
    )
    .await;
    let flood = |n| app.flood_logins("198.51.100.66", "standup", "mallory", n, 4);
    assert_eq!(flood(1).await.get(&StatusCode::SEE_OTHER), Some(&1));
    let before = scrape(&app).await;
    assert_eq!(
        flood(REFUSED).await.get(&StatusCode::TOO_MANY_REQUESTS),
        Some(&REFUSED)
    );
    let after = scrape(&app).await;
    let calls = |op| store_calls(&after, op) - store_calls(&before, op);

    // At most the four in flight at once reach the store.
    let admits = calls("admit");
    assert!((1.0..=4.0).contains(&admits), "{admits} admissions");
    let reads = calls("get") + calls("peek") + calls("used");
    let per_refusal = if std::env::var_os("ROOMGATE_TEST_REDIS_URL").is_some() {
        4.0
    } else {
        0.0
    };
    // A little room for background work (sweeps) that reads the store meanwhile.
    assert!(
        reads <= per_refusal * admits + 3.0,
        "{reads} reads for {REFUSED} refusals"
    );
}
