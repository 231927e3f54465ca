use actix_web::{HttpResponse, web};

use crate::acl::AclStatus;
use crate::state::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// Readiness: configuration is complete (or we wouldn't be running), the store
/// answers, and the ACL in service is what the file says. The public answer names no ACL detail; the admin
/// listener's `/readyz` gives the error itself.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.store_health.problem().is_some() {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "not ready: the {} store is unavailable",
                state.store.backend()
            ));
    }
    match state.acl.status() {
        AclStatus::Fresh => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ready"),
        AclStatus::Stale { .. } => HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body("not ready: the ACL file was rejected; the last good list is in service"),
    }
}
