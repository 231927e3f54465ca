//! The embedded store: everything in this process's memory, persisted to a redb file
//! under `ROOMGATE_DATA_DIR`, for a single roomgate process.
//!
//! # Why redb
//!
//! [redb](https://docs.rs/redb) is a pure-Rust embedded key-value store: it builds
//! with no C toolchain, its transactions are ACID, and a commit with
//! [`Durability::Immediate`] has been fsync'd when it returns. Its model (typed tables
//! of keys and byte values) fits ours, which is a map of TTL'd entries plus a few
//! queues. SQLite (Kanidm's choice) would also be defensible, with more tooling
//! around it, at the price of a C dependency and a schema language we would barely
//! use.
//!
//! # Layout
//!
//! - Reads never touch the disk. At [`open`](EmbeddedStore::open) every live entry is
//!   loaded into [`Tables`], the one implementation of what every operation means;
//!   from then on every operation runs there, and the disk only follows.
//! - One writer thread owns the write side of the database, so no disk I/O runs on
//!   the async runtime's threads. Operations hand it the [`Change`]s they made.
//! - Durable operations ([`put`](Store::put), [`put_new`](Store::put_new), [`put_if`](Store::put_if),
//!   [`delete`](Store::delete), [`incr_below`](Store::incr_below) and the queue)
//!   return once the transaction holding their change has committed with fsync. The
//!   writer drains everything already queued into one transaction (group commit), so
//!   a hundred concurrent writes cost about one fsync, not a hundred. The queue to the
//!   writer is bounded: past 16k waiting writes, durable operations fail
//!   at once ("busy") rather than queue without bound.
//! - Batched operations ([`admit`](Store::admit), [`hit`](Store::hit)) run on every
//!   request, so they only record each key's
//!   latest state in a dirty map: a hot key costs one write per flush, not one per
//!   request. The writer flushes that map once a second, in whichever commit comes
//!   due then, and not with every durable commit: under load that kept each commit
//!   rewriting the pages of every user's counters. **A crash loses at most about a
//!   second of rate-limit counters**; a clean stop (dropping the store) flushes them
//!   and loses nothing. A budget's spend (money, once per code sent) goes to the writer
//!   at once instead, without waiting for its commit (see `spend`).
//! - Every ~30 s a sweeper forgets expired entries in memory and asks the writer to
//!   delete them from disk; whatever it misses is deleted at the next open.
//! - If a commit fails, or the writer thread dies, the store stops writing for good:
//!   every later write, and [`check`](Store::check), fails with
//!   [`StoreError::Unavailable`] and the reason (logged once). What was not yet
//!   committed is lost; restart to recover from what is on disk.
//!
//! # Order on disk
//!
//! Changes to one key must reach the disk in the order they were made in memory.
//! Every write to a key therefore happens under that key's shard lock of the dirty map
//! (applying it to [`Tables`] and handing it to the writer, never across I/O or an
//! `.await`), and a commit that flushes the map takes every shard lock while it drains
//! the queue and empties the map. A durable change removes the key's pending dirty
//! state, so what is left in the map is always newer than anything drained with it,
//! and the writer applies the drained changes first, then the map. A commit that
//! doesn't flush the map only drains the queue: what it leaves in the map is newer
//! still, and goes in a later commit. Queue changes are ordered by one
//! lock of their own. The sweeper's deletions are conditional (only if what is on disk
//! has expired), so they can't undo a newer write whatever order they arrive in.
//!
//! # Files
//!
//! `DIR` is created with mode 0700. `DIR/roomgate.redb` (0600) holds three tables:
//! `meta` (`schema_version`), `kv` (key → [`Slot::encode`]) and `queue`
//! ((queue, member) → due time, Unix ms). `DIR/LOCK` is held with an exclusive lock
//! for the store's lifetime and records the holder's pid (and, once open, the schema
//! it runs), so a second roomgate on the same directory is refused with a clear
//! message and `roomgate store check` ([`inspect`]) can say who holds it.
//!
//! # Schema
//!
//! The `meta` table records [`SCHEMA_VERSION`]. An older database is upgraded at open
//! by the steps in `MIGRATIONS`, oldest first, in the transaction that records the
//! new version; one written by a newer roomgate is refused, untouched.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redb::backends::FileBackend;
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, StorageError, Table,
    TableDefinition, TableError, TableHandle, WriteTransaction,
};
use tokio::sync::oneshot;

use super::gcra::{self, Admission, Rule};
use super::memory::{self, Change, Slot, Tables, window_key};
use super::{
    FixedWindow, QueueEnd, SCHEMA_VERSION, Spend, Store, StoreError, StoreStatus, unix_ms,
};
use crate::clock::Clock;

const BACKEND: &str = "embedded";
/// The database, inside the data directory.
pub const DATABASE_FILE: &str = "roomgate.redb";
/// The lock file, inside the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// Batched changes reach the disk at least this often: the loss window on a crash.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Durable writes (and sweeps) waiting for the writer before new ones are refused.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Shards of the dirty map, which are also the ordering locks of the keys.
const SHARDS: usize = 32;
/// redb's page cache. Reads are served from memory, so the file is read once, at open.
const CACHE_BYTES: usize = 16 << 20;
/// Under concurrent writes (the last commit held more than one), the writer waits this
/// long after the first of a commit's writes before draining the queue: a commit costs
/// about the same whatever it holds (the B-tree's upper pages, redb's bookkeeping, the
/// fsync, waking the writer and then those it answers), so fewer, fuller commits cost
/// less per write. A lone write (an idle server) commits at once. See README,
/// "Performance": about 5 % less server CPU per flow at (a), a quarter of the writer's.
const GATHER: Duration = Duration::from_millis(1);
/// How long dropping the store waits for the writer's last commit.
const STOP_WAIT: Duration = Duration::from_secs(10);

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const QUEUE: TableDefinition<(&str, &str), u64> = TableDefinition::new("queue");
const SCHEMA_KEY: &str = "schema_version";

/// One step of the schema: upgrades a database of schema `from` to `from + 1`. It runs
/// in the transaction that then records the new version, so a step is all or nothing.
struct Migration {
    from: u32,
    /// For the log.
    what: &'static str,
    run: fn(&WriteTransaction) -> Result<(), redb::Error>,
}

/// Every step, oldest first. To change the on-disk form: bump [`SCHEMA_VERSION`] and
/// add the step from the previous version at the end (the build fails otherwise).
const MIGRATIONS: &[Migration] = &[];

const _: () = {
    let mut i = 0;
    while i < MIGRATIONS.len() {
        assert!(
            MIGRATIONS[i].from == i as u32 + 1,
            "MIGRATIONS[i] must upgrade schema i + 1"
        );
        i += 1;
    }
    assert!(
        MIGRATIONS.len() as u32 + 1 == SCHEMA_VERSION,
        "every schema before SCHEMA_VERSION needs a migration step"
    );
};

/// Knobs the tests turn; `open` uses the defaults.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    flush_every: Duration,
    sweep_every: Duration,
    capacity: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            flush_every: FLUSH_EVERY,
            sweep_every: SWEEP_EVERY,
            capacity: QUEUE_CAPACITY,
        }
    }
}

/// The embedded store. See the [module docs](self) for what it guarantees.
pub struct EmbeddedStore {
    inner: Arc<Inner>,
    writer: Mutex<Option<Writer>>,
    sweeper: tokio::task::AbortHandle,
    path: PathBuf,
    schema_version: u32,
    /// Dropped after the writer has stopped (see `Drop`), which closes the database.
    _lock: DirLock,
}

/// What the operations, the sweeper and the store share.
struct Inner {
    tables: Tables,
    clock: Arc<dyn Clock>,
    shared: Arc<Shared>,
    sender: mpsc::Sender<Msg>,
    /// Orders the queue's changes on their way to the writer.
    queue_order: Mutex<()>,
    capacity: usize,
}

/// What the operations and the writer thread share.
struct Shared {
    /// Each key's latest state from a batched operation since the last commit. Each
    /// shard's lock is also the ordering lock of its keys (module docs).
    dirty: Vec<Mutex<HashMap<String, Change>>>,
    /// Durable writes and sweeps sent and not yet drained by the writer.
    pending: AtomicUsize,
    /// Set once, when the writer stops for good: why.
    failure: OnceLock<String>,
    /// Transactions committed, for the tests and the curious.
    commits: AtomicU64,
}

enum Msg {
    /// Commit these, then answer.
    Durable { changes: Vec<Change>, ack: Ack },
    /// Delete these keys if what is on disk has expired by `now_ms`.
    Sweep { keys: Vec<String>, now_ms: u64 },
    /// Answer once everything before it is committed (the health check).
    Ping(Ack),
    /// Commit what is pending (if `flush`) and stop.
    Stop { flush: bool },
}

