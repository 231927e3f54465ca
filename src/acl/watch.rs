//! The live ACL: watched on disk (and reloaded on `SIGHUP`), replaced whole and only
//! by a file that parses and validates completely. A broken, empty or half-written
//! file keeps the last good list in service and marks it stale for `/readyz`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{Acl, AclErrors, AclPolicy, StartList};

/// How long to let a burst of file events settle before reading: editors write a
/// file in several steps.
const SETTLE: Duration = Duration::from_millis(150);

// A reload waits for a file that drops users to stay put (see `read::STABLE`); one
// that only adds or changes users is taken at once.
use super::read::{STABLE, STABLE_TRIES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclStatus {
    /// The file on disk is what is in service.
    Fresh,
    /// The file on disk was refused; the last good list is still in service.
    Stale { error: String },
}

/// What a reload did, for logs, metrics and the audit log.
#[derive(Debug)]
pub enum ReloadOutcome {
    Loaded {
        users: usize,
    },
    Unchanged,
    /// The file holds the list in service again after a rejected edit (the mistake
    /// undone): nothing changes for anyone, but the host hears that it is fixed.
    Restored {
        users: usize,
    },
    Rejected(AclErrors),
}

pub struct AclStore {
    current: ArcSwap<Acl>,
    status: ArcSwap<AclStatus>,
    path: PathBuf,
    policy: AclPolicy,
    /// SHA-256 of the file content `current` was parsed from, once a reload has read
    /// it: a save that changes nothing is then recognised without parsing, which for
    /// a 100,000-user list is most of a second of CPU and hundreds of MiB at peak.
    in_service: Mutex<Option<[u8; 32]>>,
    /// How many times a reload parsed the file.
    parses: AtomicU64,
    /// Told of a new list (with the one in service) before it is put in service:
    /// the audit record and the departures come first, so a crash can't leave a
    /// change in force and not on record. Runs on the reload's blocking thread.
    before_service: std::sync::OnceLock<BeforeService>,
}

/// See [`AclStore::before_service`]: called with the list in service, then the new.
type BeforeService = Box<dyn Fn(&Acl, &Acl) + Send + Sync>;

impl AclStore {
    pub fn new(acl: impl Into<StartList>, path: PathBuf, policy: AclPolicy) -> Self {
        let StartList { acl, digest } = acl.into();
        Self {
            current: ArcSwap::from_pointee(acl),
            status: ArcSwap::from_pointee(AclStatus::Fresh),
            path,
            policy,
            in_service: Mutex::new(digest),
            parses: AtomicU64::new(0),
            before_service: std::sync::OnceLock::new(),
        }
    }

    /// Sets what hears of each new list before it is put in service (once; later
    /// calls are ignored). It may block the reload (it runs on the reload's thread),
    /// so it should bound its wait: a removal waits for it.
    pub fn before_service(&self, hook: impl Fn(&Acl, &Acl) + Send + Sync + 'static) {
        let _ = self.before_service.set(Box::new(hook));
    }

    /// The list in service. Cheap: no lock, no copy.
    pub fn load(&self) -> Guard<Arc<Acl>> {
        self.current.load()
    }

    pub fn status(&self) -> AclStatus {
        AclStatus::clone(&self.status.load())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Put `acl` in service as is (tests, and callers that validated it themselves).
    pub fn replace(&self, acl: Acl) {
        *self.digest() = None;
        self.current.store(Arc::new(acl));
        self.status.store(Arc::new(AclStatus::Fresh));
    }

    /// Read, validate and swap in the file. Blocking file I/O and parsing: call it
    /// from `spawn_blocking`, never on the async runtime.
    pub fn reload(&self) -> ReloadOutcome {
        self.reload_settled(STABLE_TRIES)
    }

    /// [`Self::reload`], re-reading a file that drops users up to `tries` times until
    /// it stays the same for [`STABLE`].
    fn reload_settled(&self, tries: u32) -> ReloadOutcome {
        // Only a regular file, and only up to the limit: a FIFO put in the list's
        // place would block this (and every later) reload for good.
        let text = match super::read::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let errors = Acl::unreadable(&self.path, &e);
                self.status.store(Arc::new(AclStatus::Stale {
                    error: errors.redacted(),
                }));
                return ReloadOutcome::Rejected(errors);
            }
        };
        let digest: [u8; 32] = Sha256::digest(&text).into();
        let mut in_service = self.digest();
        if *in_service == Some(digest) {
            return self.unchanged();
        }
        self.parses.fetch_add(1, Ordering::Relaxed);
        let parsed = Acl::parse_bytes(&self.path, text, &self.policy);
        // The parse's working memory (many times the list's size) goes back now.
        crate::memory::release_freed();
        let acl = match parsed {
            Ok(acl) => acl,
            Err(errors) => {
                self.status.store(Arc::new(AclStatus::Stale {
                    error: errors.redacted(),
                }));
                return ReloadOutcome::Rejected(errors);
            }
        };
        if acl == **self.current.load() {
            *in_service = Some(digest);
            return self.unchanged();
        }
        if tries > 0 && takes_away(&self.current.load(), &acl) {
            drop(in_service);
            std::thread::sleep(STABLE);
            let settled = super::read::read(&self.path)
                .is_ok_and(|again| <[u8; 32]>::from(Sha256::digest(&again)) == digest);
            if !settled {
                // Still being written, or changed again: judged once it settles.
                return self.reload_settled(tries - 1);
            }
            in_service = self.digest();
        }
        let users = acl.user_count();
        if let Some(hook) = self.before_service.get() {
            hook(&self.current.load(), &acl);
        }
        *in_service = Some(digest);
        self.current.store(Arc::new(acl));
        self.status.store(Arc::new(AclStatus::Fresh));
        ReloadOutcome::Loaded { users }
    }
}

