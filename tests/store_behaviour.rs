//! One behaviour suite for every [`Store`] backend: the same tests, written once, run
//! against the in-memory test double, the embedded (redb) store and a real Redis.
//!
//! Each behaviour is a generic `async fn(Fixture)` below; [`every_backend!`] turns
//! each into three `#[tokio::test]`s, `memory::<name>`, `embedded::<name>` and
//! `redis::<name>` (so `cargo test --test store_behaviour redis::` runs one backend and
//! `cargo test --test store_behaviour take_due` one behaviour on all three).
//!
//! Every store is driven by a [`ManualClock`], so expiry and waits are asserted to the
//! millisecond without sleeping. Redis is a real `redis-server` (Debian's package),
//! started once for this test binary on a unix socket and killed when the binary
//! exits; each test has its own key prefix on it.
//!
//! The property test holds `admit` to a reference model written here from the
//! definition (the sliding-window form of GCRA over the whole log of admitted events),
//! not from `gcra.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::slice::from_ref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use roomgate::clock::{Clock, ManualClock};
use roomgate::store::embedded::EmbeddedStore;
use roomgate::store::memory::MemoryStore;
use roomgate::store::redis::RedisStore;
use roomgate::store::{Admission, FixedWindow, Rule, SCHEMA_VERSION, Spend, Store};
use secrecy::SecretString;

// ---------------------------------------------------------------------------------
// The harness.

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// The `redis-server` of this test binary, on a unix socket in a directory of its own.
struct RedisServer {
    dir: PathBuf,
    /// Never waited for: it runs until the binary exits.
    _server: Child,
    /// The write end of the reaper's stdin. It closes when this process exits, however
    /// it exits, and the reaper then kills the server and removes `dir`. (Statics are
    /// never dropped, and `unsafe_code` is forbidden, so no `atexit` or parent-death
    /// signal.)
    _reaper: ChildStdin,
}

impl RedisServer {
    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    fn url(&self) -> SecretString {
        SecretString::from(format!("unix://{}", self.socket().display()))
    }
}

fn not_installed() -> String {
    format!(
        "{REDIS_SERVER} is not installed, and the store behaviour suite runs every \
         behaviour against a real Redis: install Debian's redis-server package \
         (`apt-get install redis-server`; scripts/test does this)"
    )
}

fn start_redis() -> Result<RedisServer, String> {
    if !Path::new(REDIS_SERVER).exists() {
        return Err(not_installed());
    }
    let dir = std::env::temp_dir().join(format!(
        "roomgate-store-behaviour-redis-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("can't create {}: {e}", dir.display()))?;
    let socket = dir.join("redis.sock");
    let log = dir.join("redis.log");
    let mut server = Command::new(REDIS_SERVER)
        .args(["--port", "0", "--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no"])
        .arg("--unixsocket")
        .arg(&socket)
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_installed(),
            _ => format!("{REDIS_SERVER} did not start: {e}"),
        })?;
    let mut reaper = Command::new("/bin/sh")
        .arg("-c")
        // Deaf to the signals a Ctrl-C or a killed process group sends (the server
        // gets those itself): it acts on the end of its stdin alone.
        .arg(
            r#"trap '' HUP INT TERM; read _ignored; kill "$0" 2>/dev/null; sleep 0.2; rm -rf "$1""#,
        )
        .arg(server.id().to_string())
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            let _ = server.kill();
            format!("can't start the reaper for redis-server: {e}")
        })?;
    let reaper_stdin = reaper.stdin.take().expect("piped");
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(10) {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Ok(RedisServer {
                dir,
                _server: server,
                _reaper: reaper_stdin,
            });
        }
        if let Ok(Some(status)) = server.try_wait() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!("redis-server exited at start ({status}):\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = server.kill();
    Err(format!("redis-server did not open {}", socket.display()))
}

/// Started on first use; a failure to start fails every Redis test with its reason.
fn redis_server() -> &'static RedisServer {
    static SERVER: OnceLock<Result<RedisServer, String>> = OnceLock::new();
    match SERVER.get_or_init(start_redis) {
        Ok(server) => server,
        Err(why) => panic!("{why}"),
    }
}

fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "roomgate-store-behaviour-{}-{}",
            std::process::id(),
            next_id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Embedded,
    Redis,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Embedded => "embedded",
            Self::Redis => "redis",
        }
    }

    /// An empty store of this backend on a clock of its own.
    async fn fresh(self) -> Fixture {
        let clock = Arc::new(ManualClock::default());
        let (store, dir, redis_prefix): (Arc<dyn Store>, _, _) = match self {
            Self::Memory => (Arc::new(MemoryStore::with_clock(clock.clone())), None, None),
            Self::Embedded => {
                let dir = TempDir::new();
                let store = EmbeddedStore::open(&dir.0, clock.clone())
                    .await
                    .expect("the embedded store opens in a fresh directory");
                (Arc::new(store), Some(dir), None)
            }
            Self::Redis => {
                let prefix = format!("t{}:", next_id());
                (redis_store(&prefix, &clock).await, None, Some(prefix))
            }
        };
        Fixture {
            store,
            clock,
            backend: self,
            redis_prefix,
            _dir: dir,
        }
    }
}

async fn redis_store(prefix: &str, clock: &Arc<ManualClock>) -> Arc<dyn Store> {
    let store = RedisStore::connect(&redis_server().url(), prefix)
        .await
        .expect("connects to the test redis-server")
        .with_test_clock(clock.clone());
    Arc::new(store)
}

