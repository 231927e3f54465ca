//! The global budgets: caps on verification starts per minute, hour and UTC day,
//! whoever asks, one budget per [`BudgetKind`]. Texts have one because SMS pumping
//! (bots sending codes to premium numbers) is paid for per message; calls have their
//! own, because they cost more and toll fraud targets them. The operator is alerted
//! at 80 % of a cap and when one is reached (`sms_budget_*` or `call_budget_*`).
//!
//! Windows are fixed and aligned to the clock (the minute, the hour, the UTC day), so a
//! refusal can say exactly when sending resumes. Each window has its own counter key
//! (`minute:<index>`, `index` = Unix seconds / window length) in the store's group for
//! the kind (`sms` or `call`), spent all at once by [`Store::spend`]. State lives only in the store, and
//! alert markers are set with [`Store::put_new`], so several instances sharing one
//! store share one budget and alert once between them.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use tracing::{debug, error, warn};

use crate::alerts::{Alert, AlertSender, RetryPolicy};
use crate::env::Env;
use crate::metrics::{Metrics, Outbound, Window as MetricsWindow};
use crate::store::{FixedWindow, Spend, Store, StoreError};
use crate::twilio::guard::{Guard, GuardConfig};

pub const DEFAULT_PER_MINUTE: u32 = 30;
pub const DEFAULT_PER_HOUR: u32 = 300;
pub const DEFAULT_PER_DAY: u32 = 2000;
/// Calls are for the few who can't get texts, and cost several times as much.
pub const DEFAULT_CALLS_PER_MINUTE: u32 = 10;
pub const DEFAULT_CALLS_PER_HOUR: u32 = 60;
pub const DEFAULT_CALLS_PER_DAY: u32 = 300;
/// A shorter HMAC key is guessable offline from one signed alert.
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;

pub const EVENT_WARNING: &str = "sms_budget_warning";
pub const EVENT_EXHAUSTED: &str = "sms_budget_exhausted";
pub const CALL_EVENT_WARNING: &str = "call_budget_warning";
pub const CALL_EVENT_EXHAUSTED: &str = "call_budget_exhausted";

/// What a budget counts: verification starts by text, or by call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    Sms,
    Call,
}

impl BudgetKind {
    /// The store group its windows' counters live in.
    fn group(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Call => "call",
        }
    }

    /// How logs name it.
    fn label(self) -> &'static str {
        match self {
            Self::Sms => "SMS",
            Self::Call => "call",
        }
    }

    /// The audit log's detail when it refuses a start.
    pub fn refusal_detail(self) -> &'static str {
        match self {
            Self::Sms => "sms_budget",
            Self::Call => "call_budget",
        }
    }

    fn events(self) -> (&'static str, &'static str) {
        match self {
            Self::Sms => (EVENT_WARNING, EVENT_EXHAUSTED),
            Self::Call => (CALL_EVENT_WARNING, CALL_EVENT_EXHAUSTED),
        }
    }

    /// `ROOMGATE_SMS_BUDGET` or `ROOMGATE_CALL_BUDGET`, before `_PER_MINUTE` etc.
    fn var_prefix(self) -> &'static str {
        match self {
            Self::Sms => "ROOMGATE_SMS_BUDGET",
            Self::Call => "ROOMGATE_CALL_BUDGET",
        }
    }

    fn default_caps(self) -> Caps {
        match self {
            Self::Sms => Caps {
                per_minute: DEFAULT_PER_MINUTE,
                per_hour: DEFAULT_PER_HOUR,
                per_day: DEFAULT_PER_DAY,
            },
            Self::Call => Caps {
                per_minute: DEFAULT_CALLS_PER_MINUTE,
                per_hour: DEFAULT_CALLS_PER_HOUR,
                per_day: DEFAULT_CALLS_PER_DAY,
            },
        }
    }
}

/// One budget's caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

/// Where operator alerts go. Both parts or neither: alerts are always signed.
#[derive(Clone)]
pub struct AlertWebhook {
    pub url: Url,
    pub secret: SecretString,
}

impl AlertWebhook {
    /// A sender delivering to this webhook; `http` is a clone of the app's one client.
    /// Alerts not delivered yet are kept in `store`.
    pub fn sender(
        &self,
        http: reqwest::Client,
        guard: Guard,
        store: Option<Arc<dyn Store>>,
    ) -> AlertSender {
        AlertSender::webhook(
            http,
            self.url.clone(),
            self.secret.clone(),
            RetryPolicy::default(),
            guard,
            store,
        )
    }
}

// Webhook URLs often carry a token in the path or query (chat webhooks do), so only
// the scheme and host are ever printed.
impl fmt::Debug for AlertWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertWebhook")
            .field("url", &redacted_url(&self.url))
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

fn redacted_url(url: &Url) -> String {
    format!("{}://{}/…", url.scheme(), url.host_str().unwrap_or(""))
}

