//! Whom the list let go of, remembered for as long as a session can last. A session
//! signed in before the list took its user away (or took away the room it is for, or
//! gave the user another number) stays ended when the list gives them back: without
//! this, removing a user and adding them again brought back every cookie of theirs,
//! a copied one included, since the cookie is only checked against the list in
//! service. A departure ends the sessions signed in until it is recorded, to the
//! millisecond (`Grant::verified_ms`); one approved in the instant between the record
//! and the new list going into service (at most 2 s, usually well under a
//! millisecond) is not ended.
//!
//! Recorded before the list that drops them goes into service (the reload waits for
//! it, at most 2 s; see `startup`), by one writer per instance ([`Recorder`]) that
//! tries again while the store refuses. Once they are, the list itself is kept in the
//! store as [`Members`] (numbers as keyed fingerprints), and each start compares the
//! list it puts in service with it: a change made while no instance ran, or one whose
//! departures the store refused until the instance stopped, is recorded then.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::Acl;
use crate::domain::{RoomPattern, Username};
use crate::passkeys::PhoneKey;
use crate::session::Grant;
use crate::store::{Store, StoreError, until_done};

/// No session lives longer, so none signed in before a departure outlives its record.
const KEPT: Duration = crate::config::MAX_SESSION_TTL;

fn key(user: &Username) -> String {
    format!("acl-left:{user}")
}

/// What a user lost in one change of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Departure {
    pub user: Username,
    /// The room patterns taken away; `None`: every room (the user left the list, or
    /// has another number).
    pub rooms: Option<Vec<RoomPattern>>,
}

/// Where the list last put in service is kept, as [`Members`] in postcard's encoding.
/// postcard doesn't describe itself, so the key names the layout: any change to
/// `Members` takes a new version here (the old key then reads as no list kept).
const MEMBERS_KEY: &str = "acl-in-service:v1";
/// The kept list is replaced at every start and every change, so one key, never
/// growing; it must outlive any stretch without either, which sessions don't bound.
const MEMBERS_KEPT: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A list as departures are judged: each user's number (a keyed fingerprint, never
/// the number) and room patterns. Kept in the store for the next start to compare
/// with: about 20 bytes a user.
#[derive(Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    /// Each distinct list of room patterns once: users mostly share them.
    rooms: Vec<Vec<String>>,
    /// Per user: their number's [`PhoneKey::short_fingerprint`], and where their
    /// rooms are in `rooms`.
    users: BTreeMap<String, (u32, u32)>,
}

impl Members {
    /// `acl`'s users. A list of 100,000 takes a few tens of milliseconds (a keyed
    /// hash per number): call it off the async runtime.
    pub fn of(acl: &Acl, phones: &PhoneKey) -> Self {
        let mut rooms: Vec<Vec<String>> = Vec::new();
        let mut index: std::collections::HashMap<Vec<String>, u32> =
            std::collections::HashMap::new();
        let users = acl
            .users()
            .map(|(name, user)| {
                let patterns: Vec<String> = user.rooms.iter().map(ToString::to_string).collect();
                let at = *index.entry(patterns).or_insert_with_key(|patterns| {
                    rooms.push(patterns.clone());
                    u32::try_from(rooms.len() - 1).expect("fewer room lists than users")
                });
                let phone = phones.short_fingerprint(&user.phone);
                (name.as_str().to_owned(), (phone, at))
            })
            .collect();
        Self { rooms, users }
    }

    fn rooms_of(&self, at: u32) -> &[String] {
        self.rooms.get(at as usize).map_or(&[], Vec::as_slice)
    }
}

/// The users `new` takes something from that `old` gave them: gone, renumbered, or
/// with a room pattern fewer. A list of 100,000 users takes a few milliseconds: call
/// it off the async runtime.
pub fn between(old: &Members, new: &Members) -> Vec<Departure> {
    old.users
        .iter()
        .filter_map(|(name, &(was_phone, was_rooms))| {
            // A name kept that no longer reads can't sign in: nothing to end.
            let user = Username::parse(name).ok()?;
            let rooms = match new.users.get(name) {
                Some(&(phone, rooms)) if phone == was_phone => {
                    let now = new.rooms_of(rooms);
                    // Every room still (`acl revoke` of a room from a user who also
                    // has `*` leaves them `*`): nothing lost. (The other way, `*`
                    // narrowed to some rooms, ends every room's sessions, those kept
                    // too: one record can't say "all but these"; sooner, never later.)
                    if now.iter().any(|pattern| pattern == "*") {
                        return None;
                    }
                    let lost: Vec<&String> = old
                        .rooms_of(was_rooms)
                        .iter()
                        .filter(|pattern| !now.contains(pattern))
                        .collect();
                    if lost.is_empty() {
                        return None;
                    }
                    // A pattern kept that no longer reads: every room, in doubt.
                    lost.into_iter()
                        .map(|p| RoomPattern::parse(p).ok())
                        .collect::<Option<Vec<_>>>()
                }
                _ => None,
            };
            Some(Departure { user, rooms })
        })
        .collect()
}

