use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::respond::{notice_page, render, see_other};
use super::{PageError, room_from_path};
use crate::domain::OtpCode;
use crate::notice::Notice;
use crate::session::{Grant, TypedSession};
use crate::signin::StartState;
use crate::state::AppState;
use crate::verify::CheckOutcome;

/// Said whatever went wrong with a code, so it reveals nothing about the username.
const WRONG_CODE: &str = "That code is not right, or it was not sent to you.";

#[derive(Template)]
#[template(path = "verify.html")]
struct CodePage<'a> {
    room: &'a str,
    csrf_token: &'a str,
    error: Option<&'a str>,
    attempts_left: Option<u8>,
}

/// The code form. It never waits for the SMS to go out (that would time who exists);
/// a start that has already failed is shown here, else at the code check.
pub async fn code_form(
    path: web::Path<String>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    let Some(sign_in) = session
        .pending()
        .and_then(|id| state.signins.get(&id, &room))
    else {
        return Ok(see_other(&format!("/rooms/{room}")));
    };
    if let StartState::Failed(notice) = sign_in.state() {
        return notice_page(&room, notice);
    }
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    render(CodePage {
        room: room.as_str(),
        csrf_token: &csrf_token,
        error: None,
        attempts_left: None,
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

/// Check a code against the verification this session started.
pub async fn check_code(
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    let Some((id, sign_in)) = session
        .pending()
        .and_then(|id| state.signins.get(&id, &room).map(|s| (id, s)))
    else {
        return notice_page(&room, Notice::Expired);
    };
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    let form_again = |error: &str, attempts_left: Option<u8>| {
        let mut resp = render(CodePage {
            room: room.as_str(),
            csrf_token: &csrf_token,
            error: Some(error),
            attempts_left,
        })?;
        *resp.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };

    // A typo in the code's shape costs no attempt.
    let Ok(code) = OtpCode::parse(&form.code) else {
        return form_again("Enter the code from the SMS: digits only.", None);
    };
    let Some(left) = sign_in.take_check() else {
        state.signins.remove(&id);
        session.clear_pending();
        return notice_page(&room, Notice::TooManyAttempts);
    };

    let sid = match sign_in.started(state.start_wait).await {
        StartState::Sent(sid) => sid,
        StartState::Failed(notice) => return notice_page(&room, notice),
        // Not on the list: the same answer a wrong code gets, and no call to Verify.
        StartState::NotSent | StartState::InFlight => {
            return if left == 0 {
                state.signins.remove(&id);
                session.clear_pending();
                notice_page(&room, Notice::TooManyAttempts)
            } else {
                form_again(WRONG_CODE, Some(left))
            };
        }
    };
    let username = sign_in
        .username
        .clone()
        .ok_or_else(|| anyhow::anyhow!("a sent sign-in has no username"))?;

    match state.verifier.check(&sid, &code).await {
        Ok(CheckOutcome::Approved) => {
            state.signins.remove(&id);
            // Removed from the list while typing the code: approved, but no entry.
            if state.acl.load().allowed(&username, &room).is_none() {
                session.clear_pending();
                tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, "code approved for a user no longer on the list");
                return notice_page(&room, Notice::Expired);
            }
            session
                .elevate(&Grant {
                    username: username.clone(),
                    room: room.clone(),
                    verified_at: state.clock.unix_seconds(),
                })
                .await
                .map_err(anyhow::Error::from)?;
            tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, "code approved");
            Ok(see_other(&format!("/rooms/{room}")))
        }
        Ok(CheckOutcome::Rejected) if left > 0 => {
            tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, attempts_left = left, "code check failed");
            form_again(WRONG_CODE, Some(left))
        }
        Ok(CheckOutcome::Rejected) => {
            tracing::info!(user = %state.pseudonyms.of(username.as_str()), %room, "code check failed; no attempts left");
            state.signins.remove(&id);
            session.clear_pending();
            notice_page(&room, Notice::TooManyAttempts)
        }
        Ok(CheckOutcome::Closed) => {
            state.signins.remove(&id);
            session.clear_pending();
            notice_page(&room, Notice::Expired)
        }
        Err(err) => {
            let notice = Notice::from_verify_error(&err);
            tracing::warn!(
                user = %state.pseudonyms.of(username.as_str()), %room,
                twilio_code = ?err.twilio_code(), error = %err, notice = notice.kind(),
                "code check failed at the verifier"
            );
            // Final answers end the sign-in; a busy service may be retried with the same code.
            if notice != Notice::Unavailable {
                state.signins.remove(&id);
                session.clear_pending();
            }
            notice_page(&room, notice)
        }
    }
}