/// Caps on verification starts, and where to send alerts about them.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    /// The SMS budget's caps.
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
    /// The call budget's.
    pub calls: Caps,
    /// `None`: alerts are only logged.
    pub alert_webhook: Option<AlertWebhook>,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            per_minute: DEFAULT_PER_MINUTE,
            per_hour: DEFAULT_PER_HOUR,
            per_day: DEFAULT_PER_DAY,
            calls: BudgetKind::Call.default_caps(),
            alert_webhook: None,
        }
    }
}

impl BudgetConfig {
    /// From `ROOMGATE_SMS_BUDGET_PER_MINUTE`, `_PER_HOUR`, `_PER_DAY`, the same for
    /// `ROOMGATE_CALL_BUDGET_…`, `ROOMGATE_ALERT_WEBHOOK_URL` and `ROOMGATE_ALERT_WEBHOOK_SECRET`. Empty counts as
    /// unset. Every problem is one line; no line shows the secret or the URL.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let mut env = Env::new(var);
        let mut cap = |name: &str, default: u32| env.count(name, default, 1..=u32::MAX);
        let mut caps = |kind: BudgetKind| {
            let (prefix, d) = (kind.var_prefix(), kind.default_caps());
            Caps {
                per_minute: cap(&format!("{prefix}_PER_MINUTE"), d.per_minute),
                per_hour: cap(&format!("{prefix}_PER_HOUR"), d.per_hour),
                per_day: cap(&format!("{prefix}_PER_DAY"), d.per_day),
            }
        };
        let Caps {
            per_minute,
            per_hour,
            per_day,
        } = caps(BudgetKind::Sms);
        let calls = caps(BudgetKind::Call);

        let secret = env
            .var("ROOMGATE_ALERT_WEBHOOK_SECRET")
            .map(SecretString::from);
        // Some(Err) remembers that a URL was given, so a missing secret is still reported.
        let url = env.secret_http_url("ROOMGATE_ALERT_WEBHOOK_URL");
        if let Some(s) = &secret
            && s.expose_secret().len() < MIN_WEBHOOK_SECRET_BYTES
        {
            env.push(format!(
                "ROOMGATE_ALERT_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET_BYTES} bytes (it has {})",
                s.expose_secret().len()
            ));
        }
        let alert_webhook = match (url, secret) {
            (None, None) => None,
            (Some(_), None) => {
                env.push(
                    "ROOMGATE_ALERT_WEBHOOK_SECRET is required with ROOMGATE_ALERT_WEBHOOK_URL: alerts are signed"
                        .into(),
                );
                None
            }
            // Most likely a forgotten URL: without one, nobody hears the alerts.
            (None, Some(_)) => {
                env.push(
                    "ROOMGATE_ALERT_WEBHOOK_SECRET is set but ROOMGATE_ALERT_WEBHOOK_URL is not"
                        .into(),
                );
                None
            }
            (Some(Ok(url)), Some(secret)) => Some(AlertWebhook { url, secret }),
            (Some(Err(())), Some(_)) => None,
        };

        env.finish(Self {
            per_minute,
            per_hour,
            per_day,
            calls,
            alert_webhook,
        })
    }

    /// The caps of the budget of `kind`.
    pub fn caps(&self, kind: BudgetKind) -> Caps {
        match kind {
            BudgetKind::Sms => Caps {
                per_minute: self.per_minute,
                per_hour: self.per_hour,
                per_day: self.per_day,
            },
            BudgetKind::Call => self.calls,
        }
    }

    /// The alert sender this configuration asks for.
    /// With a webhook, its calls go through a guard with `limits`, shown in `metrics`,
    /// and alerts not delivered yet are kept in `store`.
    pub fn alert_sender(
        &self,
        http: reqwest::Client,
        limits: GuardConfig,
        metrics: &Metrics,
        store: Arc<dyn Store>,
    ) -> AlertSender {
        match &self.alert_webhook {
            Some(webhook) => webhook.sender(
                http,
                Guard::new(Outbound::AlertWebhook, limits, Some(metrics.clone())),
                Some(store),
            ),
            None => AlertSender::disabled(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    fn name(self) -> &'static str {
        match self {
            Self::Minute => "minute",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    fn secs(self) -> u64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
            // Unix time has no leap seconds, so multiples of 86 400 are UTC midnights.
            Self::Day => 86_400,
        }
    }
}

/// One window as it is at one instant.
struct Current {
    window: Window,
    cap: u32,
    key: String,
    end: SystemTime,
}

impl Current {
    fn fixed(&self) -> FixedWindow {
        FixedWindow {
            key: self.key.clone(),
            cap: self.cap,
            ends: self.end,
        }
    }

    fn until_end(&self, now: SystemTime) -> Duration {
        self.end.duration_since(now).unwrap_or(Duration::ZERO)
    }

    /// The first count at or above 80 % of the cap.
    fn warning_at(&self) -> u64 {
        (u64::from(self.cap) * 4).div_ceil(5)
    }

    fn marker(&self, group: &str, event: &str) -> String {
        format!("{group}:{}:alerted:{event}", self.key)
    }
}

/// A global budget of verification starts of one [`BudgetKind`]. Ask
/// [`spend`](Self::spend) before every start; it refuses once a window's cap is reached.
pub struct Budget {
    kind: BudgetKind,
    /// Shortest window first.
    caps: [(Window, u32); 3],
    store: Arc<dyn Store>,
    alerts: AlertSender,
    /// Where each spend's counts are shown, if anywhere.
    metrics: Option<Metrics>,
    /// Alert markers this instance knows are set, with their window's end: each is
    /// asked of the store once a window here, not once per refusal.
    noted: std::sync::Mutex<Vec<(String, SystemTime)>>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("kind", &self.kind)
            .field("caps", &self.caps)
            .field("alerts", &self.alerts)
            .finish_non_exhaustive()
    }
}

