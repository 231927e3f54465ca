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

/// The longest a host's action waits for the Video API, all its calls together (a
/// listing may take several pages): the host panel polls, and one request that took
/// minutes (20 pages of 10 s each) piled up the panel's requests behind it.
const HOST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// `calls` (one host action's Video calls), within [`HOST_DEADLINE`].
async fn within_deadline<T>(
    calls: impl std::future::Future<Output = Result<T, VideoError>>,
) -> Result<T, VideoError> {
    tokio::time::timeout(HOST_DEADLINE, calls)
        .await
        .unwrap_or(Err(VideoError::Timeout))
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
    let listed = within_deadline(async {
        match video.fetch_room(room.as_str()).await? {
            None => Ok(Vec::new()),
            Some(r) => video.list_participants(&r.sid).await,
        }
    })
    .await;
    let participants = match listed {
        Ok(participants) => participants,
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
    // Barred and on record first, durably: even if Twilio is slow to disconnect them
    // (or the server stops meanwhile), no new token, and the audit log says who did it.
    let by = match &user {
        Some(_) => format!("by {}", host.username),
        None => format!("by {}; not a username", host.username),
    };
    let record = |event, detail: String| {
        let record = AuditRecord::new(event).room(&room).ip(ip).detail(detail);
        match &user {
            Some(user) => record.user(user),
            None => record,
        }
    };
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
    state
        .audit(record(AuditEvent::ParticipantRemoved, by.clone()))
        .await;
    let result = within_deadline(async {
        match video.fetch_room(room.as_str()).await? {
            Some(r) => video
                .disconnect_participant(&r.sid, identity)
                .await
                .map(drop),
            None => Err(VideoError::NotFound),
        }
    })
    .await;
    tracing::info!(
        host = %state.pseudonyms.of(host.username.as_str()),
        user = %state.pseudonyms.of(identity),
        %room,
        disconnected = result.is_ok(),
        "participant removed"
    );
    // Barred whatever Twilio answered; a removal it did not carry out is on record
    // too, saying why.
    let (why, response) = match &result {
        Ok(()) => return Ok(json(StatusCode::OK, json!({ "removed": identity }))),
        Err(VideoError::NotFound) => ("not connected", video_failure(&VideoError::NotFound)),
        Err(e) => ("video unavailable", video_failure(e)),
    };
    state
        .audit(record(
            AuditEvent::ParticipantNotDisconnected,
            format!("{by}; {why}"),
        ))
        .await;
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
    let result = within_deadline(async {
        match video.fetch_room(room.as_str()).await? {
            Some(r) => video.complete_room(&r.sid).await.map(drop),
            None => Err(VideoError::NotFound),
        }
    })
    .await;
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
