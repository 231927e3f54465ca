//! The embedded default: files under `<data dir>/recordings/`, served only by
//! roomgate's own route (`GET /recordings/files/{key}`) and only with a link it
//! signed (HMAC-SHA-256 over the key, expiry and disposition) that has not expired.
//!
//! Layout: each object is the file at its key, with a hidden sidecar
//! `.NAME.sha256` holding "size sha256" recorded at upload; keys never have a
//! segment starting with '.', so neither sidecars nor temporary files are reachable
//! through a key. The signing key lives in `<data dir>/recording-links.key` (0600),
//! so links survive a restart.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    ByteStream, CheckReport, Disposition, ObjectStorage, StorageError, StoredObject, check_key,
    check_ttl, parse_hex32, probe,
};
use crate::clock::Clock;

/// Where the files' route lives; links are this plus the key and the signature.
pub const ROUTE_PREFIX: &str = "/recordings/files/";
const KEY_FILE: &str = "recording-links.key";
const DIR: &str = "recordings";
/// Bound the signed text so a forged query can't make us hash megabytes.
const MAX_FILENAME: usize = 200;

/// A link's query string: `e` expiry (Unix seconds), `d` `inline` or `attachment`,
/// `n` the download name, `s` the signature.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    pub e: Option<u64>,
    #[serde(default)]
    pub d: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub s: Option<String>,
}

/// Why a request for a file was refused. Every reason is answered the same (403):
/// the caller learns nothing about which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    Malformed,
    BadSignature,
    Expired,
}

pub struct LocalStorage {
    root: PathBuf,
    key: SecretBox<[u8; 32]>,
    clock: Arc<dyn Clock>,
}

impl LocalStorage {
    /// Creates `<data_dir>/recordings/` (0700) and the link key (0600) if needed.
    /// Blocking: called once at start-up.
    pub fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        use anyhow::Context;
        let root = data_dir.join(DIR);
        create_private_dir(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        create_private_dir(&root)
            .with_context(|| format!("creating the recordings directory {}", root.display()))?;
        let key = load_or_create_key(&data_dir.join(KEY_FILE)).with_context(|| {
            format!(
                "reading the recording link key {}",
                data_dir.join(KEY_FILE).display()
            )
        })?;
        Ok(Self { root, key, clock })
    }

    /// Deletes the temporary files of uploads a crash (or `kill -9`) interrupted.
    /// Only for `serve` at start-up, before its jobs run: the host's commands open
    /// the same directory while a server may be writing one (a `recordings check`
    /// used to delete the upload under way, which then started again from scratch).
    pub fn remove_leftover_uploads(&self) {
        remove_leftover_uploads(&self.root);
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a valid key.
    pub fn file_path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Check a request's key and query: a signature this instance made, for this key
    /// and disposition, not yet expired. The signature is compared in constant time.
    pub fn verify(&self, key: &str, query: &LinkQuery) -> Result<Disposition, LinkRefused> {
        let (Some(expires), Some(d), Some(sig)) = (query.e, query.d.as_deref(), &query.s) else {
            return Err(LinkRefused::Malformed);
        };
        if check_key(key).is_err() {
            return Err(LinkRefused::Malformed);
        }
        let disposition = match (d, &query.n) {
            ("inline", None) => Disposition::Inline,
            ("attachment", Some(name)) if name.len() <= MAX_FILENAME => Disposition::Attachment {
                filename: name.clone(),
            },
            _ => return Err(LinkRefused::Malformed),
        };
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| LinkRefused::Malformed)?;
        self.mac(key, expires, &disposition)
            .verify_slice(&sig)
            .map_err(|_| LinkRefused::BadSignature)?;
        if self.clock.unix_seconds() >= expires {
            return Err(LinkRefused::Expired);
        }
        Ok(disposition)
    }

