//! Domain newtypes, parsed once at the edge so handlers never hold raw strings.

mod otp_code;
mod phone;
mod room;
mod username;

pub use otp_code::OtpCode;
pub use phone::{PhoneNumber, PhoneParser};
pub use room::{RoomName, RoomPattern};
pub use username::Username;

/// Why a value could not be parsed into a domain type. The messages are for hosts
/// (ACL errors, CLI) and never echo secret input such as codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "{0:?} is not a valid username (1-64 characters: a-z, 0-9, '.', '_', '-', starting with a letter or digit)"
    )]
    Username(String),
    #[error(
        "{0:?} is not a valid room name (1-64 characters: a-z, 0-9, '-', starting with a letter or digit)"
    )]
    Room(String),
    #[error("{number:?} is not an E.164 number{hint}", number = .0, hint = phone::e164_hint(.0))]
    NotE164(String),
    #[error("{0:?} is not a valid phone number for its country")]
    InvalidPhone(String),
    #[error("the code must be 4 to 10 digits")]
    OtpCode,
}

/// `[a-z0-9][<tail>]{0,63}`: the shape shared by usernames and room names.
/// The longest a username or a room name may be.
pub(crate) const MAX_SLUG_CHARS: usize = 64;

pub(crate) fn is_slug(s: &str, tail: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_SLUG_CHARS
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || tail(c))
}
