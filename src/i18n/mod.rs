//! Languages. Which one a participant reads (the language menu's cookie, else the
//! browser's `Accept-Language`), the message catalogs in `locales/` (Fluent, compiled
//! into the binary), and [`Tr`], the translator every page template gets.
//!
//! English is the reference catalog: a message missing from another catalog (or one
//! that fails to format there) is shown in English. A unit test fails when a catalog
//! lacks a key English has, or uses other variables.

mod script;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::{Ready, ready};

use actix_web::http::Method;
use actix_web::http::header::{ACCEPT_LANGUAGE, COOKIE as COOKIE_HEADER};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, StaticLoader, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: pages are HTML with `lang`
        // set, and the marks would only get in the way of copy and paste.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

thread_local! {
    /// Messages without arguments from roomgate's catalogs, by id, in each language
    /// ([`Lang`] as an index), as this thread first formatted them: a page asks for
    /// dozens (the room page about thirty), and the catalogs are compiled in. Only
    /// messages the catalogs have are kept, so the ids are the code's own.
    static PLAIN: RefCell<HashMap<String, [Option<String>; Lang::ALL.len()]>> =
        RefCell::default();
}

/// The cookie the language menu sets; it overrides `Accept-Language`.
pub const COOKIE: &str = "roomgate_lang";

/// How long the language menu's choice is remembered.
pub const COOKIE_MAX_AGE_DAYS: i64 = 365;

/// The languages roomgate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
    Es,
    PtBr,
    Ja,
}

impl Lang {
    /// In the language menu's order.
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::Es, Lang::PtBr, Lang::Ja];

    /// The BCP 47 tag: `<html lang>`, the catalog's folder, the cookie's value.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
            Self::Es => "es",
            Self::PtBr => "pt-BR",
            Self::Ja => "ja",
        }
    }

    /// Twilio Verify's `Locale` for the SMS. Verify's list of supported languages
    /// (<https://www.twilio.com/docs/verify/supported-languages>) uses the same BCP 47
    /// tags as our catalogs, so it is the code itself.
    pub fn verify_locale(self) -> &'static str {
        self.code()
    }

    /// The language's name in itself, for the language menu.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::Fr => "Français",
            Self::Es => "Español",
            Self::PtBr => "Português (Brasil)",
            Self::Ja => "日本語",
        }
    }

    /// One of our own codes (case-insensitive), as in the cookie and the menu's links.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code))
    }

    /// The language a BCP 47 tag asks for, if we have it: by primary subtag, so
    /// `fr-CA` is French, `ja-JP` Japanese, and every Portuguese Brazilian (the only
    /// Portuguese we have).
    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        match primary.to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            "es" => Some(Self::Es),
            "pt" => Some(Self::PtBr),
            "ja" => Some(Self::Ja),
            _ => None,
        }
    }

    fn langid(self) -> LanguageIdentifier {
        match self {
            Self::En => langid!("en"),
            Self::Fr => langid!("fr"),
            Self::Es => langid!("es"),
            Self::PtBr => langid!("pt-BR"),
            Self::Ja => langid!("ja"),
        }
    }

    /// The participant's language: the language menu's cookie, else the best of
    /// `Accept-Language`, else English.
    pub fn of_request(req: &HttpRequest) -> Self {
        Self::asked_for(req).unwrap_or_default()
    }

    /// The language the participant asked for (the menu's cookie, or one we have in
    /// `Accept-Language`); `None` when they get English only because we have nothing
    /// better.
    pub fn asked_for(req: &HttpRequest) -> Option<Self> {
        if let Some(lang) = sent_cookie(req, COOKIE).and_then(Self::from_code) {
            return Some(lang);
        }
        req.headers()
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(best_match)
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// The value of the cookie `name` as sent, read straight from the `Cookie` headers.
/// The language cookie holds a plain code, so unlike `HttpRequest::cookie` this neither
/// parses nor percent-decodes the other cookies: a refusal answered before the session
/// layer (`routes::shed`) doesn't pay for the session cookie it never reads.
fn sent_cookie<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(COOKIE_HEADER)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// The best language we have for an `Accept-Language` value: the highest `q` first
/// (ties in the header's order), `q=0` never, English when nothing matches.
pub fn negotiate(accept_language: &str) -> Lang {
    best_match(accept_language).unwrap_or_default()
}

/// [`negotiate`], or `None` when no language of the header is one we have.
pub fn best_match(accept_language: &str) -> Option<Lang> {
    let mut ranked: Vec<(u16, usize, Lang)> = accept_language
        .split(',')
        // A header is short; a pathological one is not worth reading in full.
        .take(32)
        .enumerate()
        .filter_map(|(i, item)| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .next()
                .map_or(Some(1000), parse_q)?;
            let lang = Lang::from_tag(tag)?;
            (q > 0).then_some((q, i, lang))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|r| r.2)
}

/// A `q` value in thousandths; `None` when it isn't one (the item is then ignored).
fn parse_q(q: &str) -> Option<u16> {
    let q: f32 = q.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

impl FromRequest for Lang {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of_request(req)))
    }
}

