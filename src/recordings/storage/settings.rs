//! `ROOMGATE_RECORDINGS_S3_*` and `ROOMGATE_RECORDING_LINK_SECS`.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::env::Env;
use crate::twilio::credentials::{read_secret_file, secret_var};

pub const DEFAULT_LINK_SECS: u64 = 60;

const ENDPOINT: &str = "ROOMGATE_RECORDINGS_S3_ENDPOINT";
const BUCKET: &str = "ROOMGATE_RECORDINGS_S3_BUCKET";
const REGION: &str = "ROOMGATE_RECORDINGS_S3_REGION";
const ACCESS_KEY_ID: &str = "ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID";
const SECRET_ACCESS_KEY: &str = "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY";
const PATH_STYLE: &str = "ROOMGATE_RECORDINGS_S3_PATH_STYLE";
/// The five that may come from a file (`NAME_FILE`).
const S3_VARS: [&str; 5] = [ENDPOINT, BUCKET, REGION, ACCESS_KEY_ID, SECRET_ACCESS_KEY];

/// Where recordings go and how long their links live.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// A bucket, or `None` for files under the data directory.
    pub s3: Option<S3Settings>,
    /// `ROOMGATE_RECORDING_LINK_SECS`: the life of a playback or download link.
    pub link_ttl: Duration,
    /// `ROOMGATE_DATA_DIR`, for when the store is Redis (the embedded store's
    /// settings name the same directory otherwise).
    pub data_dir: PathBuf,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            s3: None,
            link_ttl: Duration::from_secs(DEFAULT_LINK_SECS),
            data_dir: PathBuf::from(crate::store::DEFAULT_DATA_DIR),
        }
    }
}

/// An S3-compatible bucket.
#[derive(Clone)]
pub struct S3Settings {
    pub endpoint: Url,
    pub bucket: String,
    pub region: String,
    pub path_style: bool,
    /// The access key in service; `SIGHUP` swaps it when it came from files.
    pub credentials: S3Credentials,
    pub secret_files: S3SecretFiles,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint.as_str())
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("credentials", &"[REDACTED]")
            .finish()
    }
}

/// The access key pair, swapped whole.
#[derive(Clone)]
pub struct S3Credentials(Arc<ArcSwap<rusty_s3::Credentials>>);

impl S3Credentials {
    pub fn new(access_key_id: &str, secret: &SecretString) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(rusty_s3::Credentials::new(
            access_key_id,
            secret.expose_secret(),
        ))))
    }

    pub fn current(&self) -> Arc<rusty_s3::Credentials> {
        self.0.load_full()
    }

    fn rotate(&self, access_key_id: &str, secret: &str) {
        self.0
            .store(Arc::new(rusty_s3::Credentials::new(access_key_id, secret)));
    }
}

/// The key pair's files, when it came from files: read again on `SIGHUP`. The
/// endpoint, bucket and region are read once (changing them under stored objects
/// would orphan them).
#[derive(Clone, Default)]
pub struct S3SecretFiles {
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key_file: Option<PathBuf>,
}

impl S3SecretFiles {
    pub fn any(&self) -> bool {
        self.access_key_id_file.is_some() || self.secret_access_key_file.is_some()
    }

    /// Read the files again and put the pair in service if it changed. Blocking file
    /// I/O: call from `spawn_blocking`.
    pub fn reread(&self, credentials: &S3Credentials) -> Result<(), String> {
        let current = credentials.current();
        let id = match &self.access_key_id_file {
            Some(path) => {
                read_secret_file(path).map_err(|e| format!("{ACCESS_KEY_ID}_FILE: {e}"))?
            }
            None => current.key().to_owned(),
        };
        let secret = match &self.secret_access_key_file {
            Some(path) => {
                read_secret_file(path).map_err(|e| format!("{SECRET_ACCESS_KEY}_FILE: {e}"))?
            }
            None => current.secret().to_owned(),
        };
        if id != current.key() || secret != current.secret() {
            credentials.rotate(&id, &secret);
            tracing::info!(access_key_id = %id, "recordings storage access key rotated");
        }
        Ok(())
    }
}