/// A fresh store and the clock that drives it.
struct Fixture {
    // Dropped before `_dir`: an embedded store is closed before its directory goes.
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    backend: Backend,
    redis_prefix: Option<String>,
    _dir: Option<TempDir>,
}

impl Fixture {
    /// Another store on the same backend: for Redis a second connection on the same
    /// server and prefix (another instance); the embedded store belongs to one process
    /// and the memory store to one value, so for them another handle to the same store.
    async fn twin(&self) -> Arc<dyn Store> {
        match &self.redis_prefix {
            Some(prefix) => redis_store(prefix, &self.clock).await,
            None => self.store.clone(),
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn wait(d: Duration) -> Admission {
    Admission::Wait(d)
}

/// Turns each behaviour (a generic `async fn(Fixture)` in this file) into one
/// `#[tokio::test]` per backend, in modules `memory`, `embedded` and `redis`, and adds
/// each backend's run of the property test with its number of cases.
macro_rules! every_backend {
    (
        property_cases: { memory: $m:expr, embedded: $e:expr, redis: $r:expr $(,)? },
        behaviours: [$($name:ident),* $(,)?] $(,)?
    ) => {
        every_backend!(@one memory, Backend::Memory, $m, [$($name),*]);
        every_backend!(@one embedded, Backend::Embedded, $e, [$($name),*]);
        every_backend!(@one redis, Backend::Redis, $r, [$($name),*]);
    };
    (@one $module:ident, $backend:expr, $cases:expr, [$($name:ident),*]) => {
        mod $module {
            use super::*;

            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($backend.fresh().await).await;
                }
            )*

            proptest! {
                #![proptest_config(property_config($cases))]
                #[test]
                fn admissions_match_the_reference_model(case in admission_case()) {
                    runtime().block_on(admissions_match_the_model($backend, &case))?;
                }
            }
        }
    };
}

every_backend! {
    property_cases: { memory: 64, embedded: 64, redis: 64 },
    behaviours: [
        admit_spends_the_limit_then_waits,
        admit_earns_one_back_per_interval,
        admit_needs_every_rule_and_a_refusal_changes_nothing,
        admit_keys_are_independent,
        peek_tells_what_admit_would_and_spends_nothing,
        hit_with_a_limit_of_one_is_a_lockout_that_decays,
        hit_with_a_larger_limit_fills_and_drains,
        spend_takes_from_every_window_or_from_none,
        spend_counts_vanish_when_the_window_ends,
        put_and_get_expire_by_the_clock,
        put_new_sets_once_and_again_after_expiry,
        delete_forgets_a_key_of_any_kind,
        delete_if_deletes_only_what_holds_the_value,
        incr_below_counts_to_the_cap_and_lives_from_first_use,
        give_back_takes_one_count_back_and_keeps_its_expiry,
        take_due_hands_out_due_members_in_order_once,
        take_due_respects_max,
        lease_due_hands_a_member_out_again_when_its_lease_ends,
        queued_lists_members_soonest_first_taking_nothing,
        unschedule_and_reschedule_move_members,
        check_reports_the_backend_and_schema,
        two_stores_on_one_backend_see_each_others_writes,
        put_new_is_won_exactly_once_in_a_race,
        take_due_hands_out_each_member_once_in_a_race,
        admit_and_incr_below_hold_their_limits_in_a_race,
    ],
}

// ---------------------------------------------------------------------------------
// Admission (GCRA).

async fn admit_spends_the_limit_then_waits(fx: Fixture) {
    let s = &fx.store;
    let rules = [Rule::new(3, secs(600))];
    for n in 1..=3 {
        assert_eq!(
            s.admit("code:alice", &rules).await.unwrap(),
            Admission::Admitted,
            "#{n}"
        );
    }
    // The fourth waits one interval (600 s / 3), to the millisecond.
    assert_eq!(
        s.admit("code:alice", &rules).await.unwrap(),
        wait(secs(200))
    );
    fx.advance(secs(200) - ms(1));
    assert_eq!(s.admit("code:alice", &rules).await.unwrap(), wait(ms(1)));
    fx.advance(ms(1));
    assert_eq!(
        s.admit("code:alice", &rules).await.unwrap(),
        Admission::Admitted
    );
    assert_eq!(
        s.admit("code:alice", &rules).await.unwrap(),
        wait(secs(200))
    );
}

async fn admit_earns_one_back_per_interval(fx: Fixture) {
    let s = &fx.store;
    let rules = [Rule::new(3, secs(600))];
    for _ in 0..3 {
        assert!(s.admit("k", &rules).await.unwrap().is_admitted());
    }
    // Two intervals later, exactly two have been earned back.
    fx.advance(secs(400));
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted);
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted);
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(200)));
    // A whole window of quiet earns the whole burst back, and no more.
    fx.advance(secs(600));
    for _ in 0..3 {
        assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted);
    }
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(200)));
}

