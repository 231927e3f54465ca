//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::Url;

use crate::acl::AclStore;
use crate::audit::{AuditLog, AuditRecord};
use crate::clock::Clock;
use crate::domain::RoomName;
use crate::metrics::Metrics;
use crate::signin::SignInService;
use crate::store::health::StoreHealth;
use crate::store::{Store, StoreError};
use crate::telemetry::Pseudonyms;
use crate::twilio::signature::SignatureValidator;
use crate::video::AccessTokenIssuer;
use crate::video::VideoClient;

pub struct AppState {
    /// The sign-in flow, with the limits, budget and verifier it uses.
    pub signin: SignInService,
    /// Swapped whole on reload; readers never see a half-applied list.
    pub acl: Arc<AclStore>,
    /// Everything remembered between requests (limits, lockouts, budget windows,
    /// revoked sessions, pending sign-ins, bans, rooms known to exist).
    pub store: Arc<dyn Store>,
    /// Whether the store answers, for `/readyz`.
    pub store_health: StoreHealth,
    pub tokens: AccessTokenIssuer,
    pub audit: AuditLog,
    pub metrics: Metrics,
    /// The store's clock: instances sharing a store agree on it.
    pub clock: Arc<dyn Clock>,
    pub pseudonyms: Pseudonyms,
    /// Twilio mode only: the Video REST API, for host controls and room creation.
    pub video: Option<VideoClient>,
    /// Checks `X-Twilio-Signature`; present when an Auth Token is configured.
    pub signatures: Option<Arc<ArcSwap<SignatureValidator>>>,
    /// Given to Twilio as each room's `StatusCallback` (with `signatures` only).
    pub status_callback: Option<Url>,
    pub site: Site,
}

/// Settings the pages need, copied from the configuration once.
pub struct Site {
    /// `ROOMGATE_PUBLIC_URL`'s origin, for the cross-site check.
    pub public_origin: String,
    /// Whether the public URL is https: cookies are then `Secure`.
    pub secure_cookies: bool,
    pub default_room: Option<RoomName>,
    pub video_sdk_url: String,
    pub local_mode: bool,
}

impl AppState {
    /// Forget that `room` exists (it ended): the next token creates it again.
    pub async fn forget_room(&self, room: &RoomName) -> Result<(), StoreError> {
        self.store.delete(&room_ready_key(room)).await
    }

    /// Whether `room` is known to exist with our status callback.
    pub async fn room_ready(&self, room: &RoomName) -> Result<bool, StoreError> {
        Ok(self.store.get(&room_ready_key(room)).await?.is_some())
    }

    /// Remember that `room` exists, for `fresh`: after that it is looked up again.
    pub async fn set_room_ready(&self, room: &RoomName, fresh: Duration) -> Result<(), StoreError> {
        self.store.put(&room_ready_key(room), b"1", fresh).await
    }

    /// Write an audit record before the request is answered. A failure to write is
    /// logged, not shown to the participant: only new sign-ins wait for the audit log.
    pub async fn audit(&self, record: AuditRecord) {
        self.audit.record_or_note(record).await;
    }
}

fn room_ready_key(room: &RoomName) -> String {
    format!("room-ready:{room}")
}