    fn mac(&self, key: &str, expires: u64, disposition: &Disposition) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        // Length-prefixed fields: no two different links sign the same bytes.
        let (d, name) = match disposition {
            Disposition::Inline => ("inline", ""),
            Disposition::Attachment { filename } => ("attachment", filename.as_str()),
        };
        mac.update(b"roomgate recording link v1");
        for field in [key, &expires.to_string(), d, name] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// `link` at a given expiry (tests make expired ones with it).
    pub fn link_expiring_at(
        &self,
        key: &str,
        expires: u64,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError> {
        check_key(key)?;
        let disposition = match disposition {
            Disposition::Attachment { filename } => Disposition::Attachment {
                filename: fit_filename(filename),
            },
            Disposition::Inline => Disposition::Inline,
        };
        let sig =
            URL_SAFE_NO_PAD.encode(self.mac(key, expires, &disposition).finalize().into_bytes());
        let (d, n) = match &disposition {
            Disposition::Inline => ("inline", None),
            Disposition::Attachment { filename } => ("attachment", Some(filename.clone())),
        };
        let query = serde_urlencoded::to_string(LinkQuery {
            e: Some(expires),
            d: Some(d.to_owned()),
            n,
            s: Some(sig),
        })
        .map_err(|e| StorageError::Protocol {
            op: "link",
            detail: e.to_string(),
        })?;
        Ok(SecretString::from(format!("{ROUTE_PREFIX}{key}?{query}")))
    }

    fn sidecar(&self, key: &str) -> PathBuf {
        let path = self.root.join(key);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path.with_file_name(format!(".{name}.sha256"))
    }

    async fn write_verified(
        &self,
        key: &str,
        mut body: ByteStream,
    ) -> Result<StoredObject, StorageError> {
        let path = self.root.join(key);
        let parent = path.parent().unwrap_or(&self.root).to_path_buf();
        let dir = parent.clone();
        tokio::task::spawn_blocking(move || create_private_dir_all(&dir))
            .await
            .map_err(|e| StorageError::io("creating directories")(io::Error::other(e)))?
            .map_err(StorageError::io("creating the object's directory"))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = TempPath(Some(parent.join(format!(
            ".{name}.tmp-{}",
            hex::encode(rand::random::<[u8; 8]>())
        ))));
        let mut file = open_private(tmp.path())
            .await
            .map_err(StorageError::io("creating a temporary file"))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Source)?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(StorageError::io("writing the object"))?;
        }
        file.sync_all()
            .await
            .map_err(StorageError::io("syncing the object"))?;
        drop(file);
        let sent = StoredObject {
            size,
            sha256: hasher.finalize().into(),
        };
        // Read back what the disk holds, not what we meant to write.
        let stored = hash_file(tmp.path())
            .await
            .map_err(StorageError::io("reading the object back"))?;
        if stored != sent {
            return Err(StorageError::Mismatch(format!(
                "{} bytes on disk, {} sent",
                stored.size, sent.size
            )));
        }
        let side_tmp = TempPath(Some(parent.join(format!(
            ".{name}.sha256.tmp-{}",
            hex::encode(rand::random::<[u8; 8]>())
        ))));
        let mut side = open_private(side_tmp.path())
            .await
            .map_err(StorageError::io("creating the checksum file"))?;
        side.write_all(format!("{} {}\n", sent.size, hex::encode(sent.sha256)).as_bytes())
            .await
            .map_err(StorageError::io("writing the checksum file"))?;
        side.sync_all()
            .await
            .map_err(StorageError::io("syncing the checksum file"))?;
        drop(side);
        tokio::fs::rename(tmp.path(), &path)
            .await
            .map_err(StorageError::io("renaming the object into place"))?;
        tmp.keep();
        tokio::fs::rename(side_tmp.path(), self.sidecar(key))
            .await
            .map_err(StorageError::io("renaming the checksum file into place"))?;
        side_tmp.keep();
        // The renames themselves survive a crash once the directory is synced.
        let dir = parent.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&dir).and_then(|d| d.sync_all()))
            .await
            .map_err(|e| StorageError::io("syncing the directory")(io::Error::other(e)))?
            .map_err(StorageError::io("syncing the directory"))?;
        Ok(sent)
    }
}

