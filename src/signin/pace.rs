//! What a sign-in for a known name does with Verify, mimicked for every other name, so
//! neither the time an answer takes nor the page it shows says who is on the list.
//!
//! A sign-in for a listed name calls Verify twice: its start sends the code, its check
//! judges it. A sign-in that sends nothing makes the same two calls to something that
//! changes nothing (`FetchService`, [`crate::verify::Verifier::reachable`]), through the
//! same in-flight bound and breaker: its start's stand-in
//! ([`super::pending::SignIns::stand_in`]), in flight as long as a start would be (what
//! the call took, or a draw of the latest starts' times if longer), and, in its check's
//! place, one answered in a check's time (a draw of the latest checks'). A draw, not an
//! average, so the spread is the same too. So whether Verify is up, slow or down, every
//! name finds out in the same steps. (Those calls have a bound of their own, past
//! which one answers as the next call in flight to end does: [`super::stand_in`].)
//!
//! The outcome of a start is the other half. Where Verify refuses the number (invalid
//! or blocked: 60200, 60410, 60605; too many sends to it: 60203, 60212) or is over the
//! account's request rate (20429), that refusal is hidden: the sign-in carries on as
//! one for an unknown name does, and the host finds it in the log and the metrics.
//! (roomgate's own per-name and per-number limits are stricter than Verify's, and
//! apply to every name alike.) Where Verify is down (unreachable, timing out, 5xx,
//! refusing our credentials), the participant is told: a sign-in whose start, or its
//! stand-in, found Verify down says "busy" on its code page while Verify is marked
//! down ([`Pace::failing`], set by any call that finds it down and cleared by any that
//! gets an answer), and a check whose call fails says "busy" as a real one does.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::notice::Notice;
use crate::verify::VerifyError;

/// Latencies kept per kind: enough to draw from, small enough to follow a change.
const SAMPLES: usize = 32;
/// Until a start has been measured: a typical Twilio round trip.
const START_GUESS: Duration = Duration::from_millis(400);
/// Until a check has been measured.
const CHECK_GUESS: Duration = Duration::from_millis(250);
/// Verify down is shown to others this long at most, unless Verify answers a call
/// first: the lifetime of the sign-ins it could have touched.
const FAILING_FOR: Duration = crate::signin::SIGN_IN_TTL;

/// The latest latencies of one kind of call, in microseconds, in a fixed ring.
struct Samples {
    ring: [AtomicU32; SAMPLES],
    next: AtomicUsize,
    guess: Duration,
}

impl Samples {
    fn new(guess: Duration) -> Self {
        Self {
            ring: std::array::from_fn(|_| AtomicU32::new(0)),
            next: AtomicUsize::new(0),
            guess,
        }
    }

    fn record(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % SAMPLES;
        self.ring[slot].store(micros, Ordering::Relaxed);
    }

    fn draw(&self) -> Duration {
        let filled = self.next.load(Ordering::Relaxed).min(SAMPLES);
        if filled == 0 {
            return self.guess;
        }
        let slot = rand::rng().random_range(0..filled);
        Duration::from_micros(u64::from(self.ring[slot].load(Ordering::Relaxed)))
    }
}

pub struct Pace {
    starts: Samples,
    checks: Samples,
    /// When a call last found Verify out of service; cleared by any answer.
    failing: Mutex<Option<Instant>>,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            starts: Samples::new(START_GUESS),
            checks: Samples::new(CHECK_GUESS),
            failing: Mutex::new(None),
        }
    }
}

impl Pace {
    /// A start Verify answered, whatever it said (a code sent, the number refused),
    /// and how long it took: a measurement, and Verify is not down.
    pub fn start_answered(&self, took: Duration) {
        self.starts.record(took);
        self.up();
    }

    /// A check Verify answered, whatever it said, and how long it took.
    pub fn check_answered(&self, took: Duration) {
        self.checks.record(took);
        self.up();
    }

    /// A call to Verify failed with `err`: Verify out of service
    /// ([`VerifyError::is_outage`]), which is marked, or an answer, which clears the
    /// mark. No measurement: a timeout (or a 5xx, or no connection) says how long
    /// Verify took to fail, and kept, it would slow the stand-ins of names that sent
    /// nothing long after Verify was back.
    pub fn failed(&self, err: &VerifyError) {
        if err.is_outage() {
            self.down();
        } else {
            self.up();
        }
    }

    /// Verify answered a call: it is not down.
    pub fn up(&self) {
        *self.lock() = None;
    }

    /// A call found Verify out of service: what sign-ins whose own call found it so
    /// say, for now.
    pub fn down(&self) {
        *self.lock() = Some(Instant::now());
    }

    /// Verify's failure as a whole lately, if any: while there is one, a sign-in whose
    /// own call found Verify down says so on its code page.
    pub fn failing(&self) -> Option<Notice> {
        let since = *self.lock();
        since
            .filter(|since| since.elapsed() < FAILING_FOR)
            .map(|_| Notice::Unavailable)
    }

