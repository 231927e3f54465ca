//! The typed view of a participant's session cookie.
//!
//! The cookie (encrypted by actix-session) holds only three things: the CSRF token,
//! the id of a pending sign-in (its state lives server-side, see [`crate::signin`],
//! so the cookie is the same size for known and unknown usernames), and the grant a
//! verified session earns.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt, SessionInsertError};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::domain::{RoomName, Username};
use crate::signin::SignInId;

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
}

pub struct TypedSession(Session);

impl TypedSession {
    /// The session's CSRF token, made on first use.
    pub fn csrf_token(&self) -> Result<String, SessionInsertError> {
        if let Some(token) = self.get::<String>(CSRF) {
            return Ok(token);
        }
        let token = random_token();
        self.0.insert(CSRF, &token)?;
        Ok(token)
    }

    /// Constant-time comparison with the session's token; no token in the session
    /// (or none presented) never matches.
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        match (self.get::<String>(CSRF), presented) {
            (Some(expected), Some(presented)) if !expected.is_empty() => {
                expected.as_bytes().ct_eq(presented.as_bytes()).into()
            }
            _ => false,
        }
    }

    pub fn pending(&self) -> Option<SignInId> {
        self.get(PENDING)
    }

    pub fn set_pending(&self, id: &SignInId) -> Result<(), SessionInsertError> {
        self.0.insert(PENDING, id)
    }

    pub fn clear_pending(&self) {
        self.0.remove(PENDING);
    }

    pub fn grant(&self) -> Option<Grant> {
        self.get(GRANT)
    }

    /// The verified user for `room`, if this session has earned it.
    pub fn verified_for(&self, room: &RoomName) -> Option<Grant> {
        self.grant().filter(|g| &g.room == room)
    }

    pub fn clear_grant(&self) {
        self.0.remove(GRANT);
    }

    /// The privilege change at verification: a new session id (so a cookie captured
    /// before it is worth nothing more than before) and a new CSRF token.
    pub fn elevate(&self, grant: &Grant) -> Result<(), SessionInsertError> {
        self.0.renew();
        self.0.remove(PENDING);
        self.0.insert(CSRF, random_token())?;
        self.0.insert(GRANT, grant)
    }

    pub fn end(&self) {
        self.0.purge();
    }

    /// A value that fails to decode (an old cookie layout) counts as absent.
    fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).ok().flatten()
    }
}

impl FromRequest for TypedSession {
    type Error = <Session as FromRequest>::Error;
    type Future = Ready<Result<TypedSession, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession(req.get_session())))
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
