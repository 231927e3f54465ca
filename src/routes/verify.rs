use std::sync::Arc;

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::respond::{notice_page, render, see_other};
use super::{PageError, room_from_path};
use crate::audit::{AuditEvent, AuditRecord};
use crate::client_ip::ClientIp;
use crate::domain::{OtpCode, RoomName};
use crate::i18n::Tr;
use crate::metrics::{FailReason, LimitKind};
use crate::notice::Notice;
use crate::session::{Grant, TypedSession};
use crate::signin::{SignIn, SignInId, StartState};
use crate::state::AppState;
use crate::verify::CheckOutcome;

#[derive(Template)]
#[template(path = "verify.html")]
struct CodePage<'a> {
    tr: &'a Tr,
    room: &'a str,
    csrf_token: &'a str,
    error: Option<&'a str>,
    /// Seconds until "send a new code" is allowed (the resend cooldown).
    resend_in: u64,
}

/// Seconds until a new code may be asked for: the same for every username.
fn resend_in(state: &AppState, sign_in: &SignIn) -> u64 {
    let cooldown = state.limiter.config().resend_cooldown;
    let age = sign_in.age(state.clock.now());
    let left = cooldown.saturating_sub(age);
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// The code form. It never waits for the SMS to go out (that would time who exists);
/// a start that has already failed is shown here, else at the code check.
pub async fn code_form(
    path: web::Path<String>,
    tr: Tr,
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
        return notice_page(&tr, &room, notice);
    }
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    render(CodePage {
        tr: &tr,
        room: room.as_str(),
        csrf_token: &csrf_token,
        error: None,
        resend_in: resend_in(&state, &sign_in),
    })
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf_token: Option<String>,
}

/// One code check in progress: what the outcomes need to end it.
struct Attempt<'a> {
    state: &'a AppState,
    tr: &'a Tr,
    session: &'a TypedSession,
    room: &'a RoomName,
    id: SignInId,
    sign_in: Arc<SignIn>,
    user: String,
    ip: std::net::IpAddr,
}

impl Attempt<'_> {
    /// The verification failed for good (exhausted or expired): it counts toward a
    /// lockout, and this failure may be the one that locks.
    async fn failed(&self, notice: Notice) -> Result<HttpResponse, PageError> {
        self.end();
        self.state.metrics.verification_failed(notice.fail_reason());
        self.audit(AuditEvent::CheckFailed, notice.kind()).await;
        let notice = match self.state.limiter.record_failure(&self.sign_in.who).await {
            Some(lock) => {
                tracing::warn!(user = %self.user, room = %self.room, lock_secs = lock.as_secs(), "locked out");
                self.state.metrics.lockout();
                self.audit(AuditEvent::Lockout, &format!("{}s", lock.as_secs()))
                    .await;
                Notice::locked_out(lock)
            }
            None => notice,
        };
        notice_page(self.tr, self.room, notice)
    }

    async fn audit(&self, event: AuditEvent, detail: &str) {
        let mut record = AuditRecord::new(event)
            .room(self.room)
            .ip(self.ip)
            .detail(detail);
        if let Ok(u) = crate::domain::Username::parse(&self.sign_in.who) {
            record = record.user(&u);
        }
        self.state.audit(record).await;
    }

    fn end(&self) {
        self.state.signins.remove(&self.id);
        self.session.clear_pending();
    }
}

