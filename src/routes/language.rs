//! The language menu: `GET /language/{code}?next=/rooms/standup` remembers the choice
//! in a cookie and goes back to the page it was made on.

use actix_web::cookie::time::Duration;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::PageError;
use super::respond::no_store;
use crate::i18n::{COOKIE, COOKIE_MAX_AGE_DAYS, Lang, is_local_path};
use crate::state::AppState;

#[derive(Deserialize, Default)]
struct LanguageQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Where to go back to: `next` when it is a path on this site, else the start page,
/// so the menu can't be used to send anyone elsewhere.
fn local_next(req: &HttpRequest) -> String {
    const MAX: usize = 2048;
    serde_urlencoded::from_str::<LanguageQuery>(req.query_string())
        .unwrap_or_default()
        .next
        .filter(|next| next.len() <= MAX && is_local_path(next))
        .unwrap_or_else(|| "/".to_owned())
}

pub async fn choose(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let lang = Lang::from_code(&path.into_inner()).ok_or(PageError::NotFound)?;
    let cookie = Cookie::build(COOKIE, lang.code())
        .path("/")
        .max_age(Duration::days(COOKIE_MAX_AGE_DAYS))
        .same_site(SameSite::Lax)
        .secure(state.site.secure_cookies)
        .finish();
    let mut resp = HttpResponse::SeeOther()
        .insert_header((LOCATION, local_next(&req)))
        .cookie(cookie)
        .finish();
    no_store(&mut resp);
    Ok(resp)
}
