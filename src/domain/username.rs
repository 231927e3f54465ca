//! `Username`: a name as the ACL writes it, checked once at the edge.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ParseError, is_slug};

/// An ACL username: `[a-z0-9][a-z0-9._-]{0,63}`. It is also the Video identity.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    /// The longest a username may be.
    pub const MAX_CHARS: usize = super::MAX_SLUG_CHARS;

    /// Strict parse, as written in the ACL.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if is_slug(s, |c| matches!(c, b'.' | b'_' | b'-')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::Username(s.to_owned()))
        }
    }

    /// What a participant typed: trimmed and lowercased, then parsed.
    pub fn from_input(s: &str) -> Result<Self, ParseError> {
        Self::parse(&s.trim().to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

impl TryFrom<String> for Username {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> Self {
        u.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in ["alice", "a", "bob.smith", "x_1-2", "0day", &"a".repeat(64)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in [
            "",
            "Alice",
            ".alice",
            "-a",
            "al ice",
            "al/ice",
            "é",
            &"a".repeat(65),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn participant_input_is_trimmed_and_lowercased() {
        assert_eq!(
            Username::from_input("  Alice \n").unwrap().as_str(),
            "alice"
        );
        assert!(Username::from_input("  ").is_err());
    }
}
