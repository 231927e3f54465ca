//! Recording controls: a host of a room whose `recording` setting is `host` starts
//! and stops its recording (Twilio's Recording Rules: every track, or none), and
//! every participant asks whether it is recording now (the room page's fallback
//! when the Video SDK's own events don't arrive).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::json;

use super::PageError;
use super::extract::{CsrfHeader, Member, Refused};
use super::host::{json, video_failure};
use crate::acl::RecordingMode;
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::metrics::{RecordingAction, RecordingOutcome};
use crate::recordings::live;
use crate::state::AppState;
use crate::video::VideoError;

/// `POST /rooms/{room}/recording/start`.
pub async fn start(
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    control(&req, ip, &state, RecordingAction::Start).await
}

/// `POST /rooms/{room}/recording/stop`.
pub async fn stop(
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    control(&req, ip, &state, RecordingAction::Stop).await
}

/// `GET /rooms/{room}/recording`: `{"recording": bool}` for a member of the room.
pub async fn state(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let member = match member(&req).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    let settings = state.acl.load().room_settings(&member.room);
    match live::is_recording(&*state.store, &member.room, settings).await {
        Ok(recording) => json(StatusCode::OK, json!({ "recording": recording })),
        Err(e) => {
            tracing::warn!(error = %e, room = %member.room, "recording state unknown: the store is unavailable");
            state.metrics.store_refusal();
            Refused::StoreDown.error_response()
        }
    }
}

/// A verified member of the room in the path, or the JSON refusal.
pub(super) async fn member(req: &HttpRequest) -> Result<Member, HttpResponse> {
    Member::of(req).await.map_err(|e| e.error_response())
}

async fn control(
    req: &HttpRequest,
    ip: std::net::IpAddr,
    state: &AppState,
    action: RecordingAction,
) -> Result<HttpResponse, PageError> {
    let member = match member(req).await {
        Ok(member) => member,
        Err(refused) => return Ok(refused),
    };
    if let Err(refused) = CsrfHeader::of(req) {
        return Ok(refused.error_response());
    }
    let count = |outcome| state.metrics.recording_control(action, outcome);
    if !member.is_host {
        count(RecordingOutcome::Refused);
        return Ok(Refused::NotHost.error_response());
    }
    let Member {
        room, grant: host, ..
    } = member;
    let setting = state.acl.load().room_settings(&room).recording;
    // Stop is refused only where recording is the room's rule (`always`): a room
    // switched to `off` while a host's recording ran can still have it stopped.
    let allowed = match action {
        RecordingAction::Start => setting == RecordingMode::Host,
        RecordingAction::Stop => setting != RecordingMode::Always,
    };
    if !allowed {
        count(RecordingOutcome::Refused);
        return Ok(json(
            StatusCode::CONFLICT,
            json!({
                "error": "recording_not_host",
                "recording": setting.as_str(),
                "message": format!(
                    "This room's recording setting is \"{setting}\": hosts start recording only where it is \"host\", and can't stop it where it is \"always\"."
                ),
            }),
        ));
    }
    let Some(video) = state.video.as_ref() else {
        count(RecordingOutcome::Failed);
        return Ok(Refused::NoVideoService.error_response());
    };
    let record = action == RecordingAction::Start;
    let sid = match video.fetch_room(room.as_str()).await {
        Ok(Some(r)) => r.sid,
        Ok(None) => {
            count(RecordingOutcome::Failed);
            return Ok(video_failure(&VideoError::NotFound));
        }
        Err(e) => {
            count(RecordingOutcome::Failed);
            return Ok(video_failure(&e));
        }
    };
    if let Err(e) = video.set_recording_rules(&sid, record).await {
        count(RecordingOutcome::Failed);
        // No answer (or a 5xx) may still have started it: take it back, and if that
        // fails too, say it runs (a recording nobody is told about is worse than a
        // sign shown a while too long; the host's Stop clears it).
        if record
            && e.is_service_failure()
            && let Err(again) = video.set_recording_rules(&sid, false).await
        {
            tracing::error!(error = %again, %room, "a start that failed may have taken effect and could not be taken back: the room is shown as recording");
            if let Err(e) = live::set_by_host(&*state.store, &room, true).await {
                tracing::error!(error = %e, %room, "the recording sign could not be set");
            }
        }
        return Ok(video_failure(&e));
    }
    if let Err(e) = live::set_by_host(&*state.store, &room, record).await {
        if record {
            // Recording that participants might not be told about is worse than
            // none: take the rules back and say the store is down.
            tracing::error!(error = %e, %room, "recording not started: the store is unavailable");
            if let Err(e) = video.set_recording_rules(&sid, false).await {
                tracing::error!(error = %e, %room, "recording started but could not be stopped again");
            }
            count(RecordingOutcome::Failed);
            state.metrics.store_refusal();
            return Ok(Refused::StoreDown.error_response());
        }
        // Stopped at Twilio; the indicator stays on until the key expires or the
        // callbacks clear it, which errs the safe way.
        tracing::warn!(error = %e, %room, "recording stopped, but the store still says it runs");
    }
    count(RecordingOutcome::Ok);
    let (event, what) = if record {
        (AuditEvent::RecordingStarted, "recording started")
    } else {
        (AuditEvent::RecordingStopped, "recording stopped")
    };
    tracing::info!(host = %state.pseudonyms.of(host.username.as_str()), %room, "{what}");
    let audit = AuditRecord::new(event)
        .user(&host.username)
        .room(&room)
        .ip(ip);
    state.audit(audit).await;
    Ok(json(StatusCode::OK, json!({ "recording": record })))
}
