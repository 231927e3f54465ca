//! One code check of a sign-in at a time, on this instance.
//!
//! A double-click on "Verify" posts the same code twice. Raced to Verify, the first
//! check approves the verification and Verify deletes it, so the second gets "not
//! found" (20404): counted as a failed verification, two or three such sign-ins
//! locked out a participant who had just signed in. The second check waits for the
//! first here instead, then looks at the sign-in again (see `flow::check`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Mutex as TurnLock, OwnedMutexGuard};

use super::SignInId;

/// The sign-ins being checked here, each with the lock its checks take in turn. An
/// entry lives while a check holds or waits for it, so the map holds at most one per
/// check in flight.
#[derive(Default)]
pub struct CheckTurns(Mutex<HashMap<SignInId, Arc<TurnLock<()>>>>);

/// A check's turn at its sign-in; the next waiting check gets it when this is dropped.
pub struct Turn<'a> {
    turns: &'a CheckTurns,
    id: SignInId,
    guard: Option<OwnedMutexGuard<()>>,
    /// Whether another check of the sign-in held it first.
    pub waited: bool,
}

impl CheckTurns {
    /// Waits for `id`'s turn.
    pub async fn take(&self, id: &SignInId) -> Turn<'_> {
        let lock = Arc::clone(self.map().entry(id.clone()).or_default());
        let (guard, waited) = match Arc::clone(&lock).try_lock_owned() {
            Ok(guard) => (guard, false),
            Err(_) => (lock.lock_owned().await, true),
        };
        Turn {
            turns: self,
            id: id.clone(),
            guard: Some(guard),
            waited,
        }
    }

    /// Sign-ins with a check in flight or waiting.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<SignInId, Arc<TurnLock<()>>>> {
        // Nothing here can panic while holding it; a poisoned map is still whole.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.turns.map();
        // Only the map's own reference left: nobody holds or waits for this turn.
        // (A waiter clones the lock under the map's lock, so this count can't race.)
        if map
            .get(&self.id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SignInId {
        serde_json::from_str(&format!("\"{s}\"")).unwrap()
    }

    #[tokio::test]
    async fn a_second_check_waits_for_the_first_and_the_map_empties() {
        let turns = CheckTurns::default();
        let first = turns.take(&id("a")).await;
        assert!(!first.waited);
        // Another sign-in's check doesn't wait.
        let other = turns.take(&id("b")).await;
        assert!(!other.waited);
        drop(other);

        let a = id("a");
        let second = turns.take(&a);
        tokio::pin!(second);
        assert!(
            futures_util::poll!(second.as_mut()).is_pending(),
            "the second check of a sign-in waits"
        );
        drop(first);
        let second = second.await;
        assert!(second.waited);
        assert_eq!(turns.len(), 1);
        drop(second);
        assert_eq!(turns.len(), 0, "no entry outlives its checks");
    }
}
