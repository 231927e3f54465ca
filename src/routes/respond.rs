//! Building responses: pages, redirects, participant notices.

use std::cell::RefCell;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, HeaderValue, LOCATION, RETRY_AFTER, VARY};
use askama::Template;
use bytes::Bytes;

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

/// Where a notice page's button goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Back {
    /// The join form ("Start again"); the code page ("Try again") for `Unavailable`.
    Start,
    /// The code page, whose sign-in still stands ("Back to the code"): a new code or a
    /// call asked for from it and refused (the cooldown, a limit, a spent budget)
    /// leaves the code already sent working. A lockout goes to the join form still.
    Code,
}

/// The page for a notice, with its status and, when waiting helps, `Retry-After`.
pub fn notice_page(tr: &Tr, room: &RoomName, notice: Notice) -> Result<HttpResponse, PageError> {
    notice_page_back(tr, room, notice, Back::Start)
}

/// [`notice_page`], its button going `back` where that fits the notice.
pub fn notice_page_back(
    tr: &Tr,
    room: &RoomName,
    notice: Notice,
    back: Back,
) -> Result<HttpResponse, PageError> {
    let back = match notice {
        Notice::LockedOut { .. } => Back::Start,
        _ => back,
    };
    let body = notice_body(tr, room, notice, back)?;
    let mut resp = html_page(notice.status(), body);
    if let Some(secs) = notice.retry_after() {
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Ok(resp)
}

/// How many notice pages each worker thread keeps rendered.
const NOTICE_PAGES_KEPT: usize = 16;

/// A notice page as rendered, and what it was rendered from.
struct KeptNotice {
    tr: Tr,
    room: RoomName,
    notice: Notice,
    back: Back,
    body: Bytes,
}

thread_local! {
    /// The last notice pages this worker rendered, replaced in turn. A flood of refused
    /// requests asks for the same page over and over (the same notice, room and
    /// language; the wait in it changes once a second), and rendering it (the catalog
    /// lookups and the template) was a third of a refusal's own work. Per thread, so
    /// a hit takes no lock and allocates nothing; the page holds no session data
    /// (its tokens are in other pages), so sharing it between requests reveals nothing.
    static NOTICE_PAGES: RefCell<(usize, Vec<KeptNotice>)> = const { RefCell::new((0, Vec::new())) };
}

/// The notice page's body: kept from an earlier request when it would be the same
/// bytes (same notice, wait included, room, language and language-menu links).
fn notice_body(tr: &Tr, room: &RoomName, notice: Notice, back: Back) -> Result<Bytes, PageError> {
    let kept = NOTICE_PAGES.with_borrow(|(_, pages)| {
        pages
            .iter()
            .find(|p| {
                p.notice == notice && p.back == back && p.room == *room && p.tr.renders_like(tr)
            })
            .map(|p| p.body.clone())
    });
    if let Some(body) = kept {
        return Ok(body);
    }
    let (href, label) = match (notice, back) {
        (_, Back::Code) => (format!("/rooms/{room}/verify"), tr.t("action-back-to-code")),
        (Notice::Unavailable, Back::Start) => {
            (format!("/rooms/{room}/verify"), tr.t("action-try-again"))
        }
        (_, Back::Start) => (format!("/rooms/{room}"), tr.t("action-start-again")),
    };
    let body = Bytes::from(
        NoticePage {
            tr,
            title: &notice.title(tr),
            message: &match back {
                Back::Code => notice.resend_message(tr),
                Back::Start => notice.message(tr),
            },
            action_href: Some(&href),
            action_label: &label,
        }
        .render()
        .map_err(|e| {
            PageError::Unexpected(anyhow::Error::new(e).context("rendering a notice page"))
        })?,
    );
    NOTICE_PAGES.with_borrow_mut(|(next, pages)| {
        let page = KeptNotice {
            tr: tr.clone(),
            room: room.clone(),
            notice,
            back,
            body: body.clone(),
        };
        if pages.len() < NOTICE_PAGES_KEPT {
            pages.push(page);
        } else {
            pages[*next] = page;
            *next = (*next + 1) % NOTICE_PAGES_KEPT;
        }
    });
    Ok(body)
}

/// An HTML page answered with `status`: never cached, varying with the language.
pub fn html_page(status: StatusCode, body: impl Into<Bytes>) -> HttpResponse {
    let mut resp = HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body.into());
    no_store(&mut resp);
    vary_by_language(&mut resp);
    resp
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn body(tr: &Tr, room: &str, notice: Notice) -> Bytes {
        notice_body(tr, &RoomName::parse(room).unwrap(), notice, Back::Start).unwrap()
    }

    #[test]
    fn a_kept_notice_page_is_reused_only_for_the_same_page() {
        let (en, fr) = (Tr::new(Lang::En), Tr::new(Lang::Fr));
        let wait_45 = Notice::Limited { retry_after: 45 };
        let first = body(&en, "standup", wait_45);
        let again = body(&en, "standup", wait_45);
        assert_eq!(first, again);
        assert_eq!(first.as_ptr(), again.as_ptr(), "rendered once, kept");
        let text = std::str::from_utf8(&first).unwrap();
        assert!(text.contains("in 45 seconds") && text.contains(r#"href="/rooms/standup""#));

        // Anything that changes the page is another page: the wait, the room, the
        // language, the notice, the language menu's way back.
        let wait_44 = body(&en, "standup", Notice::Limited { retry_after: 44 });
        assert!(
            std::str::from_utf8(&wait_44)
                .unwrap()
                .contains("in 44 seconds")
        );
        let other_room = body(&en, "retro", wait_45);
        assert!(
            std::str::from_utf8(&other_room)
                .unwrap()
                .contains(r#"href="/rooms/retro""#)
        );
        let french = body(&fr, "standup", wait_45);
        assert!(
            std::str::from_utf8(&french)
                .unwrap()
                .contains("dans 45 secondes")
        );
        let locked = body(&en, "standup", Notice::LockedOut { retry_after: 45 });
        let elsewhere = body(&en.clone().at("/rooms/retro"), "standup", wait_45);
        let room = RoomName::parse("standup").unwrap();
        let to_code = notice_body(&en, &room, wait_45, Back::Code).unwrap();
        let to_code_text = std::str::from_utf8(&to_code).unwrap();
        assert!(to_code_text.contains(r#"href="/rooms/standup/verify""#));
        // From the code page, a limit is the wait before the next code, not "too many
        // attempts".
        assert!(
            to_code_text.contains("A new code can be sent in 45 seconds."),
            "{to_code_text}"
        );
        assert!(!to_code_text.contains("too many attempts"));
        for other in [
            &wait_44,
            &other_room,
            &french,
            &locked,
            &elsewhere,
            &to_code,
        ] {
            assert_ne!(&first, other);
        }
        // Each as if rendered afresh, however many pages came in between.
        for n in 0..(2 * NOTICE_PAGES_KEPT as u64) {
            body(
                &en,
                "standup",
                Notice::Limited {
                    retry_after: 100 + n,
                },
            );
        }
        assert_eq!(body(&en, "standup", wait_45), first);
        assert_eq!(body(&fr, "standup", wait_45), french);
    }
}
