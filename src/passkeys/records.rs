//! A user's passkeys in the store: one value per user, `passkeys:{username}`, holding
//! every credential with the phone fingerprint it was registered under.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{AuthenticationResult, Passkey, Uuid};

use super::{MAX_PER_USER, Passkeys, credential_id};
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

    /// Add `new` to `record` (created with `handle` if there is none), dropping the
    /// credentials proven with another number than `new`'s. Refused (the error to
    /// answer) for a credential already there, or past [`MAX_PER_USER`]: checked here,
    /// on the fresh record, however many registrations raced.
    pub fn add(
        record: &mut Option<Self>,
        handle: Uuid,
        new: StoredPasskey,
    ) -> Result<(), &'static str> {
        let record = record.get_or_insert_with(|| Self {
            handle,
            credentials: Vec::new(),
        });
        record.credentials.retain(|c| c.phone == new.phone);
        // webauthn-rs asks that a credential id be registered once; within the user
        // that is checked here. Across users it can't matter: a sign-in only ever
        // tries the named user's own credentials, with their own public keys.
        if record
            .credentials
            .iter()
            .any(|c| c.passkey.cred_id() == new.passkey.cred_id())
        {
            return Err("already_registered");
        }
        if record.credentials.len() >= MAX_PER_USER {
            return Err("too_many_passkeys");
        }
        record.credentials.push(new);
        Ok(())
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

/// The index of users holding passkeys: a queue nothing takes from (every member is
/// due in a thousand years), the one set both backends keep. The janitor sweeps it
/// against the list, so passkeys of users removed while no instance watched go too.
const INDEX: &str = "passkey-users";

fn never() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1 << 35)
}

/// The users with passkeys (as far as the index knows: records saved by builds before
/// it are found on sign-in and ACL reloads instead).
pub async fn indexed(store: &dyn Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .queued(INDEX, usize::MAX, crate::store::QueueEnd::Soonest)
        .await?
        .into_iter()
        .map(|(user, _)| user)
        .collect())
}

fn lock_key(username: &str) -> String {
    format!("passkeys-lock:{username}")
}

/// How long a user's lock is held at most: a holder that dies leaves it this long.
const LOCK_TTL: Duration = Duration::from_secs(5);
/// How long to wait for a user's lock held by another request before giving up.
const LOCK_WAIT: Duration = Duration::from_millis(500);
const LOCK_POLL: Duration = Duration::from_millis(20);

/// `who` as typed (known or not): one read either way. A record this build can't read
/// is as good as none: it is logged and deleted, so that the name's answers look like
/// any name's without passkeys (a 503 for it alone would tell that it has some).
pub async fn load(store: &dyn Store, who: &str) -> Result<Option<UserPasskeys>, StoreError> {
    Ok(load_read(store, who).await?.map(|(record, _)| record))
}

/// [`load`], with the bytes it was read from.
async fn load_read(
    store: &dyn Store,
    who: &str,
) -> Result<Option<(UserPasskeys, Vec<u8>)>, StoreError> {
    let Some(bytes) = store.get(&key(who)).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&bytes) {
        Ok(record) => Ok(Some((record, bytes))),
        Err(e) => {
            tracing::error!(error = %e, "an unreadable passkeys record was deleted; its passkeys are gone");
            store.delete(&key(who)).await?;
            Ok(None)
        }
    }
}

/// The lock on one user's record, held while it is read, changed and written, so
/// that two changes (a revocation and a sign-in's counter update, say) can't undo
/// each other. Across instances, since it lives in the store.
struct UserLock<'a> {
    store: &'a dyn Store,
    key: String,
    token: String,
}

