//! Everything roomgate remembers between requests, behind one seam.
//!
//! Rate-limit buckets, lockouts, the SMS budget and its alert markers, revoked session
//! ids, pending sign-ins, host bans and the rooms known to exist all live in a
//! [`Store`]. Two real backends stand behind it:
//! - [`embedded`]: the default, a redb file under `ROOMGATE_DATA_DIR`, for one process;
//! - [`redis`]: when `ROOMGATE_REDIS_URL` is set, shared by every instance.
//!
//! [`memory`] is a test double; no mode of `roomgate serve` uses it.
//!
//! Every operation can fail ([`StoreError`]): callers fail closed for anything that
//! spends money or grants access. Every operation is O(1) in the size of what is
//! stored (limits use [`gcra`]), so a request costs the same however busy the gate is.

pub mod embedded;
pub mod gcra;
pub mod health;
pub mod memory;
pub mod metered;
pub mod redis;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::Clock;
use crate::metrics::Metrics;

pub use gcra::{Admission, Rule};

/// The schema this build reads and writes. Both backends record it; a store written by
/// a newer roomgate is refused rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Not reachable, timed out, or refusing work: try again later.
    #[error("the {backend} store is unavailable: {reason}")]
    Unavailable {
        backend: &'static str,
        reason: String,
    },
    /// Reachable, but what it holds can't be read by this build.
    #[error("the {backend} store holds data this build can't read: {reason}")]
    Corrupt {
        backend: &'static str,
        reason: String,
    },
}

impl StoreError {
    pub fn unavailable(backend: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Unavailable {
            backend,
            reason: reason.to_string(),
        }
    }

    pub fn corrupt(backend: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            backend,
            reason: reason.to_string(),
        }
    }
}

/// One fixed, clock-aligned window of a budget: `key` names the window itself (its
/// index in time), so it starts from zero when the next one begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedWindow {
    pub key: String,
    pub cap: u32,
    /// When the window ends; its counter may be forgotten then.
    pub ends: SystemTime,
}

/// What [`Store::spend`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spend {
    /// One was taken from every window: each window's count after it.
    Spent(Vec<u32>),
    /// Nothing was taken: each window's count, at least one of them at its cap.
    Full(Vec<u32>),
}

/// What `roomgate store check` and `/readyz` report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStatus {
    pub backend: &'static str,
    pub schema_version: u32,
    /// Where it is, with any password withheld.
    pub location: String,
}

/// Which end of a queue [`Store::queued`] lists from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEnd {
    /// Soonest due first: what is next to do, or to expire.
    Soonest,
    /// Latest due first: for a listing of the newest, when there may be more than it
    /// shows.
    Latest,
}

