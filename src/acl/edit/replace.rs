//! Replacing the ACL file whole: a temporary file in the same directory, synced,
//! then renamed over the original, so that after a crash the ACL is the old file
//! or the new one, never half of one, and only if nobody changed it meanwhile.

use super::*;

/// Writes `new` over `path` through a temporary file and a rename, if the file
/// still holds `expected`.
pub(super) fn replace_file(
    path: &Path,
    origin: &str,
    expected: &[u8],
    new: &[u8],
) -> Result<(), EditError> {
    let fail = |action: &str| write_error(origin, action);
    // Through a symlink, the file it points to is replaced and the link kept.
    let target = fs::canonicalize(path).map_err(fail("find the file"))?;
    let dir = target
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let metadata = fs::metadata(&target).map_err(fail("read the file's permissions"))?;
    // Read-only for everyone is someone's decision to keep it as it is: a rename
    // would get past it (it needs the directory, not the file), so it is kept here.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o222 == 0 {
            return Err(EditError::ReadOnly {
                origin: origin.to_owned(),
                mode,
            });
        }
    }
    let name = target
        .file_name()
        .map_or_else(|| "acl".into(), |n| n.to_string_lossy().into_owned());

    let (mut temp, file) = write_temp(&dir, &name, origin, new)?;
    // The new file must keep the old one's owner and group: only root can give it the
    // owner (a member of a group-writable file's group can edit it in place, not
    // replace it), and only root or a member of the group can give it the group.
    #[cfg(unix)]
    keep_owner(&file, &metadata, "the old one's", origin)?;
    file.set_permissions(metadata.permissions())
        .map_err(fail("give the new file the old one's permissions"))?;
    file.sync_all()
        .map_err(fail("write the temporary file to disk"))?;
    drop(file);

    // Another `roomgate acl` edit compares and renames under this lock too: without
    // it, two edits could each find the file as they read it, and the second rename
    // would drop the first's change. One that waited here reads the file anew (the
    // path, not the file it locked), finds the change and refuses.
    // Both opened as the first read was: should the file have been swapped for a
    // FIFO meanwhile, neither waits for a writer for ever.
    let (lock, _) = read::open_regular(&target)
        .map_err(io::Error::from)
        .map_err(fail("open the file"))?;
    lock.lock().map_err(fail("lock the file"))?;
    // Compared as late as possible: what someone saved since we read it wins.
    let now = read::read(&target)
        .map_err(io::Error::from)
        .map_err(fail("read the file again"))?;
    if now != expected {
        return Err(EditError::ChangedOnDisk {
            origin: origin.to_owned(),
        });
    }
    fs::rename(temp.path(), &target).map_err(fail("replace the file"))?;
    temp.0 = None;
    drop(lock);
    sync_dir(&dir, origin)
}

/// Writes `new` as the file at `path`, which isn't there: through a temporary file
/// linked into place, so a file someone else made meanwhile is left alone (refused
/// as changed on disk) and a crash leaves no half of one. Owner-only, as it holds
/// phone numbers.
pub(super) fn create_file(path: &Path, origin: &str, new: &[u8]) -> Result<(), EditError> {
    let fail = |action: &str| write_error(origin, action);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "acl".into(), |n| n.to_string_lossy().into_owned());
    let (temp, file) = write_temp(&dir, &name, origin, new)?;
    // Made by root (`sudo roomgate acl add …`), it goes to the directory's owner, who
    // is likely whoever runs the service: a root-only list it couldn't read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let made = file.metadata().map_err(fail("read the new file's owner"))?;
        if made.uid() == 0 {
            let dir_metadata = fs::metadata(&dir).map_err(fail("read the directory's owner"))?;
            keep_owner(&file, &dir_metadata, "the directory's", origin)?;
        }
    }
    file.sync_all()
        .map_err(fail("write the temporary file to disk"))?;
    drop(file);
    match fs::hard_link(temp.path(), path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(EditError::ChangedOnDisk {
                origin: origin.to_owned(),
            });
        }
        Err(e) => return Err(fail("create the file")(e)),
    }
    // The temporary name goes when `temp` drops; the file stays under `path`.
    drop(temp);
    sync_dir(&dir, origin)
}

/// The error for `action`, a step of writing the file, failing with an I/O error.
fn write_error(origin: &str, action: &str) -> impl FnOnce(io::Error) -> EditError + use<> {
    let (origin, action) = (origin.to_owned(), action.to_owned());
    move |source| EditError::Write {
        origin,
        action,
        source,
    }
}

/// The directory's entry (a rename or a new link) made durable too.
fn sync_dir(dir: &Path, origin: &str) -> Result<(), EditError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| EditError::SyncDir {
            origin: origin.to_owned(),
            source,
        })?;
    Ok(())
}

