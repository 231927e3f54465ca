//! Twilio credentials that can change while roomgate runs.
//!
//! An API Key is rotated by creating a new one in the Console, pointing the
//! `*_FILE` variables' files at it and sending `SIGHUP`: every client reads the
//! current key per request, so the swap needs no restart and drops no session.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use secrecy::{ExposeSecret, SecretString};

use crate::twilio::signature::SignatureValidator;

/// An API Key: `SK…` and its secret, always swapped together.
#[derive(Clone)]
pub struct ApiKey {
    pub sid: String,
    pub secret: SecretString,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("sid", &self.sid)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// The API Key in service, shared by the Verify client, the Video client and the
/// token issuer.
#[derive(Clone, Debug)]
pub struct ApiKeys(Arc<ArcSwap<ApiKey>>);

impl ApiKeys {
    pub fn new(key: ApiKey) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(key)))
    }

    /// A key that never changes (local mode, tests).
    pub fn fixed(sid: &str, secret: &str) -> Self {
        Self::new(ApiKey {
            sid: sid.to_owned(),
            secret: SecretString::from(secret.to_owned()),
        })
    }

    pub fn current(&self) -> Arc<ApiKey> {
        self.0.load_full()
    }

    pub fn rotate(&self, key: ApiKey) {
        self.0.store(Arc::new(key));
    }
}

/// The secrets that came from files, and where they go when `SIGHUP` re-reads them.
#[derive(Clone)]
pub struct SecretFiles {
    pub keys: ApiKeys,
    pub sid_file: Option<PathBuf>,
    pub secret_file: Option<PathBuf>,
    pub signatures: Option<Arc<ArcSwap<SignatureValidator>>>,
    pub auth_token_file: Option<PathBuf>,
}

impl SecretFiles {
    /// Read the files again and put what changed in service. A new API Key is taken
    /// only whole and well formed: a half-edited pair keeps the old key. Blocking
    /// file I/O: call from `spawn_blocking`.
    pub fn reread(&self) -> Result<(), String> {
        if self.sid_file.is_some() || self.secret_file.is_some() {
            let current = self.keys.current();
            let sid = match &self.sid_file {
                Some(path) => {
                    read_secret_file(path).map_err(|e| format!("TWILIO_API_KEY_SID_FILE: {e}"))?
                }
                None => current.sid.clone(),
            };
            if !(sid.starts_with("SK")
                && sid.len() == 34
                && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(
                    "TWILIO_API_KEY_SID_FILE must hold SK followed by 32 hexadecimal digits".into(),
                );
            }
            let secret = match &self.secret_file {
                Some(path) => SecretString::from(
                    read_secret_file(path)
                        .map_err(|e| format!("TWILIO_API_KEY_SECRET_FILE: {e}"))?,
                ),
                None => current.secret.clone(),
            };
            let changed =
                sid != current.sid || secret.expose_secret() != current.secret.expose_secret();
            if changed {
                tracing::info!(api_key = %sid, "API key rotated");
                self.keys.rotate(ApiKey { sid, secret });
            }
        }
        if let (Some(path), Some(signatures)) = (&self.auth_token_file, &self.signatures) {
            let token =
                read_secret_file(path).map_err(|e| format!("TWILIO_AUTH_TOKEN_FILE: {e}"))?;
            signatures.store(Arc::new(SignatureValidator::new(SecretString::from(token))));
            tracing::info!("Auth Token re-read");
        }
        Ok(())
    }
}

/// A secret's value: from `NAME`, or from the file `NAME_FILE` names (the way
/// container platforms mount secrets), never both. A file's trailing newline is not
/// part of the secret.
pub fn secret_var(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<(Option<String>, Option<PathBuf>), String> {
    let file_var = format!("{name}_FILE");
    match (var(name), var(&file_var)) {
        (Some(_), Some(_)) => Err(format!("set {name} or {file_var}, not both")),
        (Some(value), None) => Ok((Some(value), None)),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            read_secret_file(&path)
                .map(|value| (Some(value), Some(path)))
                .map_err(|e| format!("{file_var}: {e}"))
        }
        (None, None) => Ok((None, None)),
    }
}

/// The most a secret file may hold: keys and URLs are far smaller. A path to
/// something else (`/dev/zero`, a log) is refused rather than read into memory whole.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The secret in `path`, without surrounding whitespace. Errors name the file, never
/// its content. A regular file only, as for the ACL: a FIFO would block start-up (and
/// a SIGHUP's re-read) for good, a device would be read without end.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let (file, _) = crate::acl::read::open_regular(path).map_err(|e| cannot(&e))?;
    let mut text = String::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| cannot(&e))?;
    if text.len() as u64 > MAX_SECRET_BYTES {
        return Err(format!(
            "{} is over {} KiB: too large for a secret; is it the right file?",
            path.display(),
            MAX_SECRET_BYTES / 1024
        ));
    }
    let value = text.trim();
    if value.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn rotation_is_seen_by_every_holder() {
        let keys = ApiKeys::fixed("SKold", "old-secret");
        let holder = keys.clone();
        keys.rotate(ApiKey {
            sid: "SKnew".into(),
            secret: SecretString::from("new-secret"),
        });
        assert_eq!(holder.current().sid, "SKnew");
        assert_eq!(holder.current().secret.expose_secret(), "new-secret");
        assert!(!format!("{holder:?}").contains("new-secret"));
    }

    #[test]
    fn secrets_come_from_the_variable_or_its_file_not_both() {
        let dir = std::env::temp_dir().join(format!("roomgate-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |k: &str| map.get(k).cloned()
        };
        let path = file.display().to_string();

        let (value, source) = secret_var(vars(&[("S_FILE", &path)]), "S").unwrap();
        assert_eq!(value.as_deref(), Some("from-a-file"));
        assert_eq!(source, Some(file.clone()));
        let (value, source) = secret_var(vars(&[("S", "direct")]), "S").unwrap();
        assert_eq!((value.as_deref(), source), (Some("direct"), None));
        assert_eq!(secret_var(vars(&[]), "S").unwrap(), (None, None));
        let both = secret_var(vars(&[("S", "x"), ("S_FILE", &path)]), "S").unwrap_err();
        assert_eq!(both, "set S or S_FILE, not both");
        let missing = secret_var(vars(&[("S_FILE", "/nonexistent/secret")]), "S").unwrap_err();
        assert!(missing.starts_with("S_FILE: cannot read /nonexistent/secret"));
        std::fs::write(&file, "  \n").unwrap();
        assert!(
            secret_var(vars(&[("S_FILE", &path)]), "S")
                .unwrap_err()
                .contains("is empty")
        );
        // Not a regular file, or far too large: refused at once, never read.
        let fifo = dir.join("fifo");
        crate::test_support::mkfifo(&fifo);
        for (path, says) in [
            (fifo.as_path(), "a FIFO"),
            (Path::new("/dev/zero"), "not a regular file"),
        ] {
            let e = read_secret_file(path).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        std::fs::write(&file, vec![b'x'; 70 * 1024]).unwrap();
        assert!(read_secret_file(&file).unwrap_err().contains("too large"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
