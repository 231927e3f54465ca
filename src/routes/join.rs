use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::respond::{notice_page, render, see_other};
use super::{PageError, room_from_path};
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::domain::{RoomName, Username};
use crate::metrics::LimitKind;
use crate::notice::Notice;
use crate::session::TypedSession;
use crate::signin::{CodeRequest, Start};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage<'a> {
    room: &'a str,
    csrf_token: &'a str,
}

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage<'a> {
    room: &'a str,
    identity: &'a str,
    csrf_token: &'a str,
    sdk_url: &'a str,
    local_mode: bool,
    is_host: bool,
}

/// The room link: the room itself for a session verified for it, else the join form.
pub async fn room_page(
    path: web::Path<String>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    if let Some(grant) = session.verified_for(&room) {
        // The ACL is the authority on every request, not the cookie.
        let is_host = state
            .acl
            .load()
            .allowed(&grant.username, &room)
            .map(|user| user.is_host());
        if let Some(is_host) = is_host {
            return render(RoomPage {
                is_host,
                room: room.as_str(),
                identity: grant.username.as_str(),
                csrf_token: &csrf_token,
                sdk_url: &state.video_sdk_url,
                local_mode: state.local_mode,
            });
        }
        tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), %room, "verified session no longer on the list");
        session.clear_grant();
    }
    render(JoinPage {
        room: room.as_str(),
        csrf_token: &csrf_token,
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

/// "Send me a code". Known or not, allowed or not, the answer is the same: the same
/// redirect and cookie shape when the request may go on, the same limit page when it
/// may not. Only a user on the list for this room triggers a send, and that send runs
/// in the background so the response time doesn't tell either.
pub async fn login(
    path: web::Path<String>,
    form: web::Form<LoginForm>,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    sign_in(&state, &session, room, typed_username(&form.username), ip).await
}

/// "Send a new code" from the code page: a new sign-in for the name typed before,
/// under the same limits (the resend cooldown among them).
pub async fn resend(
    path: web::Path<String>,
    form: web::Form<super::CsrfForm>,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    let Some(previous) = session
        .pending()
        .and_then(|id| state.signins.get(&id, &room))
    else {
        return Ok(see_other(&format!("/rooms/{room}")));
    };
    sign_in(&state, &session, room, previous.who.clone(), ip).await
}

async fn sign_in(
    state: &AppState,
    session: &TypedSession,
    room: RoomName,
    who: String,
    ip: std::net::IpAddr,
) -> Result<HttpResponse, PageError> {
    let username = Username::parse(&who).ok();
    let audit = |detail: &str| {
        let record = AuditRecord::new(AuditEvent::Limited)
            .room(&room)
            .ip(ip)
            .detail(detail);
        match &username {
            Some(u) => record.user(u),
            None => record,
        }
    };
    if let Err(limited) = state.limiter.login_from_ip(ip).await {
        state.metrics.limited(limited.action.into());
        state.audit(audit(limited.action.kind())).await;
        return notice_page(&room, Notice::limited(&limited));
    }
    let user = state.pseudonyms.of(&who);
    // Limits on the name typed apply whether or not anyone has that name.
    if let Some(left) = state.limiter.locked_out(&who).await {
        tracing::info!(%user, %room, retry_after = left.as_secs(), "sign-in refused: locked out");
        state.metrics.limited(LimitKind::LockedOut);
        state.audit(audit("locked_out")).await;
        return notice_page(&room, Notice::locked_out(left));
    }
    // A spent budget is global: everyone is told, so it reveals nobody. Checked
    // before the per-name limit, so a refusal here costs the name nothing.
    if let Some(wait) = state.budget.exhausted().await {
        tracing::warn!(%room, "sign-in refused: SMS budget exhausted");
        state.metrics.limited(LimitKind::Budget);
        state.audit(audit("sms_budget")).await;
        return notice_page(&room, Notice::busy(wait));
    }

    if let Err(limited) = state.limiter.start_for_user(&who).await {
        tracing::info!(%user, %room, limit = limited.action.kind(), "sign-in limited");
        state.metrics.limited(limited.action.into());
        state.audit(audit(limited.action.kind())).await;
        return notice_page(&room, Notice::limited(&limited));
    }
    let start = start_for(state, username, &room, ip, user).await;
    if let Some(old) = session.pending() {
        state.signins.remove(&old);
    }
    let id = state.signins.begin(room.clone(), who, start);
    session.set_pending(&id).map_err(anyhow::Error::from)?;
    Ok(see_other(&format!("/rooms/{room}/verify")))
}

/// Whether to send a code. Refusals found here concern a real user's number, so they
/// are told on the code page, not in this response.
async fn start_for(
    state: &AppState,
    username: Option<Username>,
    room: &RoomName,
    ip: std::net::IpAddr,
    user: String,
) -> Start {
    let record = AuditRecord::new(AuditEvent::SignInRequested)
        .room(room)
        .ip(ip);
    let allowed = username.as_ref().and_then(|username| {
        let acl = state.acl.load();
        let phone = acl.allowed(username, room)?.phone.clone();
        Some((username.clone(), phone))
    });
    let Some((username, phone)) = allowed else {
        tracing::info!(%user, %room, "sign-in requested for a user not on the list");
        let record = match &username {
            Some(u) => record.user(u),
            None => record,
        };
        state.audit(record.detail("not_on_list")).await;
        return Start::Nothing;
    };
    tracing::info!(%user, %room, "sign-in requested");
    state
        .audit(record.user(&username).phone(&phone).detail("on_list"))
        .await;
    let limited = |detail: &str| {
        AuditRecord::new(AuditEvent::Limited)
            .user(&username)
            .room(room)
            .ip(ip)
            .phone(&phone)
            .detail(detail)
    };
    if let Err(limit) = state.limiter.start_for_phone(&phone).await {
        tracing::info!(%user, %room, phone = %phone.masked(), limit = limit.action.kind(), "sign-in limited");
        state.metrics.limited(limit.action.into());
        state.audit(limited(limit.action.kind())).await;
        return Start::Refused(Notice::limited(&limit));
    }
    let spent = state.budget.spend().await;
    state.publish_budget().await;
    if let Err(wait) = spent {
        tracing::warn!(%user, %room, "sign-in refused: SMS budget exhausted");
        state.metrics.limited(LimitKind::Budget);
        state.audit(limited("sms_budget")).await;
        return Start::Refused(Notice::busy(wait));
    }
    Start::Send(CodeRequest {
        username,
        log_user: user,
        phone,
        locale: None,
        room: room.clone(),
        ip,
    })
}

/// The name as a participant typed it, normalised like a username, and bounded so an
/// attacker's megabyte of text doesn't become a counter key.
fn typed_username(input: &str) -> String {
    input.trim().to_lowercase().chars().take(64).collect()
}
