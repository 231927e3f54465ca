//! On every ACL reload, the passkeys of users who left the list or whose number
//! changed are deleted: a credential is only as good as the number it was proven
//! with. At start-up and on every reload, the index of users holding passkeys is swept
//! against the list too, for changes made while no instance was watching. Sign-in
//! checks the binding again (see [`super::flow`]).

use std::sync::{Arc, Mutex};

use crate::acl::{Acl, AclStore, ReloadOutcome};
use crate::domain::Username;
use crate::store::Store;

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
    tokio::spawn(sweep_logged(
        store.clone(),
        Arc::clone(&acl.load()),
        phone_key.clone(),
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
        tokio::spawn(sweep_logged(store.clone(), now.clone(), phone_key.clone()));
        let store = store.clone();
        tokio::spawn(async move {
            // A large list takes a while to compare: off the runtime's threads.
            let gone = tokio::task::spawn_blocking(move || invalidated(&before, &now))
                .await
                .unwrap_or_default();
            // Counted by users who had passkeys: most users changed have none.
            let (mut users, mut passkeys) = (0, 0);
            for user in &gone {
                match records::forget(&*store, user.as_str()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        users += 1;
                        passkeys += n;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "passkeys of a changed user not deleted; sign-in refuses them all the same");
                    }
                }
            }
            if users > 0 {
                tracing::info!(
                    users,
                    passkeys,
                    "passkeys deleted for users removed or renumbered"
                );
            }
        });
    }
}

/// Every user the index says holds passkeys, against `acl`: those not on it lose
/// them all, the others those proven with another number. How many users lost some.
pub async fn sweep(store: &dyn Store, acl: &Acl, phone_key: &PhoneKey) -> usize {
    let users = match records::indexed(store).await {
        Ok(users) => users,
        Err(e) => {
            tracing::error!(error = %e, "the users holding passkeys could not be listed; sign-in still refuses stale ones");
            return 0;
        }
    };
    let mut swept = 0;
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
            match &phone {
                Some(phone) => r.credentials.retain(|c| &c.phone == phone),
                None => r.credentials.clear(),
            }
            r.credentials.len() != before
        })
        .await;
        match dropped {
            Ok(true) => swept += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "stale passkeys not deleted; sign-in refuses them all the same");
            }
        }
    }
    swept
}

async fn sweep_logged(store: Arc<dyn Store>, acl: Arc<Acl>, phone_key: PhoneKey) {
    let swept = sweep(&*store, &acl, &phone_key).await;
    if swept > 0 {
        tracing::info!(
            users = swept,
            "passkeys deleted for users removed or renumbered"
        );
    }
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

    /// Passkeys saved while alice, bob and carol were on the list; then roomgate
    /// stopped, and came back to a list without carol and with bob renumbered.
    #[tokio::test]
    async fn the_start_up_sweep_finds_users_who_changed_while_nobody_watched() {
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

        let now = Acl::parse("now", AFTER).unwrap();
        assert_eq!(sweep(&*store, &now, &key).await, 2);
        assert!(passkeys.credentials("alice").await.unwrap().is_some());
        assert!(passkeys.credentials("bob").await.unwrap().is_none());
        assert!(passkeys.credentials("carol").await.unwrap().is_none());
        assert_eq!(records::indexed(&*store).await.unwrap(), ["alice"]);
        assert_eq!(sweep(&*store, &now, &key).await, 0, "nothing left to do");
    }
}
