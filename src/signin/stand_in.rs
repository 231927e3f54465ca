//! The calls to Verify that stand in for a start's and a check's when a sign-in sends
//! nothing (see [`super::pace`]): every name's sign-in finds Verify up or down by a
//! call of its own. They are anonymous traffic, so they have a bound of their own
//! within Verify's: a flood of sign-ins for names nobody has never takes the calls
//! listed names need. Past it, every permit is held by a call in flight, and a
//! stand-in answers as the next of those to end does (the same error: a timeout after
//! a timeout's time, say), no sooner than that call took: an outcome as fresh as a
//! call of its own would get, in about its time. (Answering with the latest outcome
//! instead was a timeout's length behind whenever Verify went down or came back.)

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use super::pace::Pace;
use crate::twilio::guard::{GuardConfig, Rejected};
use crate::verify::{TwilioApiError, Verifier, VerifyError};

/// Stand-in calls in flight at most, as a share of Verify's own bound.
const SHARE_OF_VERIFY: usize = 4;
/// How long a stand-in past the bound waits for a call in flight to end: longer than
/// any call takes (they are bounded by Verify's timeout), for calls that were dropped
/// unfinished (their requests gone), after which it answers as the latest call did.
const NEXT_WAIT: Duration = Duration::from_secs(30);

/// What the latest stand-in call found, enough to answer alike without a call.
#[derive(Clone)]
enum Found {
    Answered,
    Timeout,
    Busy(Rejected),
    Connect,
    Decode,
    Api(TwilioApiError),
    RateLimited(TwilioApiError),
}

impl Found {
    fn of(result: &Result<(), VerifyError>) -> Self {
        match result {
            Ok(()) => Self::Answered,
            Err(VerifyError::Timeout) => Self::Timeout,
            Err(VerifyError::Busy(rejected)) => Self::Busy(*rejected),
            Err(VerifyError::Connect(_)) => Self::Connect,
            Err(VerifyError::Decode(_)) => Self::Decode,
            Err(VerifyError::Api(e)) => Self::Api(e.clone()),
            Err(VerifyError::RateLimited(e)) => Self::RateLimited(e.clone()),
            // Not what `reachable` fails with: any other answer is Verify answering.
            Err(
                VerifyError::InvalidParameter(_)
                | VerifyError::MaxCheckAttempts(_)
                | VerifyError::MaxSendAttempts(_)
                | VerifyError::TooManyConcurrent(_)
                | VerifyError::NotFound(_)
                | VerifyError::FraudBlocked(_)
                | VerifyError::GeoBlocked(_)
                | VerifyError::Undeliverable(_),
            ) => Self::Answered,
        }
    }

    fn again(&self) -> Result<(), VerifyError> {
        let as_found = || anyhow::anyhow!("as the latest call to Verify found");
        Err(match self {
            Self::Answered => return Ok(()),
            Self::Timeout => VerifyError::Timeout,
            Self::Busy(rejected) => VerifyError::Busy(*rejected),
            Self::Connect => VerifyError::Connect(as_found()),
            Self::Decode => VerifyError::Decode(as_found()),
            Self::Api(e) => VerifyError::Api(e.clone()),
            Self::RateLimited(e) => VerifyError::RateLimited(e.clone()),
        })
    }
}

#[derive(Clone)]
pub struct StandIns {
    verifier: Arc<dyn Verifier>,
    /// The mark of Verify down, which calls made set and clear.
    pace: Arc<Pace>,
    permits: Arc<Semaphore>,
    /// Each call's outcome as it ends, and how long it took (before any: answered).
    ended: Arc<watch::Sender<(Found, Duration)>>,
}

impl StandIns {
    /// Within a quarter of `verify_in_flight`, Verify's bound on calls in flight.
    pub fn new(verifier: Arc<dyn Verifier>, pace: Arc<Pace>, verify_in_flight: usize) -> Self {
        Self {
            verifier,
            pace,
            permits: Arc::new(Semaphore::new((verify_in_flight / SHARE_OF_VERIFY).max(1))),
            ended: Arc::new(watch::Sender::new((Found::Answered, Duration::ZERO))),
        }
    }

    /// Within the default bound of Verify's guard.
    pub fn with_default_bound(verifier: Arc<dyn Verifier>, pace: Arc<Pace>) -> Self {
        Self::new(verifier, pace, GuardConfig::VERIFY.max_in_flight)
    }

