//! The passkey endpoints, all JSON for the pages' scripts, all CSRF-checked by the
//! `X-CSRF-Token` header:
//! - sign-in from the join page: `options` (the name in, a ceremony out) and `finish`;
//! - for a verified member: `register/start`, `register/finish`, the list of their
//!   passkeys and the removal of one.
//!
//! With passkeys off (or a public URL that can't have them) they are all 404.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::PageError;
use super::extract::{CsrfHeader, Member, Refused, RoomPath, csrf_presented};
use super::join::typed_username;
use super::respond::no_store;
use super::token::{json_error, json_notice};
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::notice::Notice;
use crate::passkeys::flow::Finished;
use crate::passkeys::{
    Ceremony, MAX_PER_USER, Passkeys, StoredPasskey, UserPasskeys, session_binding,
};
use crate::session::{Grant, TypedSession};
use crate::signin::{Refusal, Visit};
use crate::state::AppState;

/// The largest JSON body a passkey endpoint reads: an assertion or a new credential
/// (with no attestation asked for) takes a few kilobytes.
pub const MAX_BODY: usize = 16 * 1024;

fn passkeys(state: &AppState) -> Result<&Arc<Passkeys>, PageError> {
    state.passkeys.as_ref().ok_or(PageError::NotFound)
}

fn json_ok(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(body);
    no_store(&mut resp);
    resp
}

/// A refusal from the limits or the store, as the token endpoint words them.
async fn refused(
    state: &AppState,
    refusal: Refusal,
    visit: Visit<'_>,
    who: Option<&str>,
) -> HttpResponse {
    let error = match &refusal {
        Refusal::StoreDown(_) => "store_unavailable",
        Refusal::AuditDown(_) => "unavailable",
        Refusal::LockedOut(_) => "locked_out",
        _ => "rate_limited",
    };
    let notice = state.signin.refuse(&refusal, visit, who).await;
    json_notice(notice, error)
}

#[derive(Deserialize)]
pub struct OptionsBody {
    #[serde(default)]
    username: String,
}

/// "Use a passkey": the name in, options out. Known or not, on the list or not, with
/// passkeys or not: the same status, the same shape, no cookie.
pub async fn options(
    req: HttpRequest,
    RoomPath(room): RoomPath,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
    body: web::Json<OptionsBody>,
) -> Result<HttpResponse, PageError> {
    let passkeys = passkeys(&state)?;
    if let Err(refused) = CsrfHeader::of(&req) {
        return Ok(refused.error_response());
    }
    let visit = Visit { room: &room, ip };
    let who = typed_username(&body.username);
    let session = session_binding(csrf_presented(&req).unwrap_or_default());
    match passkeys.options(&state.signin, visit, &who, session).await {
        Ok((ceremony, options)) => Ok(json_ok(
            StatusCode::OK,
            json!({ "ceremony": ceremony, "publicKey": options.public_key }),
        )),
        Err(refusal) => Ok(refused(&state, refusal, visit, Some(&who)).await),
    }
}

#[derive(Deserialize)]
pub struct FinishBody {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: serde_json::Value,
}

/// How long a refused answer takes at least, from its arrival. Refused for a name
/// with passkeys, an answer was parsed and its signature checked; for a name without,
/// it was refused at once, and an answer made large (up to the body's limit) made the
/// difference tell the names apart. Well above what that work takes.
pub const REFUSED_NOT_BEFORE: std::time::Duration = std::time::Duration::from_millis(100);

