//! Signing in: pending sign-ins in the store ([`pending`]) and the flow that moves
//! them from "send me a code" to a verified session ([`flow`]), run by one
//! [`SignInService`] that handlers call.

pub mod flow;
pub mod pace;
pub mod pending;
pub mod stand_in;
pub mod turns;

use std::sync::Arc;
use std::time::Duration;

pub use flow::{Checked, Refusal, Visit};
pub use pending::{
    AFTERLIFE as SIGN_IN_AFTERLIFE, CodeRequest, SIGN_IN_TTL, SignIn, SignInId, SignIns, Start,
    StartState,
};

use crate::acl::AclStore;
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::budget::Budget;
use crate::domain::Username;
use crate::limits::Limiter;
use crate::metrics::Metrics;
use crate::passkeys::PhoneKey;
use crate::telemetry::Pseudonyms;
use crate::verify::Verifier;

/// Everything the sign-in flow needs, and nothing else: the pending sign-ins, the
/// limits and budget that guard them, the ACL and the verifier they consult, and
/// where outcomes are recorded.
pub struct SignInService {
    pub signins: SignIns,
    pub limiter: Arc<Limiter>,
    /// The SMS budget.
    pub budget: Budget,
    /// The call budget ("Call me instead").
    pub call_budget: Budget,
    pub acl: Arc<AclStore>,
    pub verifier: Arc<dyn Verifier>,
    pub audit_log: AuditLog,
    pub metrics: Metrics,
    pub pseudonyms: Pseudonyms,
    /// How long a code check waits for a verification start still in flight.
    pub start_wait: Duration,
    /// Fingerprints the number a code is sent to: the code proves that number only.
    pub phone_key: PhoneKey,
    /// One check of a sign-in at a time, here (a double-click posts the code twice).
    pub checking: turns::CheckTurns,
}

impl SignInService {
    /// Write an audit record before the request is answered. A failure to write is
    /// logged, not shown to the participant. Only the record of a new sign-in request
    /// is written with `audit_log.record` itself, and refuses the sign-in if it fails
    /// (see [`Refusal::AuditDown`]): nobody starts signing in unrecorded, while those
    /// already in carry on.
    pub async fn audit(&self, record: AuditRecord) {
        self.audit_log.record_or_note(record).await;
    }

    /// The sign-ins a sweep took ([`SignIns::sweep`]), counted as [`Self::abandoned`]
    /// says: one name's in turn (its count decides its lock), names at once (their
    /// durable counts share commits, so a sweep keeps up with a flood).
    pub async fn abandoned_all(&self, swept: Vec<SignIn>) {
        let mut by_name: std::collections::HashMap<String, Vec<SignIn>> =
            std::collections::HashMap::new();
        for sign_in in swept {
            by_name
                .entry(sign_in.who.clone())
                .or_default()
                .push(sign_in);
        }
        futures_util::future::join_all(by_name.into_values().map(|sign_ins| async move {
            for sign_in in sign_ins {
                if let Err(e) = self.abandoned(&sign_in).await {
                    tracing::warn!(error = %e, "an abandoned sign-in was not counted as a failure");
                }
            }
        }))
        .await;
    }

    /// A sign-in that expired unfinished (taken by [`SignIns::sweep`]): a failed
    /// verification for the name typed, and perhaps the one that locks it, which is
    /// logged, counted and audited as a failed check's lockout is.
    pub async fn abandoned(&self, sign_in: &SignIn) -> Result<(), crate::store::StoreError> {
        let Some(lock) = self.limiter.record_failure(&sign_in.who).await? else {
            return Ok(());
        };
        let user = self.pseudonyms.of(&sign_in.who);
        tracing::warn!(%user, room = %sign_in.room, lock_secs = lock.as_secs(), "locked out: sign-ins left unfinished");
        self.metrics.lockout();
        let mut record = AuditRecord::new(AuditEvent::Lockout)
            .room(&sign_in.room)
            .detail(format!("{}s abandoned", lock.as_secs()));
        if let Ok(user) = Username::parse(&sign_in.who) {
            record = record.user(&user);
        }
        self.audit(record).await;
        Ok(())
    }
}
