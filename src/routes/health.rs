//! `/healthz` (the process answers) and the public `/readyz` (it can serve: the
//! ACL, the store).

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// Liveness: the process answers, and nothing in it needs a restart. The embedded
/// store stops writing for good when a commit fails (a full disk, say): only a
/// restart, which reads it back from disk, mends that, so a supervisor's liveness
/// check is told. (`/readyz` fails too, as for any store failure.)
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if let Some(why) = state.store.broken() {
        tracing::error!(name: crate::telemetry::REPEATABLE, problem = %why, "not alive: the embedded store needs a restart");
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("the store needs a restart");
    }
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
