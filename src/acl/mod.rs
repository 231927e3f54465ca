//! The access list: which user may join which room, and the phone their codes go to.
//!
//! The host edits a TOML file by hand, for example:
//!
//! ```toml
//! [users.alice]
//! phone = "+14155550101"
//! rooms = ["standup", "all-hands"]
//!
//! [users.bob]
//! phone = "+447400123456"
//! rooms = ["*"]            # any room
//! ```
//!
//! Because a person writes it, a bad file is reported like a compiler would: every
//! problem as `FILE:LINE:COLUMN: KEY.PATH: message`, sorted by position, so that one
//! run of `roomgate acl check` is enough to fix them all. The one exception is a
//! TOML syntax or type error, after which nothing else can be trusted: it is
//! reported alone.
//!
//! An `Acl` is only ever built whole and valid; reloading means parsing a new one.

mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::domain::{PhoneNumber, RoomName, RoomPattern, Username};

/// A parsed, valid access list. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    users: BTreeMap<Username, AclUser>,
}

/// One user's entry. `Debug` shows only a masked phone number (see `PhoneNumber`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclUser {
    pub phone: PhoneNumber,
    /// Non-empty and without duplicates.
    pub rooms: Vec<RoomPattern>,
}

impl AclUser {
    pub fn may_join(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|pattern| pattern.matches(room))
    }
}

impl Acl {
    /// `origin` is how the file is named in errors (e.g. the path as given).
    pub fn parse(origin: &str, text: &str) -> Result<Acl, AclErrors> {
        parse::parse(origin, text)
    }

    /// Reads then parses; an unreadable file is a single error without a position.
    pub fn load(path: &Path) -> Result<Acl, AclErrors> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&origin, &text),
            Err(e) => Err(AclErrors(vec![AclError {
                origin,
                line: 0,
                column: 0,
                path: String::new(),
                message: format!("cannot read: {e}"),
            }])),
        }
    }

    pub fn user(&self, username: &Username) -> Option<&AclUser> {
        self.users.get(username)
    }

    /// The user's entry if they may join `room`.
    pub fn allowed(&self, username: &Username, room: &RoomName) -> Option<&AclUser> {
        self.user(username).filter(|user| user.may_join(room))
    }

    /// In username order.
    pub fn users(&self) -> impl Iterator<Item = (&Username, &AclUser)> {
        self.users.iter()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Distinct room patterns named in the file (`*` counts as one).
    pub fn room_count(&self) -> usize {
        self.users
            .values()
            .flat_map(|user| &user.rooms)
            .collect::<BTreeSet<_>>()
            .len()
    }
}

