//! Alerts on their way to the webhook, kept in the store until it takes them: a
//! restart or a `kill -9` while the webhook is down (or between retries) doesn't lose
//! them, and an alert goes out once per window or outage, so one lost was never heard
//! of.
//!
//! Each held alert is a member of the store's [`QUEUE`], due when this instance's
//! lease on it ends; the instance renews the lease while it keeps trying. One whose
//! instance stopped (a crash, or a shutdown, which hands it back due at once) is
//! taken by the next instance that looks ([`Outbox::adopt`]), this one after a
//! restart or another sharing the store. So delivery is at least once: a stop between
//! the webhook's answer and the store forgetting the alert sends it again.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, warn};

use super::Alert;
use crate::store::Store;

/// The store's queue of alerts not delivered yet.
const QUEUE: &str = "alerts";

/// An alert on its way: the exact body POSTed and signed (what the store keeps), and
/// what the log says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub body: String,
    pub event: String,
    pub window: Option<String>,
    /// RFC 3339 in UTC to the second, so it sorts as text.
    at: String,
}

impl Pending {
    pub fn new(alert: &Alert) -> Self {
        let body = String::from_utf8(alert.to_json()).expect("JSON is UTF-8");
        Self {
            body,
            event: alert.event.to_owned(),
            window: alert.window.map(str::to_owned),
            at: crate::clock::rfc3339(alert.at),
        }
    }

    /// One kept by an earlier instance, or `None` if it isn't an alert's body.
    fn read(body: String) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(&body).ok()?;
        let text = |name: &str| value.get(name)?.as_str().map(str::to_owned);
        Some(Self {
            event: text("event")?,
            window: text("window"),
            at: text("at")?,
            body,
        })
    }

    pub fn window(&self) -> &str {
        self.window.as_deref().unwrap_or("-")
    }
}

/// Puts `adopted` among `held` (skipping any held already), oldest first: alerts go
/// out in the order they happened.
pub(super) fn merge(held: &mut std::collections::VecDeque<Pending>, adopted: Vec<Pending>) {
    if adopted.is_empty() {
        return;
    }
    for alert in adopted {
        if !held.iter().any(|h| h.body == alert.body) {
            held.push_back(alert);
        }
    }
    held.make_contiguous().sort_by(|a, b| a.at.cmp(&b.at));
}

/// The store's side of the delivery task; without a store (tests of the wire, a
/// store that failed to open) every call does nothing and alerts live in memory only.
pub(super) struct Outbox {
    store: Option<Arc<dyn Store>>,
    /// How long an alert stays this instance's without a renewal.
    lease: Duration,
    /// When the leases on the held alerts were last renewed.
    renewed: Instant,
}

impl Outbox {
    /// Leases last `3 × every`; the task renews them at most `every` apart.
    pub fn new(store: Option<Arc<dyn Store>>, every: Duration) -> Self {
        Self {
            store,
            lease: every.saturating_mul(3),
            renewed: Instant::now(),
        }
    }

    pub fn keeps(&self) -> bool {
        self.store.is_some()
    }

    /// `alert` kept, leased to this instance. With the store down, held in memory
    /// only.
    pub async fn keep(&self, alert: &Pending) {
        let Some(store) = &self.store else { return };
        let due = store.clock().now() + self.lease;
        if let Err(e) = store.schedule(QUEUE, &alert.body, due).await {
            warn!(event = alert.event, window = alert.window(), error = %e,
                "operator alert not kept in the store: lost if roomgate stops before delivering it");
        }
    }

    /// Delivered, or given up on: not to be sent again.
    pub async fn forget(&self, alert: &Pending) {
        let Some(store) = &self.store else { return };
        if let Err(e) = store.unschedule(QUEUE, &alert.body).await {
            warn!(event = alert.event, window = alert.window(), error = %e,
                "operator alert delivered but still kept: it may be sent again after a restart");
        }
    }

    /// The leases on `held` renewed, if the last renewal is `every` old or more.
    pub async fn renew<'a>(&mut self, held: impl IntoIterator<Item = &'a Pending>) {
        if self.store.is_none() || self.renewed.elapsed() < self.lease / 3 {
            return;
        }
        self.renewed = Instant::now();
        for alert in held {
            self.keep(alert).await;
        }
    }

    /// Alerts whose instance stopped before delivering them, now leased to this one.
    pub async fn adopt(&self) -> Vec<Pending> {
        let Some(store) = &self.store else {
            return Vec::new();
        };
        let taken = match store.lease_due(QUEUE, super::HELD_MAX, self.lease).await {
            Ok(taken) => taken,
            Err(e) => {
                debug!(error = %e, "kept operator alerts not looked at: the store is unavailable");
                return Vec::new();
            }
        };
        let mut adopted = Vec::with_capacity(taken.len());
        for body in taken {
            match Pending::read(body.clone()) {
                Some(alert) => adopted.push(alert),
                None => {
                    warn!("an unreadable kept operator alert dropped");
                    let _ = store.unschedule(QUEUE, &body).await;
                }
            }
        }
        if !adopted.is_empty() {
            debug!(
                count = adopted.len(),
                "operator alerts taken over from an instance that stopped"
            );
        }
        adopted
    }

    /// On the way out: `held` handed back, due at once, so the next instance to look
    /// takes them without waiting for this one's leases to end. `false` without a
    /// store: they are lost.
    pub async fn hand_back<'a>(&self, held: impl IntoIterator<Item = &'a Pending>) -> bool {
        let Some(store) = &self.store else {
            return false;
        };
        let now = store.clock().now();
        for alert in held {
            if let Err(e) = store.schedule(QUEUE, &alert.body, now).await {
                debug!(error = %e, "operator alert not handed back; taken over when its lease ends");
            }
        }
        true
    }

    /// The alerts kept, with when each is due, for tests.
    #[cfg(test)]
    pub async fn queued(store: &dyn Store) -> Vec<(String, std::time::SystemTime)> {
        store
            .queued(QUEUE, 1000, crate::store::QueueEnd::Soonest)
            .await
            .unwrap()
    }
}
