//! `OtpCode`: the digits a participant typed, kept secret (never printed or logged).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use super::ParseError;

/// A one-time code as typed by a participant: 4 to 10 digits (Verify's range), spaces
/// and dashes ignored. Digits typed in another script's form are read as the ASCII
/// digits they are: a Japanese input method gives full-width `６８２２２８`, an Arabic
/// or Persian keyboard `٦٨٢٢٢٨` / `۶۸۲۲۲۸`. Held as a secret: it never appears in
/// `Debug` or logs.
#[derive(Clone)]
pub struct OtpCode(SecretString);

/// The zero of each run of ten digits read as `0`–`9`: ASCII, Arabic-Indic, extended
/// Arabic-Indic (Persian, Urdu), Devanagari, Bengali, full-width.
const ZEROS: [u32; 6] = [0x30, 0x660, 0x6F0, 0x966, 0x9E6, 0xFF10];

fn ascii_digit(c: char) -> Option<char> {
    let c = u32::from(c);
    ZEROS
        .iter()
        .find_map(|zero| c.checked_sub(*zero).filter(|d| *d < 10))
        .and_then(|d| char::from_digit(d, 10))
}

impl OtpCode {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let mut digits = String::with_capacity(10);
        for c in s.chars() {
            // Full-width `－` and the long vowel mark `ー` an input method may give
            // for a dash, like `-`.
            if c.is_whitespace() || matches!(c, '-' | '\u{FF0D}' | '\u{30FC}') {
                continue;
            }
            match ascii_digit(c) {
                Some(d) if digits.len() < 10 => digits.push(d),
                _ => return Err(ParseError::OtpCode),
            }
        }
        if digits.len() >= 4 {
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
        for bad in [
            "",
            "123",
            "12345678901",
            "12a456",
            "１２３",
            "12³456",
            "12½456",
            "①②③④",
        ] {
            assert!(OtpCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn digits_of_other_scripts_are_read_as_ascii() {
        for typed in [
            "６８２２２８",
            "٦٨٢٢٢٨",
            "۶۸۲۲۲۸",
            "६८२२२८",
            "৬৮২২২৮",
            "６８２－２２８",
            "６８２　２２８",
        ] {
            assert_eq!(OtpCode::parse(typed).unwrap().expose(), "682228", "{typed}");
        }
    }

    #[test]
    fn debug_never_shows_the_code() {
        let code = OtpCode::parse("987654").unwrap();
        assert!(!format!("{code:?}").contains("987654"));
    }
}
