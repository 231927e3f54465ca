//! The audit log: who asked for a code, who got in, when, and what roomgate refused.
//!
//! # Format
//!
//! JSON Lines, one record per line, appended to `ROOMGATE_AUDIT_LOG` (default
//! `audit.log`, created with mode 0600):
//!
//! ```text
//! {"time":"2026-11-22T08:00:00Z","event":"check_approved","username":"alice","room":"standup","ip":"203.0.113.7","detail":"method=code","phone":{"kid":"3fa9c2d1","nonce":"…","ct":"…"}}
//! ```
//!
//! `time` is RFC 3339 UTC, whole seconds. `username`, `room`, `ip`, `detail` (a short,
//! non-secret string such as a limit kind or a Twilio error code) and
//! `status_callback_event` (the Twilio name of a `room_event`) appear only when set.
//! A summary of folded refusals (below) adds `count`, `first` and `last`.
//!
//! # Floods fold
//!
//! Only refusals fold ([`fold::is_foldable`]): `limited` and `webhook_rejected`. Their
//! key is the event, the `detail` (limit kind or reason) and the subject (`ip`,
//! `username`, `room`, Twilio event name). The first record of a key is written at
//! once; repeats within the window (`ROOMGATE_AUDIT_FOLD_SECS`, default 60 s) are
//! counted, and when the window ends (or at [`AuditLog::flush`], called at shutdown) one
//! summary line is written with the key's fields, `count` (the refusals it stands for,
//! not counting the first line), and `first`/`last` (their times). Past
//! `ROOMGATE_AUDIT_FOLD_KEYS` keys, refusals are counted in one `"detail":"overflow"`
//! summary per event and window instead, so memory and lines stay bounded under any
//! flood. Every other event (sign-in requested, code sent, checks, lockouts, tokens,
//! removals, room ends, ACL changes, room events) is written one line per record.
//!
//! # Rotation
//!
//! Past `ROOMGATE_AUDIT_MAX_BYTES` (default 100 MiB) the writer renames `audit.log` to
//! `audit.log.1` (and each `.n` to `.n+1`; `.KEEP` is overwritten), opens a new file
//! (0600) and fsyncs the directory. [`show`] reads the rotated files oldest first, then
//! the current one.
//!
//! # Phone numbers
//!
//! A phone number is never written in the clear. With `ROOMGATE_AUDIT_KEY` set it is
//! sealed with AES-256-GCM: `nonce` is a fresh random 96-bit nonce (standard base64),
//! `ct` the ciphertext with its 16-byte tag appended (standard base64), and `kid` the
//! first 4 bytes, in hex, of HMAC-SHA256(key, "roomgate audit key id v1"), so `audit show`
//! can tell "another key" from "altered". The associated data is the JSON array
//! `["roomgate-audit-v1", time, event, username, room]` (absent fields as `null`): a
//! sealed number moved to another record, or a record whose time, event, user or room
//! was edited, no longer decrypts. Random nonces are safe for about 2^32 records per
//! key; rotate the key long before that. Without a key, phone numbers are left out.
//!
//! This protects the numbers, not the log as a whole: someone who can write the file
//! can still delete or edit records without a phone number.
//!
//! # Durability
//!
//! One writer thread owns the file, so lines never interleave and keep the order in
//! which [`AuditLog::record`] was called. It writes whatever is queued in one `write`,
//! then `File::sync_data`, and only then answers each caller: a request that awaited its
//! record is answered only once the record would survive a crash or a power cut.
//! (`flush` would not do: `File` has no buffer of its own, so it returns at once
//! while the bytes are still only in the page cache.) Batching makes that one fsync per
//! burst of records, not one per record. A folded record costs no I/O at all, and no
//! trip to the writer either: the caller counts it in the fold table it shares with the
//! writer and is answered at once, so a flood of refusals wakes no other thread.
//!
//! A write that fails (a full disk) is an [`AuditError`] for every record of its batch,
//! and for folded ones until a write succeeds again; the writer logs it once when it
//! starts and once when it ends, ends a torn line before the next record, and carries
//! on, trying a newline every half second until writes work again. The sign-in flow
//! refuses new sign-ins while [`AuditLog::health`] says the log can't be written.

pub mod fold;
mod record;
mod seal;
mod show;
mod writer;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env::Env;

pub use record::AuditRecord;
pub use seal::AuditKey;
pub use show::{ShowOptions, parse_since, show, show_with_warnings};
pub use writer::AuditLog;

pub const DEFAULT_AUDIT_LOG: &str = "audit.log";

/// How the log stays bounded: folding of repeated refusals and rotation by size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimits {
    /// `ROOMGATE_AUDIT_FOLD_SECS`: how long a refusal's repeats are counted before their
    /// summary is written. Zero turns folding off.
    pub fold_window: Duration,
    /// `ROOMGATE_AUDIT_FOLD_KEYS`: how many distinct keys may be folding at once; past
    /// that, refusals are only counted, per event.
    pub fold_keys: usize,
    /// `ROOMGATE_AUDIT_MAX_BYTES`: the size past which the file is rotated; 0 never.
    pub max_bytes: u64,
    /// `ROOMGATE_AUDIT_KEEP`: how many rotated files are kept (`audit.log.1` …).
    pub keep: usize,
}

