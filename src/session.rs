//! The typed view of a participant's session cookie.
//!
//! The cookie (encrypted by actix-session) holds only three things: the CSRF token,
//! the id of a pending sign-in (its state lives server-side, see [`crate::signin`],
//! so the cookie is the same size for known and unknown usernames), and the grant a
//! verified session earns — plus a random session id, so a cookie can be revoked: at
//! verification the old id is revoked (a cookie copied before it is worth nothing) and
//! at logout the current one (a copy replayed later is refused). Revoked ids are kept
//! until every cookie that carried them has expired.

use std::sync::Arc;
use std::time::Duration;

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::domain::{RoomName, Username};
use crate::random::{ordered_token, random_token};
use crate::signin::SignInId;
use crate::store::{Store, StoreError};
use crate::telemetry::REPEATABLE;

const SID: &str = "sid";
const CSRF: &str = "csrf";
const PENDING: &str = "pending";
const GRANT: &str = "grant";

/// What a verified session may do: be `username` in `room`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grant {
    pub username: Username,
    pub room: RoomName,
    /// Unix seconds, for session lifetime limits.
    pub verified_at: u64,
    /// The fingerprint of the phone number this session proved (see
    /// [`crate::passkeys::PhoneKey`]): the session holds while the list gives its user
    /// that number, and a passkey registered from it is bound to it. Absent only in
    /// grants made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The passkey this session was verified with (its id, as `roomgate passkeys
    /// list` prints it), if it was one: revoking that passkey ends the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<String>,
    /// Unix seconds: the end of the lifetime it was granted, set by
    /// [`TypedSession::elevate`]. A lifetime configured longer later (a restart with a
    /// larger `ROOMGATE_SESSION_TTL`) doesn't lengthen it, so it can't outlive its
    /// logout's revocation, which lasts as long as this. Absent only in grants made
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Unix milliseconds, by the store's clock, set by [`TypedSession::elevate`]: when
    /// the session was signed in, to tell it from a departure from the list made in
    /// the same second (see [`crate::acl::departures`]). Absent only in grants made
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_ms: Option<u64>,
}

/// What sessions need from the app: where revocations live (and its clock), and how
/// long a verified session lasts.
pub struct SessionPolicy {
    pub store: Arc<dyn Store>,
    pub ttl: Duration,
}

pub struct TypedSession {
    session: Session,
    policy: web::Data<SessionPolicy>,
    /// The store could not say whether this cookie was revoked: it earns nothing
    /// (fail closed) until it can.
    unchecked: bool,
}

impl TypedSession {
    /// The session's CSRF token, made on first use (with the session's id).
    pub fn csrf_token(&self) -> Result<String, SessionInsertError> {
        if let Some(token) = self.get::<String>(CSRF) {
            return Ok(token);
        }
        if self.get::<String>(SID).is_none() {
            self.session.insert(SID, ordered_token())?;
        }
        let token = random_token();
        self.session.insert(CSRF, &token)?;
        Ok(token)
    }

