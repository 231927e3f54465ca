//! Where recordings' files live once they are off Twilio: an S3-compatible bucket
//! ([`s3`]), or, when none is configured, a directory under the data directory that
//! roomgate serves itself through signed, expiring links ([`local`]).
//!
//! The pipeline codes against [`ObjectStorage`] only; [`open`] picks the backend.

pub mod local;
pub mod s3;
mod settings;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use secrecy::SecretString;

use crate::clock::Clock;
pub use settings::{DEFAULT_LINK_SECS, S3Credentials, S3SecretFiles, S3Settings, StorageSettings};

/// The shortest and longest life of a playback or download link.
pub const LINK_TTL_RANGE: std::ops::RangeInclusive<u64> = 5..=300;

/// What is stored at a key: its size, and the SHA-256 recorded when it was uploaded
/// (checked against the bytes before `put` returned).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("size", &self.size)
            .field("sha256", &hex::encode(self.sha256))
            .finish()
    }
}

/// How a browser should treat a link's file: play it, or save it under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment { filename: String },
}

impl Disposition {
    /// The `Content-Disposition` value (RFC 6266): an ASCII `filename` for old
    /// clients and the exact name as `filename*` (RFC 8187). Characters that could
    /// end the parameter or the header are replaced, never passed through.
    pub fn header_value(&self) -> String {
        match self {
            Self::Inline => "inline".to_owned(),
            Self::Attachment { filename } => {
                let name: String = filename
                    .chars()
                    .filter(|c| !c.is_control())
                    .map(|c| if matches!(c, '/' | '\\') { '_' } else { c })
                    .take(200)
                    .collect();
                let name = if name.trim().is_empty() {
                    "recording".to_owned()
                } else {
                    name
                };
                let ascii: String = name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_graphic() && c != '"' && c != '%' || c == ' ' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                let mut encoded = String::new();
                for b in name.bytes() {
                    if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                        encoded.push(char::from(b));
                    } else {
                        encoded.push_str(&format!("%{b:02X}"));
                    }
                }
                format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
            }
        }
    }
}

/// What `check` did, step by step.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `"s3"` or `"local"`.
    pub backend: &'static str,
    /// The bucket and endpoint, or the directory.
    pub location: String,
    /// The probe object as stored and verified.
    pub probe: StoredObject,
    /// The status an unsigned GET of the probe got (local: what the file route
    /// answers a request without a signature).
    pub unsigned_get_status: u16,
    /// Server-side encryption, as far as the backend tells.
    pub encryption: String,
    /// Whether the probe was deleted afterwards.
    pub probe_deleted: bool,
}

impl CheckReport {
    /// Only a refused unsigned GET (401 or 403) passes: anything else means the
    /// files can be read without a link.
    pub fn unsigned_get_refused(&self) -> bool {
        matches!(self.unsigned_get_status, 401 | 403)
    }

    pub fn passed(&self) -> bool {
        self.unsigned_get_refused() && self.probe_deleted
    }
}