impl Default for AuditLimits {
    fn default() -> Self {
        Self {
            fold_window: Duration::from_secs(60),
            fold_keys: 1024,
            max_bytes: 100 * 1024 * 1024,
            keep: 10,
        }
    }
}

impl AuditLimits {
    fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let defaults = Self::default();
        let mut env = Env::new(var);
        let limits = Self {
            // "a whole number" rather than "of seconds": its message as it always was.
            fold_window: Duration::from_secs(env.number(
                "ROOMGATE_AUDIT_FOLD_SECS",
                defaults.fold_window.as_secs(),
                0..=3600,
            )),
            fold_keys: env.size(
                "ROOMGATE_AUDIT_FOLD_KEYS",
                defaults.fold_keys,
                1..=1_000_000,
            ),
            max_bytes: env.number(
                "ROOMGATE_AUDIT_MAX_BYTES",
                defaults.max_bytes,
                0..=u64::from(u32::MAX) * 1024,
            ),
            keep: env.size("ROOMGATE_AUDIT_KEEP", defaults.keep, 1..=1000),
        };
        env.finish(limits)
    }
}

/// What happened. Serialised in snake_case (`sign_in_requested`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    SignInRequested,
    CodeSent,
    CheckFailed,
    CheckApproved,
    Limited,
    Lockout,
    TokenMinted,
    ParticipantRemoved,
    /// A host's removal (on record already, with the bar) that Twilio did not carry
    /// out: the participant was not connected, or the Video API failed.
    ParticipantNotDisconnected,
    RoomEnded,
    /// A host started the room's recording (Twilio took the rules).
    RecordingStarted,
    /// A host stopped the room's recording.
    RecordingStopped,
    AclReloaded,
    AclRejected,
    WebhookRejected,
    /// A Twilio Video status callback; its `StatusCallbackEvent` is in the record.
    RoomEvent,
    /// A room's recording is in storage, verified.
    RecordingStored,
    /// The pipeline gave up on a recording; Twilio's copies are kept.
    RecordingFailed,
    /// A stored recording was deleted (retention, a host, the command line).
    RecordingDeleted,
    /// A host was given a link to play or download a recording.
    RecordingLinkIssued,
    /// A participant registered a passkey.
    PasskeyRegistered,
    /// A passkey was removed: by its owner (room page) or a host (`roomgate passkeys revoke`).
    PasskeyRevoked,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInRequested => "sign_in_requested",
            Self::CodeSent => "code_sent",
            Self::CheckFailed => "check_failed",
            Self::CheckApproved => "check_approved",
            Self::Limited => "limited",
            Self::Lockout => "lockout",
            Self::TokenMinted => "token_minted",
            Self::ParticipantRemoved => "participant_removed",
            Self::ParticipantNotDisconnected => "participant_not_disconnected",
            Self::RoomEnded => "room_ended",
            Self::RecordingStarted => "recording_started",
            Self::RecordingStopped => "recording_stopped",
            Self::AclReloaded => "acl_reloaded",
            Self::AclRejected => "acl_rejected",
            Self::WebhookRejected => "webhook_rejected",
            Self::RoomEvent => "room_event",
            Self::RecordingStored => "recording_stored",
            Self::RecordingFailed => "recording_failed",
            Self::RecordingDeleted => "recording_deleted",
            Self::RecordingLinkIssued => "recording_link_issued",
            Self::PasskeyRegistered => "passkey_registered",
            Self::PasskeyRevoked => "passkey_revoked",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the audit log goes and the key for its phone numbers.
#[derive(Debug)]
pub struct AuditConfig {
    pub path: PathBuf,
    pub key: Option<AuditKey>,
    pub limits: AuditLimits,
}

impl AuditConfig {
    /// `ROOMGATE_AUDIT_LOG`, and the key from `ROOMGATE_AUDIT_KEY` or the file named by
    /// `ROOMGATE_AUDIT_KEY_FILE` (not both), and the [`AuditLimits`]. Every problem, one
    /// line each, no key values.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let path = var("ROOMGATE_AUDIT_LOG")
            .unwrap_or_else(|| DEFAULT_AUDIT_LOG.into())
            .into();
        let key = match (var("ROOMGATE_AUDIT_KEY"), var("ROOMGATE_AUDIT_KEY_FILE")) {
            (Some(_), Some(_)) => Err(
                "ROOMGATE_AUDIT_KEY and ROOMGATE_AUDIT_KEY_FILE are both set; set only one"
                    .to_owned(),
            ),
            (Some(value), None) => AuditKey::from_base64(&value)
                .map(Some)
                .map_err(|e| format!("ROOMGATE_AUDIT_KEY {e}")),
            (None, Some(file)) => AuditKey::from_file(Path::new(&file))
                .map(Some)
                .map_err(|e| format!("ROOMGATE_AUDIT_KEY_FILE: {e}")),
            (None, None) => Ok(None),
        };
        let limits = AuditLimits::from_lookup(var);
        match (key, limits) {
            (Ok(key), Ok(limits)) => Ok(Self { path, key, limits }),
            (key, limits) => Err(key
                .err()
                .into_iter()
                .chain(limits.err().into_iter().flatten())
                .collect()),
        }
    }
}

/// Why a record may not be on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written: {0}")]
    Write(String),
    #[error("the audit log writer has stopped")]
    WriterStopped,
}
