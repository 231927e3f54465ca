//! The writer thread: the one owner of the file. It writes each batch with one
//! `write` and one `fdatasync`, closes the fold windows that end, rotates the file by
//! size, and survives a full disk. Repeated refusals are folded by the callers
//! themselves, into a table they share with it, so a flood doesn't reach this thread.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use super::fold::{Folder, Folding, is_foldable};
use super::record::{AuditRecord, encode};
use super::seal::AuditKey;
use super::{AuditError, AuditLimits};
use crate::alerts::{Alert, AlertSender};
use crate::clock::{Clock, SystemClock};

/// Bounds how long the first caller of a burst waits for the others' bytes.
const MAX_BATCH: usize = 512;
/// Under concurrent records (the last batch held more than one), the writer waits
/// this long after a batch's first line before taking the rest: each batch costs a
/// write and an `fdatasync` whatever it holds, so fuller ones cost less per line. A
/// lone record (a quiet server) is written at once. As the store's writer does.
const GATHER: Duration = Duration::from_millis(1);
/// The longest the writer sleeps while a fold window is open: a clock that jumps
/// (or a test clock moved by hand) is noticed within this.
const MAX_NAP: Duration = Duration::from_secs(1);
/// While writes fail, how often the writer tries a newline to see if they work again,
/// so the log recovers even when nothing is recorded (sign-ins are refused meanwhile).
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long writes must have worked, after they failed, before the operator is told
/// the log is back: a log that fails and works by turns (a shipper's pipe read in
/// bursts, a disk at the edge of full) is one outage, one alert each way, not one per
/// turn.
const RECOVERED_AFTER: Duration = Duration::from_secs(30);
/// After a rotation fails, how long the writer goes on in the current file before it
/// tries again.
const ROTATION_RETRY: Duration = Duration::from_secs(30);

/// The last write's error, if it failed: shared by the writer and every handle.
type Health = Arc<Mutex<Option<AuditError>>>;

/// Where the writer tells the operator that the log can't be written (and when it can
/// again): set once the alert sender exists, which is after the log is opened.
type Alerts = Arc<OnceLock<AlertSender>>;

type Answer = oneshot::Sender<Result<(), AuditError>>;

/// The fold table, shared by the handles (which fold refusals into it themselves) and
/// the writer (which closes the windows that end). A repeated refusal is then counted
/// on the request's own thread, under this lock for a hash-table update: it wakes no
/// other thread and waits for none, which under a flood is most of what a refusal
/// costs. Held only for table work and a channel send, never across I/O.
type SharedFolder = Arc<Mutex<Folder>>;

enum Job {
    /// Lines to append, encoded (and phones sealed) by the caller, so that work is
    /// spread over the runtime's threads rather than queued on this one: a record that
    /// never folds, or the first refusal of a fold window (after the summary of the
    /// key's previous window, when that ended unnoticed).
    Line { line: Vec<u8>, done: Answer },
    /// Write the summaries of the fold windows that have ended (`all`: of every one).
    Flush { all: bool, done: Answer },
    /// Time windows with this clock from now on.
    Clock(Arc<dyn Clock>),
}

#[derive(Clone)]
struct Writer {
    jobs: mpsc::Sender<Job>,
    key: Option<Arc<AuditKey>>,
    health: Health,
    alerts: Alerts,
    folder: SharedFolder,
}

