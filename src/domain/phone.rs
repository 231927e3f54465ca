//! `PhoneNumber`: a valid E.164 number, masked wherever it is shown.

use std::fmt;

use super::ParseError;

/// A phone number in canonical E.164 form that `phonenumber` knows to be valid for its
/// country. `Debug` and `masked()` show only the country code and the last two digits;
/// the full number is reachable only through `expose_e164()`, for Verify.
///
/// Held inline, with no allocation: an ACL of 100,000 users holds 100,000 of these.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    /// `+` and at most 15 digits, ASCII.
    e164: [u8; 16],
    len: u8,
    country_code: u16,
    /// ISO 3166 alpha-2, ASCII.
    region: Option<[u8; 2]>,
}

impl PhoneNumber {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let digits = s.strip_prefix('+').unwrap_or("");
        let well_formed = (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !well_formed {
            return Err(ParseError::NotE164(s.to_owned()));
        }
        let number =
            phonenumber::parse(None, s).map_err(|_| ParseError::InvalidPhone(s.to_owned()))?;
        if !phonenumber::is_valid(&number) {
            return Err(ParseError::InvalidPhone(s.to_owned()));
        }
        let e164 = number.format().mode(phonenumber::Mode::E164).to_string();
        if e164 != s {
            // e.g. a national trunk prefix written after the country code.
            return Err(ParseError::NotE164(s.to_owned()));
        }
        // At most 16 ASCII bytes: checked as `well_formed` above, and equal to `s`.
        let mut inline = [0u8; 16];
        inline[..s.len()].copy_from_slice(s.as_bytes());
        // A region `phonenumber` names is two letters; anything else is no region.
        let region = number.country().id().and_then(|id| {
            <[u8; 2]>::try_from(format!("{id:?}").as_bytes())
                .ok()
                .filter(|r| r.is_ascii())
        });
        Ok(Self {
            e164: inline,
            len: s.len() as u8,
            country_code: number.code().value(),
            region,
        })
    }

    /// The full number. Only the Verify request and the local verifier need it.
    pub fn expose_e164(&self) -> &str {
        // ASCII by construction (`parse`).
        std::str::from_utf8(&self.e164[..usize::from(self.len)]).unwrap_or_default()
    }

    /// ISO 3166 alpha-2 region of the number, when `phonenumber` knows it.
    pub fn region(&self) -> Option<&str> {
        self.region
            .as_ref()
            .and_then(|r| std::str::from_utf8(r).ok())
    }

    /// `+44*******23`: country code and last two digits, for logs.
    pub fn masked(&self) -> String {
        let cc = self.country_code.to_string();
        let rest = &self.expose_e164()[1 + cc.len()..];
        let hidden = rest.len().saturating_sub(2);
        format!("+{cc}{}{}", "*".repeat(hidden), &rest[hidden..])
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_e164_numbers() {
        let uk = PhoneNumber::parse("+447400123456").unwrap();
        assert_eq!(uk.expose_e164(), "+447400123456");
        assert_eq!(uk.region(), Some("GB"));
        let us = PhoneNumber::parse("+14155550101").unwrap();
        assert_eq!(us.region(), Some("US"));
    }

    #[test]
    fn rejects_non_e164_and_invalid_numbers() {
        assert_eq!(
            PhoneNumber::parse("555-0101"),
            Err(ParseError::NotE164("555-0101".into()))
        );
        for bad in [
            "4155550101",
            "+",
            "+0123456",
            "+1 415 555 0101",
            "+12345678901234567",
        ] {
            assert!(
                matches!(PhoneNumber::parse(bad), Err(ParseError::NotE164(_))),
                "{bad}"
            );
        }
        // Well formed, but no such number plan.
        assert!(matches!(
            PhoneNumber::parse("+1000"),
            Err(ParseError::InvalidPhone(_))
        ));
    }

    #[test]
    fn held_inline_whatever_the_length() {
        // An ACL of 100,000 users holds 100,000 of these: no allocation each.
        assert!(std::mem::size_of::<PhoneNumber>() <= 24);
        for n in ["+447400123456", "+14155550101", "+4915123456789"] {
            let phone = PhoneNumber::parse(n).unwrap();
            assert_eq!(phone.expose_e164(), n);
        }
    }

    #[test]
    fn masks_all_but_country_code_and_last_two_digits() {
        let uk = PhoneNumber::parse("+447400123456").unwrap();
        assert_eq!(uk.masked(), "+44********56");
        assert!(!format!("{uk:?}").contains("7400123456"));
    }
}
