//! Signing out: the session cookie, and every copy of it, stops working.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpResponse, web};
use askama::Template;

use super::extract::CheckedForm;
use super::respond::{NoticePage, html_page, see_other};
use super::{CsrfForm, PageError};
use crate::i18n::Tr;
use crate::state::AppState;

pub async fn logout(
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
    tr: Tr,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    // A pending sign-in is left to end with its window (see `signin::pending`): logging
    // out doesn't take back the codes already checked against the name.
    let grant = session.grant();
    if let Some(grant) = &grant {
        tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), room = %grant.room, "signed out");
    }
    // Unrecorded, a copy of the cookie would still work: the session stays as it
    // was and the participant is asked to try again.
    if let Err(e) = session.end().await {
        tracing::error!(error = %e, "logout not recorded: the store is unavailable");
        state.metrics.store_refusal();
        // A page, with the way back to where to sign out again from: the session's
        // room page (or the start).
        let back = grant.map_or_else(|| "/".to_owned(), |g| format!("/rooms/{}", g.room));
        let body = NoticePage {
            tr: &tr,
            title: &tr.t("notice-busy-title"),
            message: &tr.t("logout-unavailable"),
            action_href: Some(&back),
            action_label: &tr.t("action-try-again"),
        }
        .render()
        .map_err(|e| PageError::Unexpected(anyhow::Error::new(e).context("the logout page")))?;
        let mut resp = html_page(StatusCode::SERVICE_UNAVAILABLE, body);
        resp.headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(5u32));
        return Ok(resp);
    }
    Ok(see_other("/"))
}
