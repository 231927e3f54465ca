//! `PhoneNumber`: a valid E.164 number, masked wherever it is shown.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;

use regex::{Regex, RegexBuilder};

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
    /// One number. Many at once (an ACL) go through [`PhoneParser`], which gives the
    /// same answers faster.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        e164_digits(s)?;
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
        let region = number
            .country()
            .id()
            .and_then(|id| region_code(&format!("{id:?}")));
        Ok(Self::inline(s, number.code().value(), region))
    }

    /// `s`, a valid number in E.164 form (so at most 16 ASCII bytes).
    fn inline(s: &str, country_code: u16, region: Option<[u8; 2]>) -> Self {
        let mut e164 = [0u8; 16];
        e164[..s.len()].copy_from_slice(s.as_bytes());
        Self {
            e164,
            len: s.len() as u8,
            country_code,
            region,
        }
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

/// The digits of `s` if it is written as E.164: `+`, then 2 to 15 digits, the first
/// not 0. Whether they are a number is for `phonenumber` to say.
fn e164_digits(s: &str) -> Result<&str, ParseError> {
    let digits = s.strip_prefix('+').unwrap_or("");
    let well_formed = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if well_formed {
        Ok(digits)
    } else {
        Err(ParseError::NotE164(s.to_owned()))
    }
}

/// What to change in `s`, which is not an E.164 number, when its shape shows a usual
/// slip (`""` when it doesn't): a host's numbers come from business cards and phones,
/// written the way people write them.
pub(crate) fn e164_hint(s: &str) -> String {
    let trimmed = s.trim();
    if trimmed != s && !trimmed.is_empty() {
        return " (remove the spaces around it)".to_owned();
    }
    let separators = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')' | '/');
    if let Some(rest) = s.strip_prefix('+')
        && rest.chars().all(|c| c.is_ascii_digit() || separators(c))
        && rest.chars().any(separators)
    {
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        return format!(" (write it without spaces or punctuation: +{digits})");
    }
    if let Some(rest) = s.strip_prefix("00")
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        return format!(" (write + for the international 00: +{rest})");
    }
    if s.starts_with('0') {
        return " (start with + and the country code, leaving out the national 0: \
                07400 123456 in the UK is +447400123456)"
            .to_owned();
    }
    if s.starts_with("+0") {
        return " (after + comes the country code, not a national 0)".to_owned();
    }
    if let Some(rest) = s.strip_prefix('+')
        && rest.len() > 15
        && rest.chars().all(|c| c.is_ascii_digit())
    {
        return " (at most 15 digits after +)".to_owned();
    }
    if let Some(rest) = s.strip_prefix('+')
        && rest.chars().all(|c| c.is_ascii_digit())
        && rest.len() > 2
    {
        // Well formed, so what failed is the form: a national 0 written after the code.
        return " (a national 0 after the country code is left out: +44 07400 123456 is \
                +447400123456)"
            .to_owned();
    }
    String::new()
}

/// A region `phonenumber` names is two letters; anything else (`001`, its
/// non-geographic plans) is no region.
fn region_code(id: &str) -> Option<[u8; 2]> {
    <[u8; 2]>::try_from(id.as_bytes())
        .ok()
        .filter(|r| r.is_ascii())
}