type Ack = oneshot::Sender<Result<(), String>>;
type Acked = oneshot::Receiver<Result<(), String>>;

struct Writer {
    handle: JoinHandle<()>,
    /// Disconnected once the writer thread has ended.
    done: mpsc::Receiver<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert or remove.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unavailable(reason: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(BACKEND, reason)
}

fn corrupt(reason: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(BACKEND, reason)
}

fn in_use(dir: &Path, pid: Option<u32>) -> StoreError {
    let pid = pid.map_or_else(|| "pid unknown".to_owned(), |p| format!("pid {p}"));
    unavailable(format!(
        "the data directory {} is in use by another roomgate ({pid}); stop it first or set ROOMGATE_DATA_DIR to another directory",
        dir.display()
    ))
}

fn newer(found: u64) -> StoreError {
    corrupt(format!(
        "written by a newer roomgate (schema {found}); this build reads up to {SCHEMA_VERSION}"
    ))
}

/// A redb error in `context`: damage is `Corrupt`, anything else `Unavailable`.
fn db_error(context: &Path, e: impl Into<redb::Error>) -> StoreError {
    let e = e.into();
    let reason = format!("{}: {e}", context.display());
    match e {
        redb::Error::Corrupted(_)
        | redb::Error::UpgradeRequired(_)
        | redb::Error::TableTypeMismatch(_)
        | redb::Error::TypeDefinitionChanged(_)
        | redb::Error::TableIsMultimap(_) => corrupt(reason),
        _ => unavailable(reason),
    }
}

fn open_error(dir: &Path, path: &Path, e: DatabaseError) -> StoreError {
    match e {
        // Open elsewhere without our lock file (it was deleted, or another tool).
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            in_use(dir, None)
        }
        DatabaseError::Storage(StorageError::Corrupted(reason)) => {
            corrupt(format!("{}: {reason}", path.display()))
        }
        e => db_error(path, e),
    }
}

fn shard_of(key: &str) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    (h.finish() as usize) % SHARDS
}

impl Shared {
    fn new() -> Self {
        Self {
            dirty: (0..SHARDS).map(|_| Mutex::default()).collect(),
            pending: AtomicUsize::new(0),
            failure: OnceLock::new(),
            commits: AtomicU64::new(0),
        }
    }

    /// The ordering lock of `key`, and its shard of the dirty map.
    fn shard(&self, key: &str) -> MutexGuard<'_, HashMap<String, Change>> {
        lock(&self.dirty[shard_of(key)])
    }

    /// The writer has failed: remember why, and say so once.
    fn fail(&self, reason: String) {
        if self.failure.set(reason.clone()).is_ok() {
            tracing::error!(
                problem = %reason,
                "the embedded store can no longer write; restart roomgate once the cause is fixed"
            );
        }
    }

    /// The writer stopped because it was told to.
    fn stopped(&self) {
        let _ = self.failure.set("the store has been shut down".to_owned());
    }

    fn down(&self) -> StoreError {
        unavailable(
            self.failure
                .get()
                .map_or("the writer thread has stopped", String::as_str),
        )
    }

    /// Everything to commit now: `first` and whatever else is queued, then the dirty
    /// map, taken together under every ordering lock (module docs).
    fn collect(
        &self,
        first: Option<Msg>,
        rx: &mpsc::Receiver<Msg>,
        with_dirty: bool,
    ) -> (Vec<Msg>, Vec<Change>) {
        let mut msgs: Vec<Msg> = first.into_iter().collect();
        let mut guards: Vec<_> = if with_dirty {
            self.dirty.iter().map(lock).collect()
        } else {
            Vec::new()
        };
        while let Ok(msg) = rx.try_recv() {
            msgs.push(msg);
        }
        let dirty: Vec<Change> = guards
            .iter_mut()
            .flat_map(|g| std::mem::take(&mut **g).into_values())
            .collect();
        drop(guards);
        let counted = msgs
            .iter()
            .filter(|m| matches!(m, Msg::Durable { .. } | Msg::Sweep { .. }))
            .count();
        self.pending.fetch_sub(counted, Ordering::AcqRel);
        (msgs, dirty)
    }
}

/// One place in the writer's queue, given back unless a message uses it.
struct Reservation<'a> {
    shared: &'a Shared,
    used: bool,
}

impl Reservation<'_> {
    fn send(mut self, sender: &mpsc::Sender<Msg>, msg: Msg) -> Result<(), StoreError> {
        sender.send(msg).map_err(|_| self.shared.down())?;
        self.used = true;
        Ok(())
    }

    /// Hand `changes` to the writer; the receiver answers once they are on disk.
    fn submit(
        self,
        sender: &mpsc::Sender<Msg>,
        changes: Vec<Change>,
    ) -> Result<Option<Acked>, StoreError> {
        if changes.is_empty() {
            return Ok(None);
        }
        let (ack, acked) = oneshot::channel();
        self.send(sender, Msg::Durable { changes, ack })?;
        Ok(Some(acked))
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.used {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        unix_ms(self.clock.now())
    }

    fn ensure_up(&self) -> Result<(), StoreError> {
        match self.shared.failure.get() {
            Some(_) => Err(self.shared.down()),
            None => Ok(()),
        }
    }

    /// A place for one durable write, before anything is changed: a refused write
    /// changes nothing.
    fn reserve(&self) -> Result<Reservation<'_>, StoreError> {
        self.ensure_up()?;
        if self.shared.pending.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(unavailable(
                "busy: too many writes are waiting for the disk; try again shortly",
            ));
        }
        Ok(Reservation {
            shared: &self.shared,
            used: false,
        })
    }

    /// A durable operation on `key`: applied to the tables and handed to the writer
    /// under the key's ordering lock, superseding its pending batched state.
    fn write_key<T>(
        &self,
        key: &str,
        op: impl FnOnce(&Tables, u64) -> (T, Vec<Change>),
    ) -> Result<(T, Option<Acked>), StoreError> {
        let reservation = self.reserve()?;
        let now_ms = self.now_ms();
        let mut order = self.shared.shard(key);
        let (out, changes) = op(&self.tables, now_ms);
        if !changes.is_empty() {
            order.remove(key);
        }
        Ok((out, reservation.submit(&self.sender, changes)?))
    }

    /// A durable operation on the queues.
    fn write_queue<T>(
        &self,
        op: impl FnOnce(&Tables, u64) -> (T, Vec<Change>),
    ) -> Result<(T, Option<Acked>), StoreError> {
        let reservation = self.reserve()?;
        let now_ms = self.now_ms();
        let _order = lock(&self.queue_order);
        let (out, changes) = op(&self.tables, now_ms);
        Ok((out, reservation.submit(&self.sender, changes)?))
    }

    /// [`Store::spend`]'s change, applied and handed to the writer under its windows'
    /// ordering locks (each superseding its key's batched state).
    fn spend(
        &self,
        group: &str,
        windows: &[FixedWindow],
    ) -> Result<(Spend, Option<Acked>), StoreError> {
        let reservation = self.reserve()?;
        let now_ms = self.now_ms();
        // Every window's ordering lock, in shard order (as the writer takes them).
        let mut shards: Vec<usize> = windows
            .iter()
            .map(|w| shard_of(&window_key(group, w)))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, _>)> = shards
            .into_iter()
            .map(|i| (i, lock(&self.shared.dirty[i])))
            .collect();
        let (spend, changes) = self.tables.spend(group, windows, now_ms);
        // Any batched state of these keys is older: the durable change supersedes it.
        for change in &changes {
            if let Change::Put { key, .. } | Change::Delete { key } = change
                && let Some((_, dirty)) = guards.iter_mut().find(|(j, _)| *j == shard_of(key))
            {
                dirty.remove(key);
            }
        }
        let acked = reservation.submit(&self.sender, changes)?;
        Ok((spend, acked))
    }

    /// The result of a durable operation, once its change is on disk.
    async fn settle<T>(&self, (out, acked): (T, Option<Acked>)) -> Result<T, StoreError> {
        let Some(acked) = acked else { return Ok(out) };
        match acked.await {
            Ok(Ok(())) => Ok(out),
            Ok(Err(reason)) => Err(unavailable(reason)),
            Err(_) => Err(self.shared.down()),
        }
    }

    /// A batched operation on `key`: its change waits in the dirty map.
    fn batch_key<T>(
        &self,
        key: &str,
        op: impl FnOnce(&Tables, u64) -> (T, Option<Change>),
    ) -> Result<T, StoreError> {
        self.ensure_up()?;
        let now_ms = self.now_ms();
        let mut dirty = self.shared.shard(key);
        let (out, change) = op(&self.tables, now_ms);
        if let Some(change) = change {
            dirty.insert(key.to_owned(), change);
        }
        Ok(out)
    }

    /// Forget what has expired; ask the writer to delete it from disk too (not waited
    /// for, and skipped when the writer is busy: the next open deletes it anyway).
    fn sweep(&self) -> usize {
        let now_ms = self.now_ms();
        let keys: Vec<String> = self
            .tables
            .sweep(now_ms)
            .into_iter()
            .filter_map(|c| match c {
                Change::Delete { key } => Some(key),
                _ => None,
            })
            .collect();
        let n = keys.len();
        self.send_sweep(keys, now_ms);
        n
    }

    fn send_sweep(&self, keys: Vec<String>, now_ms: u64) {
        if keys.is_empty() {
            return;
        }
        let sent = self
            .reserve()
            .and_then(|r| r.send(&self.sender, Msg::Sweep { keys, now_ms }));
        if let Err(e) = sent {
            tracing::debug!(error = %e, "expired entries stay on disk until the next sweep");
        }
    }
}

