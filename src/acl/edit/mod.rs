//! Changing the ACL file from the command line (`roomgate acl add`, `remove`,
//! `set-phone`, `set-channels`, `grant`, `revoke`, `room`).
//!
//! The file is the host's: it has their comments, blank lines and layout. An edit
//! changes only the lines it is about. The text goes through `toml_edit`, which
//! reproduces every byte it is not asked to change; what it does not reproduce by
//! itself (a byte order mark, CRLF line endings, a missing final newline) is taken
//! off before and put back after, and a file it would still reformat anywhere is
//! refused rather than rewritten.
//!
//! The result is parsed exactly as `serve` would (same [`AclPolicy`]) and never
//! written if it is not a valid ACL, but for one case: a file with errors already
//! takes a change that fixes some of them and brings none (see [`fixes_some`]), so
//! its errors can be fixed one command at a time. It is written to a temporary file
//! in the same directory and renamed over the original, so that after a crash the
//! ACL is the old file or the new one, never half of one; and a file that changed on
//! disk since it was read is left alone, so that nobody's edit is silently lost.
//!
//! The functions over text (`add_user`, `remove_user`, `set_phone`, `grant_room`,
//! `revoke_room`, `edit_text`) do no I/O; [`apply`] adds the file around them.

use std::borrow::Cow;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use toml_edit::{Array, Decor, DocumentMut, InlineTable, Item, Key, RawString, Table, Value};

use super::parse::key_segment;
use super::read::{self, ReadError};
use super::{Acl, AclError, AclErrors, AclPolicy, RecordingMode, Role, RoomSettings};
use crate::domain::{ParseError, PhoneNumber, RoomName, RoomPattern, Username};
use crate::verify::Channel;

mod layout;
mod replace;
mod room;
#[cfg(test)]
mod tests;

use layout::*;
use replace::{create_file, replace_file};
pub use room::set_room;

/// One change to the ACL, as asked for on the command line. The strings are
/// checked by [`edit_text`] (and so by [`apply`]), which reports every bad one.
#[derive(Clone, PartialEq, Eq)]
pub enum Edit {
    Add {
        user: String,
        phone: String,
        rooms: Vec<String>,
        role: Role,
        /// Empty: the default (`sms` only), and no `channels` key is written.
        channels: Vec<String>,
    },
    Remove {
        user: String,
    },
    SetPhone {
        user: String,
        phone: String,
    },
    /// How codes may reach the user: `sms`, or `sms` and `call`.
    SetChannels {
        user: String,
        channels: Vec<String>,
    },
    Grant {
        user: String,
        room: String,
    },
    Revoke {
        user: String,
        room: String,
    },
    /// A room's `[rooms.NAME]` settings; `None` leaves a setting as it is.
    Room {
        room: String,
        recording: Option<String>,
        retention_days: Option<String>,
    },
}

// By hand, so that a phone number never reaches a log or a panic message whole.
impl fmt::Debug for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |phone: &str| {
            PhoneNumber::parse(phone).map_or_else(|_| "<not a number>".to_owned(), |p| p.masked())
        };
        match self {
            Edit::Add {
                user,
                phone,
                rooms,
                role,
                channels,
            } => f
                .debug_struct("Add")
                .field("user", user)
                .field("phone", &masked(phone))
                .field("rooms", rooms)
                .field("role", role)
                .field("channels", channels)
                .finish(),
            Edit::SetChannels { user, channels } => f
                .debug_struct("SetChannels")
                .field("user", user)
                .field("channels", channels)
                .finish(),
            Edit::Remove { user } => f.debug_struct("Remove").field("user", user).finish(),
            Edit::SetPhone { user, phone } => f
                .debug_struct("SetPhone")
                .field("user", user)
                .field("phone", &masked(phone))
                .finish(),
            Edit::Grant { user, room } => f
                .debug_struct("Grant")
                .field("user", user)
                .field("room", room)
                .finish(),
            Edit::Revoke { user, room } => f
                .debug_struct("Revoke")
                .field("user", user)
                .field("room", room)
                .finish(),
            Edit::Room {
                room,
                recording,
                retention_days,
            } => f
                .debug_struct("Room")
                .field("room", room)
                .field("recording", recording)
                .field("retention_days", retention_days)
                .finish(),
        }
    }
}

/// The outcome of [`edit_text`] (and of [`apply`], without the text): the new text
/// (equal to the old one when there was nothing to do), a line for the host, and how
/// many of the file's errors are left in the new text: none, unless the change fixed
/// only some of them (see [`fixes_some`]). While any is left the list is not one
/// `serve` takes, and the CLI exits with failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub message: String,
    pub errors_left: usize,
}

