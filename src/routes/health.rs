//! `/healthz` (the process answers) and the public `/readyz` (it can serve: the
//! ACL, the store).

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// Readiness: configuration is complete (or we wouldn't be running), the store
/// answers, and the ACL in service is what the file says ([`crate::readiness`]). The
/// public answer names no ACL detail; the admin listener's `/readyz` gives the error
/// itself.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness().check() {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready"),
        Err(not_ready) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body(not_ready.public()),
    }
}
