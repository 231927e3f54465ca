//! Pending sign-ins, kept in the store between "send me a code" and "here is my code".
//!
//! The cookie carries only a random [`SignInId`]. Keeping the rest server-side means the
//! cookie looks the same for every username, the attempt counter can't be reset by
//! replaying an older cookie, and the verification can be started in the background
//! while the participant's browser is already following the redirect. In the store, a
//! sign-in survives a restart and can be finished on another instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::pace::Pace;
use super::stand_in::StandIns;
use crate::audit::{AuditEvent, AuditLog, AuditRecord};
use crate::domain::{PhoneNumber, RoomName, Username};
use crate::metrics::Metrics;
use crate::notice::Notice;
use crate::random::ordered_token;
use crate::store::{Store, StoreError, unix_ms};
use crate::verify::{Channel, MAX_CHECKS, StartRequest, VerificationSid, Verifier};

/// Verify codes live 10 minutes; a pending sign-in lives no longer.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(600);
/// Kept this long after it expires, so the sweep can still say whose it was.
pub const AFTERLIFE: Duration = Duration::from_secs(300);
/// A window key's life: its ten minutes, and the time for one of those who end it to
/// find it (see [`window_key`]).
const WINDOW_LIFE: Duration = Duration::from_secs(SIGN_IN_TTL.as_secs() + AFTERLIFE.as_secs());

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
/// Expired sign-ins wait here for the sweep, which counts the window of each that
/// opened one as a failure, if it ended unapproved.
const EXPIRY_QUEUE: &str = "signins-expiring";
/// Expired sign-ins taken off the queue at once.
const SWEEP_BATCH: usize = 1000;
/// How long an expired sign-in the sweep took stays out of other sweeps: past it, one
/// not cleared (the store refused a step, the instance died) is taken again.
const SWEEP_LEASE: Duration = Duration::from_secs(60);
/// Expired sign-ins judged at once.
const SWEEP_IN_FLIGHT: usize = 64;
/// How often a check on another instance looks whether the start has finished.
const POLL: Duration = Duration::from_millis(50);
/// A start's outcome the store refused is written again after this, then twice as
/// long each time, up to [`OUTCOME_RETRY_MAX`].
const OUTCOME_RETRY_FIRST: Duration = Duration::from_millis(100);
const OUTCOME_RETRY_MAX: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignInId(String);

/// Where the verification start stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum StartState {
    /// Its start is running, or for a sign-in that sends nothing, the call standing in
    /// for one ([`SignIns::stand_in`]).
    InFlight,
    Sent(VerificationSid),
    /// Unknown user, or not allowed in the room: nothing was sent, on purpose. Also a
    /// start Verify refused for a reason of the number's or the account's: the page
    /// says no more than for an unknown name (see [`super::pace`]).
    NotSent,
    Failed(Notice),
}

/// One pending sign-in, as the store holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    pub room: RoomName,
    /// The username as typed (normalised), known or not: lockouts count against it,
    /// so they look the same for every name.
    pub who: String,
    /// Set only when the user may join the room and a code was asked for.
    pub username: Option<Username>,
    /// What the participant asked for (a text, or "Call me instead"), whoever they
    /// are: the code page says it, the same for every name.
    #[serde(default)]
    pub channel: Channel,
    /// The fingerprint ([`crate::passkeys::PhoneKey`]) of the number the code was sent
    /// to: an approval proves that number, not whatever the list says by then. `None`
    /// when nothing was sent, or for a sign-in stored by an older build (which can't
    /// be approved: see [`crate::signin::SignInService::check`]).
    #[serde(default)]
    pub phone: Option<String>,
    /// Unix milliseconds, by the store's clock.
    created_ms: u64,
    state: StartState,
    /// Sent nothing new: a call asked for by a user allowed only texts kept the
    /// text's code ([`Start::Keep`]). Its check waits as if a start had run, as the
    /// same request from anyone else would (see [`super::pace`]).
    #[serde(default)]
    pub kept: bool,
    /// Verify was out of service (see [`super::pace`]) when this sign-in's call to it
    /// was made: its start, or, for one that sends nothing new, the call standing in
    /// for one ([`SignIns::stand_in`]; past the stand-ins' bound, the outcome of
    /// another's). Its code page says "busy" while Verify is still marked down.
    #[serde(default)]
    pub verify_down: bool,
}

impl SignIn {
    /// How long ago this sign-in began, at `now_ms`.
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.created_ms))
    }

    /// The start's state when this copy was read.
    pub fn state(&self) -> &StartState {
        &self.state
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.age(now_ms) >= SIGN_IN_TTL
    }
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
    /// Nothing new: a call asked for by a user not allowed calls. The code already
    /// sent by text stays the one to type (checked against its verification), and
    /// still proves the number it went to (its fingerprint).
    Keep(Username, VerificationSid, Option<String>),
}

/// A sign-in [`SignIns::record`] could not write: why, and the sign-in if it ended
/// the name's last window unapproved all the same, a failure for the caller to count.
#[derive(Debug)]
pub struct NotRecorded {
    pub error: StoreError,
    pub ended_unapproved: Option<SignIn>,
}

impl From<NotRecorded> for StoreError {
    fn from(not: NotRecorded) -> Self {
        not.error
    }
}

/// A code to send as part of a sign-in: who, to which number, in which language.
pub struct CodeRequest {
    pub username: Username,
    /// The user's pseudonym, for logs.
    pub log_user: String,
    pub phone: PhoneNumber,
    /// `phone`'s fingerprint, kept in the sign-in.
    pub phone_fingerprint: String,
    /// A text or a call.
    pub channel: Channel,
    pub locale: Option<String>,
    pub room: RoomName,
    pub ip: std::net::IpAddr,
}

type InFlight = HashMap<SignInId, watch::Receiver<StartState>>;

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    // A panic while holding this lock can't leave the map inconsistent.
    in_flight.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SignIns {
    store: Arc<dyn Store>,
    verifier: Arc<dyn Verifier>,
    /// Starts running in this process: a check here waits on them without polling.
    /// An entry goes once its start's outcome is in the store, where every instance
    /// reads it: left until the sign-in ended here, those of sign-ins finished on
    /// another instance would never go.
    in_flight: Arc<Mutex<InFlight>>,
    /// Where "code sent" is recorded once Verify has answered.
    audit: AuditLog,
    metrics: Metrics,
    /// Verify's latencies and refusals, mimicked for sign-ins that send nothing.
    pub pace: Arc<Pace>,
    /// The calls that stand in for a start's and a check's, for those sign-ins.
    pub stand_ins: StandIns,
}

fn key(id: &SignInId) -> String {
    format!("signin:{}", id.0)
}

/// A name's verification window: when its first code went out (or, for a name that
/// gets none, would have). Verify keeps one verification per number: a resend within
/// its ten minutes is the same verification, with the same code and the same five
/// checks, and it is not made any longer. The sign-ins of one name share this window
/// the same way, whoever the name is, so the checks left and the expiry are what
/// Verify's would be for a name on the list, and look no different for one that isn't.
///
/// A window that ends unapproved is one failed verification of the name, however its
/// sign-ins ended (left open, logged out of, replaced by a resend or another name):
/// counted once, by whichever of these ends it first (a `delete_if` on its value
/// decides): the sweep, at the expiry of the sign-in that opened it; the name's next
/// sign-in, finding it over; or a check posted after it is over. The key outlives the
/// window's ten minutes by [`AFTERLIFE`] so that one of them still finds it. Counting
/// sign-ins instead let a participant end theirs (logging out, or starting another)
/// and guess five codes every ten minutes without ever being locked out.
fn window_key(who: &str) -> String {
    format!("signin-window:{who}")
}