/// The seam. Keys are plain text chosen by the callers (`lockout:alice`); a backend
/// adds its own prefix. Values are bytes the callers encode.
///
/// Durability: [`put`](Self::put), [`put_new`](Self::put_new),
/// [`put_if`](Self::put_if), [`delete`](Self::delete),
/// [`incr_below`](Self::incr_below) and the queue are durable before they return.
/// [`spend`](Self::spend) is durable no later than the next durable write made after
/// it. [`admit`](Self::admit) and [`hit`](Self::hit) may be written in batches (the
/// embedded store flushes them at least once a second).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"embedded"`, `"redis"` or `"memory"`.
    fn backend(&self) -> &'static str;

    /// Why the store has failed in a way only a restart mends (the embedded store
    /// after a failed commit), if it has. Redis comes back by itself and never is.
    fn broken(&self) -> Option<String> {
        None
    }

    /// The time every user of this store agrees on: the Redis server's for Redis,
    /// this process's otherwise. Expiry, lockouts and sessions are judged by it.
    fn clock(&self) -> Arc<dyn Clock>;

    /// GCRA admission of one event for `key` under every rule, all or nothing.
    async fn admit(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError>;

    /// What [`admit`](Self::admit) would decide for `key` now, changing nothing. Lets
    /// a caller send an admission that must wait for another one in the same round
    /// trip as that one: a refusal seen here is the refusal `admit` would give, and an
    /// approval may still be refused by the `admit` that follows (another request got
    /// there first).
    async fn peek(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError>;

    /// Count an event for `key` whatever the level; how many the bucket now holds
    /// (see [`gcra::hit`]).
    async fn hit(&self, key: &str, rule: Rule) -> Result<u32, StoreError>;

    /// [`Self::hit`], durable before it returns, for a count a crash must not lose:
    /// a name's failed verifications, which lock it. (The embedded store writes the
    /// counters of `hit` about once a second; Redis writes each at once.)
    async fn hit_durably(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        self.hit(key, rule).await
    }

    /// Take one from every window of `group` if each has room, else none; atomic
    /// across instances.
    async fn spend(&self, group: &str, windows: &[FixedWindow]) -> Result<Spend, StoreError>;

    /// Each window's count, spending nothing.
    async fn used(&self, group: &str, windows: &[FixedWindow]) -> Result<Vec<u32>, StoreError>;

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Set `key` for `ttl`, replacing what was there.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;

    /// Set `key` for `ttl` only if it holds nothing; whether it was set. Across
    /// instances exactly one caller gets `true`.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError>;

    /// Set `key` for `ttl` only if it holds `held` (`None`: nothing, as
    /// [`put_new`](Self::put_new)); whether it was set. In one step: a read, a change
    /// and this write replace what was read only if no one changed it meanwhile,
    /// across instances; a caller that gets `false` reads again and retries.
    async fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Delete `key` only if it holds `value` (and has not expired); whether it did. In
    /// one step, so a lock is released only by its holder, even if it ran out and
    /// another took it in between.
    async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError>;

    /// Add one to the counter at `key` if it is below `cap` (absent counts as 0): the
    /// new count, or `None` at the cap. The counter lives `ttl` from its first use.
    async fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError>;

    /// Take back one [`Self::incr_below`] counted at `key` (a unit spent on work that
    /// could not be done): never below zero, its expiry unchanged, nothing if it is
    /// absent or expired.
    async fn give_back(&self, key: &str) -> Result<(), StoreError>;

    /// Put `member` in `queue`, due at `at` (moving it if it was there).
    async fn schedule(&self, queue: &str, member: &str, at: SystemTime) -> Result<(), StoreError>;

    async fn unschedule(&self, queue: &str, member: &str) -> Result<(), StoreError>;

    /// Take up to `max` members of `queue` that are due; each is handed to one caller
    /// only, across instances.
    async fn take_due(&self, queue: &str, max: usize) -> Result<Vec<String>, StoreError>;

    /// Like [`take_due`](Self::take_due), but each member taken stays in `queue`, due
    /// again `lease` from now: a worker that dies mid-job (a crash, `kill -9`) leaves
    /// its job to be taken again once the lease runs out. The worker moves the member
    /// on ([`schedule`](Self::schedule)) or removes it when done.
    async fn lease_due(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError>;

    /// Up to `max` members of `queue` with their due times, from the `end` asked for
    /// (soonest due first, or latest first), taking nothing: for listings, not for
    /// work.
    async fn queued(
        &self,
        queue: &str,
        max: usize,
        end: QueueEnd,
    ) -> Result<Vec<(String, SystemTime)>, StoreError>;

    /// Reachable, and of a schema this build reads.
    async fn check(&self) -> Result<StoreStatus, StoreError>;
}

pub const DEFAULT_DATA_DIR: &str = "data";
pub const DEFAULT_REDIS_PREFIX: &str = "roomgate:";

/// Which backend, from `ROOMGATE_DATA_DIR`, `ROOMGATE_REDIS_URL` (or `_FILE`) and
/// `ROOMGATE_REDIS_PREFIX`.
#[derive(Clone)]
pub enum StoreSettings {
    Embedded { dir: PathBuf },
    Redis { url: SecretString, prefix: String },
}

// The URL may carry a password: only the scheme is ever printed.
impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Embedded { dir } => f.debug_struct("Embedded").field("dir", dir).finish(),
            Self::Redis { url, prefix } => f
                .debug_struct("Redis")
                .field("url", &redis_scheme(url.expose_secret()))
                .field("prefix", prefix)
                .finish(),
        }
    }
}

