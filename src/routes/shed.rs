//! Sign-ins from a network the per-network limit is refusing are refused here, before
//! the session cookie is decrypted and checked: a flood from one network (the limit's
//! whole reason to exist) then costs little more than the page it gets back. The
//! answer is the one the sign-in itself would give (the same `429` notice page, the
//! same audit record with the name typed, the same metric, through
//! `SignInService::refuse`), for every name alike. What the limiter remembers is exact:
//! a network it refused can't be admitted before its wait is over (see
//! `limits::refused`).
//!
//! Only the join form's sign-in (`POST /rooms/{room}/login`, the anonymous way in),
//! and only same-site posts: a cross-site one is left to its own refusal. "Send a new
//! code" and "Call me instead" name the user through the session, so they go the
//! whole way (their admission is still answered without the store).

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, web};
use serde::Deserialize;

use super::respond::notice_page;
use crate::client_ip::ClientIp;
use crate::domain::RoomName;
use crate::i18n::Tr;
use crate::signin::{Refusal, Visit};
use crate::state::AppState;

pub async fn shed_refused_networks(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(room) = sign_in_room(&req)
        && !super::cross_site::is_cross_site(&req)
        && let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
    {
        let ClientIp(ip) = ClientIp::extract(req.request()).await?;
        // With the audit log down, a sign-in is "busy" before any limit: left to it.
        if state.signin.audit_log.health().is_ok()
            && let Some(limited) = state.signin.limiter.login_refused_from(ip)
        {
            // The body is read only to be answered here. A form that doesn't parse is
            // refused all the same, without a name.
            let who = req
                .extract::<web::Form<Typed>>()
                .await
                .ok()
                .map(|form| super::join::typed_username(&form.username));
            let visit = Visit { room: &room, ip };
            let notice = state
                .signin
                .refuse(&Refusal::Limited(limited), visit, who.as_deref())
                .await;
            let resp = notice_page(&Tr::of_request(req.request()), &room, notice)?;
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The name typed on the join form.
#[derive(Deserialize)]
struct Typed {
    #[serde(default)]
    username: String,
}

/// The room of a join form's sign-in POST.
fn sign_in_room(req: &ServiceRequest) -> Option<RoomName> {
    if req.method() != Method::POST {
        return None;
    }
    let room = req.path().strip_prefix("/rooms/")?.strip_suffix("/login")?;
    RoomName::parse(room).ok()
}
