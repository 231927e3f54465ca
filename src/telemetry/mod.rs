//! Tracing set-up. Events carry masked phone numbers and never codes, tokens or
//! secrets; the filter comes from `RUST_LOG` (default `info`). Lines anonymous
//! requests can repeat at will are capped per call site ([`throttle`]).
//!
//! Lines are written by a thread of their own ([`Terminal`]), never by the thread
//! that logs them: a log reader that falls behind (a full pipe, a terminal paused
//! with Ctrl-S, a journald under pressure) must not stall requests. What it can't
//! keep up with is dropped, counted, and said once the reader catches up.

pub mod throttle;

pub use throttle::REPEATABLE;

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::metrics::Metrics;

/// Log lines queued for stderr at most. Past it, lines are dropped (and counted)
/// rather than queued without bound. The queue's slots are allocated up front (32
/// bytes each), and only a reader that stops altogether fills it: the writer drains
/// it as fast as stderr takes lines.
const LOG_QUEUE_LINES: usize = 1024;

/// One output stream (stderr for the log, stdout for local-mode codes) written by a
/// thread of its own from a bounded queue. Writing never blocks the caller; a line
/// that finds the queue full is dropped and counted.
pub struct Terminal {
    writer: NonBlocking,
    dropped: ErrorCounter,
    /// Dropped lines already reported.
    reported: AtomicUsize,
}

/// Keeps a [`Terminal`]'s thread: dropping it writes what is still queued, waiting
/// about a second at most for a reader that is stuck.
#[must_use = "the stream is written for as long as the guard lives"]
pub struct TerminalGuard(#[allow(dead_code)] WorkerGuard);

impl Terminal {
    /// `out`, written by the thread `name` from a queue of `lines` lines. The thread
    /// writes a batch at a time: `out` may buffer, it is flushed after each batch.
    pub fn new(
        out: impl Write + Send + 'static,
        name: &str,
        lines: usize,
    ) -> (Terminal, TerminalGuard) {
        let (writer, thread) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(lines)
            .thread_name(name)
            .finish(out);
        let terminal = Terminal {
            dropped: writer.error_counter(),
            writer,
            reported: AtomicUsize::new(0),
        };
        (terminal, TerminalGuard(thread))
    }

    /// Queue `line` (with its newline); `false` if the queue was full and it was dropped.
    pub fn write_line(&self, line: &str) -> bool {
        let before = self.dropped.dropped_lines();
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let _ = self.writer.clone().write_all(&bytes);
        self.dropped.dropped_lines() == before
    }

    /// Lines dropped since the last call.
    pub fn take_dropped(&self) -> usize {
        let now = self.dropped.dropped_lines();
        now.saturating_sub(self.reported.swap(now, Ordering::Relaxed))
    }
}

/// The log's stream, once [`init`] has installed it.
static LOG: OnceLock<Terminal> = OnceLock::new();

/// Install the log. The guard keeps its writer thread: hold it for as long as the
/// process logs (`serve` holds it to the end, so the last lines are written). `None`
/// if a log was already installed.
pub fn init(default_filter: &str) -> Option<TerminalGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Logs go to stderr; stdout is kept for command output and local-mode codes.
    let mut guard = None;
    let log = LOG.get_or_init(|| {
        let (log, thread) = Terminal::new(
            std::io::BufWriter::new(std::io::stderr()),
            "roomgate-log",
            LOG_QUEUE_LINES,
        );
        guard = Some(thread);
        log
    });
    // Colours only for a person at a terminal: in a file or a journal, escape codes
    // would split `key=value` fields for whoever searches them.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(log.writer.clone())
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    // The throttle sits under the filter: it only counts lines the filter lets through.
    let _ = tracing_subscriber::registry()
        .with(throttle::ThrottleLayer::installed())
        .with(filter)
        .with(fmt)
        .try_init();
    guard
}

/// Say what the log left out since the last report (`serve` runs this every
/// [`throttle::WINDOW`] and at shutdown): lines the throttle held back, and lines
/// dropped because stderr's reader fell behind.
pub fn report(metrics: &Metrics) {
    throttle::report(metrics);
    let Some(dropped) = LOG.get().map(Terminal::take_dropped).filter(|n| *n > 0) else {
        return;
    };
    metrics.log_lines_dropped(dropped as u64);
    tracing::warn!(
        dropped,
        "log lines dropped: whatever reads roomgate's stderr fell behind"
    );
}

/// Stable pseudonyms for usernames in logs: the same user gets the same `user` field
/// in every event (so a sign-in can be followed), but the log doesn't name anyone.
/// Keyed from the session key, so pseudonyms survive restarts when that key does.
#[derive(Clone)]
pub struct Pseudonyms {
    key: hmac::Hmac<sha2::Sha256>,
}

impl Pseudonyms {
    pub fn new(secret: &[u8]) -> Self {
        use hmac::Mac;
        let mut derive = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .expect("HMAC takes keys of any length");
        derive.update(b"roomgate log pseudonyms v1");
        let key = derive.finalize().into_bytes();
        Self {
            key: hmac::Hmac::new_from_slice(&key).expect("HMAC takes keys of any length"),
        }
    }

    /// `u-` and 12 hex digits.
    pub fn of(&self, username: &str) -> String {
        use hmac::Mac;
        let mut mac = self.key.clone();
        mac.update(username.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(14);
        out.push_str("u-");
        out.push_str(&hex::encode(&digest[..6]));
        out
    }
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that takes nothing until `open` is sent, then everything.
    struct Stuck {
        open: std::sync::mpsc::Receiver<()>,
        opened: bool,
        got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if !self.opened {
                let _ = self.open.recv();
                self.opened = true;
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_reader_costs_lines_not_waits_and_the_losses_are_counted() {
        let (open, opened) = std::sync::mpsc::channel();
        let got = std::sync::Arc::default();
        let stuck = Stuck {
            open: opened,
            opened: false,
            got: std::sync::Arc::clone(&got),
        };
        let (terminal, thread) = Terminal::new(stuck, "test-terminal", 4);
        let started = std::time::Instant::now();
        let kept: Vec<bool> = (0..20)
            .map(|i| terminal.write_line(&format!("line {i}")))
            .collect();
        // 20 writes against a reader that takes nothing: none of them waited.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let dropped = kept.iter().filter(|k| !**k).count();
        // The queue holds 4, and the thread holds at most one more it is writing.
        assert!((15..=16).contains(&dropped), "{kept:?}");
        assert_eq!(terminal.take_dropped(), dropped);
        assert_eq!(terminal.take_dropped(), 0, "counted once");

        open.send(()).unwrap();
        drop(thread);
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        let expected: String = kept
            .iter()
            .enumerate()
            .filter(|(_, k)| **k)
            .map(|(i, _)| format!("line {i}\n"))
            .collect();
        assert_eq!(text, expected, "every line accepted is written, in order");
    }

    #[test]
    fn pseudonyms_are_stable_per_key_and_do_not_contain_the_name() {
        let a = Pseudonyms::new(b"key one");
        let b = Pseudonyms::new(b"key two");
        assert_eq!(a.of("alice"), a.of("alice"));
        assert_ne!(a.of("alice"), a.of("bob"));
        assert_ne!(a.of("alice"), b.of("alice"));
        assert!(!a.of("alice").contains("alice"));
        assert_eq!(a.of("alice").len(), 14);
    }
}
