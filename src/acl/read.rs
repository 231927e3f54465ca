//! Reading the ACL file, for `serve` (at start-up and at every reload) and for the
//! `acl` commands alike: a regular file only, and only up to [`MAX_FILE_BYTES`].
//!
//! A path that names a FIFO would block the reader until something writes to it:
//! `acl check` would hang, and so would the server's reload task, which then never
//! reloads again. A device or a multi-gigabyte file would be read into memory whole.
//! Each is refused with what it is instead, like any other file that can't be read.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _};
use std::path::Path;
use std::time::Duration;

/// The largest ACL file read, in bytes. A 100,000-user list is about 6 MB, so this
/// leaves ten times that; a file beyond it is far more likely the wrong file (a log,
/// a disk image, a database) than a list, and the server would hold it in memory
/// whole at each reload, its parse several times that.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the file at a path was not read. The message follows `PATH: cannot read: `.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// What it is instead, e.g. "a FIFO (named pipe)".
    #[error("it is {0}, not a regular file")]
    NotAFile(&'static str),
    #[error(
        "it is {size} bytes ({}), over the {} MiB an ACL may be (a 100,000-user list is \
         about 6 MB): is it the right file?",
        mebibytes(*size),
        MAX_FILE_BYTES / (1024 * 1024)
    )]
    TooLarge { size: u64 },
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// How long a file must stay as it is before a list that takes something away (users,
/// room settings) is put in service, at a reload, or any file read at a start written
/// less than this ago. A file still being written (created and filled by a script, or
/// rewritten in place) parses as a shorter list wherever it happens to end: put in
/// service, everyone after the cut would be signed out and lose their passkeys.
pub(crate) const STABLE: Duration = Duration::from_secs(1);

/// The most re-reads of a file that keeps changing: past them it is judged as it then
/// is.
pub(crate) const STABLE_TRIES: u32 = 5;

/// [`read`], for the list a start puts in service: a file written less than
/// [`STABLE`] ago may be caught halfway through its write, so it is read again once
/// it has had that long, until two reads agree (at most [`STABLE_TRIES`] times). A
/// start takes what it reads as the list that was, and records who left it, so it
/// can't wait for a reload to complete the file, as a running server does. Files
/// older than that (nearly always) are read once.
pub fn read_settled(path: &Path) -> Result<Vec<u8>, ReadError> {
    let mut bytes = read(path)?;
    for _ in 0..STABLE_TRIES {
        // A time in the future (a clock set back) is as good as recent.
        let recent = fs::metadata(path)?
            .modified()
            .is_ok_and(|at| at.elapsed().map_or(true, |age| age < STABLE));
        if !recent {
            break;
        }
        std::thread::sleep(STABLE);
        let again = read(path)?;
        if again == bytes {
            break;
        }
        bytes = again;
    }
    Ok(bytes)
}

/// The whole file at `path` (followed through symbolic links), if it is a regular
/// file of at most [`MAX_FILE_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, ReadError> {
    let (file, len) = open_regular(path)?;
    // The size from the open file, as a hint only: it may grow while being read,
    // which `take` bounds.
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge { size });
    }
    Ok(bytes)
}

/// The file at `path` opened for reading, and its size, if it is a regular file of
/// at most [`MAX_FILE_BYTES`].
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), ReadError> {
    // Looked at before opening: opening a FIFO waits for a writer, and opening a
    // device can do something of its own (a tape rewinds, a terminal becomes ours).
    regular(&fs::metadata(path)?)?;
    let mut options = OpenOptions::new();
    options.read(true);
    // Should the path become a FIFO or a terminal between the look and the open,
    // the open still returns at once, and the terminal doesn't become ours.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NONBLOCK | libc::O_NOCTTY,
    );
    let file = options.open(path)?;
    // Looked at again through the open file, which is what is read: the path may
    // name something else than it did a moment ago.
    let len = regular(&file.metadata()?)?;
    Ok((file, len))
}

/// The file's size, if it is a regular file within the limit.
fn regular(metadata: &fs::Metadata) -> Result<u64, ReadError> {
    if !metadata.is_file() {
        return Err(ReadError::NotAFile(kind(&metadata.file_type())));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge {
            size: metadata.len(),
        });
    }
    Ok(metadata.len())
}

/// What a file that is not a regular one is, for the host.
fn kind(file_type: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "something else"
    }
}

/// `70.5 MiB`.
fn mebibytes(size: u64) -> String {
    let mib = size as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    /// A start that finds the file being written (half of it, the rest 300 ms later)
    /// takes the whole file, not the half; a file written long ago is read at once.
    #[test]
    fn a_start_waits_for_a_file_still_being_written() {
        let dir = TempDir::new("read-settled");
        let path = dir.0.join("acl.toml");
        let full = "[users.alice]\n\n[users.bob]\n".repeat(100);
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        let writer = {
            let (path, full) = (path.clone(), full.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                fs::write(&path, full).unwrap();
            })
        };
        assert_eq!(read_settled(&path).unwrap(), full.as_bytes());
        writer.join().unwrap();

        let old = std::time::SystemTime::now() - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let began = std::time::Instant::now();
        assert_eq!(read_settled(&path).unwrap(), full.as_bytes());
        assert!(began.elapsed() < STABLE);
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let dir = TempDir::new("read-regular");
        let path = dir.0.join("acl.toml");
        fs::write(&path, "[users.alice]\n").unwrap();
        assert_eq!(read(&path).unwrap(), b"[users.alice]\n");
        let missing = read(&dir.0.join("missing.toml")).unwrap_err();
        assert!(
            matches!(&missing, ReadError::Io(e) if e.kind() == io::ErrorKind::NotFound),
            "{missing:?}"
        );
    }

    #[test]
    fn a_directory_is_refused_as_one() {
        let dir = TempDir::new("read-dir");
        let err = read(&dir.0).unwrap_err();
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
    }

    /// A FIFO nobody writes to: reading it would wait for ever. Read on another
    /// thread, so that a regression fails the test rather than hanging the suite.
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = TempDir::new("read-fifo");
        let fifo = dir.0.join("fifo.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let link = dir.0.join("acl.toml");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for path in [fifo, link] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || tx.send(read(&path).map_err(|e| e.to_string())));
            let got = rx
                .recv_timeout(std::time::Duration::from_secs(5))
                .expect("reading a FIFO blocked");
            assert_eq!(
                got,
                Err("it is a FIFO (named pipe), not a regular file".to_owned())
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused() {
        let err = read(Path::new("/dev/null")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device, not a regular file"
        );
        // Through the open file too: what was opened is what counts.
        let err = regular(&File::open("/dev/null").unwrap().metadata().unwrap()).unwrap_err();
        assert!(matches!(err, ReadError::NotAFile("a character device")));
    }

    /// Sparse, so the test writes nothing: a file over the limit is refused by its
    /// size, before any of it is read.
    #[test]
    fn a_file_over_the_limit_is_refused_by_its_size() {
        let dir = TempDir::new("read-large");
        let path = dir.0.join("acl.toml");
        let file = File::create(&path).unwrap();
        file.set_len(MAX_FILE_BYTES).unwrap();
        assert_eq!(read(&path).unwrap().len() as u64, MAX_FILE_BYTES);
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let err = read(&path).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { size } if size == MAX_FILE_BYTES + 1));
        assert_eq!(
            err.to_string(),
            "it is 67108865 bytes (64.0 MiB), over the 64 MiB an ACL may be \
             (a 100,000-user list is about 6 MB): is it the right file?"
        );
    }
}
