//! Sealing phone numbers with AES-256-GCM, and opening them again for `audit show`.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::record::StoredRecord;
use crate::domain::PhoneNumber;

pub(super) const AAD_VERSION: &str = "roomgate-audit-v1";

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
        hex::encode(&mac.finalize().into_bytes()[..4])
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey([REDACTED])")
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct SealedPhone {
    pub(super) kid: String,
    pub(super) nonce: String,
    pub(super) ct: String,
}

pub(super) fn seal(key: &AuditKey, phone: &PhoneNumber, aad: &[u8]) -> SealedPhone {
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
pub(super) enum PhoneView {
    Absent,
    NoKey,
    Plain(String),
    OtherKey { record: String, given: String },
    Damaged,
}

pub(super) fn open_phone(rec: &StoredRecord, key: Option<&AuditKey>) -> PhoneView {
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
