//! `POST /twilio/room-events`: Twilio Video's status callbacks, recorded in the audit
//! log. Every request must carry a valid `X-Twilio-Signature`; anything else gets
//! `403` and changes nothing.

use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::removal_key;
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::domain::{RoomName, Username};
use crate::state::AppState;
use crate::telemetry::REPEATABLE;
use crate::twilio::signature::HEADER;

/// Twilio's callbacks are a few hundred bytes; anything much larger is not one.
pub const MAX_BODY: usize = 16 * 1024;
/// Twilio's callbacks carry their event's time (`Timestamp`, signed with the rest):
/// one older than this is refused, so a captured callback can't be replayed once it is
/// no longer remembered (below). Twilio's own retries come within minutes.
const REPLAY_WINDOW: Duration = Duration::from_secs(3600);
/// How long a callback is remembered, to tell the same one again: a little longer
/// than it is accepted.
const SEEN_FOR: Duration = Duration::from_secs(REPLAY_WINDOW.as_secs() + 600);

/// Where a callback with `signature` is remembered. Only signed requests get here, so
/// nobody but Twilio adds to these.
fn seen_key(signature: &str) -> String {
    format!("webhook-seen:{signature}")
}

/// Whether the callback's `Timestamp` is older than [`REPLAY_WINDOW`] by this
/// machine's clock. One without a readable time is judged by its signature alone.
fn stale(timestamp: Option<&str>) -> bool {
    let Some(at) = timestamp.and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return false;
    };
    let age = jiff::Timestamp::now().duration_since(at);
    age > jiff::SignedDuration::from_secs(REPLAY_WINDOW.as_secs() as i64)
}

pub async fn room_events(
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> HttpResponse {
    // Not Twilio's (its callbacks are small and whole): refused in our words and
    // audited like any other refusal, not answered by actix's extractor.
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            let too_large = matches!(e.as_error::<PayloadError>(), Some(PayloadError::Overflow));
            let (why, status) = if too_large {
                ("body too large", StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                ("body unreadable", StatusCode::BAD_REQUEST)
            };
            return refuse(&state, ip, why, status).await;
        }
    };
    let Some(validator) = state.signatures.as_ref().map(|s| s.load_full()) else {
        // No Auth Token, no way to tell Twilio from anyone: nothing is accepted.
        return reject(&state, ip, "webhooks are not configured").await;
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return reject(&state, ip, "malformed body").await;
    };
    // The URL Twilio signed is the one it was given: the public URL, not whatever
    // host and scheme reached us through a proxy.
    let url = format!(
        "{}{}",
        state.site.public_origin,
        req.uri().path_and_query().map_or("", |p| p.as_str())
    );
    let signature = req.headers().get(HEADER).and_then(|v| v.to_str().ok());
    let Some(signature) = signature.filter(|sig| validator.is_valid(&url, &params, sig)) else {
        let why = if signature.is_some() {
            "bad signature"
        } else {
            "no signature"
        };
        return reject(&state, ip, why).await;
    };
    let param = |name: &str| param(&params, name);
    // A signature says what was sent, not when. So a callback from before the replay
    // window is refused, and one seen already (a replay, or Twilio trying again one it
    // saw answered too late) is not audited or acted on again where that matters: its
    // repeats fold into one rejection, nobody is disconnected twice, and what is kept
    // per room name doesn't move. What must not be lost (the recording job) runs
    // again, as it may.
    if stale(param("Timestamp")) {
        return reject(&state, ip, "stale").await;
    }
    let first = match state
        .store
        .put_new(&seen_key(signature), b"1", SEEN_FOR)
        .await
    {
        Ok(first) => first,
        // Can't tell: acted on as new (each step below is safe to run twice).
        Err(e) => {
            tracing::warn!(error = %e, "webhook not checked for a repeat: the store is unavailable");
            true
        }
    };

    let event = param("StatusCallbackEvent").unwrap_or("unknown");
    let mut record = AuditRecord::room_event(event).ip(ip);
    if let Some(room) = param("RoomName").and_then(|r| RoomName::parse(r).ok()) {
        // What is kept per room name, whichever session it is (the room looked up,
        // the "Recording" sign): a callback seen before (a retry, a replay) would
        // undo a newer session's, so only a new one changes it.
        if first {
            if event == "room-ended"
                && let Err(e) = state.forget_room(&room).await
            {
                tracing::warn!(error = %e, %room, "ended room not forgotten; it is looked up again within minutes");
            }
            crate::recordings::live::on_room_event(
                &*state.store,
                &room,
                event,
                param("RecordingSid"),
            )
            .await;
        }
        record = record.room(&room);
    }
    if let Some(user) = param("ParticipantIdentity").and_then(|u| Username::parse(u).ok()) {
        record = record.user(&user);
    }
    if first {
        tracing::info!(event, "room event");
        state.audit(record).await;
        if event == "participant-connected" {
            keep_out(&state, &params, ip).await;
        }
    } else {
        tracing::warn!(name: REPEATABLE, event, "webhook repeated");
        let record = AuditRecord::new(AuditEvent::WebhookRejected)
            .ip(ip)
            .detail("repeated");
        state.audit(record).await;
    }
    if let Err(e) = recording_event(&state, event, &params).await {
        // Should Twilio try a failed callback again (it may not: its docs promise
        // retries for some products only), the try runs this again as a new
        // callback, so whatever else this one was to change is done then too. A
        // `room-ended` never tried again is found by the pipeline's hourly look at
        // Twilio's ended rooms (`Pipeline::recover_ended_rooms`).
        tracing::error!(error = %e, event, "recording job not updated: the store is unavailable");
        if let Err(e) = state.store.delete(&seen_key(signature)).await {
            tracing::warn!(error = %e, "a failed callback stays marked as seen");
        }
        return HttpResponse::ServiceUnavailable().finish();
    }
    HttpResponse::Ok().finish()
}

