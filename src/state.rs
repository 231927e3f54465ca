//! What every request handler shares.

use std::sync::Arc;

use arc_swap::ArcSwap;
use reqwest::Url;

use crate::acl::AclStore;
use crate::audit::{AuditLog, AuditRecord};
use crate::clock::Clock;
use crate::domain::RoomName;
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::recordings::storage::ObjectStorage;
use crate::recordings::storage::local::LocalStorage;
use crate::signin::SignInService;
use crate::store::health::StoreHealth;
use crate::store::{Store, StoreError};
use crate::telemetry::Pseudonyms;
use crate::twilio::signature::SignatureValidator;
use crate::video::AccessTokenIssuer;
use crate::video::rooms::ready_key;
use crate::video::{RoomKeeper, VideoClient};

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
    /// Twilio mode only: the Video REST API, for host controls.
    pub video: Option<VideoClient>,
    /// Twilio mode only: creates rooms in the background as tokens are issued.
    pub rooms: Option<RoomKeeper>,
    /// Twilio mode only: disconnects again whoever connects while they should not.
    pub keep_out: Option<crate::video::keep_out::KeepOut>,
    /// Stored recordings: listing, links, deletion, retention.
    pub library: crate::recordings::library::Library,
    /// Twilio mode with webhooks: moves recorded rooms into storage.
    pub pipeline: Option<Arc<crate::recordings::pipeline::Pipeline>>,
    /// Checks `X-Twilio-Signature`; present when an Auth Token is configured.
    pub signatures: Option<Arc<ArcSwap<SignatureValidator>>>,
    /// Given to Twilio as each room's `StatusCallback` (with `signatures` only).
    pub status_callback: Option<Url>,
    pub site: Site,
    /// Where recordings' files are stored: a bucket, or the data directory.
    pub recordings_storage: Arc<dyn ObjectStorage>,
    /// The data directory's files when they are the storage: the file route checks
    /// its links against it. `None` with a bucket (links go to the bucket).
    pub recording_files: Option<Arc<LocalStorage>>,
    /// Passkeys, unless `ROOMGATE_PASSKEYS=off` or the public URL can't have them.
    pub passkeys: Option<Arc<crate::passkeys::Passkeys>>,
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
    /// What both `/readyz` answer from.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            store_health: self.store_health.clone(),
            store_backend: self.store.backend(),
            acl: self.acl.clone(),
            audit: self.audit.clone(),
        }
    }

    /// Forget that `room` exists (it ended): the next token creates it again. An
    /// ended room records nothing, so its "Recording" sign goes too.
    pub async fn forget_room(&self, room: &RoomName) -> Result<(), StoreError> {
        let ready = self.store.delete(&ready_key(room)).await;
        let sign = crate::recordings::live::forget(&*self.store, room).await;
        ready.and(sign)
    }

    /// The fingerprint a grant for `username` carries: what a passkey registered
    /// from that session is bound to.
    pub fn phone_proof(&self, username: &crate::domain::Username) -> Option<String> {
        let passkeys = self.passkeys.as_ref()?;
        let acl = self.acl.load();
        Some(passkeys.phone_fingerprint(&acl.user(username)?.phone))
    }

    /// Whether `grant` still stands: the list still gives its user the number its code
    /// (or passkey) proved, and a passkey's grant still has its passkey (see
    /// [`crate::passkeys::still_holds`]). A number changed on the list ends the sessions
    /// the old one opened, as it ends the sign-ins under way: changing it is what a
    /// host does when a phone is lost. (Grants from before numbers were kept in them
    /// carry none, and stand on the name alone.)
    pub async fn grant_holds(&self, grant: &crate::session::Grant) -> Result<bool, StoreError> {
        let proved = grant.phone.as_deref();
        if let Some(proved) = proved {
            let acl = self.acl.load();
            let holds = acl
                .user(&grant.username)
                .is_some_and(|user| self.signin.phone_key.matches(&user.phone, proved));
            if !holds {
                return Ok(false);
            }
        }
        // Nor one from before the list let its user (or room) go, even listed again.
        let (passkey, ended) = tokio::join!(
            crate::passkeys::still_holds(&*self.store, grant, proved),
            crate::acl::departures::ended(&*self.store, grant)
        );
        Ok(passkey? && !ended?)
    }

    /// Write an audit record before the request is answered. A failure to write is
    /// logged, not shown to the participant: only new sign-ins wait for the audit log.
    pub async fn audit(&self, record: AuditRecord) {
        self.audit.record_or_note(record).await;
    }
}