/// The append-only audit log. Cheap to clone; all clones feed one writer thread, which
/// writes what is still folded and ends when the last clone is dropped.
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
    /// [`AuditLog::open_with`] the default folding and rotation.
    pub fn open(path: &Path, key: Option<AuditKey>) -> anyhow::Result<Self> {
        Self::open_with(path, key, AuditLimits::default())
    }

    /// Opens (or creates, mode 0600) `path` for appending and starts its writer thread.
    /// Blocking; call it at start-up. Without a key, warns once that phone numbers will
    /// be left out. Something other than a regular file (`/dev/null`, a pipe to a log
    /// shipper) is written as it is: never rotated, its mode left alone.
    pub fn open_with(
        path: &Path,
        key: Option<AuditKey>,
        limits: AuditLimits,
    ) -> anyhow::Result<Self> {
        let mut file = open_private(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        let regular = file.metadata()?.is_file();
        let mut rotation = None;
        let mut size = 0;
        if regular {
            restrict_permissions(&file, path)?;
            end_on_a_fresh_line(&mut file)
                .with_context(|| format!("cannot append to the audit log {}", path.display()))?;
            size = file.metadata()?.len();
            rotation = (limits.max_bytes > 0).then(|| Rotation {
                path: path.to_owned(),
                max_bytes: limits.max_bytes,
                keep: limits.keep.max(1),
            });
        }
        if key.is_none() {
            tracing::warn!(
                "ROOMGATE_AUDIT_KEY is not set: phone numbers are left out of the audit log"
            );
        }
        let sink: Box<dyn Sink> = if regular {
            Box::new(file)
        } else {
            Box::new(Stream(file))
        };
        Self::start(sink, size, rotation, key, limits)
    }

    /// The writer thread, writing to `sink`.
    fn start(
        sink: Box<dyn Sink>,
        size: u64,
        rotation: Option<Rotation>,
        key: Option<AuditKey>,
        limits: AuditLimits,
    ) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel();
        let key = key.map(Arc::new);
        let health = Health::default();
        let alerts = Alerts::default();
        let folder = SharedFolder::new(Mutex::new(Folder::new(
            limits.fold_window,
            limits.fold_keys,
        )));
        let state = WriterState {
            sink,
            size,
            rotation,
            key: key.clone(),
            clock: Arc::new(SystemClock),
            folder: folder.clone(),
            mid_line: false,
            failing: None,
            outage: None,
            health: health.clone(),
            alerts: alerts.clone(),
            rotation_failing: None,
        };
        std::thread::Builder::new()
            .name("roomgate-audit".into())
            .spawn(move || {
                crate::scheduling::as_batch_work();
                state.run(queue)
            })
            .context("cannot start the audit log writer")?;
        Ok(Self {
            writer: Some(Writer {
                jobs,
                key,
                health,
                alerts,
                folder,
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

    /// Time records, and fold windows, with `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        if let Some(writer) = &self.writer {
            // Queued before any record of this handle, so the writer has it first.
            let _ = writer.jobs.send(Job::Clock(clock.clone()));
        }
        self.clock = clock;
        self
    }

    /// Appends `rec` and resolves once it is written and synced to disk, or, for a
    /// repeated refusal (see [`super::fold`]), once it is counted into the summary its
    /// window will end with. If the caller stops waiting, the record is written all the
    /// same. An error means the log cannot be written now (a full disk, say): callers
    /// that must not go on unaudited refuse.
    pub async fn record(&self, rec: AuditRecord) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let (done, written) = oneshot::channel();
        let at = self.clock.now();
        if is_foldable(rec.event) {
            let mut summaries = Vec::new();
            let mut folder = writer.folder.lock().expect("audit fold lock");
            match folder.fold(rec, at, &mut summaries) {
                // Counted: nothing to write now, so the answer is the log's health,
                // as the writer would have given it for a batch with nothing to write.
                Folding::Folded => {
                    drop(folder);
                    return self.health();
                }
                Folding::Write(rec) => {
                    let key = writer.key.as_deref();
                    let mut line = Vec::new();
                    for summary in &summaries {
                        line.extend(encode(summary, at, key));
                    }
                    line.extend(encode(&rec, at, key));
                    // Sent under the lock, so a key's lines reach the file in the
                    // order its windows opened and closed. The writer needs no other
                    // signal: a window opened here comes with this line, which wakes
                    // it to time the window's end, and the overflow windows only open
                    // while key windows are open, whose ends it is already timing.
                    writer
                        .jobs
                        .send(Job::Line { line, done })
                        .map_err(|_| AuditError::WriterStopped)?;
                }
            }
        } else {
            let line = encode(&rec, at, writer.key.as_deref());
            writer
                .jobs
                .send(Job::Line { line, done })
                .map_err(|_| AuditError::WriterStopped)?;
        }
        written.await.map_err(|_| AuditError::WriterStopped)?
    }

    /// Alert the operator through `alerts` when the log can't be written, and when it
    /// can again (`audit_log_unavailable`, `audit_log_recovered`). Set once; later
    /// calls change nothing.
    pub fn alert_to(&self, alerts: AlertSender) {
        if let Some(writer) = &self.writer {
            let _ = writer.alerts.set(alerts);
        }
    }

    /// Whether the last write failed (and with what), without writing anything: lets a
    /// caller refuse before it spends anything on a request it couldn't record. The
    /// writer keeps trying, so this clears by itself when writes work again.
    pub fn health(&self) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        match &*writer.health.lock().expect("audit health lock") {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// [`AuditLog::record`] for a record whose loss must not stop the request: a
    /// failure is only noted here, since the writer has already reported it (once per
    /// outage, not once per record).
    pub async fn record_or_note(&self, rec: AuditRecord) {
        match self.record(rec).await {
            Ok(()) => {}
            Err(e @ AuditError::Write(_)) => {
                tracing::debug!(error = %e, "audit record not written")
            }
            Err(e) => tracing::error!(error = %e, "audit record not written"),
        }
    }

    /// Writes the summaries of every fold window now, ended or not (at shutdown).
    pub async fn flush(&self) -> Result<(), AuditError> {
        self.control(true).await
    }

    /// Writes the summaries of the fold windows that have ended by the log's clock. The
    /// writer does this by itself within a second; this is for tests that move a clock.
    pub async fn flush_ended(&self) -> Result<(), AuditError> {
        self.control(false).await
    }

    async fn control(&self, all: bool) -> Result<(), AuditError> {
        let Some(writer) = &self.writer else {
            return Ok(());
        };
        let (done, written) = oneshot::channel();
        writer
            .jobs
            .send(Job::Flush { all, done })
            .map_err(|_| AuditError::WriterStopped)?;
        written.await.map_err(|_| AuditError::WriterStopped)?
    }
}

/// Opens `path` for appending, creating it with mode 0600.
fn open_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    match std::fs::metadata(path) {
        // A pipe or a device: write-only, so a pipe whose reader has gone fails
        // (`EPIPE`) rather than filling up for good (opened for reading too, the writer
        // would be a reader itself); and non-blocking, so a reader that stalls makes a
        // write fail (the log is then "down", and sign-ins busy) rather than hang the
        // writer and every request waiting on it. A pipe with no reader yet is an
        // error at start-up (`ENXIO`), not a start that waits.
        Ok(meta) if !meta.is_file() => {
            options.append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        }
        _ => {
            // Read too: the last byte is looked at, to end a torn line.
            options.create(true).append(true).read(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
    }
    options.open(path)
}

/// Where the bytes go: the file, or in tests a sink that fails on demand.
trait Sink: Send {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes what was appended durable.
    fn sync(&mut self) -> io::Result<()>;
    /// The size now, after a failed append left it unknown.
    fn size(&self) -> io::Result<u64>;
}

impl Sink for File {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)
    }

    fn sync(&mut self) -> io::Result<()> {
        // `flush` would not do: `File` has no buffer of its own, so it returns at once
        // while the bytes are still only in the page cache.
        self.sync_data()
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

/// A log that is not a regular file: a pipe to a log shipper, a character device.
/// There is nothing to sync there (`fdatasync` on them fails with `EINVAL`): what the
/// reader does with the lines is its own business.
struct Stream(File);

/// How long a pipe's reader may keep it full before the write fails: a shipper busy
/// for a moment is waited for, one that stopped reading is a log that can't be written.
const STREAM_STALL: Duration = Duration::from_millis(500);

impl Sink for Stream {
    fn append(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        // The writer's own thread: waiting here holds up no request but those whose
        // records are in this batch.
        let deadline = std::time::Instant::now() + STREAM_STALL;
        while !bytes.is_empty() {
            match self.0.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        Ok(0)
    }
}

/// Size-based rotation: `audit.log` becomes `audit.log.1`, `.1` becomes `.2`, and so
/// on; `.keep` is overwritten, so at most `keep` old files remain.
#[derive(Debug)]
struct Rotation {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
}

impl Rotation {
    fn numbered(&self, n: usize) -> PathBuf {
        numbered(&self.path, n)
    }

    /// Renames the files one step older and opens a fresh, private `path`. The
    /// current file is already synced (every batch is); the renames are made
    /// durable with an fsync of the directory.
    ///
    /// The fresh file is made first (as `path.new`), so what most often fails (no
    /// space, no inode, no file descriptor) fails before anything is renamed, and the
    /// writer goes on in the current file with every older one where it was. Once
    /// `path` is renamed, the fresh file is always the one returned: the writer must
    /// never go on writing to a file that is now `.1`.
    fn rotate(&self) -> io::Result<File> {
        let fresh_path = self.fresh();
        let _ = std::fs::remove_file(&fresh_path);
        let fresh = open_private(&fresh_path)?;
        let shifted = self.shift_older().and_then(|()| {
            std::fs::rename(&self.path, self.numbered(1))?;
            std::fs::rename(&fresh_path, &self.path).inspect_err(|_| {
                // Put the current file back where `show` and the next start look.
                let _ = std::fs::rename(self.numbered(1), &self.path);
            })
        });
        if let Err(e) = shifted {
            let _ = std::fs::remove_file(&fresh_path);
            return Err(e);
        }
        if let Err(e) = sync_dir(&self.path) {
            // The renames are made; only their durability waits for the next sync.
            tracing::warn!(
                "the audit log's directory could not be synced after rotating {}: {e}",
                self.path.display()
            );
        }
        Ok(fresh)
    }

    /// Frees `.1`: `.1` to `.2` … up to the first free number (`.keep`, whose file
    /// is then gone, if none is). Only as far as needed, so a rotation tried again
    /// after the current file's rename failed (an append-only file, say) finds `.1`
    /// free and moves nothing: older files are never pushed out by retries.
    fn shift_older(&self) -> io::Result<()> {
        // Left over from a run with a larger `keep`.
        let mut extra = self.keep + 1;
        while std::fs::remove_file(self.numbered(extra)).is_ok() {
            extra += 1;
        }
        let free = (1..=self.keep)
            .find(|n| !self.numbered(*n).exists())
            .unwrap_or(self.keep);
        for n in (1..free).rev() {
            std::fs::rename(self.numbered(n), self.numbered(n + 1))?;
        }
        Ok(())
    }

    /// Where the fresh file is made before it takes `path`'s name.
    fn fresh(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".new");
        PathBuf::from(name)
    }
}

/// `audit.log.n`, next to `path`.
pub(super) fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Makes renames and creations in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
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

struct Outage {
    /// Since when writes have worked, if they do now.
    working_since: Option<std::time::SystemTime>,
    /// Times writes failed again before they had worked long enough.
    relapses: u32,
}

struct WriterState {
    sink: Box<dyn Sink>,
    /// Bytes in the current file, as far as this writer knows.
    size: u64,
    rotation: Option<Rotation>,
    key: Option<Arc<AuditKey>>,
    clock: Arc<dyn Clock>,
    folder: SharedFolder,
    /// After a failed write the file may end in part of a line (a full disk, say).
    mid_line: bool,
    /// Since the last write failed (sign-ins are refused meanwhile).
    failing: Option<AuditError>,
    /// The outage the operator was told of, until writes have worked for
    /// [`RECOVERED_AFTER`]: logged and alerted once when it starts, once when it ends.
    outage: Option<Outage>,
    /// `failing`, for the handles to read.
    health: Health,
    alerts: Alerts,
    /// When a failed rotation is tried again.
    rotation_failing: Option<std::time::Instant>,
}

impl WriterState {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        // Lines in the last batch: more than one means others are writing too.
        let mut last_batch = 0;
        loop {
            let next_end = self.folder.lock().expect("audit fold lock").next_end();
            let fold_nap = next_end.map(|end| {
                end.duration_since(self.clock.now())
                    .unwrap_or(Duration::ZERO)
                    .min(MAX_NAP)
            });
            let probe_nap = match (&self.failing, &self.outage) {
                (Some(_), _) => Some(PROBE_EVERY),
                // Waiting to say the log is back.
                (None, Some(_)) => Some(MAX_NAP),
                (None, None) => None,
            };
            let first = match fold_nap.into_iter().chain(probe_nap).min() {
                None => match queue.recv() {
                    Ok(job) => Some(job),
                    Err(_) => break,
                },
                Some(nap) => match queue.recv_timeout(nap) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
            };
            if first.is_none() && self.failing.is_some() {
                self.probe();
            }
            self.end_outage_if_over();
            if last_batch > 1 && matches!(first, Some(Job::Line { .. })) {
                std::thread::sleep(GATHER);
            }
            let mut batch: Vec<Job> = first.into_iter().collect();
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            last_batch = batch
                .iter()
                .filter(|job| matches!(job, Job::Line { .. }))
                .count();
            self.write_batch(batch);
        }
        // Every handle is gone: what is still folded is written before the thread ends.
        let mut summaries = Vec::new();
        self.folder
            .lock()
            .expect("audit fold lock")
            .drain(&mut summaries);
        let now = self.clock.now();
        let lines = summaries
            .iter()
            .map(|rec| encode(rec, now, self.key.as_deref()))
            .collect::<Vec<_>>()
            .concat();
        let _ = self.write(&lines);
    }

    /// Folds, encodes and writes one batch, then answers each of its callers.
    fn write_batch(&mut self, batch: Vec<Job>) {
        // A clock sent along with lines is the one their windows opened by: take it
        // before closing any window, or the old clock could end them all early.
        for job in &batch {
            if let Job::Clock(clock) = job {
                self.clock = clock.clone();
            }
        }
        let now = self.clock.now();
        let mut summaries = Vec::new();
        self.folder
            .lock()
            .expect("audit fold lock")
            .expire(now, &mut summaries);
        let mut bytes = Vec::new();
        for rec in summaries.drain(..) {
            bytes.extend(encode(&rec, now, self.key.as_deref()));
        }
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            match job {
                Job::Line { line, done } => {
                    bytes.extend(line);
                    answers.push(done);
                }
                Job::Flush { all, done } => {
                    let mut folder = self.folder.lock().expect("audit fold lock");
                    if all {
                        folder.drain(&mut summaries);
                    } else {
                        folder.expire(self.clock.now(), &mut summaries);
                    }
                    drop(folder);
                    let at = self.clock.now();
                    for summary in summaries.drain(..) {
                        bytes.extend(encode(&summary, at, self.key.as_deref()));
                    }
                    answers.push(done);
                }
                Job::Clock(clock) => self.clock = clock,
            }
        }
        let result = if bytes.is_empty() {
            // Nothing to write (all folded): the log is as healthy as it last was.
            self.failing.clone().map_or(Ok(()), Err)
        } else {
            self.write(&bytes)
        };
        for done in answers {
            // The caller may have stopped waiting; its record is written all the same.
            let _ = done.send(result.clone());
        }
    }

    /// One write and one sync for `bytes`, rotating first if they would not fit.
    fn write(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.rotate_if_full(bytes.len() as u64);
        let mut all = Vec::with_capacity(bytes.len() + 1);
        if self.mid_line {
            all.push(b'\n');
        }
        all.extend_from_slice(bytes);
        let result = match self.sink.append(&all) {
            Ok(()) => {
                self.mid_line = false;
                self.size += all.len() as u64;
                self.sink.sync()
            }
            Err(e) => {
                self.mid_line = true;
                // Part of it may be there: ask the file, or rotate a little early.
                self.size = self.sink.size().unwrap_or(self.size + all.len() as u64);
                Err(e)
            }
        }
        .map_err(|e| AuditError::Write(e.to_string()));
        self.note(&result);
        result
    }

    /// Whether writes work again: a newline, which `audit show` skips as a blank line
    /// and which a torn last line needs anyway.
    fn probe(&mut self) {
        let result = self.sink.append(b"\n").and_then(|()| self.sink.sync());
        if result.is_ok() {
            self.mid_line = false;
            self.size += 1;
            self.note(&Ok(()));
        }
    }

    /// Records the outcome of a write. Sign-ins follow it at once; the operator hears
    /// of an outage once when it starts, and once when writes have worked for
    /// [`RECOVERED_AFTER`] ([`Self::end_outage_if_over`]).
    fn note(&mut self, result: &Result<(), AuditError>) {
        let now = self.clock.now();
        match (result, &mut self.outage) {
            (Err(e), None) => {
                tracing::error!("{e}; new sign-ins are refused until it can be written again");
                self.alert("audit_log_unavailable");
                self.outage = Some(Outage {
                    working_since: None,
                    relapses: 0,
                });
            }
            (Err(e), Some(outage)) => {
                if outage.working_since.take().is_some() {
                    outage.relapses += 1;
                    tracing::debug!("{e}; the audit log fails again");
                }
            }
            (Ok(()), Some(outage)) => {
                if outage.working_since.is_none() {
                    outage.working_since = Some(now);
                    tracing::info!("the audit log can be written again; sign-ins resume");
                }
            }
            (Ok(()), None) => {}
        }
        self.failing = result.clone().err();
        *self.health.lock().expect("audit health lock") = self.failing.clone();
    }

    /// The outage is over once writes have worked for [`RECOVERED_AFTER`].
    fn end_outage_if_over(&mut self) {
        let Some(outage) = &self.outage else {
            return;
        };
        let Some(since) = outage.working_since else {
            return;
        };
        let now = self.clock.now();
        let Ok(worked) = now.duration_since(since) else {
            // The clock was set back: count from now, rather than wait for it to
            // catch up with the time it had.
            if let Some(outage) = &mut self.outage {
                outage.working_since = Some(now);
            }
            return;
        };
        if worked < RECOVERED_AFTER {
            return;
        }
        tracing::warn!(
            relapses = outage.relapses,
            "the audit log has been written again for {} s",
            RECOVERED_AFTER.as_secs()
        );
        self.alert("audit_log_recovered");
        self.outage = None;
    }

    fn alert(&self, event: &'static str) {
        if let Some(alerts) = self.alerts.get() {
            alerts.send(Alert::event(event, self.clock.now()));
        }
    }

    fn rotate_if_full(&mut self, adding: u64) {
        let Some(rotation) = &self.rotation else {
            return;
        };
        // A batch bigger than the limit goes whole into a fresh file.
        if self.size == 0 || self.size + adding <= rotation.max_bytes {
            return;
        }
        // After a failure, tried again a while later, not with every batch: each
        // attempt costs a file made and removed, and renames of the older files.
        let now = std::time::Instant::now();
        if self.rotation_failing.is_some_and(|retry_at| now < retry_at) {
            return;
        }
        match rotation.rotate() {
            Ok(file) => {
                if self.rotation_failing.is_some() {
                    tracing::info!("the audit log {} is rotated again", rotation.path.display());
                }
                self.sink = Box::new(file);
                self.size = 0;
                self.mid_line = false;
                self.rotation_failing = None;
            }
            Err(e) => {
                if self.rotation_failing.is_none() {
                    tracing::error!(
                        "the audit log {} cannot be rotated: {e}; writing on to the current file",
                        rotation.path.display()
                    );
                }
                self.rotation_failing = Some(now + ROTATION_RETRY);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::audit::AuditEvent;

    /// A log shipper's pipe full for a moment is waited for; one its reader keeps
    /// full fails the write (the log is then down) rather than holding the writer.
    #[cfg(unix)]
    #[test]
    fn a_full_pipe_is_waited_for_a_moment_only() {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = crate::test_support::TempDir::new("audit-pipe");
        let pipe = dir.0.join("audit.pipe");
        crate::test_support::mkfifo(&pipe);
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&pipe)
            .unwrap();
        let mut stream = Stream(open_private(&pipe).unwrap());
        // Fill it.
        let chunk = vec![b'x'; 4096];
        while stream.0.write(&chunk).is_ok() {}
        let drain = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut buf = vec![0u8; 1 << 20];
            let _ = reader.read(&mut buf);
            reader
        });
        stream.append(b"a record\n").unwrap();
        let _reader = drain.join().unwrap();
        // Full again, and nobody reading: refused after a while, not waited on.
        while stream.0.write(&chunk).is_ok() {}
        let began = std::time::Instant::now();
        let err = stream.append(b"another\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert!(began.elapsed() >= STREAM_STALL);
    }

    /// A rotation tried again (the current file's rename failed: an append-only file,
    /// say) moves nothing more: older files are pushed along once, not once a retry.
    #[test]
    fn freeing_the_first_rotated_name_moves_files_once() {
        let dir = crate::test_support::TempDir::new("audit-shift");
        let path = dir.0.join("audit.log");
        for n in 1..=2 {
            std::fs::write(numbered(&path, n), format!("old{n}")).unwrap();
        }
        let rotation = Rotation {
            path: path.clone(),
            max_bytes: 100,
            keep: 5,
        };
        for _ in 0..3 {
            rotation.shift_older().unwrap();
            assert!(!numbered(&path, 1).exists());
            assert_eq!(std::fs::read_to_string(numbered(&path, 2)).unwrap(), "old1");
            assert_eq!(std::fs::read_to_string(numbered(&path, 3)).unwrap(), "old2");
            assert!(!numbered(&path, 4).exists());
        }
        // Every name taken: the oldest goes.
        for n in 1..=5 {
            std::fs::write(numbered(&path, n), format!("f{n}")).unwrap();
        }
        rotation.shift_older().unwrap();
        assert!(!numbered(&path, 1).exists());
        assert_eq!(std::fs::read_to_string(numbered(&path, 5)).unwrap(), "f4");
    }

    /// A disk that fills up and empties again on demand. A failed append keeps half
    /// its bytes, as a short write on a full disk does.
    #[derive(Clone, Default)]
    struct Flaky {
        full: Arc<AtomicBool>,
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl Sink for Flaky {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            let mut kept = self.bytes.lock().unwrap();
            if self.full.load(Ordering::SeqCst) {
                kept.extend_from_slice(&bytes[..bytes.len() / 2]);
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            kept.extend_from_slice(bytes);
            Ok(())
        }

        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn size(&self) -> io::Result<u64> {
            Ok(self.bytes.lock().unwrap().len() as u64)
        }
    }

    /// A log writing to `disk`, with the default folding and no rotation or key.
    fn log_on(disk: impl Sink + 'static) -> AuditLog {
        AuditLog::start(Box::new(disk), 0, None, None, AuditLimits::default()).unwrap()
    }

    fn token(n: usize) -> AuditRecord {
        AuditRecord::new(AuditEvent::TokenMinted).detail(format!("n{n}"))
    }

    /// A log on a disk that fills when told, on a clock moved by hand, its alerts
    /// captured.
    fn flaky_log() -> (
        Flaky,
        Arc<crate::clock::ManualClock>,
        AuditLog,
        tokio::sync::mpsc::UnboundedReceiver<Alert>,
    ) {
        let disk = Flaky::default();
        let clock = Arc::new(crate::clock::ManualClock::default());
        let log = log_on(disk.clone()).with_clock(clock.clone());
        let (alerts, alerted) = crate::alerts::AlertSender::capture();
        log.alert_to(alerts);
        (disk, clock, log, alerted)
    }

    /// The next alert, within 5 s (the writer notices a clock moved within a second).
    async fn next_alert(alerts: &mut tokio::sync::mpsc::UnboundedReceiver<Alert>) -> Alert {
        tokio::time::timeout(Duration::from_secs(5), alerts.recv())
            .await
            .expect("no alert in time")
            .expect("the alert channel closed")
    }

    async fn next_event(alerts: &mut tokio::sync::mpsc::UnboundedReceiver<Alert>) -> &'static str {
        next_alert(alerts).await.event
    }

    /// A log that fails and works by turns (a shipper's pipe read in bursts, a disk at
    /// the edge of full) is one outage: one alert when it starts, one once writes have
    /// worked for `RECOVERED_AFTER`. Each turn was an alert and an ERROR line.
    #[tokio::test]
    async fn flapping_is_one_outage() {
        let (disk, clock, log, mut alerted) = flaky_log();
        for n in 0..5 {
            disk.full.store(true, Ordering::SeqCst);
            assert!(log.record(token(n)).await.is_err());
            disk.full.store(false, Ordering::SeqCst);
            clock.advance(Duration::from_secs(10));
            log.record(token(n)).await.unwrap();
            clock.advance(Duration::from_secs(10));
        }
        assert_eq!(alerted.try_recv().unwrap().event, "audit_log_unavailable");
        assert!(
            alerted.try_recv().is_err(),
            "one alert for the whole outage"
        );
        clock.advance(RECOVERED_AFTER);
        assert_eq!(next_event(&mut alerted).await, "audit_log_recovered");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(alerted.try_recv().is_err(), "told once");

        // The clock set back an hour while writes work again: the recovery is told
        // once they have worked for `RECOVERED_AFTER` by the new time, not an hour on.
        disk.full.store(true, Ordering::SeqCst);
        assert!(log.record(token(9)).await.is_err());
        disk.full.store(false, Ordering::SeqCst);
        log.record(token(10)).await.unwrap();
        assert_eq!(alerted.try_recv().unwrap().event, "audit_log_unavailable");
        clock.rewind(Duration::from_secs(3600));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        clock.advance(RECOVERED_AFTER);
        assert_eq!(next_event(&mut alerted).await, "audit_log_recovered");
    }

    #[tokio::test]
    async fn a_full_disk_is_an_error_until_it_is_not_and_no_line_is_glued_to_a_torn_one() {
        let (disk, clock, log, mut alerted) = flaky_log();
        log.record(token(0)).await.unwrap();
        assert!(alerted.try_recv().is_err(), "no alert while the log works");

        disk.full.store(true, Ordering::SeqCst);
        for n in 1..=3 {
            let err = log.record(token(n)).await.unwrap_err();
            assert!(
                matches!(&err, AuditError::Write(m) if m.contains("No space")),
                "{err}"
            );
        }
        // A repeated refusal is only counted, but the log still says it is failing.
        let refusal = || AuditRecord::new(AuditEvent::Limited).detail("login_ip");
        assert!(log.record(refusal()).await.is_err());
        assert!(log.record(refusal()).await.is_err());

        assert!(log.health().is_err());
        // The operator hears it once, however many records fail.
        assert_eq!(alerted.try_recv().unwrap().event, "audit_log_unavailable");
        assert!(alerted.try_recv().is_err());
        disk.full.store(false, Ordering::SeqCst);
        // The writer finds out by itself, with nothing recorded.
        let mut waited = Duration::ZERO;
        while log.health().is_err() && waited < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
        assert_eq!(log.health(), Ok(()), "not recovered after {waited:?}");
        // The operator hears it's back once it has worked for a while (see
        // `flapping_is_one_outage`).
        assert!(alerted.try_recv().is_err(), "told of the recovery at once");
        clock.advance(RECOVERED_AFTER);
        let recovered = next_alert(&mut alerted).await;
        assert_eq!(recovered.event, "audit_log_recovered");
        assert_eq!(
            String::from_utf8(recovered.to_json()).unwrap(),
            format!(
                r#"{{"event":"audit_log_recovered","at":"{}"}}"#,
                crate::clock::rfc3339(recovered.at)
            )
        );
        log.record(token(4)).await.unwrap();
        log.record(refusal()).await.unwrap();
        log.flush().await.unwrap();

        let text = String::from_utf8(disk.bytes.lock().unwrap().clone()).unwrap();
        let whole: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let details: Vec<&str> = whole.iter().filter_map(|r| r["detail"].as_str()).collect();
        // n0 before the disk filled, n4 after: whole lines, each on its own.
        assert_eq!(details.first(), Some(&"n0"));
        assert!(details.contains(&"n4"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with(r#"{"time""#) && l.contains("\"n4\""))
        );
        // The refusal written while the disk was full is lost; its repeats are counted.
        let summary = whole.iter().find(|r| r["count"].is_u64()).expect(&text);
        assert_eq!(summary["count"], 2, "{text}");
    }

    #[tokio::test]
    async fn dev_full_fails_every_record_without_a_panic_and_is_left_as_it_is() {
        #[cfg(unix)]
        use std::os::unix::fs::PermissionsExt;
        let path = Path::new("/dev/full");
        if !path.exists() {
            return;
        }
        #[cfg(unix)]
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        let log = AuditLog::open(path, None).unwrap();
        for n in 0..3 {
            let err = log.record(token(n)).await.unwrap_err();
            assert!(matches!(err, AuditError::Write(_)), "{err}");
        }
        log.record(AuditRecord::new(AuditEvent::Limited))
            .await
            .unwrap_err();
        // The writer is still there, answering.
        assert!(matches!(
            log.record(token(9)).await,
            Err(AuditError::Write(_))
        ));
        #[cfg(unix)]
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode(),
            mode,
            "a device's mode is not the log's to change"
        );
    }

    /// A disk whose appends wait until it is opened, and say when one has started.
    #[derive(Clone)]
    struct Stuck {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        appending: Arc<AtomicBool>,
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl Sink for Stuck {
        fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.appending.store(true, Ordering::SeqCst);
            let (open, opened) = &*self.open;
            let mut is_open = open.lock().unwrap();
            while !*is_open {
                is_open = opened.wait(is_open).unwrap();
            }
            self.bytes.lock().unwrap().extend_from_slice(bytes);
            Ok(())
        }

        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn size(&self) -> io::Result<u64> {
            Ok(self.bytes.lock().unwrap().len() as u64)
        }
    }

    #[tokio::test]
    async fn repeated_refusals_are_counted_without_waiting_for_the_writer() {
        let disk = Stuck {
            open: Arc::new((Mutex::new(true), std::sync::Condvar::new())),
            appending: Arc::default(),
            bytes: Arc::default(),
        };
        let log = log_on(disk.clone());
        let refusal = || AuditRecord::new(AuditEvent::Limited).detail("login_ip");
        // The first refusal of its window is written, as every record is.
        log.record(refusal()).await.unwrap();

        // The writer is stuck in a write (a slow disk) ...
        *disk.open.0.lock().unwrap() = false;
        disk.appending.store(false, Ordering::SeqCst);
        let blocked = tokio::spawn({
            let log = log.clone();
            async move { log.record(token(1)).await }
        });
        while !disk.appending.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ... and the repeats are answered all the same: counted by the caller, not
        // queued behind the write.
        for _ in 0..1000 {
            tokio::time::timeout(Duration::from_secs(1), log.record(refusal()))
                .await
                .expect("a repeat waited for the writer")
                .unwrap();
        }
        assert!(
            !blocked.is_finished(),
            "the token's record is still being written"
        );

        *disk.open.0.lock().unwrap() = true;
        disk.open.1.notify_all();
        blocked.await.unwrap().unwrap();
        log.flush().await.unwrap();
        let text = String::from_utf8(disk.bytes.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // The first refusal, the token, and one summary counting the 1,000 repeats.
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1]["detail"], "n1");
        assert_eq!(lines[2]["count"], 1000, "{text}");
    }
}