/// Parses many numbers exactly as [`PhoneNumber::parse`] does, several times faster
/// and without loading `phonenumber`'s database: what an ACL load uses.
///
/// `phonenumber` matches every pattern of its number plans through one process-wide
/// LRU cache behind a mutex, keyed by the pattern's source, so each match hashes that
/// source (kilobytes for the US plan); and `parse`, `is_valid` and the region look-up
/// each walk the plan again. A 100,000-user load spent about 60 % of its time there,
/// under that lock (`perf`, docs/performance.md). And its database, decoded on first
/// use, stays resident for good (about 4 MiB). Here the same plans come from static
/// tables `build.rs` writes out of that database ([`plans`]), each pattern is compiled
/// once for the parser's lifetime and matched directly, and a number written plainly
/// as country code and national number gets its plan, region and validity from one
/// walk: `phonenumber`'s own (`validator::source_for`, then
/// `number_type(..) != Unknown`), replayed with its metadata. Anything less plain (a
/// national prefix it might strip, no plan) goes to [`PhoneNumber::parse`]. Dropping
/// the parser frees the compiled patterns. The tests check it against
/// [`PhoneNumber::parse`] on every plan.
#[derive(Default)]
pub struct PhoneParser {
    /// By country code and region id (`001` names several plans, one per code).
    plans: HashMap<(u16, &'static str), Plan>,
}

impl PhoneParser {
    pub fn parse(&mut self, s: &str) -> Result<PhoneNumber, ParseError> {
        let digits = e164_digits(s)?;
        match self.parse_plain(s, digits) {
            Some(parsed) => parsed,
            None => PhoneNumber::parse(s),
        }
    }

    /// [`PhoneNumber::parse`]'s answer when `digits` are plainly a country code and a
    /// national number that `phonenumber::parse` would take as they are; `None`
    /// otherwise (no such code, a national or carrier prefix it might strip, no plan
    /// found), for [`PhoneNumber::parse`] to answer.
    fn parse_plain(&mut self, s: &str, digits: &str) -> Option<Result<PhoneNumber, ParseError>> {
        // As `phonenumber::parse` finds the code: the shortest prefix that is one,
        // with more than two digits to take it from.
        if digits.len() <= 2 {
            return None;
        }
        let (code, national) = (1..=3).find_map(|len| {
            let code = digits[..len].parse::<u16>().ok()?;
            plans::regions(code).map(|_| (code, &digits[len..]))
        })?;
        if national.len() < 2 {
            return None;
        }
        // It looks the plan up, as `country().id()` does, without an Italian-style
        // leading zero; `is_valid` looks with it.
        let significant = national.trim_start_matches('0');
        if significant.is_empty() {
            return None;
        }
        let (data, valid) = self.source_for(code, significant)?;
        if self.plan(code, data).may_strip_prefix(data, national) {
            return None;
        }
        let valid = if significant.len() == national.len() {
            valid
        } else {
            self.source_for(code, national)
                .is_some_and(|(_, valid)| valid)
        };
        if !valid {
            return Some(Err(ParseError::InvalidPhone(s.to_owned())));
        }
        let region = Some(data.id)
            .filter(|_| data.is_country)
            .and_then(region_code);
        // Its E.164 form is `+`, the code and the national number: `s`.
        Some(Ok(PhoneNumber::inline(s, code, region)))
    }

    /// The plan `national` belongs to, and whether it is a valid number there:
    /// `phonenumber`'s `validator::source_for`, then `number_type(..) != Unknown`,
    /// without walking a plan twice.
    fn source_for(
        &mut self,
        code: u16,
        national: &str,
    ) -> Option<(&'static plans::PlanData, bool)> {
        let regions = plans::regions(code)?;
        if let [region] = regions {
            let data = region.as_ref()?;
            return Some((data, self.plan(code, data).is_valid(national)));
        }
        for region in regions {
            // A region `phonenumber` can't look up ends its search.
            let data = region.as_ref()?;
            let plan = self.plan(code, data);
            match &plan.leading_digits {
                Some(leading) => {
                    if leading.find(national).is_some_and(|m| m.start() == 0) {
                        return Some((data, plan.is_valid(national)));
                    }
                }
                None => {
                    if plan.is_valid(national) {
                        return Some((data, true));
                    }
                }
            }
        }
        None
    }

