//! Host controls: who is in the room, remove one participant, end the room. Only a
//! verified host of that room may use them; every POST carries the CSRF header.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use serde_json::json;

use super::PageError;
use super::extract::{CsrfHeader, Member, Refused};
use super::respond::no_store;
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::domain::{RoomName, Username};
use crate::state::AppState;
use crate::video::{VideoClient, VideoError};

/// How long a removed participant can't get a new token for the room.
pub const REMOVAL_BAN: std::time::Duration = std::time::Duration::from_secs(600);

pub fn removal_key(room: &RoomName, username: &str) -> String {
    format!("removed:{room}:{username}")
}

/// The Video client, for a member who is a host of the room.
fn host_video<'a>(member: &Member, state: &'a AppState) -> Result<&'a VideoClient, Refused> {
    if !member.is_host {
        return Err(Refused::NotHost);
    }
    state.video.as_ref().ok_or(Refused::NoVideoService)
}

pub(super) fn json(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(body);
    no_store(&mut resp);
    resp
}

pub(super) fn video_failure(err: &VideoError) -> HttpResponse {
    match err {
        VideoError::NotFound => json(StatusCode::NOT_FOUND, json!({ "error": "not_in_room" })),
        _ => {
            tracing::warn!(error = %err, "Video API call failed");
            let mut resp = json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "video_unavailable", "message": "The video service could not be reached." }),
            );
            // Refused by our guard: it knows when asking again can help.
            let retry = match err {
                VideoError::Busy(rejected) => rejected.retry_after().as_secs().max(1),
                _ => 10,
            };
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(retry));
            resp
        }
    }
}

#[derive(Serialize)]
struct ParticipantView {
    identity: String,
    since: Option<String>,
}

/// `GET /rooms/{room}/participants`: the connected participants, for a host.
pub async fn list(member: Member, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let video = match host_video(&member, &state) {
        Ok(video) => video,
        Err(refused) => return Ok(refused.error_response()),
    };
    let room = member.room;
    let participants = match video.fetch_room(room.as_str()).await {
        Ok(None) => Vec::new(),
        Ok(Some(r)) => match video.list_participants(&r.sid).await {
            Ok(p) => p,
            Err(e) => return Ok(video_failure(&e)),
        },
        Err(e) => return Ok(video_failure(&e)),
    };
    let view: Vec<ParticipantView> = participants
        .into_iter()
        .filter_map(|p| {
            Some(ParticipantView {
                identity: p.identity?,
                since: p.start_time,
            })
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        json!({ "room": room.as_str(), "participants": view }),
    ))
}

/// The longest identity a remove names: well past any token identity Twilio takes.
const MAX_IDENTITY: usize = 256;

/// `POST /rooms/{room}/participants/{identity}/remove`.
pub async fn remove(
    req: HttpRequest,
    member: Member,
    _: CsrfHeader,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let identity = req.match_info().get("identity").unwrap_or_default();
    // Someone Twilio lets in under a name no user can have (a token made by anything
    // else on the account) is disconnected all the same; only a username can be
    // barred, and named in the audit log.
    let user = Username::parse(identity).ok();
    if identity.is_empty() || identity.len() > MAX_IDENTITY {
        return Ok(json(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_in_room" }),
        ));
    }
    let video = match host_video(&member, &state) {
        Ok(video) => video,
        Err(refused) => return Ok(refused.error_response()),
    };
    let Member {
        room, grant: host, ..
    } = member;
    // Barred first, durably: even if Twilio is slow to disconnect them, no new token.
    if let Some(user) = &user {
        let until_secs = state.clock.unix_seconds() + REMOVAL_BAN.as_secs();
        let barred = state
            .store
            .put(
                &removal_key(&room, user.as_str()),
                &until_secs.to_le_bytes(),
                REMOVAL_BAN,
            )
            .await;
        if let Err(e) = barred {
            tracing::error!(error = %e, "participant not barred: the store is unavailable");
            return Ok(Refused::StoreDown.error_response());
        }
    }
    let result = match video.fetch_room(room.as_str()).await {
        Ok(Some(r)) => video
            .disconnect_participant(&r.sid, identity)
            .await
            .map(|_| ()),
        Ok(None) => Err(VideoError::NotFound),
        Err(e) => Err(e),
    };
    // Barred whatever Twilio answered, so audited whatever it answered: the record
    // says whether they were disconnected too.
    let (detail, response) = match &result {
        Ok(()) => (
            format!("by {}", host.username),
            json(StatusCode::OK, json!({ "removed": identity })),
        ),
        Err(VideoError::NotFound) => (
            format!("by {}; not connected", host.username),
            video_failure(&VideoError::NotFound),
        ),
        Err(e) => (
            format!("by {}; not disconnected: video unavailable", host.username),
            video_failure(e),
        ),
    };
    tracing::info!(
        host = %state.pseudonyms.of(host.username.as_str()),
        user = %state.pseudonyms.of(identity),
        %room,
        disconnected = result.is_ok(),
        "participant removed"
    );
    let mut record = AuditRecord::new(AuditEvent::ParticipantRemoved)
        .room(&room)
        .ip(ip);
    record = match &user {
        Some(user) => record.user(user).detail(detail),
        None => record.detail(format!("{detail}; not a username")),
    };
    state.audit(record).await;
    Ok(response)
}

/// `POST /rooms/{room}/end`: complete the room for everyone.
pub async fn end_room(
    member: Member,
    _: CsrfHeader,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let video = match host_video(&member, &state) {
        Ok(video) => video,
        Err(refused) => return Ok(refused.error_response()),
    };
    let Member {
        room, grant: host, ..
    } = member;
    let result = match video.fetch_room(room.as_str()).await {
        Ok(Some(r)) => video.complete_room(&r.sid).await.map(|_| ()),
        Ok(None) => Err(VideoError::NotFound),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        return Ok(video_failure(&e));
    }
    if let Err(e) = state.forget_room(&room).await {
        tracing::warn!(error = %e, %room, "ended room not forgotten; it is looked up again within minutes");
    }
    tracing::info!(host = %state.pseudonyms.of(host.username.as_str()), %room, "room ended");
    let record = AuditRecord::new(AuditEvent::RoomEnded)
        .user(&host.username)
        .room(&room)
        .ip(ip);
    state.audit(record).await;
    Ok(json(StatusCode::OK, json!({ "ended": room.as_str() })))
}
