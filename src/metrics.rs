//! Prometheus metrics.
//!
//! Everything here is exposed on a separate listener ([`crate::admin`], bound by the
//! caller to `ROOMGATE_ADMIN_ADDR`, `127.0.0.1:9090` by default), never on the public
//! address: the numbers say how close the SMS budget is to running out and how often
//! codes fail, which is no business of the participants.
//!
//! # What may be a label value
//!
//! Only the fixed sets of the enums in this module. **Never a username, a phone
//! number, an IP address, a room name, a session or verification id, a Twilio error
//! message or anything else a participant or Twilio can vary.** Two reasons:
//!
//! - Privacy: a scrape is kept for months by whatever stores it, outside the care the
//!   logs get (pseudonyms, masked numbers).
//! - Cardinality: every distinct label set is a series held in memory here and in the
//!   time-series store for good; a label fed by user input is an unbounded memory leak
//!   that anyone can drive.
//!
//! That is why callers get typed methods ([`Metrics::limited`],
//! [`Metrics::verification_failed`], …) rather than families keyed by strings, and why
//! [`Metrics::observe_twilio`] maps any operation name it does not know to `other`
//! instead of passing it through.
//!
//! Label values are snake_case to match the names the rest of roomgate logs
//! (`LimitedAction::kind`, the budget's window names), so the label-value enums
//! implement `EncodeLabelValue` by hand: the derive would write the Rust variant
//! name (`WrongCode`). The label *sets* use the derive.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// What `GET /metrics` answers with: prometheus-client writes OpenMetrics 1.0 text
/// (counters as `_total`, `# UNIT` lines, a closing `# EOF`), which Prometheus reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the Twilio latency buckets, seconds: Prometheus's usual 5 ms .. 10 s,
/// which happens to end at roomgate's Twilio timeout (10 s), so only a slow timeout
/// lands in `+Inf`.
const TWILIO_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Declares a label-value enum: its variants, the one string each is exposed as, and
/// `ALL` so every series can be created at zero up front.
macro_rules! label_value {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            $vis const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The label value as exposed.
            #[allow(dead_code)]
            $vis fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value, )+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_value! {
    /// How a sign-in was proven.
    pub enum SignInMethod {
        /// A one-time code (SMS or call) checked by Verify.
        Code => "code",
        /// A passkey: no Verify call.
        Passkey => "passkey",
    }
}

label_value! {
    /// Why a verification did not end in `approved`.
    pub enum FailReason {
        /// A wrong code; the verification may still be approved.
        WrongCode => "wrong_code",
        /// Every check of the verification used (ours or Twilio's 60202).
        Exhausted => "exhausted",
        /// The code or the pending sign-in expired, or Verify no longer knows it (20404).
        Expired => "expired",
        /// Twilio's fraud guard or geo permissions refused the number (60410, 60605).
        Blocked => "blocked",
        /// Verify refused the number as a parameter (60200).
        InvalidNumber => "invalid_number",
        /// Twilio's own send limits (60203, 60212, 20429).
        TooManySends => "too_many_sends",
        /// Verify timed out, was unreachable or answered with another error.
        Unavailable => "unavailable",
        /// A passkey's answer was refused (wrong, replayed, or for a name without one).
        Passkey => "passkey",
    }
}

label_value! {
    /// Which of roomgate's own limits turned a request away.
    pub enum LimitKind {
        LoginPerIp => "login_per_ip",
        CheckPerIp => "check_per_ip",
        TokenPerIp => "token_per_ip",
        StartPerUser => "start_per_user",
        StartPerPhone => "start_per_phone",
        /// Everyone's sign-ins together reached `ROOMGATE_PENDING_SIGNINS_MAX`.
        PendingSignIns => "pending_signins",
        /// The username is locked out after too many failed verifications.
        LockedOut => "locked_out",
        /// The global SMS budget is spent for the current window.
        Budget => "budget",
    }
}

label_value! {
    /// A window of the SMS budget.
    pub enum Window {
        Minute => "minute",
        Hour => "hour",
        Day => "day",
    }
}

label_value! {
    /// Which Twilio API a request went to.
    pub enum Api {
        Verify => "verify",
        Video => "video",
    }
}

label_value! {
    /// An outbound service behind a [`crate::twilio::guard::Guard`].
    pub enum Outbound {
        Verify => "verify",
        Video => "video",
        /// The operator alert webhook (`ROOMGATE_ALERT_WEBHOOK_URL`).
        AlertWebhook => "alert_webhook",
        /// The recordings bucket (`ROOMGATE_RECORDINGS_S3_*`).
        Storage => "storage",
    }
}

label_value! {
    /// Why a guard answered "busy" without making the call.
    pub enum Rejection {
        /// As many calls as allowed were already in flight.
        Saturated => "saturated",
        /// The circuit breaker was open (or half-open with its probe out).
        Open => "open",
    }
}

label_value! {
    /// How one background "make sure the room exists" ended.
    pub enum RoomEnsure {
        /// The store already knew the room (another token or instance made sure).
        Known => "known",
        /// Twilio had the room in progress.
        Exists => "exists",
        /// Twilio had the room in progress without our status callback: a client
        /// made it (client-side room creation is on), so its events escape us.
        Foreign => "foreign",
        Created => "created",
        /// Twilio answered with an error, or could not be reached.
        Failed => "failed",
        /// No answer within the attempt's deadline.
        Timeout => "timeout",
        /// The Video guard answered busy (saturated or breaker open).
        Busy => "busy",
    }
}

label_value! {
    /// Why a token did not start a room creation.
    pub enum RoomSkip {
        /// One is already running for this room.
        InFlight => "in_flight",
        /// The last one failed and the room is backing off.
        Backoff => "backoff",
        /// The table of rooms being created or backing off is full.
        Full => "full",
    }
}