impl Budget {
    /// The budget of `kind`, with its caps from `config`. The webhook part of `config`
    /// is not used here; build `alerts` from it with [`BudgetConfig::alert_sender`].
    pub fn new(
        kind: BudgetKind,
        config: &BudgetConfig,
        store: Arc<dyn Store>,
        alerts: AlertSender,
    ) -> Self {
        let caps = config.caps(kind);
        Self {
            kind,
            caps: [
                (Window::Minute, caps.per_minute),
                (Window::Hour, caps.per_hour),
                (Window::Day, caps.per_day),
            ],
            store,
            alerts,
            metrics: None,
            noted: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Show each window's count in `metrics` after every spend (from the counts the
    /// spend itself returns: no extra store call).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn kind(&self) -> BudgetKind {
        self.kind
    }

    fn group(&self) -> &'static str {
        self.kind.group()
    }

    fn publish(&self, windows: &[Current], used: &[u32]) {
        let Some(metrics) = &self.metrics else { return };
        for (w, &n) in windows.iter().zip(used) {
            let window = match w.window {
                Window::Minute => MetricsWindow::Minute,
                Window::Hour => MetricsWindow::Hour,
                Window::Day => MetricsWindow::Day,
            };
            match self.kind {
                BudgetKind::Sms => metrics.set_sms_budget(window, n, w.cap),
                BudgetKind::Call => metrics.set_call_budget(window, n, w.cap),
            }
        }
    }

    fn windows(&self, now: SystemTime) -> Vec<Current> {
        let unix = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs();
        self.caps
            .iter()
            .map(|&(window, cap)| {
                let index = unix / window.secs();
                Current {
                    window,
                    cap,
                    key: format!("{}:{index}", window.name()),
                    end: UNIX_EPOCH + Duration::from_secs((index + 1) * window.secs()),
                }
            })
            .collect()
    }

    fn fixed(windows: &[Current]) -> Vec<FixedWindow> {
        windows.iter().map(Current::fixed).collect()
    }

    /// `(window name, used, cap)` for each window now, for metrics.
    pub async fn usage(&self) -> Result<Vec<(&'static str, u32, u32)>, StoreError> {
        let windows = self.windows(self.store.clock().now());
        let used = self
            .store
            .used(self.group(), &Self::fixed(&windows))
            .await?;
        Ok(windows
            .iter()
            .zip(used)
            .map(|(w, n)| (w.window.name(), n, w.cap))
            .collect())
    }

    /// Shows each window's count now in the metrics (the gauges are otherwise set by
    /// spends only, so they would keep an ended window's count, and show nothing
    /// before the first spend). Run every few seconds.
    pub async fn publish_usage(&self) -> Result<(), StoreError> {
        if self.metrics.is_none() {
            return Ok(());
        }
        let windows = self.windows(self.store.clock().now());
        let used = self
            .store
            .used(self.group(), &Self::fixed(&windows))
            .await?;
        self.publish(&windows, &used);
        Ok(())
    }

    /// If a window is at its cap: how long until the last such window to roll over
    /// does. Spends nothing. A full window's alert goes out here if it hasn't (the
    /// budget was spent before a restart with a lower cap, or the alert's spend
    /// crashed): the refusals are what the operator must hear of.
    pub async fn exhausted(&self) -> Result<Option<Duration>, StoreError> {
        let now = self.store.clock().now();
        let windows = self.windows(now);
        let used = self
            .store
            .used(self.group(), &Self::fixed(&windows))
            .await?;
        let mut wait = None;
        for (w, &n) in windows.iter().zip(&used) {
            if n >= w.cap {
                wait = wait.max(Some(w.until_end(now)));
                // The refusal stands whether or not the marker could be written.
                if let Err(e) = self.on_exhausted(w, n, now).await {
                    debug!(error = %e, "budget alert marker not checked");
                }
            }
        }
        if wait.is_some() {
            self.publish(&windows, &used);
        }
        Ok(wait)
    }