impl StorageSettings {
    /// Every problem is one line, naming the variable and never a secret's value.
    /// `var` is the plain environment: `NAME_FILE` is resolved here.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let plain = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();
        let mut values: Vec<(&str, Option<String>, Option<PathBuf>)> = Vec::new();
        for name in S3_VARS {
            match secret_var(plain, name) {
                Ok((value, file)) => values.push((name, value.map(|v| v.trim().to_owned()), file)),
                Err(e) => {
                    errors.push(e);
                    // Counted as given, so a partial set is not reported twice.
                    values.push((name, Some(String::new()), None));
                }
            }
        }
        let get = |name: &str| {
            values
                .iter()
                .find(|(n, _, _)| *n == name)
                .and_then(|(_, v, _)| v.clone())
        };
        let file = |name: &str| {
            values
                .iter()
                .find(|(n, _, _)| *n == name)
                .and_then(|(_, _, f)| f.clone())
        };
        let mut env = Env::with_errors(plain, errors);
        let link_ttl = env.seconds(
            "ROOMGATE_RECORDING_LINK_SECS",
            Duration::from_secs(DEFAULT_LINK_SECS),
            super::LINK_TTL_RANGE,
        );
        let path_style = match plain(PATH_STYLE).as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                env.push(format!(
                    "{PATH_STYLE} must be true or false (got {other:?})"
                ));
                false
            }
        };

        let given: Vec<&str> = S3_VARS
            .iter()
            .copied()
            .filter(|n| get(n).is_some())
            .collect();
        let s3 = if given.is_empty() {
            if plain(PATH_STYLE).is_some() {
                env.push(format!(
                    "{PATH_STYLE} is set but no bucket is: set {BUCKET} and the other ROOMGATE_RECORDINGS_S3_ variables, or unset it"
                ));
            }
            None
        } else if given.len() < S3_VARS.len() {
            let missing: Vec<&str> = S3_VARS
                .iter()
                .copied()
                .filter(|n| !given.contains(n))
                .collect();
            env.push(format!(
                "recordings in S3 need all five ROOMGATE_RECORDINGS_S3_ variables (each may be _FILE); missing: {} (unset them all to keep recordings under the data directory)",
                missing.join(", ")
            ));
            None
        } else {
            let endpoint = get(ENDPOINT).unwrap_or_default();
            let endpoint = match crate::env::parse_http_url(&endpoint) {
                None => {
                    env.push(format!(
                        "{ENDPOINT} must be an http or https URL, like https://s3.eu-west-1.amazonaws.com"
                    ));
                    None
                }
                // Credentials in the URL would be printed wherever the endpoint is
                // (`recordings check`, errors), and signed requests ignore them.
                Some(url) if !url.username().is_empty() || url.password().is_some() => {
                    env.push(format!(
                        "{ENDPOINT} must not hold a user or password: the key pair goes in {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY}"
                    ));
                    None
                }
                // A query or fragment would be dropped or signed wrong, not sent.
                Some(url) if url.query().is_some() || url.fragment().is_some() => {
                    env.push(format!(
                        "{ENDPOINT} must be a plain URL, without ?query or #fragment"
                    ));
                    None
                }
                Some(url) => Some(url),
            };
            let bucket = get(BUCKET).unwrap_or_default();
            if !valid_bucket(&bucket) {
                env.push(format!(
                    "{BUCKET} must be 3 to 63 characters of a-z, 0-9, '.' and '-' (got {bucket:?})"
                ));
            }
            let region = get(REGION).unwrap_or_default();
            if region.is_empty()
                || !region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                env.push(format!(
                    "{REGION} must be a region name like us-east-1 (got {region:?})"
                ));
            }
            let credentials = S3Credentials::new(
                &get(ACCESS_KEY_ID).unwrap_or_default(),
                &SecretString::from(get(SECRET_ACCESS_KEY).unwrap_or_default()),
            );
            endpoint.map(|endpoint| S3Settings {
                endpoint,
                bucket,
                region,
                path_style,
                credentials,
                secret_files: S3SecretFiles {
                    access_key_id_file: file(ACCESS_KEY_ID),
                    secret_access_key_file: file(SECRET_ACCESS_KEY),
                },
            })
        };
        let data_dir = PathBuf::from(
            plain("ROOMGATE_DATA_DIR")
                .map(|d| d.trim().to_owned())
                .unwrap_or_else(|| crate::store::DEFAULT_DATA_DIR.into()),
        );
        env.finish(Self {
            s3,
            link_ttl,
            data_dir,
        })
    }

    /// `"s3"` or `"local"`.
    pub fn backend(&self) -> &'static str {
        if self.s3.is_some() { "s3" } else { "local" }
    }
}

