//! From ACL text to an `Acl`, locating every problem by line and column.
//!
//! Two stages: `toml` + serde check syntax, key names and value types (and stop at
//! the first problem, as serde must); then `validate` checks the values themselves
//! and collects everything it finds. Every value that stage looks at is `Spanned`,
//! so each error can point at it.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Acl, AclError, AclErrors, AclPolicy, AclUser, RecordingMode, Role, RoomSettings};
use crate::domain::{PhoneParser, RoomName, RoomPattern, Username};
use crate::verify::{Channel, Channels};

// `phone` and `rooms` are optional here so that a missing one is reported by
// `validate`, together with everything else, instead of ending the parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcl {
    users: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawUser>>>>,
    rooms: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawRoom>>>>,
}

// Every key optional: a `[rooms.NAME]` table says only what differs from the
// defaults. `retention_days` is read as any integer so that a negative or huge one
// is reported in our words, with the bounds.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table with `recording` and/or `retention_days`"
)]
struct RawRoom {
    recording: Option<Spanned<String>>,
    retention_days: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `phone` and `rooms`")]
struct RawUser {
    phone: Option<Spanned<String>>,
    rooms: Option<Spanned<Vec<Spanned<String>>>>,
    role: Option<Spanned<String>>,
    channels: Option<Spanned<Vec<Spanned<String>>>>,
}

pub(super) fn parse(origin: &str, text: &str, policy: &AclPolicy) -> Result<Acl, AclErrors> {
    let mut report = Report {
        origin,
        text,
        errors: Vec::new(),
        lines: std::cell::OnceCell::new(),
    };
    let (users, rooms) = match toml::from_str::<RawAcl>(text) {
        Ok(mut raw) => {
            let rooms = validate_room_settings(raw.rooms.take(), &mut report);
            (validate(raw, policy, &mut report), rooms)
        }
        Err(e) => {
            report_toml_error(&e, &mut report);
            (BTreeMap::new(), BTreeMap::new())
        }
    };
    if report.errors.is_empty() {
        Ok(Acl { users, rooms })
    } else {
        Err(report.finish())
    }
}

/// Collects errors, turning byte offsets into positions as they come.
struct Report<'a> {
    origin: &'a str,
    text: &'a str,
    errors: Vec<AclError>,
    /// The text's [`line_starts`], found at the first error.
    lines: std::cell::OnceCell<Vec<usize>>,
}

impl Report<'_> {
    /// The 1-based line and column of `offset` in the text.
    fn position(&self, offset: usize) -> (usize, usize) {
        let starts = self.lines.get_or_init(|| line_starts(self.text));
        position_in(self.text, starts, offset)
    }

    fn at(&mut self, offset: Option<usize>, path: String, message: impl AsRef<str>) {
        let (line, column) = offset.map_or((0, 0), |o| self.position(o));
        self.errors.push(AclError {
            origin: self.origin.to_owned(),
            line,
            column,
            path,
            message: one_line(message.as_ref()),
        });
    }

    fn finish(mut self) -> AclErrors {
        // Stable, so errors at one position keep the order they were found in.
        self.errors.sort_by_key(|e| (e.line, e.column));
        AclErrors(self.errors)
    }
}

fn validate(
    raw: RawAcl,
    policy: &AclPolicy,
    report: &mut Report<'_>,
) -> BTreeMap<Username, AclUser> {
    let mut acl = BTreeMap::new();
    // Every user naming a room shares one copy of its name.
    let mut rooms_named = BTreeSet::new();
    // Its compiled number plans go when the load is done.
    let mut phones = PhoneParser::default();
    let users = raw.users.map(Spanned::into_inner).unwrap_or_default();
    if users.is_empty() {
        report.at(
            Some(0),
            String::new(),
            "no users defined (add a [users.NAME] table with `phone` and `rooms`)",
        );
    }
    for (name, user) in users {
        let user_path = format!("users.{}", key_segment(name.get_ref()));
        let username = Username::parse(name.get_ref())
            .map_err(|e| report.at(Some(name.span().start), user_path.clone(), e.to_string()))
            .ok();
        let user_start = user.span().start;
        let user = user.into_inner();

        let phone = match user.phone {
            None => {
                report.at(Some(user_start), user_path.clone(), "missing key `phone`");
                None
            }
            Some(phone) => {
                let path = format!("{user_path}.phone");
                let offset = Some(phone.span().start);
                match phones.parse(phone.get_ref()) {
                    Err(e) => {
                        report.at(offset, path, e.to_string());
                        None
                    }
                    // Reported masked: the message names the country, which is
                    // what the host needs, and goes to terminals and logs.
                    Ok(number) => match policy.refusal(&number) {
                        Some(message) => {
                            report.at(offset, path, message);
                            None
                        }
                        None => Some(number),
                    },
                }
            }
        };
        let rooms = match user.rooms {
            None => {
                report.at(Some(user_start), user_path.clone(), "missing key `rooms`");
                None
            }
            Some(rooms) => validate_rooms(
                rooms,
                &format!("{user_path}.rooms"),
                &mut rooms_named,
                report,
            ),
        };

        let role = match user.role {
            None => Some(Role::default()),
            Some(role) => {
                let parsed = Role::parse(role.get_ref());
                if parsed.is_none() {
                    report.at(
                        Some(role.span().start),
                        format!("{user_path}.role"),
                        format!(
                            r#"{:?} is not a role (expected "participant" or "host")"#,
                            role.get_ref()
                        ),
                    );
                }
                parsed
            }
        };

        let channels = match user.channels {
            None => Some(Channels::SMS_ONLY),
            Some(channels) => validate_channels(channels, &format!("{user_path}.channels"), report),
        };

        if let (Some(username), Some(phone), Some(rooms), Some(role), Some(channels)) =
            (username, phone, rooms, role, channels)
        {
            acl.insert(
                username,
                AclUser {
                    phone,
                    rooms,
                    role,
                    channels,
                },
            );
        }
    }
    acl
}