    /// Constant-time comparison with the session's token; no token in the session
    /// (or none presented) never matches.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        csrf_matches(&self.session, presented)
    }

    pub fn pending(&self) -> Option<SignInId> {
        self.get(PENDING)
    }

    pub fn set_pending(&self, id: &SignInId) -> Result<(), SessionInsertError> {
        self.session.insert(PENDING, id)
    }

    pub fn grant(&self) -> Option<Grant> {
        self.get(GRANT)
    }

    /// Whether the store could not say if this cookie was revoked. Such a session is
    /// verified for nothing; endpoints answer "busy" rather than "not verified".
    pub fn unchecked(&self) -> bool {
        self.unchecked
    }

    /// The verified user for `room`, if this session has earned it, that was less
    /// than the session lifetime ago, and its revocation could be checked.
    pub fn verified_for(&self, room: &RoomName) -> Option<Grant> {
        if self.unchecked {
            return None;
        }
        let now = self.policy.store.clock().unix_seconds();
        let ttl = self.policy.ttl.as_secs();
        self.grant().filter(|g| {
            &g.room == room
                && now.saturating_sub(g.verified_at) < ttl
                && g.expires_at.is_none_or(|at| now < at)
        })
    }

    pub fn clear_grant(&self) {
        self.session.remove(GRANT);
    }

    /// The privilege change at verification: the old session id is revoked (durably)
    /// and a new one issued (so a cookie captured before is worth nothing), with a new
    /// CSRF token.
    pub async fn elevate(&self, grant: &Grant) -> anyhow::Result<()> {
        self.revoke().await?;
        self.session.renew();
        self.session.remove(PENDING);
        self.session.insert(SID, ordered_token())?;
        self.session.insert(CSRF, random_token())?;
        let lasts = self.policy.ttl.as_secs();
        let grant = Grant {
            expires_at: Some(grant.verified_at.saturating_add(lasts)),
            verified_ms: Some(crate::store::unix_ms(self.policy.store.clock().now())),
            ..grant.clone()
        };
        self.session.insert(GRANT, grant)?;
        Ok(())
    }

    /// Logout: this cookie, and any copy of it, stops working. When the store can't
    /// record that, nothing changes (so the participant can try again).
    pub async fn end(&self) -> Result<(), StoreError> {
        self.revoke().await?;
        self.session.purge();
        Ok(())
    }

    /// Durable before it returns: a revocation acknowledged survives a crash.
    /// Only a cookie worth checking (see [`worth_checking`]) is revoked: one that
    /// holds neither a grant nor a pending sign-in is never looked up, so its
    /// revocation would be a 12-hour record for nothing, and anyone could write those
    /// at will (a join form, then a logout).
    async fn revoke(&self) -> Result<(), StoreError> {
        match self
            .get::<String>(SID)
            .filter(|_| worth_checking(&self.session))
        {
            Some(sid) => {
                // As long as what the cookie holds could be used: a grant until the
                // end of the lifetime it was given (one made before that was kept,
                // for the longest lifetime that can be configured, which any later
                // setting may give it); a pending sign-in (which anyone can get, by
                // posting any name) only as long as a sign-in lives.
                let granted = match self.grant() {
                    Some(Grant {
                        expires_at: Some(at),
                        ..
                    }) => Duration::from_secs(
                        at.saturating_sub(self.policy.store.clock().unix_seconds()),
                    ),
                    Some(_) => crate::config::MAX_SESSION_TTL,
                    None if self.session.contains_key(GRANT) => crate::config::MAX_SESSION_TTL,
                    None => Duration::ZERO,
                };
                // A pending sign-in the cookie holds too (a grant's holder signing in
                // again) lives its own time, whatever is left of the grant.
                let pending = if self.session.contains_key(PENDING) {
                    crate::signin::SIGN_IN_TTL + crate::signin::SIGN_IN_AFTERLIFE
                } else {
                    Duration::ZERO
                };
                let lives = granted.max(pending);
                let ttl = lives + Duration::from_secs(60);
                self.policy.store.put(&revoked_key(&sid), b"1", ttl).await
            }
            None => Ok(()),
        }
    }

    /// A value that fails to decode (an old cookie layout) counts as absent.
    fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.session.get(key).ok().flatten()
    }
}

/// The user this request's cookie claims to be verified as, before the cookie's
/// revocation is checked: only for starting a read about that user early, in parallel
/// with the check. Act on the [`TypedSession`]'s grant, never on this.
pub fn claimed_user(req: &HttpRequest) -> Option<Username> {
    claimed_grant(req).map(|grant| grant.username)
}

/// The grant this request's cookie claims, unchecked, like [`claimed_user`]: only to
/// choose between refusals, never to let anything through.
pub fn claimed_grant(req: &HttpRequest) -> Option<Grant> {
    req.get_session().get(GRANT).ok().flatten()
}

/// Whether a cookie can have been revoked, so is looked up: one that holds a grant
/// (logout), or a pending sign-in (superseded when that sign-in's code was approved).
fn worth_checking(session: &Session) -> bool {
    session.contains_key(GRANT) || session.contains_key(PENDING)
}

fn revoked_key(sid: &str) -> String {
    format!("revoked-session:{sid}")
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<TypedSession, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let session = req.get_session();
        let policy = req.app_data::<web::Data<SessionPolicy>>().cloned();
        Box::pin(async move {
            let policy = policy.ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("the session policy is missing")
            })?;
            // Only a cookie that holds something can have been revoked. One that
            // holds neither, like every cookie a sign-in is posted with the first
            // time, carries a CSRF token and nothing else: it costs no store read.
            let sid = session
                .get::<String>(SID)
                .ok()
                .flatten()
                .filter(|_| worth_checking(&session));
            let mut unchecked = false;
            if let Some(sid) = sid {
                match policy.store.get(&revoked_key(&sid)).await {
                    Ok(Some(_)) => {
                        // A copy of a cookie that was logged out or superseded: start afresh.
                        tracing::info!(name: REPEATABLE, "revoked session cookie presented");
                        session.clear();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(name: REPEATABLE, error = %e, "session revocation not checked; the session earns nothing");
                        unchecked = true;
                    }
                }
            }
            Ok(TypedSession {
                session,
                policy,
                unchecked,
            })
        })
    }
}

/// Whether `presented` is `session`'s CSRF token, compared in constant time; no token
/// in the session (or none presented) never matches. Needs no store: the token lives
/// in the (encrypted) cookie.
pub fn csrf_matches(session: &Session, presented: Option<&str>) -> bool {
    let expected = session.get::<String>(CSRF).ok().flatten();
    match (expected, presented) {
        (Some(expected), Some(presented)) if !expected.is_empty() => {
            expected.as_bytes().ct_eq(presented.as_bytes()).into()
        }
        _ => false,
    }
}
