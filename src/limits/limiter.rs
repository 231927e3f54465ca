//! The gate's rate limits and lockouts.
//!
//! Every limit is keyed on something the participant can't shed by dropping a cookie:
//! the username as typed, the phone number (hashed), or the client's network. Limits
//! apply to unknown usernames exactly as to known ones, so being limited reveals nothing
//! about who is on the list.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::refused::RefusedNetworks;
use crate::domain::PhoneNumber;
use crate::env::Env;
use crate::metrics::LimitKind;
use crate::store::{Admission, Rule, Store, StoreError};
use crate::telemetry::REPEATABLE;

const MINUTE: Duration = Duration::from_secs(60);
/// The window of [`LimitedAction::PendingSignIns`]: a sign-in's whole life in the
/// store (ten minutes, and five more for the sweep), so the cap bounds the records
/// held at once: at most about twice the limit (a full burst, then a window's worth).
const PENDING_WINDOW: Duration = Duration::from_secs(900);
/// How long the lockout level outlives the lock that set it: a further lockout within
/// this time doubles, one after it starts again from the base length.
const LEVEL_MEMORY: Duration = Duration::from_secs(86_400);
const MAX_COUNT: u64 = 1_000_000;
/// Keeps the lockout failure window within [`LEVEL_MEMORY`]: failures from before a
/// forgotten lockout are then always too old to count again.
const MAX_LOCKOUT_WINDOW_SECS: u64 = LEVEL_MEMORY.as_secs();
const MAX_LOCK_SECS: u64 = 7 * 86_400;

/// Every variable [`LimitsConfig::from_lookup`] reads: name, default, meaning.
pub const ENV_VARS: &[(&str, &str, &str)] = &[
    (
        "ROOMGATE_STARTS_PER_USER",
        "3",
        "codes one username may request per starts window: all at once, then one more every window / this many",
    ),
    (
        "ROOMGATE_STARTS_PER_PHONE",
        "3",
        "codes one phone number may receive per starts window (users may share a phone): all at once, then one more every window / this many",
    ),
    (
        "ROOMGATE_STARTS_WINDOW_SECS",
        "600",
        "the starts window, seconds (1..=86400)",
    ),
    (
        "ROOMGATE_RESEND_COOLDOWN_SECS",
        "30",
        "least time between two codes for one username or phone, seconds (0..=3600; 0 turns it off)",
    ),
    (
        "ROOMGATE_LOGINS_PER_IP_PER_MINUTE",
        "20",
        "sign-in posts per minute from one IPv4 address or IPv6 /64: all at once, then one more every 60 s / this many",
    ),
    (
        "ROOMGATE_CHECKS_PER_IP_PER_MINUTE",
        "30",
        "code checks per minute from one IPv4 address or IPv6 /64: all at once, then one more every 60 s / this many",
    ),
    (
        "ROOMGATE_TOKENS_PER_IP_PER_MINUTE",
        "60",
        "Video token requests per minute from one IPv4 address or IPv6 /64: all at once, then one more every 60 s / this many",
    ),
    (
        "ROOMGATE_PENDING_SIGNINS_MAX",
        "50000",
        "sign-ins begun per 15 minutes across every instance and name, known or not (each is a record in the store until it ends): all at once, then one more every 15 min / this many; past it, sign-ins are told the service is busy",
    ),
    (
        "ROOMGATE_LOCKOUT_FAILURES",
        "3",
        "failed verifications (all checks used, or expired) within the lockout window that lock a username; the count forgets one failure per window",
    ),
    (
        "ROOMGATE_LOCKOUT_WINDOW_SECS",
        "3600",
        "the lockout window, seconds (1..=86400); the failure count forgets one failure per window",
    ),
    (
        "ROOMGATE_LOCKOUT_SECS",
        "900",
        "first lockout, seconds; each further lockout within a day of the last one doubles it",
    ),
    (
        "ROOMGATE_LOCKOUT_MAX_SECS",
        "86400",
        "longest lockout, seconds (at least ROOMGATE_LOCKOUT_SECS, at most 604800)",
    ),
];

/// The actions roomgate limits. Each knows its rules, the variables that set them and
/// what to tell the participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitedAction {
    /// Verification starts (SMS sent) per username.
    StartPerUser,
    /// Verification starts per phone number, across every user who shares it.
    StartPerPhone,
    /// Sign-in form posts per client network.
    LoginPerIp,
    /// Code checks per client network.
    CheckPerIp,
    /// Video token requests per client network.
    TokenPerIp,
    /// Sign-ins begun, everyone's together: each is a record in the store until it
    /// ends, so a flood from many networks can't grow the store without bound.
    PendingSignIns,
}

impl LimitedAction {
    pub const ALL: [Self; 6] = [
        Self::StartPerUser,
        Self::StartPerPhone,
        Self::LoginPerIp,
        Self::CheckPerIp,
        Self::TokenPerIp,
        Self::PendingSignIns,
    ];

    /// For the participant. The two start limits read alike so that a limit reached
    /// through a shared phone number can't be told from one reached by the username.
    pub fn message(self) -> &'static str {
        match self {
            Self::StartPerUser | Self::StartPerPhone => {
                "Too many codes have been requested. Please wait a few minutes before asking for another."
            }
            Self::LoginPerIp => {
                "Too many sign-in attempts from your network. Please wait a minute and try again."
            }
            Self::CheckPerIp => {
                "Too many code checks from your network. Please wait a minute and try again."
            }
            Self::TokenPerIp => {
                "Too many requests from your network. Please wait a minute and try again."
            }
            Self::PendingSignIns => {
                "Too many people are signing in right now. Please try again in a few minutes."
            }
        }
    }

    /// Stable name for logs and metrics; also the prefix of the action's counter keys.
    pub fn kind(self) -> &'static str {
        match self {
            Self::StartPerUser => "start_per_user",
            Self::StartPerPhone => "start_per_phone",
            Self::LoginPerIp => "login_per_ip",
            Self::CheckPerIp => "check_per_ip",
            Self::TokenPerIp => "token_per_ip",
            Self::PendingSignIns => "pending_signins",
        }
    }

    /// The variables (see [`ENV_VARS`]) that set this action's rules.
    pub fn env_vars(self) -> &'static [&'static str] {
        match self {
            Self::StartPerUser => &[
                "ROOMGATE_STARTS_PER_USER",
                "ROOMGATE_STARTS_WINDOW_SECS",
                "ROOMGATE_RESEND_COOLDOWN_SECS",
            ],
            Self::StartPerPhone => &[
                "ROOMGATE_STARTS_PER_PHONE",
                "ROOMGATE_STARTS_WINDOW_SECS",
                "ROOMGATE_RESEND_COOLDOWN_SECS",
            ],
            Self::LoginPerIp => &["ROOMGATE_LOGINS_PER_IP_PER_MINUTE"],
            Self::CheckPerIp => &["ROOMGATE_CHECKS_PER_IP_PER_MINUTE"],
            Self::TokenPerIp => &["ROOMGATE_TOKENS_PER_IP_PER_MINUTE"],
            Self::PendingSignIns => &["ROOMGATE_PENDING_SIGNINS_MAX"],
        }
    }

    /// The rules every attempt must pass under `config`.
    pub fn rules(self, config: &LimitsConfig) -> Vec<Rule> {
        let starts = |limit| {
            // A zero-length window holds nothing; leave it out rather than ask every
            // store to get that edge right.
            let cooldown =
                (!config.resend_cooldown.is_zero()).then(|| Rule::new(1, config.resend_cooldown));
            cooldown
                .into_iter()
                .chain([Rule::new(limit, config.starts_window)])
                .collect()
        };
        match self {
            Self::StartPerUser => starts(config.starts_per_user),
            Self::StartPerPhone => starts(config.starts_per_phone),
            Self::LoginPerIp => vec![Rule::new(config.logins_per_ip_per_minute, MINUTE)],
            Self::CheckPerIp => vec![Rule::new(config.checks_per_ip_per_minute, MINUTE)],
            Self::TokenPerIp => vec![Rule::new(config.tokens_per_ip_per_minute, MINUTE)],
            Self::PendingSignIns => vec![Rule::new(config.pending_signins_max, PENDING_WINDOW)],
        }
    }

    pub fn default_rules(self) -> Vec<Rule> {
        self.rules(&LimitsConfig::default())
    }
}

