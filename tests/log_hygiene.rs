//! The whole flow at `RUST_LOG=trace` in Twilio mode, through the real binary: the
//! full phone number, the code, the token, the API secret, the CSRF tokens and the
//! cookie values appear nowhere in what roomgate prints.

mod support;

use support::collect;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "s3cr3t-api-key-value-0f9e8d7c";
const PHONE: &str = "+14155550101";
/// Eight digits: a six-digit code could turn up by chance in trace timestamps.
const CODE: &str = "73194628";

/// The value of a `roomgate=value` session cookie.
fn cookie_value(cookie: &str) -> String {
    cookie
        .strip_prefix("roomgate=")
        .unwrap_or(cookie)
        .to_owned()
}

#[tokio::test]
async fn nothing_sensitive_is_logged_at_trace_level() {
    let verify = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/Verifications$"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(support::twilio::verification_json("pending")),
        )
        .expect(1)
        .mount(&verify)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/VerificationCheck$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(support::twilio::verification_json("approved")),
        )
        .expect(1)
        .mount(&verify)
        .await;

    let session_key = "L".repeat(64);
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["serve", "--addr", "127.0.0.1:0"])
        .arg("--acl")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml"))
        .env_clear()
        .env("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0")
        .env("ROOMGATE_DATA_DIR", support::fresh_dir("data"))
        .env("RUST_LOG", "trace")
        .env("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")
        .env("TWILIO_API_KEY_SID", "SK0123456789abcdef0123456789abcdef")
        .env("TWILIO_API_KEY_SECRET", SECRET)
        .env(
            "TWILIO_VERIFY_SERVICE_SID",
            "VA0123456789abcdef0123456789abcdef",
        )
        .env("TWILIO_VERIFY_BASE_URL", verify.uri())
        .env("TWILIO_VIDEO_BASE_URL", verify.uri())
        .env("ROOMGATE_SESSION_KEY", &session_key)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    collect(child.stdout.take().unwrap(), output.clone());
    collect(child.stderr.take().unwrap(), output.clone());

    let base = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(line) = output
                .lock()
                .unwrap()
                .lines()
                .find(|l| l.contains("listening on "))
            {
                let url = line.split("listening on ").nth(1).unwrap();
                break url.split_whitespace().next().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("roomgate started");

    let client = support::browser();
    let url = |p: &str| format!("{base}{p}");
    let mut cookies = Vec::new();
    let mut csrf_tokens = Vec::new();

    let join = support::open_join(&client, &base, "standup").await;
    cookies.extend(join.cookie.as_deref().map(cookie_value));
    let csrf = join.csrf;
    csrf_tokens.push(csrf.clone());
    let login = support::post_sign_in(&client, &base, "standup", "alice", &csrf).await;
    cookies.extend(support::session_cookie(&login).as_deref().map(cookie_value));
    let code = support::post_code(&client, &base, "standup", CODE, &csrf).await;
    assert_eq!(code.status(), 303);
    cookies.extend(support::session_cookie(&code).as_deref().map(cookie_value));
    let room_csrf = support::room_csrf(&client, &base, "standup")
        .await
        .expect("the room page");
    csrf_tokens.push(room_csrf.clone());
    let token: Value = client
        .post(url("/rooms/standup/token"))
        .header("x-csrf-token", &room_csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = token["token"].as_str().unwrap().to_owned();
    let logout = client
        .post(url("/logout"))
        .form(&[("csrf_token", &room_csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    // Let the last events reach the pipes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let out = output.lock().unwrap().clone();
    assert!(out.len() > 1000, "trace logging produced output:\n{out}");
    assert!(
        out.contains("+1********01"),
        "the masked number is logged:\n{out}"
    );
    // The encoded credentials of `Authorization: Basic …`.
    let basic = support::twilio::basic_auth(support::twilio::API_KEY_SID, SECRET)["Basic ".len()..]
        .to_owned();
    let jwt_signature = jwt.rsplit('.').next().unwrap().to_owned();
    let mut forbidden = vec![
        ("phone", PHONE.to_owned()),
        ("national number", "4155550101".to_owned()),
        ("code", CODE.to_owned()),
        ("token", jwt.clone()),
        ("token signature", jwt_signature),
        ("API secret", SECRET.to_owned()),
        ("basic credentials", basic),
        ("session key", session_key),
    ];
    forbidden.extend(csrf_tokens.into_iter().map(|t| ("CSRF token", t)));
    forbidden.extend(cookies.into_iter().map(|c| ("cookie value", c)));
    for (what, value) in forbidden {
        assert!(!out.contains(&value), "the {what} appears in the output");
    }
}

/// A flood of sign-ins refused by the per-network limit, at the default level: each
/// line a refusal writes comes at most `PER_WINDOW` times a window, and what was held
/// back is said afterwards, counted, in the log and in the metrics (every window, and
/// at shutdown).
#[tokio::test]
async fn a_flood_of_refused_sign_ins_writes_a_bounded_number_of_log_lines() {
    use roomgate::telemetry::throttle::{PER_WINDOW, WINDOW};

    let verify = support::approving_verify().await;
    let mut env = support::twilio_env(&verify, &support::fresh_dir("flood-log"));
    env.insert("NO_COLOR".into(), "1".into());
    let rg = support::Roomgate::start(&env, "127.0.0.1:0").await;
    let metrics_url = rg.metrics_url().await;
    let client = support::browser();
    let join = support::open_join(&client, &rg.base, "standup").await;
    let started = std::time::Instant::now();
    let flood = |from: usize, n: usize| {
        let (client, base, csrf) = (&client, &rg.base, &join.csrf);
        async move {
            let mut refused = 0u64;
            for i in from..from + n {
                let name = format!("user{i}");
                let resp = support::post_sign_in(client, base, "standup", &name, csrf).await;
                refused += u64::from(resp.status() == 429);
            }
            refused
        }
    };
    let count = |out: &str, message: &str| {
        let marker = format!(" INFO {message} ");
        out.lines().filter(|l| l.contains(&marker)).count() as u64
    };
    // What the log says it held back of `line`, over every report so far.
    let held_back = |out: &str, line: &str| -> u64 {
        let marker = format!("line={line} from=");
        out.lines()
            .filter(|l| l.contains("log lines held back") && l.contains(&marker))
            .filter_map(|l| l.split(" suppressed=").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };

    let mut refused = flood(0, 300).await;
    // The limit lets 20 a minute through.
    assert!(refused >= 275, "the flood was refused ({refused})");
    // A report comes every window: wait for the one after the flood.
    let deadline = tokio::time::Instant::now() + WINDOW * 3;
    let out = loop {
        let out = rg.output();
        let said = count(&out, "refused") + held_back(&out, "refused");
        if said >= refused || tokio::time::Instant::now() > deadline {
            break out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let metrics = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let total = held_back(&out, "refused") + held_back(&out, "limited");
    assert!(
        total > 0 && metrics.contains(&format!("roomgate_log_lines_suppressed_total {total}\n")),
        "{total} held back:\n{metrics}"
    );

    // More, then a shutdown before the next report: it says what it held back.
    refused += flood(300, 100).await;
    let windows = 1 + started.elapsed().as_secs() / WINDOW.as_secs();
    let cap = u64::from(PER_WINDOW) * windows;
    let out = rg.stop().await;
    for message in ["refused", "limited"] {
        let written = count(&out, message);
        assert!(
            (1..=cap).contains(&written),
            "{written} {message:?} lines for {refused} refusals (at most {cap}):\n{out}"
        );
        assert_eq!(
            written + held_back(&out, message),
            refused,
            "every {message:?} line is written or counted:\n{out}"
        );
    }
}

/// What anonymous clients can make the libraries underneath log on every request,
/// a session cookie that fails its checks and a request that can't be parsed, is
/// capped the same way.
#[tokio::test]
async fn garbage_cookies_and_unparsable_requests_are_logged_a_bounded_number_of_times() {
    use roomgate::telemetry::throttle::PER_WINDOW;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let verify = support::approving_verify().await;
    let mut env = support::twilio_env(&verify, &support::fresh_dir("garbage-log"));
    env.insert("NO_COLOR".into(), "1".into());
    let rg = support::Roomgate::start(&env, "127.0.0.1:0").await;
    const TIMES: usize = 40;
    let started = std::time::Instant::now();
    for i in 0..TIMES {
        let cookie = format!("roomgate=forged{i}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        let page = support::browser_with_cookie(&cookie)
            .get(rg.url("/rooms/standup"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "a forged cookie counts as none");

        let addr = rg.base.trim_start_matches("http://");
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"GET /rooms/standup HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let _ = raw.read_to_end(&mut answer).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
    let windows = 1 + started.elapsed().as_secs() / 10;
    let out = rg.stop().await;
    for line in ["failed to pass cryptographic checks", "request parse error"] {
        let written = out
            .lines()
            .filter(|l| l.contains(line) && !l.contains("log lines held back"))
            .count() as u64;
        let cap = u64::from(PER_WINDOW) * windows;
        assert!(
            (1..=cap).contains(&written),
            "{written} lines with {line:?} for {TIMES} requests (at most {cap}):\n{out}"
        );
    }
    // Said at shutdown, for each.
    let reports = out.lines().filter(|l| l.contains("log lines held back"));
    assert_eq!(reports.count(), 2, "{out}");
}
