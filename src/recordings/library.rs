//! Stored recordings as hosts and operators use them: list, play or download through a
//! link that expires in seconds, delete, and expire by the room's retention.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use super::catalog::{Catalog, Recording, Stage, is_recording_id};
use super::pipeline::{RECORD_LIFE, claim_key};
use super::storage::{Disposition, ObjectStorage, StorageError};
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::domain::{RoomName, Username};
use crate::store::{Store, StoreError};

/// What retention needs to know about a room from the ACL.
pub trait RoomPolicy: Send + Sync + 'static {
    /// How long its recordings are kept, from when the room ended.
    fn retention(&self, room: &RoomName) -> Duration;
}

/// The live ACL's `[rooms.NAME]` settings, read afresh each time (reloads apply).
impl RoomPolicy for crate::acl::AclStore {
    fn retention(&self, room: &RoomName) -> Duration {
        let days = self.load().room_settings(room).retention_days;
        Duration::from_secs(u64::from(days) * 86_400)
    }
}

/// Retention that expires nothing. `recordings list | link | delete` never ask for
/// retention, so they run without the ACL (an error in it doesn't keep an operator
/// from them); were one of them to expire recordings after all, this keeps them all.
pub struct KeepAll;

impl RoomPolicy for KeepAll {
    fn retention(&self, _: &RoomName) -> Duration {
        Duration::MAX
    }
}

/// How long a deletion holds a job's claim: a few store writes and one object's delete.
const CLAIM_FOR: Duration = Duration::from_secs(60);

/// Default lifetime of a play or download link (`ROOMGATE_RECORDING_LINK_SECS`).
pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(60);

/// Why a link or a deletion was refused.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("no such recording")]
    NotFound,
    #[error("the recording's job is running a step right now")]
    Busy,
    #[error("the recording is still being processed")]
    NotStored,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Play in the browser, or save a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Play,
    Download,
}

impl Purpose {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "play" => Some(Self::Play),
            "download" => Some(Self::Download),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Play => "play",
            Self::Download => "download",
        }
    }
}

/// Who asked, for the audit record.
pub struct Requester<'a> {
    who: Who<'a>,
    ip: Option<std::net::IpAddr>,
}

/// Told apart by type, not by name: a host may be called `cli` or `retention`, and
/// only a host's records carry a username.
enum Who<'a> {
    Host(&'a Username),
    Cli,
    Retention,
}

impl<'a> Requester<'a> {
    /// The command line (`roomgate recordings …`).
    pub const CLI: Self = Self {
        who: Who::Cli,
        ip: None,
    };
    /// The retention sweep.
    const RETENTION: Self = Self {
        who: Who::Retention,
        ip: None,
    };

    /// A host of the recording's room, from `ip`.
    pub fn host(user: &'a Username, ip: Option<std::net::IpAddr>) -> Self {
        Self {
            who: Who::Host(user),
            ip,
        }
    }

    /// As the audit record's detail says it.
    fn name(&self) -> &str {
        match self.who {
            Who::Host(user) => user.as_str(),
            Who::Cli => "cli",
            Who::Retention => "retention",
        }
    }
}

#[derive(Clone)]
pub struct Library {
    store: Arc<dyn Store>,
    catalog: Catalog,
    storage: Arc<dyn ObjectStorage>,
    policy: Arc<dyn RoomPolicy>,
    audit: AuditLog,
    link_ttl: Duration,
}

impl Library {
    pub fn new(
        store: Arc<dyn Store>,
        storage: Arc<dyn ObjectStorage>,
        policy: Arc<dyn RoomPolicy>,
        audit: AuditLog,
        link_ttl: Duration,
    ) -> Self {
        Self {
            catalog: Catalog::new(store.clone()),
            store,
            storage,
            policy,
            audit,
            link_ttl,
        }
    }

    pub fn link_ttl(&self) -> Duration {
        self.link_ttl
    }