/// The window key's value for a window `id` opened at `created_ms`.
fn window_opened_by(id: &SignInId, created_ms: u64) -> String {
    format!("{created_ms} {}", id.0)
}

/// When `window` (a window key's value, [`window_opened_by`]) began.
fn window_began(window: &str) -> Option<u64> {
    window.split_once(' ')?.0.parse().ok()
}

/// When the name's code was last approved (Unix ms): its sign-ins begun before then
/// that expire unfinished were the same verification, in another tab or on another
/// device, and are no failures (see [`SignIns::sweep`]).
fn proven_key(who: &str) -> String {
    format!("signin-proven:{who}")
}

/// The checks taken in `window` (its value: when it began, and the sign-in that
/// opened it, which tells apart two windows begun in one millisecond).
fn checks_key(who: &str, window: &str) -> String {
    format!("signin-checks:{who}:{window}")
}

/// A check asked for: whether it may go ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    /// Taken in `window` (see [`checks_key`]); this many are left.
    Left { left: u8, window: Window },
    /// All of the window's checks are spent.
    UsedUp { window: Window },
    /// The sign-in's window is over: ten minutes since its first code, or ended by
    /// an approval or by its last check. `stale` is the window, if it is over by its
    /// age but not yet ended (see [`window_key`]): the check that finds it ends it.
    Over { stale: Option<Window> },
}

/// A name's window, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window(pub(super) String);

impl Checks {
    /// The window the check was taken in, to end it with its verification.
    pub fn window(&self) -> Option<&Window> {
        match self {
            Self::Left { window, .. } | Self::UsedUp { window } => Some(window),
            Self::Over { .. } => None,
        }
    }
}

/// Writes a start's outcome (`outcome`, or its stand-in's) over the sign-in begun at
/// `created_ms` as it began (`held`), for whichever instance gets the code; the
/// sign-in keeps its lifetime. Only over the sign-in as it began: one ended meanwhile
/// (closed as lost, replaced, logged out of) stays as it ended, rather than come back
/// as sent. A store that refuses is asked again (a while apart, jittered, so the
/// starts of a whole outage don't come back at once) until the sign-in is over:
/// meanwhile this instance's checks read the outcome from the start's watch (its entry
/// stays), where once given up, the right code got "busy", then "expired".
async fn write_outcome(store: &dyn Store, key: &str, created_ms: u64, held: &[u8], outcome: &[u8]) {
    let over_ms = created_ms.saturating_add(ms(SIGN_IN_TTL));
    let mut nap = OUTCOME_RETRY_FIRST;
    let mut refused = false;
    loop {
        let now_ms = unix_ms(store.clock().now());
        // A clock set back makes it no longer than a new sign-in's.
        let left = Duration::from_millis(over_ms.saturating_sub(now_ms)).min(SIGN_IN_TTL);
        let left = left + AFTERLIFE;
        match store.put_if(key, Some(held), outcome, left).await {
            Ok(true) => {
                if refused {
                    tracing::info!("sign-in state stored after all");
                }
                return;
            }
            Ok(false) => {
                tracing::debug!("a sign-in ended while its start ran");
                return;
            }
            Err(e) if now_ms.saturating_add(ms(nap * 3 / 2)) < over_ms => {
                if !refused {
                    tracing::error!(error = %e, "sign-in state not stored; trying again");
                    refused = true;
                }
                tokio::time::sleep(nap.mul_f64(rand::random_range(0.5..1.5))).await;
                nap = (nap * 2).min(OUTCOME_RETRY_MAX);
            }
            Err(e) => {
                tracing::error!(error = %e, "sign-in state never stored; the code check will say busy");
                return;
            }
        }
    }
}

fn encode(sign_in: &SignIn) -> Vec<u8> {
    serde_json::to_vec(sign_in).expect("a sign-in always serialises")
}

impl SignIns {
    pub fn new(
        store: Arc<dyn Store>,
        verifier: Arc<dyn Verifier>,
        audit: AuditLog,
        metrics: Metrics,
    ) -> Self {
        let pace = Arc::<Pace>::default();
        Self {
            stand_ins: StandIns::with_default_bound(verifier.clone(), pace.clone()),
            store,
            verifier,
            in_flight: Arc::default(),
            audit,
            metrics,
            pace,
        }
    }

    /// Stand-in calls bounded within `verify_in_flight`, Verify's own bound on calls
    /// in flight (see [`StandIns`]).
    pub fn with_stand_in_bound(mut self, verify_in_flight: usize) -> Self {
        self.stand_ins = StandIns::new(self.verifier.clone(), self.pace.clone(), verify_in_flight);
        self
    }

    /// Now, by the store's clock (a sign-in's age is measured by it).
    pub fn now_ms(&self) -> u64 {
        unix_ms(self.store.clock().now())
    }

    /// Record a sign-in for `room`, durably, before the caller answers. With a code
    /// request, the verification then starts in a background task: the caller answers
    /// at once, whoever the user is.
    pub async fn begin(
        &self,
        room: RoomName,
        who: String,
        channel: Channel,
        start: Start,
    ) -> Result<SignInId, StoreError> {
        let (id, sign_in, _) = self.record(room, who, channel, &start).await?;
        match start {
            Start::Send(req) => self.send(id.clone(), sign_in, req),
            // No cap here: the service's sign-ins cap it at its start wait.
            Start::Nothing | Start::Keep(..) => self.stand_in(&id, sign_in, SIGN_IN_TTL),
            Start::Refused(_) => {}
        }
        Ok(id)
    }

