//! HTTP routes, one module per page or endpoint.

mod assets;
mod canonical;
mod cross_site;
mod error;
mod extract;
mod health;
mod home;
mod host;
mod join;
mod language;
mod logout;
mod passkeys;
mod recording;
mod recording_files;
mod recordings;
mod respond;
mod shed;
mod slow_body;
mod token;
mod verify;
mod webhooks;

use actix_web::web;
use serde::Deserialize;

pub use canonical::canonical_room_paths;
pub use cross_site::refuse_cross_site_posts;
pub use error::{PageError, translate_error_pages, unreadable_form, unreadable_query};
pub use host::{REMOVAL_BAN, removal_key};
pub use shed::shed_refused_networks;
pub use slow_body::{BODY_DEADLINE, cut_slow_bodies};

/// GET, and HEAD: the same answer without its body (actix leaves it out), which uptime
/// probes and link checkers ask for. Handlers of GET change nothing that matters, so a
/// HEAD may run them.
pub fn get() -> actix_web::Route {
    use actix_web::guard;
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Every path is one resource with all its methods, so a method it doesn't have is a
/// `405` with `Allow` (actix's resource default), not the `404` that `cfg.route`'s
/// per-route method guard would give.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let one = |path: &str, route: actix_web::Route| web::resource(path).route(route);
    // The passkey endpoints' JSON is a few kilobytes at most: a bigger body is refused
    // before it is read whole.
    let passkey_json = |path: &str, route: actix_web::Route| {
        web::resource(path)
            .app_data(
                web::JsonConfig::default()
                    .limit(passkeys::MAX_BODY)
                    // The scripts read `{error}`; actix's text would quote serde. With
                    // passkeys off these paths are not there, whatever the body.
                    .error_handler(|err, req| {
                        let off = req
                            .app_data::<web::Data<crate::state::AppState>>()
                            .is_some_and(|s| s.passkeys.is_none());
                        if off {
                            return PageError::NotFound.into();
                        }
                        let status = actix_web::ResponseError::status_code(&err);
                        actix_web::error::InternalError::from_response(
                            err,
                            token::json_error(status, "bad_request"),
                        )
                        .into()
                    }),
            )
            .route(route)
    };
    // With passkeys off their paths are not there: the not-found page, whoever asks,
    // rather than a sign-in or CSRF refusal from the handler's extractors first.
    let passkeys_on = || {
        actix_web::guard::fn_guard(|ctx| {
            ctx.app_data::<web::Data<crate::state::AppState>>()
                .is_some_and(|state| state.passkeys.is_some())
        })
    };
    cfg.service(one("/", get().to(home::home)))
        .service(one("/favicon.ico", get().to(assets::favicon)))
        // The pages' own files, from the binary (any other method: 405 with `Allow`).
        .service(one("/static/{file}", get().to(assets::static_file)))
        .service(one("/rooms", get().to(home::go_to_room)))
        // `/rooms/` too: a room link cut short at its name, or typed by hand.
        .service(one("/rooms/", get().to(home::go_to_room)))
        // One scope for the room's pages: actix compiles a regex for each path with a
        // `{segment}` (with captures, once per worker), so one for `/rooms/{room}` and
        // literal paths inside it, rather than one per page: 7 regexes a worker
        // instead of 26, 0.9 MiB less resident (docs/performance.md).
        .service(
            web::scope("/rooms/{room}")
                .service(one("", get().to(join::room_page)))
                .service(one("/login", web::post().to(join::login)))
                .service(one("/resend", web::post().to(join::resend)))
                .service(one("/call", web::post().to(join::call)))
                .service(
                    web::resource("/verify")
                        .route(get().to(verify::code_form))
                        .route(web::post().to(verify::check_code)),
                )
                .service(one("/token", web::post().to(token::mint)))
                .service(
                    passkey_json("/passkeys/options", web::post().to(passkeys::options))
                        .guard(passkeys_on()),
                )
                .service(
                    passkey_json("/passkeys/finish", web::post().to(passkeys::finish))
                        .guard(passkeys_on()),
                )
                .service(
                    one(
                        "/passkeys/register/start",
                        web::post().to(passkeys::register_start),
                    )
                    .guard(passkeys_on()),
                )
                .service(
                    passkey_json(
                        "/passkeys/register/finish",
                        web::post().to(passkeys::register_finish),
                    )
                    .guard(passkeys_on()),
                )
                .service(one("/passkeys", get().to(passkeys::list)).guard(passkeys_on()))
                .service(
                    one("/passkeys/{id}/remove", web::post().to(passkeys::remove))
                        .guard(passkeys_on()),
                )
                .service(one("/participants", get().to(host::list)))
                .service(one(
                    "/participants/{identity}/remove",
                    web::post().to(host::remove),
                ))
                .service(one("/end", web::post().to(host::end_room)))
                .service(one("/recordings", get().to(recordings::list)))
                .service(one(
                    "/recordings/{id}/play",
                    web::post().to(recordings::play),
                ))
                .service(one(
                    "/recordings/{id}/download",
                    web::post().to(recordings::download),
                ))
                .service(one("/recording", get().to(recording::state)))
                .service(one("/recording/start", web::post().to(recording::start)))
                .service(one("/recording/stop", web::post().to(recording::stop))),
        )
        .service(
            web::resource("/twilio/room-events")
                .app_data(web::PayloadConfig::new(webhooks::MAX_BODY))
                .route(web::post().to(webhooks::room_events)),
        )
        .service(one(
            "/recordings/files/{key:.*}",
            get().to(recording_files::file),
        ))
        .service(one("/language/{code}", get().to(language::choose)))
        .service(one("/logout", web::post().to(logout::logout)))
        .service(one("/healthz", get().to(health::healthz)))
        .service(one("/readyz", get().to(health::readyz)));
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
