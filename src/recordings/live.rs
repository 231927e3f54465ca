//! Whether a room is being recorded right now, for the "Recording" indicator every
//! participant sees.
//!
//! One store key per room, so every instance (and a restarted one) agrees. It holds
//! who said so:
//! - a host's Start, once Twilio has taken the rules (`host`), cleared by their Stop;
//! - Twilio's signed `recording-started` callbacks, one per track recorded: each
//!   track (by its `RecordingSid`) is a member of the room's queue of tracks being
//!   recorded, taken out by its `recording-completed` or `recording-failed`. The room
//!   records while any is left: one participant leaving ends their tracks' recordings,
//!   not the others'.
//!
//! Either is cleared when the room ends (`room-ended`, or a host's End) and when a new
//! room of that name is created, so a sign can't outlive its room even where Twilio's
//! callbacks aren't configured.
//!
//! While a host's Start stands, the track callbacks don't clear it. Erring this way
//! shows "Recording" a moment too long, never too short. (A callback without a track's
//! id, as older builds treated them all, turns the room's sign on and off as a whole.)
//!
//! Every key expires after [`TTL`], Twilio's longest room, so nothing grows without
//! bound even if the stopping callback is lost. A room whose setting is `always`
//! records from the first participant on, so it counts as recording while it is open
//! (anyone asking is in it).

use std::time::Duration;

use crate::acl::{RecordingMode, RoomSettings};
use crate::domain::RoomName;
use crate::store::{QueueEnd, Store, StoreError};

/// A Twilio room lasts at most 24 hours; a recording can't outlive it.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

const BY_HOST: &[u8] = b"host";
const BY_TWILIO: &[u8] = b"twilio";

/// More tracks than a room has at once (Twilio's largest rooms publish a few hundred).
const MAX_TRACKS: usize = 1000;

fn key(room: &RoomName) -> String {
    format!("recording-live:{room}")
}

/// The room's tracks being recorded, each due to be forgotten [`TTL`] after it began.
fn tracks(room: &RoomName) -> String {
    format!("recording-tracks:{room}")
}