/// One departure as kept in the store (a user's are a list): sessions of the user
/// signed in at or before `before_ms` (Unix milliseconds) are ended, for the rooms
/// `rooms` matches (all of them if absent).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Kept {
    before_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<Vec<String>>,
}

impl Kept {
    fn ends(&self, grant: &Grant) -> bool {
        // A grant from before `verified_ms` was kept is placed at the start of its
        // second: ended by a departure in that second, sooner rather than later.
        let signed_in = grant
            .verified_ms
            .unwrap_or(grant.verified_at.saturating_mul(1000));
        signed_in <= self.before_ms
            && self.rooms.as_ref().is_none_or(|rooms| {
                // A pattern that no longer reads ends the session: in doubt, sign in.
                rooms.iter().any(|pattern| {
                    RoomPattern::parse(pattern).map_or(true, |p| p.matches(&grant.room))
                })
            })
    }

    /// The same as `other` or covered by it: all it ends, `other` ends too.
    fn covered_by(&self, other: &Kept) -> bool {
        self.before_ms <= other.before_ms
            && match (&self.rooms, &other.rooms) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(mine), Some(theirs)) => mine.iter().all(|room| theirs.contains(room)),
            }
    }

    /// One record that ends what `self` and `other` end: the later time and the
    /// rooms of both. It ends more than the two (a session signed in between them,
    /// for a room only the earlier took), so it is only made when a user has too
    /// many: sooner than needed, never later.
    fn joined(self, other: Kept) -> Kept {
        let rooms = match (self.rooms, other.rooms) {
            (Some(mut mine), Some(theirs)) => {
                for room in theirs {
                    if !mine.contains(&room) {
                        mine.push(room);
                    }
                }
                Some(mine)
            }
            _ => None,
        };
        Kept {
            before_ms: self.before_ms.max(other.before_ms),
            rooms,
        }
    }
}

/// A user's departures kept at most; past it the two oldest are joined.
const PER_USER: usize = 8;

/// `earlier` with `kept` added: the ones it covers go, and past [`PER_USER`] the
/// oldest two become one.
fn add(mut earlier: Vec<Kept>, kept: Kept) -> Vec<Kept> {
    // Past their 30 days: no session from before them is left.
    let kept_ms = u64::try_from(KEPT.as_millis()).unwrap_or(u64::MAX);
    earlier.retain(|e| e.before_ms.saturating_add(kept_ms) >= kept.before_ms);
    if earlier.iter().any(|e| kept.covered_by(e)) {
        return earlier;
    }
    earlier.retain(|e| !e.covered_by(&kept));
    earlier.push(kept);
    earlier.sort_by_key(|k| k.before_ms);
    while earlier.len() > PER_USER {
        let oldest = earlier.remove(0);
        let next = earlier.remove(0);
        earlier.insert(0, oldest.joined(next));
    }
    earlier
}

/// Departures written at once, at most.
const IN_FLIGHT: usize = 32;

/// `departures` on record, ending the sessions signed in up to `until`, each added
/// to its user's list. Writing one again changes nothing, so a failed
/// call may simply be made again.
pub async fn record(
    store: &dyn Store,
    departures: &[Departure],
    until: SystemTime,
) -> Result<(), StoreError> {
    let before_ms = crate::store::unix_ms(until);
    // Made first, then run: a stream that maps as it goes borrows in a way the
    // spawned task's `Send` bound can't be proven for.
    let writes: Vec<_> = departures
        .iter()
        .map(|departure| record_one(store, departure, before_ms))
        .collect();
    let mut writes = futures_util::stream::iter(writes).buffer_unordered(IN_FLIGHT);
    let mut outcome = Ok(());
    while let Some(written) = writes.next().await {
        if let Err(e) = written {
            outcome = Err(e);
        }
    }
    outcome
}