/// A value a message can be given: text or a number (numbers select plural forms).
pub trait Arg {
    fn fluent(&self) -> FluentValue<'static>;
}

impl Arg for str {
    fn fluent(&self) -> FluentValue<'static> {
        FluentValue::from(self.to_owned())
    }
}

impl Arg for String {
    fn fluent(&self) -> FluentValue<'static> {
        FluentValue::from(self.clone())
    }
}

macro_rules! number_args {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            fn fluent(&self) -> FluentValue<'static> {
                FluentValue::from(*self)
            }
        }
    )*};
}
number_args!(u8, u16, u32, u64, usize, i32, i64);

impl<T: Arg + ?Sized> Arg for &T {
    fn fluent(&self) -> FluentValue<'static> {
        (**self).fluent()
    }
}

/// One entry of the language menu.
pub struct LanguageLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

/// The translator a page renders with: the participant's language, the catalogs, and
/// the page to come back to after choosing another language.
#[derive(Clone)]
pub struct Tr {
    lang: Lang,
    /// Whether the participant asked for `lang` (see [`Lang::asked_for`]).
    asked: bool,
    loader: &'static StaticLoader,
    /// A local path (with its query) for the language menu's `next`.
    here: String,
}

impl std::fmt::Debug for Tr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tr")
            .field("lang", &self.lang)
            .field("here", &self.here)
            .finish()
    }
}

impl Tr {
    /// A translator for `lang` with roomgate's catalogs.
    pub fn new(lang: Lang) -> Self {
        Self::with_loader(lang, &LOCALES)
    }

    /// A translator over other catalogs (tests use catalogs with gaps).
    pub fn with_loader(lang: Lang, loader: &'static StaticLoader) -> Self {
        Self {
            lang,
            asked: true,
            loader,
            here: "/".into(),
        }
    }

    /// The translator for this request's participant, coming back to this page.
    pub fn of_request(req: &HttpRequest) -> Self {
        let asked = Lang::asked_for(req);
        Self {
            asked: asked.is_some(),
            ..Self::new(asked.unwrap_or_default())
        }
        .at(return_path(req))
    }

    /// The same translator, with the language menu coming back to `here`.
    pub fn at(mut self, here: impl Into<String>) -> Self {
        self.here = here.into();
        self
    }

    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Whether a page rendered with `other` reads the same as with this one: the same
    /// language, catalogs and language-menu links. (Whether the language was asked for
    /// changes only the SMS's.)
    pub fn renders_like(&self, other: &Tr) -> bool {
        self.lang == other.lang
            && std::ptr::eq(self.loader, other.loader)
            && self.here == other.here
    }

