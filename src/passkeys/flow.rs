//! Signing in with a passkey, apart from HTTP. It mirrors the code flow
//! ([`crate::signin::flow`]): asking for options is "send me a code" (the per-network
//! and per-name limits, the lockout), answering them is the code check (the per-network
//! check limit; a failure counts toward the lockout). Known or not, a name gets the
//! same answers: unknown names get made-up options whose ceremony can only fail.

use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::{Ceremony, Passkeys};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::Username;
use crate::metrics::{FailReason, LimitKind};
use crate::signin::{Refusal, SignInService, Visit};

/// What a finished sign-in came to.
#[derive(Debug)]
pub enum Finished {
    /// The passkey is good and the user on the list for this room: elevate the
    /// session. The phone fingerprint goes in the grant.
    Approved { username: Username, phone: String },
    /// A host removed the user from this room a moment ago: the same answer the token
    /// endpoint gives.
    Removed { until: u64 },
    /// Anything else: unknown name, no such ceremony (expired, used), a wrong or
    /// replayed assertion, a stale credential, no longer on the list. One answer for
    /// all, so it tells nothing.
    Refused,
    /// This failure locked the name out.
    LockedOut(std::time::Duration),
}

impl Passkeys {
    /// Options for `who` in `room`, and the ceremony's id.
    pub async fn options(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        who: &str,
    ) -> Result<(String, RequestChallengeResponse), Refusal> {
        // As for a code: a sign-in that couldn't be recorded is refused first.
        signin.audit_log.health().map_err(Refusal::AuditDown)?;
        // The three reads go together (one round trip to Redis), judged in order.
        let (from_ip, locked, stored) = tokio::join!(
            signin.limiter.login_from_ip(visit.ip),
            signin.limiter.locked_out(who),
            self.credentials(who),
        );
        from_ip?;
        if let Some(left) = locked? {
            return Err(Refusal::LockedOut(left));
        }
        // Like a code: every ask counts against the name, known or not (but it sends
        // no text, so the resend cooldown isn't started: see the limiter).
        signin.limiter.passkey_for_user(who).await?;
        let stored = stored?;
        let bound = self.bound_credentials(signin, who, stored.as_ref()).await;
        let (options, state) = self.sign_in_options(who, &bound);
        let ceremony = Ceremony::SignIn {
            who: who.to_owned(),
            room: visit.room.clone(),
            state,
        };
        let id = self.begin(&ceremony).await?;
        Ok((id, options))
    }

    /// The credentials of `who` bound to the number the list has now. Credentials of
    /// a user who left the list, or proven with another number, are deleted on the
    /// way (the ACL reload does it too, but not for changes made while no instance
    /// watched). A user on the list but not for `room` gets them too, and is refused
    /// at the finish: made-up ids here would differ from the real ones another room
    /// shows, which would tell that the name is real.
    async fn bound_credentials(
        &self,
        signin: &SignInService,
        who: &str,
        stored: Option<&super::UserPasskeys>,
    ) -> Vec<webauthn_rs::prelude::Passkey> {
        let Some(stored) = stored else {
            return Vec::new();
        };
        let listed = Username::parse(who).ok().and_then(|u| {
            let acl = signin.acl.load();
            acl.user(&u).map(|user| self.phone_fingerprint(&user.phone))
        });
        match listed {
            Some(phone) => {
                if stored.has_stale(&phone) {
                    let mut kept = stored.clone();
                    kept.credentials.retain(|c| c.phone == phone);
                    if let Err(e) = self.save(who, &kept).await {
                        tracing::warn!(error = %e, "stale passkeys not deleted; they are refused all the same");
                    }
                }
                stored.bound_to(&phone)
            }
            None => {
                if let Err(e) = self.forget(who).await {
                    tracing::warn!(error = %e, "passkeys of a user not on the list not deleted; they are refused all the same");
                }
                Vec::new()
            }
        }
    }

