use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;

use super::respond::no_store;
use super::{PageError, removal_key, room_from_path};
use crate::audit::{AuditEvent, AuditRecord};
use std::time::{Duration, Instant};

use crate::client_ip::ClientIp;
use crate::domain::RoomName;
use crate::session::TypedSession;
use crate::state::AppState;
use crate::video::VideoError;

#[derive(Serialize)]
struct TokenResponse<'a> {
    token: &'a str,
    identity: &'a str,
    room: &'a str,
    expires_at: u64,
}

/// A fresh Video access token for a session verified for this room, scoped to it.
pub async fn mint(
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    path: web::Path<String>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if let Err(limited) = state.limiter.token_from_ip(ip).await {
        let mut resp = json_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        state.metrics.limited(limited.action.into());
        let secs = limited.retry_after.as_secs().max(1);
        let record = AuditRecord::new(AuditEvent::Limited)
            .room(&room)
            .ip(ip)
            .detail(limited.action.kind());
        state.audit(record).await;
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    let Some(grant) = session.verified_for(&room) else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "not_verified"));
    };
    let presented = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok());
    if !session.csrf_matches(presented) {
        return Ok(json_error(StatusCode::FORBIDDEN, "csrf"));
    }
    // Verified once is not allowed forever: the ACL decides at every token.
    if state.acl.load().allowed(&grant.username, &room).is_none() {
        session.clear_grant();
        tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), %room, "token refused: no longer on the list");
        return Ok(json_error(StatusCode::FORBIDDEN, "not_allowed"));
    }
    let removed = state
        .counters
        .get(
            &removal_key(&room, grant.username.as_str()),
            state.clock.now(),
        )
        .await;
    if let Some(until) = removed {
        let mut resp = json_error(StatusCode::FORBIDDEN, "removed");
        let secs = until.saturating_sub(state.clock.unix_seconds()).max(1);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    ensure_room(&state, &room).await;
    let token = state
        .tokens
        .mint(&grant.username, &room)
        .map_err(|e| e.context("minting a Video access token"))?;
    tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), %room, expires_at = token.expires_at, "token minted");
    state.metrics.token_minted();
    let record = AuditRecord::new(AuditEvent::TokenMinted)
        .user(&grant.username)
        .room(&room)
        .ip(ip);
    state.audit(record).await;
    let mut resp = HttpResponse::Ok().json(TokenResponse {
        token: token.jwt.expose_secret(),
        identity: &token.identity,
        room: &token.room,
        expires_at: token.expires_at,
    });
    no_store(&mut resp);
    Ok(resp)
}

/// Rooms are created by roomgate (with our status callback) when the first verified
/// participant asks for a token, unless Twilio already has the room in progress. The
/// gate must not close because of this: a failure is logged and the token issued.
async fn ensure_room(state: &AppState, room: &RoomName) {
    const FRESH: Duration = Duration::from_secs(300);
    const LIMIT: Duration = Duration::from_secs(3);
    let Some(video) = &state.video else { return };
    let known = state
        .rooms_ready
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(room)
        .is_some_and(|since| since.elapsed() < FRESH);
    if known {
        return;
    }
    let attempt = async {
        match video.fetch_room(room.as_str()).await? {
            Some(_) => Ok(()),
            None => match video
                .create_room(room, state.status_callback.as_ref())
                .await
            {
                Ok(_) | Err(VideoError::RoomExists) => Ok(()),
                Err(e) => Err(e),
            },
        }
    };
    match tokio::time::timeout(LIMIT, attempt).await {
        Ok(Ok(())) => {
            state
                .rooms_ready
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(room.clone(), Instant::now());
        }
        Ok(Err(e)) => {
            tracing::warn!(%room, error = %e, "could not create the room; issuing the token anyway")
        }
        Err(_) => tracing::warn!(%room, "room creation timed out; issuing the token anyway"),
    }
}

fn json_error(status: StatusCode, error: &str) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(json!({ "error": error }));
    no_store(&mut resp);
    resp
}
