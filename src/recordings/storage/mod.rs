//! Where recordings are kept: the operator's S3-compatible bucket, or a directory under
//! the data directory. (The contract the pipeline codes against; backends land with
//! the storage work.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use secrecy::SecretString;

/// What is stored under a key, as verified after writing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// How a link's target is presented to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment { filename: String },
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage refused the request: {0}")]
    Refused(String),
    #[error("storage unreachable: {0}")]
    Unreachable(String),
    #[error("reading the source failed: {0}")]
    Source(#[source] std::io::Error),
    #[error("stored object does not match what was sent: {0}")]
    Mismatch(String),
}

/// The probe's findings (`roomgate recordings check`).
#[derive(Debug, Clone)]
pub struct CheckReport {
    pub lines: Vec<String>,
}

#[async_trait]
pub trait ObjectStorage: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    async fn put(
        &self,
        key: &str,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    ) -> Result<StoredObject, StorageError>;
    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, StorageError>;
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    fn link(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError>;
    async fn check(&self) -> Result<CheckReport, StorageError>;
}

pub type SharedStorage = Arc<dyn ObjectStorage>;
