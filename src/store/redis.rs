//! The Redis store: what every instance remembers, shared through one Redis.
//!
//! # Why it is built this way
//!
//! - **One Lua script per operation.** Every read-decide-write (an admission, a budget
//!   spend, a put-if-absent, a counter, taking due queue members) runs as one script,
//!   so it is atomic across instances without locks or `WATCH` retries, and costs one
//!   round trip. Scripts go out as `EVALSHA` and fall back to loading themselves when
//!   the server doesn't know them yet (a fresh or restarted Redis), via
//!   [`redis::Script`].
//! - **Redis's time, not ours.** Scripts read `TIME` on the server, so instances whose
//!   clocks disagree still judge one bucket, one lockout, one expiry the same way.
//!   (Redis 5 and later replicate a script's effects rather than the script, so calling
//!   `TIME` before writing is allowed and safe.) [`Store::clock`] follows the same
//!   time: this host's clock plus the offset to the server's `TIME`, measured at connect
//!   and every [`CLOCK_REFRESH`] after. A test clock ([`RedisStore::with_test_clock`])
//!   replaces `TIME`: the scripts are then handed "now" as their first argument.
//! - **Every value is a hash `{payload, x}`** where `x` is when it expires, in the same
//!   milliseconds as "now". The scripts judge expiry by `x`, exactly as the in-memory
//!   [`Tables`](super::memory::Tables) do, so Redis answers the same as the other
//!   backends even under a test clock that Redis's own expiry knows nothing about. The
//!   payload's field says what kind of value it is (`t`: GCRA arrival times, `n`: a
//!   count, `v`: bytes), so `get` on a counter is simply `None`.
//! - **Every key has a TTL**, so nothing grows without bound: a GCRA key expires when
//!   its last arrival time has passed, a budget window when it ends, a value or counter
//!   at its ttl (a counter's from its first use). The TTL is set to `x - now`, so with
//!   Redis's own time it is the logical expiry exactly. Under a test clock a minute is
//!   added, so a test that runs slower than its manual clock doesn't lose keys that are,
//!   by that clock, still alive.
//! - **Queues** are sorted sets (score: when a member is due, Unix ms), and one member
//!   can't expire on its own. The queue's key is given a long TTL instead, refreshed on
//!   every `schedule`: [`QUEUE_GRACE`] (7 days) after its latest due time. A queue no
//!   instance has taken from for that long is dropped whole.
//! - **Bounded.** At most [`IN_FLIGHT`] operations wait on Redis at once; past that, a
//!   caller waits at most [`PERMIT_WAIT`] and then gets [`StoreError::Unavailable`]
//!   ("busy"), so a slow Redis turns into fast refusals rather than a pile of requests.
//!   Every operation gives up after [`OP_DEADLINE`], whatever the connection is doing.
//! - **Reconnects by itself.** One multiplexed connection
//!   ([`ConnectionManager`]) that reconnects on failure with a short, bounded backoff
//!   ([`RECONNECT_MAX_DELAY`]), so service resumes within seconds of Redis coming back,
//!   without restarting anything. A failed operation is not retried here: the caller
//!   decides (they fail closed), and a retry could apply a spend twice.
//! - **The URL is a secret** (it may hold a password). It is never logged; error
//!   reasons have the password cut out of them; [`StoreStatus::location`] shows the URL
//!   with the password as `***`.
//!
//! # Keys
//!
//! All under the configured prefix (`roomgate:` by default), each with a Redis Cluster
//! hash tag, so every script's keys are in one slot (the connection itself is to one
//! server; the layout is what lets a cluster client be put in later without moving
//! data):
//! - `{prefix}{<key>}` for a caller's key (admissions, values, counters);
//! - `{prefix}{<group>}:<window>` for budget windows: one group's windows share a tag,
//!   so a spend over all of them is one script;
//! - `{prefix}{queue:<name>}` for a queue (so caller keys starting `queue:` are taken);
//! - `{prefix}schema`: the schema version, the one key without a TTL (it is one small
//!   key, and it must outlive everything).
//!
//! `%`, `{` and `}` in a caller's key, group, window or queue name are written `%25`,
//! `%7B`, `%7D`, so no name can end the tag early and two names never share a key.
//!
//! # Durability
//!
//! Whatever Redis keeps is what survives: persistence is the operator's choice. AOF with
//! `appendfsync everysec` is recommended (at most a second of rate-limit and budget
//! state lost in a crash, which the trait allows); without persistence a Redis restart
//! forgets every limit, ban and pending sign-in.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::gcra::{self, Admission, Rule};
use super::{
    FixedWindow, QueueEnd, SCHEMA_VERSION, Spend, Store, StoreError, StoreStatus, unix_ms,
};
use crate::clock::Clock;

const BACKEND: &str = "redis";

/// Operations waiting on Redis at once. Enough that a busy instance never meets it in
/// normal work; small enough that an outage can't queue up unbounded memory.
pub const IN_FLIGHT: usize = 512;
/// How long an operation waits for its turn before it is refused as "busy".
pub const PERMIT_WAIT: Duration = Duration::from_millis(50);
/// The most any one operation takes, reconnecting included.
pub const OP_DEADLINE: Duration = Duration::from_secs(1);
/// Per connection attempt, and per reply.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per reconnection, after the first. A failed reconnection is retried by the
/// next operation, so a small number keeps each one short without ever giving up.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);
/// The longest `connect` takes before giving up.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// How soon `serve`, started while Redis can't be reached, tries again: at first, and
/// at most (doubling in between).
const SET_UP_RETRY_FIRST: Duration = Duration::from_millis(500);
pub const SET_UP_RETRY_MAX: Duration = Duration::from_secs(5);
/// How often a `serve` still waiting for Redis says so.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(60);
/// How often [`Store::clock`] re-measures its offset to the server.
pub const CLOCK_REFRESH: Duration = Duration::from_secs(10);
/// How long a queue outlives its latest due time.
pub const QUEUE_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Added to every TTL under a test clock (see the module docs).
const TEST_CLOCK_SLACK_MS: u64 = 60_000;
/// Lua's numbers are doubles: anything above 2^53 would lose its last digits. No real
/// time, window or ttl comes near it (it is 285,000 years of milliseconds).
const MAX_EXACT: u64 = (1 << 53) - 1;
/// The longest TTL handed to Redis (100 years): `PEXPIRE` refuses one that overflows.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// What every script starts with: "now" (from `ARGV[1]`, or the server's `TIME` when
/// that is 0) and the helpers that read and write `{payload, x}` hashes.
const PRELUDE: &str = r"
local MAX_TTL = @MAX_TTL@
local QUEUE_GRACE = @QUEUE_GRACE@
local function int(n) return string.format('%.0f', n) end
local now, slack
do
  local given = tonumber(ARGV[1] or '0') or 0
  if given > 0 then
    now = given
    slack = @SLACK@
  else
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    slack = 0
  end
end
local function alive(x)
  local e = tonumber(x)
  return e ~= nil and e > now
end
local function pttl(x)
  local d = x - now
  if d < 1 then d = 1 end
  if d > MAX_TTL then d = MAX_TTL end
  return int(d + slack)
end
local function keep(key, field, value, x)
  redis.call('DEL', key)
  redis.call('HSET', key, field, value, 'x', int(x))
  redis.call('PEXPIRE', key, pttl(x))
end
";