/// The browser's assertion: a verified session for this room, as a code would give,
/// or one refusal for whatever went wrong.
pub async fn finish(
    RoomPath(room): RoomPath,
    ClientIp(ip): ClientIp,
    session: TypedSession,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<FinishBody>,
) -> Result<HttpResponse, PageError> {
    let arrived = tokio::time::Instant::now();
    let passkeys = passkeys(&state)?;
    let presented = csrf_presented(&req);
    if !session.csrf_matches(presented) {
        return Ok(Refused::Csrf.error_response());
    }
    let bound_to = session_binding(presented.unwrap_or_default());
    let visit = Visit { room: &room, ip };
    let FinishBody {
        ceremony,
        credential,
    } = body.into_inner();
    let now = state.clock.unix_seconds();
    let finished = passkeys
        .finish(
            &state.signin,
            visit,
            (&ceremony, &bound_to),
            credential,
            now,
        )
        .await;
    match finished {
        Ok(Finished::Approved {
            username,
            phone,
            passkey,
        }) => {
            let grant = Grant {
                username,
                room: room.clone(),
                verified_at: now,
                phone: Some(phone),
                passkey: Some(passkey),
                expires_at: None,
                verified_ms: None,
            };
            let record = AuditRecord::new(AuditEvent::CheckApproved)
                .user(&grant.username)
                .room(&room)
                .ip(ip)
                .detail("method=passkey");
            // The session's elevation and the audit record at once, as for a code, and
            // the name's sign-ins by code left in another tab are no failures.
            let (elevated, recorded, proven) = tokio::join!(
                session.elevate(&grant),
                state.audit.record(record),
                state.signin.signins.proven(grant.username.as_str()),
            );
            if let Err(e) = proven {
                tracing::warn!(error = %e, "a passkey sign-in not noted: a code sign-in left open may count as a failure");
            }
            if let Err(e) = elevated {
                session.clear_grant();
                tracing::error!(%room, error = %e, "session not elevated after a passkey");
                return Ok(json_notice(Notice::Unavailable, "store_unavailable"));
            }
            if recorded.is_err() {
                // No approval granted unrecorded (the writer logs the log's failure).
                session.clear_grant();
                tracing::warn!(%room, "passkey approved but not recorded: no entry");
                return Ok(json_notice(Notice::Unavailable, "unavailable"));
            }
            state
                .metrics
                .sign_in_approved(crate::metrics::SignInMethod::Passkey);
            Ok(json_ok(
                StatusCode::OK,
                json!({ "redirect": format!("/rooms/{room}") }),
            ))
        }
        Ok(Finished::Removed { until }) => {
            let mut resp = json_error(StatusCode::FORBIDDEN, "removed");
            let secs = until.saturating_sub(now).max(1);
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
            Ok(resp)
        }
        Ok(Finished::Refused) => {
            tokio::time::sleep_until(arrived + REFUSED_NOT_BEFORE).await;
            Ok(json_error(StatusCode::UNAUTHORIZED, "passkey_refused"))
        }
        Ok(Finished::LockedOut(lock)) => {
            tokio::time::sleep_until(arrived + REFUSED_NOT_BEFORE).await;
            Ok(json_notice(Notice::locked_out(lock), "locked_out"))
        }
        // The name isn't known here (the ceremony holds it); limits are per network.
        Err(refusal) => Ok(refused(&state, refusal, visit, None).await),
    }
}

/// "Sign in with a passkey next time": options for a new credential, excluding the
/// member's others. Only a session that proved the number the list has now, by a
/// code, may register: a new number is proven by SMS first, and a session opened by
/// a passkey can't add another (a stolen passkey would otherwise leave one of the
/// thief's behind when it is revoked).
pub async fn register_start(
    member: Member,
    _csrf: CsrfHeader,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let passkeys = passkeys(&state)?;
    let username = &member.grant.username;
    let Some(phone) = state.phone_proof(username) else {
        return Ok(Refused::NotAllowed.error_response());
    };
    if member.grant.phone.as_deref() != Some(phone.as_str()) {
        return Ok(json_error(StatusCode::FORBIDDEN, "phone_not_proven"));
    }
    if member.grant.passkey.is_some() {
        return Ok(json_error(StatusCode::FORBIDDEN, "code_required"));
    }
    let stored = match passkeys.credentials(username.as_str()).await {
        Ok(stored) => stored.unwrap_or_default(),
        Err(e) => return Ok(store_down(&state, e, &member, ip).await),
    };
    let current: Vec<&StoredPasskey> = stored
        .credentials
        .iter()
        .filter(|c| c.phone == phone)
        .collect();
    if current.len() >= MAX_PER_USER {
        return Ok(json_error(StatusCode::CONFLICT, "too_many_passkeys"));
    }
    let exclude = current
        .iter()
        .map(|c| c.passkey.cred_id().to_vec())
        .collect();
    let (options, reg_state) = passkeys
        .start_registration(stored.handle, username.as_str(), exclude)
        .map_err(PageError::Unexpected)?;
    let ceremony = Ceremony::Register {
        username: username.clone(),
        room: member.room.clone(),
        phone,
        handle: stored.handle,
        state: reg_state,
    };
    let begun = async {
        let id = passkeys.begin(&ceremony).await?;
        passkeys.registering(username, &id).await?;
        Ok(id)
    };
    match begun.await {
        Ok(id) => Ok(json_ok(
            StatusCode::OK,
            json!({ "ceremony": id, "publicKey": options.public_key }),
        )),
        Err(e) => Ok(store_down(&state, e, &member, ip).await),
    }
}

async fn store_down(
    state: &AppState,
    e: crate::store::StoreError,
    member: &Member,
    ip: std::net::IpAddr,
) -> HttpResponse {
    let visit = Visit {
        room: &member.room,
        ip,
    };
    let notice = state
        .signin
        .refuse(&Refusal::StoreDown(e), visit, None)
        .await;
    json_notice(notice, "store_unavailable")
}