    /// What hosts see. Every room that ends gets a job that looks for its
    /// recordings; one that hasn't found any (most rooms record nothing) is not shown
    /// as a recording being processed, unless looking failed.
    pub async fn list(&self, room: Option<&RoomName>) -> Result<Vec<Recording>, StoreError> {
        let mut listed = self.catalog.list(room).await?;
        // Deleted already, for hosts: only its job still looks at it.
        listed.retain(|rec| !rec.is_looking() && !rec.discarded);
        Ok(listed)
    }

    /// The recording `id`, if it exists and (when given) belongs to `room`.
    pub async fn find(&self, id: &str, room: Option<&RoomName>) -> Result<Recording, LibraryError> {
        if !is_recording_id(id) {
            return Err(LibraryError::NotFound);
        }
        let rec = self.catalog.get(id).await?.ok_or(LibraryError::NotFound)?;
        if rec.discarded || room.is_some_and(|r| r.as_str() != rec.room) {
            return Err(LibraryError::NotFound);
        }
        Ok(rec)
    }

    /// A link to `rec`'s object, valid [`link_ttl`](Self::link_ttl), audited before it
    /// is handed out. The link is a bearer secret: never logged, never in a page.
    pub async fn link(
        &self,
        rec: &Recording,
        purpose: Purpose,
        by: &Requester<'_>,
    ) -> Result<SecretString, LibraryError> {
        let key = match (&rec.object_key, rec.is_stored()) {
            (Some(key), true) => key,
            _ => return Err(LibraryError::NotStored),
        };
        let disposition = match purpose {
            Purpose::Play => Disposition::Inline,
            Purpose::Download => Disposition::Attachment {
                filename: file_name(rec),
            },
        };
        let link = self.storage.link(key, self.link_ttl, &disposition)?;
        let record = self
            .record(AuditEvent::RecordingLinkIssued, rec, by)
            .detail(format!(
                "{} {} by {} for {} s",
                purpose.as_str(),
                rec.id,
                by.name(),
                self.link_ttl.as_secs()
            ));
        self.audit.record(record).await.map_err(|e| {
            // No audit record, no link: who saw a recording must be on file.
            StoreError::unavailable("audit", e)
        })?;
        Ok(link)
    }

    /// Delete `rec`'s object and forget it. One still being stored can't be deleted
    /// (its job would store it again); one stored whose job is still deleting
    /// Twilio's copies is deleted here, and forgotten by its job (see
    /// [`Self::discard`]).
    pub async fn delete(&self, rec: &Recording, by: &Requester<'_>) -> Result<(), LibraryError> {
        self.delete_because(rec, &format!("by {}", by.name()), by)
            .await
    }

    async fn delete_because(
        &self,
        rec: &Recording,
        why: &str,
        by: &Requester<'_>,
    ) -> Result<(), LibraryError> {
        match rec.stage {
            Stage::Stored | Stage::Failed => self.remove(rec, why, by).await,
            Stage::DeleteOnTwilio => self.discard(rec, why, by).await,
            Stage::Compose | Stage::Composing | Stage::Upload => Err(LibraryError::NotStored),
        }
    }

