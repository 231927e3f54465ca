//! The embedded verifier for local mode: behaves like Twilio Verify (same limits, same
//! error codes) but "sends" the code through a [`CodeSink`], by default one line on
//! stdout, so the whole flow runs without a Twilio account.
//!
//! Semantics, mirroring Verify:
//! - 6-digit codes from a CSPRNG, valid [`CODE_TTL`] (10 minutes) from the first send;
//!   resends do not extend the validity.
//! - A start for a number that has a pending, valid verification is a resend: same SID,
//!   same code. At most [`MAX_SENDS`] sends per verification, then 60203.
//! - At most [`MAX_CHECKS`] checks per verification; the next one fails with 60202 and
//!   closes the verification. A right code approves and removes it; checks against a
//!   removed, expired or unknown SID fail with 20404.
//!
//! Storage: a verification keeps an HMAC-SHA256 of its code (keyed with a random
//! per-process key and bound to the SID) and checks compare it in constant time.
//! Because a resend must deliver the *same* code and a hash can't be reversed, the code
//! itself is also kept, in a [`SecretString`] (redacted in `Debug`, zeroized on drop),
//! used for nothing but resends. Phone numbers are indexed by their keyed HMAC, never
//! stored in clear.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{
    Channel, CheckOutcome, MAX_CHECKS, StartRequest, StartedVerification, VerificationSid,
    Verifier, VerifyError,
};
use crate::clock::Clock;
use crate::domain::OtpCode;

/// How long a code is valid, from the first send (Verify's default).
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Sends (first send and resends) allowed per verification (Verify: 5).
pub const MAX_SENDS: u32 = 5;
/// Pending verifications held at once; starts beyond this are refused with 20429.
pub const MAX_PENDING: usize = 100_000;
/// Digits in a code.
pub const CODE_LENGTH: usize = 6;

/// A code to deliver: what an SMS would carry, plus who it is for.
#[derive(Clone)]
pub struct CodeNotice {
    pub username: String,
    /// The code's digits.
    pub code: String,
    pub locale: Option<String>,
    /// The destination as `+1*******01`.
    pub masked_phone: String,
    /// A text or a call: the line says which.
    pub channel: Channel,
}

impl fmt::Debug for CodeNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeNotice")
            .field("username", &self.username)
            .field("code", &"[REDACTED]")
            .field("locale", &self.locale)
            .field("masked_phone", &self.masked_phone)
            .field("channel", &self.channel)
            .finish()
    }
}

/// Where the local verifier delivers codes. Called once per (re)send, outside any lock.
pub type CodeSink = Arc<dyn Fn(&CodeNotice) + Send + Sync>;

/// The default sink: one line on stdout, flushed. This is the only place a code is
/// ever printed; it is never logged.
pub fn stdout_sink() -> CodeSink {
    Arc::new(|notice: &CodeNotice| {
        let line = format_notice(notice);
        let mut out = std::io::stdout().lock();
        // Nothing sensible to do if stdout is gone.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
}

/// The terminal line for a code, as [`stdout_sink`] prints it. A call says so at the
/// end (the line otherwise reads like a text's, so scripts reading codes keep working).
pub fn format_notice(n: &CodeNotice) -> String {
    let call = match n.channel {
        Channel::Sms => "",
        Channel::Call => " by voice call (a real one would read it out)",
    };
    format!(
        "roomgate local verifier: user={} code={} to={} locale={} (valid {} minutes){call}",
        n.username,
        n.code,
        n.masked_phone,
        n.locale.as_deref().unwrap_or("-"),
        CODE_TTL.as_secs() / 60,
    )
}

type Tag = [u8; 32];

struct Pending {
    phone_tag: Tag,
    /// Only for resends (see the module docs); checks use `code_mac`.
    code: SecretString,
    code_mac: Tag,
    expires_at: SystemTime,
    sends: u32,
    checks: u32,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("code", &self.code) // SecretString: prints as redacted
            .field("expires_at", &self.expires_at)
            .field("sends", &self.sends)
            .field("checks", &self.checks)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    by_sid: HashMap<String, Pending>,
    by_phone: HashMap<Tag, String>,
    /// Expiry index so purging touches only expired entries.
    expiry: BTreeSet<(SystemTime, String)>,
}

impl State {
    fn remove(&mut self, sid: &str) -> Option<Pending> {
        let p = self.by_sid.remove(sid)?;
        self.expiry.remove(&(p.expires_at, sid.to_owned()));
        if self.by_phone.get(&p.phone_tag).is_some_and(|s| s == sid) {
            self.by_phone.remove(&p.phone_tag);
        }
        Some(p)
    }

    /// Drop every verification whose validity has ended.
    fn purge(&mut self, now: SystemTime) {
        while let Some((expires_at, _)) = self.expiry.first() {
            if *expires_at > now {
                break;
            }
            let (_, sid) = self.expiry.pop_first().expect("non-empty");
            self.remove(&sid);
        }
    }
}

/// The local-mode [`Verifier`]. See the module docs.
pub struct LocalVerifier {
    clock: Arc<dyn Clock>,
    sink: CodeSink,
    key: SecretBox<[u8; 32]>,
    state: Mutex<State>,
}

impl fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("LocalVerifier");
        match self.state.try_lock() {
            Ok(state) => d.field("pending", &state.by_sid),
            Err(_) => d.field("pending", &"<locked>"),
        };
        d.finish_non_exhaustive()
    }
}

