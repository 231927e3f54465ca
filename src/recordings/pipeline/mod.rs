//! Recordings leave Twilio: when a recorded room ends, compose its tracks into one mp4,
//! download it into the operator's storage, verify what was stored, and only then
//! delete Twilio's copies (the composition and every track recording).
//!
//! Each recording is one durable job in the store's `recording-jobs` queue, advanced a
//! stage at a time ([`Stage`]); the stage is saved before the next begins, so a
//! restart or a `kill -9` resumes where it was. A worker *leases* a job
//! ([`Store::lease_due`]) and renews the lease while it works: a worker that dies
//! leaves the job to be taken again when the lease runs out, by this instance or
//! another. Every stage is idempotent: a composition already asked for is adopted, not
//! asked for twice; the object key is fixed per recording, so a retried upload replaces
//! the object rather than adding one; deleting what is already gone on Twilio is done.
//! Failures are retried with exponential backoff; a job still failing two days after
//! the room ended is marked failed and Twilio's copies are left alone.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::Url;
use secrecy::ExposeSecret;
use tokio::sync::{Notify, Semaphore};

use super::catalog::{Catalog, Failure, Recording, Stage, is_recording_id};
use super::storage::{ObjectStorage, StorageError};
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::domain::RoomName;
use crate::store::{QueueEnd, Store, StoreError};
use crate::video::VideoClient;
use crate::video::VideoError;
use crate::video::compositions::{CompositionStatus, RecordingStatus};

/// The queue of recordings with work to do, each due when its next step is.
const JOBS: &str = "recording-jobs";

/// Looks at an empty track listing before deciding the room recorded nothing.
const EMPTY_LOOKS: u32 = 3;

/// Twilio's compositions that fail are asked for again this many times in all.
const MAX_COMPOSE_FAILURES: u32 = 3;

/// Timings, overridable so tests run the pipeline in seconds.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    /// How often a worker looks for due jobs when nothing wakes it.
    pub poll: Duration,
    /// How long a taken job is this worker's before another may take it; renewed
    /// every third of it while the job runs.
    pub lease: Duration,
    /// Between looks at a composition Twilio is still making (webhooks wake it sooner).
    pub composing_poll: Duration,
    /// The first retry's delay after a failure; doubled each time, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
    /// A job still failing this long after the room ended is given up.
    pub give_up_after: Duration,
    /// A download that sends no byte for this long has failed.
    pub idle_download: Duration,
    /// The lifetime asked for Twilio's signed media URL.
    pub media_url_ttl: Duration,
    /// Jobs one instance works on at once.
    pub concurrency: usize,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(600),
            composing_poll: Duration::from_secs(30),
            first_retry: Duration::from_secs(15),
            max_retry: Duration::from_secs(1800),
            give_up_after: Duration::from_secs(2 * 86_400),
            idle_download: Duration::from_secs(60),
            media_url_ttl: Duration::from_secs(60),
            concurrency: 2,
        }
    }
}

impl PipelineSettings {
    /// `ROOMGATE_RECORDING_LEASE_SECS` (2 to 3600) and
    /// `ROOMGATE_RECORDING_RETRY_SECS` (the first retry's delay, 1 to 3600); the rest
    /// keep their defaults.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let d = Self::default();
        let mut env = crate::env::Env::new(var);
        let lease = env.seconds("ROOMGATE_RECORDING_LEASE_SECS", d.lease, 2..=3600);
        let first_retry = env.seconds("ROOMGATE_RECORDING_RETRY_SECS", d.first_retry, 1..=3600);
        env.finish(Self {
            lease,
            first_retry,
            ..d
        })
    }
}

/// What a job does after a step is saved.
enum Settled {
    GoOn,
    LookAgain(SystemTime),
    Finished,
}

