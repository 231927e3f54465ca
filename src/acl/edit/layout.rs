//! Keeping the rest of the file byte for byte: what `toml_edit` doesn't reproduce by
//! itself (a byte order mark, CRLF, a missing final newline), where tables print,
//! the style of keys, comments that belong to an entry, and arrays of rooms laid
//! out like the rooms before them.

use super::*;

/// What `toml_edit` does not reproduce by itself, taken off in [`open`] and put
/// back by [`finish`].
pub(super) struct Layout {
    bom: bool,
    crlf: bool,
    no_final_newline: bool,
}

pub(super) fn open(origin: &str, text: &str) -> Result<(DocumentMut, Layout), EditError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let crlf = body.contains("\r\n");
    if crlf && body.matches('\n').count() != body.matches("\r\n").count() {
        // The first line that ends otherwise than the first one does, so the host
        // knows where to look.
        let first_crlf = body
            .split_inclusive('\n')
            .next()
            .is_some_and(|l| l.ends_with("\r\n"));
        let odd = body
            .split_inclusive('\n')
            .position(|line| line.ends_with('\n') && line.ends_with("\r\n") != first_crlf)
            .map_or(0, |i| i + 1);
        let (odd_kind, usual) = if first_crlf {
            ("Unix (LF)", "Windows (CRLF)")
        } else {
            ("Windows (CRLF)", "Unix (LF)")
        };
        return Err(unsupported(
            origin,
            format!(
                "it mixes Windows (CRLF) and Unix (LF) line endings (line {odd} ends {odd_kind}, \
                 line 1 {usual}), and roomgate would have to change lines it was not asked to; \
                 make them all one kind first"
            ),
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
        // Where the two part, so the host knows what to look at: nearly always the
        // keys of one table written apart (`alice.phone`, `bob.phone`, `alice.rooms`),
        // which a rewrite would put together.
        let line = normalized
            .lines()
            .zip(printed.lines())
            .take_while(|(a, b)| a == b)
            .count()
            + 1;
        return Err(unsupported(
            origin,
            format!(
                "roomgate cannot edit this file without rewriting lines it was not asked to \
                 change, from line {line} on (keys of one user or room written apart, say, \
                 would be put together); edit it by hand, or write each user's keys together"
            ),
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

pub(super) fn finish(doc: &DocumentMut, layout: &Layout) -> String {
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

pub(super) fn raw(raw: Option<&RawString>) -> &str {
    raw.and_then(RawString::as_str).unwrap_or("")
}

/// A table with a `[header]` line, in the order `DocumentMut` prints them.
pub(super) struct Printed {
    pub(super) path: Vec<String>,
}

/// The tables whose headers are printed, in print order: by position, a table
/// without one printed after the table before it (as `DocumentMut` does).
pub(super) fn printed_tables(doc: &DocumentMut) -> Vec<Printed> {
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

pub(super) fn max_position(doc: &DocumentMut) -> isize {
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

pub(super) fn table_at<'d>(doc: &'d DocumentMut, path: &[String]) -> Option<&'d Table> {
    path.iter()
        .try_fold(doc.as_table(), |table, key| table.get(key)?.as_table())
}

pub(super) fn table_at_mut<'d>(doc: &'d mut DocumentMut, path: &[String]) -> Option<&'d mut Table> {
    path.iter().try_fold(doc.as_table_mut(), |table, key| {
        table.get_mut(key)?.as_table_mut()
    })
}

/// No key/value lines before the first `[header]`, so the first table's prefix
/// is the top of the file.
pub(super) fn nothing_before_tables(doc: &DocumentMut) -> bool {
    doc.as_table().get_values().is_empty() && raw(doc.decor().prefix()).is_empty()
}

/// A new table to print after everything else in the file, spaced and indented
/// like `template` (the printed table at that index), which it is about to follow.
/// Whatever ends the file (comments after the last table, say) stays above it, so
/// the old text is untouched and the new lines come last; the caller inserts the
/// table and then clears the document's trailing text.
pub(super) fn last_table(doc: &DocumentMut, template: Option<(usize, &Table)>) -> Table {
    let (wanted_blank_lines, header_indent) = spacing(doc, template);
    let mut table = Table::new();
    table.set_position(max_position(doc) + 1);
    let mut prefix = raw(Some(doc.trailing())).to_owned();
    if !prefix.is_empty() && !prefix.ends_with('\n') {
        prefix.push('\n');
    }
    if !doc.to_string().trim().is_empty() {
        let have = trailing_blank_lines(&prefix);
        prefix.push_str(&"\n".repeat(wanted_blank_lines.saturating_sub(have)));
    }
    prefix.push_str(header_indent);
    *table.decor_mut() = Decor::new(prefix, "");
    table
}

/// The blank lines above `template`'s header and its indent: what a table that
/// follows it gets.
fn spacing<'t>(doc: &DocumentMut, template: Option<(usize, &'t Table)>) -> (usize, &'t str) {
    // Some hosts indent their headers; the new one lines up with the template's.
    let header_indent = template
        .map(|(_, t)| raw(t.decor().prefix()).rsplit('\n').next().unwrap_or(""))
        .filter(|indent| indent.chars().all(|c| c == ' ' || c == '\t'))
        .unwrap_or("");
    let wanted_blank_lines = match template {
        // The first table's prefix is the file's header comment, not a separator.
        Some((i, table)) if !(i == 0 && nothing_before_tables(doc)) => {
            leading_blank_lines(raw(table.decor().prefix()))
        }
        _ => 1,
    };
    (wanted_blank_lines, header_indent)
}

/// A new table to print right after `template` (the printed table at that index),
/// before `next` (the one printed after it), spaced and indented like the template,
/// and `next`'s new prefix. Of the lines above `next`'s header, those a blank line
/// parts from it are the template's (as [`remove_table`] has it) and stay above the
/// new table; the comment heading `next` stays with it. The caller makes room with
/// [`move_down_after`], gives the table the place after the template's, and sets
/// `next`'s prefix.
pub(super) fn table_after(
    doc: &DocumentMut,
    template: (usize, &Table),
    next: &Table,
) -> (Table, String) {
    let (wanted_blank_lines, header_indent) = spacing(doc, Some(template));
    let prefix = raw(next.decor().prefix());
    // The template's lines; `next` keeps the rest byte for byte (its blank lines as
    // they are written, spaces and all), so removing the new table gives them back.
    let above = without_trailing_blank_lines(detached(prefix));
    // A blank line at least between the template's lines and the new header, or they
    // would read as the new table's (and go with it when it is removed).
    let blank_lines = if above.is_empty() {
        wanted_blank_lines
    } else {
        wanted_blank_lines.max(1)
    };
    let mut table = Table::new();
    let own = format!("{above}{}{header_indent}", "\n".repeat(blank_lines));
    *table.decor_mut() = Decor::new(own, "");
    (table, prefix[above.len()..].to_owned())
}

/// Every table printed after `position` moves one place down, leaving
/// `position + 1` free.
pub(super) fn move_down_after(doc: &mut DocumentMut, position: isize) {
    fn visit(table: &mut Table, position: isize) {
        if let Some(at) = table.position()
            && at > position
        {
            table.set_position(at + 1);
        }
        for (_, item) in table.iter_mut() {
            match item {
                Item::Table(child) => visit(child, position),
                Item::ArrayOfTables(tables) => tables.iter_mut().for_each(|t| visit(t, position)),
                _ => {}
            }
        }
    }
    visit(doc.as_table_mut(), position);
}

/// Whitespace before the key, between the key and `=`, and between `=` and the
/// value, as the template user writes `key` (or `phone`, for a key it lacks).
#[derive(Clone)]
pub(super) struct KeyStyle {
    indent: String,
    before_eq: String,
    after_eq: String,
}

pub(super) fn key_style(template: Option<&Table>, key: &str) -> KeyStyle {
    let found = template.and_then(|t| {
        let key = if t.contains_key(key) { key } else { "phone" };
        Some((t.key(key)?, t.get(key)?.as_value()?))
    });
    match found {
        Some((key, value)) => style_of(key, value),
        None => KeyStyle {
            indent: String::new(),
            before_eq: " ".to_owned(),
            after_eq: " ".to_owned(),
        },
    }
}

/// How `key = value` is spaced, whitespace only (comments in the decor are not style).
fn style_of(key: &Key, value: &Value) -> KeyStyle {
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

/// The last user written in `users`'s body (`NAME = { … }` or `NAME.phone = …`),
/// if any: the style a new user added there follows.
pub(super) enum BodyUser {
    /// `NAME = { … }`: the new user is one more such line.
    Inline(KeyStyle),
    /// `NAME.phone = …` and so on: the new user's keys are dotted too, each line
    /// spaced like the last user's `phone`.
    Dotted(KeyStyle),
}

pub(super) fn last_body_user(users: &Table) -> Option<BodyUser> {
    let (name, item) = users
        .iter()
        .filter(|(_, item)| is_body_entry(item))
        .last()?;
    match item {
        Item::Value(value) => Some(BodyUser::Inline(style_of(users.key(name)?, value))),
        // Each dotted line's indent is in the decor of its last key (`phone`).
        Item::Table(dotted) => Some(BodyUser::Dotted(key_style(Some(dotted), "phone"))),
        _ => None,
    }
}

/// A user written as a line (or dotted lines) of the `[users]` table's body.
fn is_body_entry(item: &Item) -> bool {
    match item {
        Item::Value(Value::InlineTable(_)) => true,
        Item::Table(t) => t.is_dotted(),
        _ => false,
    }
}

/// Adds `name` to `users`'s body, after its last entry, written as `style` says.
pub(super) fn add_to_body(users: &mut Table, name: &str, entry: InlineTable, style: BodyUser) {
    match style {
        BodyUser::Inline(style) => {
            let mut value = Value::InlineTable(entry);
            *value.decor_mut() = Decor::new(style.after_eq, "");
            let key = Key::new(name).with_leaf_decor(Decor::new(style.indent, style.before_eq));
            users.insert_formatted(&key, Item::Value(value));
        }
        BodyUser::Dotted(style) => {
            let mut dotted = Table::new();
            dotted.set_dotted(true);
            for (key, value) in entry.iter() {
                insert_styled(&mut dotted, key, value.clone(), style.clone());
            }
            users.insert(name, Item::Table(dotted));
        }
    }
}

pub(super) fn insert_styled(table: &mut Table, key: &str, mut value: Value, style: KeyStyle) {
    *value.decor_mut() = Decor::new(style.after_eq, "");
    let key = Key::new(key).with_leaf_decor(Decor::new(style.indent, style.before_eq));
    table.insert_formatted(&key, Item::Value(value));
}

/// Takes the text after an inline table's last value (the space before its closing
/// brace), so that whatever is appended after it can carry it instead.
pub(super) fn take_last_suffix(inline: &mut InlineTable) -> Option<String> {
    inline.iter_mut().last().map(|(_, value)| {
        let suffix = raw(value.decor().suffix()).to_owned();
        value.decor_mut().set_suffix("");
        suffix
    })
}

/// Adds `name = { … }` at the end of an inline `users = { … }`, with the space
/// before its closing brace kept there.
pub(super) fn add_inline(users: &mut InlineTable, name: &str, mut entry: InlineTable) {
    // An empty `{ }`: its space goes after the new entry, not before it too.
    if users.is_empty() {
        users.set_preamble("");
    }
    let last_suffix = take_last_suffix(users).unwrap_or_else(|| " ".to_owned());
    entry.decor_mut().set_prefix(" ");
    entry.decor_mut().set_suffix(last_suffix);
    let key = Key::new(name).with_leaf_decor(Decor::new(" ", " "));
    users.insert_formatted(&key, Value::InlineTable(entry));
}

pub(super) fn remove_inline(users: &mut InlineTable, name: &str) -> Option<()> {
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
    // The last one gone: the braces keep the space that was inside them.
    if users.is_empty() {
        let inside = raw(value.decor().suffix());
        users.set_preamble(
            if inside.trim().is_empty() {
                inside
            } else {
                " "
            }
            .to_owned(),
        );
    }
    Some(())
}

/// Removes the `[users.NAME]` table. Its prefix is the text between the line
/// before it and its header: the comment lines directly above the header go with
/// it; anything above a blank line stays, handed to whatever now follows.
pub(super) fn remove_table(doc: &mut DocumentMut, path: &[String]) {
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
    let kept = kept_above(kept, next.is_some().then_some(follower.as_str())).to_owned();
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
pub(super) fn remove_body_entry(doc: &mut DocumentMut, path: &[String]) {
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
    let index = parent
        .iter()
        .position(|(key, _)| key == name)
        .expect("found");
    parent.remove(name);
    // What now follows the kept lines: the next user's line, if there is one here.
    let next_line = parent
        .iter()
        .skip(index)
        .find_map(|(key, item)| match item {
            Item::Value(_) => parent
                .key(key)
                .map(|k| raw(k.leaf_decor().prefix()).to_owned()),
            Item::Table(t) if t.is_dotted() => first_line_prefix(t),
            _ => None,
        });
    let kept = kept_above(detached(&prefix), next_line.as_deref()).to_owned();
    if !kept.is_empty() {
        append_after_previous(doc, parent_path, index, &kept);
    }
}

/// The text above the first line a (dotted) table prints in its parent's body.
pub(super) fn first_line_prefix(table: &Table) -> Option<String> {
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
pub(super) fn append_after_previous(
    doc: &mut DocumentMut,
    path: &[String],
    index: usize,
    lines: &str,
) {
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
pub(super) fn last_line_decor(item: &mut Item) -> Option<&mut Decor> {
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
pub(super) fn detached(prefix: &str) -> &str {
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

pub(super) fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

pub(super) fn leading_blank_lines(text: &str) -> usize {
    text.split_inclusive('\n')
        .take_while(|line| line.ends_with('\n') && is_blank(line))
        .count()
}

pub(super) fn trailing_blank_lines(text: &str) -> usize {
    text.split_inclusive('\n')
        .rev()
        .take_while(|line| is_blank(line))
        .count()
}

/// The lines kept from a removed entry's prefix (comments about what follows, or the
/// file's header), with the blank lines under them kept too when `follower` (the
/// prefix of what now comes after them, if that is known) has none of its own: a
/// section's comment stays parted from the entries below it, and a later removal
/// doesn't take it for one entry's own. Blank lines alone are never kept.
fn kept_above<'a>(kept: &'a str, follower: Option<&str>) -> &'a str {
    let comments = without_trailing_blank_lines(kept);
    match follower {
        Some(follower) if !comments.is_empty() && leading_blank_lines(follower) == 0 => kept,
        _ => comments,
    }
}

pub(super) fn without_trailing_blank_lines(text: &str) -> &str {
    let mut end = text.len();
    for line in text.split_inclusive('\n').rev() {
        if !is_blank(line) {
            break;
        }
        end -= line.len();
    }
    &text[..end]
}

pub(super) fn without_leading_blank_lines(text: &str) -> &str {
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

pub(super) fn prefix_of(value: &Value) -> String {
    raw(value.decor().prefix()).to_owned()
}

pub(super) fn suffix_of(value: &Value) -> String {
    raw(value.decor().suffix()).to_owned()
}

/// Appends `room`: on one line, after a separator like the last one; in an array
/// with one room per line, on a line of its own with the same indentation, and a
/// comment that ended the last line stays on that line.
pub(super) fn push_room(rooms: &mut Array, room: &str) {
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
pub(super) fn remove_room(rooms: &mut Array, index: usize) {
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
