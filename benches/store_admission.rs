//! What one admission costs a key with 1 event in its window and a key with 1,000,000:
//! GCRA keeps one number per rule whatever the count, so the two must cost the same
//! (within 2×) on every backend. Run with `cargo bench --bench store_admission`; set
//! `ROOMGATE_BENCH_REDIS_URL` (e.g. `unix:///run/redis.sock`) to include Redis.
//!
//! The rule is 2,000,000 per hour (an interval of 1 ms). The full key is filled with
//! 1,000,000 admissions at one instant, through the store; then each measured
//! admission moves the store's manual clock on by one interval, so both keys stay at
//! their level (1 event, 1,000,000 events) however many iterations criterion runs.
//! Under `cargo test` (criterion's test mode, every bench run once) the full key gets
//! only 1,000 events, to keep the test suite fast.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use roomgate::clock::ManualClock;
use roomgate::store::embedded::EmbeddedStore;
use roomgate::store::memory::MemoryStore;
use roomgate::store::redis::RedisStore;
use roomgate::store::{Rule, Store};
use secrecy::SecretString;
use tokio::runtime::Runtime;

/// 2,000,000 per hour: I = 1 ms, tau = 1,999,999 ms.
const RULES: [Rule; 1] = [Rule::new(2_000_000, Duration::from_secs(3600))];
const KEY: &str = "login_per_ip:10.0.0.1";
const FULL: u64 = 1_000_000;
/// The full key's events under `cargo test`.
const FULL_WHEN_TESTING: u64 = 1_000;
const INTERVAL: Duration = Duration::from_millis(1);

/// Criterion's own rule: benchmarks run with `--bench` (and without `--test`);
/// anything else (`cargo test --all-targets`) is its test mode.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    has("--bench") && !has("--test") && !has("--list")
}

#[derive(Clone)]
enum Backend {
    Memory,
    Embedded,
    Redis(SecretString),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Embedded => "embedded",
            Self::Redis(_) => "redis",
        }
    }
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh store on a manual clock of its own.
struct Setup {
    // Dropped before `_dir`: the embedded store is closed before its directory goes.
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _dir: Option<TempDir>,
}

async fn setup(backend: &Backend, name: &str) -> Setup {
    let clock = Arc::new(ManualClock::default());
    let (store, dir): (Arc<dyn Store>, _) = match backend {
        Backend::Memory => (Arc::new(MemoryStore::with_clock(clock.clone())), None),
        Backend::Embedded => {
            let dir = TempDir(std::env::temp_dir().join(format!(
                "roomgate-bench-store-{}-{name}",
                std::process::id()
            )));
            let _ = std::fs::remove_dir_all(&dir.0);
            let store = EmbeddedStore::open(&dir.0, clock.clone())
                .await
                .expect("the embedded store opens");
            (Arc::new(store), Some(dir))
        }
        Backend::Redis(url) => {
            let prefix = format!("roomgate-bench-{}-{name}:", std::process::id());
            let store = RedisStore::connect(url, &prefix)
                .await
                .expect("connects to ROOMGATE_BENCH_REDIS_URL")
                .with_test_clock(clock.clone());
            (Arc::new(store), None)
        }
    };
    Setup {
        store,
        clock,
        _dir: dir,
    }
}

/// `events` admissions of `KEY` at one instant, every one admitted. Many callers at
/// once: one at a time, a million round trips to Redis would take minutes.
async fn fill(store: &Arc<dyn Store>, events: u64) {
    const CALLERS: u64 = 64;
    let tasks: Vec<_> = (0..CALLERS.min(events))
        .map(|caller| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in (caller..events).step_by(CALLERS as usize) {
                    let admission = store.admit(KEY, &RULES).await.expect("admits");
                    assert!(admission.is_admitted(), "filling the window");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a filler");
    }
}

fn bench_backend(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    backend: &Backend,
    full: u64,
) {
    for events in [1, full] {
        let name = format!(
            "{events} event{} in the window",
            if events == 1 { "" } else { "s" }
        );
        let bench = runtime.block_on(async {
            let bench = setup(backend, &format!("{events}")).await;
            fill(&bench.store, events).await;
            bench
        });
        group.bench_function(&name, |b| {
            b.to_async(runtime).iter(|| {
                // One interval on: the key stays at `events` after this admission.
                bench.clock.advance(INTERVAL);
                let store = &bench.store;
                async move {
                    let admission = store.admit(KEY, &RULES).await.expect("admits");
                    assert!(admission.is_admitted());
                }
            })
        });
        if let Backend::Redis(_) = backend {
            runtime
                .block_on(bench.store.delete(KEY))
                .expect("cleans up");
        }
        drop(bench);
    }
}

fn store_admission(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let full = if benchmarking() {
        FULL
    } else {
        FULL_WHEN_TESTING
    };
    let mut backends = vec![Backend::Memory, Backend::Embedded];
    if let Some(url) = std::env::var("ROOMGATE_BENCH_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        backends.push(Backend::Redis(SecretString::from(url.trim().to_owned())));
    }
    for backend in &backends {
        let mut group = c.benchmark_group(format!("admission/{}", backend.name()));
        group
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        bench_backend(&mut group, &runtime, backend, full);
        group.finish();
    }
}

criterion_group!(benches, store_admission);
criterion_main!(benches);
