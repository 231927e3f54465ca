//! What every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::acl::Acl;
use crate::clock::Clock;
use crate::domain::RoomName;
use crate::signin::SignIns;
use crate::verify::Verifier;
use crate::video::AccessTokenIssuer;

pub struct AppState {
    /// Swapped whole on reload; readers never see a half-applied list.
    pub acl: Arc<ArcSwap<Acl>>,
    pub verifier: Arc<dyn Verifier>,
    pub tokens: AccessTokenIssuer,
    pub signins: SignIns,
    pub clock: Arc<dyn Clock>,
    pub default_room: Option<RoomName>,
    pub video_sdk_url: String,
    pub local_mode: bool,
    /// How long a code check waits for a verification start still in flight.
    pub start_wait: Duration,
}
