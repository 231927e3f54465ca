//! An in-memory bucket for the recordings tests: it can be told to refuse, counts
//! what it is asked, and hands out fake links that name the key and lifetime.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use secrecy::SecretString;
use sha2::Digest as _;

use super::storage::{CheckReport, Disposition, ObjectStorage, StorageError, StoredObject};

/// An in-memory bucket that can be told to refuse, and counts what it is asked.
#[derive(Default)]
pub struct Bucket {
    pub objects: Mutex<HashMap<String, Vec<u8>>>,
    pub refuse_next: AtomicU32,
    pub puts: AtomicU32,
    /// Says it is not ready, as an S3 bucket's open circuit breaker does.
    pub down: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl ObjectStorage for Bucket {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn ready(&self) -> Result<(), StorageError> {
        if self.down.load(Ordering::SeqCst) {
            let reason = crate::twilio::guard::Rejected::Open {
                retry_in: std::time::Duration::from_secs(30),
            };
            return Err(StorageError::Busy {
                reason,
                retry_after: reason.retry_after(),
            });
        }
        Ok(())
    }

    async fn put(
        &self,
        key: &str,
        mut body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> Result<StoredObject, StorageError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if self
            .refuse_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StorageError::Refused {
                op: "upload",
                status: 403,
                code: Some("AccessDenied".into()),
            });
        }
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk.map_err(StorageError::Source)?);
        }
        let stored = StoredObject {
            size: all.len() as u64,
            sha256: sha2::Sha256::digest(&all).into(),
        };
        self.objects.lock().unwrap().insert(key.to_owned(), all);
        Ok(stored)
    }

    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        Ok(self.objects.lock().unwrap().get(key).map(|b| StoredObject {
            size: b.len() as u64,
            sha256: sha2::Sha256::digest(b).into(),
        }))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }

    fn link(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError> {
        let how = match disposition {
            Disposition::Inline => "inline".to_owned(),
            Disposition::Attachment { filename } => format!("attachment:{filename}"),
        };
        Ok(SecretString::from(format!(
            "https://bucket.test/{key}?ttl={}&as={how}",
            ttl.as_secs()
        )))
    }

    async fn check(&self) -> Result<CheckReport, StorageError> {
        Ok(CheckReport {
            backend: "test",
            location: "memory".into(),
            probe: StoredObject {
                size: 0,
                sha256: sha2::Sha256::digest(b"").into(),
            },
            unsigned_get_status: 403,
            encryption: "none".into(),
            probe_deleted: true,
        })
    }
}

impl Bucket {
    pub fn only_object(&self) -> (String, Vec<u8>) {
        let objects = self.objects.lock().unwrap();
        assert_eq!(objects.len(), 1, "exactly one object: {:?}", objects.keys());
        let (k, v) = objects.iter().next().unwrap();
        (k.clone(), v.clone())
    }

    pub fn is_empty(&self) -> bool {
        self.objects.lock().unwrap().is_empty()
    }
}
