//! `roomgate passkeys list|revoke` through the real binary, on an embedded store holding
//! passkeys registered (in-process, with a software authenticator) as the server would.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use roomgate::clock::SystemClock;
use roomgate::passkeys::{Passkeys, StoredPasskey, UserPasskeys};
use roomgate::store::Store;
use roomgate::store::embedded::EmbeddedStore;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const ORIGIN: &str = "http://localhost:8080";
const ACL: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup"]

[users.bob]
phone = "+447400123456"
rooms = ["*"]
"#;

/// Two passkeys for alice, bound to the number whose fingerprint is `phone`, saved in
/// the embedded store under `data`; their ids. The store is closed when this returns
/// (its runtime is gone), as after `serve` stops.
fn seed(data: &Path, phone: &str) -> Vec<String> {
    let data = data.to_owned();
    let phone = phone.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let store: Arc<dyn Store> = Arc::new(
                EmbeddedStore::open(&data, Arc::new(SystemClock))
                    .await
                    .unwrap(),
            );
            let url = Url::parse(ORIGIN).unwrap();
            let passkeys = Passkeys::new(&url, store, b"a session key").unwrap();
            let mut record = UserPasskeys::new();
            for _ in 0..2 {
                let (options, state) = passkeys
                    .start_registration(record.handle, "alice", Vec::new())
                    .unwrap();
                let response = SoftPasskey::new(true)
                    .do_registration(url.clone(), options)
                    .unwrap();
                let passkey = passkeys.finish_registration(&response, &state).unwrap();
                record.credentials.push(StoredPasskey {
                    passkey,
                    phone: phone.clone(),
                    created: 1_795_334_400,
                    last_used: None,
                });
            }
            let saved = record.clone();
            passkeys
                .update("alice", |r| *r = Some(saved))
                .await
                .unwrap();
            // And the audit log `serve` would have made (ROOMGATE_AUDIT_LOG below).
            let audit = data.parent().unwrap().join("audit.log");
            if !audit.exists() {
                std::fs::write(audit, "").unwrap();
            }
            record.credentials.iter().map(StoredPasskey::id).collect()
        })
    })
    .join()
    .unwrap()
}

