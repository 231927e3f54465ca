//! Tracing set-up. Events carry masked phone numbers and never codes, tokens or
//! secrets; the filter comes from `RUST_LOG` (default `info`). Lines anonymous
//! requests can repeat at will are capped per call site ([`throttle`]).

pub mod throttle;

pub use throttle::REPEATABLE;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Logs go to stderr; stdout is kept for command output and local-mode codes.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    // The throttle sits under the filter: it only counts lines the filter lets through.
    let _ = tracing_subscriber::registry()
        .with(throttle::ThrottleLayer::installed())
        .with(filter)
        .with(fmt)
        .try_init();
}

/// Stable pseudonyms for usernames in logs: the same user gets the same `user` field
/// in every event (so a sign-in can be followed), but the log doesn't name anyone.
/// Keyed from the session key, so pseudonyms survive restarts when that key does.
#[derive(Clone)]
pub struct Pseudonyms {
    key: hmac::Hmac<sha2::Sha256>,
}

impl Pseudonyms {
    pub fn new(secret: &[u8]) -> Self {
        use hmac::Mac;
        let mut derive = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .expect("HMAC takes keys of any length");
        derive.update(b"roomgate log pseudonyms v1");
        let key = derive.finalize().into_bytes();
        Self {
            key: hmac::Hmac::new_from_slice(&key).expect("HMAC takes keys of any length"),
        }
    }

    /// `u-` and 12 hex digits.
    pub fn of(&self, username: &str) -> String {
        use hmac::Mac;
        let mut mac = self.key.clone();
        mac.update(username.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(14);
        out.push_str("u-");
        for b in &digest[..6] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_do_not_contain_the_name() {
        let a = Pseudonyms::new(b"key one");
        let b = Pseudonyms::new(b"key two");
        assert_eq!(a.of("alice"), a.of("alice"));
        assert_ne!(a.of("alice"), a.of("bob"));
        assert_ne!(a.of("alice"), b.of("alice"));
        assert!(!a.of("alice").contains("alice"));
        assert_eq!(a.of("alice").len(), 14);
    }
}
