//! Verify latency and outcomes for the metrics, around whichever verifier runs.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{
    CheckOutcome, StartRequest, StartedVerification, VerificationSid, Verifier, VerifyError,
};
use crate::domain::OtpCode;
use crate::metrics::{Api, Metrics};

pub struct Metered {
    inner: Arc<dyn Verifier>,
    metrics: Metrics,
}

impl Metered {
    pub fn new(inner: Arc<dyn Verifier>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl Verifier for Metered {
    async fn start(&self, req: StartRequest<'_>) -> Result<StartedVerification, VerifyError> {
        let began = Instant::now();
        let result = self.inner.start(req).await;
        // Refused before any request: no latency to record.
        if matches!(result, Err(VerifyError::Busy(_))) {
            return result;
        }
        self.metrics.observe_twilio(
            Api::Verify,
            "CreateVerification",
            result.is_ok(),
            began.elapsed(),
        );
        result
    }

    async fn check(
        &self,
        sid: &VerificationSid,
        code: &OtpCode,
    ) -> Result<CheckOutcome, VerifyError> {
        let began = Instant::now();
        let result = self.inner.check(sid, code).await;
        if matches!(result, Err(VerifyError::Busy(_))) {
            return result;
        }
        self.metrics.observe_twilio(
            Api::Verify,
            "CreateVerificationCheck",
            result.is_ok(),
            began.elapsed(),
        );
        result
    }

    async fn reachable(&self) -> Result<(), VerifyError> {
        let began = Instant::now();
        let result = self.inner.reachable().await;
        if matches!(result, Err(VerifyError::Busy(_))) {
            return result;
        }
        self.metrics
            .observe_twilio(Api::Verify, "FetchService", result.is_ok(), began.elapsed());
        result
    }

    fn busy(&self) -> Option<std::time::Duration> {
        self.inner.busy()
    }
}
