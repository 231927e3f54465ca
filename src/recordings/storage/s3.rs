//! Any S3-compatible bucket, through rusty-s3: it only signs (SigV4, query-string
//! presigning) and parses XML; every request goes out on roomgate's one reqwest
//! client with its own timeout.
//!
//! An upload is a multipart upload with `x-amz-server-side-encryption: AES256`
//! requested. S3 fixes an object's metadata when its upload starts, but the SHA-256
//! is known only at the end, so once the parts are complete the object is copied
//! onto itself (server-side: no bytes pass through roomgate) with the SHA-256 as
//! `x-amz-meta-roomgate-sha256`. That copy limits objects to 5 GiB on AWS.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use md5::Md5;
use reqwest::{Response, StatusCode};
use rusty_s3::actions::{CompleteMultipartUploadResponse, CreateMultipartUpload};
use rusty_s3::{Bucket, S3Action, UrlStyle};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::twilio::guard::Guard;

use super::{
    ByteStream, CheckReport, Disposition, ObjectStorage, S3Credentials, S3Settings, StorageError,
    StoredObject, check_key, check_ttl, parse_hex32, probe,
};

/// Parts of 8 MiB: above S3's 5 MiB minimum, small enough to hold one at a time.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's limit on parts per upload (so 78 GiB at most here).
const MAX_PARTS: u16 = 10_000;
/// The metadata holding the SHA-256 recorded at upload.
const SHA256_META: &str = "x-amz-meta-roomgate-sha256";
const SSE: &str = "x-amz-server-side-encryption";
/// How long a request's own signature lasts: it is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(300);
/// Bounds per request: a part may take a while on a slow link, nothing else should.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const PART_TIMEOUT: Duration = Duration::from_secs(300);
/// A server-side copy of a large object takes time on the server.
const COPY_TIMEOUT: Duration = Duration::from_secs(600);

pub struct S3Storage {
    http: reqwest::Client,
    /// In-flight bound and circuit breaker ([`crate::twilio::guard`]).
    guard: Option<Guard>,
    bucket: Bucket,
    credentials: S3Credentials,
    location: String,
}