impl LocalVerifier {
    pub fn new(clock: Arc<dyn Clock>, sink: CodeSink) -> Self {
        let mut key = Box::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Self {
            clock,
            sink,
            key: SecretBox::new(key),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation leaves the state consistent, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mac(&self, parts: &[&[u8]]) -> Tag {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes keys of any length");
        for part in parts {
            // Length-prefixed, so distinct inputs never share a byte string.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn phone_tag(&self, e164: &str) -> Tag {
        self.mac(&[b"phone", e164.as_bytes()])
    }

    fn code_mac(&self, sid: &str, code: &str) -> Tag {
        self.mac(&[b"code", sid.as_bytes(), code.as_bytes()])
    }

    /// Record a send (new or resend) and return the SID and the code to deliver.
    fn register_send(&self, req: &StartRequest<'_>) -> Result<(String, String, bool), VerifyError> {
        let now = self.clock.now();
        let phone_tag = self.phone_tag(req.to.expose_e164());
        let mut state = self.lock();
        state.purge(now);

        if let Some(sid) = state.by_phone.get(&phone_tag).cloned() {
            let pending = state
                .by_sid
                .get_mut(&sid)
                .expect("phone index points at a pending verification");
            if pending.sends >= MAX_SENDS {
                return Err(VerifyError::local(60203, 429, "Max send attempts reached"));
            }
            pending.sends += 1;
            let code = pending.code.expose_secret().to_owned();
            return Ok((sid, code, true));
        }

        if state.by_sid.len() >= MAX_PENDING {
            return Err(VerifyError::local(20429, 429, "Too many requests"));
        }
        let mut rng = rand::rng();
        let sid = loop {
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            let sid: String = std::iter::once("VE".to_owned())
                .chain(bytes.iter().map(|b| format!("{b:02x}")))
                .collect();
            if !state.by_sid.contains_key(&sid) {
                break sid;
            }
        };
        let code = format!(
            "{:0width$}",
            rng.random_range(0..10u32.pow(CODE_LENGTH as u32)),
            width = CODE_LENGTH
        );
        let expires_at = now + CODE_TTL;
        state.expiry.insert((expires_at, sid.clone()));
        state.by_phone.insert(phone_tag, sid.clone());
        state.by_sid.insert(
            sid.clone(),
            Pending {
                phone_tag,
                code: SecretString::from(code.clone()),
                code_mac: self.code_mac(&sid, &code),
                expires_at,
                sends: 1,
                checks: 0,
            },
        );
        Ok((sid, code, false))
    }
}

#[async_trait]
impl Verifier for LocalVerifier {
    async fn start(&self, req: StartRequest<'_>) -> Result<StartedVerification, VerifyError> {
        let masked_phone = req.to.masked();
        let (sid, code, resend) = match self.register_send(&req) {
            Ok(sent) => sent,
            Err(e) => {
                tracing::debug!(to = %masked_phone, twilio_code = ?e.twilio_code(), "local verification refused");
                return Err(e);
            }
        };
        tracing::debug!(sid = %sid, to = %masked_phone, resend, "local verification sent");
        let mut notice = CodeNotice {
            username: req.username.as_str().to_owned(),
            code,
            locale: req.locale.map(str::to_owned),
            masked_phone,
            channel: req.channel,
        };
        (self.sink)(&notice);
        // Our copy of the code goes; the sink keeps whatever it chose to.
        notice.code.zeroize();
        Ok(StartedVerification {
            sid: VerificationSid::new(sid),
        })
    }

    async fn check(
        &self,
        sid: &VerificationSid,
        code: &OtpCode,
    ) -> Result<CheckOutcome, VerifyError> {
        let now = self.clock.now();
        let given = self.code_mac(sid.as_str(), code.expose());
        let mut state = self.lock();
        state.purge(now);

        let Some(pending) = state.by_sid.get_mut(sid.as_str()) else {
            tracing::debug!(sid = sid.as_str(), "local check: no such verification");
            return Err(VerifyError::local(
                20404,
                404,
                "The requested resource was not found",
            ));
        };
        if pending.checks >= u32::from(MAX_CHECKS) {
            state.remove(sid.as_str());
            tracing::debug!(sid = sid.as_str(), "local check: max attempts, closed");
            return Err(VerifyError::local(60202, 429, "Max check attempts reached"));
        }
        pending.checks += 1;
        if bool::from(pending.code_mac.ct_eq(&given)) {
            state.remove(sid.as_str());
            tracing::debug!(sid = sid.as_str(), "local check: approved");
            Ok(CheckOutcome::Approved)
        } else {
            tracing::debug!(sid = sid.as_str(), "local check: wrong code");
            // Like Verify, a verification with every check used is over
            // (`max_attempts_reached`): it answers 60202 from now on, and the next
            // start for the number is a new verification with a new code.
            if pending.checks >= u32::from(MAX_CHECKS) {
                let tag = pending.phone_tag;
                if state.by_phone.get(&tag).is_some_and(|s| s == sid.as_str()) {
                    state.by_phone.remove(&tag);
                }
            }
            Ok(CheckOutcome::Rejected)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::{PhoneNumber, Username};

    struct Harness {
        clock: Arc<ManualClock>,
        notices: Arc<Mutex<Vec<CodeNotice>>>,
        verifier: LocalVerifier,
    }

    fn harness() -> Harness {
        let clock = Arc::new(ManualClock::default());
        let notices = Arc::new(Mutex::new(Vec::new()));
        let captured = Arc::clone(&notices);
        let sink: CodeSink = Arc::new(move |n: &CodeNotice| {
            captured.lock().unwrap().push(n.clone());
        });
        let verifier = LocalVerifier::new(clock.clone(), sink);
        Harness {
            clock,
            notices,
            verifier,
        }
    }

    impl Harness {
        async fn start(&self, user: &str, phone: &str) -> Result<VerificationSid, VerifyError> {
            let username = Username::parse(user).unwrap();
            let to = PhoneNumber::parse(phone).unwrap();
            self.verifier
                .start(StartRequest {
                    username: &username,
                    to: &to,
                    channel: Channel::Sms,
                    locale: Some("en"),
                })
                .await
                .map(|s| s.sid)
        }

        async fn check(
            &self,
            sid: &VerificationSid,
            code: &str,
        ) -> Result<CheckOutcome, VerifyError> {
            self.verifier
                .check(sid, &OtpCode::parse(code).unwrap())
                .await
        }

        fn last_code(&self) -> String {
            self.notices.lock().unwrap().last().unwrap().code.clone()
        }

        fn sent(&self) -> usize {
            self.notices.lock().unwrap().len()
        }
    }

    const ALICE: &str = "+14155550101";
    const BOB: &str = "+447400123456";

    /// A valid code that is not `code`.
    fn other(code: &str) -> String {
        let n: u32 = code.parse().unwrap();
        format!("{:06}", (n + 1) % 1_000_000)
    }

    fn code_of(e: &VerifyError) -> Option<u32> {
        e.twilio_code()
    }

    #[tokio::test]
    async fn start_delivers_one_six_digit_code_for_the_user() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let s = sid.as_str();
        assert_eq!(s.len(), 34);
        assert!(s.starts_with("VE"));
        assert!(
            s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );

        let notices = h.notices.lock().unwrap();
        assert_eq!(notices.len(), 1);
        let n = &notices[0];
        assert_eq!(n.username, "alice");
        assert_eq!(n.code.len(), 6);
        assert!(n.code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(n.locale.as_deref(), Some("en"));
        assert_eq!(n.masked_phone, "+1********01");
        assert!(!format!("{n:?}").contains(&n.code));
    }

    #[test]
    fn stdout_line_has_user_and_code() {
        let line = format_notice(&CodeNotice {
            username: "alice".into(),
            code: "012345".into(),
            locale: Some("en".into()),
            masked_phone: "+1********01".into(),
            channel: Channel::Sms,
        });
        assert_eq!(
            line,
            "roomgate local verifier: user=alice code=012345 to=+1********01 locale=en (valid 10 minutes)"
        );
    }

    #[test]
    fn a_call_says_it_is_a_call() {
        let line = format_notice(&CodeNotice {
            username: "alice".into(),
            code: "012345".into(),
            locale: Some("fr".into()),
            masked_phone: "+1********01".into(),
            channel: Channel::Call,
        });
        assert_eq!(
            line,
            "roomgate local verifier: user=alice code=012345 to=+1********01 locale=fr (valid 10 minutes) by voice call (a real one would read it out)"
        );
    }

    #[tokio::test]
    async fn right_code_approves_then_the_verification_is_gone() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        assert_eq!(h.check(&sid, &code).await.unwrap(), CheckOutcome::Approved);
        let err = h.check(&sid, &code).await.unwrap_err();
        assert_eq!(code_of(&err), Some(20404));
        assert!(matches!(err, VerifyError::NotFound(_)));
    }

    #[tokio::test]
    async fn wrong_code_rejects_and_the_sixth_check_closes() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        for _ in 0..MAX_CHECKS {
            assert_eq!(
                h.check(&sid, &other(&code)).await.unwrap(),
                CheckOutcome::Rejected
            );
        }
        // Even the right code is refused now, and the verification closes.
        let err = h.check(&sid, &code).await.unwrap_err();
        assert!(matches!(err, VerifyError::MaxCheckAttempts(_)));
        assert_eq!(code_of(&err), Some(60202));
        let err = h.check(&sid, &code).await.unwrap_err();
        assert_eq!(code_of(&err), Some(20404));
    }

    #[tokio::test]
    async fn right_code_after_some_wrong_ones_still_approves() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        for _ in 0..MAX_CHECKS - 1 {
            assert_eq!(
                h.check(&sid, &other(&code)).await.unwrap(),
                CheckOutcome::Rejected
            );
        }
        assert_eq!(h.check(&sid, &code).await.unwrap(), CheckOutcome::Approved);
    }

    #[tokio::test]
    async fn code_expires_after_ten_minutes() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        h.clock.advance(Duration::from_secs(9 * 60 + 59));
        assert_eq!(
            h.check(&sid, &other(&code)).await.unwrap(),
            CheckOutcome::Rejected
        );
        assert_eq!(h.check(&sid, &code).await.unwrap(), CheckOutcome::Approved);

        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        h.clock.advance(CODE_TTL + Duration::from_secs(1));
        let err = h.check(&sid, &code).await.unwrap_err();
        assert_eq!(code_of(&err), Some(20404));
    }

    #[tokio::test]
    async fn resend_within_validity_gives_same_sid_and_code() {
        let h = harness();
        let first = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        h.clock.advance(Duration::from_secs(120));
        let second = h.start("alice", ALICE).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(h.sent(), 2);
        assert_eq!(h.last_code(), code);
        // Resends don't extend validity: 10 minutes from the first send.
        h.clock.advance(CODE_TTL - Duration::from_secs(120));
        assert_eq!(
            code_of(&h.check(&first, &code).await.unwrap_err()),
            Some(20404)
        );
    }

    #[tokio::test]
    async fn a_start_after_every_check_was_used_is_a_new_verification() {
        let h = harness();
        let first = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..MAX_CHECKS {
            assert_eq!(
                h.check(&first, wrong).await.unwrap(),
                CheckOutcome::Rejected
            );
        }
        let second = h.start("alice", ALICE).await.unwrap();
        assert_ne!(first, second, "the exhausted verification is not resent");
        let new_code = h.last_code();
        assert_eq!(
            h.check(&second, &new_code).await.unwrap(),
            CheckOutcome::Approved
        );
        // The old one still says what Verify would.
        assert_eq!(
            code_of(&h.check(&first, &code).await.unwrap_err()),
            Some(60202)
        );
    }

    #[tokio::test]
    async fn sixth_send_is_refused() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        for _ in 1..MAX_SENDS {
            assert_eq!(h.start("alice", ALICE).await.unwrap(), sid);
        }
        let err = h.start("alice", ALICE).await.unwrap_err();
        assert!(matches!(err, VerifyError::MaxSendAttempts(_)));
        assert_eq!(code_of(&err), Some(60203));
        assert_eq!(h.sent(), MAX_SENDS as usize);
        // The verification itself is still pending.
        let code = h.last_code();
        assert_eq!(h.check(&sid, &code).await.unwrap(), CheckOutcome::Approved);
    }