/// Whether `next` leaves out a user `current` has, or a room's settings (the
/// `[rooms.NAME]` tables come last in a file, so a write caught halfway through can
/// cut them alone; put in service, the defaults would apply for a moment: recording
/// off, and a 30-day retention that the hourly sweep could act on).
fn takes_away(current: &Acl, next: &Acl) -> bool {
    current.users().any(|(name, _)| next.user(name).is_none())
        || current
            .configured_rooms()
            .any(|(room, settings)| next.room_settings(room) != *settings)
}

impl AclStore {
    /// The file holds the list in service: fresh again, and `Restored` if a rejected
    /// edit had made it stale.
    fn unchanged(&self) -> ReloadOutcome {
        let before = self.status.swap(Arc::new(AclStatus::Fresh));
        match *before {
            AclStatus::Stale { .. } => ReloadOutcome::Restored {
                users: self.current.load().user_count(),
            },
            AclStatus::Fresh => ReloadOutcome::Unchanged,
        }
    }

    /// How many times a reload has parsed the file (a save that changes nothing
    /// doesn't).
    pub fn parses(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }

    fn digest(&self) -> std::sync::MutexGuard<'_, Option<[u8; 32]>> {
        // Only ever a whole value is stored: a panic can't leave it half-written.
        self.in_service.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps the ACL's directory watched. Dropping it stops the watch (a SIGHUP still
/// reloads as long as its sender lives).
pub struct AclWatch {
    /// Events the kernel delivered for the directories watched, whichever file they
    /// concern.
    wakeups: Arc<AtomicU64>,
    #[cfg(target_os = "linux")]
    reader: tokio::task::JoinHandle<()>,
    /// Hears once the watch's first look at the file is done.
    first_look: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl AclWatch {
    /// Once the watch has looked at the file a first time, as it started (see
    /// [`watch`]): a change made while the server started is in service by then.
    pub async fn first_look(&mut self) {
        if let Some(first_look) = self.first_look.take() {
            let _ = first_look.await;
        }
    }

    /// How many file events have woken the watch so far, for the ACL or for any other
    /// file in its directory.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }
}

impl Drop for AclWatch {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        self.reader.abort();
    }
}

/// Reload `store` whenever its file changes, and whenever `triggers` fires (SIGHUP).
/// `on_reload` hears every outcome. The returned watch must be kept alive.
///
/// It also reloads once as soon as it watches ([`AclWatch::first_look`] hears when
/// done): a change made between the start's read and the watch (the store opening,
/// Redis awaited) has no event left to come, and a user removed then would stay on
/// the list in service. With the digest of what the start read ([`StartList`]), a
/// file that still holds it costs a read and a hash.
pub fn watch(
    store: Arc<AclStore>,
    mut triggers: mpsc::Receiver<()>,
    on_reload: impl Fn(&ReloadOutcome) + Send + Sync + 'static,
) -> std::io::Result<AclWatch> {
    let (tx, mut events) = mpsc::channel::<()>(16);
    let wakeups = Arc::new(AtomicU64::new(0));
    let (mut watch, follow) = events_of(store.path.clone(), tx, wakeups)?;
    let (looked, first_look) = tokio::sync::oneshot::channel();
    watch.first_look = Some(first_look);

    let on_reload = Arc::new(on_reload);
    tokio::spawn(async move {
        // The first look, at once: the watch is in place, so a change from now on
        // has its event to come.
        let mut looked = Some(looked);
        loop {
            if looked.is_none() {
                tokio::select! {
                    Some(()) = events.recv() => {}
                    Some(()) = triggers.recv() => {}
                    else => break,
                }
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
            let store = store.clone();
            let follow = follow.clone();
            let reloaded = tokio::task::spawn_blocking(move || {
                let outcome = store.reload();
                // A link on the way may point elsewhere now: watch where it leads.
                follow.refresh();
                let warnings = match outcome {
                    ReloadOutcome::Loaded { .. } | ReloadOutcome::Restored { .. } => {
                        store.load().warnings()
                    }
                    _ => Vec::new(),
                };
                (outcome, warnings)
            });
            let outcome = match reloaded.await {
                Ok((outcome, warnings)) => {
                    for warning in warnings {
                        tracing::warn!("ACL: {warning}");
                    }
                    outcome
                }
                Err(e) => {
                    tracing::error!(error = %e, "ACL reload task failed");
                    continue;
                }
            };
            match &outcome {
                ReloadOutcome::Loaded { users } => tracing::info!(users, "ACL reloaded"),
                ReloadOutcome::Unchanged => tracing::debug!("ACL file touched, content unchanged"),
                ReloadOutcome::Restored { users } => {
                    tracing::info!(users, "ACL fixed: the file holds the list in service again")
                }
                ReloadOutcome::Rejected(errors) => {
                    for e in &errors.0 {
                        tracing::error!(error = %e.redacted(), "ACL change rejected; keeping the last good list");
                    }
                }
            }
            on_reload(&outcome);
            if let Some(looked) = looked.take() {
                let _ = looked.send(());
            }
        }
    });
    Ok(watch)
}

/// One directory entry the watch listens for: a name in a (real) directory.
type Entry = (PathBuf, std::ffi::OsString);

/// The directory entries whose change can change what the ACL's path reads: its name
/// in its directory and, when that is a symbolic link, every link on the way to the
/// file, directory links included. A Kubernetes ConfigMap mount is `acl.toml ->
/// ..data/acl.toml` with `..data -> ..2026_12_06_v1`, and an update swaps `..data`;
/// a dotfile repository links the file from elsewhere, where editors rename-save it.
/// Watches see real directories, so the directories here are real paths.
///
/// The first is the directory's own name in its parent: a deploy that swaps the whole
/// directory (`mv conf conf.old; mv conf.new conf`), or deletes and recreates it,
/// leaves nothing of the old directory to watch.
///
/// Then every link in the directory's own path, and where it leads: a deploy's
/// `current -> releases/N`, swapped for `releases/N+1`, changes which file the path
/// reads without a change in any directory above.
fn entries_on_the_way(path: &Path) -> Vec<Entry> {
    let given = path.parent().unwrap_or(Path::new(""));
    let dir = real_dir(given);
    let mut entries = Vec::new();
    if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
        entries.push((parent.to_path_buf(), name.to_owned()));
    }
    if let Some(name) = path.file_name() {
        let mut links = 0;
        follow(dir, Path::new(name), &mut entries, &mut links);
    }
    let mut prefix = PathBuf::new();
    for part in given.components() {
        prefix.push(part);
        let is_link = std::fs::symlink_metadata(&prefix).is_ok_and(|m| m.file_type().is_symlink());
        if let (true, Some(up), Some(name)) = (is_link, prefix.parent(), prefix.file_name()) {
            let mut links = 0;
            follow(real_dir(up), Path::new(name), &mut entries, &mut links);
        }
    }
    entries
}

/// `dir` as a real path: resolved where it exists, else its parent resolved with its
/// name (a directory gone for now).
fn real_dir(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::canonicalize(dir).unwrap_or_else(|_| {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match (std::fs::canonicalize(parent), dir.file_name()) {
            (Ok(parent), Some(name)) => parent.join(name),
            _ => dir.to_path_buf(),
        }
    })
}

/// Walk `rel` from the real directory `dir`, noting each entry passed and following
/// links as they come (at most 40, as the kernel does); where it leads.
fn follow(mut at: PathBuf, rel: &Path, entries: &mut Vec<Entry>, links: &mut u32) -> PathBuf {
    use std::path::Component;
    for part in rel.components() {
        match part {
            Component::Prefix(_) | Component::RootDir => at.push(part.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop();
            }
            Component::Normal(name) => {
                if !entries.iter().any(|(d, n)| *d == at && n == name) {
                    entries.push((at.clone(), name.to_owned()));
                }
                let next = at.join(name);
                match std::fs::read_link(&next) {
                    Ok(target) if *links < 40 => {
                        *links += 1;
                        at = follow(at, &target, entries, links);
                    }
                    _ => at = next,
                }
            }
        }
    }
    at
}

/// The entries watched, by directory, re-followed after every reload.
#[derive(Clone)]
struct Follow {
    path: PathBuf,
    #[cfg(target_os = "linux")]
    watches: inotify::Watches,
    #[cfg(target_os = "linux")]
    names: Arc<Mutex<std::collections::HashMap<inotify::WatchDescriptor, Vec<std::ffi::OsString>>>>,
    #[cfg(not(target_os = "linux"))]
    watcher: Arc<Mutex<notify::RecommendedWatcher>>,
    #[cfg(not(target_os = "linux"))]
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// On Linux, inotify asked only for what can change which file the ACL's name points
/// to or what it holds once written: creations, deletions, renames, metadata, and a
/// file opened for writing being closed. Not for every `write` (`IN_MODIFY`) or
/// `open`, which `notify` always asks for: the audit log sits in the same directory by
/// default, and each of its writes would wake the watch (about 2 % of the server's CPU
/// under load). A file written in place is seen when its writer closes it; a full
/// event queue counts as a change (the reload compares content, so it costs little).
#[cfg(target_os = "linux")]
const MASK: inotify::WatchMask = inotify::WatchMask::CLOSE_WRITE
    .union(inotify::WatchMask::ATTRIB)
    .union(inotify::WatchMask::CREATE)
    .union(inotify::WatchMask::DELETE)
    .union(inotify::WatchMask::MOVED_FROM)
    .union(inotify::WatchMask::MOVED_TO)
    .union(inotify::WatchMask::DELETE_SELF)
    .union(inotify::WatchMask::MOVE_SELF)
    .union(inotify::WatchMask::ONLYDIR);

#[cfg(target_os = "linux")]
impl Follow {
    /// Watch the directories of the entries on the way to the file now, and only those.
    fn refresh(&self) {
        let mut by_dir: Vec<(PathBuf, Vec<std::ffi::OsString>)> = Vec::new();
        for (dir, name) in entries_on_the_way(&self.path) {
            match by_dir.iter_mut().find(|(d, _)| *d == dir) {
                Some((_, names)) => names.push(name),
                None => by_dir.push((dir, vec![name])),
            }
        }
        let mut watched = std::collections::HashMap::new();
        for (dir, names) in by_dir {
            match self.watches.clone().add(&dir, MASK) {
                Ok(wd) => {
                    watched.insert(wd, names);
                }
                // A directory on the way that doesn't exist (yet): the entry before it
                // is watched, and its creation brings a reload and a refresh.
                Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "not watched"),
            }
        }
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        for stale in names.keys().filter(|wd| !watched.contains_key(*wd)) {
            // Gone already if its directory was deleted.
            let _ = self.watches.clone().remove(stale.clone());
        }
        *names = watched;
    }
}

#[cfg(target_os = "linux")]
fn events_of(
    path: PathBuf,
    tx: mpsc::Sender<()>,
    wakeups: Arc<AtomicU64>,
) -> std::io::Result<(AclWatch, Follow)> {
    use futures_util::StreamExt;
    use inotify::{EventMask, Inotify};

    let inotify = Inotify::init()?;
    let follow = Follow {
        path,
        watches: inotify.watches(),
        names: Arc::default(),
    };
    follow.refresh();
    if follow
        .names
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the ACL's directory can't be watched",
        ));
    }
    let mut stream = inotify.into_event_stream([0u8; 4096])?;
    let counted = wakeups.clone();
    let names = follow.names.clone();
    let reader = tokio::spawn(async move {
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(event) => event,
                Err(e) => {
                    tracing::error!(error = %e, "watching the ACL's directory failed; SIGHUP still reloads");
                    return;
                }
            };
            counted.fetch_add(1, Ordering::Relaxed);
            let ours = event.name.as_ref().is_some_and(|name| {
                names
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&event.wd)
                    .is_some_and(|names| names.iter().any(|n| n == name))
            });
            let whole_directory = event
                .mask
                .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::Q_OVERFLOW);
            if ours || whole_directory {
                // Full means a reload is already queued, which is all we need.
                let _ = tx.try_send(());
            }
        }
    });
    let watch = AclWatch {
        wakeups,
        reader,
        first_look: None,
    };
    Ok((watch, follow))
}