impl<'a> UserLock<'a> {
    /// The lock, waiting briefly for another holder; failing closed (as the store
    /// being unavailable) if it can't be had.
    async fn take(store: &'a dyn Store, username: &str) -> Result<Self, StoreError> {
        let key = lock_key(username);
        let token = crate::random::random_token();
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            if store.put_new(&key, token.as_bytes(), LOCK_TTL).await? {
                return Ok(Self { store, key, token });
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::unavailable(
                    store.backend(),
                    "a user's passkeys are locked by another change",
                ));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Let go, unless the lock ran out and is someone else's now: deleted only if it
    /// still holds this holder's token, in one step.
    async fn release(self) {
        if let Err(e) = self.store.delete_if(&self.key, self.token.as_bytes()).await {
            tracing::warn!(error = %e, "a user's passkeys lock not released; it expires in seconds");
        }
    }
}

/// Read the user's record, let `change` edit it (`None`: there is none, or there
/// should be none), and write it back if it changed (an empty or absent one is
/// deleted), all under the user's lock. What `change` returns.
pub async fn update<T>(
    store: &dyn Store,
    username: &str,
    change: impl FnOnce(&mut Option<UserPasskeys>) -> T,
) -> Result<T, StoreError> {
    let lock = UserLock::take(store, username).await?;
    let done = update_locked(store, username, change).await;
    lock.release().await;
    done
}

async fn update_locked<T>(
    store: &dyn Store,
    username: &str,
    change: impl FnOnce(&mut Option<UserPasskeys>) -> T,
) -> Result<T, StoreError> {
    let (mut record, read) = match load_read(store, username).await? {
        Some((record, read)) => (Some(record), Some(read)),
        None => (None, None),
    };
    let encode = |r: &Option<UserPasskeys>| -> Result<Option<Vec<u8>>, StoreError> {
        r.as_ref()
            .filter(|r| !r.credentials.is_empty())
            .map(|r| serde_json::to_vec(r).map_err(|e| StoreError::corrupt("passkeys", e)))
            .transpose()
    };
    let before = encode(&record)?;
    let out = change(&mut record);
    let after = encode(&record)?;
    if before != after {
        // Written only over what was read, in one step: a change made meanwhile by a
        // holder of a lock that ran out (a store slower than its 5 s) is not undone,
        // a revocation above all. The change fails instead, as on a busy store.
        let key = key(username);
        let written = match (&after, &read) {
            (Some(bytes), read) => store.put_if(&key, read.as_deref(), bytes, KEEP_FOR).await?,
            (None, Some(read)) => store.delete_if(&key, read).await?,
            (None, None) => true,
        };
        if !written {
            return Err(StoreError::unavailable(
                store.backend(),
                "a user's passkeys changed while being changed",
            ));
        }
        if after.is_some() {
            store.schedule(INDEX, username, never()).await?;
        } else {
            store.unschedule(INDEX, username).await?;
        }
    } else if before.is_none() {
        // Nothing there: nor in the index (the record may have expired, or been
        // deleted as unreadable).
        store.unschedule(INDEX, username).await?;
    }
    Ok(out)
}

/// Every passkey of `username` goes: how many there were.
pub async fn forget(store: &dyn Store, username: &str) -> Result<usize, StoreError> {
    update(store, username, |record| {
        record.take().map_or(0, |r| r.credentials.len())
    })
    .await
}

/// Remove one passkey by id; whether there was one.
pub async fn revoke(store: &dyn Store, username: &str, id: &str) -> Result<bool, StoreError> {
    update(store, username, |record| {
        let Some(record) = record else {
            return false;
        };
        let before = record.credentials.len();
        record.credentials.retain(|c| c.id() != id);
        record.credentials.len() != before
    })
    .await
}

impl Passkeys {
    pub async fn credentials(&self, who: &str) -> Result<Option<UserPasskeys>, StoreError> {
        load(&*self.store, who).await
    }

    /// See [`update`].
    pub async fn update<T>(
        &self,
        username: &str,
        change: impl FnOnce(&mut Option<UserPasskeys>) -> T,
    ) -> Result<T, StoreError> {
        update(&*self.store, username, change).await
    }

    pub async fn forget(&self, username: &str) -> Result<usize, StoreError> {
        forget(&*self.store, username).await
    }

