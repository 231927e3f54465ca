//! Building responses: pages, redirects, participant notices.

use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, LOCATION, RETRY_AFTER};
use askama::Template;

use super::PageError;
use crate::domain::RoomName;
use crate::notice::Notice;

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    title: &'a str,
    message: &'a str,
    action_href: Option<&'a str>,
    action_label: &'a str,
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
    Ok(resp)
}

/// The page for a notice, with its status and, when waiting helps, `Retry-After`.
pub fn notice_page(room: &RoomName, notice: Notice) -> Result<HttpResponse, PageError> {
    let (href, label) = match notice {
        Notice::Unavailable => (format!("/rooms/{room}/verify"), "Try again"),
        _ => (format!("/rooms/{room}"), "Start again"),
    };
    let mut resp = render(NoticePage {
        title: notice.title(),
        message: &notice.message(),
        action_href: Some(&href),
        action_label: label,
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
