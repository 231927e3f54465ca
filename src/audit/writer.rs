//! The writer thread: the one owner of the file, writing batches with one fsync each.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, mpsc};

use anyhow::Context;
use tokio::sync::oneshot;

use super::AuditError;
use super::record::{AuditRecord, encode};
use super::seal::AuditKey;
use crate::clock::{Clock, SystemClock};

/// Bounds how long the first caller of a burst waits for the others' bytes.
const MAX_BATCH: usize = 512;

struct Job {
    line: Vec<u8>,
    done: oneshot::Sender<Result<(), AuditError>>,
}

#[derive(Clone)]
struct Writer {
    jobs: mpsc::Sender<Job>,
    key: Option<Arc<AuditKey>>,
}

/// The append-only audit log. Cheap to clone; all clones feed one writer thread, which
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct AuditLog {
    writer: Option<Writer>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("enabled", &self.writer.is_some())
            .field(
                "encrypts_phones",
                &self.writer.as_ref().is_some_and(|w| w.key.is_some()),
            )
            .finish()
    }
}

impl AuditLog {
    /// Opens (or creates, mode 0600) `path` for appending and starts its writer thread.
    /// Blocking; call it at start-up. Without a key, warns once that phone numbers will
    /// be left out.
    pub fn open(path: &Path, key: Option<AuditKey>) -> anyhow::Result<Self> {
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        restrict_permissions(&file, path)?;
        end_on_a_fresh_line(&mut file)
            .with_context(|| format!("cannot append to the audit log {}", path.display()))?;
        if key.is_none() {
            tracing::warn!(
                "ROOMGATE_AUDIT_KEY is not set: phone numbers are left out of the audit log"
            );
        }
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("roomgate-audit".into())
            .spawn(move || write_loop(file, queue))
            .context("cannot start the audit log writer")?;
        Ok(Self {
            writer: Some(Writer {
                jobs,
                key: key.map(Arc::new),
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// Records nothing, at once. For tests and tools that don't audit.
    pub fn disabled() -> Self {
        Self {
            writer: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Time records with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Appends `rec` and resolves once it is written and synced to disk. If the caller
    /// stops waiting, the record is written all the same.
    pub async fn record(&self, rec: AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let line = encode(&rec, self.clock.now(), writer.key.as_deref());
        let (done, written) = oneshot::channel();
        writer
            .jobs
            .send(Job { line, done })
            .map_err(|_| AuditError::WriterStopped)?;
        written.await.map_err(|_| AuditError::WriterStopped)?
    }
}

#[cfg(unix)]
fn restrict_permissions(file: &File, path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // `mode` above only applies to a file it creates; the log names users and their
    // addresses, so an existing file others can read is closed too.
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private (mode 0600)", path.display()))?;
        tracing::warn!(
            "the audit log {} was readable by others (mode {mode:o}); it is now 0600",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_: &File, _: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// A crash can leave half a line at the end; without a newline after it, the next
/// record would be glued to it and lost as well.
fn end_on_a_fresh_line(file: &mut File) -> io::Result<()> {
    if file.metadata()?.len() == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(())
}

fn write_loop(mut file: File, queue: mpsc::Receiver<Job>) {
    // After a failed write the file may end in part of a line (a full disk, say).
    let mut mid_line = false;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut bytes = Vec::with_capacity(batch.iter().map(|j| j.line.len()).sum::<usize>() + 1);
        if mid_line {
            bytes.push(b'\n');
        }
        for job in &batch {
            bytes.extend_from_slice(&job.line);
        }
        let result = match file.write_all(&bytes) {
            Ok(()) => {
                mid_line = false;
                file.sync_data()
            }
            Err(e) => {
                mid_line = true;
                Err(e)
            }
        }
        .map_err(|e| AuditError::Write(e.to_string()));
        if let Err(e) = &result {
            tracing::error!("{e}; {} records may be missing", batch.len());
        }
        for job in batch {
            // The caller may have stopped waiting; its record is written all the same.
            let _ = job.done.send(result.clone());
        }
    }
}
