//! The store's semantics in this process's memory.
//!
//! [`Tables`] is the one implementation of what every operation means (for the
//! embedded store, which persists its [`Change`]s, and for [`MemoryStore`], the test
//! double that persists nothing). Keys are spread over shards, each behind its own
//! short lock that is never held across I/O or an `.await`, so requests on different
//! keys don't wait for each other.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::gcra::{self, Admission, Rule};
use super::{
    FixedWindow, QueueEnd, SCHEMA_VERSION, Spend, Store, StoreError, StoreStatus, unix_ms,
};
use crate::clock::{Clock, SystemClock};

const SHARDS: usize = 32;

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// One GCRA theoretical arrival time per rule, Unix ms.
    Tats(Vec<u64>),
    Count(u32),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub entry: Entry,
    /// Unix ms after which the key holds nothing.
    pub expires_ms: u64,
}

impl Slot {
    /// `[kind][expires u64 LE][payload]`: the embedded store's on-disk form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        let (kind, payload): (u8, Vec<u8>) = match &self.entry {
            Entry::Tats(tats) => (1, tats.iter().flat_map(|t| t.to_le_bytes()).collect()),
            Entry::Count(n) => (2, n.to_le_bytes().to_vec()),
            Entry::Bytes(b) => (3, b.clone()),
        };
        out.push(kind);
        out.extend_from_slice(&self.expires_ms.to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<Self> {
        let (&kind, rest) = raw.split_first()?;
        let expires_ms = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let payload = &rest[8..];
        let entry = match kind {
            1 if payload.len() % 8 == 0 => Entry::Tats(
                payload
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            ),
            2 => Entry::Count(u32::from_le_bytes(payload.try_into().ok()?)),
            3 => Entry::Bytes(payload.to_vec()),
            _ => return None,
        };
        Some(Self { entry, expires_ms })
    }
}

/// A change to persist, in the order it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put {
        key: String,
        slot: Slot,
    },
    Delete {
        key: String,
    },
    Queue {
        queue: String,
        member: String,
        at_ms: Option<u64>,
    },
}

#[derive(Default)]
struct Queue {
    due: BTreeSet<(u64, String)>,
    at: HashMap<String, u64>,
}

/// The state machine behind the embedded and in-memory stores.
pub struct Tables {
    shards: Vec<Mutex<HashMap<String, Slot>>>,
    queues: Mutex<HashMap<String, Queue>>,
    /// Makes a budget spend (several windows) one step. Spends are rare next to
    /// admissions, so one lock for them all costs nothing that matters.
    spending: Mutex<()>,
}

impl Default for Tables {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            queues: Mutex::default(),
            spending: Mutex::default(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update below is a single assignment: a panic can't leave one half done.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ms(d: Duration) -> u64 {
    gcra::millis(d)
}

impl Tables {
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, Slot>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        lock(&self.shards[(h.finish() as usize) % SHARDS])
    }

    /// Load a persisted entry (start-up). Expired ones are skipped.
    pub fn restore(&self, key: String, slot: Slot, now_ms: u64) {
        if slot.expires_ms > now_ms {
            self.shard(&key).insert(key, slot);
        }
    }

    pub fn restore_queued(&self, queue: String, member: String, at_ms: u64) {
        let mut queues = lock(&self.queues);
        let q = queues.entry(queue).or_default();
        q.due.insert((at_ms, member.clone()));
        q.at.insert(member, at_ms);
    }

    /// The key's TATs, one per rule (0 for a rule never used).
    fn tats(slot: Option<&Slot>, rules: &[Rule], now_ms: u64) -> Vec<u64> {
        match slot {
            Some(Slot {
                entry: Entry::Tats(t),
                expires_ms,
            }) if *expires_ms > now_ms && t.len() == rules.len() => t.clone(),
            _ => vec![0; rules.len()],
        }
    }

    /// What [`Self::admit`] would decide now, changing nothing.
    pub fn peek(&self, key: &str, rules: &[Rule], now_ms: u64) -> Admission {
        let mut tats = Self::tats(self.shard(key).get(key), rules, now_ms);
        gcra::admit(&mut tats, rules, now_ms)
    }