impl EmbeddedStore {
    /// Open (creating if need be) the store in `dir`, taking its lock, upgrading its
    /// schema and loading every live entry into memory. `clock` judges expiry for
    /// every operation.
    pub async fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with(dir, clock, Tuning::default()).await
    }

    async fn open_with(
        dir: &Path,
        clock: Arc<dyn Clock>,
        tuning: Tuning,
    ) -> Result<Self, StoreError> {
        let now_ms = unix_ms(clock.now());
        let owned_dir = dir.to_owned();
        let opened = tokio::task::spawn_blocking(move || open_blocking(&owned_dir, now_ms))
            .await
            .map_err(|e| unavailable(format!("opening the store failed: {e}")))??;
        let Opened {
            lock: dir_lock,
            db,
            path,
            schema_version,
            loaded,
        } = opened;

        let tables = Tables::default();
        let (entries, queued) = (loaded.entries.len(), loaded.queued.len());
        for (key, slot) in loaded.entries {
            tables.restore(key, slot, now_ms);
        }
        for (queue, member, at_ms) in loaded.queued {
            tables.restore_queued(queue, member, at_ms);
        }

        let shared = Arc::new(Shared::new());
        let (sender, writer) =
            spawn_writer(db, path.clone(), shared.clone(), tuning.flush_every)
                .map_err(|e| unavailable(format!("can't start the writer thread: {e}")))?;
        let inner = Arc::new(Inner {
            tables,
            clock,
            shared,
            sender,
            queue_order: Mutex::new(()),
            capacity: tuning.capacity,
        });
        let sweeper = tokio::spawn(sweep_loop(Arc::downgrade(&inner), tuning.sweep_every));
        tracing::info!(
            path = %path.display(),
            schema_version,
            entries,
            queued,
            "opened the embedded store"
        );
        Ok(Self {
            inner,
            writer: Mutex::new(Some(writer)),
            sweeper: sweeper.abort_handle(),
            path,
            schema_version,
            _lock: dir_lock,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stop the writer: after a last commit of everything pending if `flush`, or at
    /// once, losing it, if not (a simulated crash). Later writes fail.
    fn stop(&mut self, flush: bool) {
        self.sweeper.abort();
        let Some(writer) = self
            .writer
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let _ = self.inner.sender.send(Msg::Stop { flush });
        match writer.done.recv_timeout(STOP_WAIT) {
            Err(RecvTimeoutError::Timeout) => tracing::error!(
                path = %self.path.display(),
                "the embedded store's writer did not stop in time; its last changes may be lost"
            ),
            _ => {
                if writer.handle.join().is_err() {
                    tracing::error!("the embedded store's writer thread panicked");
                }
            }
        }
    }

    /// Stop the writer without flushing, and drop the store (releasing its lock): what
    /// a crash leaves on disk.
    #[cfg(test)]
    fn crash(mut self) {
        self.stop(false);
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Blocks for the last commit (one fsync), so the lock is released only once
        // the database is closed and a clean stop loses nothing.
        self.stop(true);
    }
}

async fn sweep_loop(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let swept = inner.sweep();
        if swept > 0 {
            tracing::debug!(swept, "forgot expired entries");
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn broken(&self) -> Option<String> {
        self.inner.shared.failure.get().cloned()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    async fn admit(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.inner.batch_key(key, |t, now| t.admit(key, rules, now))
    }

    async fn peek(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.inner.ensure_up()?;
        Ok(self.inner.tables.peek(key, rules, self.inner.now_ms()))
    }

    async fn hit(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        self.inner.batch_key(key, |t, now| {
            let (level, change) = t.hit(key, rule, now);
            (level, Some(change))
        })
    }

    async fn hit_durably(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            let (level, change) = t.hit(key, rule, now);
            (level, vec![change])
        })?;
        self.inner.settle(written).await
    }

    /// Unlike the other counters, a spend (money: an SMS or a call, once per code
    /// sent) goes to the writer at once, not with the next flush: it reaches the disk
    /// in the same commit as anything durable written after it (the sign-in's record),
    /// or an earlier one. It doesn't wait for that commit itself, so a sign-in for a
    /// name on the list takes no longer than one for a name that isn't.
    async fn spend(&self, group: &str, windows: &[FixedWindow]) -> Result<Spend, StoreError> {
        let (spend, _not_awaited) = self.inner.spend(group, windows)?;
        Ok(spend)
    }

    async fn used(&self, group: &str, windows: &[FixedWindow]) -> Result<Vec<u32>, StoreError> {
        Ok(self.inner.tables.used(group, windows, self.inner.now_ms()))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.tables.get(key, self.inner.now_ms()))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let written = self
            .inner
            .write_key(key, |t, now| ((), vec![t.put(key, value, ttl, now)]))?;
        self.inner.settle(written).await
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            let change = t.put_new(key, value, ttl, now);
            (change.is_some(), change.into_iter().collect())
        })?;
        self.inner.settle(written).await
    }

    async fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            let change = t.put_if(key, held, value, ttl, now);
            (change.is_some(), change.into_iter().collect())
        })?;
        self.inner.settle(written).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let written = self
            .inner
            .write_key(key, |t, _| ((), vec![t.delete(key)]))?;
        self.inner.settle(written).await
    }

    async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            let change = t.delete_if(key, value, now);
            (change.is_some(), change.into_iter().collect())
        })?;
        self.inner.settle(written).await
    }

    async fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            let (count, change) = t.incr_below(key, cap, ttl, now);
            (count, change.into_iter().collect())
        })?;
        self.inner.settle(written).await
    }

    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        let written = self.inner.write_key(key, |t, now| {
            ((), t.give_back(key, now).into_iter().collect())
        })?;
        self.inner.settle(written).await
    }

    async fn schedule(&self, queue: &str, member: &str, at: SystemTime) -> Result<(), StoreError> {
        let written = self
            .inner
            .write_queue(|t, _| ((), vec![t.schedule(queue, member, unix_ms(at))]))?;
        self.inner.settle(written).await
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<(), StoreError> {
        let written = self
            .inner
            .write_queue(|t, _| ((), t.unschedule(queue, member).into_iter().collect()))?;
        self.inner.settle(written).await
    }

    async fn take_due(&self, queue: &str, max: usize) -> Result<Vec<String>, StoreError> {
        let written = self
            .inner
            .write_queue(|t, now| t.take_due(queue, max, now))?;
        self.inner.settle(written).await
    }

    async fn lease_due(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        let lease_ms = gcra::millis(lease);
        let written = self
            .inner
            .write_queue(|t, now| t.lease_due(queue, max, now, lease_ms))?;
        self.inner.settle(written).await
    }

    /// From memory: the tables hold everything the disk does.
    async fn queued(
        &self,
        queue: &str,
        max: usize,
        end: QueueEnd,
    ) -> Result<Vec<(String, SystemTime)>, StoreError> {
        self.inner.ensure_up()?;
        Ok(memory::queued_times(
            self.inner.tables.queued(queue, max, end),
        ))
    }

    /// Answers once the writer has committed everything queued before it: a dead or
    /// stuck writer fails the check (or makes it time out).
    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.inner.ensure_up()?;
        let (ack, acked) = oneshot::channel();
        self.inner
            .sender
            .send(Msg::Ping(ack))
            .map_err(|_| self.inner.shared.down())?;
        self.inner.settle(((), Some(acked))).await?;
        Ok(StoreStatus {
            backend: BACKEND,
            schema_version: self.schema_version,
            location: self.path.display().to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------
// The writer thread.

fn spawn_writer(
    db: Database,
    path: PathBuf,
    shared: Arc<Shared>,
    flush_every: Duration,
) -> io::Result<(mpsc::Sender<Msg>, Writer)> {
    let (sender, rx) = mpsc::channel();
    let (done_tx, done) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("roomgate-store".into())
        .spawn(move || {
            // Dropped last: the thread is over, the database closed.
            let _done = done_tx;
            let _panic = PanicGuard(shared.clone());
            crate::scheduling::as_batch_work();
            let db = db;
            write_loop(&db, &rx, &shared, &path, flush_every);
        })?;
    Ok((sender, Writer { handle, done }))
}

struct PanicGuard(Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail("the writer thread panicked".to_owned());
        }
    }
}

fn write_loop(
    db: &Database,
    rx: &mpsc::Receiver<Msg>,
    shared: &Shared,
    path: &Path,
    flush_every: Duration,
) {
    // Durable writes in the last commit: more than one means others are writing too.
    let mut last_batch = 0;
    let mut flushed = std::time::Instant::now();
    loop {
        // Wake for the first message, or to flush the dirty map.
        let first = match rx.recv_timeout(flush_every.saturating_sub(flushed.elapsed())) {
            Ok(msg) => Some(msg),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Msg::Stop { flush: true }),
        };
        if last_batch > 1 && matches!(first, Some(Msg::Durable { .. })) {
            std::thread::sleep(GATHER);
        }
        let with_dirty = !matches!(first, Some(Msg::Durable { .. } | Msg::Sweep { .. }))
            || flushed.elapsed() >= flush_every;
        if with_dirty {
            flushed = std::time::Instant::now();
        }
        let (msgs, mut dirty) = shared.collect(first, rx, with_dirty);
        let mut acks = Vec::new();
        let mut work = Vec::new();
        let mut stop = None;
        let mut take = |msgs: Vec<Msg>, stop: &mut Option<bool>| {
            for msg in msgs {
                match msg {
                    Msg::Durable { changes, ack } => {
                        work.push(Work::Changes(changes));
                        acks.push(ack);
                    }
                    Msg::Sweep { keys, now_ms } => work.push(Work::Sweep { keys, now_ms }),
                    Msg::Ping(ack) => acks.push(ack),
                    Msg::Stop { flush } => *stop = stop.or(Some(flush)),
                }
            }
        };
        take(msgs, &mut stop);
        // A clean stop flushes the counters too, with whatever else was sent by then
        // (under the ordering locks, as any flush).
        if stop == Some(true) && !with_dirty {
            let (more, all) = shared.collect(None, rx, true);
            take(more, &mut stop);
            dirty = all;
        }
        last_batch = work
            .iter()
            .filter(|w| matches!(w, Work::Changes(_)))
            .count();
        if stop == Some(false) {
            // A crash: nothing more reaches the disk, nobody waiting is told it did.
            shared.stopped();
            return;
        }
        if !work.is_empty() || !dirty.is_empty() {
            if let Err(e) = commit(db, &work, &dirty) {
                let reason = format!("writing {} failed: {e}", path.display());
                shared.fail(reason.clone());
                for ack in acks {
                    let _ = ack.send(Err(reason.clone()));
                }
                return;
            }
            shared.commits.fetch_add(1, Ordering::Relaxed);
        }
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        if stop.is_some() {
            shared.stopped();
            return;
        }
    }
}