    pub async fn revoke(&self, username: &str, id: &str) -> Result<bool, StoreError> {
        revoke(&*self.store, username, id).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::memory::MemoryStore;

    /// A credential registered with a software authenticator, bound to "fp".
    pub(in crate::passkeys) fn credential() -> StoredPasskey {
        use webauthn_authenticator_rs::WebauthnAuthenticator;
        let url = reqwest::Url::parse("http://localhost:8080").unwrap();
        let p = Passkeys::new(&url, Arc::new(MemoryStore::new()), b"k").unwrap();
        let (options, state) = p
            .start_registration(Uuid::new_v4(), "alice", Vec::new())
            .unwrap();
        let response = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true)
            .do_registration(url, options)
            .unwrap();
        StoredPasskey {
            passkey: p.finish_registration(&response, &state).unwrap(),
            phone: "fp".into(),
            created: 1,
            last_used: None,
        }
    }

    /// A record of `n` credentials.
    fn record(n: usize) -> UserPasskeys {
        let mut record = UserPasskeys::new();
        record.credentials = (0..n).map(|_| credential()).collect();
        record
    }

    /// A session verified with a passkey holds while that passkey is the user's and
    /// bound to the list's number; a code's session always does.
    #[tokio::test]
    async fn a_passkeys_sessions_hold_while_it_is_there_and_bound_to_the_number() {
        let store = Arc::new(MemoryStore::new());
        let seeded = record(1);
        let id = seeded.credentials[0].id();
        update(&*store, "alice", |r| *r = Some(seeded))
            .await
            .unwrap();
        let grant = |passkey: Option<&str>| crate::session::Grant {
            username: crate::domain::Username::parse("alice").unwrap(),
            room: crate::domain::RoomName::parse("standup").unwrap(),
            verified_at: 0,
            phone: Some("fp".into()),
            passkey: passkey.map(str::to_owned),
            expires_at: None,
            verified_ms: None,
        };
        let holds = |grant, phone| {
            let store = store.clone();
            async move {
                crate::passkeys::still_holds(&*store, &grant, phone)
                    .await
                    .unwrap()
            }
        };
        assert!(holds(grant(Some(&id)), Some("fp")).await);
        assert!(holds(grant(Some(&id)), None).await, "passkeys off: held");
        assert!(!holds(grant(Some(&id)), Some("a new number")).await);
        assert!(!holds(grant(Some("another")), Some("fp")).await);
        assert!(holds(grant(None), Some("a new number")).await, "a code's");
        revoke(&*store, "alice", &id).await.unwrap();
        assert!(!holds(grant(Some(&id)), Some("fp")).await);
    }

