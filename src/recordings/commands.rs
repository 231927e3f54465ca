//! `roomgate recordings list | link | delete | purge`: the operator's side of the
//! library, against the same store, storage, ACL and audit log `serve` uses. Every
//! link printed and every deletion is audited with `cli` as the one who asked. Run
//! through [`crate::control`], by the CLI or by a running `serve` on its behalf.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::Url;
use secrecy::ExposeSecret;

use super::catalog::{Recording, State};
use super::library::{
    Library, LibraryError, Purpose, Requester, RoomPolicy, duration_text, ended_text, size_text,
};
use super::storage::{self, StorageSettings};
use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::control::CommandError;
use crate::domain::RoomName;
use crate::store::Store;

const CLI: Requester<'static> = Requester::CLI;

/// The library, and where its relative links point.
pub struct Recordings {
    library: Library,
    public_url: Url,
}

impl Recordings {
    /// A running server's library; links relative to `public_url`.
    pub fn new(library: Library, public_url: Url) -> Self {
        Self {
            library,
            public_url,
        }
    }

    /// The library as `serve` would have it, its storage opened from `var` (the
    /// environment, `.env` already read), retention as `policy` says.
    pub fn open(
        var: impl Fn(&str) -> Option<String> + Copy,
        store: Arc<dyn Store>,
        policy: Arc<dyn RoomPolicy>,
        audit: AuditLog,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let storage_settings =
            StorageSettings::from_lookup(var).map_err(|l| anyhow::anyhow!(l.join("\n")))?;
        let files = storage::open(
            &storage_settings,
            &storage_settings.data_dir,
            crate::twilio::verify::http_client(Duration::from_secs(10)),
            clock,
        )?;
        let public_url = crate::config::public_url(var);
        Ok(Self::new(
            Library::new(store, files, policy, audit, storage_settings.link_ttl),
            public_url,
        ))
    }

    /// One line per recording, newest first.
    pub async fn list(&self, room: Option<&RoomName>) -> Result<String, CommandError> {
        let mut out = String::new();
        let recordings = self
            .library
            .list(room)
            .await
            .context("listing recordings")?;
        for rec in recordings {
            out.push_str(&line(&rec));
            out.push('\n');
        }
        if out.is_empty() {
            out.push_str("no recordings\n");
        }
        Ok(out)
    }

    /// A link to play (or download) recording `id`, as an absolute URL.
    pub async fn link(&self, id: &str, download: bool) -> Result<String, CommandError> {
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

    pub async fn delete(&self, id: &str) -> Result<String, CommandError> {
        let rec = self.library.find(id, None).await.map_err(explain)?;
        self.library.delete(&rec, &CLI).await.map_err(explain)?;
        Ok(format!("deleted {id} ({})\n", rec.room))
    }

    /// Apply every room's retention now.
    pub async fn purge(&self) -> Result<String, CommandError> {
        let n = self.library.expire().await.context("applying retention")?;
        Ok(format!("{n} recordings past their retention deleted\n"))
    }
}

fn explain(e: LibraryError) -> CommandError {
    match e {
        LibraryError::NotFound => {
            CommandError::Refused("no such recording (see `roomgate recordings list`)".into())
        }
        LibraryError::NotStored => {
            CommandError::Refused("that recording is still being processed".into())
        }
        LibraryError::Busy => CommandError::Refused(
            "that recording's job is running a step right now; try again in a minute".into(),
        ),
        other => CommandError::Failed(anyhow::Error::new(other)),
    }
}

fn line(rec: &Recording) -> String {
    let state = match rec.state() {
        State::Processing => "processing".to_owned(),
        State::Stored => "stored".to_owned(),
        State::Failed(_, why) => format!("failed: {why}"),
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