/// A claim's renewal, stopped when dropped: at the step's end, and also if the step
/// panics. Left running, it kept the claim (and pushed the job's due time on) for
/// good, so no worker ever took the job up again until a restart.
struct Renewal(tokio::task::JoinHandle<()>);

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A worker's hold on one job: a store key with a token only it knows, living one
/// lease unless renewed.
struct Claim {
    key: String,
    token: String,
}

/// A worker's hold on a recording's job; the library takes it too, to change a record
/// no step is running on.
pub(super) fn claim_key(id: &str) -> String {
    format!("recording-claim:{id}")
}

/// How often each instance checks that every unfinished recording is queued, and
/// looks for rooms whose end it missed.
const RECONCILE_EVERY: Duration = Duration::from_secs(3600);

/// How far back missed room ends are looked for: a day, so that a job started for one
/// still has a day of the two it keeps trying ([`PipelineSettings::give_up_after`],
/// counted from the room's end); and shorter than a forgotten recording's marker
/// lasts, so a recording handled and forgotten is not started again.
const RECOVER_WITHIN: Duration = Duration::from_secs(86_400);
const _: () = assert!(RECOVER_WITHIN.as_secs() < super::catalog::GONE_FOR.as_secs());

/// Records are kept until retention deletes them, whatever the room's
/// `retention_days` becomes meanwhile (at most 3650): a store TTL only stops a record
/// outliving every possible retention.
pub(super) const RECORD_LIFE: Duration = Duration::from_secs(3650 * 86_400);

/// What a step leads to.
enum Next {
    /// Saved; go straight on to the next stage.
    Continue,
    /// Saved; look again after this long.
    Wait(Duration),
    /// Finished.
    Done,
    /// The room recorded nothing: forget the recording.
    Nothing,
    /// Twilio's copies are gone, and ours was deleted before: forget the recording.
    Forget,
}

/// Why a step failed, in words fit for a host's page (no URLs, no secrets).
enum StepError {
    /// Worth trying again.
    Retry(String),
    /// Trying again can't help.
    Fatal(Failure, String),
}

fn retry(what: &str) -> impl FnOnce(VideoError) -> StepError + '_ {
    move |e| StepError::Retry(format!("{what}: {e}"))
}

fn storage_failed(e: &StorageError) -> StepError {
    StepError::Retry(format!("storage: {e}"))
}

