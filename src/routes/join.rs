//! The room's page: the join form for a visitor, the room itself for a verified
//! member, and the "send me a code" posts (sign-in, resend, call) that start a sign-in.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::PageError;
use super::extract::{CheckedForm, CsrfField, RoomPath};
use super::respond::{Back, notice_page, notice_page_back, render, see_other};
use crate::client_ip::ClientIp;
use crate::i18n::Tr;
use crate::notice::Notice;
use crate::session::TypedSession;
use crate::signin::{Refusal, SignIn, Visit};
use crate::state::AppState;
use crate::telemetry::REPEATABLE;
use crate::verify::Channel;

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage<'a> {
    tr: &'a Tr,
    room: &'a str,
    csrf_token: &'a str,
    /// The room's `recording` setting isn't `off`: visitors are told before they
    /// sign in.
    may_record: bool,
    /// "Use a passkey" is offered.
    passkeys: bool,
}

#[derive(Template)]
#[template(path = "room.html")]
struct RoomPage<'a> {
    tr: &'a Tr,
    /// The room script's messages (JSON, see `Tr::json`).
    script_messages: &'a str,
    room: &'a str,
    identity: &'a str,
    csrf_token: &'a str,
    sdk_url: &'a str,
    local_mode: bool,
    is_host: bool,
    /// The room's `recording` setting: `off`, `host` (a host's page gets Start and
    /// Stop) or `always`.
    recording: &'a str,
    /// The passkey offer and the member's passkeys are shown.
    passkeys: bool,
    /// Verified with a passkey: adding another takes a code (see
    /// `routes::passkeys::register_start`), which the section says instead.
    by_passkey: bool,
}