/// Check a code against the verification this session started.
pub async fn check_code(
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    tr: Tr,
    session: TypedSession,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    if let Err(limited) = state.limiter.check_from_ip(ip).await {
        state.metrics.limited(limited.action.into());
        let record = AuditRecord::new(AuditEvent::Limited)
            .room(&room)
            .ip(ip)
            .detail(limited.action.kind());
        state.audit(record).await;
        return notice_page(&tr, &room, Notice::limited(&limited));
    }
    let Some((id, sign_in)) = session
        .pending()
        .and_then(|id| state.signins.get(&id, &room).map(|s| (id, s)))
    else {
        return notice_page(&tr, &room, Notice::Expired);
    };
    if let Some(left) = state.limiter.locked_out(&sign_in.who).await {
        state.metrics.limited(LimitKind::LockedOut);
        return notice_page(&tr, &room, Notice::locked_out(left));
    }
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    let resend_after = resend_in(&state, &sign_in);
    let form_again = |error: String| {
        let mut resp = render(CodePage {
            tr: &tr,
            room: room.as_str(),
            csrf_token: &csrf_token,
            error: Some(&error),
            resend_in: resend_after,
        })?;
        *resp.status_mut() = actix_web::http::StatusCode::UNPROCESSABLE_ENTITY;
        Ok(resp)
    };

    // A typo in the code's shape costs no attempt.
    let Ok(code) = OtpCode::parse(&form.code) else {
        return form_again(tr.t("code-format"));
    };
    // Said whatever went wrong with a code, so it reveals nothing about the username.
    let wrong_code = |left: u8| form_again(tr.t1("code-wrong", "count", left));
    let attempt = Attempt {
        user: state.pseudonyms.of(&sign_in.who),
        state: &state,
        tr: &tr,
        session: &session,
        room: &room,
        id,
        sign_in,
        ip,
    };
    let Some(left) = attempt.sign_in.take_check() else {
        attempt.end();
        return notice_page(&tr, &room, Notice::TooManyAttempts);
    };

    let sid = match attempt.sign_in.started(state.start_wait).await {
        StartState::Sent(sid) => sid,
        StartState::Failed(notice) => return notice_page(&tr, &room, notice),
        // Not on the list: the same answers a wrong code gets, and no call to Verify.
        StartState::NotSent | StartState::InFlight => {
            return if left == 0 {
                attempt.failed(Notice::TooManyAttempts).await
            } else {
                state.metrics.verification_failed(FailReason::WrongCode);
                attempt.audit(AuditEvent::CheckFailed, "wrong_code").await;
                wrong_code(left)
            };
        }
    };
    let username = attempt
        .sign_in
        .username
        .clone()
        .ok_or_else(|| anyhow::anyhow!("a sent sign-in has no username"))?;
    let user = &attempt.user;

    match state.verifier.check(&sid, &code).await {
        Ok(CheckOutcome::Approved) => {
            attempt.end();
            // Removed from the list while typing the code: approved, but no entry.
            if state.acl.load().allowed(&username, &room).is_none() {
                tracing::info!(%user, %room, "code approved for a user no longer on the list");
                return notice_page(&tr, &room, Notice::Expired);
            }
            session
                .elevate(&Grant {
                    username,
                    room: room.clone(),
                    verified_at: state.clock.unix_seconds(),
                })
                .await
                .map_err(anyhow::Error::from)?;
            tracing::info!(%user, %room, "code approved");
            state.metrics.verification_approved();
            attempt.audit(AuditEvent::CheckApproved, "").await;
            Ok(see_other(&format!("/rooms/{room}")))
        }
        Ok(CheckOutcome::Rejected) if left > 0 => {
            tracing::info!(%user, %room, attempts_left = left, "code check failed");
            state.metrics.verification_failed(FailReason::WrongCode);
            attempt.audit(AuditEvent::CheckFailed, "wrong_code").await;
            wrong_code(left)
        }
        Ok(CheckOutcome::Rejected) => {
            tracing::info!(%user, %room, "code check failed; no attempts left");
            attempt.failed(Notice::TooManyAttempts).await
        }
        Ok(CheckOutcome::Closed) => attempt.failed(Notice::Expired).await,
        Err(err) => {
            let notice = Notice::from_verify_error(&err);
            tracing::warn!(
                %user, %room,
                twilio_code = ?err.twilio_code(), error = %err, notice = notice.kind(),
                "code check failed at the verifier"
            );
            match notice {
                // A busy service may be retried with the same code.
                Notice::Unavailable => notice_page(&tr, &room, notice),
                Notice::TooManyAttempts | Notice::Expired => attempt.failed(notice).await,
                _ => {
                    state.metrics.verification_failed(notice.fail_reason());
                    attempt.end();
                    notice_page(&tr, &room, notice)
                }
            }
        }
    }
}
