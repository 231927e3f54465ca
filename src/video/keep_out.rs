//! Whoever Twilio reports connected to a room they should not be in (barred by a
//! host, or not on the list for it) is disconnected again. Twilio tells roomgate once
//! (a signed `participant-connected`, answered at once), so the disconnection is a job
//! kept in the store: a restart or a `kill -9` between its tries doesn't drop it, and
//! the next start (or another instance) carries it out. Tried at once, then after a
//! Video API failure 5 and 30 s later. A lease ([`Store::lease_due`]) keeps two
//! instances from running one job at once; one whose instance died is handed out
//! again when its lease ends.
//!
//! With the store down, the job is tried from memory on the same schedule. The
//! removal is on record (`participant_removed`, `on_connect WHY`) before the job is
//! queued; one the Video API never carried out gets a second record,
//! `participant_not_disconnected` (`on_connect WHY; video unavailable`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{VideoClient, VideoError};
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::domain::{RoomName, Username};
use crate::store::{Store, StoreError};

/// The store's queue of disconnections to make.
const QUEUE: &str = "keep-out";
/// Before each try: at once, then after a Video API failure a little later, twice
/// (its breaker's cool-off is shorter than the last wait).
pub const TRIES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(30),
];
/// A try is handed to one instance for this long: past a Video call's timeout.
const LEASE: Duration = Duration::from_secs(60);
/// Jobs taken at once.
const BATCH: usize = 16;
/// How often the queue is looked at without being woken (a job due later, one queued
/// by another instance, one whose lease ended).
const POLL: Duration = Duration::from_secs(1);

/// One disconnection to make, as kept in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub room_sid: String,
    pub participant_sid: String,
    pub room: RoomName,
    /// As Twilio named them; a username or not.
    pub identity: String,
    /// `removed` (a host's bar) or `not_on_list`.
    pub why: String,
    /// For the audit record.
    pub ip: IpAddr,
    /// For the log (never the name itself).
    pub pseudonym: String,
    /// Tries made so far.
    #[serde(default)]
    pub tries: u8,
}

impl Job {
    /// How long after the last try the next one is due.
    fn due_after(&self) -> Duration {
        TRIES[usize::from(self.tries)]
    }

    fn record(&self, event: AuditEvent, detail: String) -> AuditRecord {
        let record = AuditRecord::new(event)
            .room(&self.room)
            .ip(self.ip)
            .detail(detail);
        match Username::parse(&self.identity) {
            Ok(user) => record.user(&user),
            Err(_) => record,
        }
    }
}

/// The queue of disconnections and the task that makes them. Cheap to clone.
#[derive(Clone)]
pub struct KeepOut {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    video: VideoClient,
    audit: AuditLog,
    wake: Notify,
}

