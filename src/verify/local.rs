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
//! Storage: verifications live in the [`Store`], like every other pending sign-in
//! state, so a code asked for before a restart (or a `kill -9`) is still the one to
//! type after it, and its checks and sends stay counted. A verification keeps an
//! HMAC-SHA256 of its code (bound to the SID), which checks compare in constant time.
//! Because a resend must deliver the *same* code and a hash can't be reversed, the code
//! is also kept sealed with AES-256-GCM (bound to the SID too), used for nothing but
//! resends. Phone numbers are indexed by their HMAC, never stored in clear. Both keys
//! derive from the session key, which local mode keeps in the data directory: a code
//! stored by one run is readable by the next, and by nobody who has only the store.
//! Counts are the store's atomic counters, so they hold across instances sharing it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{
    Channel, CheckOutcome, MAX_CHECKS, StartRequest, StartedVerification, VerificationSid,
    Verifier, VerifyError,
};
use crate::domain::OtpCode;
use crate::store::{Admission, Rule, Store, StoreError, unix_ms};

/// How long a code is valid, from the first send (Verify's default).
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Sends (first send and resends) allowed per verification (Verify: 5).
pub const MAX_SENDS: u32 = 5;
/// New verifications per [`CODE_TTL`], every number together; starts beyond this are
/// refused with 20429, so the store holds a bounded number of them.
pub const MAX_PENDING: u32 = 100_000;
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

/// Code lines queued for stdout at most, while nothing reads it.
const CODE_QUEUE_LINES: usize = 1024;