impl S3Storage {
    pub fn new(settings: &S3Settings, http: reqwest::Client) -> anyhow::Result<Self> {
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            settings.endpoint.clone(),
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| {
            format!(
                "ROOMGATE_RECORDINGS_S3_ENDPOINT {} with bucket {:?}{}",
                settings.endpoint,
                settings.bucket,
                if settings.path_style {
                    ""
                } else {
                    " (virtual-hosted style: an IP address or a bucket name with dots may need ROOMGATE_RECORDINGS_S3_PATH_STYLE=true)"
                }
            )
        })?;
        Ok(Self {
            http,
            guard: None,
            bucket,
            credentials: settings.credentials.clone(),
            location: format!("bucket {} at {}", settings.bucket, settings.endpoint),
        })
    }

    pub fn with_guard(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// `link`, as if signed at `at` (tests make expired links with it).
    pub fn link_signed_at(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
        at: SystemTime,
    ) -> Result<SecretString, StorageError> {
        check_key(key)?;
        let at = jiff::Timestamp::try_from(at).map_err(|e| StorageError::Protocol {
            op: "link",
            detail: e.to_string(),
        })?;
        let credentials = self.credentials.current();
        let mut action = self.bucket.get_object(Some(&credentials), key);
        action
            .query_mut()
            .insert("response-content-disposition", disposition.header_value());
        action
            .query_mut()
            .insert("response-cache-control", "no-store");
        Ok(SecretString::from(
            action.sign_with_time(ttl, &at).to_string(),
        ))
    }

    /// The upload, and the encryption the server confirmed (if it said).
    async fn upload(
        &self,
        key: &str,
        mut body: ByteStream,
    ) -> Result<(StoredObject, Option<String>), StorageError> {
        let upload_id = self.create(key).await?;
        // Until completed, a failure (or a dropped future) aborts the upload, so
        // no parts stay stored (and billed).
        let mut abort = AbortOnDrop {
            storage: Some((
                self.http.clone(),
                self.bucket.clone(),
                self.credentials.clone(),
                key.to_owned(),
                upload_id.clone(),
            )),
        };
        let mut sha256 = Sha256::new();
        let mut whole_md5 = Md5::new();
        let mut size = 0u64;
        let mut parts = Parts::default();
        let mut buf = bytes::BytesMut::with_capacity(PART_SIZE);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(StorageError::Source)?;
            sha256.update(&chunk);
            whole_md5.update(&chunk);
            size += chunk.len() as u64;
            let mut rest = &chunk[..];
            while !rest.is_empty() {
                let take = (PART_SIZE - buf.len()).min(rest.len());
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if buf.len() == PART_SIZE {
                    self.upload_part(key, &upload_id, &mut parts, buf.split().freeze())
                        .await?;
                }
            }
        }
        if !buf.is_empty() || parts.etags.is_empty() {
            self.upload_part(key, &upload_id, &mut parts, buf.split().freeze())
                .await?;
        }
        let etag = match self.complete(key, &upload_id, &parts).await {
            Ok(etag) => etag,
            // No answer: the server may have completed it. An object we can't
            // verify must not stay (the abort that follows fails harmlessly then).
            Err(e @ StorageError::Unreachable { .. }) => {
                if let Err(del) = self.delete(key).await {
                    tracing::warn!(error = %del, "an upload of unknown outcome could not be deleted");
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        abort.storage = None;
        let sent = StoredObject {
            size,
            sha256: sha256.finalize().into(),
        };
        let whole_md5 = hex::encode(whole_md5.finalize());
        // From here the object exists: if it can't be verified, it goes.
        match self
            .record_and_verify(key, &etag, &parts, &whole_md5, sent)
            .await
        {
            Ok(sse) => Ok((sent, sse)),
            Err(e) => {
                if let Err(del) = self.delete(key).await {
                    tracing::warn!(error = %del, "an unverified upload could not be deleted");
                }
                Err(e)
            }
        }
    }

    async fn create(&self, key: &str) -> Result<String, StorageError> {
        let credentials = self.credentials.current();
        let mut action = self.bucket.create_multipart_upload(Some(&credentials), key);
        action.headers_mut().insert(SSE, "AES256");
        let url = action.sign(SIGNED_FOR);
        let response = self
            .send(
                "CreateMultipartUpload",
                self.http.post(url).header(SSE, "AES256"),
                REQUEST_TIMEOUT,
            )
            .await?;
        let text = read_text("CreateMultipartUpload", response).await?;
        let parsed =
            CreateMultipartUpload::parse_response(&text).map_err(|e| StorageError::Protocol {
                op: "CreateMultipartUpload",
                detail: e.to_string(),
            })?;
        Ok(parsed.upload_id().to_owned())
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        parts: &mut Parts,
        part: bytes::Bytes,
    ) -> Result<(), StorageError> {
        let number = u16::try_from(parts.etags.len() + 1)
            .ok()
            .filter(|n| *n <= MAX_PARTS)
            .ok_or_else(|| StorageError::Protocol {
                op: "UploadPart",
                detail: format!("more than {MAX_PARTS} parts of {PART_SIZE} bytes"),
            })?;
        let md5: [u8; 16] = Md5::digest(&part).into();
        let credentials = self.credentials.current();
        let action = self
            .bucket
            .upload_part(Some(&credentials), key, number, upload_id);
        let url = action.sign(PART_TIMEOUT + SIGNED_FOR);
        // Content-MD5: the server refuses a part that arrived different.
        let response = self
            .send(
                "UploadPart",
                self.http
                    .put(url)
                    .header("content-md5", STANDARD.encode(md5))
                    .body(part),
                PART_TIMEOUT,
            )
            .await?;
        let response = expect_success("UploadPart", response).await?;
        let etag = etag_of(&response).ok_or_else(|| StorageError::Protocol {
            op: "UploadPart",
            detail: "no ETag".into(),
        })?;
        if is_md5_hex(&etag) && etag != hex::encode(md5) {
            return Err(StorageError::Mismatch(format!(
                "part {number}'s ETag is not the MD5 of what was sent"
            )));
        }
        parts.etags.push(format!("\"{etag}\""));
        parts.md5s.push(md5);
        Ok(())
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &Parts,
    ) -> Result<String, StorageError> {
        let credentials = self.credentials.current();
        let action = self.bucket.complete_multipart_upload(
            Some(&credentials),
            key,
            upload_id,
            parts.etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let response = self
            .send(
                "CompleteMultipartUpload",
                self.http.post(url).body(body),
                COPY_TIMEOUT,
            )
            .await?;
        let text = read_text("CompleteMultipartUpload", response).await?;
        // A 200 may still carry an <Error>: only a parsed result counts.
        let parsed =
            CompleteMultipartUploadResponse::parse(&text).map_err(|_| StorageError::Refused {
                op: "CompleteMultipartUpload",
                status: 200,
                code: error_code(&text),
            })?;
        let etag = parsed.etag().trim_matches('"').to_owned();
        if is_multipart_etag(&etag) && etag != parts.multipart_etag() {
            return Err(StorageError::Mismatch(
                "the completed object's ETag is not the MD5 of the parts' MD5s".into(),
            ));
        }
        Ok(etag)
    }

    /// Record the SHA-256 as metadata (a copy onto itself, only if it is still the
    /// object just completed), then check size, metadata and ETag with a HEAD.
    async fn record_and_verify(
        &self,
        key: &str,
        etag: &str,
        parts: &Parts,
        whole_md5: &str,
        sent: StoredObject,
    ) -> Result<Option<String>, StorageError> {
        let credentials = self.credentials.current();
        let sha = hex::encode(sent.sha256);
        let source = format!("/{}/{key}", self.bucket.name());
        let if_match = format!("\"{etag}\"");
        let content_type = content_type(key);
        let mut action = self.bucket.put_object(Some(&credentials), key);
        let headers = [
            ("content-type", content_type),
            ("x-amz-copy-source", source.as_str()),
            ("x-amz-copy-source-if-match", if_match.as_str()),
            ("x-amz-metadata-directive", "REPLACE"),
            (SHA256_META, sha.as_str()),
            (SSE, "AES256"),
        ];
        for (name, value) in headers {
            action.headers_mut().insert(name, value.to_owned());
        }
        // Every x-amz-* header sent is signed, as AWS requires.
        let mut request = self.http.put(action.sign(SIGNED_FOR));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = self.send("CopyObject", request, COPY_TIMEOUT).await?;
        let text = read_text("CopyObject", response).await?;
        if !text.contains("CopyObjectResult") {
            return Err(StorageError::Refused {
                op: "CopyObject",
                status: 200,
                code: error_code(&text),
            });
        }

        let response = self.head(key).await?.ok_or_else(|| {
            StorageError::Mismatch("the object is gone right after its upload".into())
        })?;
        let stored = stored_object(key, &response)?;
        if stored.size != sent.size {
            return Err(StorageError::Mismatch(format!(
                "{} bytes stored, {} sent",
                stored.size, sent.size
            )));
        }
        if stored.sha256 != sent.sha256 {
            return Err(StorageError::Mismatch(
                "the recorded SHA-256 is not the one sent".into(),
            ));
        }
        // A copy gives AWS's object the MD5 of its whole content; servers that keep
        // the multipart ETag (s3s, some others) keep the parts' one.
        if let Some(stored_etag) = etag_of(&response) {
            let fits = if is_md5_hex(&stored_etag) {
                stored_etag == whole_md5
            } else if is_multipart_etag(&stored_etag) {
                stored_etag == parts.multipart_etag()
            } else {
                true
            };
            if !fits {
                return Err(StorageError::Mismatch(
                    "the stored object's ETag is not the MD5 of what was sent".into(),
                ));
            }
        }
        Ok(response
            .headers()
            .get(SSE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    async fn head(&self, key: &str) -> Result<Option<Response>, StorageError> {
        let credentials = self.credentials.current();
        let url = self
            .bucket
            .head_object(Some(&credentials), key)
            .sign(SIGNED_FOR);
        let response = self
            .send("HeadObject", self.http.head(url), REQUEST_TIMEOUT)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        expect_success("HeadObject", response).await.map(Some)
    }

    fn busy(reason: crate::twilio::guard::Rejected) -> StorageError {
        StorageError::Busy {
            reason,
            retry_after: reason.retry_after(),
        }
    }

    async fn send(
        &self,
        op: &'static str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<Response, StorageError> {
        let permit = match &self.guard {
            Some(guard) => Some(guard.admit().map_err(Self::busy)?),
            None => None,
        };
        let sent = request.timeout(timeout).send().await;
        if let Some(permit) = permit {
            // A refusal (4xx) is the bucket working; no answer or a 5xx is not.
            permit.finish(sent.as_ref().is_ok_and(|r| !r.status().is_server_error()));
        }
        // `without_url`: a signed URL must not reach a log through an error.
        sent.map_err(|e| StorageError::Unreachable {
            op,
            source: e.without_url(),
        })
    }
}

#[async_trait]
impl ObjectStorage for S3Storage {
    fn kind(&self) -> &'static str {
        "s3"
    }

    fn ready(&self) -> Result<(), StorageError> {
        self.guard
            .as_ref()
            .map_or(Ok(()), |guard| guard.check().map_err(Self::busy))
    }

    async fn put(&self, key: &str, body: ByteStream) -> Result<StoredObject, StorageError> {
        check_key(key)?;
        let (stored, sse) = self.upload(key, body).await?;
        if sse.is_none() {
            tracing::debug!("the storage did not confirm server-side encryption");
        }
        Ok(stored)
    }

    async fn stat(&self, key: &str) -> Result<Option<StoredObject>, StorageError> {
        check_key(key)?;
        match self.head(key).await? {
            Some(response) => stored_object(key, &response).map(Some),
            None => Ok(None),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        check_key(key)?;
        let credentials = self.credentials.current();
        let url = self
            .bucket
            .delete_object(Some(&credentials), key)
            .sign(SIGNED_FOR);
        let response = self
            .send("DeleteObject", self.http.delete(url), REQUEST_TIMEOUT)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        expect_success("DeleteObject", response).await.map(drop)
    }

    fn link(
        &self,
        key: &str,
        ttl: Duration,
        disposition: &Disposition,
    ) -> Result<SecretString, StorageError> {
        check_ttl(ttl)?;
        self.link_signed_at(key, ttl, disposition, SystemTime::now())
    }

    fn link_origin(&self) -> Option<String> {
        Some(self.bucket.base_url().origin().ascii_serialization())
    }

    async fn check(&self) -> Result<CheckReport, StorageError> {
        let (key, body) = probe();
        let (probe, sse) = self.upload(&key, body).await?;
        let unsigned = self
            .send(
                "GetObject (unsigned)",
                self.http.get(self.bucket.object_url(&key)),
                REQUEST_TIMEOUT,
            )
            .await;
        let deleted = self.delete(&key).await.is_ok();
        let unsigned = unsigned?;
        Ok(CheckReport {
            backend: "s3",
            location: self.location.clone(),
            probe,
            unsigned_get_status: unsigned.status().as_u16(),
            encryption: match sse {
                Some(alg) => format!("requested AES256; the server says {alg}"),
                None => "requested AES256; the server did not confirm it (check the bucket's default encryption)".into(),
            },
            probe_deleted: deleted,
        })
    }
}

/// The parts uploaded so far.
#[derive(Default)]
struct Parts {
    /// Quoted, as CompleteMultipartUpload wants them.
    etags: Vec<String>,
    md5s: Vec<[u8; 16]>,
}

impl Parts {
    /// S3's ETag of a multipart object: the MD5 of the parts' MD5s, then `-N`.
    fn multipart_etag(&self) -> String {
        let mut md5 = Md5::new();
        for part in &self.md5s {
            md5.update(part);
        }
        format!("{}-{}", hex::encode(md5.finalize()), self.md5s.len())
    }
}

/// Aborts the multipart upload it holds when dropped still holding it.
struct AbortOnDrop {
    storage: Option<(reqwest::Client, Bucket, S3Credentials, String, String)>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some((http, bucket, credentials, key, upload_id)) = self.storage.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let credentials = credentials.current();
            let url = bucket
                .abort_multipart_upload(Some(&credentials), &key, &upload_id)
                .sign(SIGNED_FOR);
            match http.delete(url).timeout(REQUEST_TIMEOUT).send().await {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::NOT_FOUND => {}
                Ok(r) => tracing::warn!(
                    status = r.status().as_u16(),
                    "a failed upload's multipart upload was not aborted; a lifecycle rule will remove it"
                ),
                Err(e) => tracing::warn!(
                    error = %e.without_url(),
                    "a failed upload's multipart upload was not aborted; a lifecycle rule will remove it"
                ),
            }
        });
    }
}

fn stored_object(key: &str, response: &Response) -> Result<StoredObject, StorageError> {
    let size = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| StorageError::Protocol {
            op: "HeadObject",
            detail: "no Content-Length".into(),
        })?;
    let sha256 = response
        .headers()
        .get(SHA256_META)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_hex32)
        .ok_or_else(|| StorageError::Unverifiable(key.to_owned()))?;
    Ok(StoredObject { size, sha256 })
}

async fn expect_success(op: &'static str, response: Response) -> Result<Response, StorageError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let text = error_body(response).await;
    Err(StorageError::Refused {
        op,
        status,
        code: error_code(&text),
    })
}

/// An error's body, up to 16 KiB: S3's are small, and a proxy's error page is not
/// worth holding whole. Bytes are cut, whatever character they split (slicing the
/// text there panicked).
async fn error_body(mut response: Response) -> String {
    const MAX: usize = 16 * 1024;
    let mut body = Vec::new();
    while body.len() < MAX {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(MAX - body.len())]);
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The most of a successful answer's body read: S3's answers to the calls that have
/// one (`CreateMultipartUpload`, `CompleteMultipartUpload`, `CopyObject`) are a few
/// hundred bytes of XML. A server that sends more (or never stops) is cut off there,
/// rather than buffered whole (it was, at whatever rate it sent).
const MAX_ANSWER: usize = 64 * 1024;

async fn read_text(op: &'static str, response: Response) -> Result<String, StorageError> {
    let response = expect_success(op, response).await?;
    let body = crate::twilio::http::read_capped(response, MAX_ANSWER)
        .await
        .map_err(|e| StorageError::Unreachable {
            op,
            source: e.without_url(),
        })?;
    if body.truncated {
        return Err(StorageError::Protocol {
            op,
            detail: format!("an answer longer than {MAX_ANSWER} bytes"),
        });
    }
    String::from_utf8(body.bytes).map_err(|_| StorageError::Protocol {
        op,
        detail: "an answer that is not UTF-8".to_owned(),
    })
}

/// `<Code>AccessDenied</Code>` from an S3 error body.
fn error_code(body: &str) -> Option<String> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    let code = &body[start..start + len];
    code.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.')
        .then(|| code.to_owned())
}