fn roomgate(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("ROOMGATE_DATA_DIR", dir.join("data"))
        .env("ROOMGATE_ACL", dir.join("acl.toml"))
        .env("ROOMGATE_AUDIT_LOG", dir.join("audit.log"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn hosts_list_and_revoke_passkeys_and_revocations_are_audited() {
    let dir = support::fresh_dir("passkeys-cli");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    let ids = seed(&dir.join("data"), "fingerprint");

    let (code, out, err) = roomgate(&dir, &["passkeys", "list"]);
    assert_eq!(code, 0, "{err}");
    for id in &ids {
        assert!(
            out.contains(&format!(
                "alice\t{id}\tadded 2026-11-22T08:00:00Z\tlast used never"
            )),
            "{out}"
        );
    }
    assert!(out.ends_with("2 passkey(s)\n"), "{out}");
    let (_, out, _) = roomgate(&dir, &["passkeys", "list", "bob"]);
    assert_eq!(out, "0 passkey(s)\n");

    let (code, out, err) = roomgate(&dir, &["passkeys", "revoke", "alice", &ids[0]]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1 passkey(s) of alice revoked\n");
    let (_, out, _) = roomgate(&dir, &["passkeys", "list", "alice"]);
    assert!(!out.contains(&ids[0]) && out.contains(&ids[1]), "{out}");
    let (code, _, err) = roomgate(&dir, &["passkeys", "revoke", "alice", &ids[0]]);
    assert_ne!(code, 0, "already gone");
    assert!(
        err.contains(&format!("alice has no passkey {}", ids[0])),
        "{err}"
    );
    // An id is URL-safe base64: one in 64 begins with `-`, and is an id, not an option.
    let (code, _, err) = roomgate(&dir, &["passkeys", "revoke", "alice", "-3kD9x"]);
    assert_ne!(code, 0);
    assert!(err.contains("alice has no passkey -3kD9x"), "{err}");
    // Names are read as the join page reads them; a name that can't be one is refused.
    let (code, out, err) = roomgate(&dir, &["passkeys", "list", " Alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&ids[1]), "{out}");
    let (code, _, err) = roomgate(&dir, &["passkeys", "revoke", "al/ice"]);
    assert_ne!(code, 0);
    assert!(err.contains("al/ice"), "{err}");

    let (code, out, _) = roomgate(&dir, &["passkeys", "revoke", "ALICE"]);
    assert_eq!(code, 0);
    assert_eq!(out, "1 passkey(s) of alice revoked\n");
    let (_, out, _) = roomgate(&dir, &["passkeys", "list"]);
    assert_eq!(out, "0 passkey(s)\n");

    // A list broken by an edit stops listing everyone, not a revocation, nor one
    // user's listing.
    let ids = seed(&dir.join("data"), "fingerprint");
    std::fs::write(dir.join("acl.toml"), "[users.alice]\nphone = \"+1415\"\n").unwrap();
    let (code, _, err) = roomgate(&dir, &["passkeys", "list"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("reading the ACL") && err.contains("acl.toml:2:9"),
        "{err}"
    );
    let (code, out, err) = roomgate(&dir, &["passkeys", "list", "alice"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("2 passkey(s)\n"), "{out}");
    let (code, out, err) = roomgate(&dir, &["passkeys", "revoke", "alice", &ids[1]]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1 passkey(s) of alice revoked\n");

    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let revoked: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"passkey_revoked\""))
        .collect();
    assert_eq!(revoked.len(), 3, "{audit}");
    assert!(
        revoked
            .iter()
            .all(|l| l.contains("\"alice\"") && l.contains("by=host"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `roomgate` as [`roomgate`] runs it, off the test's runtime.
async fn roomgate_now(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        roomgate(&dir, &args)
    })
    .await
    .unwrap()
}

/// A local-mode `serve` on the store, list and audit log [`roomgate`] uses.
async fn serve(dir: &Path, session_key: &str) -> support::Roomgate {
    let env = [
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_DATA_DIR", dir.join("data").display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            dir.join("audit.log").display().to_string(),
        ),
        ("ROOMGATE_SESSION_KEY", session_key.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    support::Roomgate::start(&env, "127.0.0.1:0").await
}

#[tokio::test]
async fn while_serve_holds_the_embedded_store_it_runs_the_hosts_commands() {
    use std::os::unix::fs::PermissionsExt;

    let dir = support::fresh_dir("passkeys-serve");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    // Bound to alice's number on the server's list, so its start-up sweep keeps them.
    let session_key = "K".repeat(64);
    let alice = roomgate::domain::PhoneNumber::parse("+14155550101").unwrap();
    let phone = roomgate::passkeys::PhoneKey::new(session_key.as_bytes()).fingerprint(&alice);
    let ids = seed(&dir.join("data"), &phone);
    let server = serve(&dir, &session_key).await;
    let socket = dir.join("data").join("control.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "only roomgate's user may use the socket"
    );

    // The server holds the database: each command is the server's to run.
    let (code, out, err) = roomgate_now(&dir, &["passkeys", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(ids.iter().all(|id| out.contains(id.as_str())), "{out}");
    assert!(out.ends_with("2 passkey(s)\n"), "{out}");
    let (code, out, err) = roomgate_now(&dir, &["passkeys", "revoke", "Alice", &ids[0]]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1 passkey(s) of alice revoked\n");
    let (_, out, _) = roomgate_now(&dir, &["passkeys", "list", "alice"]).await;
    assert!(!out.contains(&ids[0]) && out.contains(&ids[1]), "{out}");
    // Its refusals are the host's to read, and the exit status says so.
    let (code, out, err) = roomgate_now(&dir, &["passkeys", "revoke", "alice", &ids[0]]).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        err.contains(&format!("alice has no passkey {}", ids[0])),
        "{err}"
    );
    let (code, _, err) = roomgate_now(&dir, &["passkeys", "revoke", "al/ice"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("al/ice"), "{err}");
    let (code, out, err) = roomgate_now(&dir, &["recordings", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "no recordings\n");
    let (code, _, err) = roomgate_now(&dir, &["recordings", "list", "--room", "No Room"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("--room \"No Room\""), "{err}");
    // The revocation is in the audit log, written by the server.
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let revoked = audit
        .lines()
        .filter(|l| l.contains("\"passkey_revoked\""))
        .count();
    assert_eq!(revoked, 1, "{audit}");
    // (Its log line may reach the test's reader a moment after the answer.)
    let logged = || server.output().contains("host command run for the CLI");
    for _ in 0..100 {
        if logged() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(logged(), "{}", server.output());

    // Arguments longer than the socket takes get the answers they get without a
    // server (below), not the socket's words about its limit.
    let long_user = "x".repeat(5000);
    let long_id = "A".repeat(5000);
    let too_long: [&[&str]; 3] = [
        &["passkeys", "list", &long_user],
        &["passkeys", "revoke", "alice", &long_id],
        &["recordings", "delete", &long_id],
    ];
    let mut refused = Vec::new();
    for args in too_long {
        let (code, out, err) = roomgate_now(&dir, args).await;
        assert_eq!(code, 1, "{out}");
        refused.push(err);
    }
    assert!(
        refused[1].contains("5000 characters long"),
        "{}",
        refused[1]
    );
    assert!(
        refused.iter().all(|err| !err.contains("JSON")),
        "{refused:?}"
    );

    // `kill -9` leaves the socket behind; with nobody on it, the CLI opens the store.
    server.kill9().await;
    assert!(socket.exists());
    let (code, out, err) = roomgate_now(&dir, &["passkeys", "list", "alice"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("1 passkey(s)\n"), "{out}");
    for (args, running) in too_long.into_iter().zip(&refused) {
        let (code, _, err) = roomgate_now(&dir, args).await;
        assert_eq!(code, 1);
        assert_eq!(&err, running);
    }

    // The next server replaces it, and a clean stop removes it.
    let server = serve(&dir, &session_key).await;
    let (code, out, err) = roomgate_now(&dir, &["passkeys", "revoke", "alice"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "1 passkey(s) of alice revoked\n");
    server.stop().await;
    assert!(!socket.exists());
    let (_, out, _) = roomgate_now(&dir, &["passkeys", "list"]).await;
    assert_eq!(out, "0 passkey(s)\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The socket's mode keeps other users out; should it be opened to all, the server
/// still refuses anyone but its own user (and root). Only root can run a process as
/// another user, so without root this checks the mode alone.
#[tokio::test]
async fn another_user_is_refused_even_on_a_socket_opened_to_all() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;

    let dir = support::fresh_dir("passkeys-other-user");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    let server = serve(&dir, &"K".repeat(64)).await;
    let data = dir.join("data");
    let socket = data.join("control.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // Only root can run a process as another user, and that user must be able to
    // reach the directory.
    let reachable = dir
        .ancestors()
        .skip(1)
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if meta.uid() != 0 || !reachable {
        eprintln!(
            "not root, or {} out of other users' reach: another user's refusal is not tried",
            dir.display()
        );
        server.stop().await;
        return;
    }
    for (path, mode) in [(&dir, 0o755), (&data, 0o755), (&socket, 0o666)] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // The binary where that user can reach it: a link if the file systems allow,
    // else a copy.
    let bin = dir.join("roomgate");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_roomgate"), &bin).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_roomgate"), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            Command::new(&bin)
                .args(["passkeys", "revoke", "alice"])
                .current_dir(&dir)
                .env_clear()
                .env("ROOMGATE_DATA_DIR", dir.join("data"))
                .env("ROOMGATE_ACL", dir.join("acl.toml"))
                .uid(65534)
                .gid(65534)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("only the user running roomgate may use this socket"),
        "{err}"
    );
    let log = server.stop().await;
    assert!(
        log.contains("refused a user other than roomgate's"),
        "{log}"
    );
    assert!(!log.contains("host command run"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A data directory whose path is too long for a socket's still serves; the CLI then
/// says the store is in use.
#[tokio::test]
async fn a_data_directory_too_long_for_a_socket_still_serves() {
    let dir = support::fresh_dir("passkeys-long");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    let deep = dir.join("d".repeat(60)).join("e".repeat(60));
    let env = [
        ("ROOMGATE_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("ROOMGATE_DATA_DIR", deep.display().to_string()),
        (
            "ROOMGATE_AUDIT_LOG",
            dir.join("audit.log").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let server = support::Roomgate::start(&env, "127.0.0.1:0").await;
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );
    let out = tokio::task::spawn_blocking({
        let (dir, deep) = (dir.clone(), deep.clone());
        move || {
            Command::new(env!("CARGO_BIN_EXE_roomgate"))
                .args(["passkeys", "list"])
                .current_dir(&dir)
                .env_clear()
                .env("ROOMGATE_DATA_DIR", &deep)
                .env("ROOMGATE_ACL", dir.join("acl.toml"))
                .env("ROOMGATE_AUDIT_LOG", dir.join("audit.log"))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is in use by another roomgate"), "{err}");
    let log = server.stop().await;
    assert!(log.contains("no control socket"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The CLI talks only to a socket the data directory's owner made: anything else by
/// that name is refused, not trusted with the command nor passed over.
#[test]
fn a_control_sock_that_is_not_a_servers_socket_is_not_used() {
    let dir = support::fresh_dir("passkeys-planted");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join("control.sock"), "not a socket").unwrap();
    let (code, out, err) = roomgate(&dir, &["passkeys", "revoke", "alice"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("is not a running roomgate's socket"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run from a directory where `serve` never ran (the default data directory, `data`,
/// is relative), the hosts' commands say there is no store there, fail, and create
/// nothing: not a new, empty store that would answer "0 passkeys" or "no recordings"
/// (and from then on make `store check` report one), nor an audit log.
#[test]
fn the_hosts_commands_never_create_a_store() {
    let dir = support::fresh_dir("cli-no-store");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    for args in [
        &["passkeys", "list", "alice"][..],
        &["passkeys", "list"],
        &["passkeys", "revoke", "alice"],
        &["recordings", "list"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(args)
            .current_dir(&dir)
            .env_clear()
            .env("ROOMGATE_ACL", dir.join("acl.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("no database at") && stderr.contains("roomgate serve` creates it"),
            "{args:?}: {stderr}"
        );
        assert!(
            !dir.join("data").exists(),
            "{args:?} created a data directory"
        );
        assert!(
            !dir.join("audit.log").exists(),
            "{args:?} created an audit log"
        );
    }
}

/// With the embedded store, `serve` made an audit log where it runs: a command that
/// finds none (run from another directory, or as another user with another
/// ROOMGATE_AUDIT_LOG) says so and writes nothing, rather than start a stray log that
/// the service, running as another user, could not open.
#[test]
fn the_hosts_commands_never_start_a_stray_audit_log() {
    let dir = support::fresh_dir("cli-no-audit");
    std::fs::write(dir.join("acl.toml"), ACL).unwrap();
    let ids = seed(&dir.join("data"), "fingerprint");
    std::fs::remove_file(dir.join("audit.log")).unwrap();
    for args in [
        &["passkeys", "revoke", "alice", ids[0].as_str()][..],
        &["recordings", "purge"],
    ] {
        let (code, _, err) = roomgate(&dir, args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains("there is no audit log at") && err.contains("`roomgate serve` creates it"),
            "{args:?}: {err}"
        );
        assert!(!dir.join("audit.log").exists(), "{args:?} made one");
    }
    // Nothing was revoked unaudited.
    let (_, out, _) = roomgate(&dir, &["passkeys", "list", "alice"]);
    assert!(out.contains(&ids[0]), "{out}");
}