/// `KEYS[1]`; `ARGV[2i]`, `ARGV[2i+1]`: rule i's interval and tolerance. The wait in ms, 0
/// when admitted (see `gcra::admit`).
const GCRA_WAIT: &str = r"
local n = (#ARGV - 1) / 2
local tats = {}
for i = 1, n do tats[i] = 0 end
local h = redis.call('HMGET', KEYS[1], 't', 'x')
if h[1] and alive(h[2]) then
  local held = {}
  for part in string.gmatch(h[1], '[^,]+') do held[#held + 1] = tonumber(part) end
  if #held == n then tats = held end
end
local wait = 0
for i = 1, n do
  local w = tats[i] - tonumber(ARGV[2 * i + 1]) - now
  if w > wait then wait = w end
end
";

/// [`GCRA_WAIT`], then what admitting changes.
const ADMIT: &str = r"
if wait > 0 then return wait end
local last = 0
local parts = {}
for i = 1, n do
  local t = math.max(tats[i], now) + tonumber(ARGV[2 * i])
  parts[i] = int(t)
  if t > last then last = t end
end
keep(KEYS[1], 't', table.concat(parts, ','), math.max(last, now + 1))
return 0
";

/// `KEYS[1]`; `ARGV[2]`: the interval. The bucket's level after the hit (`gcra::hit`).
const HIT: &str = r"
local interval = tonumber(ARGV[2])
local tat = 0
local h = redis.call('HMGET', KEYS[1], 't', 'x')
if h[1] and alive(h[2]) then
  local only = string.match(h[1], '^(%d+)$')
  if only then tat = tonumber(only) end
end
tat = math.max(tat, now) + interval
keep(KEYS[1], 't', int(tat), math.max(tat, now + 1))
local backlog = tat - now
local level = math.floor(backlog / interval)
while level * interval > backlog do level = level - 1 end
if level * interval < backlog then level = level + 1 end
return level
";

/// KEYS: the windows; `ARGV[2]`: '1' to spend, '0' to look; `ARGV[1+2i]`, `ARGV[2+2i]`:
/// window i's cap and end. Spending: {1, counts after} or {0, counts}; looking: counts.
const SPEND: &str = r"
local counts = {}
local full = false
for i, key in ipairs(KEYS) do
  local h = redis.call('HMGET', key, 'n', 'x')
  local c = 0
  if h[1] and alive(h[2]) then c = tonumber(h[1]) end
  counts[i] = c
  if c >= tonumber(ARGV[1 + 2 * i]) then full = true end
end
if ARGV[2] ~= '1' then return counts end
if full then
  table.insert(counts, 1, 0)
  return counts
end
for i, key in ipairs(KEYS) do
  counts[i] = counts[i] + 1
  keep(key, 'n', counts[i], math.max(tonumber(ARGV[2 + 2 * i]), now + 1))
end
table.insert(counts, 1, 1)
return counts
";

const GET: &str = r"
local h = redis.call('HMGET', KEYS[1], 'v', 'x')
if h[1] and alive(h[2]) then return h[1] end
return false
";

/// `ARGV[2]`: the value; `ARGV[3]`: its ttl in ms; `ARGV[4]`: '0' in any case, '1'
/// only if nothing is there, '2' only if the value there is `ARGV[5]`. 1 if set.
const PUT: &str = r"
if ARGV[4] ~= '0' then
  local h = redis.call('HMGET', KEYS[1], 'v', 'x')
  local live = alive(h[2])
  if ARGV[4] == '1' and live then return 0 end
  if ARGV[4] == '2' and not (live and h[1] == ARGV[5]) then return 0 end
end
keep(KEYS[1], 'v', ARGV[2], now + tonumber(ARGV[3]))
return 1
";

/// `ARGV[2]`: the value held. 1 if it was, and is now deleted; 0 otherwise.
const DELETE_IF: &str = r"
local h = redis.call('HMGET', KEYS[1], 'v', 'x')
if h[1] == ARGV[2] and alive(h[2]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

/// One back from a live count above zero; its expiry unchanged.
const GIVE_BACK: &str = r"
local h = redis.call('HMGET', KEYS[1], 'n', 'x')
if h[1] and alive(h[2]) and tonumber(h[1]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
  return 1
end
return 0
";

/// `ARGV[2]`: the cap; `ARGV[3]`: the ttl in ms. The new count, or -1 at the cap.
const INCR_BELOW: &str = r"
local cap = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'n', 'x')
if h[1] and alive(h[2]) then
  local n = tonumber(h[1])
  if n >= cap then return -1 end
  redis.call('HINCRBY', KEYS[1], 'n', 1)
  return n + 1
end
if cap <= 0 then return -1 end
keep(KEYS[1], 'n', 1, now + tonumber(ARGV[3]))
return 1
";

/// `ARGV[2]`: when due (ms); `ARGV[3]`: the member.
const SCHEDULE: &str = r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local latest = tonumber(last[2]) or now
redis.call('PEXPIRE', KEYS[1], pttl(math.max(latest, now) + QUEUE_GRACE))
return 1
";

/// `ARGV[2]`: at most this many. The members taken, soonest first.
const TAKE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, ARGV[2])
for i = 1, #due, 500 do
  redis.call('ZREM', KEYS[1], unpack(due, i, math.min(i + 499, #due)))
end
return due
";

/// `ARGV[2]`: at most this many; `ARGV[3]`: the lease in ms. The members taken, soonest
/// first, each due again when the lease ends (and the queue kept that long).
const LEASE_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', int(now), 'LIMIT', 0, ARGV[2])
if #due == 0 then return due end
local again = int(now + tonumber(ARGV[3]))
for i = 1, #due do
  redis.call('ZADD', KEYS[1], again, due[i])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local latest = tonumber(last[2]) or now
redis.call('PEXPIRE', KEYS[1], pttl(math.max(latest, now) + QUEUE_GRACE))
return due
";

fn script(body: &str) -> Script {
    let prelude = PRELUDE
        .replace("@MAX_TTL@", &MAX_TTL_MS.to_string())
        .replace("@QUEUE_GRACE@", &gcra::millis(QUEUE_GRACE).to_string())
        .replace("@SLACK@", &TEST_CLOCK_SLACK_MS.to_string());
    Script::new(&format!("{prelude}{body}"))
}

static ADMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(&format!("{GCRA_WAIT}{ADMIT}")));
/// [`GCRA_WAIT`] alone: what an admission would decide, read-only.
static PEEK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(&format!("{GCRA_WAIT}return wait")));
static HIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(HIT));
static SPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(SPEND));
static GET_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(GET));
static PUT_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(PUT));
static DELETE_IF_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(DELETE_IF));
static INCR_BELOW_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(INCR_BELOW));
static GIVE_BACK_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(GIVE_BACK));
static SCHEDULE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(SCHEDULE));
static TAKE_DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(TAKE_DUE));
static LEASE_DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| script(LEASE_DUE));

/// A name made safe inside a hash tag, and distinct from every other name.
fn escape(name: &str) -> Cow<'_, str> {
    if !name.contains(['%', '{', '}']) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '{' => out.push_str("%7B"),
            '}' => out.push_str("%7D"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The key layout (see the module docs).
#[derive(Debug, Clone)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        // The settings refuse braces in the prefix; escaping them here too means a
        // prefix from elsewhere can't break the tags either.
        Self {
            prefix: escape(prefix).into_owned(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{{{}}}", self.prefix, escape(key))
    }

    fn window(&self, group: &str, window: &FixedWindow) -> String {
        format!(
            "{}{{{}}}:{}",
            self.prefix,
            escape(group),
            escape(&window.key)
        )
    }

    fn queue(&self, queue: &str) -> String {
        format!("{}{{queue:{}}}", self.prefix, escape(queue))
    }

    fn schema(&self) -> String {
        format!("{}schema", self.prefix)
    }
}

/// The URL's password in every form it may be printed in, to cut out of messages.
#[derive(Clone, Default)]
struct Secrets(Arc<Vec<String>>);

impl Secrets {
    fn scrub(&self, text: impl fmt::Display) -> String {
        let mut text = text.to_string();
        for secret in self.0.iter() {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }
}

/// Where the store is, for people: the URL with any password as `***`; and the
/// password in the forms it might be echoed in.
fn describe(url: &str) -> Result<(String, Secrets), StoreError> {
    let not_a_url = || {
        StoreError::unavailable(
            BACKEND,
            "the Redis URL is not a valid redis://, rediss:// or unix:// URL",
        )
    };
    let mut parsed = redis::parse_redis_url(url).ok_or_else(not_a_url)?;
    let mut secrets = Vec::new();
    if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
        secrets.push(password.to_owned());
        // Url refuses a password only on URLs that can't have one.
        let _ = parsed.set_password(Some("***"));
    }
    if let Some(query) = parsed.query().map(str::to_owned) {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("pass", value)) if !value.is_empty() => {
                    secrets.push(value.to_owned());
                    "pass=***".to_owned()
                }
                _ => pair.to_owned(),
            })
            .collect();
        parsed.set_query(Some(&pairs.join("&")));
    }
    // And as the client decodes it (percent-escapes undone).
    if let Ok(client) = redis::Client::open(url)
        && let Some(password) = client.get_connection_info().redis_settings().password()
        && !password.is_empty()
    {
        secrets.push(password.to_owned());
    }
    // The longest first, so a password containing another is cut out whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    Ok((parsed.to_string(), Secrets(Arc::new(secrets))))
}

/// This host's time plus the offset to the Redis server's.
#[derive(Debug, Default)]
struct ServerClock {
    offset_ms: AtomicI64,
}

impl Clock for ServerClock {
    fn now(&self) -> SystemTime {
        let local = SystemTime::now();
        let offset = self.offset_ms.load(Ordering::Relaxed);
        let by = Duration::from_millis(offset.unsigned_abs());
        let shifted = if offset >= 0 {
            local.checked_add(by)
        } else {
            local.checked_sub(by)
        };
        shifted.unwrap_or(local)
    }
}

fn local_ms() -> i64 {
    i64::try_from(unix_ms(SystemTime::now())).unwrap_or(i64::MAX)
}

/// The server's time minus ours, in ms, measured against the middle of the round trip.
async fn measure_offset(conn: &mut ConnectionManager) -> Result<i64, RedisError> {
    let before = local_ms();
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await?;
    let after = local_ms();
    let server = secs.saturating_mul(1000).saturating_add(micros / 1000);
    Ok(server.saturating_sub(before / 2 + after / 2))
}

/// The eviction policy under which Redis may drop roomgate's keys to make room, if
/// it may (`INFO memory`'s text): a memory limit with any policy but `noeviction`.
/// Every key of ours has a TTL, so even the `volatile-*` policies (managed Redis's
/// usual default) take them: a revocation evicted lets its logged-out cookie in
/// again, a lockout evicted lets guessing go on. `noeviction` refuses writes instead,
/// which roomgate answers "busy": it fails closed.
fn evicting_policy(info: &str) -> Option<String> {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let limited = field("maxmemory").and_then(|m| m.parse::<u64>().ok())? > 0;
    let policy = field("maxmemory_policy")?;
    (limited && policy != "noeviction").then(|| policy.to_owned())
}