    /// The first half of [`Self::begin`]: the sign-in, written durably, with its start
    /// still to come ([`Self::send`]) for a [`Start::Send`]. For a caller that decides
    /// whether to send while this is written. The last of the three: whether the
    /// name's previous window was found over and ended here, unapproved, which the
    /// caller counts as a failure (see [`window_key`]).
    pub async fn record(
        &self,
        room: RoomName,
        who: String,
        channel: Channel,
        start: &Start,
    ) -> Result<(SignInId, SignIn, bool), NotRecorded> {
        let id = SignInId(ordered_token());
        let (username, phone, state) = match start {
            Start::Send(req) => (
                Some(req.username.clone()),
                Some(req.phone_fingerprint.clone()),
                StartState::InFlight,
            ),
            // In flight until its stand-in ([`SignIns::stand_in`]) ends, as a start.
            Start::Nothing => (None, None, StartState::InFlight),
            Start::Refused(notice) => (None, None, StartState::Failed(*notice)),
            Start::Keep(username, sid, phone) => (
                Some(username.clone()),
                phone.clone(),
                StartState::Sent(sid.clone()),
            ),
        };
        let created_ms = self.now_ms();
        let kept = matches!(start, Start::Keep(..));
        let sign_in = SignIn {
            kept,
            verify_down: false,
            room,
            who,
            username,
            channel,
            phone,
            created_ms,
            state,
        };
        let due = self.store.clock().now() + SIGN_IN_TTL;
        // A code that goes out (or would, for a name that gets none) opens the name's
        // window unless one is open: a resend, as far as Verify is concerned.
        let opens_window = matches!(start, Start::Send(_) | Start::Nothing | Start::Keep(..));
        // What ending the name's last window (over, unapproved) found, and whether
        // the rest went through: a window ended here is counted by the caller even if
        // a later step fails (nobody else would).
        let window = async {
            let mut failed = false;
            let opened = async {
                if !opens_window {
                    return Ok(());
                }
                let (key, window) = (window_key(&sign_in.who), window_opened_by(&id, created_ms));
                if self
                    .store
                    .put_new(&key, window.as_bytes(), WINDOW_LIFE)
                    .await?
                {
                    return Ok(());
                }
                // One is there: open (this is a resend), or over by its age and not
                // yet ended, which this sign-in ends before opening its own.
                let Some(there) = self.store.get(&key).await? else {
                    self.store
                        .put_new(&key, window.as_bytes(), WINDOW_LIFE)
                        .await?;
                    return Ok(());
                };
                let there = String::from_utf8_lossy(&there).into_owned();
                let over = window_began(&there)
                    .is_none_or(|began| created_ms.saturating_sub(began) >= ms(SIGN_IN_TTL));
                if !over {
                    return Ok(());
                }
                failed = self.end_unapproved(&sign_in.who, &there).await?;
                self.store
                    .put_new(&key, window.as_bytes(), WINDOW_LIFE)
                    .await
                    .map(drop)
            }
            .await;
            (failed, opened)
        };
        // All at once: the embedded store commits them together (one fsync, not
        // several in a row), and Redis pipelines them on its connection. Any order is
        // safe: the sweep ignores an expiry whose sign-in is missing.
        let (stored, encoded) = (key(&id), encode(&sign_in));
        let (put, scheduled, (failed, windowed)) = tokio::join!(
            self.store.put(&stored, &encoded, SIGN_IN_TTL + AFTERLIFE),
            self.store.schedule(EXPIRY_QUEUE, &id.0, due),
            window,
        );
        match put.and(scheduled).and(windowed) {
            Ok(()) => Ok((id, sign_in, failed)),
            Err(error) => Err(NotRecorded {
                error,
                ended_unapproved: failed.then_some(sign_in),
            }),
        }
    }

    /// Ends `who`'s window `window` if it is still there (see [`window_key`]): whether
    /// this call ended it unapproved, and so counts its failure. A window begun before
    /// the name's last approval (by a passkey, which leaves code windows be) counts
    /// nothing.
    pub async fn end_unapproved(&self, who: &str, window: &str) -> Result<bool, StoreError> {
        let began = window_began(window).unwrap_or(0);
        // Read alongside: a window ended is counted whatever then goes wrong, so a
        // marker that can't be read counts it (an approval it missed is one failure
        // too many, never a lockout escaped).
        let window = Window(window.to_owned());
        let (ended, proven) = tokio::join!(
            self.end_window(who, Some(&window)),
            self.proven_since(who, began),
        );
        Ok(ended? && !proven.unwrap_or(false))
    }

    /// Ends the window `sign_in` opened, if it opened one and it is still there: for
    /// a sign-in refused as it was made, which sent nothing in it. Not counted.
    pub async fn end_opened(&self, id: &SignInId, sign_in: &SignIn) -> Result<(), StoreError> {
        let opened = window_opened_by(id, sign_in.created_ms);
        self.end_window(&sign_in.who, Some(&Window(opened)))
            .await
            .map(drop)
    }

    /// A recorded sign-in whose code may not be sent after all: it ends with `notice`
    /// (shown on the code page), durably.
    pub async fn refuse(
        &self,
        id: &SignInId,
        mut sign_in: SignIn,
        notice: Notice,
    ) -> Result<(), StoreError> {
        sign_in.state = StartState::Failed(notice);
        sign_in.username = None;
        self.store
            .put(&key(id), &encode(&sign_in), SIGN_IN_TTL + AFTERLIFE)
            .await
    }

    /// A start (or its stand-in) of `id` running here: its outcome goes to the
    /// returned sender, which this instance's checks and pages read until it is in the
    /// store.
    fn in_flight_here(&self, id: &SignInId) -> watch::Sender<StartState> {
        let (tx, rx) = watch::channel(StartState::InFlight);
        self.lock().insert(id.clone(), rx);
        tx
    }