/// The `[rooms.NAME]` tables. A room with any error is left out, which is harmless
/// only because any error at all keeps the whole file from loading.
fn validate_room_settings(
    rooms: Option<Spanned<BTreeMap<Spanned<String>, Spanned<RawRoom>>>>,
    report: &mut Report<'_>,
) -> BTreeMap<RoomName, RoomSettings> {
    let mut settings = BTreeMap::new();
    for (name, room) in rooms.map(Spanned::into_inner).unwrap_or_default() {
        let room_path = format!("rooms.{}", key_segment(name.get_ref()));
        // Settings are for one room: `*` is a pattern, not a room.
        let room_name = RoomName::parse(name.get_ref())
            .map_err(|e| report.at(Some(name.span().start), room_path.clone(), e.to_string()))
            .ok();
        let room = room.into_inner();
        let recording = match room.recording {
            None => Some(RecordingMode::default()),
            Some(mode) => {
                let parsed = RecordingMode::parse(mode.get_ref());
                if parsed.is_none() {
                    report.at(
                        Some(mode.span().start),
                        format!("{room_path}.recording"),
                        format!(
                            r#"{:?} is not a recording setting (expected "off", "host" or "always")"#,
                            mode.get_ref()
                        ),
                    );
                }
                parsed
            }
        };
        let retention_days = match room.retention_days {
            None => Some(RoomSettings::DEFAULT_RETENTION_DAYS),
            Some(days) => {
                let bounds = RoomSettings::RETENTION_DAYS;
                let parsed = u32::try_from(*days.get_ref())
                    .ok()
                    .filter(|d| bounds.contains(d));
                if parsed.is_none() {
                    report.at(
                        Some(days.span().start),
                        format!("{room_path}.retention_days"),
                        format!(
                            "{} is not a number of days from {} to {}",
                            days.get_ref(),
                            bounds.start(),
                            bounds.end()
                        ),
                    );
                }
                parsed
            }
        };
        if let (Some(room_name), Some(recording), Some(retention_days)) =
            (room_name, recording, retention_days)
        {
            settings.insert(
                room_name,
                RoomSettings {
                    recording,
                    retention_days,
                },
            );
        }
    }
    settings
}

/// `None` if anything in the list is wrong, so that a user is never admitted to
/// fewer rooms than the host meant without the host hearing about it.
fn validate_rooms(
    rooms: Spanned<Vec<Spanned<String>>>,
    path: &str,
    named: &mut BTreeSet<RoomPattern>,
    report: &mut Report<'_>,
) -> Option<Vec<RoomPattern>> {
    if rooms.get_ref().is_empty() {
        report.at(
            Some(rooms.span().start),
            path.to_owned(),
            r#"no rooms listed (name at least one, or "*" for any room)"#,
        );
        return None;
    }
    let mut patterns = Vec::new();
    let mut first_seen: BTreeMap<RoomPattern, usize> = BTreeMap::new();
    let mut ok = true;
    for (i, room) in rooms.into_inner().into_iter().enumerate() {
        let offset = room.span().start;
        let item_path = format!("{path}[{i}]");
        match RoomPattern::parse(room.get_ref()) {
            Err(e) => {
                report.at(Some(offset), item_path, e.to_string());
                ok = false;
            }
            Ok(pattern) => match first_seen.entry(pattern.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert(offset);
                    let shared = match named.get(&pattern) {
                        Some(known) => known.clone(),
                        None => {
                            named.insert(pattern.clone());
                            pattern
                        }
                    };
                    patterns.push(shared);
                }
                Entry::Occupied(first) => {
                    let (line, column) = report.position(*first.get());
                    let message = format!(
                        "duplicate room {:?} (first listed at {line}:{column})",
                        pattern.to_string()
                    );
                    report.at(Some(offset), item_path, message);
                    ok = false;
                }
            },
        }
    }
    ok.then_some(patterns)
}

/// How codes may reach the user: `None` if anything in the list is wrong. `"sms"`
/// must be there: every sign-in starts with a text, and a call is the alternative
/// the code page offers.
fn validate_channels(
    channels: Spanned<Vec<Spanned<String>>>,
    path: &str,
    report: &mut Report<'_>,
) -> Option<Channels> {
    let list_start = channels.span().start;
    if channels.get_ref().is_empty() {
        report.at(
            Some(list_start),
            path.to_owned(),
            r#"no channels listed (use ["sms"], or ["sms", "call"] to allow calls)"#,
        );
        return None;
    }
    let mut found = Vec::new();
    let mut first_seen: BTreeMap<Channel, usize> = BTreeMap::new();
    let mut ok = true;
    for (i, channel) in channels.into_inner().into_iter().enumerate() {
        let offset = channel.span().start;
        let item_path = format!("{path}[{i}]");
        let Some(parsed) = Channel::parse(channel.get_ref()) else {
            report.at(
                Some(offset),
                item_path,
                format!(
                    r#"{:?} is not a channel (expected "sms" or "call")"#,
                    channel.get_ref()
                ),
            );
            ok = false;
            continue;
        };
        match first_seen.entry(parsed) {
            Entry::Vacant(slot) => {
                slot.insert(offset);
                found.push(parsed);
            }
            Entry::Occupied(first) => {
                let (line, column) = report.position(*first.get());
                report.at(
                    Some(offset),
                    item_path,
                    format!("duplicate channel \"{parsed}\" (first listed at {line}:{column})"),
                );
                ok = false;
            }
        }
    }
    if ok && !found.contains(&Channel::Sms) {
        report.at(
            Some(list_start),
            path.to_owned(),
            r#""sms" must be listed: every sign-in starts with a text (e.g. ["sms", "call"])"#,
        );
        ok = false;
    }
    ok.then(|| found.into_iter().collect())
}

