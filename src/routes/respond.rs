//! Building responses: pages, redirects, participant notices.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, LOCATION, RETRY_AFTER, VARY};
use askama::Template;

use super::PageError;
use crate::domain::RoomName;
use crate::i18n::Tr;
use crate::notice::Notice;

#[derive(Template)]
#[template(path = "notice.html")]
pub(super) struct NoticePage<'a> {
    pub tr: &'a Tr,
    pub title: &'a str,
    pub message: &'a str,
    pub action_href: Option<&'a str>,
    pub action_label: &'a str,
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

pub fn render(page: impl Template) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError::Unexpected(anyhow::Error::new(e).context("rendering a page")))?;
    let mut resp = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body);
    no_store(&mut resp);
    vary_by_language(&mut resp);
    Ok(resp)
}

/// The page for a notice, with its status and, when waiting helps, `Retry-After`.
pub fn notice_page(tr: &Tr, room: &RoomName, notice: Notice) -> Result<HttpResponse, PageError> {
    let (href, label) = match notice {
        Notice::Unavailable => (format!("/rooms/{room}/verify"), tr.t("action-try-again")),
        _ => (format!("/rooms/{room}"), tr.t("action-start-again")),
    };
    let mut resp = render(NoticePage {
        tr,
        title: &notice.title(tr),
        message: &notice.message(tr),
        action_href: Some(&href),
        action_label: &label,
    })?;
    *resp.status_mut() = notice.status();
    if let Some(secs) = notice.retry_after() {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(resp)
}

/// Pages of the sign-in flow carry session-specific tokens: never cache them.
pub fn no_store(resp: &mut HttpResponse) {
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Pages are in the language of `Accept-Language` or of the language menu's cookie.
pub fn vary_by_language(resp: &mut HttpResponse) {
    resp.headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Language, Cookie"));
}
