//! The host's store commands, `roomgate passkeys …` and `roomgate recordings list |
//! link | delete | purge`, wherever they run.
//!
//! The embedded store admits one process at a time, and `serve` holds it. So with it,
//! a running `serve` runs these commands for the CLI, sent over its control socket
//! ([`socket`]), against its own store, list, storage and audit log; with no server
//! running (or with Redis, which any number of processes share) the CLI opens them
//! itself and runs the same [`HostCommands::run`].

pub mod socket;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::acl::{Acl, AclPolicy, AclStore};
use crate::audit::{AuditConfig, AuditEvent, AuditLog, AuditRecord};
use crate::domain::{RoomName, Username};
use crate::metrics::Metrics;
use crate::recordings::commands::Recordings;
use crate::recordings::library::{KeepAll, RoomPolicy};
use crate::store::{self, Store, StoreSettings};

/// One command, as the CLI parsed it and the socket carries it (JSON). Names and
/// rooms are carried as typed and read by [`HostCommands::run`], so a command from
/// either side is checked the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    PasskeysList { user: Option<String> },
    PasskeysRevoke { user: String, id: Option<String> },
    RecordingsList { room: Option<String> },
    RecordingsLink { id: String, download: bool },
    RecordingsDelete { id: String },
    RecordingsPurge,
}

impl Command {
    fn is_recordings(&self) -> bool {
        matches!(
            self,
            Self::RecordingsList { .. }
                | Self::RecordingsLink { .. }
                | Self::RecordingsDelete { .. }
                | Self::RecordingsPurge
        )
    }

    /// What can be told without the store: the names are names, the room a room,
    /// and no id is longer than any id `list` prints. The CLI checks it before it
    /// sends the command to a running `serve`, and [`HostCommands::run`] again, so
    /// the answer is the same either way (an over-long argument used to exceed the
    /// socket's limit and get its words instead).
    pub fn check(&self) -> Result<(), CommandError> {
        let id_fits = |what: &str, id: &str| {
            // Bytes, as the socket counts them; an id is ASCII, so also characters.
            let len = id.len();
            if len > MAX_ID_CHARS {
                return Err(CommandError::Refused(format!(
                    "that {what} id is {len} characters long: no id `roomgate {what}s list` prints is"
                )));
            }
            Ok(())
        };
        match self {
            Self::PasskeysList { user: Some(user) } => username(user).map(drop),
            Self::PasskeysRevoke { user, id } => {
                username(user)?;
                id.as_deref().map_or(Ok(()), |id| id_fits("passkey", id))
            }
            Self::RecordingsList { room: Some(room) } => room_name(room).map(drop),
            Self::RecordingsLink { id, .. } | Self::RecordingsDelete { id } => {
                id_fits("recording", id)
            }
            Self::PasskeysList { user: None } | Self::RecordingsList { room: None } => Ok(()),
            Self::RecordingsPurge => Ok(()),
        }
    }

    /// For the server's log: what was asked, without whom or what it named.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PasskeysList { .. } => "passkeys list",
            Self::PasskeysRevoke { .. } => "passkeys revoke",
            Self::RecordingsList { .. } => "recordings list",
            Self::RecordingsLink { .. } => "recordings link",
            Self::RecordingsDelete { .. } => "recordings delete",
            Self::RecordingsPurge => "recordings purge",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// What the host asked for can't be done as asked: a name that can't be one, a
    /// passkey or recording that isn't there. The message says why.
    #[error("{0}")]
    Refused(String),
    /// The store, the storage or the audit log failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// What the commands work on: the store, the list, the audit log, and (for the
/// recordings commands) the library. The CLI opens only what its command needs: a
/// revocation must work when the list has just been broken by an edit, say.
pub struct HostCommands {
    store: Arc<dyn Store>,
    acl: Option<Arc<AclStore>>,
    audit: Option<AuditLog>,
    recordings: Option<Recordings>,
}

impl HostCommands {
    /// A running server's own parts.
    pub fn new(
        store: Arc<dyn Store>,
        acl: Arc<AclStore>,
        audit: AuditLog,
        recordings: Recordings,
    ) -> Self {
        Self {
            store,
            acl: Some(acl),
            audit: Some(audit),
            recordings: Some(recordings),
        }
    }

