//! On every ACL reload, the passkeys of users who left the list or whose number
//! changed are deleted: a credential is only as good as the number it was proven
//! with. At start-up and on every reload, the index of users holding passkeys is swept
//! against the list too, for changes made while no instance was watching. Sign-in
//! checks the binding again (see [`super::flow`]), but that holds only while the
//! list keeps the user away: put back with the same number, a passkey not deleted
//! would work again. So the start-up sweep, and each reload's deletions, are tried
//! again every few seconds while the store refuses them (Redis not up yet at the
//! start, say), against the list they were for; and only passkeys registered before
//! that list went into service go, so a late try can't take one registered since
//! (under a later list, which checked it). A reload's own sweep is tried once: its
//! deletions are the reload's, and the start-up's cover what happened while stopped.

use std::sync::{Arc, Mutex};

use crate::acl::{Acl, AclStore, ReloadOutcome};
use crate::domain::Username;
use crate::store::{RETRY_EVERY, Store, StoreError, until_done};

use super::{PhoneKey, records};

/// The users whose passkeys no longer hold: gone from `new`, or with another number.
pub fn invalidated(old: &Acl, new: &Acl) -> Vec<Username> {
    old.users()
        .filter(|(name, user)| new.user(name).is_none_or(|now| now.phone != user.phone))
        .map(|(name, _)| name.clone())
        .collect()
}

/// A reload hook: compares the list now in service with the last one it saw and
/// deletes, in the background, the passkeys that no longer hold. It runs whether
/// passkeys are offered or not, so that turning them on again can't revive a
/// passkey whose user left the list meanwhile.
pub fn on_reload(
    store: Arc<dyn Store>,
    acl: Arc<AclStore>,
    phone_key: PhoneKey,
) -> impl Fn(&ReloadOutcome) + Send + Sync + 'static {
    let seen = Mutex::new(Arc::clone(&acl.load()));
    // The list may have changed while roomgate was stopped.
    tokio::spawn(sweep_until_done(
        store.clone(),
        Arc::clone(&acl.load()),
        phone_key.clone(),
        store.clock().unix_seconds(),
    ));
    move |outcome| {
        if !matches!(outcome, ReloadOutcome::Loaded { .. }) {
            return;
        }
        let now = Arc::clone(&acl.load());
        let before = {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *seen, now.clone())
        };
        let since = store.clock().unix_seconds();
        tokio::spawn(sweep_once(
            store.clone(),
            now.clone(),
            phone_key.clone(),
            since,
        ));
        let store = store.clone();
        tokio::spawn(async move {
            // A large list takes a while to compare: off the runtime's threads.
            let gone = tokio::task::spawn_blocking(move || invalidated(&before, &now))
                .await
                .unwrap_or_default();
            forget_until_done(&*store, gone, since).await;
        });
    }
}

