//! Pending sign-ins, kept server-side between "send me a code" and "here is my code".
//!
//! The cookie carries only a random [`SignInId`]. Keeping the rest here means the
//! cookie looks the same for every username, the attempt counter can't be reset by
//! replaying an older cookie, and the verification can be started in the background
//! while the participant's browser is already following the redirect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::clock::Clock;
use crate::domain::{PhoneNumber, RoomName, Username};
use crate::metrics::Metrics;
use crate::notice::Notice;
use crate::session::random_token;
use crate::verify::{StartRequest, VerificationSid, Verifier};

/// Verify's own limit: a verification accepts at most 5 checks.
pub const MAX_CHECKS: u8 = 5;
/// Verify codes live 10 minutes; a pending sign-in lives no longer.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(600);
/// Memory bound on pending sign-ins; beyond it new ones are refused as "busy".
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignInId(String);

/// Where the verification start stands.
#[derive(Debug, Clone)]
pub enum StartState {
    InFlight,
    Sent(VerificationSid),
    /// Unknown user, or not allowed in the room: nothing was sent, on purpose.
    NotSent,
    Failed(Notice),
}

pub struct SignIn {
    pub room: RoomName,
    /// The username as typed (normalised), known or not: lockouts count against it,
    /// so they look the same for every name.
    pub who: String,
    /// Set only when the user may join the room and a code was asked for.
    pub username: Option<Username>,
    created: SystemTime,
    checks_used: AtomicU8,
    state: watch::Receiver<StartState>,
}

impl SignIn {
    /// Take one of the verification's checks; `None` once all are used.
    pub fn take_check(&self) -> Option<u8> {
        self.checks_used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < MAX_CHECKS).then_some(used + 1)
            })
            .ok()
            .map(|before| MAX_CHECKS - before - 1)
    }

    pub fn checks_left(&self) -> u8 {
        MAX_CHECKS.saturating_sub(self.checks_used.load(Ordering::SeqCst))
    }

    /// How long ago this sign-in began.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.created).unwrap_or_default()
    }

    /// The start's state now, without waiting.
    pub fn state(&self) -> StartState {
        self.state.borrow().clone()
    }

    /// The start's outcome, waiting up to `limit` for one in flight.
    pub async fn started(&self, limit: Duration) -> StartState {
        let mut rx = self.state.clone();
        let waited =
            tokio::time::timeout(limit, rx.wait_for(|s| !matches!(s, StartState::InFlight))).await;
        match waited {
            Ok(Ok(state)) => state.clone(),
            // The sender is gone without an answer (task aborted) or we gave up.
            _ => StartState::Failed(Notice::Unavailable),
        }
    }
}

pub struct SignIns {
    entries: Mutex<HashMap<SignInId, Arc<SignIn>>>,
    clock: Arc<dyn Clock>,
    verifier: Arc<dyn Verifier>,
    /// Where "code sent" is recorded once Verify has answered.
    audit: AuditLog,
    metrics: Metrics,
}

/// What a new sign-in does about a code.
pub enum Start {
    /// Send one, in the background.
    Send(CodeRequest),
    /// Nothing: the user is not on the list for this room.
    Nothing,
    /// Nothing, for a reason the participant learns on the code page, not at once
    /// (so the sign-in response stays the same for every username).
    Refused(Notice),
}

/// A code to send as part of a sign-in: who, to which number, through which verifier.
pub struct CodeRequest {
    pub username: Username,
    /// The user's pseudonym, for logs.
    pub log_user: String,
    pub phone: PhoneNumber,
    pub locale: Option<String>,
    pub room: RoomName,
    pub ip: std::net::IpAddr,
}