    /// The CLI's own, opened from `var` (the environment, `.env` already read) as
    /// `serve` would open them, with the list at `acl_path`: what `command` needs of
    /// them. The list is read for the recordings' retention (`recordings purge`) and
    /// for listing everyone's passkeys; the audit log opened for what changes
    /// something or issues a link; the recordings' storage only for a recordings
    /// command.
    pub async fn open(
        var: impl Fn(&str) -> Option<String> + Copy,
        store_settings: &StoreSettings,
        acl_path: &Path,
        command: &Command,
    ) -> anyhow::Result<Self> {
        let lines = |l: Vec<String>| anyhow::anyhow!(l.join("\n"));
        // Before anything is opened (the audit log would be created too).
        if let StoreSettings::Embedded { dir } = store_settings {
            crate::store::embedded::existing(dir)?;
        }
        let acl = match command {
            Command::PasskeysList { user: None } => {
                // Only the names are listed: the numbers' policy doesn't matter.
                Some(open_acl(
                    acl_path,
                    AclPolicy::from_lookup(var).unwrap_or_default(),
                )?)
            }
            // Only purging asks for the rooms' retention.
            Command::RecordingsPurge => Some(open_acl(
                acl_path,
                AclPolicy::from_lookup(var).map_err(lines)?,
            )?),
            _ => None,
        };
        let audit = if matches!(command, Command::PasskeysList { .. }) {
            None
        } else {
            let config = AuditConfig::from_lookup(var).map_err(lines)?;
            // With the embedded store, `serve` ran here and made its audit log: one
            // missing means another directory, or another ROOMGATE_AUDIT_LOG, and a new
            // file would be a stray one (owned by whoever ran this, root perhaps, which
            // the service could then not open). With Redis the CLI may run anywhere.
            if matches!(store_settings, StoreSettings::Embedded { .. }) && !config.path.exists() {
                anyhow::bail!(
                    "there is no audit log at {}: `roomgate serve` creates it; run this where \
                     the service runs, or set ROOMGATE_AUDIT_LOG to the service's audit log",
                    config.path.display()
                );
            }
            let log = AuditLog::open_with(&config.path, config.key, config.limits)
                .with_context(|| format!("opening the audit log {}", config.path.display()))?;
            Some(log)
        };
        let clock = Arc::new(crate::clock::SystemClock);
        let store = store::open(store_settings, clock.clone(), &Metrics::new())
            .await
            .context("opening the store")?;
        let recordings = match &audit {
            Some(audit) if command.is_recordings() => {
                let policy: Arc<dyn RoomPolicy> = match &acl {
                    Some(acl) => acl.clone(),
                    None => Arc::new(KeepAll),
                };
                Some(Recordings::open(
                    var,
                    store.clone(),
                    policy,
                    audit.clone(),
                    clock,
                )?)
            }
            _ => None,
        };
        Ok(Self {
            store,
            acl,
            audit,
            recordings,
        })
    }

    /// Run `command`: the text to print.
    pub async fn run(&self, command: Command) -> Result<String, CommandError> {
        command.check()?;
        match command {
            Command::PasskeysList { user } => {
                let users = match user {
                    Some(user) => vec![username(&user)?],
                    None => {
                        let acl = opened(&self.acl, "the list")?.load();
                        acl.users().map(|(u, _)| u.clone()).collect()
                    }
                };
                Ok(crate::passkeys::admin::list(&*self.store, &users)
                    .await
                    .context("reading the passkeys")?)
            }
            Command::PasskeysRevoke { user, id } => {
                let user = username(&user)?;
                let n = crate::passkeys::admin::revoke(&*self.store, user.as_str(), id.as_deref())
                    .await
                    .context("revoking")?;
                if let Some(id) = &id
                    && n == 0
                {
                    return Err(CommandError::Refused(format!(
                        "{user} has no passkey {id} (see `roomgate passkeys list {user}`)"
                    )));
                }
                if n > 0 {
                    // Like every other change of access.
                    let record = AuditRecord::new(AuditEvent::PasskeyRevoked)
                        .detail("by=host")
                        .user(&user);
                    opened(&self.audit, "the audit log")?
                        .record(record)
                        .await
                        .context("the revocation is done, but its audit record was not written")?;
                }
                Ok(format!("{n} passkey(s) of {user} revoked\n"))
            }
            Command::RecordingsList { room } => {
                let room = room.as_deref().map(room_name).transpose()?;
                self.recordings()?.list(room.as_ref()).await
            }
            Command::RecordingsLink { id, download } => {
                self.recordings()?.link(&id, download).await
            }
            Command::RecordingsDelete { id } => self.recordings()?.delete(&id).await,
            Command::RecordingsPurge => self.recordings()?.purge().await,
        }
    }

    /// Write what the audit log still holds (the CLI's own log, before it exits).
    pub async fn close(&self) -> anyhow::Result<()> {
        match &self.audit {
            Some(audit) => audit.flush().await.context("flushing the audit log"),
            None => Ok(()),
        }
    }

    fn recordings(&self) -> Result<&Recordings, CommandError> {
        opened(&self.recordings, "the recordings")
    }
}

/// A part [`HostCommands::open`] opened for this command (it opens what each needs).
fn opened<'a, T>(part: &'a Option<T>, what: &str) -> Result<&'a T, CommandError> {
    part.as_ref()
        .ok_or_else(|| CommandError::Failed(anyhow::anyhow!("{what} is not open")))
}

fn open_acl(path: &Path, policy: AclPolicy) -> anyhow::Result<Arc<AclStore>> {
    let acl = Acl::load_with(path, &policy)
        .map_err(|e| anyhow::anyhow!("{}", e.redacted()))
        .with_context(|| format!("reading the ACL {}", path.display()))?;
    Ok(Arc::new(AclStore::new(acl, path.to_owned(), policy)))
}

/// The longest id a command may name: a WebAuthn credential id is at most 1,023
/// bytes, 1,364 characters of base64; a recording's is a 34-character SID.
const MAX_ID_CHARS: usize = 1400;

fn room_name(room: &str) -> Result<RoomName, CommandError> {
    RoomName::parse(room).map_err(|e| CommandError::Refused(format!("--room {room:?}: {e}")))
}

/// A USER argument, read as the join page reads a typed name ("Alice " is alice).
fn username(user: &str) -> Result<Username, CommandError> {
    // The error names the input and says what a username is.
    Username::from_input(user).map_err(|e| CommandError::Refused(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are measured in bytes, as the socket's limit is: 1,400 characters of three
    /// bytes each would still not fit it.
    #[test]
    fn an_id_is_measured_in_bytes() {
        let revoke = |id: String| Command::PasskeysRevoke {
            user: "alice".into(),
            id: Some(id),
        };
        assert!(revoke("A".repeat(MAX_ID_CHARS)).check().is_ok());
        let wide = revoke("€".repeat(500));
        assert!(matches!(wide.check(), Err(CommandError::Refused(_))));
        assert!(revoke("A".repeat(MAX_ID_CHARS + 1)).check().is_err());
    }
}