async fn eviction(conn: &mut ConnectionManager) -> Result<Option<String>, RedisError> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(conn).await?;
    Ok(evicting_policy(&info))
}

/// Aborts the clock's refresh task when the store goes, so it doesn't keep a connection.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What setting up found, once it has: until then every operation is refused as
/// "busy" (the store fails closed), and `serve` keeps trying in the background.
#[derive(Debug, Default)]
struct Connected {
    /// The clock's offset is measured and the schema is one this build reads.
    ready: AtomicBool,
    /// The eviction policy found that may drop our keys (see [`evicting_policy`]).
    evicts: OnceLock<Option<String>>,
    /// Why the last set-up failed, while not ready: what every refused operation (and
    /// so `/readyz`) says. A store written by a newer roomgate is not a connection
    /// that hasn't come yet.
    why_not: std::sync::Mutex<Option<String>>,
}

impl Connected {
    fn why_not(&self) -> Option<String> {
        self.why_not
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_why_not(&self, why: Option<String>) {
        *self.why_not.lock().unwrap_or_else(|e| e.into_inner()) = why;
    }
}

/// What setting up needs, apart from the store, so a background task can do it.
#[derive(Clone)]
struct Link {
    conn: ConnectionManager,
    schema: String,
    location: String,
    secrets: Secrets,
    server_clock: Arc<ServerClock>,
    connected: Arc<Connected>,
}

impl Link {
    fn cant_connect(&self, reason: String) -> StoreError {
        StoreError::unavailable(
            BACKEND,
            format!("can't connect to {}: {reason}", self.location),
        )
    }

    /// Measure the offset to the server's clock, mark (or check) the schema, and look
    /// for an evicting memory policy; then open the store for work. Connecting, if not
    /// yet connected, is part of the first step.
    /// `op` within `deadline`, any failure as "can't connect".
    async fn within<T>(
        &self,
        deadline: Duration,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(deadline, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.cant_connect(self.secrets.scrub(e))),
            Err(_) => Err(self.cant_connect(format!("no answer within {deadline:?}"))),
        }
    }

    async fn set_up(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let offset = self
            .within(CONNECT_DEADLINE, measure_offset(&mut conn))
            .await?;
        self.server_clock.offset_ms.store(offset, Ordering::Relaxed);
        if offset.unsigned_abs() > 1000 {
            tracing::warn!(
                offset_ms = offset,
                "this host's clock and the Redis server's disagree; roomgate follows Redis's"
            );
        }
        let held = self
            .within(OP_DEADLINE, read_schema(&mut conn, &self.schema))
            .await?;
        judge_schema(&self.schema, held)?;
        // Some managed services refuse INFO: nothing to tell then.
        let evicts = tokio::time::timeout(OP_DEADLINE, eviction(&mut conn))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        if let Some(policy) = &evicts {
            tracing::warn!(
                %policy,
                "Redis may evict roomgate's keys to make room (maxmemory-policy {policy}): a revocation or lockout evicted is undone; set maxmemory-policy noeviction"
            );
        }
        let _ = self.connected.evicts.set(evicts);
        self.connected.ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Set up, again and again, until it works: for a `serve` started while Redis
    /// couldn't be reached, which answers "busy" meanwhile. `said` is the reason
    /// already logged: a new reason is logged at once, the same one once a minute.
    async fn keep_trying(self, said: String) {
        let mut told = (said, tokio::time::Instant::now());
        let mut wait = SET_UP_RETRY_FIRST;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(SET_UP_RETRY_MAX);
            let e = match self.set_up().await {
                Ok(()) => {
                    self.connected.set_why_not(None);
                    tracing::info!(
                        location = %self.location,
                        "Redis can be reached; the store is in service and sign-ins resume"
                    );
                    return;
                }
                Err(e @ StoreError::Corrupt { .. }) => {
                    // Not a connection still to come: say so at once and in every
                    // refusal, and keep looking (a flush, or the right prefix, mends it).
                    self.connected.set_why_not(Some(e.to_string()));
                    e.to_string()
                }
                Err(e) => {
                    self.connected.set_why_not(None);
                    e.to_string()
                }
            };
            if e != told.0 || told.1.elapsed() >= STILL_WAITING_EVERY {
                tracing::warn!("{e}; still refusing sign-ins as busy, and trying again");
                told = (e, tokio::time::Instant::now());
            }
        }
    }
}

/// Marks a new (or flushed) Redis as ours (changing nothing otherwise), and reads back
/// the schema version it holds.
async fn read_schema(
    conn: &mut ConnectionManager,
    schema: &str,
) -> Result<Option<String>, RedisError> {
    let mut pipe = redis::pipe();
    pipe.cmd("PING")
        .ignore()
        .cmd("SET")
        .arg(schema)
        .arg(SCHEMA_VERSION)
        .arg("NX")
        .ignore()
        .cmd("GET")
        .arg(schema);
    let (held,): (Option<String>,) = pipe.query_async(conn).await?;
    Ok(held)
}

/// The schema version `held` under the key `schema`, if this build can read it.
fn judge_schema(schema: &str, held: Option<String>) -> Result<u32, StoreError> {
    let schema_version = match held {
        None => SCHEMA_VERSION,
        Some(held) => held.trim().parse::<u32>().map_err(|_| {
            StoreError::corrupt(
                BACKEND,
                format!("{schema} holds something other than a schema version"),
            )
        })?,
    };
    if schema_version > SCHEMA_VERSION {
        return Err(StoreError::corrupt(
            BACKEND,
            format!(
                "the store was written by a newer roomgate (schema {schema_version}; \
                 this build reads up to {SCHEMA_VERSION})"
            ),
        ));
    }
    Ok(schema_version)
}

