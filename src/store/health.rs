//! Whether the store answers, checked in the background so `/readyz` costs nothing
//! and a store that comes back is noticed within a second.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::Store;

const EVERY: Duration = Duration::from_secs(1);
const LIMIT: Duration = Duration::from_secs(2);

/// The last check's problem, if it found one. Clones share it.
#[derive(Clone, Default)]
pub struct StoreHealth {
    problem: Arc<ArcSwapOption<String>>,
}

impl StoreHealth {
    /// Check `store` every second for as long as it exists.
    pub fn watch(store: Arc<dyn Store>) -> Self {
        let health = Self::default();
        let problem = health.problem.clone();
        let store: Weak<dyn Store> = Arc::downgrade(&store);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                let backend = store.backend();
                let found = match tokio::time::timeout(LIMIT, store.check()).await {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!(
                        "the {backend} store did not answer within {LIMIT:?}"
                    )),
                };
                let was_down = problem.load().is_some();
                match (&found, was_down) {
                    (Some(p), false) => tracing::error!(problem = %p, "the store is down"),
                    (None, true) => tracing::info!(backend, "the store is back"),
                    _ => {}
                }
                problem.store(found.map(Arc::new));
            }
        });
        health
    }

    /// What is wrong with the store, if the last check found something.
    pub fn problem(&self) -> Option<String> {
        self.problem.load().as_deref().cloned()
    }
}