    /// Takes one verification start from every window, or refuses with how long until
    /// sending may resume (the end of the last full window; not rounded). The store
    /// takes from all windows or none, atomically across instances, so a refused start
    /// costs no window anything.
    ///
    /// Alerts: the spend that brings a window to 80 % of its cap (or past it) sends
    /// `sms_budget_warning`; the spend that brings it to its cap sends
    /// `sms_budget_exhausted`, so the operator hears the moment the budget is gone,
    /// before anyone is turned away. A refusal also sends it if it somehow was not sent
    /// (a crash after the last spend, a lower cap after a restart). Each at most once
    /// per window across every instance, remembered in the store until the window ends.
    pub async fn spend(&self) -> Result<Result<(), Duration>, StoreError> {
        let now = self.store.clock().now();
        let windows = self.windows(now);
        match self
            .store
            .spend(self.group(), &Self::fixed(&windows))
            .await?
        {
            Spend::Spent(used) => {
                self.publish(&windows, &used);
                for (w, used) in windows.iter().zip(used) {
                    // The spend that fills a window warns only if the window's 80 % is
                    // its cap (a cap of 1 or 2): otherwise an earlier spend crossed the
                    // 80 % and warns with its count (a race won by this one sent the
                    // warning with the cap's count, after the exhaustion).
                    let warns = u64::from(used) >= w.warning_at()
                        && (used < w.cap || w.warning_at() >= u64::from(w.cap));
                    if warns {
                        self.on_warning(w, used, now).await?;
                    }
                    if used >= w.cap {
                        self.on_exhausted(w, used, now).await?;
                    }
                }
                Ok(Ok(()))
            }
            Spend::Full(used) => {
                self.publish(&windows, &used);
                let mut wait = Duration::ZERO;
                for (w, used) in windows.iter().zip(used) {
                    if used >= w.cap {
                        self.on_exhausted(w, used, now).await?;
                        wait = wait.max(w.until_end(now));
                    }
                }
                debug!(
                    retry_in_secs = wait.as_secs(),
                    "verification start refused: {} budget exhausted",
                    self.kind.label()
                );
                Ok(Err(wait))
            }
        }
    }

    async fn on_warning(&self, w: &Current, used: u32, now: SystemTime) -> Result<(), StoreError> {
        let (event, _) = self.kind.events();
        if self.first_time(w, event, now).await? {
            warn!(
                window = w.window.name(),
                used,
                limit = w.cap,
                "{} budget at 80 % for this {}",
                self.kind.label(),
                w.window.name()
            );
            self.alert(event, w, used, now);
        }
        Ok(())
    }

    async fn on_exhausted(
        &self,
        w: &Current,
        used: u32,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (_, event) = self.kind.events();
        if self.first_time(w, event, now).await? {
            error!(
                window = w.window.name(),
                used,
                limit = w.cap,
                retry_in_secs = w.until_end(now).as_secs(),
                "{} budget exhausted for this {}: no such verification starts until it ends",
                self.kind.label(),
                w.window.name()
            );
            self.alert(event, w, used, now);
        }
        Ok(())
    }

    /// Whether `event` is news for this window; if so, it isn't any more, for any
    /// instance sharing the store.
    async fn first_time(
        &self,
        w: &Current,
        event: &str,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let marker = w.marker(self.group(), event);
        {
            let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            noted.retain(|(_, end)| *end > now);
            if noted.iter().any(|(m, _)| *m == marker) {
                return Ok(false);
            }
        }
        let ttl = w.until_end(now).max(Duration::from_secs(1));
        let first = self.store.put_new(&marker, b"1", ttl).await?;
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        // Others may have asked the store at the same time: one entry each.
        if !noted.iter().any(|(m, _)| *m == marker) {
            noted.push((marker, w.end));
        }
        Ok(first)
    }