/// Tries at adding a departure to a user's list while other instances change it
/// too. Each lost race means another write landed, and instances write one
/// departure at a time each, so this many in a row takes a flood no host makes; the
/// writer then tries again later, as when the store refuses.
const RACES: usize = 16;

/// One departure added to its user's list. The list is replaced only if it still
/// holds what was read ([`Store::put_if`]): another instance recording a departure
/// of the same user at the same moment (a reload on one while another starts) can't
/// overwrite this one, nor this one theirs.
async fn record_one(
    store: &dyn Store,
    departure: &Departure,
    before_ms: u64,
) -> Result<(), StoreError> {
    let key = key(&departure.user);
    let kept = Kept {
        before_ms,
        rooms: departure
            .rooms
            .as_ref()
            .map(|rooms| rooms.iter().map(ToString::to_string).collect()),
    };
    for _ in 0..RACES {
        let held = store.get(&key).await?;
        // One that doesn't read is kept as ending everything until now.
        let earlier = match &held {
            Some(bytes) => read(bytes).unwrap_or_else(|| {
                vec![Kept {
                    before_ms,
                    rooms: None,
                }]
            }),
            None => Vec::new(),
        };
        let value = serde_json::to_vec(&add(earlier, kept.clone())).expect("departures serialise");
        if store.put_if(&key, held.as_deref(), &value, KEPT).await? {
            return Ok(());
        }
    }
    Err(StoreError::unavailable(
        store.backend(),
        format!("{key} changed by others {RACES} times in a row"),
    ))
}

/// A user's departures as the store holds them.
fn read(bytes: &[u8]) -> Option<Vec<Kept>> {
    serde_json::from_slice(bytes).ok()
}

/// Whom one list going into service drops.
enum Dropped {
    /// Worked out already (a change while running: the list before is at hand).
    Known(Vec<Departure>),
    /// The list a start put in service, to compare with the one the store kept.
    SinceKept(Members),
}

/// One list going into service: whom it drops, the sessions that ends (signed in
/// until then), its place in the order of lists, and who waits for the departures
/// to be on record.
struct Job {
    dropped: Dropped,
    until: SystemTime,
    seq: u64,
    done: oneshot::Sender<()>,
}

/// The instance's one writer of departures. Changes are written in the order the list
/// made them, one after another, so two can't each read a user's list and overwrite
/// the other's; one the store refuses is tried again, and those after it wait. Each
/// list is kept ([`Members`]) for the next start to compare with once the departures
/// before it are on record, by a keeper of its own: the latest list only, so a store
/// that refuses for a while holds neither the departures nor a queue of lists. Cheap
/// to clone. Its queue is unbounded, as what fills it is bounded: changes to the list,
/// which hosts make, a reload at a time, each with the users it drops.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::UnboundedSender<Job>,
    keeper: Arc<Keeper>,
}

impl Recorder {
    /// The writer and the keeper, as tasks on the current runtime.
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let keeper = Arc::new(Keeper::default());
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        tokio::spawn({
            let (store, keeper) = (store.clone(), keeper.clone());
            async move {
                while let Some(job) = queue.recv().await {
                    run(&store, &keeper, job).await;
                }
            }
        });
        tokio::spawn(keep(store, keeper.clone()));
        Self { jobs, keeper }
    }

    /// The list a start put in service, `members`, compared with the one the store
    /// kept: whom it dropped meanwhile is recorded as ending the sessions signed in
    /// until `until`. The receiver hears once they are on record.
    pub fn started(&self, members: Members, until: SystemTime) -> oneshot::Receiver<()> {
        let seq = self.keeper.next();
        self.queue(Dropped::SinceKept(members), until, seq)
    }

    /// `after` going into service in place of `before`: whom it drops is recorded as
    /// ending the sessions signed in until `until`. The receiver hears once they are
    /// on record. Compares the two lists: call it off the async runtime.
    pub fn changed(
        &self,
        before: &Members,
        after: Members,
        until: SystemTime,
    ) -> oneshot::Receiver<()> {
        let gone = between(before, &after);
        let seq = self.keeper.next();
        self.keeper.offer(seq, after);
        self.queue(Dropped::Known(gone), until, seq)
    }

    fn queue(&self, dropped: Dropped, until: SystemTime, seq: u64) -> oneshot::Receiver<()> {
        let (done, recorded) = oneshot::channel();
        // The writer only stops with the runtime.
        let _ = self.jobs.send(Job {
            dropped,
            until,
            seq,
            done,
        });
        recorded
    }
}

