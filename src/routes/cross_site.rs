//! Refuse POSTs that another site's page sent, on top of the CSRF token: a browser
//! names the sending page's origin in `Origin` and says `Sec-Fetch-Site: cross-site`.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web;

use super::PageError;
use crate::client_ip::TrustedProxies;
use crate::i18n::Tr;
use crate::state::AppState;
use crate::telemetry::REPEATABLE;

pub async fn refuse_cross_site_posts(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if req.method() == Method::POST && is_cross_site(&req) {
        tracing::info!(name: REPEATABLE, path = req.path(), "cross-site POST refused");
        // A script's request (it asks for JSON, or sends it) gets JSON, as its other
        // refusals are; a form's gets the page.
        let resp = if wants_json(&req) {
            super::token::json_error(actix_web::http::StatusCode::FORBIDDEN, "cross_site")
        } else {
            PageError::CrossSite.page(&Tr::of_request(req.request()))
        };
        return Ok(req.into_response(resp).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn wants_json(req: &ServiceRequest) -> bool {
    let says_json = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("application/json"))
    };
    says_json(header::ACCEPT) || says_json(header::CONTENT_TYPE)
}

pub(super) fn is_cross_site(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) else {
        // Not a browser, or an old one: the CSRF token alone decides.
        return false;
    };
    // `null` comes from sandboxed frames, data: URLs and the like: never our pages,
    // which are served with `Referrer-Policy: same-origin`.
    let origin = origin.trim_end_matches('/');
    let public = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.site.public_origin.as_str());
    let own = own_origin(req);
    !(Some(origin) == public || own.is_some_and(|own| origin.eq_ignore_ascii_case(&own)))
}

/// The origin this request was sent to. Through one of our proxies, as it forwards it
/// (`Forwarded`, `X-Forwarded-Host`, `X-Forwarded-Proto`); from anyone else, its `Host`
/// over plain HTTP (roomgate serves no TLS itself): a client's own forwarding headers
/// would let it name any origin as ours.
fn own_origin(req: &ServiceRequest) -> Option<String> {
    let via_proxy = req.peer_addr().is_some_and(|peer| {
        req.app_data::<web::Data<TrustedProxies>>()
            .is_some_and(|proxies| proxies.trusts(peer.ip()))
    });
    if via_proxy {
        let info = req.connection_info();
        return Some(format!("{}://{}", info.scheme(), info.host()));
    }
    let host = req.headers().get(header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}"))
}