enum Work {
    Changes(Vec<Change>),
    Sweep { keys: Vec<String>, now_ms: u64 },
}

/// One transaction, fsync'd: the drained work in order, then the dirty map.
fn commit(db: &Database, work: &[Work], dirty: &[Change]) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut kv = txn.open_table(KV)?;
        let mut queue = txn.open_table(QUEUE)?;
        for item in work {
            match item {
                Work::Changes(changes) => {
                    for change in changes {
                        apply(&mut kv, &mut queue, change)?;
                    }
                }
                Work::Sweep { keys, now_ms } => {
                    for key in keys {
                        let expired = match kv.get(key.as_str())? {
                            Some(raw) => {
                                Slot::decode(raw.value()).is_none_or(|s| s.expires_ms <= *now_ms)
                            }
                            None => false,
                        };
                        if expired {
                            kv.remove(key.as_str())?;
                        }
                    }
                }
            }
        }
        for change in dirty {
            apply(&mut kv, &mut queue, change)?;
        }
    }
    txn.commit()?;
    Ok(())
}

fn apply(
    kv: &mut Table<'_, &'static str, &'static [u8]>,
    queue: &mut Table<'_, (&'static str, &'static str), u64>,
    change: &Change,
) -> Result<(), redb::Error> {
    match change {
        Change::Put { key, slot } => {
            kv.insert(key.as_str(), slot.encode().as_slice())?;
        }
        Change::Delete { key } => {
            kv.remove(key.as_str())?;
        }
        Change::Queue {
            queue: name,
            member,
            at_ms: Some(at),
        } => {
            queue.insert((name.as_str(), member.as_str()), at)?;
        }
        Change::Queue {
            queue: name,
            member,
            at_ms: None,
        } => {
            queue.remove((name.as_str(), member.as_str()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Opening: the directory, its lock, the schema, the load.

struct Opened {
    lock: DirLock,
    db: Database,
    path: PathBuf,
    schema_version: u32,
    loaded: Loaded,
}

#[derive(Default)]
struct Loaded {
    entries: Vec<(String, Slot)>,
    queued: Vec<(String, String, u64)>,
}

fn open_blocking(dir: &Path, now_ms: u64) -> Result<Opened, StoreError> {
    create_dir(dir)?;
    let mut dir_lock = match DirLock::try_acquire(dir)? {
        Acquired::Held(l) => l,
        Acquired::InUse(holder) => return Err(in_use(dir, holder.pid)),
    };
    let path = dir.join(DATABASE_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| unavailable(format!("can't open {}: {e}", path.display())))?;
    let mut db = redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create_with_backend(FileBackend::new(file))
        .map_err(|e| open_error(dir, &path, e))?;
    let (schema_version, loaded) =
        prepare(&db, now_ms, MIGRATIONS, SCHEMA_VERSION).map_err(|e| match e {
            Prepared::Store(e) => e,
            Prepared::Db(e) => db_error(&path, e),
        })?;
    compact(&mut db, &path);
    if let Err(e) = dir_lock.record(Some(schema_version)) {
        tracing::warn!(error = %e, "could not record the schema in the lock file");
    }
    Ok(Opened {
        lock: dir_lock,
        db,
        path,
        schema_version,
        loaded,
    })
}

/// A file at least this large is compacted when the store opens.
const COMPACT_OVER: u64 = 1 << 20;

/// redb reuses the pages its deletions free but never gives them back, so a file
/// grown by a burst (a flood's sign-ins, up to their cap) kept that size for good.
/// At start-up, before anything else holds the database, it is compacted: a restart
/// gives the disk back. A failure leaves the file as it was (a compaction is
/// transactional), so it is only logged.
fn compact(db: &mut Database, path: &Path) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(path);
    if before < COMPACT_OVER {
        return;
    }
    let started = std::time::Instant::now();
    match db.compact(redb::CompactionMode::Balanced) {
        Ok(_) => tracing::info!(
            before_bytes = before,
            after_bytes = size(path),
            took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "compacted the embedded store"
        ),
        Err(e) => tracing::warn!(error = %e, "the embedded store was not compacted"),
    }
}

fn create_dir(dir: &Path) -> Result<(), StoreError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    "the data directory is open to other users; chmod 700 it"
                );
            }
            Ok(())
        }
        Ok(_) => Err(unavailable(format!(
            "{} is not a directory (ROOMGATE_DATA_DIR)",
            dir.display()
        ))),
        Err(_) => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| unavailable(format!("can't create {}: {e}", dir.display()))),
    }
}

enum Prepared {
    Store(StoreError),
    Db(redb::Error),
}