#[async_trait]
impl ObjectStorage for LocalStorage {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn put(&self, key: &str, body: ByteStream) -> Result<StoredObject, StorageError> {
        check_key(key)?;
        self.write_verified(key, body).await
    }

    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        let path = self.file_path(key)?;
        let meta = match tokio::fs::metadata(&path).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StorageError::io("reading the object's size")(e)),
        };
        let recorded = match tokio::fs::read_to_string(self.sidecar(key)).await {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::Unverifiable(key.to_owned()));
            }
            Err(e) => return Err(StorageError::io("reading the checksum file")(e)),
        };
        let (size, sha) = recorded
            .trim()
            .split_once(' ')
            .ok_or_else(|| StorageError::Unverifiable(key.to_owned()))?;
        let (Ok(size), Some(sha256)) = (size.parse::<u64>(), parse_hex32(sha)) else {
            return Err(StorageError::Unverifiable(key.to_owned()));
        };
        if size != meta.len() {
            return Err(StorageError::Mismatch(format!(
                "{} bytes on disk, {size} recorded",
                meta.len()
            )));
        }
        Ok(Some(StoredObject { size, sha256 }))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.file_path(key)?;
        for p in [path, self.sidecar(key)] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("deleting the object")(e)),
            }
        }
        Ok(())
    }

    fn link(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError> {
        let secs = check_ttl(ttl)?;
        self.link_expiring_at(key, self.clock.unix_seconds() + secs, disposition)
    }

    async fn check(&self) -> Result<CheckReport, StorageError> {
        let (key, body) = probe();
        let probe = self.put(&key, body).await?;
        // What the file route answers a request carrying no signature.
        let unsigned_refused = self.verify(&key, &LinkQuery::default()).is_err();
        // The route is the only door only if other local users can't read the files.
        let private = tokio::fs::metadata(&self.root)
            .await
            .map(|m| is_private(&m))
            .unwrap_or(false);
        let deleted = self.delete(&key).await.is_ok();
        // Nor its directory: a check leaves nothing behind (only an empty one goes).
        if let Ok(path) = self.file_path(&key)
            && let Some(dir) = path.parent()
        {
            let _ = tokio::fs::remove_dir(dir).await;
        }
        Ok(CheckReport {
            backend: "local",
            location: self.root.display().to_string(),
            probe,
            unsigned_get_status: if unsigned_refused && private {
                403
            } else {
                200
            },
            encryption: if private {
                "none by roomgate; directory readable by its owner only (use an encrypted disk)"
                    .to_owned()
            } else {
                "none by roomgate, and the directory is readable by other users: chmod 700 it"
                    .to_owned()
            },
            probe_deleted: deleted,
        })
    }
}

/// A temporary file removed on drop unless kept (an upload that fails or is
/// cancelled leaves nothing behind).
struct TempPath(Option<PathBuf>);

impl TempPath {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("a temporary path until kept")
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // One unlink; waiting for a blocking thread would cost more than it.
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn open_private(path: &Path) -> io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

async fn hash_file(path: &Path) -> io::Result<StoredObject> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok(StoredObject {
        size,
        sha256: hasher.finalize().into(),
    })
}

#[cfg(unix)]
fn is_private(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o077 == 0
}