    /// The rest of a check, `took` into it: what a call made in a check's place
    /// waits more, so it is answered in a check's time.
    pub fn check_left(&self, took: Duration) -> Duration {
        self.checks.draw().saturating_sub(took)
    }

    /// The rest of a start, `age` after a sign-in began: what a check waits for a
    /// start in flight (at most `start_wait`). A start's stand-in lasts at least as
    /// long, and a sign-in that kept an earlier code waits as long at its check, so
    /// each looks like one that sent a code.
    pub fn start_left(&self, age: Duration, start_wait: Duration) -> Duration {
        self.starts.draw().saturating_sub(age).min(start_wait)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.failing.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_wait_what_was_measured_not_a_guess() {
        let pace = Pace::default();
        let long = Duration::from_secs(60);
        assert_eq!(pace.start_left(Duration::ZERO, long), START_GUESS);
        assert_eq!(pace.check_left(Duration::ZERO), CHECK_GUESS);
        for ms in [300, 500] {
            pace.start_answered(Duration::from_millis(1000));
            pace.check_answered(Duration::from_millis(ms));
        }
        for _ in 0..50 {
            // 400 ms into a start: 600 ms of it left.
            let left = pace.start_left(Duration::from_millis(400), long);
            assert_eq!(left, Duration::from_millis(600));
            // 100 ms into a check's stand-in: what is left of one of the checks.
            let left = pace.check_left(Duration::from_millis(100));
            assert!(
                left == Duration::from_millis(200) || left == Duration::from_millis(400),
                "{left:?}"
            );
        }
        // Past a start's time, nothing more; never past start_wait.
        assert_eq!(
            pace.start_left(Duration::from_secs(5), long),
            Duration::ZERO
        );
        let capped = pace.start_left(Duration::ZERO, Duration::from_millis(100));
        assert_eq!(capped, Duration::from_millis(100));
    }

    #[test]
    fn the_ring_keeps_the_latest_measurements() {
        let pace = Pace::default();
        for _ in 0..SAMPLES {
            pace.check_answered(Duration::from_secs(3));
        }
        for _ in 0..SAMPLES {
            pace.check_answered(Duration::from_millis(20));
        }
        for _ in 0..50 {
            assert_eq!(pace.checks.draw(), Duration::from_millis(20));
        }
    }

    fn timeout() -> VerifyError {
        VerifyError::Timeout
    }

    fn answered(code: u32, status: u16) -> VerifyError {
        VerifyError::from_api(crate::verify::TwilioApiError {
            code: Some(code),
            status,
            message: None,
            more_info: None,
        })
    }

    /// Verify failing slowly (timeouts) is no measurement of it: once it is back,
    /// the stand-ins wait what its answers take, not the timeouts (they waited 10 s
    /// for the 32 checks it took to push them out, on a quiet gate for hours).
    #[test]
    fn only_answers_are_measured() {
        let pace = Pace::default();
        pace.check_answered(Duration::from_millis(200));
        pace.start_answered(Duration::from_millis(300));
        for _ in 0..SAMPLES {
            pace.failed(&timeout());
        }
        assert_eq!(pace.failing(), Some(Notice::Unavailable));
        for _ in 0..50 {
            assert_eq!(pace.checks.draw(), Duration::from_millis(200));
            assert_eq!(pace.starts.draw(), Duration::from_millis(300));
        }
        // Any answer ends "down", a refusal too.
        pace.failed(&answered(60410, 403));
        assert_eq!(pace.failing(), None);
    }

    /// What marks Verify down: it out of service as a whole, whatever was asked (no
    /// answer, a 5xx, our credentials refused, our own guard refusing), never an
    /// answer about one request (a number, a code, the account's passing rate, an
    /// error Twilio makes for a channel or a setting): that one finds for a listed
    /// name only, and a page that said so would name it.
    #[tokio::test(start_paused = true)]
    async fn only_verify_out_of_service_is_marked_down_and_not_for_long() {
        let pace = Pace::default();
        for answer in [
            answered(60410, 403),
            answered(60203, 429),
            answered(20429, 429),
            answered(60223, 400),
            answered(21608, 403),
        ] {
            pace.failed(&answer);
            assert_eq!(pace.failing(), None, "{answer:?}");
        }
        for outage in [
            timeout(),
            answered(20003, 401),
            answered(20500, 500),
            VerifyError::Connect(anyhow::anyhow!("refused")),
        ] {
            pace.up();
            pace.failed(&outage);
            assert_eq!(pace.failing(), Some(Notice::Unavailable), "{outage:?}");
        }
        pace.start_answered(Duration::from_millis(5));
        assert_eq!(pace.failing(), None);
        pace.down();
        tokio::time::advance(FAILING_FOR).await;
        assert_eq!(pace.failing(), None);
    }
}