/// S3's bucket naming rules, the part that matters for URLs.
fn valid_bucket(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<StorageSettings, Vec<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        StorageSettings::from_lookup(|k| map.get(k).cloned())
    }

    const FULL: [(&str, &str); 5] = [
        (ENDPOINT, "http://127.0.0.1:9000"),
        (BUCKET, "recordings"),
        (REGION, "us-east-1"),
        (ACCESS_KEY_ID, "AKIDEXAMPLE"),
        (SECRET_ACCESS_KEY, "wJalrXUtnFEMI-very-secret"),
    ];

    #[test]
    fn nothing_set_is_local_with_a_minute_long_link() {
        let s = parse(&[]).unwrap();
        assert!(s.s3.is_none());
        assert_eq!(s.backend(), "local");
        assert_eq!(s.link_ttl, Duration::from_secs(60));
    }

    #[test]
    fn all_five_make_a_bucket_and_the_secret_never_shows() {
        let mut pairs = FULL.to_vec();
        pairs.push((PATH_STYLE, "true"));
        pairs.push(("ROOMGATE_RECORDING_LINK_SECS", "30"));
        let s = parse(&pairs).unwrap();
        let s3 = s.s3.as_ref().unwrap();
        assert!(s3.path_style);
        assert_eq!(s3.bucket, "recordings");
        assert_eq!(s3.credentials.current().key(), "AKIDEXAMPLE");
        assert_eq!(s.link_ttl, Duration::from_secs(30));
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    #[test]
    fn a_partial_set_names_what_is_missing() {
        let errors = parse(&FULL[..2]).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains(&format!(
                "missing: {REGION}, {ACCESS_KEY_ID}, {SECRET_ACCESS_KEY}"
            )),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_values_are_one_line_each() {
        let mut pairs = FULL.to_vec();
        pairs[0] = (ENDPOINT, "s3.example.com");
        pairs[1] = (BUCKET, "Bad_Bucket");
        pairs.push((PATH_STYLE, "yes"));
        pairs.push(("ROOMGATE_RECORDING_LINK_SECS", "600"));
        let errors = parse(&pairs).unwrap_err();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors.iter().all(|e| !e.contains("very-secret")));
        for (endpoint, says) in [
            (
                "https://AKID:hunter2@s3.example.com",
                "must not hold a user or password",
            ),
            (
                "https://AKID@s3.example.com",
                "must not hold a user or password",
            ),
            ("https://s3.example.com/?x-id=1", "without ?query"),
            ("https://s3.example.com/#here", "without ?query"),
        ] {
            let mut pairs = FULL.to_vec();
            pairs[0] = (ENDPOINT, endpoint);
            let errors = parse(&pairs).unwrap_err();
            assert_eq!(errors.len(), 1, "{endpoint}: {errors:?}");
            assert!(errors[0].contains(says), "{endpoint}: {errors:?}");
            assert!(!errors[0].contains("hunter2"), "{errors:?}");
        }
    }

    #[test]
    fn the_key_pair_comes_from_files_and_is_reread() {
        let dir = crate::test_support::TempDir::new("s3-secrets");
        let id_file = dir.0.join("id");
        let secret_file = dir.0.join("secret");
        std::fs::write(&id_file, "AKIDFIRST\n").unwrap();
        std::fs::write(&secret_file, "first-secret\n").unwrap();
        let (id_path, secret_path) = (
            id_file.display().to_string(),
            secret_file.display().to_string(),
        );
        let s = parse(&[
            FULL[0],
            FULL[1],
            FULL[2],
            ("ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID_FILE", &id_path),
            (
                "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY_FILE",
                &secret_path,
            ),
        ])
        .unwrap();
        let s3 = s.s3.unwrap();
        assert_eq!(s3.credentials.current().secret(), "first-secret");
        std::fs::write(&id_file, "AKIDSECOND").unwrap();
        std::fs::write(&secret_file, "second-secret").unwrap();
        s3.secret_files.reread(&s3.credentials).unwrap();
        assert_eq!(s3.credentials.current().key(), "AKIDSECOND");
        assert_eq!(s3.credentials.current().secret(), "second-secret");
        // A broken file keeps the pair in service.
        std::fs::write(&secret_file, "").unwrap();
        assert!(s3.secret_files.reread(&s3.credentials).is_err());
        assert_eq!(s3.credentials.current().secret(), "second-secret");
    }
}
