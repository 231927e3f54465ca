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

/// Every variable roomgate reads (a test checks the sources name no other).
pub const KNOWN: &[&str] = &[
    "ROOMGATE_ACL",
    "ROOMGATE_ADDR",
    "ROOMGATE_ADMIN_ADDR",
    "ROOMGATE_ADMIN_HOSTS",
    "ROOMGATE_ALERT_WEBHOOK_SECRET",
    "ROOMGATE_ALERT_WEBHOOK_SECRET_FILE",
    "ROOMGATE_ALERT_WEBHOOK_URL",
    "ROOMGATE_ALLOWED_COUNTRIES",
    "ROOMGATE_AUDIT_FOLD_KEYS",
    "ROOMGATE_AUDIT_FOLD_SECS",
    "ROOMGATE_AUDIT_KEEP",
    "ROOMGATE_AUDIT_KEY",
    "ROOMGATE_AUDIT_KEY_FILE",
    "ROOMGATE_AUDIT_LOG",
    "ROOMGATE_AUDIT_MAX_BYTES",
    "ROOMGATE_BREAKER_COOL_DOWN_SECS",
    "ROOMGATE_BREAKER_FAILURES",
    "ROOMGATE_CALL_BUDGET_PER_DAY",
    "ROOMGATE_CALL_BUDGET_PER_HOUR",
    "ROOMGATE_CALL_BUDGET_PER_MINUTE",
    "ROOMGATE_CHECKS_PER_IP_PER_MINUTE",
    "ROOMGATE_DATA_DIR",
    "ROOMGATE_DEFAULT_ROOM",
    "ROOMGATE_LOCKOUT_FAILURES",
    "ROOMGATE_LOCKOUT_MAX_SECS",
    "ROOMGATE_LOCKOUT_SECS",
    "ROOMGATE_LOCKOUT_WINDOW_SECS",
    "ROOMGATE_LOGINS_PER_IP_PER_MINUTE",
    "ROOMGATE_PASSKEYS",
    "ROOMGATE_PENDING_SIGNINS_MAX",
    "ROOMGATE_PUBLIC_URL",
    "ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID",
    "ROOMGATE_RECORDINGS_S3_ACCESS_KEY_ID_FILE",
    "ROOMGATE_RECORDINGS_S3_BUCKET",
    "ROOMGATE_RECORDINGS_S3_BUCKET_FILE",
    "ROOMGATE_RECORDINGS_S3_ENDPOINT",
    "ROOMGATE_RECORDINGS_S3_ENDPOINT_FILE",
    "ROOMGATE_RECORDINGS_S3_PATH_STYLE",
    "ROOMGATE_RECORDINGS_S3_REGION",
    "ROOMGATE_RECORDINGS_S3_REGION_FILE",
    "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY",
    "ROOMGATE_RECORDINGS_S3_SECRET_ACCESS_KEY_FILE",
    "ROOMGATE_RECORDING_LEASE_SECS",
    "ROOMGATE_RECORDING_LINK_SECS",
    "ROOMGATE_RECORDING_RETRY_SECS",
    "ROOMGATE_REDIS_PREFIX",
    "ROOMGATE_REDIS_URL",
    "ROOMGATE_REDIS_URL_FILE",
    "ROOMGATE_RESEND_COOLDOWN_SECS",
    "ROOMGATE_SESSION_KEY",
    "ROOMGATE_SESSION_KEY_FILE",
    "ROOMGATE_SESSION_TTL",
    "ROOMGATE_SMS_BUDGET_PER_DAY",
    "ROOMGATE_SMS_BUDGET_PER_HOUR",
    "ROOMGATE_SMS_BUDGET_PER_MINUTE",
    "ROOMGATE_STARTS_PER_PHONE",
    "ROOMGATE_STARTS_PER_USER",
    "ROOMGATE_STARTS_WINDOW_SECS",
    "ROOMGATE_TOKENS_PER_IP_PER_MINUTE",
    "ROOMGATE_TOKEN_TTL",
    "ROOMGATE_TRUSTED_PROXIES",
    "ROOMGATE_VERIFY_MAX_IN_FLIGHT",
    "ROOMGATE_VIDEO_MAX_IN_FLIGHT",
    "ROOMGATE_VIDEO_SDK_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_API_KEY_SECRET",
    "TWILIO_API_KEY_SECRET_FILE",
    "TWILIO_API_KEY_SID",
    "TWILIO_API_KEY_SID_FILE",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_AUTH_TOKEN_FILE",
    "TWILIO_VERIFY_BASE_URL",
    "TWILIO_VERIFY_SERVICE_SID",
    "TWILIO_VIDEO_BASE_URL",
];