/// One job's departures recorded, tried again every few seconds until the store takes
/// them (the list is in service by then, and a departure lost would let its sessions
/// back); then its list may be kept.
async fn run(store: &Arc<dyn Store>, keeper: &Keeper, job: Job) {
    let Job {
        dropped,
        until,
        seq,
        done,
    } = job;
    let gone = match dropped {
        Dropped::Known(gone) => gone,
        Dropped::SinceKept(members) => {
            let before = until_done(
                || kept(store),
                "the ACL kept at the last change is not read yet: changes made while stopped wait to be compared",
                "the ACL kept at the last change is read",
            )
            .await;
            // Off the runtime: a large list takes milliseconds to compare.
            let (gone, members) = tokio::task::spawn_blocking(move || {
                let gone = match &before {
                    KeptList::List(before) => between(before, &members),
                    KeptList::Nothing => Vec::new(),
                    // In doubt, sign in again: everyone's sessions from before end.
                    KeptList::Unreadable => everyone(&members),
                };
                drop(before);
                (gone, members)
            })
            .await
            .expect("comparing lists doesn't panic");
            keeper.offer(seq, members);
            gone
        }
    };
    if !gone.is_empty() {
        until_done(
            || record(&**store, &gone, until),
            "users the ACL change drops are not on record yet: their earlier sessions would come back if they were listed again",
            "users the ACL change dropped are on record now",
        )
        .await;
    }
    keeper.recorded(seq);
    let _ = done.send(());
}

/// Every user of `members`, in every room.
fn everyone(members: &Members) -> Vec<Departure> {
    members
        .users
        .keys()
        .filter_map(|name| Username::parse(name).ok())
        .map(|user| Departure { user, rooms: None })
        .collect()
}

/// The list the store kept, as the next start finds it.
#[derive(Debug, PartialEq, Eq)]
enum KeptList {
    /// None: a first start (or one after ten years without any).
    Nothing,
    List(Members),
    /// There, but not in this version's layout, or damaged.
    Unreadable,
}

async fn kept(store: &Arc<dyn Store>) -> Result<KeptList, StoreError> {
    let Some(bytes) = store.get(MEMBERS_KEY).await? else {
        return Ok(KeptList::Nothing);
    };
    let members = tokio::task::spawn_blocking(move || postcard::from_bytes::<Members>(&bytes))
        .await
        .expect("decoding doesn't panic");
    Ok(match members {
        Ok(members) => KeptList::List(members),
        Err(e) => {
            tracing::error!(error = %e, "the ACL kept at the last change doesn't read: every session signed in before this start is ended");
            KeptList::Unreadable
        }
    })
}

/// The latest list to keep, and how far the departures before it are on record.
#[derive(Default)]
struct Keeper {
    state: std::sync::Mutex<KeeperState>,
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct KeeperState {
    /// Lists numbered so far, in the order they went into service.
    numbered: u64,
    /// The latest list offered, with its number.
    latest: Option<(u64, Members)>,
    /// The lists whose departures are on record, up to this number.
    recorded: u64,
    /// The number of the last list handed out to be kept: one offered later with a
    /// number up to it is older.
    taken: u64,
}

impl Keeper {
    fn lock(&self) -> std::sync::MutexGuard<'_, KeeperState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next(&self) -> u64 {
        let mut state = self.lock();
        state.numbered += 1;
        state.numbered
    }

    /// `members`, list number `seq`, to keep unless a later one was offered.
    fn offer(&self, seq: u64, members: Members) {
        let mut state = self.lock();
        if seq > state.taken && state.latest.as_ref().is_none_or(|(at, _)| *at < seq) {
            state.latest = Some((seq, members));
        }
        drop(state);
        self.wake.notify_one();
    }

    fn recorded(&self, seq: u64) {
        let mut state = self.lock();
        state.recorded = state.recorded.max(seq);
        drop(state);
        self.wake.notify_one();
    }

    /// The latest list, once the departures up to it are on record.
    fn ready(&self) -> Option<Members> {
        let mut state = self.lock();
        match state.latest.take() {
            Some((seq, members)) if seq <= state.recorded => {
                state.taken = seq;
                Some(members)
            }
            not_yet => {
                state.latest = not_yet;
                None
            }
        }
    }
}