fn redis_scheme(url: &str) -> &str {
    url.split_once("://").map_or("?", |(scheme, _)| scheme)
}

impl StoreSettings {
    /// Every problem is one line; no line shows the URL (it may hold a password).
    /// `var` already resolves `ROOMGATE_REDIS_URL_FILE`.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let Some(url) = var("ROOMGATE_REDIS_URL") else {
            let dir = var("ROOMGATE_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.into());
            return Ok(Self::Embedded {
                dir: PathBuf::from(dir.trim()),
            });
        };
        let mut errors = Vec::new();
        let url = url.trim().to_owned();
        if !matches!(
            redis_scheme(&url),
            "redis" | "rediss" | "unix" | "redis+unix"
        ) {
            errors
                .push("ROOMGATE_REDIS_URL must be a redis://, rediss:// or unix:// URL".to_owned());
        }
        let prefix = var("ROOMGATE_REDIS_PREFIX").unwrap_or_else(|| DEFAULT_REDIS_PREFIX.into());
        if prefix.contains(['{', '}']) || prefix.chars().any(char::is_whitespace) {
            errors.push(
                "ROOMGATE_REDIS_PREFIX may not contain braces or spaces (braces are Redis Cluster hash tags)"
                    .to_owned(),
            );
        }
        if errors.is_empty() {
            Ok(Self::Redis {
                url: SecretString::from(url),
                prefix,
            })
        } else {
            Err(errors)
        }
    }
}

/// Open the configured store, with metrics around it. `clock` is for the embedded
/// store (tests pass one they control); Redis keeps the server's time. A Redis that
/// can't be reached is an error: for the host's commands, which report and exit.
pub async fn open(
    settings: &StoreSettings,
    clock: Arc<dyn Clock>,
    metrics: &Metrics,
) -> Result<Arc<dyn Store>, StoreError> {
    let inner: Arc<dyn Store> = match settings {
        StoreSettings::Embedded { dir } => {
            Arc::new(embedded::EmbeddedStore::open(dir, clock).await?)
        }
        StoreSettings::Redis { url, prefix } => {
            Arc::new(redis::RedisStore::connect(url, prefix).await?)
        }
    };
    Ok(Arc::new(metered::Metered::new(inner, metrics.clone())))
}

/// [`open`] for `serve`: a Redis that can't be reached yet is logged, and the store
/// answers "busy" until it can be (see [`redis::RedisStore::connect_or_keep_trying`]).
pub async fn open_for_serving(
    settings: &StoreSettings,
    clock: Arc<dyn Clock>,
    metrics: &Metrics,
) -> Result<Arc<dyn Store>, StoreError> {
    match settings {
        StoreSettings::Redis { url, prefix } => {
            let inner = redis::RedisStore::connect_or_keep_trying(url, prefix).await?;
            Ok(Arc::new(metered::Metered::new(
                Arc::new(inner),
                metrics.clone(),
            )))
        }
        StoreSettings::Embedded { .. } => open(settings, clock, metrics).await,
    }
}

/// Between tries of work the store refused that must not be lost (departures, the
/// passkeys of users who left the list).
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// `attempt`, made again every [`RETRY_EVERY`] until the store takes it; `failing` is
/// said once if it doesn't at first, and `recovered` once it does.
pub async fn until_done<T, F, Fut>(mut attempt: F, failing: &str, recovered: &str) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut failed = false;
    loop {
        match attempt().await {
            Ok(done) => {
                if failed {
                    tracing::info!("{recovered}");
                }
                return done;
            }
            Err(e) => {
                if !failed {
                    tracing::error!(error = %e, "{failing}; trying again every {} s", RETRY_EVERY.as_secs());
                    failed = true;
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
    }
}

/// Unix milliseconds of `t` (0 before the epoch).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(gcra::millis)
        .unwrap_or(0)
}
