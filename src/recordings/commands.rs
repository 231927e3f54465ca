//! `roomgate recordings list | link | delete | purge`: the operator's side of the
//! library, against the same store, storage, ACL and audit log `serve` uses (read from
//! the same environment). Every link printed and every deletion is audited with
//! `cli` as the one who asked.
//!
//! The embedded store admits one process at a time: with it, these commands run while
//! `serve` is stopped (Redis has no such limit).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;
use secrecy::ExposeSecret;

use super::catalog::{Recording, State};
use super::library::{
    Library, LibraryError, Purpose, Requester, duration_text, ended_text, size_text,
};
use super::storage::{self, StorageSettings};
use crate::acl::{Acl, AclPolicy, AclStore};
use crate::audit::{AuditConfig, AuditLog};
use crate::clock::SystemClock;
use crate::domain::RoomName;
use crate::metrics::Metrics;
use crate::store::{self, StoreSettings};

const CLI: Requester<'static> = Requester {
    who: "cli",
    ip: None,
};

/// The library as `serve` would have it, and where its relative links point.
pub struct Recordings {
    library: Library,
    public_url: Url,
}

impl Recordings {
    /// Open everything from `var` (the environment, `.env` already read) and the ACL
    /// file at `acl_path` (for each room's retention).
    pub async fn open(
        var: impl Fn(&str) -> Option<String> + Copy,
        store_settings: &StoreSettings,
        acl_path: &Path,
    ) -> anyhow::Result<Self> {
        let lines = |l: Vec<String>| anyhow::anyhow!(l.join("\n"));
        let policy = AclPolicy::from_lookup(var).map_err(lines)?;
        let acl = Acl::load_with(acl_path, &policy)
            .map_err(|e| anyhow::anyhow!("{}", e.redacted()))
            .with_context(|| format!("reading the ACL {}", acl_path.display()))?;
        let acl = Arc::new(AclStore::new(acl, acl_path.to_owned(), policy));
        let audit_config = AuditConfig::from_lookup(var).map_err(lines)?;
        let audit = AuditLog::open_with(&audit_config.path, audit_config.key, audit_config.limits)
            .with_context(|| format!("opening the audit log {}", audit_config.path.display()))?;
        let storage_settings = StorageSettings::from_lookup(var).map_err(lines)?;
        let clock = Arc::new(SystemClock);
        let store = store::open(store_settings, clock.clone(), &Metrics::new())
            .await
            .context("opening the store (the embedded store works only while `roomgate serve` is stopped)")?;
        let files = storage::open(
            &storage_settings,
            &storage_settings.data_dir,
            crate::twilio::verify::http_client(Duration::from_secs(10)),
            clock,
        )?;
        let public_url = var("ROOMGATE_PUBLIC_URL")
            .and_then(|u| Url::parse(&u).ok())
            .unwrap_or_else(|| Url::parse("http://127.0.0.1:8080/").expect("a URL"));
        Ok(Self {
            library: Library::new(store, files, acl, audit, storage_settings.link_ttl),
            public_url,
        })
    }

    /// One line per recording, newest first.
    pub async fn list(&self, room: Option<&RoomName>) -> anyhow::Result<String> {
        let mut out = String::new();
        for rec in self.library.list(room).await? {
            out.push_str(&line(&rec));
            out.push('\n');
        }
        if out.is_empty() {
            out.push_str("no recordings\n");
        }
        Ok(out)
    }

    /// A link to play (or download) recording `id`, as an absolute URL.
    pub async fn link(&self, id: &str, download: bool) -> anyhow::Result<String> {
        let rec = self.library.find(id, None).await.map_err(explain)?;
        let purpose = if download {
            Purpose::Download
        } else {
            Purpose::Play
        };
        let link = self
            .library
            .link(&rec, purpose, &CLI)
            .await
            .map_err(explain)?;
        // Local storage's links are paths on roomgate itself.
        let url = self
            .public_url
            .join(link.expose_secret())
            .context("the link is not a URL")?;
        Ok(format!(
            "{url}\n(valid for {} seconds)\n",
            self.library.link_ttl().as_secs()
        ))
    }

    pub async fn delete(&self, id: &str) -> anyhow::Result<String> {
        let rec = self.library.find(id, None).await.map_err(explain)?;
        self.library.delete(&rec, &CLI).await.map_err(explain)?;
        Ok(format!("deleted {id} ({})\n", rec.room))
    }

    /// Apply every room's retention now.
    pub async fn purge(&self) -> anyhow::Result<String> {
        let n = self.library.expire().await?;
        Ok(format!("{n} recordings past their retention deleted\n"))
    }
}

fn explain(e: LibraryError) -> anyhow::Error {
    match e {
        LibraryError::NotFound => {
            anyhow::anyhow!("no such recording (see `roomgate recordings list`)")
        }
        LibraryError::NotStored => anyhow::anyhow!("that recording is still being processed"),
        other => anyhow::Error::new(other),
    }
}

fn line(rec: &Recording) -> String {
    let state = match rec.state() {
        State::Processing => "processing".to_owned(),
        State::Stored => "stored".to_owned(),
        State::Failed(why) => format!("failed: {why}"),
    };
    format!(
        "{}  {:<20} {}  {:>8}  {:>9}  {state}",
        rec.id,
        rec.room,
        ended_text(rec),
        rec.duration_secs
            .map(duration_text)
            .unwrap_or_else(|| "-".into()),
        rec.size.map(size_text).unwrap_or_else(|| "-".into()),
    )
}
