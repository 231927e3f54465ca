//! Operator alerts, signed and sent to a webhook off the request path.
//!
//! A request that notices something alert-worthy only pushes onto a bounded queue; one
//! background task per [`AlertSender::webhook`] delivers, retrying what may succeed later.
//! A slow or dead webhook therefore costs held alerts (each with a log line), never
//! slower sign-ins. What the task holds is kept in the store ([`outbox`]), so a restart
//! doesn't lose it.

mod outbox;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Serialize, Serializer};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use self::outbox::{Outbox, Pending};
use crate::clock::rfc3339;
use crate::store::Store;
use crate::twilio::guard::Guard;

/// The header carrying [`sign`]'s value.
pub const SIGNATURE_HEADER: &str = "X-Roomgate-Signature";

/// Alerts come at most a few per budget window, so a queue this deep only fills when
/// the webhook has been failing for a while; past that, older news is already queued.
pub const DEFAULT_QUEUE_CAPACITY: usize = 64;

/// One thing the operator should know about. A budget's alert serialises as
/// `{"event":"sms_budget_warning","window":"hour","used":240,"limit":300,"at":"2026-11-22T08:00:00Z"}`;
/// one without a window (the audit log failing, or writable again) as
/// `{"event":"audit_log_unavailable","at":"2026-11-22T08:00:00Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// `"sms_budget_warning"`, `"sms_budget_exhausted"`, the same for `call_`,
    /// `"audit_log_unavailable"` or `"audit_log_recovered"`.
    pub event: &'static str,
    /// `"minute"`, `"hour"` or `"day"`, for a budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(serialize_with = "serialize_rfc3339")]
    pub at: SystemTime,
}

impl Alert {
    /// An alert about the service itself, with no budget window.
    pub fn event(event: &'static str, at: SystemTime) -> Self {
        Self {
            event,
            window: None,
            used: None,
            limit: None,
            at,
        }
    }

    /// The exact bytes that are POSTed and signed.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an Alert always serialises")
    }
}

fn serialize_rfc3339<S: Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*at))
}

/// The [`SIGNATURE_HEADER`] value for `body`: `sha256=` and the lowercase hex
/// HMAC-SHA256 of the exact body bytes, keyed with `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 2 * tag.len());
    out.push_str("sha256=");
    for b in tag {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    out
}

/// For receivers: whether `header` is [`sign`]'s value for `body`, compared in
/// constant time so the comparison leaks nothing about the expected value.
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    sign(secret, body)
        .as_bytes()
        .ct_eq(header.as_bytes())
        .into()
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The webhook answered.
    Status(StatusCode),
    /// No connection, or it broke before an answer.
    Connect,
    /// No answer within the HTTP client's timeout.
    Timeout,
    /// The request could not be made at all (a bad URL, say); trying again won't help.
    Failed,
    /// Not sent: the webhook's circuit breaker is open after repeated failures. Retrying
    /// within the cool-down would only be refused again.
    Busy,
}

impl Outcome {
    fn of(result: &Result<reqwest::Response, reqwest::Error>) -> Self {
        match result {
            Ok(resp) => Self::Status(resp.status()),
            Err(e) if e.is_timeout() => Self::Timeout,
            Err(e) if e.is_builder() => Self::Failed,
            Err(_) => Self::Connect,
        }
    }
}

/// When to try a delivery again. Plain data plus a pure decision, so it is tested
/// without a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; doubled after each further one.
    pub base_delay: Duration,
    /// No wait is longer than this.
    pub max_delay: Duration,
    /// How often alerts the webhook couldn't take (down, its breaker open) are tried
    /// again, after their own attempts ran out; and how often the store is looked at
    /// for alerts a stopped instance left (taken over once their lease, three times
    /// this, ends).
    pub held_retry: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            held_retry: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// After attempt number `attempt` (1 for the first) ended in `outcome`: how long to
    /// wait before the next, or `None` to stop (delivered, not worth retrying, or out of
    /// attempts).
    ///
    /// Retried: connection errors, timeouts, 5xx and 429, which say "not now" rather
    /// than "not this". Other 4xx mean the request itself is wrong (URL, signature
    /// check), and 3xx are not followed (the shared client never follows redirects), so
    /// repeating would only repeat the answer. No jitter: one process sends a handful
    /// of alerts, not a herd.
    pub fn next_delay(&self, attempt: u32, outcome: &Outcome) -> Option<Duration> {
        let retryable = match outcome {
            Outcome::Connect | Outcome::Timeout => true,
            Outcome::Status(s) => s.is_server_error() || *s == StatusCode::TOO_MANY_REQUESTS,
            Outcome::Failed | Outcome::Busy => false,
        };
        if !retryable || attempt >= self.max_attempts {
            return None;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        Some(
            self.base_delay
                .checked_mul(factor)
                .unwrap_or(Duration::MAX)
                .min(self.max_delay),
        )
    }
}