async fn admit_needs_every_rule_and_a_refusal_changes_nothing(fx: Fixture) {
    let s = &fx.store;
    // A 30 s cooldown and 3 per 10 minutes, as for sending codes.
    let rules = [Rule::new(1, secs(30)), Rule::new(3, secs(600))];
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted); // t0
    fx.advance(secs(10));
    // The cooldown refuses; the wait is the longest over the rules.
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(20)));
    fx.advance(secs(10));
    // The refusal moved nothing: 10 s later the wait is 10 s shorter.
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(10)));
    fx.advance(secs(10));
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted); // t0 + 30
    fx.advance(secs(30));
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted); // t0 + 60
    fx.advance(secs(30));
    // The cooldown is over, but three were spent: the second rule's TAT is t0 + 600,
    // so the next is allowed at t0 + 600 - 400 = t0 + 200.
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(110)));
    fx.advance(secs(110) - ms(1));
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(ms(1)));
    fx.advance(ms(1));
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted); // t0 + 200
    // Now both rules refuse: the cooldown for 30 s, the limit for 200 s.
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(200)));
}

async fn peek_tells_what_admit_would_and_spends_nothing(fx: Fixture) {
    let s = &fx.store;
    let rules = [Rule::new(1, secs(30)), Rule::new(2, secs(600))];
    // A key never used, peeked at any number of times, still has its whole burst.
    for _ in 0..5 {
        assert_eq!(s.peek("k", &rules).await.unwrap(), Admission::Admitted);
    }
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted);
    // The same exact wait admit would give, and it runs down with the clock.
    assert_eq!(s.peek("k", &rules).await.unwrap(), wait(secs(30)));
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(30)));
    fx.advance(secs(10));
    assert_eq!(s.peek("k", &rules).await.unwrap(), wait(secs(20)));
    fx.advance(secs(20));
    assert_eq!(s.peek("k", &rules).await.unwrap(), Admission::Admitted);
    assert_eq!(s.peek("k", &rules).await.unwrap(), Admission::Admitted);
    assert_eq!(s.admit("k", &rules).await.unwrap(), Admission::Admitted);
    // Both spent: the next is one interval of the second rule after the first event.
    assert_eq!(s.peek("k", &rules).await.unwrap(), wait(secs(270)));
    assert_eq!(s.admit("k", &rules).await.unwrap(), wait(secs(270)));
    // Another key is untouched by all of it.
    assert_eq!(s.peek("other", &rules).await.unwrap(), Admission::Admitted);
}

async fn admit_keys_are_independent(fx: Fixture) {
    let s = &fx.store;
    let rules = [Rule::new(2, secs(60))];
    // Names that a careless key layout could merge.
    let keys = ["a", "b", "a:", "k{1}", "k%7B1%7D", "k{1", "queue:x", ""];
    for key in keys {
        assert!(s.admit(key, &rules).await.unwrap().is_admitted(), "{key:?}");
        assert!(s.admit(key, &rules).await.unwrap().is_admitted(), "{key:?}");
    }
    for key in keys {
        assert_eq!(
            s.admit(key, &rules).await.unwrap(),
            wait(secs(30)),
            "{key:?}"
        );
    }
    assert!(s.admit("c", &rules).await.unwrap().is_admitted());
}

// ---------------------------------------------------------------------------------
// Hits (failures counted whatever the level).

async fn hit_with_a_limit_of_one_is_a_lockout_that_decays(fx: Fixture) {
    let s = &fx.store;
    let rule = Rule::new(1, secs(60));
    assert_eq!(s.hit("lockout:alice", rule).await.unwrap(), 1);
    // Forgotten exactly one window later.
    fx.advance(secs(60));
    assert_eq!(s.hit("lockout:alice", rule).await.unwrap(), 1);
    // A millisecond short of the window the last one is still held: 60.001 s of
    // backlog is two windows' worth, rounded up.
    fx.advance(secs(60) - ms(1));
    assert_eq!(s.hit("lockout:alice", rule).await.unwrap(), 2);
    assert_eq!(s.hit("lockout:alice", rule).await.unwrap(), 3);
    // Other keys are their own.
    assert_eq!(s.hit("lockout:bob", rule).await.unwrap(), 1);
    // Three windows (less the millisecond) drain all three.
    fx.advance(secs(120) + ms(1));
    assert_eq!(s.hit("lockout:alice", rule).await.unwrap(), 1);
}