/// A track's id as a callback gives it: `RT` (or another Twilio prefix) and hex, or
/// nothing to go by.
fn track_id(id: Option<&str>) -> Option<&str> {
    id.filter(|id| (2..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A host started (`true`) or stopped (`false`) the room's recording, and Twilio
/// took the new rules.
pub async fn set_by_host(store: &dyn Store, room: &RoomName, on: bool) -> Result<(), StoreError> {
    if on {
        store.put(&key(room), BY_HOST, TTL).await
    } else {
        forget(store, room).await
    }
}

/// The room is not recording any more, whoever said it was: it ended, or a new room
/// of that name was just created (which records only if its setting is `always`,
/// and [`is_recording`] says so for those).
pub async fn forget(store: &dyn Store, room: &RoomName) -> Result<(), StoreError> {
    let (sign_key, queue) = (key(room), tracks(room));
    let (sign, listed) = tokio::join!(
        store.delete(&sign_key),
        store.queued(&queue, MAX_TRACKS, QueueEnd::Soonest)
    );
    let cleared = futures_util::future::join_all(
        listed?
            .iter()
            .map(|(track, _)| store.unschedule(&queue, track)),
    )
    .await;
    sign.and(cleared.into_iter().collect())
}

/// A signed room status callback. Events other than the recording ones and
/// `room-ended` change nothing. A store that can't be written is logged: Twilio
/// gets its 200 anyway, and the indicator is put right by the next callback, a
/// host's Start or Stop, or the key's expiry.
/// `track` is the callback's `RecordingSid`, if it has one.
pub async fn on_room_event(store: &dyn Store, room: &RoomName, event: &str, track: Option<&str>) {
    if let Err(e) = apply_room_event(store, room, event, track_id(track)).await {
        tracing::warn!(error = %e, %room, event, "recording state not updated");
    }
}

async fn apply_room_event(
    store: &dyn Store,
    room: &RoomName,
    event: &str,
    track: Option<&str>,
) -> Result<(), StoreError> {
    match (event, track) {
        ("recording-started", Some(track)) => {
            let until = store.clock().now() + TTL;
            store.schedule(&tracks(room), track, until).await
        }
        // Not over a host's Start: that one is cleared by the host's Stop.
        ("recording-started", None) => store.put_new(&key(room), BY_TWILIO, TTL).await.map(drop),
        ("recording-completed" | "recording-failed", track) => {
            if let Some(track) = track {
                store.unschedule(&tracks(room), track).await?;
            }
            // A room-wide sign of Twilio's (a callback without a track's id) goes
            // with any track's end; a host's stays.
            store.delete_if(&key(room), BY_TWILIO).await.map(drop)
        }
        ("room-ended", _) => forget(store, room).await,
        _ => Ok(()),
    }
}

/// Whether the room is being recorded now.
pub async fn is_recording(
    store: &dyn Store,
    room: &RoomName,
    settings: RoomSettings,
) -> Result<bool, StoreError> {
    if settings.recording == RecordingMode::Always {
        return Ok(true);
    }
    // Whatever the setting says now: a recording started before the ACL changed to
    // `off` is still running until it is stopped.
    let (sign_key, queue) = (key(room), tracks(room));
    let (sign, latest) = tokio::join!(
        store.get(&sign_key),
        store.queued(&queue, 1, QueueEnd::Latest)
    );
    if sign?.is_some() {
        return Ok(true);
    }
    let now = store.clock().now();
    Ok(latest?.iter().any(|(_, until)| *until > now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn room(s: &str) -> RoomName {
        RoomName::parse(s).unwrap()
    }

    fn host_mode() -> RoomSettings {
        RoomSettings {
            recording: RecordingMode::Host,
            ..RoomSettings::default()
        }
    }

    #[tokio::test]
    async fn a_hosts_start_and_stop_turn_it_on_and_off() {
        let store = MemoryStore::new();
        let standup = room("standup");
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
        set_by_host(&store, &standup, true).await.unwrap();
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        assert!(
            !is_recording(&store, &room("board"), host_mode())
                .await
                .unwrap(),
            "per room"
        );
        set_by_host(&store, &standup, false).await.unwrap();
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
    }

    const TRACK_A: &str = "RT00000000000000000000000000000001";
    const TRACK_B: &str = "RT00000000000000000000000000000002";

    #[tokio::test]
    async fn twilios_callbacks_turn_it_on_and_off() {
        let store = MemoryStore::new();
        let standup = room("standup");
        on_room_event(&store, &standup, "recording-started", Some(TRACK_A)).await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        on_room_event(&store, &standup, "participant-connected", None).await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        for stop in ["recording-completed", "recording-failed", "room-ended"] {
            on_room_event(&store, &standup, "recording-started", Some(TRACK_A)).await;
            on_room_event(&store, &standup, stop, Some(TRACK_A)).await;
            assert!(
                !is_recording(&store, &standup, host_mode()).await.unwrap(),
                "{stop}"
            );
        }
        // Without a track's id, as a whole.
        on_room_event(&store, &standup, "recording-started", None).await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        on_room_event(&store, &standup, "recording-completed", None).await;
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
    }

    /// Twilio records each track on its own: one participant leaving ends their
    /// track's recording, while the others' go on. The sign stays until the last.
    #[tokio::test]
    async fn the_sign_stays_while_any_track_is_recorded() {
        let store = MemoryStore::new();
        let standup = room("standup");
        for track in [TRACK_A, TRACK_B] {
            on_room_event(&store, &standup, "recording-started", Some(track)).await;
        }
        on_room_event(&store, &standup, "recording-completed", Some(TRACK_A)).await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        on_room_event(&store, &standup, "recording-failed", Some(TRACK_B)).await;
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
        // A room ending (or made anew) forgets every track.
        for track in [TRACK_A, TRACK_B] {
            on_room_event(&store, &standup, "recording-started", Some(track)).await;
        }
        forget(&store, &standup).await.unwrap();
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
        assert!(
            store
                .queued(&tracks(&standup), 10, QueueEnd::Soonest)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn one_tracks_recording_ending_does_not_stop_a_hosts_recording() {
        let store = MemoryStore::new();
        let standup = room("standup");
        set_by_host(&store, &standup, true).await.unwrap();
        on_room_event(&store, &standup, "recording-started", Some(TRACK_A)).await;
        on_room_event(&store, &standup, "recording-completed", Some(TRACK_A)).await;
        on_room_event(&store, &standup, "recording-completed", None).await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        // The room ending ends everything.
        on_room_event(&store, &standup, "room-ended", None).await;
        assert!(!is_recording(&store, &standup, host_mode()).await.unwrap());
    }

    #[tokio::test]
    async fn always_rooms_record_while_open_and_off_rooms_only_if_told() {
        let store = MemoryStore::new();
        let standup = room("standup");
        let always = RoomSettings {
            recording: RecordingMode::Always,
            ..RoomSettings::default()
        };
        assert!(is_recording(&store, &standup, always).await.unwrap());
        let off = RoomSettings::default();
        assert!(!is_recording(&store, &standup, off).await.unwrap());
        on_room_event(&store, &standup, "recording-started", Some(TRACK_A)).await;
        assert!(is_recording(&store, &standup, off).await.unwrap());
    }
}