/// The new credential: checked against its ceremony, bound to the proven number and
/// added to the member's others.
pub async fn register_finish(
    member: Member,
    _csrf: CsrfHeader,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
    body: web::Json<FinishBody>,
) -> Result<HttpResponse, PageError> {
    let passkeys = passkeys(&state)?;
    // As at the start: a session opened by a passkey adds no other, even with a
    // ceremony begun before it signed in again that way.
    if member.grant.passkey.is_some() {
        return Ok(json_error(StatusCode::FORBIDDEN, "code_required"));
    }
    let username = &member.grant.username;
    // Only the member's latest registration may finish; it ends here, whatever
    // comes of it.
    let taken = async {
        if !passkeys.is_registering(username, &body.ceremony).await? {
            return Ok(None);
        }
        let taken = passkeys.take(&body.ceremony).await?;
        passkeys.registered(username, &body.ceremony).await?;
        Ok(taken)
    };
    let taken = match taken.await {
        Ok(taken) => taken,
        Err(e) => return Ok(store_down(&state, e, &member, ip).await),
    };
    let Some(Ceremony::Register {
        username: for_user,
        room,
        phone,
        handle,
        state: reg_state,
    }) = taken
    else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "ceremony_invalid"));
    };
    // The ceremony's user and room, and a number that hasn't changed since.
    if &for_user != username
        || room != member.room
        || state.phone_proof(username).as_deref() != Some(phone.as_str())
    {
        return Ok(json_error(StatusCode::BAD_REQUEST, "ceremony_invalid"));
    }
    let passkey = serde_json::from_value::<RegisterPublicKeyCredential>(body.credential.clone())
        .map_err(anyhow::Error::from)
        .and_then(|response| passkeys.finish_registration(&response, &reg_state));
    let passkey = match passkey {
        Ok(passkey) => passkey,
        Err(e) => {
            tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, error = %e, "passkey registration refused");
            return Ok(json_error(StatusCode::BAD_REQUEST, "registration_failed"));
        }
    };
    let stored_passkey = StoredPasskey {
        passkey,
        phone: phone.clone(),
        created: state.clock.unix_seconds(),
        last_used: None,
    };
    let id = stored_passkey.id();
    // Added to the fresh record under the user's lock, so a revocation or another
    // registration meanwhile is neither undone nor past the cap.
    let added = passkeys
        .update(username.as_str(), |record| {
            UserPasskeys::add(record, handle, stored_passkey)
        })
        .await;
    match added {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Ok(json_error(StatusCode::CONFLICT, error)),
        Err(e) => return Ok(store_down(&state, e, &member, ip).await),
    }
    tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, "passkey registered");
    let record = AuditRecord::new(AuditEvent::PasskeyRegistered)
        .user(username)
        .room(&room)
        .ip(ip);
    state.audit(record).await;
    Ok(json_ok(StatusCode::CREATED, json!({ "id": id })))
}

#[derive(Serialize)]
struct Listed {
    id: String,
    created: u64,
    last_used: Option<u64>,
}

/// The member's passkeys (those bound to their number now).
pub async fn list(
    member: Member,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let passkeys = passkeys(&state)?;
    let username = &member.grant.username;
    let phone = state.phone_proof(username).unwrap_or_default();
    let stored = match passkeys.credentials(username.as_str()).await {
        Ok(stored) => stored.unwrap_or_default(),
        Err(e) => return Ok(store_down(&state, e, &member, ip).await),
    };
    let listed: Vec<Listed> = stored
        .credentials
        .iter()
        .filter(|c| c.phone == phone)
        .map(|c| Listed {
            id: c.id(),
            created: c.created,
            last_used: c.last_used,
        })
        .collect();
    Ok(json_ok(StatusCode::OK, json!({ "passkeys": listed })))
}

/// Remove one of the member's own passkeys.
pub async fn remove(
    member: Member,
    _csrf: CsrfHeader,
    ClientIp(ip): ClientIp,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let passkeys = passkeys(&state)?;
    let (_, id) = path.into_inner();
    // A session opened by a passkey removes that one only, as it adds none: a thief
    // holding one would otherwise take the owner's others away.
    if member.grant.passkey.as_ref().is_some_and(|own| *own != id) {
        return Ok(json_error(StatusCode::FORBIDDEN, "code_required"));
    }
    let username = &member.grant.username;
    match passkeys.revoke(username.as_str(), &id).await {
        Ok(true) => {
            tracing::info!(user = %state.pseudonyms.of(username.as_str()), room = %member.room, "passkey removed by its owner");
            let record = AuditRecord::new(AuditEvent::PasskeyRevoked)
                .user(username)
                .room(&member.room)
                .ip(ip)
                .detail("by=owner");
            state.audit(record).await;
            Ok(json_ok(StatusCode::OK, json!({ "removed": id })))
        }
        Ok(false) => Ok(json_error(StatusCode::NOT_FOUND, "no_such_passkey")),
        Err(e) => Ok(store_down(&state, e, &member, ip).await),
    }
}
