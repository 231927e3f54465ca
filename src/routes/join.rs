use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::respond::{render, see_other};
use super::{PageError, room_from_path};
use crate::domain::Username;
use crate::session::TypedSession;
use crate::signin::CodeRequest;
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
        if state.acl.load().allowed(&grant.username, &room).is_some() {
            return render(RoomPage {
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

/// "Send me a code". Known or not, allowed or not, the answer is the same redirect and
/// the same cookie shape; only a user on the list for this room triggers a send, and
/// that send runs in the background so the response time doesn't tell either.
pub async fn login(
    path: web::Path<String>,
    form: web::Form<LoginForm>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let room = room_from_path(path)?;
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    let username = Username::from_input(&form.username).ok();
    let code = username.and_then(|username| {
        let acl = state.acl.load();
        let user = acl.allowed(&username, &room)?;
        Some(CodeRequest {
            phone: user.phone.clone(),
            username,
            locale: None,
            verifier: state.verifier.clone(),
        })
    });
    match &code {
        Some(req) => tracing::info!(user = %req.username, %room, "sign-in requested"),
        None => tracing::info!(%room, "sign-in requested for a user not on the list"),
    }
    if let Some(old) = session.pending() {
        state.signins.remove(&old);
    }
    let id = state.signins.begin(room.clone(), code);
    session.set_pending(&id).map_err(anyhow::Error::from)?;
    Ok(see_other(&format!("/rooms/{room}/verify")))
}