/// Why a change was not made. Every message starts with the file's name.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// No file there, for a command that changes one (`add` makes it).
    #[error(
        "{origin}: not changed: there is no such file (`roomgate acl add` makes one; is --acl or ROOMGATE_ACL the list you meant?)"
    )]
    Missing { origin: String },
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        #[source]
        source: ReadError,
    },
    /// The command's own arguments: not a username, phone number or room.
    #[error("{}", lines(origin, problems))]
    Arguments {
        origin: String,
        problems: Vec<String>,
    },
    /// The file is not TOML at all, so there is nothing to edit.
    #[error("{errors}\n{origin}: not changed: fix the error above first")]
    Unparsable { origin: String, errors: AclErrors },
    /// A layout or structure that cannot be edited without touching other lines.
    #[error("{origin}: not changed: {reason}")]
    Unsupported { origin: String, reason: String },
    #[error("{origin}: not changed: no user named {user}")]
    UnknownUser { origin: String, user: Username },
    #[error(
        "{origin}: not changed: {user} is already on the list (change their entry with set-phone, grant or revoke)"
    )]
    UserExists { origin: String, user: Username },
    #[error("{origin}: not changed: {user} does not have room {room:?} (their rooms: {have})")]
    NoSuchRoom {
        origin: String,
        user: Username,
        room: String,
        have: String,
    },
    #[error(
        "{origin}: not changed: {room:?} is {user}'s only room, and every user needs one (remove {user} instead)"
    )]
    LastRoom {
        origin: String,
        user: Username,
        room: String,
    },
    /// The file is not UTF-8 text; `errors` says where it goes wrong.
    #[error("{errors}\n{origin}: not changed")]
    NotText { origin: String, errors: AclErrors },
    /// The edited text would not be a valid ACL, and the file was valid: the change
    /// itself is wrong. `errors` locate the problems in the edited text.
    #[error(
        "{errors}\n{origin}: not changed: the change would leave the errors above (lines as they would be after the change)"
    )]
    Invalid { origin: String, errors: AclErrors },
    /// The file on disk is already not a valid ACL, and the change leaves errors it
    /// has: `errors` are the file's, at their lines on disk (lines of a text never
    /// written would point the host at the wrong place). `added` are those the change
    /// itself would bring, without a position for that reason.
    #[error("{}", already_invalid(origin, errors, added))]
    AlreadyInvalid {
        origin: String,
        errors: AclErrors,
        added: Vec<AclError>,
    },
    #[error(
        "{origin}: not changed: the file changed on disk while roomgate was editing it; run the command again"
    )]
    ChangedOnDisk { origin: String },
    /// Nobody may write the file (its mode has no write bit): kept as it is.
    #[error(
        "{origin}: not changed: the file is read-only (mode {mode:04o}); make it writable first (chmod u+w {origin}) if it should change"
    )]
    ReadOnly { origin: String, mode: u32 },
    /// The new file could not be given the old one's owner or group (`what` says
    /// which, and whose); `advice` is who can.
    #[error("{origin}: not changed: cannot give the new file {what}: {source}; {advice}")]
    Ownership {
        origin: String,
        what: String,
        advice: String,
        #[source]
        source: io::Error,
    },
    #[error("{origin}: not changed: cannot {action}: {source}")]
    Write {
        origin: String,
        action: String,
        #[source]
        source: io::Error,
    },
    /// The rename happened, but may not survive a power cut.
    #[error(
        "{origin}: changed, but its directory could not be synced to disk ({source}); check the file after a crash"
    )]
    SyncDir {
        origin: String,
        #[source]
        source: io::Error,
    },
}

/// [`EditError::AlreadyInvalid`]'s message: the file's errors, the change's own, then
/// what to do. A change that fixes none of the file's errors is refused; one that
/// fixes some (and brings none) is made (see [`fixes_some`]).
fn already_invalid(origin: &str, errors: &AclErrors, added: &[AclError]) -> String {
    let at = at_lines(errors).map_or(String::new(), |at| format!(", at {at} as the file is now"));
    let (what, how) = if errors.0.len() == 1 {
        (
            format!("an error (above{at}); fix it"),
            "by hand or with the `roomgate acl` command that changes it (set-phone, say)",
        )
    } else {
        (
            format!("{} errors (above{at}); fix them", errors.0.len()),
            "by hand or one at a time with the `roomgate acl` commands that change them \
             (set-phone, say)",
        )
    };
    let mut out = format!(
        "{errors}\n{origin}: not changed: the file already has {what} first, {how}, then run \
         this again"
    );
    for error in added {
        let path = if error.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", error.path)
        };
        out.push_str(&format!(
            "\n{origin}: the change would also bring: {path}{}",
            error.message
        ));
    }
    out
}

