//! Session fixation, cookie replay, cross-site requests and response headers.

use reqwest::{Response, StatusCode};
use roomgate::startup::Overrides;

use crate::helpers::*;

/// A client that keeps no cookies: each request carries exactly the cookie we give it.
struct Replayer {
    client: reqwest::Client,
    base: String,
}

impl Replayer {
    fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            client,
            base: app.address.clone(),
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Response {
        let url = format!("{}{path}", self.base);
        self.client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> Response {
        let url = format!("{}{path}", self.base);
        self.client
            .post(url)
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn token(&self, cookie: &str, csrf: &str) -> StatusCode {
        let url = format!("{}/rooms/standup/token", self.base);
        let req = self
            .client
            .post(url)
            .header("cookie", cookie)
            .header("x-csrf-token", csrf);
        req.send().await.unwrap().status()
    }
}

#[tokio::test]
async fn the_cookie_from_before_verification_stops_working_after_it() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    mock_check("approved").expect(1).mount(&app.verify).await;
    let browser = Replayer::new(&app);

    let join = browser.get("/rooms/standup", "").await;
    let mut cookie = session_cookie(&join).unwrap();
    let csrf = extract_csrf(&join.text().await.unwrap()).unwrap();
    let login = browser
        .post(
            "/rooms/standup/login",
            &cookie,
            &[("username", "alice"), ("csrf_token", &csrf)],
        )
        .await;
    cookie = session_cookie(&login).unwrap_or(cookie);
    let before = cookie.clone();

    let verified = browser
        .post(
            "/rooms/standup/verify",
            &cookie,
            &[("code", "123456"), ("csrf_token", &csrf)],
        )
        .await;
    assert_is_redirect_to(&verified, "/rooms/standup");
    let after = session_cookie(&verified).expect("verification sets a new cookie");
    assert_ne!(before, after);

    let room = browser
        .get("/rooms/standup", &after)
        .await
        .text()
        .await
        .unwrap();
    let new_csrf = extract_meta_csrf(&room).expect("the new cookie opens the room");
    assert_eq!(browser.token(&after, &new_csrf).await, StatusCode::OK);

    // The old cookie: not verified, its CSRF token dead, its sign-in gone.
    assert_eq!(
        browser.token(&before, &new_csrf).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        browser.token(&before, &csrf).await,
        StatusCode::UNAUTHORIZED
    );
    let page = browser
        .get("/rooms/standup", &before)
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(r#"name="csrf-token""#));
    let again = browser
        .post(
            "/rooms/standup/verify",
            &before,
            &[("code", "123456"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_cookie_replayed_after_logout_is_refused() {
    let app = spawn_app().await;
    let browser = Replayer::new(&app);
    // Sign in with a cookie we hold ourselves, so we can keep a copy of it.
    let join = browser.get("/rooms/standup", "").await;
    let cookie = session_cookie(&join).unwrap();
    let csrf = extract_csrf(&join.text().await.unwrap()).unwrap();
    let _start = mock_start_ok().mount_as_scoped(&app.verify).await;
    let _check = mock_check("approved").mount_as_scoped(&app.verify).await;
    let login = browser
        .post(
            "/rooms/standup/login",
            &cookie,
            &[("username", "alice"), ("csrf_token", &csrf)],
        )
        .await;
    let cookie = session_cookie(&login).unwrap_or(cookie);
    let verified = browser
        .post(
            "/rooms/standup/verify",
            &cookie,
            &[("code", "123456"), ("csrf_token", &csrf)],
        )
        .await;
    let stolen = session_cookie(&verified).unwrap();
    let room = browser
        .get("/rooms/standup", &stolen)
        .await
        .text()
        .await
        .unwrap();
    let room_csrf = extract_meta_csrf(&room).unwrap();
    assert_eq!(browser.token(&stolen, &room_csrf).await, StatusCode::OK);

    let logout = browser
        .post("/logout", &stolen, &[("csrf_token", &room_csrf)])
        .await;
    assert_is_redirect_to(&logout, "/");

    assert_eq!(
        browser.token(&stolen, &room_csrf).await,
        StatusCode::UNAUTHORIZED
    );
    let page = browser
        .get("/rooms/standup", &stolen)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"action="/rooms/standup/login""#));
}

#[tokio::test]
async fn cross_site_posts_are_refused_even_with_a_valid_csrf_token() {
    let app = spawn_app().await;
    mock_start_ok().expect(0).mount(&app.verify).await;
    let csrf = app.csrf_token("standup").await;
    let form = [("username", "alice"), ("csrf_token", csrf.as_str())];
    let cases: [(&str, &str); 3] = [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ];
    for (name, value) in cases {
        let resp = app
            .client
            .post(app.url("/rooms/standup/login"))
            .header(name, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(
            resp.text().await.unwrap().contains("<h1>"),
            "a form gets the page"
        );
    }
    // A script's request (the token, a passkey's JSON) gets JSON, as its other
    // refusals are.
    for (path, header) in [
        ("/rooms/standup/token", ("accept", "application/json")),
        (
            "/rooms/standup/passkeys/options",
            ("content-type", "application/json"),
        ),
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .header("origin", "https://evil.example")
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        assert_json(
            resp,
            StatusCode::FORBIDDEN,
            serde_json::json!({"error": "cross_site"}),
        )
        .await;
    }
}

#[tokio::test]
async fn same_origin_posts_pass_the_origin_check() {
    let app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    let csrf = app.csrf_token("standup").await;
    let resp = app
        .client
        .post(app.url("/rooms/standup/login"))
        .header("origin", app.address.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "alice"), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_is_redirect_to(&resp, "/rooms/standup/verify");
    wait_for_requests(&app.verify, 1).await;
}

/// A client's own forwarding headers don't make another origin ours: only our
/// proxies' (`ROOMGATE_TRUSTED_PROXIES`) say where a request was sent.
#[tokio::test]
async fn forwarding_headers_name_our_origin_only_from_our_proxies() {
    let forged: [&[(&str, &str)]; 2] = [
        &[
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
        &[("forwarded", "host=evil.example;proto=https")],
    ];
    for (proxies, expected) in [
        ("", StatusCode::FORBIDDEN),
        ("127.0.0.1", StatusCode::SEE_OTHER),
    ] {
        let app = spawn_app_with(
            &[("ROOMGATE_TRUSTED_PROXIES", proxies)],
            Overrides::default(),
        )
        .await;
        mock_start_ok().mount(&app.verify).await;
        // A name each: a name's second sign-in in a row would wait.
        for (headers, user) in forged.into_iter().zip(["alice", "bob"]) {
            let csrf = app.csrf_token("standup").await;
            let mut req = app
                .client
                .post(app.url("/rooms/standup/login"))
                .header("origin", "https://evil.example")
                .form(&[("username", user), ("csrf_token", csrf.as_str())]);
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), expected, "proxies {proxies:?}, {headers:?}");
        }
    }
}

fn assert_security_headers(resp: &Response, what: &str) {
    let h = resp.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    let script_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("script-src"))
        .unwrap_or_else(|| panic!("{what}: no script-src in {csp}"));
    assert!(script_src.contains("'self'"), "{what}");
    assert!(
        script_src.contains("https://sdk.twilio.com"),
        "{what}: {script_src}"
    );
    assert!(!csp.contains("'unsafe-inline'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}");
    assert!(
        csp.contains("connect-src 'self' https://*.twilio.com wss://*.twilio.com"),
        "{what}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["referrer-policy"], "same-origin", "{what}");
    let permissions = h["permissions-policy"].to_str().unwrap();
    assert!(permissions.contains("camera=(self)") && permissions.contains("microphone=(self)"));
    assert_eq!(h["x-robots-tag"], "noindex, nofollow", "{what}");
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = spawn_app().await;
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;
    for path in [
        "/",
        "/rooms?room=standup",
        "/rooms?room=Bad%20Name",
        "/rooms/standup",
        "/rooms/standup/verify",
        "/rooms/Bad_Room",
        "/healthz",
        "/static/room.js",
        "/static/style.css",
        "/no/such/page",
    ] {
        let resp = app.get(path).await;
        assert_security_headers(&resp, path);
        assert!(
            !resp.headers().contains_key("strict-transport-security"),
            "http: no HSTS"
        );
    }
    let login = app.post_login("standup", "alice").await;
    assert_security_headers(&login, "login");
    let code_page = app.get_verify("standup").await;
    assert_security_headers(&code_page, "code page");
    assert_eq!(code_page.headers()["cache-control"], "no-store");
    let wrong = app.post_code("standup", "000000").await;
    assert_security_headers(&wrong, "wrong code");
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    let token = app.post_token("standup").await;
    assert_security_headers(&token, "token");
    assert_eq!(token.headers()["cache-control"], "no-store");
    let forbidden = app.post_login_with("standup", &[("username", "x")]).await;
    assert_security_headers(&forbidden, "csrf refusal");
    let cross = app
        .client
        .post(app.url("/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_security_headers(&cross, "cross-site refusal");
}

/// The CSP's `media-src`: the page's own origin, and with a bucket for recordings its
/// endpoint's origin too, where the recordings page's player loads a link from (a
/// virtual-hosted bucket's own host name included). Nothing else.
#[tokio::test]
async fn media_may_come_from_the_recordings_bucket_and_nowhere_else() {
    let media_src = |resp: &Response| {
        let csp = resp.headers()["content-security-policy"].to_str().unwrap();
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with("media-src"))
            .unwrap()
            .to_owned()
    };
    let app = spawn_app().await;
    assert_eq!(
        media_src(&app.get("/").await),
        "media-src 'self' blob: mediastream:"
    );
    for (path_style, origin) in [
        ("true", "https://storage.example.com:8443"),
        ("false", "https://recordings.storage.example.com:8443"),
    ] {
        let app = spawn_app_with(
            &[
                (
                    "ROOMGATE_RECORDINGS_S3_ENDPOINT",
                    "https://storage.example.com:8443/",
                ),
                ("ROOMGATE_RECORDINGS_S3_BUCKET", "recordings"),
                ("ROOMGATE_RECORDINGS_S3_REGION", "eu-west-1"),
                ("ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
                (
                    "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY",
                    "not-a-real-secret",
                ),
                ("ROOMGATE_RECORDINGS_S3_PATH_STYLE", path_style),
            ],
            Overrides::default(),
        )
        .await;
        assert_eq!(
            media_src(&app.get("/rooms/standup").await),
            format!("media-src 'self' blob: mediastream: {origin}")
        );
    }
}

#[tokio::test]
async fn https_deployments_get_hsts_and_host_prefixed_secure_cookies() {
    let app = spawn_app_with(
        &[("ROOMGATE_PUBLIC_URL", "https://meet.example.com")],
        Default::default(),
    )
    .await;
    let resp = app.get_room("standup").await;
    assert!(
        resp.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-roomgate="), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(
        !cookie.contains("Domain="),
        "__Host- cookies carry no Domain"
    );
}

#[tokio::test]
async fn http_cookies_are_http_only_lax_and_site_wide() {
    let app = spawn_app().await;
    let resp = app.get_room("standup").await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("roomgate="));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"));
}

/// A body that never arrives in full (100 bytes declared, 11 sent) is cut off at the
/// deadline: the request gets its answer (the unreadable form's `400`) and the
/// connection is closed, instead of both being held for as long as the client likes.
#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /rooms/standup/login HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
         username=al"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = String::new();
    // Three times the deadline: a server that waits for the rest fails here rather
    // than hang the suite.
    let read = tokio::time::timeout(
        roomgate::routes::BODY_DEADLINE * 3,
        stream.read_to_string(&mut response),
    )
    .await;
    assert!(read.is_ok(), "still waiting for the body: {response:?}");
    assert!(
        response.starts_with("HTTP/1.1 400 "),
        "{}",
        response.lines().next().unwrap_or_default()
    );
}