    fn plan(&mut self, code: u16, data: &'static plans::PlanData) -> &Plan {
        self.plans
            .entry((code, data.id))
            .or_insert_with(|| Plan::new(data))
    }
}

/// `phonenumber`'s number plans as `build.rs` wrote them out: static data, so only
/// the pages a load reads are ever mapped, and nothing stays behind.
mod plans {
    /// A pattern of a plan, with the lengths a number it matches may have (none: any).
    pub struct Desc {
        pub pattern: &'static str,
        pub lengths: &'static [u16],
    }

    /// What `PhoneParser` reads of one region's metadata.
    pub struct PlanData {
        pub id: &'static str,
        /// The id names a country (`phonenumber::country::Id` parses it).
        pub is_country: bool,
        pub general: Desc,
        /// The types' patterns in `number_type`'s order.
        pub types: &'static [Desc],
        pub leading_digits: Option<&'static str>,
        pub national_prefix: Option<&'static str>,
        pub national_prefix_for_parsing: Option<&'static str>,
    }

    include!(concat!(env!("OUT_DIR"), "/number_plans.rs"));

    /// The plans of country code `code`, in the order `phonenumber` tries them; `None`
    /// where it could not look one up. `None` for no such code.
    pub fn regions(code: u16) -> Option<&'static [Option<PlanData>]> {
        CODES
            .binary_search_by_key(&code, |(c, _)| *c)
            .ok()
            .map(|i| CODES[i].1)
    }
}

/// One region's patterns, each compiled when first needed.
struct Plan {
    general: Pattern,
    /// In `number_type`'s order; a number is valid if the general pattern and any
    /// of these match it.
    types: Vec<Pattern>,
    leading_digits: Option<Matcher>,
    national_prefix_for_parsing: Option<Matcher>,
}

impl Plan {
    fn new(data: &'static plans::PlanData) -> Self {
        Self {
            general: Pattern::new(&data.general),
            types: data.types.iter().map(Pattern::new).collect(),
            leading_digits: data.leading_digits.map(Matcher::new),
            national_prefix_for_parsing: data.national_prefix_for_parsing.map(Matcher::new),
        }
    }

    fn is_valid(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }

    /// Whether `phonenumber::parse` might take a national prefix (a trunk code, a
    /// carrier code) off the front of `national`: its `helper::national_number`,
    /// then its own check for the plain national prefix.
    fn may_strip_prefix(&self, data: &plans::PlanData, national: &str) -> bool {
        data.national_prefix
            .is_some_and(|prefix| national.starts_with(prefix))
            || self
                .national_prefix_for_parsing
                .as_ref()
                .is_some_and(|p| p.find(national).is_some_and(|m| m.start() == 0))
    }
}

/// `Descriptor::is_match`: a possible length, and the pattern matching from the start.
struct Pattern {
    lengths: &'static [u16],
    matcher: Matcher,
}

impl Pattern {
    fn new(desc: &'static plans::Desc) -> Self {
        Self {
            lengths: desc.lengths,
            matcher: Matcher::new(desc.pattern),
        }
    }

    fn is_match(&self, national: &str) -> bool {
        let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
        (self.lengths.is_empty() || self.lengths.contains(&length))
            && self.matcher.find(national).is_some_and(|m| m.start() == 0)
    }
}

/// One of `phonenumber`'s patterns, compiled on first use.
struct Matcher {
    source: &'static str,
    compiled: OnceCell<Option<Regex>>,
}

impl Matcher {
    fn new(source: &'static str) -> Self {
        Self {
            source,
            compiled: OnceCell::new(),
        }
    }

    /// `text` is ASCII digits (`e164_digits` saw to it), where `\d` means `[0-9]`
    /// with or without Unicode: compiled without, a pattern is a fraction of the
    /// size and time. One that needs Unicode to compile is compiled with it.
    fn find<'t>(&self, text: &'t str) -> Option<regex::Match<'t>> {
        self.compiled
            .get_or_init(|| {
                let compile = |unicode| {
                    RegexBuilder::new(self.source)
                        .ignore_whitespace(true)
                        .unicode(unicode)
                        .build()
                };
                compile(false).or_else(|_| compile(true)).ok()
            })
            .as_ref()
            // A pattern that doesn't compile (never seen: `phonenumber` compiles the
            // same way and would panic) matches nothing, so the number is refused.
            .and_then(|regex| regex.find(text))
    }
}

