//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::Url;

use crate::acl::AclStore;
use crate::audit::{AuditLog, AuditRecord};
use crate::budget::SmsBudget;
use crate::client_ip::TrustedProxies;
use crate::clock::Clock;
use crate::domain::RoomName;
use crate::limits::{CounterStore, Limiter};
use crate::metrics::{Metrics, Window};
use crate::signin::SignIns;
use crate::telemetry::Pseudonyms;
use crate::twilio_signature::SignatureValidator;
use crate::verify::Verifier;
use crate::video::AccessTokenIssuer;
use crate::video::VideoClient;

pub struct AppState {
    /// Swapped whole on reload; readers never see a half-applied list.
    pub acl: Arc<AclStore>,
    pub verifier: Arc<dyn Verifier>,
    pub tokens: AccessTokenIssuer,
    pub signins: SignIns,
    /// Limits, lockouts, budget windows and revoked sessions.
    pub counters: Arc<dyn CounterStore>,
    pub limiter: Limiter,
    pub audit: AuditLog,
    pub metrics: Metrics,
    pub budget: SmsBudget,
    pub clock: Arc<dyn Clock>,
    pub pseudonyms: Pseudonyms,
    pub trusted_proxies: TrustedProxies,
    /// `ROOMGATE_PUBLIC_URL`'s origin, for the cross-site check.
    pub public_origin: String,
    /// Whether the public URL is https: cookies are then `Secure`.
    pub secure_cookies: bool,
    pub default_room: Option<RoomName>,
    /// Twilio mode only: the Video REST API, for host controls and room creation.
    pub video: Option<VideoClient>,
    /// Checks `X-Twilio-Signature`; present when an Auth Token is configured.
    pub signatures: Option<Arc<ArcSwap<SignatureValidator>>>,
    /// Given to Twilio as each room's `StatusCallback` (with `signatures` only).
    pub status_callback: Option<Url>,
    /// Rooms we know exist with our status callback, and since when.
    pub rooms_ready: std::sync::Mutex<std::collections::HashMap<RoomName, std::time::Instant>>,
    pub video_sdk_url: String,
    pub local_mode: bool,
    pub session_ttl: Duration,
    /// How long a code check waits for a verification start still in flight.
    pub start_wait: Duration,
}

impl AppState {
    /// Forget that `room` exists (it ended): the next token creates it again.
    pub fn forget_room(&self, room: &RoomName) {
        self.rooms_ready
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(room);
    }

    /// Copy the SMS budget's windows into the metrics' gauges.
    pub async fn publish_budget(&self) {
        for (window, used, cap) in self.budget.usage().await {
            let window = match window {
                "minute" => Window::Minute,
                "hour" => Window::Hour,
                _ => Window::Day,
            };
            self.metrics.set_sms_budget(window, used, cap);
        }
    }

    /// Write an audit record before the request is answered. A failure to write is
    /// logged, not shown to the participant: the gate stays open to the ACL's users.
    pub async fn audit(&self, record: AuditRecord) {
        if let Err(e) = self.audit.record(record).await {
            tracing::error!(error = %e, "audit record not written");
        }
    }
}
