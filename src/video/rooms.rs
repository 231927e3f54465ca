//! Making sure a room exists before its participants join, off the token's path.
//!
//! Rooms are created by roomgate (with our status callback) when a verified participant
//! asks for a token, unless Twilio already has the room in progress. The token never
//! waits for this: [`RoomKeeper::ensure`] only looks at an in-memory table and, when
//! the room needs it, starts one background attempt. Per room there is at most one
//! attempt in flight (single-flight: other tokens skip it rather than start their
//! own), and after a failure the room backs off, 1 s doubling up to a minute, so a
//! Video API that is down sees one request per room per backoff, not one per token.
//!
//! The table holds only rooms in flight or backing off, at most `capacity` of them;
//! rooms known to exist are remembered in the store (shared by instances), for
//! [`FRESH`], after which they are looked up again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::Url;
use tokio::time::Instant;

use super::{VideoClient, VideoError};
use crate::acl::RecordingMode;
use crate::domain::RoomName;
use crate::metrics::{Metrics, RoomEnsure, RoomSkip};
use crate::recordings::live;
use crate::store::{Store, StoreError};

/// How long a room found or created is taken to exist without asking Twilio again.
pub const FRESH: Duration = Duration::from_secs(300);

/// How room creation backs off and how much it remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomBackoff {
    /// Wait after the first failure; doubled after each further one.
    pub first: Duration,
    /// No wait is longer than this.
    pub max: Duration,
    /// Rooms in flight or backing off that are remembered at once.
    pub capacity: usize,
    /// Longest one attempt (look up, then create) may take.
    pub deadline: Duration,
}

impl Default for RoomBackoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            capacity: 1024,
            deadline: Duration::from_secs(10),
        }
    }
}

impl RoomBackoff {
    /// With a deadline past two Video calls (look up, then create) of `call_timeout`
    /// each: a hung call then ends by its own timeout, which the Video breaker counts
    /// as a failure. Cut off first by the attempt's deadline (the two were both 10 s),
    /// a hung call counted as nothing, and a Video that never answered never opened
    /// the breaker.
    pub fn covering(self, call_timeout: Duration) -> Self {
        Self {
            deadline: self
                .deadline
                .max(call_timeout.saturating_mul(2) + Duration::from_secs(1)),
            ..self
        }
    }

    /// The wait after `failures` consecutive failures (at least 1).
    pub fn after(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.first
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// An attempt is running; `failures` before it.
    InFlight {
        failures: u32,
    },
    BackingOff {
        failures: u32,
        until: Instant,
    },
}

struct Inner {
    video: VideoClient,
    store: Arc<dyn Store>,
    status_callback: Option<Url>,
    metrics: Metrics,
    config: RoomBackoff,
    rooms: Mutex<HashMap<RoomName, Slot>>,
}

/// Cheap to clone; clones share the table.
#[derive(Clone)]
pub struct RoomKeeper {
    inner: Arc<Inner>,
}

/// The store key saying `room` exists with our status callback.
pub fn ready_key(room: &RoomName) -> String {
    format!("room-ready:{room}")
}

impl RoomKeeper {
    pub fn new(
        video: VideoClient,
        store: Arc<dyn Store>,
        status_callback: Option<Url>,
        metrics: Metrics,
        config: RoomBackoff,
    ) -> Self {
        metrics.room_ensure_enabled();
        Self {
            inner: Arc::new(Inner {
                video,
                store,
                status_callback,
                metrics,
                config: RoomBackoff {
                    capacity: config.capacity.max(1),
                    ..config
                },
                rooms: Mutex::default(),
            }),
        }
    }

