//! The pages' own files (`/static/…`) and `/favicon.ico`, compiled into the binary
//! like the templates and the catalogs: a server copied to another machine (a
//! container, a package) has everything it serves, and reads nothing from the
//! source tree at run time. Each answer carries an ETag (a digest of the file), so a
//! browser revalidates with a `304` instead of fetching it again.

use std::sync::LazyLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::PageError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../static/", $name)),
        }
    };
}

/// Every file of `static/` (a test checks the folder and this list agree).
const ASSETS: &[Asset] = &[
    asset!("favicon.ico", "image/x-icon"),
    asset!("host.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("passkeys.js", "text/javascript; charset=utf-8"),
    asset!("recordings.js", "text/javascript; charset=utf-8"),
    asset!("room.js", "text/javascript; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("verify.js", "text/javascript; charset=utf-8"),
];

/// Each file's ETag, in `ASSETS`' order: made once, on first use.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.body)[..12])))
        .collect()
});

/// Scripts and the stylesheet change with a release and their links carry no
/// version, so a browser asks again each time (a `304` when unchanged).
const REVALIDATE: &str = "no-cache";
/// The icon: a day in caches. A stale icon harms nobody.
const ICON_CACHE: &str = "public, max-age=86400";

pub async fn static_file(
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let index = ASSETS
        .iter()
        .position(|a| a.name == name.as_str())
        .ok_or(PageError::NotFound)?;
    Ok(serve(&req, index, REVALIDATE))
}

pub async fn favicon(req: HttpRequest) -> HttpResponse {
    let index = ASSETS.iter().position(|a| a.name == "favicon.ico");
    serve(&req, index.unwrap_or_default(), ICON_CACHE)
}

fn serve(req: &HttpRequest, index: usize, cache: &'static str) -> HttpResponse {
    let (asset, etag) = (&ASSETS[index], &ETAGS[index]);
    // `If-None-Match` lists ETags (or is `*`); any of ours, weak or not, matches.
    let unchanged = req
        .headers()
        .get_all(IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let mut resp = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((ETAG, etag.as_str()))
        .insert_header((CACHE_CONTROL, cache));
    if unchanged {
        return resp.finish();
    }
    resp.insert_header((CONTENT_TYPE, asset.content_type))
        .body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every rule of the stylesheet is closed where it should be: one left open made
    /// the browser read the rules after it as nested in it, and the recording sign
    /// and the host's recording buttons lost their styles without a word. (Comments
    /// and strings hold no braces that count.)
    #[test]
    fn the_stylesheet_closes_every_block_it_opens() {
        let css = include_str!("../../static/style.css");
        let (mut depth, mut line, mut chars) = (0i32, 1, css.chars().peekable());
        let mut opened_at = Vec::new();
        while let Some(c) = chars.next() {
            match c {
                '\n' => line += 1,
                '/' if chars.peek() == Some(&'*') => {
                    let mut last = ' ';
                    for c in chars.by_ref() {
                        if c == '\n' {
                            line += 1;
                        }
                        if last == '*' && c == '/' {
                            break;
                        }
                        last = c;
                    }
                }
                '"' | '\'' => {
                    for d in chars.by_ref() {
                        if d == c {
                            break;
                        }
                    }
                }
                '{' => {
                    depth += 1;
                    opened_at.push(line);
                }
                '}' => {
                    depth -= 1;
                    assert!(depth >= 0, "a '}}' with nothing open, line {line}");
                    opened_at.pop();
                }
                _ => {}
            }
            // Only @media and @supports hold rules; a rule inside a rule is a slip.
            assert!(
                depth <= 2,
                "a block three deep at line {line}: one left open?"
            );
        }
        assert_eq!(depth, 0, "blocks left open, from lines {opened_at:?}");
    }

    /// A file added to `static/` without a line here would be a 404 in production.
    #[test]
    fn every_file_of_the_folder_is_served_and_nothing_else() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        served.sort_unstable();
        assert_eq!(on_disk, served);
    }
}
