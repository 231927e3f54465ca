//! A ceremony's server-side state: five minutes, and used once. Taking an existing
//! one claims a marker with `put_new`, so of two requests carrying the same ceremony
//! (a replay, or two instances at once) exactly one gets the state. An id that names
//! no ceremony writes nothing: made-up ids can't fill the store.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration, Uuid};

use super::{CEREMONY_TTL, Passkeys};
use crate::domain::{RoomName, Username};
use crate::random::random_token;
use crate::store::StoreError;

#[derive(Serialize, Deserialize)]
pub enum Ceremony {
    /// A verified member adding a passkey.
    Register {
        username: Username,
        room: RoomName,
        /// The phone fingerprint the session proved; the credential is bound to it.
        phone: String,
        handle: Uuid,
        state: PasskeyRegistration,
    },
    /// A sign-in for the name typed. `state` is `None` for a name with no passkey
    /// here (unknown, elsewhere, or none registered): it can only fail, like a wrong
    /// assertion would.
    SignIn {
        who: String,
        room: RoomName,
        state: Option<PasskeyAuthentication>,
        /// The session that asked for it ([`session_binding`]): only that one may
        /// finish it. (Empty in a ceremony begun before this was kept: refused.)
        #[serde(default)]
        session: String,
    },
}

/// What ties a sign-in ceremony to the session that asked for it: a digest of the
/// session's CSRF token (secret, in its encrypted cookie), so the store holds nothing
/// that would stand for it. A ceremony's id and its challenge are in the page; an
/// answer to it made anywhere else (another browser, a stolen assertion) finishes
/// nothing.
pub fn session_binding(csrf_token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(csrf_token.as_bytes()))
}

fn state_key(id: &str) -> String {
    format!("passkey-ceremony:{id}")
}

fn used_key(id: &str) -> String {
    format!("passkey-ceremony-used:{id}")
}

/// The one registration a user may have under way: its ceremony's id.
fn registration_key(username: &Username) -> String {
    format!("passkey-reg:{username}")
}

impl Passkeys {
    /// `id` is now `username`'s registration under way; one begun before can no
    /// longer finish, and its state goes now rather than in five minutes, so a
    /// member asking again and again keeps one ceremony in the store, not one per
    /// request. (Registrations can't pile up past the cap, nor outrun it.) Two begun
    /// at once (two tabs, two instances) each replace only the one they read, so the
    /// loser reads the winner's and deletes its state in turn: one is left.
    pub async fn registering(&self, username: &Username, id: &str) -> Result<(), StoreError> {
        let key = registration_key(username);
        let mut races = 0;
        let before = loop {
            let before = self.store.get(&key).await?;
            if self
                .store
                .put_if(&key, before.as_deref(), id.as_bytes(), CEREMONY_TTL)
                .await?
            {
                break before;
            }
            // Each lost race is another registration begun: this many at once is a
            // member's script, not a person; refused as busy.
            races += 1;
            if races == 16 {
                return Err(StoreError::unavailable(
                    self.store.backend(),
                    "registrations begun too often at once",
                ));
            }
        };
        if let Some(before) = before.filter(|before| before != id.as_bytes()) {
            self.store
                .delete(&state_key(&String::from_utf8_lossy(&before)))
                .await?;
        }
        Ok(())
    }

    /// Whether `id` is `username`'s registration under way.
    pub async fn is_registering(&self, username: &Username, id: &str) -> Result<bool, StoreError> {
        let current = self.store.get(&registration_key(username)).await?;
        Ok(current.as_deref() == Some(id.as_bytes()))
    }

    /// `username`'s registration `id` is no longer under way; one begun since stays.
    pub async fn registered(&self, username: &Username, id: &str) -> Result<(), StoreError> {
        self.store
            .delete_if(&registration_key(username), id.as_bytes())
            .await
            .map(drop)
    }

    /// Keep `ceremony` for five minutes; its id, for the browser to send back.
    pub async fn begin(&self, ceremony: &Ceremony) -> Result<String, StoreError> {
        let id = random_token();
        let bytes = serde_json::to_vec(ceremony).map_err(|e| StoreError::corrupt("passkeys", e))?;
        self.store
            .put(&state_key(&id), &bytes, CEREMONY_TTL)
            .await?;
        Ok(id)
    }

    /// The ceremony `id`, if it exists and nobody took it before; it can't be taken
    /// again.
    pub async fn take(&self, id: &str) -> Result<Option<Ceremony>, StoreError> {
        self.take_if(id, |_| true).await
    }