async fn hit_with_a_larger_limit_fills_and_drains(fx: Fixture) {
    let s = &fx.store;
    // 3 per hour: the interval is 1200 s.
    let rule = Rule::new(3, secs(3600));
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 1);
    fx.advance(ms(1));
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 2);
    fx.advance(ms(1));
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 3);
    // Counted whatever the level: TAT is t0 + 4800 s, 4 intervals (less 2 ms) ahead.
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 4);
    // Two intervals drain two; this hit adds one: TAT t0 + 6000 s, backlog 3600 s - 2 ms.
    fx.advance(secs(2400));
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 3);
    // Long after, the bucket is empty again.
    fx.advance(secs(10 * 3600));
    assert_eq!(s.hit("fail:x", rule).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------
// Budgets: fixed windows.

fn window(key: &str, cap: u32, ends: SystemTime) -> FixedWindow {
    FixedWindow {
        key: key.into(),
        cap,
        ends,
    }
}

async fn spend_takes_from_every_window_or_from_none(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    let day1 = window("d1", 2, now + secs(86_400));
    let day2 = window("d2", 2, now + secs(2 * 86_400));
    let month = window("m1", 3, now + secs(30 * 86_400));
    let with = |day: &FixedWindow| vec![day.clone(), month.clone()];

    assert_eq!(s.used("sms", &with(&day1)).await.unwrap(), vec![0, 0]);
    assert_eq!(
        s.spend("sms", &with(&day1)).await.unwrap(),
        Spend::Spent(vec![1, 1])
    );
    assert_eq!(
        s.spend("sms", &with(&day1)).await.unwrap(),
        Spend::Spent(vec![2, 2])
    );
    // The day is full: nothing is taken from the month either.
    assert_eq!(
        s.spend("sms", &with(&day1)).await.unwrap(),
        Spend::Full(vec![2, 2])
    );
    assert_eq!(s.used("sms", &with(&day1)).await.unwrap(), vec![2, 2]);
    // Another group has windows of its own.
    assert_eq!(
        s.spend("voice", &with(&day1)).await.unwrap(),
        Spend::Spent(vec![1, 1])
    );
    // A new window key (the next day) starts at zero.
    assert_eq!(s.used("sms", &with(&day2)).await.unwrap(), vec![0, 2]);
    assert_eq!(
        s.spend("sms", &with(&day2)).await.unwrap(),
        Spend::Spent(vec![1, 3])
    );
    // Now the month is full: nothing is taken from the day.
    assert_eq!(
        s.spend("sms", &with(&day2)).await.unwrap(),
        Spend::Full(vec![1, 3])
    );
    assert_eq!(s.used("sms", &with(&day2)).await.unwrap(), vec![1, 3]);
    assert_eq!(s.used("sms", from_ref(&day1)).await.unwrap(), vec![2]);
    assert_eq!(s.used("voice", &with(&day2)).await.unwrap(), vec![0, 1]);
    // A window with no room at all.
    let closed = window("closed", 0, now + secs(60));
    assert_eq!(
        s.spend("sms", &[closed]).await.unwrap(),
        Spend::Full(vec![0])
    );
}

async fn spend_counts_vanish_when_the_window_ends(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    let hour1 = window("h1", 1, now + secs(3600));
    let hour2 = window("h2", 1, now + secs(7200));
    assert_eq!(
        s.spend("g", from_ref(&hour1)).await.unwrap(),
        Spend::Spent(vec![1])
    );
    assert_eq!(
        s.spend("g", from_ref(&hour1)).await.unwrap(),
        Spend::Full(vec![1])
    );
    fx.advance(secs(3600) - ms(1));
    assert_eq!(s.used("g", from_ref(&hour1)).await.unwrap(), vec![1]);
    assert_eq!(
        s.spend("g", from_ref(&hour1)).await.unwrap(),
        Spend::Full(vec![1])
    );
    fx.advance(ms(1));
    // At `ends` the count is gone.
    assert_eq!(s.used("g", from_ref(&hour1)).await.unwrap(), vec![0]);
    assert_eq!(
        s.spend("g", from_ref(&hour2)).await.unwrap(),
        Spend::Spent(vec![1])
    );
    assert_eq!(s.used("g", &[hour1, hour2]).await.unwrap(), vec![0, 1]);
}

// ---------------------------------------------------------------------------------
// Values and counters.

async fn put_and_get_expire_by_the_clock(fx: Fixture) {
    let s = &fx.store;
    assert_eq!(s.get("v").await.unwrap(), None);
    s.put("v", b"one", secs(60)).await.unwrap();
    assert_eq!(s.get("v").await.unwrap(), Some(b"one".to_vec()));
    fx.advance(secs(60) - ms(1));
    assert_eq!(s.get("v").await.unwrap(), Some(b"one".to_vec()));
    // A put replaces the value and its ttl.
    s.put("v", b"two", secs(10)).await.unwrap();
    assert_eq!(s.get("v").await.unwrap(), Some(b"two".to_vec()));
    fx.advance(secs(10) - ms(1));
    assert_eq!(s.get("v").await.unwrap(), Some(b"two".to_vec()));
    fx.advance(ms(1));
    assert_eq!(s.get("v").await.unwrap(), None);
    // Values are bytes: any bytes, or none.
    let binary = [0u8, 255, b'\n', b'\r', 0xc3, 0x28, b'{', b'}'];
    s.put("bin", &binary, secs(5)).await.unwrap();
    assert_eq!(s.get("bin").await.unwrap(), Some(binary.to_vec()));
    s.put("empty", b"", secs(5)).await.unwrap();
    assert_eq!(s.get("empty").await.unwrap(), Some(Vec::new()));
    assert_eq!(s.get("other").await.unwrap(), None);
}

async fn put_new_sets_once_and_again_after_expiry(fx: Fixture) {
    let s = &fx.store;
    assert!(s.put_new("once", b"a", secs(30)).await.unwrap());
    assert!(!s.put_new("once", b"b", secs(30)).await.unwrap());
    assert_eq!(s.get("once").await.unwrap(), Some(b"a".to_vec()));
    fx.advance(secs(30) - ms(1));
    assert!(!s.put_new("once", b"b", secs(30)).await.unwrap());
    assert_eq!(s.get("once").await.unwrap(), Some(b"a".to_vec()));
    fx.advance(ms(1));
    assert!(s.put_new("once", b"c", secs(30)).await.unwrap());
    assert_eq!(s.get("once").await.unwrap(), Some(b"c".to_vec()));
    // What `put` set counts as there.
    s.put("put", b"x", secs(30)).await.unwrap();
    assert!(!s.put_new("put", b"y", secs(30)).await.unwrap());
    assert_eq!(s.get("put").await.unwrap(), Some(b"x".to_vec()));
}

async fn delete_forgets_a_key_of_any_kind(fx: Fixture) {
    let s = &fx.store;
    s.put("v", b"x", secs(60)).await.unwrap();
    s.delete("v").await.unwrap();
    assert_eq!(s.get("v").await.unwrap(), None);
    assert!(s.put_new("v", b"y", secs(60)).await.unwrap());
    assert_eq!(s.get("v").await.unwrap(), Some(b"y".to_vec()));
    // Deleting what isn't there is fine.
    s.delete("never").await.unwrap();
    // A counter starts again.
    assert_eq!(s.incr_below("n", 1, secs(60)).await.unwrap(), Some(1));
    assert_eq!(s.incr_below("n", 1, secs(60)).await.unwrap(), None);
    s.delete("n").await.unwrap();
    assert_eq!(s.incr_below("n", 1, secs(60)).await.unwrap(), Some(1));
    // A spent limit is whole again (an unban).
    let rules = [Rule::new(1, secs(3600))];
    assert!(s.admit("ban", &rules).await.unwrap().is_admitted());
    assert_eq!(s.admit("ban", &rules).await.unwrap(), wait(secs(3600)));
    s.delete("ban").await.unwrap();
    assert!(s.admit("ban", &rules).await.unwrap().is_admitted());
    // Others are untouched.
    assert_eq!(s.get("v").await.unwrap(), Some(b"y".to_vec()));
}

/// A lock's release: its holder's token deletes it; after it ran out and another
/// took it, the first holder's token deletes nothing.
async fn delete_if_deletes_only_what_holds_the_value(fx: Fixture) {
    let (s, other) = (&fx.store, &fx.twin().await);
    assert!(s.put_new("lock", b"first", secs(5)).await.unwrap());
    assert!(!s.delete_if("lock", b"someone else").await.unwrap());
    assert!(!s.delete_if("lock", b"firs").await.unwrap());
    assert_eq!(s.get("lock").await.unwrap(), Some(b"first".to_vec()));
    assert!(other.delete_if("lock", b"first").await.unwrap());
    assert_eq!(s.get("lock").await.unwrap(), None);
    assert!(!s.delete_if("lock", b"first").await.unwrap());

    // Run out, then taken by another: the late release leaves the new holder's lock.
    assert!(s.put_new("lock", b"first", secs(5)).await.unwrap());
    fx.advance(secs(5));
    assert!(other.put_new("lock", b"second", secs(5)).await.unwrap());
    assert!(!s.delete_if("lock", b"first").await.unwrap());
    assert_eq!(s.get("lock").await.unwrap(), Some(b"second".to_vec()));
    // Run out and not taken: nothing to release.
    fx.advance(secs(5));
    assert!(!other.delete_if("lock", b"second").await.unwrap());
    assert!(s.put_new("lock", b"third", secs(5)).await.unwrap());
}

async fn incr_below_counts_to_the_cap_and_lives_from_first_use(fx: Fixture) {
    let s = &fx.store;
    let ttl = secs(60);
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(1));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(2));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(3));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), None);
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), None);
    fx.advance(secs(60) - ms(1));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), None);
    // Gone `ttl` after its first use, whatever happened since.
    fx.advance(ms(1));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(1));
    fx.advance(secs(30));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(2));
    // Later increments did not extend it: 60 s after the first use of this life.
    fx.advance(secs(30));
    assert_eq!(s.incr_below("c", 3, ttl).await.unwrap(), Some(1));
    // A higher cap on the same counter lets it go on.
    assert_eq!(s.incr_below("c", 1, ttl).await.unwrap(), None);
    assert_eq!(s.incr_below("c", 5, ttl).await.unwrap(), Some(2));
    // A cap of zero never counts.
    assert_eq!(s.incr_below("zero", 0, ttl).await.unwrap(), None);
    assert_eq!(s.incr_below("zero", 1, ttl).await.unwrap(), Some(1));
}

