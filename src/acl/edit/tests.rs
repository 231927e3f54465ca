//! The ACL command line's edits, on text and on files.
use super::*;
use crate::test_support::TempDir;

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

/// Dave, with a GB number, in room x: refused where only US numbers are allowed.
fn add_dave_in_gb() -> Edit {
    Edit::Add {
        user: "dave".into(),
        phone: "+447400123456".into(),
        rooms: vec!["x".into()],
        role: Role::Participant,
        channels: vec![],
    }
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
        valid(&out).user(&user("carol")).unwrap().channels.to_vec(),
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
    // Any case, as names and rooms are typed.
    let shouted = edit_text("acl.toml", PLAIN, &policy, &set(&["SMS", " Call"])).unwrap();
    assert_eq!(shouted.text, done.text);
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

/// `text` with dave (a participant of `room_name`) added, once removing him again has
/// given back `text` byte for byte.
fn dave_added_and_removed(text: &str, room_name: &str) -> String {
    let out = add_user(
        "acl.toml",
        text,
        &user("dave"),
        &phone(DAVE),
        &[room(room_name)],
        Role::Participant,
    )
    .unwrap();
    assert_eq!(remove_user("acl.toml", &out, &user("dave")).unwrap(), text);
    out
}

/// Users stay together: a new one goes right after the last (and the comments that
/// are the last's), above what follows (room settings, and the comment that heads
/// them), spaced like the last; removing it gives back the same bytes.
#[test]
fn add_puts_a_user_after_the_last_one_not_after_room_settings() {
    let rooms = "\n# Rooms we record.\n[rooms.standup]\nrecording = \"host\"\n";
    let text = format!("{PLAIN}{rooms}");
    let out = dave_added_and_removed(&text, "standup");
    assert_eq!(
        out,
        format!("{PLAIN}\n[users.dave]\nphone = \"{DAVE}\"\nrooms = [\"standup\"]\n{rooms}")
    );
    valid(&out);

    // Two blank lines and a tab, like carol; the comment under her lines, which a
    // blank line parts from the room's settings, is hers and stays above dave.
    let text = format!("{ODD}\n[rooms.standup]\nrecording = \"host\"\n");
    let out = dave_added_and_removed(&text, "standup");
    assert_eq!(
        out,
        replaced(
            &text,
            "# the end\n",
            &format!("# the end\n\n\n\t[users.dave]\n\tphone=\"{DAVE}\"\n\trooms=[\"standup\"]\n")
        )
    );
    valid(&out);

    // A comment of bob's and the rooms' heading, each where it was.
    let rooms =
        "# bob is a host from March\n\n# Rooms we record.\n[rooms.standup]\nrecording = \"host\"\n";
    let text = format!("{PLAIN}{rooms}");
    let out = dave_added_and_removed(&text, "standup");
    assert_eq!(
        out,
        format!(
            "{PLAIN}# bob is a host from March\n\n[users.dave]\nphone = \"{DAVE}\"\n\
             rooms = [\"standup\"]\n\n# Rooms we record.\n[rooms.standup]\nrecording = \"host\"\n"
        )
    );
    valid(&out);
}

/// Users with no blank line between them: a comment under the last one's lines
/// stays his (a blank line now parts it from the new header, as it parted it from
/// what followed), and a blank line of spaces is left as written; removing the new
/// user gives back the same bytes.
#[test]
fn add_after_the_last_user_keeps_his_comment_and_odd_blank_lines() {
    let close = PLAIN.replace("\n\n[users.bob]", "\n[users.bob]");
    let rooms = "[rooms.standup]\nrecording = \"host\"\n";
    let text = format!("{close}# bob is a host from March\n\n{rooms}");
    let out = dave_added_and_removed(&text, "x");
    assert_eq!(
        out,
        format!(
            "{close}# bob is a host from March\n\n[users.dave]\nphone = \"{DAVE}\"\n\
             rooms = [\"x\"]\n\n{rooms}"
        )
    );
    valid(&out);

    let text = format!("{PLAIN} \t\n{rooms}");
    let out = dave_added_and_removed(&text, "x");
    assert_eq!(
        out,
        format!("{PLAIN}\n[users.dave]\nphone = \"{DAVE}\"\nrooms = [\"x\"]\n \t\n{rooms}")
    );
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
    let expected =
        format!("{PLAIN}\n[users.dave]\nphone = \"{DAVE}\"\nrooms = [\"*\"]\nrole = \"host\"\n");
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
    let example = include_str!("../../../acl.example.toml");
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

/// A user written only as a sub-table (`[users.dave.x]`: not a valid entry, but a
/// file a host may have) is removed with it, not a crash.
#[test]
fn remove_takes_a_user_written_only_as_sub_tables() {
    let text = format!("{PLAIN}\n[users.dave.x]\ny = 1\n\n[users.dave.z]\nw = 2\n");
    let out = edit_text(
        "acl.toml",
        &text,
        &AclPolicy::default(),
        &Edit::Remove {
            user: "dave".into(),
        },
    )
    .expect("removing the invalid entry fixes the file");
    assert_eq!(out.text, PLAIN);
    assert_eq!(out.errors_left, 0);
    valid(&out.text);
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
    let carol = "\n\n\t[users.carol]\n\tphone=\"+61412345678\"\n\trooms=[\"design-review\"]   \n";
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
    // Separated by a blank line, the block comment is not erin's alone: it stays,
    // parted from what now follows it as it was from her.
    let erin = "erin.phone = \"+447400123456\"  # work\nerin.rooms = [\"b\", \"c\"]\n";
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
    // The first of top-level dotted users: the blank line after them goes too,
    // rather than being left as the file's first line.
    let dotted = "users.a.phone = \"+14155550101\"\nusers.a.rooms = [\"x\"]\n\n\
                  users.b.phone = \"+14155550102\"\nusers.b.rooms = [\"y\"]\n";
    assert_eq!(
        remove_user("acl.toml", dotted, &user("a")).unwrap(),
        "users.b.phone = \"+14155550102\"\nusers.b.rooms = [\"y\"]\n"
    );
    // A file that started with a blank line still does.
    assert_eq!(
        remove_user("acl.toml", &format!("\n{dotted}"), &user("b")).unwrap(),
        "\nusers.a.phone = \"+14155550101\"\nusers.a.rooms = [\"x\"]\n"
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
            "acl.toml: not changed: it mixes Windows (CRLF) and Unix (LF) line endings \
             (line 3 ends Unix (LF), line 1 Windows (CRLF))"
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
            user: "Dave!".into(),
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
    assert!(lines[0].starts_with("acl.toml: not changed: \"Dave!\" is not a valid username"));
    assert_eq!(
        lines[1],
        "acl.toml: not changed: \"555-0101\" is not an E.164 number"
    );
    assert!(lines[2].starts_with("acl.toml: not changed: \"All Hands\" is not a valid room name"));
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
        &add_dave_in_gb(),
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
        err.to_string().ends_with(
            "alice is the only user, and a list needs at least one; add the next user first"
        ),
        "{err}"
    );
}

/// A file that already has an error (bob's number, line 6): an edit elsewhere is
/// refused with that error where it is on disk, not where it would be after the
/// change (line 2, once alice is gone), and says it is the file's, to fix first.
#[test]
fn an_edit_of_a_file_with_errors_reports_them_at_their_lines_on_disk() {
    let broken = replaced(PLAIN, "+447400123456", "555");
    let policy = AclPolicy::default();
    let remove_alice = Edit::Remove {
        user: "alice".into(),
    };
    let err = edit_text("acl.toml", &broken, &policy, &remove_alice).unwrap_err();
    assert!(matches!(err, EditError::AlreadyInvalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "acl.toml:6:9: users.bob.phone: \"555\" is not an E.164 number\n\
         acl.toml: not changed: the file already has an error (above, at line 6 as the file \
         is now); fix it first, by hand or with the `roomgate acl` command that changes it \
         (set-phone, say), then run this again"
    );

    // The command that fixes it is what it takes.
    let fixed = edit_text(
        "acl.toml",
        &broken,
        &policy,
        &Edit::SetPhone {
            user: "bob".into(),
            phone: "+14155550102".into(),
        },
    )
    .unwrap();
    assert_eq!(fixed.text, replaced(PLAIN, "+447400123456", "+14155550102"));

    // Adding someone is refused alike: the file's error is what to fix.
    let err = edit_text(
        "acl.toml",
        &broken,
        &policy,
        &Edit::Add {
            user: "carol".into(),
            phone: DAVE.into(),
            rooms: vec!["standup".into()],
            role: Role::Participant,
            channels: vec![],
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "acl.toml:6:9: users.bob.phone: \"555\" is not an E.164 number\n\
                          acl.toml: not changed: the file already has an error"
        ),
        "{err}"
    );

    let gb_only = AclPolicy {
        allowed_countries: Some(["GB".to_owned()].into()),
    };
    // Under a GB-only policy alice's US number is an error too: removing her fixes
    // that one, so it is made, and bob's is said to be left, at its line as written.
    let removed = edit_text("acl.toml", &broken, &gb_only, &remove_alice).unwrap();
    assert_eq!(
        removed.text,
        "[users.bob]\nphone = \"555\"\nrooms = [\"*\"]\n"
    );
    assert_eq!(
        removed.message,
        "removed alice from acl.toml\n\
         acl.toml:2:9: users.bob.phone: \"555\" is not an E.164 number\n\
         acl.toml still has an error (above, at line 2 as written), so roomgate keeps the \
         list it has until that is fixed too; warnings (two users with one number, say) come \
         once no error is left"
    );
    assert_eq!(removed.errors_left, 1);
}

/// Two errors (alice's number, line 2, and bob's, line 6): a command that fixes one
/// of them is made and says what is left, at its line as written; one that fixes
/// neither, or fixes one and brings its own, is refused; the last fix makes the file
/// valid and gives the warnings nobody could check before (here, the number bob was
/// given is alice's too).
#[test]
fn a_file_with_several_errors_is_fixed_one_command_at_a_time() {
    let broken = replaced(
        &replaced(PLAIN, "+14155550101", "123"),
        "+447400123456",
        "555",
    );
    let policy = AclPolicy::default();
    let set_phone = |user: &str, phone: &str| Edit::SetPhone {
        user: user.into(),
        phone: phone.into(),
    };

    let one_left = edit_text(
        "acl.toml",
        &broken,
        &policy,
        &set_phone("bob", "+14155550101"),
    )
    .expect("a fix of one of two errors is made");
    assert_eq!(
        one_left.text,
        replaced(
            &replaced(PLAIN, "+14155550101", "123"),
            "+447400123456",
            "+14155550101"
        )
    );
    assert_eq!(
        one_left.message,
        "bob's phone is now +1********01 in acl.toml\n\
         acl.toml:2:9: users.alice.phone: \"123\" is not an E.164 number\n\
         acl.toml still has an error (above, at line 2 as written), so roomgate keeps the \
         list it has until that is fixed too; warnings (two users with one number, say) come \
         once no error is left"
    );
    assert_eq!(one_left.errors_left, 1);
    assert!(Acl::parse_with("acl.toml", &one_left.text, &policy).is_err());

    // Fixing neither: refused, the file's errors given as before.
    let err = edit_text("acl.toml", &broken, &policy, &add_dave_in_gb()).unwrap_err();
    assert!(matches!(err, EditError::AlreadyInvalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "acl.toml:2:9: users.alice.phone: \"123\" is not an E.164 number\n\
         acl.toml:6:9: users.bob.phone: \"555\" is not an E.164 number\n\
         acl.toml: not changed: the file already has 2 errors (above, at lines 2, 6 as the \
         file is now); fix them first, by hand or one at a time with the `roomgate acl` \
         commands that change them (set-phone, say), then run this again"
    );

    // Fixing one and bringing one of its own (a number outside the allowed countries):
    // refused, with both said.
    let us_only = AclPolicy {
        allowed_countries: Some(["US".to_owned()].into()),
    };
    let err = edit_text(
        "acl.toml",
        &broken,
        &us_only,
        &set_phone("bob", "+447400123457"),
    )
    .unwrap_err();
    let EditError::AlreadyInvalid { errors, added, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((errors.0.len(), added.len()), (2, 1), "{err}");

    // The last fix: a valid file, and the warning the partial fix couldn't give.
    let fixed = edit_text(
        "acl.toml",
        &one_left.text,
        &policy,
        &set_phone("alice", "+14155550101"),
    )
    .unwrap();
    assert_eq!(fixed.text, replaced(PLAIN, "+447400123456", "+14155550101"));
    assert_eq!(fixed.errors_left, 0);
    assert_eq!(
        fixed.message,
        "alice's phone is now +1********01 in acl.toml\n\
         warning: alice, bob have the same phone number (+1********01): whoever holds that \
         phone can sign in as each of them"
    );
    Acl::parse_with("acl.toml", &fixed.text, &policy).expect("valid at last");
}

/// A change that changes nothing, in a file with an error: the file's errors are
/// said, and counted, so the CLI fails as it does for a change that leaves them.
#[test]
fn a_change_that_changes_nothing_in_a_broken_file_says_its_errors() {
    let broken = replaced(PLAIN, "+447400123456", "555");
    let out = edit_text(
        "acl.toml",
        &broken,
        &AclPolicy::default(),
        &Edit::Grant {
            user: "alice".into(),
            room: "standup".into(),
        },
    )
    .unwrap();
    assert_eq!(out.text, broken);
    assert_eq!(out.errors_left, 1);
    assert!(
        out.message.starts_with(
            "alice already has room standup; acl.toml not changed\n\
             acl.toml:6:9: users.bob.phone: \"555\" is not an E.164 number\n\
             acl.toml still has an error"
        ),
        "{}",
        out.message
    );
}

/// The revoke that fixes a file's last error, for a user who keeps the room through
/// "*", says both that and the list's warnings (here a number two users share).
#[test]
fn a_last_fix_by_revoke_says_any_room_and_the_warnings() {
    let broken = replaced(
        &replaced(PLAIN, "+447400123456", "+14155550101"),
        r#"rooms = ["*"]"#,
        r#"rooms = ["*", "standup", "standup"]"#,
    );
    let revoked = edit_text(
        "acl.toml",
        &broken,
        &AclPolicy::default(),
        &Edit::Revoke {
            user: "bob".into(),
            room: "standup".into(),
        },
    )
    .unwrap();
    assert_eq!(revoked.errors_left, 0);
    assert_eq!(
        revoked.message,
        "bob no longer has room standup in acl.toml, but may still join it through any room \
         (*); `roomgate acl revoke bob '*'` takes that away\n\
         warning: alice, bob have the same phone number (+1********01): whoever holds that \
         phone can sign in as each of them"
    );
}

/// A revoke made while another error is left still says when the room stays the
/// user's through "*".
#[test]
fn a_partial_fix_by_revoke_says_the_room_is_still_theirs_through_any_room() {
    let broken = replaced(
        &replaced(PLAIN, "+14155550101", "123"),
        r#"rooms = ["*"]"#,
        r#"rooms = ["*", "standup", "standup"]"#,
    );
    let policy = AclPolicy::default();
    let revoked = edit_text(
        "acl.toml",
        &broken,
        &policy,
        &Edit::Revoke {
            user: "bob".into(),
            room: "standup".into(),
        },
    )
    .expect("the duplicate's fix is made");
    assert_eq!(revoked.errors_left, 1);
    assert!(
        revoked.message.starts_with(
            "bob no longer has room standup in acl.toml, but may still join it through any \
             room (*); `roomgate acl revoke bob '*'` takes that away\nacl.toml:2:9: "
        ),
        "{}",
        revoked.message
    );
}

/// The other cases keep the after-change wording: a change that makes a valid file
/// invalid, one that fixes the file's error but brings its own, and a first user
/// added to an empty file (whose "no users" the change fixes).
#[test]
fn the_changes_own_errors_are_given_at_their_lines_after_it() {
    let us_only = AclPolicy {
        allowed_countries: Some(["US".to_owned()].into()),
    };
    let after = "acl.toml: not changed: the change would leave the errors above (lines as \
                 they would be after the change)";
    let broken = replaced(PLAIN, "+447400123456", "555");
    let err = edit_text(
        "acl.toml",
        &broken,
        &us_only,
        &Edit::SetPhone {
            user: "bob".into(),
            phone: "+447400123457".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, EditError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "acl.toml:6:9: users.bob.phone: +44********57 is in GB, which is not in \
             ROOMGATE_ALLOWED_COUNTRIES (US)\n{after}"
        )
    );
    for empty in ["", "# our list\n"] {
        let err = edit_text("acl.toml", empty, &us_only, &add_dave_in_gb()).unwrap_err();
        assert!(
            matches!(err, EditError::Invalid { .. }),
            "{empty:?}: {err:?}"
        );
        assert!(err.to_string().ends_with(after), "{err}");
    }

    // The file's error and one of the change's own: the file's at its line on disk,
    // the change's without one.
    let err = edit_text("acl.toml", &broken, &us_only, &add_dave_in_gb()).unwrap_err();
    let EditError::AlreadyInvalid { errors, added, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.0.len(), 1);
    assert_eq!(added.len(), 1);
    assert!(
        err.to_string().ends_with(
            "then run this again\nacl.toml: the change would also bring: users.dave.phone: \
             +44********56 is in GB, which is not in ROOMGATE_ALLOWED_COUNTRIES (US)"
        ),
        "{err}"
    );
}

/// An error whose message quotes a position (a duplicate's first place) is still
/// known as the file's once the lines above it move.
#[test]
fn an_error_quoting_a_position_is_known_after_lines_move() {
    let broken = replaced(PLAIN, r#"rooms = ["*"]"#, r#"rooms = ["x", "x"]"#);
    let err = edit_text(
        "acl.toml",
        &broken,
        &AclPolicy::default(),
        &Edit::Remove {
            user: "alice".into(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, EditError::AlreadyInvalid { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "acl.toml:7:15: users.bob.rooms[1]: duplicate room \"x\" (first listed at 7:10)"
        ),
        "{err}"
    );
    assert_eq!(
        without_positions("a (first listed at 12:3), 10 rooms, 4:x"),
        "a (first listed at _:_), 10 rooms, 4:x"
    );
}

/// A user with "*" keeps every room: the messages say so rather than let a host
/// believe a revoke took them out.
#[test]
fn a_room_revoked_from_a_user_with_any_room_is_still_theirs_and_said_so() {
    let policy = AclPolicy::default();
    let text = replaced(PLAIN, r#"rooms = ["*"]"#, r#"rooms = ["*", "standup"]"#);
    let revoked = edit_text(
        "acl.toml",
        &text,
        &policy,
        &Edit::Revoke {
            user: "bob".into(),
            room: "standup".into(),
        },
    )
    .unwrap();
    assert_eq!(revoked.text, PLAIN);
    assert_eq!(
        revoked.message,
        "bob no longer has room standup in acl.toml, but may still join it through any \
         room (*); `roomgate acl revoke bob '*'` takes that away"
    );
    let granted = edit_text(
        "acl.toml",
        PLAIN,
        &policy,
        &Edit::Grant {
            user: "bob".into(),
            room: "standup".into(),
        },
    )
    .unwrap();
    assert_eq!(
        granted.message,
        "bob may now join room standup (acl.toml); they could already, through any room (*)"
    );
    // Without "*", as before.
    let alice = edit_text(
        "acl.toml",
        PLAIN,
        &policy,
        &Edit::Grant {
            user: "alice".into(),
            room: "board".into(),
        },
    )
    .unwrap();
    assert_eq!(alice.message, "alice may now join room board (acl.toml)");
}

#[test]
fn a_file_not_in_utf8_is_not_edited_and_the_byte_is_located() {
    let dir = TempDir::new("latin1");
    let path = dir.0.join("acl.toml");
    let mut latin1 = PLAIN.as_bytes().to_vec();
    latin1.extend(b"# caf\xE9\n");
    fs::write(&path, &latin1).unwrap();
    let err = apply(
        &path,
        &AclPolicy::default(),
        &Edit::Remove { user: "bob".into() },
    )
    .unwrap_err();
    assert!(matches!(err, EditError::NotText { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(":8:6: byte 0xE9 is not UTF-8 text"),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), latin1);
}

/// Settings for a room nobody may join are written (the user may come later), and
/// said: most likely a misspelt room.
#[test]
fn settings_for_a_room_nobody_may_join_come_with_a_warning() {
    let policy = AclPolicy::default();
    let text = replaced(PLAIN, r#"rooms = ["*"]"#, r#"rooms = ["standup"]"#);
    let room = |name: &str| Edit::Room {
        room: name.into(),
        recording: Some("host".into()),
        retention_days: None,
    };
    let typo = edit_text("acl.toml", &text, &policy, &room("standpu")).unwrap();
    assert!(typo.text.contains("[rooms.standpu]"), "{}", typo.text);
    assert!(
        typo.message.ends_with(
            "\nwarning: nobody on the list may join room standpu: a misspelt room name?"
        ),
        "{}",
        typo.message
    );
    let real = edit_text("acl.toml", &text, &policy, &room("standup")).unwrap();
    assert!(!real.message.contains("warning"), "{}", real.message);
}

/// A number another user has already is allowed (a shared phone), but said: whoever
/// holds it can sign in as both.
#[test]
fn a_number_someone_else_has_is_taken_with_a_warning() {
    let policy = AclPolicy::default();
    let run = |edit: Edit| edit_text("acl.toml", PLAIN, &policy, &edit).unwrap();
    let added = run(Edit::Add {
        user: "dave".into(),
        phone: "+14155550101".into(),
        rooms: vec!["standup".into()],
        role: Role::Participant,
        channels: vec![],
    });
    assert!(added.text.contains("[users.dave]"), "{}", added.text);
    assert_eq!(
        added.message,
        "added dave (participant, phone +1********01, rooms standup) to acl.toml\n\
         warning: dave has the same phone number as alice: whoever holds that phone can \
         sign in as each of them"
    );
    let moved = run(Edit::SetPhone {
        user: "bob".into(),
        phone: "+14155550101".into(),
    });
    assert!(
        moved
            .message
            .ends_with("as alice: whoever holds that phone can sign in as each of them"),
        "{}",
        moved.message
    );
    // A number of one's own: nothing to say.
    let own = run(Edit::SetPhone {
        user: "bob".into(),
        phone: DAVE.into(),
    });
    assert!(!own.message.contains("warning"), "{}", own.message);
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

impl TempDir {
    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
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
    .unwrap()
    .message;
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
        err.to_string().starts_with(&format!(
            "{}: not changed: there is no such file",
            missing.display()
        )),
        "{err}"
    );
}

/// The first `acl add` makes the file (owner-only), and a valid ACL of that user;
/// nothing else makes a file, and a file made meanwhile is not overwritten.
#[test]
fn the_first_add_makes_the_file() {
    let dir = TempDir::new("first-add");
    let path = dir.0.join("acl.toml");
    let policy = AclPolicy::default();
    let add = |user: &str| Edit::Add {
        user: user.into(),
        phone: "+14155550101".into(),
        rooms: vec!["standup".into()],
        role: Role::Participant,
        channels: Vec::new(),
    };
    let err = apply(&path, &policy, &Edit::Remove { user: "bob".into() }).unwrap_err();
    assert!(matches!(err, EditError::Missing { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("not changed: there is no such file (`roomgate acl add` makes one; is --acl or ROOMGATE_ACL the list you meant?)"),
        "{err}"
    );
    assert!(dir.entries().is_empty());

    let message = apply(&path, &policy, &add("alice")).unwrap().message;
    assert!(message.starts_with("added alice"), "{message}");
    assert!(
        message.ends_with("(a new file, readable by its owner only)"),
        "{message}"
    );
    assert_eq!(dir.entries(), ["acl.toml"]);
    let acl = Acl::parse_with("acl.toml", &fs::read_to_string(&path).unwrap(), &policy).unwrap();
    assert_eq!(acl.user_count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The second is an ordinary edit of it.
    let message = apply(&path, &policy, &add("bob")).unwrap().message;
    assert!(!message.contains("new file"), "{message}");

    // Made as root in a directory someone else owns (the service's user, say), it is
    // theirs: a root-only list would be one the service can't read.
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::uid(&fs::metadata(&path).unwrap()) == 0 {
        use std::os::unix::fs::MetadataExt;
        let theirs = dir.0.join("service");
        fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let made = theirs.join("acl.toml");
        apply(&made, &policy, &add("alice")).unwrap();
        let meta = fs::metadata(&made).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        fs::remove_dir_all(&theirs).unwrap();
    }

    // Someone else made it between our look and our write: theirs stays.
    let theirs = dir.0.join("theirs.toml");
    fs::write(&theirs, "# mine\n").unwrap();
    let err = create_file(&theirs, "theirs.toml", b"ours\n").unwrap_err();
    assert!(matches!(err, EditError::ChangedOnDisk { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "# mine\n");
    assert_eq!(dir.entries(), ["acl.toml", "theirs.toml"]);
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

/// Two edits at once: the one that finds the file locked (by the other, comparing and
/// renaming) waits, then sees the other's change and refuses, rather than renaming
/// its own over it.
#[test]
fn an_edit_waits_for_another_and_then_sees_its_change() {
    let dir = TempDir::new("locked");
    let path = dir.0.join("acl.toml");
    fs::write(&path, "what we read\n").unwrap();
    // The other edit, between its comparison and its rename.
    let other = File::open(&path).unwrap();
    other.lock().unwrap();
    let ours = std::thread::spawn({
        let path = path.clone();
        move || replace_file(&path, "acl.toml", b"what we read\n", b"our edit\n")
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!ours.is_finished(), "the edit did not wait for the lock");
    let theirs = dir.0.join("theirs");
    fs::write(&theirs, "their edit\n").unwrap();
    fs::rename(&theirs, &path).unwrap();
    drop(other);
    let err = ours.join().unwrap().unwrap_err();
    assert!(matches!(err, EditError::ChangedOnDisk { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "their edit\n");
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

fn room_name(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

#[test]
fn set_room_appends_a_table_after_everything_and_keeps_comments() {
    let out = set_room(
        "acl.toml",
        ODD,
        &room_name("standup"),
        Some(RecordingMode::Host),
        Some(90),
    )
    .unwrap();
    // The last user is indented with a tab and two blank lines above, so the new
    // header is too; the comment that ended the file stays above it.
    let expected =
        format!("{ODD}\n\n\t[rooms.standup]\n\trecording=\"host\"\n\tretention_days=90\n");
    assert_eq!(out, expected);
    let acl = valid(&out);
    assert_eq!(
        acl.room_settings(&room_name("standup")),
        RoomSettings {
            recording: RecordingMode::Host,
            retention_days: 90
        }
    );
}

#[test]
fn set_room_changes_only_the_values_it_is_given() {
    let text = format!(
        "{PLAIN}\n# Rooms we record.\n[rooms.standup]\nrecording = \"host\"   # ask first\nretention_days = 30\n"
    );
    let out = set_room(
        "acl.toml",
        &text,
        &room_name("standup"),
        Some(RecordingMode::Always),
        None,
    )
    .unwrap();
    assert_eq!(
        out,
        replaced(
            &text,
            "recording = \"host\"   # ask first",
            "recording = \"always\"   # ask first"
        )
    );
    // A key the table lacks is a new last line; an unchanged value changes nothing.
    let text = format!("{PLAIN}\n[rooms.standup]\nrecording = \"host\"\n");
    let out = set_room(
        "acl.toml",
        &text,
        &room_name("standup"),
        Some(RecordingMode::Host),
        Some(7),
    )
    .unwrap();
    assert_eq!(out, format!("{text}retention_days = 7\n"));
    let same = set_room(
        "acl.toml",
        &out,
        &room_name("standup"),
        Some(RecordingMode::Host),
        Some(7),
    )
    .unwrap();
    assert_eq!(same, out);
}

#[test]
fn set_room_in_an_inline_rooms_table() {
    let text = format!("{PLAIN}\n[rooms]\nboard = {{ recording = \"host\" }}  # board\n");
    let out = set_room("acl.toml", &text, &room_name("board"), None, Some(365)).unwrap();
    assert_eq!(
        out,
        replaced(
            &text,
            "{ recording = \"host\" }",
            "{ recording = \"host\", retention_days = 365 }"
        )
    );
    valid(&out);
}

#[test]
fn room_edit_checks_its_arguments_and_says_what_it_did() {
    let edit = |room: &str, recording: Option<&str>, days: Option<&str>| {
        edit_text(
            "acl.toml",
            PLAIN,
            &AclPolicy::default(),
            &Edit::Room {
                room: room.to_owned(),
                recording: recording.map(str::to_owned),
                retention_days: days.map(str::to_owned),
            },
        )
    };
    let done = edit("standup", Some("host"), Some("90")).unwrap();
    assert_eq!(
        done.message,
        "room standup now has recording host, retention 90 days in acl.toml"
    );
    assert!(
        done.text
            .ends_with("[rooms.standup]\nrecording = \"host\"\nretention_days = 90\n")
    );
    let err = edit("*", Some("on"), Some("0")).unwrap_err().to_string();
    assert_eq!(
        err.lines().count(),
        3,
        "every bad argument is reported: {err}"
    );
    assert!(err.contains(r#""on" is not a recording setting"#), "{err}");
    assert!(
        err.contains(r#""0" is not a number of days from 1 to 3650"#),
        "{err}"
    );
    let err = edit("standup", None, None).unwrap_err().to_string();
    assert!(err.contains("give a setting to change"), "{err}");
}

/// Names and rooms are read as the join page reads them (`Erin ` is erin), as the
/// passkey and recording commands read theirs; the file gets them lowercase.
#[test]
fn names_and_rooms_are_read_as_the_join_page_reads_them() {
    let policy = AclPolicy::default();
    let edit = |text: &str, edit: Edit| edit_text("acl.toml", text, &policy, &edit).unwrap();
    let bob = "[users.bob]\nphone = \"+14155550102\"\nrooms = [\"standup\"]\n";
    let added = edit(
        bob,
        Edit::Add {
            user: "Erin ".into(),
            phone: "+14155550101".into(),
            rooms: vec!["Standup".into()],
            role: Role::Participant,
            channels: vec![],
        },
    );
    assert!(
        added.message.starts_with("added erin "),
        "{}",
        added.message
    );
    assert!(added.text.contains("[users.erin]"), "{}", added.text);
    assert!(
        added.text.contains("rooms = [\"standup\"]"),
        "{}",
        added.text
    );
    let granted = edit(
        &added.text,
        Edit::Grant {
            user: "ERIN".into(),
            room: "Design-Review".into(),
        },
    );
    assert!(
        granted
            .text
            .contains("rooms = [\"standup\", \"design-review\"]"),
        "{}",
        granted.text
    );
    let removed = edit(
        &granted.text,
        Edit::Remove {
            user: "Erin".into(),
        },
    );
    assert_eq!(removed.text, bob);
}

/// The owner of a file outside its group can't give the new file that group: the
/// refusal says it was the group, names it, and says who can (not "the file's owner",
/// which they are).
#[cfg(unix)]
#[test]
fn a_refused_owner_or_group_is_named_with_who_can_give_it() {
    use replace::{Id, name_in, ownership_error};
    let denied = || io::Error::from_raw_os_error(1);
    let cases = [
        (
            Id::Group(0),
            Some("root"),
            "cannot give the new file the old one's group, root (gid 0): Operation not \
             permitted (os error 1); run this as root or as a member of group root",
        ),
        (
            Id::Group(1234),
            None,
            "cannot give the new file the old one's group, gid 1234: Operation not permitted \
             (os error 1); run this as root or as a member of the group with gid 1234",
        ),
        (
            Id::Owner(65534),
            Some("nobody"),
            "cannot give the new file the old one's owner, nobody (uid 65534): Operation not \
             permitted (os error 1); run this as nobody or as root",
        ),
        (
            Id::Owner(4321),
            None,
            "cannot give the new file the old one's owner, uid 4321: Operation not permitted \
             (os error 1); run this as the user with uid 4321 or as root",
        ),
        (
            Id::Owner(0),
            Some("root"),
            "cannot give the new file the old one's owner, root: Operation not permitted \
             (os error 1); run this as root",
        ),
    ];
    for (id, name, expected) in cases {
        let err = ownership_error("acl.toml", "the old one's", id, name, denied());
        assert!(matches!(err, EditError::Ownership { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("acl.toml: not changed: {expected}")
        );
    }

    let group =
        "# local groups\nroot:x:0:\nstaff:x:50:alice,bob\nbroken\n:x:7:\nnogroup:x:65534:\n";
    assert_eq!(name_in(group, 0), Some("root"));
    assert_eq!(name_in(group, 50), Some("staff"));
    assert_eq!(name_in(group, 65534), Some("nogroup"));
    assert_eq!(name_in(group, 7), None);
    assert_eq!(name_in(group, 51), None);
    let passwd = "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n";
    assert_eq!(name_in(passwd, 65534), Some("nobody"));
}

/// Taking a room's last user away leaves its `[rooms.NAME]` settings for nobody: the
/// edit says so, as `acl check` would, and only what the edit brought.
#[test]
fn settings_left_for_a_room_nobody_may_join_are_pointed_out() {
    let policy = AclPolicy::default();
    let text = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\", \"design\"]\n\n\
                [users.bob]\nphone = \"+14155550102\"\nrooms = [\"design\"]\n\n\
                [rooms.standup]\nrecording = \"host\"\n";
    let revoked = edit_text(
        "acl.toml",
        text,
        &policy,
        &Edit::Revoke {
            user: "alice".into(),
            room: "standup".into(),
        },
    )
    .unwrap();
    assert!(
        revoked
            .message
            .ends_with("\nwarning: [rooms.standup] is for a room nobody on the list may join: a misspelt room name? (the room meant keeps the defaults)"),
        "{}",
        revoked.message
    );
    // Another user's room taken: nothing to say.
    let other = edit_text(
        "acl.toml",
        text,
        &policy,
        &Edit::Revoke {
            user: "alice".into(),
            room: "design".into(),
        },
    )
    .unwrap();
    assert!(!other.message.contains("warning"), "{}", other.message);
    let removed = edit_text(
        "acl.toml",
        text,
        &policy,
        &Edit::Remove {
            user: "alice".into(),
        },
    )
    .unwrap();
    assert!(
        removed.message.contains("warning: [rooms.standup]"),
        "{}",
        removed.message
    );
}

/// Channels given with spaces (`'sms, call'`) are read as typed names are: trimmed.
#[test]
fn channels_given_with_spaces_are_trimmed() {
    let edited = edit_text(
        "acl.toml",
        PLAIN,
        &AclPolicy::default(),
        &Edit::SetChannels {
            user: "bob".into(),
            channels: vec!["sms".into(), " call ".into()],
        },
    )
    .unwrap();
    assert!(
        edited.text.contains(r#"channels = ["sms", "call"]"#),
        "{}",
        edited.text
    );
}

/// Whatever a host's file holds (tables, sub-tables, inline and dotted users, arrays
/// of tables, comments, odd blank lines, CRLF, a byte order mark), no edit panics,
/// and what an edit returns is true of the text it returns: no errors left means a
/// list `serve` takes, errors left are the text's own, and a text left as it was
/// counts the file's errors.
mod arbitrary_files {
    use proptest::prelude::*;

    use super::*;

    const PIECES: &[&str] = &[
        "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n",
        "[users.bob]\nphone = '+447400123456'\nrooms = [\n  \"*\",  # all\n]\n",
        "[users.carol]\nphone = \"555\"\nrooms = [\"x\", \"x\"]\n",
        "[users.dave.x]\ny = 1\n",
        "[users.dave]\nrooms = []\n",
        "[users]\nerin = { phone = \"+14155550105\", rooms = [\"a\"] }\n",
        "[users]\nfrank.phone = \"+14155550106\"\nfrank.rooms = [\"b\"]\n",
        "users.gina = { phone = \"+14155550107\", rooms = [\"c\"] }\n",
        "[[users]]\nname = \"x\"\n",
        "[rooms.standup]\nrecording = \"host\"\n",
        "[rooms.nobody]\nretention_days = 5\n",
        "[rooms]\nboard = { recording = \"always\" }\n",
        "# a comment\n",
        "\n",
        " \t\n",
        "\t[users.hana]\n\tphone=\"+61412345678\"\n\trooms=[\"design-review\"]   \n",
        "[users.alice]\nphone = \"+14155550108\"\nrooms = [\"dup\"]\n",
        "phone = \"+14155550109\"\n",
        "[users.ivan]\nphone = \"+14155550110\"\nrooms = \"standup\"\nrole = \"host\"\n",
        "[users.judy]\nphone = \"+14155550111\"\nrooms = [\"*\"]\nchannels = [\"sms\", \"call\"]\n",
        "[users.kim]   # trailing\nphone   =   \"+14155550112\"\nrooms = [ \"a\" ,\"b\" ]\n",
        "[broken\n",
    ];

    fn edits() -> Vec<Edit> {
        let users = ["alice", "bob", "carol", "dave", "erin", "frank", "zed"];
        let mut edits = Vec::new();
        for user in users {
            edits.push(Edit::Remove { user: user.into() });
            edits.push(Edit::SetPhone {
                user: user.into(),
                phone: "+14155550199".into(),
            });
            edits.push(Edit::Grant {
                user: user.into(),
                room: "standup".into(),
            });
            edits.push(Edit::Revoke {
                user: user.into(),
                room: "x".into(),
            });
            edits.push(Edit::SetChannels {
                user: user.into(),
                channels: vec!["sms".into(), "call".into()],
            });
        }
        edits.push(Edit::Add {
            user: "zed".into(),
            phone: "+14155550198".into(),
            rooms: vec!["standup".into()],
            role: Role::Participant,
            channels: vec![],
        });
        edits.push(Edit::Room {
            room: "standup".into(),
            recording: Some("always".into()),
            retention_days: None,
        });
        edits
    }

    fn file() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(0..PIECES.len(), 0..7),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(pieces, crlf, bom)| {
                let mut text: String = pieces.iter().map(|&i| PIECES[i]).collect();
                if crlf {
                    text = text.replace('\n', "\r\n");
                }
                if bom {
                    text.insert(0, '\u{feff}');
                }
                text
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]
        #[test]
        fn no_edit_panics_and_each_says_what_it_left(text in file()) {
            let policy = AclPolicy::default();
            let before = Acl::parse_with("acl.toml", &text, &policy).err();
            for edit in edits() {
                let Ok(edited) = edit_text("acl.toml", &text, &policy, &edit) else {
                    continue;
                };
                let after = Acl::parse_with("acl.toml", &edited.text, &policy).err();
                let left = after.as_ref().map_or(0, |e| e.0.len());
                prop_assert_eq!(edited.errors_left, left, "{:?} on {:?}", edit, text);
                // A change to a broken file only ever takes errors away.
                if let (Some(after), true) = (&after, edited.text != text) {
                    let before = before.as_ref().expect("a valid file is never made invalid");
                    prop_assert!(after.0.len() < before.0.len(), "{:?} on {:?}", edit, text);
                    let was = problems(before);
                    for new in &after.0 {
                        prop_assert!(
                            was.contains(&problem(new)),
                            "{:?} on {:?} brought {}",
                            edit,
                            text,
                            new
                        );
                    }
                }
            }
        }
    }
}

/// A list whose users are all lines of the `[users]` table's body gets one more such
/// line, inline or dotted as the last user is, spaced like it, above what follows
/// (room settings and the comment heading them); removing it gives back the bytes.
#[test]
fn add_to_a_list_written_in_the_users_body_writes_a_line_like_the_last() {
    let rooms = "\n# Rooms we record.\n[rooms.x]\nrecording = \"host\"\n";
    let inline = "# top\n[users]\n# alice's\nalice = { phone = \"+14155550101\", rooms = [\"a\"] }  # boss\n\
                  \tbob  =  { phone = \"+447400123456\", rooms = [\"b\"] }\n";
    let text = format!("{inline}{rooms}");
    let out = dave_added_and_removed(&text, "x");
    assert_eq!(
        out,
        format!("{inline}\tdave  =  {{ phone = \"{DAVE}\", rooms = [\"x\"] }}\n{rooms}")
    );
    valid(&out);

    let dotted = "[users]\nalice = { phone = \"+14155550101\", rooms = [\"a\"] }\n\
                  \n  # erin's\n  erin.phone= \"+447400123456\"  # work\n  erin.rooms= [\"b\", \"c\"]\n";
    let out = dave_added_and_removed(dotted, "x");
    assert_eq!(
        out,
        format!("{dotted}  dave.phone= \"{DAVE}\"\n  dave.rooms= [\"x\"]\n")
    );
    valid(&out);

    // An empty `[users]` with room settings after it: the first user goes under it.
    let empty = "# people\n[users]\n";
    let out = dave_added_and_removed(&format!("{empty}{rooms}"), "x");
    assert_eq!(
        out,
        format!("{empty}dave = {{ phone = \"{DAVE}\", rooms = [\"x\"] }}\n{rooms}")
    );
    valid(&out);

    // A host who may be called: every key a line of its own, or in the braces.
    let calls = [Channel::Sms, Channel::Call];
    let host = |text: &str| {
        let out = add_user_with(
            "acl.toml",
            text,
            &user("dave"),
            &phone(DAVE),
            &[room("x")],
            Role::Host,
            &calls,
        )
        .unwrap();
        let acl = valid(&out);
        let dave = acl.user(&user("dave")).unwrap();
        assert!(dave.is_host());
        assert_eq!(dave.channels.to_vec(), calls.to_vec());
        out
    };
    assert_eq!(
        host(dotted),
        format!(
            "{dotted}  dave.phone= \"{DAVE}\"\n  dave.rooms= [\"x\"]\n  dave.role= \"host\"\n  \
             dave.channels= [\"sms\", \"call\"]\n"
        )
    );
    assert_eq!(
        host(&text),
        format!(
            "{inline}\tdave  =  {{ phone = \"{DAVE}\", rooms = [\"x\"], role = \"host\", \
             channels = [\"sms\", \"call\"] }}\n{rooms}"
        )
    );
}

/// A comment heading a group of users, parted from them by a blank line, is about the
/// group: removing its first user keeps it and its blank line, so removing the next
/// one doesn't take it for that user's own. In a `[users]` body as with tables, and
/// for the file's header comment above the first user.
#[test]
fn remove_keeps_a_group_comment_and_the_blank_line_under_it() {
    let body = "[users]\nalice = { phone = \"+14155550101\", rooms = [\"a\"] }\n\n\
                # contractors\n\n\
                bob = { phone = \"+14155550102\", rooms = [\"b\"] }\n\
                carol = { phone = \"+61412345678\", rooms = [\"c\"] }\n\
                dan = { phone = \"+447400123456\", rooms = [\"d\"] }\n";
    let out = remove_user("acl.toml", body, &user("bob")).unwrap();
    assert_eq!(
        out,
        replaced(
            body,
            "bob = { phone = \"+14155550102\", rooms = [\"b\"] }\n",
            ""
        )
    );
    let out = remove_user("acl.toml", &out, &user("carol")).unwrap();
    assert!(out.contains("# contractors\n\ndan = "), "{out}");
    valid(&out);

    let dotted = body.replace(
        "bob = { phone = \"+14155550102\", rooms = [\"b\"] }",
        "bob.phone = \"+14155550102\"\nbob.rooms = [\"b\"]",
    );
    let out = remove_user("acl.toml", &dotted, &user("bob")).unwrap();
    assert_eq!(
        out,
        replaced(
            &dotted,
            "bob.phone = \"+14155550102\"\nbob.rooms = [\"b\"]\n",
            ""
        )
    );

    let tables = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"a\"]\n\n\
                  # contractors\n\n\
                  # bob's\n[users.bob]\nphone = \"+14155550102\"\nrooms = [\"b\"]\n\
                  [users.carol]\nphone = \"+61412345678\"\nrooms = [\"c\"]\n";
    let out = remove_user("acl.toml", tables, &user("bob")).unwrap();
    assert_eq!(
        out,
        replaced(
            tables,
            "# bob's\n[users.bob]\nphone = \"+14155550102\"\nrooms = [\"b\"]\n",
            ""
        )
    );
    valid(&out);

    let header = "# Team list\n\n[users.alice]\nphone = \"+14155550101\"\nrooms = [\"a\"]\n\
                  [users.bob]\nphone = \"+14155550102\"\nrooms = [\"b\"]\n";
    let out = remove_user("acl.toml", header, &user("alice")).unwrap();
    assert_eq!(
        out,
        "# Team list\n\n[users.bob]\nphone = \"+14155550102\"\nrooms = [\"b\"]\n"
    );
}

/// A name or room written in capitals is an error in the file, and the commands that
/// name it find it, so it can be fixed with them as the error message says: `remove`
/// takes `Alice`, `grant` writes `Standup` as the room it means, `revoke` takes it.
/// Each is a partial fix, made while the other error is left.
#[test]
fn names_and_rooms_written_in_capitals_are_found_and_fixed_by_the_commands() {
    let text = "[users]\nAlice = { phone = \"+14155550101\", rooms = [\"a\"] }\n\
                bob = { phone = \"+14155550102\", rooms = [\"Standup\", \"x\"] }  # bob\n";
    let policy = AclPolicy::default();
    let edit = |edit: Edit| edit_text("acl.toml", text, &policy, &edit);

    let fixes = [
        (
            Edit::Remove {
                user: "alice".into(),
            },
            replaced(
                text,
                "Alice = { phone = \"+14155550101\", rooms = [\"a\"] }\n",
                "",
            ),
        ),
        (
            Edit::Grant {
                user: "bob".into(),
                room: "standup".into(),
            },
            replaced(text, "\"Standup\"", "\"standup\""),
        ),
        (
            Edit::Revoke {
                user: "bob".into(),
                room: "standup".into(),
            },
            replaced(text, "\"Standup\", ", ""),
        ),
    ];
    for (change, expected) in fixes {
        let made = edit(change).expect("a partial fix is made");
        assert_eq!(made.text, expected);
        assert_eq!(made.errors_left, 1);
    }

    // Found, but a change that fixes nothing is refused, the file's errors listed.
    let err = edit(Edit::SetPhone {
        user: "alice".into(),
        phone: "+14155550109".into(),
    })
    .unwrap_err();
    assert!(matches!(err, EditError::AlreadyInvalid { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("\"Alice\" is not a valid username"),
        "{err}"
    );

    // Two entries alike but for case: which one is meant is not guessed.
    let two = "[users]\nAlice = { phone = \"+14155550101\", rooms = [\"a\"] }\n\
               ALICE = { phone = \"+14155550102\", rooms = [\"a\"] }\n";
    let err = remove_user("acl.toml", two, &user("alice")).unwrap_err();
    assert!(matches!(err, EditError::UnknownUser { .. }), "{err:?}");
}

/// A file toml_edit would print otherwise (one user's dotted keys written apart) is
/// not edited, and the refusal says from which line on it would change.
#[test]
fn a_file_that_would_be_rewritten_is_refused_with_the_line() {
    let text = "[users]\nalice.phone = \"+14155550101\"\nbob.phone = \"+14155550102\"\n\
                alice.rooms = [\"a\"]\nbob.rooms = [\"b\"]\n";
    valid(text);
    let err = grant_room("acl.toml", text, &user("alice"), &room("c")).unwrap_err();
    assert!(matches!(err, EditError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("from line 3 on"), "{err}");
}

/// `users = { }` gets its first user inside the braces, spaced as an inline table is.
#[test]
fn add_to_an_empty_inline_users_table() {
    let out = dave_added_and_removed("users = { }\n", "x");
    assert_eq!(
        out,
        format!("users = {{ dave = {{ phone = \"{DAVE}\", rooms = [\"x\"] }} }}\n")
    );
    valid(&out);
}

/// The summary of where a file's errors are names up to twenty lines, then counts
/// them: a file with 100,000 errors made it a line 600 KB long.
#[test]
fn past_twenty_lines_the_errors_lines_are_counted() {
    let errors = |lines: std::ops::RangeInclusive<usize>| {
        AclErrors(
            lines
                .flat_map(|line| [line, line])
                .map(|line| AclError {
                    origin: "acl.toml".into(),
                    line,
                    column: 1,
                    path: format!("users.u{line}.phone"),
                    message: "not a phone number".into(),
                })
                .collect(),
        )
    };
    assert_eq!(at_lines(&errors(3..=3)).unwrap(), "line 3");
    let twenty: Vec<String> = (1..=20).map(|n| n.to_string()).collect();
    assert_eq!(
        at_lines(&errors(1..=20)).unwrap(),
        format!("lines {}", twenty.join(", "))
    );
    assert_eq!(
        at_lines(&errors(1..=100_000)).unwrap(),
        format!("lines {}, … (100000 lines in all)", twenty.join(", "))
    );
}
