//! One guard per outbound service (Verify, Video, the alert webhook): a bound on the
//! calls in flight and a circuit breaker, so a slow or dead service costs a fast
//! "busy" instead of requests piling up behind it.
//!
//! - **In-flight bound**: a [`Semaphore`]. When every permit is out the call is refused
//!   at once ([`Rejected::Saturated`]), never queued: a queue in front of a service
//!   that is already slow only turns its slowness into ours.
//! - **Circuit breaker**: after `failure_threshold` consecutive failures (timeouts,
//!   connection errors, 5xx: the service being down, not a participant's mistake) it
//!   opens for `cool_down`, refusing every call at once ([`Rejected::Open`]). Then it
//!   is half-open: exactly one call goes through as a probe. A probe that succeeds
//!   closes the breaker; one that fails opens it for another cool-down.
//!
//! The time is tokio's, so tests drive the cool-down with paused time. The breaker's
//! lock is a `std` mutex held for a few comparisons, never across the call itself.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::{BreakerState, Metrics, Outbound, Rejection};

/// How long a caller refused because of saturation is told to wait: calls end within
/// their timeout, so a few seconds usually frees a permit.
const SATURATED_RETRY: Duration = Duration::from_secs(5);

/// One service's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Calls in flight at once; at least 1.
    pub max_in_flight: usize,
    /// Consecutive failures that open the breaker; at least 1.
    pub failure_threshold: u32,
    /// How long the breaker stays open before letting one probe through.
    pub cool_down: Duration,
}

impl GuardConfig {
    /// Verify: a sign-in makes two calls (start, check), each well under a second when
    /// healthy. Twilio limits an account's concurrent REST requests (past it, 429 with
    /// error 20429; 100 is the usual default), so more than that in flight would only
    /// be refused there; this also bounds what a hanging Verify can tie up. 16 turned
    /// away a third of the sign-ins of 64 participants with Verify answering at once.
    pub const VERIFY: Self = Self {
        max_in_flight: 100,
        failure_threshold: 5,
        cool_down: Duration::from_secs(30),
    };
    /// Video: host controls and background room creation.
    pub const VIDEO: Self = Self {
        max_in_flight: 8,
        failure_threshold: 5,
        cool_down: Duration::from_secs(30),
    };
    /// The alert webhook is served by one delivery task, so one call is in flight at
    /// most anyway; the breaker spares a dead webhook (and the queue) its retries.
    pub const ALERTS: Self = Self {
        max_in_flight: 1,
        failure_threshold: 3,
        cool_down: Duration::from_secs(60),
    };
}

impl GuardConfig {
    /// The recordings bucket: background uploads and deletions, and `check`. A few
    /// parts in flight fill most links; a bucket that keeps failing is left alone for
    /// a while rather than hammered by every job's retries.
    pub const STORAGE: Self = Self {
        max_in_flight: 8,
        failure_threshold: 5,
        cool_down: Duration::from_secs(30),
    };
}

/// Why a call was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("too many calls already in flight")]
    Saturated,
    #[error("circuit breaker open after repeated failures")]
    Open {
        /// Until the breaker lets a probe through (at least a second).
        retry_in: Duration,
    },
}

impl Rejected {
    /// What to suggest in `Retry-After`.
    pub fn retry_after(self) -> Duration {
        match self {
            Self::Saturated => SATURATED_RETRY,
            Self::Open { retry_in } => retry_in,
        }
    }

    fn reason(self) -> Rejection {
        match self {
            Self::Saturated => Rejection::Saturated,
            Self::Open { .. } => Rejection::Open,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The cool-down is over; `probing` while the one probe is out.
    HalfOpen {
        probing: bool,
    },
}

struct Inner {
    service: Outbound,
    config: GuardConfig,
    permits: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    metrics: Option<Metrics>,
}

/// A service's guard. Cheap to clone; clones share the bound and the breaker.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("service", &self.inner.service.as_str())
            .field("config", &self.inner.config)
            .field("breaker", &*self.breaker())
            .finish()
    }
}

impl Guard {
    /// `metrics`, when given, shows rejections, the breaker's state and calls in flight.
    pub fn new(service: Outbound, config: GuardConfig, metrics: Option<Metrics>) -> Self {
        if let Some(m) = &metrics {
            m.outbound_guarded(service);
        }
        let max_in_flight = config.max_in_flight.max(1);
        Self {
            inner: Arc::new(Inner {
                service,
                config: GuardConfig {
                    max_in_flight,
                    failure_threshold: config.failure_threshold.max(1),
                    cool_down: config.cool_down,
                },
                permits: Arc::new(Semaphore::new(max_in_flight)),
                breaker: Mutex::new(Breaker::Closed { failures: 0 }),
                metrics,
            }),
        }
    }