/// The room link: the room itself for a session verified for it, else the join form.
pub async fn room_page(
    RoomPath(room): RoomPath,
    tr: Tr,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    let acl = state.acl.load();
    let settings = acl.room_settings(&room);
    if let Some(grant) = session.verified_for(&room) {
        // The ACL is the authority on every request, not the cookie.
        let is_host = acl
            .allowed(&grant.username, &room)
            .map(|user| user.is_host());
        // A session verified for a number the list no longer has, or with a passkey
        // revoked since, is signed in no more.
        let held = match state.grant_holds(&grant).await {
            Ok(held) => held,
            Err(_) => {
                state.metrics.store_refusal();
                return super::respond::notice_page(&tr, &room, crate::notice::Notice::Unavailable);
            }
        };
        if let Some(is_host) = is_host.filter(|_| held) {
            return render(RoomPage {
                tr: &tr,
                script_messages: &tr.script_messages(),
                is_host,
                room: room.as_str(),
                identity: grant.username.as_str(),
                csrf_token: &csrf_token,
                sdk_url: &state.site.video_sdk_url,
                local_mode: state.site.local_mode,
                recording: settings.recording.as_str(),
                passkeys: state.passkeys.is_some(),
                by_passkey: grant.passkey.is_some(),
            });
        }
        tracing::info!(name: REPEATABLE, user = %state.pseudonyms.of(grant.username.as_str()), %room, "verified session no longer on the list, or its number or passkey no longer the user's");
        session.clear_grant();
    }
    // A cookie verified for this room whose revocation can't be checked (the store is
    // down) gets "busy", as its token request does, not the join form: signing in
    // again would be refused as well.
    if session.unchecked() && session.grant().is_some_and(|grant| grant.room == room) {
        state.metrics.store_refusal();
        return super::respond::notice_page(&tr, &room, crate::notice::Notice::Unavailable);
    }
    render(JoinPage {
        tr: &tr,
        room: room.as_str(),
        csrf_token: &csrf_token,
        may_record: settings.may_record(),
        passkeys: state.passkeys.is_some(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

impl CsrfField for LoginForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

/// "Send me a code". Known or not, allowed or not, the answer is the same: the same
/// redirect and cookie shape when the request may go on, the same limit page when it
/// may not. Only a user on the list for this room triggers a send, and that send runs
/// in the background so the response time doesn't tell either.
pub async fn login(
    RoomPath(room): RoomPath,
    CheckedForm { form, session }: CheckedForm<LoginForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let visit = Visit { room: &room, ip };
    let who = typed_username(&form.username);
    match sign_in(&state, &session, &tr, visit, who, Channel::Sms, None).await? {
        Ok(resp) => Ok(resp),
        Err(notice) => notice_page(&tr, &room, notice),
    }
}

/// "Send a new code" from the code page: a new sign-in for the name typed before,
/// under the same limits (the resend cooldown among them). A new code is a text,
/// whatever came before ("Call me instead" is the other way).
pub async fn resend(
    RoomPath(room): RoomPath,
    CheckedForm { session, .. }: CheckedForm<super::CsrfForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    again(
        &state,
        &session,
        &tr,
        Visit { room: &room, ip },
        Channel::Sms,
    )
    .await
}

/// "Call me instead" from the code page: like a resend (a new sign-in for the name
/// typed before, under the same limits and cooldown), by voice call, plus the call
/// budget. Everyone gets the same answer; only a user allowed calls is called.
pub async fn call(
    RoomPath(room): RoomPath,
    CheckedForm { session, .. }: CheckedForm<super::CsrfForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    again(
        &state,
        &session,
        &tr,
        Visit { room: &room, ip },
        Channel::Call,
    )
    .await
}

/// A new sign-in from the code page, for the name of the session's pending one (back
/// to the join form without one). A call keeps the previous sign-in at hand: a user
/// not allowed calls keeps their text's verification.
async fn again(
    state: &AppState,
    session: &TypedSession,
    tr: &Tr,
    visit: Visit<'_>,
    channel: Channel,
) -> Result<HttpResponse, PageError> {
    let room = visit.room;
    let pending = session.pending();
    let previous = match state.signin.signins.find(pending.as_ref(), room).await {
        Ok(Some(previous)) => previous,
        Ok(None) => return Ok(see_other(&format!("/rooms/{room}"))),
        Err(e) => {
            let notice = state
                .signin
                .refuse(&Refusal::StoreDown(e), visit, None)
                .await;
            return notice_page(tr, room, notice);
        }
    };
    let keep = (channel == Channel::Call).then_some(&previous);
    let who = previous.who.clone();
    match sign_in(state, session, tr, visit, who, channel, keep).await? {
        Ok(resp) => Ok(resp),
        Err(notice) => notice_page_back(tr, room, notice, Back::Code),
    }
}

/// A new sign-in: the redirect to the code page, or the notice of its refusal (each
/// caller knows where that page's button goes). The SMS (or call) is in `tr`'s
/// language when the participant asked for one (`Tr::sms_locale`).
async fn sign_in(
    state: &AppState,
    session: &TypedSession,
    tr: &Tr,
    visit: Visit<'_>,
    who: String,
    channel: Channel,
    previous: Option<&SignIn>,
) -> Result<Result<HttpResponse, Notice>, PageError> {
    let begun = state
        .signin
        .begin(visit, who.clone(), tr.sms_locale(), channel, previous)
        .await;
    match begun {
        Ok(id) => {
            session.set_pending(&id).map_err(anyhow::Error::from)?;
            Ok(Ok(see_other(&format!("/rooms/{}/verify", visit.room))))
        }
        Err(refusal) => Ok(Err(state.signin.refuse(&refusal, visit, Some(&who)).await)),
    }
}

/// The name as a participant typed it, normalised like a username, and bounded so an
/// attacker's megabyte of text doesn't become a counter key. The bound keeps one
/// character more than a username may have, so a name that is too long stays too long
/// (and matches no one) rather than being cut down to someone else's.
pub(super) fn typed_username(input: &str) -> String {
    input
        .trim()
        .to_lowercase()
        .chars()
        .take(crate::domain::Username::MAX_CHARS + 1)
        .collect()
}
