//! The calls to Verify that stand in for a start's and a check's when a sign-in sends
//! nothing (see [`super::pace`]): every name's sign-in finds Verify up or down by a
//! call of its own. They are anonymous traffic, so they have a bound of their own
//! within Verify's: a flood of sign-ins for names nobody has never takes the calls
//! listed names need. Past it, a stand-in takes the latest one's outcome without a
//! call: Verify up or out of service, as the latest call found it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Semaphore;

use crate::twilio::guard::{GuardConfig, Rejected};
use crate::verify::{Verifier, VerifyError};

/// Stand-in calls in flight at most, as a share of Verify's own bound.
const SHARE_OF_VERIFY: usize = 4;

#[derive(Clone)]
pub struct StandIns {
    verifier: Arc<dyn Verifier>,
    permits: Arc<Semaphore>,
    /// Whether the latest call found Verify out of service.
    last_outage: Arc<AtomicBool>,
}

impl StandIns {
    /// Within a quarter of `verify_in_flight`, Verify's bound on calls in flight.
    pub fn new(verifier: Arc<dyn Verifier>, verify_in_flight: usize) -> Self {
        Self {
            verifier,
            permits: Arc::new(Semaphore::new((verify_in_flight / SHARE_OF_VERIFY).max(1))),
            last_outage: Arc::default(),
        }
    }

    /// Within the default bound of Verify's guard.
    pub fn with_default_bound(verifier: Arc<dyn Verifier>) -> Self {
        Self::new(verifier, GuardConfig::VERIFY.max_in_flight)
    }

    /// A call that changes nothing ([`Verifier::reachable`]), or past the bound, the
    /// latest call's outcome: `Err(Busy)` if that found Verify out of service.
    pub async fn call(&self) -> Result<(), VerifyError> {
        let Ok(_permit) = self.permits.try_acquire() else {
            return if self.last_outage.load(Ordering::Relaxed) {
                Err(VerifyError::Busy(Rejected::Saturated))
            } else {
                Ok(())
            };
        };
        let result = self.verifier.reachable().await;
        let outage = matches!(&result, Err(e) if e.is_outage());
        self.last_outage.store(outage, Ordering::Relaxed);
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::OtpCode;
    use crate::verify::{CheckOutcome, StartRequest, StartedVerification, VerificationSid};

    /// Answers `reachable` after a while, failing while `down`; counts its calls.
    #[derive(Default)]
    struct Counting {
        calls: AtomicUsize,
        down: AtomicBool,
    }

    #[async_trait]
    impl Verifier for Counting {
        async fn start(&self, _: StartRequest<'_>) -> Result<StartedVerification, VerifyError> {
            unreachable!("stand-ins start nothing")
        }

        async fn check(
            &self,
            _: &VerificationSid,
            _: &OtpCode,
        ) -> Result<CheckOutcome, VerifyError> {
            unreachable!("stand-ins check nothing")
        }

        async fn reachable(&self) -> Result<(), VerifyError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            if self.down.load(Ordering::SeqCst) {
                Err(VerifyError::Timeout)
            } else {
                Ok(())
            }
        }
    }

    /// A flood of stand-ins makes at most a quarter of Verify's bound of calls at
    /// once; the rest answer as the latest call found Verify, up or out of service.
    #[tokio::test(start_paused = true)]
    async fn past_their_bound_stand_ins_answer_as_the_latest_call_found() {
        let verify = Arc::new(Counting::default());
        let stand_ins = StandIns::new(verify.clone(), 8);
        let flood = |n| {
            let stand_ins = stand_ins.clone();
            async move {
                let calls = (0..n).map(|_| stand_ins.call());
                futures_util::future::join_all(calls).await
            }
        };
        let answers = flood(10).await;
        assert_eq!(verify.calls.load(Ordering::SeqCst), 2);
        assert!(answers.iter().all(Result::is_ok));

        verify.down.store(true, Ordering::SeqCst);
        let answers = flood(10).await;
        assert_eq!(verify.calls.load(Ordering::SeqCst), 4);
        // The two calls made found Verify out; the rest took the one before's word.
        assert_eq!(answers.iter().filter(|a| a.is_ok()).count(), 8);
        let answers = flood(10).await;
        assert!(
            answers
                .iter()
                .all(|a| a.as_ref().is_err_and(VerifyError::is_outage))
        );
        assert_eq!(verify.calls.load(Ordering::SeqCst), 6);
    }
}