/// Where [`AlertSender::send`] puts alerts. Cheap to clone; clones share one queue.
#[derive(Clone)]
pub struct AlertSender {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Webhook(mpsc::Sender<Alert>, Arc<Stop>),
    Disabled,
    Capture(mpsc::UnboundedSender<Alert>),
}

/// How the server's shutdown reaches the delivery task, which the senders' clones
/// (held by the app's state for as long as the process runs) would otherwise keep
/// waiting to the end.
struct Stop {
    asked: tokio::sync::Notify,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl fmt::Debug for AlertSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Webhook(..) => "webhook",
            Inner::Disabled => "disabled",
            Inner::Capture(_) => "capture",
        };
        f.debug_tuple("AlertSender").field(&kind).finish()
    }
}

impl AlertSender {
    /// POSTs every alert to `url`, signed with `secret`, from a background task.
    /// `http` should be a clone of the app's one client (`verify::twilio::http_client`):
    /// its timeout bounds each attempt and it never follows redirects. Every attempt
    /// goes through `guard`: once the webhook has failed a few times in a row, alerts
    /// are held (with a warning) until a probe after the cool-down succeeds. Alerts not
    /// delivered yet are kept in `store`, and those another instance (or this one
    /// before a restart) left there are delivered too.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn webhook(
        http: reqwest::Client,
        url: Url,
        secret: SecretString,
        retry: RetryPolicy,
        guard: Guard,
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        Self::webhook_with_capacity(
            http,
            url,
            secret,
            retry,
            guard,
            store,
            DEFAULT_QUEUE_CAPACITY,
        )
    }

    /// [`webhook`](Self::webhook) with a queue of `capacity` alerts (at least 1).
    pub fn webhook_with_capacity(
        http: reqwest::Client,
        url: Url,
        secret: SecretString,
        retry: RetryPolicy,
        guard: Guard,
        store: Option<Arc<dyn Store>>,
        capacity: usize,
    ) -> Self {
        let webhook = Webhook {
            http,
            url,
            secret,
            retry,
            guard,
        };
        Self::spawn(webhook, store, capacity).0
    }

    /// The sender and its delivery task (which tests stop as a `kill -9` would).
    fn spawn(
        webhook: Webhook,
        store: Option<Arc<dyn Store>>,
        capacity: usize,
    ) -> (Self, tokio::task::AbortHandle) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let outbox = Outbox::new(store, webhook.retry.held_retry);
        let stop = Arc::new(Stop {
            asked: tokio::sync::Notify::new(),
            task: std::sync::Mutex::new(None),
        });
        let task = tokio::spawn(deliver_all(rx, webhook, outbox, stop.clone()));
        let abort = task.abort_handle();
        *stop.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        (
            Self {
                inner: Inner::Webhook(tx, stop),
            },
            abort,
        )
    }

    /// At the server's shutdown: the delivery task stops, handing what it holds back
    /// to the store (due at once, for the next instance), waiting at most `within`
    /// (a delivery in progress is let finish first; one that takes longer leaves its
    /// alerts to be taken over when their lease ends). Nothing for other senders.
    pub async fn shut_down(&self, within: Duration) {
        let Inner::Webhook(_, stop) = &self.inner else {
            return;
        };
        // Stored if the task isn't waiting just now: it sees it at its next wait.
        stop.asked.notify_one();
        let task = stop.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task
            && tokio::time::timeout(within, task).await.is_err()
        {
            warn!(
                "the alert sender did not stop in time; its held alerts are taken over when their lease ends"
            );
        }
    }

    /// No webhook configured: alerts only go to the log.
    pub fn disabled() -> Self {
        Self {
            inner: Inner::Disabled,
        }
    }

    /// For tests: every alert sent arrives on the returned receiver.
    pub fn capture() -> (Self, mpsc::UnboundedReceiver<Alert>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                inner: Inner::Capture(tx),
            },
            rx,
        )
    }

    /// Queues `alert` and returns at once; never waits for delivery or for room in
    /// the queue. A full queue drops the alert, with a warning.
    pub fn send(&self, alert: Alert) {
        match &self.inner {
            Inner::Webhook(tx, _) => match tx.try_send(alert) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(a)) => warn!(
                    event = a.event,
                    window = a.window.unwrap_or("-"),
                    "operator alert dropped: the alert queue is full"
                ),
                Err(mpsc::error::TrySendError::Closed(a)) => warn!(
                    event = a.event,
                    window = a.window.unwrap_or("-"),
                    "operator alert dropped: the alert sender has stopped"
                ),
            },
            Inner::Disabled => info!(
                event = alert.event,
                window = alert.window.unwrap_or("-"),
                used = alert.used,
                limit = alert.limit,
                "operator alert (no webhook configured)"
            ),
            Inner::Capture(tx) => {
                let _ = tx.send(alert);
            }
        }
    }
}

