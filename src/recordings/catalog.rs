//! What roomgate knows about each recording, kept in the store so every instance sees
//! it and it outlives restarts: one record per recorded room session, found through
//! two indexes (all recordings, and one room's), each ordered by when retention ends.
//!
//! A recording's id is the Twilio room's SID (`RM…`): a room session is composed once,
//! so the same `room-ended` event arriving twice finds the record already there.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use crate::domain::RoomName;
use crate::store::{QueueEnd, Store, StoreError, unix_ms};

/// Every recording, due when its retention ends.
const INDEX: &str = "recordings";
/// Records outlive their retention by this much, so a slow sweep still finds them.
const RECORD_GRACE: Duration = Duration::from_secs(7 * 86_400);
/// Far more than any host keeps; a listing stops here (at the newest, or for expiry
/// the soonest to expire).
pub const MAX_LISTED: usize = 10_000;
/// Records read at once while listing: few enough to leave Redis's bound on
/// operations in flight to everyone else.
const LIST_READS: usize = 32;

fn room_index(room: &str) -> String {
    format!("recordings-of:{room}")
}

fn record_key(id: &str) -> String {
    format!("recording:{id}")
}

/// Left for a while by a recording forgotten: a `room-ended` for it told again (Twilio
/// trying a callback again, within [`GONE_FOR`]) doesn't start it over.
fn gone_key(id: &str) -> String {
    format!("recording-gone:{id}")
}

/// Longer than a callback is accepted (`Timestamp` within an hour, see
/// `routes::webhooks`) and remembered, and than the pipeline looks back for room ends
/// it missed (two days).
pub(super) const GONE_FOR: Duration = Duration::from_secs(3 * 86_400);

/// Whether `id` has the shape of a room SID: `RM` and 32 hex digits.
pub fn is_recording_id(id: &str) -> bool {
    id.len() == 34 && id.starts_with("RM") && id[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Where a recording is in the pipeline. Each stage is where the job resumes after a
/// restart; nothing on Twilio is deleted before `DeleteOnTwilio`.
/// Ordered as a job goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Find the room's track recordings and ask Twilio to compose them.
    Compose,
    /// Waiting for Twilio to finish the composition.
    Composing,
    /// Download the composed file into storage and verify it.
    Upload,
    /// Stored and verified: delete the composition and the track recordings on Twilio.
    DeleteOnTwilio,
    /// Done: only our copy remains.
    Stored,
    /// Given up; Twilio's copies (if any) are left alone. `last_error` says why.
    Failed,
}

/// What a host sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Processing,
    Stored,
    /// Why, as hosts are told it in their language (`None` for a recording that
    /// failed before the kinds were kept), and the technical detail, in English.
    Failed(Option<Failure>, String),
}

/// Why a recording was given up on, told to hosts in their language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Twilio never finished the composition.
    NotComposedInTime,
    /// Twilio failed to compose it, again and again.
    NotComposed,
    /// Twilio's composition was gone before our copy was stored.
    DeletedOnTwilio,
    /// A step kept failing (Twilio's API or the storage) until the job gave up.
    GaveUp,
}