#[cfg(not(unix))]
fn is_private(_: &std::fs::Metadata) -> bool {
    true
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

fn create_private_dir_all(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// `filename` in at most [`MAX_FILENAME`] bytes (what a link's check accepts), cut
/// before its extension so a long name still downloads as a `.mp4`. Every name roomgate
/// makes (a room name, the date, `.mp4`) fits whole.
fn fit_filename(filename: &str) -> String {
    if filename.len() <= MAX_FILENAME {
        return filename.to_owned();
    }
    let ext = filename
        .rfind('.')
        .map(|at| &filename[at..])
        .filter(|ext| ext.len() <= 16)
        .unwrap_or("");
    let mut stem_end = MAX_FILENAME - ext.len();
    while !filename.is_char_boundary(stem_end) {
        stem_end -= 1;
    }
    format!("{}{ext}", &filename[..stem_end])
}

fn load_or_create_key(path: &Path) -> io::Result<SecretBox<[u8; 32]>> {
    let bytes = crate::random::kept_secret(path, 32, "link key (issued links stop working)")?;
    let key = <[u8; 32]>::try_from(bytes.as_slice()).expect("32 bytes asked for");
    Ok(SecretBox::new(Box::new(key)))
}

/// Temporary files of uploads a crash (or `kill -9`) interrupted: at `serve`'s
/// start-up none of its uploads is running, so every one is leftover. Each is as
/// large as the part of a recording it held.
fn remove_leftover_uploads(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        match entry.file_type() {
            Ok(t) if t.is_dir() => remove_leftover_uploads(&path),
            Ok(_) if name.starts_with('.') && name.contains(".tmp-") => {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(error = %e, "leftover upload not removed");
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::clock::ManualClock;
    use crate::test_support::TempDir;

    fn storage(dir: &Path) -> (LocalStorage, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (LocalStorage::open(dir, clock.clone()).unwrap(), clock)
    }

    /// The key and query of a link, as the route receives them.
    fn split(link: &SecretString) -> (String, LinkQuery) {
        let link = link.expose_secret();
        let rest = link.strip_prefix(ROUTE_PREFIX).unwrap();
        let (key, query) = rest.split_once('?').unwrap();
        (key.to_owned(), serde_urlencoded::from_str(query).unwrap())
    }

    fn attachment() -> Disposition {
        Disposition::Attachment {
            filename: "standup 2026-12-05.mp4".into(),
        }
    }

    #[test]
    fn a_link_is_valid_until_it_expires() {
        let dir = TempDir::new("local-links");
        let (s, clock) = storage(&dir.0);
        let link = s
            .link("r/a.mp4", Duration::from_secs(60), &attachment())
            .unwrap();
        let (key, query) = split(&link);
        assert_eq!(s.verify(&key, &query), Ok(attachment()));
        clock.advance(Duration::from_secs(59));
        assert!(s.verify(&key, &query).is_ok());
        clock.advance(Duration::from_secs(1));
        assert_eq!(s.verify(&key, &query), Err(LinkRefused::Expired));
    }

    /// The longest name roomgate makes (a 64-character room) downloads whole, and one
    /// past the limit keeps its extension. (Names were cut at 50 characters, which
    /// took the date and `.mp4` off any room name over 29.)
    #[test]
    fn a_download_keeps_its_whole_name_and_an_over_long_one_its_extension() {
        let dir = TempDir::new("local-names");
        let (s, _) = storage(&dir.0);
        let named = |filename: String| {
            let attachment = Disposition::Attachment { filename };
            let link = s
                .link("r/a.mp4", Duration::from_secs(60), &attachment)
                .unwrap();
            let (key, query) = split(&link);
            match s.verify(&key, &query) {
                Ok(Disposition::Attachment { filename }) => filename,
                other => panic!("{other:?}"),
            }
        };
        let longest = format!("{}-2026-12-05-2034.mp4", "r".repeat(64));
        assert_eq!(named(longest.clone()), longest);
        let over = format!("{}.mp4", "é".repeat(150));
        let fitted = named(over);
        assert!(fitted.ends_with("é.mp4"), "{fitted}");
        assert!(fitted.len() <= MAX_FILENAME, "{}", fitted.len());
    }

    #[test]
    fn an_altered_link_is_refused() {
        let dir = TempDir::new("local-altered");
        let (s, _) = storage(&dir.0);
        let link = s
            .link("r/a.mp4", Duration::from_secs(60), &attachment())
            .unwrap();
        let (key, query) = split(&link);
        assert_eq!(s.verify("r/b.mp4", &query), Err(LinkRefused::BadSignature));
        let later = LinkQuery {
            e: query.e.map(|e| e + 3600),
            ..split(&link).1
        };
        assert_eq!(s.verify(&key, &later), Err(LinkRefused::BadSignature));
        let inline = LinkQuery {
            d: Some("inline".into()),
            n: None,
            ..split(&link).1
        };
        assert_eq!(s.verify(&key, &inline), Err(LinkRefused::BadSignature));
        let renamed = LinkQuery {
            n: Some("x.mp4".into()),
            ..split(&link).1
        };
        assert_eq!(s.verify(&key, &renamed), Err(LinkRefused::BadSignature));
        // Alter the first character: every bit of it is signature. The last one carries
        // two padding bits, so changing it can make a non-canonical (malformed) encoding.
        let sig = query.s.clone().unwrap();
        let first = if sig.starts_with('A') { "B" } else { "A" };
        let sig = format!("{first}{}", &sig[1..]);
        let forged = LinkQuery {
            s: Some(sig),
            ..split(&link).1
        };
        assert_eq!(s.verify(&key, &forged), Err(LinkRefused::BadSignature));
        assert_eq!(
            s.verify(&key, &LinkQuery::default()),
            Err(LinkRefused::Malformed)
        );
        assert_eq!(s.verify("../x", &query), Err(LinkRefused::Malformed));
    }

    #[test]
    fn another_key_refuses_the_link_and_the_key_survives_a_restart() {
        let dir = TempDir::new("local-keys");
        let other = TempDir::new("local-keys-other");
        let (s, _) = storage(&dir.0);
        let link = s
            .link("a.mp4", Duration::from_secs(60), &Disposition::Inline)
            .unwrap();
        let (key, query) = split(&link);
        let (stranger, _) = storage(&other.0);
        assert_eq!(
            stranger.verify(&key, &query),
            Err(LinkRefused::BadSignature)
        );
        let (reopened, _) = storage(&dir.0);
        assert_eq!(reopened.verify(&key, &query), Ok(Disposition::Inline));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.0.join(KEY_FILE)), 0o600);
            assert_eq!(mode(&dir.0.join(DIR)), 0o700);
        }
    }

    #[test]
    fn ttls_outside_five_to_three_hundred_seconds_are_refused() {
        let dir = TempDir::new("local-ttl");
        let (s, _) = storage(&dir.0);
        assert!(
            s.link("a", Duration::from_secs(4), &Disposition::Inline)
                .is_err()
        );
        assert!(
            s.link("a", Duration::from_secs(301), &Disposition::Inline)
                .is_err()
        );
        assert!(
            s.link("../a", Duration::from_secs(60), &Disposition::Inline)
                .is_err()
        );
    }

    fn chunks(parts: Vec<Result<&'static [u8], io::Error>>) -> ByteStream {
        futures_util::stream::iter(parts.into_iter().map(|p| p.map(bytes::Bytes::from_static)))
            .boxed()
    }

    #[tokio::test]
    async fn put_stat_overwrite_and_delete() {
        let dir = TempDir::new("local-put");
        let (s, _) = storage(&dir.0);
        let stored = s
            .put("room/one.mp4", chunks(vec![Ok(b"hello "), Ok(b"world")]))
            .await
            .unwrap();
        assert_eq!(stored.size, 11);
        assert_eq!(
            stored.sha256,
            <[u8; 32]>::from(Sha256::digest(b"hello world"))
        );
        assert_eq!(s.stat("room/one.mp4").await.unwrap(), Some(stored));
        let again = s
            .put("room/one.mp4", chunks(vec![Ok(b"bye")]))
            .await
            .unwrap();
        assert_eq!(s.stat("room/one.mp4").await.unwrap(), Some(again));
        let names: Vec<_> = std::fs::read_dir(dir.0.join("recordings/room"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "the file and its checksum, nothing else: {names:?}"
        );
        s.delete("room/one.mp4").await.unwrap();
        s.delete("room/one.mp4").await.unwrap();
        assert_eq!(s.stat("room/one.mp4").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_stream_that_fails_leaves_nothing() {
        let dir = TempDir::new("local-fail");
        let (s, _) = storage(&dir.0);
        let err = s
            .put(
                "room/two.mp4",
                chunks(vec![Ok(b"half"), Err(io::Error::other("download broke"))]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Source(_)), "{err:?}");
        assert_eq!(s.stat("room/two.mp4").await.unwrap(), None);
        assert_eq!(
            std::fs::read_dir(dir.0.join("recordings/room"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn check_stores_refuses_unsigned_and_deletes_the_probe() {
        let dir = TempDir::new("local-check");
        let (s, _) = storage(&dir.0);
        let report = s.check().await.unwrap();
        assert!(report.passed(), "{report:?}");
        assert_eq!(report.unsigned_get_status, 403);
        assert!(!dir.0.join("recordings/roomgate-probe").exists());
    }
}