    /// Our copy of a recording whose job is still deleting Twilio's: deleted now,
    /// as asked, however long Twilio refuses (an API key without the right to delete
    /// would keep every recording past its retention, and out of the hosts' reach).
    /// The record is marked and hidden; its job forgets it once Twilio's copies are
    /// gone. Done under the job's claim, so no step of it runs meanwhile.
    async fn discard(
        &self,
        rec: &Recording,
        why: &str,
        by: &Requester<'_>,
    ) -> Result<(), LibraryError> {
        let claim = claim_key(&rec.id);
        let token = crate::random::random_token();
        if !self
            .store
            .put_new(&claim, token.as_bytes(), CLAIM_FOR)
            .await?
        {
            return Err(LibraryError::Busy);
        }
        let discarded = async {
            // Read again under the claim: the job may have moved on meanwhile.
            let Some(mut rec) = self.catalog.get(&rec.id).await? else {
                return Err(LibraryError::NotFound);
            };
            // Deleted meanwhile (a retention sweep and a host at once): its job
            // forgets it once Twilio's copies are gone.
            if rec.discarded {
                return Ok(());
            }
            if rec.stage != Stage::DeleteOnTwilio {
                return self.remove(&rec, why, by).await;
            }
            if let Some(key) = rec.object_key.take() {
                self.storage.delete(&key).await?;
            }
            rec.discarded = true;
            self.catalog.save(&rec, RECORD_LIFE, false).await?;
            let record = self
                .record(AuditEvent::RecordingDeleted, &rec, by)
                .detail(format!("{} {why}; Twilio's copies not deleted yet", rec.id));
            self.audit.record_or_note(record).await;
            Ok(())
        }
        .await;
        let _ = self.store.delete_if(&claim, token.as_bytes()).await;
        discarded
    }

    async fn remove(
        &self,
        rec: &Recording,
        why: &str,
        by: &Requester<'_>,
    ) -> Result<(), LibraryError> {
        if let Some(key) = &rec.object_key {
            self.storage.delete(key).await?;
        }
        self.catalog.remove(rec).await?;
        let record = self
            .record(AuditEvent::RecordingDeleted, rec, by)
            .detail(format!("{} {why}", rec.id));
        self.audit.record_or_note(record).await;
        Ok(())
    }

    /// Delete every recording older than its room's retention (as the ACL says now);
    /// how many. Recordings still in the pipeline wait for it to finish.
    pub async fn expire(&self) -> Result<usize, LibraryError> {
        let now = self.store.clock().now();
        let mut expired = 0;
        for rec in self.catalog.soonest_to_expire().await? {
            // Stored, whether or not Twilio's copies are gone yet; not deleted already.
            // A failed one holds no copy of ours, and its record is what says where
            // Twilio's copies are: kept for the operator (`recordings delete`).
            if rec.stage < Stage::DeleteOnTwilio || rec.stage == Stage::Failed || rec.discarded {
                continue;
            }
            let retention = RoomName::parse(&rec.room)
                .map_or(DEFAULT_RETENTION, |room| self.policy.retention(&room));
            // Past every representable time (a retention of `Duration::MAX`): kept.
            if rec
                .ended()
                .checked_add(retention)
                .is_none_or(|due| now < due)
            {
                continue;
            }
            let by = Requester::RETENTION;
            let why = format!("after {} days (retention)", retention.as_secs() / 86_400);
            // One that can't be deleted now is tried at the next sweep; the rest go on.
            match self.delete_because(&rec, &why, &by).await {
                Ok(()) => expired += 1,
                Err(e) => tracing::warn!(
                    error = %e,
                    room = %rec.room,
                    "expired recording not deleted; trying again at the next sweep"
                ),
            }
        }
        Ok(expired)
    }

