//! `roomgate audit show`: the log read back, filtered, phone numbers opened with the key.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use super::record::StoredRecord;
use super::seal::{AuditKey, PhoneView, open_phone};
use super::writer::numbered;
use crate::clock::{parse_duration, parse_rfc3339};

/// What `audit show` prints.
#[derive(Debug)]
pub struct ShowOptions {
    /// The current log; its rotated files (`<file>.1`, `<file>.2`, …) are read too.
    pub file: PathBuf,
    /// Only records at or after this time.
    pub since: Option<SystemTime>,
    /// Only this user's records (compared trimmed and lowercased, as typed at sign-in).
    pub user: Option<String>,
    /// Only this room's records.
    pub room: Option<String>,
    /// Decrypts phone numbers; without it they show as `phone=<encrypted>`.
    pub key: Option<AuditKey>,
}

/// A file of the log and where it was opened.
type Opened = (PathBuf, File);

/// Tries at opening the files together, at most: a log that rotates faster than its
/// files can be opened is read as they were last opened.
const OPEN_TRIES: usize = 5;

/// The current file and its rotated ones, oldest first, opened together: a rotation
/// between two opens (the file opened as current is then `.1`, read twice, or a file
/// skipped) is seen by each path naming another file than the one opened, and the
/// files are opened again. With the warnings for rotated files that could not be.
fn open_all(file: &Path) -> anyhow::Result<(Vec<Opened>, Vec<String>)> {
    let name = file.display().to_string();
    let mut tries = 0;
    loop {
        tries += 1;
        let current =
            open_regular(file).with_context(|| format!("cannot open the audit log {name}"))?;
        let (mut files, mut skipped) = (Vec::new(), Vec::new());
        for path in rotated(file) {
            match open_regular(&path) {
                Ok(opened) => files.push((path, opened)),
                // Rotated away (or deleted) since it was listed.
                Err(e) => skipped.push(format!(
                    "warning: {}: cannot be opened ({e}); skipped",
                    path.display()
                )),
            }
        }
        files.push((file.to_owned(), current));
        if tries >= OPEN_TRIES || files.iter().all(|(path, opened)| still_names(path, opened)) {
            return Ok((files, skipped));
        }
    }
}

/// `path`, if it is a regular file. A log the service writes to a pipe (a log shipper)
/// or a device can't be read back: opening a pipe would wait for a writer, so it is
/// opened without waiting and refused.
fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a pipe or a device, which the service writes to but \
             nothing can read back)",
        ))
    }
}

/// Whether `path` still names the file `opened` is.
fn still_names(path: &Path, opened: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), opened.metadata()) {
            (Ok(now), Ok(then)) => now.dev() == then.dev() && now.ino() == then.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, opened);
        true
    }
}

/// Prints the matching records of `opts.file` to `out`, one per line, oldest first:
/// its rotated files first (`audit.log.10` … `audit.log.1`), then the file itself;
/// warnings (undecodable lines, phone numbers that did not decrypt) go to stderr.
pub fn show(opts: ShowOptions, out: &mut impl Write) -> anyhow::Result<()> {
    show_with_warnings(opts, out, &mut io::stderr().lock())
}