/// The store on Redis. See the module docs.
pub struct RedisStore {
    link: Link,
    keys: Keys,
    in_flight: Arc<Semaphore>,
    test_clock: Option<Arc<dyn Clock>>,
    _refresh: AbortOnDrop,
    /// `serve`'s background set-up, while Redis could not be reached at start-up.
    _set_up: Option<AbortOnDrop>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("location", &self.link.location)
            .field("prefix", &self.keys.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connect to the Redis at `url` (`redis://`, `rediss://` or `unix://`), with every
    /// key under `prefix`; mark its schema if it has none, and refuse one written by a
    /// newer roomgate.
    pub async fn connect(url: &SecretString, prefix: &str) -> Result<Self, StoreError> {
        let store = Self::unconnected(url, prefix)?;
        store.link.set_up().await?;
        Ok(store)
    }

    /// [`Self::connect`], for `serve`: a Redis that can't be reached yet is an error
    /// logged, not a failure to start. The store then refuses every operation as
    /// "busy" (so sign-ins are refused and `/readyz` says why) while it keeps trying,
    /// at most [`SET_UP_RETRY_MAX`] apart, and comes into service by itself: Redis
    /// started after roomgate, or down during a deploy, needs no restart of roomgate.
    /// A URL that can't be one, or a store written by a newer roomgate, still fails
    /// here: waiting would not mend either.
    pub async fn connect_or_keep_trying(
        url: &SecretString,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let mut store = Self::unconnected(url, prefix)?;
        match store.link.set_up().await {
            Ok(()) => {}
            Err(e @ StoreError::Corrupt { .. }) => return Err(e),
            Err(e) => {
                tracing::error!(
                    "{e}; serving anyway, with sign-ins refused as busy until it can be reached"
                );
                let link = store.link.clone();
                store._set_up = Some(AbortOnDrop(tokio::spawn(link.keep_trying(e.to_string()))));
            }
        }
        Ok(store)
    }

    /// The store, not yet connected (every operation refused) until [`Link::set_up`].
    fn unconnected(url: &SecretString, prefix: &str) -> Result<Self, StoreError> {
        let url = url.expose_secret();
        let (location, secrets) = describe(url)?;
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::unavailable(BACKEND, secrets.scrub(e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        // Connects on first use, which is the set-up's.
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::unavailable(BACKEND, secrets.scrub(e)))?;
        let keys = Keys::new(prefix);
        let server_clock = Arc::new(ServerClock::default());
        let refresh = tokio::spawn(refresh_offset(
            conn.clone(),
            Arc::downgrade(&server_clock),
            secrets.clone(),
        ));
        Ok(Self {
            link: Link {
                conn,
                schema: keys.schema(),
                location,
                secrets,
                server_clock,
                connected: Arc::default(),
            },
            keys,
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            test_clock: None,
            _refresh: AbortOnDrop(refresh),
            _set_up: None,
        })
    }

    /// The eviction policy under which Redis may drop our keys, if it may: said at
    /// start-up, and by `roomgate store check`.
    pub fn evicts(&self) -> Option<&str> {
        self.link.connected.evicts.get()?.as_deref()
    }

    /// Judge time by `clock` instead of the server's `TIME`, so tests can move it.
    ///
    /// For tests only: expiry is then written in that clock's time, so a store with a
    /// test clock must not share a Redis and prefix with one on the server's time. A
    /// clock standing at the Unix epoch itself reads as "use `TIME`".
    pub fn with_test_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.test_clock = Some(clock);
        self
    }

    /// "Now" for the scripts: the test clock's, or 0 for the server's `TIME`.
    fn now_arg(&self) -> u64 {
        self.test_clock
            .as_ref()
            .map_or(0, |clock| unix_ms(clock.now()).min(MAX_EXACT))
    }

    /// Run one operation on Redis: within the bound on work in flight and the deadline,
    /// with every failure as [`StoreError::Unavailable`].
    async fn run<T>(
        &self,
        op: impl Future<Output = Result<T, RedisError>> + Send,
    ) -> Result<T, StoreError> {
        if !self.link.connected.ready.load(Ordering::Acquire) {
            let why = self.link.connected.why_not();
            return Err(StoreError::unavailable(
                BACKEND,
                why.unwrap_or_else(|| format!("can't connect to {} yet", self.link.location)),
            ));
        }
        let _permit = match tokio::time::timeout(PERMIT_WAIT, self.in_flight.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(StoreError::unavailable(
                    BACKEND,
                    format!("busy: {IN_FLIGHT} operations already waiting on Redis"),
                ));
            }
        };
        match tokio::time::timeout(OP_DEADLINE, op).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(StoreError::unavailable(BACKEND, self.link.secrets.scrub(e))),
            Err(_) => Err(StoreError::unavailable(
                BACKEND,
                format!("no answer within {OP_DEADLINE:?}"),
            )),
        }
    }

    /// Run `script` with `keys` and, after "now", `args`.
    /// Run [`ADMIT_SCRIPT`] or [`PEEK_SCRIPT`] for `key` under `rules`.
    async fn gcra(
        &self,
        script: &Script,
        key: &str,
        rules: &[Rule],
    ) -> Result<Admission, StoreError> {
        let args: Vec<Vec<u8>> = rules
            .iter()
            .flat_map(|rule| [arg(rule.interval_ms()), arg(rule.tolerance_ms())])
            .collect();
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let wait: i64 = self.eval(script, &[self.keys.key(key)], &args).await?;
        Ok(match u64::try_from(wait) {
            Ok(0) | Err(_) => Admission::Admitted,
            Ok(ms) => Admission::Wait(Duration::from_millis(ms)),
        })
    }

    async fn eval<T: redis::FromRedisValue + Send>(
        &self,
        script: &Script,
        keys: &[String],
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        invocation.arg(self.now_arg());
        for arg in args {
            invocation.arg(*arg);
        }
        let mut conn = self.link.conn.clone();
        self.run(async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    async fn command<T: redis::FromRedisValue + Send>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, StoreError> {
        let mut conn = self.link.conn.clone();
        self.run(async move { cmd.query_async(&mut conn).await })
            .await
    }
}

/// Keep the clock's offset to the server fresh for as long as the store exists; a
/// failed measurement keeps the last one (the clocks don't drift apart in seconds).
async fn refresh_offset(mut conn: ConnectionManager, clock: Weak<ServerClock>, secrets: Secrets) {
    let mut tick = tokio::time::interval(CLOCK_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let measured = tokio::time::timeout(OP_DEADLINE, measure_offset(&mut conn)).await;
        let Some(clock) = clock.upgrade() else { return };
        match measured {
            Ok(Ok(offset)) => clock.offset_ms.store(offset, Ordering::Relaxed),
            Ok(Err(e)) => tracing::debug!(
                reason = %secrets.scrub(e),
                "could not read the Redis server's time; keeping the last offset"
            ),
            Err(_) => tracing::debug!(
                "the Redis server's time did not come in time; keeping the last offset"
            ),
        }
    }
}

fn arg(n: u64) -> Vec<u8> {
    n.min(MAX_EXACT).to_string().into_bytes()
}

fn ttl_arg(ttl: Duration) -> Vec<u8> {
    arg(gcra::millis(ttl).clamp(1, MAX_TTL_MS))
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn bad_reply(what: &str) -> StoreError {
    StoreError::unavailable(BACKEND, format!("unexpected reply to {what}"))
}

#[async_trait]
impl Store for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn clock(&self) -> Arc<dyn Clock> {
        match &self.test_clock {
            Some(clock) => clock.clone(),
            None => self.link.server_clock.clone(),
        }
    }

    async fn admit(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.gcra(&ADMIT_SCRIPT, key, rules).await
    }

    async fn peek(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.gcra(&PEEK_SCRIPT, key, rules).await
    }

    async fn hit(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        let level: i64 = self
            .eval(
                &HIT_SCRIPT,
                &[self.keys.key(key)],
                &[&arg(rule.interval_ms())],
            )
            .await?;
        Ok(count(level))
    }

    async fn spend(&self, group: &str, windows: &[FixedWindow]) -> Result<Spend, StoreError> {
        let mut reply = self.windows(group, windows, true).await?.into_iter();
        let spent = reply.next().ok_or_else(|| bad_reply("a spend"))?;
        let counts: Vec<u32> = reply.map(count).collect();
        if counts.len() != windows.len() {
            return Err(bad_reply("a spend"));
        }
        Ok(if spent == 1 {
            Spend::Spent(counts)
        } else {
            Spend::Full(counts)
        })
    }

    async fn used(&self, group: &str, windows: &[FixedWindow]) -> Result<Vec<u32>, StoreError> {
        let counts: Vec<u32> = self
            .windows(group, windows, false)
            .await?
            .into_iter()
            .map(count)
            .collect();
        if counts.len() != windows.len() {
            return Err(bad_reply("a budget read"));
        }
        Ok(counts)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.eval(&GET_SCRIPT, &[self.keys.key(key)], &[]).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let _: i64 = self
            .eval(
                &PUT_SCRIPT,
                &[self.keys.key(key)],
                &[value, &ttl_arg(ttl), b"0"],
            )
            .await?;
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.put_if(key, None, value, ttl).await
    }

    async fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl = ttl_arg(ttl);
        let args: &[&[u8]] = match held {
            None => &[value, &ttl, b"1"],
            Some(held) => &[value, &ttl, b"2", held],
        };
        let set: i64 = self.eval(&PUT_SCRIPT, &[self.keys.key(key)], args).await?;
        Ok(set == 1)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.keys.key(key));
        let _: i64 = self.command(cmd).await?;
        Ok(())
    }

    async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let deleted: i64 = self
            .eval(&DELETE_IF_SCRIPT, &[self.keys.key(key)], &[value])
            .await?;
        Ok(deleted == 1)
    }

    async fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let n: i64 = self
            .eval(
                &INCR_BELOW_SCRIPT,
                &[self.keys.key(key)],
                &[&arg(u64::from(cap)), &ttl_arg(ttl)],
            )
            .await?;
        Ok((n >= 0).then(|| count(n)))
    }

    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .eval(&GIVE_BACK_SCRIPT, &[self.keys.key(key)], &[])
            .await?;
        Ok(())
    }

    async fn schedule(&self, queue: &str, member: &str, at: SystemTime) -> Result<(), StoreError> {
        let _: i64 = self
            .eval(
                &SCHEDULE_SCRIPT,
                &[self.keys.queue(queue)],
                &[&arg(unix_ms(at)), member.as_bytes()],
            )
            .await?;
        Ok(())
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("ZREM");
        cmd.arg(self.keys.queue(queue)).arg(member);
        let _: i64 = self.command(cmd).await?;
        Ok(())
    }

    async fn take_due(&self, queue: &str, max: usize) -> Result<Vec<String>, StoreError> {
        if max == 0 {
            // Nothing asked for; and a negative or zero count in `LIMIT` is easy to get
            // wrong (`-1` means "all"), so it never reaches Redis.
            return Ok(Vec::new());
        }
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        self.eval(&TAKE_DUE_SCRIPT, &[self.keys.queue(queue)], &[&arg(max)])
            .await
    }

    async fn lease_due(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let lease_ms = gcra::millis(lease).max(1);
        self.eval(
            &LEASE_DUE_SCRIPT,
            &[self.keys.queue(queue)],
            &[&arg(max), &arg(lease_ms)],
        )
        .await
    }

    async fn queued(
        &self,
        queue: &str,
        max: usize,
        end: QueueEnd,
    ) -> Result<Vec<(String, SystemTime)>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // ZREVRANGE rather than ZRANGE … REV, which needs Redis 6.2.
        let mut cmd = redis::cmd(match end {
            QueueEnd::Soonest => "ZRANGE",
            QueueEnd::Latest => "ZREVRANGE",
        });
        cmd.arg(self.keys.queue(queue))
            .arg(0)
            .arg(i64::try_from(max).unwrap_or(i64::MAX) - 1)
            .arg("WITHSCORES");
        // Scores come back as decimal text; ours are whole milliseconds.
        let members: Vec<(String, f64)> = self.command(cmd).await?;
        Ok(super::memory::queued_times(
            members
                .into_iter()
                .map(|(member, at)| (member, at.max(0.0) as u64))
                .collect(),
        ))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        let mut conn = self.link.conn.clone();
        let schema = &self.link.schema;
        let held = self.run(read_schema(&mut conn, schema)).await?;
        Ok(StoreStatus {
            backend: BACKEND,
            schema_version: judge_schema(schema, held)?,
            location: self.link.location.clone(),
        })
    }
}

