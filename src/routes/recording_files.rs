//! `GET /recordings/files/{key}`: a recording's file from the data directory, for
//! a link roomgate signed and that has not expired (the embedded storage's only
//! door; with a bucket, links go to the bucket and this route answers 404).
//!
//! Altered, expired and unsigned requests get the same 403, whatever was wrong. The
//! file is streamed (ranges too, for seeking), never read whole into memory. The
//! link is a bearer secret: nothing here logs the query string.

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::recordings::storage::local::LinkQuery;
use crate::routes::PageError;
use crate::state::AppState;

pub async fn file(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let Some(files) = state.recording_files.as_ref() else {
        return Err(PageError::NotFound);
    };
    let key = req.match_info().get("key").unwrap_or_default();
    let query: LinkQuery =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| PageError::LinkRefused)?;
    let disposition = files.verify(key, &query).map_err(|why| {
        tracing::debug!(reason = ?why, "a recording link was refused");
        PageError::LinkRefused
    })?;
    let path = files.file_path(key).map_err(|_| PageError::LinkRefused)?;
    let file = match NamedFile::open_async(&path).await {
        Ok(file) => file,
        // Signed, but deleted since (retention, `recordings delete`).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PageError::NotFound),
        Err(e) => {
            return Err(PageError::Unexpected(
                anyhow::Error::new(e).context("opening a recording's file"),
            ));
        }
    };
    let mut response = file
        .disable_content_disposition()
        .use_last_modified(false)
        .into_response(&req);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&disposition.header_value()) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The link must not leave in a Referer if the file is a page that links out.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