async fn give_back_takes_one_count_back_and_keeps_its_expiry(fx: Fixture) {
    let s = &fx.store;
    let ttl = secs(60);
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), Some(1));
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), Some(2));
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), None);
    s.give_back("c").await.unwrap();
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), Some(2));
    // Never below zero.
    s.give_back("c").await.unwrap();
    s.give_back("c").await.unwrap();
    s.give_back("c").await.unwrap();
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), Some(1));
    // Its life still runs from its first use.
    fx.advance(secs(60));
    s.give_back("c").await.unwrap();
    assert_eq!(s.incr_below("c", 2, ttl).await.unwrap(), Some(1));
    // Nothing to give back to: nothing made.
    s.give_back("absent").await.unwrap();
    assert_eq!(s.get("absent").await.unwrap(), None);
    assert_eq!(s.incr_below("absent", 2, ttl).await.unwrap(), Some(1));
}

// ---------------------------------------------------------------------------------
// Queues.

async fn take_due_hands_out_due_members_in_order_once(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    s.schedule("q", "late", now + secs(10)).await.unwrap();
    s.schedule("q", "soon", now + secs(5)).await.unwrap();
    s.schedule("q", "overdue", now - secs(1)).await.unwrap();
    s.schedule("q", "now", now).await.unwrap();
    s.schedule("other", "elsewhere", now).await.unwrap();
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["overdue", "now"]);
    assert_eq!(s.take_due("q", 10).await.unwrap(), Vec::<String>::new());
    fx.advance(secs(5));
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["soon"]);
    fx.advance(secs(5) - ms(1));
    assert_eq!(s.take_due("q", 10).await.unwrap(), Vec::<String>::new());
    fx.advance(ms(1));
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["late"]);
    assert_eq!(s.take_due("q", 10).await.unwrap(), Vec::<String>::new());
    assert_eq!(s.take_due("other", 10).await.unwrap(), ["elsewhere"]);
    assert_eq!(s.take_due("never", 10).await.unwrap(), Vec::<String>::new());
}

