use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// Failures of a page request that end it early. `Debug` walks the cause chain for
/// the logs; the participant sees a short generic page.
#[derive(thiserror::Error)]
pub enum PageError {
    #[error("the CSRF token is missing or wrong")]
    Csrf,
    #[error("a cross-site request")]
    CrossSite,
    #[error("not found")]
    NotFound,
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

#[derive(Template)]
#[template(path = "notice.html")]
struct ErrorPage {
    title: &'static str,
    message: &'static str,
    action_href: Option<&'static str>,
    action_label: &'static str,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Csrf | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (title, message) = match self {
            Self::Csrf | Self::CrossSite => (
                "This form has expired",
                "For your security this form can only be sent from the page that showed it. Go back, reload the page and try again.",
            ),
            Self::NotFound => ("Page not found", "There is no page at this address."),
            Self::Unexpected(_) => {
                tracing::error!(error = ?self, "request failed");
                ("Something went wrong", "Please try again in a moment.")
            }
        };
        let page = ErrorPage {
            title,
            message,
            action_href: Some("/"),
            action_label: "Back to the start",
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{title}. {message}"));
        let mut resp = HttpResponse::build(self.status_code()).body(body);
        let headers = resp.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}