/// The passkeys of `users` registered up to `since` (Unix seconds) deleted, those the
/// store refused tried again until it takes them.
async fn forget_until_done(store: &dyn Store, mut users: Vec<Username>, since: u64) {
    let mut failing = false;
    loop {
        // Counted by users who had passkeys: most users changed have none.
        let (mut holders, mut passkeys) = (0, 0);
        let mut refused = Vec::new();
        for user in users {
            let forgotten = records::update(store, user.as_str(), |record| {
                let Some(r) = record else { return 0 };
                let before = r.credentials.len();
                r.credentials.retain(|c| c.created > since);
                before - r.credentials.len()
            });
            match forgotten.await {
                Ok(0) => {}
                Ok(n) => {
                    holders += 1;
                    passkeys += n;
                }
                Err(e) => {
                    if !failing {
                        tracing::error!(error = %e, "passkeys of a changed user not deleted yet; sign-in refuses them meanwhile; trying again every {} s", RETRY_EVERY.as_secs());
                        failing = true;
                    }
                    refused.push(user);
                }
            }
        }
        if holders > 0 {
            tracing::info!(
                users = holders,
                passkeys,
                "passkeys deleted for users removed or renumbered"
            );
        }
        if refused.is_empty() {
            return;
        }
        users = refused;
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

/// Every user the index says holds passkeys, against `acl` (in service since `since`,
/// Unix seconds): those not on it lose the ones registered until then, the others
/// those proven with another number. How many users lost some; `Err` if the store
/// refused any of it (what it took stays done: run it again).
pub async fn sweep(
    store: &dyn Store,
    acl: &Acl,
    phone_key: &PhoneKey,
    since: u64,
) -> Result<usize, StoreError> {
    let users = records::indexed(store).await?;
    let mut swept = 0;
    let mut refused = None;
    for user in users {
        let phone = Username::parse(&user).ok().and_then(|u| {
            acl.user(&u)
                .map(|entry| phone_key.fingerprint(&entry.phone))
        });
        let dropped = records::update(store, &user, |record| {
            let Some(r) = record else {
                return false;
            };
            let before = r.credentials.len();
            r.credentials.retain(|c| {
                c.created > since || phone.as_ref().is_some_and(|phone| &c.phone == phone)
            });
            r.credentials.len() != before
        })
        .await;
        match dropped {
            Ok(true) => swept += 1,
            Ok(false) => {}
            Err(e) => refused = Some(e),
        }
    }
    refused.map_or(Ok(swept), Err)
}

/// [`sweep`], made once.
async fn sweep_once(store: Arc<dyn Store>, acl: Arc<Acl>, phone_key: PhoneKey, since: u64) {
    match sweep(&*store, &acl, &phone_key, since).await {
        Ok(swept) => log_swept(swept),
        Err(e) => {
            tracing::error!(error = %e, "stale passkeys not all deleted at this reload; sign-in refuses them all the same");
        }
    }
}

fn log_swept(swept: usize) {
    if swept > 0 {
        tracing::info!(
            users = swept,
            "passkeys deleted for users removed or renumbered"
        );
    }
}

/// [`sweep`], made again every few seconds until the store takes all of it.
async fn sweep_until_done(store: Arc<dyn Store>, acl: Arc<Acl>, phone_key: PhoneKey, since: u64) {
    let swept = until_done(
        || sweep(&*store, &acl, &phone_key, since),
        "stale passkeys not all deleted yet; sign-in refuses them meanwhile",
        "the passkeys of users removed or renumbered are all swept now",
    )
    .await;
    log_swept(swept);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alice, bob and carol on the list...
    const BEFORE: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["*"]
[users.bob]
phone = "+14155550102"
rooms = ["*"]
[users.carol]
phone = "+14155550103"
rooms = ["*"]
"#;

    /// ...then carol gone, bob renumbered and alice in fewer rooms.
    const AFTER: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup"]
[users.bob]
phone = "+14155550109"
rooms = ["*"]
"#;

    #[test]
    fn removed_and_renumbered_users_lose_their_passkeys() {
        let old = Acl::parse("old", BEFORE).unwrap();
        let new = Acl::parse("new", AFTER).unwrap();
        let gone: Vec<String> = invalidated(&old, &new)
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        assert_eq!(gone, ["bob", "carol"]);
    }

    /// When the list the sweeps and deletions are for went into service (Unix
    /// seconds); the passkeys saved below were registered before (at 1).
    const SINCE: u64 = 1_000;

    /// Passkeys saved for alice, bob and carol, each with their number in `BEFORE`.
    async fn saved_before() -> (
        std::sync::Arc<crate::store::memory::MemoryStore>,
        crate::passkeys::Passkeys,
        PhoneKey,
    ) {
        use std::sync::Arc;

        use crate::passkeys::{Passkeys, UserPasskeys};
        use crate::store::memory::MemoryStore;

        let store = Arc::new(MemoryStore::new());
        let url = reqwest::Url::parse("http://localhost:8080").unwrap();
        let passkeys = Passkeys::new(&url, store.clone(), b"k").unwrap();
        let key = PhoneKey::new(b"k");
        let before = Acl::parse("before", BEFORE).unwrap();
        for (user, entry) in before.users() {
            let mut new = records::tests::credential();
            new.phone = key.fingerprint(&entry.phone);
            let handle = webauthn_rs::prelude::Uuid::new_v4();
            passkeys
                .update(user.as_str(), |r| UserPasskeys::add(r, handle, new))
                .await
                .unwrap()
                .unwrap();
        }
        let mut users = records::indexed(&*store).await.unwrap();
        users.sort();
        assert_eq!(users, ["alice", "bob", "carol"]);
        (store, passkeys, key)
    }

    /// Passkeys saved while alice, bob and carol were on the list; then roomgate
    /// stopped, and came back to a list without carol and with bob renumbered.
    #[tokio::test]
    async fn the_start_up_sweep_finds_users_who_changed_while_nobody_watched() {
        let (store, passkeys, key) = saved_before().await;
        let now = Acl::parse("now", AFTER).unwrap();
        assert_eq!(sweep(&*store, &now, &key, SINCE).await.unwrap(), 2);
        assert!(passkeys.credentials("alice").await.unwrap().is_some());
        assert!(passkeys.credentials("bob").await.unwrap().is_none());
        assert!(passkeys.credentials("carol").await.unwrap().is_none());
        assert_eq!(records::indexed(&*store).await.unwrap(), ["alice"]);
        assert_eq!(
            sweep(&*store, &now, &key, SINCE).await.unwrap(),
            0,
            "nothing left to do"
        );
    }

    /// The store refusing at the start (Redis not up yet): the sweep says so, and is
    /// made again until it is done, so carol, put back later with the same number,
    /// doesn't find her passkey working again.
    #[tokio::test(start_paused = true)]
    async fn a_sweep_the_store_refuses_is_made_again_until_done() {
        let (store, passkeys, key) = saved_before().await;
        let now = std::sync::Arc::new(Acl::parse("now", AFTER).unwrap());
        store.refuse_next(1);
        assert!(sweep(&*store, &now, &key, SINCE).await.is_err());
        assert!(passkeys.credentials("carol").await.unwrap().is_some());
        // The listing goes through, one user's update doesn't: that is a failure too.
        store.refuse_after(1, 1);
        assert!(sweep(&*store, &now, &key, SINCE).await.is_err());
        // Refused at the listing, then at a user's update: asked again each time.
        store.refuse_next(1);
        sweep_until_done(store.clone(), now.clone(), key.clone(), SINCE).await;
        assert!(passkeys.credentials("bob").await.unwrap().is_none());
        assert!(passkeys.credentials("carol").await.unwrap().is_none());
        assert_eq!(records::indexed(&*store).await.unwrap(), ["alice"]);
    }

    /// A renumbered user's passkeys the store refused to delete are deleted once it
    /// takes them.
    #[tokio::test(start_paused = true)]
    async fn a_deletion_the_store_refuses_is_made_again_until_done() {
        let (store, passkeys, _) = saved_before().await;
        store.refuse_next(2);
        forget_until_done(&*store, vec![Username::parse("bob").unwrap()], SINCE).await;
        assert!(passkeys.credentials("bob").await.unwrap().is_none());
        assert!(passkeys.credentials("alice").await.unwrap().is_some());
    }

    /// A try made late (the store refused it until then) takes only the passkeys
    /// registered before its list went into service: carol's, registered after she
    /// was put back by a later list, stays.
    #[tokio::test]
    async fn a_late_try_spares_passkeys_registered_since_its_list() {
        let (store, passkeys, key) = saved_before().await;
        let now = Acl::parse("now", AFTER).unwrap();
        let since = 0;
        assert_eq!(sweep(&*store, &now, &key, since).await.unwrap(), 0);
        forget_until_done(&*store, vec![Username::parse("carol").unwrap()], since).await;
        assert!(passkeys.credentials("carol").await.unwrap().is_some());
        assert!(passkeys.credentials("bob").await.unwrap().is_some());
    }
}