    /// The second half of [`Self::begin`] for a code to send: the verification starts
    /// in the background.
    pub fn send(&self, id: SignInId, mut sign_in: SignIn, req: CodeRequest) {
        // The sign-in as written: its outcome is written only over it.
        let held = encode(&sign_in);
        let tx = self.in_flight_here(&id);
        let verifier = self.verifier.clone();
        let audit = self.audit.clone();
        let metrics = self.metrics.clone();
        let store = self.store.clone();
        let pace = self.pace.clone();
        let in_flight = self.in_flight.clone();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            let outcome = verifier
                .start(StartRequest {
                    username: &req.username,
                    to: &req.phone,
                    channel: req.channel,
                    locale: req.locale.as_deref(),
                })
                .await;
            let state = match outcome {
                Ok(started) => {
                    pace.start_answered(began.elapsed());
                    metrics.verification_started();
                    tracing::info!(user = %req.log_user, phone = %req.phone.masked(), channel = %req.channel, "code sent");
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
                    // An answer about this request (the number, a channel or a
                    // setting of the Service's) is a measurement, and said only to the
                    // log; Verify out of service is marked, and this sign-in's page
                    // says "busy" while the mark lasts, as one whose stand-in found it
                    // so does (`stand_in`). Either way the page is otherwise that of a
                    // sign-in that sent nothing: kept as its own failure, it would
                    // still say "busy" once Verify is back, where a name nobody has no
                    // longer does.
                    if err.is_outage() {
                        pace.down();
                        sign_in.verify_down = true;
                    } else {
                        pace.start_answered(began.elapsed());
                    }
                    StartState::NotSent
                }
            };
            let sent = matches!(state, StartState::Sent(_));
            // This instance's pages and checks learn the outcome at once; the store,
            // read by the others, once it is written.
            tx.send_replace(state.clone());
            sign_in.state = state;
            let (stored, outcome) = (key(&id), encode(&sign_in));
            let written = write_outcome(&*store, &stored, sign_in.created_ms, &held, &outcome);
            let audited = async {
                if sent {
                    let record = AuditRecord::new(AuditEvent::CodeSent)
                        .user(&req.username)
                        .room(&req.room)
                        .ip(req.ip)
                        .phone(&req.phone);
                    let record = match req.channel {
                        Channel::Sms => record,
                        Channel::Call => record.detail("call"),
                    };
                    audit.record_or_note(record).await;
                }
            };
            tokio::join!(written, audited);
            lock(&in_flight).remove(&id);
        });
    }

    /// For a sign-in that sends nothing new, in the background: a stand-in for the
    /// start a listed name's makes, so every name's sign-in calls Verify once, alike.
    /// Its call changes nothing ([`StandIns::call`]); its outcome does to the
    /// mark and to the sign-in's page what a start's would ([`SignIn::verify_down`]).
    /// A sign-in that sends nothing is in flight until it ends, which, when Verify
    /// answers, is no sooner than a start would (a draw of the latest starts' times),
    /// so a check waits for it as one waits for a start. (Asking Verify only while it
    /// was marked down still told names apart: a listed name's start is what finds
    /// Verify down first, and an instance whose mark had lapsed, or was never set,
    /// showed the form to a name sent nothing where a listed one said "busy".)
    /// Never longer than `start_wait`, as a check waits for a start.
    pub fn stand_in(&self, id: &SignInId, mut sign_in: SignIn, start_wait: Duration) {
        let held = encode(&sign_in);
        let in_flight = matches!(sign_in.state, StartState::InFlight);
        let tx = in_flight.then(|| self.in_flight_here(id));
        let stand_ins = self.stand_ins.clone();
        let store = self.store.clone();
        let pace = self.pace.clone();
        let in_flight_map = self.in_flight.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            match stand_ins.call().await {
                Ok(()) => {
                    if in_flight {
                        let rest = pace.start_left(began.elapsed(), start_wait);
                        tokio::time::sleep(rest).await;
                    }
                }
                Err(err) => sign_in.verify_down = err.is_outage(),
            }
            if let Some(tx) = &tx {
                sign_in.state = StartState::NotSent;
                tx.send_replace(StartState::NotSent);
            }
            if in_flight || sign_in.verify_down {
                let (stored, outcome) = (key(&id), encode(&sign_in));
                write_outcome(&*store, &stored, sign_in.created_ms, &held, &outcome).await;
            }
            lock(&in_flight_map).remove(&id);
        });
    }

    /// The live sign-in `id` for `room`. Expired ones are left for [`Self::sweep`],
    /// which reports them as failed verifications.
    pub async fn get(&self, id: &SignInId, room: &RoomName) -> Result<Option<SignIn>, StoreError> {
        let Some(raw) = self.store.get(&key(id)).await? else {
            return Ok(None);
        };
        let Ok(sign_in) = serde_json::from_slice::<SignIn>(&raw) else {
            // Written by an incompatible build: as good as expired.
            tracing::warn!("unreadable sign-in in the store; treated as expired");
            return Ok(None);
        };
        if sign_in.expired(self.now_ms()) || &sign_in.room != room {
            return Ok(None);
        }
        Ok(Some(self.with_local_outcome(id, sign_in)))
    }

    /// A start that ran here may have ended before the store says so.
    fn with_local_outcome(&self, id: &SignInId, mut sign_in: SignIn) -> SignIn {
        if matches!(sign_in.state, StartState::InFlight)
            && let Some(rx) = self.lock().get(id)
        {
            sign_in.state = rx.borrow().clone();
        }
        sign_in
    }

    /// The session's pending sign-in for `room`, if it has one that is live.
    pub async fn find(
        &self,
        id: Option<&SignInId>,
        room: &RoomName,
    ) -> Result<Option<SignIn>, StoreError> {
        match id {
            Some(id) => self.get(id, room).await,
            None => Ok(None),
        }
    }

    /// Take one of the checks of `sign_in`'s window (shared by its name's sign-ins,
    /// as a number's are by Verify's verification). Counted in the store, so replaying
    /// an old cookie, signing in again or moving to another instance resets nothing.
    pub async fn take_check(&self, sign_in: &SignIn) -> Result<Checks, StoreError> {
        let Some(raw) = self.store.get(&window_key(&sign_in.who)).await? else {
            return Ok(Checks::Over { stale: None });
        };
        let window = String::from_utf8(raw).ok();
        let began = window.as_deref().and_then(window_began);
        let (Some(window), Some(started_ms)) = (window, began) else {
            tracing::warn!("unreadable sign-in window in the store; treated as over");
            return Ok(Checks::Over { stale: None });
        };
        // A window that began after this sign-in is another verification's: this
        // one's ended (and Verify's with it).
        if started_ms > sign_in.created_ms {
            return Ok(Checks::Over { stale: None });
        }
        if self.now_ms().saturating_sub(started_ms) >= ms(SIGN_IN_TTL) {
            return Ok(Checks::Over {
                stale: Some(Window(window)),
            });
        }
        let cap = u32::from(MAX_CHECKS);
        let used = self
            .store
            .incr_below(
                &checks_key(&sign_in.who, &window),
                cap,
                SIGN_IN_TTL + AFTERLIFE,
            )
            .await?;
        Ok(match used {
            Some(n) => Checks::Left {
                left: u8::try_from(cap - n).unwrap_or(0),
                window: Window(window),
            },
            None => Checks::UsedUp {
                window: Window(window),
            },
        })
    }

    /// A check [`Self::take_check`] took for a code nobody judged (Verify down, busy,
    /// or its breaker open): given back, so an outage costs no attempt.
    pub async fn give_back_check(
        &self,
        sign_in: &SignIn,
        window: &Window,
    ) -> Result<(), StoreError> {
        self.store
            .give_back(&checks_key(&sign_in.who, &window.0))
            .await
    }

    /// The start's outcome, waiting up to `limit` for one in flight (here, or on
    /// another instance).
    pub async fn started(
        &self,
        id: &SignInId,
        sign_in: &SignIn,
        limit: Duration,
    ) -> Result<StartState, StoreError> {
        if !matches!(sign_in.state, StartState::InFlight) {
            return Ok(sign_in.state.clone());
        }
        let local = self.lock().get(id).cloned();
        if let Some(mut rx) = local {
            let waited =
                tokio::time::timeout(limit, rx.wait_for(|s| !matches!(s, StartState::InFlight)))
                    .await;
            return Ok(match waited {
                Ok(Ok(state)) => state.clone(),
                // The sender is gone without an answer (task aborted) or we gave up.
                _ => StartState::Failed(Notice::Unavailable),
            });
        }
        // Started by another instance (or before a restart): look again until it ends.
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match self.get(id, &sign_in.room).await? {
                Some(s) if !matches!(s.state, StartState::InFlight) => return Ok(s.state),
                Some(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(POLL).await,
                _ => return Ok(StartState::Failed(Notice::Unavailable)),
            }
        }
    }

    /// End a sign-in that failed for good (no attempts left, or expired at the
    /// verifier) and keep why: the code page and any later check say so, rather than
    /// "expired". It leaves the expiry queue (its failure was counted when it ended),
    /// and the record goes at the end of its usual lifetime.
    /// Its `window` (see [`Checks::window`]) ends with it: Verify's verification is
    /// over too (its checks spent, or expired), and the name's next code begins a new
    /// one.
    ///
    /// It stays in the expiry queue: if it opened its name's window and that is still
    /// there when it expires, the sweep ends the window and counts it (see
    /// [`window_key`]); a sign-in taken out of the queue would leave its window for
    /// nobody to count. Whether this call ended `window`: the failure of a window is
    /// counted by whoever ends it, once.
    pub async fn close(
        &self,
        id: &SignInId,
        sign_in: &SignIn,
        notice: Notice,
        window: Option<&Window>,
    ) -> Result<bool, StoreError> {
        self.lock().remove(id);
        let mut ended = sign_in.clone();
        ended.state = StartState::Failed(notice);
        let (stored, encoded) = (key(id), encode(&ended));
        // Both run to the end whatever the other does: a window this call ended is
        // counted by its caller even if the record's write failed (the window is gone,
        // and nobody else would count it).
        let (put, ended) = tokio::join!(
            self.store.put(&stored, &encoded, SIGN_IN_TTL + AFTERLIFE),
            self.end_window(&sign_in.who, window),
        );
        let ended = ended?;
        match put {
            Err(e) if ended => {
                tracing::warn!(error = %e, "a failed sign-in not marked failed; its window is counted");
                Ok(true)
            }
            put => put.map(|()| ended),
        }
    }

    /// Ends the name's window if it is still the one that began at `window` (a later
    /// one is another verification's): whether this call ended it.
    async fn end_window(&self, who: &str, window: Option<&Window>) -> Result<bool, StoreError> {
        let Some(Window(window)) = window else {
            return Ok(false);
        };
        // Its checks go with it (they are its own, whatever holds the key now),
        // rather than sit out their lifetime: one a flow would add up. Whether the
        // window ended is what matters; checks left behind expire.
        let (key, checks) = (window_key(who), checks_key(who, window));
        let (ended, dropped) = tokio::join!(
            self.store.delete_if(&key, window.as_bytes()),
            self.store.delete(&checks),
        );
        if let Err(e) = dropped {
            tracing::debug!(error = %e, "an ended window's checks left to expire");
        }
        ended
    }

    /// Drop a sign-in: one approved (its window ended with it), or one refused as it
    /// was made, whose window, if it opened one, goes with it (nothing was sent in
    /// it, and nobody would be left to end it). A sign-in that ends otherwise is
    /// [closed](Self::close), so that its window is still counted.
    pub async fn remove(&self, id: &SignInId) -> Result<(), StoreError> {
        self.lock().remove(id);
        // Together, as in `begin`. A crash between them leaves at worst an expiry
        // entry whose sign-in is gone, which the sweep ignores.
        let stored = key(id);
        tokio::try_join!(
            self.store.unschedule(EXPIRY_QUEUE, &id.0),
            self.store.delete(&stored),
        )?;
        Ok(())
    }

    /// Drop a sign-in whose code Verify approved, and its window with it: Verify's
    /// verification is gone, so the name's next code begins a new one.
    pub async fn remove_approved(
        &self,
        id: &SignInId,
        sign_in: &SignIn,
        window: Option<&Window>,
    ) -> Result<(), StoreError> {
        tokio::try_join!(
            self.remove(id),
            self.end_window(&sign_in.who, window),
            self.proven(&sign_in.who),
        )?;
        Ok(())
    }

    /// `who` signed in just now (by a code, or a passkey): their sign-ins begun before
    /// and left unfinished are no failures (see [`Self::sweep`]). Outlives them all.
    pub async fn proven(&self, who: &str) -> Result<(), StoreError> {
        let at = self.now_ms().to_le_bytes();
        self.store
            .put(&proven_key(who), &at, SIGN_IN_TTL + AFTERLIFE)
            .await
    }

    /// Take the sign-ins that expired unfinished, returning those that count as a
    /// failed verification: each that opened its name's window, if the window is
    /// still there to end (not approved, not ended by its last check or by a later
    /// sign-in) and was not followed by an approval by passkey. Across instances each
    /// is taken by one only. Up to [`SWEEP_BATCH`] of them, and whether that many
    /// were due (so more may be).
    pub async fn sweep_batch(&self) -> Result<(Vec<SignIn>, bool), StoreError> {
        // Leased, not taken: one the store refused a step of (or whose instance died
        // midway) is due again once the lease ends, rather than gone uncounted. Each
        // is seen to here whatever happens to the others, a bounded number at once
        // (a few store operations each, beside the requests'), so that their
        // deletions still share commits.
        let due = self
            .store
            .lease_due(EXPIRY_QUEUE, SWEEP_BATCH, SWEEP_LEASE)
            .await?;
        let full = due.len() >= SWEEP_BATCH;
        use futures_util::StreamExt as _;
        let swept: Vec<Option<SignIn>> = futures_util::stream::iter(due)
            .map(|member| self.sweep_one(SignInId(member)))
            .buffer_unordered(SWEEP_IN_FLIGHT)
            .collect()
            .await;
        Ok((swept.into_iter().flatten().collect(), full))
    }

    /// One expired sign-in leased from the queue: judged, then off the queue and
    /// deleted, and returned if it counts. One the store refused a step of is left
    /// leased, to be judged again (ending a window twice counts it once).
    async fn sweep_one(&self, id: SignInId) -> Option<SignIn> {
        self.lock().remove(&id);
        let judged = async {
            let Some(raw) = self.store.get(&key(&id)).await? else {
                return Ok(None);
            };
            let Ok(sign_in) = serde_json::from_slice::<SignIn>(&raw) else {
                return Ok(None);
            };
            let opened = window_opened_by(&id, sign_in.created_ms);
            let ended = self.end_unapproved(&sign_in.who, &opened).await?;
            Ok::<_, StoreError>(ended.then_some(sign_in))
        };
        let counts = match judged.await {
            Ok(counts) => counts,
            Err(e) => {
                tracing::warn!(error = %e, "an expired sign-in not judged: the store is unavailable; tried again in a minute");
                return None;
            }
        };
        let stored = key(&id);
        let (unqueued, deleted) = tokio::join!(
            self.store.unschedule(EXPIRY_QUEUE, &id.0),
            self.store.delete(&stored),
        );
        if let Err(e) = unqueued.and(deleted) {
            tracing::warn!(error = %e, "an expired sign-in judged but not cleared: judged again in a minute");
        }
        counts
    }

    /// Whether `sign_in`'s start is in flight nowhere: not here, and begun longer ago
    /// than any start can take (`start_wait` bounds Verify's answer and its first
    /// save) on another instance, yet still in flight in the store, as read at
    /// `sign_in`. The instance that ran it may still be writing its outcome to a
    /// store that refused it (`write_outcome`); closed as lost meanwhile, the sign-in
    /// stays closed, its code lost with it: sooner, never later.
    pub fn lost(&self, id: &SignInId, sign_in: &SignIn, start_wait: Duration) -> bool {
        matches!(sign_in.state, StartState::InFlight)
            && !self.lock().contains_key(id)
            && sign_in.age(self.now_ms()) >= start_wait * 2
    }

    /// Whether `sign_in`'s name had a code approved since it began.
    async fn proven_since(&self, who: &str, since_ms: u64) -> Result<bool, StoreError> {
        let proven = self.store.get(&proven_key(who)).await?;
        Ok(proven
            .and_then(|at| <[u8; 8]>::try_from(at.as_slice()).ok())
            .is_some_and(|at| u64::from_le_bytes(at) >= since_ms))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        lock(&self.in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::MemoryStore;

    fn signins(clock: Arc<ManualClock>) -> SignIns {
        signins_on(Arc::new(MemoryStore::with_clock(clock)))
    }

    fn signins_on(store: Arc<MemoryStore>) -> SignIns {
        let verifier = Arc::new(crate::verify::local::LocalVerifier::new(
            store.clone(),
            b"a test session key",
            Arc::new(|_: &crate::verify::local::CodeNotice| {}),
        ));
        SignIns::new(store, verifier, AuditLog::disabled(), Metrics::new())
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_users_get_a_sign_in_that_sends_nothing() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = signins
            .begin(
                room("standup"),
                "mallory".into(),
                Channel::Sms,
                Start::Nothing,
            )
            .await
            .unwrap();
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert!(matches!(
            signins.started(&id, &s, Duration::from_secs(1)).await,
            Ok(StartState::NotSent)
        ));
        assert!(s.username.is_none());
        assert!(signins.get(&id, &room("other")).await.unwrap().is_none());
    }

    /// A sign-in that sends nothing is in flight as long as a start would be (its
    /// stand-in's call, then what is left of a start's time as measured), and a check
    /// waits for it as for a start. Answered at once, it told a name nobody has from
    /// a listed one by how long a code typed at once took.
    #[tokio::test(start_paused = true)]
    async fn a_sign_in_that_sends_nothing_is_in_flight_as_long_as_a_start() {
        let signins = signins(Arc::new(ManualClock::default()));
        signins.pace.start_answered(Duration::from_millis(700));
        let began = tokio::time::Instant::now();
        let id = sends_nothing(&signins, "mallory").await;
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert!(matches!(s.state(), StartState::InFlight), "{:?}", s.state());
        let started = signins.started(&id, &s, Duration::from_secs(5)).await;
        assert!(matches!(started, Ok(StartState::NotSent)), "{started:?}");
        assert!(
            began.elapsed() >= Duration::from_millis(700),
            "{:?}",
            began.elapsed()
        );
        // And the store says so too, for the other instances, once written.
        while !signins.lock().is_empty() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert!(matches!(s.state(), StartState::NotSent), "{:?}", s.state());
    }

    /// A sign-in stored by a build from before the number's fingerprint is still read
    /// (its code can't be approved: see `SignInService::check`).
    #[tokio::test]
    async fn a_sign_in_stored_without_the_numbers_fingerprint_still_reads() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = alices(&signins).await;
        let raw = signins.store.get(&key(&id)).await.unwrap().unwrap();
        let mut old: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert!(old.as_object_mut().unwrap().remove("phone").is_some());
        let old = serde_json::to_vec(&old).unwrap();
        signins
            .store
            .put(&key(&id), &old, SIGN_IN_TTL)
            .await
            .unwrap();
        let read = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert_eq!(read.phone, None);
        assert_eq!(read.who, "alice");
    }

    #[tokio::test]
    async fn checks_run_out_after_five() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = signins
            .begin(
                room("standup"),
                "mallory".into(),
                Channel::Sms,
                Start::Nothing,
            )
            .await
            .unwrap();
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        let mut left = Vec::new();
        while let Checks::Left { left: n, .. } = signins.take_check(&s).await.unwrap() {
            left.push(n);
        }
        assert_eq!(left, vec![4, 3, 2, 1, 0]);
        assert!(matches!(
            signins.take_check(&s).await.unwrap(),
            Checks::UsedUp { .. }
        ));
    }

    /// A name's sign-ins share its window, as a number's resends share Verify's
    /// verification: the checks one used are gone for the next, and the window ends
    /// ten minutes after its first code, however recent the sign-in. An approval ends
    /// it, and the next code begins a new one.
    /// A sign-in for `who` in standup that sends nothing, as stored.
    async fn began(signins: &SignIns, who: &str) -> (SignInId, SignIn) {
        let id = signins
            .begin(room("standup"), who.into(), Channel::Sms, Start::Nothing)
            .await
            .unwrap();
        let sign_in = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        (id, sign_in)
    }

    fn left(checks: Checks) -> Option<u8> {
        match checks {
            Checks::Left { left, .. } => Some(left),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_names_sign_ins_share_its_checks_and_its_ten_minutes() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let (first_id, first) = began(&signins, "mallory").await;
        for n in [4, 3] {
            assert_eq!(left(signins.take_check(&first).await.unwrap()), Some(n));
        }
        clock.advance(Duration::from_secs(540));
        let (_, second_in) = began(&signins, "mallory").await;
        assert_eq!(left(signins.take_check(&second_in).await.unwrap()), Some(2));
        // Ten minutes after the first code: over, though the second sign-in is one
        // minute old.
        clock.advance(Duration::from_secs(60));
        let Checks::Over {
            stale: Some(Window(stale)),
        } = signins.take_check(&second_in).await.unwrap()
        else {
            panic!("over, and not yet ended")
        };
        assert!(stale.ends_with(&first_id.0), "the first sign-in's window");

        // A new window, with five checks; approved, it ends.
        let (third, third_in) = began(&signins, "mallory").await;
        assert_eq!(left(signins.take_check(&third_in).await.unwrap()), Some(4));
        let window = signins
            .take_check(&third_in)
            .await
            .unwrap()
            .window()
            .cloned();
        signins
            .remove_approved(&third, &third_in, window.as_ref())
            .await
            .unwrap();
        assert_eq!(
            signins.take_check(&third_in).await.unwrap(),
            Checks::Over { stale: None }
        );
        // Its count goes with it (one a flow would otherwise sit out its lifetime).
        let Some(Window(ended)) = window else {
            panic!("a window")
        };
        let count = checks_key("mallory", &ended);
        assert_eq!(signins.store.get(&count).await.unwrap(), None);
        // Its last check spent, a window ends too (as Verify's verification does), and
        // the next sign-in begins a new one; a sign-in from before it has no checks
        // in the new one.
        let (fourth, fourth_in) = began(&signins, "mallory").await;
        let mut window = None;
        for _ in 0..5 {
            window = signins
                .take_check(&fourth_in)
                .await
                .unwrap()
                .window()
                .cloned();
        }
        signins
            .close(
                &fourth,
                &fourth_in,
                Notice::TooManyAttempts,
                window.as_ref(),
            )
            .await
            .unwrap();
        // (A window is told from an older sign-in's by the millisecond it began.)
        clock.advance(Duration::from_millis(1));
        let (_, fifth_in) = began(&signins, "mallory").await;
        assert_eq!(left(signins.take_check(&fifth_in).await.unwrap()), Some(4));
        assert_eq!(
            signins.take_check(&fourth_in).await.unwrap(),
            Checks::Over { stale: None }
        );
        // Other names have windows of their own.
        let (_, other) = began(&signins, "bob").await;
        assert_eq!(left(signins.take_check(&other).await.unwrap()), Some(4));
    }

    /// A start's outcome, once in the store, is read from there: nothing of it stays
    /// in this instance's memory (where a sign-in finished on another instance would
    /// leave it for good).
    #[tokio::test]
    async fn a_finished_start_leaves_nothing_in_memory() {
        let signins = signins(Arc::new(ManualClock::default()));
        let id = sends_to(&signins, "alice").await;
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        let started = signins.started(&id, &s, Duration::from_secs(5)).await;
        assert!(matches!(started, Ok(StartState::Sent(_))), "{started:?}");
        for _ in 0..100 {
            if signins.lock().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(signins.lock().is_empty(), "the start's entry is gone");
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert!(
            matches!(s.state(), StartState::Sent(_)),
            "read from the store"
        );
    }

    /// A verifier whose starts take `.0`, then send.
    struct Slow(Duration);

    #[async_trait::async_trait]
    impl Verifier for Slow {
        async fn start(
            &self,
            _: crate::verify::StartRequest<'_>,
        ) -> Result<crate::verify::StartedVerification, crate::verify::VerifyError> {
            tokio::time::sleep(self.0).await;
            Ok(crate::verify::StartedVerification {
                sid: VerificationSid::new("VE0123456789abcdef0123456789abcdef"),
            })
        }

        async fn check(
            &self,
            _: &VerificationSid,
            _: &crate::domain::OtpCode,
        ) -> Result<crate::verify::CheckOutcome, crate::verify::VerifyError> {
            unreachable!("no check here")
        }

        async fn reachable(&self) -> Result<(), crate::verify::VerifyError> {
            Ok(())
        }
    }

    /// A sign-in ended while its start runs (closed as lost, or gone: replaced,
    /// logged out of) stays ended: the start's outcome, written over it, brought it
    /// back as sent, its code good again.
    #[tokio::test]
    async fn a_start_that_finishes_after_its_sign_in_ended_leaves_it_ended() {
        let store = Arc::new(MemoryStore::with_clock(Arc::new(ManualClock::default())));
        let signins = slow_signins(store, Duration::from_millis(100));
        let mut ids = Vec::new();
        for who in ["alice", "bob"] {
            ids.push(sends_to(&signins, who).await);
        }
        let alice = signins
            .get(&ids[0], &room("standup"))
            .await
            .unwrap()
            .unwrap();
        signins
            .close(&ids[0], &alice, Notice::Expired, None)
            .await
            .unwrap();
        signins.remove(&ids[1]).await.unwrap();
        // Both starts finish, and their outcomes find nothing to write over.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let alice = signins
            .get(&ids[0], &room("standup"))
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(alice.state(), StartState::Failed(Notice::Expired)),
            "{:?}",
            alice.state()
        );
        assert!(
            signins
                .get(&ids[1], &room("standup"))
                .await
                .unwrap()
                .is_none()
        );
    }

    /// A start whose outcome the store refuses to take is written again until it
    /// is: meanwhile this instance still knows it (its checks read the start's
    /// watch). Given up at once, the entry went, and the store said "in flight"
    /// until the sign-in was taken for lost: the right code got "busy", then
    /// "expired".
    #[tokio::test(start_paused = true)]
    async fn a_start_outcome_the_store_refused_is_written_again() {
        let store = Arc::new(MemoryStore::with_clock(Arc::new(ManualClock::default())));
        let signins = slow_signins(store.clone(), Duration::from_millis(50));
        let id = sends_to(&signins, "alice").await;
        // The outcome's first two writes are refused (nothing else asks the store
        // meanwhile: the start's outcome is read from its watch, here).
        store.refuse_next(2);
        let mut known = false;
        for _ in 0..500 {
            let Some(rx) = signins.lock().get(&id).cloned() else {
                break;
            };
            known |= matches!(*rx.borrow(), StartState::Sent(_));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            known,
            "the outcome was known here while the store refused it"
        );
        assert!(
            signins.lock().is_empty(),
            "the start's entry is gone once written"
        );
        let s = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        assert!(matches!(s.state(), StartState::Sent(_)), "{:?}", s.state());
    }

    #[tokio::test]
    async fn sign_ins_expire_after_ten_minutes_and_the_sweep_names_them_once() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let id = signins
            .begin(
                room("standup"),
                "mallory".into(),
                Channel::Sms,
                Start::Nothing,
            )
            .await
            .unwrap();
        clock.advance(SIGN_IN_TTL - Duration::from_secs(1));
        assert!(signins.get(&id, &room("standup")).await.unwrap().is_some());
        let _bob = signins
            .begin(room("standup"), "bob".into(), Channel::Sms, Start::Nothing)
            .await
            .unwrap();
        assert!(signins.sweep_batch().await.unwrap().0.is_empty());
        clock.advance(Duration::from_secs(1));
        assert!(signins.get(&id, &room("standup")).await.unwrap().is_none());
        assert_eq!(swept(&signins).await, ["mallory"]);
        assert!(signins.sweep_batch().await.unwrap().0.is_empty());
        clock.advance(SIGN_IN_TTL);
        assert_eq!(swept(&signins).await, ["bob"]);
    }

    /// The sweep says when a batch came full, so its caller takes the next at once:
    /// one batch a tick fell behind a flood.
    #[tokio::test]
    async fn a_full_sweep_says_more_may_be_due() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        for n in 0..SWEEP_BATCH + 5 {
            signins
                .begin(
                    room("standup"),
                    format!("u{n}"),
                    Channel::Sms,
                    Start::Nothing,
                )
                .await
                .unwrap();
        }
        clock.advance(SIGN_IN_TTL + Duration::from_secs(1));
        let (first, more) = signins.sweep_batch().await.unwrap();
        assert_eq!((first.len(), more), (SWEEP_BATCH, true));
        let (rest, more) = signins.sweep_batch().await.unwrap();
        assert_eq!((rest.len(), more), (5, false));
    }

    /// A sign-in for `who` (on the list) that sends a code, to `+14155550101`.
    async fn sends_to(signins: &SignIns, who: &str) -> SignInId {
        let req = CodeRequest {
            username: Username::parse(who).unwrap(),
            log_user: "u1".into(),
            phone_fingerprint: "f".into(),
            phone: PhoneNumber::parse("+14155550101").unwrap(),
            channel: Channel::Sms,
            locale: None,
            room: room("standup"),
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
        };
        signins
            .begin(room("standup"), who.into(), Channel::Sms, Start::Send(req))
            .await
            .unwrap()
    }

    /// Sign-ins on `store` whose starts take `took`, then send.
    fn slow_signins(store: Arc<MemoryStore>, took: Duration) -> SignIns {
        SignIns::new(
            store,
            Arc::new(Slow(took)),
            AuditLog::disabled(),
            Metrics::new(),
        )
    }

    /// A sign-in for alice in standup that sends nothing.
    async fn alices(signins: &SignIns) -> SignInId {
        sends_nothing(signins, "alice").await
    }

    /// A sign-in for `who` that sends nothing.
    async fn sends_nothing(signins: &SignIns, who: &str) -> SignInId {
        signins
            .begin(room("standup"), who.into(), Channel::Sms, Start::Nothing)
            .await
            .unwrap()
    }

    /// [`alices`], and the sign-in as stored.
    async fn alices_in(signins: &SignIns) -> (SignInId, SignIn) {
        let id = alices(signins).await;
        let stored = signins.get(&id, &room("standup")).await.unwrap().unwrap();
        (id, stored)
    }

    async fn swept(signins: &SignIns) -> Vec<String> {
        let swept = signins.sweep_batch().await.unwrap().0;
        swept.into_iter().map(|s| s.who).collect()
    }

    /// Two tabs (or a phone and a laptop) sign alice in; one's code is approved, the
    /// other is left to expire. It was the same verification, so it is no failure
    /// (three such sign-ins in an hour locked alice out). One begun after the approval
    /// and left is one.
    #[tokio::test]
    async fn a_sign_in_left_when_its_names_code_was_approved_is_no_failure() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let _left = alices(&signins).await;
        clock.advance(Duration::from_secs(5));
        let used = alices(&signins).await;
        clock.advance(Duration::from_secs(5));
        let sign_in = signins.get(&used, &room("standup")).await.unwrap().unwrap();
        let window = signins.take_check(&sign_in).await.unwrap();
        signins
            .remove_approved(&used, &sign_in, window.window())
            .await
            .unwrap();
        clock.advance(Duration::from_secs(5));
        let _later = alices(&signins).await;
        clock.advance(SIGN_IN_TTL);
        assert_eq!(swept(&signins).await, ["alice"], "only the one begun after");
    }

    /// A sign-in that ends early for a reason that is nobody's failure (Verify can't
    /// send to the number, say) is closed, not dropped: the window it opened is still
    /// counted if nobody is approved in it, and a window is ended (and counted) once,
    /// whoever else finds it spent.
    #[tokio::test]
    async fn a_closed_sign_ins_window_is_still_counted_and_only_once() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let (opener, opener_in) = alices_in(&signins).await;
        let (resend, resend_in) = alices_in(&signins).await;
        let checks = signins.take_check(&resend_in).await.unwrap();
        let window = checks.window().cloned();
        // The opener ends at Verify's refusal; its window goes on, for the resend.
        signins
            .close(&opener, &opener_in, Notice::CannotSend, None)
            .await
            .unwrap();
        // Two checks find the window spent at once: one ends it.
        let mut ended = Vec::new();
        for _ in 0..2 {
            let spent = Notice::TooManyAttempts;
            let close = signins.close(&resend, &resend_in, spent, window.as_ref());
            ended.push(close.await.unwrap());
        }
        assert_eq!(ended, [true, false]);
        clock.advance(SIGN_IN_TTL);
        assert!(
            swept(&signins).await.is_empty(),
            "ended and counted already"
        );

        // Not spent, only left: the closed opener's expiry counts it.
        let (opener, opener_in) = alices_in(&signins).await;
        signins
            .close(&opener, &opener_in, Notice::CannotSend, None)
            .await
            .unwrap();
        clock.advance(SIGN_IN_TTL);
        assert_eq!(swept(&signins).await, ["alice"]);
    }

    /// Sign-ins on a store a test can make refuse, holding one of alice's, expired.
    async fn alices_expired() -> (Arc<ManualClock>, Arc<MemoryStore>, SignIns) {
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let signins = signins_on(store.clone());
        alices(&signins).await;
        clock.advance(SIGN_IN_TTL);
        (clock, store, signins)
    }

    /// An expired sign-in the store refused to read (or to end the window of) as the
    /// sweep took it is judged again once its lease ends, and counted then, once; it
    /// used to be taken off the queue first, and its failure never counted.
    #[tokio::test]
    async fn a_sweep_the_store_refused_is_done_again_and_counts_once() {
        let (clock, store, signins) = alices_expired().await;
        // The lease goes through; the sign-in's read is refused.
        store.refuse_after(1, 1);
        assert!(swept(&signins).await.is_empty());
        assert!(swept(&signins).await.is_empty(), "leased meanwhile");
        clock.advance(SWEEP_LEASE);
        assert_eq!(swept(&signins).await, ["alice"]);
        clock.advance(SWEEP_LEASE);
        assert!(swept(&signins).await.is_empty(), "off the queue");
    }

    /// A sign-in that ends the name's last window (over, unapproved) but can't be
    /// written itself hands that window back to be counted: the window is gone, and
    /// the sweep finds nothing of it to count.
    #[tokio::test]
    async fn a_sign_in_not_written_still_hands_back_the_window_it_ended() {
        let (_clock, store, signins) = alices_expired().await;
        // The new sign-in's own write (the first of its steps) is refused.
        store.refuse_next(1);
        let not = signins
            .record(
                room("standup"),
                "alice".into(),
                Channel::Sms,
                &Start::Nothing,
            )
            .await
            .unwrap_err();
        assert!(matches!(not.error, StoreError::Unavailable { .. }));
        assert_eq!(
            not.ended_unapproved.map(|s| s.who).as_deref(),
            Some("alice")
        );
        assert!(swept(&signins).await.is_empty(), "counted there, not here");
    }

    /// A check that ends the window still counts it when the sign-in's own record
    /// can't be written: the window is gone either way, and nobody else would.
    #[tokio::test]
    async fn a_window_ended_is_counted_even_if_its_sign_in_is_not_marked() {
        let clock = Arc::new(ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let signins = signins_on(store.clone());
        let (id, sign_in) = alices_in(&signins).await;
        let window = signins
            .take_check(&sign_in)
            .await
            .unwrap()
            .window()
            .cloned();
        // The record's write (the first of the two) is refused.
        store.refuse_next(1);
        let ended = signins
            .close(&id, &sign_in, Notice::TooManyAttempts, window.as_ref())
            .await;
        assert!(matches!(ended, Ok(true)), "{ended:?}");
        clock.advance(SIGN_IN_TTL);
        assert!(swept(&signins).await.is_empty(), "counted once, here");
    }

    /// Ending a sign-in oneself (logging out, or starting another) doesn't take back
    /// the window's failure: each window that ends unapproved counts once, however
    /// many sign-ins it had, and whoever ends it first (the sweep, or the name's next
    /// sign-in finding it over). Five guesses every ten minutes, logging out between,
    /// locked the name out never.
    #[tokio::test]
    async fn each_window_ended_unapproved_is_one_failure_whoever_ends_it() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        // One window, three sign-ins (a resend, another tab), four checks: one failure.
        let (_, first_in) = alices_in(&signins).await;
        for _ in 0..4 {
            assert!(matches!(
                signins.take_check(&first_in).await.unwrap(),
                Checks::Left { .. }
            ));
        }
        clock.advance(Duration::from_secs(60));
        let _resend = alices(&signins).await;
        let _tab = alices(&signins).await;
        clock.advance(SIGN_IN_TTL);
        assert_eq!(swept(&signins).await, ["alice"]);
        assert!(swept(&signins).await.is_empty());

        // The next window is over before the sweep gets to it: the name's next
        // sign-in ends it, and it is counted there, once.
        let _opener = alices(&signins).await;
        clock.advance(SIGN_IN_TTL);
        let (_, third_in, failed) = signins
            .record(
                room("standup"),
                "alice".into(),
                Channel::Sms,
                &Start::Nothing,
            )
            .await
            .unwrap();
        assert!(failed, "the window found over is a failure");
        assert!(
            swept(&signins).await.is_empty(),
            "the sweep finds it ended, and the new window still open"
        );

        // A check posted after its window is over finds it stale; the first to end it
        // counts it, the others find nothing to end.
        clock.advance(SIGN_IN_TTL);
        let Checks::Over {
            stale: Some(Window(stale)),
        } = signins.take_check(&third_in).await.unwrap()
        else {
            panic!("over, not yet ended")
        };
        assert!(signins.end_unapproved("alice", &stale).await.unwrap());
        assert!(!signins.end_unapproved("alice", &stale).await.unwrap());
        assert!(swept(&signins).await.is_empty());
    }

    #[tokio::test]
    async fn a_removed_sign_in_is_not_swept_as_a_failure() {
        let clock = Arc::new(ManualClock::default());
        let signins = signins(clock.clone());
        let id = alices(&signins).await;
        signins.remove(&id).await.unwrap();
        clock.advance(SIGN_IN_TTL * 2);
        assert!(signins.sweep_batch().await.unwrap().0.is_empty());
    }
}