impl Failure {
    /// The message id of its sentence (`locales/*/roomgate.ftl`).
    pub fn message(self) -> &'static str {
        match self {
            Self::NotComposedInTime => "recordings-failed-in-time",
            Self::NotComposed => "recordings-failed-composition",
            Self::DeletedOnTwilio => "recordings-failed-deleted",
            Self::GaveUp => "recordings-failed-gave-up",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The room's SID.
    pub id: String,
    pub room: String,
    /// When the room ended (Unix ms); retention counts from here.
    pub ended_ms: u64,
    pub stage: Stage,
    /// `CJ…`, once Twilio has accepted the composition.
    pub composition_sid: Option<String>,
    /// The room's track recordings (`RT…`), deleted on Twilio at the end.
    #[serde(default)]
    pub track_sids: Vec<String>,
    pub duration_secs: Option<u64>,
    /// Bytes, as stored and verified.
    pub size: Option<u64>,
    /// Hex SHA-256 of the stored object.
    pub sha256: Option<String>,
    pub object_key: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// Compositions Twilio failed; a few are retried with a new one.
    #[serde(default)]
    pub compose_failures: u32,
    /// Why the last attempt failed (for hosts: no secrets, no URLs).
    pub last_error: Option<String>,
    /// Why it was given up on, once it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Looks at a composition Twilio hadn't finished: each waits longer.
    #[serde(default)]
    pub looks: u32,
    /// Deleted (by a host, or retention) while its job was still deleting Twilio's
    /// copies, which lasts as long as Twilio refuses: our object is gone and the
    /// recording hidden, and the job forgets the record once Twilio's are gone too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discarded: bool,
}

impl Recording {
    pub fn new(id: &str, room: &RoomName, ended: SystemTime) -> Self {
        Self {
            id: id.to_owned(),
            room: room.as_str().to_owned(),
            ended_ms: unix_ms(ended),
            stage: Stage::Compose,
            composition_sid: None,
            track_sids: Vec::new(),
            duration_secs: None,
            size: None,
            sha256: None,
            object_key: None,
            attempts: 0,
            compose_failures: 0,
            last_error: None,
            failure: None,
            looks: 0,
            discarded: false,
        }
    }

    pub fn ended(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.ended_ms)
    }

    pub fn state(&self) -> State {
        match self.stage {
            // Our copy is stored and verified; what remains is Twilio's cleanup.
            Stage::DeleteOnTwilio | Stage::Stored => State::Stored,
            Stage::Failed => State::Failed(
                self.failure,
                self.last_error
                    .clone()
                    .unwrap_or_else(|| "unknown error".into()),
            ),
            Stage::Compose | Stage::Composing | Stage::Upload => State::Processing,
        }
    }

    /// Whether the job is still looking for the room's track recordings, none found
    /// yet and nothing gone wrong.
    pub fn is_looking(&self) -> bool {
        self.stage == Stage::Compose && self.track_sids.is_empty() && self.last_error.is_none()
    }

    /// Whether the job has nothing left to do.
    pub fn is_finished(&self) -> bool {
        matches!(self.stage, Stage::Stored | Stage::Failed)
    }

    /// Whether there is an object to link to.
    pub fn is_stored(&self) -> bool {
        self.state() == State::Stored && self.object_key.is_some()
    }
}

/// The records and their indexes, over the shared store.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
}

