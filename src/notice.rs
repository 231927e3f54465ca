//! What a participant is told when the sign-in can't go on, by meaning. Each notice
//! has its page text and HTTP status; none of them is a 500, and none says whether a
//! username exists.

use actix_web::http::StatusCode;

use crate::metrics::FailReason;
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
    /// One of our own rate limits: wait `retry_after` seconds.
    Limited { retry_after: u64 },
    /// Too many failed verifications for this username: locked for `retry_after` seconds.
    LockedOut { retry_after: u64 },
    /// The SMS budget is spent until the window rolls over in `retry_after` seconds.
    Busy { retry_after: u64 },
}

impl Notice {
    pub fn limited(limited: &crate::limits::Limited) -> Self {
        Self::Limited {
            retry_after: whole_seconds(limited.retry_after),
        }
    }

    pub fn locked_out(left: std::time::Duration) -> Self {
        Self::LockedOut {
            retry_after: whole_seconds(left),
        }
    }

    pub fn busy(until_rollover: std::time::Duration) -> Self {
        Self::Busy {
            retry_after: whole_seconds(until_rollover),
        }
    }

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
            Self::TooManyAttempts
            | Self::TooManySends
            | Self::Limited { .. }
            | Self::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Expired => StatusCode::GONE,
            Self::CannotSend => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unavailable | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Seconds to suggest in `Retry-After`, when waiting helps.
    pub fn retry_after(self) -> Option<u64> {
        match self {
            Self::TooManySends => Some(600),
            Self::Unavailable => Some(30),
            Self::Limited { retry_after }
            | Self::LockedOut { retry_after }
            | Self::Busy { retry_after } => Some(retry_after.max(1)),
            Self::TooManyAttempts | Self::Expired | Self::CannotSend => None,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::TooManyAttempts => "Too many attempts",
            Self::TooManySends => "Too many codes requested",
            Self::Expired => "This code has expired",
            Self::CannotSend => "We could not send a code",
            Self::Unavailable | Self::Busy { .. } => "Service busy",
            Self::Limited { .. } => "Too many attempts",
            Self::LockedOut { .. } => "Sign-in locked",
        }
    }

    pub fn message(self) -> String {
        let wait = self.retry_after().map(wait_phrase).unwrap_or_default();
        match self {
            Self::Limited { .. } => format!("There were too many attempts. Try again {wait}."),
            Self::LockedOut { .. } => format!(
                "After several failed sign-ins, signing in is locked for a while. Try again {wait}."
            ),
            Self::Busy { .. } => {
                format!("We can't send codes right now because of high demand. Try again {wait}.")
            }
            _ => self.fixed_message().to_owned(),
        }
    }

    fn fixed_message(self) -> &'static str {
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
            Self::Limited { .. } | Self::LockedOut { .. } | Self::Busy { .. } => "",
        }
    }

    /// How a verification that ended with this notice counts in the metrics.
    pub fn fail_reason(self) -> FailReason {
        match self {
            Self::TooManyAttempts => FailReason::Exhausted,
            Self::Expired => FailReason::Expired,
            Self::CannotSend => FailReason::Blocked,
            Self::TooManySends => FailReason::TooManySends,
            Self::Unavailable
            | Self::Limited { .. }
            | Self::LockedOut { .. }
            | Self::Busy { .. } => FailReason::Unavailable,
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
            Self::Limited { .. } => "limited",
            Self::LockedOut { .. } => "locked_out",
            Self::Busy { .. } => "busy",
        }
    }
}

fn whole_seconds(d: std::time::Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// "in 45 seconds", "in about 3 minutes", "in about 2 hours".
fn wait_phrase(secs: u64) -> String {
    match secs {
        0..=1 => "in a second".into(),
        2..=59 => format!("in {secs} seconds"),
        60..=119 => "in about a minute".into(),
        120..=5399 => format!("in about {} minutes", secs.div_ceil(60)),
        _ => format!("in about {} hours", (secs + 1800) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_pages_say_when_to_try_again() {
        let n = Notice::Limited { retry_after: 45 };
        assert_eq!(n.retry_after(), Some(45));
        assert!(n.message().contains("in 45 seconds"));
        assert!(
            Notice::LockedOut { retry_after: 900 }
                .message()
                .contains("in about 15 minutes")
        );
        assert!(
            Notice::Busy { retry_after: 7200 }
                .message()
                .contains("in about 2 hours")
        );
        assert_eq!(Notice::Busy { retry_after: 0 }.retry_after(), Some(1));
    }
}