/// Twilio lets in whoever holds a valid token for the room, whatever roomgate decided
/// since it was issued (tokens live `ROOMGATE_TOKEN_TTL`, and the room page keeps a
/// spare). So a participant who connects while a host's removal still bars them, or
/// who is no longer on the list for the room, is disconnected again at once. Only
/// Twilio's word that they are there is acted on: the callback is signed.
async fn keep_out(state: &AppState, params: &[(String, String)], ip: std::net::IpAddr) {
    let param = |name: &str| param(params, name);
    let (Some(keep_out), Some(room_sid), Some(participant_sid), Some(room), Some(identity)) = (
        state.keep_out.as_ref(),
        param("RoomSid"),
        param("ParticipantSid"),
        param("RoomName").and_then(|r| RoomName::parse(r).ok()),
        param("ParticipantIdentity"),
    ) else {
        return;
    };
    // An identity no user can have (a token made by anything else on the account)
    // is on no list.
    let user = Username::parse(identity).ok();
    let why = match &user {
        None => "not_on_list",
        Some(user) if state.acl.load().allowed(user, &room).is_none() => "not_on_list",
        Some(user) => match state.store.get(&removal_key(&room, user.as_str())).await {
            Ok(Some(_)) => "removed",
            Ok(None) => return,
            // Only verified participants ever got a token: with the store down,
            // they stay rather than everyone being thrown out.
            Err(e) => {
                tracing::warn!(error = %e, %room, "a connected participant's removal not checked: the store is unavailable");
                return;
            }
        },
    };
    // On record and queued before Twilio is answered; disconnected off the
    // callback's path (see `video::keep_out`): the callback was this one chance.
    keep_out
        .enqueue(crate::video::keep_out::Job {
            room_sid: room_sid.to_owned(),
            participant_sid: participant_sid.to_owned(),
            room,
            identity: identity.to_owned(),
            why: why.to_owned(),
            ip,
            pseudonym: state.pseudonyms.of(identity).to_string(),
            tries: 0,
        })
        .await;
}

/// A recorded room that ended gets its recording job; a composition's news wakes the
/// job waiting for it (it also polls: callbacks can be lost).
async fn recording_event(
    state: &AppState,
    event: &str,
    params: &[(String, String)],
) -> Result<(), crate::store::StoreError> {
    let param = |name: &str| param(params, name);
    let (Some(pipeline), Some(room_sid)) = (&state.pipeline, param("RoomSid")) else {
        return Ok(());
    };
    if event == "room-ended" {
        if let Some(room) = param("RoomName").and_then(|r| RoomName::parse(r).ok()) {
            pipeline.room_ended(&room, room_sid).await?;
        }
    } else if event.starts_with("composition-") {
        pipeline.composition_changed(room_sid).await?;
    }
    Ok(())
}

async fn reject(state: &AppState, ip: std::net::IpAddr, why: &str) -> HttpResponse {
    refuse(state, ip, why, StatusCode::FORBIDDEN).await
}

/// A refused callback: logged and audited (repeats fold), answered `status` with no
/// body, so a caller learns nothing but the status.
async fn refuse(
    state: &AppState,
    ip: std::net::IpAddr,
    why: &str,
    status: StatusCode,
) -> HttpResponse {
    tracing::warn!(name: REPEATABLE, why, "webhook rejected");
    let record = AuditRecord::new(AuditEvent::WebhookRejected)
        .ip(ip)
        .detail(why);
    state.audit(record).await;
    HttpResponse::build(status).finish()
}

/// The first value of form field `name`.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