/// Variables of roomgate's tools, not of the service: the load generator's binary
/// and the test harness's.
fn a_tools(name: &str) -> bool {
    name == "ROOMGATE_BIN" || name.starts_with("ROOMGATE_TEST_")
}

/// One warning per name in `names` that looks meant for roomgate and is not one it
/// reads, so a misspelt setting (`ROOMGATE_TRUSTED_PROXY`) doesn't silently leave its
/// default in force: every unknown `ROOMGATE_` name, and a `TWILIO_` name close to one
/// of ours (other Twilio tools have `TWILIO_` variables of their own).
pub fn unknown_names(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let closest = |name: &str| {
        KNOWN
            .iter()
            .map(|known| (strsim::levenshtein(name, known), *known))
            .filter(|(distance, _)| *distance <= 3)
            .min()
            .map(|(_, known)| known)
    };
    let mut warnings: Vec<String> = names
        .into_iter()
        .filter(|name| !KNOWN.contains(&name.as_str()) && !a_tools(name))
        .filter_map(|name| {
            let suggestion = closest(&name);
            let ours = name.starts_with("ROOMGATE_");
            let twilio_typo = name.starts_with("TWILIO_") && suggestion.is_some();
            (ours || twilio_typo).then(|| match suggestion {
                Some(known) => format!(
                    "{name} is not a roomgate setting and is ignored; did you mean {known}?"
                ),
                None => format!(
                    "{name} is not a roomgate setting and is ignored (README, \"Configuration\")"
                ),
            })
        })
        .collect();
    warnings.sort();
    warnings
}

#[cfg(test)]
mod known_tests {
    use super::*;

    #[test]
    fn misspelt_names_are_named_with_the_setting_meant() {
        let names = [
            "ROOMGATE_TRUSTED_PROXY",
            "ROOMGATE_ALLOWED_COUNTRIE",
            "ROOMGATE_SOMETHING_ELSE_ENTIRELY",
            "TWILIO_ACOUNT_SID",
            "TWILIO_REGION",
            "ROOMGATE_ADDR",
            "ROOMGATE_BIN",
            "ROOMGATE_TEST_REDIS_URL",
            "PATH",
        ]
        .map(String::from);
        assert_eq!(
            unknown_names(names),
            [
                "ROOMGATE_ALLOWED_COUNTRIE is not a roomgate setting and is ignored; did you mean ROOMGATE_ALLOWED_COUNTRIES?",
                "ROOMGATE_SOMETHING_ELSE_ENTIRELY is not a roomgate setting and is ignored (README, \"Configuration\")",
                "ROOMGATE_TRUSTED_PROXY is not a roomgate setting and is ignored; did you mean ROOMGATE_TRUSTED_PROXIES?",
                "TWILIO_ACOUNT_SID is not a roomgate setting and is ignored; did you mean TWILIO_ACCOUNT_SID?",
            ]
        );
    }

    /// Every `ROOMGATE_…` or `TWILIO_…` name the sources spell out is in [`KNOWN`] (or is
    /// a tool's, or the stem a budget's names are made from): a new setting can't be
    /// warned about as unknown.
    #[test]
    fn every_name_the_sources_read_is_known() {
        fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                // This file holds the list, and misspellings for its tests.
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("src/env.rs")
                {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let stems = ["ROOMGATE_SMS_BUDGET", "ROOMGATE_CALL_BUDGET"];
        let mut seen = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (at, _) in text.match_indices('"') {
                let rest = &text[at + 1..];
                if !(rest.starts_with("ROOMGATE_") || rest.starts_with("TWILIO_")) {
                    continue;
                }
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                // A prefix (`"ROOMGATE_"`) is not a name.
                if !rest[name.len()..].starts_with('"') || name.ends_with('_') {
                    continue;
                }
                seen += 1;
                assert!(
                    KNOWN.contains(&name.as_str())
                        || a_tools(&name)
                        || stems.contains(&name.as_str()),
                    "{name} ({}) is read but not in env::KNOWN",
                    file.display()
                );
            }
        }
        assert!(seen > 50, "{seen}");
    }
}