/// Alerts kept for a webhook that is down, at most: the oldest goes first beyond it.
const HELD_MAX: usize = 32;

/// Where alerts go, and how.
struct Webhook {
    http: reqwest::Client,
    url: Url,
    secret: SecretString,
    retry: RetryPolicy,
    guard: Guard,
}

/// Delivers one alert at a time, oldest first, until every sender is gone. An alert
/// the webhook couldn't take for now (down, slow, its breaker open) is held, with
/// those after it, and tried again [`RetryPolicy::held_retry`] later, or as soon as
/// another arrives; each keeps its original time. Each alert goes out once per window
/// or outage, so one lost while the webhook was down was never heard of (a budget
/// exhausted, say); and in order, so a receiver that keeps the latest state (the
/// audit log down, then up) ends in the right one. Held alerts are kept in the store
/// ([`outbox`]), and those a stopped instance left there are taken over.
async fn deliver_all(
    mut rx: mpsc::Receiver<Alert>,
    webhook: Webhook,
    mut outbox: Outbox,
    stop: Arc<Stop>,
) {
    enum Woken {
        New(Alert),
        Closed,
        Retry,
    }
    let mut held: VecDeque<Pending> = VecDeque::new();
    // What an earlier run left (a crash, a restart while the webhook was down).
    adopt(&mut held, &outbox).await;
    loop {
        // Wait for an alert, or for the held ones' next try (and, with a store, the
        // next look for alerts left there), or for the shutdown.
        let received = |next: Option<Alert>| next.map_or(Woken::Closed, Woken::New);
        let woken = if held.is_empty() && !outbox.keeps() {
            tokio::select! {
                next = rx.recv() => received(next),
                () = stop.asked.notified() => Woken::Closed,
            }
        } else {
            tokio::select! {
                next = rx.recv() => received(next),
                () = tokio::time::sleep(webhook.retry.held_retry) => Woken::Retry,
                () = stop.asked.notified() => Woken::Closed,
            }
        };
        match woken {
            Woken::New(alert) => {
                let alert = Pending::new(&alert);
                outbox.keep(&alert).await;
                held.push_back(alert);
                trim(&mut held, &outbox).await;
            }
            Woken::Retry => adopt(&mut held, &outbox).await,
            // The shutdown, or every sender gone: what is held (and what came while
            // the last round was delivering) is handed back to the store for the next
            // start, or lost without one.
            Woken::Closed => {
                rx.close();
                while let Ok(alert) = rx.try_recv() {
                    held.push_back(Pending::new(&alert));
                }
                trim(&mut held, &outbox).await;
                if !outbox.hand_back(&held).await {
                    for alert in held {
                        warn!(
                            event = alert.event,
                            window = alert.window(),
                            "operator alert dropped: not delivered before shutdown"
                        );
                    }
                }
                return;
            }
        }
        while !held.is_empty() {
            // Renewed as it goes: a long round (a slow webhook) must not outlast the
            // leases, or another instance would take them over and send them too.
            outbox.renew(&held).await;
            let Some(alert) = held.front() else { break };
            match deliver(&webhook, alert).await {
                Delivery::Done => {
                    outbox.forget(alert).await;
                    held.pop_front();
                }
                Delivery::NotNow => break,
            }
        }
    }
}

