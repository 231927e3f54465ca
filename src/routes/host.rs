//! Host controls: who is in the room, remove one participant, end the room. Only a
//! verified host of that room may use them; every POST carries the CSRF header.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

use super::respond::no_store;
use super::{PageError, room_from_path};
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::domain::{RoomName, Username};
use crate::session::{Grant, TypedSession};
use crate::state::AppState;
use crate::video::{VideoClient, VideoError};

/// How long a removed participant can't get a new token for the room.
pub const REMOVAL_BAN: std::time::Duration = std::time::Duration::from_secs(600);

pub fn removal_key(room: &RoomName, username: &str) -> String {
    format!("removed:{room}:{username}")
}

/// Why a host control is refused.
enum Refusal {
    NotVerified,
    Csrf,
    NotHost,
    NoVideoService,
    /// The store can't say whether the session was revoked, or can't record a ban.
    StoreDown,
}

impl Refusal {
    fn response(self) -> HttpResponse {
        match self {
            Self::NotVerified => json(StatusCode::UNAUTHORIZED, json!({ "error": "not_verified" })),
            Self::Csrf => json(StatusCode::FORBIDDEN, json!({ "error": "csrf" })),
            Self::NotHost => json(StatusCode::FORBIDDEN, json!({ "error": "not_host" })),
            Self::StoreDown => json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "store_unavailable", "message": "The service is busy. Please try again shortly." }),
            ),
            Self::NoVideoService => json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "no_video_service", "message": "No video service is configured (local mode)." }),
            ),
        }
    }
}

/// The host's grant and the Video client, or why the request is refused.
fn host_of<'a>(
    req: &HttpRequest,
    session: &TypedSession,
    state: &'a AppState,
    room: &RoomName,
    needs_csrf: bool,
) -> Result<(Grant, &'a VideoClient), Refusal> {
    if session.unchecked() {
        return Err(Refusal::StoreDown);
    }
    let grant = session.verified_for(room).ok_or(Refusal::NotVerified)?;
    if needs_csrf {
        let presented = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if !session.csrf_matches(presented) {
            return Err(Refusal::Csrf);
        }
    }
    let is_host = state
        .acl
        .load()
        .allowed(&grant.username, room)
        .is_some_and(|user| user.is_host());
    if !is_host {
        return Err(Refusal::NotHost);
    }
    let video = state.video.as_ref().ok_or(Refusal::NoVideoService)?;
    Ok((grant, video))
}

fn json(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(body);
    no_store(&mut resp);
    resp
}

fn video_failure(err: &VideoError) -> HttpResponse {
    match err {
        VideoError::NotFound => json(StatusCode::NOT_FOUND, json!({ "error": "not_in_room" })),
        _ => {
            tracing::warn!(error = %err, "Video API call failed");
            let mut resp = json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "video_unavailable", "message": "The video service could not be reached." }),
            );
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(10));
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
pub async fn list(
    req: HttpRequest,
    path: web::Path<String>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    let video = match host_of(&req, &session, &state, &room, false) {
        Ok((_, video)) => video,
        Err(refusal) => return Ok(refusal.response()),
    };
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

/// `POST /rooms/{room}/participants/{identity}/remove`.
pub async fn remove(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (room, identity) = path.into_inner();
    let room = RoomName::parse(&room).map_err(|_| PageError::NotFound)?;
    let Ok(identity) = Username::parse(&identity) else {
        return Ok(json(
            StatusCode::NOT_FOUND,
            json!({ "error": "not_in_room" }),
        ));
    };
    let (host, video) = match host_of(&req, &session, &state, &room, true) {
        Ok(ok) => ok,
        Err(refusal) => return Ok(refusal.response()),
    };
    // Barred first, durably: even if Twilio is slow to disconnect them, no new token.
    let until_secs = state.clock.unix_seconds() + REMOVAL_BAN.as_secs();
    let barred = state
        .store
        .put(
            &removal_key(&room, identity.as_str()),
            &until_secs.to_le_bytes(),
            REMOVAL_BAN,
        )
        .await;
    if let Err(e) = barred {
        tracing::error!(error = %e, "participant not barred: the store is unavailable");
        return Ok(Refusal::StoreDown.response());
    }
    let result = match video.fetch_room(room.as_str()).await {
        Ok(Some(r)) => video
            .disconnect_participant(&r.sid, identity.as_str())
            .await
            .map(|_| ()),
        Ok(None) => Err(VideoError::NotFound),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        return Ok(video_failure(&e));
    }
    tracing::info!(
        host = %state.pseudonyms.of(host.username.as_str()),
        user = %state.pseudonyms.of(identity.as_str()),
        %room,
        "participant removed"
    );
    let record = AuditRecord::new(AuditEvent::ParticipantRemoved)
        .user(&identity)
        .room(&room)
        .ip(ip)
        .detail(format!("by {}", host.username));
    state.audit(record).await;
    Ok(json(
        StatusCode::OK,
        json!({ "removed": identity.as_str() }),
    ))
}

/// `POST /rooms/{room}/end`: complete the room for everyone.
pub async fn end_room(
    req: HttpRequest,
    path: web::Path<String>,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    let (host, video) = match host_of(&req, &session, &state, &room, true) {
        Ok(ok) => ok,
        Err(refusal) => return Ok(refusal.response()),
    };
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