impl RedisStore {
    /// One script for `spend` and `used`, so both read the windows the same way.
    async fn windows(
        &self,
        group: &str,
        windows: &[FixedWindow],
        spend: bool,
    ) -> Result<Vec<i64>, StoreError> {
        let keys: Vec<String> = windows.iter().map(|w| self.keys.window(group, w)).collect();
        let mut args: Vec<Vec<u8>> = vec![if spend { b"1".to_vec() } else { b"0".to_vec() }];
        for w in windows {
            args.push(arg(u64::from(w.cap)));
            args.push(arg(unix_ms(w.ends)));
        }
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.eval(&SPEND_SCRIPT, &keys, &args).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::MemoryStore;

    #[test]
    fn eviction_is_a_risk_with_a_memory_limit_and_any_policy_but_noeviction() {
        let info = |max: &str, policy: &str| {
            format!(
                "# Memory\r\nused_memory:1000\r\nmaxmemory:{max}\r\nmaxmemory_human:x\r\nmaxmemory_policy:{policy}\r\n"
            )
        };
        assert_eq!(
            evicting_policy(&info("104857600", "volatile-lru")).as_deref(),
            Some("volatile-lru")
        );
        assert_eq!(
            evicting_policy(&info("104857600", "allkeys-lfu")).as_deref(),
            Some("allkeys-lfu")
        );
        assert_eq!(evicting_policy(&info("104857600", "noeviction")), None);
        // No limit: nothing is evicted, whatever the policy.
        assert_eq!(evicting_policy(&info("0", "volatile-lru")), None);
        assert_eq!(evicting_policy(""), None);
    }

    /// Against a real server: found at connect, and not where nothing is evicted.
    #[tokio::test]
    async fn a_redis_that_may_evict_our_keys_is_found_at_connect() {
        let server = RedisServer::start_with(&[
            "--maxmemory",
            "100mb",
            "--maxmemory-policy",
            "volatile-lru",
        ]);
        let store = RedisStore::connect(&server.url(), "t:").await.unwrap();
        assert_eq!(store.evicts(), Some("volatile-lru"));
        let server = RedisServer::start();
        let store = RedisStore::connect(&server.url(), "t:").await.unwrap();
        assert_eq!(store.evicts(), None);
    }

    /// A throwaway `redis-server` (the Debian package) on a unix socket in a directory
    /// of its own, persisting nothing. Killed, and its directory removed, on drop.
    pub(crate) struct RedisServer {
        dir: PathBuf,
        args: Vec<String>,
        child: Option<Child>,
    }

    impl RedisServer {
        pub(crate) fn start() -> Self {
            Self::start_with(&[])
        }

        /// With extra `redis-server` arguments (`["--requirepass", "…"]`).
        pub(crate) fn start_with(args: &[&str]) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "roomgate-redis-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("a directory for redis-server");
            let mut server = Self {
                dir,
                args: args.iter().map(|a| (*a).to_owned()).collect(),
                child: None,
            };
            server.resume();
            server
        }

        pub(crate) fn socket(&self) -> PathBuf {
            self.dir.join("r.sock")
        }

        /// `unix:///…/r.sock`, with `?pass=` if given.
        pub(crate) fn url_with(&self, pass: Option<&str>) -> SecretString {
            let mut url = format!("unix://{}", self.socket().display());
            if let Some(pass) = pass {
                url.push_str("?pass=");
                url.push_str(pass);
            }
            SecretString::from(url)
        }

        pub(crate) fn url(&self) -> SecretString {
            self.url_with(None)
        }

        /// A plain connection, for looking at what the store wrote.
        pub(crate) async fn raw(&self) -> redis::aio::MultiplexedConnection {
            redis::Client::open(self.url().expose_secret())
                .expect("a client")
                .get_multiplexed_async_connection()
                .await
                .expect("a raw connection")
        }

        /// Start it (again) on the same socket and wait until it accepts connections.
        pub(crate) fn resume(&mut self) {
            let socket = self.socket();
            let _ = std::fs::remove_file(&socket);
            let binary = if Path::new("/usr/bin/redis-server").exists() {
                "/usr/bin/redis-server"
            } else {
                "redis-server"
            };
            let child = Command::new(binary)
                .args(["--port", "0", "--save", "", "--appendonly", "no"])
                .arg("--unixsocket")
                .arg(&socket)
                .arg("--dir")
                .arg(&self.dir)
                .args(&self.args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    panic!("redis-server is not installed: run `apt-get install redis-server`")
                }
                Err(e) => panic!("redis-server did not start: {e}"),
            };
            let began = Instant::now();
            while began.elapsed() < Duration::from_secs(10) {
                if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("redis-server exited at start: {status}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            panic!("redis-server did not open {}", socket.display());
        }

        /// Kill it, as a crash or an outage would.
        pub(crate) fn stop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    const PREFIX: &str = "roomgate:";

    async fn store(server: &RedisServer) -> RedisStore {
        RedisStore::connect(&server.url(), PREFIX)
            .await
            .expect("connects")
    }

    async fn store_at(server: &RedisServer, clock: &Arc<ManualClock>) -> RedisStore {
        store(server).await.with_test_clock(clock.clone())
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test]
    async fn admits_up_to_the_limit_then_says_exactly_how_long_to_wait() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        let rules = [Rule::new(3, secs(600))];
        for _ in 0..3 {
            assert_eq!(
                store.admit("code:alice", &rules).await.unwrap(),
                Admission::Admitted
            );
        }
        assert_eq!(
            store.admit("code:alice", &rules).await.unwrap(),
            Admission::Wait(secs(200))
        );
        // Another key has its own bucket.
        assert!(store.admit("code:bob", &rules).await.unwrap().is_admitted());
        clock.advance(secs(200) - ms(1));
        assert_eq!(
            store.admit("code:alice", &rules).await.unwrap(),
            Admission::Wait(ms(1))
        );
        clock.advance(ms(1));
        assert!(
            store
                .admit("code:alice", &rules)
                .await
                .unwrap()
                .is_admitted()
        );
        assert_eq!(
            store.admit("code:alice", &rules).await.unwrap(),
            Admission::Wait(secs(200))
        );
    }

    #[tokio::test]
    async fn with_the_servers_time_a_limit_holds_and_the_wait_is_one_interval() {
        let server = RedisServer::start();
        let store = store(&server).await;
        let rules = [Rule::new(3, secs(3600))];
        for _ in 0..3 {
            assert!(store.admit("k", &rules).await.unwrap().is_admitted());
        }
        let Admission::Wait(wait) = store.admit("k", &rules).await.unwrap() else {
            panic!("the fourth in an hour must wait");
        };
        assert!(wait <= secs(1200) && wait > secs(1190), "{wait:?}");
    }

    #[tokio::test]
    async fn every_rule_must_hold_and_a_refusal_changes_nothing() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        let mut raw = server.raw().await;
        let rules = [Rule::new(1, secs(30)), Rule::new(3, secs(600))];
        assert!(store.admit("k", &rules).await.unwrap().is_admitted());
        let before: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(store.keys.key("k"))
            .query_async(&mut raw)
            .await
            .unwrap();
        clock.advance(secs(10));
        assert_eq!(
            store.admit("k", &rules).await.unwrap(),
            Admission::Wait(secs(20))
        );
        let after: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(store.keys.key("k"))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(before, after);
        clock.advance(secs(20));
        assert!(store.admit("k", &rules).await.unwrap().is_admitted());
        clock.advance(secs(30));
        assert!(store.admit("k", &rules).await.unwrap().is_admitted());
        clock.advance(secs(30));
        // The cooldown is over, but three were spent: the next comes at t0 + 200 s.
        assert_eq!(
            store.admit("k", &rules).await.unwrap(),
            Admission::Wait(secs(110))
        );
        // A different number of rules on the same key starts afresh, as in `Tables`.
        assert!(store.admit("k", &rules[..1]).await.unwrap().is_admitted());
    }

