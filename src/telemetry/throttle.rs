//! A cap on the log lines anonymous clients can make roomgate write as often as they
//! like: a sign-in refused by a limit, a cross-site POST, a webhook with a bad
//! signature, a revoked cookie replayed, a request refused while the store is down.
//! Each such call site is marked with the event name [`REPEATABLE`]. Per site, at most
//! [`PER_WINDOW`] lines are written per [`WINDOW`]; the rest are counted, and
//! [`report`] writes one line per site with the count (every [`WINDOW`] and at
//! shutdown, from `serve`) and adds it to `roomgate_log_lines_suppressed_total`. The audit log folds
//! the same floods into counted records (`audit::fold`); this does it for the log.
//!
//! Three libraries log per request too, and are capped the same way, by target
//! ([`FOREIGN`]): actix-http for each request it can't parse, actix-session for each
//! cookie that fails its checks, webauthn-rs for each passkey answer it can't parse.
//!
//! Only those sites are capped. The lines that follow a sign-in the limits let
//! through are bounded by those limits, and an operator reading a busy hour wants
//! every one of them.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use crate::metrics::Metrics;

/// The event name (`tracing::info!(name: REPEATABLE, …)`) of a line anonymous
/// requests can repeat at will. The name is not printed.
pub const REPEATABLE: &str = "repeatable";

/// Targets of other crates' lines that anonymous requests can repeat at will: a
/// request actix-http can't parse (`stream error: request parse error: …`, at error
/// level), a session cookie that fails actix-session's checks, a passkey answer
/// webauthn-rs can't parse (`try_from authenticator_data_parser`, at error level).
pub const FOREIGN: &[&str] = &["actix_http::h1", "actix_session", "webauthn_rs"];

/// How long a site's window lasts, and how often [`report`] runs.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Lines a marked site writes per window.
pub const PER_WINDOW: u32 = 10;

/// The throttle of the process's log, once `telemetry::init` has installed it.
static INSTALLED: OnceLock<Arc<Throttle>> = OnceLock::new();

/// One marked call site and its window.
struct Site {
    /// The address of the site's metadata, which is a static: one per call site.
    key: usize,
    level: Level,
    /// The site's first line (the messages of other crates' sites may vary).
    message: String,
    target: &'static str,
    opened: Instant,
    written: u32,
    /// Held back since the last report.
    held_back: u64,
}

/// The windows of the marked sites seen so far: as many as there are marked call
/// sites in the code, never more.
#[derive(Default)]
pub struct Throttle {
    // A handful of entries, found by a short scan. The lock is held for that scan and
    // a few additions, never across I/O.
    sites: Mutex<Vec<Site>>,
}

/// Lines one site held back since the last report.
#[derive(Debug, PartialEq, Eq)]
pub struct HeldBack {
    pub level: Level,
    pub message: String,
    pub target: &'static str,
    pub count: u64,
}

impl Throttle {
    /// Whether a line from the site `key` may be written at `now`. `message` is only
    /// called the first time the site is seen.
    fn admit(
        &self,
        key: usize,
        (level, target): (Level, &'static str),
        message: impl FnOnce() -> String,
        now: Instant,
    ) -> bool {
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        let site = match sites.iter().position(|s| s.key == key) {
            Some(i) => &mut sites[i],
            None => {
                sites.push(Site {
                    key,
                    level,
                    message: message(),
                    target,
                    opened: now,
                    written: 0,
                    held_back: 0,
                });
                sites.last_mut().expect("just pushed")
            }
        };
        if now.saturating_duration_since(site.opened) >= WINDOW {
            site.opened = now;
            site.written = 0;
        }
        if site.written < PER_WINDOW {
            site.written += 1;
            true
        } else {
            site.held_back += 1;
            false
        }
    }

    /// What each site held back since the last call; the counts start again from 0.
    pub fn take_held_back(&self) -> Vec<HeldBack> {
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        sites
            .iter_mut()
            .filter(|s| s.held_back > 0)
            .map(|s| HeldBack {
                level: s.level,
                message: s.message.clone(),
                target: s.target,
                count: std::mem::take(&mut s.held_back),
            })
            .collect()
    }
}

/// The layer that applies a [`Throttle`]: it lets every unmarked line through.
pub struct ThrottleLayer(Arc<Throttle>);

impl ThrottleLayer {
    pub fn new(throttle: Arc<Throttle>) -> Self {
        Self(throttle)
    }

    /// The layer for the process's log; [`report`] reads its counts.
    pub(super) fn installed() -> Self {
        Self(INSTALLED.get_or_init(Arc::default).clone())
    }
}

impl<S: Subscriber> Layer<S> for ThrottleLayer {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        let capped =
            meta.name() == REPEATABLE || FOREIGN.iter().any(|t| meta.target().starts_with(t));
        if !capped {
            return true;
        }
        self.0.admit(
            std::ptr::from_ref(meta) as usize,
            (*meta.level(), meta.target()),
            || message_of(event),
            Instant::now(),
        )
    }
}