impl Catalog {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    pub async fn get(&self, id: &str) -> Result<Option<Recording>, StoreError> {
        let Some(bytes) = self.store.get(&record_key(id)).await? else {
            return Ok(None);
        };
        // A record this build can't read is reported, not guessed at.
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StoreError::corrupt(self.store.backend(), format!("recording {id}: {e}")))
    }

    /// Write `rec`, kept in the store at most `keep` after the room ended (plus a
    /// grace; retention deletes it sooner), and index it by that time.
    /// `new_only`: only if there is no record yet; whether it was written.
    pub async fn save(
        &self,
        rec: &Recording,
        keep: Duration,
        new_only: bool,
    ) -> Result<bool, StoreError> {
        let deadline = rec.ended() + keep;
        let now = self.store.clock().now();
        let ttl = (deadline + RECORD_GRACE)
            .duration_since(now)
            .unwrap_or(RECORD_GRACE);
        let bytes = serde_json::to_vec(rec).expect("a recording always serialises");
        let key = record_key(&rec.id);
        if new_only {
            if !self.store.put_new(&key, &bytes, ttl).await? {
                return Ok(false);
            }
        } else {
            self.store.put(&key, &bytes, ttl).await?;
        }
        let room_index = room_index(&rec.room);
        let (all, one_room) = tokio::join!(
            self.store.schedule(INDEX, &rec.id, deadline),
            self.store.schedule(&room_index, &rec.id, deadline),
        );
        all?;
        one_room?;
        Ok(true)
    }

    /// Forget `rec` entirely (its object is already gone).
    pub async fn remove(&self, rec: &Recording) -> Result<(), StoreError> {
        let (room_index, key) = (room_index(&rec.room), record_key(&rec.id));
        self.store.put(&gone_key(&rec.id), b"1", GONE_FOR).await?;
        let (a, b, c) = tokio::join!(
            self.store.unschedule(INDEX, &rec.id),
            self.store.unschedule(&room_index, &rec.id),
            self.store.delete(&key),
        );
        a?;
        b?;
        c
    }

    /// Whether the recording `id` was forgotten in the last few days.
    pub async fn was_removed(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.store.get(&gone_key(id)).await?.is_some())
    }

    /// Every recording, or one room's, newest first: past [`MAX_LISTED`], the newest
    /// (by when their retention ends, which is when they ended for one room).
    pub async fn list(&self, room: Option<&RoomName>) -> Result<Vec<Recording>, StoreError> {
        self.listed(room, QueueEnd::Latest).await
    }

    /// Every recording, the first [`MAX_LISTED`] to reach the end of their retention:
    /// what expiry looks at.
    pub async fn soonest_to_expire(&self) -> Result<Vec<Recording>, StoreError> {
        self.listed(None, QueueEnd::Soonest).await
    }

    async fn listed(
        &self,
        room: Option<&RoomName>,
        end: QueueEnd,
    ) -> Result<Vec<Recording>, StoreError> {
        let index = room.map_or_else(|| INDEX.to_owned(), |r| room_index(r.as_str()));
        let ids = self.store.queued(&index, MAX_LISTED, end).await?;
        // A few reads at a time, in order: all at once (up to MAX_LISTED) filled Redis's
        // bound on operations in flight, so the listing, retention and the jobs'
        // reconciling failed as "busy" past a few thousand recordings, and every
        // sign-in meanwhile with them.
        let reads: Vec<_> = ids.iter().map(|(id, _)| self.get(id)).collect();
        let records: Vec<_> = futures_util::stream::iter(reads)
            .buffered(LIST_READS)
            .collect()
            .await;
        let mut out = Vec::with_capacity(records.len());
        for ((id, _), rec) in ids.iter().zip(records) {
            let rec = match rec {
                // One record this build can't read is left as it is (its object may
                // be in storage) and said in the log; the rest are listed (and
                // expired, and their jobs found) as usual.
                Err(e @ StoreError::Corrupt { .. }) => {
                    tracing::warn!(error = %e, "a recording's record can't be read; left out");
                    continue;
                }
                rec => rec?,
            };
            match rec {
                Some(rec) => out.push(rec),
                // The record is gone (its TTL, or a removal half done): so is the entry.
                None => self.store.unschedule(&index, id).await?,
            }
        }
        out.sort_by(|a, b| b.ended_ms.cmp(&a.ended_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    /// A listing reads a few records at a time: all at once, it filled Redis's bound on
    /// operations in flight past a few thousand recordings (the listing, retention and
    /// reconciling failed as "busy", and every sign-in with them).
    #[tokio::test]
    async fn a_listing_reads_a_few_records_at_a_time_and_lists_them_all() {
        let store = Arc::new(MemoryStore::new().with_round_trip(Duration::from_millis(1)));
        let catalog = Catalog::new(store.clone());
        let room = RoomName::parse("standup").unwrap();
        let day = Duration::from_secs(86_400);
        for i in 0..200u64 {
            let ended = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + i);
            let rec = Recording::new(&format!("RM{i:032}"), &room, ended);
            catalog.save(&rec, 3650 * day, false).await.unwrap();
        }
        let listed = catalog.list(None).await.unwrap();
        assert_eq!(listed.len(), 200);
        assert_eq!(listed[0].id, format!("RM{:032}", 199), "newest first");
        assert!(
            store.most_in_flight() <= LIST_READS,
            "{} reads at once",
            store.most_in_flight()
        );
    }
}