async fn take_due_respects_max(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    // Scheduled out of order; m0 is the most overdue.
    for i in [3u64, 0, 4, 1, 2] {
        s.schedule("q", &format!("m{i}"), now - secs(10 - i))
            .await
            .unwrap();
    }
    assert_eq!(s.take_due("q", 2).await.unwrap(), ["m0", "m1"]);
    assert_eq!(s.take_due("q", 0).await.unwrap(), Vec::<String>::new());
    assert_eq!(s.take_due("q", 2).await.unwrap(), ["m2", "m3"]);
    assert_eq!(s.take_due("q", 2).await.unwrap(), ["m4"]);
    assert_eq!(s.take_due("q", 2).await.unwrap(), Vec::<String>::new());
}

async fn lease_due_hands_a_member_out_again_when_its_lease_ends(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    s.schedule("jobs", "a", now - secs(1)).await.unwrap();
    s.schedule("jobs", "b", now).await.unwrap();
    s.schedule("jobs", "later", now + secs(30)).await.unwrap();
    assert_eq!(s.lease_due("jobs", 10, secs(60)).await.unwrap(), ["a", "b"]);
    // Leased: nobody else gets them while the lease runs.
    assert_eq!(
        s.lease_due("jobs", 10, secs(60)).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(s.take_due("jobs", 10).await.unwrap(), Vec::<String>::new());
    // The worker finishes "a"; "b"'s worker dies and its lease runs out.
    s.unschedule("jobs", "a").await.unwrap();
    fx.advance(secs(30));
    assert_eq!(s.lease_due("jobs", 1, secs(60)).await.unwrap(), ["later"]);
    fx.advance(secs(30));
    assert_eq!(s.lease_due("jobs", 10, secs(60)).await.unwrap(), ["b"]);
    assert_eq!(
        s.lease_due("jobs", 0, secs(60)).await.unwrap(),
        Vec::<String>::new()
    );
}

async fn queued_lists_members_soonest_first_taking_nothing(fx: Fixture) {
    use roomgate::store::QueueEnd::{Latest, Soonest};
    let s = &fx.store;
    let now = fx.now();
    let day = secs(86_400);
    s.schedule("index", "third", now + day * 3).await.unwrap();
    s.schedule("index", "first", now + day).await.unwrap();
    s.schedule("index", "second", now + day * 2).await.unwrap();
    let names = |listed: &[(String, SystemTime)]| -> Vec<String> {
        listed.iter().map(|(m, _)| m.clone()).collect()
    };
    let listed = s.queued("index", 10, Soonest).await.unwrap();
    assert_eq!(names(&listed), ["first", "second", "third"]);
    let at_ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert_eq!(at_ms(listed[0].1), at_ms(now + day));
    assert_eq!(at_ms(listed[2].1), at_ms(now + day * 3));
    assert_eq!(
        names(&s.queued("index", 2, Soonest).await.unwrap()),
        ["first", "second"]
    );
    // From the other end: the latest, however many come before them.
    let latest = s.queued("index", 2, Latest).await.unwrap();
    assert_eq!(names(&latest), ["third", "second"]);
    assert_eq!(at_ms(latest[0].1), at_ms(now + day * 3));
    assert!(s.queued("index", 0, Soonest).await.unwrap().is_empty());
    assert!(s.queued("index", 0, Latest).await.unwrap().is_empty());
    assert!(
        s.queued("nothing-here", 10, Latest)
            .await
            .unwrap()
            .is_empty()
    );
    // Listing took nothing.
    assert_eq!(s.queued("index", 10, Soonest).await.unwrap().len(), 3);
}

async fn unschedule_and_reschedule_move_members(fx: Fixture) {
    let s = &fx.store;
    let now = fx.now();
    s.schedule("q", "gone", now).await.unwrap();
    s.schedule("q", "kept", now).await.unwrap();
    s.unschedule("q", "gone").await.unwrap();
    // Unscheduling what isn't there is fine.
    s.unschedule("q", "never").await.unwrap();
    s.unschedule("no-such-queue", "x").await.unwrap();
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["kept"]);

    // Moved later: not due now, and handed out once when it is.
    s.schedule("q", "later", now).await.unwrap();
    s.schedule("q", "later", now + secs(10)).await.unwrap();
    // Moved earlier: due now.
    s.schedule("q", "earlier", now + secs(3600)).await.unwrap();
    s.schedule("q", "earlier", now).await.unwrap();
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["earlier"]);
    fx.advance(secs(10));
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["later"]);
    fx.advance(secs(3600));
    assert_eq!(s.take_due("q", 10).await.unwrap(), Vec::<String>::new());

    // Taken, then scheduled again: it comes back.
    let now = fx.now();
    s.schedule("q", "again", now).await.unwrap();
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["again"]);
    s.schedule("q", "again", now).await.unwrap();
    assert_eq!(s.take_due("q", 10).await.unwrap(), ["again"]);
}

// ---------------------------------------------------------------------------------
// Health.

async fn check_reports_the_backend_and_schema(fx: Fixture) {
    let status = fx.store.check().await.unwrap();
    assert_eq!(status.backend, fx.backend.name());
    assert_eq!(status.schema_version, SCHEMA_VERSION);
    assert!(!status.location.is_empty());
    assert_eq!(fx.store.backend(), fx.backend.name());
    // The store's clock is the one it judges time by.
    assert_eq!(fx.store.clock().now(), fx.now());
    fx.advance(secs(1));
    assert_eq!(fx.store.clock().now(), fx.now());
}

