//! On every ACL reload, the passkeys of users who left the list or whose number
//! changed are deleted: a credential is only as good as the number it was proven
//! with. Sign-in checks the binding again (see [`super::flow`]), for changes made while
//! no instance was watching.

use std::sync::{Arc, Mutex};

use crate::acl::{Acl, AclStore, ReloadOutcome};
use crate::domain::Username;
use crate::store::Store;

use super::records;

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
) -> impl Fn(&ReloadOutcome) + Send + Sync + 'static {
    let seen = Mutex::new(Arc::clone(&acl.load()));
    move |outcome| {
        if !matches!(outcome, ReloadOutcome::Loaded { .. }) {
            return;
        }
        let now = Arc::clone(&acl.load());
        let before = {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *seen, now.clone())
        };
        let store = store.clone();
        tokio::spawn(async move {
            // A large list takes a while to compare: off the runtime's threads.
            let gone = tokio::task::spawn_blocking(move || invalidated(&before, &now))
                .await
                .unwrap_or_default();
            for user in &gone {
                if let Err(e) = records::forget(&*store, user.as_str()).await {
                    tracing::error!(error = %e, "passkeys of a changed user not deleted; sign-in refuses them all the same");
                }
            }
            if !gone.is_empty() {
                tracing::info!(
                    users = gone.len(),
                    "passkeys deleted for users removed or renumbered"
                );
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_and_renumbered_users_lose_their_passkeys() {
        let old = Acl::parse(
            "old",
            r#"
[users.alice]
phone = "+14155550101"
rooms = ["*"]
[users.bob]
phone = "+14155550102"
rooms = ["*"]
[users.carol]
phone = "+14155550103"
rooms = ["*"]
"#,
        )
        .unwrap();
        let new = Acl::parse(
            "new",
            r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup"]
[users.bob]
phone = "+14155550109"
rooms = ["*"]
"#,
        )
        .unwrap();
        let gone: Vec<String> = invalidated(&old, &new)
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect();
        assert_eq!(gone, ["bob", "carol"]);
    }
}