fn report_toml_error(e: &toml::de::Error, report: &mut Report<'_>) {
    let span = e.span();
    // The parser says only "duplicate key", and the host needs to know which one.
    if e.message() == "duplicate key"
        && let Some(span) = span.clone()
        && let Some(dup) = describe_duplicate(report.text, span.clone())
    {
        report.at(Some(span.start), dup.path, dup.message);
        return;
    }
    let path = span
        .clone()
        .map(|s| path_at(report.text, s))
        .unwrap_or_default();
    // `[[users.alice]]` is TOML's array of tables, and serde then reads the array as
    // the user's fields in order ("invalid type: table, expected a string"). Other
    // errors there (an unknown key, say) are said as they are.
    if e.message().starts_with("invalid type:")
        && let Some(start) = span.as_ref().map(|s| s.start)
        && let Some(header) = array_of_tables_at(report.text, start)
    {
        report.at(
            Some(start),
            path,
            format!(
                "[[{header}]] makes an array of tables; write [{header}], with single brackets"
            ),
        );
        return;
    }
    report.at(span.map(|s| s.start), path, tomlish(e.message()));
}

/// The name in a `[[name]]` header on the line holding byte `at`, if that line is one.
fn array_of_tables_at(text: &str, at: usize) -> Option<&str> {
    let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next()?.trim();
    let inner = line.strip_prefix("[[")?;
    Some(inner[..inner.find("]]")?].trim())
}

/// serde speaks of maps and sequences, and of Rust's integer types; the host wrote
/// tables, arrays and numbers.
fn tomlish(message: &str) -> String {
    // An integer beyond i64: a whole number all the same, just far too large.
    if let Some(number) = message
        .strip_prefix("invalid type: integer `")
        .and_then(|rest| rest.strip_suffix("` as i128, expected i64"))
    {
        return format!("{number} is far too large a number");
    }
    message
        .replace(" as i128", "")
        .replace("expected i64", "expected a whole number")
        .replace("unknown field", "unknown key")
        .replace("expected a map", "expected a table")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
}

struct Duplicate {
    path: String,
    message: String,
}

/// Which key a "duplicate key" error at `span` is about, and where it was first
/// defined. The parser does not say, so the file is parsed again with the second
/// occurrence renamed to a unique key: where that key lands in the tree is where
/// the duplicate was, however it was written (table header, dotted key, inline
/// table), and its sibling with the original name is the first definition.
fn describe_duplicate(text: &str, span: Range<usize>) -> Option<Duplicate> {
    let written = text.get(span.clone())?;
    let name = key_name(written);
    let sentinel = (0..)
        .map(|n| format!("roomgate-duplicate-{n}"))
        .find(|s| !text.contains(s.as_str()))?;
    let renamed = format!("{}{sentinel}{}", &text[..span.start], &text[span.end..]);
    let (tree, _) = DeTable::parse_recoverable(&renamed);

    let mut keys = Vec::new();
    visit(tree.get_ref(), "", &mut |path, key, _| {
        if let Some(key) = key {
            keys.push((path, key.start));
        }
    });
    let parent_path = keys.iter().find_map(|(path, _)| {
        let parent = path.strip_suffix(sentinel.as_str())?;
        match parent.strip_suffix('.') {
            Some(parent) => Some(parent.to_owned()),
            None => parent.is_empty().then(String::new),
        }
    })?;
    let path = join(&parent_path, &key_segment(&name));
    let first = keys
        .iter()
        .find(|(p, _)| *p == path)
        .map(|&(_, offset)| offset)
        // Offsets after the renamed key have moved.
        .filter(|&offset| offset < span.start);

    let what = if parent_path == "users" {
        format!("duplicate user {name:?}")
    } else if parent_path == "rooms" {
        format!("duplicate settings for room {name:?}")
    } else {
        format!("duplicate key `{name}`")
    };
    let message = match first {
        Some(offset) => {
            let (line, column) = line_column(text, offset);
            format!("{what} (first defined at {line}:{column})")
        }
        None => what,
    };
    Some(Duplicate { path, message })
}

/// A key as written (bare, "basic" or 'literal') to the key itself.
fn key_name(written: &str) -> String {
    if written.starts_with(['"', '\''])
        && let Ok(value) = DeValue::parse(written)
        && let Some(s) = value.get_ref().as_str()
    {
        return s.to_owned();
    }
    written.to_owned()
}

/// The dotted path of the key or value at `target`, for errors that come from serde
/// (whose messages name only the last key, if that). serde only runs on a document
/// that parsed, so parsing it again here succeeds.
fn path_at(text: &str, target: Range<usize>) -> String {
    let Ok(tree) = DeTable::parse(text) else {
        return String::new();
    };
    let contains = |span: &Range<usize>| span.start <= target.start && target.end <= span.end;
    // The key itself if it is what the error points at, else the smallest value
    // around the error (tables' spans are their headers, so this is not ambiguous).
    let mut best: Option<(bool, usize, String)> = None;
    let mut consider = |path: String, key: Option<Range<usize>>, value: Range<usize>| {
        let exact_key = key.is_some_and(|k| k == target);
        if !exact_key && !contains(&value) {
            return;
        }
        let candidate = (!exact_key, value.len(), path);
        if best
            .as_ref()
            .is_none_or(|b| (candidate.0, candidate.1) < (b.0, b.1))
        {
            best = Some(candidate);
        }
    };
    visit(tree.get_ref(), "", &mut consider);
    best.map(|(_, _, path)| path).unwrap_or_default()
}

