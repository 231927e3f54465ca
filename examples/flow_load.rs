//! A load generator for the whole sign-in flow: roomgate in-process in Twilio mode,
//! Verify mocked with a fixed latency, and N concurrent participants each running
//! join form → sign-in → code → room page → token, over and over.
//!
//!     cargo run --release --example flow_load -- [participants] [seconds] [verify_ms]
//!
//! Prints flows per second and the latency percentiles of a whole flow and of each
//! step. Compare against another implementation by pointing the same flow at it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use roomgate::acl::Acl;
use roomgate::config::Settings;
use roomgate::startup::{Application, Overrides};
use serde_json::json;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACL: &str = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n";

fn extract(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_owned())
}

async fn one_flow(base: &str, steps: &mut Vec<(&'static str, Duration)>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()?;
    let mut step = |name: &'static str, began: Instant| steps.push((name, began.elapsed()));

    let t = Instant::now();
    let html = client
        .get(format!("{base}/rooms/standup"))
        .send()
        .await?
        .text()
        .await?;
    let csrf =
        extract(&html, r#"name="csrf_token" value=""#).ok_or_else(|| anyhow::anyhow!("no csrf"))?;
    step("join form", t);

    let t = Instant::now();
    let resp = client
        .post(format!("{base}/rooms/standup/login"))
        .form(&[("username", "alice"), ("csrf_token", &csrf)])
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 303, "sign-in answered {}", resp.status());
    step("sign-in", t);

    let t = Instant::now();
    let resp = client
        .post(format!("{base}/rooms/standup/verify"))
        .form(&[("code", "123456"), ("csrf_token", &csrf)])
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 303,
        "code check answered {}",
        resp.status()
    );
    step("code check", t);

    let t = Instant::now();
    let html = client
        .get(format!("{base}/rooms/standup"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = extract(&html, r#"<meta name="csrf-token" content=""#)
        .ok_or_else(|| anyhow::anyhow!("no room page"))?;
    step("room page", t);

    let t = Instant::now();
    let resp = client
        .post(format!("{base}/rooms/standup/token"))
        .header("x-csrf-token", csrf)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "token answered {}", resp.status());
    step("token", t);
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let participants = args.first().copied().unwrap_or(50) as usize;
    let seconds = args.get(1).copied().unwrap_or(10);
    let verify_ms = args.get(2).copied().unwrap_or(50);

    let verify = MockServer::start().await;
    let resource = |status: &str| {
        json!({"sid": "VE0123456789abcdef0123456789abcdef", "service_sid": "VA0123456789abcdef0123456789abcdef",
               "account_sid": "AC0123456789abcdef0123456789abcdef", "to": "+14155550101",
               "channel": "sms", "status": status, "valid": status == "approved"})
    };
    let delay = Duration::from_millis(verify_ms);
    Mock::given(method("POST"))
        .and(path_regex("/Verifications$"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(resource("pending"))
                .set_delay(delay),
        )
        .mount(&verify)
        .await;
    Mock::given(method("POST"))
        .and(path_regex("/VerificationCheck$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(resource("approved"))
                .set_delay(delay),
        )
        .mount(&verify)
        .await;
    // The Video API: rooms are "in progress", so tokens don't create them.
    Mock::given(method("GET"))
        .and(path_regex("/v1/Rooms/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": "RM0123456789abcdef0123456789abcdef", "unique_name": "standup", "status": "in-progress"})))
        .mount(&verify)
        .await;

    let dir = std::env::temp_dir().join(format!("roomgate-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("acl.toml"), ACL)?;
    let big = "1000000".to_owned();
    let vars: HashMap<&str, String> = HashMap::from([
        ("ROOMGATE_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_ACL", dir.join("acl.toml").display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            dir.join("audit.log").display().to_string(),
        ),
        ("ROOMGATE_SESSION_KEY", "l".repeat(64)),
        (
            "TWILIO_ACCOUNT_SID",
            "AC0123456789abcdef0123456789abcdef".to_owned(),
        ),
        (
            "TWILIO_API_KEY_SID",
            "SK0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("TWILIO_API_KEY_SECRET", "load-test-secret".to_owned()),
        (
            "TWILIO_VERIFY_SERVICE_SID",
            "VA0123456789abcdef0123456789abcdef".to_owned(),
        ),
        ("TWILIO_VERIFY_BASE_URL", verify.uri()),
        ("TWILIO_VIDEO_BASE_URL", verify.uri()),
        // Limits are not what this measures.
        ("ROOMGATE_STARTS_PER_USER", big.clone()),
        ("ROOMGATE_STARTS_PER_PHONE", big.clone()),
        ("ROOMGATE_RESEND_COOLDOWN_SECS", "0".to_owned()),
        ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_TOKENS_PER_IP_PER_MINUTE", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_MINUTE", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_HOUR", big.clone()),
        ("ROOMGATE_SMS_BUDGET_PER_DAY", big),
    ]);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned())?;
    let acl = Acl::load(&settings.acl_path)?;
    let app = Application::build_with(settings, acl, Overrides::default()).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let until = Instant::now() + Duration::from_secs(seconds);
    let began = Instant::now();
    let workers: Vec<_> = (0..participants)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move {
                let (mut flows, mut errors, mut steps) = (Vec::new(), 0usize, Vec::new());
                while Instant::now() < until {
                    let t = Instant::now();
                    match one_flow(&base, &mut steps).await {
                        Ok(()) => flows.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (flows, errors, steps)
            })
        })
        .collect();
    let (mut flows, mut errors, mut steps) = (Vec::new(), 0, Vec::new());
    for w in workers {
        let (f, e, s) = w.await?;
        flows.extend(f);
        errors += e;
        steps.extend(s);
    }
    let elapsed = began.elapsed().as_secs_f64();
    flows.sort();
    println!(
        "{participants} participants, {seconds} s, Verify answering in {verify_ms} ms: \
         {} flows ({:.1}/s), {errors} failed",
        flows.len(),
        flows.len() as f64 / elapsed
    );
    println!(
        "whole flow: p50 {:?}  p99 {:?}  max {:?}",
        percentile(&flows, 0.5),
        percentile(&flows, 0.99),
        flows.last().copied().unwrap_or_default()
    );
    for name in ["join form", "sign-in", "code check", "room page", "token"] {
        let mut times: Vec<Duration> = steps
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, d)| *d)
            .collect();
        times.sort();
        println!(
            "{name:>10}: p50 {:?}  p99 {:?}",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