    /// Admit one call, or say at once why not. The call reports how it went through
    /// [`Permit::finish`]; a permit dropped unfinished (the caller gave up) counts as
    /// neither success nor failure.
    pub fn admit(&self) -> Result<Permit, Rejected> {
        let probe = match self.enter() {
            Ok(probe) => probe,
            Err(rejected) => return Err(self.rejected(rejected)),
        };
        let Ok(permit) = self.inner.permits.clone().try_acquire_owned() else {
            if probe {
                // Not sent, so it proved nothing: the next caller may probe.
                *self.breaker() = Breaker::HalfOpen { probing: false };
            }
            return Err(self.rejected(Rejected::Saturated));
        };
        if let Some(m) = &self.inner.metrics {
            m.outbound_in_flight(self.inner.service, 1);
        }
        Ok(Permit {
            guard: self.clone(),
            _permit: permit,
            probe,
            finished: false,
        })
    }

    /// Whether a call made now would be admitted, without taking a permit. For a step
    /// that answers at once and makes its call in the background (a sign-in): it can
    /// say "busy" while the participant is still there. A rejection is counted.
    pub fn check(&self) -> Result<(), Rejected> {
        let verdict = match *self.breaker() {
            Breaker::Open { until } if Instant::now() < until => Err(open_for(until)),
            Breaker::HalfOpen { probing: true } => Err(Rejected::Open {
                retry_in: Duration::from_secs(1),
            }),
            _ if self.inner.permits.available_permits() == 0 => Err(Rejected::Saturated),
            _ => Ok(()),
        };
        verdict.map_err(|r| self.rejected(r))
    }

    /// Decide under the lock whether the breaker lets a call through, and whether that
    /// call is the half-open probe.
    fn enter(&self) -> Result<bool, Rejected> {
        let mut breaker = self.breaker();
        match *breaker {
            Breaker::Closed { .. } => Ok(false),
            Breaker::Open { until } if Instant::now() < until => Err(open_for(until)),
            Breaker::Open { .. } | Breaker::HalfOpen { probing: false } => {
                *breaker = Breaker::HalfOpen { probing: true };
                drop(breaker);
                self.show(BreakerState::HalfOpen);
                Ok(true)
            }
            Breaker::HalfOpen { probing: true } => Err(Rejected::Open {
                retry_in: Duration::from_secs(1),
            }),
        }
    }

    fn finish(&self, probe: bool, succeeded: bool) {
        let mut breaker = self.breaker();
        let before = *breaker;
        let after = match (before, succeeded) {
            // The service answered like a working service: whatever came before, it's up.
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::HalfOpen { .. }, false) if probe => self.open(),
            (Breaker::Closed { failures }, false) => {
                let failures = failures + 1;
                if failures >= self.inner.config.failure_threshold {
                    self.open()
                } else {
                    Breaker::Closed { failures }
                }
            }
            // A call admitted before the breaker opened, failing late, adds nothing.
            (state, false) => state,
        };
        *breaker = after;
        drop(breaker);
        match (before, after) {
            (Breaker::Closed { .. }, Breaker::Closed { .. }) => {}
            (_, Breaker::Closed { .. }) => {
                tracing::info!(
                    service = self.inner.service.as_str(),
                    "circuit breaker closed"
                );
                self.show(BreakerState::Closed);
            }
            (_, Breaker::Open { .. }) if !matches!(before, Breaker::Open { .. }) => {
                tracing::warn!(
                    service = self.inner.service.as_str(),
                    cool_down_secs = self.inner.config.cool_down.as_secs(),
                    "circuit breaker open: calls are answered busy until a probe succeeds"
                );
                self.show(BreakerState::Open);
                if let Some(m) = &self.inner.metrics {
                    m.breaker_opened(self.inner.service);
                }
            }
            _ => {}
        }
    }

    fn open(&self) -> Breaker {
        Breaker::Open {
            until: Instant::now() + self.inner.config.cool_down,
        }
    }

    fn abandon(&self, probe: bool) {
        if probe {
            let mut breaker = self.breaker();
            if *breaker == (Breaker::HalfOpen { probing: true }) {
                *breaker = Breaker::HalfOpen { probing: false };
            }
        }
    }

    fn rejected(&self, rejected: Rejected) -> Rejected {
        if let Some(m) = &self.inner.metrics {
            m.outbound_rejected(self.inner.service, rejected.reason());
        }
        rejected
    }

    fn show(&self, state: BreakerState) {
        if let Some(m) = &self.inner.metrics {
            m.set_breaker_state(self.inner.service, state);
        }
    }

    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // The state is a plain value, valid whatever panicked while it was held.
        self.inner
            .breaker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn open_for(until: Instant) -> Rejected {
    Rejected::Open {
        retry_in: until
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1)),
    }
}