    #[tokio::test]
    async fn a_change_waits_for_the_one_under_way_and_sees_its_result() {
        let store = Arc::new(MemoryStore::new());
        let seeded = record(2);
        let ids: Vec<String> = seeded.credentials.iter().map(StoredPasskey::id).collect();
        update(&*store, "alice", |r| *r = Some(seeded))
            .await
            .unwrap();

        // A sign-in has read the record and is about to save it (holding the lock)...
        let held = UserLock::take(&*store, "alice").await.unwrap();
        let stale = load(&*store, "alice").await.unwrap().unwrap();
        // ...when the owner revokes one: the revocation waits.
        let revoking = tokio::spawn({
            let store = store.clone();
            let id = ids[0].clone();
            async move { revoke(&*store, "alice", &id).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!revoking.is_finished(), "waits for the lock");
        // The sign-in saves what it read, then lets go.
        update_locked(&*store, "alice", |r| *r = Some(stale))
            .await
            .unwrap();
        held.release().await;
        assert!(revoking.await.unwrap().unwrap(), "then revokes");
        let left = load(&*store, "alice").await.unwrap().unwrap();
        let left: Vec<String> = left.credentials.iter().map(StoredPasskey::id).collect();
        assert_eq!(left, [ids[1].clone()], "the revocation is not undone");
        assert_eq!(store.get(&lock_key("alice")).await.unwrap(), None);
    }

    /// A change whose lock ran out while it was under way (a store slower than the
    /// lock's 5 s), the record changed meanwhile by another holder: it fails rather
    /// than write over that change. Here a revocation landed between the sign-in's
    /// read and its write; written over, the revoked passkey was back.
    #[tokio::test(start_paused = true)]
    async fn a_change_never_writes_over_one_made_since_it_read() {
        let trip = Duration::from_millis(10);
        let store = Arc::new(MemoryStore::new().with_round_trip(trip));
        let seeded = record(2);
        let ids: Vec<String> = seeded.credentials.iter().map(StoredPasskey::id).collect();
        let revoked = {
            let mut r = seeded.clone();
            r.credentials.remove(0);
            serde_json::to_vec(&r).unwrap()
        };
        update(&*store, "alice", |r| *r = Some(seeded))
            .await
            .unwrap();

        // The sign-in reads at one round trip and writes at two; the revocation, by a
        // holder that found the lock expired, lands in between.
        let start = tokio::time::Instant::now();
        let signing_in = tokio::spawn({
            let store = store.clone();
            async move {
                update_locked(&*store, "alice", |r| {
                    r.as_mut().unwrap().credentials[1].last_used = Some(7);
                })
                .await
            }
        });
        tokio::time::sleep_until(start + trip / 2).await;
        store.put(&key("alice"), &revoked, KEEP_FOR).await.unwrap();
        let refused = signing_in.await.unwrap();
        assert!(
            matches!(refused, Err(StoreError::Unavailable { .. })),
            "{refused:?}"
        );
        let left = load(&*store, "alice").await.unwrap().unwrap();
        let left: Vec<String> = left.credentials.iter().map(StoredPasskey::id).collect();
        assert_eq!(left, [ids[1].clone()], "the revocation stands");

        // The same for a deletion: the record changed since it was read stays.
        let start = tokio::time::Instant::now();
        let forgetting = tokio::spawn({
            let store = store.clone();
            async move { update_locked(&*store, "alice", |r| *r = None).await }
        });
        tokio::time::sleep_until(start + trip / 2).await;
        let replaced = serde_json::to_vec(&record(1)).unwrap();
        store.put(&key("alice"), &replaced, KEEP_FOR).await.unwrap();
        assert!(forgetting.await.unwrap().is_err());
        assert_eq!(store.get(&key("alice")).await.unwrap(), Some(replaced));
    }

    #[tokio::test]
    async fn a_lock_that_is_not_let_go_fails_closed_and_is_not_taken_from_its_holder() {
        let store = Arc::new(MemoryStore::new());
        let held = UserLock::take(&*store, "alice").await.unwrap();
        let refused = forget(&*store, "alice").await;
        assert!(matches!(refused, Err(StoreError::Unavailable { .. })));
        // Another user's record is not held up.
        assert_eq!(forget(&*store, "bob").await.unwrap(), 0);
        // A holder whose lock ran out doesn't release its successor's.
        store.delete(&lock_key("alice")).await.unwrap();
        let next = UserLock::take(&*store, "alice").await.unwrap();
        held.release().await;
        assert!(store.get(&lock_key("alice")).await.unwrap().is_some());
        next.release().await;
        assert!(store.get(&lock_key("alice")).await.unwrap().is_none());
    }

    #[test]
    fn adding_past_the_cap_or_twice_is_refused() {
        let mut made = record(MAX_PER_USER + 1);
        let extra = made.credentials.pop().unwrap();
        let mut full = Some(made);
        let handle = full.as_ref().unwrap().handle;
        assert_eq!(
            UserPasskeys::add(&mut full, handle, extra.clone()),
            Err("too_many_passkeys")
        );
        let again = full.as_ref().unwrap().credentials[0].clone();
        assert_eq!(
            UserPasskeys::add(&mut full, handle, again),
            Err("already_registered")
        );
        // Proven with a new number: the old ones go, the new one fits.
        let mut renumbered = extra;
        renumbered.phone = "new".into();
        assert_eq!(UserPasskeys::add(&mut full, handle, renumbered), Ok(()));
        assert_eq!(full.unwrap().credentials.len(), 1);
        let mut none = None;
        let first = record(1).credentials.remove(0);
        assert_eq!(UserPasskeys::add(&mut none, handle, first), Ok(()));
        assert_eq!(none.unwrap().handle, handle);
    }

    #[tokio::test]
    async fn an_unreadable_record_is_no_record_and_is_deleted() {
        let store = MemoryStore::new();
        store
            .put(&key("alice"), b"{not json", KEEP_FOR)
            .await
            .unwrap();
        assert!(load(&store, "alice").await.unwrap().is_none());
        assert_eq!(store.get(&key("alice")).await.unwrap(), None);
    }
}