/// Keeps each list the keeper has ready, the latest first, trying again every few
/// seconds while the store refuses.
async fn keep(store: Arc<dyn Store>, keeper: Arc<Keeper>) {
    loop {
        let Some(members) = keeper.ready() else {
            keeper.wake.notified().await;
            continue;
        };
        let encoded = tokio::task::spawn_blocking(move || {
            let encoded = postcard::to_allocvec(&members).expect("members serialise");
            drop(members);
            crate::memory::release_freed();
            encoded
        })
        .await
        .expect("encoding doesn't panic");
        until_done(
            || store.put(MEMBERS_KEY, &encoded, MEMBERS_KEPT),
            "the ACL in service is not kept yet: a change made before the next start would go uncompared",
            "the ACL in service is kept",
        )
        .await;
        // A large list's copy (megabytes) goes back to the system, not kept for
        // reuse; off the runtime, as collecting takes about a millisecond.
        let _ = tokio::task::spawn_blocking(move || {
            drop(encoded);
            crate::memory::release_freed();
        })
        .await;
    }
}

/// Whether the list took `grant`'s user (or its room) away since it was signed in.
pub async fn ended(store: &dyn Store, grant: &Grant) -> Result<bool, StoreError> {
    let Some(bytes) = store.get(&key(&grant.username)).await? else {
        return Ok(false);
    };
    // One that doesn't read ends every session of the user (in doubt, sign in again)
    // until a departure is recorded over it.
    Ok(read(&bytes).is_none_or(|kept| kept.iter().any(|k| k.ends(grant))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RoomName;
    use crate::store::memory::MemoryStore;

    use super::super::tests::{SAMPLE, sample, user};

    fn acl(text: &str) -> Acl {
        Acl::parse("test.toml", text).unwrap()
    }

    fn of(acl: &Acl) -> Members {
        Members::of(acl, &PhoneKey::new(b"test key"))
    }

    /// Whether the store comes to keep `expected` (the keeper writes in the
    /// background: a few turns of paused time).
    async fn keeps(store: &Arc<dyn Store>, expected: &Members) -> bool {
        for _ in 0..100 {
            if matches!(kept(store).await, Ok(KeptList::List(m)) if &m == expected) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// A list of `(name, number's fingerprint, rooms)`.
    fn members(users: &[(&str, u32, &[&str])]) -> Members {
        let mut members = Members::default();
        for (name, phone, rooms) in users {
            members
                .rooms
                .push(rooms.iter().map(ToString::to_string).collect());
            let at = u32::try_from(members.rooms.len() - 1).unwrap();
            members.users.insert((*name).to_owned(), (*phone, at));
        }
        members
    }

    fn grant(name: &str, room: &str, verified_at: u64) -> Grant {
        Grant {
            username: user(name),
            room: RoomName::parse(room).unwrap(),
            verified_at,
            phone: None,
            passkey: None,
            expires_at: None,
            verified_ms: None,
        }
    }

    fn at(secs: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_departure_is_a_user_gone_renumbered_or_with_a_room_less() {
        let old = sample();
        let without_alice: String = SAMPLE
            .split("\n\n")
            .filter(|block| !block.contains("[users.alice]"))
            .collect::<Vec<_>>()
            .join("\n\n");
        let new = acl(&without_alice
            .replace("+447400123456", "+447400123457")
            .replace(r#"rooms = ["standup"]"#, r#"rooms = ["standup", "lobby"]"#));
        assert_eq!(
            between(&of(&old), &of(&new)),
            [
                Departure {
                    user: user("alice"),
                    rooms: None
                },
                Departure {
                    user: user("bob"),
                    rooms: None
                },
            ],
            "carol only gained a room"
        );
        let narrowed = acl(&SAMPLE.replace(r#"["standup", "all-hands"]"#, r#"["standup"]"#));
        assert_eq!(
            between(&of(&old), &of(&narrowed)),
            [Departure {
                user: user("alice"),
                rooms: Some(vec![RoomPattern::parse("all-hands").unwrap()]),
            }]
        );
        assert_eq!(between(&of(&old), &of(&old)), []);
    }

    /// Ended: sessions from before, for the rooms taken (all of them when the user
    /// left); not those signed in after, nor for a room kept, nor anyone else's.
    #[tokio::test]
    async fn sessions_from_before_a_departure_end_and_later_ones_hold() {
        let store = MemoryStore::new();
        let all_hands = Departure {
            user: user("alice"),
            rooms: Some(vec![RoomPattern::parse("all-hands").unwrap()]),
        };
        record(&store, &[all_hands], at(1_000)).await.unwrap();
        assert!(
            ended(&store, &grant("alice", "all-hands", 999))
                .await
                .unwrap()
        );
        assert!(
            ended(&store, &grant("alice", "all-hands", 1_000))
                .await
                .unwrap()
        );
        assert!(
            !ended(&store, &grant("alice", "all-hands", 1_001))
                .await
                .unwrap()
        );
        assert!(
            !ended(&store, &grant("alice", "standup", 999))
                .await
                .unwrap()
        );
        assert!(
            !ended(&store, &grant("bob", "all-hands", 999))
                .await
                .unwrap()
        );

        // Then off the list: every room, up to the later time.
        let gone = Departure {
            user: user("alice"),
            rooms: None,
        };
        record(&store, &[gone], at(2_000)).await.unwrap();
        assert!(
            ended(&store, &grant("alice", "standup", 1_500))
                .await
                .unwrap()
        );
        assert!(
            ended(&store, &grant("alice", "all-hands", 1_500))
                .await
                .unwrap()
        );
        assert!(
            !ended(&store, &grant("alice", "standup", 2_001))
                .await
                .unwrap()
        );
    }

    /// Each departure ends what it ends, no more: a session signed in between two,
    /// for a room only the first took, holds. A later one that covers an earlier
    /// replaces it, and past eight the oldest two are joined (ending more, never
    /// less).
    #[tokio::test]
    async fn departures_are_kept_apart_up_to_eight() {
        let store = MemoryStore::new();
        let took = |room: &str| Departure {
            user: user("bob"),
            rooms: Some(vec![RoomPattern::parse(room).unwrap()]),
        };
        record(&store, &[took("standup")], at(1_000)).await.unwrap();
        record(&store, &[took("lobby")], at(2_000)).await.unwrap();
        assert!(ended(&store, &grant("bob", "standup", 900)).await.unwrap());
        assert!(
            !ended(&store, &grant("bob", "standup", 1_500))
                .await
                .unwrap()
        );
        assert!(ended(&store, &grant("bob", "lobby", 1_500)).await.unwrap());
        assert!(
            !ended(&store, &grant("bob", "all-hands", 1_500))
                .await
                .unwrap()
        );

        // Off the list later: covers both.
        let gone = Departure {
            user: user("bob"),
            rooms: None,
        };
        record(&store, &[gone], at(3_000)).await.unwrap();
        let kept: Vec<serde_json::Value> =
            serde_json::from_slice(&store.get(&key(&user("bob"))).await.unwrap().unwrap()).unwrap();
        assert_eq!(kept, [serde_json::json!({"before_ms": 3_000_000})]);

        let many = (0..20u64).map(|i| Kept {
            before_ms: 4_000 + i,
            rooms: Some(vec![format!("room-{i}")]),
        });
        let kept = many.fold(Vec::new(), add);
        assert_eq!(kept.len(), PER_USER);
        let joined = &kept[0];
        assert_eq!(joined.before_ms, 4_012);
        assert_eq!(joined.rooms.as_ref().unwrap().len(), 13);
        assert!(
            kept[1..]
                .iter()
                .all(|k| k.rooms.as_ref().unwrap().len() == 1)
        );
    }

    /// A store that refuses the writes is asked again until it takes them; and two
    /// changes queued at once, for one user, are written one after the other, so
    /// neither overwrites the other (on a store with a round trip, where each would
    /// read the user's list before the other wrote it).
    #[tokio::test(start_paused = true)]
    async fn the_writer_tries_again_and_keeps_changes_apart() {
        let store = Arc::new(MemoryStore::new().with_round_trip(Duration::from_millis(10)));
        let bob = |rooms: &[&str]| members(&[("bob", 1, rooms)]);
        store.refuse_next(3);
        let recorder = Recorder::spawn(store.clone());
        let first = recorder.changed(
            &bob(&["standup", "lobby", "all-hands"]),
            bob(&["lobby", "all-hands"]),
            at(1_000),
        );
        let second = recorder.changed(
            &bob(&["lobby", "all-hands"]),
            bob(&["all-hands"]),
            at(1_000),
        );
        first.await.unwrap();
        second.await.unwrap();
        assert!(ended(&*store, &grant("bob", "standup", 900)).await.unwrap());
        assert!(ended(&*store, &grant("bob", "lobby", 900)).await.unwrap());
        assert!(
            !ended(&*store, &grant("bob", "all-hands", 900))
                .await
                .unwrap()
        );
        assert!(keeps(&(store as Arc<dyn Store>), &bob(&["all-hands"])).await);
    }

    /// A room taken from a user who keeps `*` (what `acl revoke` leaves) is no
    /// departure: they may still join it, and their sessions for it hold.
    #[test]
    fn a_room_taken_from_a_user_who_keeps_every_room_is_no_departure() {
        let old = members(&[("bob", 1, &["standup", "*"])]);
        assert_eq!(between(&old, &members(&[("bob", 1, &["*"])])), []);
        let narrowed = between(&old, &members(&[("bob", 1, &["standup"])]));
        assert_eq!(narrowed.len(), 1);
        assert_eq!(
            narrowed[0].rooms,
            Some(vec![RoomPattern::parse("*").unwrap()])
        );
    }

    /// Two instances recording a departure of the same user at once (one reloads as
    /// the other starts), each reading the user's list before the other writes it:
    /// both departures are kept, the second to write reading again. Without the
    /// conditional write, one overwrote the other and its sessions held.
    #[tokio::test(start_paused = true)]
    async fn two_instances_recording_one_users_departures_keep_both() {
        let store = MemoryStore::new().with_round_trip(Duration::from_millis(10));
        let took = |room: &str| Departure {
            user: user("bob"),
            rooms: Some(vec![RoomPattern::parse(room).unwrap()]),
        };
        let (standup, lobby) = ([took("standup")], [took("lobby")]);
        let (one, other) = tokio::join!(
            record(&store, &standup, at(1_000)),
            record(&store, &lobby, at(1_000)),
        );
        one.unwrap();
        other.unwrap();
        assert!(ended(&store, &grant("bob", "standup", 900)).await.unwrap());
        assert!(ended(&store, &grant("bob", "lobby", 900)).await.unwrap());
        assert!(
            !ended(&store, &grant("bob", "all-hands", 900))
                .await
                .unwrap()
        );
    }

    /// A start compares the list it puts in service with the one the last change
    /// kept: whom it dropped while no instance ran (alice, renumbered; carol, gone;
    /// bob's lobby) is recorded, as ending the sessions signed in until the start, and
    /// the new list is kept for the next. The first start has nothing to compare.
    #[tokio::test(start_paused = true)]
    async fn a_start_records_whom_the_list_dropped_while_stopped() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let before = members(&[
            ("alice", 1, &["standup"]),
            ("bob", 2, &["standup", "lobby"]),
            ("carol", 3, &["*"]),
        ]);
        let first = || members(&[("alice", 1, &["standup"])]);
        Recorder::spawn(store.clone())
            .started(first(), at(500))
            .await
            .unwrap();
        assert!(
            !ended(&*store, &grant("alice", "standup", 400))
                .await
                .unwrap()
        );
        // That start's keeper done (it writes after the departures are in), so it
        // can't overwrite the list put below, or the next start's.
        assert!(keeps(&store, &first()).await);
        store
            .put(
                MEMBERS_KEY,
                &postcard::to_allocvec(&before).unwrap(),
                MEMBERS_KEPT,
            )
            .await
            .unwrap();

        let after = members(&[("alice", 9, &["standup"]), ("bob", 2, &["standup"])]);
        Recorder::spawn(store.clone())
            .started(after, at(1_000))
            .await
            .unwrap();
        for (who, room) in [("alice", "standup"), ("bob", "lobby"), ("carol", "lobby")] {
            assert!(
                ended(&*store, &grant(who, room, 999)).await.unwrap(),
                "{who} {room}"
            );
            assert!(
                !ended(&*store, &grant(who, room, 1_001)).await.unwrap(),
                "{who} {room}"
            );
        }
        assert!(
            !ended(&*store, &grant("bob", "standup", 999)).await.unwrap(),
            "bob kept standup"
        );
        assert!(
            keeps(
                &store,
                &members(&[("alice", 9, &["standup"]), ("bob", 2, &["standup"])])
            )
            .await
        );
    }

    /// A kept list that doesn't read (damaged, or another version's layout) ends the
    /// sessions of everyone on the list from before the start (in doubt, sign in
    /// again), and is replaced.
    #[tokio::test(start_paused = true)]
    async fn an_unreadable_kept_list_ends_every_session_from_before_and_is_replaced() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store
            .put(MEMBERS_KEY, b"\xff\xff\xff", MEMBERS_KEPT)
            .await
            .unwrap();
        let now = || members(&[("bob", 2, &["standup"])]);
        Recorder::spawn(store.clone())
            .started(now(), at(1_000))
            .await
            .unwrap();
        assert!(ended(&*store, &grant("bob", "standup", 999)).await.unwrap());
        assert!(
            !ended(&*store, &grant("bob", "standup", 1_001))
                .await
                .unwrap()
        );
        assert!(keeps(&store, &now()).await);
    }

    /// A store that refuses for a while holds one list to keep, the latest, and keeps
    /// it only once the departures before it are on record.
    #[tokio::test(start_paused = true)]
    async fn the_latest_list_is_kept_after_its_departures() {
        let store = Arc::new(MemoryStore::new());
        let dyn_store: Arc<dyn Store> = store.clone();
        let bob = |rooms: &[&str]| members(&[("bob", 1, rooms)]);
        // Each try of the first departure fails for the next 12 s.
        store.refuse_next(3);
        let recorder = Recorder::spawn(dyn_store.clone());
        let first = recorder.changed(&bob(&["standup", "lobby"]), bob(&["lobby"]), at(1_000));
        let second = recorder.changed(&bob(&["lobby"]), bob(&["hall"]), at(2_000));
        let held = || recorder.keeper.lock().latest.as_ref().map(|(seq, _)| *seq);
        assert_eq!(held(), Some(2), "only the latest list is held");
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert_eq!(held(), Some(2), "not kept while its departures wait");
        first.await.unwrap();
        second.await.unwrap();
        assert!(ended(&*store, &grant("bob", "lobby", 1_500)).await.unwrap());
        assert!(keeps(&dyn_store, &bob(&["hall"])).await);
    }

    /// A reload right after the start, before the start's comparison has read the
    /// list kept: the reload's list is the one kept in the end, not the start's.
    #[tokio::test(start_paused = true)]
    async fn a_reload_during_the_starts_comparison_is_the_list_kept() {
        let store: Arc<dyn Store> =
            Arc::new(MemoryStore::new().with_round_trip(Duration::from_millis(10)));
        let at_start = || members(&[("bob", 1, &["standup", "lobby"])]);
        let reloaded = || members(&[("bob", 1, &["standup"])]);
        let recorder = Recorder::spawn(store.clone());
        let started = recorder.started(at_start(), at(1_000));
        let changed = recorder.changed(&at_start(), reloaded(), at(1_001));
        started.await.unwrap();
        changed.await.unwrap();
        assert!(keeps(&store, &reloaded()).await);
        assert!(ended(&*store, &grant("bob", "lobby", 1_000)).await.unwrap());
    }

    /// To the millisecond: a session signed in just after a departure, in the same
    /// second, holds; one just before it doesn't. A grant from before the
    /// milliseconds were kept counts from the start of its second.
    #[tokio::test]
    async fn a_departure_and_a_sign_in_in_one_second_are_told_apart() {
        let store = MemoryStore::new();
        let gone = Departure {
            user: user("bob"),
            rooms: None,
        };
        let departed = at(1_000) + Duration::from_millis(400);
        record(&store, &[gone], departed).await.unwrap();
        let signed_in = |ms: u64| Grant {
            verified_ms: Some(1_000_000 + ms),
            ..grant("bob", "standup", 1_000)
        };
        assert!(ended(&store, &signed_in(399)).await.unwrap());
        assert!(ended(&store, &signed_in(400)).await.unwrap());
        assert!(!ended(&store, &signed_in(401)).await.unwrap());
        assert!(
            ended(&store, &grant("bob", "standup", 1_000))
                .await
                .unwrap()
        );
    }

    /// A record that doesn't read ends the user's sessions (in doubt, sign in again)
    /// until a departure is recorded over it.
    #[tokio::test]
    async fn an_unreadable_record_ends_sessions_until_one_is_recorded_over_it() {
        let store = MemoryStore::new();
        store
            .put(&key(&user("bob")), b"not json", KEPT)
            .await
            .unwrap();
        assert!(
            ended(&store, &grant("bob", "standup", 5_000))
                .await
                .unwrap()
        );
        let took = Departure {
            user: user("bob"),
            rooms: Some(vec![RoomPattern::parse("lobby").unwrap()]),
        };
        record(&store, &[took], at(6_000)).await.unwrap();
        assert!(
            !ended(&store, &grant("bob", "standup", 6_001))
                .await
                .unwrap()
        );
    }
}
