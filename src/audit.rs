//! The audit log: who asked for a code, who got in, when, and what roomgate refused.
//!
//! # Format
//!
//! JSON Lines, one record per line, appended to `ROOMGATE_AUDIT_LOG` (default
//! `audit.log`, created with mode 0600):
//!
//! ```text
//! {"time":"2026-11-22T08:00:00Z","event":"check_approved","username":"alice","room":"standup","ip":"203.0.113.7","phone":{"kid":"3fa9c2d1","nonce":"…","ct":"…"}}
//! ```
//!
//! `time` is RFC 3339 UTC, whole seconds. `username`, `room`, `ip`, `detail` (a short,
//! non-secret string such as a limit kind or a Twilio error code) and
//! `status_callback_event` (the Twilio name of a `room_event`) appear only when set.
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
//! burst of records, not one per record.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::oneshot;

use crate::alerts::rfc3339;
use crate::clock::{Clock, SystemClock};
use crate::domain::{PhoneNumber, RoomName, Username};

pub const DEFAULT_AUDIT_LOG: &str = "audit.log";
const AAD_VERSION: &str = "roomgate-audit-v1";
/// `detail` and `status_callback_event` are labels, not payloads; a longer value means
/// a caller passed something it shouldn't, and the log stays readable either way.
const MAX_LABEL_CHARS: usize = 120;
/// Bounds how long the first caller of a burst waits for the others' bytes.
const MAX_BATCH: usize = 512;

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
    RoomEnded,
    AclReloaded,
    AclRejected,
    WebhookRejected,
    /// A Twilio Video status callback; its `StatusCallbackEvent` is in the record.
    RoomEvent,
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
            Self::RoomEnded => "room_ended",
            Self::AclReloaded => "acl_reloaded",
            Self::AclRejected => "acl_rejected",
            Self::WebhookRejected => "webhook_rejected",
            Self::RoomEvent => "room_event",
        }
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The AES-256-GCM key that seals phone numbers: 32 bytes, given as standard base64
/// (`openssl rand -base64 32`).
pub struct AuditKey(SecretBox<[u8; 32]>);