/// The default sink: one line on stdout. This is the only place a code is ever
/// printed; it is never logged. A thread of its own writes the lines, so a terminal
/// that stops reading (a full pipe, Ctrl-S) doesn't stall the request that sent the
/// code; a code that finds the queue full is not printed, and the log says so (a new
/// code can be asked for once the terminal reads again). The thread ends, writing
/// what is queued, when the verifier holding the sink is dropped.
pub fn stdout_sink() -> CodeSink {
    let (terminal, thread) =
        crate::telemetry::Terminal::new(std::io::stdout(), "roomgate-codes", CODE_QUEUE_LINES);
    Arc::new(move |notice: &CodeNotice| {
        let _keep = &thread;
        if !terminal.write_line(&format_notice(notice)) {
            tracing::warn!(
                name: crate::telemetry::REPEATABLE,
                "a local-mode code was not printed: nothing is reading roomgate's output"
            );
        }
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

/// One verification, as the store holds it (JSON).
#[derive(Serialize, Deserialize)]
struct Stored {
    /// HMAC of the number, hex: which index entry is this verification's.
    phone_tag: String,
    /// HMAC of the SID and code, hex: what checks compare.
    code_mac: String,
    /// The code sealed for resends: base64 of nonce ‖ ciphertext.
    sealed: String,
    /// Unix milliseconds, by the store's clock.
    expires_ms: u64,
}

fn key(sid: &str) -> String {
    format!("local-verify:{sid}")
}

fn phone_key(tag: &str) -> String {
    format!("local-verify-phone:{tag}")
}

fn sends_key(sid: &str) -> String {
    format!("local-verify-sends:{sid}")
}

fn checks_key(sid: &str) -> String {
    format!("local-verify-checks:{sid}")
}

/// Claimed by the one check that approves, so two right codes at once approve once.
fn approved_key(sid: &str) -> String {
    format!("local-verify-approved:{sid}")
}

const STARTS_KEY: &str = "local-verify-starts";

/// The store failing looks like Verify failing: the participant is told to try again.
fn unavailable(e: &StoreError) -> VerifyError {
    tracing::error!(error = %e, "local verifier: the store is unavailable");
    VerifyError::local(20503, 503, "Service unavailable")
}

/// The local-mode [`Verifier`]. See the module docs.
pub struct LocalVerifier {
    store: Arc<dyn Store>,
    sink: CodeSink,
    /// Keys the phone index and the code MACs.
    mac_key: SecretBox<[u8; 32]>,
    /// Seals codes for resends.
    cipher: Aes256Gcm,
}

impl fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalVerifier")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

impl LocalVerifier {
    /// `secret` is the session key: its derived keys read what an earlier run stored.
    pub fn new(store: Arc<dyn Store>, secret: &[u8], sink: CodeSink) -> Self {
        let derive = |label: &[u8]| -> Zeroizing<[u8; 32]> {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                .expect("HMAC takes keys of any length");
            mac.update(label);
            Zeroizing::new(mac.finalize().into_bytes().into())
        };
        let mac_key = derive(b"roomgate local verifier mac v1");
        let seal_key = derive(b"roomgate local verifier seal v1");
        Self {
            store,
            sink,
            mac_key: SecretBox::new(Box::new(*mac_key)),
            cipher: Aes256Gcm::new((&*seal_key).into()),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> Tag {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.mac_key.expose_secret())
            .expect("HMAC takes keys of any length");
        for part in parts {
            // Length-prefixed, so distinct inputs never share a byte string.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn phone_tag(&self, e164: &str) -> String {
        hex::encode(self.mac(&[b"phone", e164.as_bytes()]))
    }

    fn code_mac(&self, sid: &str, code: &str) -> Tag {
        self.mac(&[b"code", sid.as_bytes(), code.as_bytes()])
    }

    fn seal(&self, sid: &str, code: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: code.as_bytes(),
                    aad: sid.as_bytes(),
                },
            )
            .expect("AES-GCM seals any message this short");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        STANDARD.encode(out)
    }

    /// The code sealed for `sid`, or `None` if it doesn't open (another key: a
    /// session key changed since it was stored).
    fn open(&self, sid: &str, sealed: &str) -> Option<Zeroizing<String>> {
        let raw = STANDARD.decode(sealed).ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: sid.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok().map(Zeroizing::new)
    }

    fn now_ms(&self) -> u64 {
        unix_ms(self.store.clock().now())
    }

    /// The verification `sid`, if it is pending.
    async fn find(&self, sid: &str) -> Result<Option<Stored>, StoreError> {
        let Some(raw) = self.store.get(&key(sid)).await? else {
            return Ok(None);
        };
        let now = self.now_ms();
        Ok(serde_json::from_slice::<Stored>(&raw)
            .ok()
            .filter(|v| v.expires_ms > now))
    }

    /// What is left of a verification's life, for the entries that go with it.
    fn left(&self, v: &Stored) -> Duration {
        Duration::from_millis(v.expires_ms.saturating_sub(self.now_ms()).max(1))
    }

    /// A resend of the number's pending verification: its SID and code, or `None`
    /// when there is none to resend (or its code no longer opens).
    async fn resend(&self, tag: &str) -> Result<Option<(String, Zeroizing<String>)>, VerifyError> {
        let store = &self.store;
        let Some(sid) = store
            .get(&phone_key(tag))
            .await
            .map_err(|e| unavailable(&e))?
        else {
            return Ok(None);
        };
        let Ok(sid) = String::from_utf8(sid) else {
            return Ok(None);
        };
        let Some(v) = self.find(&sid).await.map_err(|e| unavailable(&e))? else {
            return Ok(None);
        };
        let Some(code) = self.open(&sid, &v.sealed) else {
            return Ok(None);
        };
        let sent = store
            .incr_below(&sends_key(&sid), MAX_SENDS, self.left(&v))
            .await
            .map_err(|e| unavailable(&e))?;
        if sent.is_none() {
            return Err(VerifyError::local(60203, 429, "Max send attempts reached"));
        }
        Ok(Some((sid, code)))
    }

    /// Record a send (new or resend) and return the SID and the code to deliver.
    async fn register_send(
        &self,
        req: &StartRequest<'_>,
    ) -> Result<(String, Zeroizing<String>, bool), VerifyError> {
        let tag = self.phone_tag(req.to.expose_e164());
        if let Some((sid, code)) = self.resend(&tag).await? {
            return Ok((sid, code, true));
        }
        let store = &self.store;
        let starts = [Rule::new(MAX_PENDING, CODE_TTL)];
        if let Admission::Wait(_) = store
            .admit(STARTS_KEY, &starts)
            .await
            .map_err(|e| unavailable(&e))?
        {
            return Err(VerifyError::local(20429, 429, "Too many requests"));
        }
        let (sid, code) = {
            let mut rng = rand::rng();
            let mut bytes = [0u8; 16];
            rng.fill_bytes(&mut bytes);
            let sid = format!("VE{}", hex::encode(bytes));
            let code = format!(
                "{:0width$}",
                rng.random_range(0..10u32.pow(CODE_LENGTH as u32)),
                width = CODE_LENGTH
            );
            (sid, Zeroizing::new(code))
        };
        let stored = Stored {
            phone_tag: tag.clone(),
            code_mac: hex::encode(self.code_mac(&sid, &code)),
            sealed: self.seal(&sid, &code),
            expires_ms: self.now_ms() + CODE_TTL.as_millis() as u64,
        };
        let encoded = serde_json::to_vec(&stored).expect("a verification always serialises");
        // All three durably before the code goes out (the embedded store commits them
        // together), so a code shown is a code the next run knows.
        let (stored_key, index, sends) = (key(&sid), phone_key(&tag), sends_key(&sid));
        tokio::try_join!(
            store.put(&stored_key, &encoded, CODE_TTL),
            store.put(&index, sid.as_bytes(), CODE_TTL),
            store.incr_below(&sends, MAX_SENDS, CODE_TTL),
        )
        .map_err(|e| unavailable(&e))?;
        Ok((sid, code, false))
    }

    /// The number's next start is a new verification, not a resend of `sid`.
    async fn unindex(&self, sid: &str, v: &Stored) -> Result<(), StoreError> {
        let index = phone_key(&v.phone_tag);
        if self.store.get(&index).await?.as_deref() == Some(sid.as_bytes()) {
            self.store.delete(&index).await?;
        }
        Ok(())
    }

    /// The verification is over: it goes, and its number's next start is a new one.
    async fn close(&self, sid: &str, v: &Stored) -> Result<(), StoreError> {
        let stored = key(sid);
        tokio::try_join!(self.store.delete(&stored), self.unindex(sid, v))?;
        Ok(())
    }
}

#[async_trait]
impl Verifier for LocalVerifier {
    async fn start(&self, req: StartRequest<'_>) -> Result<StartedVerification, VerifyError> {
        let masked_phone = req.to.masked();
        let (sid, code, resend) = match self.register_send(&req).await {
            Ok(sent) => sent,
            Err(e) => {
                tracing::debug!(to = %masked_phone, twilio_code = ?e.twilio_code(), "local verification refused");
                return Err(e);
            }
        };
        tracing::debug!(sid = %sid, to = %masked_phone, resend, "local verification sent");
        let mut notice = CodeNotice {
            username: req.username.as_str().to_owned(),
            code: code.as_str().to_owned(),
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

    /// In process, so it answers whenever the store does: the first step of a check.
    async fn reachable(&self) -> Result<(), VerifyError> {
        self.find("").await.map_err(|e| unavailable(&e))?;
        Ok(())
    }

    async fn check(
        &self,
        sid: &VerificationSid,
        code: &OtpCode,
    ) -> Result<CheckOutcome, VerifyError> {
        let sid = sid.as_str();
        let Some(v) = self.find(sid).await.map_err(|e| unavailable(&e))? else {
            tracing::debug!(sid, "local check: no such verification");
            return Err(VerifyError::local(
                20404,
                404,
                "The requested resource was not found",
            ));
        };
        let left = self.left(&v);
        let checks = self
            .store
            .incr_below(&checks_key(sid), u32::from(MAX_CHECKS), left)
            .await
            .map_err(|e| unavailable(&e))?;
        let Some(checks) = checks else {
            self.close(sid, &v).await.map_err(|e| unavailable(&e))?;
            tracing::debug!(sid, "local check: max attempts, closed");
            return Err(VerifyError::local(60202, 429, "Max check attempts reached"));
        };
        let given = self.code_mac(sid, code.expose());
        let right = hex::encode(given).as_bytes().ct_eq(v.code_mac.as_bytes());
        if bool::from(right) {
            let first = self
                .store
                .put_new(&approved_key(sid), b"1", left)
                .await
                .map_err(|e| unavailable(&e))?;
            if !first {
                // Another check approved it a moment ago: it is gone, as after any
                // approval.
                return Err(VerifyError::local(
                    20404,
                    404,
                    "The requested resource was not found",
                ));
            }
            self.close(sid, &v).await.map_err(|e| unavailable(&e))?;
            tracing::debug!(sid, "local check: approved");
            Ok(CheckOutcome::Approved)
        } else {
            tracing::debug!(sid, "local check: wrong code");
            // Like Verify, a verification with every check used is over
            // (`max_attempts_reached`): it answers 60202 from now on, and the next
            // start for the number is a new verification with a new code.
            if checks >= u32::from(MAX_CHECKS) {
                self.unindex(sid, &v).await.map_err(|e| unavailable(&e))?;
            }
            Ok(CheckOutcome::Rejected)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::{PhoneNumber, Username};
    use crate::store::memory::MemoryStore;

    const SECRET: &[u8] = b"the session key of this run";

    struct Harness {
        clock: Arc<ManualClock>,
        store: Arc<MemoryStore>,
        notices: Arc<Mutex<Vec<CodeNotice>>>,
        verifier: LocalVerifier,
    }

    fn harness() -> Harness {
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        verifier_on(clock, store, SECRET)
    }

    /// A verifier on `store`: another run of roomgate, if the store is an earlier
    /// harness's.
    fn verifier_on(clock: Arc<ManualClock>, store: Arc<MemoryStore>, secret: &[u8]) -> Harness {
        let notices = Arc::new(Mutex::new(Vec::new()));
        let captured = Arc::clone(&notices);
        let sink: CodeSink = Arc::new(move |n: &CodeNotice| {
            captured.lock().unwrap().push(n.clone());
        });
        let verifier = LocalVerifier::new(store.clone(), secret, sink);
        Harness {
            clock,
            store,
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
    async fn a_restart_keeps_the_code_and_what_was_spent_of_it() {
        let first = harness();
        let sid = first.start("alice", ALICE).await.unwrap();
        let code = first.last_code();
        for _ in 0..3 {
            let wrong = first.check(&sid, &other(&code)).await.unwrap();
            assert_eq!(wrong, CheckOutcome::Rejected);
        }
        // The next run, on the same store with the same session key.
        let next = verifier_on(first.clock.clone(), first.store.clone(), SECRET);
        assert_eq!(next.start("alice", ALICE).await.unwrap(), sid);
        assert_eq!(
            next.last_code(),
            code,
            "a resend after a restart is the same code"
        );
        // Three of five checks were spent before the restart: two are left, then the
        // sixth closes it, right code or not.
        for _ in 0..2 {
            let wrong = next.check(&sid, &other(&code)).await.unwrap();
            assert_eq!(wrong, CheckOutcome::Rejected);
        }
        let err = next.check(&sid, &code).await.unwrap_err();
        assert_eq!(code_of(&err), Some(60202));

        // A right code typed after the restart approves.
        let sid = first.start("bob", BOB).await.unwrap();
        let code = first.last_code();
        let next = verifier_on(first.clock.clone(), first.store.clone(), SECRET);
        assert_eq!(
            next.check(&sid, &code).await.unwrap(),
            CheckOutcome::Approved
        );
        assert_eq!(
            code_of(&next.check(&sid, &code).await.unwrap_err()),
            Some(20404)
        );
    }

    #[tokio::test]
    async fn sends_survive_a_restart_too() {
        let first = harness();
        for _ in 0..3 {
            first.start("alice", ALICE).await.unwrap();
        }
        let next = verifier_on(first.clock.clone(), first.store.clone(), SECRET);
        next.start("alice", ALICE).await.unwrap();
        next.start("alice", ALICE).await.unwrap();
        let err = next.start("alice", ALICE).await.unwrap_err();
        assert_eq!(code_of(&err), Some(60203));
    }

    #[tokio::test]
    async fn the_store_holds_neither_the_code_nor_the_number() {
        let h = harness();
        let sid = h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        let raw = h.store.get(&key(sid.as_str())).await.unwrap().unwrap();
        let stored: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let fields: Vec<&str> = stored
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, ["code_mac", "expires_ms", "phone_tag", "sealed"]);
        let sealed = STANDARD.decode(stored["sealed"].as_str().unwrap()).unwrap();
        assert!(!sealed.windows(6).any(|w| w == code.as_bytes()));
        assert!(!String::from_utf8_lossy(&raw).contains("4155550101"));
        // A store read with another session key gives nothing: a new code, not the
        // old one, and the old one can't be checked into approval by that run either.
        let other_key = verifier_on(h.clock.clone(), h.store.clone(), b"another key");
        let new_sid = other_key.start("alice", ALICE).await.unwrap();
        assert_ne!(new_sid, sid);
        assert_eq!(
            other_key.check(&sid, &code).await.unwrap(),
            CheckOutcome::Rejected
        );
    }

    #[tokio::test]
    async fn too_many_new_verifications_are_refused() {
        let h = harness();
        // Spend the allowance directly rather than with 100 000 real starts.
        let starts = [Rule::new(MAX_PENDING, CODE_TTL)];
        for _ in 0..MAX_PENDING {
            assert!(
                h.store
                    .admit(STARTS_KEY, &starts)
                    .await
                    .unwrap()
                    .is_admitted()
            );
        }
        let err = h.start("alice", ALICE).await.unwrap_err();
        assert!(matches!(err, VerifyError::RateLimited(_)));
        assert_eq!(code_of(&err), Some(20429));
        assert_eq!(h.sent(), 0);
        // As the window moves on there is room again.
        h.clock.advance(CODE_TTL);
        h.start("alice", ALICE).await.unwrap();
    }

    #[tokio::test]
    async fn debug_never_shows_the_code() {
        let h = harness();
        h.start("alice", ALICE).await.unwrap();
        let code = h.last_code();
        let dbg = format!("{:?}", h.verifier);
        assert!(dbg.contains("memory"), "{dbg}");
        assert!(!dbg.contains(&code), "{dbg}");
        assert!(!dbg.contains("4155550101"), "{dbg}");
    }
}
