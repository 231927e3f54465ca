use actix_web::{HttpResponse, web};

use super::respond::see_other;
use super::{CsrfForm, PageError};
use crate::session::TypedSession;
use crate::state::AppState;

pub async fn logout(
    form: web::Form<CsrfForm>,
    session: TypedSession,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !session.csrf_matches(form.csrf_token.as_deref()) {
        return Err(PageError::Csrf);
    }
    if let Some(id) = session.pending() {
        state.signins.remove(&id);
    }
    if let Some(grant) = session.grant() {
        tracing::info!(user = %state.pseudonyms.of(grant.username.as_str()), room = %grant.room, "signed out");
    }
    session.end().await;
    Ok(see_other("/"))
}
