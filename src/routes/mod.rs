//! HTTP routes, one module per page or endpoint.

mod cross_site;
mod error;
mod health;
mod home;
mod join;
mod logout;
mod token;
mod verify;

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

pub use cross_site::refuse_cross_site_posts;
pub use error::PageError;

use crate::domain::RoomName;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::home))
        .route("/rooms", web::get().to(home::go_to_room))
        .route("/rooms/{room}", web::get().to(join::room_page))
        .route("/rooms/{room}/login", web::post().to(join::login))
        .route("/rooms/{room}/verify", web::get().to(verify::code_form))
        .route("/rooms/{room}/verify", web::post().to(verify::check_code))
        .route("/rooms/{room}/token", web::post().to(token::mint))
        .route("/logout", web::post().to(logout::logout))
        .route("/healthz", web::get().to(health::healthz));
}

/// The `{room}` path segment, parsed; anything else is a 404 that says nothing more.
fn room_from_path(path: web::Path<String>) -> Result<RoomName, PageError> {
    RoomName::parse(&path.into_inner()).map_err(|_| PageError::NotFound)
}

/// Pages of the sign-in flow carry session-specific tokens: never cache them.
fn no_store(resp: &mut HttpResponse) {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Every form field is optional at the parsing stage: a missing `csrf_token` must be a
/// 403 from the CSRF check, not a 400 from the form extractor.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: Option<String>,
}
