//! What handlers check on every request, as extractors, so each is written once: the
//! room in the path, the CSRF token (form field or header), and "a verified member of
//! this room".

use std::future::{Ready, ready};

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::PageError;
use super::respond::no_store;
use crate::domain::RoomName;
use crate::session::{Grant, TypedSession, csrf_matches};
use crate::state::AppState;
use crate::telemetry::REPEATABLE;

/// The `{room}` path segment, parsed; anything else is a 404 that says nothing more.
pub struct RoomPath(pub RoomName);

impl FromRequest for RoomPath {
    type Error = PageError;
    type Future = Ready<Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let room = req.match_info().get("room").map(RoomName::parse);
        ready(match room {
            Some(Ok(room)) => Ok(RoomPath(room)),
            _ => Err(PageError::NotFound),
        })
    }
}

/// A form carrying the session's CSRF token in its `csrf_token` field.
pub trait CsrfField {
    fn csrf_token(&self) -> Option<&str>;
}

/// A form whose CSRF token matched the session's; anything else is a 403. The
/// session comes with it, its revocation checked first: a revoked cookie's token
/// matches nothing.
pub struct CheckedForm<T> {
    pub form: T,
    pub session: TypedSession,
}

impl<T: DeserializeOwned + CsrfField + 'static> FromRequest for CheckedForm<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form = web::Form::<T>::from_request(req, payload);
        let session = TypedSession::from_request(req, payload);
        Box::pin(async move {
            let session = session.await?;
            let form = form.await?.into_inner();
            if !session.csrf_matches(form.csrf_token()) {
                return Err(PageError::Csrf.into());
            }
            Ok(CheckedForm { form, session })
        })
    }
}

/// The `X-CSRF-Token` header of the room page's scripts matched the session's token.
/// It reads the cookie as sent, so it goes with [`Member`], which refuses a revoked
/// session (the token endpoint checks it after `Member::of`).
pub struct CsrfHeader;

/// The `X-CSRF-Token` a script sent, unchecked.
pub fn csrf_presented(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
}

impl FromRequest for CsrfHeader {
    type Error = Refused;
    type Future = Ready<Result<Self, Refused>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(if csrf_matches(&req.get_session(), csrf_presented(req)) {
            Ok(CsrfHeader)
        } else {
            Err(Refused::Csrf)
        })
    }
}

/// A session verified for the room in the path, for a user the ACL still lets in:
/// the ACL decides at every request, not the cookie.
pub struct Member {
    pub room: RoomName,
    pub grant: Grant,
    pub is_host: bool,
}

impl Member {
    /// For a handler that must check something else first (the token endpoint counts
    /// every request against the per-network limit before anything else).
    pub async fn of(req: &HttpRequest) -> Result<Member, actix_web::Error> {
        Self::from_request(req, &mut Payload::None).await
    }
}

impl CsrfHeader {
    pub fn of(req: &HttpRequest) -> Result<CsrfHeader, Refused> {
        Self::from_request(req, &mut Payload::None).into_inner()
    }
}

impl FromRequest for Member {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let room = RoomPath::from_request(req, payload).into_inner();
        let session = TypedSession::from_request(req, payload);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let RoomPath(room) = room?;
            let session = session.await?;
            let state = state.ok_or_else(|| {
                actix_web::error::ErrorInternalServerError("application state is missing")
            })?;
            // A session whose revocation can't be checked is a member of nothing.
            if session.unchecked() {
                state.metrics.store_refusal();
                return Err(Refused::StoreDown.into());
            }
            let acl = state.acl.load();
            let Some(grant) = session.verified_for(&room) else {
                // Verification is per room: someone verified for another room who may
                // join this one is asked to sign in here (401, like a visitor), and
                // one who may not has no say here at all (403).
                let barred = session
                    .grant()
                    .is_some_and(|other| acl.allowed(&other.username, &room).is_none());
                return Err(if barred {
                    Refused::NotAllowed
                } else {
                    Refused::NotVerified
                }
                .into());
            };
            let role = acl
                .allowed(&grant.username, &room)
                .map(|user| user.is_host());
            let Some(is_host) = role else {
                session.clear_grant();
                let user = state.pseudonyms.of(grant.username.as_str());
                tracing::info!(name: REPEATABLE, %user, %room, "refused: no longer on the list");
                return Err(Refused::NotAllowed.into());
            };
            // A host another host removed is no host while the bar lasts: not one to
            // end the room, record it, or remove the one who removed them.
            let (holds, barred) = tokio::join!(state.grant_holds(&grant), async {
                if is_host {
                    let key = super::removal_key(&room, grant.username.as_str());
                    state.store.get(&key).await.map(|bar| bar.is_some())
                } else {
                    Ok(false)
                }
            });
            let is_host = match barred {
                Ok(barred) => is_host && !barred,
                Err(_) => {
                    state.metrics.store_refusal();
                    return Err(Refused::StoreDown.into());
                }
            };
            match holds {
                Ok(true) => {}
                // Verified for a number the list no longer has, or with a passkey
                // revoked since: signed in no more.
                Ok(false) => {
                    session.clear_grant();
                    let user = state.pseudonyms.of(grant.username.as_str());
                    tracing::info!(name: REPEATABLE, %user, %room, "refused: the session's number or passkey is no longer the user's");
                    return Err(Refused::NotVerified.into());
                }
                Err(_) => {
                    state.metrics.store_refusal();
                    return Err(Refused::StoreDown.into());
                }
            }
            Ok(Member {
                room,
                grant,
                is_host,
            })
        })
    }
}

/// Why a request from the room page's scripts is refused: a JSON error they read.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("not verified for this room")]
    NotVerified,
    #[error("the CSRF header is missing or wrong")]
    Csrf,
    #[error("no longer on the list for this room")]
    NotAllowed,
    #[error("not a host of this room")]
    NotHost,
    #[error("no video service is configured")]
    NoVideoService,
    #[error("the store is unavailable")]
    StoreDown,
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotVerified => StatusCode::UNAUTHORIZED,
            Self::Csrf | Self::NotAllowed | Self::NotHost => StatusCode::FORBIDDEN,
            Self::NoVideoService | Self::StoreDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            Self::NotVerified => json!({ "error": "not_verified" }),
            Self::Csrf => json!({ "error": "csrf" }),
            Self::NotAllowed => json!({ "error": "not_allowed" }),
            Self::NotHost => json!({ "error": "not_host" }),
            Self::NoVideoService => json!({
                "error": "no_video_service",
                "message": "No video service is configured (local mode)."
            }),
            Self::StoreDown => json!({
                "error": "store_unavailable",
                "message": "The service is busy. Please try again shortly."
            }),
        };
        let mut resp = HttpResponse::build(self.status_code()).json(body);
        if matches!(self, Self::StoreDown) {
            resp.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(30),
            );
        }
        no_store(&mut resp);
        resp
    }
}
