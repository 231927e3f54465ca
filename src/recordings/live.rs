//! Whether a room is being recorded right now, for the "Recording" indicator every
//! participant sees.
//!
//! One store key per room, so every instance (and a restarted one) agrees. It holds
//! who said so:
//! - a host's Start, once Twilio has taken the rules (`host`), cleared by their Stop;
//! - Twilio's signed `recording-started` callback (`twilio`), cleared by
//!   `recording-completed` or `recording-failed`.
//!
//! Either is cleared when the room ends (`room-ended`, or a host's End) and when a new
//! room of that name is created, so a sign can't outlive its room even where Twilio's
//! callbacks aren't configured.
//!
//! Twilio records each track on its own and reports each one, so a track's recording
//! completing (a participant leaving, say) does not mean the room stopped: while a
//! host's Start stands, the track callbacks don't clear it. Erring this way shows
//! "Recording" a moment too long, never too short.
//!
//! Every key expires after [`TTL`], Twilio's longest room, so nothing grows without
//! bound even if the stopping callback is lost. A room whose setting is `always`
//! records from the first participant on, so it counts as recording while it is open
//! (anyone asking is in it).

use std::time::Duration;

use crate::acl::{RecordingMode, RoomSettings};
use crate::domain::RoomName;
use crate::store::{Store, StoreError};

/// A Twilio room lasts at most 24 hours; a recording can't outlive it.
pub const TTL: Duration = Duration::from_secs(24 * 60 * 60);

const BY_HOST: &[u8] = b"host";
const BY_TWILIO: &[u8] = b"twilio";

fn key(room: &RoomName) -> String {
    format!("recording-live:{room}")
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
    store.delete(&key(room)).await
}

/// A signed room status callback. Events other than the recording ones and
/// `room-ended` change nothing. A store that can't be written is logged: Twilio
/// gets its 200 anyway, and the indicator is put right by the next callback, a
/// host's Start or Stop, or the key's expiry.
pub async fn on_room_event(store: &dyn Store, room: &RoomName, event: &str) {
    if let Err(e) = apply_room_event(store, room, event).await {
        tracing::warn!(error = %e, %room, event, "recording state not updated");
    }
}

async fn apply_room_event(
    store: &dyn Store,
    room: &RoomName,
    event: &str,
) -> Result<(), StoreError> {
    match event {
        // Not over a host's Start: that one is cleared by the host's Stop.
        "recording-started" => store.put_new(&key(room), BY_TWILIO, TTL).await.map(drop),
        "recording-completed" | "recording-failed" => {
            if store.get(&key(room)).await?.as_deref() == Some(BY_HOST) {
                Ok(())
            } else {
                store.delete(&key(room)).await
            }
        }
        "room-ended" => forget(store, room).await,
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
    Ok(store.get(&key(room)).await?.is_some())
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

    #[tokio::test]
    async fn twilios_callbacks_turn_it_on_and_off() {
        let store = MemoryStore::new();
        let standup = room("standup");
        on_room_event(&store, &standup, "recording-started").await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        on_room_event(&store, &standup, "participant-connected").await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        for stop in ["recording-completed", "recording-failed", "room-ended"] {
            on_room_event(&store, &standup, "recording-started").await;
            on_room_event(&store, &standup, stop).await;
            assert!(
                !is_recording(&store, &standup, host_mode()).await.unwrap(),
                "{stop}"
            );
        }
    }

    #[tokio::test]
    async fn one_tracks_recording_ending_does_not_stop_a_hosts_recording() {
        let store = MemoryStore::new();
        let standup = room("standup");
        set_by_host(&store, &standup, true).await.unwrap();
        on_room_event(&store, &standup, "recording-started").await;
        on_room_event(&store, &standup, "recording-completed").await;
        assert!(is_recording(&store, &standup, host_mode()).await.unwrap());
        // The room ending ends everything.
        on_room_event(&store, &standup, "room-ended").await;
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
        on_room_event(&store, &standup, "recording-started").await;
        assert!(is_recording(&store, &standup, off).await.unwrap());
    }
}
