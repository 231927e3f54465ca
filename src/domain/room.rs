//! `RoomName` and `RoomPattern`: a room as URLs and the ACL name it, or `*`.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{ParseError, is_slug};

/// A room name: `[a-z0-9][a-z0-9-]{0,63}`. Safe to put in a URL path as is. Shared,
/// not copied, when cloned: an ACL of 100,000 users names the same few rooms.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomName(Arc<str>);

impl RoomName {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if is_slug(s, |c| c == b'-') {
            Ok(Self(s.into()))
        } else {
            Err(ParseError::Room(s.to_owned()))
        }
    }

    /// A room typed into the home page form: trimmed and lowercased, then parsed.
    pub fn from_input(s: &str) -> Result<Self, ParseError> {
        Self::parse(&s.trim().to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the two share one copy of the name (the ACL's parser makes them).
    #[cfg(test)]
    pub(crate) fn shares_copy_with(&self, other: &RoomName) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl AsRef<str> for RoomName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomName({})", self.0)
    }
}

impl TryFrom<String> for RoomName {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RoomName> for String {
    fn from(r: RoomName) -> Self {
        r.0.to_string()
    }
}

/// A room entry in the ACL: one room, or `*` for any room.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomPattern {
    Any,
    Room(RoomName),
}

impl RoomPattern {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s == "*" {
            Ok(Self::Any)
        } else {
            RoomName::parse(s).map(Self::Room)
        }
    }

    pub fn matches(&self, room: &RoomName) -> bool {
        match self {
            Self::Any => true,
            Self::Room(r) => r == room,
        }
    }
}

impl fmt::Display for RoomPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Room(r) => r.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        for ok in ["standup", "all-hands", "r2", &"r".repeat(64)] {
            assert!(RoomName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a_b",
            "a.b",
            "Room",
            "a b",
            "../x",
            &"r".repeat(65),
        ] {
            assert!(RoomName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns() {
        let standup = RoomName::parse("standup").unwrap();
        let other = RoomName::parse("other").unwrap();
        assert!(RoomPattern::parse("*").unwrap().matches(&other));
        assert!(RoomPattern::parse("standup").unwrap().matches(&standup));
        assert!(!RoomPattern::parse("standup").unwrap().matches(&other));
        assert!(RoomPattern::parse("**").is_err());
    }
}
