//! Typed readers for environment variables. Each reader takes the variable's name,
//! its default and its bounds; a bad value becomes one error line naming the
//! variable and the reader goes on with the default, so a start-up reports every
//! problem at once. Blank counts as unset everywhere.

use std::ops::RangeInclusive;
use std::time::Duration;

use reqwest::Url;

/// A variable source (the process environment, or a map in tests) and the error
/// lines found while reading it.
pub struct Env<F> {
    var: F,
    errors: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(var: F) -> Self {
        Self::with_errors(var, Vec::new())
    }

    /// Go on collecting after `errors` found elsewhere.
    pub fn with_errors(var: F, errors: Vec<String>) -> Self {
        Self { var, errors }
    }

    /// The value, or `None` when unset or blank.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|v| !v.trim().is_empty())
    }

    /// Record a problem the typed readers don't cover.
    pub fn push(&mut self, line: String) {
        self.errors.push(line);
    }

    pub fn extend(&mut self, lines: impl IntoIterator<Item = String>) {
        self.errors.extend(lines);
    }

    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The lines found so far.
    pub fn into_errors(self) -> Vec<String> {
        self.errors
    }

    /// `value` if nothing was wrong, else every line.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<String>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    /// A whole number in `range`: "NAME must be a whole number from MIN to MAX (got …)".
    pub fn number(&mut self, name: &str, default: u64, range: RangeInclusive<u64>) -> u64 {
        self.whole(name, default, range, "")
    }

    /// [`Env::number`] for a `u32` (a count); `range` must fit a `u32`.
    pub fn count(&mut self, name: &str, default: u32, range: RangeInclusive<u32>) -> u32 {
        let range = u64::from(*range.start())..=u64::from(*range.end());
        u32::try_from(self.number(name, default.into(), range)).unwrap_or(default)
    }

    /// [`Env::number`] for a `usize` (a size); `range` must fit a `usize`.
    pub fn size(&mut self, name: &str, default: usize, range: RangeInclusive<u64>) -> usize {
        let default_u64 = u64::try_from(default).unwrap_or(u64::MAX);
        usize::try_from(self.number(name, default_u64, range)).unwrap_or(default)
    }

    /// A duration in whole seconds in `range`: "NAME must be a whole number of
    /// seconds from MIN to MAX (got …)".
    pub fn seconds(
        &mut self,
        name: &str,
        default: Duration,
        range: RangeInclusive<u64>,
    ) -> Duration {
        Duration::from_secs(self.whole(name, default.as_secs(), range, " of seconds"))
    }

    /// An http(s) URL, `default` when unset: "NAME must be an http or https URL (got …)".
    pub fn http_url(&mut self, name: &str, default: &str) -> Option<Url> {
        let raw = self.var(name).unwrap_or_else(|| default.into());
        let url = parse_http_url(&raw);
        if url.is_none() {
            self.push(format!("{name} must be an http or https URL (got {raw:?})"));
        }
        url
    }

    /// An optional http(s) URL whose value may hold a secret, so the error line
    /// doesn't show it. `Some(Err(()))` says one was given but is not a URL.
    pub fn secret_http_url(&mut self, name: &str) -> Option<Result<Url, ()>> {
        let raw = self.var(name)?;
        let url = parse_http_url(raw.trim()).ok_or(());
        if url.is_err() {
            self.push(format!("{name} must be an http or https URL"));
        }
        Some(url)
    }

    fn whole(&mut self, name: &str, default: u64, range: RangeInclusive<u64>, what: &str) -> u64 {
        let Some(raw) = self.var(name) else {
            return default;
        };
        match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                let (min, max) = range.into_inner();
                self.push(format!(
                    "{name} must be a whole number{what} from {min} to {max} (got {raw:?})"
                ));
                default
            }
        }
    }
}

/// An absolute `http` or `https` URL with a host.
pub fn parse_http_url(raw: &str) -> Option<Url> {
    Url::parse(raw)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::new(move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn unset_or_blank_takes_the_default_and_every_bad_value_is_a_line() {
        let mut e = env(&[
            ("A", " 7 "),
            ("B", "  "),
            ("C", "x"),
            ("D", "0"),
            ("U", "ftp://x"),
        ]);
        assert_eq!(e.number("A", 1, 1..=10), 7);
        assert_eq!(e.number("B", 3, 1..=10), 3);
        assert_eq!(e.number("C", 3, 1..=10), 3);
        assert_eq!(
            e.seconds("D", Duration::from_secs(5), 1..=60),
            Duration::from_secs(5)
        );
        assert_eq!(e.count("UNSET", 9, 1..=10), 9);
        assert!(e.http_url("U", "https://x.example").is_none());
        assert!(e.http_url("UNSET", "https://x.example").is_some());
        assert_eq!(
            e.finish(()).unwrap_err(),
            [
                r#"C must be a whole number from 1 to 10 (got "x")"#,
                r#"D must be a whole number of seconds from 1 to 60 (got "0")"#,
                r#"U must be an http or https URL (got "ftp://x")"#,
            ]
        );
    }

    #[test]
    fn a_secret_url_is_not_shown() {
        let mut e = env(&[("W", "not a url?token=s3cret")]);
        assert_eq!(e.secret_http_url("W"), Some(Err(())));
        assert_eq!(e.secret_http_url("UNSET"), None);
        assert_eq!(e.into_errors(), ["W must be an http or https URL"]);
    }
}