label_value! {
    /// The Twilio operations roomgate may time, named by Twilio's operation ids (as in
    /// its OpenAPI description and in roomgate's debug logs). A fixed list, so a typo or
    /// a formatted string can't open a new series: see [`TwilioOp::from`].
    pub enum TwilioOp {
        CreateVerification => "CreateVerification",
        CreateVerificationCheck => "CreateVerificationCheck",
        FetchVerification => "FetchVerification",
        UpdateVerification => "UpdateVerification",
        FetchService => "FetchService",
        CreateRoom => "CreateRoom",
        FetchRoom => "FetchRoom",
        UpdateRoom => "UpdateRoom",
        ListRoomParticipant => "ListRoomParticipant",
        FetchRoomParticipant => "FetchRoomParticipant",
        UpdateRoomParticipant => "UpdateRoomParticipant",
        UpdateRoomRecordingRule => "UpdateRoomRecordingRule",
        /// Any name not above.
        Other => "other",
    }
}

impl From<&str> for TwilioOp {
    /// Lets callers keep the `&'static str` operation names they already log, while the
    /// exposed values stay within the list.
    fn from(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|op| *op != Self::Other && op.as_str() == name)
            .unwrap_or(Self::Other)
    }
}

label_value! {
    /// A host's recording control.
    pub enum RecordingAction {
        Start => "start",
        Stop => "stop",
    }
}

label_value! {
    /// How a host's Start or Stop recording ended.
    pub enum RecordingOutcome {
        /// Twilio took the new recording rules.
        Ok => "ok",
        /// Refused by roomgate: not a host of the room, or the room's `recording`
        /// setting is not `host`.
        Refused => "refused",
        /// The Video API failed, was unreachable or is not configured.
        Failed => "failed",
    }
}

