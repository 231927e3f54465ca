//! The CPU work on a request's path: what each sign-in, code check and token costs
//! roomgate itself, apart from Verify's network time. Run with `cargo bench`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use roomgate::acl::Acl;
use roomgate::clock::SystemClock;
use roomgate::domain::{RoomName, Username};
use roomgate::store::memory::MemoryStore;
use roomgate::store::{Rule, Store};
use roomgate::twilio::credentials::ApiKeys;
use roomgate::twilio::signature::SignatureValidator;
use roomgate::video::AccessTokenIssuer;
use secrecy::SecretString;

fn acl_with(users: usize) -> Acl {
    let mut text = String::new();
    for i in 0..users {
        text.push_str(&format!(
            "[users.user{i}]\nphone = \"+1415555{:04}\"\nrooms = [\"standup\", \"room{i}\"]\n\n",
            i % 10_000
        ));
    }
    Acl::parse("bench.toml", &text).expect("bench ACL parses")
}

fn request_path(c: &mut Criterion) {
    let acl = acl_with(1_000);
    let user = Username::parse("user500").unwrap();
    let room = RoomName::parse("standup").unwrap();
    c.bench_function("acl lookup (1000 users)", |b| {
        b.iter(|| std::hint::black_box(acl.allowed(&user, &room).is_some()))
    });

    let issuer = AccessTokenIssuer::new(
        "AC0123456789abcdef0123456789abcdef".into(),
        ApiKeys::fixed(
            "SK0123456789abcdef0123456789abcdef",
            "a-secret-of-some-length",
        ),
        Duration::from_secs(14_400),
        Arc::new(SystemClock),
    );
    c.bench_function("mint a Video access token", |b| {
        b.iter(|| issuer.mint(&user, &room).unwrap())
    });

    let validator = SignatureValidator::new(SecretString::from("auth-token"));
    let params: Vec<(String, String)> = [
        ("StatusCallbackEvent", "participant-connected"),
        ("RoomName", "standup"),
        ("RoomSid", "RM0123456789abcdef0123456789abcdef"),
        ("ParticipantIdentity", "alice"),
        ("Timestamp", "2026-11-22T08:00:00Z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let url = "https://meet.example.com/twilio/room-events";
    let signature = validator.sign(url, &params);
    c.bench_function("check X-Twilio-Signature", |b| {
        b.iter(|| assert!(validator.is_valid(url, &params, &signature)))
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let rules = [Rule::new(1_000_000, Duration::from_secs(60))];
    let mut n = 0u64;
    c.bench_function("rate-limit admission (10k keys)", |b| {
        b.to_async(&runtime).iter(|| {
            n += 1;
            let key = format!("login_per_ip:10.0.{}.{}", (n / 256) % 40, n % 256);
            let store = &store;
            async move { store.admit(&key, &rules).await.is_ok() }
        })
    });
}

criterion_group!(benches, request_path);
criterion_main!(benches);