    pub fn admit(&self, key: &str, rules: &[Rule], now_ms: u64) -> (Admission, Option<Change>) {
        let mut shard = self.shard(key);
        let mut tats = Self::tats(shard.get(key), rules, now_ms);
        let admission = gcra::admit(&mut tats, rules, now_ms);
        if !admission.is_admitted() {
            return (admission, None);
        }
        let expires_ms = now_ms + ms(gcra::ttl(&tats, now_ms));
        let slot = Slot {
            entry: Entry::Tats(tats),
            expires_ms,
        };
        shard.insert(key.to_owned(), slot.clone());
        (
            admission,
            Some(Change::Put {
                key: key.to_owned(),
                slot,
            }),
        )
    }

    pub fn hit(&self, key: &str, rule: Rule, now_ms: u64) -> (u32, Change) {
        let mut shard = self.shard(key);
        let mut tat = match shard.get(key) {
            Some(Slot {
                entry: Entry::Tats(t),
                expires_ms,
            }) if *expires_ms > now_ms && t.len() == 1 => t[0],
            _ => 0,
        };
        let level = gcra::hit(&mut tat, rule, now_ms);
        let slot = Slot {
            entry: Entry::Tats(vec![tat]),
            expires_ms: now_ms + ms(gcra::ttl(&[tat], now_ms)),
        };
        shard.insert(key.to_owned(), slot.clone());
        (
            level,
            Change::Put {
                key: key.to_owned(),
                slot,
            },
        )
    }

    fn count(&self, key: &str, now_ms: u64) -> u32 {
        match self.shard(key).get(key) {
            Some(Slot {
                entry: Entry::Count(n),
                expires_ms,
            }) if *expires_ms > now_ms => *n,
            _ => 0,
        }
    }

    /// The windows of one group are all-or-nothing.
    pub fn spend(&self, group: &str, windows: &[FixedWindow], now_ms: u64) -> (Spend, Vec<Change>) {
        let _one_spend_at_a_time = lock(&self.spending);
        let used: Vec<u32> = windows
            .iter()
            .map(|w| self.count(&window_key(group, w), now_ms))
            .collect();
        if used.iter().zip(windows).any(|(n, w)| *n >= w.cap) {
            return (Spend::Full(used), Vec::new());
        }
        let mut changes = Vec::with_capacity(windows.len());
        let mut after = Vec::with_capacity(windows.len());
        for (n, w) in used.into_iter().zip(windows) {
            let key = window_key(group, w);
            let slot = Slot {
                entry: Entry::Count(n + 1),
                expires_ms: unix_ms(w.ends).max(now_ms + 1),
            };
            self.shard(&key).insert(key.clone(), slot.clone());
            changes.push(Change::Put { key, slot });
            after.push(n + 1);
        }
        (Spend::Spent(after), changes)
    }

    pub fn used(&self, group: &str, windows: &[FixedWindow], now_ms: u64) -> Vec<u32> {
        windows
            .iter()
            .map(|w| self.count(&window_key(group, w), now_ms))
            .collect()
    }

    pub fn get(&self, key: &str, now_ms: u64) -> Option<Vec<u8>> {
        match self.shard(key).get(key) {
            Some(Slot {
                entry: Entry::Bytes(b),
                expires_ms,
            }) if *expires_ms > now_ms => Some(b.clone()),
            _ => None,
        }
    }

    pub fn put(&self, key: &str, value: &[u8], ttl: Duration, now_ms: u64) -> Change {
        let slot = Slot {
            entry: Entry::Bytes(value.to_vec()),
            expires_ms: now_ms + ms(ttl).max(1),
        };
        self.shard(key).insert(key.to_owned(), slot.clone());
        Change::Put {
            key: key.to_owned(),
            slot,
        }
    }

    pub fn put_new(&self, key: &str, value: &[u8], ttl: Duration, now_ms: u64) -> Option<Change> {
        self.put_if(key, None, value, ttl, now_ms)
    }