impl KeepOut {
    pub fn new(store: Arc<dyn Store>, video: VideoClient, audit: AuditLog) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                video,
                audit,
                wake: Notify::new(),
            }),
        }
    }

    /// On record, then queued (durably): the first try is made at once, by whichever
    /// instance takes it. With the store down, tried from memory instead.
    pub async fn enqueue(&self, job: Job) {
        let record = job.record(
            AuditEvent::ParticipantRemoved,
            format!("on_connect {}", job.why),
        );
        self.inner.audit.record_or_note(record).await;
        let now = self.inner.store.clock().now();
        match self.inner.store.schedule(QUEUE, &member(&job), now).await {
            Ok(()) => self.inner.wake.notify_one(),
            Err(e) => {
                // Tried from memory instead, on the same schedule: lost with the
                // process, but not with the store.
                tracing::warn!(error = %e, "a disconnection not queued: the store is unavailable; tried from memory");
                let this = self.clone();
                tokio::spawn(async move {
                    let mut next = Some(job);
                    while let Some(job) = next {
                        tokio::time::sleep(job.due_after()).await;
                        next = this.attempt(job).await;
                    }
                });
            }
        }
    }

    /// Runs the queue's jobs as they come due, for as long as the server runs.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = this.inner.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
                this.run_due().await;
            }
        })
    }

    /// The jobs due now, each tried once (rescheduled or done).
    pub async fn run_due(&self) {
        let due = match self.inner.store.lease_due(QUEUE, BATCH, LEASE).await {
            Ok(due) => due,
            Err(e) => {
                tracing::debug!(error = %e, "disconnections not looked at: the store is unavailable");
                return;
            }
        };
        let runs = due.into_iter().map(|member| self.run(member));
        futures_util::future::join_all(runs).await;
    }

    async fn run(&self, taken: String) {
        let store = &self.inner.store;
        let Ok(job) = serde_json::from_str::<Job>(&taken) else {
            tracing::warn!("an unreadable disconnection job dropped");
            let _ = store.unschedule(QUEUE, &taken).await;
            return;
        };
        if let Some(next) = self.attempt(job).await {
            // Queued again before the try just made goes: a stop in between leaves
            // one of them, never neither.
            let at = store.clock().now() + next.due_after();
            if let Err(e) = store.schedule(QUEUE, &member(&next), at).await {
                tracing::warn!(error = %e, "a disconnection not queued again; its lease hands it out again");
                return;
            }
        }
        if let Err(e) = store.unschedule(QUEUE, &taken).await {
            tracing::warn!(error = %e, "a disconnection made stays queued until its lease ends");
        }
    }

    /// One try: `None` when done (disconnected, gone, or given up on), or the job to
    /// try next.
    async fn attempt(&self, job: Job) -> Option<Job> {
        let disconnected = self
            .inner
            .video
            .disconnect_participant(&job.room_sid, &job.participant_sid)
            .await;
        let (user, room, why) = (&job.pseudonym, &job.room, &job.why);
        match disconnected {
            Ok(_) => {
                tracing::info!(%user, %room, why, "participant disconnected again on connecting");
                None
            }
            // Gone already: nothing left to do.
            Err(VideoError::NotFound) => None,
            Err(e) if usize::from(job.tries) + 1 < TRIES.len() => {
                tracing::info!(error = %e, %user, %room, why, "participant not disconnected on connecting; trying again");
                Some(Job {
                    tries: job.tries + 1,
                    ..job
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, %user, %room, why, "participant not disconnected on connecting");
                let record = job.record(
                    AuditEvent::ParticipantNotDisconnected,
                    format!("on_connect {why}; video unavailable"),
                );
                self.inner.audit.record_or_note(record).await;
                None
            }
        }
    }

    /// The jobs queued, for tests.
    pub async fn queued(&self) -> Result<Vec<Job>, StoreError> {
        let members = self
            .inner
            .store
            .queued(QUEUE, 1000, crate::store::QueueEnd::Soonest)
            .await?;
        Ok(members
            .into_iter()
            .filter_map(|(member, _)| serde_json::from_str(&member).ok())
            .collect())
    }
}

