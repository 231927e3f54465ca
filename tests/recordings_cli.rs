//! `roomgate recordings list | link | delete | purge`, through the real binary, on an
//! embedded store and local storage seeded the way the pipeline leaves them.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use roomgate::clock::SystemClock;
use roomgate::domain::RoomName;
use roomgate::recordings::catalog::{Catalog, Recording, Stage};
use roomgate::recordings::storage::{self, StorageSettings};
use roomgate::store::embedded::EmbeddedStore;
use support::{EXAMPLE_ACL, fresh_dir};

/// Ended 10 days ago: inside standup's 90 days.
const RECENT: &str = "RM00000000000000000000000000000010";
/// Ended 100 days ago: past them.
const OLD: &str = "RM00000000000000000000000000000100";
const DAY: Duration = Duration::from_secs(86_400);

/// Store a recording of standup that ended `ago`, with its file, as the pipeline
/// leaves one.
async fn seed(dir: &Path) {
    let clock = Arc::new(SystemClock);
    let store = Arc::new(EmbeddedStore::open(dir, clock.clone()).await.unwrap());
    let settings = StorageSettings {
        data_dir: dir.to_owned(),
        ..StorageSettings::default()
    };
    let files = storage::open(&settings, dir, reqwest::Client::new(), clock).unwrap();
    let catalog = Catalog::new(store.clone());
    let room = RoomName::parse("standup").unwrap();
    for (id, ago) in [(RECENT, DAY * 10), (OLD, DAY * 100)] {
        let key = format!("standup/{id}.mp4");
        let body =
            futures_util::stream::iter([Ok(bytes::Bytes::from_static(b"mp4 bytes"))]).boxed();
        let stored = files.put(&key, body).await.unwrap();
        let mut rec = Recording::new(id, &room, SystemTime::now() - ago);
        rec.stage = Stage::Stored;
        rec.object_key = Some(key);
        rec.size = Some(stored.size);
        rec.duration_secs = Some(754);
        catalog.save(&rec, DAY * 90, false).await.unwrap();
    }
    // And the audit log `serve` would have made beside it.
    std::fs::write(dir.join("audit.log"), "").unwrap();
}

fn roomgate(dir: &Path, args: &[&str]) -> (bool, String, String) {
    roomgate_with(dir, Path::new(EXAMPLE_ACL), args)
}

