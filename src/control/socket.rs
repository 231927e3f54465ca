//! The control socket: `control.sock` in the embedded store's data directory, where a
//! running `serve` takes the host's store commands ([`super::Command`]).
//!
//! Only the user running `serve` may use it. The socket is made mode 0600 inside the
//! data directory (0700), and each connection's peer is asked for its user
//! (`SO_PEERCRED`): another user's is refused with 403, whatever the modes have become.
//! `root` may connect anyway, as it may open the database itself.
//!
//! The protocol is HTTP/1.1 on the socket: `POST /commands` with the command as JSON.
//! 200 carries the text to print; 400 a command that can't be done as asked (why, in
//! the body); 503 a failure of the store, the storage or the audit log.

use std::any::Any;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actix_web::dev::{Extensions, Server};
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context as _;

use super::{Command, CommandError, HostCommands};

/// The socket's name in the data directory.
pub const FILE_NAME: &str = "control.sock";
/// A purge deletes every recording past its retention, each a call to the storage.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The user on the other end of a connection, from `SO_PEERCRED`.
#[derive(Clone, Copy)]
struct PeerUid(Option<u32>);

/// Listen on `control.sock` in `data_dir` and serve `commands` there; the file is
/// removed when the returned guard drops.
///
/// The caller holds the embedded store's lock on `data_dir`, so a socket file already
/// there was left by a server that died (`kill -9`) and is replaced.
pub fn listen(data_dir: &Path, commands: HostCommands) -> anyhow::Result<(Server, SocketFile)> {
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
    // Made by this process, so owned by the user it runs as.
    let owner = Owner(
        std::fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .uid(),
    );
    let commands = web::Data::new(commands);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(commands.clone())
            .app_data(web::Data::new(owner))
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

/// The user the server runs as: the socket file's owner.
#[derive(Clone, Copy)]
struct Owner(u32);

impl Owner {
    fn admits(self, peer: Option<u32>) -> bool {
        matches!(peer, Some(uid) if uid == self.0 || uid == 0)
    }
}

async fn run(
    request: HttpRequest,
    owner: web::Data<Owner>,
    commands: web::Data<HostCommands>,
    command: web::Json<Command>,
) -> HttpResponse {
    let peer = request.conn_data::<PeerUid>().and_then(|p| p.0);
    if !owner.admits(peer) {
        tracing::warn!(peer_uid = ?peer, "control socket: refused a user other than roomgate's");
        return text(
            HttpResponse::Forbidden(),
            "only the user running roomgate may use this socket",
        );
    }
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

/// What a running server answered.
#[derive(Debug)]
pub enum Answer {
    /// Done: the text to print.
    Done(String),
    /// Not done, and why (the server's words).
    NotDone(String),
}

/// Send `command` to the server listening in `data_dir`, if one is: `None` when none
/// is (no socket, or one left by a server that is gone), so the caller opens the store
/// itself.
pub async fn ask(data_dir: &Path, command: &Command) -> anyhow::Result<Option<Answer>> {
    let path = path(data_dir);
    if !path.exists() {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .unix_socket(path.clone())
        .connect_timeout(Duration::from_secs(2))
        .timeout(ANSWER_TIMEOUT)
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
        Err(e) if e.is_connect() => return Ok(None),
        Err(e) if e.is_timeout() => anyhow::bail!(
            "the running roomgate did not answer within {} s ({})",
            ANSWER_TIMEOUT.as_secs(),
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
    Ok(Some(if status.is_success() {
        Answer::Done(body)
    } else {
        Answer::NotDone(body)
    }))
}