/// One admitted call. Holds its in-flight slot until dropped.
pub struct Permit {
    guard: Guard,
    _permit: OwnedSemaphorePermit,
    probe: bool,
    finished: bool,
}

impl Permit {
    /// How the call went: `succeeded` when the service answered the way a working
    /// service does (a success, or a 4xx about the request), not when it timed out,
    /// could not be reached or failed on its side (5xx).
    pub fn finish(mut self, succeeded: bool) {
        self.finished = true;
        self.guard.finish(self.probe, succeeded);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            self.guard.abandon(self.probe);
        }
        if let Some(m) = &self.guard.inner.metrics {
            m.outbound_in_flight(self.guard.inner.service, -1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: GuardConfig = GuardConfig {
        max_in_flight: 2,
        failure_threshold: 3,
        cool_down: Duration::from_secs(30),
    };

    fn guard() -> Guard {
        Guard::new(Outbound::Verify, CONFIG, None)
    }

    fn fail(guard: &Guard, n: u32) {
        for _ in 0..n {
            guard.admit().unwrap().finish(false);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bound_answers_saturated_at_once_and_frees_on_drop() {
        let guard = guard();
        let a = guard.admit().unwrap();
        let _b = guard.admit().unwrap();
        assert_eq!(guard.admit().err(), Some(Rejected::Saturated));
        assert_eq!(guard.check(), Err(Rejected::Saturated));
        drop(a);
        assert!(guard.check().is_ok());
        guard.admit().unwrap().finish(true);
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_the_breaker_and_a_success_resets_the_count() {
        let guard = guard();
        fail(&guard, 2);
        guard.admit().unwrap().finish(true);
        fail(&guard, 2);
        assert!(
            guard.admit().is_ok(),
            "2 failures after a success: still closed"
        );
        fail(&guard, 1);
        let Err(Rejected::Open { retry_in }) = guard.admit() else {
            panic!("3 consecutive failures open the breaker");
        };
        assert_eq!(retry_in, CONFIG.cool_down);
        assert!(matches!(guard.check(), Err(Rejected::Open { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cool_down_one_probe_goes_through_and_its_success_closes() {
        let guard = guard();
        fail(&guard, 3);
        tokio::time::advance(CONFIG.cool_down - Duration::from_millis(1)).await;
        assert!(guard.admit().is_err(), "still cooling down");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(guard.check().is_ok(), "a probe would be let through");

        let probe = guard.admit().expect("the probe");
        assert!(
            matches!(guard.admit(), Err(Rejected::Open { .. })),
            "one probe at a time"
        );
        probe.finish(true);
        guard.admit().unwrap().finish(true);
        guard.admit().unwrap().finish(true);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_for_another_cool_down() {
        let guard = guard();
        fail(&guard, 3);
        tokio::time::advance(CONFIG.cool_down).await;
        guard.admit().unwrap().finish(false);
        let Err(Rejected::Open { retry_in }) = guard.admit() else {
            panic!("open again");
        };
        assert_eq!(retry_in, CONFIG.cool_down);
        tokio::time::advance(CONFIG.cool_down).await;
        assert!(guard.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_caller_probe() {
        let guard = guard();
        fail(&guard, 3);
        tokio::time::advance(CONFIG.cool_down).await;
        drop(guard.admit().unwrap());
        let probe = guard.admit().expect("another probe");
        probe.finish(false);
        assert!(guard.admit().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn late_failures_of_calls_admitted_before_opening_do_not_extend_it() {
        let guard = guard();
        let late = guard.admit().unwrap();
        fail(&guard, 3);
        tokio::time::advance(CONFIG.cool_down / 2).await;
        late.finish(false);
        tokio::time::advance(CONFIG.cool_down / 2).await;
        assert!(
            guard.admit().is_ok(),
            "the cool-down counts from the opening"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_show_the_state_rejections_and_calls_in_flight() {
        let metrics = Metrics::new();
        let guard = Guard::new(Outbound::Verify, CONFIG, Some(metrics.clone()));
        let held = guard.admit().unwrap();
        let text = metrics.encode();
        assert!(
            text.contains(r#"roomgate_outbound_in_flight{service="verify"} 1"#),
            "{text}"
        );
        drop(held);
        fail(&guard, 3);
        let _ = guard.admit();
        let text = metrics.encode();
        for line in [
            r#"roomgate_outbound_breaker_state{service="verify"} 2"#,
            r#"roomgate_outbound_breaker_opened_total{service="verify"} 1"#,
            r#"roomgate_outbound_rejected_total{service="verify",reason="open"} 1"#,
            r#"roomgate_outbound_rejected_total{service="verify",reason="saturated"} 0"#,
            r#"roomgate_outbound_in_flight{service="verify"} 0"#,
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