fn roomgate_with(dir: &Path, acl: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .arg("recordings")
        .args(args)
        .arg("--acl")
        .arg(acl)
        .env_clear()
        .env("ROOMGATE_DATA_DIR", dir)
        .env("ROOMGATE_AUDIT_LOG", dir.join("audit.log"))
        .env("ROOMGATE_PUBLIC_URL", "https://gate.example.com")
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn list_link_purge_and_delete_work_on_what_the_pipeline_stored() {
    let dir = fresh_dir("recordings-cli");
    seed(&dir).await;

    let (ok, listed, err) = roomgate(&dir, &["list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    // Newest first, with room, duration, size and state.
    assert!(
        lines[0].starts_with(RECENT) && lines[1].starts_with(OLD),
        "{listed}"
    );
    assert!(lines[0].contains("standup") && lines[0].contains("12:34") && lines[0].contains("9 B"));
    assert!(lines[0].ends_with("stored"), "{listed}");
    let (ok, only, _) = roomgate(&dir, &["list", "--room", "all-hands"]);
    assert!(ok);
    assert_eq!(only, "no recordings\n");

    let (ok, link, err) = roomgate(&dir, &["link", RECENT, "--download"]);
    assert!(ok, "{err}");
    assert!(
        link.starts_with("https://gate.example.com/recordings/files/standup/"),
        "{link}"
    );
    assert!(link.contains("(valid for 60 seconds)"));

    let (ok, purged, err) = roomgate(&dir, &["purge"]);
    assert!(ok, "{err}");
    assert_eq!(purged, "1 recordings past their retention deleted\n");
    assert!(!dir.join(format!("recordings/standup/{OLD}.mp4")).exists());
    assert!(
        dir.join(format!("recordings/standup/{RECENT}.mp4"))
            .exists()
    );

    let (ok, deleted, err) = roomgate(&dir, &["delete", RECENT]);
    assert!(ok, "{err}");
    assert!(deleted.starts_with(&format!("deleted {RECENT}")));
    assert!(
        !dir.join(format!("recordings/standup/{RECENT}.mp4"))
            .exists()
    );
    assert_eq!(roomgate(&dir, &["list"]).1, "no recordings\n");

    let (ok, _, err) = roomgate(&dir, &["link", OLD]);
    assert!(!ok);
    assert!(err.contains("no such recording"), "{err}");
    let (ok, _, err) = roomgate(&dir, &["list", "--room", "Not A Room"]);
    assert!(!ok);
    assert!(err.contains("--room"), "{err}");

    // Every link and deletion is on file, the link itself is not.
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert_eq!(audit.matches("recording_link_issued").count(), 1, "{audit}");
    assert!(audit.contains(&format!("download {RECENT} by cli")));
    assert_eq!(audit.matches("recording_deleted").count(), 2);
    assert!(audit.contains("retention"));
    assert!(!audit.contains("/recordings/files/"));
}

/// An error in the list keeps no operator from listing, linking or deleting
/// recordings (none of which reads it); purging, which needs the rooms' retention,
/// says what is wrong and where, and deletes nothing.
#[tokio::test]
async fn only_purge_needs_a_valid_list() {
    let dir = fresh_dir("recordings-cli-bad-acl");
    seed(&dir).await;
    let acl = dir.join("acl.toml");
    let example = std::fs::read_to_string(EXAMPLE_ACL).unwrap();
    let first_phone = example
        .lines()
        .position(|l| l.starts_with("phone = "))
        .expect("the example has a phone")
        + 1;
    let broken = example.replacen("phone = \"+", "phone = \"0", 1);
    std::fs::write(&acl, broken).unwrap();

    let (ok, listed, err) = roomgate_with(&dir, &acl, &["list"]);
    assert!(ok, "{err}");
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let (ok, link, err) = roomgate_with(&dir, &acl, &["link", RECENT]);
    assert!(ok, "{err}");
    assert!(link.contains("/recordings/files/standup/"), "{link}");

    let (ok, out, err) = roomgate_with(&dir, &acl, &["purge"]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("acl.toml:{first_phone}:")) && err.contains("phone"),
        "{err}"
    );
    assert!(dir.join(format!("recordings/standup/{OLD}.mp4")).exists());

    let (ok, deleted, err) = roomgate_with(&dir, &acl, &["delete", OLD]);
    assert!(ok, "{err}");
    assert!(deleted.starts_with(&format!("deleted {OLD}")), "{deleted}");
    assert!(!dir.join(format!("recordings/standup/{OLD}.mp4")).exists());
}

/// While `serve` holds the embedded store, it runs the commands: the link it prints
/// plays on it at once, and a deletion is gone from it.
#[tokio::test]
async fn while_serve_runs_its_links_play_and_deletions_are_gone() {
    let dir = fresh_dir("recordings-cli-serve");
    seed(&dir).await;
    let env = [
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_DATA_DIR", dir.display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            dir.join("audit.log").display().to_string(),
        ),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let server = support::Roomgate::start(&env, "127.0.0.1:0").await;
    let run = |args: &'static [&'static str]| {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || roomgate(&dir, args))
    };

    // (The old one may be gone already: the server applies retention as it starts.)
    let (ok, listed, err) = run(&["list"]).await.unwrap();
    assert!(ok, "{err}");
    assert!(listed.starts_with(RECENT), "{listed}");
    let (ok, link, err) = run(&["link", RECENT]).await.unwrap();
    assert!(ok, "{err}");
    // The server's own address, not the CLI's ROOMGATE_PUBLIC_URL.
    let url = reqwest::Url::parse(link.lines().next().unwrap()).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"), "{link}");
    let target = server.url(&format!("{}?{}", url.path(), url.query().unwrap()));
    let played = reqwest::get(&target).await.unwrap();
    assert_eq!(played.status(), 200);
    assert_eq!(played.bytes().await.unwrap(), "mp4 bytes");

    let (ok, deleted, err) = run(&["delete", RECENT]).await.unwrap();
    assert!(ok, "{err}");
    assert!(
        deleted.starts_with(&format!("deleted {RECENT}")),
        "{deleted}"
    );
    assert_eq!(reqwest::get(&target).await.unwrap().status(), 404);
    let (ok, _, err) = run(&["link", RECENT]).await.unwrap();
    assert!(!ok);
    assert!(err.contains("no such recording"), "{err}");

    let log = server.stop().await;
    assert_eq!(
        log.matches("host command run for the CLI").count(),
        3,
        "{log}"
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert!(audit.contains(&format!("play {RECENT} by cli")), "{audit}");
    assert!(audit.contains(&format!("{RECENT} by cli\"")), "{audit}");
}