/// Removed when dropped, unless it was renamed into place.
pub(super) struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("not yet renamed")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = fs::remove_file(path);
        }
    }
}

/// `new` in a fresh temporary file in `dir` (named after `name`), not yet synced:
/// removed again if the caller doesn't keep it.
fn write_temp(
    dir: &Path,
    name: &str,
    origin: &str,
    new: &[u8],
) -> Result<(TempFile, File), EditError> {
    let fail = |action: &str| write_error(origin, action);
    let (temp_path, mut file) = create_temp(dir, name).map_err(fail(&format!(
        "create a temporary file in {}",
        dir.display()
    )))?;
    let temp = TempFile(Some(temp_path));
    file.write_all(new)
        .map_err(fail("write the temporary file"))?;
    Ok((temp, file))
}

pub(super) fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let mut last_error = None;
    for attempt in 0..100u32 {
        let path = dir.join(format!(
            ".{name}.roomgate-{}-{attempt}.tmp",
            std::process::id()
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        // Owner-only until it gets the original's permissions: it holds phone
        // numbers, and the original may be private.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.expect("tried"))
}

/// Someone editing as root must not leave the service unable to read its own ACL.
/// Gives `file` the owner, then the group, of `original` (`whose`: "the old one's"),
/// each only if it differs, so that a refusal says which of the two it was.
#[cfg(unix)]
pub(super) fn keep_owner(
    file: &File,
    original: &fs::Metadata,
    whose: &str,
    origin: &str,
) -> Result<(), EditError> {
    use std::os::unix::fs::{MetadataExt, fchown};
    let current = file
        .metadata()
        .map_err(write_error(origin, "read the new file's owner"))?;
    if current.uid() != original.uid() {
        fchown(file, Some(original.uid()), None)
            .map_err(|e| ownership(origin, whose, Id::Owner(original.uid()), e))?;
    }
    if current.gid() != original.gid() {
        fchown(file, None, Some(original.gid()))
            .map_err(|e| ownership(origin, whose, Id::Group(original.gid()), e))?;
    }
    Ok(())
}

/// A user or group a new file was to be given.
#[cfg(unix)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Id {
    Owner(u32),
    Group(u32),
}

/// The error for `id` refused to the new file, with the one advice that fits: an
/// owner is given only by root (or kept by that owner, who makes the file), a group
/// by root or a member of it. So the group's owner, who is not in it, hears that.
#[cfg(unix)]
fn ownership(origin: &str, whose: &str, id: Id, source: io::Error) -> EditError {
    let name = match id {
        Id::Owner(uid) => fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|db| name_in(&db, uid).map(str::to_owned)),
        Id::Group(gid) => fs::read_to_string("/etc/group")
            .ok()
            .and_then(|db| name_in(&db, gid).map(str::to_owned)),
    };
    ownership_error(origin, whose, id, name.as_deref(), source)
}

#[cfg(unix)]
pub(super) fn ownership_error(
    origin: &str,
    whose: &str,
    id: Id,
    name: Option<&str>,
    source: io::Error,
) -> EditError {
    let (what, advice) = match (id, name) {
        (Id::Owner(0), _) => (
            format!("{whose} owner, root"),
            "run this as root".to_owned(),
        ),
        (Id::Owner(uid), Some(name)) => (
            format!("{whose} owner, {name} (uid {uid})"),
            format!("run this as {name} or as root"),
        ),
        (Id::Owner(uid), None) => (
            format!("{whose} owner, uid {uid}"),
            format!("run this as the user with uid {uid} or as root"),
        ),
        (Id::Group(gid), Some(name)) => (
            format!("{whose} group, {name} (gid {gid})"),
            format!("run this as root or as a member of group {name}"),
        ),
        (Id::Group(gid), None) => (
            format!("{whose} group, gid {gid}"),
            format!("run this as root or as a member of the group with gid {gid}"),
        ),
    };
    EditError::Ownership {
        origin: origin.to_owned(),
        what,
        advice,
        source,
    }
}

/// The name of `id` in a file laid out as /etc/passwd or /etc/group (`NAME:x:ID:…`).
/// Read from there, not through `getpwuid_r`/`getgrgid_r`: the crate keeps `unsafe`
/// to two calls, and a file's owner or group on the machine the host edits it on is
/// almost always a local one; a name found nowhere is said as its number.
#[cfg(unix)]
pub(super) fn name_in(db: &str, id: u32) -> Option<&str> {
    db.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let listed: u32 = fields.nth(1)?.parse().ok()?;
            (listed == id && !name.is_empty()).then_some(name)
        })
}