// ---------------------------------------------------------------------------------
// Two stores on one backend.

async fn two_stores_on_one_backend_see_each_others_writes(fx: Fixture) {
    let (a, b) = (&fx.store, &fx.twin().await);
    a.put("v", b"from a", secs(60)).await.unwrap();
    assert_eq!(b.get("v").await.unwrap(), Some(b"from a".to_vec()));
    assert!(!b.put_new("v", b"from b", secs(60)).await.unwrap());
    b.delete("v").await.unwrap();
    assert_eq!(a.get("v").await.unwrap(), None);

    let rules = [Rule::new(2, secs(60))];
    assert!(a.admit("k", &rules).await.unwrap().is_admitted());
    assert!(b.admit("k", &rules).await.unwrap().is_admitted());
    assert_eq!(a.admit("k", &rules).await.unwrap(), wait(secs(30)));
    assert_eq!(b.admit("k", &rules).await.unwrap(), wait(secs(30)));

    let rule = Rule::new(1, secs(60));
    assert_eq!(a.hit("h", rule).await.unwrap(), 1);
    assert_eq!(b.hit("h", rule).await.unwrap(), 2);

    let day = window("d", 2, fx.now() + secs(86_400));
    assert_eq!(
        a.spend("sms", from_ref(&day)).await.unwrap(),
        Spend::Spent(vec![1])
    );
    assert_eq!(
        b.spend("sms", from_ref(&day)).await.unwrap(),
        Spend::Spent(vec![2])
    );
    assert_eq!(
        a.spend("sms", from_ref(&day)).await.unwrap(),
        Spend::Full(vec![2])
    );
    assert_eq!(b.used("sms", &[day]).await.unwrap(), vec![2]);

    assert_eq!(a.incr_below("n", 2, secs(60)).await.unwrap(), Some(1));
    assert_eq!(b.incr_below("n", 2, secs(60)).await.unwrap(), Some(2));
    assert_eq!(a.incr_below("n", 2, secs(60)).await.unwrap(), None);

    a.schedule("q", "m", fx.now()).await.unwrap();
    b.schedule("q", "gone", fx.now()).await.unwrap();
    a.unschedule("q", "gone").await.unwrap();
    assert_eq!(b.take_due("q", 10).await.unwrap(), ["m"]);
    assert_eq!(a.take_due("q", 10).await.unwrap(), Vec::<String>::new());
}

async fn put_new_is_won_exactly_once_in_a_race(fx: Fixture) {
    let (a, b) = (fx.store.clone(), fx.twin().await);
    // Two callers at once, one on each store.
    for round in 0..20 {
        let key = format!("pair:{round}");
        let (x, y) = tokio::join!(
            a.put_new(&key, b"a", secs(60)),
            b.put_new(&key, b"b", secs(60))
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x ^ y, "round {round}: a {x}, b {y}");
        let winner: &[u8] = if x { b"a" } else { b"b" };
        assert_eq!(a.get(&key).await.unwrap().as_deref(), Some(winner));
    }
    // Many callers at once, spread over both stores.
    for round in 0..5 {
        let key = format!("many:{round}");
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let key = key.clone();
                tokio::spawn(async move {
                    let mine = format!("task {i}");
                    let won = store
                        .put_new(&key, mine.as_bytes(), secs(60))
                        .await
                        .unwrap();
                    won.then_some(mine)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            b.get(&key).await.unwrap(),
            Some(winners[0].as_bytes().to_vec())
        );
    }
}

async fn take_due_hands_out_each_member_once_in_a_race(fx: Fixture) {
    let (a, b) = (fx.store.clone(), fx.twin().await);
    let now = fx.now();
    let members: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
    for (i, m) in members.iter().enumerate() {
        let at = now - ms(200 - i as u64);
        a.schedule("q", m, at).await.unwrap();
    }
    // Not due yet: never handed out.
    b.schedule("q", "future", now + secs(1)).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let mut mine = Vec::new();
                // 200 members can't take more than 200 non-empty takes: a store that
                // hands members out again fails here rather than spinning forever.
                for _ in 0..=200 {
                    let got = store.take_due("q", 3).await.unwrap();
                    assert!(got.len() <= 3, "{got:?}");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
                panic!("the queue never ran dry: {} taken by one task", mine.len());
            })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        // Each taker sees due times in order.
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted);
        taken.extend(mine);
    }
    taken.sort();
    assert_eq!(taken, members, "each due member exactly once");
    assert_eq!(a.take_due("q", 10).await.unwrap(), Vec::<String>::new());
    fx.advance(secs(1));
    assert_eq!(b.take_due("q", 10).await.unwrap(), ["future"]);
}

async fn admit_and_incr_below_hold_their_limits_in_a_race(fx: Fixture) {
    let (a, b) = (fx.store.clone(), fx.twin().await);
    let rules = [Rule::new(10, secs(3600))];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                let admitted = store.admit("hot", &rules).await.unwrap().is_admitted();
                let counted = store.incr_below("count", 10, secs(60)).await.unwrap();
                (admitted, counted)
            })
        })
        .collect();
    let mut admitted = 0;
    let mut counts = Vec::new();
    for task in tasks {
        let (yes, count) = task.await.unwrap();
        admitted += usize::from(yes);
        counts.extend(count);
    }
    assert_eq!(admitted, 10);
    counts.sort_unstable();
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
}

