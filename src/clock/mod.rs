//! Time as a dependency, so expiry and lockouts can be tested without sleeping.

pub mod text;

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use text::{BadDuration, BadTime, parse_duration, parse_rfc3339, rfc3339};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;

    /// Seconds since the Unix epoch (for JWT claims and JSON).
    fn unix_seconds(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs()
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to. For tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        Self(Mutex::new(start))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    /// Sets the clock back by `by`, as a time server stepping it does.
    pub fn rewind(&self, by: Duration) {
        *self.0.lock().expect("clock lock") -= by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().expect("clock lock")
    }
}