impl AuditKey {
    /// Surrounding whitespace is ignored. The error never contains the value, nor any
    /// character of it.
    pub fn from_base64(value: &str) -> Result<Self, String> {
        // base64's own error names the offending character; that would be part of
        // the secret.
        let bytes = Zeroizing::new(STANDARD.decode(value.trim()).map_err(|_| {
            "is not valid standard base64 (make a key with `openssl rand -base64 32`)".to_owned()
        })?);
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes of standard base64 (it decodes to {} bytes; make one with `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        Ok(Self(SecretBox::init_with_mut(|key: &mut [u8; 32]| {
            key.copy_from_slice(&bytes)
        })))
    }

    /// The key from a file holding its base64, as container platforms mount secrets.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("{} cannot be read: {e}", path.display()))?,
        );
        Self::from_base64(&text).map_err(|e| format!("{}: the key {e}", path.display()))
    }

    /// Names the key without revealing it, so a reader can tell which key a record
    /// needs.
    pub fn id(&self) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes keys of any length");
        mac.update(b"roomgate audit key id v1");
        hex(&mac.finalize().into_bytes()[..4])
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey([REDACTED])")
    }
}

/// Where the audit log goes and the key for its phone numbers.
#[derive(Debug)]
pub struct AuditConfig {
    pub path: PathBuf,
    pub key: Option<AuditKey>,
}

impl AuditConfig {
    /// `ROOMGATE_AUDIT_LOG`, and the key from `ROOMGATE_AUDIT_KEY` or the file named by
    /// `ROOMGATE_AUDIT_KEY_FILE` (not both). Every problem, one line each, no values.
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
        match key {
            Ok(key) => Ok(Self { path, key }),
            Err(line) => Err(vec![line]),
        }
    }
}

/// One thing to record: `AuditRecord::new(AuditEvent::CheckApproved).user(&u).room(&r)`.
/// The time is taken when it is recorded.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    event: AuditEvent,
    username: Option<String>,
    room: Option<String>,
    ip: Option<IpAddr>,
    detail: Option<String>,
    status_callback_event: Option<String>,
    // PhoneNumber's Debug is masked, so deriving Debug here is safe.
    phone: Option<PhoneNumber>,
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

/// Why a record may not be on disk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log could not be written: {0}")]
    Write(String),
    #[error("the audit log writer has stopped")]
    WriterStopped,
}

/// The line as stored. Read back with the same shape; unknown fields are ignored so an
/// older `audit show` can read a newer log.
#[derive(Debug, Serialize, Deserialize)]
struct StoredRecord {
    time: String,
    // A string, not `AuditEvent`, so records of event kinds added later still show.
    event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_callback_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phone: Option<SealedPhone>,
}

impl StoredRecord {
    fn aad(&self) -> Vec<u8> {
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

#[derive(Debug, Serialize, Deserialize)]
struct SealedPhone {
    kid: String,
    nonce: String,
    ct: String,
}

fn seal(key: &AuditKey, phone: &PhoneNumber, aad: &[u8]) -> SealedPhone {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ct = key
        .cipher()
        .encrypt(
            &nonce,
            Payload {
                msg: phone.expose_e164().as_bytes(),
                aad,
            },
        )
        .expect("AES-GCM encrypts messages of any practical length");
    SealedPhone {
        kid: key.id(),
        nonce: STANDARD.encode(nonce),
        ct: STANDARD.encode(ct),
    }
}

/// What `audit show` can say about a record's phone number.
#[derive(Debug, PartialEq, Eq)]
enum PhoneView {
    Absent,
    NoKey,
    Plain(String),
    OtherKey { record: String, given: String },
    Damaged,
}

fn open_phone(rec: &StoredRecord, key: Option<&AuditKey>) -> PhoneView {
    let Some(sealed) = &rec.phone else {
        return PhoneView::Absent;
    };
    let Some(key) = key else {
        return PhoneView::NoKey;
    };
    let given = key.id();
    if sealed.kid != given {
        return PhoneView::OtherKey {
            record: sealed.kid.clone(),
            given,
        };
    }
    let (Ok(nonce), Ok(ct)) = (STANDARD.decode(&sealed.nonce), STANDARD.decode(&sealed.ct)) else {
        return PhoneView::Damaged;
    };
    if nonce.len() != 12 {
        return PhoneView::Damaged;
    }
    let aad = rec.aad();
    match key.cipher().decrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: &ct,
            aad: &aad,
        },
    ) {
        Ok(plain) => String::from_utf8(plain)
            .map(PhoneView::Plain)
            .unwrap_or(PhoneView::Damaged),
        Err(_) => PhoneView::Damaged,
    }
}

struct Job {
    line: Vec<u8>,
    done: oneshot::Sender<Result<(), AuditError>>,
}

#[derive(Clone)]
struct Writer {
    jobs: mpsc::Sender<Job>,
    key: Option<Arc<AuditKey>>,
}

/// The append-only audit log. Cheap to clone; all clones feed one writer thread, which
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct AuditLog {
    writer: Option<Writer>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.writer.is_some())
            .field(
                "encrypts_phones",
                &self.writer.as_ref().is_some_and(|w| w.key.is_some()),
            )
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates, mode 0600) `path` for appending and starts its writer thread.
    /// Blocking; call it at start-up. Without a key, warns once that phone numbers will
    /// be left out.
    pub fn open(path: &Path, key: Option<AuditKey>) -> anyhow::Result<Self> {
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        restrict_permissions(&file, path)?;
        end_on_a_fresh_line(&mut file)
            .with_context(|| format!("cannot append to the audit log {}", path.display()))?;
        if key.is_none() {
            tracing::warn!(
                "ROOMGATE_AUDIT_KEY is not set: phone numbers are left out of the audit log"
            );
        }
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("roomgate-audit".into())
            .spawn(move || write_loop(file, queue))
            .context("cannot start the audit log writer")?;
        Ok(Self {
            writer: Some(Writer {
                jobs,
                key: key.map(Arc::new),
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// Records nothing, at once. For tests and tools that don't audit.
    pub fn disabled() -> Self {
        Self {
            writer: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Time records with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Appends `rec` and resolves once it is written and synced to disk. If the caller
    /// stops waiting, the record is written all the same.
    pub async fn record(&self, rec: AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let line = encode(&rec, self.clock.now(), writer.key.as_deref());
        let (done, written) = oneshot::channel();
        writer
            .jobs
            .send(Job { line, done })
            .map_err(|_| AuditError::WriterStopped)?;
        written.await.map_err(|_| AuditError::WriterStopped)?
    }
}

fn encode(rec: &AuditRecord, at: SystemTime, key: Option<&AuditKey>) -> Vec<u8> {
    let mut stored = StoredRecord {
        time: rfc3339(at),
        event: rec.event.as_str().to_owned(),
        username: rec.username.clone(),
        room: rec.room.clone(),
        ip: rec.ip.map(|ip| ip.to_string()),
        detail: rec.detail.clone(),
        status_callback_event: rec.status_callback_event.clone(),
        phone: None,
    };
    if let (Some(phone), Some(key)) = (&rec.phone, key) {
        stored.phone = Some(seal(key, phone, &stored.aad()));
    }
    let mut line = serde_json::to_vec(&stored).expect("a record always serialises");
    line.push(b'\n');
    line
}

#[cfg(unix)]
fn restrict_permissions(file: &File, path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // `mode` above only applies to a file it creates; the log names users and their
    // addresses, so an existing file others can read is closed too.
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private (mode 0600)", path.display()))?;
        tracing::warn!(
            "the audit log {} was readable by others (mode {mode:o}); it is now 0600",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_: &File, _: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// A crash can leave half a line at the end; without a newline after it, the next
/// record would be glued to it and lost as well.
fn end_on_a_fresh_line(file: &mut File) -> io::Result<()> {
    if file.metadata()?.len() == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(())
}

fn write_loop(mut file: File, queue: mpsc::Receiver<Job>) {
    // After a failed write the file may end in part of a line (a full disk, say).
    let mut mid_line = false;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut bytes = Vec::with_capacity(batch.iter().map(|j| j.line.len()).sum::<usize>() + 1);
        if mid_line {
            bytes.push(b'\n');
        }
        for job in &batch {
            bytes.extend_from_slice(&job.line);
        }
        let result = match file.write_all(&bytes) {
            Ok(()) => {
                mid_line = false;
                file.sync_data()
            }
            Err(e) => {
                mid_line = true;
                Err(e)
            }
        }
        .map_err(|e| AuditError::Write(e.to_string()));
        if let Err(e) = &result {
            tracing::error!("{e}; {} records may be missing", batch.len());
        }
        for job in batch {
            // The caller may have stopped waiting; its record is written all the same.
            let _ = job.done.send(result.clone());
        }
    }
}

/// What `audit show` prints.
#[derive(Debug)]
pub struct ShowOptions {
    pub file: PathBuf,
    /// Only records at or after this time.
    pub since: Option<SystemTime>,
    /// Only this user's records (compared trimmed and lowercased, as typed at sign-in).
    pub user: Option<String>,
    /// Only this room's records.
    pub room: Option<String>,
    /// Decrypts phone numbers; without it they show as `phone=<encrypted>`.
    pub key: Option<AuditKey>,
}

/// Prints the matching records of `opts.file` to `out`, one per line, oldest first;
/// warnings (undecodable lines, phone numbers that did not decrypt) go to stderr.
pub fn show(opts: ShowOptions, out: &mut impl Write) -> anyhow::Result<()> {
    show_with_warnings(opts, out, &mut io::stderr().lock())
}

/// [`show`], with the warnings written to `warnings`.
pub fn show_with_warnings(
    opts: ShowOptions,
    out: &mut impl Write,
    warnings: &mut impl Write,
) -> anyhow::Result<()> {
    let name = opts.file.display().to_string();
    let file =
        File::open(&opts.file).with_context(|| format!("cannot open the audit log {name}"))?;
    let mut reader = BufReader::new(file);
    let user = opts.user.as_deref().map(|u| u.trim().to_lowercase());
    let room = opts.room.as_deref().map(|r| r.trim().to_lowercase());
    let (mut other_key, mut damaged) = (0usize, 0usize);
    let mut raw = Vec::new();
    for number in 1.. {
        raw.clear();
        if reader
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("cannot read the audit log {name}"))?
            == 0
        {
            break;
        }
        let complete = raw.last() == Some(&b'\n');
        let Ok(text) = std::str::from_utf8(&raw) else {
            writeln!(
                warnings,
                "warning: {name}:{number}: not UTF-8 text; skipped"
            )?;
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let rec: StoredRecord = match serde_json::from_str(text) {
            Ok(rec) => rec,
            Err(e) if e.is_eof() && !complete => {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: the last line is cut off (roomgate probably stopped while writing it); skipped"
                )?;
                continue;
            }
            Err(e) if e.is_eof() => {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: an incomplete record (cut off by an earlier crash); skipped"
                )?;
                continue;
            }
            Err(e) if e.is_data() => {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: not an audit record ({e}); skipped"
                )?;
                continue;
            }
            Err(e) => {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: not valid JSON (column {}); skipped",
                    e.column()
                )?;
                continue;
            }
        };
        let Ok(at) = parse_rfc3339(&rec.time) else {
            writeln!(
                warnings,
                "warning: {name}:{number}: the time is not RFC 3339; skipped"
            )?;
            continue;
        };
        if opts.since.is_some_and(|since| at < since)
            || user
                .as_ref()
                .is_some_and(|u| rec.username.as_ref() != Some(u))
            || room.as_ref().is_some_and(|r| rec.room.as_ref() != Some(r))
        {
            continue;
        }
        let phone = open_phone(&rec, opts.key.as_ref());
        match phone {
            PhoneView::OtherKey { .. } => other_key += 1,
            PhoneView::Damaged => damaged += 1,
            _ => {}
        }
        writeln!(out, "{}", render(&rec, &phone))?;
    }
    if other_key > 0 {
        writeln!(
            warnings,
            "warning: {other_key} phone numbers were sealed with another key than the one given"
        )?;
    }
    if damaged > 0 {
        writeln!(
            warnings,
            "warning: {damaged} phone numbers did not decrypt: their records were altered or damaged"
        )?;
    }
    out.flush()?;
    Ok(())
}

fn render(rec: &StoredRecord, phone: &PhoneView) -> String {
    let mut line = format!("{} {:<19}", shown(&rec.time), shown(&rec.event));
    let fields = [
        ("user", &rec.username),
        ("room", &rec.room),
        ("ip", &rec.ip),
        ("callback", &rec.status_callback_event),
        ("detail", &rec.detail),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = write!(line, " {name}={}", shown(value));
        }
    }
    match phone {
        PhoneView::Absent => {}
        PhoneView::NoKey => line.push_str(" phone=<encrypted>"),
        PhoneView::Plain(number) => {
            let _ = write!(line, " phone={}", shown(number));
        }
        PhoneView::OtherKey { record, given } => {
            let _ = write!(
                line,
                " phone=<wrong key: sealed with key {}, given key {given}>",
                shown(record)
            );
        }
        PhoneView::Damaged => line.push_str(" phone=<cannot decrypt: record altered or damaged>"),
    }
    line.trim_end().to_owned()
}

/// Values as they are when plain, quoted and escaped otherwise, so an edited log can't
/// forge extra fields or send escape sequences to the terminal.
fn shown(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:+/@*[]%".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// `--since`: an RFC 3339 time (`2026-11-22T08:00:00Z`, or a date, meaning its UTC
/// midnight) or a duration before `now` (`2h`, `30m`, `1d`, `1h30m`; units s, m, h, d, w).
pub fn parse_since(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    let value = value.trim();
    let bad = || {
        format!(
            "--since must be an RFC 3339 time like 2026-11-22T08:00:00Z or a duration like 2h, 30m or 1d (got {value:?})"
        )
    };
    if let Ok(ago) = parse_duration(value) {
        return now.checked_sub(ago).ok_or_else(bad);
    }
    parse_rfc3339(value)
        .or_else(|()| parse_rfc3339(&format!("{value}T00:00:00Z")))
        .map_err(|()| bad())
}

fn parse_duration(value: &str) -> Result<Duration, ()> {
    let mut total: u64 = 0;
    let mut rest = value;
    if rest.is_empty() {
        return Err(());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit = rest[digits..].chars().next().ok_or(())?;
        let amount: u64 = rest[..digits].parse().map_err(|_| ())?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(()),
        };
        total = amount
            .checked_mul(scale)
            .and_then(|s| total.checked_add(s))
            .ok_or(())?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// RFC 3339 (`2026-11-22T08:00:00Z`, `2026-11-22t09:00:00.5+01:00`), to the second.
fn parse_rfc3339(s: &str) -> Result<SystemTime, ()> {
    // Byte offsets below assume one byte per character.
    if !s.is_ascii() {
        return Err(());
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err(());
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, ()> {
        let part = &s[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| ())
        } else {
            Err(())
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(());
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(()),
            };
            let (h, m) = (num(s.len() - 5..s.len() - 3)?, num(s.len() - 2..s.len())?);
            if h > 23 || m > 59 {
                return Err(());
            }
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(()),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60: a leap second, counted as the second before.
        || second > 60
    {
        return Err(());
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset;
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date: the inverse of the
/// `civil_from_days` behind [`rfc3339`] (Howard Hinnant's algorithms).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER_KEY_B64: &str = "HxwdGhsYGRYXFBUSExAREA4PDA0KCwgJBgcEBQIDAAE=";
    const PHONE: &str = "+14155550101";

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "roomgate-audit-unit-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join("audit.log")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn key() -> AuditKey {
        AuditKey::from_base64(KEY_B64).unwrap()
    }

    fn alice() -> Username {
        Username::parse("alice").unwrap()
    }

    fn standup() -> RoomName {
        RoomName::parse("standup").unwrap()
    }

    fn phone() -> PhoneNumber {
        PhoneNumber::parse(PHONE).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn options(file: PathBuf) -> ShowOptions {
        ShowOptions {
            file,
            since: None,
            user: None,
            room: None,
            key: None,
        }
    }

    /// (stdout, stderr) of a `show`.
    fn run_show(opts: ShowOptions) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        show_with_warnings(opts, &mut out, &mut err).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn lines(path: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn records_round_trip_with_the_phone_sealed() {
        let dir = TempDir::new();
        let clock = Arc::new(ManualClock::new(at(1_795_334_400)));
        let log = AuditLog::open(&dir.file(), Some(key()))
            .unwrap()
            .with_clock(clock.clone());
        log.record(
            AuditRecord::new(AuditEvent::CheckApproved)
                .user(&alice())
                .room(&standup())
                .ip("203.0.113.7".parse().unwrap())
                .phone(&phone())
                .detail("approved"),
        )
        .await
        .unwrap();

        let stored = lines(&dir.file());
        assert_eq!(stored.len(), 1);
        let rec = &stored[0];
        assert_eq!(rec["time"], "2026-11-22T08:00:00Z");
        assert_eq!(rec["event"], "check_approved");
        assert_eq!(rec["username"], "alice");
        assert_eq!(rec["room"], "standup");
        assert_eq!(rec["ip"], "203.0.113.7");
        assert_eq!(rec["detail"], "approved");
        assert_eq!(rec["phone"]["kid"], key().id());
        let nonce = STANDARD
            .decode(rec["phone"]["nonce"].as_str().unwrap())
            .unwrap();
        assert_eq!(nonce.len(), 12);

        let mut opts = options(dir.file());
        opts.key = Some(key());
        let (out, err) = run_show(opts);
        assert_eq!(
            out,
            "2026-11-22T08:00:00Z check_approved      user=alice room=standup ip=203.0.113.7 detail=approved phone=+14155550101\n"
        );
        assert_eq!(err, "");
    }

    #[tokio::test]
    async fn the_same_number_never_gives_the_same_ciphertext() {
        let dir = TempDir::new();
        let clock = Arc::new(ManualClock::default());
        let log = AuditLog::open(&dir.file(), Some(key()))
            .unwrap()
            .with_clock(clock);
        for _ in 0..2 {
            let rec = AuditRecord::new(AuditEvent::CodeSent)
                .user(&alice())
                .phone(&phone());
            log.record(rec).await.unwrap();
        }
        let stored = lines(&dir.file());
        assert_eq!(stored[0]["time"], stored[1]["time"]);
        assert_ne!(stored[0]["phone"]["nonce"], stored[1]["phone"]["nonce"]);
        assert_ne!(stored[0]["phone"]["ct"], stored[1]["phone"]["ct"]);
    }

    #[tokio::test]
    async fn the_file_never_holds_the_number_in_any_plain_form() {
        let dir = TempDir::new();
        for key in [Some(key()), None] {
            let log = AuditLog::open(&dir.file(), key).unwrap();
            for event in [AuditEvent::SignInRequested, AuditEvent::CodeSent] {
                let rec = AuditRecord::new(event).user(&alice()).phone(&phone());
                log.record(rec).await.unwrap();
            }
        }
        let text = std::fs::read_to_string(dir.file()).unwrap();
        assert_eq!(text.lines().count(), 4);
        for plain in [
            PHONE,
            "14155550101",
            "4155550101",
            "5550101",
            "+1********01",
        ] {
            assert!(!text.contains(plain), "{plain} in {text}");
        }
    }

    #[tokio::test]
    async fn without_a_key_the_phone_is_left_out() {
        let dir = TempDir::new();
        let log = AuditLog::open(&dir.file(), None).unwrap();
        let rec = AuditRecord::new(AuditEvent::CodeSent)
            .user(&alice())
            .phone(&phone());
        log.record(rec).await.unwrap();
        let stored = lines(&dir.file());
        assert!(stored[0].get("phone").is_none(), "{}", stored[0]);
        assert_eq!(stored[0]["username"], "alice");
        let mut opts = options(dir.file());
        opts.key = Some(key());
        let (out, _) = run_show(opts);
        assert!(!out.contains("phone="), "{out}");
    }

    async fn one_sealed_record(dir: &TempDir) {
        let log = AuditLog::open(&dir.file(), Some(key())).unwrap();
        let rec = AuditRecord::new(AuditEvent::CheckApproved)
            .user(&alice())
            .room(&standup())
            .phone(&phone());
        log.record(rec).await.unwrap();
    }

    fn edit_record(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut rec = lines(path).remove(0);
        edit(&mut rec);
        std::fs::write(path, format!("{rec}\n")).unwrap();
    }

    #[tokio::test]
    async fn tampered_ciphertext_or_fields_do_not_decrypt() {
        let dir = TempDir::new();
        one_sealed_record(&dir).await;
        edit_record(&dir.file(), |rec| {
            let mut ct = STANDARD
                .decode(rec["phone"]["ct"].as_str().unwrap())
                .unwrap();
            ct[0] ^= 1;
            rec["phone"]["ct"] = STANDARD.encode(ct).into();
        });
        let mut opts = options(dir.file());
        opts.key = Some(key());
        let (out, err) = run_show(opts);
        assert!(
            out.contains("phone=<cannot decrypt: record altered or damaged>"),
            "{out}"
        );
        assert!(!out.contains(PHONE));
        assert!(err.contains("1 phone numbers did not decrypt"), "{err}");

        // The sealed number belongs to its record: moving it to another user fails.
        let dir = TempDir::new();
        one_sealed_record(&dir).await;
        edit_record(&dir.file(), |rec| rec["username"] = "mallory".into());
        let mut opts = options(dir.file());
        opts.key = Some(key());
        let (out, _) = run_show(opts);
        assert!(out.contains("user=mallory"), "{out}");
        assert!(out.contains("altered or damaged"), "{out}");
        assert!(!out.contains(PHONE));
    }

    #[tokio::test]
    async fn a_wrong_key_is_named_per_record_and_nothing_aborts() {
        let dir = TempDir::new();
        one_sealed_record(&dir).await;
        one_sealed_record(&dir).await;
        let wrong = AuditKey::from_base64(OTHER_KEY_B64).unwrap();
        let wrong_id = wrong.id();
        let mut opts = options(dir.file());
        opts.key = Some(wrong);
        let (out, err) = run_show(opts);
        assert_eq!(out.lines().count(), 2, "{out}");
        for line in out.lines() {
            assert!(
                line.ends_with(&format!(
                    "phone=<wrong key: sealed with key {}, given key {wrong_id}>",
                    key().id()
                )),
                "{line}"
            );
        }
        assert!(err.contains("2 phone numbers were sealed with another key"));

        let (out, err) = run_show(options(dir.file()));
        assert!(
            out.lines().all(|l| l.ends_with("phone=<encrypted>")),
            "{out}"
        );
        assert_eq!(err, "");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_records_are_all_there_each_on_its_own_line() {
        let dir = TempDir::new();
        let log = AuditLog::open(&dir.file(), Some(key())).unwrap();
        let tasks: Vec<_> = (0..20)
            .map(|task| {
                let log = log.clone();
                tokio::spawn(async move {
                    for n in 0..10 {
                        let rec = AuditRecord::new(AuditEvent::TokenMinted)
                            .user(&alice())
                            .phone(&phone())
                            .detail(format!("t{task}-n{n}"));
                        log.record(rec).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let text = std::fs::read_to_string(dir.file()).unwrap();
        assert!(text.ends_with('\n'));
        let details: HashSet<String> = text
            .lines()
            .map(|l| {
                let rec: serde_json::Value = serde_json::from_str(l).expect(l);
                rec["detail"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text.lines().count(), 200);
        assert_eq!(details.len(), 200);

        let mut opts = options(dir.file());
        opts.key = Some(key());
        let (out, err) = run_show(opts);
        assert_eq!(out.matches("phone=+14155550101").count(), 200);
        assert_eq!(err, "");
    }

    #[tokio::test]
    async fn a_record_is_on_disk_when_record_returns() {
        let dir = TempDir::new();
        let log = AuditLog::open(&dir.file(), None).unwrap();
        for n in 0..20 {
            let rec = AuditRecord::new(AuditEvent::Limited).detail(format!("n{n}"));
            log.record(rec).await.unwrap();
            // Read through a separate handle, as another process would.
            let text = std::fs::read_to_string(dir.file()).unwrap();
            let last = text.lines().last().unwrap();
            assert!(last.contains(&format!("\"detail\":\"n{n}\"")), "{last}");
            assert!(text.ends_with('\n'));
        }
    }

    #[tokio::test]
    async fn records_keep_the_order_they_were_recorded_in() {
        let dir = TempDir::new();
        let log = AuditLog::open(&dir.file(), None).unwrap();
        let pending: Vec<_> = (0..50)
            .map(|n| log.record(AuditRecord::new(AuditEvent::Limited).detail(format!("{n}"))))
            .collect();
        // Queued in this order when each future first runs; join_all polls in order.
        futures_util::future::join_all(pending).await;
        let order: Vec<String> = lines(&dir.file())
            .iter()
            .map(|r| r["detail"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..50).map(|n| n.to_string()).collect();
        assert_eq!(order, expected);
    }

    #[tokio::test]
    async fn a_cut_off_last_line_is_skipped_with_a_warning() {
        let dir = TempDir::new();
        one_sealed_record(&dir).await;
        one_sealed_record(&dir).await;
        let mut text = std::fs::read_to_string(dir.file()).unwrap();
        let second = text.find('\n').unwrap() + 1;
        text.truncate(second + 40);
        std::fs::write(dir.file(), &text).unwrap();
        let (out, err) = run_show(options(dir.file()));
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(err.contains(":2: the last line is cut off"), "{err}");

        // Appending again starts on a fresh line, so only the cut line is lost.
        one_sealed_record(&dir).await;
        let (out, err) = run_show(options(dir.file()));
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(err.contains(":2: an incomplete record"), "{err}");
    }

    #[tokio::test]
    async fn other_undecodable_lines_are_reported_by_number() {
        let dir = TempDir::new();
        one_sealed_record(&dir).await;
        let mut bytes = std::fs::read(dir.file()).unwrap();
        bytes.extend_from_slice(b"not json at all\n{\"event\":\"x\"}\n\xff\xfe\n\n");
        bytes.extend_from_slice(br#"{"time":"yesterday","event":"limited"}"#);
        bytes.push(b'\n');
        std::fs::write(dir.file(), &bytes).unwrap();
        one_sealed_record(&dir).await;
        let (out, err) = run_show(options(dir.file()));
        assert_eq!(out.lines().count(), 2, "{out}");
        let name = dir.file().display().to_string();
        assert!(err.contains(&format!("{name}:2: not valid JSON")), "{err}");
        assert!(
            err.contains(&format!(
                "{name}:3: not an audit record (missing field `time`"
            )),
            "{err}"
        );
        assert!(err.contains(&format!("{name}:4: not UTF-8")), "{err}");
        assert!(
            err.contains(&format!("{name}:6: the time is not RFC 3339")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 4, "{err}");
    }

    #[tokio::test]
    async fn filters_by_time_user_and_room() {
        let dir = TempDir::new();
        let start = at(1_795_334_400); // 2026-11-22T08:00:00Z
        let clock = Arc::new(ManualClock::new(start));
        let log = AuditLog::open(&dir.file(), Some(key()))
            .unwrap()
            .with_clock(clock.clone());
        let bob = Username::parse("bob").unwrap();
        let hands = RoomName::parse("all-hands").unwrap();
        for (user, room) in [
            (&alice(), &standup()),
            (&bob, &standup()),
            (&alice(), &hands),
        ] {
            let rec = AuditRecord::new(AuditEvent::TokenMinted)
                .user(user)
                .room(room);
            log.record(rec).await.unwrap();
            clock.advance(Duration::from_secs(3600));
        }
        log.record(AuditRecord::new(AuditEvent::AclReloaded).detail("3 users"))
            .await
            .unwrap();

        let show = |edit: &dyn Fn(&mut ShowOptions)| {
            let mut opts = options(dir.file());
            edit(&mut opts);
            run_show(opts).0
        };
        assert_eq!(show(&|_| {}).lines().count(), 4);
        let alices = show(&|o| o.user = Some(" Alice ".into()));
        assert_eq!(alices.lines().count(), 2, "{alices}");
        assert!(alices.lines().all(|l| l.contains("user=alice")));
        let standups = show(&|o| o.room = Some("standup".into()));
        assert_eq!(standups.lines().count(), 2);
        let both = show(&|o| {
            o.user = Some("alice".into());
            o.room = Some("standup".into());
        });
        assert_eq!(both.lines().count(), 1);
        let recent = show(&|o| o.since = Some(start + Duration::from_secs(3600)));
        assert_eq!(recent.lines().count(), 3, "{recent}");
        assert!(
            recent.starts_with("2026-11-22T09:00:00Z token_minted"),
            "{recent}"
        );
        assert!(
            recent.ends_with("2026-11-22T11:00:00Z acl_reloaded        detail=\"3 users\"\n"),
            "{recent}"
        );
    }

    #[tokio::test]
    async fn room_events_carry_the_twilio_event_name() {
        let dir = TempDir::new();
        let log = AuditLog::open(&dir.file(), None).unwrap();
        let rec = AuditRecord::room_event("participant-connected")
            .room(&standup())
            .user(&alice());
        log.record(rec).await.unwrap();
        let stored = lines(&dir.file());
        assert_eq!(stored[0]["event"], "room_event");
        assert_eq!(stored[0]["status_callback_event"], "participant-connected");
        let (out, _) = run_show(options(dir.file()));
        assert!(out.contains("callback=participant-connected"), "{out}");
    }

    #[test]
    fn odd_values_are_quoted_so_they_cannot_forge_fields_or_escape_codes() {
        let rec = StoredRecord {
            time: "2026-11-22T08:00:00Z".into(),
            event: "limited".into(),
            username: Some("eve phone=+1555".into()),
            room: None,
            ip: None,
            detail: Some("\u{1b}[2J".into()),
            status_callback_event: None,
            phone: None,
        };
        let line = render(&rec, &PhoneView::Absent);
        assert!(line.contains(r#"user="eve phone=+1555""#), "{line}");
        assert!(line.contains(r#"detail="\u{1b}[2J""#), "{line}");
    }

    #[test]
    fn labels_are_cut_short() {
        let rec = AuditRecord::new(AuditEvent::Limited).detail("x".repeat(1000));
        assert_eq!(rec.detail.unwrap().len(), MAX_LABEL_CHARS);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new();
        AuditLog::open(&dir.file(), None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.file()), 0o600);
        std::fs::set_permissions(dir.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
        AuditLog::open(&dir.file(), None).unwrap();
        assert_eq!(mode(&dir.file()), 0o600);
    }

    #[tokio::test]
    async fn disabled_records_nothing() {
        let log = AuditLog::disabled();
        log.record(AuditRecord::new(AuditEvent::CodeSent).phone(&phone()))
            .await
            .unwrap();
        assert!(format!("{log:?}").contains("enabled: false"));
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_never_echoed() {
        assert!(AuditKey::from_base64(&format!(" {KEY_B64}\n")).is_ok());
        let short = "c2hvcnQtc2VjcmV0LXZhbHVl";
        let err = AuditKey::from_base64(short).unwrap_err();
        assert!(err.contains("decodes to 18 bytes"), "{err}");
        assert!(!err.contains(short));
        // base64's own message would name the bad character ('-' is symbol 45).
        let err = AuditKey::from_base64("not-base64-at-all").unwrap_err();
        assert_eq!(
            err,
            "is not valid standard base64 (make a key with `openssl rand -base64 32`)"
        );
        assert_eq!(format!("{:?}", key()), "AuditKey([REDACTED])");
        assert_eq!(key().id().len(), 8);
        assert_ne!(
            key().id(),
            AuditKey::from_base64(OTHER_KEY_B64).unwrap().id()
        );
    }

    fn config(vars: &[(&str, &str)]) -> Result<AuditConfig, Vec<String>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AuditConfig::from_lookup(|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn config_reads_the_path_and_the_key_from_a_variable_or_a_file() {
        let c = config(&[]).unwrap();
        assert_eq!(c.path, PathBuf::from("audit.log"));
        assert!(c.key.is_none());

        let c = config(&[
            ("ROOMGATE_AUDIT_LOG", "/var/log/rg.log"),
            ("ROOMGATE_AUDIT_KEY", KEY_B64),
        ])
        .unwrap();
        assert_eq!(c.path, PathBuf::from("/var/log/rg.log"));
        assert_eq!(c.key.unwrap().id(), key().id());
        assert!(
            !format!("{:?}", config(&[("ROOMGATE_AUDIT_KEY", KEY_B64)]).unwrap()).contains(KEY_B64)
        );

        let dir = TempDir::new();
        let key_file = dir.0.join("audit-key");
        std::fs::write(&key_file, format!("{KEY_B64}\n")).unwrap();
        let key_file = key_file.to_str().unwrap();
        let c = config(&[("ROOMGATE_AUDIT_KEY_FILE", key_file)]).unwrap();
        assert_eq!(c.key.unwrap().id(), key().id());

        let err = config(&[
            ("ROOMGATE_AUDIT_KEY_FILE", key_file),
            ("ROOMGATE_AUDIT_KEY", KEY_B64),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            ["ROOMGATE_AUDIT_KEY and ROOMGATE_AUDIT_KEY_FILE are both set; set only one"]
        );

        let err = config(&[("ROOMGATE_AUDIT_KEY", "dG9vIHNob3J0")]).unwrap_err();
        assert!(
            err[0].starts_with("ROOMGATE_AUDIT_KEY must be 32 bytes"),
            "{err:?}"
        );
        assert!(!err[0].contains("dG9vIHNob3J0"));

        let missing = dir.0.join("missing");
        let err = config(&[("ROOMGATE_AUDIT_KEY_FILE", missing.to_str().unwrap())]).unwrap_err();
        assert!(err[0].starts_with("ROOMGATE_AUDIT_KEY_FILE: "), "{err:?}");
        assert!(err[0].contains("cannot be read"), "{err:?}");

        std::fs::write(dir.0.join("bad-key"), "secret-ish-value\n").unwrap();
        let err = config(&[(
            "ROOMGATE_AUDIT_KEY_FILE",
            dir.0.join("bad-key").to_str().unwrap(),
        )])
        .unwrap_err();
        assert!(
            err[0].contains("the key is not valid standard base64"),
            "{err:?}"
        );
        assert!(!err[0].contains("secret-ish-value"));
        assert_eq!(err.len(), 1);
    }

    #[test]
    fn since_takes_rfc3339_times_and_durations() {
        let now = at(1_795_334_400);
        let parse = |s| parse_since(s, now);
        assert_eq!(parse("2026-11-22T08:00:00Z"), Ok(now));
        assert_eq!(parse("2026-11-22t09:00:00.250+01:00"), Ok(now));
        assert_eq!(parse("2026-11-22T03:00:00-05:00"), Ok(now));
        assert_eq!(parse("2026-11-22"), Ok(now - Duration::from_secs(8 * 3600)));
        assert_eq!(parse("2h"), Ok(now - Duration::from_secs(7200)));
        assert_eq!(parse("30m"), Ok(now - Duration::from_secs(1800)));
        assert_eq!(parse("1d"), Ok(now - Duration::from_secs(86_400)));
        assert_eq!(parse("1h30m"), Ok(now - Duration::from_secs(5400)));
        assert_eq!(parse("90s"), Ok(now - Duration::from_secs(90)));
        for bad in [
            "",
            "2",
            "h",
            "2x",
            "-2h",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T08:00:00",
            "yesterday",
            "99999999999999999999d",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.starts_with("--since must be"), "{bad}: {err}");
        }
    }

    #[test]
    fn rfc3339_parsing_inverts_formatting() {
        for secs in [
            0,
            951_868_799,
            951_868_800,
            1_795_334_400,
            4_102_444_800,
            253_402_300_799,
        ] {
            let t = at(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t), "{secs}");
        }
        let before = UNIX_EPOCH - Duration::from_secs(86_400 * 365);
        assert_eq!(parse_rfc3339(&rfc3339(before)), Ok(before));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00Z").map(rfc3339),
            Ok("2024-02-29T12:00:00Z".into())
        );
    }
}