    /// Sweep retention every `every`, until the process ends. Instances sharing a
    /// store take turns: one sweep a period, not one per instance.
    pub fn spawn_expiry(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let turn = me
                    .store
                    .put_new("recordings-sweep", b"1", every.mul_f32(0.9))
                    .await;
                if !matches!(turn, Ok(true)) {
                    tokio::time::sleep(every).await;
                    continue;
                }
                match me.expire().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(recordings = n, "expired recordings deleted"),
                    Err(e) => {
                        tracing::warn!(error = %e, "retention sweep failed; trying again later")
                    }
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    fn record(&self, event: AuditEvent, rec: &Recording, by: &Requester<'_>) -> AuditRecord {
        let mut record = AuditRecord::new(event);
        if let Ok(room) = RoomName::parse(&rec.room) {
            record = record.room(&room);
        }
        if let Who::Host(user) = by.who {
            record = record.user(user);
        }
        if let Some(ip) = by.ip {
            record = record.ip(ip);
        }
        record
    }
}

/// Retention for a room whose name no longer parses (it can't be in the ACL).
const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// `standup-2026-12-05-2034.mp4`: the room and when it ended, UTC.
pub fn file_name(rec: &Recording) -> String {
    let at = crate::clock::text::rfc3339(rec.ended());
    // 2026-12-05T20:34:31Z
    let date = at.get(..10).unwrap_or("recording");
    let time: String = at.get(11..16).unwrap_or("").replace(':', "");
    format!("{}-{date}-{time}.mp4", rec.room)
}

/// When `rec` ended, for pages: `2026-12-05 20:34 UTC`.
pub fn ended_text(rec: &Recording) -> String {
    let at = crate::clock::text::rfc3339(rec.ended());
    format!(
        "{} {} UTC",
        at.get(..10).unwrap_or(""),
        at.get(11..16).unwrap_or("")
    )
}

/// Seconds as `1:02:03` or `2:03`.
pub fn duration_text(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Bytes as `12.3 MB`.
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use secrecy::ExposeSecret;

    use super::*;
    use crate::recordings::catalog::Stage;
    use crate::recordings::test_bucket::Bucket;
    use crate::store::memory::MemoryStore;
    use crate::test_support::TempDir;

    const OLD: &str = "RM00000000000000000000000000000001";
    const NEW: &str = "RM00000000000000000000000000000002";
    const BUSY: &str = "RM00000000000000000000000000000003";
    const FAILED: &str = "RM00000000000000000000000000000004";
    const DAY: Duration = Duration::from_secs(86_400);

    /// Recordings in `standup` are kept 10 days.
    struct TenDays;

    impl RoomPolicy for TenDays {
        fn retention(&self, _: &RoomName) -> Duration {
            DAY * 10
        }
    }

    struct Fixture {
        library: Library,
        bucket: Arc<Bucket>,
        catalog: Catalog,
        store: Arc<dyn Store>,
        audit_dir: TempDir,
        audit: AuditLog,
    }

    async fn fixture() -> Fixture {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let bucket = Arc::new(Bucket::default());
        let audit_dir = TempDir::new("library-audit");
        let audit = AuditLog::open(&audit_dir.0.join("audit.log"), None).unwrap();
        let library = Library::new(
            store.clone(),
            bucket.clone(),
            Arc::new(TenDays),
            audit.clone(),
            Duration::from_secs(45),
        );
        Fixture {
            library,
            bucket,
            catalog: Catalog::new(store.clone()),
            store,
            audit_dir,
            audit,
        }
    }

    impl Fixture {
        /// A recording of `standup` that ended `ago`, at `stage`, its object stored.
        async fn add(&self, id: &str, ago: Duration, stage: Stage) -> Recording {
            let room = RoomName::parse("standup").unwrap();
            let mut rec = Recording::new(id, &room, self.store.clock().now() - ago);
            rec.stage = stage;
            let key = format!("standup/{id}.mp4");
            self.bucket
                .objects
                .lock()
                .unwrap()
                .insert(key.clone(), b"mp4".to_vec());
            rec.object_key = Some(key);
            self.catalog.save(&rec, DAY * 10, false).await.unwrap();
            rec
        }

        /// The ids hosts see, newest first.
        async fn listed(&self) -> Vec<String> {
            let listed = self.library.list(None).await.unwrap();
            listed.into_iter().map(|r| r.id).collect()
        }

        async fn audit_lines(&self) -> String {
            self.audit.flush().await.unwrap();
            std::fs::read_to_string(self.audit_dir.0.join("audit.log")).unwrap_or_default()
        }
    }

    fn host() -> Requester<'static> {
        static ALICE: std::sync::LazyLock<Username> =
            std::sync::LazyLock::new(|| Username::parse("alice").unwrap());
        Requester::host(&ALICE, Some("203.0.113.9".parse().unwrap()))
    }