macro_rules! prepared_from {
    ($($e:ty),*) => {$(
        impl From<$e> for Prepared {
            fn from(e: $e) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}

prepared_from!(
    redb::Error,
    redb::TransactionError,
    redb::SetDurabilityError,
    redb::CommitError,
    TableError,
    StorageError
);

/// In one transaction: check or record the schema version, run the migrations from an
/// older one, delete what has expired, and read everything else.
fn prepare(
    db: &Database,
    now_ms: u64,
    steps: &[Migration],
    target: u32,
) -> Result<(u32, Loaded), Prepared> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    let existing: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    let found = {
        let meta = txn.open_table(META)?;
        meta.get(SCHEMA_KEY)?.map(|v| v.value())
    };
    match found {
        None if existing.iter().any(|t| t == KV.name() || t == QUEUE.name()) => {
            return Err(Prepared::Store(corrupt(
                "the database has data but no schema version",
            )));
        }
        None => {}
        Some(v) if v > u64::from(target) => return Err(Prepared::Store(newer(v))),
        Some(v) if v < u64::from(target) => migrate(&txn, v as u32, steps)?,
        Some(_) => {}
    }
    txn.open_table(META)?
        .insert(SCHEMA_KEY, u64::from(target))?;

    let mut loaded = Loaded::default();
    let mut unreadable = 0usize;
    {
        let mut kv = txn.open_table(KV)?;
        kv.retain(|key, raw| match Slot::decode(raw) {
            Some(slot) if slot.expires_ms > now_ms => {
                loaded.entries.push((key.to_owned(), slot));
                true
            }
            Some(_) => false,
            None => {
                unreadable += 1;
                true
            }
        })?;
        let queue = txn.open_table(QUEUE)?;
        for row in queue.iter()? {
            let (key, at) = row?;
            let (name, member) = key.value();
            loaded
                .queued
                .push((name.to_owned(), member.to_owned(), at.value()));
        }
    }
    if unreadable > 0 {
        // Dropping the transaction aborts it: nothing was changed.
        return Err(Prepared::Store(corrupt(format!(
            "{unreadable} entries can't be read"
        ))));
    }
    txn.commit()?;
    Ok((target, loaded))
}

/// Run every step from schema `found` on, in order.
fn migrate(txn: &WriteTransaction, found: u32, steps: &[Migration]) -> Result<(), Prepared> {
    if found == 0 || !steps.iter().any(|s| s.from == found) {
        return Err(Prepared::Store(corrupt(format!(
            "schema {found} is not one this build can upgrade"
        ))));
    }
    for step in steps.iter().filter(|s| s.from >= found) {
        tracing::info!(
            from = step.from,
            to = step.from + 1,
            step = step.what,
            "upgrading the store"
        );
        (step.run)(txn)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// The lock file.

/// `DIR/LOCK`, held exclusively for as long as this exists.
struct DirLock {
    file: File,
}

/// Who holds a lock, as its lock file says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Holder {
    pid: Option<u32>,
    schema_version: Option<u32>,
}

enum Acquired {
    Held(DirLock),
    InUse(Holder),
}

impl DirLock {
    fn try_acquire(dir: &Path) -> Result<Acquired, StoreError> {
        let path = dir.join(LOCK_FILE);
        // Not truncated before it is ours: it names the holder.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| unavailable(format!("can't open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                return Ok(Acquired::InUse(Holder::parse(&text)));
            }
            Err(TryLockError::Error(e)) => {
                return Err(unavailable(format!("can't lock {}: {e}", path.display())));
            }
        }
        let mut held = Self { file };
        held.record(None)
            .map_err(|e| unavailable(format!("can't write {}: {e}", path.display())))?;
        Ok(Acquired::Held(held))
    }

    /// Our pid, and the schema once it is known.
    fn record(&mut self, schema_version: Option<u32>) -> io::Result<()> {
        let mut text = format!("{}\n", std::process::id());
        if let Some(v) = schema_version {
            text.push_str(&format!("schema {v}\n"));
        }
        self.file.set_len(0)?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, text.as_bytes(), 0)?;
        self.file.flush()
    }
}

impl Holder {
    fn parse(text: &str) -> Self {
        let mut lines = text.lines();
        Self {
            pid: lines.next().and_then(|l| l.trim().parse().ok()),
            schema_version: lines
                .find_map(|l| l.strip_prefix("schema "))
                .and_then(|v| v.trim().parse().ok()),
        }
    }
}

// ---------------------------------------------------------------------------------
// `roomgate store check` with no server running.

/// The database file in `dir`, if there is one: the host's commands use a store, they
/// never make one (a command run from the wrong directory would otherwise answer from
/// a new, empty store, and leave it there).
pub fn existing(dir: &Path) -> Result<PathBuf, StoreError> {
    let path = dir.join(DATABASE_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(unavailable(format!(
            "there is no database at {} yet; `roomgate serve` creates it (in \
             ROOMGATE_DATA_DIR, default `data` in the directory it runs in)",
            path.display()
        )))
    }
}

/// The store in `dir`, checked offline (blocking) for `roomgate store check`:
/// - not there yet: an `Unavailable` error (`roomgate serve` creates it; nothing is
///   created here);
/// - held by a running roomgate: **not an error**. The status's location says "in use
///   by a running roomgate (pid N)" and its schema version is the one that process
///   recorded in the lock file (0 if it has not recorded one yet);
/// - otherwise: the lock is taken for the duration of the check, the database opened
///   read-only (or, if a crash left it needing repair, opened and repaired as `serve`
///   would) and its schema version read. A newer schema is `Corrupt`; an older one is
///   reported with a note that `serve` will upgrade it.
pub fn inspect(dir: &Path) -> Result<StoreStatus, StoreError> {
    let path = existing(dir)?;
    let location = path.display().to_string();
    let in_use = |holder: Holder| {
        let pid = holder
            .pid
            .map_or_else(|| "pid unknown".to_owned(), |p| format!("pid {p}"));
        StoreStatus {
            backend: BACKEND,
            schema_version: holder.schema_version.unwrap_or(0),
            location: format!("{location} (in use by a running roomgate, {pid})"),
        }
    };
    let _held = match DirLock::try_acquire(dir)? {
        Acquired::Held(l) => l,
        Acquired::InUse(holder) => return Ok(in_use(holder)),
    };
    let found = match redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .open_read_only(&path)
    {
        Ok(db) => stored_version(&db, &path)?,
        Err(DatabaseError::RepairAborted) => {
            let db = redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .open(&path)
                .map_err(|e| open_error(dir, &path, e))?;
            stored_version(&db, &path)?
        }
        Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch) => {
            return Ok(in_use(Holder::default()));
        }
        Err(e) => return Err(open_error(dir, &path, e)),
    };
    let (schema_version, location) = match found {
        None => (
            0,
            format!("{location} (empty; `roomgate serve` will initialise it)"),
        ),
        Some(v) if v > u64::from(SCHEMA_VERSION) => return Err(newer(v)),
        Some(v) if v < u64::from(SCHEMA_VERSION) => (
            v as u32,
            format!(
                "{location} (schema {v}; `roomgate serve` will upgrade it to {SCHEMA_VERSION})"
            ),
        ),
        Some(v) => (v as u32, location),
    };
    Ok(StoreStatus {
        backend: BACKEND,
        schema_version,
        location,
    })
}