impl SignIns {
    pub fn new(
        clock: Arc<dyn Clock>,
        verifier: Arc<dyn Verifier>,
        audit: AuditLog,
        metrics: Metrics,
    ) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            clock,
            verifier,
            audit,
            metrics,
        }
    }

    /// Record a sign-in for `room`. With a `code` request, the verification starts in
    /// a background task: the caller answers at once, whoever the user is.
    pub fn begin(&self, room: RoomName, who: String, start: Start) -> SignInId {
        let id = SignInId(random_token());
        let (tx, rx) = watch::channel(StartState::InFlight);
        let full = self.lock().len() >= MAX_PENDING;
        let username = match &start {
            Start::Send(req) => Some(req.username.clone()),
            Start::Nothing | Start::Refused(_) => None,
        };
        match start {
            _ if full => {
                tracing::warn!(
                    limit = MAX_PENDING,
                    "too many pending sign-ins; refusing new ones"
                );
                tx.send_replace(StartState::Failed(Notice::Unavailable));
            }
            Start::Nothing => {
                tx.send_replace(StartState::NotSent);
            }
            Start::Refused(notice) => {
                tx.send_replace(StartState::Failed(notice));
            }
            Start::Send(req) => {
                let verifier = self.verifier.clone();
                let audit = self.audit.clone();
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    let outcome = verifier
                        .start(StartRequest {
                            username: &req.username,
                            to: &req.phone,
                            locale: req.locale.as_deref(),
                        })
                        .await;
                    let state = match outcome {
                        Ok(started) => {
                            metrics.verification_started();
                            tracing::info!(user = %req.log_user, phone = %req.phone.masked(), "code sent");
                            StartState::Sent(started.sid)
                        }
                        Err(err) => {
                            let notice = Notice::from_verify_error(&err);
                            metrics.verification_failed(notice.fail_reason());
                            tracing::warn!(
                                user = %req.log_user,
                                phone = %req.phone.masked(),
                                twilio_code = ?err.twilio_code(),
                                error = %err,
                                notice = notice.kind(),
                                "verification start failed"
                            );
                            StartState::Failed(notice)
                        }
                    };
                    // Nobody waiting is fine: the state is read when the code arrives.
                    let sent = matches!(state, StartState::Sent(_));
                    tx.send_replace(state);
                    if sent {
                        let record = AuditRecord::new(AuditEvent::CodeSent)
                            .user(&req.username)
                            .room(&req.room)
                            .ip(req.ip)
                            .phone(&req.phone);
                        if let Err(e) = audit.record(record).await {
                            tracing::error!(error = %e, "audit record not written");
                        }
                    }
                });
            }
        }
        let sign_in = Arc::new(SignIn {
            room,
            who,
            username,
            created: self.clock.now(),
            checks_used: AtomicU8::new(0),
            state: rx,
        });
        if !full {
            self.lock().insert(id.clone(), sign_in);
        }
        id
    }

    /// The live sign-in `id` for `room`. Expired ones are left for [`Self::sweep`],
    /// which reports them as failed verifications.
    pub fn get(&self, id: &SignInId, room: &RoomName) -> Option<Arc<SignIn>> {
        let entries = self.lock();
        let entry = entries.get(id)?;
        (!self.expired(entry) && &entry.room == room).then(|| Arc::clone(entry))
    }

    pub fn remove(&self, id: &SignInId) {
        self.lock().remove(id);
    }

    /// Drop every expired sign-in, returning who they were for: each is a failed
    /// verification. Run periodically so abandoned ones don't pile up.
    pub fn sweep(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut expired = Vec::new();
        self.lock().retain(|_, s| {
            let keep = !is_expired(s, now);
            if !keep {
                expired.push(s.who.clone());
            }
            keep
        });
        expired
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` is still held (expired or not). For tests.
    pub fn contains(&self, id: &SignInId) -> bool {
        self.lock().contains_key(id)
    }

    fn expired(&self, s: &SignIn) -> bool {
        is_expired(s, self.clock.now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SignInId, Arc<SignIn>>> {
        // A panic while holding this lock can't leave the map inconsistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_expired(s: &SignIn, now: SystemTime) -> bool {
    now.duration_since(s.created).unwrap_or_default() >= SIGN_IN_TTL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn signins(clock: Arc<dyn Clock>) -> SignIns {
        let verifier = Arc::new(crate::verify::local::LocalVerifier::new(
            clock.clone(),
            Arc::new(|_: &crate::verify::local::CodeNotice| {}),
        ));
        SignIns::new(clock, verifier, AuditLog::disabled(), Metrics::new())
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[tokio::test]
    async fn unknown_users_get_a_sign_in_that_sends_nothing() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = signins.begin(room("standup"), "mallory".into(), Start::Nothing);
        let s = signins.get(&id, &room("standup")).unwrap();
        assert!(matches!(
            s.started(Duration::from_secs(1)).await,
            StartState::NotSent
        ));
        assert!(s.username.is_none());
        assert!(signins.get(&id, &room("other")).is_none());
    }

    #[tokio::test]
    async fn checks_run_out_after_five() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = signins.begin(room("standup"), "mallory".into(), Start::Nothing);
        let s = signins.get(&id, &room("standup")).unwrap();
        let left: Vec<_> = std::iter::from_fn(|| s.take_check()).collect();
        assert_eq!(left, vec![4, 3, 2, 1, 0]);
        assert_eq!(s.checks_left(), 0);
        assert_eq!(s.take_check(), None);
    }

    #[tokio::test]
    async fn sign_ins_expire_after_ten_minutes() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let id = signins.begin(room("standup"), "mallory".into(), Start::Nothing);
        clock.advance(SIGN_IN_TTL - Duration::from_secs(1));
        assert!(signins.get(&id, &room("standup")).is_some());
        let _other = signins.begin(room("standup"), "bob".into(), Start::Nothing);
        clock.advance(Duration::from_secs(1));
        assert!(signins.get(&id, &room("standup")).is_none());
        assert!(signins.contains(&id), "left for the sweep");
        assert_eq!(signins.sweep(), vec!["mallory".to_owned()]);
        assert!(!signins.contains(&id));
        clock.advance(SIGN_IN_TTL);
        assert_eq!(signins.sweep(), vec!["bob".to_owned()]);
        assert!(signins.is_empty());
    }
}
