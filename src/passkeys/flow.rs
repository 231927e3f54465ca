//! Signing in with a passkey, apart from HTTP. It mirrors the code flow
//! ([`crate::signin::flow`]): asking for options is "send me a code" (the per-network
//! and per-name limits, the lockout), answering them is the code check (the per-network
//! check limit; a failure counts toward the lockout). Known or not, a name gets the
//! same answers: unknown names get made-up options whose ceremony can only fail.

use subtle::ConstantTimeEq;
use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::{BadAssertion, Ceremony, Passkeys};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::Username;
use crate::metrics::{FailReason, LimitKind};
use crate::signin::{Refusal, SignInService, Visit};

/// What a good assertion did to the user's fresh record.
enum Use {
    /// Its counter and last use were saved.
    Counted,
    /// Revoked, or bound to another number, since the options were given.
    Gone,
    /// Its signature counter didn't go up: two copies of the key may be in use.
    Cloned,
}

/// The counter a credential last reported, as stored.
fn stored_counter(passkey: &webauthn_rs::prelude::Passkey) -> u32 {
    // webauthn-rs shows it only with its "danger-credential-internals" feature; the
    // serialised form carries it.
    serde_json::to_value(passkey)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// WebAuthn's clone signal: an authenticator that counts (a counter above 0) must
/// report more than last time. webauthn-rs checks it against the counter the options
/// were made from; this checks it against the one saved since, so two sign-ins begun
/// together can't both use the same count.
fn counter_went_back(reported: u32, stored: u32) -> bool {
    reported > 0 && reported <= stored
}

/// What a finished sign-in came to.
#[derive(Debug)]
pub enum Finished {
    /// The passkey is good and the user on the list for this room: elevate the
    /// session. The phone fingerprint goes in the grant.
    Approved {
        username: Username,
        phone: String,
        /// The passkey's id ([`super::credential_id`]).
        passkey: String,
    },
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
    /// Options for `who` in `room`, and the ceremony's id, which only the session
    /// `session` ([`super::ceremony::session_binding`]) may finish.
    pub async fn options(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        who: &str,
        session: String,
    ) -> Result<(String, RequestChallengeResponse), Refusal> {
        // As for a code: a sign-in that couldn't be recorded is refused first.
        signin.audit_log.health().map_err(Refusal::AuditDown)?;
        // The reads go together (one round trip to Redis), judged in order. Everyone's
        // sign-ins are peeked at first, as for a code: a refusal for the cap spends
        // nothing of the name's (whose fall-back to a code would then be refused).
        let (from_ip, locked, stored, room_for_all) = tokio::join!(
            signin.limiter.login_from_ip(visit.ip),
            signin.limiter.locked_out(who),
            self.credentials(who),
            signin.limiter.peek_new_signin(),
        );
        from_ip?;
        if let Some(left) = locked? {
            return Err(Refusal::LockedOut(left));
        }
        room_for_all?;
        // Like a code: every ask counts against the name, known or not (but it sends
        // no text, so the resend cooldown isn't started: see the limiter).
        // It is a record in the store for a while, so it counts among everyone's
        // sign-ins too (in the same round trip).
        tokio::try_join!(
            signin.limiter.passkey_for_user(who),
            signin.limiter.new_signin()
        )?;
        let stored = stored?;
        let bound = self.bound_credentials(signin, who, stored.as_ref()).await;
        let (options, state) = self.sign_in_options(who, &bound);
        let ceremony = Ceremony::SignIn {
            who: who.to_owned(),
            room: visit.room.clone(),
            state,
            session,
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
                    let dropped = self.update(who, |record| {
                        if let Some(record) = record {
                            record.credentials.retain(|c| c.phone == phone);
                        }
                    });
                    if let Err(e) = dropped.await {
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

    /// Check the browser's answer to ceremony `id`, from the session `session`.
    /// `credential` is as received: one that doesn't parse is a failed attempt like
    /// any other.
    pub async fn finish(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        (id, session): (&str, &str),
        credential: serde_json::Value,
        now: u64,
    ) -> Result<Finished, Refusal> {
        signin.audit_log.health().map_err(Refusal::AuditDown)?;
        // The network's check limit first: a refused request touches no ceremony.
        signin.limiter.check_from_ip(visit.ip).await?;
        // Another session's ceremony (its id taken from that page), or another room's,
        // is refused before it is taken, so it is left for its own session.
        let ours = |c: &Ceremony| match c {
            Ceremony::SignIn {
                room,
                session: asked_by,
                ..
            } => bool::from(asked_by.as_bytes().ct_eq(session.as_bytes())) && room == visit.room,
            Ceremony::Register { .. } => false,
        };
        let Some(Ceremony::SignIn { who, state, .. }) = self.take_if(id, ours).await? else {
            return Ok(Finished::Refused);
        };
        if let Some(left) = signin.limiter.locked_out(&who).await? {
            signin.metrics.limited(LimitKind::LockedOut);
            return Err(Refusal::LockedOut(left));
        }
        let parsed = serde_json::from_value::<PublicKeyCredential>(credential);
        // The credential answered with, for a clone signal.
        let answered = parsed
            .as_ref()
            .map(|c| super::encode_id(c.raw_id.as_ref()))
            .unwrap_or_default();
        let result = match (state, parsed) {
            (Some(state), Ok(credential)) => self.finish_sign_in(&credential, &state),
            _ => Err(BadAssertion::Invalid),
        };
        let user = signin.pseudonyms.of(&who);
        let room = visit.room;
        let result = match result {
            Ok(result) => result,
            Err(BadAssertion::CounterBehind) => {
                return self.cloned(signin, visit, &who, Some(&answered)).await;
            }
            Err(BadAssertion::Invalid) => {
                return self.failed(signin, visit, &who, "method=passkey").await;
            }
        };
        // The assertion is good; is the user still who the credential was for?
        let Ok(username) = Username::parse(&who) else {
            return self.failed(signin, visit, &who, "method=passkey").await;
        };
        let phone = {
            let acl = signin.acl.load();
            acl.allowed(&username, room)
                .map(|u| self.phone_fingerprint(&u.phone))
        };
        let Some(phone) = phone else {
            tracing::info!(%user, %room, "passkey good for a user not on the list for this room");
            return Ok(Finished::Refused);
        };
        // The fresh record, under the user's lock: the credential must still be there
        // and bound to the number (a revocation a moment ago wins), and its counter
        // must have gone up since the last sign-in saved it; then the counter and
        // backup state are saved for the next one.
        let used = self
            .update(&who, |record| {
                let Some(stored) = record.as_mut().and_then(|r| {
                    r.credentials
                        .iter_mut()
                        .find(|c| c.passkey.cred_id() == result.cred_id() && c.phone == phone)
                }) else {
                    return Use::Gone;
                };
                let known = stored_counter(&stored.passkey);
                if counter_went_back(result.counter(), known) {
                    return Use::Cloned;
                }
                stored.passkey.update_credential(&result);
                stored.last_used = Some(now);
                Use::Counted
            })
            .await?;
        match used {
            Use::Counted => {}
            Use::Gone => {
                tracing::info!(%user, %room, "passkey proven with another number, or revoked");
                return Ok(Finished::Refused);
            }
            // Above the counter the options carried, not above one saved since: two
            // ceremonies of the owner's raced as likely as a copy. Refused and
            // counted, not revoked (a copy that ran the counter ahead is caught at
            // the owner's next sign-in, whose options then carry that counter).
            Use::Cloned => return self.cloned(signin, visit, &who, None).await,
        }
        // Removed by a host: the token endpoint would refuse it, so say so now.
        let removal = crate::routes::removal_key(room, username.as_str());
        if let Some(until) = self.store.get(&removal).await? {
            let until = <[u8; 8]>::try_from(until.as_slice()).map_or(0, u64::from_le_bytes);
            return Ok(Finished::Removed { until });
        }
        tracing::info!(%user, %room, "passkey approved");
        Ok(Finished::Approved {
            username,
            phone,
            passkey: super::encode_id(result.cred_id()),
        })
    }

    /// A good signature whose counter did not go up: seen by webauthn-rs against the
    /// counter saved when the options were made (`revoke`: that credential), or by us
    /// against one a sign-in saved since. In the first case two authenticators answer
    /// for the credential, and which is the owner's can't be told: it is revoked,
    /// which ends every session it opened (the thief's too, who could otherwise lock
    /// the owner out with a counter run ahead, and carry on); the owner signs in with
    /// a code.
    async fn cloned(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        who: &str,
        revoke: Option<&str>,
    ) -> Result<Finished, Refusal> {
        let user = signin.pseudonyms.of(who);
        tracing::warn!(%user, room = %visit.room, revoked = revoke.is_some(), "passkey refused: its signature counter did not go up (a cloned authenticator?)");
        let revoked = match revoke {
            Some(id) => self.revoke(who, id).await?,
            None => false,
        };
        if revoked {
            let mut record = AuditRecord::new(AuditEvent::PasskeyRevoked)
                .room(visit.room)
                .ip(visit.ip)
                .detail("by=possible_clone");
            if let Ok(u) = Username::parse(who) {
                record = record.user(&u);
            }
            signin.audit(record).await;
        }
        self.failed(signin, visit, who, "method=passkey possible_clone")
            .await
    }

    /// A failed assertion counts toward the lockout, like a failed verification.
    async fn failed(
        &self,
        signin: &SignInService,
        visit: Visit<'_>,
        who: &str,
        detail: &str,
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
        signin.audit(record(AuditEvent::CheckFailed, detail)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_that_does_not_go_up_is_a_clone_signal() {
        assert!(
            !counter_went_back(0, 0),
            "an authenticator that doesn't count"
        );
        assert!(
            !counter_went_back(0, 7),
            "stopped counting: webauthn-rs judges that"
        );
        assert!(!counter_went_back(8, 7));
        assert!(counter_went_back(7, 7));
        assert!(counter_went_back(3, 7));
    }
}