    /// Verify's `Locale` for this participant's SMS: their language when they asked
    /// for one; else none, and Verify picks the language from the phone number's
    /// country, as Twilio recommends.
    pub fn sms_locale(&self) -> Option<&'static str> {
        self.asked.then(|| self.lang.verify_locale())
    }

    /// The message `id`, in English when this language lacks it.
    pub fn t(&self, id: &str) -> String {
        // Other catalogs are tests' own.
        let ours = std::ptr::eq(self.loader, &*LOCALES);
        let slot = self.lang as usize;
        if ours {
            let kept =
                PLAIN.with_borrow(|plain| plain.get(id).and_then(|by_lang| by_lang[slot].clone()));
            if let Some(text) = kept {
                return text;
            }
        }
        let Some(text) = self
            .loader
            .try_lookup_complete(&self.lang.langid(), id, None)
        else {
            return missing(id, self.lang);
        };
        if ours {
            PLAIN.with_borrow_mut(|plain| {
                plain.entry(id.to_owned()).or_default()[slot] = Some(text.clone());
            });
        }
        text
    }

    /// The message `id` with one argument.
    pub fn t1(&self, id: &str, name: &str, value: impl Arg) -> String {
        self.targs(id, &[(name, &value)])
    }

    /// The message `id` with two arguments.
    pub fn t2(
        &self,
        id: &str,
        name1: &str,
        value1: impl Arg,
        name2: &str,
        value2: impl Arg,
    ) -> String {
        self.targs(id, &[(name1, &value1), (name2, &value2)])
    }

    /// The message `id` with any number of arguments.
    pub fn targs(&self, id: &str, args: &[(&str, &dyn Arg)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'static>> = args
            .iter()
            .map(|(name, value)| (Cow::Owned((*name).to_owned()), value.fluent()))
            .collect();
        self.lookup(id, Some(&args))
    }

    /// HTML for a message with one argument wrapped in markup: the message's text and
    /// the value are escaped, `open` and `close` (trusted markup from a template) go
    /// around the value. For headings like "Join <span>standup</span>", whose word
    /// order differs between languages.
    pub fn markup1(&self, id: &str, name: &str, value: &str, open: &str, close: &str) -> String {
        // A private-use character stands in for the value, so the translation is
        // escaped as a whole and the value then put in its place.
        const SLOT: &str = "\u{E000}";
        let text = html_escape(&self.t1(id, name, SLOT));
        let value = format!("{open}{}{close}", html_escape(value));
        if text.contains(SLOT) {
            text.replacen(SLOT, &value, 1)
        } else {
            text
        }
    }

    /// The language menu's entries: every language, each linking to `/language/{code}`
    /// and back to this page.
    pub fn language_links(&self) -> Vec<LanguageLink> {
        let next = serde_urlencoded::to_string([("next", self.here.as_str())]).unwrap_or_default();
        Lang::ALL
            .into_iter()
            .map(|lang| LanguageLink {
                code: lang.code(),
                name: lang.native_name(),
                href: format!("/language/{}?{next}", lang.code()),
                current: lang == self.lang,
            })
            .collect()
    }

    /// Messages for a page script, as JSON safe to put inside
    /// `<script type="application/json">`: every `<`, `>` and `&` is escaped, so the
    /// text can't end the element.
    pub fn json(&self, messages: &[(impl AsRef<str>, String)]) -> String {
        let map: serde_json::Map<String, serde_json::Value> = messages
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), serde_json::Value::String(v.clone())))
            .collect();
        serde_json::Value::Object(map)
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    }

    fn lookup(&self, id: &str, args: Option<&HashMap<Cow<'static, str>, FluentValue>>) -> String {
        match self
            .loader
            .try_lookup_complete(&self.lang.langid(), id, args)
        {
            Some(text) => text,
            None => missing(id, self.lang),
        }
    }
}

/// What a page shows for a message no catalog has: its id, and an error in the log.
fn missing(id: &str, lang: Lang) -> String {
    tracing::error!(message = id, %lang, "no such message in any catalog");
    id.to_owned()
}

impl FromRequest for Tr {
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of_request(req)))
    }
}

/// Load (and so check) every catalog now rather than at the first page.
pub fn load_catalogs() {
    std::sync::LazyLock::force(&LOCALES);
}

/// The page the language menu should come back to. A page that answers a form (a
/// POST) comes back to the page showing that form.
fn return_path(req: &HttpRequest) -> String {
    const MAX: usize = 512;
    let path = req.path();
    let here = if req.method() == Method::GET || req.method() == Method::HEAD {
        match req.query_string() {
            "" => path.to_owned(),
            query => format!("{path}?{query}"),
        }
    } else {
        let mut segments = path.trim_start_matches('/').split('/');
        match (segments.next(), segments.next(), segments.next()) {
            (Some("rooms"), Some(room), Some("verify" | "resend" | "call")) => {
                format!("/rooms/{room}/verify")
            }
            (Some("rooms"), Some(room), _) if !room.is_empty() => format!("/rooms/{room}"),
            _ => "/".to_owned(),
        }
    };
    if here.len() <= MAX && is_local_path(&here) {
        here
    } else {
        "/".to_owned()
    }
}

