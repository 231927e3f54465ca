//! The code page and the code check that turns a pending sign-in into a verified
//! session.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::PageError;
use super::extract::{CheckedForm, CsrfField, RoomPath};
use super::respond::{notice_page, render, see_other};
use crate::client_ip::ClientIp;
use crate::domain::OtpCode;
use crate::i18n::Tr;
use crate::notice::Notice;
use crate::session::{Grant, TypedSession};
use crate::signin::{Checked, Refusal, SignIn, StartState, Visit};
use crate::state::AppState;
use crate::store::unix_ms;
use crate::verify::Channel;

#[derive(Template)]
#[template(path = "verify.html")]
struct CodePage<'a> {
    tr: &'a Tr,
    room: &'a str,
    csrf_token: &'a str,
    error: Option<&'a str>,
    /// Seconds until "send a new code" (or a call) is allowed (the resend cooldown).
    resend_in: u64,
    /// "Call me instead" was asked for (by anyone: it says nothing about who).
    calling: bool,
}

/// Seconds until a new code may be asked for: the same for every username.
fn resend_in(state: &AppState, sign_in: &SignIn) -> u64 {
    let cooldown = state.signin.limiter.config().resend_cooldown;
    let age = sign_in.age(unix_ms(state.clock.now()));
    let left = cooldown.saturating_sub(age);
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// The code form. It never waits for the SMS to go out (that would time who exists);
/// a start that has already failed is shown here, else at the code check. A sign-in
/// whose call to Verify found it down says so while Verify is still marked down.
pub async fn code_form(
    RoomPath(room): RoomPath,
    tr: Tr,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let pending = session.pending();
    let found = state.signin.signins.find(pending.as_ref(), &room).await;
    let sign_in = match found {
        Ok(Some(sign_in)) => sign_in,
        Ok(None) => return Ok(see_other(&format!("/rooms/{room}"))),
        Err(e) => {
            let visit = Visit { room: &room, ip };
            let notice = state
                .signin
                .refuse(&Refusal::StoreDown(e), visit, None)
                .await;
            return notice_page(&tr, &room, notice);
        }
    };
    // Verify down is said only by a sign-in whose own call found it down: one begun
    // before, shown "busy" now, would tell a name sent nothing from a listed one whose
    // code went out.
    let ended = match sign_in.state() {
        StartState::Failed(notice) => Some(*notice),
        _ if sign_in.verify_down => state.signin.signins.pace.failing(),
        _ => None,
    };
    if let Some(notice) = ended {
        return notice_page(&tr, &room, notice);
    }
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    render(CodePage {
        tr: &tr,
        room: room.as_str(),
        csrf_token: &csrf_token,
        error: None,
        resend_in: resend_in(&state, &sign_in),
        calling: sign_in.channel == Channel::Call,
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

impl CsrfField for CodeForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}

/// Check a code against the verification this session started.
pub async fn check_code(
    RoomPath(room): RoomPath,
    CheckedForm { form, session }: CheckedForm<CodeForm>,
    tr: Tr,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let visit = Visit { room: &room, ip };
    let (id, sign_in) = match state.signin.admit_check(visit, session.pending()).await {
        Ok(Some(found)) => found,
        Ok(None) => return notice_page(&tr, &room, Notice::Expired),
        Err(refusal) => {
            let notice = state.signin.refuse(&refusal, visit, None).await;
            return notice_page(&tr, &room, notice);
        }
    };
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    let resend_after = resend_in(&state, &sign_in);
    let calling = sign_in.channel == Channel::Call;
    let form_again = |error: String| {
        let mut resp = render(CodePage {
            tr: &tr,
            room: room.as_str(),
            csrf_token: &csrf_token,
            error: Some(&error),
            resend_in: resend_after,
            calling,
        })?;
        *resp.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };

    // A typo in the code's shape costs no attempt.
    let Ok(code) = OtpCode::parse(&form.code) else {
        return form_again(tr.t("code-format"));
    };
    let who = sign_in.who.clone();
    // What an approval earns. Only a sign-in with a username can be approved. The
    // number proven is the one the code went to (the check refuses the code if the
    // list has another by now), never the one the list has when the code is typed.
    let grant = sign_in.username.clone().map(|username| Grant {
        phone: sign_in.phone.clone(),
        username,
        room: room.clone(),
        verified_at: state.clock.unix_seconds(),
        passkey: None,
        expires_at: None,
        verified_ms: None,
    });
    let elevated = std::cell::Cell::new(false);
    let elevate = async {
        elevated.set(true);
        match &grant {
            Some(grant) => session.elevate(grant).await,
            None => Err(anyhow::anyhow!("an approved sign-in without a username")),
        }
    };
    let checked = state.signin.check(visit, id, sign_in, &code, elevate).await;
    // The elevation runs alongside the approval's other steps (its audit record, the
    // sign-in's end); if any of them failed, the session must not leave verified.
    if elevated.get() && !matches!(checked, Ok(Checked::Approved(_))) {
        session.clear_grant();
    }
    match checked {
        Ok(Checked::Approved(_)) => Ok(see_other(&format!("/rooms/{room}"))),
        Ok(Checked::Wrong { left }) => form_again(tr.t1("code-wrong", "count", left)),
        // The session keeps its sign-in: one that ended for good remembers why (the
        // code page and a code posted again say so), a busy verifier may be retried
        // with the same code, and "Send a new code" starts from its name.
        Ok(Checked::Ended(notice)) => notice_page(&tr, &room, notice),
        // A second post of a code already approved (a double-click): the session is
        // left as the approval made it, and the room page shows where it stands.
        Ok(Checked::Superseded) => Ok(see_other(&format!("/rooms/{room}"))),
        Err(refusal) => {
            let notice = state.signin.refuse(&refusal, visit, Some(&who)).await;
            notice_page(&tr, &room, notice)
        }
    }
}
