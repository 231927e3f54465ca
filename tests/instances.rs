//! Several instances on one Redis, behind `deploy/nginx.conf` as shipped (round robin,
//! no sticky sessions): real `roomgate`, `redis-server` and nginx processes, Verify
//! mocked. The proxy's ports are fixed by its config, so these tests take turns.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;
use tokio::sync::Mutex;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const ROOM: &str = "standup";
static PORTS: Mutex<()> = Mutex::const_new(());

/// Two instances sharing `redis`, behind nginx; `extra` settings for both.
struct Cluster {
    instances: Vec<Roomgate>,
    proxy: Nginx,
    env: BTreeMap<String, String>,
}

impl Cluster {
    async fn start(redis: &RedisServer, verify: &MockServer, extra: &[(&str, &str)]) -> Cluster {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let mut env = twilio_env(verify, &fresh_dir("instances-unused"));
        env.remove("ROOMGATE_DATA_DIR");
        let prefix = format!(
            "cluster{}:",
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        for (k, v) in [
            ("ROOMGATE_REDIS_URL", redis.url()),
            ("ROOMGATE_REDIS_PREFIX", prefix),
            ("ROOMGATE_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
            ("ROOMGATE_PUBLIC_URL", format!("http://{PROXY}")),
        ] {
            env.insert(k.into(), v);
        }
        // An empty value: that setting left out.
        for (k, v) in extra {
            match v {
                &"" => env.remove(*k),
                v => env.insert((*k).into(), (*v).into()),
            };
        }
        let mut instances = Vec::new();
        for addr in INSTANCES {
            instances.push(Roomgate::start(&env, addr).await);
        }
        Cluster {
            instances,
            proxy: Nginx::start(),
            env,
        }
    }

    fn base(&self) -> &str {
        &self.proxy.base
    }

    async fn stop(self) {
        for i in self.instances {
            i.stop().await;
        }
    }
}

/// The code step of a sign-in begun with `csrf`, then a token: the room page's CSRF
/// token.
async fn enter_with_code(client: &reqwest::Client, base: &str, csrf: &str) -> String {
    let code = post_code(client, base, ROOM, "123456", csrf).await;
    assert_eq!(code.status(), 303);
    let room_token = room_csrf(client, base, ROOM).await.unwrap();
    assert_eq!(token(client, base, ROOM, &room_token).await.status(), 200);
    room_token
}

/// Waits until `base`'s `/readyz` answers 200, at most `within`.
async fn ready_within(base: &str, within: Duration) {
    let since = tokio::time::Instant::now();
    loop {
        let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
        if ready.status() == 200 {
            return;
        }
        assert!(since.elapsed() < within, "/readyz still {}", ready.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many of `n` sign-ins through the proxy, each for `name(i)`, were accepted (a
/// redirect to the code page) and how many refused by a limit (429).
async fn sign_ins(base: &str, n: usize, name: impl Fn(usize) -> String) -> (usize, usize) {
    let (mut accepted, mut limited) = (0, 0);
    for i in 0..n {
        // A sign-in is two requests (the form, then the post), so strict round robin
        // would send every post to the same instance: one more request every other
        // time makes the posts alternate.
        if i % 2 == 1 {
            let _ = reqwest::get(format!("{base}/healthz")).await.unwrap();
        }
        let (resp, _) = sign_in(&browser(), base, ROOM, &name(i)).await;
        match resp.status().as_u16() {
            303 => accepted += 1,
            429 => limited += 1,
            other => panic!("sign-in {i}: unexpected {other}"),
        }
    }
    (accepted, limited)
}

/// Verify starts so far, after letting background starts finish.
async fn starts(verify: &MockServer) -> usize {
    tokio::time::sleep(Duration::from_millis(300)).await;
    calls(verify, "/Verifications").await
}

#[tokio::test]
async fn a_sign_in_begun_on_one_instance_finishes_on_the_other() {
    let _turn = PORTS.lock().await;
    let redis = RedisServer::start();
    let verify = approving_verify().await;
    let cluster = Cluster::start(&redis, &verify, &[]).await;
    let [a, b] = [&cluster.instances[0], &cluster.instances[1]];

    // Straight to each instance, so which one answers is certain.
    let client = browser();
    let (login, csrf) = sign_in(&client, &a.base, ROOM, "alice").await;
    assert_eq!(login.status(), 303);
    let checked = post_code(&client, &b.base, ROOM, "123456", &csrf).await;
    assert_eq!(checked.status(), 303, "B finished what A began");
    let csrf = room_csrf(&client, &a.base, ROOM)
        .await
        .expect("verified on A too");
    assert_eq!(token(&client, &b.base, ROOM, &csrf).await.status(), 200);
    assert_eq!(starts(&verify).await, 1);
    assert_eq!(calls(&verify, "/VerificationCheck").await, 1);
    assert!(a.output().contains("sign-in requested"));
    assert!(b.output().contains("code approved"));

    // And through the proxy, which alternates between them.
    let client = browser();
    let (login, csrf) = sign_in(&client, cluster.base(), ROOM, "bob").await;
    assert_eq!(login.status(), 303);
    assert_eq!(
        post_code(&client, cluster.base(), ROOM, "123456", &csrf)
            .await
            .status(),
        303
    );
    assert!(room_csrf(&client, cluster.base(), ROOM).await.is_some());
    cluster.stop().await;
}

#[tokio::test]
async fn a_logout_on_one_instance_is_refused_on_the_other() {
    let _turn = PORTS.lock().await;
    let redis = RedisServer::start();
    let verify = approving_verify().await;
    let cluster = Cluster::start(&redis, &verify, &[]).await;
    let [a, b] = [&cluster.instances[0], &cluster.instances[1]];
    let client = browser();
    let (_, csrf) = sign_in(&client, &a.base, ROOM, "alice").await;
    let verified = post_code(&client, &a.base, ROOM, "123456", &csrf).await;
    let copied = session_cookie(&verified).expect("cookie");
    let copy = browser_with_cookie(&copied);
    assert!(
        room_csrf(&copy, &b.base, ROOM).await.is_some(),
        "works on B"
    );

    let csrf = room_csrf(&client, &a.base, ROOM).await.unwrap();
    let out = client
        .post(a.url("/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        room_csrf(&copy, &b.base, ROOM).await.is_none(),
        "refused on B"
    );
    let status = token(&copy, &b.base, ROOM, &csrf).await.status();
    assert_eq!(status, 401);
    cluster.stop().await;
}

#[tokio::test]
async fn the_per_ip_limit_is_counted_once_across_instances() {
    let _turn = PORTS.lock().await;
    let redis = RedisServer::start();
    let verify = approving_verify().await;
    let limit = [("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "5")];
    let cluster = Cluster::start(&redis, &verify, &limit).await;
    // 8 names no one has: only the per-IP limit (5) applies. GCRA earns one back
    // every 12 s, and these 8 take far less.
    let (accepted, limited) = sign_ins(cluster.base(), 8, |i| format!("nobody{i}")).await;
    assert_eq!(
        (accepted, limited),
        (5, 3),
        "5 in total, not 5 per instance"
    );
    // Both instances took sign-ins, and both refused some: the count is shared.
    for i in &cluster.instances {
        let out = i.output();
        assert!(out.contains("sign-in requested"), "{}:\n{out}", i.base);
        assert!(out.contains("\"login_per_ip\""), "{}:\n{out}", i.base);
    }
    cluster.stop().await;
}

#[tokio::test]
async fn per_user_per_phone_and_budget_limits_are_counted_once_across_instances() {
    let _turn = PORTS.lock().await;
    let redis = RedisServer::start();

    // Per user: 3 codes per name per window, whichever instance is asked.
    let verify = approving_verify().await;
    let cluster = Cluster::start(&redis, &verify, &[("ROOMGATE_RESEND_COOLDOWN_SECS", "0")]).await;
    let (accepted, limited) = sign_ins(cluster.base(), 6, |_| "alice".into()).await;
    assert_eq!((accepted, limited), (3, 3));
    assert_eq!(starts(&verify).await, 3);
    cluster.stop().await;

    // Per phone: refused where the code would be sent (the sign-in response looks
    // the same), so count the codes Verify was asked for.
    let verify = approving_verify().await;
    let cluster = Cluster::start(
        &redis,
        &verify,
        &[
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
            ("ROOMGATE_STARTS_PER_USER", "10"),
            ("ROOMGATE_STARTS_PER_PHONE", "3"),
        ],
    )
    .await;
    let (accepted, _) = sign_ins(cluster.base(), 6, |_| "bob".into()).await;
    assert_eq!(accepted, 6);
    assert_eq!(starts(&verify).await, 3, "3 codes to bob's phone, not 6");
    cluster.stop().await;

    // The SMS budget: 2 a day across the whole deployment, and each alert once. (A day,
    // not a minute: a fixed window that ended mid-test would start the count afresh.)
    let verify = approving_verify().await;
    let alerts = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&alerts)
        .await;
    let alert_url = format!("{}/alerts", alerts.uri());
    let cluster = Cluster::start(
        &redis,
        &verify,
        &[
            ("ROOMGATE_SMS_BUDGET_PER_DAY", "2"),
            ("ROOMGATE_ALERT_WEBHOOK_URL", &alert_url),
            (
                "ROOMGATE_ALERT_WEBHOOK_SECRET",
                "an-alert-secret-of-enough-bytes",
            ),
        ],
    )
    .await;
    for who in ["alice", "bob", "carol"] {
        let _ = sign_in(&browser(), cluster.base(), "design-review", who).await;
    }
    let _ = sign_in(&browser(), cluster.base(), ROOM, "alice").await;
    assert_eq!(
        starts(&verify).await,
        2,
        "2 codes in all, not 2 per instance"
    );
    let (refused, _) = sign_in(&browser(), cluster.base(), ROOM, "bob").await;
    assert_eq!(refused.status(), 503, "the budget is spent for everyone");
    // More refusals, on both instances: still one alert of each kind in all.
    for _ in 0..3 {
        let _ = reqwest::get(format!("{}/healthz", cluster.base())).await;
        let _ = sign_in(&browser(), cluster.base(), ROOM, "bob").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut events: Vec<String> = alerts
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["event"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        ["sms_budget_exhausted", "sms_budget_warning"],
        "one warning and one exhaustion alert for the whole deployment"
    );
    cluster.stop().await;
}

/// Without `ROOMGATE_PUBLIC_URL`, an instance judges a POST's `Origin` by the host
/// the proxy passes on: the browser's, port and all (nginx's `$host` dropped the
/// port, so every form posted through the proxy was refused as cross-site). A
/// client's own `Forwarded` or `X-Forwarded-Host` changes nothing.
#[tokio::test]
async fn through_the_proxy_a_form_is_same_site_by_the_browsers_host_and_port() {
    let _turn = PORTS.lock().await;
    let redis = RedisServer::start();
    let verify = approving_verify().await;
    let cluster = Cluster::start(&redis, &verify, &[("ROOMGATE_PUBLIC_URL", "")]).await;
    let base = cluster.base().to_owned();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let post = |origin: &'static str, extra: Option<(&'static str, &'static str)>| {
        let base = base.clone();
        // A name of its own each time: no per-name limit is what this is about.
        let name = format!(
            "visitor{}",
            n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        async move {
            let client = browser();
            let join = open_join(&client, &base, ROOM).await;
            let mut req = client
                .post(format!("{base}/rooms/{ROOM}/login"))
                .header("origin", origin)
                .form(&[
                    ("username", name.as_str()),
                    ("csrf_token", join.csrf.as_str()),
                ]);
            if let Some((name, value)) = extra {
                req = req.header(name, value);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    let same = format!("http://{PROXY}");
    let same: &'static str = Box::leak(same.into_boxed_str());
    for _ in 0..2 {
        // Twice: each instance in turn.
        assert_eq!(post(same, None).await, 303, "the proxy's own origin");
    }
    assert_eq!(post("http://evil.example", None).await, 403);
    for header in [
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "host=evil.example;proto=http"),
    ] {
        assert_eq!(
            post("http://evil.example", Some(header)).await,
            403,
            "{header:?}"
        );
    }
    cluster.stop().await;
}

#[tokio::test]
async fn redis_down_means_busy_and_no_verify_call_then_service_resumes_by_itself() {
    let _turn = PORTS.lock().await;
    let mut redis = RedisServer::start();
    let verify = approving_verify().await;
    let cluster = Cluster::start(&redis, &verify, &[]).await;
    let base = cluster.base().to_owned();

    // A verified participant, before the outage.
    let client = browser();
    let (_, csrf) = sign_in(&client, &base, ROOM, "alice").await;
    let room_token = enter_with_code(&client, &base, &csrf).await;
    let before = starts(&verify).await;

    redis.stop();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        // Sign-ins: the busy page, and no code sent.
        let (resp, _) = sign_in(&browser(), &base, ROOM, "bob").await;
        assert_eq!(resp.status(), 503, "sign-in while the store is down");
        assert!(resp.headers().contains_key("retry-after"));
        // Tokens: a 503 JSON error, whatever the cookie says.
        let resp = token(&client, &base, ROOM, &room_token).await;
        assert_eq!(resp.status(), 503);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "store_unavailable");
        // Its room page: busy as well, not the join form (whose sign-in would be
        // refused too).
        let page = client
            .get(format!("{base}/rooms/{ROOM}"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 503, "a verified room page while down");
        assert!(page.headers().contains_key("retry-after"));
        // Liveness stays up; readiness names the store.
        assert_eq!(
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        statuses.push(ready.status().as_u16());
        let text = ready.text().await.unwrap();
        if statuses.last() == Some(&503) {
            assert!(text.contains("redis"), "{text}");
        }
        // Pages that need no store still work; nothing else is a 5xx.
        for path in ["/", "/rooms/standup", "/static/style.css"] {
            let status = http
                .get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status();
            assert!(!status.is_server_error(), "{path}: {status}");
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(
        statuses.contains(&503),
        "/readyz said not ready: {statuses:?}"
    );
    assert_eq!(starts(&verify).await, before, "no Verify call while down");
    // A logout that can't be recorded is refused, saying so (not blaming Verify).
    let logout = client
        .post(format!("{base}/logout"))
        .form(&[("csrf_token", room_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 503, "a logout while the store is down");
    assert!(logout.headers().contains_key("retry-after"));
    let text = logout.text().await.unwrap();
    assert!(
        text.contains("Signing out could not be confirmed"),
        "{text}"
    );
    // Not a dead end: back to the room page, where signing out is.
    assert!(text.contains(r#"href="/rooms/standup""#), "{text}");

    // Back: service resumes within 5 s, with no restart of roomgate.
    redis.resume();
    let back = tokio::time::Instant::now();
    loop {
        let (resp, _) = sign_in(&browser(), &base, ROOM, "bob").await;
        if resp.status() == 303 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "not resumed within 5 s: {}",
            resp.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ready_within(&base, Duration::from_secs(5)).await;
    // The verified participant's room page is the room again (each instance sees the
    // store back within its own second).
    let room_again = tokio::time::Instant::now();
    while room_csrf(&client, &base, ROOM).await.is_none() {
        assert!(
            room_again.elapsed() < Duration::from_secs(5),
            "the room page still busy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = cluster.env.len();
    cluster.stop().await;
}

/// Redis started after roomgate (a deploy, a reboot in another order, an outage at
/// start-up): roomgate starts anyway, fails closed meanwhile, and comes into service
/// by itself. No proxy, so no fixed port and no turn to take.
#[tokio::test]
async fn an_instance_started_while_redis_is_down_serves_busy_then_comes_into_service() {
    let mut redis = RedisServer::start();
    redis.stop();
    let verify = approving_verify().await;
    let mut env = twilio_env(&verify, &fresh_dir("instances-late-redis"));
    env.remove("ROOMGATE_DATA_DIR");
    env.insert("ROOMGATE_REDIS_URL".into(), redis.url());
    env.insert("ROOMGATE_REDIS_PREFIX".into(), "late:".into());
    let server = Roomgate::try_start(&env, "127.0.0.1:0")
        .await
        .unwrap_or_else(|out| panic!("roomgate exited with Redis down:\n{out}"));
    let base = server.base.clone();
    let out = server.output();
    assert!(
        out.contains("can't connect to unix://") && out.contains("serving anyway"),
        "{out}"
    );

    // Meanwhile: the busy page, no Verify call, not ready; alive; pages that need no
    // store still work.
    let http = reqwest::Client::new();
    let (resp, _) = sign_in(&browser(), &base, ROOM, "alice").await;
    assert_eq!(resp.status(), 503, "a sign-in before Redis is up");
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(starts(&verify).await, 0, "no Verify call without a store");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let text = ready.text().await.unwrap();
    assert!(text.contains("redis"), "{text}");
    let live = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let join = http
        .get(format!("{base}/rooms/{ROOM}"))
        .send()
        .await
        .unwrap();
    assert_eq!(join.status(), 200);

    // Redis comes up: the whole flow works within the set-up's retry (at most 5 s
    // apart) and the store's next readiness check, with no restart of roomgate.
    redis.resume();
    let back = tokio::time::Instant::now();
    let client = browser();
    let csrf = loop {
        let (resp, csrf) = sign_in(&client, &base, ROOM, "alice").await;
        if resp.status() == 303 {
            break csrf;
        }
        assert_eq!(resp.status(), 503);
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "not in service 10 s after Redis came up:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    enter_with_code(&client, &base, &csrf).await;
    ready_within(&base, Duration::from_secs(5)).await;
    assert!(
        server
            .output()
            .contains("Redis can be reached; the store is in service"),
        "{}",
        server.output()
    );
    // It marked the store as its own, as a start with Redis up does.
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let schema: Option<String> = redis::cmd("GET")
        .arg("late:schema")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(schema.is_some(), "no schema mark");
    server.stop().await;
}
