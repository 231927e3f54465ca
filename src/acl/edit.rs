//! Changing the ACL file from the command line (`roomgate acl add`, `remove`,
//! `set-phone`, `set-channels`, `grant`, `revoke`).
//!
//! The file is the host's: it has their comments, blank lines and layout. An edit
//! changes only the lines it is about. The text goes through `toml_edit`, which
//! reproduces every byte it is not asked to change; what it does not reproduce by
//! itself (a byte order mark, CRLF line endings, a missing final newline) is taken
//! off before and put back after, and a file it would still reformat anywhere is
//! refused rather than rewritten.
//!
//! The result is parsed exactly as `serve` would (same [`AclPolicy`]) and never
//! written if it is not a valid ACL. It is written to a temporary file in the same
//! directory and renamed over the original, so that after a crash the ACL is the
//! old file or the new one, never half of one; and a file that changed on disk
//! since it was read is left alone, so that nobody's edit is silently lost.
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
use super::{Acl, AclErrors, AclPolicy, Role};
use crate::domain::{ParseError, PhoneNumber, RoomPattern, Username};
use crate::verify::Channel;

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
        }
    }
}

/// The outcome of [`edit_text`]: the new text (equal to the old one when there was
/// nothing to do) and a line for the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub message: String,
}

/// Why a change was not made. Every message starts with the file's name.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{origin}: cannot read: {source}")]
    Read {
        origin: String,
        #[source]
        source: io::Error,
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
    /// The edited text would not be a valid ACL; `errors` locate the problems in it.
    #[error(
        "{errors}\n{origin}: not changed: the change would leave the errors above (lines as they would be after the change)"
    )]
    Invalid { origin: String, errors: AclErrors },
    #[error(
        "{origin}: not changed: the file changed on disk while roomgate was editing it; run the command again"
    )]
    ChangedOnDisk { origin: String },
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

