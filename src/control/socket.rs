//! The control socket: `control.sock` in the embedded store's data directory, where a
//! running `serve` takes the host's store commands ([`super::Command`]).
//!
//! Only the user running `serve` may use it. The socket is made mode 0600 inside the
//! data directory (0700), and each connection's peer is asked for its user
//! (`SO_PEERCRED`): another user's is refused with 403, whatever the modes have become.
//! `root` may connect anyway, as it may open the database itself. The CLI, for its
//! part, only talks to a socket owned by whoever owns the data directory, so nobody
//! else can plant one that answers "revoked" for a revocation that never happened.
//!
//! The protocol is HTTP/1.1 on the socket: `POST /commands` with the command as JSON.
//! 200 carries the text to print; 400 a command that can't be done as asked (why, in
//! the body); 503 a failure of the store, the storage or the audit log.

use std::any::Any;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::telemetry::REPEATABLE;
use actix_web::dev::{Extensions, Server};
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;

use super::{Command, CommandError, HostCommands};

/// The socket's name in the data directory.
pub const FILE_NAME: &str = "control.sock";
/// How long the CLI waits for a running server's answer: a store command takes
/// milliseconds, so a server still silent after this is stuck.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// A purge deletes every recording past its retention, each a call to the storage.
const PURGE_TIMEOUT: Duration = Duration::from_secs(300);

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The user on the other end of a connection, from `SO_PEERCRED`.
#[derive(Clone, Copy)]
struct PeerUid(Option<u32>);

/// Serve `commands` on `control.sock` in `data_dir`, in the background; the file is
/// removed when the returned guard drops. `None`, with a warning, when the socket can't
/// be made (a data directory's path too long for a socket's, say): the server is
/// still whole, and the CLI's store commands then ask for it to be stopped.
pub fn open(data_dir: &Path, commands: HostCommands) -> Option<SocketFile> {
    match listen(data_dir, commands) {
        Ok((server, file)) => {
            tokio::spawn(server);
            Some(file)
        }
        Err(e) => {
            tracing::warn!(
                error = %format!("{e:#}"),
                "no control socket: `roomgate passkeys` and `recordings` need this server stopped"
            );
            None
        }
    }
}

/// The caller holds the embedded store's lock on `data_dir`, so a socket file already
/// there was left by a server that died (`kill -9`) and is replaced.
fn listen(data_dir: &Path, commands: HostCommands) -> anyhow::Result<(Server, SocketFile)> {
    let path = path(data_dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the old {}", path.display()));
        }
        _ => {}
    }
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    let file = SocketFile(path.clone());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", path.display()))?;
    let owner = Owner(effective_uid());
    let commands = web::Data::new(commands);
    let server = HttpServer::new(move || {
        App::new()
            // Another user is refused before anything of the request is read (its
            // body's errors would otherwise answer first).
            .wrap(actix_web::middleware::from_fn(
                move |req: actix_web::dev::ServiceRequest,
                      next: actix_web::middleware::Next<_>| {
                    let peer = req.conn_data::<PeerUid>().and_then(|p| p.0);
                    async move {
                        if owner.admits(peer) {
                            return next.call(req).await.map(|res| res.map_into_left_body());
                        }
                        tracing::warn!(name: REPEATABLE, peer_uid = ?peer, "control socket: refused a user other than roomgate's");
                        let res = text(
                            HttpResponse::Forbidden(),
                            "only the user running roomgate may use this socket",
                        );
                        Ok(req.into_response(res).map_into_right_body())
                    }
                },
            ))
            .app_data(commands.clone())
            .app_data(web::JsonConfig::default().limit(4096))
            .service(web::resource("/commands").route(web::post().to(run)))
    })
    .on_connect(peer_uid)
    // A host's command now and then.
    .workers(1)
    .shutdown_timeout(5)
    .listen_uds(listener)
    .with_context(|| format!("listening on {}", path.display()))?
    .run();
    Ok((server, file))
}