label_value! {
    enum Outcome {
        Ok => "ok",
        Error => "error",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RecordingLabels {
    action: RecordingAction,
    outcome: RecordingOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    service: Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RejectionLabels {
    service: Outbound,
    reason: Rejection,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EnsureLabels {
    outcome: RoomEnsure,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SkipLabels {
    reason: RoomSkip,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabels {
    method: SignInMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: FailReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    kind: LimitKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WindowLabels {
    window: Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TwilioLabels {
    api: Api,
    operation: TwilioOp,
    outcome: Outcome,
}

fn twilio_histogram() -> Histogram {
    Histogram::new(TWILIO_BUCKETS)
}

/// Store calls take well under a millisecond when healthy (embedded) or a loopback
/// round trip (Redis); the upper buckets catch a store that is failing.
const STORE_BUCKETS: [f64; 10] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.025, 0.1, 1.0,
];

fn store_histogram() -> Histogram {
    Histogram::new(STORE_BUCKETS)
}

type StoreHistograms = Family<StoreLabels, Histogram, fn() -> Histogram>;

/// A store operation: the name of one of the store's methods (`admit`, `put`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StoreLabels {
    operation: &'static str,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

type TwilioHistograms = Family<TwilioLabels, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    verifications_started: Counter,
    verifications_approved: Counter,
    sign_ins_approved: Family<MethodLabels, Counter>,
    verifications_failed: Family<ReasonLabels, Counter>,
    limited: Family<KindLabels, Counter>,
    lockouts: Counter,
    tokens_minted: Counter,
    sms_budget_used: Family<WindowLabels, Gauge>,
    sms_budget_limit: Family<WindowLabels, Gauge>,
    call_budget_used: Family<WindowLabels, Gauge>,
    call_budget_limit: Family<WindowLabels, Gauge>,
    twilio_duration: TwilioHistograms,
    acl_reloads: Counter,
    acl_rejections: Counter,
    acl_users: Gauge,
    store_duration: StoreHistograms,
    store_errors: Family<OperationLabels, Counter>,
    store_refusals: Counter,
    log_lines_suppressed: Counter,
    log_lines_dropped: Counter,
    outbound_rejected: Family<RejectionLabels, Counter>,
    outbound_breaker_state: Family<ServiceLabels, Gauge>,
    outbound_breaker_opened: Family<ServiceLabels, Counter>,
    outbound_in_flight: Family<ServiceLabels, Gauge>,
    room_ensure: Family<EnsureLabels, Counter>,
    room_ensure_skipped: Family<SkipLabels, Counter>,
    recording_controls: Family<RecordingLabels, Counter>,
}

/// What `roomgate_outbound_breaker_state` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

/// roomgate's metrics. Clones share one registry, so hand one to every part of the
/// app. Recording is an atomic add, or for a labelled family a brief read lock (a
/// write lock the first time a label set is seen); nothing waits on I/O.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // Names are given without `_total` and `_seconds`: prometheus-client appends
        // the counter suffix and the unit itself, as OpenMetrics requires. Help texts
        // have no final full stop because it adds one.
        let mut inner = Inner {
            registry: Registry::with_prefix("roomgate"),
            verifications_started: Counter::default(),
            verifications_approved: Counter::default(),
            sign_ins_approved: Family::default(),
            verifications_failed: Family::default(),
            limited: Family::default(),
            lockouts: Counter::default(),
            tokens_minted: Counter::default(),
            sms_budget_used: Family::default(),
            sms_budget_limit: Family::default(),
            call_budget_used: Family::default(),
            call_budget_limit: Family::default(),
            twilio_duration: Family::new_with_constructor(twilio_histogram as fn() -> _),
            acl_reloads: Counter::default(),
            acl_rejections: Counter::default(),
            acl_users: Gauge::default(),
            store_duration: Family::new_with_constructor(store_histogram as fn() -> _),
            store_errors: Family::default(),
            store_refusals: Counter::default(),
            log_lines_suppressed: Counter::default(),
            log_lines_dropped: Counter::default(),
            outbound_rejected: Family::default(),
            outbound_breaker_state: Family::default(),
            outbound_breaker_opened: Family::default(),
            outbound_in_flight: Family::default(),
            room_ensure: Family::default(),
            room_ensure_skipped: Family::default(),
            recording_controls: Family::default(),
        };
        let registry = &mut inner.registry;

        registry.register_with_unit(
            "store_duration",
            "Store operations and how long they took, by operation and outcome",
            prometheus_client::registry::Unit::Seconds,
            inner.store_duration.clone(),
        );
        registry.register(
            "store_errors",
            "Store operations that failed (unreachable, timed out, unreadable), by operation",
            inner.store_errors.clone(),
        );
        registry.register(
            "store_refusals",
            "Requests refused because the store could not be reached (fail closed)",
            inner.store_refusals.clone(),
        );
        registry.register(
            "log_lines_suppressed",
            "Log lines not written because the same line came too often (telemetry::throttle)",
            inner.log_lines_suppressed.clone(),
        );
        registry.register(
            "log_lines_dropped",
            "Log lines dropped because whatever reads stderr fell behind (telemetry)",
            inner.log_lines_dropped.clone(),
        );
        registry.register(
            "verifications_started",
            "Verifications started: codes sent to the verifier",
            inner.verifications_started.clone(),
        );
        registry.register(
            "verifications_approved",
            "Verifications approved: a right code checked",
            inner.verifications_approved.clone(),
        );
        registry.register(
            "sign_ins_approved",
            "Sign-ins approved, by method: code or passkey",
            inner.sign_ins_approved.clone(),
        );
        registry.register(
            "verifications_failed",
            "Verifications (or code checks) that failed, by reason",
            inner.verifications_failed.clone(),
        );
        registry.register(
            "limited",
            "Requests turned away by roomgate's own limits, by kind",
            inner.limited.clone(),
        );
        registry.register(
            "lockouts",
            "Usernames locked out after too many failed verifications",
            inner.lockouts.clone(),
        );
        registry.register(
            "tokens_minted",
            "Twilio Video access tokens issued",
            inner.tokens_minted.clone(),
        );
        registry.register(
            "sms_budget_used",
            "Verification starts spent in the current SMS budget window",
            inner.sms_budget_used.clone(),
        );
        registry.register(
            "sms_budget_limit",
            "Verification starts allowed per SMS budget window",
            inner.sms_budget_limit.clone(),
        );
        registry.register(
            "call_budget_used",
            "Verification starts by voice call spent in the current call budget window",
            inner.call_budget_used.clone(),
        );
        registry.register(
            "call_budget_limit",
            "Verification starts by voice call allowed per call budget window",
            inner.call_budget_limit.clone(),
        );
        registry.register_with_unit(
            "twilio_request_duration",
            "Time taken by requests to Twilio APIs, by API, operation and outcome",
            Unit::Seconds,
            inner.twilio_duration.clone(),
        );
        registry.register(
            "acl_reloads",
            "ACL file changes taken into use",
            inner.acl_reloads.clone(),
        );
        registry.register(
            "acl_rejections",
            "ACL file changes refused as invalid (the previous list stayed in force)",
            inner.acl_rejections.clone(),
        );
        registry.register(
            "acl_users",
            "Users in the ACL in force",
            inner.acl_users.clone(),
        );
        registry.register(
            "outbound_rejected",
            "Outbound calls answered busy without being made, by service and reason (saturated, open)",
            inner.outbound_rejected.clone(),
        );
        registry.register(
            "outbound_breaker_state",
            "Circuit breaker of each outbound service: 0 closed, 1 half-open (one probe allowed), 2 open",
            inner.outbound_breaker_state.clone(),
        );
        registry.register(
            "outbound_breaker_opened",
            "Times an outbound service's circuit breaker opened",
            inner.outbound_breaker_opened.clone(),
        );
        registry.register(
            "outbound_in_flight",
            "Outbound calls in flight, by service",
            inner.outbound_in_flight.clone(),
        );
        registry.register(
            "room_ensure",
            "Background room creations (make sure a room exists before participants join), by outcome",
            inner.room_ensure.clone(),
        );
        registry.register(
            "recording_controls",
            "Hosts' Start and Stop recording, by action and outcome (ok, refused, failed)",
            inner.recording_controls.clone(),
        );
        registry.register(
            "room_ensure_skipped",
            "Tokens that started no room creation, by reason (in_flight, backoff, full)",
            inner.room_ensure_skipped.clone(),
        );

        // Every series of a fixed label set exists from the start at zero: `rate()` and
        // `increase()` miss the first event of a series that appears with it, and an
        // alert on "failures > 0" can't tell "none yet" from "not scraped". Not the
        // Twilio histograms: local mode calls no Twilio API, and empty series there
        // would suggest otherwise; that family shows from the first request on.
        for &reason in FailReason::ALL {
            inner
                .verifications_failed
                .get_or_create_owned(&ReasonLabels { reason });
        }
        for &kind in LimitKind::ALL {
            inner.limited.get_or_create_owned(&KindLabels { kind });
        }
        for &method in SignInMethod::ALL {
            inner
                .sign_ins_approved
                .get_or_create_owned(&MethodLabels { method });
        }
        for &window in Window::ALL {
            inner
                .sms_budget_used
                .get_or_create_owned(&WindowLabels { window });
            inner
                .sms_budget_limit
                .get_or_create_owned(&WindowLabels { window });
            inner
                .call_budget_used
                .get_or_create_owned(&WindowLabels { window });
            inner
                .call_budget_limit
                .get_or_create_owned(&WindowLabels { window });
        }

        for &action in RecordingAction::ALL {
            for &outcome in RecordingOutcome::ALL {
                inner
                    .recording_controls
                    .get_or_create_owned(&RecordingLabels { action, outcome });
            }
        }

        Self {
            inner: Arc::new(inner),
        }
    }

    /// A verification was started (a code asked for from Verify or the local verifier).
    pub fn verification_started(&self) {
        self.inner.verifications_started.inc();
    }

    /// A code check came back approved.
    pub fn verification_approved(&self) {
        self.inner.verifications_approved.inc();
    }

    /// A sign-in earned a verified session.
    pub fn sign_in_approved(&self, method: SignInMethod) {
        self.inner
            .sign_ins_approved
            .get_or_create(&MethodLabels { method })
            .inc();
    }

    pub fn verification_failed(&self, reason: FailReason) {
        self.inner
            .verifications_failed
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A request refused by one of roomgate's limits (never reached Verify).
    pub fn limited(&self, kind: LimitKind) {
        self.inner.limited.get_or_create(&KindLabels { kind }).inc();
    }

    /// A username was locked out (a new lockout, not a request refused by one: that is
    /// `limited(LimitKind::LockedOut)`).
    pub fn lockout(&self) {
        self.inner.lockouts.inc();
    }

    pub fn token_minted(&self) {
        self.inner.tokens_minted.inc();
    }

    /// The state of one SMS budget window, as last seen.
    /// The call budget's counterpart of [`Self::set_sms_budget`].
    pub fn set_call_budget(&self, window: Window, used: u32, limit: u32) {
        let labels = WindowLabels { window };
        self.inner
            .call_budget_used
            .get_or_create(&labels)
            .set(i64::from(used));
        self.inner
            .call_budget_limit
            .get_or_create(&labels)
            .set(i64::from(limit));
    }

    pub fn set_sms_budget(&self, window: Window, used: u32, limit: u32) {
        let labels = WindowLabels { window };
        self.inner
            .sms_budget_used
            .get_or_create(&labels)
            .set(i64::from(used));
        self.inner
            .sms_budget_limit
            .get_or_create(&labels)
            .set(i64::from(limit));
    }

    /// One request to Twilio and how long it took. `operation` is a [`TwilioOp`] or
    /// Twilio's operation id as a string; names not in [`TwilioOp`] count as `other`.
    pub fn observe_twilio(
        &self,
        api: Api,
        operation: impl Into<TwilioOp>,
        ok: bool,
        elapsed: Duration,
    ) {
        let labels = TwilioLabels {
            api,
            operation: operation.into(),
            outcome: if ok { Outcome::Ok } else { Outcome::Error },
        };
        self.inner
            .twilio_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// One store operation and how long it took.
    pub fn observe_store(&self, operation: &'static str, ok: bool, elapsed: Duration) {
        let outcome = if ok { Outcome::Ok } else { Outcome::Error };
        self.inner
            .store_duration
            .get_or_create(&StoreLabels { operation, outcome })
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.inner
                .store_errors
                .get_or_create(&OperationLabels { operation })
                .inc();
        }
    }

    /// A request refused because the store could not say whether it was allowed.
    pub fn store_refusal(&self) {
        self.inner.store_refusals.inc();
    }

    /// Log lines held back by the log's throttle.
    pub fn log_lines_suppressed(&self, count: u64) {
        self.inner.log_lines_suppressed.inc_by(count);
    }

    /// Log lines dropped because stderr's reader fell behind.
    pub fn log_lines_dropped(&self, count: u64) {
        self.inner.log_lines_dropped.inc_by(count);
    }

    /// An outbound service is guarded: its series start at zero.
    pub fn outbound_guarded(&self, service: Outbound) {
        let labels = ServiceLabels { service };
        self.set_breaker_state(service, BreakerState::Closed);
        self.inner
            .outbound_breaker_opened
            .get_or_create_owned(&labels);
        self.inner.outbound_in_flight.get_or_create_owned(&labels);
        for &reason in Rejection::ALL {
            self.inner
                .outbound_rejected
                .get_or_create_owned(&RejectionLabels { service, reason });
        }
    }

    /// A guard answered busy instead of making a call.
    pub fn outbound_rejected(&self, service: Outbound, reason: Rejection) {
        self.inner
            .outbound_rejected
            .get_or_create(&RejectionLabels { service, reason })
            .inc();
    }

    pub fn set_breaker_state(&self, service: Outbound, state: BreakerState) {
        self.inner
            .outbound_breaker_state
            .get_or_create(&ServiceLabels { service })
            .set(state as i64);
    }

    pub fn breaker_opened(&self, service: Outbound) {
        self.inner
            .outbound_breaker_opened
            .get_or_create(&ServiceLabels { service })
            .inc();
    }

    /// `delta` is +1 when a call is admitted, -1 when it ends.
    pub fn outbound_in_flight(&self, service: Outbound, delta: i64) {
        self.inner
            .outbound_in_flight
            .get_or_create(&ServiceLabels { service })
            .inc_by(delta);
    }

    /// Room creation is on (Twilio mode): its series start at zero.
    pub fn room_ensure_enabled(&self) {
        for &outcome in RoomEnsure::ALL {
            self.inner
                .room_ensure
                .get_or_create_owned(&EnsureLabels { outcome });
        }
        for &reason in RoomSkip::ALL {
            self.inner
                .room_ensure_skipped
                .get_or_create_owned(&SkipLabels { reason });
        }
    }

    pub fn room_ensure(&self, outcome: RoomEnsure) {
        self.inner
            .room_ensure
            .get_or_create(&EnsureLabels { outcome })
            .inc();
    }

    pub fn room_ensure_skipped(&self, reason: RoomSkip) {
        self.inner
            .room_ensure_skipped
            .get_or_create(&SkipLabels { reason })
            .inc();
    }

    /// A host pressed Start or Stop recording, and how it ended.
    pub fn recording_control(&self, action: RecordingAction, outcome: RecordingOutcome) {
        self.inner
            .recording_controls
            .get_or_create(&RecordingLabels { action, outcome })
            .inc();
    }

    /// A changed ACL file was loaded and is now in force with `users` users.
    pub fn acl_reloaded(&self, users: usize) {
        self.inner.acl_reloads.inc();
        self.set_acl_users(users);
    }

    /// A changed ACL file was refused (invalid); the previous list stays in force.
    pub fn acl_rejected(&self) {
        self.inner.acl_rejections.inc();
    }

    /// The size of the ACL in force, e.g. after the first load at start-up (which is
    /// not a reload).
    pub fn set_acl_users(&self, users: usize) {
        self.inner
            .acl_users
            .set(i64::try_from(users).unwrap_or(i64::MAX));
    }

    /// Everything, in the OpenMetrics text format (see [`CONTENT_TYPE`]), `# EOF` included.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail, and neither can our label encoders; a
        // scrape is no reason to panic a worker should that ever change.
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
        {
            tracing::error!(error = %err, "encoding metrics failed");
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;

    type LabelMap = BTreeMap<String, String>;

    /// One metric family as the strict parser read it.
    #[derive(Debug)]
    pub(crate) struct ParsedFamily {
        kind: String,
        samples: Vec<(String, LabelMap, f64)>,
    }

    /// A strict reader of the OpenMetrics 1.0 text format, for the subset a
    /// prometheus-client registry writes (no timestamps, no exemplars). It rejects what
    /// a lenient regex parser would skip: blank or stray lines, interleaved families,
    /// samples without metadata or with a suffix their type does not have, bad label
    /// syntax or escapes, non-cumulative buckets, a missing `# EOF`.
    pub(crate) fn parse_openmetrics(text: &str) -> Result<BTreeMap<String, ParsedFamily>, String> {
        let body = text
            .strip_suffix("# EOF\n")
            .or_else(|| text.strip_suffix("# EOF"))
            .ok_or("does not end with # EOF")?;
        let mut families: BTreeMap<String, ParsedFamily> = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut seen_meta: HashSet<(String, String)> = HashSet::new();
        let mut units: HashMap<String, String> = HashMap::new();

        for (n, line) in body.split_terminator('\n').enumerate() {
            let at = |msg: String| format!("line {}: {msg}: {line:?}", n + 1);
            if line.is_empty() || line.contains('\r') {
                return Err(at("blank line or CR".into()));
            }
            if let Some(meta) = line.strip_prefix("# ") {
                let mut parts = meta.splitn(3, ' ');
                let (what, name, rest) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next(),
                );
                if !is_metric_name(name) {
                    return Err(at("bad metric name".into()));
                }
                if current.as_deref() != Some(name) {
                    if families.contains_key(name) {
                        return Err(at("family metadata after its samples or split".into()));
                    }
                    families.insert(
                        name.to_owned(),
                        ParsedFamily {
                            kind: "unknown".into(),
                            samples: vec![],
                        },
                    );
                    current = Some(name.to_owned());
                }
                let family = families.get_mut(name).expect("inserted above");
                if !family.samples.is_empty() {
                    return Err(at("metadata after samples".into()));
                }
                if !seen_meta.insert((name.to_owned(), what.to_owned())) {
                    return Err(at(format!("second # {what}")));
                }
                match (what, rest) {
                    ("HELP", Some(help)) if !help.is_empty() => {}
                    ("TYPE", Some(kind)) => {
                        const KINDS: [&str; 8] = [
                            "counter",
                            "gauge",
                            "histogram",
                            "gaugehistogram",
                            "stateset",
                            "info",
                            "summary",
                            "unknown",
                        ];
                        if !KINDS.contains(&kind) {
                            return Err(at("unknown type".into()));
                        }
                        if kind == "counter" && name.ends_with("_total") {
                            return Err(at("counter family named with _total".into()));
                        }
                        family.kind = kind.to_owned();
                    }
                    ("UNIT", Some(unit)) => {
                        if !name.ends_with(&format!("_{unit}")) {
                            return Err(at("family name does not end with its unit".into()));
                        }
                        units.insert(name.to_owned(), unit.to_owned());
                    }
                    _ => return Err(at("bad metadata line".into())),
                }
                continue;
            }
            if line.starts_with('#') {
                return Err(at("comment that is not HELP, TYPE, UNIT or EOF".into()));
            }

            let (name, labels, value) = parse_sample(line).map_err(at)?;
            let family_name = current
                .as_deref()
                .ok_or_else(|| at("sample before any metadata".into()))?;
            let family = families.get_mut(family_name).expect("current exists");
            let suffix = name
                .strip_prefix(family_name)
                .ok_or_else(|| at(format!("sample outside family {family_name}")))?;
            let allowed: &[&str] = match family.kind.as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_count", "_sum", "_created"],
                "gauge" | "unknown" => &[""],
                other => return Err(at(format!("type {other} not expected here"))),
            };
            if !allowed.contains(&suffix) {
                return Err(at(format!(
                    "suffix {suffix:?} not allowed for {}",
                    family.kind
                )));
            }
            if (suffix == "_bucket") != labels.contains_key("le") {
                return Err(at("le label on a non-bucket or missing on a bucket".into()));
            }
            if family.kind == "counter" && (value.is_nan() || value < 0.0) {
                return Err(at("negative or NaN counter".into()));
            }
            if family
                .samples
                .iter()
                .any(|(n, l, _)| *n == name && *l == labels)
            {
                return Err(at("duplicate sample".into()));
            }
            family.samples.push((name, labels, value));
        }

        for (name, family) in &families {
            if !seen_meta.contains(&(name.clone(), "TYPE".into())) {
                return Err(format!("{name}: no # TYPE"));
            }
            if family.kind == "histogram" {
                check_histogram(name, family)?;
            }
        }
        Ok(families)
    }

    fn is_metric_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    fn is_label_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// `+Inf`, `-Inf`, `NaN` or a decimal number; Rust's own parser would also take
    /// `inf` and `infinity`, which the format does not.
    fn parse_number(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ if !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')) =>
            {
                s.parse().map_err(|_| format!("bad number {s:?}"))
            }
            _ => Err(format!("bad number {s:?}")),
        }
    }

    fn parse_sample(line: &str) -> Result<(String, LabelMap, f64), String> {
        let name_end = line.find(['{', ' ']).ok_or("no value")?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err("bad sample name".into());
        }
        let mut rest = &line[name_end..];
        let mut labels = LabelMap::new();
        if let Some(after) = rest.strip_prefix('{') {
            let mut chars = after.char_indices().peekable();
            loop {
                if let Some(&(i, '}')) = chars.peek() {
                    if !labels.is_empty() {
                        return Err("trailing comma in labels".into());
                    }
                    rest = &after[i + 1..];
                    break;
                }
                let start = chars.peek().map(|&(i, _)| i).ok_or("unterminated labels")?;
                let eq = after[start..].find('=').ok_or("label without =")? + start;
                let key = &after[start..eq];
                if !is_label_name(key) {
                    return Err(format!("bad label name {key:?}"));
                }
                while chars.peek().is_some_and(|&(i, _)| i <= eq) {
                    chars.next();
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err("label value not quoted".into());
                }
                let mut value = String::new();
                loop {
                    match chars.next().ok_or("unterminated label value")? {
                        (_, '"') => break,
                        (_, '\\') => match chars.next().ok_or("dangling escape")? {
                            (_, '\\') => value.push('\\'),
                            (_, '"') => value.push('"'),
                            (_, 'n') => value.push('\n'),
                            (_, c) => return Err(format!("bad escape \\{c}")),
                        },
                        (_, '\n') => return Err("raw newline in label value".into()),
                        (_, c) => value.push(c),
                    }
                }
                if labels.insert(key.to_owned(), value).is_some() {
                    return Err(format!("duplicate label {key}"));
                }
                match chars.next().ok_or("unterminated labels")? {
                    (i, '}') => {
                        rest = &after[i + 1..];
                        break;
                    }
                    (_, ',') => {
                        if chars.peek().is_some_and(|&(_, c)| c == '}') {
                            return Err("trailing comma in labels".into());
                        }
                    }
                    (_, c) => return Err(format!("unexpected {c:?} after label")),
                }
            }
        }
        let value = rest.strip_prefix(' ').ok_or("no space before value")?;
        if value.contains(' ') {
            return Err("timestamp or exemplar not expected".into());
        }
        Ok((name.to_owned(), labels, parse_number(value)?))
    }

    fn check_histogram(name: &str, family: &ParsedFamily) -> Result<(), String> {
        let mut series: BTreeMap<LabelMap, Vec<(f64, f64)>> = BTreeMap::new();
        let mut counts: BTreeMap<LabelMap, f64> = BTreeMap::new();
        let mut sums: HashSet<LabelMap> = HashSet::new();
        for (sample, labels, value) in &family.samples {
            let mut rest = labels.clone();
            if sample.ends_with("_bucket") {
                let le = parse_number(&rest.remove("le").expect("checked in parse"))?;
                series.entry(rest).or_default().push((le, *value));
            } else if sample.ends_with("_count") {
                counts.insert(rest, *value);
            } else if sample.ends_with("_sum") {
                sums.insert(rest);
            }
        }
        for (labels, buckets) in &series {
            let ordered = buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            let (last_le, last_count) = *buckets.last().expect("at least one");
            if !ordered || last_le != f64::INFINITY {
                return Err(format!(
                    "{name}{labels:?}: buckets not cumulative or no +Inf"
                ));
            }
            if counts.get(labels) != Some(&last_count) || !sums.contains(labels) {
                return Err(format!("{name}{labels:?}: _count/_sum missing or != +Inf"));
            }
        }
        if series.len() != counts.len() || series.len() != sums.len() {
            return Err(format!("{name}: _count or _sum without buckets"));
        }
        Ok(())
    }

    /// Validates strictly, then reads the values back with prometheus-parse, an
    /// independent Prometheus text parser, so the assertions do not rest on our parser.
    fn scrape(metrics: &Metrics) -> prometheus_parse::Scrape {
        let text = metrics.encode();
        if let Err(err) = parse_openmetrics(&text) {
            panic!("invalid OpenMetrics: {err}\n{text}");
        }
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("prometheus-parse reads it")
    }

    fn find<'a>(
        scrape: &'a prometheus_parse::Scrape,
        metric: &str,
        labels: &[(&str, &str)],
    ) -> Option<&'a prometheus_parse::Value> {
        scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == metric
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
            })
            .map(|s| &s.value)
    }

    fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
        use prometheus_parse::Value::{Counter, Gauge, Untyped};
        match find(scrape, metric, labels) {
            Some(Counter(v) | Gauge(v) | Untyped(v)) => *v,
            other => panic!("{metric}{labels:?}: {other:?}"),
        }
    }

    #[test]
    fn a_fresh_registry_is_valid_and_every_fixed_series_starts_at_zero() {
        let metrics = Metrics::new();
        let text = metrics.encode();
        assert!(
            !text.contains("twilio"),
            "no Twilio series before a call:\n{text}"
        );
        metrics.observe_twilio(Api::Verify, "CreateVerification", true, Duration::ZERO);
        let text = metrics.encode();
        let families = parse_openmetrics(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let expected = [
            ("roomgate_verifications_started", "counter"),
            ("roomgate_verifications_approved", "counter"),
            ("roomgate_sign_ins_approved", "counter"),
            ("roomgate_verifications_failed", "counter"),
            ("roomgate_limited", "counter"),
            ("roomgate_lockouts", "counter"),
            ("roomgate_tokens_minted", "counter"),
            ("roomgate_sms_budget_used", "gauge"),
            ("roomgate_sms_budget_limit", "gauge"),
            ("roomgate_call_budget_used", "gauge"),
            ("roomgate_call_budget_limit", "gauge"),
            ("roomgate_twilio_request_duration_seconds", "histogram"),
            ("roomgate_acl_reloads", "counter"),
            ("roomgate_acl_rejections", "counter"),
            ("roomgate_acl_users", "gauge"),
            ("roomgate_store_refusals", "counter"),
            ("roomgate_log_lines_suppressed", "counter"),
            ("roomgate_log_lines_dropped", "counter"),
            ("roomgate_recording_controls", "counter"),
        ];
        let found: Vec<(&str, &str)> = families
            .iter()
            .map(|(name, f)| (name.as_str(), f.kind.as_str()))
            .collect();
        let mut expected_sorted = expected.to_vec();
        expected_sorted.sort();
        assert_eq!(found, expected_sorted);
        assert!(text.contains("# UNIT roomgate_twilio_request_duration_seconds seconds\n"));

        let scrape = scrape(&Metrics::new());
        for reason in FailReason::ALL {
            let labels = [("reason", reason.as_str())];
            assert_eq!(
                value(&scrape, "roomgate_verifications_failed_total", &labels),
                0.0
            );
        }
        for kind in LimitKind::ALL {
            let labels = [("kind", kind.as_str())];
            assert_eq!(value(&scrape, "roomgate_limited_total", &labels), 0.0);
        }
        for method in SignInMethod::ALL {
            let labels = [("method", method.as_str())];
            assert_eq!(
                value(&scrape, "roomgate_sign_ins_approved_total", &labels),
                0.0
            );
        }
        for window in Window::ALL {
            let labels = [("window", window.as_str())];
            assert_eq!(value(&scrape, "roomgate_sms_budget_used", &labels), 0.0);
            assert_eq!(value(&scrape, "roomgate_sms_budget_limit", &labels), 0.0);
            assert_eq!(value(&scrape, "roomgate_call_budget_used", &labels), 0.0);
            assert_eq!(value(&scrape, "roomgate_call_budget_limit", &labels), 0.0);
        }
    }

    #[test]
    fn counters_move_with_each_call() {
        let metrics = Metrics::new();
        let before = scrape(&metrics);
        for name in [
            "roomgate_verifications_started_total",
            "roomgate_verifications_approved_total",
            "roomgate_lockouts_total",
            "roomgate_tokens_minted_total",
            "roomgate_acl_reloads_total",
            "roomgate_acl_rejections_total",
        ] {
            assert_eq!(value(&before, name, &[]), 0.0, "{name}");
        }

        // A clone must count into the same registry.
        let other = metrics.clone();
        for m in [&metrics, &other] {
            m.verification_started();
            m.verification_approved();
            m.lockout();
            m.token_minted();
            m.acl_rejected();
            m.verification_failed(FailReason::Expired);
            m.limited(LimitKind::LoginPerIp);
        }
        metrics.verification_failed(FailReason::WrongCode);
        metrics.limited(LimitKind::from(crate::limits::LimitedAction::StartPerPhone));
        metrics.limited(LimitKind::Budget);

        let after = scrape(&metrics);
        for name in [
            "roomgate_verifications_started_total",
            "roomgate_verifications_approved_total",
            "roomgate_lockouts_total",
            "roomgate_tokens_minted_total",
            "roomgate_acl_rejections_total",
        ] {
            assert_eq!(value(&after, name, &[]), 2.0, "{name}");
        }
        let failed = "roomgate_verifications_failed_total";
        assert_eq!(value(&after, failed, &[("reason", "expired")]), 2.0);
        assert_eq!(value(&after, failed, &[("reason", "wrong_code")]), 1.0);
        assert_eq!(value(&after, failed, &[("reason", "exhausted")]), 0.0);
        let limited = "roomgate_limited_total";
        assert_eq!(value(&after, limited, &[("kind", "login_per_ip")]), 2.0);
        assert_eq!(value(&after, limited, &[("kind", "start_per_phone")]), 1.0);
        assert_eq!(value(&after, limited, &[("kind", "budget")]), 1.0);
        assert_eq!(value(&after, limited, &[("kind", "locked_out")]), 0.0);
    }

    #[test]
    fn gauges_hold_the_last_value_set() {
        let metrics = Metrics::new();
        metrics.set_sms_budget(Window::Hour, 12, 300);
        metrics.set_sms_budget(Window::Hour, 13, 300);
        metrics.set_sms_budget(Window::Day, 40, 2000);
        metrics.set_acl_users(3);
        let s = scrape(&metrics);
        assert_eq!(value(&s, "roomgate_acl_users", &[]), 3.0);
        assert_eq!(value(&s, "roomgate_acl_reloads_total", &[]), 0.0);
        let used = "roomgate_sms_budget_used";
        let limit = "roomgate_sms_budget_limit";
        assert_eq!(value(&s, used, &[("window", "hour")]), 13.0);
        assert_eq!(value(&s, limit, &[("window", "hour")]), 300.0);
        assert_eq!(value(&s, used, &[("window", "day")]), 40.0);
        assert_eq!(value(&s, limit, &[("window", "day")]), 2000.0);
        assert_eq!(value(&s, used, &[("window", "minute")]), 0.0);

        metrics.acl_reloaded(5);
        metrics.acl_reloaded(4);
        let s = scrape(&metrics);
        assert_eq!(value(&s, "roomgate_acl_users", &[]), 4.0);
        assert_eq!(value(&s, "roomgate_acl_reloads_total", &[]), 2.0);
    }

    #[test]
    fn twilio_latencies_land_in_their_buckets() {
        let metrics = Metrics::new();
        metrics.observe_twilio(
            Api::Verify,
            "CreateVerification",
            true,
            Duration::from_millis(120),
        );
        metrics.observe_twilio(
            Api::Verify,
            TwilioOp::CreateVerification,
            true,
            Duration::from_millis(30),
        );
        metrics.observe_twilio(
            Api::Verify,
            "CreateVerificationCheck",
            false,
            Duration::from_secs(11),
        );
        metrics.observe_twilio(Api::Video, "CreateRoom", true, Duration::from_millis(2));

        let text = metrics.encode();
        let s = scrape(&metrics);
        let ok_start = [
            ("api", "verify"),
            ("operation", "CreateVerification"),
            ("outcome", "ok"),
        ];
        let name = "roomgate_twilio_request_duration_seconds";
        assert_eq!(value(&s, &format!("{name}_count"), &ok_start), 2.0);
        let sum = value(&s, &format!("{name}_sum"), &ok_start);
        assert!((sum - 0.15).abs() < 1e-9, "{sum}");
        let Some(prometheus_parse::Value::Histogram(buckets)) = find(&s, name, &ok_start) else {
            panic!("no histogram for {ok_start:?}\n{text}");
        };
        let bounds: Vec<f64> = buckets.iter().map(|b| b.less_than).collect();
        let mut expected_bounds = TWILIO_BUCKETS.to_vec();
        expected_bounds.push(f64::INFINITY);
        assert_eq!(bounds, expected_bounds);
        let cumulative: Vec<f64> = buckets.iter().map(|b| b.count).collect();
        // 30 ms falls in le=0.05, 120 ms in le=0.25.
        assert_eq!(
            cumulative,
            [0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
        );

        let failed_check = [
            ("api", "verify"),
            ("operation", "CreateVerificationCheck"),
            ("outcome", "error"),
        ];
        assert_eq!(value(&s, &format!("{name}_count"), &failed_check), 1.0);
        assert!(text.contains(
            "roomgate_twilio_request_duration_seconds_bucket{le=\"10.0\",api=\"verify\",operation=\"CreateVerificationCheck\",outcome=\"error\"} 0\n"
        ));
        let room = [
            ("api", "video"),
            ("operation", "CreateRoom"),
            ("outcome", "ok"),
        ];
        assert_eq!(value(&s, &format!("{name}_count"), &room), 1.0);
    }

    #[test]
    fn unknown_operation_names_never_become_label_values() {
        let metrics = Metrics::new();
        for name in ["alice", "+14155550101", "203.0.113.7", "createverification"] {
            metrics.observe_twilio(Api::Verify, name, false, Duration::from_millis(5));
        }
        let text = metrics.encode();
        for leaked in ["alice", "4155550101", "203.0.113.7", "createverification"] {
            assert!(!text.contains(leaked), "{leaked} in\n{text}");
        }
        let s = scrape(&metrics);
        let other = [
            ("api", "verify"),
            ("operation", "other"),
            ("outcome", "error"),
        ];
        assert_eq!(
            value(&s, "roomgate_twilio_request_duration_seconds_count", &other),
            4.0
        );
        assert_eq!(TwilioOp::from("other"), TwilioOp::Other);
        for op in TwilioOp::ALL {
            assert_eq!(TwilioOp::from(op.as_str()), *op);
        }
    }

    #[test]
    fn every_label_name_and_value_comes_from_a_fixed_set() {
        let metrics = Metrics::new();
        for &reason in FailReason::ALL {
            metrics.verification_failed(reason);
        }
        for &kind in LimitKind::ALL {
            metrics.limited(kind);
        }
        for &op in TwilioOp::ALL {
            metrics.observe_twilio(Api::Video, op, true, Duration::from_millis(1));
        }
        let mut allowed: HashMap<&str, HashSet<&str>> = HashMap::new();
        allowed.insert(
            "reason",
            FailReason::ALL.iter().map(|v| v.as_str()).collect(),
        );
        allowed.insert("kind", LimitKind::ALL.iter().map(|v| v.as_str()).collect());
        allowed.insert("window", Window::ALL.iter().map(|v| v.as_str()).collect());
        allowed.insert("api", Api::ALL.iter().map(|v| v.as_str()).collect());
        allowed.insert(
            "operation",
            TwilioOp::ALL.iter().map(|v| v.as_str()).collect(),
        );
        allowed.insert(
            "outcome",
            ["ok", "error"]
                .into_iter()
                .chain(RecordingOutcome::ALL.iter().map(|v| v.as_str()))
                .collect(),
        );
        allowed.insert(
            "action",
            RecordingAction::ALL.iter().map(|v| v.as_str()).collect(),
        );
        allowed.insert(
            "method",
            SignInMethod::ALL.iter().map(|v| v.as_str()).collect(),
        );

        let families = parse_openmetrics(&metrics.encode()).expect("valid");
        for family in families.values() {
            for (name, labels, _) in &family.samples {
                assert!(name.starts_with("roomgate_"), "{name}");
                for (key, value) in labels {
                    if key == "le" {
                        continue;
                    }
                    let values = allowed.get(key.as_str()).unwrap_or_else(|| {
                        panic!("unexpected label {key} on {name}");
                    });
                    assert!(values.contains(value.as_str()), "{key}={value} on {name}");
                }
            }
        }
    }

    #[test]
    fn the_strict_parser_rejects_what_it_should() {
        let good = "# HELP a_x An x.\n# TYPE a_x counter\na_x_total{k=\"v\"} 1\n# EOF\n";
        assert!(parse_openmetrics(good).is_ok());
        for bad in [
            // no EOF
            "# TYPE a_x counter\na_x_total 1\n",
            // counter sample without _total
            "# TYPE a_x counter\na_x 1\n# EOF\n",
            // blank line
            "# TYPE a_x gauge\n\na_x 1\n# EOF\n",
            // sample before metadata
            "a_x 1\n# TYPE a_x gauge\n# EOF\n",
            // interleaved families
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n",
            // unescaped quote, bad escape, trailing comma, unquoted value
            "# TYPE a gauge\na{k=\"v\"\"} 1\n# EOF\n",
            "# TYPE a gauge\na{k=\"\\t\"} 1\n# EOF\n",
            "# TYPE a gauge\na{k=\"v\",} 1\n# EOF\n",
            "# TYPE a gauge\na{k=v} 1\n# EOF\n",
            // not a number, negative counter
            "# TYPE a gauge\na inf\n# EOF\n",
            "# TYPE a counter\na_total -1\n# EOF\n",
            // histogram without +Inf, or with buckets going down
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum 1\n# EOF\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# EOF\n",
            // unit that the name does not end with
            "# TYPE h_ms histogram\n# UNIT h_ms seconds\n# EOF\n",
        ] {
            assert!(parse_openmetrics(bad).is_err(), "accepted {bad:?}");
        }
    }
}