    #[tokio::test]
    async fn hits_fill_the_bucket_and_drain_one_interval_at_a_time() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        let rule = Rule::new(3, secs(3600));
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 1);
        clock.advance(ms(1));
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 2);
        clock.advance(ms(1));
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 3);
        // Hits count whatever the level.
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 4);
        // Four intervals of backlog less one drained: 3 left after 1200 s, then 4.
        clock.advance(secs(1200));
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 4);
        clock.advance(secs(10 * 3600));
        assert_eq!(store.hit("fail:x", rule).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_spend_takes_from_every_window_or_from_none() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        let now = clock.now();
        let window = |key: &str, cap, ends| FixedWindow {
            key: key.into(),
            cap,
            ends,
        };
        let month = window("m1", 3, now + secs(30 * 86400));
        let day1 = window("d1", 2, now + secs(86400));
        let day2 = window("d2", 2, now + secs(2 * 86400));
        let both = |day: &FixedWindow| vec![day.clone(), month.clone()];

        assert_eq!(
            store.spend("sms", &both(&day1)).await.unwrap(),
            Spend::Spent(vec![1, 1])
        );
        assert_eq!(
            store.spend("sms", &both(&day1)).await.unwrap(),
            Spend::Spent(vec![2, 2])
        );
        assert_eq!(
            store.spend("sms", &both(&day1)).await.unwrap(),
            Spend::Full(vec![2, 2])
        );
        assert_eq!(store.used("sms", &both(&day1)).await.unwrap(), vec![2, 2]);
        // A new day, but the month has one left.
        assert_eq!(
            store.spend("sms", &both(&day2)).await.unwrap(),
            Spend::Spent(vec![1, 3])
        );
        // The day has room, the month hasn't: the day is not charged.
        assert_eq!(
            store.spend("sms", &both(&day2)).await.unwrap(),
            Spend::Full(vec![1, 3])
        );
        assert_eq!(store.used("sms", &both(&day2)).await.unwrap(), vec![1, 3]);
        // Another group is separate.
        assert_eq!(store.used("voice", &both(&day2)).await.unwrap(), vec![0, 0]);
        // A window at cap 0 is always full.
        assert_eq!(
            store
                .spend("x", &[window("z", 0, now + secs(60))])
                .await
                .unwrap(),
            Spend::Full(vec![0])
        );
        assert_eq!(store.spend("x", &[]).await.unwrap(), Spend::Spent(vec![]));
        // A window is forgotten when it ends.
        clock.advance(secs(86400));
        assert_eq!(store.used("sms", &both(&day1)).await.unwrap(), vec![0, 3]);
    }

    #[tokio::test]
    async fn put_new_succeeds_once_across_two_instances() {
        let server = RedisServer::start();
        let stores = [
            Arc::new(store(&server).await),
            Arc::new(store(&server).await),
        ];
        let mut tasks = Vec::new();
        for i in 0..40u8 {
            let store = stores[usize::from(i % 2)].clone();
            tasks.push(tokio::spawn(async move {
                store
                    .put_new("signin:1", &[i], secs(60))
                    .await
                    .unwrap()
                    .then_some(i)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            winners.extend(task.await.unwrap());
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        for store in &stores {
            assert_eq!(store.get("signin:1").await.unwrap(), Some(vec![winners[0]]));
        }
        assert!(
            !stores[1]
                .put_new("signin:1", b"again", secs(60))
                .await
                .unwrap()
        );
        stores[1].delete("signin:1").await.unwrap();
        assert_eq!(stores[0].get("signin:1").await.unwrap(), None);
        assert!(
            stores[0]
                .put_new("signin:1", b"again", secs(60))
                .await
                .unwrap()
        );
        // `put` replaces; an empty value is a value.
        stores[0].put("signin:1", b"", secs(60)).await.unwrap();
        assert_eq!(stores[1].get("signin:1").await.unwrap(), Some(Vec::new()));
        assert_eq!(stores[1].get("nothing").await.unwrap(), None);
    }

    /// Forty read-change-write rounds from two instances at once on one key, each
    /// retrying when `put_if` says another wrote first: none is lost.
    #[tokio::test]
    async fn put_if_loses_no_update_across_two_instances() {
        let server = RedisServer::start();
        let stores = [
            Arc::new(store(&server).await),
            Arc::new(store(&server).await),
        ];
        let mut tasks = Vec::new();
        for i in 0..40usize {
            let store = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let held = store.get("count").await.unwrap();
                    let n = held.as_deref().map_or(0, |b| b[0]);
                    if store
                        .put_if("count", held.as_deref(), &[n + 1], secs(60))
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(stores[1].get("count").await.unwrap(), Some(vec![40]));
        // Not what is there, or something where nothing was expected: unchanged.
        assert!(
            !stores[0]
                .put_if("count", Some(&[39]), b"x", secs(60))
                .await
                .unwrap()
        );
        assert!(
            !stores[0]
                .put_if("count", None, b"x", secs(60))
                .await
                .unwrap()
        );
        assert!(
            !stores[0]
                .put_if("none", Some(b""), b"x", secs(60))
                .await
                .unwrap()
        );
        assert_eq!(stores[0].get("none").await.unwrap(), None);
        assert_eq!(stores[0].get("count").await.unwrap(), Some(vec![40]));
    }

    #[tokio::test]
    async fn a_test_clock_decides_what_has_expired() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        assert_eq!(store.clock().now(), clock.now());
        store.put("revoked:s1", b"1", secs(10)).await.unwrap();
        assert!(!store.put_new("revoked:s1", b"2", secs(10)).await.unwrap());
        clock.advance(secs(10) - ms(1));
        assert_eq!(store.get("revoked:s1").await.unwrap(), Some(b"1".to_vec()));
        clock.advance(ms(1));
        assert_eq!(store.get("revoked:s1").await.unwrap(), None);
        assert!(store.put_new("revoked:s1", b"2", secs(10)).await.unwrap());
        assert_eq!(store.clock().now(), clock.now());
        // Real time passing doesn't expire what the test clock says is alive.
        store.put("short", b"1", ms(1)).await.unwrap();
        tokio::time::sleep(ms(30)).await;
        assert_eq!(store.get("short").await.unwrap(), Some(b"1".to_vec()));
        // Scheduling follows it too.
        let at = clock.now() + secs(5);
        store.schedule("q", "m", at).await.unwrap();
        assert!(store.take_due("q", 10).await.unwrap().is_empty());
        clock.advance(secs(5));
        assert_eq!(store.take_due("q", 10).await.unwrap(), vec!["m".to_owned()]);
    }

    #[tokio::test]
    async fn without_a_test_clock_the_clock_is_the_servers() {
        let server = RedisServer::start();
        let store = store(&server).await;
        // Same host: the offset is tiny, and the clock reads the present.
        assert!(
            store
                .link
                .server_clock
                .offset_ms
                .load(Ordering::Relaxed)
                .abs()
                < 100
        );
        let there = unix_ms(store.clock().now()).abs_diff(unix_ms(SystemTime::now()));
        assert!(there < 200, "{there} ms");
        // The offset is what it reads: a server 5 s ahead moves it by 5 s.
        store
            .link
            .server_clock
            .offset_ms
            .store(5000, Ordering::Relaxed);
        let ahead = unix_ms(store.clock().now()) - unix_ms(SystemTime::now());
        assert!((4900..=5100).contains(&ahead), "{ahead}");
        store
            .link
            .server_clock
            .offset_ms
            .store(-5000, Ordering::Relaxed);
        let behind = unix_ms(SystemTime::now()) - unix_ms(store.clock().now());
        assert!((4900..=5100).contains(&behind), "{behind}");
        // Measured again, it comes back to the server's.
        let mut conn = store.link.conn.clone();
        let offset = measure_offset(&mut conn).await.unwrap();
        assert!(offset.abs() < 100, "{offset}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn incr_below_stops_at_the_cap_and_lives_ttl_from_first_use() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        for n in 1..=3 {
            assert_eq!(
                store.incr_below("resend:a", 3, secs(60)).await.unwrap(),
                Some(n)
            );
            clock.advance(secs(10));
        }
        assert_eq!(
            store.incr_below("resend:a", 3, secs(60)).await.unwrap(),
            None
        );
        clock.advance(secs(29));
        assert_eq!(
            store.incr_below("resend:a", 3, secs(60)).await.unwrap(),
            None
        );
        // 60 s after the first use, not after the last.
        clock.advance(secs(1));
        assert_eq!(
            store.incr_below("resend:a", 3, secs(60)).await.unwrap(),
            Some(1)
        );
        assert_eq!(store.incr_below("zero", 0, secs(60)).await.unwrap(), None);

        // Two instances racing (on the server's time) get each count once, and no more
        // than the cap.
        let stores = [
            Arc::new(self::store(&server).await),
            Arc::new(self::store(&server).await),
        ];
        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                store.incr_below("race", 25, secs(60)).await.unwrap()
            }));
        }
        let mut got = Vec::new();
        for task in tasks {
            got.extend(task.await.unwrap());
        }
        got.sort_unstable();
        assert_eq!(got, (1..=25).collect::<Vec<u32>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn take_due_hands_each_member_to_one_caller() {
        let server = RedisServer::start();
        let stores = [
            Arc::new(store(&server).await),
            Arc::new(store(&server).await),
        ];
        let past = SystemTime::now() - secs(5);
        let future = SystemTime::now() + secs(3600);
        let mut due = BTreeSet::new();
        for i in 0..300 {
            let member = format!("m{i:03}");
            stores[i % 2]
                .schedule("expiry", &member, past + ms(i as u64))
                .await
                .unwrap();
            due.insert(member);
        }
        for i in 0..20 {
            stores[0]
                .schedule("expiry", &format!("later{i}"), future)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..6 {
            let store = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                let mut taken = Vec::new();
                loop {
                    let batch = store.take_due("expiry", 7).await.unwrap();
                    if batch.is_empty() {
                        return taken;
                    }
                    assert!(batch.len() <= 7);
                    taken.extend(batch);
                }
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let unique: BTreeSet<String> = all.iter().cloned().collect();
        assert_eq!(unique.len(), all.len(), "a member was handed out twice");
        assert_eq!(unique, due);
        // What isn't due stays; unscheduled, it is gone.
        stores[1].unschedule("expiry", "later0").await.unwrap();
        let mut raw = server.raw().await;
        let left: usize = redis::cmd("ZCARD")
            .arg(stores[0].keys.queue("expiry"))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(left, 19);
        assert_eq!(
            stores[0].take_due("expiry", 0).await.unwrap(),
            Vec::<String>::new()
        );
    }

    #[tokio::test]
    async fn take_due_gives_the_soonest_first_and_schedule_moves_a_member() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let store = store_at(&server, &clock).await;
        let t = clock.now();
        store.schedule("q", "c", t + secs(3)).await.unwrap();
        store.schedule("q", "a", t + secs(1)).await.unwrap();
        store.schedule("q", "b", t + secs(2)).await.unwrap();
        store.schedule("q", "d", t + secs(1)).await.unwrap();
        clock.advance(secs(2));
        assert_eq!(store.take_due("q", 2).await.unwrap(), vec!["a", "d"]);
        // Moved later: no longer due.
        store.schedule("q", "b", t + secs(10)).await.unwrap();
        assert!(store.take_due("q", 10).await.unwrap().is_empty());
        store.unschedule("q", "c").await.unwrap();
        clock.advance(secs(10));
        assert_eq!(store.take_due("q", 10).await.unwrap(), vec!["b"]);
        assert!(store.take_due("q", 10).await.unwrap().is_empty());
    }

    /// The key's hash tag: what is between its first `{` and the `}` after it.
    fn tag(key: &str) -> Option<&str> {
        let open = key.find('{')?;
        let close = key[open..].find('}')? + open;
        Some(&key[open + 1..close])
    }

    #[tokio::test]
    async fn every_key_has_the_prefix_a_hash_tag_and_a_ttl() {
        let server = RedisServer::start();
        let prefix = "test-prefix:";
        let store = RedisStore::connect(&server.url(), prefix).await.unwrap();
        let now = SystemTime::now();
        let rule = Rule::new(3, secs(600));
        store.admit("code:a}b{c", &[rule]).await.unwrap();
        store.hit("fail:{x}", rule).await.unwrap();
        let windows = [
            FixedWindow {
                key: "day:{1}".into(),
                cap: 5,
                ends: now + secs(3600),
            },
            FixedWindow {
                key: "month:1".into(),
                cap: 50,
                ends: now + secs(86400),
            },
        ];
        store.spend("sms", &windows).await.unwrap();
        store.put("value", b"v", secs(60)).await.unwrap();
        store.put_new("new", b"v", secs(60)).await.unwrap();
        store.incr_below("count", 5, secs(60)).await.unwrap();
        store.schedule("queue", "m", now + secs(60)).await.unwrap();

        let mut raw = server.raw().await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(keys.len(), 9, "{keys:?}");
        let schema = format!("{prefix}schema");
        assert!(keys.contains(&schema));
        for key in &keys {
            assert!(key.starts_with(prefix), "{key}");
            if *key == schema {
                continue;
            }
            // One tag, whole: caller braces can't open or close another.
            assert_eq!(key.matches('{').count(), 1, "{key}");
            assert_eq!(key.matches('}').count(), 1, "{key}");
            assert!(tag(key).is_some_and(|t| !t.is_empty()), "{key}");
            let pttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut raw)
                .await
                .unwrap();
            assert!(pttl > 0, "{key} has no TTL ({pttl})");
        }
        // A group's windows share their tag, so one script may touch them all.
        let window_keys: Vec<String> = windows
            .iter()
            .map(|w| store.keys.window("sms", w))
            .collect();
        assert_eq!(tag(&window_keys[0]), Some("sms"));
        assert_eq!(tag(&window_keys[1]), Some("sms"));
        assert!(window_keys.iter().all(|k| keys.contains(k)));
        assert_eq!(
            store.keys.key("code:a}b{c"),
            format!("{prefix}{{code:a%7Db%7Bc}}")
        );
        // Escaping keeps different names apart.
        assert_ne!(store.keys.key("a{b"), store.keys.key("a%7Bb"));

        let pttl = |key: String| {
            let mut raw = raw.clone();
            async move {
                let t: i64 = redis::cmd("PTTL")
                    .arg(key)
                    .query_async(&mut raw)
                    .await
                    .unwrap();
                t
            }
        };
        // GCRA: until the arrival time has passed (one interval after one admission).
        let gcra = pttl(store.keys.key("code:a}b{c")).await;
        assert!((190_000..=200_000).contains(&gcra), "{gcra}");
        // A window: until it ends.
        let day = pttl(window_keys[0].clone()).await;
        assert!((3_590_000..=3_600_000).contains(&day), "{day}");
        // A value: its ttl.
        let value = pttl(store.keys.key("value")).await;
        assert!((59_000..=60_000).contains(&value), "{value}");
        // A queue: a week after its latest due time.
        let queue = pttl(store.keys.queue("queue")).await;
        let week = i64::try_from(gcra::millis(QUEUE_GRACE)).unwrap();
        assert!((week + 50_000..=week + 60_000).contains(&queue), "{queue}");
    }

    #[tokio::test]
    async fn the_password_never_shows() {
        let password = "s3cret-Pa55word";
        let server = RedisServer::start_with(&["--requirepass", password]);
        let (logs, _guard) = crate::test_support::capture_logs();

        let store = RedisStore::connect(&server.url_with(Some(password)), PREFIX)
            .await
            .expect("connects with the password");
        let status = store.check().await.unwrap();
        assert_eq!(status.backend, "redis");
        assert_eq!(status.schema_version, SCHEMA_VERSION);
        assert_eq!(
            status.location,
            format!("unix://{}?pass=***", server.socket().display())
        );
        assert!(!format!("{store:?}").contains(password));

        let wrong = "wr0ng-Pa55word";
        let e = RedisStore::connect(&server.url_with(Some(wrong)), PREFIX)
            .await
            .expect_err("a wrong password is refused");
        assert!(
            matches!(
                e,
                StoreError::Unavailable {
                    backend: "redis",
                    ..
                }
            ),
            "{e}"
        );
        let text = format!("{e} {e:?}");
        assert!(!text.contains(wrong), "{text}");
        assert!(text.contains("pass=***"), "{text}");

        let e = RedisStore::connect(
            &SecretString::from("redis://user:hunter2@127.0.0.1:1/0"),
            PREFIX,
        )
        .await
        .expect_err("nothing listens on port 1");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redis://user:***@127.0.0.1:1/0"), "{text}");

        let e = RedisStore::connect(&SecretString::from("http://:hunter2@example.com"), PREFIX)
            .await
            .expect_err("not a Redis URL");
        assert!(!e.to_string().contains("hunter2"), "{e}");

        let logged = logs.text();
        for secret in [password, wrong, "hunter2"] {
            assert!(!logged.contains(secret), "{logged}");
        }
    }

    #[test]
    fn a_location_withholds_the_password_in_every_form() {
        let (location, secrets) = describe("rediss://:p%40ss@cache.internal:6380/2").unwrap();
        assert_eq!(location, "rediss://:***@cache.internal:6380/2");
        assert_eq!(secrets.scrub("bad p@ss and p%40ss"), "bad *** and ***");
        let (location, _) = describe("redis://cache:6379").unwrap();
        assert_eq!(location, "redis://cache:6379");
        let (location, secrets) = describe("unix:///run/redis.sock?db=1&pass=abc%2Fd").unwrap();
        assert_eq!(location, "unix:///run/redis.sock?db=1&pass=***");
        assert_eq!(secrets.scrub("abc/d abc%2Fd"), "*** ***");
        assert!(describe("memcached://x").is_err());
    }

    #[tokio::test]
    async fn an_outage_is_reported_quickly_and_survived() {
        let mut server = RedisServer::start();
        let store = store(&server).await;
        store.put("k", b"v", secs(60)).await.unwrap();

        server.stop();
        for _ in 0..3 {
            let began = Instant::now();
            let e = store.get("k").await.expect_err("the server is down");
            assert!(
                matches!(
                    e,
                    StoreError::Unavailable {
                        backend: "redis",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(
                began.elapsed() < Duration::from_millis(1500),
                "{:?}",
                began.elapsed()
            );
        }
        let began = Instant::now();
        assert!(store.check().await.is_err());
        assert!(began.elapsed() < Duration::from_millis(1500));

        server.resume();
        let back = Instant::now();
        loop {
            match store.put("k", b"again", secs(60)).await {
                Ok(()) => break,
                Err(e) => assert!(
                    back.elapsed() < secs(5),
                    "still failing {:?} after the server came back: {e}",
                    back.elapsed()
                ),
            }
            tokio::time::sleep(ms(50)).await;
        }
        assert_eq!(store.get("k").await.unwrap(), Some(b"again".to_vec()));
        assert_eq!(store.check().await.unwrap().schema_version, SCHEMA_VERSION);
    }

    #[tokio::test]
    async fn when_too_much_is_in_flight_it_answers_busy_at_once() {
        let server = RedisServer::start();
        let store = store(&server).await;
        let held = store
            .in_flight
            .clone()
            .acquire_many_owned(u32::try_from(IN_FLIGHT).unwrap())
            .await
            .unwrap();
        let began = Instant::now();
        let e = store.get("k").await.expect_err("no permit is free");
        assert!(began.elapsed() < Duration::from_millis(500));
        assert!(e.to_string().contains("busy"), "{e}");
        drop(held);
        assert_eq!(store.get("k").await.unwrap(), None);
    }

    /// Started before Redis: refused as "can't connect" until it can; then, if what it
    /// finds is a newer roomgate's store, every refusal (so `/readyz`) says that, not
    /// "can't connect"; and it comes into service once the store is one it reads.
    #[tokio::test]
    async fn a_store_started_before_redis_says_why_it_is_not_in_service() {
        let mut server = RedisServer::start();
        server.stop();
        let store = RedisStore::connect_or_keep_trying(&server.url(), PREFIX)
            .await
            .unwrap();
        let e = store.check().await.unwrap_err();
        assert!(e.to_string().contains("can't connect"), "{e}");

        server.resume();
        let mut raw = server.raw().await;
        let _: () = redis::cmd("SET")
            .arg("roomgate:schema")
            .arg(SCHEMA_VERSION + 1)
            .query_async(&mut raw)
            .await
            .unwrap();
        let said = |needle: &'static str| {
            let store = &store;
            async move {
                for _ in 0..200 {
                    let now = store.check().await.map(|_| "in service".to_owned());
                    let now = now.unwrap_or_else(|e| e.to_string());
                    if now.contains(needle) {
                        return now;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("never said {needle:?}")
            }
        };
        said("newer roomgate").await;
        let _: () = redis::cmd("SET")
            .arg("roomgate:schema")
            .arg(SCHEMA_VERSION)
            .query_async(&mut raw)
            .await
            .unwrap();
        said("in service").await;
    }

    #[tokio::test]
    async fn a_store_from_a_newer_roomgate_is_refused() {
        let server = RedisServer::start();
        let store = store(&server).await;
        let mut raw = server.raw().await;
        let held: String = redis::cmd("GET")
            .arg("roomgate:schema")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(held, SCHEMA_VERSION.to_string());

        let newer = SCHEMA_VERSION + 1;
        let _: () = redis::cmd("SET")
            .arg("roomgate:schema")
            .arg(newer)
            .query_async(&mut raw)
            .await
            .unwrap();
        let e = store.check().await.expect_err("newer schema");
        assert!(
            matches!(
                e,
                StoreError::Corrupt {
                    backend: "redis",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("newer roomgate"), "{e}");
        let e = RedisStore::connect(&server.url(), PREFIX)
            .await
            .expect_err("newer schema");
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        // `serve` too refuses to start on it, though it starts while Redis is down.
        let e = RedisStore::connect_or_keep_trying(&server.url(), PREFIX)
            .await
            .expect_err("newer schema");
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        // Another prefix is another store.
        assert!(RedisStore::connect(&server.url(), "other:").await.is_ok());

        let _: () = redis::cmd("SET")
            .arg("roomgate:schema")
            .arg("banana")
            .query_async(&mut raw)
            .await
            .unwrap();
        assert!(matches!(
            store.check().await,
            Err(StoreError::Corrupt { .. })
        ));
        // Flushed: marked again.
        let _: () = redis::cmd("FLUSHALL").query_async(&mut raw).await.unwrap();
        assert_eq!(store.check().await.unwrap().schema_version, SCHEMA_VERSION);
    }

    /// Random operations against Redis and against `Tables` (through `MemoryStore`), on
    /// one manual clock: every answer must be the same.
    #[tokio::test]
    async fn answers_exactly_as_the_in_memory_tables_do() {
        let server = RedisServer::start();
        let clock = Arc::new(ManualClock::default());
        let redis = store_at(&server, &clock).await;
        let memory = MemoryStore::with_clock(clock.clone());
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let keys = ["a", "b", "c{x}"];
        let rule_sets: [&[Rule]; 4] = [
            &[Rule::new(3, secs(10))],
            &[Rule::new(1, secs(2)), Rule::new(3, secs(10))],
            &[Rule::new(5, ms(999))],
            &[],
        ];
        let start = clock.now();
        let windows: Vec<FixedWindow> = (0..4)
            .map(|i| FixedWindow {
                key: format!("w{i}"),
                cap: i,
                ends: start + secs(20 * u64::from(i)),
            })
            .collect();
        for step in 0..3000 {
            if rng.random_bool(0.3) {
                clock.advance(ms(rng.random_range(0..3000)));
            }
            let key = keys[rng.random_range(0..keys.len())];
            let ttl = ms(rng.random_range(0..5000));
            let op = rng.random_range(0..14);
            let (what, mine, theirs) = match op {
                0 => {
                    let rules = rule_sets[rng.random_range(0..rule_sets.len())];
                    (
                        format!("admit {key} {rules:?}"),
                        format!("{:?}", redis.admit(key, rules).await),
                        format!("{:?}", memory.admit(key, rules).await),
                    )
                }
                12 => {
                    let rules = rule_sets[rng.random_range(0..rule_sets.len())];
                    (
                        format!("peek {key} {rules:?}"),
                        format!("{:?}", redis.peek(key, rules).await),
                        format!("{:?}", memory.peek(key, rules).await),
                    )
                }
                1 => {
                    let rule = rule_sets[rng.random_range(0..3)][0];
                    (
                        format!("hit {key} {rule:?}"),
                        format!("{:?}", redis.hit(key, rule).await),
                        format!("{:?}", memory.hit(key, rule).await),
                    )
                }
                2 | 3 => {
                    let picked: Vec<FixedWindow> = (0..rng.random_range(0..3))
                        .map(|_| windows[rng.random_range(0..windows.len())].clone())
                        .collect();
                    if op == 2 {
                        (
                            format!("spend {key} {picked:?}"),
                            format!("{:?}", redis.spend(key, &picked).await),
                            format!("{:?}", memory.spend(key, &picked).await),
                        )
                    } else {
                        (
                            format!("used {key} {picked:?}"),
                            format!("{:?}", redis.used(key, &picked).await),
                            format!("{:?}", memory.used(key, &picked).await),
                        )
                    }
                }
                4 => (
                    format!("get {key}"),
                    format!("{:?}", redis.get(key).await),
                    format!("{:?}", memory.get(key).await),
                ),
                5 => {
                    let value = [step as u8];
                    (
                        format!("put {key} {ttl:?}"),
                        format!("{:?}", redis.put(key, &value, ttl).await),
                        format!("{:?}", memory.put(key, &value, ttl).await),
                    )
                }
                6 => {
                    let value = [step as u8];
                    (
                        format!("put_new {key} {ttl:?}"),
                        format!("{:?}", redis.put_new(key, &value, ttl).await),
                        format!("{:?}", memory.put_new(key, &value, ttl).await),
                    )
                }
                13 => {
                    let value = [step as u8];
                    // What is there (read from the tables, which changes nothing),
                    // nothing, or something else.
                    let held = match rng.random_range(0..3) {
                        0 => memory.get(key).await.unwrap(),
                        1 => None,
                        _ => Some(vec![255]),
                    };
                    (
                        format!("put_if {key} {held:?} {ttl:?}"),
                        format!(
                            "{:?}",
                            redis.put_if(key, held.as_deref(), &value, ttl).await
                        ),
                        format!(
                            "{:?}",
                            memory.put_if(key, held.as_deref(), &value, ttl).await
                        ),
                    )
                }
                7 => (
                    format!("delete {key}"),
                    format!("{:?}", redis.delete(key).await),
                    format!("{:?}", memory.delete(key).await),
                ),
                8 => {
                    let cap = rng.random_range(0..4);
                    (
                        format!("incr_below {key} {cap} {ttl:?}"),
                        format!("{:?}", redis.incr_below(key, cap, ttl).await),
                        format!("{:?}", memory.incr_below(key, cap, ttl).await),
                    )
                }
                9 => {
                    let member = format!("m{}", rng.random_range(0..6));
                    let at = clock.now() + ms(rng.random_range(0..6000)) - secs(2);
                    (
                        format!("schedule {key} {member} {at:?}"),
                        format!("{:?}", redis.schedule(key, &member, at).await),
                        format!("{:?}", memory.schedule(key, &member, at).await),
                    )
                }
                10 => {
                    let member = format!("m{}", rng.random_range(0..6));
                    (
                        format!("unschedule {key} {member}"),
                        format!("{:?}", redis.unschedule(key, &member).await),
                        format!("{:?}", memory.unschedule(key, &member).await),
                    )
                }
                _ => {
                    let max = rng.random_range(0..4);
                    (
                        format!("take_due {key} {max}"),
                        format!("{:?}", redis.take_due(key, max).await),
                        format!("{:?}", memory.take_due(key, max).await),
                    )
                }
            };
            assert_eq!(mine, theirs, "step {step}: {what}");
        }
    }
}
