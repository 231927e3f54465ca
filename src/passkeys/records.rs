//! A user's passkeys in the store: one value per user, `passkeys:{username}`, holding
//! every credential with the phone fingerprint it was registered under.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{AuthenticationResult, Passkey, Uuid};

use super::{Passkeys, credential_id};
use crate::store::{Store, StoreError};

/// How long an unused set of passkeys is kept: each registration or sign-in renews it.
pub const KEEP_FOR: Duration = Duration::from_secs(400 * 86_400);

/// One registered credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredPasskey {
    pub passkey: Passkey,
    /// [`Passkeys::phone_fingerprint`] of the number proven when it was registered.
    pub phone: String,
    /// Unix seconds.
    pub created: u64,
    pub last_used: Option<u64>,
}

impl StoredPasskey {
    pub fn id(&self) -> String {
        credential_id(&self.passkey)
    }
}

/// Everything stored for one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserPasskeys {
    /// The WebAuthn user handle: random, so it says nothing about the name.
    pub handle: Uuid,
    pub credentials: Vec<StoredPasskey>,
}

impl UserPasskeys {
    pub fn new() -> Self {
        Self {
            handle: Uuid::new_v4(),
            credentials: Vec::new(),
        }
    }

    /// The credentials still bound to `phone` (a fingerprint).
    pub fn bound_to(&self, phone: &str) -> Vec<Passkey> {
        self.credentials
            .iter()
            .filter(|c| c.phone == phone)
            .map(|c| c.passkey.clone())
            .collect()
    }

    /// Whether any credential was proven with another number than `phone`.
    pub fn has_stale(&self, phone: &str) -> bool {
        self.credentials.iter().any(|c| c.phone != phone)
    }

    /// After a sign-in: the counter and backup state webauthn-rs reports, and when.
    /// Whether a credential matched.
    pub fn used(&mut self, result: &AuthenticationResult, now: u64) -> bool {
        for stored in &mut self.credentials {
            if stored.passkey.update_credential(result).is_some() {
                stored.last_used = Some(now);
                return true;
            }
        }
        false
    }
}

impl Default for UserPasskeys {
    fn default() -> Self {
        Self::new()
    }
}

fn key(username: &str) -> String {
    format!("passkeys:{username}")
}

/// `who` as typed (known or not): one read either way.
pub async fn load(store: &dyn Store, who: &str) -> Result<Option<UserPasskeys>, StoreError> {
    let Some(bytes) = store.get(&key(who)).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StoreError::corrupt("passkeys", e))
}

/// Replace the user's record (an empty one is deleted).
pub async fn save(
    store: &dyn Store,
    username: &str,
    record: &UserPasskeys,
) -> Result<(), StoreError> {
    if record.credentials.is_empty() {
        return forget(store, username).await;
    }
    let bytes = serde_json::to_vec(record).map_err(|e| StoreError::corrupt("passkeys", e))?;
    store.put(&key(username), &bytes, KEEP_FOR).await
}

/// Every passkey of `username` goes.
pub async fn forget(store: &dyn Store, username: &str) -> Result<(), StoreError> {
    store.delete(&key(username)).await
}

/// Remove one passkey by id; whether there was one.
pub async fn revoke(store: &dyn Store, username: &str, id: &str) -> Result<bool, StoreError> {
    let Some(mut record) = load(store, username).await? else {
        return Ok(false);
    };
    let before = record.credentials.len();
    record.credentials.retain(|c| c.id() != id);
    if record.credentials.len() == before {
        return Ok(false);
    }
    save(store, username, &record).await?;
    Ok(true)
}

impl Passkeys {
    pub async fn credentials(&self, who: &str) -> Result<Option<UserPasskeys>, StoreError> {
        load(&*self.store, who).await
    }

    pub async fn save(&self, username: &str, record: &UserPasskeys) -> Result<(), StoreError> {
        save(&*self.store, username, record).await
    }

    pub async fn forget(&self, username: &str) -> Result<(), StoreError> {
        forget(&*self.store, username).await
    }

    pub async fn revoke(&self, username: &str, id: &str) -> Result<bool, StoreError> {
        revoke(&*self.store, username, id).await
    }
}
