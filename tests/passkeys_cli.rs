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

/// Two passkeys for alice, saved in the embedded store under `data`; their ids. The
/// store is closed when this returns (its runtime is gone), as after `serve` stops.
fn seed(data: &Path) -> Vec<String> {
    let data = data.to_owned();
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
                    phone: "fingerprint".into(),
                    created: 1_795_334_400,
                    last_used: None,
                });
            }
            let saved = record.clone();
            passkeys
                .update("alice", |r| *r = Some(saved))
                .await
                .unwrap();
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
    let ids = seed(&dir.join("data"));

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

    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    let revoked: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"passkey_revoked\""))
        .collect();
    assert_eq!(revoked.len(), 2, "{audit}");
    assert!(
        revoked
            .iter()
            .all(|l| l.contains("\"alice\"") && l.contains("by=host"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
