//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::acl::AclStore;
use crate::budget::SmsBudget;
use crate::client_ip::TrustedProxies;
use crate::clock::Clock;
use crate::domain::RoomName;
use crate::limits::{CounterStore, Limiter};
use crate::signin::SignIns;
use crate::telemetry::Pseudonyms;
use crate::verify::Verifier;
use crate::video::AccessTokenIssuer;

pub struct AppState {
    /// Swapped whole on reload; readers never see a half-applied list.
    pub acl: Arc<AclStore>,
    pub verifier: Arc<dyn Verifier>,
    pub tokens: AccessTokenIssuer,
    pub signins: SignIns,
    /// Limits, lockouts, budget windows and revoked sessions.
    pub counters: Arc<dyn CounterStore>,
    pub limiter: Limiter,
    pub budget: SmsBudget,
    pub clock: Arc<dyn Clock>,
    pub pseudonyms: Pseudonyms,
    pub trusted_proxies: TrustedProxies,
    /// `ROOMGATE_PUBLIC_URL`'s origin, for the cross-site check.
    pub public_origin: String,
    pub default_room: Option<RoomName>,
    pub video_sdk_url: String,
    pub local_mode: bool,
    pub session_ttl: Duration,
    /// How long a code check waits for a verification start still in flight.
    pub start_wait: Duration,
}
