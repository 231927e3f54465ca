//! What can go wrong asking Verify for a code or checking one, with Twilio's error
//! body (either of its shapes) parsed so that each known code can be told apart.

use serde::Deserialize;

/// The error body Twilio sends, in either of its shapes: the classic
/// `{code, message, more_info, status}` or an RFC 9457 problem
/// (`{type, title, status, detail, instance}`, the code at the end of `type`).
///
/// `message`/`detail` can quote request parameters (a phone number), so `Display`
/// shows only the code and status; logs must not print the message.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("Twilio error {code:?} (HTTP {status})")]
pub struct TwilioApiError {
    pub code: Option<u32>,
    pub status: u16,
    pub message: Option<String>,
    pub more_info: Option<String>,
}

impl std::fmt::Debug for TwilioApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The message is left out on purpose (see above).
        f.debug_struct("TwilioApiError")
            .field("code", &self.code)
            .field("status", &self.status)
            .field("more_info", &self.more_info)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawTwilioError {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
    status: Option<u16>,
    // RFC 9457
    #[serde(rename = "type")]
    problem_type: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

impl TwilioApiError {
    /// Decode an error body; anything unreadable still yields an error with the HTTP status.
    pub fn from_body(http_status: u16, body: &[u8]) -> Self {
        let Ok(raw) = serde_json::from_slice::<RawTwilioError>(body) else {
            return Self {
                code: None,
                status: http_status,
                message: None,
                more_info: None,
            };
        };
        let code = raw.code.or_else(|| {
            // e.g. "https://www.twilio.com/docs/api/errors/20404"
            raw.problem_type
                .as_deref()
                .and_then(|t| t.trim_end_matches('/').rsplit('/').next())
                .and_then(|last| last.parse().ok())
        });
        Self {
            code,
            status: raw.status.unwrap_or(http_status),
            message: raw.message.or(raw.detail).or(raw.title),
            more_info: raw.more_info.or(raw.problem_type),
        }
    }
}

/// Everything that can go wrong talking to a verifier, by meaning. Each variant maps
/// to a page for the participant; none is a 500.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// 60200: a parameter Verify refused (e.g. a number it can't send to).
    #[error("invalid parameter (60200)")]
    InvalidParameter(TwilioApiError),
    /// 60202: too many wrong codes for this verification.
    #[error("max check attempts reached (60202)")]
    MaxCheckAttempts(TwilioApiError),
    /// 60203: too many sends for this verification.
    #[error("max send attempts reached (60203)")]
    MaxSendAttempts(TwilioApiError),
    /// 60212: too many concurrent requests for this phone number.
    #[error("too many concurrent requests for the number (60212)")]
    TooManyConcurrent(TwilioApiError),
    /// 20404: the verification is gone: expired, approved or never existed.
    #[error("verification not found (20404)")]
    NotFound(TwilioApiError),
    /// 20429: Twilio's own rate limit.
    #[error("rate limited by Twilio (20429)")]
    RateLimited(TwilioApiError),
    /// 60410: Twilio's fraud guard blocked the destination.
    #[error("blocked by Twilio fraud guard (60410)")]
    FraudBlocked(TwilioApiError),
    /// 60605: the destination's country is not enabled in geo permissions.
    #[error("blocked by geo permissions (60605)")]
    GeoBlocked(TwilioApiError),
    /// The number itself can't get a code: 60205 (a landline, for SMS), 60006 (a
    /// valid-looking number the network says is not in service), 60008 (a carrier
    /// Verify doesn't reach). About this number only; Verify is not down.
    #[error("the number can't get a code ({})", .0.code.unwrap_or_default())]
    Undeliverable(TwilioApiError),
    /// Any other Twilio error (auth, configuration, 5xx …).
    #[error("Twilio API error")]
    Api(TwilioApiError),
    #[error("timed out waiting for the verifier")]
    Timeout,
    /// Not sent: our guard answered busy (too many calls in flight, or the breaker is
    /// open after repeated failures). Nothing reached Verify, so trying later is safe.
    #[error("verifier busy: {0}")]
    Busy(crate::twilio::guard::Rejected),
    #[error("could not reach the verifier")]
    Connect(#[source] anyhow::Error),
    /// A success status whose body we could not read.
    #[error("unexpected response from the verifier")]
    Decode(#[source] anyhow::Error),
}

impl VerifyError {
    /// Classify a Twilio error body by its code.
    pub fn from_api(err: TwilioApiError) -> Self {
        match err.code {
            Some(60200) => Self::InvalidParameter(err),
            Some(60202) => Self::MaxCheckAttempts(err),
            Some(60203) => Self::MaxSendAttempts(err),
            Some(60212) => Self::TooManyConcurrent(err),
            Some(20404) => Self::NotFound(err),
            Some(20429) => Self::RateLimited(err),
            Some(60410) => Self::FraudBlocked(err),
            Some(60605) => Self::GeoBlocked(err),
            Some(60205 | 60006 | 60008) => Self::Undeliverable(err),
            _ => Self::Api(err),
        }
    }

    /// The Twilio error code, when there is one (for logs and metrics).
    pub fn twilio_code(&self) -> Option<u32> {
        match self {
            Self::InvalidParameter(e)
            | Self::MaxCheckAttempts(e)
            | Self::MaxSendAttempts(e)
            | Self::TooManyConcurrent(e)
            | Self::NotFound(e)
            | Self::RateLimited(e)
            | Self::FraudBlocked(e)
            | Self::GeoBlocked(e)
            | Self::Undeliverable(e)
            | Self::Api(e) => e.code,
            Self::Timeout | Self::Busy(_) | Self::Connect(_) | Self::Decode(_) => None,
        }
    }

    /// Whether the verifier itself is failing (no answer, or a 5xx), as opposed to
    /// answering about this request: what the circuit breaker counts.
    pub fn is_service_failure(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) | Self::Decode(_) => true,
            Self::Api(e) => e.status >= 500,
            _ => false,
        }
    }

    /// Whether Verify is out of service for us as a whole, whatever was asked: failing
    /// ([`Self::is_service_failure`]), refused by our own guard, or refusing our
    /// credentials (401). What every name's call finds alike, so what a page may say
    /// ("busy"); anything else is an answer about the request (a number, a code, a
    /// channel or a setting of the Service's), which only a listed name's start meets.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Busy(_) => true,
            Self::Api(e) if e.status == 401 => true,
            err => err.is_service_failure(),
        }
    }

    /// Whether the code sent with the request was surely not judged: never sent (the
    /// guard refused it), no connection, a 5xx (Verify failed to handle it), or a
    /// passing limit on the account (20429). A timeout or an answer (any other 4xx, or
    /// one not understood) may have judged it, and Verify counted the attempt.
    pub fn left_the_code_unjudged(&self) -> bool {
        match self {
            Self::Busy(_) | Self::Connect(_) | Self::RateLimited(_) => true,
            Self::Api(e) => e.status >= 500,
            _ => false,
        }
    }

    /// An error of the verifier's own making, as the local verifier raises them.
    pub fn local(code: u32, status: u16, message: &str) -> Self {
        Self::from_api(TwilioApiError {
            code: Some(code),
            status,
            message: Some(message.to_owned()),
            more_info: Some(format!("https://www.twilio.com/docs/api/errors/{code}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_classic_error_body() {
        let body = br#"{"code": 60202, "message": "Max check attempts reached", "more_info": "https://www.twilio.com/docs/errors/60202", "status": 429}"#;
        let err = TwilioApiError::from_body(429, body);
        assert_eq!(err.code, Some(60202));
        assert_eq!(err.status, 429);
        assert!(matches!(
            VerifyError::from_api(err),
            VerifyError::MaxCheckAttempts(_)
        ));
    }

    #[test]
    fn decodes_rfc9457_problem_body() {
        let body = br#"{"type": "https://www.twilio.com/docs/api/errors/20404", "title": "Not Found", "status": 404, "detail": "The requested resource was not found", "instance": "/v2/Services/VA1/VerificationCheck"}"#;
        let err = TwilioApiError::from_body(404, body);
        assert_eq!(err.code, Some(20404));
        assert_eq!(
            err.message.as_deref(),
            Some("The requested resource was not found")
        );
        assert!(matches!(
            VerifyError::from_api(err),
            VerifyError::NotFound(_)
        ));
    }

    #[test]
    fn unreadable_body_keeps_the_status() {
        let err = TwilioApiError::from_body(502, b"<html>bad gateway</html>");
        assert_eq!((err.code, err.status), (None, 502));
        assert!(matches!(VerifyError::from_api(err), VerifyError::Api(_)));
    }

    #[test]
    fn every_known_code_has_its_variant() {
        let kinds: Vec<_> = [
            60200, 60202, 60203, 60212, 20404, 20429, 60410, 60605, 20003,
        ]
        .into_iter()
        .map(|code| {
            let e = VerifyError::local(code, 400, "x");
            assert_eq!(e.twilio_code(), Some(code));
            std::mem::discriminant(&e)
        })
        .collect();
        let unique: std::collections::HashSet<_> = kinds.iter().collect();
        assert_eq!(unique.len(), kinds.len());
    }

    #[test]
    fn display_and_debug_never_carry_the_message() {
        let err = TwilioApiError::from_body(
            400,
            br#"{"code": 60200, "message": "Invalid parameter To: +14155550101", "status": 400}"#,
        );
        assert!(!format!("{err} {err:?}").contains("4155550101"));
    }
}
