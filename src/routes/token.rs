//! The Video access token for a verified member of the room: after the network's
//! limit, the cookie's revocation and a host's removal are checked.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::json;

use super::extract::{CsrfHeader, Member, Refused, RoomPath};
use super::respond::no_store;
use super::{PageError, removal_key};
use crate::audit::{AuditEvent, AuditRecord};

use crate::client_ip::ClientIp;
use crate::notice::Notice;
use crate::session::claimed_user;
use crate::signin::{Refusal, Visit};
use crate::state::AppState;

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
    RoomPath(room): RoomPath,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let visit = Visit { room: &room, ip };
    // Three independent store reads at once (one round trip to Redis, not three): the
    // per-network admission, the cookie's revocation, and whether a host removed the
    // user the cookie claims. They are judged in that order.
    let claimed = claimed_user(&req);
    let removal = async {
        match &claimed {
            Some(user) => state.store.get(&removal_key(&room, user.as_str())).await,
            None => Ok(None),
        }
    };
    let (admitted, member, removed) = tokio::join!(
        state.signin.limiter.token_from_ip(ip),
        Member::of(&req),
        removal
    );
    if let Err(denied) = admitted {
        let refusal = Refusal::from(denied);
        let notice = state.signin.refuse(&refusal, visit, None).await;
        let error = match refusal {
            Refusal::StoreDown(_) => "store_unavailable",
            _ => "rate_limited",
        };
        return Ok(json_notice(notice, error));
    }
    // Then, and only then, who is asking.
    let grant = match member {
        Ok(member) => member.grant,
        Err(refused) => return Ok(refused.error_response()),
    };
    if let Err(refused) = CsrfHeader::of(&req) {
        return Ok(refused.error_response());
    }
    // The same cookie, so the same user; checked all the same, cheaply.
    if claimed.as_ref() != Some(&grant.username) {
        return Ok(Refused::NotVerified.error_response());
    }
    let removed = match removed {
        Ok(removed) => removed,
        Err(e) => {
            let notice = state
                .signin
                .refuse(&Refusal::StoreDown(e), visit, None)
                .await;
            return Ok(json_notice(notice, "store_unavailable"));
        }
    };
    if let Some(until) = removed {
        let until = <[u8; 8]>::try_from(until.as_slice()).map_or(0, u64::from_le_bytes);
        let mut resp = json_error(StatusCode::FORBIDDEN, "removed");
        let secs = until.saturating_sub(state.clock.unix_seconds()).max(1);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
        return Ok(resp);
    }
    // In the background: a slow or unreachable Video API never delays the token.
    if let Some(rooms) = &state.rooms {
        let recording = state.acl.load().room_settings(&room).recording;
        rooms.ensure(&room, recording);
    }
    let token = state
        .tokens
        .mint(&grant.username, &room)
        .map_err(|e| e.context("minting a Video access token"))?;
    let record = AuditRecord::new(AuditEvent::TokenMinted)
        .user(&grant.username)
        .room(&room)
        .ip(ip);
    // No way into the room unrecorded: a token whose record can't be written is not
    // handed out (the writer logs the audit log's failure, once).
    if state.audit.record(record).await.is_err() {
        tracing::warn!(%room, "token not handed out: its audit record could not be written");
        return Ok(json_notice(Notice::Unavailable, "unavailable"));
    }
    tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), %room, expires_at = token.expires_at, "token minted");
    state.metrics.token_minted();
    let mut resp = HttpResponse::Ok().json(TokenResponse {
        token: token.jwt.expose_secret(),
        identity: &token.identity,
        room: &token.room,
        expires_at: token.expires_at,
    });
    no_store(&mut resp);
    Ok(resp)
}

/// A refusal as JSON: the notice's status and `Retry-After`, and a stable error name.
pub(super) fn json_notice(notice: Notice, error: &str) -> HttpResponse {
    let mut resp = json_error(notice.status(), error);
    if let Some(secs) = notice.retry_after() {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

pub(super) fn json_error(status: StatusCode, error: &str) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(json!({ "error": error }));
    no_store(&mut resp);
    resp
}