#[cfg(test)]
mod tests {
    use phonenumber::metadata::{DATABASE, Descriptor};

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

    /// Every plan's example numbers, and numbers a digit away from them (another
    /// first digit moves a NANP number between regions), give the same answer, region
    /// included, from both parsers. So do numbers with an Italian-style leading zero.
    #[test]
    fn the_batch_parser_answers_as_parse_does() {
        let mut parser = PhoneParser::default();
        let (mut checked, mut valid) = (0, 0);
        let mut check = |candidate: String| {
            let expected = PhoneNumber::parse(&candidate);
            assert_eq!(parser.parse(&candidate), expected, "{candidate}");
            checked += 1;
            valid += usize::from(expected.is_ok());
        };
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let kinds = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for example in kinds.into_iter().flatten().filter_map(Descriptor::example) {
                let number = format!("+{}{example}", meta.country_code());
                check(number.clone());
                check(format!("{number}0"));
                check(number[..number.len() - 1].to_owned());
                let cc = meta.country_code().to_string().len() + 1;
                for first in '0'..='9' {
                    let mut other = number.clone();
                    other.replace_range(cc..=cc, &first.to_string());
                    check(other);
                }
            }
        }
        // A national (trunk) prefix written after the country code is for
        // `phonenumber::parse` to take off; so is a carrier code.
        for meta in DATABASE.iter() {
            let Some(example) = meta.descriptors().general().example() else {
                continue;
            };
            let code = meta.country_code();
            for prefix in meta.national_prefix().into_iter().chain(["0", "1", "9"]) {
                check(format!("+{code}{prefix}{example}"));
            }
        }
        for italian in ["+390236618300", "+3906698", "+390669812345", "+37901234567"] {
            check(italian.to_owned());
        }
        // Not E.164 at all.
        for bad in [
            "",
            "+",
            "+0123",
            "14155550101",
            "+1415555010a",
            "+1234567890123456",
        ] {
            check(bad.to_owned());
        }
        assert!(
            checked > 10_000 && valid > 1_000,
            "{checked} checked, {valid} valid"
        );
    }

    /// Set for the child process of `an_acl_load_leaves_phonenumbers_database_unloaded`.
    const FRESH_PROCESS: &str = "ROOMGATE_TEST_FRESH_PROCESS";

    /// A server that loads its ACL must not be left holding `phonenumber`'s database
    /// (4 MiB for good). Other tests here load it, so the load is tried in a process of
    /// its own: this test binary again, running only the test below.
    #[test]
    fn an_acl_load_leaves_phonenumbers_database_unloaded() {
        let child = "domain::phone::tests::in_a_fresh_process_an_acl_load_reads_only_the_tables";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", child, "--ignored", "--test-threads=1"])
            .env(FRESH_PROCESS, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run in a process of its own by an_acl_load_leaves_phonenumbers_database_unloaded"]
    fn in_a_fresh_process_an_acl_load_reads_only_the_tables() {
        if std::env::var_os(FRESH_PROCESS).is_none() {
            return;
        }
        assert!(once_cell::sync::Lazy::get(&DATABASE).is_none());
        let acl =
            crate::acl::Acl::parse("acl.example.toml", include_str!("../../acl.example.toml"))
                .unwrap();
        assert!(acl.user_count() > 1);
        assert!(
            once_cell::sync::Lazy::get(&DATABASE).is_none(),
            "the ACL load decoded phonenumber's database"
        );
        // What decodes it, so the check above would see it.
        PhoneNumber::parse("+14155550101").unwrap();
        assert!(once_cell::sync::Lazy::get(&DATABASE).is_some());
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