    #[tokio::test]
    async fn a_link_names_the_object_expires_as_configured_and_is_audited_first() {
        let fx = fixture().await;
        let rec = fx.add(OLD, DAY, Stage::Stored).await;
        let play = fx.library.link(&rec, Purpose::Play, &host()).await.unwrap();
        assert_eq!(
            play.expose_secret(),
            format!("https://bucket.test/standup/{OLD}.mp4?ttl=45&as=inline")
        );
        let download = fx
            .library
            .link(&rec, Purpose::Download, &host())
            .await
            .unwrap();
        assert!(
            download
                .expose_secret()
                .ends_with(&format!("as=attachment:{}", file_name(&rec))),
            "{}",
            download.expose_secret()
        );
        let log = fx.audit_lines().await;
        let issued: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("recording_link_issued"))
            .collect();
        assert_eq!(issued.len(), 2, "{log}");
        assert!(issued[0].contains("203.0.113.9") && issued[0].contains("alice"));
        assert!(issued[0].contains(&format!("play {OLD}")));
        assert!(issued[1].contains(&format!("download {OLD}")));
        // The link itself is not in the audit log.
        assert!(!log.contains("bucket.test"));
    }

    /// The command line and a host who happens to be called `cli` are told apart:
    /// only a host's record carries a username.
    #[tokio::test]
    async fn a_host_called_cli_is_not_the_command_line() {
        let fx = fixture().await;
        let rec = fx.add(OLD, DAY, Stage::Stored).await;
        let cli_host = Username::parse("cli").unwrap();
        for by in [Requester::CLI, Requester::host(&cli_host, None)] {
            fx.library.link(&rec, Purpose::Play, &by).await.unwrap();
        }
        let log = fx.audit_lines().await;
        let issued: Vec<serde_json::Value> = log
            .lines()
            .filter(|l| l.contains("recording_link_issued"))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(issued.len(), 2, "{log}");
        for record in &issued {
            assert_eq!(record["detail"], format!("play {OLD} by cli for 45 s"));
        }
        assert_eq!(issued[0].get("username"), None, "the command line: {log}");
        assert_eq!(issued[1]["username"], "cli", "the host: {log}");
    }

    #[tokio::test]
    async fn no_link_for_a_recording_in_processing_another_room_or_a_bad_id() {
        let fx = fixture().await;
        let busy = fx.add(BUSY, DAY, Stage::Upload).await;
        assert!(matches!(
            fx.library.link(&busy, Purpose::Play, &host()).await,
            Err(LibraryError::NotStored)
        ));
        fx.add(OLD, DAY, Stage::Stored).await;
        let other = RoomName::parse("all-hands").unwrap();
        assert!(matches!(
            fx.library.find(OLD, Some(&other)).await,
            Err(LibraryError::NotFound)
        ));
        let standup = RoomName::parse("standup").unwrap();
        assert_eq!(fx.library.find(OLD, Some(&standup)).await.unwrap().id, OLD);
        for bad in ["", "RM123", "../../etc/passwd", NEW] {
            assert!(matches!(
                fx.library.find(bad, None).await,
                Err(LibraryError::NotFound)
            ));
        }
        assert!(!fx.audit_lines().await.contains("recording_link_issued"));
    }

    #[tokio::test]
    async fn retention_deletes_what_is_older_than_the_rooms_setting_and_nothing_else() {
        let fx = fixture().await;
        fx.add(OLD, DAY * 11, Stage::Stored).await;
        fx.add(NEW, DAY * 9, Stage::Stored).await;
        // Too old, but still in the pipeline: it finishes first.
        fx.add(BUSY, DAY * 11, Stage::Upload).await;
        // Too old, but failed: its record says where Twilio's copies are, so it stays
        // for the operator.
        fx.add(FAILED, DAY * 12, Stage::Failed).await;
        assert_eq!(fx.library.expire().await.unwrap(), 1);
        let left = fx.listed().await;
        assert_eq!(left, [NEW, BUSY, FAILED]);
        let objects = fx.bucket.objects.lock().unwrap().clone();
        assert!(!objects.contains_key(&format!("standup/{OLD}.mp4")));
        assert!(objects.contains_key(&format!("standup/{NEW}.mp4")));
        assert!(fx.audit_lines().await.contains("recording_deleted"));
        // Nothing more to do the second time.
        assert_eq!(fx.library.expire().await.unwrap(), 0);
    }

    /// `KeepAll` (what `recordings list | link | delete` run with) expires nothing,
    /// however old, rather than overflow the time it computes.
    #[tokio::test]
    async fn keep_all_expires_nothing() {
        let fx = fixture().await;
        fx.add(OLD, DAY * 400, Stage::Stored).await;
        let library = Library::new(
            fx.store.clone(),
            fx.bucket.clone(),
            Arc::new(KeepAll),
            fx.audit.clone(),
            Duration::from_secs(45),
        );
        assert_eq!(library.expire().await.unwrap(), 0);
        assert_eq!(library.list(None).await.unwrap().len(), 1);
        assert!(
            fx.bucket
                .objects
                .lock()
                .unwrap()
                .contains_key(&format!("standup/{OLD}.mp4"))
        );
    }

    /// Past the listing's cap, a listing shows the newest and expiry still sees the
    /// oldest.
    #[tokio::test]
    async fn past_the_cap_lists_show_the_newest_and_expiry_the_oldest() {
        use crate::recordings::catalog::MAX_LISTED;
        let fx = fixture().await;
        let id = |n: usize| format!("RM{n:032x}");
        // The oldest is past its 10 days; the rest ended a minute apart, newest last.
        fx.add(&id(0), DAY * 11, Stage::Stored).await;
        for n in 1..=MAX_LISTED {
            let ago = DAY * 9 - Duration::from_secs(60 * n as u64);
            fx.add(&id(n), ago, Stage::Stored).await;
        }
        let listed = fx.library.list(None).await.unwrap();
        assert_eq!(listed.len(), MAX_LISTED);
        assert_eq!(listed[0].id, id(MAX_LISTED), "newest first");
        assert!(
            listed.iter().all(|r| r.id != id(0)),
            "the oldest is past the cap"
        );
        let room = RoomName::parse("standup").unwrap();
        assert_eq!(
            fx.library.list(Some(&room)).await.unwrap()[0].id,
            id(MAX_LISTED)
        );
        assert_eq!(fx.library.expire().await.unwrap(), 1);
        assert!(fx.library.find(&id(0), None).await.is_err());
    }

    #[tokio::test]
    async fn deleting_removes_object_and_record_but_not_while_processing() {
        let fx = fixture().await;
        let stored = fx.add(OLD, DAY, Stage::Stored).await;
        let busy = fx.add(BUSY, DAY, Stage::Composing).await;
        assert!(matches!(
            fx.library.delete(&busy, &host()).await,
            Err(LibraryError::NotStored)
        ));
        fx.library.delete(&stored, &host()).await.unwrap();
        assert!(fx.library.find(OLD, None).await.is_err());
        assert_eq!(fx.bucket.objects.lock().unwrap().len(), 1);
        assert_eq!(fx.bucket.puts.load(Ordering::SeqCst), 0);
    }

    /// Stored, with Twilio's copies not deleted yet (Twilio refusing, say, for as long
    /// as it does): a host's deletion and retention both delete our copy now and hide
    /// the recording; its job forgets it once Twilio's copies are gone.
    #[tokio::test]
    async fn a_recording_whose_twilio_copies_remain_is_deleted_all_the_same() {
        let fx = fixture().await;
        let cleaning = fx.add(OLD, DAY, Stage::DeleteOnTwilio).await;
        fx.library.delete(&cleaning, &host()).await.unwrap();
        assert!(fx.bucket.is_empty(), "our copy is deleted");
        assert!(matches!(
            fx.library.find(OLD, None).await,
            Err(LibraryError::NotFound)
        ));
        assert!(fx.library.list(None).await.unwrap().is_empty());
        let kept = fx.catalog.get(OLD).await.unwrap().unwrap();
        assert!(kept.discarded && kept.object_key.is_none(), "{kept:?}");
        assert_eq!(kept.stage, Stage::DeleteOnTwilio, "its job goes on");
        // Still seen by what finds unfinished jobs (the pipeline's reconciliation).
        assert_eq!(fx.catalog.list(None).await.unwrap(), [kept]);
        // Deleted again from a stale copy (a retention sweep and a host at once): the
        // record stays for its job, which deletes Twilio's copies.
        fx.library.delete(&cleaning, &host()).await.unwrap();
        assert!(fx.catalog.get(OLD).await.unwrap().is_some());
        assert!(
            fx.audit_lines()
                .await
                .contains("Twilio's copies not deleted yet")
        );

        // Retention: past the room's ten days, the same.
        fx.add(NEW, DAY * 11, Stage::DeleteOnTwilio).await;
        assert_eq!(fx.library.expire().await.unwrap(), 1);
        assert!(fx.bucket.is_empty());
        assert!(fx.catalog.get(NEW).await.unwrap().unwrap().discarded);

        // Not while a step of its job runs (it holds the claim).
        let held = fx.add(BUSY, DAY, Stage::DeleteOnTwilio).await;
        fx.store
            .put(&claim_key(BUSY), b"worker", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(matches!(
            fx.library.delete(&held, &host()).await,
            Err(LibraryError::Busy)
        ));
        assert!(!fx.bucket.is_empty());
    }

    /// A job still looking for a room's recordings, none found yet, is no recording
    /// to show hosts (every room that ends had one "processing" for minutes); once it
    /// finds some, or looking fails, it is.
    #[tokio::test]
    async fn a_room_with_no_recordings_found_yet_is_not_listed() {
        let fx = fixture().await;
        let looking = fx.add(OLD, DAY, Stage::Compose).await;
        assert!(fx.library.list(None).await.unwrap().is_empty());
        let mut found = looking.clone();
        found.track_sids = vec!["RT00000000000000000000000000000001".into()];
        fx.catalog.save(&found, DAY * 10, false).await.unwrap();
        assert_eq!(fx.library.list(None).await.unwrap(), [found]);
        let mut failing = looking;
        failing.last_error = Some("listing the room's recordings: 401".into());
        fx.catalog.save(&failing, DAY * 10, false).await.unwrap();
        assert_eq!(fx.library.list(None).await.unwrap(), [failing]);
    }

    /// A record this build can't read is left out, not the end of every listing (and
    /// of retention, and of the jobs' reconciliation, which list the same way).
    #[tokio::test]
    async fn one_unreadable_record_leaves_the_others_listed_and_expired() {
        let fx = fixture().await;
        fx.add(OLD, DAY * 11, Stage::Stored).await;
        fx.add(NEW, DAY, Stage::Stored).await;
        fx.store
            .put(&format!("recording:{NEW}"), b"{\"id\": 7", DAY)
            .await
            .unwrap();
        let listed = fx.listed().await;
        assert_eq!(listed, [OLD]);
        assert_eq!(fx.library.expire().await.unwrap(), 1);
    }

    #[test]
    fn texts_for_the_page() {
        assert_eq!(duration_text(3723), "1:02:03");
        assert_eq!(duration_text(59), "0:59");
        assert_eq!(size_text(999), "999 B");
        assert_eq!(size_text(12_345_678), "12.3 MB");
        let room = RoomName::parse("standup").unwrap();
        let rec = Recording::new(
            OLD,
            &room,
            std::time::UNIX_EPOCH + Duration::from_secs(1_796_503_271),
        );
        assert_eq!(file_name(&rec), "standup-2026-12-05-2041.mp4");
        assert_eq!(ended_text(&rec), "2026-12-05 20:41 UTC");
    }
}