/// Elsewhere, `notify`'s watcher, filtering in user space.
#[cfg(not(target_os = "linux"))]
impl Follow {
    fn refresh(&self) {
        use notify::{RecursiveMode, Watcher};
        let now = entries_on_the_way(&self.path);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut watcher = self.watcher.lock().unwrap_or_else(|e| e.into_inner());
        for (dir, _) in entries.iter() {
            if !now.iter().any(|(d, _)| d == dir) {
                let _ = watcher.unwatch(dir);
            }
        }
        for (dir, _) in &now {
            if !entries.iter().any(|(d, _)| d == dir) {
                if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::debug!(dir = %dir.display(), error = %e, "not watched");
                }
            }
        }
        *entries = now;
    }
}

#[cfg(not(target_os = "linux"))]
fn events_of(
    path: PathBuf,
    tx: mpsc::Sender<()>,
    wakeups: Arc<AtomicU64>,
) -> std::io::Result<(AclWatch, Follow)> {
    let counted = wakeups.clone();
    let entries: Arc<Mutex<Vec<Entry>>> = Arc::default();
    let seen = entries.clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        counted.fetch_add(1, Ordering::Relaxed);
        if event.kind.is_access() {
            return;
        }
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let ours = event.paths.iter().any(|p| {
            seen.iter()
                .any(|(dir, name)| p.parent() == Some(dir.as_path()) && p.file_name() == Some(name))
        });
        if ours {
            // Full means a reload is already queued, which is all we need.
            let _ = tx.try_send(());
        }
    })
    .map_err(std::io::Error::other)?;
    let follow = Follow {
        path,
        watcher: Arc::new(Mutex::new(watcher)),
        entries,
    };
    follow.refresh();
    let watch = AclWatch {
        wakeups,
        first_look: None,
    };
    Ok((watch, follow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    const GOOD: &str = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n";

    /// `text` in `conf/acl.toml` of a new directory: the watch's events are then
    /// all from within it (it watches `conf` in its parent too).
    fn temp_acl(text: &str) -> (TempDir, PathBuf) {
        let dir = TempDir::new("watch");
        std::fs::create_dir(dir.0.join("conf")).unwrap();
        let path = dir.0.join("conf/acl.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A list of `text` on disk, and a store holding it (not watched).
    fn loaded(text: &str) -> (TempDir, PathBuf, AclStore) {
        let (dir, path) = temp_acl(text);
        let acl = Acl::load(&path).unwrap();
        let store = AclStore::new(acl, path.clone(), AclPolicy::default());
        (dir, path, store)
    }

    /// `store` reloaded while its file, cut short, gets the rest of `full` 300 ms later.
    fn reload_while_finished(store: &AclStore, path: &Path, full: &str) -> ReloadOutcome {
        let writer = {
            let (path, full) = (path.to_owned(), full.to_owned());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::write(&path, full).unwrap();
            })
        };
        let outcome = store.reload();
        writer.join().unwrap();
        outcome
    }

    /// A file caught halfway through being written parses as a shorter list: it is
    /// not put in service while it is still changing (here the rest comes 300 ms
    /// later). A list that really drops a user goes in once it has stayed put.
    #[cfg(unix)]
    #[test]
    fn a_file_still_being_written_does_not_drop_users() {
        let full = list_of(6);
        let (_dir, path, store) = loaded(&full);
        let cut = full.find("[users.u3]").unwrap();
        std::fs::write(&path, &full[..cut]).unwrap();
        let outcome = reload_while_finished(&store, &path, &full);
        assert!(matches!(outcome, ReloadOutcome::Unchanged), "{outcome:?}");
        assert_eq!(store.load().user_count(), 6);

        // Two users really removed: in service once the file has stayed so.
        std::fs::write(&path, &full[..full.find("[users.u4]").unwrap()]).unwrap();
        let began = std::time::Instant::now();
        assert!(matches!(store.reload(), ReloadOutcome::Loaded { users: 4 }));
        assert!(began.elapsed() >= STABLE);
        // Adding is taken at once.
        std::fs::write(&path, &full).unwrap();
        let began = std::time::Instant::now();
        assert!(matches!(store.reload(), ReloadOutcome::Loaded { users: 6 }));
        assert!(began.elapsed() < STABLE);
    }

    /// The same for a file cut before its room settings (which come last): the cut
    /// isn't put in service while the rest is still coming.
    #[cfg(unix)]
    #[test]
    fn a_file_still_being_written_does_not_drop_room_settings() {
        let full = format!("{}[rooms.standup]\nretention_days = 90\n", list_of(2));
        let (_dir, path, store) = loaded(&full);
        std::fs::write(&path, &full[..full.find("[rooms.standup]").unwrap()]).unwrap();
        let outcome = reload_while_finished(&store, &path, &full);
        assert!(matches!(outcome, ReloadOutcome::Unchanged), "{outcome:?}");
        let standup = crate::domain::RoomName::parse("standup").unwrap();
        assert_eq!(store.load().room_settings(&standup).retention_days, 90);
    }

    /// A new list is announced (for its audit record) while the old one is still in
    /// service, and only a new one is: a crash can't leave a change in force and not
    /// on record.
    #[test]
    fn a_new_list_is_told_of_before_it_is_in_service() {
        let full = list_of(3);
        let (_dir, path, store) = loaded(&full);
        let store = Arc::new(store);
        let heard = Arc::new(Mutex::new(Vec::new()));
        store.before_service({
            let (store, heard) = (Arc::downgrade(&store), heard.clone());
            move |old: &Acl, new: &Acl| {
                let in_service = store.upgrade().unwrap().load().user_count();
                assert_eq!(old.user_count(), in_service);
                heard.lock().unwrap().push((new.user_count(), in_service));
            }
        });
        std::fs::write(&path, list_of(5)).unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Loaded { users: 5 }));
        assert!(matches!(store.reload(), ReloadOutcome::Unchanged));
        std::fs::write(&path, "not a list").unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Rejected(_)));
        assert_eq!(*heard.lock().unwrap(), [(5, 3)]);
    }

    /// The list at `path`, watched; the receiver hears, per reload, whether it
    /// loaded a new list. (No SIGHUP: its sender is dropped at once.)
    fn watched(path: &Path) -> (Arc<AclStore>, AclWatch, mpsc::UnboundedReceiver<bool>) {
        let store = Arc::new(AclStore::new(
            Acl::load(path).unwrap(),
            path.to_path_buf(),
            AclPolicy::default(),
        ));
        let (_, triggers) = mpsc::channel(1);
        let (loads_tx, loads) = mpsc::unbounded_channel();
        let watch = watch(store.clone(), triggers, move |o| {
            let _ = loads_tx.send(matches!(o, ReloadOutcome::Loaded { .. }));
        })
        .unwrap();
        (store, watch, loads)
    }

    /// Waits up to 2 s for a reload that loaded a new list.
    async fn until_loaded(
        loads: &mut mpsc::UnboundedReceiver<bool>,
    ) -> Result<(), tokio::time::error::Elapsed> {
        tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(loaded) = loads.recv().await {
                if loaded {
                    return;
                }
            }
        })
        .await
    }

    /// `users` users, each a distinct line, for telling lists apart.
    #[cfg(unix)]
    fn list_of(users: usize) -> String {
        (0..users)
            .map(|i| {
                format!(
                    "[users.u{i}]\nphone = \"+1415555{:04}\"\nrooms = [\"standup\"]\n\n",
                    100 + i
                )
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn the_entries_on_the_way_follow_file_and_directory_links() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new("watch-links");
        let dir = std::fs::canonicalize(&tmp.0).unwrap();
        std::fs::create_dir(dir.join("..v1")).unwrap();
        std::fs::write(dir.join("..v1/acl.toml"), GOOD).unwrap();
        symlink("..v1", dir.join("..data")).unwrap();
        symlink("..data/acl.toml", dir.join("acl.toml")).unwrap();
        let name = |n: &str| std::ffi::OsString::from(n);
        let above = (
            dir.parent().unwrap().to_path_buf(),
            dir.file_name().unwrap().to_owned(),
        );
        assert_eq!(
            entries_on_the_way(&dir.join("acl.toml")),
            vec![
                above.clone(),
                (dir.clone(), name("acl.toml")),
                (dir.clone(), name("..data")),
                (dir.clone(), name("..v1")),
                (dir.join("..v1"), name("acl.toml")),
            ]
        );
        // A plain file is its own entry; a loop of links ends.
        std::fs::write(dir.join("plain.toml"), GOOD).unwrap();
        assert_eq!(
            entries_on_the_way(&dir.join("plain.toml")),
            vec![above.clone(), (dir.clone(), name("plain.toml"))]
        );
        symlink("b", dir.join("a")).unwrap();
        symlink("a", dir.join("b")).unwrap();
        assert_eq!(entries_on_the_way(&dir.join("a")).len(), 3);
        // A link in the directory's own path (a deploy's `current -> releases/v1`) is
        // watched, and so is where it leads.
        std::fs::create_dir_all(dir.join("releases/v1")).unwrap();
        std::fs::write(dir.join("releases/v1/acl.toml"), GOOD).unwrap();
        symlink("releases/v1", dir.join("current")).unwrap();
        let through = entries_on_the_way(&dir.join("current/acl.toml"));
        for entry in [
            (dir.join("releases"), name("v1")),
            (dir.join("releases/v1"), name("acl.toml")),
            (dir.clone(), name("current")),
            (dir.clone(), name("releases")),
        ] {
            assert!(through.contains(&entry), "{entry:?} in {through:?}");
        }
        // A directory that is gone for now is still named in its parent.
        assert_eq!(
            entries_on_the_way(&dir.join("gone/acl.toml")),
            vec![
                (dir.clone(), name("gone")),
                (dir.join("gone"), name("acl.toml"))
            ]
        );
    }

    /// A list mounted the way Kubernetes mounts a ConfigMap (`acl.toml ->
    /// ..data/acl.toml`, `..data -> ..v1`), or linked from a dotfile repository: an
    /// edit of the real file, an update that swaps `..data` to a new version, and an
    /// edit inside that new version are each in force within the watch's time.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_linked_list_is_followed_through_its_links() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new("watch-configmap");
        let dir = tmp.0.clone();
        std::fs::create_dir(dir.join("..v1")).unwrap();
        std::fs::write(dir.join("..v1/acl.toml"), list_of(1)).unwrap();
        symlink("..v1", dir.join("..data")).unwrap();
        symlink("..data/acl.toml", dir.join("acl.toml")).unwrap();
        let (store, _watch, mut loads) = watched(&dir.join("acl.toml"));
        assert_eq!(store.load().user_count(), 1);

        // An editor's rename-save of the real file, in its own directory.
        std::fs::write(dir.join("..v1/.acl.toml.swp"), list_of(2)).unwrap();
        std::fs::rename(dir.join("..v1/.acl.toml.swp"), dir.join("..v1/acl.toml")).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("an edit of the linked file");
        assert_eq!(store.load().user_count(), 2);

        // The ConfigMap update: a new version, then `..data` swapped by a rename.
        std::fs::create_dir(dir.join("..v2")).unwrap();
        std::fs::write(dir.join("..v2/acl.toml"), list_of(3)).unwrap();
        symlink("..v2", dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        std::fs::remove_dir_all(dir.join("..v1")).unwrap();
        until_loaded(&mut loads).await.expect("the swapped version");
        assert_eq!(store.load().user_count(), 3);
        // Let the reloads those events bring finish, so only the next write can load.
        tokio::time::sleep(Duration::from_millis(500)).await;
        while loads.try_recv().is_ok() {}

        // The new version's directory is watched now.
        std::fs::write(dir.join("..v2/acl.toml"), list_of(4)).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("an edit in the new version");
        assert_eq!(store.load().user_count(), 4);
    }

    /// A deploy that keeps releases side by side and points `current` at one: the
    /// list is named through `current/acl.toml`, and swapping the link (a rename over
    /// it, as `ln -sfn` into place does) puts the new release's list in service.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_swapped_directory_link_in_the_path_is_followed() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new("watch-release");
        let dir = tmp.0.clone();
        for (release, users) in [("v1", 1), ("v2", 3)] {
            std::fs::create_dir_all(dir.join("releases").join(release)).unwrap();
            std::fs::write(
                dir.join("releases").join(release).join("acl.toml"),
                list_of(users),
            )
            .unwrap();
        }
        symlink("releases/v1", dir.join("current")).unwrap();
        let (store, _watch, mut loads) = watched(&dir.join("current/acl.toml"));
        assert_eq!(store.load().user_count(), 1);

        symlink("releases/v2", dir.join("current.tmp")).unwrap();
        std::fs::rename(dir.join("current.tmp"), dir.join("current")).unwrap();
        until_loaded(&mut loads).await.expect("the new release");
        assert_eq!(store.load().user_count(), 3);
    }

    /// A deploy that swaps the ACL's whole directory, or deletes it and makes it
    /// again a while later: the list that comes back is in force, and so are edits in
    /// the new directory.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_replaced_or_recreated_directory_is_watched_again() {
        let (tmp, path) = temp_acl(&list_of(1));
        let conf = tmp.0.join("conf");
        let (store, _watch, mut loads) = watched(&path);

        std::fs::rename(&conf, tmp.0.join("conf.old")).unwrap();
        // Long past the watch's settling time: the reload finds no file.
        tokio::time::sleep(SETTLE * 4).await;
        std::fs::create_dir(tmp.0.join("conf.new")).unwrap();
        std::fs::write(tmp.0.join("conf.new/acl.toml"), list_of(2)).unwrap();
        std::fs::rename(tmp.0.join("conf.new"), &conf).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("the swapped directory");
        assert_eq!(store.load().user_count(), 2);
        tokio::time::sleep(SETTLE * 4).await;
        while loads.try_recv().is_ok() {}
        std::fs::write(&path, list_of(3)).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("an edit in the new directory");
        assert_eq!(store.load().user_count(), 3);

        std::fs::remove_dir_all(&conf).unwrap();
        tokio::time::sleep(SETTLE * 4).await;
        std::fs::create_dir(&conf).unwrap();
        tokio::time::sleep(SETTLE * 4).await;
        std::fs::write(&path, list_of(4)).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("the recreated directory");
        assert_eq!(store.load().user_count(), 4);
    }

    #[test]
    fn a_save_that_changes_nothing_is_not_parsed() {
        let (_dir, path, store) = loaded(GOOD);
        // The first reload reads what is in service; it has to parse to know.
        assert!(matches!(store.reload(), ReloadOutcome::Unchanged));
        assert_eq!(store.parses(), 1);
        for _ in 0..3 {
            std::fs::write(&path, GOOD).unwrap();
            assert!(matches!(store.reload(), ReloadOutcome::Unchanged));
        }
        assert_eq!(store.parses(), 1, "the same bytes were parsed again");

        let changed =
            format!("{GOOD}\n[users.bob]\nphone = \"+14155550102\"\nrooms = [\"standup\"]\n");
        std::fs::write(&path, &changed).unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Loaded { users: 2 }));
        assert_eq!(store.parses(), 2);
        // A broken save is parsed (and refused); saving the list in service again
        // afterwards is recognised without a parse, and the list is fresh again.
        std::fs::write(&path, "[users.alice]\nphone = \"+1415").unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Rejected(_)));
        assert!(matches!(store.status(), AclStatus::Stale { .. }));
        std::fs::write(&path, &changed).unwrap();
        assert!(matches!(
            store.reload(),
            ReloadOutcome::Restored { users: 2 }
        ));
        assert_eq!(store.status(), AclStatus::Fresh);
        assert_eq!(store.parses(), 3);
    }

    #[test]
    fn a_broken_file_keeps_the_last_good_list_and_marks_it_stale() {
        let (_dir, path, store) = loaded(GOOD);
        std::fs::write(&path, "[users.alice]\nphone = \"+1415").unwrap();
        let ReloadOutcome::Rejected(errors) = store.reload() else {
            panic!("a half-written file must be rejected")
        };
        assert!(errors.to_string().contains("acl.toml:2:"), "{errors}");
        assert_eq!(store.load().user_count(), 1);
        let AclStatus::Stale { error } = store.status() else {
            panic!("stale expected")
        };
        assert!(error.contains("acl.toml:2:"));

        std::fs::write(&path, "").unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Rejected(_)));
        assert_eq!(store.load().user_count(), 1);

        std::fs::write(
            &path,
            format!("{GOOD}\n[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n"),
        )
        .unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Loaded { users: 2 }));
        assert_eq!(store.status(), AclStatus::Fresh);
        assert!(matches!(store.reload(), ReloadOutcome::Unchanged));
    }

    /// Undoing a rejected edit changes no one's access, but it is news to the host
    /// who broke the file: the reload says the list is fixed (and is logged and
    /// audited as such), once.
    #[test]
    fn undoing_a_rejected_edit_is_reported_as_fixed() {
        let (_dir, path, store) = loaded(GOOD);
        assert!(matches!(store.reload(), ReloadOutcome::Unchanged));
        std::fs::write(&path, GOOD.replace("+14155550101", "4155550101")).unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Rejected(_)));
        // The same bytes as the list in service (recognised by digest, no parse)…
        std::fs::write(&path, GOOD).unwrap();
        assert!(matches!(
            store.reload(),
            ReloadOutcome::Restored { users: 1 }
        ));
        assert_eq!(store.status(), AclStatus::Fresh);
        assert!(
            matches!(store.reload(), ReloadOutcome::Unchanged),
            "said once"
        );
        // …or other bytes that parse to the same list.
        std::fs::write(&path, "[users.alice]\nphone = \"+1415\"").unwrap();
        assert!(matches!(store.reload(), ReloadOutcome::Rejected(_)));
        std::fs::write(&path, format!("# fixed\n{GOOD}")).unwrap();
        assert!(matches!(
            store.reload(),
            ReloadOutcome::Restored { users: 1 }
        ));
    }

    #[cfg(unix)]
    use crate::test_support::mkfifo;

    /// When dropped, lets go of a reader a regression left waiting on the FIFO: an
    /// open for writing that doesn't wait ends its open, and the close its read. So a
    /// failing test fails instead of hanging the suite.
    #[cfg(unix)]
    struct ReleaseFifo(PathBuf);

    #[cfg(unix)]
    impl Drop for ReleaseFifo {
        fn drop(&mut self) {
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.0);
        }
    }

    /// `store.reload()`, on a thread of its own: `None` if it took over 5 s.
    fn reload_within(store: &Arc<AclStore>) -> Option<ReloadOutcome> {
        let (tx, rx) = std::sync::mpsc::channel();
        let store = store.clone();
        std::thread::spawn(move || tx.send(store.reload()));
        rx.recv_timeout(Duration::from_secs(5)).ok()
    }

    /// A FIFO in the list's place would block a reload for ever (and with it every
    /// later one); a huge file would be read into memory. Each is refused like a
    /// broken file: the last good list stays, stale, and the next good file loads.
    #[cfg(unix)]
    #[test]
    fn a_fifo_or_an_oversized_file_is_refused_and_the_list_kept() {
        let (dir, path, store) = loaded(GOOD);
        let store = Arc::new(store);
        let fifo = dir.0.join("conf/fifo");
        mkfifo(&fifo);
        let _release = ReleaseFifo(fifo.clone());
        std::fs::remove_file(&path).unwrap();
        std::fs::hard_link(&fifo, &path).unwrap();
        let Some(ReloadOutcome::Rejected(errors)) = reload_within(&store) else {
            panic!("a FIFO was not refused at once")
        };
        assert_eq!(
            errors.to_string(),
            format!(
                "{}: cannot read: it is a FIFO (named pipe), not a regular file",
                path.display()
            )
        );
        assert_eq!(store.load().user_count(), 1);
        assert!(matches!(store.status(), AclStatus::Stale { .. }));

        std::fs::remove_file(&path).unwrap();
        let huge = std::fs::File::create(&path).unwrap();
        huge.set_len(super::super::MAX_FILE_BYTES + 1).unwrap();
        let Some(ReloadOutcome::Rejected(errors)) = reload_within(&store) else {
            panic!("a file over the limit was not refused")
        };
        assert!(
            errors.to_string().contains("over the 64 MiB an ACL may be"),
            "{errors}"
        );
        assert_eq!(store.load().user_count(), 1);

        std::fs::remove_file(&path).unwrap();
        std::fs::write(
            &path,
            format!("{GOOD}\n[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n"),
        )
        .unwrap();
        assert!(matches!(
            reload_within(&store),
            Some(ReloadOutcome::Loaded { users: 2 })
        ));
        assert_eq!(store.status(), AclStatus::Fresh);
    }

    /// The watch goes on after a FIFO was put in the list's place: the good list
    /// renamed over it later is in force.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_fifo_in_the_lists_place_does_not_stop_the_watch() {
        let (dir, path) = temp_acl(GOOD);
        let (store, _watch, mut loads) = watched(&path);
        let fifo = dir.0.join("conf/fifo");
        mkfifo(&fifo);
        let _release = ReleaseFifo(fifo.clone());
        let next = dir.0.join("conf/acl.toml.new");
        std::fs::hard_link(&fifo, &next).unwrap();
        std::fs::rename(&next, &path).unwrap();
        let refused = tokio::time::timeout(Duration::from_secs(2), loads.recv()).await;
        assert_eq!(refused, Ok(Some(false)), "the FIFO's reload did not end");
        assert!(matches!(store.status(), AclStatus::Stale { .. }));
        assert_eq!(store.load().user_count(), 1);

        std::fs::write(&next, list_of(2)).unwrap();
        std::fs::rename(&next, &path).unwrap();
        until_loaded(&mut loads)
            .await
            .expect("a good list after the FIFO");
        assert_eq!(store.load().user_count(), 2);
        assert_eq!(store.status(), AclStatus::Fresh);
    }

    #[tokio::test]
    async fn edits_on_disk_are_picked_up_by_the_watcher() {
        let (_dir, path) = temp_acl(GOOD);
        let (store, _watch, mut loads) = watched(&path);

        // Written the way editors do: a new file renamed over the old one.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, GOOD.replace("standup", "standup\", \"retro")).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let loaded = until_loaded(&mut loads).await;
        assert!(loaded.is_ok(), "the edit was picked up within 2 s");
        let alice = crate::domain::Username::parse("alice").unwrap();
        let retro = crate::domain::RoomName::parse("retro").unwrap();
        assert!(store.load().allowed(&alice, &retro).is_some());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn writes_to_another_file_in_the_directory_do_not_wake_the_watch() {
        use std::io::Write;

        let (dir, path) = temp_acl(GOOD);
        // As the audit log is, by default: in the ACL's directory, opened once,
        // appended to and synced record by record, never closed.
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.0.join("conf/audit.log"))
            .unwrap();
        let (_store, watch, mut loads) = watched(&path);
        // The watch's first look, as it starts: the file is the list in service.
        assert_eq!(loads.recv().await, Some(false));

        for i in 0..500 {
            writeln!(log, "{{\"event\":\"sign_in_requested\",\"n\":{i}}}").unwrap();
            log.sync_data().unwrap();
        }
        tokio::time::sleep(SETTLE * 2).await;
        assert_eq!(watch.wakeups(), 0, "the log's writes woke the ACL's watch");
        assert!(loads.try_recv().is_err(), "nothing was reloaded");

        // The ACL written in place (open, write, close) still is seen.
        std::fs::write(&path, GOOD.replace("standup", "standup\", \"retro")).unwrap();
        let loaded = until_loaded(&mut loads).await;
        assert!(loaded.is_ok(), "the in-place edit was picked up within 2 s");
        assert!(watch.wakeups() > 0);
    }

    /// `store` watched; the receiver hears each reload's outcome, as `Debug` text.
    fn outcomes_of(store: &Arc<AclStore>) -> (AclWatch, mpsc::UnboundedReceiver<String>) {
        let (_, triggers) = mpsc::channel(1);
        let (tx, outcomes) = mpsc::unbounded_channel();
        let watch = watch(store.clone(), triggers, move |o| {
            let _ = tx.send(format!("{o:?}"));
        })
        .unwrap();
        (watch, outcomes)
    }

    /// A change made after the start read the file and before the watch began (the
    /// store opening, Redis awaited) leaves no event to come: the watch looks once as
    /// it starts, and puts it in service. A file that still holds what the start read
    /// is known by its digest, without a parse.
    #[tokio::test]
    async fn a_change_made_while_starting_is_in_service_once_watched() {
        let (_dir, path) = temp_acl(&list_of(3));
        let policy = AclPolicy::default();
        let start = Acl::load_at_start(&path, &policy).unwrap();
        assert!(start.digest.is_some());
        // Unchanged: looked at, not parsed.
        let store = Arc::new(AclStore::new(start, path.clone(), policy.clone()));
        let (_watch, mut outcomes) = outcomes_of(&store);
        assert_eq!(outcomes.recv().await.unwrap(), "Unchanged");
        assert_eq!(store.parses(), 0);

        // A user removed between the start's read and the watch.
        let start = Acl::load_at_start(&path, &policy).unwrap();
        std::fs::write(&path, list_of(2)).unwrap();
        let store = Arc::new(AclStore::new(start, path.clone(), policy));
        let (_watch, mut outcomes) = outcomes_of(&store);
        assert_eq!(outcomes.recv().await.unwrap(), "Loaded { users: 2 }");
        assert_eq!(store.load().user_count(), 2);
    }

    #[tokio::test]
    async fn a_trigger_reloads_without_a_file_event() {
        let (_dir, path) = temp_acl(GOOD);
        let store = Arc::new(AclStore::new(
            Acl::parse("x", &GOOD.replace("standup", "other")).unwrap(),
            path.clone(),
            AclPolicy::default(),
        ));
        let (trigger, triggers) = mpsc::channel(1);
        let (seen_tx, mut seen) = mpsc::unbounded_channel();
        let _watcher = watch(store.clone(), triggers, move |o| {
            let _ = seen_tx.send(matches!(o, ReloadOutcome::Loaded { .. }));
        })
        .unwrap();
        trigger.send(()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), seen.recv()).await;
        assert_eq!(got.ok().flatten(), Some(true));
    }
}