    /// Make sure `room` exists, in the background; returns at once. `recording` is
    /// the room's ACL setting, which a room roomgate creates is made with (see
    /// [`VideoClient::create_room_recorded`]).
    pub fn ensure(&self, room: &RoomName, recording: RecordingMode) {
        let failures = {
            let mut rooms = self.rooms();
            let now = Instant::now();
            let failures = match rooms.get(room).copied() {
                Some(Slot::InFlight { .. }) => return self.skip(RoomSkip::InFlight),
                Some(Slot::BackingOff { until, .. }) if now < until => {
                    return self.skip(RoomSkip::Backoff);
                }
                Some(Slot::BackingOff { failures, .. }) => failures,
                None if !make_room(&mut rooms, self.inner.config.capacity, now) => {
                    return self.skip(RoomSkip::Full);
                }
                None => 0,
            };
            rooms.insert(room.clone(), Slot::InFlight { failures });
            failures
        };
        let attempt = Attempt {
            keeper: self.clone(),
            room: room.clone(),
            recording,
            failures,
            outcome: None,
        };
        tokio::spawn(attempt.run());
    }

    fn skip(&self, reason: RoomSkip) {
        self.inner.metrics.room_ensure_skipped(reason);
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<RoomName, Slot>> {
        // A plain table of values, valid whatever panicked while it was held.
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Look the room up and create it if Twilio doesn't have it in progress.
    async fn make_sure(&self, room: &RoomName, recording: RecordingMode) -> RoomEnsure {
        let Inner {
            video,
            store,
            status_callback,
            ..
        } = &*self.inner;
        // A store that can't say is as good as "not known": look the room up.
        if let Ok(Some(_)) = store.get(&ready_key(room)).await {
            return RoomEnsure::Known;
        }
        let outcome = match video.fetch_room(room.as_str()).await {
            Ok(Some(found)) if ours(&found, status_callback.as_ref()) => Ok(RoomEnsure::Exists),
            Ok(Some(_)) => {
                // Twilio made it for a client that connected first: no callback
                // tells us of its participants, its end or its recordings.
                tracing::warn!(%room, "the room is in progress without roomgate's status callback: a client made it; turn client-side room creation off in Twilio's Video settings (see the README)");
                Ok(RoomEnsure::Foreign)
            }
            Ok(None) => match video
                .create_room_recorded(room, status_callback.as_ref(), recording)
                .await
            {
                Ok(_) => {
                    // A new room records nothing yet: no sign left from the last one.
                    if let Err(e) = live::forget(&**store, room).await {
                        tracing::warn!(%room, error = %e, "the last room's recording sign was not cleared");
                    }
                    Ok(RoomEnsure::Created)
                }
                Err(VideoError::RoomExists) => Ok(RoomEnsure::Exists),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            // Not remembered: no `room-ended` will clear it, and tokens must go on
            // looking (the room a browser made may end any time; ours is made then).
            Ok(RoomEnsure::Foreign) => RoomEnsure::Foreign,
            Ok(outcome) => {
                if let Err(e) = self.remember(room).await {
                    tracing::warn!(%room, error = %e, "room not remembered; it is looked up again next time");
                }
                outcome
            }
            Err(VideoError::Busy(_)) => RoomEnsure::Busy,
            Err(VideoError::Timeout) => RoomEnsure::Timeout,
            Err(e) => {
                tracing::warn!(%room, error = %e, "could not make sure the room exists; tokens are issued anyway");
                RoomEnsure::Failed
            }
        }
    }

    async fn remember(&self, room: &RoomName) -> Result<(), StoreError> {
        self.inner.store.put(&ready_key(room), b"1", FRESH).await
    }
}

/// Room for one more entry: forget backoffs that are over, then, if still full, the
/// one that ends soonest. Rooms in flight are never forgotten (a second attempt would
/// start). Whether there is room now.
fn make_room(rooms: &mut HashMap<RoomName, Slot>, capacity: usize, now: Instant) -> bool {
    if rooms.len() < capacity {
        return true;
    }
    rooms.retain(|_, slot| !matches!(slot, Slot::BackingOff { until, .. } if *until <= now));
    if rooms.len() >= capacity {
        let soonest = rooms
            .iter()
            .filter_map(|(room, slot)| match slot {
                Slot::BackingOff { until, .. } => Some((*until, room.clone())),
                Slot::InFlight { .. } => None,
            })
            .min();
        if let Some((_, room)) = soonest {
            rooms.remove(&room);
        }
    }
    rooms.len() < capacity
}

/// One background attempt. Whatever ends it (an outcome, a panic, the runtime
/// shutting down), dropping it frees the room's slot: gone on success, backing off
/// otherwise.
struct Attempt {
    keeper: RoomKeeper,
    room: RoomName,
    recording: RecordingMode,
    failures: u32,
    outcome: Option<RoomEnsure>,
}

impl Attempt {
    async fn run(mut self) {
        let deadline = self.keeper.inner.config.deadline;
        let outcome =
            tokio::time::timeout(deadline, self.keeper.make_sure(&self.room, self.recording))
                .await
                .unwrap_or(RoomEnsure::Timeout);
        if outcome == RoomEnsure::Timeout {
            tracing::warn!(room = %self.room, "room creation timed out; tokens are issued anyway");
        }
        self.keeper.inner.metrics.room_ensure(outcome);
        self.outcome = Some(outcome);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let ok = matches!(
            self.outcome,
            Some(
                RoomEnsure::Known | RoomEnsure::Exists | RoomEnsure::Foreign | RoomEnsure::Created
            )
        );
        let mut rooms = self.keeper.rooms();
        if ok {
            rooms.remove(&self.room);
        } else {
            let failures = self.failures.saturating_add(1);
            let until = Instant::now() + self.keeper.inner.config.after(failures);
            rooms.insert(self.room.clone(), Slot::BackingOff { failures, until });
        }
    }
}

/// Whether `room` tells its events to `callback`, ours (when we give rooms none,
/// any room is as we would have made it).
fn ours(room: &crate::video::rest::Room, callback: Option<&Url>) -> bool {
    callback.is_none_or(|ours| {
        room.status_callback
            .as_deref()
            .and_then(|given| Url::parse(given).ok())
            .is_some_and(|given| &given == ours)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn backoff_doubles_from_the_first_wait_up_to_the_cap() {
        let b = RoomBackoff::default();
        let waits: Vec<u64> = (1..=9).map(|n| b.after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.after(u32::MAX), b.max);
    }

    #[test]
    fn an_attempt_outlasts_its_two_calls_timeouts() {
        let b = RoomBackoff::default().covering(Duration::from_secs(10));
        assert_eq!(b.deadline, Duration::from_secs(21));
        let longer = RoomBackoff {
            deadline: Duration::from_secs(60),
            ..RoomBackoff::default()
        };
        assert_eq!(longer.covering(Duration::from_secs(10)), longer);
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_and_never_forgets_a_room_in_flight() {
        let now = Instant::now();
        let mut rooms = HashMap::new();
        rooms.insert(room("a"), Slot::InFlight { failures: 0 });
        rooms.insert(
            room("b"),
            Slot::BackingOff {
                failures: 1,
                until: now + Duration::from_secs(9),
            },
        );
        rooms.insert(
            room("c"),
            Slot::BackingOff {
                failures: 1,
                until: now + Duration::from_secs(5),
            },
        );
        assert!(make_room(&mut rooms, 4, now), "not full yet");
        assert_eq!(rooms.len(), 3);

        assert!(make_room(&mut rooms, 3, now));
        assert!(!rooms.contains_key(&room("c")), "the soonest backoff goes");
        assert_eq!(rooms.len(), 2);

        let mut in_flight: HashMap<_, _> = [(room("a"), Slot::InFlight { failures: 0 })].into();
        assert!(
            !make_room(&mut in_flight, 1, now),
            "full of rooms in flight"
        );
        assert_eq!(in_flight.len(), 1);
    }
}
