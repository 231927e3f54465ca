//! `OtpCode`: the digits a participant typed, kept secret (never printed or logged).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;

/// A one-time code as typed by a participant: 4 to 10 ASCII digits (Verify's range),
/// spaces and dashes ignored. Held as a secret: it never appears in `Debug` or logs.
#[derive(Clone)]
pub struct OtpCode(SecretString);

impl OtpCode {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let digits: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if (4..=10).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(SecretString::from(digits)))
        } else {
            Err(ParseError::OtpCode)
        }
    }

    /// The digits, for the one place that needs them: the verifier.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_digits_and_ignores_separators() {
        assert_eq!(OtpCode::parse(" 123 456 ").unwrap().expose(), "123456");
        assert_eq!(OtpCode::parse("123-456").unwrap().expose(), "123456");
    }

    #[test]
    fn rejects_non_codes() {
        for bad in ["", "123", "12345678901", "12a456", "١٢٣٤٥٦"] {
            assert!(OtpCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = OtpCode::parse("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }
}