    #[tokio::test]
    async fn after_expiry_a_start_is_a_new_verification() {
        let h = harness();
        let old_sid = h.start("alice", ALICE).await.unwrap();
        let old_code = h.last_code();
        h.clock.advance(CODE_TTL + Duration::from_secs(1));
        let new_sid = h.start("alice", ALICE).await.unwrap();
        assert_ne!(old_sid, new_sid);
        let new_code = h.last_code();
        assert_eq!(h.sent(), 2);
        assert_eq!(
            code_of(&h.check(&old_sid, &old_code).await.unwrap_err()),
            Some(20404)
        );
        assert_eq!(
            h.check(&new_sid, &new_code).await.unwrap(),
            CheckOutcome::Approved
        );
    }

    #[tokio::test]
    async fn after_approval_a_start_is_a_new_verification() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        assert_eq!(
            h.check(&sid, &h.last_code()).await.unwrap(),
            CheckOutcome::Approved
        );
        let again = h.start("alice", ALICE).await.unwrap();
        assert_ne!(sid, again);
    }

    #[tokio::test]
    async fn a_code_only_works_for_its_own_verification() {
        let h = harness();
        let alice = h.start("alice", ALICE).await.unwrap();
        let alice_code = h.last_code();
        let bob = h.start("bob", BOB).await.unwrap();
        let bob_code = h.last_code();
        assert_ne!(alice, bob);
        if alice_code != bob_code {
            assert_eq!(
                h.check(&bob, &alice_code).await.unwrap(),
                CheckOutcome::Rejected
            );
        }
        assert_eq!(
            h.check(&alice, &alice_code).await.unwrap(),
            CheckOutcome::Approved
        );
        assert_eq!(
            h.check(&bob, &bob_code).await.unwrap(),
            CheckOutcome::Approved
        );
    }

    #[tokio::test]
    async fn unknown_sid_is_not_found() {
        let h = harness();
        let sid = VerificationSid::new(format!("VE{}", "0".repeat(32)));
        let err = h.check(&sid, "123456").await.unwrap_err();
        assert_eq!(code_of(&err), Some(20404));
    }

    #[tokio::test]
    async fn expired_entries_are_purged() {
        let h = harness();
        h.start("alice", ALICE).await.unwrap();
        h.start("bob", BOB).await.unwrap();
        assert_eq!(h.verifier.lock().by_sid.len(), 2);
        h.clock.advance(CODE_TTL);
        let _ = h.check(&VerificationSid::new("VEnope"), "123456").await;
        let state = h.verifier.lock();
        assert!(state.by_sid.is_empty());
        assert!(state.by_phone.is_empty());
        assert!(state.expiry.is_empty());
    }

    #[tokio::test]
    async fn too_many_pending_verifications_are_refused() {
        let h = harness();
        {
            // Fill the map with dummies rather than 100 000 real starts.
            let mut state = h.verifier.lock();
            let far = h.clock.now() + CODE_TTL;
            for i in 0..MAX_PENDING {
                let sid = format!("VE{i:032x}");
                state.expiry.insert((far, sid.clone()));
                state.by_sid.insert(
                    sid,
                    Pending {
                        phone_tag: [0; 32],
                        code: SecretString::from("000000"),
                        code_mac: [0; 32],
                        expires_at: far,
                        sends: 1,
                        checks: 0,
                    },
                );
            }
        }
        let err = h.start("alice", ALICE).await.unwrap_err();
        assert!(matches!(err, VerifyError::RateLimited(_)));
        assert_eq!(code_of(&err), Some(20429));
        assert_eq!(h.sent(), 0);
        // Once they expire there is room again.
        h.clock.advance(CODE_TTL);
        h.start("alice", ALICE).await.unwrap();
    }

    #[tokio::test]
    async fn debug_never_shows_the_code() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        let dbg = format!("{:?}", h.verifier);
        // The SID and the expiry time are digits too: take them out so a code that
        // happens to occur inside them can't fail the test by chance.
        let expires_at = format!("{:?}", h.verifier.lock().by_sid[sid.as_str()].expires_at);
        let dbg = dbg.replace(sid.as_str(), "VE…").replace(&expires_at, "…");
        assert!(dbg.contains("pending"), "{dbg}");
        assert!(!dbg.contains(&code), "{dbg}");
        assert!(!dbg.contains("4155550101"), "{dbg}");
    }
}
