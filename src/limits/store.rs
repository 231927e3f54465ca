//! Where limit counters live. In memory for now, behind [`CounterStore`], so a shared
//! store (Redis, a database) can replace it when roomgate runs on several machines.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

/// At most `limit` events per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

impl Rule {
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }
}

#[async_trait]
pub trait CounterStore: Send + Sync + 'static {
    /// Sliding windows: if every rule still has room for `key`, record one event at
    /// `now` and return how many events now lie within the longest rule's window.
    /// Otherwise record nothing and return how long until every rule has room again.
    async fn admit(&self, key: &str, rules: &[Rule], now: SystemTime) -> Result<u32, Duration>;

    /// Record an event unconditionally; return how many lie within `window`.
    async fn record(&self, key: &str, window: Duration, now: SystemTime) -> u32;

    /// Events for `key` within `window`, without recording one.
    async fn count(&self, key: &str, window: Duration, now: SystemTime) -> u32;

    /// A number that expires (lockout state, revoked sessions).
    async fn get(&self, key: &str, now: SystemTime) -> Option<u64>;

    async fn put(&self, key: &str, value: u64, expires: SystemTime);

    /// Forget what has expired. The memory store needs it run now and then.
    async fn sweep(&self, now: SystemTime);
}

#[derive(Default)]
struct Events {
    times: VecDeque<SystemTime>,
    /// The longest window this key was used with, so `sweep` knows what is old.
    horizon: Duration,
}

/// Counters in this process's memory.
#[derive(Default)]
pub struct MemoryStore {
    events: Mutex<HashMap<String, Events>>,
    values: Mutex<HashMap<String, (u64, SystemTime)>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn age(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

fn prune(events: &mut Events, now: SystemTime) {
    while events
        .times
        .front()
        .is_some_and(|t| age(now, *t) >= events.horizon)
    {
        events.times.pop_front();
    }
}

fn within(events: &Events, window: Duration, now: SystemTime) -> u32 {
    events
        .times
        .iter()
        .rev()
        .take_while(|t| age(now, **t) < window)
        .count() as u32
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn admit(&self, key: &str, rules: &[Rule], now: SystemTime) -> Result<u32, Duration> {
        let longest = rules.iter().map(|r| r.window).max().unwrap_or_default();
        let mut map = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let events = map.entry(key.to_owned()).or_default();
        events.horizon = events.horizon.max(longest);
        prune(events, now);
        let mut wait = Duration::ZERO;
        for rule in rules {
            let n = within(events, rule.window, now) as usize;
            if n >= rule.limit as usize {
                // Room again once the event that is `limit`-th from the end leaves the window.
                let blocking = events.times[events.times.len() - rule.limit.max(1) as usize];
                let left = rule.window.saturating_sub(age(now, blocking));
                wait = wait.max(left.max(Duration::from_secs(1)));
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        events.times.push_back(now);
        Ok(within(events, longest, now))
    }

    async fn record(&self, key: &str, window: Duration, now: SystemTime) -> u32 {
        let mut map = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let events = map.entry(key.to_owned()).or_default();
        events.horizon = events.horizon.max(window);
        prune(events, now);
        events.times.push_back(now);
        within(events, window, now)
    }

    async fn count(&self, key: &str, window: Duration, now: SystemTime) -> u32 {
        let map = self.events.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map_or(0, |e| within(e, window, now))
    }

    async fn get(&self, key: &str, now: SystemTime) -> Option<u64> {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get(key)
            .filter(|(_, expires)| now < *expires)
            .map(|(v, _)| *v)
    }

    async fn put(&self, key: &str, value: u64, expires: SystemTime) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.insert(key.to_owned(), (value, expires));
    }

    async fn sweep(&self, now: SystemTime) {
        {
            let mut map = self.events.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, events| {
                prune(events, now);
                !events.times.is_empty()
            });
        }
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.retain(|_, (_, expires)| now < *expires);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test]
    async fn admits_up_to_the_limit_then_says_how_long_to_wait() {
        let store = MemoryStore::new();
        let rules = [Rule::new(3, secs(600))];
        assert_eq!(store.admit("k", &rules, T0).await, Ok(1));
        assert_eq!(store.admit("k", &rules, T0 + secs(100)).await, Ok(2));
        assert_eq!(store.admit("k", &rules, T0 + secs(200)).await, Ok(3));
        // The first event leaves the window at 600 s.
        assert_eq!(
            store.admit("k", &rules, T0 + secs(300)).await,
            Err(secs(300))
        );
        assert_eq!(store.admit("k", &rules, T0 + secs(600)).await, Ok(3));
        assert_eq!(store.admit("other", &rules, T0 + secs(300)).await, Ok(1));
    }

    #[tokio::test]
    async fn every_rule_must_hold() {
        let store = MemoryStore::new();
        let rules = [Rule::new(1, secs(30)), Rule::new(3, secs(600))];
        assert!(store.admit("k", &rules, T0).await.is_ok());
        assert_eq!(store.admit("k", &rules, T0 + secs(10)).await, Err(secs(20)));
        assert!(store.admit("k", &rules, T0 + secs(30)).await.is_ok());
        assert!(store.admit("k", &rules, T0 + secs(60)).await.is_ok());
        // Three in ten minutes: the 30 s cooldown is over but the window is full.
        assert_eq!(
            store.admit("k", &rules, T0 + secs(90)).await,
            Err(secs(510))
        );
    }

    #[tokio::test]
    async fn refused_attempts_are_not_recorded() {
        let store = MemoryStore::new();
        let rules = [Rule::new(1, secs(60))];
        store.admit("k", &rules, T0).await.unwrap();
        for s in 1..60 {
            assert!(store.admit("k", &rules, T0 + secs(s)).await.is_err());
        }
        assert!(store.admit("k", &rules, T0 + secs(60)).await.is_ok());
    }

    #[tokio::test]
    async fn record_and_count_use_sliding_windows() {
        let store = MemoryStore::new();
        let hour = secs(3600);
        assert_eq!(store.record("f", hour, T0).await, 1);
        assert_eq!(store.record("f", hour, T0 + secs(1800)).await, 2);
        assert_eq!(store.count("f", hour, T0 + secs(3599)).await, 2);
        assert_eq!(store.count("f", hour, T0 + secs(3600)).await, 1);
        assert_eq!(store.count("nothing", hour, T0).await, 0);
    }

    #[tokio::test]
    async fn values_expire_and_sweep_forgets() {
        let store = MemoryStore::new();
        store.put("lock", 7, T0 + secs(900)).await;
        assert_eq!(store.get("lock", T0 + secs(899)).await, Some(7));
        assert_eq!(store.get("lock", T0 + secs(900)).await, None);
        store.record("e", secs(60), T0).await;
        store.sweep(T0 + secs(1000)).await;
        assert!(store.values.lock().unwrap().is_empty());
        assert!(store.events.lock().unwrap().is_empty());
    }
}
