use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn healthz_is_ok() {
    let app = spawn_app().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
}

/// A store only a restart mends (the embedded store after a failed commit, a full
/// disk say) makes the process not alive, so a supervisor restarts it; it said "ok"
/// for good while every sign-in was refused.
#[tokio::test]
async fn healthz_fails_when_the_store_needs_a_restart() {
    let store = std::sync::Arc::new(roomgate::store::memory::MemoryStore::new());
    let overrides = roomgate::startup::Overrides {
        store: Some(store.clone()),
        ..Default::default()
    };
    let app = spawn_app_with(&[], overrides).await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    store.break_for_good("writing: No space left on device");
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = resp.text().await.unwrap();
    assert_eq!(body, "the store needs a restart");
}

#[tokio::test]
async fn home_is_a_room_form_that_lists_nobody() {
    let app = spawn_app().await;
    let resp = app.get_home().await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"action="/rooms""#));
    for secret in ["alice", "bob", "standup", "all-hands", "0101"] {
        assert!(!html.contains(secret), "home page mentions {secret}");
    }
}

#[tokio::test]
async fn the_home_form_goes_to_the_room() {
    let app = spawn_app().await;
    assert_is_redirect_to(
        &app.get("/rooms?room=%20Standup%20").await,
        "/rooms/standup",
    );
    let bad = app.get("/rooms?room=..%2Fetc").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Room names use lowercase letters")
    );
    // `/rooms` itself: back to the form, no error.
    for bare in ["/rooms", "/rooms/"] {
        assert_is_redirect_to(&app.get(bare).await, "/");
    }
    // The form sent with nothing in it: said so, at the field, in the title too.
    for empty in ["/rooms?room=", "/rooms?room=%20"] {
        let resp = app.get(empty).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{empty}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("Type the name of the room from your invitation."),
            "{html}"
        );
        assert!(html.contains(r#"aria-invalid="true""#), "{html}");
        assert!(html.contains("<title>Error: "), "{html}");
    }
    // With the trailing slash, as without.
    assert_is_redirect_to(&app.get("/rooms/?room=standup").await, "/rooms/standup");
}

