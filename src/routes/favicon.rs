//! `GET /favicon.ico`: browsers ask for it on every page, whatever the page links, so
//! it is served at the root (a 404 there is a console error per page view).

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};

/// In the binary, like the templates: nothing to find on disk at run time.
const ICON: &[u8] = include_bytes!("../../static/favicon.ico");

/// A day in caches: it changes with a release at most, and a stale icon harms nobody.
const CACHE: &str = "public, max-age=86400";

pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "image/x-icon"))
        .insert_header((CACHE_CONTROL, CACHE))
        .body(ICON)
}