    /// [`Self::take`], if `accept` says the ceremony is the caller's: one it refuses is
    /// left as it was, for its own (a session that learnt another's id can't spend it).
    pub async fn take_if(
        &self,
        id: &str,
        accept: impl FnOnce(&Ceremony) -> bool,
    ) -> Result<Option<Ceremony>, StoreError> {
        // Ids are ours: anything else is not worth a store key.
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let Some(bytes) = self.store.get(&state_key(id)).await? else {
            return Ok(None);
        };
        let ceremony: Ceremony =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::corrupt("passkeys", e))?;
        if !accept(&ceremony) {
            return Ok(None);
        }
        if !self
            .store
            .put_new(&used_key(id), b"1", CEREMONY_TTL)
            .await?
        {
            return Ok(None);
        }
        self.store.delete(&state_key(id)).await?;
        Ok(Some(ceremony))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn a_ceremony_is_taken_once() {
        let url = reqwest::Url::parse("https://meet.example.com").unwrap();
        let p = Passkeys::new(&url, Arc::new(MemoryStore::new()), b"k").unwrap();
        let ceremony = Ceremony::SignIn {
            who: "alice".into(),
            room: RoomName::parse("standup").unwrap(),
            state: None,
            session: session_binding("csrf"),
        };
        let id = p.begin(&ceremony).await.unwrap();
        assert!(p.take(&id).await.unwrap().is_some());
        assert!(
            p.take(&id).await.unwrap().is_none(),
            "a second take finds nothing"
        );
        assert!(p.take("no-such-ceremony").await.unwrap().is_none());
        assert!(p.take("../../etc").await.unwrap().is_none());
    }

    /// Three registrations begun, two of them at once (each reading the one under
    /// way before the other writes): one is under way and one ceremony is kept.
    #[tokio::test(start_paused = true)]
    async fn registrations_begun_at_once_leave_one_ceremony() {
        let url = reqwest::Url::parse("https://meet.example.com").unwrap();
        let store =
            Arc::new(MemoryStore::new().with_round_trip(std::time::Duration::from_millis(10)));
        let p = Passkeys::new(&url, store.clone(), b"k").unwrap();
        let alice = Username::parse("alice").unwrap();
        let ceremony = Ceremony::SignIn {
            who: "alice".into(),
            room: RoomName::parse("standup").unwrap(),
            state: None,
            session: session_binding("csrf"),
        };
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(p.begin(&ceremony).await.unwrap());
        }
        p.registering(&alice, &ids[0]).await.unwrap();
        let (one, other) = tokio::join!(
            p.registering(&alice, &ids[1]),
            p.registering(&alice, &ids[2])
        );
        one.unwrap();
        other.unwrap();
        let mut under_way = Vec::new();
        let mut kept = Vec::new();
        for id in &ids {
            if p.is_registering(&alice, id).await.unwrap() {
                under_way.push(id);
            }
            if store.get(&state_key(id)).await.unwrap().is_some() {
                kept.push(id);
            }
        }
        assert_eq!(under_way.len(), 1, "{under_way:?}");
        assert_eq!(kept, under_way);
    }

    /// A registration that finishes ends only itself: one begun meanwhile (another
    /// tab) is still under way and can finish.
    #[tokio::test]
    async fn a_finished_registration_leaves_a_later_one_under_way() {
        let url = reqwest::Url::parse("https://meet.example.com").unwrap();
        let p = Passkeys::new(&url, Arc::new(MemoryStore::new()), b"k").unwrap();
        let alice = Username::parse("alice").unwrap();
        p.registering(&alice, "first").await.unwrap();
        p.registering(&alice, "second").await.unwrap();
        p.registered(&alice, "first").await.unwrap();
        assert!(p.is_registering(&alice, "second").await.unwrap());
        p.registered(&alice, "second").await.unwrap();
        assert!(!p.is_registering(&alice, "second").await.unwrap());
    }

    #[tokio::test]
    async fn an_id_that_names_no_ceremony_writes_nothing() {
        let url = reqwest::Url::parse("https://meet.example.com").unwrap();
        let store = Arc::new(MemoryStore::new());
        let p = Passkeys::new(&url, store.clone(), b"k").unwrap();
        for n in 0..20 {
            let id = format!("made-up-{n}");
            assert!(p.take(&id).await.unwrap().is_none());
            assert_eq!(store.get(&used_key(&id)).await.unwrap(), None, "{id}");
        }
    }
}
