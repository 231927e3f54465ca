//! The embedded storage's file route: a link works until it expires, then 403; an
//! altered or unsigned request is 403; downloads carry their name.

use std::time::Duration;

use futures_util::StreamExt;
use roomgate::recordings::storage::Disposition;
use secrecy::ExposeSecret;

use crate::helpers::spawn_app_with_clock;

const VIDEO: &[u8] = b"\x00\x00\x00\x18ftypmp42 not really a video, but bytes";

async fn put(app: &crate::helpers::TestApp, key: &str) {
    let body = futures_util::stream::iter([Ok(bytes::Bytes::from_static(VIDEO))]).boxed();
    app.recordings.put(key, body).await.unwrap();
}

#[tokio::test]
async fn a_link_works_until_it_expires() {
    let (app, clock) = spawn_app_with_clock(&[]).await;
    assert_eq!(app.recordings.kind(), "local");
    put(&app, "rooms/standup/CJ1.mp4").await;
    let link = app
        .recordings
        .link(
            "rooms/standup/CJ1.mp4",
            Duration::from_secs(60),
            &Disposition::Inline,
        )
        .unwrap();

    let response = app.get_recording_file(link.expose_secret()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(response.headers()["content-disposition"], "inline");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    assert_eq!(response.bytes().await.unwrap(), VIDEO);

    clock.advance(Duration::from_secs(59));
    let response = app.get_recording_file(link.expose_secret()).await;
    assert_eq!(response.status(), 200);
    clock.advance(Duration::from_secs(1));
    let response = app.get_recording_file(link.expose_secret()).await;
    assert_eq!(response.status(), 403);
    assert!(!response.text().await.unwrap().contains("ftyp"));
}

#[tokio::test]
async fn a_download_link_names_the_file_and_serves_ranges() {
    let (app, _clock) = spawn_app_with_clock(&[]).await;
    put(&app, "rooms/standup/CJ2.mp4").await;
    let link = app
        .recordings
        .link(
            "rooms/standup/CJ2.mp4",
            Duration::from_secs(30),
            &Disposition::Attachment {
                filename: "standup 2026-12-05 09.00.mp4".into(),
            },
        )
        .unwrap();
    let response = app.get_recording_file(link.expose_secret()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"standup 2026-12-05 09.00.mp4\"; filename*=UTF-8''standup%202026-12-05%2009.00.mp4"
    );
    // Players seek with ranges.
    let response = app
        .client
        .get(app.url(link.expose_secret()))
        .header("range", "bytes=4-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 206);
    assert_eq!(response.bytes().await.unwrap(), &VIDEO[4..8]);
}

#[tokio::test]
async fn altered_and_unsigned_requests_are_refused() {
    let (app, _clock) = spawn_app_with_clock(&[]).await;
    put(&app, "rooms/standup/CJ3.mp4").await;
    put(&app, "rooms/standup/CJ4.mp4").await;
    let link = app
        .recordings
        .link(
            "rooms/standup/CJ3.mp4",
            Duration::from_secs(60),
            &Disposition::Attachment {
                filename: "a.mp4".into(),
            },
        )
        .unwrap();
    let link = link.expose_secret();
    let (path, query) = link.split_once('?').unwrap();
    let exp: u64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("e="))
        .unwrap()
        .parse()
        .unwrap();
    let altered = [
        // Another file with this file's signature.
        link.replace("CJ3", "CJ4"),
        // A longer life.
        link.replace(&format!("e={exp}"), &format!("e={}", exp + 3600)),
        // Another name, or shown inline.
        link.replace("n=a.mp4", "n=b.mp4"),
        link.replace("d=attachment", "d=inline"),
        // A signature with one character changed.
        {
            let mut l = link.to_owned();
            let last = l.pop().unwrap();
            l.push(if last == 'A' { 'B' } else { 'A' });
            l
        },
        // No signature at all, or nothing but the path.
        query
            .split('&')
            .filter(|p| !p.starts_with("s="))
            .fold(format!("{path}?"), |acc, p| acc + p + "&"),
        path.to_owned(),
        // The checksum file next to the recording.
        link.replace("CJ3.mp4", ".CJ3.mp4.sha256"),
    ];
    for request in &altered {
        assert_ne!(request, link);
        let response = app.get_recording_file(request).await;
        assert_eq!(response.status(), 403, "{request}");
    }
    assert_eq!(app.get_recording_file(link).await.status(), 200);

    // A way out of the directory, sent as is (an HTTP client would resolve the dots).
    let escape = link.replace("rooms/standup/CJ3.mp4", "rooms/../../recording-links.key");
    let status = raw_get(&app.address, &escape).await;
    assert_eq!(status, "HTTP/1.1 403 Forbidden", "{escape}");
}

/// The status line of a GET for `target` exactly as written.
async fn raw_get(address: &str, target: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response.lines().next().unwrap_or_default().to_owned()
}