/// Everything a backend can fail with. No variant carries a link, a signed URL or a
/// secret, so every one may be logged.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "invalid object key {0:?}: use segments of A-Z a-z 0-9 . _ - separated by '/', none starting with '.'"
    )]
    InvalidKey(String),
    #[error("a link must live from 5 to 300 seconds (asked for {0} s)")]
    InvalidTtl(u64),
    /// The stream given to `put` failed; nothing was stored.
    #[error("the upload's source failed; nothing was stored")]
    Source(#[source] std::io::Error),
    /// The server answered, with a refusal.
    #[error("the storage refused {op} (HTTP {status}{})", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Refused {
        op: &'static str,
        status: u16,
        /// S3's error code (`AccessDenied`, `NoSuchBucket`, …), when the body had one.
        code: Option<String>,
    },
    /// Not tried: too many requests in flight, or the bucket kept failing (its
    /// circuit breaker is open). Retry after `retry_after`.
    #[error("the storage is busy ({reason}); not tried")]
    Busy {
        reason: crate::twilio::guard::Rejected,
        retry_after: Duration,
    },
    /// No answer: connection refused, timeout, reset.
    #[error("the storage could not be reached for {op}")]
    Unreachable {
        op: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// An answer that doesn't fit the protocol.
    #[error("unexpected answer from the storage to {op}: {detail}")]
    Protocol { op: &'static str, detail: String },
    /// What is stored is not what was sent.
    #[error("the stored object does not match what was sent: {0}")]
    Mismatch(String),
    /// An object not written by roomgate (no recorded checksum).
    #[error("the object at {0:?} has no recorded checksum")]
    Unverifiable(String),
    #[error("local storage: {context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// The upload's body: chunks of bytes, or the error that ended it.
pub type ByteStream = BoxStream<'static, Result<bytes::Bytes, std::io::Error>>;

#[async_trait]
pub trait ObjectStorage: Send + Sync + 'static {
    /// `"s3"` or `"local"`.
    fn kind(&self) -> &'static str;

    /// Streams `body` to `key` without holding it in memory (S3: multipart upload,
    /// parts of [`s3::PART_SIZE`], server-side encryption requested; local: temp
    /// file, fsync, rename), hashing as it goes; then verifies what is stored and
    /// returns it.
    ///
    /// Verification — S3: every part is sent with `Content-MD5` (the server refuses a
    /// part that arrived different) and its ETag is compared with our MD5; the
    /// completed object's ETag with the MD5 of the parts' MD5s; the SHA-256 is then
    /// recorded as metadata by a server-side copy of the object onto itself, and a
    /// HEAD checks size, metadata and ETag (ETags that aren't MD5s, as with SSE-KMS,
    /// are not compared). Local: the file is read back from disk and hashed before
    /// it is renamed into place.
    ///
    /// Writing a key again replaces it: never two objects for one key. A failed
    /// upload leaves no object and aborts its multipart upload.
    async fn put(&self, key: &str, body: ByteStream) -> Result<StoredObject, StorageError>;

    /// What's stored at key (size and the sha256 recorded at upload), None if absent.
    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, StorageError>;

    /// Absent is Ok.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// A link valid for `ttl` (5..=300 s). A bearer secret: never log it. S3: a
    /// presigned GET with `response-content-disposition`; local: a roomgate path
    /// (`/recordings/files/…`) with an HMAC signature and expiry.
    fn link(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError>;

    /// The origin [`link`](Self::link)s point at when it isn't roomgate's own (S3:
    /// the bucket's endpoint): the recordings page's player loads them, so the
    /// Content-Security-Policy must let media come from there.
    fn link_origin(&self) -> Option<String> {
        None
    }

    /// Stores a probe object, confirms an unsigned GET of it is refused, deletes it.
    async fn check(&self) -> Result<CheckReport, StorageError>;

    /// Whether an upload started now would be let through (S3: its circuit breaker
    /// and in-flight bound), without sending anything: a job asks before it fetches
    /// Twilio's media, which it could not store.
    fn ready(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The configured backend: S3 when a bucket is set, else files under
/// `<data_dir>/recordings/`. `clock` judges local links' expiry (the app's clock,
/// so tests can move it).
pub fn open(
    settings: &StorageSettings,
    data_dir: &Path,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<dyn ObjectStorage>> {
    Ok(match &settings.s3 {
        Some(s3) => Arc::new(s3::S3Storage::new(s3, http)?.with_guard(
            crate::twilio::guard::Guard::new(
                crate::metrics::Outbound::Storage,
                crate::twilio::guard::GuardConfig::STORAGE,
                None,
            ),
        )),
        None => Arc::new(local::LocalStorage::open(data_dir, clock)?),
    })
}

/// Keys are paths of plain segments, so they mean the same thing as an S3 key, a
/// URL path and a file path: no `..`, no hidden files, nothing to escape.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_owned()))
    }
}

fn check_ttl(ttl: Duration) -> Result<u64, StorageError> {
    let secs = ttl.as_secs();
    if LINK_TTL_RANGE.contains(&secs) && ttl.subsec_nanos() == 0 {
        Ok(secs)
    } else {
        Err(StorageError::InvalidTtl(secs))
    }
}

pub(crate) fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `check`'s probe object: a random key and a line of text.
fn probe() -> (String, ByteStream) {
    let mut bytes = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let body = futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"roomgate probe\n"))]);
    (
        format!("roomgate-probe/{}", hex::encode(bytes)),
        futures_util::StreamExt::boxed(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_segments() {
        for good in ["a", "rooms/standup/CJ0123.mp4", "x-y_z.1/2"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "../a", "a/../b", ".hidden", "a/.b", "a b", "a\\b", "a?b",
            "a%2e", "ü",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_download_name_cannot_break_the_header() {
        let d = Disposition::Attachment {
            filename: "standup \"2026\";\r\nX: y/é.mp4".into(),
        };
        let value = d.header_value();
        assert!(!value.contains(['\r', '\n']));
        assert_eq!(
            value,
            "attachment; filename=\"standup _2026_;X: y__.mp4\"; \
             filename*=UTF-8''standup%20%222026%22%3BX%3A%20y_%C3%A9.mp4"
        );
        assert_eq!(Disposition::Inline.header_value(), "inline");
    }

    #[test]
    fn link_lifetimes_are_bounded() {
        assert!(check_ttl(Duration::from_secs(4)).is_err());
        assert!(check_ttl(Duration::from_secs(301)).is_err());
        assert_eq!(check_ttl(Duration::from_secs(60)).unwrap(), 60);
    }
}