/// Calls `f(path, key span, value span)` for every value, array items included.
fn visit(
    table: &DeTable<'_>,
    parent: &str,
    f: &mut impl FnMut(String, Option<Range<usize>>, Range<usize>),
) {
    for (key, value) in table {
        let path = join(parent, &key_segment(key.get_ref()));
        f(path.clone(), Some(key.span()), value.span());
        visit_value(value.get_ref(), &path, f);
    }
}

fn visit_value(
    value: &DeValue<'_>,
    path: &str,
    f: &mut impl FnMut(String, Option<Range<usize>>, Range<usize>),
) {
    match value {
        DeValue::Table(table) => visit(table, path, f),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                f(item_path.clone(), None, item.span());
                visit_value(item.get_ref(), &item_path, f);
            }
        }
        _ => {}
    }
}

fn join(parent: &str, segment: &str) -> String {
    if parent.is_empty() {
        segment.to_owned()
    } else {
        format!("{parent}.{segment}")
    }
}

/// A key as it would be written in a path: bare when TOML allows, else quoted, so
/// that `users."a.b"` cannot be mistaken for `users.a.b`.
pub(super) fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    position_in(text, &line_starts(text), offset)
}

/// Where each line of `text` begins, for [`position_in`].
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// [`line_column`] with `text`'s [`line_starts`] at hand: a file with thousands of
/// errors (a `sed` that broke every number) is not scanned from its start for each.
fn position_in(text: &str, starts: &[usize], offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line = starts.partition_point(|&start| start <= offset).max(1);
    let line_start = starts[line - 1];
    let mut this_line = &text[line_start..offset];
    if line == 1 {
        // An editor does not show a byte order mark, so it does not count.
        this_line = this_line.strip_prefix('\u{feff}').unwrap_or(this_line);
    }
    (line, this_line.chars().count() + 1)
}

