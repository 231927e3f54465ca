//! `roomgate passkeys list [USER]` and `roomgate passkeys revoke USER [ID]`: the
//! host's view of the passkeys in the store.

use std::fmt::Write as _;

use super::records;
use crate::domain::Username;
use crate::store::{Store, StoreError};

/// One line per passkey of `users`: user, id, when added and last used (UTC, Unix
/// seconds shown as RFC 3339). For everyone, pass everyone on the list: passkeys of
/// users no longer on it are deleted by the server, so that covers every passkey that
/// works.
pub async fn list(store: &dyn Store, users: &[Username]) -> Result<String, StoreError> {
    let mut out = String::new();
    let mut count = 0;
    for name in users {
        let Some(record) = records::load(store, name.as_str()).await? else {
            continue;
        };
        for c in &record.credentials {
            count += 1;
            let last = c.last_used.map_or_else(|| "never".to_owned(), rfc3339);
            let _ = writeln!(
                out,
                "{name}\t{}\tadded {}\tlast used {last}",
                c.id(),
                rfc3339(c.created)
            );
        }
    }
    let _ = writeln!(out, "{count} passkey(s)");
    Ok(out)
}

/// Revoke `id` of `user`, or all of them: how many went.
pub async fn revoke(store: &dyn Store, user: &str, id: Option<&str>) -> Result<usize, StoreError> {
    match id {
        Some(id) => Ok(usize::from(records::revoke(store, user, id).await?)),
        None => records::forget(store, user).await,
    }
}

fn rfc3339(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    crate::clock::text::rfc3339(t)
}