/// Removes the socket's file when dropped, so a stopped server leaves none behind.
pub struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn peer_uid(io: &dyn Any, ext: &mut Extensions) {
    let uid = io
        .downcast_ref::<tokio::net::UnixStream>()
        .and_then(|s| s.peer_cred().ok())
        .map(|c| c.uid());
    ext.insert(PeerUid(uid));
}

/// The user this process runs as.
#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

/// The user the server runs as.
#[derive(Clone, Copy)]
struct Owner(u32);

impl Owner {
    fn admits(self, peer: Option<u32>) -> bool {
        matches!(peer, Some(uid) if uid == self.0 || uid == 0)
    }
}

/// A command from the owner (the middleware turned anyone else away first).
async fn run(commands: web::Data<HostCommands>, command: web::Json<Command>) -> HttpResponse {
    let command = command.into_inner();
    let kind = command.kind();
    match commands.run(command).await {
        Ok(out) => {
            tracing::info!(command = kind, "host command run for the CLI");
            text(HttpResponse::Ok(), out)
        }
        Err(CommandError::Refused(why)) => text(HttpResponse::BadRequest(), why),
        Err(CommandError::Failed(e)) => {
            tracing::error!(command = kind, error = %format!("{e:#}"), "host command failed");
            text(HttpResponse::ServiceUnavailable(), format!("{e:#}"))
        }
    }
}

fn text(mut response: actix_web::HttpResponseBuilder, body: impl Into<String>) -> HttpResponse {
    response
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body.into())
}

/// Send `command` to the server listening in `data_dir`, if one is: the text to
/// print, or an error in the server's words if it didn't do it. `None` when no server
/// is there (no socket, or one left by a server that is gone), so the caller opens the
/// store itself.
pub async fn ask(data_dir: &Path, command: &Command) -> anyhow::Result<Option<String>> {
    let path = path(data_dir);
    let Some(socket) = (match std::fs::symlink_metadata(&path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("looking at {}", path.display())),
    }) else {
        return Ok(None);
    };
    let dir = std::fs::metadata(data_dir)
        .with_context(|| format!("looking at {}", data_dir.display()))?;
    if !socket.file_type().is_socket() || socket.uid() != dir.uid() {
        anyhow::bail!(
            "{} is not a running roomgate's socket (a socket owned by the data directory's owner, uid {}); not used",
            path.display(),
            dir.uid()
        );
    }
    let wait = if *command == Command::RecordingsPurge {
        PURGE_TIMEOUT
    } else {
        ANSWER_TIMEOUT
    };
    let client = reqwest::Client::builder()
        .unix_socket(path.clone())
        .timeout(wait)
        .build()
        .context("a client for the control socket")?;
    // The host part is ignored on a Unix socket.
    let sent = client
        .post("http://roomgate/commands")
        .json(command)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        // Left by a server that is gone (`kill -9`): nobody listens.
        Err(e) if nobody_listens(&e) => return Ok(None),
        Err(e) if e.is_timeout() => anyhow::bail!(
            "the running roomgate did not answer within {} s ({}); the command may still have been done",
            wait.as_secs(),
            path.display()
        ),
        Err(e) => {
            return Err(e).context(format!("asking the running roomgate ({})", path.display()));
        }
    };
    let status = response.status();
    let body = response
        .text()
        .await
        .context("reading the running roomgate's answer")?;
    // Not done: why, in the server's words.
    anyhow::ensure!(status.is_success(), "{body}");
    Ok(Some(body))
}

/// Whether a failed connection means no server is there: the socket refuses (its
/// server is gone) or vanished since it was looked at. Anything else (a socket this
/// user may not use, say) is reported, not taken for "no server".
fn nobody_listens(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            );
        }
        source = inner.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_own_user_and_root_are_admitted_and_no_one_else() {
        let owner = Owner(1000);
        assert!(owner.admits(Some(1000)));
        assert!(owner.admits(Some(0)));
        assert!(!owner.admits(Some(1001)));
        assert!(!owner.admits(Some(65534)));
        assert!(!owner.admits(None), "a peer whose user is unknown");
    }
}