// Metrics count refusals by the action refused.
impl From<LimitedAction> for LimitKind {
    fn from(action: LimitedAction) -> Self {
        match action {
            LimitedAction::StartPerUser => Self::StartPerUser,
            LimitedAction::StartPerPhone => Self::StartPerPhone,
            LimitedAction::LoginPerIp => Self::LoginPerIp,
            LimitedAction::CheckPerIp => Self::CheckPerIp,
            LimitedAction::TokenPerIp => Self::TokenPerIp,
            LimitedAction::PendingSignIns => Self::PendingSignIns,
        }
    }
}

/// Every number behind the limits and lockouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    pub starts_per_user: u32,
    pub starts_per_phone: u32,
    pub starts_window: Duration,
    /// Zero: no cooldown.
    pub resend_cooldown: Duration,
    pub logins_per_ip_per_minute: u32,
    pub checks_per_ip_per_minute: u32,
    pub tokens_per_ip_per_minute: u32,
    /// Sign-ins begun per [`PENDING_WINDOW`], all together.
    pub pending_signins_max: u32,
    pub lockout_failures: u32,
    pub lockout_window: Duration,
    /// The first lockout; each further one doubles, up to `lockout_max`.
    pub lockout: Duration,
    pub lockout_max: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            starts_per_user: 3,
            starts_per_phone: 3,
            starts_window: Duration::from_secs(600),
            resend_cooldown: Duration::from_secs(30),
            logins_per_ip_per_minute: 20,
            checks_per_ip_per_minute: 30,
            tokens_per_ip_per_minute: 60,
            pending_signins_max: 50_000,
            lockout_failures: 3,
            lockout_window: Duration::from_secs(3600),
            lockout: Duration::from_secs(900),
            lockout_max: Duration::from_secs(86_400),
        }
    }
}

impl LimitsConfig {
    /// Read from any variable source; unset or blank variables take their defaults.
    /// Every bad value is reported, one line each.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let d = Self::default();
        let mut env = Env::new(var);
        // MAX_COUNT fits a u32.
        let max_count = u32::try_from(MAX_COUNT).unwrap_or(u32::MAX);
        let mut count = |name: &str, default: u32| env.count(name, default, 1..=max_count);
        let starts_per_user = count("ROOMGATE_STARTS_PER_USER", d.starts_per_user);
        let starts_per_phone = count("ROOMGATE_STARTS_PER_PHONE", d.starts_per_phone);
        let logins_per_ip_per_minute = count(
            "ROOMGATE_LOGINS_PER_IP_PER_MINUTE",
            d.logins_per_ip_per_minute,
        );
        let checks_per_ip_per_minute = count(
            "ROOMGATE_CHECKS_PER_IP_PER_MINUTE",
            d.checks_per_ip_per_minute,
        );
        let tokens_per_ip_per_minute = count(
            "ROOMGATE_TOKENS_PER_IP_PER_MINUTE",
            d.tokens_per_ip_per_minute,
        );
        let pending_signins_max = count("ROOMGATE_PENDING_SIGNINS_MAX", d.pending_signins_max);
        let lockout_failures = count("ROOMGATE_LOCKOUT_FAILURES", d.lockout_failures);
        let mut secs = |name: &str, default: Duration, min: u64, max: u64| {
            env.seconds(name, default, min..=max)
        };
        let starts_window = secs("ROOMGATE_STARTS_WINDOW_SECS", d.starts_window, 1, 86_400);
        let resend_cooldown = secs("ROOMGATE_RESEND_COOLDOWN_SECS", d.resend_cooldown, 0, 3600);
        let lockout_window = secs(
            "ROOMGATE_LOCKOUT_WINDOW_SECS",
            d.lockout_window,
            1,
            MAX_LOCKOUT_WINDOW_SECS,
        );
        let lockout = secs("ROOMGATE_LOCKOUT_SECS", d.lockout, 1, MAX_LOCK_SECS);
        let lockout_max = secs("ROOMGATE_LOCKOUT_MAX_SECS", d.lockout_max, 1, MAX_LOCK_SECS);
        if lockout_max < lockout {
            env.push(format!(
                "ROOMGATE_LOCKOUT_MAX_SECS ({}) must be at least ROOMGATE_LOCKOUT_SECS ({})",
                lockout_max.as_secs(),
                lockout.as_secs()
            ));
        }
        env.finish(Self {
            starts_per_user,
            starts_per_phone,
            starts_window,
            resend_cooldown,
            logins_per_ip_per_minute,
            checks_per_ip_per_minute,
            tokens_per_ip_per_minute,
            pending_signins_max,
            lockout_failures,
            lockout_window,
            lockout,
            lockout_max,
        })
    }

    /// Length of the `level`-th lockout in a row (the first is level 1).
    pub fn lockout_for_level(&self, level: u32) -> Duration {
        2u32.checked_pow(level.saturating_sub(1))
            .and_then(|factor| self.lockout.checked_mul(factor))
            .map_or(self.lockout_max, |d| d.min(self.lockout_max))
    }
}

/// An attempt refused by a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", .action.message())]
pub struct Limited {
    pub action: LimitedAction,
    /// For `Retry-After`: whole seconds, at least one.
    pub retry_after: Duration,
}

