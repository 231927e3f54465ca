//! The record model: what callers build ([`AuditRecord`]) and the line it becomes
//! ([`StoredRecord`]), the same shape `audit show` reads back.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::AuditEvent;
use super::seal::{AAD_VERSION, AuditKey, SealedPhone, seal};
use crate::clock::rfc3339;
use crate::domain::{PhoneNumber, RoomName, Username};

/// `detail` and `status_callback_event` are labels, not payloads; a longer value means
/// a caller passed something it shouldn't, and the log stays readable either way.
pub(super) const MAX_LABEL_CHARS: usize = 120;

/// One thing to record: `AuditRecord::new(AuditEvent::CheckApproved).user(&u).room(&r)`.
/// The time is taken when it is recorded.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub(super) event: AuditEvent,
    pub(super) username: Option<String>,
    pub(super) room: Option<String>,
    pub(super) ip: Option<IpAddr>,
    pub(super) detail: Option<String>,
    pub(super) status_callback_event: Option<String>,
    // PhoneNumber's Debug is masked, so deriving Debug here is safe.
    pub(super) phone: Option<PhoneNumber>,
    /// Set on a summary line only: the refusals it stands for.
    pub(super) folded: Option<Folded>,
}

/// What a summary line adds: how many refusals it stands for and when the first and
/// last of them happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Folded {
    pub(super) count: u64,
    pub(super) first: SystemTime,
    pub(super) last: SystemTime,
}

impl AuditRecord {
    pub fn new(event: AuditEvent) -> Self {
        Self {
            event,
            username: None,
            room: None,
            ip: None,
            detail: None,
            status_callback_event: None,
            phone: None,
            folded: None,
        }
    }

    /// A Twilio Video status callback, e.g. `participant-connected`.
    pub fn room_event(status_callback_event: &str) -> Self {
        let mut rec = Self::new(AuditEvent::RoomEvent);
        rec.status_callback_event = Some(label(status_callback_event));
        rec
    }

    pub fn user(mut self, username: &Username) -> Self {
        self.username = Some(username.as_str().to_owned());
        self
    }

    pub fn room(mut self, room: &RoomName) -> Self {
        self.room = Some(room.as_str().to_owned());
        self
    }

    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sealed with the audit key, or left out without one.
    pub fn phone(mut self, phone: &PhoneNumber) -> Self {
        self.phone = Some(phone.clone());
        self
    }

    /// A short label such as a limit kind or a Twilio error code; never a code, token
    /// or number. Cut to 120 characters.
    pub fn detail(mut self, detail: impl AsRef<str>) -> Self {
        self.detail = Some(label(detail.as_ref()));
        self
    }
}

fn label(s: &str) -> String {
    s.chars().take(MAX_LABEL_CHARS).collect()
}

/// The line as stored. Read back with the same shape; unknown fields are ignored so an
/// older `audit show` can read a newer log.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredRecord {
    pub(super) time: String,
    // A string, not `AuditEvent`, so records of event kinds added later still show.
    pub(super) event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status_callback_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) phone: Option<SealedPhone>,
    /// On a summary line: how many refusals it stands for (absent: one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) count: Option<u64>,
    /// On a summary line: when the first and the last refusal it counts happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) first: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) last: Option<String>,
}

impl StoredRecord {
    pub(super) fn aad(&self) -> Vec<u8> {
        serde_json::to_vec(&(
            AAD_VERSION,
            &self.time,
            &self.event,
            &self.username,
            &self.room,
        ))
        .expect("strings always serialise")
    }
}

pub(super) fn encode(rec: &AuditRecord, at: SystemTime, key: Option<&AuditKey>) -> Vec<u8> {
    let mut stored = StoredRecord {
        time: rfc3339(at),
        event: rec.event.as_str().to_owned(),
        username: rec.username.clone(),
        room: rec.room.clone(),
        ip: rec.ip.map(|ip| ip.to_string()),
        detail: rec.detail.clone(),
        status_callback_event: rec.status_callback_event.clone(),
        phone: None,
        count: rec.folded.map(|f| f.count),
        first: rec.folded.map(|f| rfc3339(f.first)),
        last: rec.folded.map(|f| rfc3339(f.last)),
    };
    if let (Some(phone), Some(key)) = (&rec.phone, key) {
        stored.phone = Some(seal(key, phone, &stored.aad()));
    }
    let mut line = serde_json::to_vec(&stored).expect("a record always serialises");
    line.push(b'\n');
    line
}