    fn alert(&self, event: &'static str, w: &Current, used: u32, now: SystemTime) {
        self.alerts.send(Alert {
            event,
            window: Some(w.window.name()),
            used: Some(used.into()),
            limit: Some(w.cap.into()),
            at: now,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tokio::sync::mpsc::UnboundedReceiver;

    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::store::memory::MemoryStore;

    /// 2026-11-22T00:00:00Z: the start of a UTC day (so of an hour and a minute too).
    const DAY: u64 = 1_795_305_600;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn caps(per_minute: u32, per_hour: u32, per_day: u32) -> BudgetConfig {
        BudgetConfig {
            per_minute,
            per_hour,
            per_day,
            calls: BudgetKind::Call.default_caps(),
            alert_webhook: None,
        }
    }

    struct Harness {
        budget: Budget,
        clock: Arc<ManualClock>,
        store: Arc<MemoryStore>,
        alerts: UnboundedReceiver<Alert>,
    }

    impl Harness {
        /// A budget whose clock reads `offset` seconds into the test day.
        fn new(config: BudgetConfig, offset: u64) -> Self {
            let clock = Arc::new(ManualClock::new(UNIX_EPOCH + secs(DAY + offset)));
            let store = Arc::new(MemoryStore::with_clock(clock.clone()));
            Self::on(config, clock, store)
        }

        /// Another instance sharing this one's store (and so its clock).
        fn beside(&self, config: BudgetConfig) -> Self {
            Self::on(config, self.clock.clone(), self.store.clone())
        }

        fn on(config: BudgetConfig, clock: Arc<ManualClock>, store: Arc<MemoryStore>) -> Self {
            let (sender, alerts) = AlertSender::capture();
            let budget = Budget::new(BudgetKind::Sms, &config, store.clone(), sender);
            Self {
                budget,
                clock,
                store,
                alerts,
            }
        }

        async fn spend(&self, n: u32) {
            for i in 0..n {
                assert_eq!(
                    self.budget.spend().await.unwrap(),
                    Ok(()),
                    "start {} of {n}",
                    i + 1
                );
            }
        }

        fn alerts(&mut self) -> Vec<(&'static str, &'static str, u64, u64)> {
            let mut got = Vec::new();
            while let Ok(a) = self.alerts.try_recv() {
                assert_eq!(a.at, self.clock.now());
                // A budget's alert always names its window and counts.
                got.push((
                    a.event,
                    a.window.unwrap(),
                    a.used.unwrap(),
                    a.limit.unwrap(),
                ));
            }
            got
        }
    }

    #[tokio::test]
    async fn the_31st_start_in_a_minute_waits_for_the_next_minute() {
        let h = Harness::new(BudgetConfig::default(), 10);
        h.spend(30).await;
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(50)));
        assert_eq!(h.budget.exhausted().await.unwrap(), Some(secs(50)));
        h.clock.advance(secs(49));
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(1)));
        h.clock.advance(secs(1));
        assert_eq!(h.budget.exhausted().await.unwrap(), None);
        h.spend(30).await;
        assert!(h.budget.spend().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn the_hour_cap_holds_across_minutes() {
        let h = Harness::new(caps(5, 12, 1000), 0);
        h.spend(5).await;
        h.clock.advance(secs(60));
        h.spend(5).await;
        h.clock.advance(secs(60));
        h.spend(2).await;
        // 2 minutes into the hour; the minute has room, the hour has not.
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(3600 - 120)));
        h.clock.advance(secs(600));
        assert_eq!(h.budget.exhausted().await.unwrap(), Some(secs(3600 - 720)));
        h.clock.advance(secs(3600 - 720));
        h.spend(5).await;
    }

    #[tokio::test]
    async fn the_day_cap_holds_until_utc_midnight() {
        let h = Harness::new(caps(5, 10, 12), 0);
        h.spend(5).await;
        h.clock.advance(secs(3600));
        h.spend(5).await;
        h.clock.advance(secs(3600));
        h.spend(2).await;
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(86_400 - 7200)));
        h.clock.advance(secs(86_400 - 7200 - 1));
        assert_eq!(h.budget.exhausted().await.unwrap(), Some(secs(1)));
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(1)));
        h.clock.advance(secs(1));
        assert_eq!(h.budget.exhausted().await.unwrap(), None);
        h.spend(5).await;
    }

    #[tokio::test]
    async fn exhausted_reports_the_longest_wait_and_spends_nothing() {
        let h = Harness::new(caps(2, 2, 100), 30);
        assert_eq!(h.budget.exhausted().await.unwrap(), None);
        h.spend(1).await;
        for _ in 0..10 {
            assert_eq!(h.budget.exhausted().await.unwrap(), None);
        }
        h.spend(1).await;
        // Minute and hour are both full; the hour ends last.
        assert_eq!(h.budget.exhausted().await.unwrap(), Some(secs(3570)));
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(3570)));
    }

    #[tokio::test]
    async fn refused_starts_cost_no_window_anything() {
        let h = Harness::new(caps(2, 3, 100), 0);
        h.spend(2).await;
        for _ in 0..50 {
            assert!(h.budget.spend().await.unwrap().is_err());
        }
        h.clock.advance(secs(60));
        // Two of three hourly starts are used, not fifty-two.
        h.spend(1).await;
        assert_eq!(h.budget.spend().await.unwrap(), Err(secs(3600 - 60)));
    }

    #[tokio::test]
    async fn warns_once_at_80_percent_and_alerts_once_when_exhausted() {
        let mut h = Harness::new(BudgetConfig::default(), 5);
        h.spend(23).await;
        assert_eq!(h.alerts(), []);
        h.spend(1).await;
        assert_eq!(h.alerts(), [(EVENT_WARNING, "minute", 24, 30)]);
        h.spend(5).await;
        assert_eq!(h.alerts(), []);
        h.spend(1).await;
        assert_eq!(h.alerts(), [(EVENT_EXHAUSTED, "minute", 30, 30)]);
        for _ in 0..10 {
            assert!(h.budget.spend().await.unwrap().is_err());
        }
        assert_eq!(h.alerts(), []);
    }

    #[tokio::test]
    async fn alerts_again_in_the_next_window() {
        let mut h = Harness::new(BudgetConfig::default(), 0);
        h.spend(30).await;
        assert!(h.budget.spend().await.unwrap().is_err());
        assert_eq!(h.alerts().len(), 2);
        h.clock.advance(secs(60));
        h.spend(30).await;
        assert!(h.budget.spend().await.unwrap().is_err());
        assert_eq!(
            h.alerts(),
            [
                (EVENT_WARNING, "minute", 24, 30),
                (EVENT_EXHAUSTED, "minute", 30, 30)
            ]
        );
    }

    #[tokio::test]
    async fn each_window_alerts_for_itself() {
        let mut h = Harness::new(caps(100, 10, 20), 0);
        h.spend(7).await;
        assert_eq!(h.alerts(), []);
        h.spend(1).await;
        assert_eq!(h.alerts(), [(EVENT_WARNING, "hour", 8, 10)]);
        h.spend(2).await;
        assert_eq!(h.alerts(), [(EVENT_EXHAUSTED, "hour", 10, 10)]);
        h.clock.advance(secs(3600));
        h.spend(6).await;
        assert_eq!(h.alerts(), [(EVENT_WARNING, "day", 16, 20)]);
        h.spend(2).await;
        assert_eq!(h.alerts(), [(EVENT_WARNING, "hour", 8, 10)]);
    }

    #[tokio::test]
    async fn a_cap_of_one_warns_and_exhausts_at_once() {
        let mut h = Harness::new(caps(1, 100, 100), 0);
        h.spend(1).await;
        assert_eq!(
            h.alerts(),
            [
                (EVENT_WARNING, "minute", 1, 1),
                (EVENT_EXHAUSTED, "minute", 1, 1)
            ]
        );
    }

    #[tokio::test]
    async fn the_warning_comes_at_80_percent_rounded_up() {
        // 80 % of 7 is 5.6: the 6th start is the first at or above it.
        let mut h = Harness::new(caps(7, 100, 100), 0);
        h.spend(5).await;
        assert_eq!(h.alerts(), []);
        h.spend(1).await;
        assert_eq!(h.alerts(), [(EVENT_WARNING, "minute", 6, 7)]);
    }

    // A refusal alerts if the spend that filled the window didn't (here: another
    // instance with a higher cap filled it).
    #[tokio::test]
    async fn a_refusal_alerts_if_nobody_did() {
        let mut generous = Harness::new(caps(10, 100, 100), 0);
        let mut strict = generous.beside(caps(5, 100, 100));
        generous.spend(5).await;
        assert_eq!(generous.alerts(), []);
        assert_eq!(strict.budget.spend().await.unwrap(), Err(secs(60)));
        assert_eq!(strict.alerts(), [(EVENT_EXHAUSTED, "minute", 5, 5)]);
        assert!(strict.budget.spend().await.unwrap().is_err());
        assert_eq!(strict.alerts(), []);
    }

    /// The check every sign-in makes before spending (`exhausted`) alerts for a full
    /// window nobody alerted for (spent before a restart with a lower cap), once, and
    /// shows the window's count; a spend never gets there while it is full.
    #[tokio::test]
    async fn the_check_before_a_spend_alerts_once_for_a_window_nobody_alerted_for() {
        let generous = Harness::new(caps(10, 100, 100), 0);
        generous.spend(5).await;
        let metrics = Metrics::new();
        let mut strict = generous.beside(caps(5, 100, 100));
        strict.budget = strict.budget.with_metrics(metrics.clone());
        for _ in 0..3 {
            assert_eq!(strict.budget.exhausted().await.unwrap(), Some(secs(60)));
        }
        assert_eq!(strict.alerts(), [(EVENT_EXHAUSTED, "minute", 5, 5)]);
        let text = metrics.encode();
        assert!(
            text.contains("roomgate_sms_budget_used{window=\"minute\"} 5"),
            "{text}"
        );
        // Another instance's check finds the marker: no second alert.
        let mut third = generous.beside(caps(5, 100, 100));
        assert!(third.budget.exhausted().await.unwrap().is_some());
        assert_eq!(third.alerts(), []);
    }

    /// The gauges show the windows as they are now: before any spend (the caps, and
    /// what other instances spent), and 0 once a window has rolled over.
    #[tokio::test]
    async fn usage_is_published_without_a_spend_and_rolls_over() {
        let h = Harness::new(caps(7, 70, 700), 0);
        h.spend(3).await;
        let metrics = Metrics::new();
        let other = h.beside(caps(7, 70, 700));
        let budget = other.budget.with_metrics(metrics.clone());
        budget.publish_usage().await.unwrap();
        let text = metrics.encode();
        for line in [
            "roomgate_sms_budget_used{window=\"minute\"} 3",
            "roomgate_sms_budget_limit{window=\"minute\"} 7",
            "roomgate_sms_budget_limit{window=\"day\"} 700",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        h.clock.advance(secs(60));
        budget.publish_usage().await.unwrap();
        let text = metrics.encode();
        assert!(
            text.contains("roomgate_sms_budget_used{window=\"minute\"} 0"),
            "{text}"
        );
        assert!(text.contains("roomgate_sms_budget_used{window=\"hour\"} 3"));
    }

    /// The spend that fills a window past its 80 % sends the exhaustion only: the
    /// warning is the spend's that crossed the 80 % (here another instance's, with a
    /// higher cap, which warned nobody). It once went out too, with the cap's count.
    #[tokio::test]
    async fn the_spend_that_fills_a_window_does_not_also_warn() {
        let generous = Harness::new(caps(100, 100, 100), 0);
        generous.spend(9).await;
        let mut strict = generous.beside(caps(10, 100, 100));
        strict.spend(1).await;
        assert_eq!(strict.alerts(), [(EVENT_EXHAUSTED, "minute", 10, 10)]);
    }

    #[tokio::test]
    async fn instances_sharing_a_store_share_the_budget_and_alert_once() {
        let mut a = Harness::new(BudgetConfig::default(), 0);
        let mut b = a.beside(BudgetConfig::default());
        for _ in 0..15 {
            a.spend(1).await;
            b.spend(1).await;
        }
        assert!(a.budget.spend().await.unwrap().is_err());
        assert!(b.budget.spend().await.unwrap().is_err());
        let mut all = a.alerts();
        all.extend(b.alerts());
        all.sort();
        assert_eq!(
            all,
            [
                (EVENT_EXHAUSTED, "minute", 30, 30),
                (EVENT_WARNING, "minute", 24, 30)
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_spends_never_exceed_the_cap_and_alert_once() {
        let h = Arc::new(Harness::new(BudgetConfig::default(), 0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.budget.spend().await.unwrap().is_ok() })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 30);
        let mut h = Arc::into_inner(h).unwrap();
        assert_eq!(h.alerts().len(), 2);
    }

    fn config(vars: &[(&str, &str)]) -> Result<BudgetConfig, Vec<String>> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        BudgetConfig::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    const SECRET: &str = "0123456789abcdef-signing";

    #[test]
    fn defaults_without_variables() {
        let c = config(&[("ROOMGATE_SMS_BUDGET_PER_HOUR", " ")]).unwrap();
        assert_eq!((c.per_minute, c.per_hour, c.per_day), (30, 300, 2000));
        assert!(c.alert_webhook.is_none());
        let d = BudgetConfig::default();
        assert_eq!((d.per_minute, d.per_hour, d.per_day), (30, 300, 2000));
        let calls = Caps {
            per_minute: 10,
            per_hour: 60,
            per_day: 300,
        };
        assert_eq!((c.calls, d.calls), (calls, calls));
    }

    #[test]
    fn call_caps_from_their_own_variables() {
        let c = config(&[
            ("ROOMGATE_CALL_BUDGET_PER_MINUTE", "2"),
            ("ROOMGATE_CALL_BUDGET_PER_HOUR", "20"),
            ("ROOMGATE_CALL_BUDGET_PER_DAY", "100"),
        ])
        .unwrap();
        assert_eq!((c.per_minute, c.per_hour, c.per_day), (30, 300, 2000));
        let want = Caps {
            per_minute: 2,
            per_hour: 20,
            per_day: 100,
        };
        assert_eq!(c.caps(BudgetKind::Call), want);
        let err = config(&[("ROOMGATE_CALL_BUDGET_PER_HOUR", "0")]).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].starts_with("ROOMGATE_CALL_BUDGET_PER_HOUR must be a whole number"));
    }

    #[tokio::test]
    async fn the_call_budget_is_counted_apart_and_alerts_under_its_own_name() {
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + secs(DAY)));
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let mut config = caps(5, 100, 100);
        config.calls = Caps {
            per_minute: 2,
            per_hour: 100,
            per_day: 100,
        };
        let (sender, mut alerts) = AlertSender::capture();
        let sms = Budget::new(BudgetKind::Sms, &config, store.clone(), sender.clone());
        let calls = Budget::new(BudgetKind::Call, &config, store.clone(), sender);
        assert_eq!(calls.spend().await.unwrap(), Ok(()));
        assert_eq!(calls.spend().await.unwrap(), Ok(()));
        assert_eq!(calls.spend().await.unwrap(), Err(secs(60)));
        // Texts are another budget.
        assert_eq!(sms.spend().await.unwrap(), Ok(()));
        assert_eq!(sms.exhausted().await.unwrap(), None);
        assert_eq!(calls.exhausted().await.unwrap(), Some(secs(60)));
        let mut events = Vec::new();
        while let Ok(alert) = alerts.try_recv() {
            events.push((alert.event, alert.used.unwrap(), alert.limit.unwrap()));
        }
        assert_eq!(
            events,
            [(CALL_EVENT_WARNING, 2, 2), (CALL_EVENT_EXHAUSTED, 2, 2)]
        );
    }

    #[test]
    fn caps_and_webhook_from_variables() {
        let c = config(&[
            ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "5"),
            ("ROOMGATE_SMS_BUDGET_PER_HOUR", " 50 "),
            ("ROOMGATE_SMS_BUDGET_PER_DAY", "500"),
            (
                "ROOMGATE_ALERT_WEBHOOK_URL",
                "https://hooks.example.com/T000/B000/tokenpart",
            ),
            ("ROOMGATE_ALERT_WEBHOOK_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!((c.per_minute, c.per_hour, c.per_day), (5, 50, 500));
        let hook = c.alert_webhook.as_ref().unwrap();
        assert_eq!(hook.url.path(), "/T000/B000/tokenpart");
        assert_eq!(hook.secret.expose_secret(), SECRET);
        let debug = format!("{c:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("tokenpart"), "{debug}");
        assert!(debug.contains("hooks.example.com"), "{debug}");
    }

    #[test]
    fn bad_caps_are_reported_one_line_each() {
        for bad in ["0", "-1", "lots", "1.5", "4294967296"] {
            let err = config(&[("ROOMGATE_SMS_BUDGET_PER_DAY", bad)]).unwrap_err();
            assert_eq!(err.len(), 1, "{err:?}");
            assert!(
                err[0].starts_with("ROOMGATE_SMS_BUDGET_PER_DAY must be a whole number from 1"),
                "{err:?}"
            );
        }
        let err = config(&[
            ("ROOMGATE_SMS_BUDGET_PER_MINUTE", "x"),
            ("ROOMGATE_SMS_BUDGET_PER_HOUR", "0"),
            ("ROOMGATE_SMS_BUDGET_PER_DAY", "-5"),
            (
                "ROOMGATE_ALERT_WEBHOOK_URL",
                "ftp://hooks.example.com/secret-path",
            ),
            ("ROOMGATE_ALERT_WEBHOOK_SECRET", SECRET),
        ])
        .unwrap_err();
        assert_eq!(err.len(), 4, "{err:?}");
        assert!(!err.join("\n").contains("secret-path"));
    }

    #[test]
    fn a_webhook_needs_both_a_url_and_a_long_enough_secret() {
        let url = ("ROOMGATE_ALERT_WEBHOOK_URL", "https://hooks.example.com/x");
        let err = config(&[url]).unwrap_err();
        assert_eq!(
            err,
            [
                "ROOMGATE_ALERT_WEBHOOK_SECRET is required with ROOMGATE_ALERT_WEBHOOK_URL: alerts are signed"
            ]
        );
        let err = config(&[("ROOMGATE_ALERT_WEBHOOK_SECRET", SECRET)]).unwrap_err();
        assert_eq!(
            err,
            ["ROOMGATE_ALERT_WEBHOOK_SECRET is set but ROOMGATE_ALERT_WEBHOOK_URL is not"]
        );
        let err = config(&[url, ("ROOMGATE_ALERT_WEBHOOK_SECRET", "short")]).unwrap_err();
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("at least 16 bytes (it has 5)"), "{err:?}");
        assert!(!err[0].contains("short"));
        for bad in ["not a url", "mailto:ops@example.com", "file:///tmp/x"] {
            let err = config(&[
                ("ROOMGATE_ALERT_WEBHOOK_URL", bad),
                ("ROOMGATE_ALERT_WEBHOOK_SECRET", SECRET),
            ])
            .unwrap_err();
            assert_eq!(
                err,
                ["ROOMGATE_ALERT_WEBHOOK_URL must be an http or https URL"],
                "{bad}"
            );
        }
        let ok = config(&[
            ("ROOMGATE_ALERT_WEBHOOK_URL", "http://127.0.0.1:9000/alerts"),
            ("ROOMGATE_ALERT_WEBHOOK_SECRET", SECRET),
        ]);
        assert!(ok.unwrap().alert_webhook.is_some());
    }
}
