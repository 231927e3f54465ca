//! The admin listener: `GET /metrics` and the detailed `GET /readyz`, bound to
//! `ROOMGATE_ADMIN_ADDR` (`127.0.0.1:9090` by default), never the public address:
//! nothing here is authenticated. It answers only requests addressed to an IP
//! address, `localhost` or a name in `ROOMGATE_ADMIN_HOSTS`: a web page the operator
//! opens could otherwise rebind its own name to this machine and read it (DNS
//! rebinding).

use std::io;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::metrics::{CONTENT_TYPE, Metrics};

/// The admin server: `GET /metrics` and `GET /readyz` on `listener`, which the caller
/// binds to the admin address (never the public one: nothing here is authenticated).
///
/// `ready` is called on every `/readyz`: `(true, _)` answers `200 ready`, `(false,
/// reason)` answers `503` with `reason`. It runs on the server's thread, so it must
/// be quick and must not block; the reason is shown to whoever can reach the admin
/// address, so it must hold nothing secret.
pub fn admin_server<R>(
    listener: TcpListener,
    metrics: Metrics,
    hosts: Vec<String>,
    ready: R,
) -> io::Result<Server>
where
    R: Fn() -> (bool, String) + Send + Sync + Clone + 'static,
{
    let hosts = std::sync::Arc::new(hosts);
    let server = HttpServer::new(move || {
        let ready = ready.clone();
        let hosts = hosts.clone();
        App::new()
            .wrap(actix_web::middleware::from_fn(
                move |req: actix_web::dev::ServiceRequest,
                      next: actix_web::middleware::Next<_>| {
                    let allowed = addressed_to_us(req.headers().get(header::HOST), &hosts);
                    async move {
                        if allowed {
                            next.call(req).await.map(|res| res.map_into_left_body())
                        } else {
                            let res = HttpResponse::MisdirectedRequest()
                                .content_type("text/plain; charset=utf-8")
                                .body("ask by IP address or localhost, or list this name in ROOMGATE_ADMIN_HOSTS");
                            Ok(req.into_response(res).map_into_right_body())
                        }
                    }
                },
            ))
            .app_data(web::Data::new(metrics.clone()))
            // Resources rather than `App::route`, whose method guard would make any other
            // method a 404 instead of a 405.
            .service(web::resource("/metrics").route(crate::routes::get().to(serve_metrics)))
            .service(
                web::resource("/readyz").route(crate::routes::get().to(move || {
                    let ready = ready.clone();
                    async move { readyz(ready()) }
                })),
            )
    })
    // Scrapes and probes come a few times a minute; more workers would only hold
    // threads and memory.
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Whether a request's `Host` is one this listener answers to: an IP address,
/// `localhost`, or one of `hosts` (a port, and a trailing dot, aside). A request with
/// no `Host` (HTTP/1.0) comes from no browser, so from no rebinding.
fn addressed_to_us(host: Option<&header::HeaderValue>, hosts: &[String]) -> bool {
    let Some(host) = host else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // `[::1]:9090`: an IPv6 address, perhaps with a zone (`[fe80::1%25eth0]`, as
        // a scraper of a link-local address writes it).
        Some(rest) => {
            return rest.split_once(']').is_some_and(|(ip, _)| {
                let ip = ip.split_once('%').map_or(ip, |(ip, _zone)| ip);
                ip.parse::<std::net::Ipv6Addr>().is_ok()
            });
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok() || name == "localhost" || hosts.contains(&name)
}

async fn serve_metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics.encode())
}

fn readyz((is_ready, reason): (bool, String)) -> HttpResponse {
    let mut response = if is_ready {
        HttpResponse::Ok()
    } else {
        HttpResponse::ServiceUnavailable()
    };
    response
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(if is_ready { "ready".to_owned() } else { reason })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::tests::parse_openmetrics;

    #[tokio::test]
    async fn admin_server_serves_metrics_and_readiness() {
        use std::sync::atomic::{AtomicBool, Ordering};

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let metrics = Metrics::new();
        let is_ready = Arc::new(AtomicBool::new(false));
        let flag = is_ready.clone();
        let server = admin_server(listener, metrics.clone(), Vec::new(), move || {
            if flag.load(Ordering::SeqCst) {
                (true, String::new())
            } else {
                (false, "ACL not loaded yet".to_owned())
            }
        })
        .expect("server");
        let handle = server.handle();
        tokio::spawn(server);

        metrics.verification_started();
        metrics.verification_started();
        let client = reqwest::Client::new();
        let response = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("GET /metrics");
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            CONTENT_TYPE
        );
        let body = response.text().await.expect("body");
        parse_openmetrics(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
        assert!(
            body.contains("\nroomgate_verifications_started_total 2\n"),
            "{body}"
        );

        let response = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("GET /readyz");
        assert_eq!(response.status(), 503);
        assert_eq!(response.text().await.expect("body"), "ACL not loaded yet");

        is_ready.store(true, Ordering::SeqCst);
        let response = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("GET /readyz");
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ready");

        // Only the two admin routes, and only for reading.
        let status = |r: reqwest::Response| r.status().as_u16();
        let not_found = client.get(format!("{base}/healthz")).send().await;
        assert_eq!(not_found.map(status).expect("GET /healthz"), 404);
        let post = client.post(format!("{base}/metrics")).send().await;
        assert_eq!(post.map(status).expect("POST /metrics"), 405);

        handle.stop(true).await;
    }

    /// A page the operator opens can rebind its own name to this machine and then
    /// read it as same-origin: refused, by the `Host` it must send. IP addresses,
    /// `localhost` and the names listed are answered.
    #[tokio::test]
    async fn only_ip_addresses_localhost_and_listed_names_are_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = admin_server(
            listener,
            Metrics::new(),
            vec!["metrics.internal".to_owned(), "roomgate_app".to_owned()],
            || (true, String::new()),
        )
        .expect("server");
        let handle = server.handle();
        tokio::spawn(server);
        let client = reqwest::Client::new();
        for (host, status) in [
            (None, 200),
            (Some("127.0.0.1:9090"), 200),
            (Some("10.1.2.3"), 200),
            (Some("localhost:9090"), 200),
            (Some("LocalHost."), 200),
            (Some("[::1]:9090"), 200),
            (Some("[fe80::1%25eth0]:9090"), 200),
            (Some("metrics.internal:9090"), 200),
            (Some("Metrics.Internal."), 200),
            (Some("roomgate_app:9090"), 200),
            (Some("evil.example"), 421),
            (Some("evil.example:9090"), 421),
            (Some("localhost.evil.example"), 421),
            (Some("metrics.internal.evil.example"), 421),
            (Some("[not-an-address]:9090"), 421),
        ] {
            for path in ["/metrics", "/readyz"] {
                let mut req = client.get(format!("{base}{path}"));
                if let Some(host) = host {
                    req = req.header(reqwest::header::HOST, host);
                }
                let got = req.send().await.expect("GET").status().as_u16();
                assert_eq!(got, status, "{path} with Host {host:?}");
            }
        }
        handle.stop(true).await;
    }
}
