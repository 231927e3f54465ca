//! The home page and its "go to a room" form.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::PageError;
use super::respond::{render, see_other};
use crate::domain::RoomName;
use crate::i18n::Tr;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    tr: &'a Tr,
    room: &'a str,
    error: Option<&'a str>,
}

/// `/`: straight to the default room when there is one, else a form for a room name.
/// It never lists rooms or users.
pub async fn home(tr: Tr, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    match &state.site.default_room {
        Some(room) => Ok(see_other(&format!("/rooms/{room}"))),
        None => render(HomePage {
            tr: &tr,
            room: "",
            error: None,
        }),
    }
}

#[derive(Deserialize)]
pub struct RoomQuery {
    room: Option<String>,
}

/// The home form's target (a GET form, so it works without JavaScript).
pub async fn go_to_room(tr: Tr, query: web::Query<RoomQuery>) -> Result<HttpResponse, PageError> {
    // `/rooms` itself (a link, a shortened path): the home page's form, not an error
    // about a name nobody was asked for.
    let Some(typed) = query.room.as_deref() else {
        return Ok(see_other("/"));
    };
    // The form sent with nothing in it says so, rather than coming back as it was.
    let error = match RoomName::from_input(typed) {
        Ok(room) => return Ok(see_other(&format!("/rooms/{room}"))),
        Err(_) if typed.trim().is_empty() => tr.t("home-room-missing"),
        Err(_) => tr.t("home-room-invalid"),
    };
    let mut resp = render(HomePage {
        tr: &tr,
        room: typed.trim(),
        error: Some(&error),
    })?;
    *resp.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
    Ok(resp)
}
