//! What a participant is told when the sign-in can't go on, by meaning. Each notice
//! has its page text and HTTP status; none of them is a 500, and none says whether a
//! username exists.

use actix_web::http::StatusCode;

use crate::verify::VerifyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Too many wrong codes for this verification.
    TooManyAttempts,
    /// Too many codes sent to this number for now.
    TooManySends,
    /// The code (or the whole sign-in) expired or is no longer valid.
    Expired,
    /// Twilio refused to send to the number (bad number, fraud guard, geo permissions).
    CannotSend,
    /// The verification service is busy or unreachable.
    Unavailable,
}

impl Notice {
    pub fn from_verify_error(err: &VerifyError) -> Self {
        match err {
            VerifyError::MaxCheckAttempts(_) => Self::TooManyAttempts,
            VerifyError::MaxSendAttempts(_)
            | VerifyError::TooManyConcurrent(_)
            | VerifyError::RateLimited(_) => Self::TooManySends,
            VerifyError::NotFound(_) => Self::Expired,
            VerifyError::InvalidParameter(_)
            | VerifyError::FraudBlocked(_)
            | VerifyError::GeoBlocked(_) => Self::CannotSend,
            VerifyError::Api(_)
            | VerifyError::Timeout
            | VerifyError::Connect(_)
            | VerifyError::Decode(_) => Self::Unavailable,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::TooManyAttempts | Self::TooManySends => StatusCode::TOO_MANY_REQUESTS,
            Self::Expired => StatusCode::GONE,
            Self::CannotSend => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Seconds to suggest in `Retry-After`, when waiting helps.
    pub fn retry_after(self) -> Option<u64> {
        match self {
            Self::TooManySends => Some(600),
            Self::Unavailable => Some(30),
            _ => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::TooManyAttempts => "Too many attempts",
            Self::TooManySends => "Too many codes requested",
            Self::Expired => "This code has expired",
            Self::CannotSend => "We could not send a code",
            Self::Unavailable => "Service busy",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::TooManyAttempts => {
                "That was the last attempt for this code. Start again to get a new one."
            }
            Self::TooManySends => {
                "Too many codes were requested. Wait about 10 minutes, then start again."
            }
            Self::Expired => "Codes are valid for 10 minutes. Start again to get a new one.",
            Self::CannotSend => {
                "We could not send a text message to the number on the list. Please contact the host of this room."
            }
            Self::Unavailable => {
                "The verification service is busy or unreachable right now. Please try again in a minute."
            }
        }
    }

    /// A stable name for logs and tests.
    pub fn kind(self) -> &'static str {
        match self {
            Self::TooManyAttempts => "too_many_attempts",
            Self::TooManySends => "too_many_sends",
            Self::Expired => "expired",
            Self::CannotSend => "cannot_send",
            Self::Unavailable => "unavailable",
        }
    }
}