pub struct Pipeline {
    store: Arc<dyn Store>,
    catalog: Catalog,
    video: VideoClient,
    storage: Arc<dyn ObjectStorage>,
    /// For the media download, which goes to Twilio's signed URL with no credentials.
    http: reqwest::Client,
    audit: AuditLog,
    /// Given to Twilio as each composition's `StatusCallback`.
    callback: Option<Url>,
    settings: PipelineSettings,
    wake: Notify,
    slots: Arc<Semaphore>,
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn Store>,
        video: VideoClient,
        storage: Arc<dyn ObjectStorage>,
        http: reqwest::Client,
        audit: AuditLog,
        callback: Option<Url>,
        settings: PipelineSettings,
    ) -> Arc<Self> {
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Arc::new(Self {
            catalog: Catalog::new(store.clone()),
            store,
            video,
            storage,
            http,
            audit,
            callback,
            settings,
            wake: Notify::new(),
            slots,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A room ended (its signed `room-ended` callback): start its job, once however
    /// often Twilio tells us. Every room gets one, whatever its setting says now: a
    /// room switched to `off` after a host recorded it still has recordings on
    /// Twilio, and a room that recorded nothing costs one listing. Whether a job was
    /// started or restarted.
    pub async fn room_ended(&self, room: &RoomName, room_sid: &str) -> Result<bool, StoreError> {
        self.room_ended_at(room, room_sid, self.store.clock().now())
            .await
    }

    /// [`Self::room_ended`], for a room that ended at `ended` (retention counts from
    /// there).
    async fn room_ended_at(
        &self,
        room: &RoomName,
        room_sid: &str,
        ended: SystemTime,
    ) -> Result<bool, StoreError> {
        if !is_recording_id(room_sid) || self.catalog.was_removed(room_sid).await? {
            return Ok(false);
        }
        let now = self.store.clock().now();
        let rec = Recording::new(room_sid, room, ended.min(now));
        if !self.catalog.save(&rec, RECORD_LIFE, true).await? {
            // Told again: a job whose scheduling failed the first time (the callback
            // was answered 503) is queued now.
            match self.catalog.get(room_sid).await? {
                Some(rec) if !rec.is_finished() => self.wake_unclaimed(room_sid).await?,
                _ => return Ok(false),
            }
            return Ok(true);
        }
        self.store.schedule(JOBS, room_sid, now).await?;
        tracing::info!(%room, "recording job started");
        self.wake.notify_one();
        Ok(true)
    }

    /// A composition callback for `room_sid`: a job waiting on Twilio looks again now.
    pub async fn composition_changed(&self, room_sid: &str) -> Result<(), StoreError> {
        if !is_recording_id(room_sid) {
            return Ok(());
        }
        if let Some(rec) = self.catalog.get(room_sid).await?
            && rec.stage == Stage::Composing
        {
            self.wake_unclaimed(room_sid).await?;
        }
        Ok(())
    }

    /// Make `id` due now, unless a worker holds it (it keeps its own schedule).
    async fn wake_unclaimed(&self, id: &str) -> Result<(), StoreError> {
        if self.store.get(&claim_key(id)).await?.is_none() {
            self.store
                .schedule(JOBS, id, self.store.clock().now())
                .await?;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Every unfinished recording has its job queued: one whose scheduling was lost
    /// (a failed write, a queue that expired while every instance was down) is queued
    /// again. How many were.
    pub async fn reconcile(&self) -> Result<usize, StoreError> {
        let queued: std::collections::HashSet<String> = self
            .store
            .queued(JOBS, super::catalog::MAX_LISTED, QueueEnd::Soonest)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let mut requeued = 0;
        for rec in self.catalog.list(None).await? {
            if !rec.is_finished() && !queued.contains(&rec.id) {
                self.wake_unclaimed(&rec.id).await?;
                requeued += 1;
            }
        }
        Ok(requeued)
    }

    /// Rooms whose `room-ended` never reached us (roomgate was down when Twilio sent
    /// it, or the callback failed): Twilio's rooms ended in the last
    /// [`RECOVER_WITHIN`] that were made with our status callback, and that we have no
    /// record of, get their job now, as the callback would have started it. Without
    /// this their recordings would stay on Twilio for good. How many were started.
    ///
    /// Only rooms with our callback: other rooms of the account are not roomgate's to
    /// compose and delete. Rooms handled and forgotten (nothing recorded, deleted,
    /// expired) leave a marker longer than the window, so they aren't started again.
    pub async fn recover_ended_rooms(&self) -> anyhow::Result<usize> {
        use anyhow::Context as _;
        let Some(callback) = &self.callback else {
            return Ok(0);
        };
        let now = self.store.clock().now();
        let (rooms, more) = self
            .video
            .list_ended_rooms(now - RECOVER_WITHIN)
            .await
            .context("listing ended rooms")?;
        if more {
            tracing::warn!(
                listed = rooms.len(),
                "more ended rooms than one look lists; only the newest were checked for lost callbacks"
            );
        }
        let mut started = 0;
        for room in rooms {
            let ours = room
                .status_callback
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .is_some_and(|u| &u == callback);
            let name = room.unique_name.as_deref().map(RoomName::parse);
            let (true, Some(Ok(name))) = (ours, name) else {
                continue;
            };
            let ended = room
                .end_time
                .as_deref()
                .and_then(|t| crate::clock::text::parse_rfc3339(t).ok())
                .unwrap_or(now);
            // One room's trouble (an unreadable record, say) doesn't stop the others'.
            let known = self.catalog.get(&room.sid).await.map(|r| r.is_some());
            match known {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%name, error = %e, "a missed room end not looked at");
                    continue;
                }
            }
            match self.room_ended_at(&name, &room.sid, ended).await {
                Ok(true) => {
                    tracing::warn!(%name, "a room's end was missed; its recording job started now");
                    started += 1;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(%name, error = %e, "a missed room end not taken up"),
            }
        }
        Ok(started)
    }

    /// The worker: take due jobs as slots free up, until the process ends; reconcile
    /// and recover missed room ends at start and every hour.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        // Its own task: listing Twilio's rooms (pages of them, each up to a timeout)
        // holds up no job.
        let recovering = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RECONCILE_EVERY);
            loop {
                every.tick().await;
                if let Err(e) = recovering.recover_ended_rooms().await {
                    tracing::warn!(error = %format!("{e:#}"), "missed room ends not looked for");
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            let mut next_reconcile = tokio::time::Instant::now();
            loop {
                if tokio::time::Instant::now() >= next_reconcile {
                    match me.reconcile().await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(jobs = n, "recording jobs queued again"),
                        Err(e) => tracing::warn!(error = %e, "recording jobs not reconciled"),
                    }
                    next_reconcile += RECONCILE_EVERY;
                }
                me.start_due().await;
                tokio::select! {
                    () = tokio::time::sleep(me.settings.poll) => {}
                    () = me.wake.notified() => {}
                }
            }
        })
    }

    /// Lease as many due jobs as there are free slots and start each; how many.
    pub async fn start_due(self: &Arc<Self>) -> usize {
        let free = self.slots.available_permits();
        if free == 0 {
            return 0;
        }
        let ids = match self.store.lease_due(JOBS, free, self.settings.lease).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(error = %e, "recording jobs not taken: the store is unavailable");
                return 0;
            }
        };
        let started = ids.len();
        for id in ids {
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.run(&id).await;
                drop(permit);
                // A slot is free: a job that was waiting for one can start.
                me.wake.notify_one();
            });
        }
        started
    }

    /// Advance one job until it waits, finishes or fails, holding its claim: one
    /// worker at a time, across instances, however the job was made due.
    async fn run(&self, id: &str) {
        let claim = Claim {
            key: claim_key(id),
            token: crate::random::random_token(),
        };
        match self
            .store
            .put_new(&claim.key, claim.token.as_bytes(), self.settings.lease)
            .await
        {
            Ok(true) => {}
            // Another worker has it; it keeps the job's schedule.
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "recording job paused: the store is unavailable");
                return;
            }
        }
        let mut renewal = Renewal(self.renew(id, &claim));
        let next = self.advance(id, &claim).await;
        // Stop renewing before the job's schedule is written, so a renewal can't
        // overwrite it.
        renewal.0.abort();
        let _ = (&mut renewal.0).await;
        let written = match next {
            Some(Some(at)) => self.store.schedule(JOBS, id, at).await,
            Some(None) => self.store.unschedule(JOBS, id).await,
            // Lost the claim, or couldn't save: the lease decides.
            None => Ok(()),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "recording job not rescheduled; it runs again when its lease ends");
        }
        // Only if still ours, in one step: a claim that ran out meanwhile may be
        // another worker's now.
        let _ = self
            .store
            .delete_if(&claim.key, claim.token.as_bytes())
            .await;
    }

    /// Steps until the job waits or ends: `Some(Some(at))` to look again at `at`,
    /// `Some(None)` when it is done, `None` when this worker should leave it alone.
    async fn advance(&self, id: &str, claim: &Claim) -> Option<Option<SystemTime>> {
        loop {
            let mut rec = match self.catalog.get(id).await {
                Ok(Some(rec)) => rec,
                // Deleted (by a host, or retention) while queued.
                Ok(None) => return Some(None),
                Err(e) => {
                    tracing::warn!(error = %e, "recording job paused: the store is unavailable");
                    return None;
                }
            };
            if rec.is_finished() {
                return Some(None);
            }
            let outcome = self.step(&mut rec).await;
            if !self.holds(claim).await {
                tracing::warn!(room = %rec.room, "recording job claim lost; leaving it to its new worker");
                return None;
            }
            match self.settle(&mut rec, outcome).await {
                Ok(Settled::GoOn) => {}
                Ok(Settled::LookAgain(at)) => return Some(Some(at)),
                Ok(Settled::Finished) => return Some(None),
                Err(e) => {
                    tracing::warn!(error = %e, "recording job not saved; it runs again when its lease ends");
                    return None;
                }
            }
        }
    }

    /// Keep `claim` and the job's lease alive while the step runs, in a task of its
    /// own so the transfer is never paused for a store write.
    /// Renews the claim every third of a lease until aborted (see [`Renewal`]).
    fn renew(&self, id: &str, claim: &Claim) -> tokio::task::JoinHandle<()> {
        let (store, lease) = (self.store.clone(), self.settings.lease);
        let (id, key, token) = (id.to_owned(), claim.key.clone(), claim.token.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                // Only while it is still ours, in one step: a claim that ran out and
                // was taken by another worker in between is theirs, not overwritten.
                let until = store.clock().now() + lease;
                match store
                    .put_if(&key, Some(token.as_bytes()), token.as_bytes(), lease)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "recording job claim not renewed");
                        continue;
                    }
                }
                if let Err(e) = store.schedule(JOBS, &id, until).await {
                    tracing::warn!(error = %e, "recording job lease not renewed");
                }
            }
        })
    }

    async fn holds(&self, claim: &Claim) -> bool {
        matches!(self.store.get(&claim.key).await, Ok(Some(held)) if held == claim.token.as_bytes())
    }

    /// Save what `outcome` made of `rec`; what the job does next.
    async fn settle(
        &self,
        rec: &mut Recording,
        outcome: Result<Next, StepError>,
    ) -> Result<Settled, StoreError> {
        let now = self.store.clock().now();
        // Our copy, once stored, is never given up on: Twilio's cleanup is retried for
        // as long as it takes, and hosts can play the recording meanwhile.
        let may_give_up = rec.stage < Stage::DeleteOnTwilio
            && now
                .duration_since(rec.ended())
                .is_ok_and(|since| since >= self.settings.give_up_after);
        let settled = match outcome {
            Ok(Next::Continue) => {
                rec.attempts = 0;
                rec.last_error = None;
                Settled::GoOn
            }
            Ok(Next::Wait(_)) if may_give_up => {
                self.fail(
                    rec,
                    Failure::NotComposedInTime,
                    "Twilio did not finish the composition in time".into(),
                )
                .await;
                Settled::Finished
            }
            Ok(Next::Wait(after)) => Settled::LookAgain(now + after),
            Ok(Next::Done) => Settled::Finished,
            Ok(Next::Nothing) => {
                tracing::info!(room = %rec.room, "room recorded nothing; no recording kept");
                self.catalog.remove(rec).await?;
                return Ok(Settled::Finished);
            }
            Ok(Next::Forget) => {
                tracing::info!(room = %rec.room, "Twilio's copies of a deleted recording deleted");
                self.catalog.remove(rec).await?;
                return Ok(Settled::Finished);
            }
            Err(StepError::Retry(why)) if may_give_up => {
                rec.attempts = rec.attempts.saturating_add(1);
                self.fail(
                    rec,
                    Failure::GaveUp,
                    format!("gave up after {} attempts: {why}", rec.attempts),
                )
                .await;
                Settled::Finished
            }
            Err(StepError::Retry(why)) => {
                rec.attempts = rec.attempts.saturating_add(1);
                tracing::warn!(room = %rec.room, attempt = rec.attempts, error = %why, "recording step failed; retrying");
                rec.last_error = Some(why);
                Settled::LookAgain(now + self.backoff(rec.attempts))
            }
            Err(StepError::Fatal(failure, why)) => {
                self.fail(rec, failure, why).await;
                Settled::Finished
            }
        };
        self.catalog.save(rec, RECORD_LIFE, false).await?;
        Ok(settled)
    }

    async fn fail(&self, rec: &mut Recording, failure: Failure, why: String) {
        tracing::warn!(room = %rec.room, error = %why, "recording failed; Twilio's copies are kept");
        rec.stage = Stage::Failed;
        let mut record =
            AuditRecord::new(AuditEvent::RecordingFailed).detail(format!("{}: {why}", rec.id));
        if let Ok(room) = RoomName::parse(&rec.room) {
            record = record.room(&room);
        }
        self.audit.record_or_note(record).await;
        rec.last_error = Some(why);
        rec.failure = Some(failure);
    }

    /// `first_retry` doubled per attempt, at most `max_retry`.
    fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        self.settings
            .first_retry
            .saturating_mul(1 << doublings)
            .min(self.settings.max_retry)
    }

    /// One stage's work.
    async fn step(&self, rec: &mut Recording) -> Result<Next, StepError> {
        match rec.stage {
            Stage::Compose => self.compose(rec).await,
            Stage::Composing => self.composing(rec).await,
            Stage::Upload => self.upload(rec).await,
            Stage::DeleteOnTwilio => self.delete_on_twilio(rec).await,
            Stage::Stored | Stage::Failed => Ok(Next::Done),
        }
    }

    /// Ask Twilio to compose the room, or adopt the composition an earlier attempt
    /// asked for (it may have crashed after Twilio accepted, before saving).
    async fn compose(&self, rec: &mut Recording) -> Result<Next, StepError> {
        let tracks = self
            .video
            .room_recordings(&rec.id)
            .await
            .map_err(retry("listing the room's recordings"))?;
        let composable = tracks.iter().any(|t| {
            matches!(
                t.status,
                RecordingStatus::Completed | RecordingStatus::Processing
            )
        });
        if !composable {
            // Twilio's listing can lag the room's end: "nothing" only after a few
            // looks minutes apart.
            return Ok(if rec.looks < EMPTY_LOOKS {
                self.look_again(rec)
            } else {
                Next::Nothing
            });
        }
        rec.looks = 0;
        // Every track that still exists is deleted at the end.
        rec.track_sids = tracks
            .into_iter()
            .filter(|t| t.status != RecordingStatus::Deleted)
            .map(|t| t.sid)
            .collect();
        let existing = self
            .video
            .room_compositions(&rec.id)
            .await
            .map_err(retry("listing the room's compositions"))?
            .into_iter()
            .find(|c| {
                c.room_sid.as_deref() == Some(rec.id.as_str())
                    && matches!(
                        c.status,
                        CompositionStatus::Enqueued
                            | CompositionStatus::Processing
                            | CompositionStatus::Completed
                    )
            });
        let composition = match existing {
            Some(c) => c,
            None => self
                .video
                .create_composition(&rec.id, self.callback.as_ref())
                .await
                .map_err(retry("creating the composition"))?,
        };
        rec.composition_sid = Some(composition.sid);
        rec.stage = Stage::Composing;
        Ok(Next::Continue)
    }

    async fn composing(&self, rec: &mut Recording) -> Result<Next, StepError> {
        let sid = rec.composition_sid.clone().unwrap_or_default();
        let found = self
            .video
            .fetch_composition(&sid)
            .await
            .map_err(retry("looking at the composition"))?;
        let Some(composition) = found else {
            return self.compose_again(rec, "Twilio has no such composition");
        };
        match composition.status {
            CompositionStatus::Enqueued
            | CompositionStatus::Processing
            | CompositionStatus::Unknown => Ok(self.look_again(rec)),
            CompositionStatus::Completed => {
                rec.duration_secs = composition.duration;
                rec.size = composition.size;
                rec.stage = Stage::Upload;
                Ok(Next::Continue)
            }
            CompositionStatus::Failed => {
                self.compose_again(rec, "Twilio could not compose the recording")
            }
            CompositionStatus::Deleted => Err(StepError::Fatal(
                Failure::DeletedOnTwilio,
                "Twilio's composition was deleted before it was stored".into(),
            )),
        }
    }

    /// Twilio isn't done: look again later, each time later still (30 s doubling to
    /// 8 min by default), in case the callback that would wake the job is lost.
    fn look_again(&self, rec: &mut Recording) -> Next {
        rec.looks = rec.looks.saturating_add(1);
        let doublings = rec.looks.saturating_sub(1).min(4);
        Next::Wait(self.settings.composing_poll.saturating_mul(1 << doublings))
    }

    fn compose_again(&self, rec: &mut Recording, why: &str) -> Result<Next, StepError> {
        rec.compose_failures += 1;
        if rec.compose_failures >= MAX_COMPOSE_FAILURES {
            return Err(StepError::Fatal(Failure::NotComposed, why.to_owned()));
        }
        rec.composition_sid = None;
        rec.stage = Stage::Compose;
        Err(StepError::Retry(why.to_owned()))
    }

    /// Stream the composed file from Twilio's signed URL into storage, then verify
    /// what storage holds against what was downloaded.
    async fn upload(&self, rec: &mut Recording) -> Result<Next, StepError> {
        // A bucket known to be down would refuse the upload: Twilio's media isn't
        // fetched (nor downloaded) only to be dropped.
        self.storage.ready().map_err(|e| storage_failed(&e))?;
        let sid = rec.composition_sid.clone().unwrap_or_default();
        let key = rec
            .object_key
            .get_or_insert_with(|| object_key(&rec.room, &rec.id, rec.ended_ms))
            .clone();
        let url = match self
            .video
            .composition_media_url(&sid, self.settings.media_url_ttl)
            .await
        {
            Ok(url) => url,
            // Still being processed, or gone: Twilio's composition says which.
            Err(VideoError::NotFound) => {
                return match self.video.fetch_composition(&sid).await {
                    Ok(Some(c)) if c.status != CompositionStatus::Deleted => {
                        Ok(self.look_again(rec))
                    }
                    Ok(_) => self.compose_again(rec, "Twilio's composition is gone"),
                    Err(e) => Err(retry("looking at the composition")(e)),
                };
            }
            Err(e) => return Err(retry("finding the composed file")(e)),
        };
        let response = self
            .http
            .get(url.expose_secret())
            // The client's short default suits API calls, not a long file: stalls are
            // caught per chunk instead (`idle_download`).
            .timeout(Duration::from_secs(6 * 3600))
            .send()
            .await
            .map_err(|e| StepError::Retry(format!("download failed: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(StepError::Retry(format!(
                "download answered {}",
                response.status()
            )));
        }
        let announced = response.content_length();
        // HTTP/1 without a length or chunks ends the body by closing the connection:
        // a cut then looks like the end, and only a size from elsewhere tells them
        // apart. (Chunks and HTTP/2 frames say where the body ends.)
        let ends_at_close = announced.is_none()
            && response.version() <= reqwest::Version::HTTP_11
            && !response
                .headers()
                .get_all(reqwest::header::TRANSFER_ENCODING)
                .iter()
                .any(|v| {
                    v.to_str()
                        .is_ok_and(|v| v.to_ascii_lowercase().contains("chunked"))
                });
        let body = idle_limited(response, self.settings.idle_download);
        let stored = self
            .storage
            .put(&key, body)
            .await
            .map_err(|e| storage_failed(&e))?;
        // Every size known must be what was stored: the response's own length, and
        // Twilio's for the composition (a response short but true to its own length
        // would otherwise replace Twilio's whole one).
        let mut twilios = rec.size;
        if twilios.is_none() {
            // The spec lets a composition's size be null; a completed one has it, so
            // look again before trusting where the download ended.
            twilios = match self.video.fetch_composition(&sid).await {
                Ok(composition) => composition.and_then(|c| c.size),
                Err(e) => {
                    self.discard(&key).await;
                    return Err(retry("looking at the composition's size")(e));
                }
            };
        }
        let mismatch = [announced, twilios]
            .into_iter()
            .flatten()
            .find(|&expected| expected != stored.size);
        match (mismatch, announced.or(twilios)) {
            (Some(expected), _) => {
                self.discard(&key).await;
                return Err(StepError::Retry(format!(
                    "downloaded {} bytes of {expected}",
                    stored.size
                )));
            }
            (None, None) if ends_at_close => {
                // Stored as it is, a cut recording would replace Twilio's whole one.
                self.discard(&key).await;
                return Err(StepError::Retry(
                    "the download's size can't be checked: no length, and no size from Twilio"
                        .into(),
                ));
            }
            _ => {}
        }
        match self.storage.stat(&key).await {
            Ok(Some(held)) if held == stored => {}
            Ok(_) => {
                self.discard(&key).await;
                return Err(StepError::Retry(
                    "the stored object does not match what was downloaded".into(),
                ));
            }
            Err(e) => return Err(storage_failed(&e)),
        }
        rec.size = Some(stored.size);
        rec.sha256 = Some(hex::encode(stored.sha256));
        rec.stage = Stage::DeleteOnTwilio;
        let mut record = AuditRecord::new(AuditEvent::RecordingStored)
            .detail(format!("{} ({} bytes)", rec.id, stored.size));
        if let Ok(room) = RoomName::parse(&rec.room) {
            record = record.room(&room);
        }
        self.audit.record_or_note(record).await;
        Ok(Next::Continue)
    }

    async fn discard(&self, key: &str) {
        if let Err(e) = self.storage.delete(key).await {
            tracing::warn!(error = %e, "unverified object not deleted; the retry replaces it");
        }
    }

    /// Our copy is verified: Twilio's go, every composition of the room first (one
    /// an earlier attempt asked for, or a composition hook made, holds media too).
    async fn delete_on_twilio(&self, rec: &mut Recording) -> Result<Next, StepError> {
        let mut compositions: Vec<String> = self
            .video
            .room_compositions(&rec.id)
            .await
            .map_err(retry("listing the room's compositions"))?
            .into_iter()
            .filter(|c| {
                c.room_sid.as_deref() == Some(rec.id.as_str())
                    && c.status != CompositionStatus::Deleted
            })
            .map(|c| c.sid)
            .collect();
        if let Some(sid) = &rec.composition_sid
            && !compositions.contains(sid)
        {
            compositions.insert(0, sid.clone());
        }
        for sid in &compositions {
            self.video
                .delete_composition(sid)
                .await
                .map_err(retry("deleting Twilio's composition"))?;
        }
        for track in &rec.track_sids {
            self.video
                .delete_recording(track)
                .await
                .map_err(retry("deleting Twilio's recording"))?;
        }
        if rec.discarded {
            return Ok(Next::Forget);
        }
        rec.stage = Stage::Stored;
        tracing::info!(room = %rec.room, "recording stored; Twilio's copies deleted");
        Ok(Next::Done)
    }
}

/// Fixed per recording, so a retried upload replaces the object instead of adding one.
fn object_key(room: &str, id: &str, ended_ms: u64) -> String {
    let at = std::time::UNIX_EPOCH + Duration::from_millis(ended_ms);
    // 2026-12-05T20:34:31Z → 20261205T203431Z: sortable, and safe in any key.
    let ended: String = crate::clock::text::rfc3339(at)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{room}/{ended}-{id}.mp4")
}

/// The response body as a stream that fails if no byte arrives for `idle`. Errors are
/// stripped of the URL (a bearer secret).
fn idle_limited(
    response: reqwest::Response,
    idle: Duration,
) -> BoxStream<'static, Result<bytes::Bytes, std::io::Error>> {
    let chunks = response.bytes_stream();
    futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout(idle, chunks.next()).await {
            Ok(Some(Ok(bytes))) => Some((Ok(bytes), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e.without_url())), None)),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the download stalled",
                )),
                None,
            )),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests;