fn stored_version(db: &impl ReadableDatabase, path: &Path) -> Result<Option<u64>, StoreError> {
    let txn = db.begin_read().map_err(|e| db_error(path, e))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(db_error(path, e)),
    };
    let version = meta
        .get(SCHEMA_KEY)
        .map_err(|e| db_error(path, e))?
        .map(|v| v.value());
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use redb::ReadableTableMetadata;

    use crate::test_support::TempDir;

    impl TempDir {
        /// The data directory itself (not created: the store creates it).
        fn data(&self) -> PathBuf {
            self.0.join("data")
        }
    }

    fn clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::default())
    }

    async fn open(dir: &Path, clock: &Arc<ManualClock>) -> EmbeddedStore {
        EmbeddedStore::open(dir, clock.clone()).await.expect("open")
    }

    async fn open_tuned(dir: &Path, clock: &Arc<ManualClock>, tuning: Tuning) -> EmbeddedStore {
        EmbeddedStore::open_with(dir, clock.clone(), tuning)
            .await
            .expect("open")
    }

    /// Schema version, entries and queued members.
    type OnDisk = (
        Option<u64>,
        HashMap<String, Slot>,
        Vec<(String, String, u64)>,
    );

    /// What the file holds, read straight from redb (the store must be closed).
    fn on_disk(dir: &Path) -> OnDisk {
        let db = Database::open(dir.join(DATABASE_FILE)).expect("raw open");
        let txn = db.begin_read().unwrap();
        let version = txn
            .open_table(META)
            .ok()
            .and_then(|m| m.get(SCHEMA_KEY).unwrap().map(|v| v.value()));
        let mut kv = HashMap::new();
        if let Ok(table) = txn.open_table(KV) {
            for row in table.iter().unwrap() {
                let (k, v) = row.unwrap();
                kv.insert(k.value().to_owned(), Slot::decode(v.value()).unwrap());
            }
        }
        let mut queued = Vec::new();
        if let Ok(table) = txn.open_table(QUEUE) {
            for row in table.iter().unwrap() {
                let (k, v) = row.unwrap();
                let (q, m) = k.value();
                queued.push((q.to_owned(), m.to_owned(), v.value()));
            }
        }
        (version, kv, queued)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn window(key: &str, cap: u32, clock: &ManualClock) -> FixedWindow {
        FixedWindow {
            key: key.into(),
            cap,
            ends: clock.now() + HOUR,
        }
    }

    /// A file grown by a burst shrinks again at the next start: redb reused freed
    /// pages but never gave them back. What is still held survives it.
    #[tokio::test]
    async fn a_file_grown_by_a_burst_shrinks_at_the_next_start() {
        let tmp = TempDir::new("compact");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        let value = vec![7u8; 1024];
        let keys: Vec<String> = (0..4000).map(|i| format!("burst:{i:05}")).collect();
        futures_util::future::try_join_all(keys.iter().map(|k| store.put(k, &value, HOUR)))
            .await
            .unwrap();
        store.put("kept", b"still here", HOUR).await.unwrap();
        // One in fifty stays, all through the tree, as live records do among a
        // flood's: the pages they hold keep the file from shrinking by itself.
        let gone = keys.iter().enumerate().filter(|(i, _)| i % 50 != 0);
        futures_util::future::try_join_all(gone.map(|(_, k)| store.delete(k)))
            .await
            .unwrap();
        drop(store);
        let size = || {
            std::fs::metadata(tmp.data().join(DATABASE_FILE))
                .unwrap()
                .len()
        };
        let grown = size();
        assert!(grown > 4 << 20, "the burst grew the file: {grown}");

        let store = open(&tmp.data(), &clock).await;
        assert_eq!(
            store.get("kept").await.unwrap(),
            Some(b"still here".to_vec())
        );
        assert_eq!(store.get("burst:00050").await.unwrap(), Some(value.clone()));
        assert_eq!(store.get("burst:00051").await.unwrap(), None);
        drop(store);
        let after = size();
        assert!(after < grown / 4, "{grown} -> {after} bytes");
    }

    #[tokio::test]
    async fn durable_values_survive_a_reopen() {
        let tmp = TempDir::new("durable");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        store.put("session:a", b"alpha", HOUR).await.unwrap();
        store.put("session:gone", b"x", HOUR).await.unwrap();
        store.delete("session:gone").await.unwrap();
        assert!(store.put_new("claim:1", b"first", HOUR).await.unwrap());
        assert!(!store.put_new("claim:1", b"second", HOUR).await.unwrap());
        assert!(store.put_if("list:a", None, b"one", HOUR).await.unwrap());
        assert!(
            store
                .put_if("list:a", Some(b"one"), b"two", HOUR)
                .await
                .unwrap()
        );
        assert!(
            !store
                .put_if("list:a", Some(b"one"), b"three", HOUR)
                .await
                .unwrap()
        );
        assert_eq!(store.incr_below("tries:a", 2, HOUR).await.unwrap(), Some(1));
        assert_eq!(store.incr_below("tries:a", 2, HOUR).await.unwrap(), Some(2));
        assert_eq!(store.incr_below("tries:a", 2, HOUR).await.unwrap(), None);
        drop(store);

        let store = open(&tmp.data(), &clock).await;
        assert_eq!(
            store.get("session:a").await.unwrap(),
            Some(b"alpha".to_vec())
        );
        assert_eq!(store.get("session:gone").await.unwrap(), None);
        assert_eq!(store.get("claim:1").await.unwrap(), Some(b"first".to_vec()));
        assert!(!store.put_new("claim:1", b"third", HOUR).await.unwrap());
        assert_eq!(store.get("list:a").await.unwrap(), Some(b"two".to_vec()));
        assert_eq!(store.incr_below("tries:a", 2, HOUR).await.unwrap(), None);
        let status = store.check().await.unwrap();
        assert_eq!(status.backend, "embedded");
        assert_eq!(status.schema_version, SCHEMA_VERSION);
        assert_eq!(
            status.location,
            tmp.data().join(DATABASE_FILE).display().to_string()
        );
    }

    /// Two admissions of three, a hit and a spend: what a restart must remember.
    async fn count_some(store: &EmbeddedStore, clock: &ManualClock) {
        let rules = [Rule::new(3, HOUR)];
        assert!(store.admit("limit:a", &rules).await.unwrap().is_admitted());
        assert!(store.admit("limit:a", &rules).await.unwrap().is_admitted());
        assert_eq!(store.hit("fail:a", Rule::new(5, HOUR)).await.unwrap(), 1);
        assert_eq!(
            store.spend("sms", &[window("w1", 1, clock)]).await.unwrap(),
            Spend::Spent(vec![1])
        );
    }

    async fn assert_counted(store: &EmbeddedStore, clock: &ManualClock) {
        let rules = [Rule::new(3, HOUR)];
        assert!(store.admit("limit:a", &rules).await.unwrap().is_admitted());
        assert!(!store.admit("limit:a", &rules).await.unwrap().is_admitted());
        assert_eq!(store.hit("fail:a", Rule::new(5, HOUR)).await.unwrap(), 2);
        assert_eq!(
            store.spend("sms", &[window("w1", 1, clock)]).await.unwrap(),
            Spend::Full(vec![1])
        );
    }

    /// The batched counters of [`count_some`] are gone (its spend is not batched).
    async fn assert_forgotten(store: &EmbeddedStore) {
        let rules = [Rule::new(3, HOUR)];
        for _ in 0..3 {
            assert!(store.admit("limit:a", &rules).await.unwrap().is_admitted());
        }
        assert_eq!(store.hit("fail:a", Rule::new(5, HOUR)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn batched_counters_are_flushed_when_the_store_is_dropped() {
        let tmp = TempDir::new("flush-on-drop");
        let clock = clock();
        // No timer flush during the test: only the drop can have written them.
        let tuning = Tuning {
            flush_every: HOUR,
            ..Tuning::default()
        };
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        count_some(&store, &clock).await;
        drop(store);
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert_counted(&store, &clock).await;
    }

    #[tokio::test]
    async fn batched_counters_survive_a_crash_after_a_second() {
        let tmp = TempDir::new("crash-after-flush");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        count_some(&store, &clock).await;
        tokio::time::sleep(Duration::from_millis(2000)).await;
        store.crash();
        let store = open(&tmp.data(), &clock).await;
        assert_counted(&store, &clock).await;
    }

    #[tokio::test]
    async fn a_crash_loses_unflushed_counters_but_not_durable_writes() {
        // The control for the test above: `crash` really writes nothing more.
        let tmp = TempDir::new("crash-before-flush");
        let clock = clock();
        let tuning = Tuning {
            flush_every: HOUR,
            ..Tuning::default()
        };
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        count_some(&store, &clock).await;
        // A durable commit doesn't carry the counters: they wait for the timer, so a
        // busy writer's commits stay small (docs/performance.md). The spend went to
        // the writer ahead of it, so it is on disk with it.
        store.put("session:a", b"kept", HOUR).await.unwrap();
        store.crash();
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert_eq!(
            store.get("session:a").await.unwrap(),
            Some(b"kept".to_vec())
        );
        assert_forgotten(&store).await;
        assert_eq!(
            store.used("sms", &[window("w1", 1, &clock)]).await.unwrap(),
            vec![1]
        );
        drop(store);

        let tmp = TempDir::new("crash-nothing-durable");
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        count_some(&store, &clock).await;
        store.crash();
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert_forgotten(&store).await;
    }

    /// A name's failed verifications are counted with `hit_durably`: a crash right
    /// after doesn't forget them (two failures, a `kill -9`, and a third no longer
    /// locked the name).
    #[tokio::test]
    async fn a_durable_hit_survives_a_crash() {
        let tmp = TempDir::new("crash-durable-hit");
        let clock = clock();
        let tuning = Tuning {
            flush_every: HOUR,
            ..Tuning::default()
        };
        let rule = Rule::new(1, HOUR);
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert_eq!(store.hit_durably("failures:a", rule).await.unwrap(), 1);
        assert_eq!(store.hit_durably("failures:a", rule).await.unwrap(), 2);
        store.hit("failures:b", rule).await.unwrap();
        store.crash();
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert_eq!(store.hit_durably("failures:a", rule).await.unwrap(), 3);
        assert_eq!(
            store.hit("failures:b", rule).await.unwrap(),
            1,
            "the control"
        );
    }

    #[tokio::test]
    async fn a_durable_write_supersedes_a_pending_batched_one_on_disk() {
        let tmp = TempDir::new("order");
        let clock = clock();
        let tuning = Tuning {
            flush_every: HOUR,
            ..Tuning::default()
        };
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        let rules = [Rule::new(1, HOUR)];
        assert!(store.admit("limit:x", &rules).await.unwrap().is_admitted());
        // A reset: committed while the admission still waits in the dirty map, which
        // must not bring it back afterwards.
        store.delete("limit:x").await.unwrap();
        assert!(store.admit("limit:y", &rules).await.unwrap().is_admitted());
        store.put("limit:y", b"replaced", HOUR).await.unwrap();
        drop(store);
        let (_, kv, _) = on_disk(&tmp.data());
        assert!(!kv.contains_key("limit:x"));
        assert_eq!(
            kv["limit:y"].entry,
            crate::store::memory::Entry::Bytes(b"replaced".to_vec())
        );
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        assert!(store.admit("limit:x", &rules).await.unwrap().is_admitted());
    }

    #[tokio::test]
    async fn one_store_per_directory_at_a_time() {
        let tmp = TempDir::new("lock");
        let clock = clock();
        let first = open(&tmp.data(), &clock).await;
        let lock_text = std::fs::read_to_string(tmp.data().join(LOCK_FILE)).unwrap();
        assert_eq!(
            Holder::parse(&lock_text),
            Holder {
                pid: Some(std::process::id()),
                schema_version: Some(SCHEMA_VERSION)
            }
        );

        let Err(e) = EmbeddedStore::open(&tmp.data(), clock.clone()).await else {
            panic!("a second store opened the same directory");
        };
        let message = e.to_string();
        assert!(matches!(e, StoreError::Unavailable { .. }), "{message}");
        assert!(
            message.contains(&format!(
                "the data directory {} is in use by another roomgate (pid {}); stop it first or set ROOMGATE_DATA_DIR to another directory",
                tmp.data().display(),
                std::process::id()
            )),
            "{message}"
        );

        // `store check` reports it as in use, not as a failure.
        let status = inspect(&tmp.data()).unwrap();
        assert_eq!(status.schema_version, SCHEMA_VERSION);
        assert!(
            status.location.ends_with(&format!(
                "(in use by a running roomgate, pid {})",
                std::process::id()
            )),
            "{}",
            status.location
        );

        first.put("k", b"v", HOUR).await.unwrap();
        drop(first);
        let second = open(&tmp.data(), &clock).await;
        assert_eq!(second.get("k").await.unwrap(), Some(b"v".to_vec()));
    }

    #[tokio::test]
    async fn a_database_open_elsewhere_is_reported_as_in_use() {
        let tmp = TempDir::new("redb-lock");
        std::fs::create_dir_all(tmp.data()).unwrap();
        // Open without our lock file, as another tool would.
        let held = Database::create(tmp.data().join(DATABASE_FILE)).unwrap();
        let Err(e) = EmbeddedStore::open(&tmp.data(), clock()).await else {
            panic!("opened a database redb has open");
        };
        assert!(
            e.to_string()
                .contains("is in use by another roomgate (pid unknown)"),
            "{e}"
        );
        drop(held);
        open(&tmp.data(), &clock()).await;
    }

    #[tokio::test]
    async fn the_directory_is_private() {
        let tmp = TempDir::new("mode");
        let dir = tmp.data().join("nested");
        let store = open(&dir, &clock()).await;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let db_mode = std::fs::metadata(dir.join(DATABASE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(db_mode & 0o077, 0, "{db_mode:o}");
        drop(store);
    }

    #[tokio::test]
    async fn the_schema_version_is_recorded_and_a_newer_one_refused() {
        let tmp = TempDir::new("schema");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        store.put("k", b"v", HOUR).await.unwrap();
        drop(store);
        assert_eq!(on_disk(&tmp.data()).0, Some(u64::from(SCHEMA_VERSION)));
        let status = inspect(&tmp.data()).unwrap();
        assert_eq!(
            status,
            StoreStatus {
                backend: "embedded",
                schema_version: SCHEMA_VERSION,
                location: tmp.data().join(DATABASE_FILE).display().to_string(),
            }
        );

        let newer = u64::from(SCHEMA_VERSION) + 1;
        {
            let db = Database::open(tmp.data().join(DATABASE_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(SCHEMA_KEY, newer)
                .unwrap();
            txn.commit().unwrap();
        }
        let Err(e) = EmbeddedStore::open(&tmp.data(), clock.clone()).await else {
            panic!("opened a database of a newer schema");
        };
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        let expected = format!(
            "written by a newer roomgate (schema {newer}); this build reads up to {SCHEMA_VERSION}"
        );
        assert!(e.to_string().contains(&expected), "{e}");
        let Err(e) = inspect(&tmp.data()) else {
            panic!("inspect accepted a newer schema");
        };
        assert!(e.to_string().contains(&expected), "{e}");
        // Refused untouched.
        let (version, kv, _) = on_disk(&tmp.data());
        assert_eq!(version, Some(newer));
        assert!(kv.contains_key("k"));
    }

    #[test]
    fn migrations_run_in_order_from_the_version_found() {
        const LOG: TableDefinition<&str, u64> = TableDefinition::new("log");
        fn step(txn: &WriteTransaction, name: &str) -> Result<(), redb::Error> {
            let mut log = txn.open_table(LOG)?;
            let n = log.len()?;
            log.insert(name, n)?;
            Ok(())
        }
        let steps = [
            Migration {
                from: 1,
                what: "one",
                run: |t| step(t, "1->2"),
            },
            Migration {
                from: 2,
                what: "two",
                run: |t| step(t, "2->3"),
            },
            Migration {
                from: 3,
                what: "three",
                run: |t| step(t, "3->4"),
            },
        ];
        let tmp = TempDir::new("migrate");
        std::fs::create_dir_all(&tmp.0).unwrap();
        let db = Database::create(tmp.0.join("m.redb")).unwrap();
        {
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().insert(SCHEMA_KEY, 2).unwrap();
            txn.open_table(KV)
                .unwrap()
                .insert(
                    "kept",
                    Slot {
                        entry: crate::store::memory::Entry::Count(3),
                        expires_ms: u64::MAX,
                    }
                    .encode()
                    .as_slice(),
                )
                .unwrap();
            txn.commit().unwrap();
        }
        let (version, loaded) = prepare(&db, 0, &steps, 4).ok().unwrap();
        assert_eq!(version, 4);
        assert_eq!(loaded.entries.len(), 1);
        let txn = db.begin_read().unwrap();
        let log = txn.open_table(LOG).unwrap();
        let ran: Vec<(String, u64)> = log
            .iter()
            .unwrap()
            .map(|r| {
                let (k, v) = r.unwrap();
                (k.value().to_owned(), v.value())
            })
            .collect();
        // Only the steps from 2 on, 2->3 first.
        assert_eq!(ran, vec![("2->3".into(), 0), ("3->4".into(), 1)]);
        let meta = txn.open_table(META).unwrap();
        assert_eq!(meta.get(SCHEMA_KEY).unwrap().unwrap().value(), 4);
        drop((meta, log, txn));

        // A version no step starts from is refused, and nothing is changed.
        let db2 = Database::create(tmp.0.join("zero.redb")).unwrap();
        {
            let txn = db2.begin_write().unwrap();
            txn.open_table(META).unwrap().insert(SCHEMA_KEY, 0).unwrap();
            txn.commit().unwrap();
        }
        match prepare(&db2, 0, &steps, 4) {
            Err(Prepared::Store(e @ StoreError::Corrupt { .. })) => {
                assert!(e.to_string().contains("schema 0"), "{e}")
            }
            _ => panic!("schema 0 was accepted"),
        }
    }

    /// A stop drained in one go with a durable write queued before it. A clean stop
    /// commits the write (and the batched counters, which its drain would not have
    /// taken) and answers it; a crash commits nothing and tells nobody it did.
    #[test]
    fn a_stop_behind_a_durable_write_in_one_drain() {
        let count = |n| Slot {
            entry: crate::store::memory::Entry::Count(n),
            expires_ms: u64::MAX,
        };
        for flush in [true, false] {
            let tmp = TempDir::new("stop-behind");
            std::fs::create_dir_all(&tmp.0).unwrap();
            let path = tmp.0.join("w.redb");
            let db = Database::create(&path).unwrap();
            let shared = Shared::new();
            shared.shard("counter").insert(
                "counter".into(),
                Change::Put {
                    key: "counter".into(),
                    slot: count(7),
                },
            );
            let (tx, rx) = mpsc::channel();
            let (ack, acked) = oneshot::channel();
            let put = Change::Put {
                key: "written".into(),
                slot: count(1),
            };
            shared.pending.fetch_add(1, Ordering::AcqRel);
            tx.send(Msg::Durable {
                changes: vec![put],
                ack,
            })
            .unwrap();
            tx.send(Msg::Stop { flush }).unwrap();
            // Not due for the counters' flush: only the stop brings them.
            write_loop(&db, &rx, &shared, &path, Duration::from_secs(3600));

            let answer = acked.blocking_recv();
            assert!(
                shared.down().to_string().contains("shut down"),
                "later writes fail"
            );
            drop(db);
            let db = Database::open(&path).unwrap();
            let txn = db.begin_read().unwrap();
            let kv: HashMap<String, Slot> = match txn.open_table(KV) {
                Ok(table) => table
                    .iter()
                    .unwrap()
                    .map(|row| {
                        let (k, v) = row.unwrap();
                        (k.value().to_owned(), Slot::decode(v.value()).unwrap())
                    })
                    .collect(),
                Err(_) => HashMap::new(),
            };
            if flush {
                assert_eq!(answer, Ok(Ok(())), "the write is answered");
                assert_eq!(kv.get("written"), Some(&count(1)));
                assert_eq!(kv.get("counter"), Some(&count(7)));
                assert_eq!(shared.commits.load(Ordering::Relaxed), 1, "in one commit");
            } else {
                assert!(answer.is_err(), "a crash answers nobody");
                assert!(kv.is_empty(), "a crash writes nothing: {kv:?}");
            }
        }
    }

    #[tokio::test]
    async fn expired_entries_are_not_loaded_and_are_deleted_from_disk() {
        let tmp = TempDir::new("expiry");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        store
            .put("short", b"s", Duration::from_secs(60))
            .await
            .unwrap();
        store.put("long", b"l", HOUR).await.unwrap();
        drop(store);
        clock.advance(Duration::from_secs(120));

        let store = open(&tmp.data(), &clock).await;
        assert_eq!(store.get("short").await.unwrap(), None);
        assert_eq!(store.get("long").await.unwrap(), Some(b"l".to_vec()));
        assert_eq!(store.inner.tables.len(), 1);
        drop(store);
        let (_, kv, _) = on_disk(&tmp.data());
        assert_eq!(kv.keys().collect::<Vec<_>>(), vec!["long"]);
    }

    #[tokio::test]
    async fn the_sweeper_deletes_only_what_has_expired_on_disk() {
        let tmp = TempDir::new("sweep");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        store
            .put("old", b"o", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .put("renewed", b"r", Duration::from_secs(60))
            .await
            .unwrap();
        store.put("live", b"l", HOUR).await.unwrap();
        clock.advance(Duration::from_secs(120));
        // The sweep of "renewed" races with a new write of it, which wins on disk
        // whatever order the two reach the writer in.
        let now_ms = store.inner.now_ms();
        let swept: Vec<String> = store
            .inner
            .tables
            .sweep(now_ms)
            .into_iter()
            .filter_map(|c| match c {
                Change::Delete { key } => Some(key),
                _ => None,
            })
            .collect();
        assert_eq!(swept.len(), 2);
        store.put("renewed", b"again", HOUR).await.unwrap();
        store.inner.send_sweep(swept, now_ms);
        store.check().await.unwrap(); // the sweep is committed
        assert_eq!(store.inner.sweep(), 0);
        drop(store);
        let (_, kv, _) = on_disk(&tmp.data());
        let mut keys: Vec<_> = kv.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, vec!["live", "renewed"]);
        assert_eq!(
            kv["renewed"].entry,
            crate::store::memory::Entry::Bytes(b"again".to_vec())
        );
    }

    #[tokio::test]
    async fn queue_entries_survive_a_reopen_and_are_handed_out_once() {
        let tmp = TempDir::new("queue");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        let now = clock.now();
        store.schedule("alerts", "a", now - HOUR).await.unwrap();
        store.schedule("alerts", "b", now).await.unwrap();
        store.schedule("alerts", "c", now + HOUR).await.unwrap();
        store.schedule("alerts", "d", now).await.unwrap();
        store.unschedule("alerts", "d").await.unwrap();
        store.schedule("other", "a", now).await.unwrap();
        drop(store);

        let store = open(&tmp.data(), &clock).await;
        assert_eq!(store.take_due("alerts", 1).await.unwrap(), vec!["a"]);
        drop(store);

        let store = open(&tmp.data(), &clock).await;
        assert_eq!(store.take_due("alerts", 10).await.unwrap(), vec!["b"]);
        assert!(store.take_due("alerts", 10).await.unwrap().is_empty());
        clock.advance(HOUR);
        assert_eq!(store.take_due("alerts", 10).await.unwrap(), vec!["c"]);
        drop(store);

        let store = open(&tmp.data(), &clock).await;
        assert!(store.take_due("alerts", 10).await.unwrap().is_empty());
        assert_eq!(store.take_due("other", 10).await.unwrap(), vec!["a"]);
        drop(store);
        assert!(on_disk(&tmp.data()).2.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_durable_writes_share_commits() {
        let tmp = TempDir::new("group-commit");
        let clock = clock();
        let store = Arc::new(open(&tmp.data(), &clock).await);
        let before = store.inner.shared.commits.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .put(&format!("k{i}"), format!("v{i}").as_bytes(), HOUR)
                        .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let commits = store.inner.shared.commits.load(Ordering::Relaxed) - before;
        eprintln!("200 concurrent durable puts took {commits} commits");
        assert!((1..=200).contains(&commits));
        drop(Arc::into_inner(store).expect("the only reference"));

        let (_, kv, _) = on_disk(&tmp.data());
        assert_eq!(kv.len(), 200);
        for i in 0..200 {
            assert_eq!(
                kv[&format!("k{i}")].entry,
                crate::store::memory::Entry::Bytes(format!("v{i}").into_bytes())
            );
        }
    }

    #[tokio::test]
    async fn a_full_queue_refuses_durable_writes_without_changing_anything() {
        let tmp = TempDir::new("busy");
        let clock = clock();
        let tuning = Tuning {
            capacity: 0,
            ..Tuning::default()
        };
        let store = open_tuned(&tmp.data(), &clock, tuning).await;
        let Err(e) = store.put("k", b"v", HOUR).await else {
            panic!("a write was queued past the capacity");
        };
        assert!(matches!(e, StoreError::Unavailable { .. }));
        assert!(e.to_string().contains("busy"), "{e}");
        assert_eq!(store.get("k").await.unwrap(), None);
        assert!(store.put_new("k", b"v", HOUR).await.is_err());
        // Batched operations don't queue.
        assert!(
            store
                .admit("a", &[Rule::new(1, HOUR)])
                .await
                .unwrap()
                .is_admitted()
        );
        store.check().await.unwrap();
    }

    #[tokio::test]
    async fn a_stopped_writer_fails_writes_and_the_check() {
        let tmp = TempDir::new("stopped");
        let clock = clock();
        let mut store = open(&tmp.data(), &clock).await;
        store.put("k", b"v", HOUR).await.unwrap();
        store.stop(false);
        for e in [
            store.put("k2", b"v", HOUR).await.unwrap_err(),
            store.delete("k").await.unwrap_err(),
            store.admit("a", &[Rule::new(1, HOUR)]).await.unwrap_err(),
            store.check().await.unwrap_err(),
        ] {
            assert!(matches!(e, StoreError::Unavailable { .. }), "{e}");
        }
        // Reads still answer from memory.
        assert_eq!(store.get("k").await.unwrap(), Some(b"v".to_vec()));
    }

    /// A failed commit is for a restart to mend, and the store says so (the app's
    /// `/healthz` tells the supervisor).
    #[tokio::test]
    async fn a_failed_writer_says_it_needs_a_restart() {
        let tmp = TempDir::new("broken");
        let clock = clock();
        let store = open(&tmp.data(), &clock).await;
        assert_eq!(store.broken(), None);
        store
            .inner
            .shared
            .fail("writing: No space left on device".into());
        assert_eq!(
            store.broken().as_deref(),
            Some("writing: No space left on device")
        );
        assert!(store.put("k", b"v", HOUR).await.is_err());
    }

    #[test]
    fn inspect_does_not_create_a_store() {
        let tmp = TempDir::new("inspect-missing");
        let Err(e) = inspect(&tmp.data()) else {
            panic!("inspected a store that isn't there");
        };
        assert!(e.to_string().contains("no database"), "{e}");
        assert!(!tmp.data().exists());
    }

    #[test]
    fn lock_files_are_parsed_leniently() {
        assert_eq!(
            Holder::parse("42\nschema 3\n"),
            Holder {
                pid: Some(42),
                schema_version: Some(3)
            }
        );
        assert_eq!(Holder::parse(""), Holder::default());
        assert_eq!(
            Holder::parse("garbage"),
            Holder {
                pid: None,
                schema_version: None
            }
        );
    }
}
