//! What a participant is told when the sign-in can't go on, by meaning. Each notice
//! has its page text (from the message catalogs, in the participant's language) and
//! HTTP status; none of them is a 500, and none says whether a username exists.

use actix_web::http::StatusCode;

use crate::i18n::Tr;
use crate::metrics::FailReason;
use crate::verify::VerifyError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
            | VerifyError::GeoBlocked(_)
            | VerifyError::Undeliverable(_) => Self::CannotSend,
            VerifyError::Api(_)
            | VerifyError::Timeout
            | VerifyError::Busy(_)
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

    /// The page's title, in `tr`'s language.
    pub fn title(self, tr: &Tr) -> String {
        match self {
            Self::TooManyAttempts => tr.t("notice-too-many-attempts-title"),
            // Waiting is the answer (a cooldown, a limit on the name or the network).
            Self::Limited { .. } => tr.t("notice-limited-title"),
            Self::TooManySends => tr.t("notice-too-many-sends-title"),
            Self::Expired => tr.t("notice-expired-title"),
            Self::CannotSend => tr.t("notice-cannot-send-title"),
            Self::Unavailable | Self::Busy { .. } => tr.t("notice-busy-title"),
            Self::LockedOut { .. } => tr.t("notice-locked-out-title"),
        }
    }

    /// What the participant is told, in `tr`'s language, with when to try again.
    pub fn message(self, tr: &Tr) -> String {
        let wait = self.wait(tr);
        match self {
            Self::Limited { .. } => tr.t1("notice-limited", "wait", wait),
            Self::LockedOut { .. } => tr.t1("notice-locked-out", "wait", wait),
            Self::Busy { .. } => tr.t1("notice-busy", "wait", wait),
            Self::TooManyAttempts => tr.t("notice-too-many-attempts"),
            Self::TooManySends => tr.t("notice-too-many-sends"),
            Self::Expired => tr.t("notice-expired"),
            Self::CannotSend => tr.t("notice-cannot-send"),
            Self::Unavailable => tr.t("notice-unavailable"),
        }
    }

    /// [`Self::message`] for a new code asked for from the code page ("Send a new
    /// code", "Call me instead"): a limit there is mostly the wait between codes,
    /// which "there were too many attempts" misdescribed.
    pub fn resend_message(self, tr: &Tr) -> String {
        match self {
            Self::Limited { .. } => tr.t1("notice-resend-wait", "wait", self.wait(tr)),
            other => other.message(tr),
        }
    }

    /// When to try again ("in 45 seconds"), or nothing.
    fn wait(self, tr: &Tr) -> String {
        self.retry_after()
            .map(|secs| wait_phrase(tr, secs))
            .unwrap_or_default()
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

/// "in 45 seconds", "in about 3 minutes", "in about 2 hours", in `tr`'s language.
fn wait_phrase(tr: &Tr, secs: u64) -> String {
    match secs {
        0..=1 => tr.t("wait-a-second"),
        2..=59 => tr.t1("wait-seconds", "n", secs),
        60..=119 => tr.t("wait-about-a-minute"),
        120..=5399 => tr.t1("wait-minutes", "n", secs.div_ceil(60)),
        _ => tr.t1("wait-hours", "n", (secs + 1800) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    #[test]
    fn limited_pages_say_when_to_try_again() {
        let en = Tr::new(Lang::En);
        let n = Notice::Limited { retry_after: 45 };
        assert_eq!(n.retry_after(), Some(45));
        assert!(n.message(&en).contains("in 45 seconds"));
        assert!(
            Notice::LockedOut { retry_after: 900 }
                .message(&en)
                .contains("in about 15 minutes")
        );
        assert!(
            Notice::Busy { retry_after: 7200 }
                .message(&en)
                .contains("in about 2 hours")
        );
        assert!(
            Notice::Limited { retry_after: 1 }
                .message(&en)
                .contains("Try again in a second.")
        );
        assert_eq!(Notice::Busy { retry_after: 0 }.retry_after(), Some(1));
    }

    #[test]
    fn notices_speak_the_participants_language() {
        let fr = Tr::new(Lang::Fr);
        assert!(
            Notice::Limited { retry_after: 45 }
                .message(&fr)
                .contains("dans 45 secondes")
        );
        let ja = Tr::new(Lang::Ja);
        assert!(
            Notice::LockedOut { retry_after: 900 }
                .message(&ja)
                .contains("約 15 分後")
        );
        assert_eq!(
            Notice::Expired.title(&Tr::new(Lang::Es)),
            "Este código ha expirado"
        );
        assert!(
            Notice::Busy { retry_after: 7200 }
                .message(&Tr::new(Lang::PtBr))
                .contains("em cerca de 2 horas")
        );
    }
}
