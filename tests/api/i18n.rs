//! Languages: pages in the browser's language (or the language menu's choice), the
//! menu itself, the SMS in the same language, English for anything untranslated.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, HeaderMap, HeaderValue};
use roomgate::i18n::{Lang, Tr};
use roomgate::verify::local::format_notice;

use crate::helpers::*;

/// A browser-like client (cookies kept, redirects not followed) that sends this
/// `Accept-Language` with every request.
fn browser(accept_language: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT_LANGUAGE,
        HeaderValue::from_str(accept_language).unwrap(),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

async fn html(resp: reqwest::Response) -> String {
    resp.text().await.unwrap()
}

fn assert_has(html: &str, texts: &[&str]) {
    for text in texts {
        assert!(html.contains(text), "{text:?} not in:\n{html}");
    }
}

#[tokio::test]
async fn a_japanese_browser_gets_japanese_pages() {
    let mut app = spawn_app().await;
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;
    app.client = browser("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7");

    let join = app.get_room("standup").await;
    assert_eq!(join.status(), StatusCode::OK);
    let vary = join.headers()["vary"].to_str().unwrap().to_owned();
    assert!(
        vary.contains("Accept-Language") && vary.contains("Cookie"),
        "{vary}"
    );
    assert_eq!(join.headers()["cache-control"], "no-store");
    let join = html(join).await;
    assert_has(
        &join,
        &[
            r#"<html lang="ja">"#,
            r#"<h1><span class="room-name">standup</span> に参加</h1>"#,
            "ユーザー名",
            "コードを送信",
        ],
    );
    assert!(!join.contains("Send me a code"));

    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    let code = html(app.get_verify("standup").await).await;
    assert_has(
        &code,
        &[
            r#"<html lang="ja">"#,
            "このルームの参加者リストに登録されている場合は、SMS でコードを送信しました。",
            // The countdown's templates, for verify.js.
            r#"data-waiting="{n} 秒後に新しいコードをリクエストできます。""#,
            r#"data-ready="新しいコードをリクエストできるようになりました。""#,
        ],
    );
    let wrong = app.post_code("standup", "000000").await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_has(&html(wrong).await, &["残り 4 回入力できます。"]);

    // Error pages too.
    let missing = app.get("/rooms/Bad_Room").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_has(
        &html(missing).await,
        &[r#"<html lang="ja">"#, "<h1>ページが見つかりません</h1>"],
    );
    let forbidden = app
        .post_login_with("standup", &[("username", "alice")])
        .await;
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert_has(
        &html(forbidden).await,
        &["<h1>このフォームは有効期限切れです</h1>"],
    );
    let home = html(app.get_home().await).await;
    assert_has(&home, &["<h1>ビデオルームに参加</h1>"]);
    let bad_room = html(app.get("/rooms?room=Bad%20Name").await).await;
    assert_has(
        &bad_room,
        &["ルーム名には英小文字、数字、ハイフンを使用できます"],
    );
}

#[tokio::test]
async fn notices_are_in_the_browsers_language_with_plurals() {
    let (mut app, _clock) = spawn_app_with_clock(&[]).await;
    mock_start_ok().mount(&app.verify).await;
    app.client = browser("fr-CA");
    app.post_login("standup", "alice").await;
    // The resend cooldown (30 s) refuses an immediate second code, in French.
    let html = html(app.post_login("standup", "alice").await).await;
    assert_has(
        &html,
        &[
            r#"<html lang="fr">"#,
            "<h1>Veuillez patienter</h1>",
            "Réessayez dans 30 secondes.",
        ],
    );
}

#[tokio::test]
async fn the_room_page_is_translated_and_its_script_messages_are_data() {
    let mut app = spawn_app().await;
    app.client = browser("pt-BR");
    app.sign_in("standup", "alice").await;
    let room = html(app.get_room("standup").await).await;
    assert_has(
        &room,
        &[
            r#"<html lang="pt-BR">"#,
            r#"<h1>Sala <span class="room-name">standup</span></h1>"#,
            "Conectado como <strong>alice</strong>",
            "Sair da sala",
            r#"<script type="application/json" id="i18n">{"#,
        ],
    );
    // Every script is a file or inert data: nothing the CSP would have to run inline.
    for tag in room.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(
            tag.contains(" src=") || tag.contains(r#"type="application/json""#),
            "inline script: <script{tag}>"
        );
    }
}

#[tokio::test]
async fn the_language_cookie_overrides_accept_language() {
    let mut app = spawn_app().await;
    app.client = browser("ja");
    assert_is_redirect_to(
        &app.get("/language/fr?next=%2Frooms%2Fstandup").await,
        "/rooms/standup",
    );
    let join = html(app.get_room("standup").await).await;
    assert_has(
        &join,
        &[
            r#"<html lang="fr">"#,
            r#"<h1>Rejoindre <span class="room-name">standup</span></h1>"#,
        ],
    );
    // A cookie with a language we don't have is ignored.
    let other = reqwest::Client::new()
        .get(app.url("/rooms/standup"))
        .header("accept-language", "es")
        .header("cookie", "roomgate_lang=klingon")
        .send()
        .await
        .unwrap();
    assert_has(&html(other).await, &[r#"<html lang="es">"#]);
}

#[tokio::test]
async fn the_language_menu_sets_a_long_lived_site_wide_cookie() {
    let app = spawn_app().await;
    let resp = app
        .get("/language/pt-BR?next=%2Frooms%2Fstandup%2Fverify")
        .await;
    assert_is_redirect_to(&resp, "/rooms/standup/verify");
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("roomgate_lang=pt-BR"), "{cookie}");
    for attr in ["Path=/", "SameSite=Lax", "Max-Age=31536000"] {
        assert!(cookie.contains(attr), "{attr} missing from {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http: {cookie}");

    let https = spawn_app_with(
        &[("ROOMGATE_PUBLIC_URL", "https://meet.example.com")],
        Default::default(),
    )
    .await;
    let resp = https.get("/language/ja?next=/").await;
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("roomgate_lang=ja"), "{cookie}");
    assert!(cookie.contains("Secure"), "https: {cookie}");
}

#[tokio::test]
async fn the_language_menu_refuses_to_send_anyone_elsewhere() {
    let app = spawn_app().await;
    for next in [
        "%2F%2Fevil.example",
        "//evil.example",
        "https://evil.example",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
        "evil.example",
        "javascript:alert(1)",
        "%2Fa%0D%0ASet-Cookie:%20x=1",
        "",
    ] {
        let resp = app.get(&format!("/language/fr?next={next}")).await;
        assert_is_redirect_to(&resp, "/");
    }
    assert_is_redirect_to(&app.get("/language/fr").await, "/");
    assert_is_redirect_to(&app.get("/language/fr?%%%").await, "/");
    // Only our languages.
    for code in ["de", "pt", "en-US", "..%2Fen"] {
        let resp = app.get(&format!("/language/{code}?next=/")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{code}");
        assert!(!resp.headers().contains_key("set-cookie"));
    }
}

#[tokio::test]
async fn every_page_has_the_language_menu_coming_back_to_it() {
    let mut app = spawn_app().await;
    app.client = browser("es-MX");
    let join = html(app.get_room("standup").await).await;
    assert_has(
        &join,
        &[
            r#"<nav class="languages" aria-label="Idioma">"#,
            r#"<a href="/language/en?next=%2Frooms%2Fstandup" lang="en" hreflang="en">English</a>"#,
            r#"<a href="/language/fr?next=%2Frooms%2Fstandup" lang="fr" hreflang="fr">Français</a>"#,
            r#"<a href="/language/es?next=%2Frooms%2Fstandup" lang="es" hreflang="es" aria-current="true">Español</a>"#,
            r#"<a href="/language/pt-BR?next=%2Frooms%2Fstandup" lang="pt-BR" hreflang="pt-BR">Português (Brasil)</a>"#,
            r#"<a href="/language/ja?next=%2Frooms%2Fstandup" lang="ja" hreflang="ja">日本語</a>"#,
        ],
    );
    assert_eq!(join.matches("aria-current").count(), 1);
    // A page that answers a form comes back to the page with the form.
    mock_start_ok().mount(&app.verify).await;
    mock_check("pending").mount(&app.verify).await;
    app.post_login("standup", "alice").await;
    let wrong = html(app.post_code("standup", "000000").await).await;
    assert_has(
        &wrong,
        &[r#"href="/language/ja?next=%2Frooms%2Fstandup%2Fverify""#],
    );
    let home = html(app.get("/rooms?room=Bad%20Name").await).await;
    assert_has(
        &home,
        &[r#"href="/language/fr?next=%2Frooms%3Froom%3DBad%2520Name""#],
    );
}

#[tokio::test]
async fn known_and_unknown_users_still_look_the_same_in_every_language() {
    for accept in ["ja", "fr-FR", "pt-BR"] {
        let mut app = spawn_app().await;
        mock_start_ok().mount(&app.verify).await;
        mock_check("pending").mount(&app.verify).await;
        app.client = browser(accept);
        let known = comparable(app.post_login("standup", "alice").await).await;
        let known_page = comparable(app.get_verify("standup").await).await;
        let known_wrong = comparable(app.post_code("standup", "000000").await).await;
        app.client = browser(accept);
        let unknown = comparable(app.post_login("standup", "mallory").await).await;
        let unknown_page = comparable(app.get_verify("standup").await).await;
        let unknown_wrong = comparable(app.post_code("standup", "000000").await).await;
        assert_eq!(known, unknown, "{accept}");
        assert_eq!(known_page, unknown_page, "{accept}");
        assert_eq!(known_wrong, unknown_wrong, "{accept}");
    }
}

/// The `Locale` form field of the one verification start Verify received.
async fn locale_sent(app: &TestApp) -> Option<String> {
    let requests = wait_for_requests(&app.verify, 1).await;
    let pairs = form_pairs(&requests[0]);
    pairs
        .into_iter()
        .find(|(k, _)| k == "Locale")
        .map(|(_, v)| v)
}

#[tokio::test]
async fn a_french_browser_gets_its_code_in_french() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    app.client = browser("fr-FR,fr;q=0.9,en;q=0.5");
    assert_is_redirect_to(
        &app.post_login("standup", "alice").await,
        "/rooms/standup/verify",
    );
    assert_eq!(locale_sent(&app).await.as_deref(), Some("fr"));
}

#[tokio::test]
async fn the_sms_follows_the_language_menu_and_portuguese_is_brazilian() {
    for (accept, cookie_choice, locale) in [
        ("ja", None, "ja"),
        ("pt-PT,pt;q=0.9", None, "pt-BR"),
        ("es-419", None, "es"),
        ("ja", Some("pt-BR"), "pt-BR"),
        ("de", Some("en"), "en"),
    ] {
        let mut app = spawn_app().await;
        mock_start_ok().expect(1).mount(&app.verify).await;
        app.client = browser(accept);
        if let Some(code) = cookie_choice {
            app.get(&format!("/language/{code}?next=/")).await;
        }
        app.post_login("standup", "alice").await;
        assert_eq!(
            locale_sent(&app).await.as_deref(),
            Some(locale),
            "{accept} {cookie_choice:?}"
        );
    }
}

#[tokio::test]
async fn a_browser_without_a_language_we_have_leaves_the_sms_language_to_verify() {
    let mut app = spawn_app().await;
    mock_start_ok().expect(1).mount(&app.verify).await;
    app.client = browser("de-DE,de;q=0.9");
    app.post_login("standup", "alice").await;
    assert_eq!(locale_sent(&app).await, None);
    // The pages are English.
    let page = html(app.get_verify("standup").await).await;
    assert!(page.contains(r#"<html lang="en">"#));
}

#[tokio::test]
async fn local_mode_prints_the_locale_on_the_code_line() {
    let mut app = spawn_local_app().await;
    app.client = browser("ja-JP");
    app.post_login("standup", "alice").await;
    let mut notice = None;
    for _ in 0..200 {
        if let Some(n) = app.codes.lock().unwrap().first() {
            notice = Some(n.clone());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let notice = notice.expect("the local verifier delivered a code");
    assert_eq!(notice.locale.as_deref(), Some("ja"));
    let line = format_notice(&notice);
    assert!(line.contains(" locale=ja "), "{line}");
}

// Catalogs with a gap: French lacks `only-in-english`.
fluent_templates::static_loader! {
    static GAPPY = {
        locales: "./tests/fixtures/locales",
        fallback_language: "en",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

#[test]
fn a_missing_translation_falls_back_to_english() {
    let fr = Tr::with_loader(Lang::Fr, &GAPPY);
    assert_eq!(fr.t("greeting"), "Bonjour");
    assert_eq!(
        fr.t1("only-in-english", "name", "alice"),
        "Only in English, alice"
    );
    // And a translator over roomgate's own catalogs never shows a bare id for a
    // message English has.
    let ja = Tr::new(Lang::Ja);
    assert_eq!(ja.t("room-leave"), "退出");
}