#[tokio::test]
async fn invalid_room_names_are_404_everywhere() {
    let app = spawn_app().await;
    for path in ["/rooms/Bad_Room", "/rooms/a.b/verify"] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        app.post_login_with("Bad_Room", &[("username", "alice")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn sign_in_pages_are_not_cached() {
    let app = spawn_app().await;
    let resp = app.get_room("standup").await;
    assert_eq!(resp.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn the_code_page_without_a_sign_in_goes_back_to_the_join_form() {
    let app = spawn_app().await;
    assert_is_redirect_to(&app.get_verify("standup").await, "/rooms/standup");
}

#[tokio::test]
async fn a_garbage_form_body_is_not_a_500() {
    let app = spawn_app().await;
    app.csrf_token("standup").await;
    let post = |path: &str, content_type: &str, body: String| {
        app.client
            .post(app.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    const FORM: &str = "application/x-www-form-urlencoded";
    let login = "/rooms/standup/login";
    // (It parses, as pairs of nothing: no CSRF token.)
    let resp = post(login, FORM, "%%%&&&===".into()).await.unwrap();
    assert_unreadable_page(resp, StatusCode::FORBIDDEN).await;
    // Another content type, or a form over 4 KiB: not something our page sends, so
    // not "expired" either, with its status.
    let resp = post(login, "text/plain", "username=alice".into())
        .await
        .unwrap();
    assert_not_our_form_page(resp, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let resp = post(login, FORM, format!("username={}", "a".repeat(5000)))
        .await
        .unwrap();
    assert_not_our_form_page(resp, StatusCode::PAYLOAD_TOO_LARGE).await;
    // A query string that can't be read.
    let resp = app.get("/rooms?room=standup&room=other").await;
    assert_unreadable_page(resp, StatusCode::BAD_REQUEST).await;
    let resp = post("/rooms/standup/verify", "application/json", "{}".into())
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "got {}", resp.status());
}

/// Every file of `static/` is served as it is in the tree (from the binary: nothing
/// is read from disk at run time), with its type, and an ETag a browser revalidates
/// with: unchanged, a `304` and no body.
#[tokio::test]
async fn static_assets_are_served_and_revalidated() {
    let app = spawn_app().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    for (file, kind) in [
        ("room.js", "text/javascript"),
        ("host.js", "text/javascript"),
        ("i18n.js", "text/javascript"),
        ("passkeys.js", "text/javascript"),
        ("recordings.js", "text/javascript"),
        ("verify.js", "text/javascript"),
        ("style.css", "text/css"),
        ("favicon.ico", "image/x-icon"),
    ] {
        let path = format!("/static/{file}");
        let resp = app.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}: {:?}",
            headers["content-type"]
        );
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let etag = headers["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let body = resp.bytes().await.unwrap();
        assert_eq!(body, std::fs::read(dir.join(file)).unwrap(), "{path}");
        for asked in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
            let again = app
                .client
                .get(app.url(&path))
                .header("if-none-match", &asked)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path} {asked}");
            assert_eq!(again.headers()["etag"], etag.as_str());
            assert!(again.bytes().await.unwrap().is_empty());
        }
        let other = app
            .client
            .get(app.url(&path))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{path}: another ETag");
    }
}

/// A path under /static that names no file (through a file, with a byte no file name
/// has, too long for one) is the usual translated 404, never a 500 with the system's
/// error in it.
#[tokio::test]
async fn static_paths_that_name_no_file_are_404_not_500() {
    let app = spawn_app().await;
    let long = format!("/static/{}", "a".repeat(300));
    for path in [
        "/static/style.css/x",
        "/static/room.js/..%2F..%2Fx",
        "/static/%00",
        "/static/nope.css",
        long.as_str(),
    ] {
        let resp = app.get(path).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(status.is_client_error(), "{path}: {status} {body}");
        assert!(!body.contains("os error"), "{path}: {body}");
    }
    let resp = app.get("/static/style.css/x").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("<html"));
}

#[tokio::test]
async fn the_favicon_is_served_cached_and_linked_from_every_page() {
    let app = spawn_app().await;
    let resp = app.get("/favicon.ico").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/x-icon");
    assert_eq!(resp.headers()["cache-control"], "public, max-age=86400");
    let icon = resp.bytes().await.unwrap();
    assert_eq!(&icon[..4], [0, 0, 1, 0], "an ICO file");
    for page in ["/", "/rooms/standup"] {
        let html = app.get(page).await.text().await.unwrap();
        assert!(
            html.contains(r#"<link rel="icon" href="/favicon.ico""#),
            "{page}: {html}"
        );
    }
}

#[tokio::test]
async fn a_room_with_capitals_redirects_to_its_lowercase_path() {
    let app = spawn_app().await;
    for (from, to) in [
        ("/rooms/Standup", "/rooms/standup"),
        ("/rooms/STANDUP/verify", "/rooms/standup/verify"),
        (
            "/rooms/All-Hands?lang=fr&x=Y",
            "/rooms/all-hands?lang=fr&x=Y",
        ),
        // Percent-encoded: served as `standup` by the router, but not by the
        // middlewares before it (the flood shedding), so sent to one spelling too.
        ("/rooms/st%61ndup", "/rooms/standup"),
        ("/rooms/%53tandup/verify", "/rooms/standup/verify"),
    ] {
        let resp = app.get(from).await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT, "{from}");
        assert_eq!(resp.headers()["location"], to, "{from}");
    }
    // 308 keeps the method: a POST is sent again, as a POST, to the lowercase path.
    for from in ["/rooms/Standup/login", "/rooms/st%61ndup/login"] {
        let resp = app.post_form(from, &[]).await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT, "{from}");
        assert_eq!(resp.headers()["location"], "/rooms/standup/login");
    }
    assert_eq!(app.get("/rooms/standup").await.status(), StatusCode::OK);
    // Not a valid name even in lowercase: the usual 404.
    for invalid in ["/rooms/Stand_up", "/rooms/-Standup", "/rooms/St%C3%A4ndup"] {
        let resp = app.get(invalid).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{invalid}");
        assert!(resp.text().await.unwrap().contains("<h1>"), "{invalid}");
    }
}

#[tokio::test]
async fn a_get_on_a_post_only_route_is_405_with_allow() {
    let app = spawn_app().await;
    for route in [
        "/rooms/standup/login",
        "/rooms/standup/resend",
        "/rooms/standup/token",
        "/rooms/standup/participants/bob/remove",
        "/rooms/standup/end",
        "/twilio/room-events",
        "/logout",
    ] {
        let resp = app.get(route).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{route}");
        assert_eq!(resp.headers()["allow"], "POST", "{route}");
        // A page, not a blank one, in the visitor's language.
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("<h1>Not a page to open</h1>"),
            "{route}: {page}"
        );
    }
    let french = app
        .client
        .get(app.url("/logout"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert_eq!(french.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(french.headers()["allow"], "POST");
    let page = french.text().await.unwrap();
    assert!(page.contains(r#"<html lang="fr">"#), "{page}");
    assert!(page.contains("ne s’ouvre pas ainsi"), "{page}");
    // And the other way round: a page that is only read.
    let resp = app.post_form("/healthz", &[]).await;
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");
    // The page's own files too, there or not.
    for file in ["/static/room.js", "/static/nope.js"] {
        let resp = app.post_form(file, &[]).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{file}");
        assert_eq!(resp.headers()["allow"], "GET, HEAD", "{file}");
    }
    assert_eq!(app.get("/static/room.js").await.status(), StatusCode::OK);
    // A path with both keeps both (without a sign-in, the code page sends you back).
    assert_eq!(
        app.get("/rooms/standup/verify").await.status(),
        StatusCode::SEE_OTHER
    );
}

/// A path no route has gets the not-found page in the visitor's language, not an
/// empty body or actix's words; a room's page typed with a trailing slash is found.
#[tokio::test]
async fn unknown_paths_get_the_not_found_page() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/static/..%2fCargo.toml",
        "/static/",
        "/static",
        "/rooms/standup/nope",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("<h1>"), "{path}: {body}");
        assert!(!body.contains("index file"), "{path}: {body}");
    }
    let french = app
        .client
        .get(app.url("/nope"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert!(french.text().await.unwrap().contains("lang=\"fr\""));
    for (from, to) in [
        ("/rooms/standup/", "/rooms/standup"),
        ("/rooms/standup/verify/", "/rooms/standup/verify"),
    ] {
        let resp = app.get(from).await;
        assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT, "{from}");
        assert_eq!(resp.headers()["location"], to, "{from}");
    }
}

/// Uptime probes and link checkers ask with HEAD: what GET answers, without a body.
#[tokio::test]
async fn head_answers_as_get_does_without_the_body() {
    let app = spawn_app().await;
    for path in ["/healthz", "/rooms/standup", "/favicon.ico", "/"] {
        let get = app.get(path).await;
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(!get.bytes().await.unwrap().is_empty(), "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
    // A POST-only path still refuses it.
    let head = app.client.head(app.url("/logout")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// The expired form's page with `status`: none of actix's words about the input.
async fn assert_unreadable_page(resp: reqwest::Response, status: StatusCode) {
    assert_error_page(resp, status, "This form has expired").await;
}

/// The page for a body our forms never send, with `status`.
async fn assert_not_our_form_page(resp: reqwest::Response, status: StatusCode) {
    assert_error_page(resp, status, "We could not read that").await;
}

async fn assert_error_page(resp: reqwest::Response, status: StatusCode, title: &str) {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = resp.text().await.unwrap();
    assert!(body.contains(title), "{body}");
    for word in [
        "deserialize",
        "encoded",
        "duplicate",
        "Content type",
        "expired",
    ] {
        assert!(!body.contains(word) || title.contains(word), "{body}");
    }
}
