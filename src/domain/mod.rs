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
        "{} is not a valid username (1-64 characters: a-z, 0-9, '.', '_', '-', starting with a letter or digit)",
        quoted(.0)
    )]
    Username(String),
    #[error(
        "{} is not a valid room name (1-64 characters: a-z, 0-9, '-', starting with a letter or digit)",
        quoted(.0)
    )]
    Room(String),
    #[error("{} is not an E.164 number{hint}", quoted(.0), hint = phone::e164_hint(.0))]
    NotE164(String),
    #[error("{} is not a valid phone number for its country", quoted(.0))]
    InvalidPhone(String),
    #[error("the code must be 4 to 10 digits")]
    OtpCode,
}

/// `value` quoted as Rust quotes it (escapes shown), cut short when long: a host who
/// pasted a whole paragraph where a name goes needs its beginning, not a line as long
/// as the paragraph (in every error that quotes it, and in the service's log).
fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    let count = value.chars().count();
    if count <= SHOWN + 16 {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(SHOWN).collect();
    format!("{start:?}… ({count} characters)")
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

#[cfg(test)]
mod quoting_tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_by_their_beginning_and_length() {
        let long = "a".repeat(100_000);
        let message = ParseError::Room(long).to_string();
        assert!(
            message.starts_with(&format!(
                "\"{}\"… (100000 characters) is not",
                "a".repeat(64)
            )),
            "{}",
            &message[..120]
        );
        assert!(message.len() < 300);
        // Short ones are quoted whole, escapes shown.
        assert!(
            ParseError::Username("Bad Name\t".into())
                .to_string()
                .starts_with("\"Bad Name\\t\" is not")
        );
    }
}

/// Whatever is typed or written, every parser at the edge answers (no panic), and
/// the ACL's batch phone parser answers as `PhoneNumber::parse` does for any string
/// of a plus and digits, not only the plans' examples.
#[cfg(test)]
mod arbitrary_input {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn every_parser_answers_anything(s in any::<String>()) {
            let _ = Username::parse(&s);
            let _ = Username::from_input(&s);
            let _ = RoomName::parse(&s);
            let _ = RoomName::from_input(&s);
            let _ = RoomPattern::parse(&s);
            let _ = OtpCode::parse(&s);
            let _ = PhoneNumber::parse(&s);
            let _ = PhoneParser::default().parse(&s);
            let _ = ParseError::Username(s.clone()).to_string();
        }

        #[test]
        fn the_batch_phone_parser_agrees_on_any_digits(digits in "[0-9]{1,16}") {
            let number = format!("+{digits}");
            prop_assert_eq!(PhoneParser::default().parse(&number), PhoneNumber::parse(&number));
        }
    }
}