fn etag_of(response: &Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("W/").trim_matches('"').to_owned())
}

fn is_md5_hex(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_multipart_etag(etag: &str) -> bool {
    etag.split_once('-')
        .is_some_and(|(md5, n)| is_md5_hex(md5) && n.parse::<u16>().is_ok())
}

/// What browsers need to play a recording inline.
fn content_type(key: &str) -> &'static str {
    match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("mka") => "audio/x-matroska",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_are_md5s_of_md5s() {
        let parts = Parts {
            etags: vec![],
            md5s: vec![Md5::digest(b"a").into(), Md5::digest(b"b").into()],
        };
        let mut both = Vec::new();
        both.extend_from_slice(&Md5::digest(b"a"));
        both.extend_from_slice(&Md5::digest(b"b"));
        assert_eq!(
            parts.multipart_etag(),
            format!("{}-2", hex::encode(Md5::digest(&both)))
        );
        assert!(is_multipart_etag(&parts.multipart_etag()));
        assert!(!is_md5_hex(&parts.multipart_etag()));
    }

    #[test]
    fn error_codes_come_from_the_body_only_when_plain() {
        assert_eq!(
            error_code("<Error><Code>AccessDenied</Code></Error>").as_deref(),
            Some("AccessDenied")
        );
        assert_eq!(error_code("<Code><script></Code>"), None);
        assert_eq!(error_code("nothing"), None);
    }

    /// An error body is read up to 16 KiB, wherever that falls: in the middle of a
    /// character it panicked (and took the job's step with it).
    #[tokio::test]
    async fn a_long_error_body_is_cut_without_a_panic() {
        let mut body = "<Error><Code>SlowDown</Code>".to_owned();
        body.push_str(&"x".repeat(16 * 1024 - 1 - body.len()));
        body.push_str(&"é".repeat(100_000));
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(wiremock::ResponseTemplate::new(503).set_body_string(body))
            .mount(&server)
            .await;
        let response = reqwest::get(server.uri()).await.unwrap();
        let refused = expect_success("put", response).await.unwrap_err();
        assert!(
            matches!(
                &refused,
                StorageError::Refused { op: "put", status: 503, code: Some(code) } if code == "SlowDown"
            ),
            "{refused:?}"
        );
    }

    /// A success's answer is read up to [`MAX_ANSWER`]: one longer is refused, not
    /// buffered whole (a server sending without end took the memory it sent).
    #[tokio::test]
    async fn a_successful_answer_is_read_up_to_its_bound() {
        let server = wiremock::MockServer::start().await;
        let fits = "<InitiateMultipartUploadResult><UploadId>u1</UploadId></InitiateMultipartUploadResult>";
        wiremock::Mock::given(wiremock::matchers::path("/fits"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_string(fits))
            .mount(&server)
            .await;
        wiremock::Mock::given(wiremock::matchers::path("/long"))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_string("x".repeat(MAX_ANSWER + 1)),
            )
            .mount(&server)
            .await;
        let fetched = |path: &str| reqwest::get(format!("{}{path}", server.uri()));
        let text = read_text("CreateMultipartUpload", fetched("/fits").await.unwrap()).await;
        assert_eq!(text.unwrap(), fits);
        let long = read_text("CreateMultipartUpload", fetched("/long").await.unwrap()).await;
        assert!(
            matches!(
                long,
                Err(StorageError::Protocol {
                    op: "CreateMultipartUpload",
                    ..
                })
            ),
            "{long:?}"
        );
    }
}