/// Why an attempt may not go on: a limit, or a store that can't say (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    #[error(transparent)]
    Limited(#[from] Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The limits and lockouts, over the [`Store`].
pub struct Limiter {
    store: Arc<dyn Store>,
    config: LimitsConfig,
    /// Phone numbers are keyed by an HMAC under a key of their own: a plain hash of a
    /// phone number is undone by hashing every number in the plan. Instances sharing a
    /// store must agree on the key, so it is derived from the shared session key. Kept
    /// keyed and with its fixed prefix taken in, so a number costs one clone and its
    /// own bytes.
    phone_mac: Hmac<Sha256>,
    /// Networks each per-network limit refused, until they may try again.
    refused: PerNetwork<RefusedNetworks>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// `secret` is shared configuration (the session key): instances given the same
    /// one count the same phone number under the same key.
    pub fn new(store: Arc<dyn Store>, config: LimitsConfig, secret: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any size");
        mac.update(b"roomgate phone limit key\0");
        let mut phone_mac = Hmac::<Sha256>::new_from_slice(&mac.finalize().into_bytes())
            .expect("HMAC takes keys of any size");
        phone_mac.update(b"roomgate limits phone\0");
        Self {
            store,
            config,
            phone_mac,
            refused: PerNetwork::default(),
        }
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    pub async fn login_from_ip(&self, ip: IpAddr) -> Result<(), Denied> {
        self.admit_network(Network::Login, ip).await
    }

    /// The refusal a sign-in from `ip` gets now, if its network was refused by the
    /// per-network limit and its wait isn't over: known here, no store asked.
    pub fn login_refused_from(&self, ip: IpAddr) -> Option<Limited> {
        self.refused_from(Network::Login, ip)
    }

    /// A network refused a moment ago is refused again without asking the store,
    /// until the wait it was given is over (see [`RefusedNetworks`]): a flood from one
    /// network costs no store call, nor a round trip to Redis.
    async fn admit_network(&self, limit: Network, ip: IpAddr) -> Result<(), Denied> {
        if let Some(limited) = self.refused_from(limit, ip) {
            return Err(Denied::Limited(limited));
        }
        let action = limit.action();
        let key = key_of(action, &network_of(ip));
        let admission = self.store.admit(&key, &action.rules(&self.config)).await?;
        if let Admission::Wait(wait) = admission {
            let until = self.store.clock().now() + wait;
            self.refused.of(limit).remember(ip, unix_ms(until));
        }
        judge(action, admission)
    }

    fn refused_from(&self, limit: Network, ip: IpAddr) -> Option<Limited> {
        let now = unix_ms(self.store.clock().now());
        let left = self.refused.of(limit).refused_for(ip, now)?;
        Some(limited(limit.action(), Duration::from_millis(left)))
    }

    pub async fn check_from_ip(&self, ip: IpAddr) -> Result<(), Denied> {
        self.admit_network(Network::Check, ip).await
    }

    pub async fn token_from_ip(&self, ip: IpAddr) -> Result<(), Denied> {
        self.admit_network(Network::Token, ip).await
    }

    /// `who` is the normalised username as typed — known or not, so limits look the
    /// same for both.
    pub async fn start_for_user(&self, who: &str) -> Result<(), Denied> {
        self.admit(LimitedAction::StartPerUser, who).await
    }

    /// A passkey sign-in asked for by the name typed: it counts against the name's
    /// starts window like a code, but sends nothing, so it doesn't start the resend
    /// cooldown (which spaces texts): the quiet fall-back from a passkey to a code
    /// must not be refused a moment later. The key and the number of rules are a
    /// code's, so both share one record; the cooldown's place holds a rule that never
    /// binds and moves its TAT one millisecond on (never back, so a cooldown already
    /// running carries on, a millisecond longer).
    pub async fn passkey_for_user(&self, who: &str) -> Result<(), Denied> {
        let action = LimitedAction::StartPerUser;
        let rules: Vec<Rule> = action
            .rules(&self.config)
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                if i == 0 && !self.config.resend_cooldown.is_zero() {
                    Rule::new(u32::MAX, rule.window)
                } else {
                    rule
                }
            })
            .collect();
        self.admit_with(action, who, &rules).await
    }

    /// What [`Self::start_for_user`] would decide now, spending nothing (see
    /// [`Store::peek`]).
    pub async fn peek_start_for_user(&self, who: &str) -> Result<(), Denied> {
        let action = LimitedAction::StartPerUser;
        self.peek(action, who, &action.rules(&self.config)).await
    }

    /// What [`Self::start_for_phone`] would decide now, spending nothing.
    pub async fn peek_start_for_phone(&self, phone: &PhoneNumber) -> Result<(), Denied> {
        let action = LimitedAction::StartPerPhone;
        self.peek(
            action,
            &self.phone_subject(phone),
            &action.rules(&self.config),
        )
        .await
    }

    /// One more sign-in record, out of everyone's [`LimitedAction::PendingSignIns`].
    pub async fn new_signin(&self) -> Result<(), Denied> {
        self.admit(LimitedAction::PendingSignIns, "all").await
    }

    /// What [`Self::new_signin`] would decide now, spending nothing.
    pub async fn peek_new_signin(&self) -> Result<(), Denied> {
        let action = LimitedAction::PendingSignIns;
        self.peek(action, "all", &action.rules(&self.config)).await
    }

    /// Counted across every user sharing `phone`. A refusal here must not change what
    /// the participant sees (it would show that the username has a phone, so is on
    /// the list): apply it where the code is sent, off the response path.
    pub async fn start_for_phone(&self, phone: &PhoneNumber) -> Result<(), Denied> {
        self.admit(LimitedAction::StartPerPhone, &self.phone_subject(phone))
            .await
    }

    /// Remaining lock time, rounded up to whole seconds, if `who` is locked out now.
    pub async fn locked_out(&self, who: &str) -> Result<Option<Duration>, StoreError> {
        let now = self.store.clock().now();
        Ok(self.lock_state(who).await?.and_then(|s| s.remaining(now)))
    }

    /// A failed verification (exhausted or expired). Returns the new lock's length if
    /// this failure locked `who`. The lock is durable before this returns.
    pub async fn record_failure(&self, who: &str) -> Result<Option<Duration>, StoreError> {
        let state = self.lock_state(who).await?;
        let now = self.store.clock().now();
        if state.is_some_and(|s| s.remaining(now).is_some()) {
            // Not counted either: a verification begun before the lock and failing
            // during it must not start the next lock early.
            return Ok(None);
        }
        // Failures are counted per lock generation, so the ones that caused a lock
        // don't count again once it ends: each lock takes a fresh run of failures.
        let generation = state.map_or(0, |s| s.until_ms);
        let failures = format!("lockout_failures:{generation}:{who}");
        // A bucket that forgets one failure per lockout window: any `lockout_failures`
        // failures within one window always lock (it can remember a little longer
        // than a sliding window would, never shorter), in constant space.
        let rule = Rule::new(1, self.config.lockout_window);
        // Durable: a crash right after a failure must not forget it.
        let n = self.store.hit_durably(&failures, rule).await?;
        if n < self.config.lockout_failures {
            return Ok(None);
        }
        let level = state.map_or(0, |s| s.level).saturating_add(1);
        let length = self.config.lockout_for_level(level);
        let until = unix(now) + length;
        let lock = LockState {
            level,
            until_ms: u64::try_from(until.as_millis()).unwrap_or(u64::MAX >> 8),
        };
        self.store
            .put(
                &lock_key(who),
                &lock.encode().to_le_bytes(),
                length + LEVEL_MEMORY,
            )
            .await?;
        tracing::warn!(level, lock_secs = length.as_secs(), "locked out");
        Ok(Some(length))
    }

    async fn admit(&self, action: LimitedAction, subject: &str) -> Result<(), Denied> {
        self.admit_with(action, subject, &action.rules(&self.config))
            .await
    }

    async fn admit_with(
        &self,
        action: LimitedAction,
        subject: &str,
        rules: &[Rule],
    ) -> Result<(), Denied> {
        judge(
            action,
            self.store.admit(&key_of(action, subject), rules).await?,
        )
    }

    async fn peek(
        &self,
        action: LimitedAction,
        subject: &str,
        rules: &[Rule],
    ) -> Result<(), Denied> {
        judge(
            action,
            self.store.peek(&key_of(action, subject), rules).await?,
        )
    }

    async fn lock_state(&self, who: &str) -> Result<Option<LockState>, StoreError> {
        let raw = self.store.get(&lock_key(who)).await?;
        Ok(raw
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| LockState::decode(u64::from_le_bytes(b))))
    }

    fn phone_subject(&self, phone: &PhoneNumber) -> String {
        let mut mac = self.phone_mac.clone();
        mac.update(phone.expose_e164().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The lockout state of one username, kept as one store value so it is read and
/// written whole. It outlives the lock by [`LEVEL_MEMORY`] so further lockouts double.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LockState {
    /// Lockouts so far in this run.
    level: u32,
    /// End of the latest lock, Unix milliseconds.
    until_ms: u64,
}

impl LockState {
    /// Unix milliseconds stay far below 2^56 and levels past 255 change nothing (the
    /// length is capped long before), so both fit one u64.
    fn encode(self) -> u64 {
        (self.until_ms << 8) | u64::from(self.level.min(255))
    }

    fn decode(value: u64) -> Self {
        Self {
            level: (value & 0xff) as u32,
            until_ms: value >> 8,
        }
    }

    fn remaining(self, now: SystemTime) -> Option<Duration> {
        let left = Duration::from_millis(self.until_ms).saturating_sub(unix(now));
        (!left.is_zero()).then(|| Duration::from_secs(ceil_secs(left)))
    }
}

/// The per-network limits.
#[derive(Clone, Copy)]
enum Network {
    Login,
    Check,
    Token,
}

impl Network {
    fn action(self) -> LimitedAction {
        match self {
            Self::Login => LimitedAction::LoginPerIp,
            Self::Check => LimitedAction::CheckPerIp,
            Self::Token => LimitedAction::TokenPerIp,
        }
    }
}

/// One `T` for each per-network limit.
#[derive(Default)]
struct PerNetwork<T> {
    login: T,
    check: T,
    token: T,
}

impl<T> PerNetwork<T> {
    fn of(&self, limit: Network) -> &T {
        match limit {
            Network::Login => &self.login,
            Network::Check => &self.check,
            Network::Token => &self.token,
        }
    }
}

/// An admission's outcome as the limiter's answer.
fn judge(action: LimitedAction, admission: Admission) -> Result<(), Denied> {
    match admission {
        Admission::Admitted => Ok(()),
        Admission::Wait(wait) => Err(Denied::Limited(limited(action, wait))),
    }
}

/// A refusal of `action` for `wait`, logged (capped: a flood repeats it).
fn limited(action: LimitedAction, wait: Duration) -> Limited {
    let retry_after = Duration::from_secs(ceil_secs(wait).max(1));
    tracing::info!(
        name: REPEATABLE,
        action = action.kind(),
        retry_after_secs = retry_after.as_secs(),
        "limited"
    );
    Limited {
        action,
        retry_after,
    }
}

fn lock_key(who: &str) -> String {
    format!("lockout:{who}")
}

fn unix(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn unix_ms(t: SystemTime) -> u64 {
    u64::try_from(unix(t).as_millis()).unwrap_or(u64::MAX)
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The subject of a per-network limit: [`super::network`] as text.
fn network_of(ip: IpAddr) -> String {
    match super::network(ip) {
        IpAddr::V6(prefix) => format!("{prefix}/64"),
        v4 => v4.to_string(),
    }
}

/// The store's key for `action`'s count of `subject`.
fn key_of(action: LimitedAction, subject: &str) -> String {
    format!("{}:{subject}", action.kind())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::memory::MemoryStore;

    /// The limiter as these tests see it: refusals as [`Limited`], the store (in
    /// memory) never failing.
    struct Limiter(super::Limiter);

    fn limited(r: Result<(), Denied>) -> Result<(), Limited> {
        r.map_err(|d| match d {
            Denied::Limited(l) => l,
            Denied::Store(e) => panic!("the memory store failed: {e}"),
        })
    }

    impl Limiter {
        fn new(store: Arc<MemoryStore>, config: LimitsConfig) -> Self {
            Self(super::Limiter::new(store, config, b"a test session key"))
        }
        async fn login_from_ip(&self, ip: IpAddr) -> Result<(), Limited> {
            limited(self.0.login_from_ip(ip).await)
        }
        async fn check_from_ip(&self, ip: IpAddr) -> Result<(), Limited> {
            limited(self.0.check_from_ip(ip).await)
        }
        async fn token_from_ip(&self, ip: IpAddr) -> Result<(), Limited> {
            limited(self.0.token_from_ip(ip).await)
        }
        async fn start_for_user(&self, who: &str) -> Result<(), Limited> {
            limited(self.0.start_for_user(who).await)
        }
        async fn start_for_phone(&self, phone: &PhoneNumber) -> Result<(), Limited> {
            limited(self.0.start_for_phone(phone).await)
        }
        async fn passkey_for_user(&self, who: &str) -> Result<(), Limited> {
            limited(self.0.passkey_for_user(who).await)
        }
        async fn locked_out(&self, who: &str) -> Option<Duration> {
            self.0.locked_out(who).await.unwrap()
        }
        async fn record_failure(&self, who: &str) -> Option<Duration> {
            self.0.record_failure(who).await.unwrap()
        }
        fn phone_subject(&self, phone: &PhoneNumber) -> String {
            self.0.phone_subject(phone)
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn phone(s: &str) -> PhoneNumber {
        PhoneNumber::parse(s).unwrap()
    }

    fn limiter_with(config: LimitsConfig) -> (Limiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let limiter = Limiter::new(Arc::new(MemoryStore::with_clock(clock.clone())), config);
        (limiter, clock)
    }

    fn limiter() -> (Limiter, Arc<ManualClock>) {
        limiter_with(LimitsConfig::default())
    }

    async fn attempt(limiter: &Limiter, action: LimitedAction, ip: IpAddr) -> Result<(), Limited> {
        match action {
            LimitedAction::LoginPerIp => limiter.login_from_ip(ip).await,
            LimitedAction::CheckPerIp => limiter.check_from_ip(ip).await,
            LimitedAction::TokenPerIp => limiter.token_from_ip(ip).await,
            _ => unreachable!("not a per-IP action"),
        }
    }

    /// Each per-network limit by default: how many at once, then one more every how
    /// many seconds.
    const PER_NETWORK_DEFAULTS: [(LimitedAction, u32, u64); 3] = [
        (LimitedAction::LoginPerIp, 20, 3),
        (LimitedAction::CheckPerIp, 30, 2),
        (LimitedAction::TokenPerIp, 60, 1),
    ];

    /// A network the store refused is refused again without asking it, until the
    /// wait it was given is over: shown by the store forgetting the network's count
    /// (which would admit it) while the wait runs. For each per-network limit.
    #[tokio::test]
    async fn a_refused_network_is_refused_from_memory_until_its_wait_is_over() {
        for (action, limit, every) in PER_NETWORK_DEFAULTS {
            let clock = Arc::new(ManualClock::default());
            let store = Arc::new(MemoryStore::with_clock(clock.clone()));
            let limiter = Limiter::new(store.clone(), LimitsConfig::default());
            let client = ip("203.0.113.7");
            for _ in 0..limit {
                attempt(&limiter, action, client).await.unwrap();
            }
            let refused = |secs_left| {
                Err(Limited {
                    action,
                    retry_after: secs(secs_left),
                })
            };
            assert_eq!(attempt(&limiter, action, client).await, refused(every));
            let key = format!("{}:203.0.113.7", action.kind());
            store.delete(&key).await.unwrap();
            clock.advance(secs(every) - Duration::from_millis(500));
            assert_eq!(attempt(&limiter, action, client).await, refused(1));
            assert!(
                attempt(&limiter, action, ip("203.0.113.8")).await.is_ok(),
                "another network"
            );
            // Not a moment longer: then the store decides again.
            clock.advance(Duration::from_millis(500));
            assert_eq!(
                attempt(&limiter, action, client).await,
                Ok(()),
                "{action:?}"
            );
        }
        // The join form's early refusal asks the same memory.
        let (limiter, clock) = limiter();
        let client = ip("198.51.100.9");
        for _ in 0..20 {
            limiter.login_from_ip(client).await.unwrap();
        }
        assert!(limiter.login_from_ip(client).await.is_err());
        let left = limiter.0.login_refused_from(client).map(|l| l.retry_after);
        assert_eq!(left, Some(secs(3)));
        clock.advance(secs(3));
        assert_eq!(limiter.0.login_refused_from(client), None);
    }

    #[tokio::test]
    async fn each_per_ip_limit_is_spent_at_once_then_earns_one_back_every_60_over_n_seconds() {
        // "N per minute": N at once, then one more every 60/N seconds.
        for (action, limit, every) in PER_NETWORK_DEFAULTS {
            let (limiter, clock) = limiter();
            let client = ip("203.0.113.7");
            let refused = |secs_left| {
                Err(Limited {
                    action,
                    retry_after: secs(secs_left),
                })
            };
            for i in 0..limit {
                assert_eq!(
                    attempt(&limiter, action, client).await,
                    Ok(()),
                    "{action:?} #{i}"
                );
            }
            assert_eq!(attempt(&limiter, action, client).await, refused(every));
            // Another network is not affected, nor another action.
            assert_eq!(attempt(&limiter, action, ip("203.0.113.8")).await, Ok(()));
            let other = LimitedAction::ALL[2..]
                .iter()
                .copied()
                .find(|a| *a != action)
                .unwrap();
            assert_eq!(attempt(&limiter, other, client).await, Ok(()));
            // One is earned back exactly one interval after the limit was spent...
            clock.advance(secs(every) - Duration::from_millis(1));
            assert_eq!(attempt(&limiter, action, client).await, refused(1));
            clock.advance(Duration::from_millis(1));
            assert_eq!(attempt(&limiter, action, client).await, Ok(()));
            // ...and spent at once: the next waits a whole interval again.
            assert_eq!(attempt(&limiter, action, client).await, refused(every));
            // Half a minute earns back half the limit, no more: the long-run rate is
            // still `limit` per minute.
            clock.advance(secs(30));
            for i in 0..limit / 2 {
                assert_eq!(
                    attempt(&limiter, action, client).await,
                    Ok(()),
                    "{action:?} after half a minute, #{i}"
                );
            }
            assert_eq!(attempt(&limiter, action, client).await, refused(every));
        }
    }

    #[tokio::test]
    async fn retry_after_is_rounded_up_to_whole_seconds() {
        let (limiter, clock) = limiter();
        let client = ip("198.51.100.1");
        for _ in 0..20 {
            limiter.login_from_ip(client).await.unwrap();
        }
        // 20 per minute: one back every 3 s. The wait is exact to the millisecond and
        // told in whole seconds, rounded up (never down to zero).
        let limiter = &limiter;
        let retry_after =
            move || async move { limiter.login_from_ip(client).await.unwrap_err().retry_after };
        assert_eq!(retry_after().await, secs(3));
        clock.advance(Duration::from_millis(500));
        assert_eq!(retry_after().await, secs(3));
        clock.advance(Duration::from_millis(2_000));
        assert_eq!(retry_after().await, secs(1));
        clock.advance(Duration::from_millis(499));
        assert_eq!(retry_after().await, secs(1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.login_from_ip(client).await, Ok(()));
    }

    #[tokio::test]
    async fn everyones_sign_ins_are_capped_and_a_peek_spends_nothing() {
        let (Limiter(limiter), clock) = limiter_with(LimitsConfig {
            pending_signins_max: 2,
            ..LimitsConfig::default()
        });
        let refused = |secs_left| {
            Err(Limited {
                action: LimitedAction::PendingSignIns,
                retry_after: secs(secs_left),
            })
        };
        for _ in 0..5 {
            assert_eq!(limited(limiter.peek_new_signin().await), Ok(()));
        }
        assert_eq!(limited(limiter.new_signin().await), Ok(()));
        assert_eq!(limited(limiter.new_signin().await), Ok(()));
        // Two per 15 minutes: one back every 450 s, for everyone at once.
        assert_eq!(limited(limiter.peek_new_signin().await), refused(450));
        assert_eq!(limited(limiter.new_signin().await), refused(450));
        clock.advance(secs(450));
        assert_eq!(limited(limiter.peek_new_signin().await), Ok(()));
        assert_eq!(limited(limiter.new_signin().await), Ok(()));
        assert_eq!(limited(limiter.new_signin().await), refused(450));
        // The peeks at a name's and a number's limits spend nothing either.
        let phone = PhoneNumber::parse("+14155550101").unwrap();
        for _ in 0..5 {
            assert_eq!(limited(limiter.peek_start_for_user("alice").await), Ok(()));
            assert_eq!(limited(limiter.peek_start_for_phone(&phone).await), Ok(()));
        }
        assert_eq!(limited(limiter.start_for_user("alice").await), Ok(()));
        assert_eq!(limited(limiter.start_for_phone(&phone).await), Ok(()));
        let cooldown = |action| {
            Err(Limited {
                action,
                retry_after: secs(30),
            })
        };
        assert_eq!(
            limited(limiter.peek_start_for_user("alice").await),
            cooldown(LimitedAction::StartPerUser)
        );
        assert_eq!(
            limited(limiter.peek_start_for_phone(&phone).await),
            cooldown(LimitedAction::StartPerPhone)
        );
    }

    #[tokio::test]
    async fn starts_per_user_have_a_cooldown_and_three_per_ten_minutes_one_back_every_200_s() {
        let (limiter, clock) = limiter();
        let refused = |secs_left| {
            Err(Limited {
                action: LimitedAction::StartPerUser,
                retry_after: secs(secs_left),
            })
        };
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        clock.advance(secs(10));
        assert_eq!(limiter.start_for_user("alice").await, refused(20));
        assert_eq!(limiter.start_for_user("bob").await, Ok(()));
        clock.advance(secs(20));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        clock.advance(secs(30));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        // t = 90 s: the cooldown is over but all three starts are spent. Three per 600 s
        // earns one back every 200 s, the first at 200 s (one interval after the first
        // start).
        clock.advance(secs(30));
        assert_eq!(limiter.start_for_user("alice").await, refused(110));
        clock.advance(secs(109));
        assert_eq!(limiter.start_for_user("alice").await, refused(1));
        clock.advance(secs(1));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        // t = 200 s: that one is spent too; the next comes 200 s later, which the 30 s
        // cooldown is well inside.
        assert_eq!(limiter.start_for_user("alice").await, refused(200));
        clock.advance(secs(199));
        assert_eq!(limiter.start_for_user("alice").await, refused(1));
        clock.advance(secs(1));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
    }

    #[tokio::test]
    async fn passkey_asks_spend_the_names_window_but_start_no_cooldown() {
        let (limiter, clock) = limiter();
        let ms = Duration::from_millis;
        // A passkey ask, then the fall-back to a code (a round trip later, at least
        // the millisecond the ask moves the cooldown's clock on): both allowed.
        assert_eq!(limiter.passkey_for_user("alice").await, Ok(()));
        clock.advance(ms(1));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        // The code started the cooldown; a passkey ask doesn't wait for it...
        clock.advance(ms(1));
        assert_eq!(limiter.passkey_for_user("alice").await, Ok(()));
        // ...and the window (three per ten minutes) is spent by the three together.
        assert!(limiter.passkey_for_user("alice").await.is_err());
        assert!(limiter.start_for_user("alice").await.is_err());
        // Another name is untouched.
        assert_eq!(limiter.passkey_for_user("bob").await, Ok(()));
        clock.advance(ms(1));
        assert_eq!(limiter.start_for_user("bob").await, Ok(()));

        // A code's cooldown is not shortened by passkey asks in between.
        let (limiter, clock) = limiter_with(LimitsConfig {
            starts_per_user: 10,
            ..LimitsConfig::default()
        });
        assert_eq!(limiter.start_for_user("carol").await, Ok(()));
        clock.advance(secs(10));
        assert_eq!(limiter.passkey_for_user("carol").await, Ok(()));
        // 20 s left, and the millisecond the ask added, rounded up.
        let wait = limiter
            .start_for_user("carol")
            .await
            .unwrap_err()
            .retry_after;
        assert_eq!(wait, secs(21));
    }

    #[tokio::test]
    async fn users_sharing_a_phone_reach_the_phone_limit_together() {
        let (limiter, clock) = limiter();
        let shared = phone("+14155550101");
        for who in ["alice", "bob", "carol"] {
            assert_eq!(limiter.start_for_user(who).await, Ok(()));
            assert_eq!(limiter.start_for_phone(&shared).await, Ok(()), "{who}");
            clock.advance(secs(60));
        }
        // t = 180 s: dave has asked for nothing yet, but the phone has had three codes;
        // it earns one back every 200 s, the first at 200 s.
        assert_eq!(limiter.start_for_user("dave").await, Ok(()));
        assert_eq!(
            limiter.start_for_phone(&shared).await,
            Err(Limited {
                action: LimitedAction::StartPerPhone,
                retry_after: secs(20),
            })
        );
        let other = phone("+447400123456");
        assert_eq!(limiter.start_for_phone(&other).await, Ok(()));
        // The cooldown is per phone too, whoever asks.
        clock.advance(secs(10));
        assert_eq!(
            limiter
                .start_for_phone(&other)
                .await
                .unwrap_err()
                .retry_after,
            secs(20)
        );
        // t = 200 s: the phone has earned one code back; the next comes 200 s later.
        clock.advance(secs(10));
        assert_eq!(limiter.start_for_phone(&shared).await, Ok(()));
        assert_eq!(
            limiter
                .start_for_phone(&shared)
                .await
                .unwrap_err()
                .retry_after,
            secs(200)
        );
    }

    #[tokio::test]
    async fn zero_cooldown_leaves_only_the_window() {
        let config = LimitsConfig {
            resend_cooldown: Duration::ZERO,
            ..LimitsConfig::default()
        };
        assert_eq!(
            LimitedAction::StartPerUser.rules(&config),
            vec![Rule::new(3, secs(600))]
        );
        let (limiter, clock) = limiter_with(config);
        // Three back to back, with no cooldown between them; then one every 200 s.
        for _ in 0..3 {
            assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        }
        assert_eq!(
            limiter
                .start_for_user("alice")
                .await
                .unwrap_err()
                .retry_after,
            secs(200)
        );
        clock.advance(secs(200));
        assert_eq!(limiter.start_for_user("alice").await, Ok(()));
        assert_eq!(
            limiter
                .start_for_user("alice")
                .await
                .unwrap_err()
                .retry_after,
            secs(200)
        );
    }

    #[test]
    fn networks_are_ipv4_addresses_and_ipv6_slash_64s() {
        assert_eq!(network_of(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(
            network_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(network_of(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(network_of(ip("::1")), "::/64");
    }

    #[tokio::test]
    async fn an_ipv6_slash_64_is_one_client() {
        let config = LimitsConfig {
            logins_per_ip_per_minute: 2,
            ..LimitsConfig::default()
        };
        let (limiter, _clock) = limiter_with(config);
        assert_eq!(limiter.login_from_ip(ip("2001:db8:1:2::1")).await, Ok(()));
        assert_eq!(
            limiter
                .login_from_ip(ip("2001:db8:1:2:ffff:ffff:ffff:9"))
                .await,
            Ok(())
        );
        assert!(limiter.login_from_ip(ip("2001:db8:1:2::77")).await.is_err());
        assert_eq!(limiter.login_from_ip(ip("2001:db8:1:3::1")).await, Ok(()));
    }

    #[tokio::test]
    async fn ipv4_mapped_ipv6_counts_as_the_ipv4_address() {
        let config = LimitsConfig {
            checks_per_ip_per_minute: 2,
            ..LimitsConfig::default()
        };
        let (limiter, _clock) = limiter_with(config);
        assert_eq!(limiter.check_from_ip(ip("192.0.2.10")).await, Ok(()));
        assert_eq!(limiter.check_from_ip(ip("::ffff:192.0.2.10")).await, Ok(()));
        assert!(limiter.check_from_ip(ip("192.0.2.10")).await.is_err());
        assert_eq!(limiter.check_from_ip(ip("192.0.2.11")).await, Ok(()));
    }

    #[test]
    fn phone_keys_hide_the_number() {
        let (limiter, _clock) = limiter();
        let number = phone("+14155550101");
        let subject = limiter.phone_subject(&number);
        assert_eq!(subject.len(), 64);
        assert!(!subject.contains("4155550101"), "{subject}");
        assert_eq!(subject, limiter.phone_subject(&phone("+14155550101")));
        assert_ne!(subject, limiter.phone_subject(&phone("+14155550102")));
    }

    #[tokio::test]
    async fn three_failures_within_an_hour_lock_for_fifteen_minutes() {
        let (limiter, clock) = limiter();
        assert_eq!(limiter.record_failure("alice").await, None);
        clock.advance(secs(1200));
        assert_eq!(limiter.record_failure("alice").await, None);
        clock.advance(secs(1200));
        assert_eq!(limiter.locked_out("alice").await, None);
        assert_eq!(limiter.record_failure("alice").await, Some(secs(900)));
        assert_eq!(limiter.locked_out("alice").await, Some(secs(900)));
        assert_eq!(limiter.locked_out("bob").await, None);
        clock.advance(Duration::from_millis(899_500));
        assert_eq!(limiter.locked_out("alice").await, Some(secs(1)));
        clock.advance(Duration::from_millis(500));
        assert_eq!(limiter.locked_out("alice").await, None);
    }

    #[tokio::test]
    async fn a_lock_begun_mid_second_lasts_its_length_not_a_second_more() {
        let (limiter, clock) = limiter();
        clock.advance(Duration::from_millis(300));
        assert_eq!(fail_until_locked(&limiter, "alice").await, Some(secs(900)));
        assert_eq!(limiter.locked_out("alice").await, Some(secs(900)));
        clock.advance(Duration::from_millis(899_999));
        assert_eq!(limiter.locked_out("alice").await, Some(secs(1)));
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.locked_out("alice").await, None);
    }

    #[tokio::test]
    async fn the_failure_count_forgets_one_failure_per_hour() {
        let (limiter, clock) = limiter();
        assert_eq!(limiter.record_failure("alice").await, None);
        assert_eq!(limiter.record_failure("bob").await, None);
        assert_eq!(limiter.record_failure("bob").await, None);
        clock.advance(secs(2400));
        assert_eq!(limiter.record_failure("alice").await, None);
        clock.advance(secs(1200));
        // t = 1 h: alice's third failure, but an hour has passed since her first and the
        // count has forgotten one.
        assert_eq!(limiter.record_failure("alice").await, None);
        assert_eq!(limiter.locked_out("alice").await, None);
        // bob's two came together: the hour forgot only one of them, so two more lock
        // (a sliding hour would have dropped both).
        assert_eq!(limiter.record_failure("bob").await, None);
        assert_eq!(limiter.record_failure("bob").await, Some(secs(900)));
        // t = 70 min: three of alice's failures lie within an hour (40, 60, 70 min).
        clock.advance(secs(600));
        assert_eq!(limiter.record_failure("alice").await, Some(secs(900)));
    }

    async fn fail_until_locked(limiter: &Limiter, who: &str) -> Option<Duration> {
        assert_eq!(limiter.record_failure(who).await, None);
        assert_eq!(limiter.record_failure(who).await, None);
        limiter.record_failure(who).await
    }

    #[tokio::test]
    async fn each_further_lockout_doubles_up_to_a_day() {
        let (limiter, clock) = limiter();
        let expected = [
            900, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400,
        ];
        for (i, lock) in expected.into_iter().enumerate() {
            assert_eq!(
                fail_until_locked(&limiter, "alice").await,
                Some(secs(lock)),
                "lockout {}",
                i + 1
            );
            clock.advance(secs(lock - 1));
            assert_eq!(limiter.locked_out("alice").await, Some(secs(1)));
            clock.advance(secs(1));
            assert_eq!(limiter.locked_out("alice").await, None);
        }
    }

    #[tokio::test]
    async fn the_level_is_forgotten_a_day_after_the_last_lock_ends() {
        let (limiter, clock) = limiter();
        for who in ["alice", "bob"] {
            assert_eq!(fail_until_locked(&limiter, who).await, Some(secs(900)));
        }
        clock.advance(secs(900 + 86_400 - 1));
        assert_eq!(fail_until_locked(&limiter, "alice").await, Some(secs(1800)));
        clock.advance(secs(1));
        assert_eq!(fail_until_locked(&limiter, "bob").await, Some(secs(900)));
    }

    #[tokio::test]
    async fn failures_while_locked_neither_extend_the_lock_nor_count_later() {
        let (limiter, clock) = limiter();
        assert_eq!(fail_until_locked(&limiter, "alice").await, Some(secs(900)));
        clock.advance(secs(300));
        for _ in 0..5 {
            assert_eq!(limiter.record_failure("alice").await, None);
        }
        assert_eq!(limiter.locked_out("alice").await, Some(secs(600)));
        clock.advance(secs(600));
        assert_eq!(limiter.locked_out("alice").await, None);
        // The failures before and during the lock are spent: it takes three new ones.
        assert_eq!(fail_until_locked(&limiter, "alice").await, Some(secs(1800)));
    }

    #[test]
    fn lock_state_round_trips_through_one_value() {
        let state = LockState {
            level: 7,
            until_ms: 1_800_086_400_123,
        };
        assert_eq!(LockState::decode(state.encode()), state);
        let capped = LockState {
            level: 1000,
            until_ms: 5,
        };
        assert_eq!(LockState::decode(capped.encode()).level, 255);
        assert_eq!(LockState::decode(capped.encode()).until_ms, 5);
    }

    #[test]
    fn lockout_lengths_saturate_at_the_maximum() {
        let config = LimitsConfig::default();
        assert_eq!(config.lockout_for_level(1), secs(900));
        assert_eq!(config.lockout_for_level(4), secs(7200));
        assert_eq!(config.lockout_for_level(40), secs(86_400));
        assert_eq!(config.lockout_for_level(u32::MAX), secs(86_400));
    }

    fn config(vars: &[(&str, &str)]) -> Result<LimitsConfig, Vec<String>> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        LimitsConfig::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn no_variables_gives_the_issue_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c, LimitsConfig::default());
        assert_eq!((c.starts_per_user, c.starts_per_phone), (3, 3));
        assert_eq!(c.starts_window, secs(600));
        assert_eq!(c.resend_cooldown, secs(30));
        assert_eq!(
            (
                c.logins_per_ip_per_minute,
                c.checks_per_ip_per_minute,
                c.tokens_per_ip_per_minute
            ),
            (20, 30, 60)
        );
        assert_eq!(c.lockout_failures, 3);
        assert_eq!(c.lockout_window, secs(3600));
        assert_eq!((c.lockout, c.lockout_max), (secs(900), secs(86_400)));
        assert_eq!(
            LimitedAction::StartPerPhone.default_rules(),
            vec![Rule::new(1, secs(30)), Rule::new(3, secs(600))]
        );
        assert_eq!(
            LimitedAction::TokenPerIp.default_rules(),
            vec![Rule::new(60, secs(60))]
        );
    }

    #[test]
    fn env_vars_lists_every_variable_with_the_real_default() {
        let names: Vec<&str> = ENV_VARS.iter().map(|(name, _, _)| *name).collect();
        assert_eq!(names.len(), 12);
        for action in LimitedAction::ALL {
            for var in action.env_vars() {
                assert!(names.contains(var), "{var}");
            }
        }
        // Setting every variable to its listed default changes nothing; setting each to
        // garbage is reported under its own name, so every one is actually read.
        let defaults: Vec<(&str, &str)> = ENV_VARS.iter().map(|(n, d, _)| (*n, *d)).collect();
        assert_eq!(config(&defaults).unwrap(), LimitsConfig::default());
        let garbage: Vec<(&str, &str)> = names.iter().map(|n| (*n, "many")).collect();
        let errors = config(&garbage).unwrap_err();
        assert_eq!(errors.len(), 12, "{errors:#?}");
        for name in names {
            assert!(errors.iter().any(|e| e.starts_with(name)), "{name}");
        }
    }

    #[test]
    fn values_are_read_and_blank_ones_ignored() {
        let c = config(&[
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", " 5 "),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "0"),
            ("ROOMGATE_LOCKOUT_SECS", "60"),
            ("ROOMGATE_LOCKOUT_MAX_SECS", "60"),
            ("ROOMGATE_STARTS_PER_USER", "  "),
        ])
        .unwrap();
        assert_eq!(c.logins_per_ip_per_minute, 5);
        assert_eq!(c.resend_cooldown, Duration::ZERO);
        assert_eq!((c.lockout, c.lockout_max), (secs(60), secs(60)));
        assert_eq!(c.starts_per_user, 3);
    }

    #[test]
    fn bad_values_are_each_one_clear_line() {
        let errors = config(&[
            ("ROOMGATE_LOGINS_PER_IP_PER_MINUTE", "x"),
            ("ROOMGATE_STARTS_PER_PHONE", "0"),
            ("ROOMGATE_CHECKS_PER_IP_PER_MINUTE", "1000001"),
            ("ROOMGATE_STARTS_WINDOW_SECS", "-5"),
            ("ROOMGATE_RESEND_COOLDOWN_SECS", "3601"),
            ("ROOMGATE_LOCKOUT_WINDOW_SECS", "86401"),
        ])
        .unwrap_err();
        assert_eq!(
            errors,
            [
                r#"ROOMGATE_STARTS_PER_PHONE must be a whole number from 1 to 1000000 (got "0")"#,
                r#"ROOMGATE_LOGINS_PER_IP_PER_MINUTE must be a whole number from 1 to 1000000 (got "x")"#,
                r#"ROOMGATE_CHECKS_PER_IP_PER_MINUTE must be a whole number from 1 to 1000000 (got "1000001")"#,
                r#"ROOMGATE_STARTS_WINDOW_SECS must be a whole number of seconds from 1 to 86400 (got "-5")"#,
                r#"ROOMGATE_RESEND_COOLDOWN_SECS must be a whole number of seconds from 0 to 3600 (got "3601")"#,
                r#"ROOMGATE_LOCKOUT_WINDOW_SECS must be a whole number of seconds from 1 to 86400 (got "86401")"#,
            ]
        );
        assert_eq!(
            config(&[("ROOMGATE_LOCKOUT_MAX_SECS", "600")]).unwrap_err(),
            ["ROOMGATE_LOCKOUT_MAX_SECS (600) must be at least ROOMGATE_LOCKOUT_SECS (900)"]
        );
    }

    #[test]
    fn actions_have_stable_kinds_and_messages_that_name_no_one() {
        let kinds: Vec<&str> = LimitedAction::ALL.iter().map(|a| a.kind()).collect();
        assert_eq!(
            kinds,
            [
                "start_per_user",
                "start_per_phone",
                "login_per_ip",
                "check_per_ip",
                "token_per_ip",
                "pending_signins"
            ]
        );
        // A participant must not learn whether the username or a shared phone was limited.
        assert_eq!(
            LimitedAction::StartPerUser.message(),
            LimitedAction::StartPerPhone.message()
        );
        let limited = Limited {
            action: LimitedAction::LoginPerIp,
            retry_after: secs(3),
        };
        assert_eq!(
            limited.to_string(),
            "Too many sign-in attempts from your network. Please wait a minute and try again."
        );
    }

    #[tokio::test]
    async fn logs_say_what_was_limited_but_not_who() {
        let (captured, _guard) = crate::test_support::capture_logs();
        let exercise = |who: &'static str| async move {
            let (limiter, _clock) = limiter();
            let number = phone("+14155550101");
            let client = ip("2001:db8:abcd:12::5");
            limiter.start_for_user(who).await.unwrap();
            limiter.start_for_phone(&number).await.unwrap();
            limiter.login_from_ip(client).await.unwrap();
            assert!(limiter.start_for_user(who).await.is_err());
            assert!(limiter.start_for_phone(&number).await.is_err());
            for _ in 0..20 {
                let _ = limiter.login_from_ip(client).await;
            }
            fail_until_locked(&limiter, who).await.unwrap();
        };
        // As in the Verify client's log test: other tests may have cached "no interest"
        // for these callsites; once ours has registered them, a rebuild fixes that.
        exercise("zed").await;
        tracing::callsite::rebuild_interest_cache();
        captured.clear();
        exercise("alice").await;

        let logs = captured.text();
        // The starts are held by the 30 s cooldown; the 21st sign-in in a moment waits
        // one interval of 20 per minute, 3 s. Whole lines, so "=3" can't match "=30".
        for expected in [
            "limited action=\"start_per_user\" retry_after_secs=30",
            "limited action=\"start_per_phone\" retry_after_secs=30",
            "limited action=\"login_per_ip\" retry_after_secs=3",
            "locked out level=1 lock_secs=900",
        ] {
            assert!(
                logs.lines().any(|line| line.ends_with(expected)),
                "{expected} missing from:\n{logs}"
            );
        }
        for secret in ["alice", "4155550101", "2001:db8", "abcd"] {
            assert!(!logs.contains(secret), "{secret} in:\n{logs}");
        }
        assert_eq!(logs.lines().count(), 4, "{logs}");
    }
}
