//! `roomgate acl room NAME --recording … --retention-days …`: a room's
//! `[rooms.NAME]` table, written the way the rest of the file is.

use toml_edit::TableLike;

use super::*;

/// Sets the given settings of `room` (a setting left `None` is not touched),
/// keeping the comment after each old value. A room without a table gets a new
/// `[rooms.NAME]` at the end of the file, spaced like the last table before it.
/// Unchanged text if the room already has those values written.
pub fn set_room(
    origin: &str,
    text: &str,
    room: &RoomName,
    recording: Option<RecordingMode>,
    retention_days: Option<u32>,
) -> Result<String, EditError> {
    let (mut doc, layout) = open(origin, text)?;
    let name = room.as_str();
    let settings: Vec<(&str, Value)> = [
        recording.map(|mode| ("recording", Value::from(mode.as_str()))),
        retention_days.map(|days| ("retention_days", Value::from(i64::from(days)))),
    ]
    .into_iter()
    .flatten()
    .collect();

    match doc.get("rooms") {
        None => {
            let mut rooms = Table::new();
            // Like a file that only has [rooms.NAME] headers: no [rooms] line.
            rooms.set_implicit(true);
            doc.insert("rooms", Item::Table(rooms));
        }
        Some(Item::Table(_)) => {}
        Some(Item::Value(Value::InlineTable(_))) => {
            let rooms = doc["rooms"].as_inline_table_mut().expect("matched above");
            match rooms.get_mut(name) {
                Some(Value::InlineTable(entry)) => {
                    if !set_inline(entry, &settings) {
                        return Ok(text.to_owned());
                    }
                }
                Some(_) => return Err(not_a_table(origin, room)),
                None => {
                    let mut entry = InlineTable::new();
                    for (key, value) in settings {
                        entry.insert(key, value);
                    }
                    entry.fmt();
                    add_inline(rooms, name, entry);
                }
            }
            return Ok(finish(&doc, &layout));
        }
        Some(_) => return Err(unsupported(origin, "`rooms` is not a table")),
    }

    let rooms = doc["rooms"].as_table_mut().expect("a table, made so above");
    if let Some(item) = rooms.get_mut(name) {
        let changed = if let Some(table) = item.as_table_mut() {
            set_in_table(table, &settings)
        } else if let Some(entry) = item.as_inline_table_mut() {
            set_inline(entry, &settings)
        } else {
            return Err(not_a_table(origin, room));
        };
        return Ok(if changed {
            finish(&doc, &layout)
        } else {
            text.to_owned()
        });
    }

    // A new table after the last one printed, rooms' or users'.
    let printed = printed_tables(&doc);
    let template = printed
        .iter()
        .rposition(|t| t.path.len() == 2 && t.path[0] == "rooms")
        .or_else(|| {
            printed
                .iter()
                .rposition(|t| t.path.len() == 2 && t.path[0] == "users")
        })
        .map(|i| (i, table_at(&doc, &printed[i].path).expect("just found")));
    let style = |key: &str| key_style(template.map(|(_, t)| t), key);
    let mut table = last_table(&doc, template);
    for (key, value) in settings {
        insert_styled(&mut table, key, value, style(key));
    }
    doc.set_trailing("");
    doc["rooms"]
        .as_table_mut()
        .expect("checked above")
        .insert(name, Item::Table(table));
    Ok(finish(&doc, &layout))
}

/// In a `[rooms.NAME]` table (or dotted keys): an old value is replaced in place,
/// a new key is a new last line styled like the table's first. Whether anything
/// changed.
fn set_in_table(table: &mut Table, settings: &[(&str, Value)]) -> bool {
    let mut changed = false;
    for (key, value) in settings {
        if replace_value(table, key, value) {
            changed = true;
        } else if !table.contains_key(key) {
            let like = table.iter().next().map(|(k, _)| k.to_owned());
            let style = key_style(Some(table), like.as_deref().unwrap_or(key));
            insert_styled(table, key, value.clone(), style);
            changed = true;
        }
    }
    changed
}

/// In `NAME = { … }`: the space before its closing brace stays there.
fn set_inline(entry: &mut InlineTable, settings: &[(&str, Value)]) -> bool {
    let mut changed = false;
    for (key, value) in settings {
        if replace_value(entry, key, value) {
            changed = true;
        } else if !entry.contains_key(key) {
            let last_suffix = take_last_suffix(entry).unwrap_or_else(|| " ".to_owned());
            let mut value = value.clone();
            value.decor_mut().set_prefix(" ");
            value.decor_mut().set_suffix(last_suffix);
            entry.insert(*key, value);
            changed = true;
        }
    }
    changed
}

/// Replaces `key`'s value if it is there and different, keeping its decor (the
/// comment after it). Whether it did.
fn replace_value(entry: &mut dyn TableLike, key: &str, value: &Value) -> bool {
    let Some(Item::Value(old)) = entry.get_mut(key) else {
        return false;
    };
    let same = match (&*old, value) {
        (Value::String(a), Value::String(b)) => a.value() == b.value(),
        (Value::Integer(a), Value::Integer(b)) => a.value() == b.value(),
        _ => false,
    };
    if same {
        return false;
    }
    let mut new = value.clone();
    *new.decor_mut() = old.decor().clone();
    *old = new;
    true
}

fn not_a_table(origin: &str, room: &RoomName) -> EditError {
    unsupported(
        origin,
        format!("rooms.{} is not a table", key_segment(room.as_str())),
    )
}