    /// Check the browser's answer to ceremony `id`. `credential` is as received: one
    /// that doesn't parse is a failed attempt like any other.
    pub async fn finish(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        id: &str,
        credential: serde_json::Value,
        now: u64,
    ) -> Result<Finished, Refusal> {
        signin.audit_log.health().map_err(Refusal::AuditDown)?;
        // The network's check limit first: a refused request touches no ceremony.
        signin.limiter.check_from_ip(visit.ip).await?;
        let Some(Ceremony::SignIn { who, room, state }) = self.take(id).await? else {
            return Ok(Finished::Refused);
        };
        if &room != visit.room {
            return Ok(Finished::Refused);
        }
        if let Some(left) = signin.limiter.locked_out(&who).await? {
            signin.metrics.limited(LimitKind::LockedOut);
            return Err(Refusal::LockedOut(left));
        }
        let parsed = serde_json::from_value::<PublicKeyCredential>(credential);
        let result = match (state, parsed) {
            (Some(state), Ok(credential)) => self.finish_sign_in(&credential, &state).ok(),
            _ => None,
        };
        let Some(result) = result else {
            return self.failed(signin, visit, &who).await;
        };
        let user = signin.pseudonyms.of(&who);
        let room = visit.room;
        // The assertion is good; is the user still who the credential was for?
        let Ok(username) = Username::parse(&who) else {
            return self.failed(signin, visit, &who).await;
        };
        let phone = {
            let acl = signin.acl.load();
            acl.allowed(&username, room)
                .map(|u| self.phone_fingerprint(&u.phone))
        };
        let Some(phone) = phone else {
            tracing::info!(%user, %room, "passkey good for a user no longer on the list");
            return Ok(Finished::Refused);
        };
        let Some(mut stored) = self.credentials(&who).await? else {
            // Deleted since the options were given (revoked, or the user changed).
            return Ok(Finished::Refused);
        };
        let bound = stored
            .credentials
            .iter()
            .any(|c| c.passkey.cred_id() == result.cred_id() && c.phone == phone);
        if !bound {
            tracing::info!(%user, %room, "passkey proven with another number, or revoked");
            return Ok(Finished::Refused);
        }
        // Removed by a host: the token endpoint would refuse it, so say so now.
        let removal = crate::routes::removal_key(room, username.as_str());
        if let Some(until) = self.store.get(&removal).await? {
            let until = <[u8; 8]>::try_from(until.as_slice()).map_or(0, u64::from_le_bytes);
            return Ok(Finished::Removed { until });
        }
        // The counter and backup state, saved for the next sign-in.
        stored.used(&result, now);
        self.save(&who, &stored).await?;
        tracing::info!(%user, %room, "passkey approved");
        Ok(Finished::Approved { username, phone })
    }

    /// A failed assertion counts toward the lockout, like a failed verification.
    async fn failed(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        who: &str,
    ) -> Result<Finished, Refusal> {
        signin.metrics.verification_failed(FailReason::Passkey);
        let record = |event: AuditEvent, detail: &str| {
            let record = AuditRecord::new(event)
                .room(visit.room)
                .ip(visit.ip)
                .detail(detail);
            match Username::parse(who) {
                Ok(u) => record.user(&u),
                Err(_) => record,
            }
        };
        signin
            .audit(record(AuditEvent::CheckFailed, "method=passkey"))
            .await;
        match signin.limiter.record_failure(who).await? {
            Some(lock) => {
                let user = signin.pseudonyms.of(who);
                tracing::warn!(%user, room = %visit.room, lock_secs = lock.as_secs(), "locked out");
                signin.metrics.lockout();
                signin
                    .audit(record(AuditEvent::Lockout, &format!("{}s", lock.as_secs())))
                    .await;
                Ok(Finished::LockedOut(lock))
            }
            None => Ok(Finished::Refused),
        }
    }
}