/// Parses the file at `path` and returns the one-line summary that
/// `roomgate acl check` prints, e.g. `3 users, 4 rooms`.
pub fn check_file(path: &Path) -> Result<String, AclErrors> {
    let acl = Acl::load(path)?;
    Ok(format!(
        "{}, {}",
        plural(acl.user_count(), "user"),
        plural(acl.room_count(), "room")
    ))
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One problem in an ACL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclError {
    /// The file as named by the caller.
    pub origin: String,
    /// 1-based; 0 when the problem has no position (the file could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 together with `line`.
    pub column: usize,
    /// The TOML key the problem is about, e.g. `users.carol.phone`; may be empty.
    pub path: String,
    /// A single line.
    pub message: String,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for AclError {}

/// Every problem found in an ACL file, sorted by position. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclErrors(pub Vec<AclError>);

impl fmt::Display for AclErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            error.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for AclErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup", "all-hands"]

[users.bob]
phone = "+447400123456"
rooms = ["*"]

[users.carol]
phone = "+61412345678"
rooms = ["standup"]
"#;

    fn sample() -> Acl {
        Acl::parse("acl.toml", SAMPLE).unwrap()
    }

    fn user(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s).unwrap()
    }

    #[test]
    fn looks_up_users_by_name() {
        let acl = sample();
        let alice = acl.user(&user("alice")).unwrap();
        assert_eq!(alice.phone.expose_e164(), "+14155550101");
        assert_eq!(
            alice.rooms,
            [
                RoomPattern::parse("standup").unwrap(),
                RoomPattern::parse("all-hands").unwrap()
            ]
        );
        assert!(acl.user(&user("mallory")).is_none());
    }

    #[test]
    fn allowed_checks_the_room() {
        let acl = sample();
        let alice = acl.allowed(&user("alice"), &room("standup")).unwrap();
        assert_eq!(alice.phone.expose_e164(), "+14155550101");
        assert!(acl.allowed(&user("alice"), &room("secret")).is_none());
        assert!(acl.allowed(&user("carol"), &room("all-hands")).is_none());
        assert!(acl.allowed(&user("mallory"), &room("standup")).is_none());
    }

    #[test]
    fn star_lets_a_user_into_any_room() {
        let acl = sample();
        for r in ["standup", "secret", "x"] {
            assert!(acl.allowed(&user("bob"), &room(r)).is_some(), "{r}");
        }
    }

    #[test]
    fn may_join_matches_any_listed_pattern() {
        let acl = sample();
        let alice = acl.user(&user("alice")).unwrap();
        assert!(alice.may_join(&room("standup")));
        assert!(alice.may_join(&room("all-hands")));
        assert!(!alice.may_join(&room("standups")));
    }

    #[test]
    fn counts_users_and_distinct_rooms() {
        let acl = sample();
        assert_eq!(acl.user_count(), 3);
        // standup (twice), all-hands and `*`.
        assert_eq!(acl.room_count(), 3);
        let names: Vec<_> = acl.users().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
    }

    #[test]
    fn debug_masks_phone_numbers() {
        let debug = format!("{:?}", sample());
        assert!(debug.contains("alice"), "{debug}");
        for full in ["4155550101", "7400123456", "412345678"] {
            assert!(!debug.contains(full), "{debug}");
        }
    }

    #[test]
    fn error_display_formats() {
        let mut error = AclError {
            origin: "acl.toml".into(),
            line: 7,
            column: 9,
            path: "users.carol.phone".into(),
            message: r#""555-0101" is not an E.164 number"#.into(),
        };
        assert_eq!(
            error.to_string(),
            r#"acl.toml:7:9: users.carol.phone: "555-0101" is not an E.164 number"#
        );
        error.path.clear();
        assert_eq!(
            error.to_string(),
            r#"acl.toml:7:9: "555-0101" is not an E.164 number"#
        );
        let unreadable = AclError {
            origin: "acl.toml".into(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "cannot read: denied".into(),
        };
        assert_eq!(unreadable.to_string(), "acl.toml: cannot read: denied");
        let both = AclErrors(vec![error, unreadable]);
        assert_eq!(
            both.to_string(),
            "acl.toml:7:9: \"555-0101\" is not an E.164 number\nacl.toml: cannot read: denied"
        );
    }

    #[test]
    fn load_reports_an_unreadable_file_without_position() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-acl.toml"));
        let errors = Acl::load(path).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        let error = &errors.0[0];
        assert_eq!((error.line, error.column), (0, 0));
        assert!(error.message.starts_with("cannot read: "), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: cannot read: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml"));
        let acl = Acl::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(acl.allowed(&user("alice"), &room("standup")).is_some());
        assert!(acl.allowed(&user("alice"), &room("all-hands")).is_some());
        assert!(acl.allowed(&user("bob"), &room("anything")).is_some());
        assert_eq!(acl.user(&user("carol")).unwrap().rooms.len(), 1);
        assert_eq!(check_file(path).unwrap(), "3 users, 4 rooms");
    }

    #[test]
    fn check_file_reports_every_error() {
        let dir = std::env::temp_dir().join(format!("roomgate-acl-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acl.toml");
        std::fs::write(&path, "[users.alice]\nphone = \"555-0101\"\nrooms = []\n").unwrap();
        let errors = check_file(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        let origin = path.display();
        assert_eq!(
            lines,
            [
                format!("{origin}:2:9: users.alice.phone: \"555-0101\" is not an E.164 number"),
                format!(
                    "{origin}:3:9: users.alice.rooms: no rooms listed (name at least one, or \"*\" for any room)"
                ),
            ]
        );
    }

    #[test]
    fn summary_uses_singular_for_one() {
        let dir = std::env::temp_dir().join(format!("roomgate-acl-one-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acl.toml");
        std::fs::write(
            &path,
            "[users.dan]\nphone = \"+14155550101\"\nrooms = [\"a\", \"b\"]\n",
        )
        .unwrap();
        let summary = check_file(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(summary.unwrap(), "1 user, 2 rooms");
    }
}