/// Whether `next` is a path on this site: one leading `/` (not `//`, which browsers
/// read as another host, nor `/\`), no backslash, nothing but visible ASCII (it
/// becomes a `Location` header; our own links are percent-encoded).
pub fn is_local_path(next: &str) -> bool {
    let bytes = next.as_bytes();
    next.is_ascii()
        && bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use fluent_syntax::ast;

    use super::*;

    #[test]
    fn the_language_cookie_is_found_among_the_others_as_the_cookie_parser_would() {
        use actix_web::test::TestRequest;
        let asked = |headers: &[&str]| {
            let mut req = TestRequest::default();
            for h in headers {
                req = req.append_header(("cookie", *h));
            }
            Lang::asked_for(&req.to_http_request())
        };
        assert_eq!(asked(&["roomgate_lang=fr"]), Some(Lang::Fr));
        assert_eq!(
            asked(&["roomgate=a%2Fb%3D%3D; roomgate_lang=ja; other=1"]),
            Some(Lang::Ja)
        );
        assert_eq!(
            asked(&["roomgate=x", "roomgate_lang=pt-BR"]),
            Some(Lang::PtBr)
        );
        // Only that name, and only a language we have.
        assert_eq!(asked(&["xroomgate_lang=fr; roomgate_langx=fr"]), None);
        assert_eq!(asked(&["roomgate_lang=klingon"]), None);
        assert_eq!(asked(&["roomgate_lang"]), None);
        // The first of two, as `HttpRequest::cookie` would.
        assert_eq!(
            asked(&["roomgate_lang=es; roomgate_lang=fr"]),
            Some(Lang::Es)
        );
    }

    #[test]
    fn accept_language_picks_the_best_language_we_have() {
        let cases = [
            ("", Lang::En),
            ("*", Lang::En),
            ("de-DE, nl;q=0.9", Lang::En),
            ("fr", Lang::Fr),
            ("fr-CA", Lang::Fr),
            ("FR-ca;q=0.8", Lang::Fr),
            ("ja-JP", Lang::Ja),
            ("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7", Lang::Ja),
            ("es-MX,es;q=0.9", Lang::Es),
            ("es-419", Lang::Es),
            ("pt-BR", Lang::PtBr),
            ("pt", Lang::PtBr),
            ("pt-PT,pt;q=0.9", Lang::PtBr),
            ("en-GB", Lang::En),
            // q-values decide, not the order.
            ("en;q=0.5, fr;q=0.8", Lang::Fr),
            ("de, en;q=0.1, ja;q=0.2", Lang::Ja),
            // Equal q: the header's order.
            ("es;q=0.7, fr;q=0.7", Lang::Es),
            // q=0 means "not this one".
            ("fr;q=0, es;q=0.1", Lang::Es),
            ("ja;q=0", Lang::En),
            // Unknown languages are skipped, not a reason to give up.
            ("zz, x-klingon, ja", Lang::Ja),
            // Malformed items are ignored.
            ("fr;q=abc, es;q=2, ja;q=0.3", Lang::Ja),
            (" ja ; q=0.9 , ", Lang::Ja),
            (",,,;;;", Lang::En),
        ];
        for (header, want) in cases {
            assert_eq!(negotiate(header), want, "{header:?}");
        }
    }

    #[test]
    fn only_a_language_we_have_counts_as_asked_for() {
        assert_eq!(best_match("de-DE, nl;q=0.9"), None);
        assert_eq!(best_match(""), None);
        assert_eq!(best_match("de, en;q=0.5"), Some(Lang::En));
        assert_eq!(best_match("de, pt;q=0.5"), Some(Lang::PtBr));
    }

    #[test]
    fn codes_round_trip_and_unknown_codes_are_refused() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("pt-br"), Some(Lang::PtBr));
        for bad in ["", "de", "pt", "en-US", "fr ", "../en"] {
            assert_eq!(Lang::from_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn verify_locales_are_twilios_tags() {
        let locales: Vec<_> = Lang::ALL.iter().map(|l| l.verify_locale()).collect();
        assert_eq!(locales, ["en", "fr", "es", "pt-BR", "ja"]);
    }

    #[test]
    fn local_paths_only() {
        for ok in [
            "/",
            "/rooms/standup",
            "/rooms?room=a%2Fb",
            "/a/b?next=https://x",
        ] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil.example",
            "/a\\b",
            "/a b",
            "/a\r\nSet-Cookie: x=1",
            "\t/a",
            "/r\u{e9}union",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn messages_are_translated_with_plurals() {
        let en = Tr::new(Lang::En);
        assert_eq!(
            en.t1("code-wrong", "count", 1u8),
            "That code is not right, or it was not sent to you. 1 attempt left."
        );
        assert_eq!(
            en.t1("code-wrong", "count", 4u8),
            "That code is not right, or it was not sent to you. 4 attempts left."
        );
        let fr = Tr::new(Lang::Fr);
        assert!(fr.t1("wait-seconds", "n", 45u64).contains("45 secondes"));
        assert!(fr.t1("wait-seconds", "n", 1u64).contains("1 seconde"));
        assert_eq!(Tr::new(Lang::Ja).t("code-submit"), "確認");
        // No Unicode isolation marks around arguments.
        assert!(
            !fr.t1("join-heading", "room", "standup")
                .contains('\u{2068}')
        );
    }

    #[test]
    fn an_unknown_message_shows_its_id() {
        assert_eq!(Tr::new(Lang::Fr).t("no-such-message"), "no-such-message");
        // And every time: it is not kept as if it were a message.
        assert_eq!(Tr::new(Lang::Fr).t("no-such-message"), "no-such-message");
        assert!(PLAIN.with_borrow(|plain| !plain.contains_key("no-such-message")));
    }

    #[test]
    fn a_message_kept_from_before_reads_as_the_catalogs_have_it() {
        // Every message without variables, in every language, first as formatted, then
        // as kept: the same text, and each language its own (or English's, where a
        // catalog lacks the message).
        let english = catalog(Lang::En);
        let plain: Vec<&String> = english
            .iter()
            .filter(|(key, vars)| vars.is_empty() && !key.contains('.'))
            .map(|(key, _)| key)
            .collect();
        assert!(plain.len() > 50, "{plain:?}");
        for round in ["formatted", "kept"] {
            for lang in Lang::ALL {
                let tr = Tr::new(lang);
                for &key in &plain {
                    let want = LOCALES.try_lookup_complete(&lang.langid(), key, None);
                    assert_eq!(Some(tr.t(key)), want, "{lang}: {key}, {round}");
                }
            }
        }
        assert_eq!(Tr::new(Lang::Fr).t("room-leave"), "Quitter");
        assert_eq!(Tr::new(Lang::En).t("room-leave"), "Leave");
    }

    #[test]
    fn markup_escapes_the_text_and_the_value() {
        let tr = Tr::new(Lang::En);
        assert_eq!(
            tr.markup1("join-heading", "room", "a<b>", "<span>", "</span>"),
            "Join <span>a&lt;b&gt;</span>"
        );
        assert_eq!(
            Tr::new(Lang::Ja).markup1("join-heading", "room", "standup", "<b>", "</b>"),
            "<b>standup</b> に参加"
        );
    }

    #[test]
    fn script_json_cannot_end_its_element() {
        let json = Tr::new(Lang::En).json(&[("x", "</script><b>&".to_owned())]);
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["x"], "</script><b>&");
    }

    #[test]
    fn the_language_menu_links_every_language_back_to_this_page() {
        let tr = Tr::new(Lang::Fr).at("/rooms/standup?x=1&y=2");
        let links = tr.language_links();
        assert_eq!(links.len(), 5);
        assert_eq!(
            links[0].href,
            "/language/en?next=%2Frooms%2Fstandup%3Fx%3D1%26y%3D2"
        );
        let current: Vec<_> = links.iter().filter(|l| l.current).map(|l| l.code).collect();
        assert_eq!(current, ["fr"]);
    }

    // ---- The catalogs ---------------------------------------------------------

    fn locales_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("locales")
    }

    /// Every message (and attribute) of a catalog, with the variables it uses.
    fn catalog(lang: Lang) -> BTreeMap<String, BTreeSet<String>> {
        let path = locales_dir().join(lang.code()).join("roomgate.ftl");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let resource = fluent_syntax::parser::parse(text.as_str())
            .unwrap_or_else(|(_, errors)| panic!("{}: {errors:?}", path.display()));
        let mut keys = BTreeMap::new();
        for entry in &resource.body {
            let ast::Entry::Message(message) = entry else {
                continue;
            };
            let id = message.id.name.to_owned();
            if let Some(value) = &message.value {
                keys.insert(id.clone(), variables(value));
            }
            for attr in &message.attributes {
                keys.insert(format!("{id}.{}", attr.id.name), variables(&attr.value));
            }
        }
        keys
    }

    fn variables(pattern: &ast::Pattern<&str>) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        pattern_variables(pattern, &mut found);
        found
    }

    fn pattern_variables(pattern: &ast::Pattern<&str>, found: &mut BTreeSet<String>) {
        for element in &pattern.elements {
            if let ast::PatternElement::Placeable { expression } = element {
                expression_variables(expression, found);
            }
        }
    }

    fn expression_variables(expression: &ast::Expression<&str>, found: &mut BTreeSet<String>) {
        match expression {
            ast::Expression::Select { selector, variants } => {
                inline_variables(selector, found);
                for variant in variants {
                    pattern_variables(&variant.value, found);
                }
            }
            ast::Expression::Inline(inline) => inline_variables(inline, found),
        }
    }

    fn inline_variables(inline: &ast::InlineExpression<&str>, found: &mut BTreeSet<String>) {
        match inline {
            ast::InlineExpression::VariableReference { id } => {
                found.insert(id.name.to_owned());
            }
            ast::InlineExpression::FunctionReference { arguments, .. }
            | ast::InlineExpression::TermReference {
                arguments: Some(arguments),
                ..
            } => {
                for arg in &arguments.positional {
                    inline_variables(arg, found);
                }
                for arg in &arguments.named {
                    inline_variables(&arg.value, found);
                }
            }
            ast::InlineExpression::Placeable { expression } => {
                expression_variables(expression, found)
            }
            _ => {}
        }
    }

    #[test]
    fn every_catalog_has_exactly_englishs_keys_with_the_same_variables() {
        let english = catalog(Lang::En);
        assert!(english.len() > 50, "the English catalog looks empty");
        let mut problems = Vec::new();
        for lang in Lang::ALL.into_iter().filter(|l| *l != Lang::En) {
            let other = catalog(lang);
            for (key, vars) in &english {
                match other.get(key) {
                    None => problems.push(format!("{lang}: missing {key}")),
                    Some(theirs) if theirs != vars => problems.push(format!(
                        "{lang}: {key} uses {theirs:?}, English uses {vars:?}"
                    )),
                    Some(_) => {}
                }
            }
            for key in other.keys().filter(|k| !english.contains_key(*k)) {
                problems.push(format!("{lang}: {key} is not in the English catalog"));
            }
        }
        assert!(
            problems.is_empty(),
            "catalog problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn every_catalog_loads_and_formats_every_message() {
        let english = catalog(Lang::En);
        for lang in Lang::ALL {
            let mine = catalog(lang);
            for (key, vars) in &english {
                let args: HashMap<Cow<'static, str>, FluentValue> = vars
                    .iter()
                    .map(|v| (Cow::Owned(v.clone()), FluentValue::from(2)))
                    .collect();
                let text = LOCALES
                    .lookup_single_language(&lang.langid(), key, Some(&args))
                    .unwrap_or_else(|e| panic!("{lang}: {key}: {e}"));
                assert!(!text.trim().is_empty(), "{lang}: {key} is empty");
                assert!(mine.contains_key(key));
            }
        }
    }

    #[test]
    fn the_catalogs_are_the_languages() {
        let mut dirs: Vec<String> = std::fs::read_dir(locales_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        let mut codes: Vec<String> = Lang::ALL.iter().map(|l| l.code().to_owned()).collect();
        codes.sort();
        assert_eq!(dirs, codes);
    }

    /// Message ids written as literals in the templates, the Rust sources and the
    /// page scripts' list: each must be in the English catalog.
    #[test]
    fn every_message_the_code_uses_exists() {
        let english = catalog(Lang::En);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["templates", "src", "src/routes"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() && path.file_name().unwrap() != "i18n.rs" {
                    files.push(path);
                }
            }
        }
        let mut missing = Vec::new();
        let mut seen = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            for marker in [".t(\"", ".t1(\"", ".t2(\"", ".targs(\"", ".markup1(\""] {
                for (at, _) in text.match_indices(marker) {
                    let rest = &text[at + marker.len()..];
                    let id = &rest[..rest.find('"').unwrap()];
                    seen += 1;
                    if !english.contains_key(id) {
                        missing.push(format!("{}: {id}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 50, "found only {seen} message ids in the code");
        assert!(
            missing.is_empty(),
            "not in locales/en:\n{}",
            missing.join("\n")
        );
    }
}