/// A job as a queue member: its JSON, which says all a try needs.
fn member(job: &Job) -> String {
    serde_json::to_string(job).expect("a job serialises")
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::MemoryStore;
    use crate::video::VideoConfig;

    const ROOM_SID: &str = "RM0123456789abcdef0123456789abcdef";
    const PA_BOB: &str = "PAfedcba9876543210fedcba9876543210";

    fn keep_out(store: &Arc<MemoryStore>, video: &MockServer, dir: &std::path::Path) -> KeepOut {
        let video = VideoClient::new(
            crate::twilio::verify::http_client(Duration::from_secs(5)),
            VideoConfig {
                base_url: video.uri(),
                account_sid: "AC0123456789abcdef0123456789abcdef".to_owned(),
                api_key: crate::twilio::credentials::ApiKeys::fixed(
                    "SK0123456789abcdef0123456789abcdef",
                    "secret",
                ),
            },
        );
        let audit = AuditLog::open(&dir.join("audit.log"), None).unwrap();
        KeepOut::new(store.clone(), video, audit)
    }

    fn bobs() -> Job {
        Job {
            room_sid: ROOM_SID.to_owned(),
            participant_sid: PA_BOB.to_owned(),
            room: RoomName::parse("standup").unwrap(),
            identity: "bob".to_owned(),
            why: "removed".to_owned(),
            ip: "203.0.113.7".parse().unwrap(),
            pseudonym: "u-1234".to_owned(),
            tries: 0,
        }
    }

    fn audit_lines(dir: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("audit.log"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A disconnection Video failed is kept in the store, not in the instance that
    /// tried: another one (or this one after a restart) makes the next try when it is
    /// due. The removal was on record before the first try.
    #[tokio::test]
    async fn a_failed_disconnection_is_tried_again_by_whoever_runs_the_queue() {
        let dir = crate::test_support::TempDir::new("keep-out");
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let video = MockServer::start().await;
        let bob = || path(format!("/v1/Rooms/{ROOM_SID}/Participants/{PA_BOB}"));
        let failing = Mock::given(method("POST"))
            .and(bob())
            .respond_with(ResponseTemplate::new(503))
            .expect(1)
            .mount_as_scoped(&video)
            .await;

        let first = keep_out(&store, &video, &dir.0);
        first.enqueue(bobs()).await;
        let removed = audit_lines(&dir.0);
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0]["event"], "participant_removed");
        assert_eq!(removed[0]["detail"], "on_connect removed");
        first.run_due().await;
        drop(failing);
        drop(first);
        // Queued again, for 5 s later.
        let queued = keep_out(&store, &video, &dir.0).queued().await.unwrap();
        assert_eq!(queued, [Job { tries: 1, ..bobs() }]);

        // Another instance: nothing before it is due, then the try.
        Mock::given(method("POST"))
            .and(bob())
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "sid": PA_BOB, "room_sid": ROOM_SID, "identity": "bob", "status": "disconnected"
            })))
            .expect(1)
            .mount(&video)
            .await;
        let second = keep_out(&store, &video, &dir.0);
        second.run_due().await;
        assert_eq!(
            second.queued().await.unwrap().len(),
            1,
            "tried before it was due"
        );
        clock.advance(TRIES[1]);
        second.run_due().await;
        assert!(second.queued().await.unwrap().is_empty());
        assert_eq!(audit_lines(&dir.0).len(), 1, "no second record");
    }

    /// After the last try fails, it is on record that the removal wasn't carried out.
    #[tokio::test]
    async fn a_disconnection_never_made_is_on_record() {
        let dir = crate::test_support::TempDir::new("keep-out");
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let video = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .expect(3)
            .mount(&video)
            .await;
        let keep_out = keep_out(&store, &video, &dir.0);
        keep_out.enqueue(bobs()).await;
        for wait in TRIES {
            clock.advance(wait);
            keep_out.run_due().await;
        }
        assert!(keep_out.queued().await.unwrap().is_empty());
        let records = audit_lines(&dir.0);
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(records[1]["event"], "participant_not_disconnected");
        assert_eq!(
            records[1]["detail"],
            "on_connect removed; video unavailable"
        );
        assert_eq!(records[1]["username"], "bob");
    }

    /// With the store down when the job is queued, the disconnection is still made,
    /// from memory, at once; the removal is on record all the same.
    #[tokio::test]
    async fn with_the_store_down_the_disconnection_is_made_from_memory() {
        let dir = crate::test_support::TempDir::new("keep-out");
        let store = Arc::new(MemoryStore::new());
        let video = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(format!("/v1/Rooms/{ROOM_SID}/Participants/{PA_BOB}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "sid": PA_BOB, "room_sid": ROOM_SID, "identity": "bob", "status": "disconnected"
            })))
            .expect(1)
            .mount(&video)
            .await;
        let keep_out = keep_out(&store, &video, &dir.0);
        store.refuse_next(1);
        keep_out.enqueue(bobs()).await;
        assert!(
            keep_out.queued().await.unwrap().is_empty(),
            "not in the store"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while video.received_requests().await.unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never disconnected");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let records = audit_lines(&dir.0);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["event"], "participant_removed");
    }
}
