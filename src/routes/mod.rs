//! HTTP routes, one module per page or endpoint.

mod cross_site;
mod error;
mod extract;
mod health;
mod home;
mod host;
mod join;
mod language;
mod logout;
mod respond;
mod token;
mod verify;
mod webhooks;

use actix_web::web;
use serde::Deserialize;

pub use cross_site::refuse_cross_site_posts;
pub use error::{PageError, translate_error_pages};
pub use host::{REMOVAL_BAN, removal_key};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::home))
        .route("/rooms", web::get().to(home::go_to_room))
        .route("/rooms/{room}", web::get().to(join::room_page))
        .route("/rooms/{room}/login", web::post().to(join::login))
        .route("/rooms/{room}/resend", web::post().to(join::resend))
        .route("/rooms/{room}/verify", web::get().to(verify::code_form))
        .route("/rooms/{room}/verify", web::post().to(verify::check_code))
        .route("/rooms/{room}/token", web::post().to(token::mint))
        .route("/rooms/{room}/participants", web::get().to(host::list))
        .route(
            "/rooms/{room}/participants/{identity}/remove",
            web::post().to(host::remove),
        )
        .route("/rooms/{room}/end", web::post().to(host::end_room))
        .service(
            web::resource("/twilio/room-events")
                .app_data(web::PayloadConfig::new(webhooks::MAX_BODY))
                .route(web::post().to(webhooks::room_events)),
        )
        .route("/language/{code}", web::get().to(language::choose))
        .route("/logout", web::post().to(logout::logout))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}

/// Every form field is optional at the parsing stage: a missing `csrf_token` must be a
/// 403 from the CSRF check, not a 400 from the form extractor.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf_token: Option<String>,
}

impl extract::CsrfField for CsrfForm {
    fn csrf_token(&self) -> Option<&str> {
        self.csrf_token.as_deref()
    }
}