/// Past [`HELD_MAX`] held, the oldest go, each with a warning, from the store too.
async fn trim(held: &mut VecDeque<Pending>, outbox: &Outbox) {
    while held.len() > HELD_MAX {
        let Some(oldest) = held.pop_front() else {
            break;
        };
        warn!(
            event = oldest.event,
            window = oldest.window(),
            "operator alert dropped: too many held for the webhook"
        );
        outbox.forget(&oldest).await;
    }
}

/// Alerts a stopped instance left, among those held, oldest first, within
/// [`HELD_MAX`].
async fn adopt(held: &mut VecDeque<Pending>, outbox: &Outbox) {
    outbox::merge(held, outbox.adopt().await);
    trim(held, outbox).await;
}

/// How an attempt to deliver an alert ended.
enum Delivery {
    /// Delivered, or refused for good (a 4xx other than 429: trying again repeats it).
    Done,
    /// The webhook can't take it now (no answer, a 5xx or 429, its breaker open).
    NotNow,
}

// Logged: event, window, attempt, status. Never the URL (webhook URLs often embed a
// token, so reqwest errors are logged `without_url`), the secret or the signature.
async fn deliver(webhook: &Webhook, alert: &Pending) -> Delivery {
    let Webhook {
        http,
        url,
        secret,
        retry,
        guard,
    } = webhook;
    let body = alert.body.as_bytes().to_vec();
    let signature = sign(secret.expose_secret().as_bytes(), &body);
    let mut attempt = 1;
    loop {
        let (outcome, error) = match guard.admit() {
            Ok(permit) => {
                let result = http
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(SIGNATURE_HEADER, &signature)
                    .body(body.clone())
                    .send()
                    .await;
                let outcome = Outcome::of(&result);
                // Only the webhook being down counts against it: no answer, or a 5xx.
                let down = match outcome {
                    Outcome::Connect | Outcome::Timeout => true,
                    Outcome::Status(s) => s.is_server_error(),
                    Outcome::Failed | Outcome::Busy => false,
                };
                permit.finish(!down);
                // With its causes ("error sending request" alone says nothing of a
                // timeout or a refused connection); none of them holds the URL.
                let error = result
                    .err()
                    .map(|e| format!("{:#}", anyhow::Error::new(e.without_url())));
                (outcome, error)
            }
            Err(rejected) => (Outcome::Busy, Some(rejected.to_string())),
        };
        let status = match outcome {
            Outcome::Status(s) => Some(s.as_u16()),
            _ => None,
        };
        if let Outcome::Status(s) = outcome
            && s.is_success()
        {
            debug!(
                event = alert.event,
                window = alert.window(),
                attempt,
                status,
                "operator alert delivered"
            );
            return Delivery::Done;
        }
        match retry.next_delay(attempt, &outcome) {
            Some(delay) => {
                debug!(
                    event = alert.event,
                    window = alert.window(),
                    attempt,
                    status,
                    error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "operator alert not delivered; retrying"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            None => {
                // "Not now" is held and tried again; anything else would only be
                // refused again.
                let not_now = match outcome {
                    Outcome::Connect | Outcome::Timeout | Outcome::Busy => true,
                    Outcome::Status(s) => s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS,
                    Outcome::Failed => false,
                };
                if not_now {
                    warn!(
                        event = alert.event,
                        window = alert.window(),
                        attempt,
                        status,
                        error,
                        "operator alert not delivered; held, to be tried again in {} s",
                        retry.held_retry.as_secs()
                    );
                } else {
                    // Asking again would be refused again: the settings need fixing,
                    // which is the operator's to do, so it is said as an error, with
                    // what to look at.
                    let fix = match outcome {
                        Outcome::Status(s) if s.is_redirection() => {
                            "it answered with a redirect, which is not followed: set ROOMGATE_ALERT_WEBHOOK_URL to where it leads"
                        }
                        Outcome::Status(_) => {
                            "it refused the request: check ROOMGATE_ALERT_WEBHOOK_URL and ROOMGATE_ALERT_WEBHOOK_SECRET"
                        }
                        _ => "check ROOMGATE_ALERT_WEBHOOK_URL",
                    };
                    tracing::error!(
                        event = alert.event,
                        window = alert.window(),
                        attempt,
                        status,
                        error,
                        "operator alert not delivered; giving up: {fix}"
                    );
                }
                return if not_now {
                    Delivery::NotNow
                } else {
                    Delivery::Done
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, UNIX_EPOCH};

    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::store::memory::MemoryStore;

    const SECRET: &str = "alert-signing-secret-for-tests";

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    fn alert() -> Alert {
        Alert {
            event: "sms_budget_warning",
            window: Some("hour"),
            used: Some(240),
            limit: Some(300),
            // 2026-11-22T08:00:00Z
            at: at(1_795_334_400),
        }
    }

    const ALERT_JSON: &str = r#"{"event":"sms_budget_warning","window":"hour","used":240,"limit":300,"at":"2026-11-22T08:00:00Z"}"#;

    fn fast_retries() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            held_retry: Duration::from_millis(300),
        }
    }

    fn sender(server: &MockServer, capacity: usize) -> AlertSender {
        sender_with(server, capacity, crate::twilio::guard::GuardConfig::ALERTS)
    }

    fn sender_with(
        server: &MockServer,
        capacity: usize,
        limits: crate::twilio::guard::GuardConfig,
    ) -> AlertSender {
        sender_retrying(server, capacity, limits, fast_retries())
    }

    fn sender_retrying(
        server: &MockServer,
        capacity: usize,
        limits: crate::twilio::guard::GuardConfig,
        retry: RetryPolicy,
    ) -> AlertSender {
        AlertSender::spawn(webhook(server, limits, retry), None, capacity).0
    }

    fn webhook(
        server: &MockServer,
        limits: crate::twilio::guard::GuardConfig,
        retry: RetryPolicy,
    ) -> Webhook {
        Webhook {
            http: crate::twilio::verify::http_client(Duration::from_secs(5)),
            url: Url::parse(&format!("{}/hooks/roomgate", server.uri())).unwrap(),
            secret: SecretString::from(SECRET),
            retry,
            guard: Guard::new(crate::metrics::Outbound::AlertWebhook, limits, None),
        }
    }

    /// A sender keeping its alerts in `store`, and its delivery task.
    fn kept_in(
        store: &Arc<MemoryStore>,
        server: &MockServer,
        limits: crate::twilio::guard::GuardConfig,
    ) -> (AlertSender, tokio::task::AbortHandle) {
        kept_retrying(store, server, limits, fast_retries())
    }

    fn kept_retrying(
        store: &Arc<MemoryStore>,
        server: &MockServer,
        limits: crate::twilio::guard::GuardConfig,
        retry: RetryPolicy,
    ) -> (AlertSender, tokio::task::AbortHandle) {
        let store: Arc<dyn Store> = store.clone();
        AlertSender::spawn(webhook(server, limits, retry), Some(store), 64)
    }

    /// The kept alerts once `done` says they are as awaited (or after 10 s).
    async fn kept_once(store: &MemoryStore, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let kept: Vec<String> = Outbox::queued(store)
                .await
                .into_iter()
                .map(|(body, _)| body)
                .collect();
            if done(&kept) || Instant::now() > deadline {
                return kept;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// An alert the webhook hasn't taken yet is kept in the store: an instance
    /// stopped as `kill -9` stops it (its task dropped mid-wait, nothing run after)
    /// loses nothing. The next instance on the store delivers it, as it was, once the
    /// stopped one's lease on it has run out, and not before.
    #[tokio::test]
    async fn an_alert_an_instance_was_killed_holding_is_delivered_by_the_next() {
        let clock = Arc::new(crate::clock::ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let (server, limits) = failing_webhook(Duration::from_secs(60)).await;
        // The first never gets to its next try (nor to renewing its lease).
        let slow = RetryPolicy {
            held_retry: Duration::from_secs(600),
            ..fast_retries()
        };
        let (first, task) = kept_retrying(&store, &server, limits, slow);
        first.send(alert());
        wait_for_requests(&server, 3).await;
        assert_eq!(kept_once(&store, |k| !k.is_empty()).await, [ALERT_JSON]);
        task.abort();
        drop(first);

        webhook_back(&server).await;
        let (_second, _task) = kept_in(&store, &server, limits);
        // Several of the second's looks at the store: still the first's.
        tokio::time::sleep(fast_retries().held_retry * 3).await;
        assert_eq!(server.received_requests().await.unwrap().len(), 0);
        // The first's lease: three times its `held_retry`.
        clock.advance(slow.held_retry * 3);
        let got = wait_for_requests(&server, 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, ALERT_JSON.as_bytes(), "as it was");
        let sig = got[0].headers.get(SIGNATURE_HEADER).unwrap();
        assert!(verify(
            SECRET.as_bytes(),
            &got[0].body,
            sig.to_str().unwrap()
        ));
        assert_eq!(
            kept_once(&store, <[String]>::is_empty).await,
            Vec::<String>::new()
        );
    }

    /// At the server's shutdown the sender hands what it holds back to the store,
    /// due at once, though the app's state still holds clones of it: the next
    /// instance delivers it without waiting for a lease to run out.
    #[tokio::test]
    async fn alerts_held_at_shutdown_are_handed_back_for_the_next_start() {
        let clock = Arc::new(crate::clock::ManualClock::default());
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let (server, limits) = failing_webhook(Duration::from_secs(60)).await;
        let (first, _task) = kept_in(&store, &server, limits);
        let held_by_the_state = first.clone();
        first.send(alert());
        wait_for_requests(&server, 3).await;
        let stopping = Instant::now();
        first.shut_down(Duration::from_secs(5)).await;
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "it stopped, not timed out"
        );
        let due: Vec<_> = Outbox::queued(&*store)
            .await
            .into_iter()
            .map(|(_, at)| at)
            .collect();
        assert_eq!(due.len(), 1);
        assert!(
            due[0] <= crate::clock::Clock::now(&*clock),
            "due at once: {due:?}"
        );
        drop(held_by_the_state);

        webhook_back(&server).await;
        let (_second, _task) = kept_in(&store, &server, limits);
        let got = wait_for_requests(&server, 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, ALERT_JSON.as_bytes());
        assert!(kept_once(&store, <[String]>::is_empty).await.is_empty());
    }

    /// Delivered, an alert is no longer kept; and a webhook down for good keeps at
    /// most [`HELD_MAX`] in the store, as in memory, however many come.
    #[tokio::test]
    async fn the_store_keeps_only_what_is_not_delivered_and_no_more_than_held_max() {
        let store = Arc::new(MemoryStore::new());
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let (alerts, _task) = kept_in(&store, &server, crate::twilio::guard::GuardConfig::ALERTS);
        alerts.send(alert());
        wait_for_requests(&server, 1).await;
        assert!(kept_once(&store, <[String]>::is_empty).await.is_empty());

        let (down, limits) = failing_webhook(Duration::from_secs(60)).await;
        let (alerts, _task) = kept_in(&store, &down, limits);
        for used in 0..(HELD_MAX as u64 + 10) {
            alerts.send(Alert {
                used: Some(used),
                ..alert()
            });
        }
        let kept = kept_once(&store, |k| {
            k.iter()
                .any(|a| a.contains(&format!("\"used\":{},", HELD_MAX + 9)))
        })
        .await;
        assert_eq!(kept.len(), HELD_MAX, "{kept:?}");
        assert!(
            !kept.iter().any(|a| a.contains("\"used\":9,")),
            "the oldest went"
        );
    }

    /// A webhook that answers 503, and a breaker that opens after three of those and
    /// lets a probe through after `cool_down`.
    async fn failing_webhook(
        cool_down: Duration,
    ) -> (MockServer, crate::twilio::guard::GuardConfig) {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let limits = crate::twilio::guard::GuardConfig {
            max_in_flight: 1,
            failure_threshold: 3,
            cool_down,
        };
        (server, limits)
    }

    /// The webhook answers 200 from now on, its requests so far forgotten.
    async fn webhook_back(server: &MockServer) {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }

    async fn wait_for_requests(server: &MockServer, n: usize) -> Vec<wiremock::Request> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = server.received_requests().await.unwrap_or_default();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn alert_serialises_to_the_documented_json() {
        assert_eq!(String::from_utf8(alert().to_json()).unwrap(), ALERT_JSON);
    }

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sig = sign(SECRET.as_bytes(), ALERT_JSON.as_bytes());
        assert!(verify(SECRET.as_bytes(), ALERT_JSON.as_bytes(), &sig));
        assert!(!verify(b"other", ALERT_JSON.as_bytes(), &sig));
        assert!(!verify(SECRET.as_bytes(), b"{}", &sig));
        assert!(!verify(SECRET.as_bytes(), ALERT_JSON.as_bytes(), ""));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_the_attempt_limit() {
        let p = RetryPolicy::default();
        let boom = Outcome::Status(StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(p.next_delay(1, &boom), Some(Duration::from_millis(500)));
        assert_eq!(p.next_delay(2, &boom), Some(Duration::from_millis(1000)));
        assert_eq!(p.next_delay(3, &boom), Some(Duration::from_millis(2000)));
        assert_eq!(p.next_delay(4, &boom), None, "four attempts in all");

        let long = RetryPolicy {
            max_attempts: 100,
            max_delay: Duration::from_secs(3),
            ..p
        };
        assert_eq!(long.next_delay(4, &boom), Some(Duration::from_secs(3)));
        assert_eq!(long.next_delay(99, &boom), Some(Duration::from_secs(3)));
        assert_eq!(long.next_delay(100, &boom), None);
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let p = RetryPolicy::default();
        let retried = [
            Outcome::Connect,
            Outcome::Timeout,
            Outcome::Status(StatusCode::TOO_MANY_REQUESTS),
            Outcome::Status(StatusCode::INTERNAL_SERVER_ERROR),
            Outcome::Status(StatusCode::BAD_GATEWAY),
            Outcome::Status(StatusCode::SERVICE_UNAVAILABLE),
            Outcome::Status(StatusCode::GATEWAY_TIMEOUT),
        ];
        for o in retried {
            assert!(p.next_delay(1, &o).is_some(), "{o:?}");
        }
        let final_ = [
            Outcome::Failed,
            Outcome::Status(StatusCode::OK),
            Outcome::Status(StatusCode::NO_CONTENT),
            Outcome::Status(StatusCode::FOUND),
            Outcome::Status(StatusCode::BAD_REQUEST),
            Outcome::Status(StatusCode::UNAUTHORIZED),
            Outcome::Status(StatusCode::FORBIDDEN),
            Outcome::Status(StatusCode::NOT_FOUND),
            Outcome::Status(StatusCode::UNPROCESSABLE_ENTITY),
        ];
        for o in final_ {
            assert_eq!(p.next_delay(1, &o), None, "{o:?}");
        }
    }

    #[tokio::test]
    async fn posts_the_json_signed_with_the_secret() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/hooks/roomgate"))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;

        let alerts = sender(&server, 8);
        assert_eq!(format!("{alerts:?}"), r#"AlertSender("webhook")"#);
        alerts.send(alert());

        let got = wait_for_requests(&server, 1).await;
        assert_eq!(got.len(), 1);
        assert_eq!(String::from_utf8_lossy(&got[0].body), ALERT_JSON);
        let sig = got[0]
            .headers
            .get(SIGNATURE_HEADER)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(sig, sign(SECRET.as_bytes(), &got[0].body));
        assert!(verify(SECRET.as_bytes(), &got[0].body, sig));
    }

    #[tokio::test]
    async fn a_server_error_is_retried_and_delivered_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;

        sender(&server, 8).send(alert());

        let got = wait_for_requests(&server, 2).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].body, got[1].body, "the same body is sent again");
        assert_eq!(
            got[0].headers.get(SIGNATURE_HEADER),
            got[1].headers.get(SIGNATURE_HEADER)
        );
        // Longer than any retry delay: nothing more arrives after the 200.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failing_webhook_opens_the_breaker_and_later_alerts_are_not_sent() {
        let (server, limits) = failing_webhook(Duration::from_secs(60)).await;
        let alerts = sender_with(&server, 8, limits);

        alerts.send(alert());
        // Attempts 1..3 fail and open the breaker; the 4th is refused without a request.
        wait_for_requests(&server, 3).await;
        alerts.send(alert());
        alerts.send(alert());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.received_requests().await.unwrap().len(), 3);
    }

    /// An alert the webhook couldn't take (down, then its breaker open) is held and
    /// delivered once it can, as it was: it goes out once per window, so it was never
    /// heard of (a budget exhausted while the webhook was down).
    #[tokio::test]
    async fn an_alert_the_webhook_could_not_take_is_delivered_once_it_can() {
        let (server, limits) = failing_webhook(Duration::from_millis(200)).await;
        let alerts = sender_with(&server, 8, limits);
        alerts.send(alert());
        wait_for_requests(&server, 3).await;
        webhook_back(&server).await;
        wait_for_requests(&server, 1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let got = server.received_requests().await.unwrap();
        assert_eq!(got.len(), 1, "delivered once");
        assert_eq!(got[0].body, ALERT_JSON.as_bytes(), "as it was");
    }

    /// Held alerts go out first, oldest first, as soon as another alert finds the
    /// webhook back (not only after a quiet `held_retry`): a receiver that keeps the
    /// latest state (the audit log down, then up) ends in the right one.
    #[tokio::test]
    async fn held_alerts_go_out_in_order_when_the_next_one_arrives() {
        let (server, limits) = failing_webhook(Duration::from_millis(100)).await;
        let retry = RetryPolicy {
            held_retry: Duration::from_secs(600),
            ..fast_retries()
        };
        let alerts = sender_retrying(&server, 8, limits, retry);
        let event = |event| Alert {
            event,
            window: None,
            used: None,
            limit: None,
            at: at(1_795_334_400),
        };
        alerts.send(event("audit_log_unavailable"));
        wait_for_requests(&server, 3).await;
        webhook_back(&server).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        alerts.send(event("audit_log_recovered"));
        let got = wait_for_requests(&server, 2).await;
        let events: Vec<String> = got
            .iter()
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["event"].to_string()
            })
            .collect();
        assert_eq!(
            events,
            [r#""audit_log_unavailable""#, r#""audit_log_recovered""#]
        );
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400))
            .expect(1)
            .mount(&server)
            .await;

        sender(&server, 8).send(alert());

        wait_for_requests(&server, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    /// An answer asking again can't change (a redirect, a refusal) is the settings'
    /// fault: an error that says what to fix, not a warning like a passing outage.
    #[tokio::test]
    async fn an_answer_that_needs_the_settings_fixed_says_so_as_an_error() {
        for (status, fix) in [
            (307, "set ROOMGATE_ALERT_WEBHOOK_URL to where it leads"),
            (
                401,
                "check ROOMGATE_ALERT_WEBHOOK_URL and ROOMGATE_ALERT_WEBHOOK_SECRET",
            ),
        ] {
            let (logs, _guard) = crate::test_support::capture_logs();
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(
                    ResponseTemplate::new(status).insert_header("location", "https://elsewhere/"),
                )
                .expect(1)
                .mount(&server)
                .await;
            sender(&server, 8).send(alert());
            wait_for_requests(&server, 1).await;
            let said = poll_logs(&logs, "giving up").await;
            assert!(
                said.contains("ERROR") && said.contains(fix),
                "{status}: {said}"
            );
        }
    }

    /// The captured logs once they hold `needle` (or after a second).
    async fn poll_logs(logs: &crate::test_support::CapturedLogs, needle: &str) -> String {
        for _ in 0..100 {
            let text = logs.text();
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        logs.text()
    }

    // The single-threaded test runtime doesn't run the delivery task until this test
    // awaits, so exactly the queue's capacity is accepted and the rest dropped.
    #[tokio::test]
    async fn sending_never_waits_for_delivery_or_for_room() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
            .expect(8)
            .mount(&server)
            .await;
        let alerts = sender(&server, 8);

        let started = Instant::now();
        for used in 0..1000 {
            alerts.send(Alert {
                used: Some(used),
                ..alert()
            });
        }
        // Waiting for delivery would take 1000 × 20 ms.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );

        let got = wait_for_requests(&server, 8).await;
        let used: Vec<u64> = got
            .iter()
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["used"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            used,
            (0..8).collect::<Vec<_>>(),
            "the first eight, in order"
        );
        // Time for a ninth to arrive, had any been queued; `expect(8)` is checked on drop.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    #[tokio::test]
    async fn disabled_and_capture_senders() {
        AlertSender::disabled().send(alert());
        let (alerts, mut rx) = AlertSender::capture();
        alerts.clone().send(alert());
        assert_eq!(rx.try_recv().unwrap(), alert());
        assert!(rx.try_recv().is_err());
    }
}