/// The text of an event's message.
fn message_of(event: &Event<'_>) -> String {
    struct Message(String);
    impl Visit for Message {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                value.clone_into(&mut self.0);
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    let mut message = Message(String::new());
    event.record(&mut message);
    message.0
}

/// One line per marked site that held lines back since the last call, at that
/// site's level, naming the line and the count; the counts go to `metrics` too.
/// Nothing when the process's log has no throttle (tests, the CLI).
pub fn report(metrics: &Metrics) {
    if let Some(throttle) = INSTALLED.get() {
        report_from(throttle, metrics);
    }
}

fn report_from(throttle: &Throttle, metrics: &Metrics) {
    for held in throttle.take_held_back() {
        metrics.log_lines_suppressed(held.count);
        let (line, count, secs) = (&held.message, held.count, WINDOW.as_secs());
        let from = held.target;
        macro_rules! say {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    line = %line,
                    from,
                    suppressed = count,
                    "log lines held back: the same line came more than {PER_WINDOW} times in {secs} s"
                )
            };
        }
        match held.level {
            Level::ERROR => say!(Level::ERROR),
            Level::WARN => say!(Level::WARN),
            Level::INFO => say!(Level::INFO),
            Level::DEBUG => say!(Level::DEBUG),
            _ => say!(Level::TRACE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::CapturedLogs;
    use tracing_subscriber::layer::SubscriberExt;

    fn capturing(throttle: &Arc<Throttle>) -> (CapturedLogs, tracing::subscriber::DefaultGuard) {
        let captured = CapturedLogs::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(ThrottleLayer::new(throttle.clone()))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || writer.clone())
                    .without_time()
                    .with_ansi(false),
            );
        (captured, tracing::subscriber::set_default(subscriber))
    }

    #[test]
    fn only_marked_lines_are_capped_and_what_is_held_back_is_counted() {
        let throttle = Arc::new(Throttle::default());
        let (logs, _guard) = capturing(&throttle);
        for i in 0..25 {
            tracing::info!(name: REPEATABLE, attempt = i, "flooded");
            tracing::info!(attempt = i, "ordinary");
        }
        tracing::warn!(name: REPEATABLE, "another site");
        let text = logs.text();
        assert_eq!(
            text.matches("flooded").count(),
            PER_WINDOW as usize,
            "{text}"
        );
        assert_eq!(text.matches("ordinary").count(), 25, "{text}");
        assert_eq!(text.matches("another site").count(), 1, "{text}");
        assert_eq!(
            throttle.take_held_back(),
            vec![HeldBack {
                level: Level::INFO,
                message: "flooded".into(),
                target: module_path!(),
                count: 25 - u64::from(PER_WINDOW),
            }]
        );
        assert_eq!(throttle.take_held_back(), vec![], "counts start again");
    }

    #[test]
    fn the_lines_libraries_write_per_bad_request_are_capped_by_target() {
        let throttle = Arc::new(Throttle::default());
        let (logs, _guard) = capturing(&throttle);
        for _ in 0..25 {
            tracing::warn!(target: "actix_session::middleware", "cookie failed its checks");
            tracing::error!(target: "actix_http::h1::dispatcher", "stream error: bad header");
            tracing::error!(target: "webauthn_rs_core::internals", "try_from authenticator_data_parser");
            tracing::warn!(target: "actix_server::accept", "not capped");
        }
        let text = logs.text();
        assert_eq!(
            text.matches("cookie failed").count(),
            PER_WINDOW as usize,
            "{text}"
        );
        assert_eq!(
            text.matches("stream error").count(),
            PER_WINDOW as usize,
            "{text}"
        );
        assert_eq!(
            text.matches("authenticator_data_parser").count(),
            PER_WINDOW as usize,
            "{text}"
        );
        assert_eq!(text.matches("not capped").count(), 25, "{text}");
        let held = throttle.take_held_back();
        assert_eq!(held.len(), 3);
        assert_eq!(held[1].target, "actix_http::h1::dispatcher");
        assert_eq!(held[1].level, Level::ERROR);
    }

    #[test]
    fn each_window_writes_its_own_lines() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let site = (Level::INFO, "here");
        let admit = |at: Instant| throttle.admit(1, site, || "x".into(), at);
        let written = (0..PER_WINDOW + 5).filter(|_| admit(start)).count();
        assert_eq!(written, PER_WINDOW as usize);
        assert!(!admit(start + WINDOW - Duration::from_millis(1)));
        assert!(admit(start + WINDOW), "a new window");
        // Another site has a window of its own.
        assert!(throttle.admit(2, site, || "y".into(), start + WINDOW));
        assert_eq!(throttle.take_held_back()[0].count, 6);
    }

    #[test]
    fn the_report_names_the_line_and_the_count_at_its_level() {
        let throttle = Arc::new(Throttle::default());
        let metrics = Metrics::new();
        let (logs, _guard) = capturing(&throttle);
        for _ in 0..PER_WINDOW + 7 {
            tracing::warn!(name: REPEATABLE, "webhook rejected");
        }
        logs.clear();
        report_from(&throttle, &metrics);
        let text = logs.text();
        assert!(
            text.contains("WARN")
                && text.contains("log lines held back")
                && text.contains("line=webhook rejected from=")
                && text.contains(" suppressed=7"),
            "{text}"
        );
        assert!(
            metrics
                .encode()
                .contains("roomgate_log_lines_suppressed_total 7"),
            "{}",
            metrics.encode()
        );
        logs.clear();
        report_from(&throttle, &metrics);
        assert_eq!(logs.text(), "", "nothing more held back, nothing said");
    }
}