fn lines(origin: &str, problems: &[String]) -> String {
    problems
        .iter()
        .map(|problem| format!("{origin}: not changed: {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the file at `path`, makes `edit`, and writes the result back if anything
/// changed and it is a valid ACL under `policy`. Returns the line for the host.
pub fn apply(path: &Path, policy: &AclPolicy, edit: &Edit) -> Result<String, EditError> {
    let origin = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|source| EditError::Read {
        origin: origin.clone(),
        source,
    })?;
    let edited = edit_text(&origin, &text, policy, edit)?;
    if edited.text != text {
        replace_file(path, &origin, text.as_bytes(), edited.text.as_bytes())?;
    }
    Ok(edited.message)
}

/// [`apply`] without the file: checks the arguments, edits `text`, and refuses a
/// result that `Acl::parse_with(origin, …, policy)` rejects.
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
            let user = noted(&mut problems, Username::parse(user));
            let phone = noted(&mut problems, PhoneNumber::parse(phone));
            let channels = if channels.is_empty() {
                vec![Channel::Sms]
            } else {
                parse_channels(&mut problems, channels)
            };
            let mut patterns = Vec::new();
            for room in rooms {
                if let Some(pattern) = noted(&mut problems, RoomPattern::parse(room)) {
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
            let Some(user) = noted(&mut problems, Username::parse(user)) else {
                return Err(arguments(origin, problems));
            };
            (
                remove_user(origin, text, &user),
                format!("removed {user} from {origin}"),
            )
        }
        Edit::SetPhone { user, phone } => {
            let user = noted(&mut problems, Username::parse(user));
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
            let user = noted(&mut problems, Username::parse(user));
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
            let user = noted(&mut problems, Username::parse(user));
            let room = noted(&mut problems, RoomPattern::parse(room));
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
            (result, message)
        }
        Edit::Revoke { user, room } => {
            let user = noted(&mut problems, Username::parse(user));
            let room = noted(&mut problems, RoomPattern::parse(room));
            let (Some(user), Some(room)) = (user, room) else {
                return Err(arguments(origin, problems));
            };
            (
                revoke_room(origin, text, &user, &room),
                format!("{user} may no longer join {} ({origin})", describe(&room)),
            )
        }
    };
    let new = result?;
    if new != text {
        Acl::parse_with(origin, &new, policy).map_err(|errors| EditError::Invalid {
            origin: origin.to_owned(),
            errors,
        })?;
    }
    Ok(Edited { text: new, message })
}

/// The value, or `None` with the reason added to `problems`.
fn noted<T>(problems: &mut Vec<String>, result: Result<T, ParseError>) -> Option<T> {
    result.map_err(|e| problems.push(e.to_string())).ok()
}

/// Channels as given on the command line, checked like the file's (known names, no
/// repeats, `sms` among them), in the order given. Problems go to `problems`.
fn parse_channels(problems: &mut Vec<String>, given: &[String]) -> Vec<Channel> {
    let mut channels = Vec::new();
    for name in given {
        match Channel::parse(name) {
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
/// inline table, which cannot be extended by a header, the user joins it inline.)
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
    // Some hosts indent their headers; the new one lines up with the last user's.
    let header_indent = template
        .map(|(_, t)| raw(t.decor().prefix()).rsplit('\n').next().unwrap_or(""))
        .filter(|indent| indent.chars().all(|c| c == ' ' || c == '\t'))
        .unwrap_or("")
        .to_owned();
    let wanted_blank_lines = match template {
        // The first table's prefix is the file's header comment, not a separator.
        Some((i, table)) if !(i == 0 && nothing_before_tables(&doc)) => {
            leading_blank_lines(raw(table.decor().prefix()))
        }
        _ => 1,
    };
    let style = |key: &str| key_style(template.map(|(_, t)| t), key);

    let mut table = Table::new();
    table.set_position(max_position(&doc) + 1);
    // Whatever ends the file (comments after the last user, say) stays above the
    // new user, so that the old text is untouched and the new lines come last.
    let mut prefix = raw(Some(doc.trailing())).to_owned();
    if !prefix.is_empty() && !prefix.ends_with('\n') {
        prefix.push('\n');
    }
    let file_so_far = doc.to_string();
    if !file_so_far.trim().is_empty() {
        let have = trailing_blank_lines(&prefix);
        prefix.push_str(&"\n".repeat(wanted_blank_lines.saturating_sub(have)));
    }
    prefix.push_str(&header_indent);
    *table.decor_mut() = Decor::new(prefix, "");
    let phone_value: Value = phone.expose_e164().into();
    insert_styled(&mut table, "phone", phone_value, style("phone"));
    insert_styled(
        &mut table,
        "rooms",
        Value::Array(room_values),
        style("rooms"),
    );
    if role == Role::Host {
        insert_styled(&mut table, "role", role.as_str().into(), style("role"));
    }
    if write_channels {
        // Styled like `rooms` (the key a template user is sure to have).
        let channels = Value::Array(channels_array(channels));
        insert_styled(&mut table, "channels", channels, style("rooms"));
    }
    doc.set_trailing("");
    doc["users"]
        .as_table_mut()
        .expect("checked above")
        .insert(name, Item::Table(table));
    Ok(finish(&doc, &layout))
}

/// Removes the user's entry, with the comment lines directly above it; comments
/// separated from it by a blank line stay (they are about what follows, or about
/// the whole file).
pub fn remove_user(origin: &str, text: &str, user: &Username) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let name = user.as_str();
    let path = vec!["users".to_owned(), name.to_owned()];
    let unknown = || EditError::UnknownUser {
        origin: origin.to_owned(),
        user: user.clone(),
    };
    match doc.get("users") {
        Some(Item::Table(users)) => {
            let entry = users.get(name).ok_or_else(unknown)?;
            if matches!(entry, Item::Table(t) if !t.is_dotted()) {
                remove_table(&mut doc, &path);
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
    Ok(finish(&doc, &layout))
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
        let last_suffix = inline
            .iter_mut()
            .last()
            .map(|(_, value)| {
                let suffix = raw(value.decor().suffix()).to_owned();
                value.decor_mut().set_suffix("");
                suffix
            })
            .unwrap_or_default();
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
    if rooms.iter().any(|r| r.as_str() == Some(&room)) {
        return Ok(text.to_owned());
    }
    push_room(rooms, &room);
    Ok(finish(&doc, &layout))
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
    let Some(index) = rooms.iter().position(|r| r.as_str() == Some(&room)) else {
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
        .and_then(|users| users.get_mut(user.as_str()))
        .ok_or_else(|| EditError::UnknownUser {
            origin: origin.to_owned(),
            user: user.clone(),
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

// ---------------------------------------------------------------------------
// Keeping the rest of the file byte for byte.

/// What `toml_edit` does not reproduce by itself, taken off in [`open`] and put
/// back by [`finish`].
struct Layout {
    bom: bool,
    crlf: bool,
    no_final_newline: bool,
}

fn open(origin: &str, text: &str) -> Result<(DocumentMut, Layout), EditError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let crlf = body.contains("\r\n");
    if crlf && body.matches('\n').count() != body.matches("\r\n").count() {
        return Err(unsupported(
            origin,
            "it mixes Windows (CRLF) and Unix (LF) line endings, and roomgate would have to change lines it was not asked to; make them all one kind first",
        ));
    }
    let normalized: Cow<'_, str> = if crlf {
        Cow::Owned(body.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(body)
    };
    let doc = match normalized.parse::<DocumentMut>() {
        Ok(doc) => doc,
        // The ACL parser says where, in the same terms as `acl check`.
        Err(e) => {
            return Err(match Acl::parse(origin, text) {
                Err(errors) => EditError::Unparsable {
                    origin: origin.to_owned(),
                    errors,
                },
                Ok(_) => unsupported(origin, e.message().trim().to_owned()),
            });
        }
    };
    let printed = doc.to_string();
    let no_final_newline = if printed == *normalized {
        false
    } else if printed.strip_suffix('\n') == Some(&*normalized) {
        true
    } else {
        return Err(unsupported(
            origin,
            "roomgate cannot edit this file without reformatting lines it was not asked to change; edit it by hand",
        ));
    };
    Ok((
        doc,
        Layout {
            bom,
            crlf,
            no_final_newline,
        },
    ))
}

fn finish(doc: &DocumentMut, layout: &Layout) -> String {
    let mut text = doc.to_string();
    if layout.no_final_newline && text.ends_with('\n') {
        text.pop();
    }
    if layout.crlf {
        text = text.replace('\n', "\r\n");
    }
    if layout.bom {
        text.insert(0, '\u{feff}');
    }
    text
}

fn raw(raw: Option<&RawString>) -> &str {
    raw.and_then(RawString::as_str).unwrap_or("")
}

/// A table with a `[header]` line, in the order `DocumentMut` prints them.
struct Printed {
    path: Vec<String>,
}

/// The tables whose headers are printed, in print order: by position, a table
/// without one printed after the table before it (as `DocumentMut` does).
fn printed_tables(doc: &DocumentMut) -> Vec<Printed> {
    fn visit(
        table: &Table,
        path: &mut Vec<String>,
        last: &mut isize,
        out: &mut Vec<(isize, Printed)>,
    ) {
        if !table.is_dotted() {
            if let Some(position) = table.position() {
                *last = position;
            }
            // The root, and implicit tables with nothing of their own, print no header.
            let headerless =
                path.is_empty() || (table.is_implicit() && table.get_values().is_empty());
            if !headerless {
                out.push((*last, Printed { path: path.clone() }));
            }
        }
        for (key, item) in table.iter() {
            if let Item::Table(child) = item {
                path.push(key.to_owned());
                visit(child, path, last, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    visit(doc.as_table(), &mut Vec::new(), &mut 0, &mut out);
    out.sort_by_key(|(position, _)| *position);
    out.into_iter().map(|(_, printed)| printed).collect()
}

fn max_position(doc: &DocumentMut) -> isize {
    fn visit(table: &Table, max: &mut isize) {
        if let Some(position) = table.position() {
            *max = (*max).max(position);
        }
        for (_, item) in table.iter() {
            match item {
                Item::Table(child) => visit(child, max),
                Item::ArrayOfTables(tables) => tables.iter().for_each(|t| visit(t, max)),
                _ => {}
            }
        }
    }
    let mut max = 0;
    visit(doc.as_table(), &mut max);
    max
}

fn table_at<'d>(doc: &'d DocumentMut, path: &[String]) -> Option<&'d Table> {
    path.iter()
        .try_fold(doc.as_table(), |table, key| table.get(key)?.as_table())
}

fn table_at_mut<'d>(doc: &'d mut DocumentMut, path: &[String]) -> Option<&'d mut Table> {
    path.iter().try_fold(doc.as_table_mut(), |table, key| {
        table.get_mut(key)?.as_table_mut()
    })
}

/// No key/value lines before the first `[header]`, so the first table's prefix
/// is the top of the file.
fn nothing_before_tables(doc: &DocumentMut) -> bool {
    doc.as_table().get_values().is_empty() && raw(doc.decor().prefix()).is_empty()
}

/// Whitespace before the key, between the key and `=`, and between `=` and the
/// value, as the template user writes `key` (or `phone`, for a key it lacks).
struct KeyStyle {
    indent: String,
    before_eq: String,
    after_eq: String,
}

fn key_style(template: Option<&Table>, key: &str) -> KeyStyle {
    let found = template.and_then(|t| {
        let key = if t.contains_key(key) { key } else { "phone" };
        Some((t.key(key)?, t.get(key)?.as_value()?))
    });
    let Some((key, value)) = found else {
        return KeyStyle {
            indent: String::new(),
            before_eq: " ".to_owned(),
            after_eq: " ".to_owned(),
        };
    };
    let whitespace = |s: &str| s.chars().all(|c| c == ' ' || c == '\t');
    // The prefix may hold comment lines above the key; only its indentation counts.
    let prefix = raw(key.leaf_decor().prefix());
    let indent = prefix.rsplit('\n').next().unwrap_or("");
    let before_eq = raw(key.leaf_decor().suffix());
    let after_eq = raw(value.decor().prefix());
    KeyStyle {
        indent: if whitespace(indent) { indent } else { "" }.to_owned(),
        before_eq: if whitespace(before_eq) {
            before_eq
        } else {
            " "
        }
        .to_owned(),
        after_eq: if whitespace(after_eq) { after_eq } else { " " }.to_owned(),
    }
}

fn insert_styled(table: &mut Table, key: &str, mut value: Value, style: KeyStyle) {
    *value.decor_mut() = Decor::new(style.after_eq, "");
    let key = Key::new(key).with_leaf_decor(Decor::new(style.indent, style.before_eq));
    table.insert_formatted(&key, Item::Value(value));
}

/// Adds `name = { … }` at the end of an inline `users = { … }`, with the space
/// before its closing brace kept there.
fn add_inline(users: &mut InlineTable, name: &str, mut entry: InlineTable) {
    let last_suffix = users
        .iter_mut()
        .last()
        .map(|(_, value)| {
            let suffix = raw(value.decor().suffix()).to_owned();
            value.decor_mut().set_suffix("");
            suffix
        })
        .unwrap_or_else(|| " ".to_owned());
    entry.decor_mut().set_prefix(" ");
    entry.decor_mut().set_suffix(last_suffix);
    let key = Key::new(name).with_leaf_decor(Decor::new(" ", " "));
    users.insert_formatted(&key, Value::InlineTable(entry));
}

fn remove_inline(users: &mut InlineTable, name: &str) -> Option<()> {
    let index = users.iter().position(|(key, _)| key == name)?;
    let count = users.len();
    let (key, value) = users.remove_entry(name)?;
    // The first entry's spacing after `{` and the last's before `}` belong to the
    // braces, not to the entry.
    if index == 0
        && let Some((mut next_key, _)) = users.iter_mut().next()
    {
        next_key
            .leaf_decor_mut()
            .set_prefix(raw(key.leaf_decor().prefix()).to_owned());
    }
    if index + 1 == count
        && let Some((_, last)) = users.iter_mut().last()
    {
        last.decor_mut()
            .set_suffix(raw(value.decor().suffix()).to_owned());
    }
    Some(())
}

/// Removes the `[users.NAME]` table. Its prefix is the text between the line
/// before it and its header: the comment lines directly above the header go with
/// it; anything above a blank line stays, handed to whatever now follows.
fn remove_table(doc: &mut DocumentMut, path: &[String]) {
    let printed = printed_tables(doc);
    let index = printed
        .iter()
        .position(|t| t.path == path)
        .expect("the caller found the table");
    let at_top = index == 0 && nothing_before_tables(doc);
    let prefix = raw(table_at(doc, path).expect("found").decor().prefix()).to_owned();
    // The top of the file is its header comment, however close to the first user.
    let kept = if at_top {
        prefix.as_str()
    } else {
        detached(&prefix)
    };
    let kept = without_trailing_blank_lines(kept).to_owned();
    let parent = table_at_mut(doc, &path[..path.len() - 1]).expect("found");
    parent.remove(&path[path.len() - 1]);

    let next = printed[index + 1..]
        .iter()
        .find(|t| !t.path.starts_with(path))
        .map(|t| t.path.clone());
    let follower = match &next {
        Some(next) => raw(table_at(doc, next).expect("still there").decor().prefix()).to_owned(),
        None => raw(Some(doc.trailing())).to_owned(),
    };
    // With nothing left above it, the follower's separating blank line would
    // become the first line of the file.
    let follower = if at_top && kept.is_empty() {
        without_leading_blank_lines(&follower)
    } else {
        &follower
    };
    let joined = format!("{kept}{follower}");
    match next {
        Some(next) => table_at_mut(doc, &next)
            .expect("still there")
            .decor_mut()
            .set_prefix(joined),
        None => doc.set_trailing(joined),
    }
}

/// Removes `users.NAME` written as a line (or lines) in a table's body: an inline
/// table `NAME = { … }` or dotted keys `NAME.phone = …`. Comment lines kept from
/// its prefix are moved to the end of the line before it.
fn remove_body_entry(doc: &mut DocumentMut, path: &[String]) {
    let (parent_path, name) = path.split_at(path.len() - 1);
    let name = &name[0];
    let parent = table_at_mut(doc, parent_path).expect("the caller found it");
    let prefix = match parent.get(name) {
        Some(Item::Table(dotted)) => first_line_prefix(dotted),
        _ => parent
            .key(name)
            .map(|k| raw(k.leaf_decor().prefix()).to_owned()),
    }
    .unwrap_or_default();
    let kept = without_trailing_blank_lines(detached(&prefix)).to_owned();
    let index = parent
        .iter()
        .position(|(key, _)| key == name)
        .expect("found");
    parent.remove(name);
    if !kept.is_empty() {
        append_after_previous(doc, parent_path, index, &kept);
    }
}

/// The text above the first line a (dotted) table prints in its parent's body.
fn first_line_prefix(table: &Table) -> Option<String> {
    let (key, item) = table.iter().next()?;
    match item {
        Item::Table(inner) if inner.is_dotted() => first_line_prefix(inner),
        Item::Value(_) => table
            .key(key)
            .map(|k| raw(k.leaf_decor().prefix()).to_owned()),
        _ => None,
    }
}

/// Puts `lines` (whole lines) right after what the document prints before the
/// entry that was at `index` in the table at `path`.
fn append_after_previous(doc: &mut DocumentMut, path: &[String], index: usize, lines: &str) {
    let on_its_line = format!("\n{}", lines.strip_suffix('\n').unwrap_or(lines));
    let table = table_at_mut(doc, path).expect("the caller found it");
    let previous = table
        .iter()
        .take(index)
        .filter(|(_, item)| match item {
            Item::Value(_) => true,
            Item::Table(t) => t.is_dotted() && !t.get_values().is_empty(),
            _ => false,
        })
        .map(|(key, _)| key.to_owned())
        .last();
    if let Some(previous) = previous {
        if let Some(decor) = last_line_decor(table.get_mut(&previous).expect("listed")) {
            let suffix = format!("{}{on_its_line}", raw(decor.suffix()));
            decor.set_suffix(suffix);
        }
    } else if path.is_empty() {
        let prefix = format!("{}{lines}", raw(doc.decor().prefix()));
        doc.decor_mut().set_prefix(prefix);
    } else if table.is_dotted() {
        let (parent, key) = path.split_at(path.len() - 1);
        let parent_table = table_at(doc, parent).expect("an ancestor");
        let index = parent_table
            .iter()
            .position(|(k, _)| k == key[0])
            .expect("a child");
        append_after_previous(doc, parent, index, lines);
    } else {
        let suffix = format!("{}{on_its_line}", raw(table.decor().suffix()));
        table.decor_mut().set_suffix(suffix);
    }
}

/// The decor whose suffix ends the last line an entry prints.
fn last_line_decor(item: &mut Item) -> Option<&mut Decor> {
    match item {
        Item::Value(value) => Some(value.decor_mut()),
        Item::Table(table) => {
            let (_, last) = table.iter_mut().last()?;
            last_line_decor(last)
        }
        _ => None,
    }
}

/// The part of a prefix above the comment lines that sit directly on the next
/// line (no blank line in between) and so belong to it.
fn detached(prefix: &str) -> &str {
    // Whole lines only: the text after the last newline is the line's indentation.
    let Some(last_newline) = prefix.rfind('\n') else {
        return "";
    };
    let whole = &prefix[..=last_newline];
    let mut end = whole.len();
    for line in whole.split_inclusive('\n').rev() {
        if is_blank(line) {
            break;
        }
        end -= line.len();
    }
    &whole[..end]
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn leading_blank_lines(text: &str) -> usize {
    text.split_inclusive('\n')
        .take_while(|line| line.ends_with('\n') && is_blank(line))
        .count()
}

fn trailing_blank_lines(text: &str) -> usize {
    text.split_inclusive('\n')
        .rev()
        .take_while(|line| is_blank(line))
        .count()
}

fn without_trailing_blank_lines(text: &str) -> &str {
    let mut end = text.len();
    for line in text.split_inclusive('\n').rev() {
        if !is_blank(line) {
            break;
        }
        end -= line.len();
    }
    &text[..end]
}

fn without_leading_blank_lines(text: &str) -> &str {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if !(line.ends_with('\n') && is_blank(line)) {
            break;
        }
        start += line.len();
    }
    &text[start..]
}

// ---------------------------------------------------------------------------
// Arrays of rooms.

fn prefix_of(value: &Value) -> String {
    raw(value.decor().prefix()).to_owned()
}

fn suffix_of(value: &Value) -> String {
    raw(value.decor().suffix()).to_owned()
}

/// Appends `room`: on one line, after a separator like the last one; in an array
/// with one room per line, on a line of its own with the same indentation, and a
/// comment that ended the last line stays on that line.
fn push_room(rooms: &mut Array, room: &str) {
    let Some(last) = rooms.iter().last() else {
        rooms.push(room);
        return;
    };
    let last_prefix = prefix_of(last);
    let last_suffix = suffix_of(last);
    let count = rooms.len();
    let mut new = Value::from(room);
    if let Some(newline) = last_prefix.rfind('\n') {
        let indent = &last_prefix[newline + 1..];
        let tail = format!("{last_suffix}{}", raw(Some(rooms.trailing())));
        let (same_line, rest) = match tail.find('\n') {
            Some(i) => (&tail[..i], &tail[i..]),
            None => (tail.as_str(), ""),
        };
        let same_line = if same_line.trim().is_empty() {
            ""
        } else {
            same_line
        };
        *new.decor_mut() = Decor::new(format!("{same_line}\n{indent}"), "");
        // `rest` is empty when the closing bracket was on the last room's line: it
        // then ends the new room's line instead.
        let rest = rest.to_owned();
        rooms
            .get_mut(count - 1)
            .expect("not empty")
            .decor_mut()
            .set_suffix("");
        rooms.set_trailing(rest);
    } else {
        let separator = if count > 1 { last_prefix.as_str() } else { " " };
        *new.decor_mut() = Decor::new(separator, last_suffix);
        rooms
            .get_mut(count - 1)
            .expect("not empty")
            .decor_mut()
            .set_suffix("");
    }
    rooms.push_formatted(new);
}

/// Removes the room at `index` (never the only one) with its line, when rooms are
/// one per line, or its separator, when they share a line.
fn remove_room(rooms: &mut Array, index: usize) {
    let count = rooms.len();
    let removed = rooms.remove(index);
    let removed_prefix = prefix_of(&removed);
    if index + 1 < count {
        let next = rooms.get_mut(index).expect("there was one after it");
        let next_prefix = prefix_of(next);
        let prefix = match (removed_prefix.find('\n'), next_prefix.find('\n')) {
            // Keep the line before (up to its end) and what is above the next room;
            // drop the removed room's lines and the comment that ended its line.
            (Some(r), Some(n)) => format!("{}{}", &removed_prefix[..=r], &next_prefix[n + 1..]),
            (None, Some(n)) => next_prefix[n..].to_owned(),
            (_, None) => removed_prefix,
        };
        next.decor_mut().set_prefix(prefix);
    } else {
        // The last room: what ended the line before it (a comment) was in its
        // prefix, and what ended its own line is in its suffix and the trailing.
        let before = match removed_prefix.find('\n') {
            Some(r) => &removed_prefix[..r],
            None => "",
        };
        let tail = format!("{}{}", suffix_of(&removed), raw(Some(rooms.trailing())));
        let after = match tail.find('\n') {
            Some(t) => &tail[t..],
            None => tail.as_str(),
        };
        let trailing = format!("{before}{after}");
        rooms.set_trailing(trailing);
    }
}

/// Writes `new` over `path` through a temporary file and a rename, if the file
/// still holds `expected`.
fn replace_file(path: &Path, origin: &str, expected: &[u8], new: &[u8]) -> Result<(), EditError> {
    let fail = |action: &str| {
        let action = action.to_owned();
        move |source| EditError::Write {
            origin: origin.to_owned(),
            action,
            source,
        }
    };
    // Through a symlink, the file it points to is replaced and the link kept.
    let target = fs::canonicalize(path).map_err(fail("find the file"))?;
    let dir = target
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let metadata = fs::metadata(&target).map_err(fail("read the file's permissions"))?;
    let name = target
        .file_name()
        .map_or_else(|| "acl".into(), |n| n.to_string_lossy().into_owned());

    let (temp_path, mut file) = create_temp(&dir, &name).map_err(fail(&format!(
        "create a temporary file in {}",
        dir.display()
    )))?;
    let mut temp = TempFile(Some(temp_path));
    file.write_all(new)
        .map_err(fail("write the temporary file"))?;
    #[cfg(unix)]
    keep_owner(&file, &metadata).map_err(fail("give the new file the old one's owner"))?;
    file.set_permissions(metadata.permissions())
        .map_err(fail("give the new file the old one's permissions"))?;
    file.sync_all()
        .map_err(fail("write the temporary file to disk"))?;
    drop(file);

    // Compared as late as possible: what someone saved since we read it wins.
    let now = fs::read(&target).map_err(fail("read the file again"))?;
    if now != expected {
        return Err(EditError::ChangedOnDisk {
            origin: origin.to_owned(),
        });
    }
    fs::rename(temp.path(), &target).map_err(fail("replace the file"))?;
    temp.0 = None;
    #[cfg(unix)]
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| EditError::SyncDir {
            origin: origin.to_owned(),
            source,
        })?;
    Ok(())
}

/// Removed when dropped, unless it was renamed into place.
struct TempFile(Option<PathBuf>);

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

fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
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
#[cfg(unix)]
fn keep_owner(file: &File, original: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let current = file.metadata()?;
    let uid = (current.uid() != original.uid()).then(|| original.uid());
    let gid = (current.gid() != original.gid()).then(|| original.gid());
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::fchown(file, uid, gid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Comments everywhere, three layouts of header and key, one- and multi-line
    /// arrays, literal and basic strings, trailing spaces, a comment after the last user.
    const ODD: &str = "# Team ACL: edited by hand.\n\
                       # Keep it tidy.\n\
                       \n\
                       [users.alice]   # the boss\n\
                       phone   =   \"+14155550101\"\n\
                       rooms = [ \"standup\",   \"all-hands\" ]   # two rooms\n\
                       role = \"host\"\n\
                       \n\
                       # Bob works remotely.\n\
                       [users.bob]\n\
                       phone = '+447400123456'\n\
                       rooms = [\n    \"*\",      # everything\n    \"standup\",\n]\n\
                       \n\
                       \n\
                       \t[users.carol]\n\
                       \tphone=\"+61412345678\"\n\
                       \trooms=[\"design-review\"]   \n\
                       # the end\n";

    /// Users written in a `[users]` table's body: inline tables and dotted keys.
    const BODY: &str = "# top\n\
                        [users]\n\
                        # dave's\n\
                        dave = { phone = \"+14155550101\", rooms = [\"a\"] }\n\
                        \n\
                        # erin's block\n\
                        \n\
                        erin.phone = \"+447400123456\"  # work\n\
                        erin.rooms = [\"b\", \"c\"]\n\
                        fay = { phone = \"+61412345678\", rooms = [\"d\"] } # fay\n\
                        \n\
                        [users.gus]\n\
                        phone = \"+16135550123\"\n\
                        rooms = [\"e\"]\n";

    const PLAIN: &str = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n\n\
                         [users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n";

    const DAVE: &str = "+16135550123";

    fn user(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    fn room(s: &str) -> RoomPattern {
        RoomPattern::parse(s).unwrap()
    }

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    /// `text` with the one occurrence of `from` replaced: the expected output of an
    /// edit is the input with exactly those bytes changed.
    fn replaced(text: &str, from: &str, to: &str) -> String {
        assert_eq!(text.matches(from).count(), 1, "{from:?} must occur once");
        text.replacen(from, to, 1)
    }

    fn valid(text: &str) -> Acl {
        Acl::parse("acl.toml", text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
    }

    #[test]
    fn set_channels_keeps_comments_and_each_entrys_style() {
        let calls = [Channel::Sms, Channel::Call];
        // A table: a new last line, styled like its `rooms`; every comment stays.
        let out = set_channels("acl.toml", ODD, &user("carol"), &calls).unwrap();
        let expected = replaced(
            ODD,
            "\trooms=[\"design-review\"]   \n",
            "\trooms=[\"design-review\"]   \n\tchannels=[\"sms\", \"call\"]\n",
        );
        assert_eq!(out, expected);
        assert_eq!(
            valid(&out).user(&user("carol")).unwrap().channels,
            calls.to_vec()
        );
        // Changing it again replaces only the value.
        let back = set_channels("acl.toml", &out, &user("carol"), &[Channel::Sms]).unwrap();
        assert_eq!(
            back,
            replaced(&out, "channels=[\"sms\", \"call\"]", "channels=[\"sms\"]")
        );
        // Already so: nothing to write (and the default needs no key).
        assert_eq!(
            set_channels("acl.toml", &out, &user("carol"), &calls).unwrap(),
            out
        );
        assert_eq!(
            set_channels("acl.toml", ODD, &user("bob"), &[Channel::Sms]).unwrap(),
            ODD
        );
        // An inline table, and dotted keys.
        let out = set_channels("acl.toml", BODY, &user("dave"), &calls).unwrap();
        assert_eq!(
            out,
            replaced(
                BODY,
                "rooms = [\"a\"] }",
                "rooms = [\"a\"], channels = [\"sms\", \"call\"] }"
            )
        );
        let out = set_channels("acl.toml", BODY, &user("erin"), &calls).unwrap();
        assert_eq!(
            out,
            replaced(
                BODY,
                "erin.rooms = [\"b\", \"c\"]\n",
                "erin.rooms = [\"b\", \"c\"]\nerin.channels = [\"sms\", \"call\"]\n"
            )
        );
        // A comment after the value stays.
        let commented = format!("{PLAIN}channels = [\"sms\"]  # texts only\n");
        let out = set_channels("acl.toml", &commented, &user("bob"), &calls).unwrap();
        assert_eq!(
            out,
            format!("{PLAIN}channels = [\"sms\", \"call\"]  # texts only\n")
        );
    }

    #[test]
    fn channels_are_checked_on_the_command_line() {
        let policy = AclPolicy::default();
        let set = |channels: &[&str]| Edit::SetChannels {
            user: "bob".into(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        };
        let err = edit_text("acl.toml", PLAIN, &policy, &set(&["sms", "fax", "sms"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#""fax" is not a channel (expected "sms" or "call")"#),
            "{err}"
        );
        assert!(err.contains(r#"channel "sms" is given twice"#), "{err}");
        let err = edit_text("acl.toml", PLAIN, &policy, &set(&["call"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#""sms" must be among the channels"#), "{err}");
        let done = edit_text("acl.toml", PLAIN, &policy, &set(&["sms", "call"])).unwrap();
        assert_eq!(done.message, "bob's channels are now sms, call in acl.toml");
        assert_eq!(
            done.text,
            format!("{PLAIN}channels = [\"sms\", \"call\"]\n")
        );
        let added = edit_text(
            "acl.toml",
            PLAIN,
            &policy,
            &Edit::Add {
                user: "dave".into(),
                phone: DAVE.into(),
                rooms: vec!["x".into()],
                role: Role::Participant,
                channels: vec!["sms".into(), "call".into()],
            },
        )
        .unwrap();
        assert_eq!(
            added.message,
            "added dave (participant, phone +1********23, calls allowed, rooms x) to acl.toml"
        );
        assert!(
            added
                .text
                .ends_with("[users.dave]\nphone = \"+16135550123\"\nrooms = [\"x\"]\nchannels = [\"sms\", \"call\"]\n"),
            "{}",
            added.text
        );
    }

    #[test]
    fn every_sample_round_trips_untouched() {
        for text in [ODD, BODY, PLAIN] {
            let (doc, layout) = open("acl.toml", text).unwrap();
            assert_eq!(finish(&doc, &layout), text);
            valid(text);
        }
    }

    #[test]
    fn add_appends_a_table_in_the_style_of_the_last_user() {
        let out = add_user(
            "acl.toml",
            ODD,
            &user("dave"),
            &phone(DAVE),
            &[room("standup"), room("x")],
            Role::Participant,
        )
        .unwrap();
        // Two blank lines and a tab, like carol; no spaces around `=`, like carol;
        // after the comment that ended the file.
        let expected =
            format!("{ODD}\n\n\t[users.dave]\n\tphone=\"{DAVE}\"\n\trooms=[\"standup\", \"x\"]\n");
        assert_eq!(out, expected);
        let acl = valid(&out);
        assert!(!acl.user(&user("dave")).unwrap().is_host());
    }

    #[test]
    fn add_writes_role_only_for_a_host() {
        let out = add_user(
            "acl.toml",
            PLAIN,
            &user("dave"),
            &phone(DAVE),
            &[room("*")],
            Role::Host,
        )
        .unwrap();
        let expected = format!(
            "{PLAIN}\n[users.dave]\nphone = \"{DAVE}\"\nrooms = [\"*\"]\nrole = \"host\"\n"
        );
        assert_eq!(out, expected);
        assert!(valid(&out).user(&user("dave")).unwrap().is_host());
    }

    #[test]
    fn add_to_a_file_without_users() {
        let add = |text: &str| {
            add_user(
                "acl.toml",
                text,
                &user("dave"),
                &phone(DAVE),
                &[room("standup")],
                Role::Participant,
            )
            .unwrap()
        };
        let entry = format!("[users.dave]\nphone = \"{DAVE}\"\nrooms = [\"standup\"]\n");
        assert_eq!(add(""), entry);
        assert_eq!(add("# our rooms\n"), format!("# our rooms\n\n{entry}"));
        assert_eq!(add("# our rooms\n\n"), format!("# our rooms\n\n{entry}"));
        assert_eq!(add("# our rooms"), format!("# our rooms\n\n{entry}"));
        valid(&add("# our rooms\n"));
    }

    #[test]
    fn add_joins_an_inline_users_table() {
        let text = "users = { alice = { phone = \"+14155550101\", rooms = [\"a\"] } }\n";
        let out = add_user(
            "acl.toml",
            text,
            &user("dave"),
            &phone(DAVE),
            &[room("b")],
            Role::Host,
        )
        .unwrap();
        assert_eq!(
            out,
            format!(
                "users = {{ alice = {{ phone = \"+14155550101\", rooms = [\"a\"] }}, dave = {{ phone = \"{DAVE}\", rooms = [\"b\"], role = \"host\" }} }}\n"
            )
        );
        valid(&out);
    }

    #[test]
    fn add_refuses_an_existing_user_however_written() {
        for (text, name) in [(ODD, "bob"), (BODY, "dave"), (BODY, "erin"), (BODY, "gus")] {
            let err = add_user(
                "acl.toml",
                text,
                &user(name),
                &phone(DAVE),
                &[room("x")],
                Role::Participant,
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "acl.toml: not changed: {name} is already on the list (change their entry with set-phone, grant or revoke)"
                )
            );
        }
    }

    #[test]
    fn adding_then_removing_a_user_gives_back_the_same_bytes() {
        let example = include_str!("../../acl.example.toml");
        for text in [ODD, BODY, PLAIN, example] {
            for role in [Role::Participant, Role::Host] {
                let added = add_user(
                    "acl.toml",
                    text,
                    &user("zed"),
                    &phone(DAVE),
                    &[room("x")],
                    role,
                )
                .unwrap();
                valid(&added);
                assert_eq!(remove_user("acl.toml", &added, &user("zed")).unwrap(), text);
            }
        }
    }

    #[test]
    fn remove_takes_the_comment_above_but_not_the_file_header() {
        let alice = "[users.alice]   # the boss\nphone   =   \"+14155550101\"\n\
                     rooms = [ \"standup\",   \"all-hands\" ]   # two rooms\nrole = \"host\"\n\n";
        assert_eq!(
            remove_user("acl.toml", ODD, &user("alice")).unwrap(),
            replaced(ODD, alice, "")
        );
        let bob = "\n# Bob works remotely.\n[users.bob]\nphone = '+447400123456'\n\
                   rooms = [\n    \"*\",      # everything\n    \"standup\",\n]\n";
        assert_eq!(
            remove_user("acl.toml", ODD, &user("bob")).unwrap(),
            replaced(ODD, bob, "")
        );
        let carol =
            "\n\n\t[users.carol]\n\tphone=\"+61412345678\"\n\trooms=[\"design-review\"]   \n";
        assert_eq!(
            remove_user("acl.toml", ODD, &user("carol")).unwrap(),
            replaced(ODD, carol, "")
        );
    }

    #[test]
    fn remove_the_first_table_of_a_file_without_header() {
        let out = remove_user("acl.toml", PLAIN, &user("alice")).unwrap();
        assert_eq!(
            out,
            "[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n"
        );
        // A comment directly on top of the first user is the file's, and stays.
        let text = format!("# who may join\n{PLAIN}");
        let out = remove_user("acl.toml", &text, &user("alice")).unwrap();
        assert_eq!(
            out,
            "# who may join\n\n[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n"
        );
    }

    #[test]
    fn remove_entries_written_in_a_table_body() {
        let dave = "# dave's\ndave = { phone = \"+14155550101\", rooms = [\"a\"] }\n";
        assert_eq!(
            remove_user("acl.toml", BODY, &user("dave")).unwrap(),
            replaced(BODY, dave, "")
        );
        // Separated by a blank line, the block comment is not erin's alone.
        let erin = "\nerin.phone = \"+447400123456\"  # work\nerin.rooms = [\"b\", \"c\"]\n";
        assert_eq!(
            remove_user("acl.toml", BODY, &user("erin")).unwrap(),
            replaced(BODY, erin, "")
        );
        let fay = "fay = { phone = \"+61412345678\", rooms = [\"d\"] } # fay\n";
        assert_eq!(
            remove_user("acl.toml", BODY, &user("fay")).unwrap(),
            replaced(BODY, fay, "")
        );
        let gus = "\n[users.gus]\nphone = \"+16135550123\"\nrooms = [\"e\"]\n";
        assert_eq!(
            remove_user("acl.toml", BODY, &user("gus")).unwrap(),
            replaced(BODY, gus, "")
        );
        let inline = "users = { a = { phone = \"+14155550101\", rooms = [\"x\"] }, b = { phone = \"+14155550102\", rooms = [\"y\"] } }\n";
        assert_eq!(
            remove_user("acl.toml", inline, &user("a")).unwrap(),
            "users = { b = { phone = \"+14155550102\", rooms = [\"y\"] } }\n"
        );
        assert_eq!(
            remove_user("acl.toml", inline, &user("b")).unwrap(),
            "users = { a = { phone = \"+14155550101\", rooms = [\"x\"] } }\n"
        );
    }

    #[test]
    fn set_phone_keeps_quoting_spacing_and_comments() {
        let out = set_phone("acl.toml", ODD, &user("bob"), &phone(DAVE)).unwrap();
        assert_eq!(out, replaced(ODD, "'+447400123456'", &format!("'{DAVE}'")));
        let out = set_phone("acl.toml", ODD, &user("alice"), &phone(DAVE)).unwrap();
        assert_eq!(
            out,
            replaced(ODD, "\"+14155550101\"", &format!("\"{DAVE}\""))
        );
        let out = set_phone("acl.toml", BODY, &user("erin"), &phone(DAVE)).unwrap();
        assert_eq!(
            out,
            replaced(
                BODY,
                "erin.phone = \"+447400123456\"  # work",
                &format!("erin.phone = \"{DAVE}\"  # work")
            )
        );
        let out = set_phone("acl.toml", BODY, &user("dave"), &phone(DAVE)).unwrap();
        assert_eq!(
            out,
            replaced(
                BODY,
                "dave = { phone = \"+14155550101\"",
                &format!("dave = {{ phone = \"{DAVE}\"")
            )
        );
        // The same number: nothing to do.
        let out = set_phone("acl.toml", ODD, &user("bob"), &phone("+447400123456")).unwrap();
        assert_eq!(out, ODD);
    }

    #[test]
    fn grant_follows_the_layout_of_the_list() {
        let out = grant_room("acl.toml", ODD, &user("alice"), &room("x")).unwrap();
        assert_eq!(
            out,
            replaced(ODD, "\"all-hands\" ]", "\"all-hands\",   \"x\" ]")
        );
        let out = grant_room("acl.toml", ODD, &user("bob"), &room("x")).unwrap();
        assert_eq!(
            out,
            replaced(
                ODD,
                "    \"standup\",\n]",
                "    \"standup\",\n    \"x\",\n]"
            )
        );
        let out = grant_room("acl.toml", ODD, &user("carol"), &room("*")).unwrap();
        assert_eq!(
            out,
            replaced(ODD, "[\"design-review\"]", "[\"design-review\", \"*\"]")
        );
        let out = grant_room("acl.toml", BODY, &user("dave"), &room("x")).unwrap();
        assert_eq!(out, replaced(BODY, "[\"a\"]", "[\"a\", \"x\"]"));
        let out = grant_room("acl.toml", BODY, &user("erin"), &room("x")).unwrap();
        assert_eq!(
            out,
            replaced(BODY, "[\"b\", \"c\"]", "[\"b\", \"c\", \"x\"]")
        );
        valid(&out);
    }

    #[test]
    fn grant_in_multi_line_lists_keeps_comments_on_their_lines() {
        let text = "[users.a]\nphone = \"+14155550101\"\nrooms = [\n  \"x\",\n  \"y\" # why\n]\n";
        assert_eq!(
            grant_room("acl.toml", text, &user("a"), &room("z")).unwrap(),
            replaced(text, "  \"y\" # why\n", "  \"y\", # why\n  \"z\"\n")
        );
        let text = "[users.a]\nphone = \"+14155550101\"\nrooms = [\n  \"x\",\n  \"y\"]\n";
        assert_eq!(
            grant_room("acl.toml", text, &user("a"), &room("z")).unwrap(),
            replaced(text, "  \"y\"]", "  \"y\",\n  \"z\"]")
        );
    }

    #[test]
    fn grant_of_a_room_the_user_has_changes_nothing() {
        for (name, r) in [
            ("alice", "standup"),
            ("bob", "*"),
            ("carol", "design-review"),
        ] {
            assert_eq!(
                grant_room("acl.toml", ODD, &user(name), &room(r)).unwrap(),
                ODD,
                "{name} {r}"
            );
        }
        let edited = edit_text(
            "acl.toml",
            ODD,
            &AclPolicy::default(),
            &Edit::Grant {
                user: "alice".into(),
                room: "standup".into(),
            },
        )
        .unwrap();
        assert_eq!(edited.text, ODD);
        assert_eq!(
            edited.message,
            "alice already has room standup; acl.toml not changed"
        );
    }

    #[test]
    fn revoke_removes_the_room_and_its_separator_or_line() {
        let cases = [
            (
                "alice",
                "standup",
                "[ \"standup\",   \"all-hands\" ]",
                "[ \"all-hands\" ]",
            ),
            (
                "alice",
                "all-hands",
                "[ \"standup\",   \"all-hands\" ]",
                "[ \"standup\" ]",
            ),
            ("bob", "*", "    \"*\",      # everything\n", ""),
            (
                "bob",
                "standup",
                "      # everything\n    \"standup\",\n",
                "      # everything\n",
            ),
        ];
        for (name, r, from, to) in cases {
            let out = revoke_room("acl.toml", ODD, &user(name), &room(r)).unwrap();
            assert_eq!(out, replaced(ODD, from, to), "{name} {r}");
            valid(&out);
        }
        let out = revoke_room("acl.toml", BODY, &user("erin"), &room("b")).unwrap();
        assert_eq!(out, replaced(BODY, "[\"b\", \"c\"]", "[\"c\"]"));
        let text = "[users.a]\nphone = \"+14155550101\"\nrooms = [\n  \"x\", # cx\n  # about y\n  \"y\", # cy\n  \"z\", # cz\n]\n";
        assert_eq!(
            revoke_room("acl.toml", text, &user("a"), &room("y")).unwrap(),
            replaced(text, "  # about y\n  \"y\", # cy\n", "")
        );
    }

    #[test]
    fn revoke_refuses_the_last_room_and_rooms_the_user_lacks() {
        let err = revoke_room("acl.toml", ODD, &user("carol"), &room("design-review")).unwrap_err();
        assert!(matches!(err, EditError::LastRoom { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "acl.toml: not changed: \"design-review\" is carol's only room, and every user needs one (remove carol instead)"
        );
        let err = revoke_room("acl.toml", ODD, &user("bob"), &room("all-hands")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "acl.toml: not changed: bob does not have room \"all-hands\" (their rooms: *, standup)"
        );
    }

    #[test]
    fn edits_of_unknown_users_are_refused() {
        let nobody = user("mallory");
        let expected = "acl.toml: not changed: no user named mallory";
        let results = [
            remove_user("acl.toml", ODD, &nobody),
            set_phone("acl.toml", ODD, &nobody, &phone(DAVE)),
            grant_room("acl.toml", ODD, &nobody, &room("x")),
            revoke_room("acl.toml", ODD, &nobody, &room("standup")),
            remove_user("acl.toml", "", &nobody),
            grant_room("acl.toml", BODY, &nobody, &room("x")),
        ];
        for result in results {
            let err = result.unwrap_err();
            assert!(matches!(err, EditError::UnknownUser { .. }), "{err:?}");
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn line_endings_byte_order_mark_and_final_newline_are_kept() {
        let crlf = PLAIN.replace('\n', "\r\n");
        let out = grant_room("acl.toml", &crlf, &user("alice"), &room("x")).unwrap();
        assert_eq!(
            out,
            replaced(&crlf, "[\"standup\"]", "[\"standup\", \"x\"]")
        );
        let out = add_user(
            "acl.toml",
            &crlf,
            &user("dave"),
            &phone(DAVE),
            &[room("x")],
            Role::Participant,
        )
        .unwrap();
        assert_eq!(
            out,
            format!("{crlf}\r\n[users.dave]\r\nphone = \"{DAVE}\"\r\nrooms = [\"x\"]\r\n")
        );
        let out = remove_user("acl.toml", &crlf, &user("bob")).unwrap();
        assert_eq!(
            out,
            "[users.alice]\r\nphone = \"+14155550101\"\r\nrooms = [\"standup\"]\r\n"
        );

        let bom = format!("\u{feff}{PLAIN}");
        let out = grant_room("acl.toml", &bom, &user("bob"), &room("x")).unwrap();
        assert_eq!(out, replaced(&bom, "[\"*\"]", "[\"*\", \"x\"]"));

        let unterminated = PLAIN.trim_end();
        let out = grant_room("acl.toml", unterminated, &user("bob"), &room("x")).unwrap();
        assert_eq!(out, replaced(unterminated, "[\"*\"]", "[\"*\", \"x\"]"));
        let out = set_phone("acl.toml", unterminated, &user("alice"), &phone(DAVE)).unwrap();
        assert_eq!(out, replaced(unterminated, "+14155550101", DAVE));
    }

    #[test]
    fn mixed_line_endings_are_refused_rather_than_normalized() {
        let mixed = PLAIN.replacen('\n', "\r\n", 2);
        let err = grant_room("acl.toml", &mixed, &user("bob"), &room("x")).unwrap_err();
        assert!(matches!(err, EditError::Unsupported { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(
                "acl.toml: not changed: it mixes Windows (CRLF) and Unix (LF) line endings"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_toml_is_refused_with_the_position() {
        let broken = "[users.alice]\nphone = \"+14155550101\nrooms = [\"standup\"]\n";
        let err = grant_room("acl.toml", broken, &user("alice"), &room("x")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "acl.toml:2:22: invalid basic string, expected `\"`\nacl.toml: not changed: fix the error above first"
        );
    }

    #[test]
    fn edit_text_reports_every_bad_argument() {
        let err = edit_text(
            "acl.toml",
            ODD,
            &AclPolicy::default(),
            &Edit::Add {
                user: "Dave".into(),
                phone: "555-0101".into(),
                rooms: vec!["standup".into(), "All Hands".into(), "standup".into()],
                role: Role::Participant,
                channels: vec![],
            },
        )
        .unwrap_err();
        let shown = err.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 4, "{shown}");
        assert!(lines[0].starts_with("acl.toml: not changed: \"Dave\" is not a valid username"));
        assert_eq!(
            lines[1],
            "acl.toml: not changed: \"555-0101\" is not an E.164 number"
        );
        assert!(
            lines[2].starts_with("acl.toml: not changed: \"All Hands\" is not a valid room name")
        );
        assert_eq!(
            lines[3],
            "acl.toml: not changed: room \"standup\" is given twice"
        );

        let err = edit_text(
            "acl.toml",
            ODD,
            &AclPolicy::default(),
            &Edit::SetPhone {
                user: "bob".into(),
                phone: "+4474001234567".into(),
            },
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "acl.toml: not changed: \"+4474001234567\" is not a valid phone number for its country"
        );
    }

    #[test]
    fn edit_text_refuses_a_result_that_is_not_a_valid_acl() {
        let us_only = AclPolicy {
            allowed_countries: Some(["US".to_owned()].into()),
        };
        let err = edit_text(
            "acl.toml",
            PLAIN.replace("+447400123456", "+14155550102").as_str(),
            &us_only,
            &Edit::Add {
                user: "dave".into(),
                phone: "+447400123456".into(),
                rooms: vec!["x".into()],
                role: Role::Participant,
                channels: vec![],
            },
        )
        .unwrap_err();
        assert!(matches!(err, EditError::Invalid { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "acl.toml:10:9: users.dave.phone: +44********56 is in GB, which is not in ROOMGATE_ALLOWED_COUNTRIES (US)\n\
             acl.toml: not changed: the change would leave the errors above (lines as they would be after the change)"
        );

        // The last user cannot go: an ACL lists someone.
        let one = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"a\"]\n";
        let err = edit_text(
            "acl.toml",
            one,
            &AclPolicy::default(),
            &Edit::Remove {
                user: "alice".into(),
            },
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("acl.toml:1:1: no users defined"),
            "{err}"
        );
    }

    #[test]
    fn edit_text_messages_mask_phone_numbers() {
        let policy = AclPolicy::default();
        let run = |edit: Edit| edit_text("acl.toml", PLAIN, &policy, &edit).unwrap();
        let added = run(Edit::Add {
            user: "dave".into(),
            phone: DAVE.into(),
            rooms: vec!["standup".into(), "*".into()],
            role: Role::Host,
            channels: vec![],
        });
        assert_eq!(
            added.message,
            "added dave (host, phone +1********23, rooms standup, *) to acl.toml"
        );
        let changed = run(Edit::SetPhone {
            user: "bob".into(),
            phone: DAVE.into(),
        });
        assert_eq!(
            changed.message,
            "bob's phone is now +1********23 in acl.toml"
        );
        let same = run(Edit::SetPhone {
            user: "bob".into(),
            phone: "+447400123456".into(),
        });
        assert_eq!(same.text, PLAIN);
        assert_eq!(
            same.message,
            "bob's phone is already +44********56; acl.toml not changed"
        );
        for edited in [added, changed, same] {
            assert!(!edited.message.contains("5550123"), "{}", edited.message);
        }
        assert_eq!(
            run(Edit::Grant {
                user: "alice".into(),
                room: "*".into()
            })
            .message,
            "alice may now join any room (*) (acl.toml)"
        );
        assert_eq!(
            run(Edit::Remove { user: "bob".into() }).message,
            "removed bob from acl.toml"
        );
        let debug = format!(
            "{:?}",
            Edit::Add {
                user: "dave".into(),
                phone: DAVE.into(),
                rooms: vec![],
                role: Role::Host,
                channels: vec![],
            }
        );
        assert!(
            debug.contains("+1********23") && !debug.contains(DAVE),
            "{debug}"
        );
    }

    /// A fresh directory under the system's temporary one, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("roomgate-edit-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn apply_writes_the_edit_and_leaves_no_temporary_file() {
        let dir = TempDir::new("apply");
        let path = dir.0.join("acl.toml");
        fs::write(&path, ODD).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        }
        let message = apply(
            &path,
            &AclPolicy::default(),
            &Edit::Grant {
                user: "carol".into(),
                room: "standup".into(),
            },
        )
        .unwrap();
        assert_eq!(
            message,
            format!("carol may now join room standup ({})", path.display())
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            replaced(
                ODD,
                "[\"design-review\"]",
                "[\"design-review\", \"standup\"]"
            )
        );
        assert_eq!(dir.entries(), ["acl.toml"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
    }

    #[test]
    fn apply_refusals_leave_the_file_as_it_was() {
        let dir = TempDir::new("refuse");
        let path = dir.0.join("acl.toml");
        fs::write(&path, ODD).unwrap();
        let policy = AclPolicy::default();
        let refused = [
            Edit::Remove {
                user: "mallory".into(),
            },
            Edit::Revoke {
                user: "carol".into(),
                room: "design-review".into(),
            },
            Edit::SetPhone {
                user: "bob".into(),
                phone: "12".into(),
            },
        ];
        for edit in refused {
            let err = apply(&path, &policy, &edit).unwrap_err();
            assert!(
                err.to_string().starts_with(&path.display().to_string()),
                "{err}"
            );
            assert_eq!(fs::read_to_string(&path).unwrap(), ODD);
        }
        assert_eq!(dir.entries(), ["acl.toml"]);
        let missing = dir.0.join("nope.toml");
        let err = apply(&missing, &policy, &Edit::Remove { user: "bob".into() }).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read: ", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten() {
        let dir = TempDir::new("race");
        let path = dir.0.join("acl.toml");
        fs::write(&path, "someone else's edit\n").unwrap();
        let err = replace_file(&path, "acl.toml", b"what we read\n", b"our edit\n").unwrap_err();
        assert!(matches!(err, EditError::ChangedOnDisk { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "acl.toml: not changed: the file changed on disk while roomgate was editing it; run the command again"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "someone else's edit\n");
        assert_eq!(dir.entries(), ["acl.toml"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_acl_is_edited_where_it_points() {
        let dir = TempDir::new("link");
        let real = dir.0.join("real.toml");
        let link = dir.0.join("acl.toml");
        fs::write(&real, PLAIN).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        apply(
            &link,
            &AclPolicy::default(),
            &Edit::Remove { user: "bob".into() },
        )
        .unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(&real).unwrap(),
            "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n"
        );
        assert_eq!(dir.entries(), ["acl.toml", "real.toml"]);
    }
}
