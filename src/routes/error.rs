//! Errors as participants see them: every error page in their language, and no
//! internal detail in any of them.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::ALLOW;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::respond::{NoticePage, html_page};
use crate::i18n::{Lang, Tr};

/// Failures of a page request that end it early. `Debug` walks the cause chain for
/// the logs; the participant sees a short generic page, in their language (see
/// [`translate_error_pages`]).
#[derive(thiserror::Error)]
pub enum PageError {
    #[error("the CSRF token is missing or wrong")]
    Csrf,
    #[error("a cross-site request")]
    CrossSite,
    #[error("not found")]
    NotFound,
    /// A path opened with a method it doesn't take (`GET /logout`, say): its
    /// resource's `405` and `Allow`, as a page.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A recording link that is altered, expired or not a link at all.
    #[error("a recording link was refused")]
    LinkRefused,
    /// A form or query string that can't be read: malformed, too large, or of another
    /// content type. Only a page that was tampered with sends one, so it gets the
    /// expired form's page, with the status actix's extractor chose (400, 413, 415)
    /// and none of its words.
    #[error("an unreadable form or query string ({0})")]
    Unreadable(StatusCode),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            writeln!(f, "caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl PageError {
    /// The participant's page for this error, in `tr`'s language.
    pub fn page(&self, tr: &Tr) -> HttpResponse {
        let (title, message) = match self {
            // Not what our forms send (another content type, or more than a form
            // holds): the page can't have come from us, so "expired" would mislead.
            Self::Unreadable(
                StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ) => (tr.t("error-unreadable-title"), tr.t("error-unreadable")),
            Self::Csrf | Self::CrossSite | Self::Unreadable(_) => {
                (tr.t("error-form-expired-title"), tr.t("error-form-expired"))
            }
            Self::NotFound => (tr.t("error-not-found-title"), tr.t("error-not-found")),
            Self::MethodNotAllowed => (tr.t("error-method-title"), tr.t("error-method")),
            Self::LinkRefused => (tr.t("error-link-refused-title"), tr.t("error-link-refused")),
            Self::Unexpected(_) => (tr.t("error-unexpected-title"), tr.t("error-unexpected")),
        };
        let page = NoticePage {
            tr,
            title: &title,
            message: &message,
            action_href: Some("/"),
            action_label: &tr.t("action-back-to-start"),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{title}. {message}"));
        html_page(self.status_code(), body)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Csrf | Self::CrossSite | Self::LinkRefused => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unreadable(status) => *status,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The English page; [`translate_error_pages`] swaps it for the participant's
    /// language, which needs the request.
    fn error_response(&self) -> HttpResponse {
        if let Self::Unexpected(_) = self {
            tracing::error!(error = ?self, "request failed");
        }
        self.page(&Tr::new(Lang::En))
    }
}

/// Error pages in the participant's language: a handler's [`PageError`] page is
/// rendered again with the request's translator, and a resource's bare `405` (an empty
/// body: a blank page in a browser) becomes a page, its `Allow` kept.
pub async fn translate_error_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let tr = || Tr::of_request(res.request());
    let translated = match res.response().error() {
        Some(e) => e.as_error::<PageError>().map(|page| page.page(&tr())),
        None if res.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let mut page = PageError::MethodNotAllowed.page(&tr());
            if let Some(allow) = res.headers().get(ALLOW) {
                page.headers_mut().insert(ALLOW, allow.clone());
            }
            Some(page)
        }
        None => None,
    };
    Ok(match translated {
        Some(page) => res.into_response(page).map_into_right_body(),
        None => res.map_into_left_body(),
    })
}

/// Form and query-string extractors answer with [`PageError::Unreadable`] rather than
/// actix's plain-text errors, which quote serde.
pub fn unreadable_form(
    err: actix_web::error::UrlencodedError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    PageError::Unreadable(err.status_code()).into()
}

pub fn unreadable_query(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    PageError::Unreadable(err.status_code()).into()
}