/// Messages end up on one terminal line: control characters, which a quoted key
/// in the file could smuggle into a serde message, are escaped.
fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.trim().chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_naming_a_room_share_one_copy_of_its_name() {
        let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\", \"board\"]\n\
                    [users.bob]\nphone = \"+14155550102\"\nrooms = [\"board\", \"standup\"]\n";
        let acl = parse("acl.toml", text, &AclPolicy::default()).unwrap();
        let rooms = |name: &str| {
            let user = acl.user(&Username::parse(name).unwrap()).unwrap();
            user.rooms
                .iter()
                .map(|p| match p {
                    RoomPattern::Room(r) => r.clone(),
                    RoomPattern::Any => unreachable!(),
                })
                .collect::<Vec<_>>()
        };
        let (alice, bob) = (rooms("alice"), rooms("bob"));
        assert!(alice[0].shares_copy_with(&bob[1]), "standup");
        assert!(alice[1].shares_copy_with(&bob[0]), "board");
    }

    /// (line, column, path, message) of each error, in reported order.
    fn errors(text: &str) -> Vec<(usize, usize, String, String)> {
        errors_with(text, &AclPolicy::default())
    }

    fn errors_with(text: &str, policy: &AclPolicy) -> Vec<(usize, usize, String, String)> {
        let errors = parse("acl.toml", text, policy).expect_err("the ACL should be rejected");
        assert!(!errors.0.is_empty());
        errors
            .0
            .into_iter()
            .inspect(|e| assert_eq!(e.origin, "acl.toml"))
            .map(|e| (e.line, e.column, e.path, e.message))
            .collect()
    }

    fn error(text: &str) -> (usize, usize, String, String) {
        let mut all = errors(text);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn e(line: usize, column: usize, path: &str, message: &str) -> (usize, usize, String, String) {
        (line, column, path.to_owned(), message.to_owned())
    }

    const ALICE: &str = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n";

    #[test]
    fn accepts_tables_inline_tables_and_dotted_keys_alike() {
        let text = r#"
[users]
dave = { phone = "+14155550101", rooms = ["standup"] }
erin.phone = "+447400123456"
erin.rooms = ["*", "all-hands"]

[users.frank]
phone = "+61412345678"
rooms = ["design-review"]
"#;
        let acl = parse("acl.toml", text, &AclPolicy::default()).unwrap();
        let names: Vec<_> = acl.users().map(|(u, _)| u.as_str()).collect();
        assert_eq!(names, ["dave", "erin", "frank"]);
        let erin = acl.user(&Username::parse("erin").unwrap()).unwrap();
        assert_eq!(erin.phone.expose_e164(), "+447400123456");
        // Kept in file order.
        assert_eq!(
            erin.rooms,
            [RoomPattern::Any, RoomPattern::parse("all-hands").unwrap()]
        );
    }

    #[test]
    fn syntax_error_is_reported_where_toml_found_it() {
        let text = "[users.alice]\nphone = \"+14155550101\nrooms = [\"standup\"]\n";
        assert_eq!(
            error(text),
            e(2, 22, "", r#"invalid basic string, expected `"`"#)
        );
        assert_eq!(
            error("[users.alice\n"),
            e(1, 13, "", "unclosed table, expected `]`")
        );
    }

    #[test]
    fn duplicate_user_table_names_the_user_and_first_definition() {
        let text = format!("{ALICE}\n[users.alice]\nphone = \"+447400123456\"\n");
        assert_eq!(
            error(&text),
            e(
                5,
                8,
                "users.alice",
                r#"duplicate user "alice" (first defined at 1:8)"#
            )
        );
    }

    #[test]
    fn duplicate_user_is_found_however_it_is_written() {
        // Quoted key in a header.
        let text = format!("{ALICE}[users.\"alice\"]\n");
        assert_eq!(
            error(&text),
            e(
                4,
                8,
                "users.alice",
                r#"duplicate user "alice" (first defined at 1:8)"#
            )
        );
        // Inline tables under [users].
        let line = "alice = { phone = \"+14155550101\", rooms = [\"standup\"] }\n";
        let text = format!("[users]\n{line}{line}");
        assert_eq!(
            error(&text),
            e(
                3,
                1,
                "users.alice",
                r#"duplicate user "alice" (first defined at 2:1)"#
            )
        );
        // A dotted key reopening a [users.alice] table.
        let text = format!("{ALICE}[users]\nalice.phone = \"+447400123456\"\n");
        assert_eq!(
            error(&text),
            e(
                5,
                1,
                "users.alice",
                r#"duplicate user "alice" (first defined at 1:8)"#
            )
        );
    }

    #[test]
    fn duplicate_key_inside_a_user_names_its_path() {
        let text = "[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n\
                    [users.alice]\nphone = \"+14155550101\"\nphone = \"+14155550101\"\n";
        assert_eq!(
            error(text),
            e(
                6,
                1,
                "users.alice.phone",
                "duplicate key `phone` (first defined at 5:1)"
            )
        );
    }

    #[test]
    fn unknown_key_in_a_user() {
        let text = "[users.alice]\nphon = \"+14155550101\"\nrooms = [\"standup\"]\n";
        assert_eq!(
            error(text),
            e(
                2,
                1,
                "users.alice.phon",
                "unknown key `phon`, expected one of `phone`, `rooms`, `role`, `channels`"
            )
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let text = format!("{ALICE}\n[owner]\nname = \"alice\"\n");
        assert_eq!(
            error(&text),
            e(
                5,
                2,
                "owner",
                "unknown key `owner`, expected `users` or `rooms`"
            )
        );
    }

    #[test]
    fn file_without_users_is_an_error_at_the_start() {
        let expected = e(
            1,
            1,
            "",
            "no users defined (add a [users.NAME] table with `phone` and `rooms`)",
        );
        for text in [
            "",
            "\n\n",
            "# just a comment\n",
            "\n[users]\n",
            "users = {}\n",
        ] {
            assert_eq!(error(text), expected, "{text:?}");
        }
    }

    #[test]
    fn empty_rooms_points_at_the_list() {
        let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = []\n";
        assert_eq!(
            error(text),
            e(
                3,
                9,
                "users.alice.rooms",
                r#"no rooms listed (name at least one, or "*" for any room)"#
            )
        );
    }

    #[test]
    fn missing_phone_or_rooms_points_at_the_user() {
        let text = format!("{ALICE}\n[users.bob]\nrooms = [\"*\"]\n");
        assert_eq!(error(&text), e(5, 1, "users.bob", "missing key `phone`"));
        let text = format!("{ALICE}\n[users.bob]\nphone = \"+447400123456\"\n");
        assert_eq!(error(&text), e(5, 1, "users.bob", "missing key `rooms`"));
        // A user made only of dotted keys is located at its name.
        assert_eq!(
            errors("users.bob.phone = \"+447400123456\"\n")[0],
            e(1, 7, "users.bob", "missing key `rooms`")
        );
    }

    #[test]
    fn invalid_username_points_at_the_key() {
        let text = "[users.\"Bob\"]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n";
        let (line, column, path, message) = error(text);
        assert_eq!((line, column, path.as_str()), (1, 8, "users.Bob"));
        assert!(
            message.starts_with(r#""Bob" is not a valid username"#),
            "{message}"
        );
    }

    #[test]
    fn phone_must_be_e164() {
        let text = "[users.carol]\nphone = \"555-0101\"\nrooms = [\"standup\"]\n";
        assert_eq!(
            error(text),
            e(
                2,
                9,
                "users.carol.phone",
                r#""555-0101" is not an E.164 number"#
            )
        );
    }

    #[test]
    fn phone_must_be_valid_for_its_country() {
        // E.164-shaped, but one digit too long for a UK mobile.
        let text = "[users.carol]\nphone = \"+4474001234567\"\nrooms = [\"standup\"]\n";
        assert_eq!(
            error(text),
            e(
                2,
                9,
                "users.carol.phone",
                r#""+4474001234567" is not a valid phone number for its country"#
            )
        );
    }

    #[test]
    fn invalid_room_points_at_the_item() {
        let text =
            "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\", \"All Hands\"]\n";
        let (line, column, path, message) = error(text);
        assert_eq!(
            (line, column, path.as_str()),
            (3, 21, "users.alice.rooms[1]")
        );
        assert!(
            message.starts_with(r#""All Hands" is not a valid room name"#),
            "{message}"
        );
    }

    #[test]
    fn role_defaults_to_participant_and_may_be_host() {
        let text = format!(
            "{ALICE}role = \"host\"\n[users]\nbob = {{ phone = \"+447400123456\", rooms = [\"*\"], role = \"participant\" }}\ncarol.phone = \"+61412345678\"\ncarol.rooms = [\"standup\"]\n"
        );
        let acl = parse("acl.toml", &text, &AclPolicy::default()).unwrap();
        let roles: Vec<_> = acl
            .users()
            .map(|(u, user)| (u.as_str(), user.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("alice", Role::Host),
                ("bob", Role::Participant),
                ("carol", Role::Participant)
            ]
        );
    }

    #[test]
    fn unknown_role_points_at_the_value() {
        for bad in ["admin", "Host", "", " host"] {
            let text = format!("{ALICE}role = {bad:?}\n");
            assert_eq!(
                error(&text),
                e(
                    4,
                    8,
                    "users.alice.role",
                    &format!(r#"{bad:?} is not a role (expected "participant" or "host")"#)
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            error(&format!("{ALICE}role = true\n")),
            e(
                4,
                8,
                "users.alice.role",
                "invalid type: boolean `true`, expected a string"
            )
        );
    }

    #[test]
    fn a_bad_role_is_reported_with_the_other_errors() {
        let text = "[users.alice]\nrole = \"boss\"\nphone = \"555\"\nrooms = [\"standup\"]\n";
        let found: Vec<_> = errors(text)
            .into_iter()
            .map(|(line, column, path, _)| (line, column, path))
            .collect();
        assert_eq!(
            found,
            [
                (2, 8, "users.alice.role".to_owned()),
                (3, 9, "users.alice.phone".to_owned()),
            ]
        );
    }

    #[test]
    fn channels_default_to_sms_and_may_allow_calls() {
        let text = format!(
            "{ALICE}channels = [\"sms\", \"call\"]\n[users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n"
        );
        let acl = parse("acl.toml", &text, &AclPolicy::default()).unwrap();
        let channels: Vec<_> = acl
            .users()
            .map(|(u, user)| (u.as_str(), user.channels.to_vec()))
            .collect();
        assert_eq!(
            channels,
            [
                ("alice", vec![Channel::Sms, Channel::Call]),
                ("bob", vec![Channel::Sms])
            ]
        );
    }

    #[test]
    fn bad_channels_are_reported_where_they_are_written() {
        // Unknown names and repeats, at the item; all found at once.
        let text = format!("{ALICE}channels = [\"sms\", \"voice\",\n  \"sms\", \"Call\"]\n");
        assert_eq!(
            errors(&text),
            [
                e(
                    4,
                    20,
                    "users.alice.channels[1]",
                    r#""voice" is not a channel (expected "sms" or "call")"#
                ),
                e(
                    5,
                    3,
                    "users.alice.channels[2]",
                    r#"duplicate channel "sms" (first listed at 4:13)"#
                ),
                e(
                    5,
                    10,
                    "users.alice.channels[3]",
                    r#""Call" is not a channel (expected "sms" or "call")"#
                ),
            ]
        );
        // An empty list, and one without "sms", at the list.
        assert_eq!(
            error(&format!("{ALICE}channels = []\n")),
            e(
                4,
                12,
                "users.alice.channels",
                r#"no channels listed (use ["sms"], or ["sms", "call"] to allow calls)"#
            )
        );
        assert_eq!(
            error(&format!("{ALICE}channels = [\"call\"]\n")),
            e(
                4,
                12,
                "users.alice.channels",
                r#""sms" must be listed: every sign-in starts with a text (e.g. ["sms", "call"])"#
            )
        );
        // A string instead of a list is a type error, in TOML's terms.
        let (line, column, path, _) = error(&format!("{ALICE}channels = \"call\"\n"));
        assert_eq!(
            (line, column, path.as_str()),
            (4, 12, "users.alice.channels")
        );
    }

    #[test]
    fn duplicate_room_is_an_error_at_the_repeat() {
        let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\", \"*\",\n  \"standup\", \"*\"]\n";
        assert_eq!(
            errors(text),
            [
                e(
                    4,
                    3,
                    "users.alice.rooms[2]",
                    r#"duplicate room "standup" (first listed at 3:10)"#
                ),
                e(
                    4,
                    14,
                    "users.alice.rooms[3]",
                    r#"duplicate room "*" (first listed at 3:21)"#
                ),
            ]
        );
    }

    #[test]
    fn wrong_types_are_reported_in_toml_terms() {
        let cases = [
            (
                "[users.alice]\nphone = 14155550101\n",
                e(
                    2,
                    9,
                    "users.alice.phone",
                    "invalid type: integer `14155550101`, expected a string",
                ),
            ),
            (
                "[users.alice]\nrooms = \"standup\"\n",
                e(
                    2,
                    9,
                    "users.alice.rooms",
                    r#"invalid type: string "standup", expected an array"#,
                ),
            ),
            (
                "[users.alice]\nrooms = [\"standup\", 7]\n",
                e(
                    2,
                    21,
                    "users.alice.rooms[1]",
                    "invalid type: integer `7`, expected a string",
                ),
            ),
            (
                "users = [\"alice\"]\n",
                e(1, 9, "users", "invalid type: array, expected a table"),
            ),
            (
                "[rooms.x]\nretention_days = \"90\"\n",
                e(
                    2,
                    18,
                    "rooms.x.retention_days",
                    r#"invalid type: string "90", expected a whole number"#,
                ),
            ),
            (
                "[rooms.x]\nretention_days = 99999999999999999999\n",
                e(
                    2,
                    18,
                    "rooms.x.retention_days",
                    "99999999999999999999 is far too large a number",
                ),
            ),
            (
                "[users]\nalice = \"+14155550101\"\n",
                e(
                    2,
                    9,
                    "users.alice",
                    r#"invalid type: string "+14155550101", expected a table with `phone` and `rooms`"#,
                ),
            ),
            (
                "[[users]]\n",
                e(
                    1,
                    1,
                    "users",
                    "[[users]] makes an array of tables; write [users], with single brackets",
                ),
            ),
            (
                "[[users.alice]]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n",
                e(
                    1,
                    1,
                    "users.alice",
                    "[[users.alice]] makes an array of tables; write [users.alice], with single brackets",
                ),
            ),
            // A misspelt table is said as such, not as a matter of brackets.
            (
                "[[user.alice]]\nphone = \"+14155550101\"\n",
                e(
                    1,
                    3,
                    "user",
                    "unknown key `user`, expected `users` or `rooms`",
                ),
            ),
            (
                "[users.bob]\nphone = \"+14155550102\"\nrooms = [\"standup\"]\n\n[[ rooms.standup ]]\nrecord = true\n",
                e(
                    5,
                    1,
                    "rooms.standup",
                    "[[rooms.standup]] makes an array of tables; write [rooms.standup], with single brackets",
                ),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text:?}");
        }
    }

    #[test]
    fn collects_every_semantic_error_sorted_by_position() {
        // Users are validated in name order; errors must still come out in file order.
        let text = r#"[users.zed]
phone = "555-0101"
rooms = []

[users."Al ice"]
phone = "+14155550101"
rooms = ["standup"]

[users.alice]
rooms = ["standup", "standup"]
"#;
        let found: Vec<_> = errors(text)
            .into_iter()
            .map(|(line, column, path, _)| (line, column, path))
            .collect();
        assert_eq!(
            found,
            [
                (2, 9, "users.zed.phone".to_owned()),
                (3, 9, "users.zed.rooms".to_owned()),
                (5, 8, r#"users."Al ice""#.to_owned()),
                (9, 1, "users.alice".to_owned()),
                (10, 21, "users.alice.rooms[1]".to_owned()),
            ]
        );
    }

    #[test]
    fn a_user_with_any_error_is_not_half_admitted() {
        let text = format!(
            "{ALICE}[users.bob]\nphone = \"+447400123456\"\nrooms = [\"ok\", \"NOT OK\"]\n"
        );
        assert_eq!(errors(&text).len(), 1);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        // "é" is two bytes; the bad room after it is at character 16.
        let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"é\", \"é\"]\n";
        let found: Vec<_> = errors(text).into_iter().map(|(l, c, ..)| (l, c)).collect();
        assert_eq!(found, [(3, 10), (3, 15)]);
    }

    #[test]
    fn line_column_edge_cases() {
        assert_eq!(line_column("", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 3), (2, 1));
        assert_eq!(line_column("ab\ncd", 5), (2, 3));
        assert_eq!(line_column("ab\r\ncd", 5), (2, 2));
        assert_eq!(line_column("€x", 3), (1, 2));
        // Inside a multi-byte character: that character's column.
        assert_eq!(line_column("€x", 1), (1, 1));
        // Past the end: clamped to the end.
        assert_eq!(line_column("ab", 99), (1, 3));
        // A byte order mark is invisible in an editor.
        assert_eq!(line_column("\u{feff}ab", 4), (1, 2));
    }

    #[test]
    fn byte_order_mark_does_not_shift_columns() {
        let text = "\u{feff}bogus = 1\n";
        assert_eq!(
            error(text),
            e(
                1,
                1,
                "bogus",
                "unknown key `bogus`, expected `users` or `rooms`"
            )
        );
    }

    #[test]
    fn messages_and_paths_stay_on_one_line() {
        let text = "[users.alice]\n\"ph\\none\\u001b[2J\" = 1\n";
        let (line, column, path, message) = error(text);
        assert_eq!((line, column), (2, 1));
        assert_eq!(path, r#"users.alice."ph\none\u{1b}[2J""#);
        assert_eq!(
            message,
            r"unknown key `ph\none\u{1b}[2J`, expected one of `phone`, `rooms`, `role`, `channels`"
        );
    }

    #[test]
    fn key_segments_are_quoted_only_when_needed() {
        assert_eq!(key_segment("alice_b-2"), "alice_b-2");
        assert_eq!(key_segment("bob.smith"), r#""bob.smith""#);
        assert_eq!(key_segment(""), r#""""#);
    }

    fn only(codes: &[&str]) -> AclPolicy {
        AclPolicy {
            allowed_countries: Some(codes.iter().map(|&c| c.to_owned()).collect()),
        }
    }

    const US_CA: &str = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n\
                         [users.bob]\nphone = \"+447400123456\"\nrooms = [\"*\"]\n\
                         [users.carol]\nphone = \"+16135550123\"\nrooms = [\"standup\"]\n";

    #[test]
    fn numbers_in_allowed_countries_are_accepted() {
        let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n\
                    [users.carol]\nphone = \"+16135550123\"\nrooms = [\"standup\"]\n";
        let acl = parse("acl.toml", text, &only(&["US", "CA"])).unwrap();
        let regions: Vec<_> = acl.users().map(|(_, u)| u.phone.region()).collect();
        assert_eq!(regions, [Some("US"), Some("CA")]);
        // The default policy takes any country.
        assert_eq!(
            parse("acl.toml", US_CA, &AclPolicy::default())
                .unwrap()
                .user_count(),
            3
        );
    }

    #[test]
    fn number_outside_allowed_countries_points_at_the_phone() {
        assert_eq!(
            errors_with(US_CA, &only(&["US", "CA"])),
            [e(
                5,
                9,
                "users.bob.phone",
                "+44********56 is in GB, which is not in ROOMGATE_ALLOWED_COUNTRIES (CA, US)"
            )]
        );
    }

    #[test]
    fn every_refused_number_is_reported_with_the_other_errors() {
        let found = errors_with(US_CA, &only(&["GB"]));
        assert_eq!(
            found,
            [
                e(
                    2,
                    9,
                    "users.alice.phone",
                    "+1********01 is in US, which is not in ROOMGATE_ALLOWED_COUNTRIES (GB)"
                ),
                e(
                    8,
                    9,
                    "users.carol.phone",
                    "+1********23 is in CA, which is not in ROOMGATE_ALLOWED_COUNTRIES (GB)"
                ),
            ]
        );
        // Mixed with other kinds of error, still all of them, in file order.
        let text = format!("{US_CA}[users.dan]\nphone = \"+61412345678\"\nrooms = []\n");
        let found: Vec<_> = errors_with(&text, &only(&["gb"]))
            .into_iter()
            .map(|(line, column, path, _)| (line, column, path))
            .collect();
        assert_eq!(
            found,
            [
                (2, 9, "users.alice.phone".to_owned()),
                (8, 9, "users.carol.phone".to_owned()),
                (11, 9, "users.dan.phone".to_owned()),
                (12, 9, "users.dan.rooms".to_owned()),
            ]
        );
    }

    #[test]
    fn refused_inline_and_dotted_entries_point_at_the_value() {
        let text = "[users]\ndave = { phone = \"+447400123456\", rooms = [\"a\"] }\n\
                    erin.phone = \"+447400123456\"\nerin.rooms = [\"a\"]\n";
        let found: Vec<_> = errors_with(text, &only(&["US"]))
            .into_iter()
            .map(|(line, column, path, _)| (line, column, path))
            .collect();
        assert_eq!(
            found,
            [
                (2, 18, "users.dave.phone".to_owned()),
                (3, 14, "users.erin.phone".to_owned()),
            ]
        );
    }

    #[test]
    fn number_without_a_known_country_is_refused_when_a_list_is_set() {
        // International freephone: valid, but in no country.
        let text = "[users.fay]\nphone = \"+80012345678\"\nrooms = [\"standup\"]\n";
        assert!(parse("acl.toml", text, &AclPolicy::default()).is_ok());
        assert_eq!(
            errors_with(text, &only(&["US"])),
            [e(
                2,
                9,
                "users.fay.phone",
                "+800******78 has no known country, so it is not in ROOMGATE_ALLOWED_COUNTRIES (US)"
            )]
        );
    }

    #[test]
    fn an_empty_country_list_refuses_every_number() {
        let found = errors_with(US_CA, &only(&[]));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0]
                .3
                .ends_with("which is not in ROOMGATE_ALLOWED_COUNTRIES (none)"),
            "{found:?}"
        );
    }

    #[test]
    fn refusals_show_the_number_masked_only() {
        let errors = parse("acl.toml", US_CA, &only(&["AU"])).unwrap_err();
        let shown = errors.to_string();
        for masked in ["+1********01", "+44********56", "+1********23"] {
            assert!(shown.contains(masked), "{shown}");
        }
        for full in ["4155550101", "7400123456", "6135550123"] {
            assert!(!shown.contains(full), "{shown}");
        }
        assert!(!format!("{errors:?}").contains("7400123456"));
    }

    #[test]
    fn room_settings_default_and_may_be_set() {
        let text = format!(
            "{ALICE}\n[rooms.standup]\nrecording = \"host\"\nretention_days = 90\n\n\
             [rooms]\nboard = {{ recording = \"always\" }}\nquiet.retention_days = 1\n"
        );
        let acl = parse("acl.toml", &text, &AclPolicy::default()).unwrap();
        let room = |s: &str| RoomName::parse(s).unwrap();
        assert_eq!(
            acl.room_settings(&room("standup")),
            RoomSettings {
                recording: RecordingMode::Host,
                retention_days: 90
            }
        );
        assert_eq!(
            acl.room_settings(&room("board")),
            RoomSettings {
                recording: RecordingMode::Always,
                retention_days: 30
            }
        );
        assert_eq!(
            acl.room_settings(&room("quiet")),
            RoomSettings {
                recording: RecordingMode::Off,
                retention_days: 1
            }
        );
        assert_eq!(acl.room_settings(&room("other")), RoomSettings::default());
        let configured: Vec<_> = acl.configured_rooms().map(|(r, _)| r.as_str()).collect();
        assert_eq!(configured, ["board", "quiet", "standup"]);
        // No table: nothing configured, every room the default.
        let plain = parse("acl.toml", ALICE, &AclPolicy::default()).unwrap();
        assert_eq!(plain.configured_rooms().count(), 0);
        assert_eq!(
            RoomSettings::default(),
            RoomSettings {
                recording: RecordingMode::Off,
                retention_days: 30
            }
        );
    }

    #[test]
    fn bad_room_settings_are_reported_where_they_are_written() {
        let text = format!(
            "{ALICE}[rooms.standup]\nrecording = \"on\"\nretention_days = 0\n\
             [rooms.\"*\"]\nrecording = \"host\"\n\
             [rooms.board]\nretention_days = 3651\n\
             [rooms.big]\nretention_days = -5\n"
        );
        assert_eq!(
            errors(&text),
            [
                e(
                    5,
                    13,
                    "rooms.standup.recording",
                    r#""on" is not a recording setting (expected "off", "host" or "always")"#
                ),
                e(
                    6,
                    18,
                    "rooms.standup.retention_days",
                    "0 is not a number of days from 1 to 3650"
                ),
                e(
                    7,
                    8,
                    "rooms.\"*\"",
                    r#""*" is not a valid room name (1-64 characters: a-z, 0-9, '-', starting with a letter or digit)"#
                ),
                e(
                    10,
                    18,
                    "rooms.board.retention_days",
                    "3651 is not a number of days from 1 to 3650"
                ),
                e(
                    12,
                    18,
                    "rooms.big.retention_days",
                    "-5 is not a number of days from 1 to 3650"
                ),
            ]
        );
    }

    #[test]
    fn room_settings_keys_and_types_are_checked() {
        let text = format!("{ALICE}[rooms.standup]\nrecord = \"host\"\n");
        assert_eq!(
            error(&text),
            e(
                5,
                1,
                "rooms.standup.record",
                "unknown key `record`, expected `recording` or `retention_days`"
            )
        );
        let text = format!("{ALICE}[rooms.standup]\nretention_days = \"90\"\n");
        assert_eq!(
            error(&text),
            e(
                5,
                18,
                "rooms.standup.retention_days",
                r#"invalid type: string "90", expected a whole number"#
            )
        );
        let text = format!("{ALICE}[rooms.standup]\n[rooms.standup]\n");
        assert_eq!(
            error(&text),
            e(
                5,
                8,
                "rooms.standup",
                r#"duplicate settings for room "standup" (first defined at 4:8)"#
            )
        );
    }
}