/// [`show`], with the warnings written to `warnings`.
pub fn show_with_warnings(
    opts: ShowOptions,
    out: &mut impl Write,
    warnings: &mut impl Write,
) -> anyhow::Result<()> {
    let (files, skipped) = open_all(&opts.file)?;
    for line in skipped {
        writeln!(warnings, "{line}")?;
    }
    let user = opts.user.as_deref().map(|u| u.trim().to_lowercase());
    let room = opts.room.as_deref().map(|r| r.trim().to_lowercase());
    let (mut other_key, mut damaged) = (0usize, 0usize);
    for (path, file) in files {
        let name = path.display().to_string();
        let mut reader = BufReader::new(file);
        let mut raw = Vec::new();
        for number in 1.. {
            raw.clear();
            if reader
                .read_until(b'\n', &mut raw)
                .with_context(|| format!("cannot read the audit log {name}"))?
                == 0
            {
                break;
            }
            let complete = raw.last() == Some(&b'\n');
            let Ok(text) = std::str::from_utf8(&raw) else {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: not UTF-8 text; skipped"
                )?;
                continue;
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let rec: StoredRecord = match serde_json::from_str(text) {
                Ok(rec) => rec,
                Err(e) if e.is_eof() && !complete => {
                    writeln!(
                        warnings,
                        "warning: {name}:{number}: the last line is cut off (roomgate probably stopped while writing it); skipped"
                    )?;
                    continue;
                }
                Err(e) if e.is_eof() => {
                    writeln!(
                        warnings,
                        "warning: {name}:{number}: an incomplete record (cut off by an earlier crash); skipped"
                    )?;
                    continue;
                }
                Err(e) if e.is_data() => {
                    writeln!(
                        warnings,
                        "warning: {name}:{number}: not an audit record ({e}); skipped"
                    )?;
                    continue;
                }
                Err(e) => {
                    writeln!(
                        warnings,
                        "warning: {name}:{number}: not valid JSON (column {}); skipped",
                        e.column()
                    )?;
                    continue;
                }
            };
            let Ok(at) = parse_rfc3339(&rec.time) else {
                writeln!(
                    warnings,
                    "warning: {name}:{number}: the time is not RFC 3339; skipped"
                )?;
                continue;
            };
            if opts.since.is_some_and(|since| at < since)
                || user
                    .as_ref()
                    .is_some_and(|u| rec.username.as_ref() != Some(u))
                || room.as_ref().is_some_and(|r| rec.room.as_ref() != Some(r))
            {
                continue;
            }
            let phone = open_phone(&rec, opts.key.as_ref());
            match phone {
                PhoneView::OtherKey { .. } => other_key += 1,
                PhoneView::Damaged => damaged += 1,
                _ => {}
            }
            writeln!(out, "{}", render(&rec, &phone))?;
        }
    }
    if other_key > 0 {
        writeln!(
            warnings,
            "warning: {other_key} phone numbers were sealed with another key than the one given"
        )?;
    }
    if damaged > 0 {
        writeln!(
            warnings,
            "warning: {damaged} phone numbers did not decrypt: their records were altered or damaged"
        )?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn render(rec: &StoredRecord, phone: &PhoneView) -> String {
    let mut line = format!("{} {:<19}", shown(&rec.time), shown(&rec.event));
    if let Some(count) = rec.count {
        let _ = write!(line, " count={count}");
    }
    let fields = [
        ("user", &rec.username),
        ("room", &rec.room),
        ("ip", &rec.ip),
        ("callback", &rec.status_callback_event),
        ("detail", &rec.detail),
        ("first", &rec.first),
        ("last", &rec.last),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = write!(line, " {name}={}", shown(value));
        }
    }
    match phone {
        PhoneView::Absent => {}
        PhoneView::NoKey => line.push_str(" phone=<encrypted>"),
        PhoneView::Plain(number) => {
            let _ = write!(line, " phone={}", shown(number));
        }
        PhoneView::OtherKey { record, given } => {
            let _ = write!(
                line,
                " phone=<wrong key: sealed with key {}, given key {given}>",
                shown(record)
            );
        }
        PhoneView::Damaged => line.push_str(" phone=<cannot decrypt: record altered or damaged>"),
    }
    line.trim_end().to_owned()
}

/// The rotated files of `current`, oldest (highest number) first.
fn rotated(current: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let n = file_name.to_str()?.strip_prefix(&prefix)?;
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n = n.parse().ok()?;
            Some((n, numbered(current, n)))
        })
        .collect();
    found.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Values as they are when plain, quoted and escaped otherwise, so an edited log can't
/// forge extra fields or send escape sequences to the terminal.
fn shown(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:+/@*[]%".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("{value:?}")
    }
}

/// `--since`: an RFC 3339 time (`2026-11-22T08:00:00Z`, or a date, meaning its UTC
/// midnight) or a duration before `now` (`2h`, `30m`, `1d`, `1h30m`; units s, m, h, d, w).
pub fn parse_since(value: &str, now: SystemTime) -> Result<SystemTime, String> {
    let value = value.trim();
    let bad = || {
        format!(
            "--since must be an RFC 3339 time like 2026-11-22T08:00:00Z or a duration like 2h, 30m or 1d (got {value:?})"
        )
    };
    if let Ok(ago) = parse_duration(value) {
        return now.checked_sub(ago).ok_or_else(bad);
    }
    parse_rfc3339(value)
        .or_else(|_| parse_rfc3339(&format!("{value}T00:00:00Z")))
        .map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    /// A rotation between two opens is seen: the path opened as the current file
    /// names another one now, so the files are opened again (else the old current
    /// file, now `.1`, would be read twice, or one file left out).
    #[test]
    fn a_rotation_between_opens_is_seen() {
        let dir = TempDir::new("audit-show");
        let log = dir.0.join("audit.log");
        std::fs::write(&log, "{}\n").unwrap();
        let opened = File::open(&log).unwrap();
        assert!(still_names(&log, &opened));
        std::fs::rename(&log, numbered(&log, 1)).unwrap();
        std::fs::write(&log, "{}\n").unwrap();
        assert!(!still_names(&log, &opened));
        assert!(still_names(&numbered(&log, 1), &opened));
        // Opened together, every path names what was opened, oldest first.
        let (files, skipped) = open_all(&log).unwrap();
        assert!(skipped.is_empty());
        let paths: Vec<_> = files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(paths, [numbered(&log, 1), log.clone()]);
        assert!(files.iter().all(|(p, f)| still_names(p, f)));
    }
}