fn lines(origin: &str, problems: &[String]) -> String {
    problems
        .iter()
        .map(|problem| format!("{origin}: not changed: {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A USER or ROOM argument, read as the join page reads a typed name (`Alice ` is
/// alice), so every command takes what the host would type there. An error quotes
/// what was typed.
fn typed<T>(input: &str, parse: fn(&str) -> Result<T, ParseError>) -> Result<T, ParseError> {
    parse(&input.trim().to_lowercase()).or_else(|_| parse(input))
}

/// Reads the file at `path`, makes `edit`, and writes the result back if anything
/// changed and it is a valid ACL under `policy`, or fixes some of the file's errors
/// and brings none (see [`fixes_some`]). Returns what [`edit_text`] does.
pub fn apply(path: &Path, policy: &AclPolicy, edit: &Edit) -> Result<Edited, EditError> {
    let origin = path.display().to_string();
    // Read as `serve` reads it: a FIFO or a device is refused, not waited on.
    let bytes = match read::read(path) {
        Ok(bytes) => bytes,
        // The first user makes the list (nothing at all there, not even a link).
        Err(ReadError::Io(e))
            if e.kind() == io::ErrorKind::NotFound
                && matches!(edit, Edit::Add { .. })
                && fs::symlink_metadata(path).is_err() =>
        {
            let edited = edit_text(&origin, "", policy, edit)?;
            create_file(path, &origin, edited.text.as_bytes())?;
            // Said in full when given relative: a forgotten ROOMGATE_ACL makes
            // `./acl.toml`, wherever that is.
            let made = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            let whole = if made == path {
                String::new()
            } else {
                format!(" {}", made.display())
            };
            return Ok(Edited {
                message: format!(
                    "{} (a new file{whole}, readable by its owner only)",
                    edited.message
                ),
                ..edited
            });
        }
        Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {
            return Err(EditError::Missing { origin });
        }
        Err(source) => {
            return Err(EditError::Read {
                origin: origin.clone(),
                source,
            });
        }
    };
    let text = String::from_utf8(bytes).map_err(|e| EditError::NotText {
        origin: origin.clone(),
        errors: Acl::not_utf8(path, e.as_bytes(), e.utf8_error().valid_up_to()),
    })?;
    let edited = edit_text(&origin, &text, policy, edit)?;
    if edited.text != text {
        replace_file(path, &origin, text.as_bytes(), edited.text.as_bytes())?;
    }
    Ok(edited)
}

/// [`apply`] without the file: checks the arguments, edits `text`, and refuses a
/// result that `Acl::parse_with(origin, …, policy)` rejects, unless it fixes some of
/// `text`'s errors and brings none.
pub fn edit_text(
    origin: &str,
    text: &str,
    policy: &AclPolicy,
    edit: &Edit,
) -> Result<Edited, EditError> {
    let mut problems = Vec::new();
    let (result, message) = match edit {
        Edit::Add {
            user,
            phone,
            rooms,
            role,
            channels,
        } => {
            let user = noted(&mut problems, typed(user, Username::parse));
            let phone = noted(&mut problems, PhoneNumber::parse(phone));
            let channels = if channels.is_empty() {
                vec![Channel::Sms]
            } else {
                parse_channels(&mut problems, channels)
            };
            let mut patterns = Vec::new();
            for room in rooms {
                if let Some(pattern) = noted(&mut problems, typed(room, RoomPattern::parse)) {
                    if patterns.contains(&pattern) {
                        problems.push(format!("room {room:?} is given twice"));
                    } else {
                        patterns.push(pattern);
                    }
                }
            }
            if rooms.is_empty() {
                problems.push(r#"give at least one room (or "*" for any room)"#.to_owned());
            }
            let (Some(user), Some(phone), true) = (user, phone, problems.is_empty()) else {
                return Err(arguments(origin, problems));
            };
            let rooms_list = join_rooms(&patterns);
            let calls = if channels.contains(&Channel::Call) {
                ", calls allowed"
            } else {
                ""
            };
            (
                add_user_with(origin, text, &user, &phone, &patterns, *role, &channels),
                format!(
                    "added {user} ({role}, phone {}{calls}, rooms {rooms_list}) to {origin}",
                    phone.masked()
                ),
            )
        }
        Edit::Remove { user } => {
            let Some(user) = noted(&mut problems, typed(user, Username::parse)) else {
                return Err(arguments(origin, problems));
            };
            // A list needs someone on it: said as that, not as the empty list's error.
            let only = Acl::parse_with(origin, text, policy)
                .is_ok_and(|acl| acl.users().map(|(name, _)| name).eq([&user]));
            if only {
                return Err(unsupported(
                    origin,
                    format!(
                        "{user} is the only user, and a list needs at least one; add the next \
                         user first"
                    ),
                ));
            }
            (
                remove_user(origin, text, &user),
                format!("removed {user} from {origin}"),
            )
        }
        Edit::SetPhone { user, phone } => {
            let user = noted(&mut problems, typed(user, Username::parse));
            let phone = noted(&mut problems, PhoneNumber::parse(phone));
            let (Some(user), Some(phone)) = (user, phone) else {
                return Err(arguments(origin, problems));
            };
            let result = set_phone(origin, text, &user, &phone);
            let message = match &result {
                Ok(new) if new == text => format!(
                    "{user}'s phone is already {}; {origin} not changed",
                    phone.masked()
                ),
                _ => format!("{user}'s phone is now {} in {origin}", phone.masked()),
            };
            (result, message)
        }
        Edit::SetChannels { user, channels } => {
            let user = noted(&mut problems, typed(user, Username::parse));
            let channels = parse_channels(&mut problems, channels);
            let (Some(user), true) = (user, problems.is_empty()) else {
                return Err(arguments(origin, problems));
            };
            let result = set_channels(origin, text, &user, &channels);
            let list = join_channels(&channels);
            let message = match &result {
                Ok(new) if new == text => {
                    format!("{user}'s channels are already {list}; {origin} not changed")
                }
                _ => format!("{user}'s channels are now {list} in {origin}"),
            };
            (result, message)
        }
        Edit::Grant { user, room } => {
            let user = noted(&mut problems, typed(user, Username::parse));
            let room = noted(&mut problems, typed(room, RoomPattern::parse));
            let (Some(user), Some(room)) = (user, room) else {
                return Err(arguments(origin, problems));
            };
            let result = grant_room(origin, text, &user, &room);
            let message = match &result {
                Ok(new) if new == text => {
                    format!("{user} already has room {room}; {origin} not changed")
                }
                _ => format!("{user} may now join {} ({origin})", describe(&room)),
            };
            // The edit stands (the room stays theirs if "*" goes), but it changes
            // nothing today.
            let message = if room != RoomPattern::Any && has_any_room(origin, text, &user) {
                format!("{message}; they could already, through any room (*)")
            } else {
                message
            };
            (result, message)
        }
        Edit::Revoke { user, room } => {
            let user = noted(&mut problems, typed(user, Username::parse));
            let room = noted(&mut problems, typed(room, RoomPattern::parse));
            let (Some(user), Some(room)) = (user, room) else {
                return Err(arguments(origin, problems));
            };
            (
                revoke_room(origin, text, &user, &room),
                format!("{user} may no longer join {} ({origin})", describe(&room)),
            )
        }
        Edit::Room {
            room,
            recording,
            retention_days,
        } => {
            let room = noted(&mut problems, typed(room, RoomName::parse));
            let recording = recording.as_deref().and_then(|mode| {
                let parsed = RecordingMode::parse(mode);
                if parsed.is_none() {
                    problems.push(format!(
                        r#"{mode:?} is not a recording setting (expected "off", "host" or "always")"#
                    ));
                }
                parsed
            });
            let bounds = RoomSettings::RETENTION_DAYS;
            let retention_days = retention_days.as_deref().and_then(|days| {
                let parsed = days.parse::<u32>().ok().filter(|d| bounds.contains(d));
                if parsed.is_none() {
                    problems.push(format!(
                        "{days:?} is not a number of days from {} to {}",
                        bounds.start(),
                        bounds.end()
                    ));
                }
                parsed
            });
            let Some(room) = room.filter(|_| problems.is_empty()) else {
                return Err(arguments(origin, problems));
            };
            if recording.is_none() && retention_days.is_none() {
                return Err(arguments(
                    origin,
                    vec!["give a setting to change (--recording, --retention-days)".to_owned()],
                ));
            }
            let result = set_room(origin, text, &room, recording, retention_days);
            let mut said = Vec::new();
            if let Some(mode) = recording {
                said.push(format!("recording {mode}"));
            }
            if let Some(days) = retention_days {
                said.push(format!("retention {days} days"));
            }
            let said = said.join(", ");
            let message = match &result {
                Ok(new) if new == text => {
                    format!("room {room} already has {said}; {origin} not changed")
                }
                _ => format!("room {room} now has {said} in {origin}"),
            };
            (result, message)
        }
    };
    let new = result?;
    let mut message = message;
    if new != text {
        // The file as it was, parsed once: what the change is judged against.
        let before = Acl::parse_with(origin, text, policy);
        let acl = match Acl::parse_with(origin, &new, policy) {
            Ok(acl) => acl,
            Err(after) => {
                let before = before.err();
                if !fixes_some(before.as_ref(), &after) {
                    return Err(refusal(origin, before, after));
                }
                // What can be said without a list that parses: a revoked room still
                // theirs through "*".
                if let Edit::Revoke { user, room } = edit
                    && let (Ok(user), Ok(RoomPattern::Room(room))) = (
                        typed(user, Username::parse),
                        typed(room, RoomPattern::parse),
                    )
                    && has_any_room(origin, &new, &user)
                {
                    message = still_through_any(origin, &user, &room);
                }
                return Ok(Edited {
                    message: with_errors_left(&message, origin, &after),
                    text: new,
                    errors_left: after.0.len(),
                });
            }
        };
        // The last of the file's errors fixed: its warnings were not checked while it
        // had errors (see the partial fixes above), so every one is said now.
        if before.is_err() {
            for warning in acl.warnings() {
                message.push_str(&format!("\nwarning: {warning}"));
            }
        }
        // A number someone else has already (a copy-paste slip): done, and said.
        if let Edit::Add { user, .. } | Edit::SetPhone { user, .. } = edit
            && before.is_ok()
            && let Ok(user) = typed(user, Username::parse)
        {
            let others = acl.sharing_number(&user);
            if !others.is_empty() {
                let others: Vec<String> = others.iter().map(ToString::to_string).collect();
                message.push_str(&format!(
                    "\nwarning: {user} has the same phone number as {}: whoever holds \
                     that phone can sign in as each of them",
                    others.join(", ")
                ));
            }
        }
        // Settings for a room nobody may join: most likely a misspelt name.
        if let Edit::Room { room, .. } = edit
            && before.is_ok()
            && let Ok(room) = typed(room, RoomName::parse)
            && !acl.users().any(|(_, u)| u.may_join(&room))
        {
            message.push_str(&format!(
                "\nwarning: nobody on the list may join room {room}: a misspelt room name?"
            ));
        }
        // Settings left for a room nobody may join any more: said, as `acl check`
        // would (the room's recording settings now apply to no one).
        if matches!(edit, Edit::Remove { .. } | Edit::Revoke { .. })
            && let Ok(old) = &before
        {
            let before = old.warnings();
            for warning in acl.warnings() {
                if warning.starts_with("[rooms.") && !before.contains(&warning) {
                    message.push_str(&format!("\nwarning: {warning}"));
                }
            }
        }
        // A room taken away from a user who has "*" is still theirs: say so, rather
        // than let a host believe they are out.
        if let Edit::Revoke { user, room } = edit
            && let (Ok(user), Ok(RoomPattern::Room(room))) = (
                typed(user, Username::parse),
                typed(room, RoomPattern::parse),
            )
            && acl.allowed(&user, &room).is_some()
        {
            let warnings = message.find("\nwarning: ").map_or("", |at| &message[at..]);
            message = format!("{}{warnings}", still_through_any(origin, &user, &room));
        }
    } else if let Err(errors) = Acl::parse_with(origin, text, policy) {
        // Nothing to change, but the file still isn't a list `serve` takes: said, and
        // failed, as a change that leaves errors is (a script retrying one must not
        // take the second run's "not changed" for a good list).
        return Ok(Edited {
            message: with_errors_left(&message, origin, &errors),
            text: new,
            errors_left: errors.0.len(),
        });
    }
    Ok(Edited {
        text: new,
        message,
        errors_left: 0,
    })
}

/// `message`, then the errors left in the file (at their lines in it as written) and
/// what they mean for the service.
fn with_errors_left(message: &str, origin: &str, errors: &AclErrors) -> String {
    let left = match errors.0.len() {
        1 => "an error".to_owned(),
        n => format!("{n} errors"),
    };
    let at = at_lines(errors).map_or(String::new(), |at| format!(", at {at} as written"));
    format!(
        "{message}\n{errors}\n{origin} still has {left} (above{at}), so roomgate keeps the \
         list it has until that is fixed too; warnings (two users with one number, say) come \
         once no error is left"
    )
}

/// A revoke's message when the user keeps the room through "*".
fn still_through_any(origin: &str, user: &Username, room: &RoomName) -> String {
    format!(
        "{user} no longer has room {room} in {origin}, but may still join it through any \
         room (*); `roomgate acl revoke {user} '*'` takes that away"
    )
}

/// Whether an edit of a file with the errors `before` (`None`: a valid file) fixes
/// some of them and brings none of its own (its result has the errors `after`). Such
/// an edit is made, so a host can fix a file's errors one `roomgate acl` command at a
/// time; one that fixes none of them is refused, lest changes pile up on a list that
/// isn't served.
fn fixes_some(before: Option<&AclErrors>, after: &AclErrors) -> bool {
    let Some(before) = before else {
        return false;
    };
    let (was, is) = (problems(before), problems(after));
    let fixed = before.0.iter().any(|old| !is.contains(&problem(old)));
    let brought = after.0.iter().any(|new| !was.contains(&problem(new)));
    fixed && !brought
}

/// Lines [`at_lines`] names at most; past them it counts them.
const LINES_LISTED: usize = 20;

/// "line 6" or "lines 2, 6": where `errors` are (those with a line); `None` if none
/// has one. Past [`LINES_LISTED`] lines, the first of them and how many in all.
fn at_lines(errors: &AclErrors) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    let lines: Vec<usize> = (errors.0.iter().map(|e| e.line))
        .filter(|&line| line > 0 && seen.insert(line))
        .collect();
    let listed = |lines: &[usize]| {
        let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
        lines.join(", ")
    };
    match lines.as_slice() {
        [] => None,
        [line] => Some(format!("line {line}")),
        lines if lines.len() <= LINES_LISTED => Some(format!("lines {}", listed(lines))),
        lines => Some(format!(
            "lines {}, … ({} lines in all)",
            listed(&lines[..LINES_LISTED]),
            lines.len()
        )),
    }
}

/// Why an edit of a file with the errors `before` (`None`: a valid file) whose result
/// has the errors `after` is refused. If the file was not valid and the result still
/// has any of its errors, those are the host's to fix first, so they are reported as
/// the file has them: at their lines on disk, not where they would be after the
/// change. Otherwise (the file was valid, or the change fixed what was wrong with it)
/// the change's errors are its own.
fn refusal(origin: &str, before: Option<AclErrors>, after: AclErrors) -> EditError {
    let Some(before) = before else {
        return EditError::Invalid {
            origin: origin.to_owned(),
            errors: after,
        };
    };
    let is = problems(&after);
    if !before.0.iter().any(|old| is.contains(&problem(old))) {
        return EditError::Invalid {
            origin: origin.to_owned(),
            errors: after,
        };
    }
    let was = problems(&before);
    let added = after
        .0
        .into_iter()
        .filter(|new| !was.contains(&problem(new)))
        .collect();
    EditError::AlreadyInvalid {
        origin: origin.to_owned(),
        errors: before,
        added,
    }
}

/// What makes two errors, one in the text before an edit and one after, the same
/// problem: the same key and message, but for the `LINE:COLUMN`s a message may quote
/// (`first listed at 3:10`), which move with the lines above them.
fn problem(error: &AclError) -> (&str, String) {
    (&error.path, without_positions(&error.message))
}

/// The problems of `errors`, to look each of another file's up in at once: compared
/// pairwise, an edit of a file with 100,000 errors never finished.
fn problems(errors: &AclErrors) -> std::collections::HashSet<(&str, String)> {
    errors.0.iter().map(problem).collect()
}

/// `message` with each `LINE:COLUMN` in it as `_:_`.
fn without_positions(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        out.push_str(&rest[..start]);
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let line = digits(&rest[start..]);
        let after_line = &rest[start + line..];
        match after_line.strip_prefix(':') {
            Some(column) if digits(column) > 0 => {
                out.push_str("_:_");
                rest = &column[digits(column)..];
            }
            _ => {
                out.push_str(&rest[start..start + line]);
                rest = after_line;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value, or `None` with the reason added to `problems`.
fn noted<T>(problems: &mut Vec<String>, result: Result<T, ParseError>) -> Option<T> {
    result.map_err(|e| problems.push(e.to_string())).ok()
}

/// Channels as given on the command line, checked like the file's (known names, no
/// repeats, `sms` among them), in the order given. Problems go to `problems`.
fn parse_channels(problems: &mut Vec<String>, given: &[String]) -> Vec<Channel> {
    let mut channels = Vec::new();
    // Trimmed and lowercased as USER and ROOM are: `'SMS, call'` is two channels.
    for name in given.iter().map(|n| n.trim()) {
        match Channel::parse(&name.to_ascii_lowercase()) {
            None => problems.push(format!(
                r#"{name:?} is not a channel (expected "sms" or "call")"#
            )),
            Some(channel) if channels.contains(&channel) => {
                problems.push(format!("channel {name:?} is given twice"));
            }
            Some(channel) => channels.push(channel),
        }
    }
    if given.is_empty() {
        problems.push(r#"give at least one channel ("sms", or "sms,call")"#.to_owned());
    } else if !channels.is_empty() && !channels.contains(&Channel::Sms) {
        problems.push(
            r#""sms" must be among the channels: every sign-in starts with a text"#.to_owned(),
        );
    }
    channels
}

fn join_channels(channels: &[Channel]) -> String {
    channels
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn channels_array(channels: &[Channel]) -> Array {
    let mut array = Array::new();
    for channel in channels {
        array.push(channel.as_str());
    }
    array.fmt();
    array
}

fn arguments(origin: &str, problems: Vec<String>) -> EditError {
    EditError::Arguments {
        origin: origin.to_owned(),
        problems,
    }
}

fn describe(room: &RoomPattern) -> String {
    match room {
        RoomPattern::Any => "any room (*)".to_owned(),
        RoomPattern::Room(name) => format!("room {name}"),
    }
}

fn join_rooms(rooms: &[RoomPattern]) -> String {
    rooms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Appends `[users.NAME]` with `phone`, `rooms` and, for a host, `role = "host"`,
/// spaced and indented like the last user in the file. (Where `users` is itself an
/// inline table, which cannot be extended by a header, the user joins it inline;
/// where the users are all lines of the `[users]` table's body, the new one is one
/// more line, inline or dotted as the last one is.)
pub fn add_user(
    origin: &str,
    text: &str,
    user: &Username,
    phone: &PhoneNumber,
    rooms: &[RoomPattern],
    role: Role,
) -> Result<String, EditError> {
    add_user_with(origin, text, user, phone, rooms, role, &[Channel::Sms])
}

/// [`add_user`], with `channels = [...]` written too unless it is the default (`sms`).
pub fn add_user_with(
    origin: &str,
    text: &str,
    user: &Username,
    phone: &PhoneNumber,
    rooms: &[RoomPattern],
    role: Role,
    channels: &[Channel],
) -> Result<String, EditError> {
    let write_channels = channels != [Channel::Sms];
    let (mut doc, layout) = open(origin, text)?;
    let name = user.as_str();
    let mut room_values = Array::new();
    for room in rooms {
        room_values.push(room.to_string());
    }
    room_values.fmt();
    // The user's keys, in order: written as they are (an inline table), or each on a
    // line of its own (dotted, or in a `[users.NAME]` table).
    let mut entry = InlineTable::new();
    entry.insert("phone", phone.expose_e164().into());
    entry.insert("rooms", Value::Array(room_values));
    if role == Role::Host {
        entry.insert("role", role.as_str().into());
    }
    if write_channels {
        entry.insert("channels", Value::Array(channels_array(channels)));
    }
    entry.fmt();

    match doc.get("users") {
        None => {
            let mut users = Table::new();
            // Like a file that only has [users.NAME] headers: no [users] line.
            users.set_implicit(true);
            doc.insert("users", Item::Table(users));
        }
        Some(Item::Table(_)) => {}
        Some(Item::Value(Value::InlineTable(users))) => {
            if users.contains_key(name) {
                return Err(user_exists(origin, user));
            }
            let users = doc["users"].as_inline_table_mut().expect("matched above");
            add_inline(users, name, entry);
            return Ok(finish(&doc, &layout));
        }
        Some(_) => return Err(unsupported(origin, "`users` is not a table")),
    }

    let users = doc["users"].as_table().expect("a table, made so above");
    if users.contains_key(name) {
        return Err(user_exists(origin, user));
    }
    let printed = printed_tables(&doc);
    let template = printed
        .iter()
        .rposition(|t| t.path.len() == 2 && t.path[0] == "users")
        .map(|i| (i, table_at(&doc, &printed[i].path).expect("just found")));
    // No `[users.NAME]` header: a list written as lines of `[users]` gets one more,
    // written as the last one is; an empty `[users]` gets the first, under it, rather
    // than at the file's end (below room settings, say).
    let in_body = last_body_user(users).or_else(|| {
        (!users.is_implicit() && users.is_empty())
            .then(|| BodyUser::Inline(key_style(None, "phone")))
    });
    if template.is_none()
        && let Some(style) = in_body
    {
        let users = doc["users"].as_table_mut().expect("checked above");
        add_to_body(users, name, entry, style);
        return Ok(finish(&doc, &layout));
    }
    let style = |key: &str| key_style(template.map(|(_, t)| t), key);
    // Right after the last user, so the users stay together above whatever follows
    // them (`[rooms.NAME]` settings, say); at the end if nothing does.
    let after = template.and_then(|(i, t)| {
        let next = printed.get(i + 1)?;
        let (table, next_prefix) = table_after(&doc, (i, t), table_at(&doc, &next.path)?);
        Some((t.position()?, table, next.path.clone(), next_prefix))
    });
    let (place, mut table) = match after {
        Some((position, table, next, next_prefix)) => (Some((position, next, next_prefix)), table),
        None => (None, last_table(&doc, template)),
    };
    for (key, value) in entry.iter() {
        // `channels` styled like `rooms` (the key a template user is sure to have).
        let like = if key == "channels" { "rooms" } else { key };
        insert_styled(&mut table, key, value.clone(), style(like));
    }
    match place {
        Some((position, next, next_prefix)) => {
            move_down_after(&mut doc, position);
            table.set_position(position + 1);
            table_at_mut(&mut doc, &next)
                .expect("printed, so there")
                .decor_mut()
                .set_prefix(next_prefix);
        }
        None => doc.set_trailing(""),
    }
    doc["users"]
        .as_table_mut()
        .expect("checked above")
        .insert(name, Item::Table(table));
    Ok(finish(&doc, &layout))
}

/// Removes the user's entry, with the comment lines directly above it; comments
/// separated from it by a blank line stay (they are about what follows, or about
/// the whole file), parted by that blank line from whatever now follows them.
pub fn remove_user(origin: &str, text: &str, user: &Username) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let unknown = || EditError::UnknownUser {
        origin: origin.to_owned(),
        user: user.clone(),
    };
    let name = doc
        .get("users")
        .and_then(Item::as_table_like)
        .and_then(|users| key_in(users, user.as_str()))
        .ok_or_else(unknown)?;
    let name = name.as_str();
    let path = vec!["users".to_owned(), name.to_owned()];
    match doc.get("users") {
        Some(Item::Table(users)) => {
            let entry = users.get(name).ok_or_else(unknown)?;
            if matches!(entry, Item::Table(t) if !t.is_dotted()) {
                let printed = printed_tables(&doc);
                if printed.iter().any(|t| t.path == path) {
                    remove_table(&mut doc, &path);
                } else {
                    // Written only as sub-tables (`[users.NAME.x]`, no header of its
                    // own): each goes, the last first, then the table they made.
                    let subs = printed.iter().rev().filter(|t| t.path.starts_with(&path));
                    for sub in subs.map(|t| t.path.clone()).collect::<Vec<_>>() {
                        if table_at(&doc, &sub).is_some() {
                            remove_table(&mut doc, &sub);
                        }
                    }
                    if let Some(users) = doc["users"].as_table_mut() {
                        users.remove(name);
                    }
                }
            } else {
                remove_body_entry(&mut doc, &path);
            }
        }
        Some(Item::Value(Value::InlineTable(_))) => {
            let users = doc["users"].as_inline_table_mut().expect("matched above");
            remove_inline(users, name).ok_or_else(unknown)?;
        }
        Some(_) => return Err(unsupported(origin, "`users` is not a table")),
        None => return Err(unknown()),
    }
    // The blank line that parted the first user from the next one is not left as the
    // file's first line.
    let edited = finish(&doc, &layout);
    Ok(if leading_blank_lines(text).is_empty() {
        edited[leading_blank_lines(&edited).len()..].to_owned()
    } else {
        edited
    })
}

/// The blank lines `text` starts with (whitespace only, each with its line end).
fn leading_blank_lines(text: &str) -> &str {
    let mut end = 0;
    while let Some(at) = text[end..].find('\n') {
        if !text[end..end + at].trim().is_empty() {
            break;
        }
        end += at + 1;
    }
    &text[..end]
}

/// Replaces the user's phone number, keeping the comment after it and its quoting.
/// Unchanged text if it is already that number.
pub fn set_phone(
    origin: &str,
    text: &str,
    user: &Username,
    phone: &PhoneNumber,
) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let entry = user_entry(&mut doc, origin, user)?;
    match entry.get_mut("phone") {
        Some(Item::Value(old)) => {
            if old.as_str() == Some(phone.expose_e164()) {
                return Ok(text.to_owned());
            }
            let mut new = string_like(old, phone.expose_e164());
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(_) => {
            return Err(unsupported(
                origin,
                format!("{}.phone is not a string", user_path(user)),
            ));
        }
        None => {
            entry.insert("phone", Item::Value(phone.expose_e164().into()));
        }
    }
    Ok(finish(&doc, &layout))
}

/// Sets the user's `channels`, keeping the comment after the old value. Unchanged text
/// if they are already those; a user without the key who is set to the default
/// (`sms` only) keeps having none.
pub fn set_channels(
    origin: &str,
    text: &str,
    user: &Username,
    channels: &[Channel],
) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let item = user_item(&mut doc, origin, user)?;
    // A `[users.NAME]` table gets a new last line, styled like `rooms`.
    if let Some(table) = item.as_table_mut()
        && !table.contains_key("channels")
    {
        if channels == [Channel::Sms] {
            return Ok(text.to_owned());
        }
        let style = key_style(Some(table), "rooms");
        insert_styled(
            table,
            "channels",
            Value::Array(channels_array(channels)),
            style,
        );
        return Ok(finish(&doc, &layout));
    }
    // An inline table: the space before its closing brace stays there.
    if let Some(inline) = item.as_inline_table_mut()
        && !inline.contains_key("channels")
    {
        if channels == [Channel::Sms] {
            return Ok(text.to_owned());
        }
        let last_suffix = take_last_suffix(inline).unwrap_or_default();
        let mut value = Value::Array(channels_array(channels));
        value.decor_mut().set_prefix(" ");
        value.decor_mut().set_suffix(last_suffix);
        inline.insert("channels", value);
        return Ok(finish(&doc, &layout));
    }
    let entry = item
        .as_table_like_mut()
        .ok_or_else(|| unsupported(origin, format!("{} is not a table", user_path(user))))?;
    match entry.get_mut("channels") {
        Some(Item::Value(old)) => {
            let same = old.as_array().is_some_and(|a| {
                a.iter()
                    .map(Value::as_str)
                    .eq(channels.iter().map(|c| Some(c.as_str())))
            });
            if same {
                return Ok(text.to_owned());
            }
            let mut new = Value::Array(channels_array(channels));
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        Some(_) => {
            return Err(unsupported(
                origin,
                format!("{}.channels is not an array", user_path(user)),
            ));
        }
        None if channels == [Channel::Sms] => return Ok(text.to_owned()),
        // An inline table or dotted keys.
        None => {
            entry.insert(
                "channels",
                Item::Value(Value::Array(channels_array(channels))),
            );
        }
    }
    Ok(finish(&doc, &layout))
}

/// Adds `room` at the end of the user's `rooms`, laid out like the rooms before
/// it. Unchanged text if the user already has it.
pub fn grant_room(
    origin: &str,
    text: &str,
    user: &Username,
    room: &RoomPattern,
) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let rooms = rooms_of(&mut doc, origin, user)?;
    let room = room.to_string();
    match room_index(rooms, &room) {
        Some(index) => {
            let old = rooms.get_mut(index).expect("found");
            if old.as_str() == Some(&room) {
                return Ok(text.to_owned());
            }
            // `Standup`: the room meant, written as no room can be. Written right,
            // where it was.
            let mut new = string_like(old, &room);
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        None => push_room(rooms, &room),
    }
    Ok(finish(&doc, &layout))
}

/// Where `room` is in `rooms`: as written, or else the one entry written in another
/// case (`Standup`: an error in the file, which the command may be there to fix).
fn room_index(rooms: &Array, room: &str) -> Option<usize> {
    rooms
        .iter()
        .position(|r| r.as_str() == Some(room))
        .or_else(|| {
            let mut alike = rooms
                .iter()
                .enumerate()
                .filter(|(_, r)| r.as_str().is_some_and(|r| r.eq_ignore_ascii_case(room)));
            let (index, _) = alike.next()?;
            alike.next().is_none().then_some(index)
        })
}

/// Takes `room` out of the user's `rooms`, with any comment on its line. A user
/// keeps at least one room: taking the last is refused.
pub fn revoke_room(
    origin: &str,
    text: &str,
    user: &Username,
    room: &RoomPattern,
) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let rooms = rooms_of(&mut doc, origin, user)?;
    let room = room.to_string();
    let Some(index) = room_index(rooms, &room) else {
        let have: Vec<String> = rooms
            .iter()
            .map(|r| r.as_str().map_or_else(|| r.to_string(), str::to_owned))
            .collect();
        return Err(EditError::NoSuchRoom {
            origin: origin.to_owned(),
            user: user.clone(),
            room,
            have: if have.is_empty() {
                "none".to_owned()
            } else {
                have.join(", ")
            },
        });
    };
    if rooms.len() == 1 {
        return Err(EditError::LastRoom {
            origin: origin.to_owned(),
            user: user.clone(),
            room,
        });
    }
    remove_room(rooms, index);
    Ok(finish(&doc, &layout))
}

fn user_exists(origin: &str, user: &Username) -> EditError {
    EditError::UserExists {
        origin: origin.to_owned(),
        user: user.clone(),
    }
}

fn unsupported(origin: &str, reason: impl Into<String>) -> EditError {
    EditError::Unsupported {
        origin: origin.to_owned(),
        reason: reason.into(),
    }
}

/// The key `name` (a valid, so lowercase, username) has in `users`: itself, or else
/// the one key that differs from it only in case. `Alice` is an error in the file,
/// which the command may be there to fix (`acl remove alice`), so it must find it.
fn key_in(users: &dyn toml_edit::TableLike, name: &str) -> Option<String> {
    if users.contains_key(name) {
        return Some(name.to_owned());
    }
    let mut alike = users
        .iter()
        .map(|(key, _)| key)
        .filter(|key| key.eq_ignore_ascii_case(name));
    let key = alike.next()?;
    alike.next().is_none().then(|| key.to_owned())
}

fn user_path(user: &Username) -> String {
    format!("users.{}", key_segment(user.as_str()))
}

fn user_entry<'d>(
    doc: &'d mut DocumentMut,
    origin: &str,
    user: &Username,
) -> Result<&'d mut dyn toml_edit::TableLike, EditError> {
    user_item(doc, origin, user)?
        .as_table_like_mut()
        .ok_or_else(|| unsupported(origin, format!("{} is not a table", user_path(user))))
}

fn user_item<'d>(
    doc: &'d mut DocumentMut,
    origin: &str,
    user: &Username,
) -> Result<&'d mut Item, EditError> {
    let users = match doc.get_mut("users") {
        None => None,
        Some(item) => Some(
            item.as_table_like_mut()
                .ok_or_else(|| unsupported(origin, "`users` is not a table"))?,
        ),
    };
    users
        .and_then(|users| {
            let key = key_in(&*users, user.as_str())?;
            users.get_mut(&key)
        })
        .ok_or_else(|| EditError::UnknownUser {
            origin: origin.to_owned(),
            user: user.clone(),
        })
}

/// Whether `user` has "*" among their rooms in `text`.
fn has_any_room(origin: &str, text: &str, user: &Username) -> bool {
    open(origin, text).is_ok_and(|(mut doc, _)| {
        rooms_of(&mut doc, origin, user)
            .is_ok_and(|rooms| rooms.iter().any(|r| r.as_str() == Some("*")))
    })
}

fn rooms_of<'d>(
    doc: &'d mut DocumentMut,
    origin: &str,
    user: &Username,
) -> Result<&'d mut Array, EditError> {
    user_entry(doc, origin, user)?
        .get_mut("rooms")
        .and_then(Item::as_array_mut)
        .ok_or_else(|| {
            unsupported(
                origin,
                format!("{}.rooms is missing or not an array", user_path(user)),
            )
        })
}

/// A string value for `text`, quoted the way `like` is (`'…'` or `"…"`): the
/// values this module writes (phone numbers) need no escaping in either.
fn string_like(like: &Value, text: &str) -> Value {
    let literal = matches!(like, Value::String(s) if s
        .as_repr()
        .and_then(|repr| repr.as_raw().as_str())
        .is_some_and(|repr| repr.starts_with('\'') && !repr.starts_with("'''")));
    if literal
        && !text.contains('\'')
        && let Ok(value) = format!("'{text}'").parse::<Value>()
    {
        return value;
    }
    text.into()
}