// ---------------------------------------------------------------------------------
// The property: admission equals the sliding-window definition of GCRA.

/// The reference: the log of every admitted event, and the definition. An event at `t`
/// is admitted iff for every rule and every earlier admitted event `e_j` (`j = 1` the
/// most recent), `t - e_j >= j * I - tau`, with `I = max(1, window / limit)` and
/// `tau = (limit - 1) * I`; when refused, it waits the largest
/// `(e_j + j * I - tau) - t`. O(n) per event on purpose: nothing here is GCRA's
/// one-number state.
struct Reference {
    /// (I, tau) per rule, ms.
    rules: Vec<(i128, i128)>,
    admitted: Vec<u64>,
}

impl Reference {
    fn new(rules: &[Rule]) -> Self {
        let rules = rules
            .iter()
            .map(|r| {
                let limit = i128::from(r.limit);
                let interval = (r.window.as_millis() as i128 / limit).max(1);
                (interval, (limit - 1) * interval)
            })
            .collect();
        Self {
            rules,
            admitted: Vec::new(),
        }
    }

    fn admit(&mut self, t: u64) -> Admission {
        let mut wait: i128 = 0;
        for &(interval, tau) in &self.rules {
            for (j, &e) in self.admitted.iter().rev().enumerate() {
                let j = j as i128 + 1;
                let earliest = i128::from(e) + j * interval - tau;
                wait = wait.max(earliest - i128::from(t));
            }
        }
        if wait > 0 {
            Admission::Wait(Duration::from_millis(wait as u64))
        } else {
            self.admitted.push(t);
            Admission::Admitted
        }
    }
}

#[test]
fn the_reference_agrees_with_the_worked_examples() {
    let t0 = 1_800_000_000_000;
    let mut one = Reference::new(&[Rule::new(3, secs(600))]);
    for _ in 0..3 {
        assert_eq!(one.admit(t0), Admission::Admitted);
    }
    assert_eq!(one.admit(t0), wait(secs(200)));
    assert_eq!(one.admit(t0 + 199_999), wait(ms(1)));
    assert_eq!(one.admit(t0 + 200_000), Admission::Admitted);

    let mut two = Reference::new(&[Rule::new(1, secs(30)), Rule::new(3, secs(600))]);
    assert_eq!(two.admit(t0), Admission::Admitted);
    assert_eq!(two.admit(t0 + 10_000), wait(secs(20)));
    assert_eq!(two.admit(t0 + 30_000), Admission::Admitted);
    assert_eq!(two.admit(t0 + 60_000), Admission::Admitted);
    assert_eq!(two.admit(t0 + 90_000), wait(secs(110)));
    // I = max(1, 5 / 20) = 1 ms, tau = 19 ms: 20 at once, then one per ms.
    let mut tiny = Reference::new(&[Rule::new(20, ms(5))]);
    for _ in 0..20 {
        assert_eq!(tiny.admit(t0), Admission::Admitted);
    }
    assert_eq!(tiny.admit(t0), wait(ms(1)));
    assert_eq!(tiny.admit(t0 + 1), Admission::Admitted);
}

#[derive(Debug, Clone)]
struct AdmissionCase {
    rules: Vec<Rule>,
    /// Milliseconds between one arrival and the next (the first is after the first gap).
    gaps_ms: Vec<u64>,
}

fn admission_case() -> impl Strategy<Value = AdmissionCase> {
    let window_ms = prop_oneof![1 => 1u64..=20, 3 => 1u64..=10_000];
    let rule = (1u32..=20, window_ms).prop_map(|(limit, w)| Rule::new(limit, ms(w)));
    // Arrivals in runs: a gap (none, a few ms, or a quiet spell), then that many
    // arrivals at the same instant, so limits are spent in bursts, refused, and earned
    // back one interval at a time.
    let gap = prop_oneof![2 => Just(0u64), 4 => 0u64..50, 3 => 0u64..12_000];
    let run = (gap, prop_oneof![3 => Just(1usize), 2 => 1usize..=25]);
    (
        prop::collection::vec(rule, 1..=3),
        prop::collection::vec(run, 1..=12),
    )
        .prop_map(|(rules, runs)| {
            let gaps_ms = runs
                .into_iter()
                .flat_map(|(gap, n)| std::iter::once(gap).chain(std::iter::repeat_n(0, n - 1)))
                .take(100)
                .collect();
            AdmissionCase { rules, gaps_ms }
        })
}

fn property_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // No `proptest-regressions/` files in the tree: a failure prints its case.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// One runtime for the property tests' async stores.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Every arrival of `case` on a fresh store of `backend`, against the reference.
async fn admissions_match_the_model(
    backend: Backend,
    case: &AdmissionCase,
) -> Result<(), TestCaseError> {
    let fx = backend.fresh().await;
    let mut reference = Reference::new(&case.rules);
    let start = unix_ms(fx.now());
    let mut t = start;
    for (n, &gap) in case.gaps_ms.iter().enumerate() {
        fx.advance(ms(gap));
        t += gap;
        prop_assert_eq!(unix_ms(fx.now()), t);
        let expected = reference.admit(t);
        let got = fx
            .store
            .admit("prop", &case.rules)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            got,
            expected,
            "event #{} at +{} ms (the reference admitted, at +ms: {:?})",
            n,
            t - start,
            reference
                .admitted
                .iter()
                .map(|e| e - start)
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}
