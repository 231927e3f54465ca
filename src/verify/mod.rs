//! Sending and checking one-time codes: Twilio Verify in Twilio mode, an embedded
//! verifier in local mode, both behind [`Verifier`] so the routes don't know which runs.

mod error;
pub mod local;
pub mod metered;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{OtpCode, PhoneNumber, Username};

pub use error::{TwilioApiError, VerifyError};

/// Verify's own limit: a verification accepts at most 5 checks.
pub const MAX_CHECKS: u8 = 5;

/// Twilio's id for one verification (`VE` + 32 hex). A code is checked against it, so
/// a code only works in the session that asked for it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VerificationSid(String);

impl VerificationSid {
    pub fn new(sid: impl Into<String>) -> Self {
        Self(sid.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for VerificationSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerificationSid({})", self.0)
    }
}

/// How a code reaches the participant: Verify's `Channel`. Only the two an ACL entry
/// may allow (`channels = ["sms", "call"]`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// A text message: every sign-in starts with one.
    #[default]
    Sms,
    /// A voice call that reads the code out, for those who can't get texts.
    Call,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Call];

    /// Exactly as written in the ACL and sent to Verify: lower case, no other spellings.
    pub fn parse(s: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
        }
    }
}

/// A set of channels, one bit each, listed in [`Channel::ALL`]'s order: an ACL of
/// 100,000 users holds one per user, so it allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Channels(u8);

impl Channels {
    /// Texts only: what a user without `channels` may use.
    pub const SMS_ONLY: Channels = Channels(1);

    fn bit(channel: Channel) -> u8 {
        match channel {
            Channel::Sms => 1,
            Channel::Call => 2,
        }
    }

    pub fn contains(self, channel: Channel) -> bool {
        self.0 & Self::bit(channel) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Channel> {
        Channel::ALL.into_iter().filter(move |c| self.contains(*c))
    }

    pub fn to_vec(self) -> Vec<Channel> {
        self.iter().collect()
    }
}

impl FromIterator<Channel> for Channels {
    fn from_iter<I: IntoIterator<Item = Channel>>(channels: I) -> Self {
        Channels(channels.into_iter().fold(0, |bits, c| bits | Self::bit(c)))
    }
}

impl fmt::Debug for Channels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the participant asked for: a code for this user, sent to this number.
#[derive(Debug, Clone, Copy)]
pub struct StartRequest<'a> {
    pub username: &'a Username,
    pub to: &'a PhoneNumber,
    /// A text or a call.
    pub channel: Channel,
    /// Language of the SMS or call (Verify's `Locale`), when the participant's is known.
    pub locale: Option<&'a str>,
}

/// A verification that Verify accepted and sent a code for.
#[derive(Debug, Clone)]
pub struct StartedVerification {
    pub sid: VerificationSid,
}

/// The outcome of a code check that Verify answered without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The code was right: the verification is over.
    Approved,
    /// The code was wrong; the verification is still pending.
    Rejected,
    /// Verify reported another final status (`canceled`, `expired`, `max_attempts_reached`,
    /// …): this verification can't be approved any more.
    Closed,
}

#[async_trait]
pub trait Verifier: Send + Sync + 'static {
    /// Start (or resend) a verification, by text or call. Never retried by callers: a retry sends
    /// another SMS.
    async fn start(&self, req: StartRequest<'_>) -> Result<StartedVerification, VerifyError>;

    /// Check a code against the verification `sid` started.
    async fn check(
        &self,
        sid: &VerificationSid,
        code: &OtpCode,
    ) -> Result<CheckOutcome, VerifyError>;

    /// Whether Verify answers at all, by a call that changes nothing (Twilio: fetching
    /// the Verify Service). Asked by the check of a sign-in that sent nothing while
    /// Verify may be down, so its answer follows Verify's as a real check's does (see
    /// [`crate::signin::pace`]). Through the same in-flight bound and breaker as
    /// the other calls.
    async fn reachable(&self) -> Result<(), VerifyError>;

    /// `Some(retry after)` when a call made now would be refused as busy (see
    /// [`crate::twilio::guard`]): for a sign-in, which answers before its start runs in
    /// the background, to say so while the participant is still there.
    fn busy(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod channel_tests {
    use super::*;

    #[test]
    fn a_set_of_channels_is_one_byte_listed_in_a_fixed_order() {
        assert_eq!(std::mem::size_of::<Channels>(), 1);
        let both: Channels = [Channel::Call, Channel::Sms, Channel::Call]
            .into_iter()
            .collect();
        assert_eq!(both.to_vec(), [Channel::Sms, Channel::Call]);
        assert!(both.contains(Channel::Call));
        assert!(!Channels::SMS_ONLY.contains(Channel::Call));
        assert_eq!(Channels::SMS_ONLY.to_vec(), [Channel::Sms]);
        assert_eq!(format!("{both:?}"), "[Sms, Call]");
    }
}
