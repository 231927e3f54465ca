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
//! tries again while the store refuses. A stop while the store refuses, or a change
//! made while no instance was running, is not recorded: no list is kept to compare
//! with.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::Acl;
use crate::domain::{RoomPattern, Username};
use crate::session::Grant;
use crate::store::{Store, StoreError};

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

/// The users `new` takes something from that `old` gave them. A list of 100,000
/// users takes a few milliseconds: call it off the async runtime.
pub fn between(old: &Acl, new: &Acl) -> Vec<Departure> {
    old.users()
        .filter_map(|(name, was)| {
            let rooms = match new.user(name) {
                Some(now) if now.phone == was.phone => {
                    let lost: Vec<RoomPattern> = was
                        .rooms
                        .iter()
                        .filter(|pattern| !now.rooms.contains(pattern))
                        .cloned()
                        .collect();
                    if lost.is_empty() {
                        return None;
                    }
                    Some(lost)
                }
                _ => None,
            };
            Some(Departure {
                user: name.clone(),
                rooms,
            })
        })
        .collect()
}

/// One departure as kept in the store (a user's are a list): sessions of the user
/// signed in at or before `before_ms` (Unix milliseconds) are ended, for the rooms
/// `rooms` matches (all of them if absent).
#[derive(Debug, Serialize, Deserialize)]
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
/// Between tries of departures the store refused.
const RETRY: Duration = Duration::from_secs(5);

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

/// One departure added to its user's list.
async fn record_one(
    store: &dyn Store,
    departure: &Departure,
    before_ms: u64,
) -> Result<(), StoreError> {
    let key = key(&departure.user);
    // One that doesn't read is kept as ending everything until now.
    let earlier = match store.get(&key).await? {
        Some(bytes) => read(&bytes).unwrap_or_else(|| {
            vec![Kept {
                before_ms,
                rooms: None,
            }]
        }),
        None => Vec::new(),
    };
    let kept = Kept {
        before_ms,
        rooms: departure
            .rooms
            .as_ref()
            .map(|rooms| rooms.iter().map(ToString::to_string).collect()),
    };
    let value = serde_json::to_vec(&add(earlier, kept)).expect("departures serialise");
    store.put(&key, &value, KEPT).await
}

/// A user's departures as the store holds them.
fn read(bytes: &[u8]) -> Option<Vec<Kept>> {
    serde_json::from_slice(bytes).ok()
}

/// One change's departures to record, and who waits for them.
type Job = (Vec<Departure>, SystemTime, oneshot::Sender<()>);

/// The instance's one writer of departures. Changes are written in the order the list
/// made them, one after another, so two can't each read a user's list and overwrite
/// the other's; one the store refuses is tried again, and those after it wait. Cheap
/// to clone. Its queue is unbounded, as what fills it is bounded: changes to the list,
/// which hosts make, a reload at a time.
#[derive(Clone)]
pub struct Recorder {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Recorder {
    /// The writer, as a task on the current runtime.
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        tokio::spawn(async move {
            while let Some((departures, until, done)) = queue.recv().await {
                record_until_done(&*store, &departures, until).await;
                let _ = done.send(());
            }
        });
        Self { jobs }
    }

    /// `departures` queued to be recorded as ending the sessions signed in until
    /// `until`; the receiver hears once they are.
    pub fn record(&self, departures: Vec<Departure>, until: SystemTime) -> oneshot::Receiver<()> {
        let (done, recorded) = oneshot::channel();
        if departures.is_empty() {
            let _ = done.send(());
        } else {
            // The writer only stops with the runtime.
            let _ = self.jobs.send((departures, until, done));
        }
        recorded
    }
}

/// [`record`], tried again every few seconds until the store takes it all: the list
/// is in service by then, and a departure lost would let its sessions back.
async fn record_until_done(store: &dyn Store, departures: &[Departure], until: SystemTime) {
    let mut failing = false;
    while let Err(e) = record(store, departures, until).await {
        if !failing {
            tracing::error!(error = %e, users = departures.len(), "users the ACL change drops are not on record yet: their earlier sessions would come back if they were listed again; trying again every {} s", RETRY.as_secs());
            failing = true;
        }
        tokio::time::sleep(RETRY).await;
    }
    if failing {
        tracing::info!(
            users = departures.len(),
            "users the ACL change dropped are on record now"
        );
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
            between(&old, &new),
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
            between(&old, &narrowed),
            [Departure {
                user: user("alice"),
                rooms: Some(vec![RoomPattern::parse("all-hands").unwrap()]),
            }]
        );
        assert_eq!(between(&old, &old), []);
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
        let took = |room: &str| {
            vec![Departure {
                user: user("bob"),
                rooms: Some(vec![RoomPattern::parse(room).unwrap()]),
            }]
        };
        store.refuse_next(3);
        assert!(record(&*store, &took("standup"), at(1_000)).await.is_err());
        let recorder = Recorder::spawn(store.clone());
        let first = recorder.record(took("standup"), at(1_000));
        let second = recorder.record(took("lobby"), at(1_000));
        first.await.unwrap();
        second.await.unwrap();
        assert!(ended(&*store, &grant("bob", "standup", 900)).await.unwrap());
        assert!(ended(&*store, &grant("bob", "lobby", 900)).await.unwrap());
        assert!(
            !ended(&*store, &grant("bob", "all-hands", 900))
                .await
                .unwrap()
        );
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