    /// [`Store::put_if`].
    pub fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
        now_ms: u64,
    ) -> Option<Change> {
        let mut shard = self.shard(key);
        let live = shard.get(key).filter(|s| s.expires_ms > now_ms);
        let holds = match (live, held) {
            (None, None) => true,
            (
                Some(Slot {
                    entry: Entry::Bytes(there),
                    ..
                }),
                Some(held),
            ) => there.as_slice() == held,
            _ => false,
        };
        if !holds {
            return None;
        }
        let slot = Slot {
            entry: Entry::Bytes(value.to_vec()),
            expires_ms: now_ms + ms(ttl).max(1),
        };
        shard.insert(key.to_owned(), slot.clone());
        Some(Change::Put {
            key: key.to_owned(),
            slot,
        })
    }

    pub fn delete_if(&self, key: &str, value: &[u8], now_ms: u64) -> Option<Change> {
        let mut shard = self.shard(key);
        let holds = matches!(
            shard.get(key),
            Some(Slot { entry: Entry::Bytes(held), expires_ms })
                if *expires_ms > now_ms && held.as_slice() == value
        );
        if !holds {
            return None;
        }
        shard.remove(key);
        Some(Change::Delete {
            key: key.to_owned(),
        })
    }

    pub fn delete(&self, key: &str) -> Change {
        self.shard(key).remove(key);
        Change::Delete {
            key: key.to_owned(),
        }
    }

    /// See [`Store::give_back`]: the change, if the count moved.
    pub fn give_back(&self, key: &str, now_ms: u64) -> Option<Change> {
        let mut shard = self.shard(key);
        let slot = match shard.get(key) {
            Some(Slot {
                entry: Entry::Count(n),
                expires_ms,
            }) if *expires_ms > now_ms && *n > 0 => Slot {
                entry: Entry::Count(n - 1),
                expires_ms: *expires_ms,
            },
            _ => return None,
        };
        shard.insert(key.to_owned(), slot.clone());
        Some(Change::Put {
            key: key.to_owned(),
            slot,
        })
    }

    pub fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
        now_ms: u64,
    ) -> (Option<u32>, Option<Change>) {
        let mut shard = self.shard(key);
        let (n, expires_ms) = match shard.get(key) {
            Some(Slot {
                entry: Entry::Count(n),
                expires_ms,
            }) if *expires_ms > now_ms => (*n, *expires_ms),
            _ => (0, now_ms + ms(ttl).max(1)),
        };
        if n >= cap {
            return (None, None);
        }
        let slot = Slot {
            entry: Entry::Count(n + 1),
            expires_ms,
        };
        shard.insert(key.to_owned(), slot.clone());
        (
            Some(n + 1),
            Some(Change::Put {
                key: key.to_owned(),
                slot,
            }),
        )
    }

    pub fn schedule(&self, queue: &str, member: &str, at_ms: u64) -> Change {
        let mut queues = lock(&self.queues);
        let q = queues.entry(queue.to_owned()).or_default();
        if let Some(old) = q.at.insert(member.to_owned(), at_ms) {
            q.due.remove(&(old, member.to_owned()));
        }
        q.due.insert((at_ms, member.to_owned()));
        Change::Queue {
            queue: queue.to_owned(),
            member: member.to_owned(),
            at_ms: Some(at_ms),
        }
    }

    pub fn unschedule(&self, queue: &str, member: &str) -> Option<Change> {
        let mut queues = lock(&self.queues);
        let q = queues.get_mut(queue)?;
        let at = q.at.remove(member)?;
        q.due.remove(&(at, member.to_owned()));
        Some(Change::Queue {
            queue: queue.to_owned(),
            member: member.to_owned(),
            at_ms: None,
        })
    }

    pub fn take_due(&self, queue: &str, max: usize, now_ms: u64) -> (Vec<String>, Vec<Change>) {
        self.take_or_lease(queue, max, now_ms, None)
    }

    /// Due members, each moved to `now_ms + lease_ms` rather than removed.
    pub fn lease_due(
        &self,
        queue: &str,
        max: usize,
        now_ms: u64,
        lease_ms: u64,
    ) -> (Vec<String>, Vec<Change>) {
        self.take_or_lease(queue, max, now_ms, Some(now_ms.saturating_add(lease_ms)))
    }

    fn take_or_lease(
        &self,
        queue: &str,
        max: usize,
        now_ms: u64,
        again_at: Option<u64>,
    ) -> (Vec<String>, Vec<Change>) {
        let mut queues = lock(&self.queues);
        let Some(q) = queues.get_mut(queue) else {
            return (Vec::new(), Vec::new());
        };
        let mut taken = Vec::new();
        while taken.len() < max {
            match q.due.first() {
                Some((at, _)) if *at <= now_ms => {
                    let (_, member) = q.due.pop_first().expect("just seen");
                    q.at.remove(&member);
                    taken.push(member);
                }
                _ => break,
            }
        }
        if let Some(at) = again_at {
            for member in &taken {
                q.due.insert((at, member.clone()));
                q.at.insert(member.clone(), at);
            }
        }
        let changes = taken
            .iter()
            .map(|m| Change::Queue {
                queue: queue.to_owned(),
                member: m.clone(),
                at_ms: again_at,
            })
            .collect();
        (taken, changes)
    }

    /// Up to `max` members with their due times, from `end`.
    pub fn queued(&self, queue: &str, max: usize, end: QueueEnd) -> Vec<(String, u64)> {
        let queues = lock(&self.queues);
        queues.get(queue).map_or_else(Vec::new, |q| {
            let listed = |members: &mut dyn Iterator<Item = &(u64, String)>| {
                members
                    .take(max)
                    .map(|(at, member)| (member.clone(), *at))
                    .collect()
            };
            match end {
                QueueEnd::Soonest => listed(&mut q.due.iter()),
                QueueEnd::Latest => listed(&mut q.due.iter().rev()),
            }
        })
    }

    /// Forget what has expired, one shard at a time (never all locks at once).
    pub fn sweep(&self, now_ms: u64) -> Vec<Change> {
        let mut gone = Vec::new();
        for shard in &self.shards {
            let mut shard = lock(shard);
            shard.retain(|key, slot| {
                let keep = slot.expires_ms > now_ms;
                if !keep {
                    gone.push(Change::Delete { key: key.clone() });
                }
                keep
            });
        }
        gone
    }

    /// When each held key that begins with `prefix` expires (Unix ms), for tests.
    pub fn expiries(&self, prefix: &str) -> Vec<(String, u64)> {
        self.shards
            .iter()
            .flat_map(|s| {
                lock(s)
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .map(|(k, slot)| (k.clone(), slot.expires_ms))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Keys held (expired or not), for tests and metrics.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The key of one budget window: its group and its own key.
pub fn window_key(group: &str, w: &FixedWindow) -> String {
    format!("{group}:{}", w.key)
}

/// The test double: [`Tables`] and a clock, persisting nothing.
pub struct MemoryStore {
    tables: Tables,
    clock: Arc<dyn Clock>,
    /// How long every operation waits before it runs: a network store's round trip,
    /// for tests of what requests in flight together do.
    round_trip: Duration,
    /// What [`Store::broken`] says: an embedded store's failure, for tests of what
    /// the app makes of it.
    broken: std::sync::OnceLock<String>,
    /// Operations waiting out their round trip now, and the most there have been.
    travelling: std::sync::atomic::AtomicUsize,
    most_travelling: std::sync::atomic::AtomicUsize,
    /// Operations still to be refused as unavailable ([`Self::refuse_next`]).
    refusing: std::sync::atomic::AtomicUsize,
    skipping: std::sync::atomic::AtomicUsize,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            tables: Tables::default(),
            clock,
            round_trip: Duration::ZERO,
            broken: std::sync::OnceLock::new(),
            travelling: std::sync::atomic::AtomicUsize::new(0),
            most_travelling: std::sync::atomic::AtomicUsize::new(0),
            refusing: std::sync::atomic::AtomicUsize::new(0),
            skipping: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// From now on, [`Store::broken`] says `why`, as an embedded store does once a
    /// commit failed (its operations carry on: only what the app says is tested).
    pub fn break_for_good(&self, why: &str) {
        let _ = self.broken.set(why.to_owned());
    }

    /// Every operation waits `round_trip` (on the runtime's timer) before it runs.
    pub fn with_round_trip(mut self, round_trip: Duration) -> Self {
        self.round_trip = round_trip;
        self
    }

    /// The next `n` operations fail as a store that is down fails them, for tests of
    /// what the app does then (and after).
    pub fn refuse_next(&self, n: usize) {
        self.refusing.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// The `skip` operations after this one go through, then `n` fail: to fail a
    /// step in the middle of a sequence.
    pub fn refuse_after(&self, skip: usize, n: usize) {
        self.skipping
            .store(skip, std::sync::atomic::Ordering::SeqCst);
        self.refuse_next(n);
    }

    /// Waits out the round trip; `Err` for an operation [`Self::refuse_next`] refuses.
    async fn travel(&self) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        if !self.round_trip.is_zero() {
            let now = self.travelling.fetch_add(1, SeqCst) + 1;
            self.most_travelling.fetch_max(now, SeqCst);
            tokio::time::sleep(self.round_trip).await;
            self.travelling.fetch_sub(1, SeqCst);
        }
        let skipped = self
            .skipping
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if skipped {
            return Ok(());
        }
        let refused = self
            .refusing
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(StoreError::unavailable("memory", "refused for a test"));
        }
        Ok(())
    }

    /// The most operations that were in flight at once (with a round trip set): what a
    /// network store would have seen.
    pub fn most_in_flight(&self) -> usize {
        self.most_travelling
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn now_ms(&self) -> u64 {
        unix_ms(self.clock.now())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    fn broken(&self) -> Option<String> {
        self.broken.get().cloned()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    async fn admit(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.travel().await?;
        Ok(self.tables.admit(key, rules, self.now_ms()).0)
    }

    async fn peek(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.travel().await?;
        Ok(self.tables.peek(key, rules, self.now_ms()))
    }

    async fn hit(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        self.travel().await?;
        Ok(self.tables.hit(key, rule, self.now_ms()).0)
    }

    async fn spend(&self, group: &str, windows: &[FixedWindow]) -> Result<Spend, StoreError> {
        self.travel().await?;
        Ok(self.tables.spend(group, windows, self.now_ms()).0)
    }

    async fn used(&self, group: &str, windows: &[FixedWindow]) -> Result<Vec<u32>, StoreError> {
        self.travel().await?;
        Ok(self.tables.used(group, windows, self.now_ms()))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.travel().await?;
        Ok(self.tables.get(key, self.now_ms()))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.travel().await?;
        self.tables.put(key, value, ttl, self.now_ms());
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.travel().await?;
        Ok(self
            .tables
            .put_new(key, value, ttl, self.now_ms())
            .is_some())
    }

    async fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.travel().await?;
        Ok(self
            .tables
            .put_if(key, held, value, ttl, self.now_ms())
            .is_some())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.travel().await?;
        self.tables.delete(key);
        Ok(())
    }

    async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        self.travel().await?;
        Ok(self.tables.delete_if(key, value, self.now_ms()).is_some())
    }

    async fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError> {
        self.travel().await?;
        Ok(self.tables.incr_below(key, cap, ttl, self.now_ms()).0)
    }

    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        self.travel().await?;
        self.tables.give_back(key, self.now_ms());
        Ok(())
    }

    async fn schedule(&self, queue: &str, member: &str, at: SystemTime) -> Result<(), StoreError> {
        self.travel().await?;
        self.tables.schedule(queue, member, unix_ms(at));
        Ok(())
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<(), StoreError> {
        self.travel().await?;
        self.tables.unschedule(queue, member);
        Ok(())
    }

    async fn take_due(&self, queue: &str, max: usize) -> Result<Vec<String>, StoreError> {
        self.travel().await?;
        Ok(self.tables.take_due(queue, max, self.now_ms()).0)
    }

    async fn lease_due(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        self.travel().await?;
        Ok(self
            .tables
            .lease_due(queue, max, self.now_ms(), ms(lease))
            .0)
    }

    async fn queued(
        &self,
        queue: &str,
        max: usize,
        end: QueueEnd,
    ) -> Result<Vec<(String, SystemTime)>, StoreError> {
        self.travel().await?;
        Ok(queued_times(self.tables.queued(queue, max, end)))
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.travel().await?;
        Ok(StoreStatus {
            backend: "memory",
            schema_version: SCHEMA_VERSION,
            location: "this process".into(),
        })
    }
}

/// Due times in Unix ms as instants.
pub(super) fn queued_times(members: Vec<(String, u64)>) -> Vec<(String, SystemTime)> {
    members
        .into_iter()
        .map(|(member, at)| (member, UNIX_EPOCH + Duration::from_millis(at)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_survive_their_encoding() {
        for entry in [
            Entry::Tats(vec![1, u64::MAX, 0]),
            Entry::Count(7),
            Entry::Bytes(b"hello".to_vec()),
            Entry::Bytes(Vec::new()),
        ] {
            let slot = Slot {
                entry,
                expires_ms: 1_800_000_000_000,
            };
            assert_eq!(Slot::decode(&slot.encode()), Some(slot));
        }
        assert_eq!(Slot::decode(&[9, 0]), None);
        assert_eq!(Slot::decode(&[]), None);
    }
}