    /// A call that changes nothing ([`Verifier::reachable`]), its outcome marking
    /// Verify down or up; or past the bound, the outcome of the next call in flight to
    /// end, no sooner than it took.
    pub async fn call(&self) -> Result<(), VerifyError> {
        let began = tokio::time::Instant::now();
        let Ok(_permit) = self.permits.try_acquire() else {
            let mut next = self.ended.subscribe();
            let _ = tokio::time::timeout(NEXT_WAIT, next.changed()).await;
            let (found, took) = next.borrow_and_update().clone();
            tokio::time::sleep(took.saturating_sub(began.elapsed())).await;
            return found.again();
        };
        let result = self.verifier.reachable().await;
        self.ended
            .send_replace((Found::of(&result), began.elapsed()));
        match &result {
            Ok(()) => self.pace.up(),
            Err(err) => self.pace.failed(err),
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::domain::OtpCode;
    use crate::notice::Notice;
    use crate::verify::{CheckOutcome, StartRequest, StartedVerification, VerificationSid};

    /// Answers `reachable` after `took`, with what `fails` says (`None`: answered);
    /// counts its calls.
    struct Scripted {
        calls: AtomicUsize,
        took: Mutex<Duration>,
        fails: Mutex<Option<fn() -> VerifyError>>,
    }

    impl Scripted {
        fn new() -> Self {
            Self {
                calls: AtomicUsize::new(0),
                took: Mutex::new(Duration::from_millis(100)),
                fails: Mutex::new(None),
            }
        }

        fn set(&self, took: Duration, fails: Option<fn() -> VerifyError>) {
            *self.took.lock().unwrap() = took;
            *self.fails.lock().unwrap() = fails;
        }
    }

    #[async_trait]
    impl Verifier for Scripted {
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
            let took = *self.took.lock().unwrap();
            tokio::time::sleep(took).await;
            match *self.fails.lock().unwrap() {
                Some(fail) => Err(fail()),
                None => Ok(()),
            }
        }
    }

    fn rate_limited() -> VerifyError {
        VerifyError::from_api(TwilioApiError {
            code: Some(20429),
            status: 429,
            message: None,
            more_info: None,
        })
    }

    /// Ten at once, each answer with how long it took.
    async fn flood(stand_ins: &StandIns) -> Vec<(Result<(), VerifyError>, Duration)> {
        let calls = (0..10).map(|_| async {
            let began = tokio::time::Instant::now();
            (stand_ins.call().await, began.elapsed())
        });
        futures_util::future::join_all(calls).await
    }

    /// A flood of stand-ins makes at most a quarter of Verify's bound of calls at
    /// once; the rest answer as the next of those calls to end does (the same error),
    /// no sooner than it took. Answered at once with "busy", a check past the bound
    /// told a name nobody has from a listed one whose check waited out Verify's
    /// timeout; answered with the latest outcome, it was a timeout behind as Verify
    /// went down.
    #[tokio::test(start_paused = true)]
    async fn past_their_bound_stand_ins_answer_as_the_next_call_does() {
        let verify = Arc::new(Scripted::new());
        let pace = Arc::new(Pace::default());
        let stand_ins = StandIns::new(verify.clone(), pace.clone(), 8);

        let answers = flood(&stand_ins).await;
        assert_eq!(verify.calls.load(Ordering::SeqCst), 2);
        for (answer, took) in &answers {
            assert!(answer.is_ok(), "{answer:?}");
            assert!(*took >= Duration::from_millis(100), "{took:?}");
        }

        // Verify goes down: the first flood after already says so, every answer.
        verify.set(Duration::from_secs(10), Some(|| VerifyError::Timeout));
        let answers = flood(&stand_ins).await;
        assert_eq!(verify.calls.load(Ordering::SeqCst), 4);
        for (answer, took) in &answers {
            assert!(matches!(answer, Err(VerifyError::Timeout)), "{answer:?}");
            assert!(*took >= Duration::from_secs(10), "{took:?}");
        }
        assert_eq!(pace.failing(), Some(Notice::Unavailable));

        // The account's rate: "busy" for a check, as a real one would be told; an
        // answer all the same, which ends the mark.
        verify.set(Duration::from_millis(50), Some(rate_limited));
        let answers = flood(&stand_ins).await;
        assert_eq!(verify.calls.load(Ordering::SeqCst), 6);
        assert!(
            answers
                .iter()
                .all(|(a, _)| matches!(a, Err(VerifyError::RateLimited(_)))),
        );
        assert_eq!(pace.failing(), None);
    }

    /// Past the bound, a stand-in waits for a call in flight to end no longer than
    /// [`NEXT_WAIT`] (calls dropped unfinished, their requests gone, end nothing), then
    /// answers as the latest call did.
    #[tokio::test(start_paused = true)]
    async fn past_the_bound_the_next_call_is_waited_for_no_longer_than_a_while() {
        let verify = Arc::new(Scripted::new());
        let stand_ins = StandIns::new(verify.clone(), Arc::default(), 8);
        verify.set(Duration::from_secs(3600), None);
        let holders = stand_ins.clone();
        let held = tokio::spawn(async move {
            let _ = futures_util::future::join(holders.call(), holders.call()).await;
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        let began = tokio::time::Instant::now();
        assert!(stand_ins.call().await.is_ok());
        let took = began.elapsed();
        assert!(
            took >= NEXT_WAIT && took < Duration::from_secs(3600),
            "{took:?}"
        );
        assert_eq!(verify.calls.load(Ordering::SeqCst), 2);
        held.abort();
    }
}
