//! A room's recordings, for its hosts: `GET /rooms/{room}/recordings` lists them, and
//! `POST /rooms/{room}/recordings/{id}/play` or `…/download` (CSRF header) answers a
//! link valid for seconds, which the page opens at once. A link never appears in a
//! page's HTML or in a log; each one issued is audited.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use secrecy::ExposeSecret;
use serde_json::json;

use super::PageError;
use super::extract::{CsrfHeader, Member, Refused};
use super::recording;
use super::respond::{NoticePage, no_store, render, see_other};
use crate::client_ip::ClientIp;
use crate::domain::RoomName;
use crate::i18n::Tr;
use crate::recordings::catalog::{Recording, State};
use crate::recordings::library::{
    LibraryError, Purpose, Requester, duration_text, ended_text, size_text,
};
use crate::session::TypedSession;
use crate::state::AppState;

/// One row of the table, in the page's language.
struct Row {
    id: String,
    ended: String,
    duration: String,
    size: String,
    state: String,
    /// Why it failed, in English (as Twilio and the storage said it): after the
    /// sentence in the page's language, for whoever looks into it.
    detail: Option<String>,
    stored: bool,
}

#[derive(Template)]
#[template(path = "recordings.html")]
struct RecordingsPage<'a> {
    tr: &'a Tr,
    room: &'a str,
    csrf_token: &'a str,
    rows: Vec<Row>,
    link_secs: u64,
}

fn row(tr: &Tr, rec: &Recording) -> Row {
    let (state, detail) = match rec.state() {
        State::Processing => (tr.t("recordings-processing"), None),
        State::Stored => (tr.t("recordings-stored"), None),
        State::Failed(Some(failure), detail) => (tr.t(failure.message()), Some(detail)),
        // Failed before the kinds were kept: the detail is all there is.
        State::Failed(None, reason) => {
            (tr.t1("recordings-failed", "reason", reason.as_str()), None)
        }
    };
    Row {
        id: rec.id.clone(),
        ended: ended_text(rec),
        duration: rec.duration_secs.map(duration_text).unwrap_or_default(),
        size: rec.size.map(size_text).unwrap_or_default(),
        state,
        detail,
        stored: rec.is_stored(),
    }
}

/// A host of this room, or the page that says why not. A visitor who isn't signed in
/// anywhere is sent to sign in; anyone signed in without a say here (a participant, a
/// host of another room) gets 403.
async fn host_of_room(req: &HttpRequest, tr: &Tr) -> Result<Member, HttpResponse> {
    match recording::member(req).await {
        Ok(member) if member.is_host => Ok(member),
        Err(refused) if refused.status() == StatusCode::UNAUTHORIZED => {
            let room = req.match_info().get("room").unwrap_or_default();
            Err(see_other(&format!("/rooms/{room}")))
        }
        Err(refused) if refused.status() != StatusCode::FORBIDDEN => Err(refused),
        _ => {
            let room = RoomName::parse(req.match_info().get("room").unwrap_or_default()).ok();
            Err(refusal_page(tr, StatusCode::FORBIDDEN, room.as_ref()))
        }
    }
}

/// Why the recordings can't be shown, with the way back to `room`'s page (where a
/// participant still is).
fn refusal_page(tr: &Tr, status: StatusCode, room: Option<&RoomName>) -> HttpResponse {
    let message = if status == StatusCode::SERVICE_UNAVAILABLE {
        tr.t("recordings-busy")
    } else {
        tr.t("recordings-only-hosts")
    };
    let back = room.map(|room| format!("/rooms/{room}"));
    let page = render(NoticePage {
        tr,
        title: &tr.t("recordings-heading"),
        message: &message,
        action_href: back.as_deref(),
        action_label: &tr.t("recordings-back"),
    });
    let mut resp = page.unwrap_or_else(|e| e.error_response());
    *resp.status_mut() = status;
    resp
}

fn json_reply(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    let mut resp = HttpResponse::build(status).json(body);
    no_store(&mut resp);
    resp
}

/// `GET /rooms/{room}/recordings`.
pub async fn list(
    req: HttpRequest,
    tr: Tr,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let member = match host_of_room(&req, &tr).await {
        Ok(member) => member,
        Err(resp) => return Ok(resp),
    };
    let csrf_token = session.csrf_token().map_err(anyhow::Error::from)?;
    let recordings = match state.library.list(Some(&member.room)).await {
        Ok(recordings) => recordings,
        Err(e) => {
            tracing::warn!(error = %e, "recordings not listed: the store is unavailable");
            let mut resp = refusal_page(&tr, StatusCode::SERVICE_UNAVAILABLE, Some(&member.room));
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(10));
            return Ok(resp);
        }
    };
    render(RecordingsPage {
        tr: &tr,
        room: member.room.as_str(),
        csrf_token: &csrf_token,
        rows: recordings.iter().map(|r| row(&tr, r)).collect(),
        link_secs: state.library.link_ttl().as_secs(),
    })
}

/// `POST /rooms/{room}/recordings/{id}/play`.
pub async fn play(
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> HttpResponse {
    link(&req, ip, &state, Purpose::Play).await
}

/// `POST /rooms/{room}/recordings/{id}/download`.
pub async fn download(
    req: HttpRequest,
    ClientIp(ip): ClientIp,
    state: web::Data<AppState>,
) -> HttpResponse {
    link(&req, ip, &state, Purpose::Download).await
}

async fn link(
    req: &HttpRequest,
    ip: std::net::IpAddr,
    state: &AppState,
    purpose: Purpose,
) -> HttpResponse {
    let member = match recording::member(req).await {
        Ok(member) => member,
        Err(refused) => return refused,
    };
    if let Err(refused) = CsrfHeader::of(req) {
        return refused.error_response();
    }
    if !member.is_host {
        return Refused::NotHost.error_response();
    }
    let library = &state.library;
    let id = req.match_info().get("id").unwrap_or_default();
    let room: &RoomName = &member.room;
    let by = Requester::host(&member.grant.username, Some(ip));
    let result = match library.find(id, Some(room)).await {
        Ok(rec) => library.link(&rec, purpose, &by).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(url) => json_reply(
            StatusCode::OK,
            json!({
                "url": url.expose_secret(),
                "expires_in": library.link_ttl().as_secs(),
            }),
        ),
        Err(LibraryError::NotFound) => {
            json_reply(StatusCode::NOT_FOUND, json!({ "error": "not_found" }))
        }
        Err(LibraryError::NotStored) => {
            json_reply(StatusCode::CONFLICT, json!({ "error": "not_stored" }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "recording link not issued");
            let mut resp = json_reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "error": "recordings_unavailable" }),
            );
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(10));
            resp
        }
    }
}
