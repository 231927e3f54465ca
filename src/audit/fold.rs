//! Folding repeated refusals into one summary line per key and window, so a flood of
//! refused requests costs a bounded number of lines, bytes and table entries.
//!
//! The log's handles and its writer thread share one [`Folder`] behind a lock (the
//! handles fold, the writer closes the windows that end); nothing here does I/O or
//! reads a clock.
//! Every call is O(1) (amortised for [`Folder::expire`], which only pops windows that
//! have ended, oldest first).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use super::AuditEvent;
use super::record::{AuditRecord, Folded};

/// Only refusals of anonymous or repeated requests fold: a rate limit that said no
/// (`limited`) and a webhook whose signature did not check out (`webhook_rejected`).
/// Everything else (sign-ins requested, codes sent, checks, lockouts, tokens,
/// removals, ACL changes, room events) is written one line per record, always.
pub fn is_foldable(event: AuditEvent) -> bool {
    matches!(event, AuditEvent::Limited | AuditEvent::WebhookRejected)
}

/// The `detail` of a per-event overflow summary.
pub const OVERFLOW_DETAIL: &str = "overflow";

/// Records with the same key say the same thing: the same event, the same reason
/// (the `detail`, e.g. the limit kind) about the same subject (address, user, room,
/// Twilio event). The phone number is not part of it: it follows from the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FoldKey {
    event: AuditEvent,
    detail: Option<String>,
    ip: Option<IpAddr>,
    username: Option<String>,
    room: Option<String>,
    status_callback_event: Option<String>,
}

impl FoldKey {
    fn of(rec: &AuditRecord) -> Self {
        Self {
            event: rec.event,
            detail: rec.detail.clone(),
            ip: rec.ip,
            username: rec.username.clone(),
            room: rec.room.clone(),
            status_callback_event: rec.status_callback_event.clone(),
        }
    }
}

/// One key's window: when it opened, and the repeats folded since its first record.
#[derive(Debug)]
struct Window {
    opened: SystemTime,
    /// The first record of the window, for the summary's fields (and sealed phone).
    sample: AuditRecord,
    repeats: Option<Folded>,
}

impl Window {
    fn new(opened: SystemTime, sample: AuditRecord) -> Self {
        Self {
            opened,
            sample,
            repeats: None,
        }
    }

    fn add(&mut self, at: SystemTime) {
        match &mut self.repeats {
            Some(f) => {
                f.count += 1;
                f.last = f.last.max(at);
            }
            None => {
                self.repeats = Some(Folded {
                    count: 1,
                    first: at,
                    last: at,
                })
            }
        }
    }

    /// The summary line for the repeats, if there were any.
    fn summary(self) -> Option<AuditRecord> {
        let folded = self.repeats?;
        let mut rec = self.sample;
        rec.folded = Some(folded);
        Some(rec)
    }
}

/// What to do with a record handed to [`Folder::fold`].
#[derive(Debug)]
pub enum Folding {
    /// Write it now: not foldable, or the first of its key in this window.
    Write(AuditRecord),
    /// Counted into a summary written when its window ends.
    Folded,
}

/// The fold table: at most `max_keys` keys, each with a window of `window`.
#[derive(Debug)]
pub struct Folder {
    window: Duration,
    max_keys: usize,
    open: HashMap<FoldKey, Window>,
    /// Keys in the order their windows opened, with the opening time: the front is
    /// the next window to end. An entry whose key has since reopened is stale and
    /// skipped.
    order: VecDeque<(FoldKey, SystemTime)>,
    /// Refusals that found the table full, one window per event: a flood of ever new
    /// addresses or names grows a count, not the table.
    overflow: HashMap<AuditEvent, Window>,
}

impl Folder {
    /// `window` zero turns folding off: every record is written.
    pub fn new(window: Duration, max_keys: usize) -> Self {
        Self {
            window,
            max_keys,
            open: HashMap::new(),
            order: VecDeque::new(),
            overflow: HashMap::new(),
        }
    }

    /// Whether `rec`, made at `at`, is written now or folded.
    pub fn fold(
        &mut self,
        rec: AuditRecord,
        at: SystemTime,
        out: &mut Vec<AuditRecord>,
    ) -> Folding {
        if self.window.is_zero() || !is_foldable(rec.event) {
            return Folding::Write(rec);
        }
        let key = FoldKey::of(&rec);
        if let Some(window) = self.open.get_mut(&key) {
            if !ended(self.window, window.opened, at) {
                window.add(at);
                return Folding::Folded;
            }
            // Its window ended before `expire` came round: close it, open a new one.
            let old = std::mem::replace(window, Window::new(at, rec.clone()));
            out.extend(old.summary());
            self.order.push_back((key, at));
            return Folding::Write(rec);
        }
        if self.open.len() >= self.max_keys {
            let event = rec.event;
            let window = self.overflow.entry(event).or_insert_with(|| {
                Window::new(at, AuditRecord::new(event).detail(OVERFLOW_DETAIL))
            });
            window.add(at);
            return Folding::Folded;
        }
        self.open.insert(key.clone(), Window::new(at, rec.clone()));
        self.order.push_back((key, at));
        Folding::Write(rec)
    }

    /// Closes every window that has ended by `now`, pushing their summaries to `out`.
    pub fn expire(&mut self, now: SystemTime, out: &mut Vec<AuditRecord>) {
        while let Some((_, opened)) = self.order.front() {
            if !ended(self.window, *opened, now) {
                break;
            }
            let (key, opened) = self.order.pop_front().expect("front exists");
            if self.open.get(&key).is_some_and(|w| w.opened == opened) {
                let window = self.open.remove(&key).expect("checked above");
                out.extend(window.summary());
            }
        }
        // At most one per event kind: a scan of a handful.
        let ended: Vec<AuditEvent> = self
            .overflow
            .iter()
            .filter(|(_, w)| ended(self.window, w.opened, now))
            .map(|(e, _)| *e)
            .collect();
        for event in ended {
            if let Some(window) = self.overflow.remove(&event) {
                out.extend(window.summary());
            }
        }
    }

    /// Closes every window now (at shutdown, or when asked to flush).
    pub fn drain(&mut self, out: &mut Vec<AuditRecord>) {
        // In the order the windows opened, so the file reads the same every time.
        while let Some((key, opened)) = self.order.pop_front() {
            if self.open.get(&key).is_some_and(|w| w.opened == opened) {
                let window = self.open.remove(&key).expect("checked above");
                out.extend(window.summary());
            }
        }
        let mut overflow: Vec<_> = self.overflow.drain().collect();
        overflow.sort_by_key(|(event, _)| event.as_str());
        out.extend(overflow.into_iter().filter_map(|(_, w)| w.summary()));
    }

    /// When the next window ends, if any is open.
    pub fn next_end(&self) -> Option<SystemTime> {
        let keys = self.order.front().map(|(_, opened)| *opened);
        let overflow = self.overflow.values().map(|w| w.opened).min();
        [keys, overflow]
            .into_iter()
            .flatten()
            .min()
            .map(|opened| opened + self.window)
    }

    /// How many keys have an open window (overflow windows not counted).
    pub fn keys(&self) -> usize {
        self.open.len()
    }
}

/// Whether a window of length `window` opened at `opened` has ended by `now`.
fn ended(window: Duration, opened: SystemTime, now: SystemTime) -> bool {
    now.duration_since(opened).is_ok_and(|age| age >= window)
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::domain::Username;

    const WINDOW: Duration = Duration::from_secs(60);

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn refusal(ip: &str) -> AuditRecord {
        AuditRecord::new(AuditEvent::Limited)
            .ip(ip.parse().unwrap())
            .detail("login_ip")
    }

    fn written(f: Folding) -> AuditRecord {
        match f {
            Folding::Write(rec) => rec,
            Folding::Folded => panic!("folded, expected written"),
        }
    }

    #[test]
    fn the_first_refusal_is_written_at_once_and_repeats_are_counted() {
        let mut folder = Folder::new(WINDOW, 16);
        let mut out = Vec::new();
        let first = written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        assert_eq!(first.detail.as_deref(), Some("login_ip"));
        assert!(first.folded.is_none());
        for s in 1..=59 {
            for _ in 0..100 {
                let f = folder.fold(refusal("198.51.100.7"), at(s), &mut out);
                assert!(matches!(f, Folding::Folded));
            }
        }
        folder.expire(at(59), &mut out);
        assert!(out.is_empty(), "the window is still open");

        folder.expire(at(60), &mut out);
        assert_eq!(out.len(), 1);
        let summary = &out[0];
        assert_eq!(summary.event, AuditEvent::Limited);
        assert_eq!(summary.ip, Some("198.51.100.7".parse().unwrap()));
        assert_eq!(summary.detail.as_deref(), Some("login_ip"));
        assert_eq!(
            summary.folded,
            Some(Folded {
                count: 5900,
                first: at(1),
                last: at(59)
            })
        );
        assert_eq!(folder.keys(), 0);
        assert_eq!(folder.next_end(), None);

        // A new window: its first refusal is written at once again.
        written(folder.fold(refusal("198.51.100.7"), at(61), &mut out));
    }

    #[test]
    fn a_first_refusal_alone_leaves_no_summary() {
        let mut folder = Folder::new(WINDOW, 16);
        let mut out = Vec::new();
        written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        folder.expire(at(600), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn different_subjects_and_reasons_are_different_keys() {
        let mut folder = Folder::new(WINDOW, 16);
        let mut out = Vec::new();
        written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        written(folder.fold(refusal("198.51.100.8"), at(0), &mut out));
        written(folder.fold(refusal("198.51.100.7").detail("check_ip"), at(0), &mut out));
        let alice = Username::parse("alice").unwrap();
        written(folder.fold(refusal("198.51.100.7").user(&alice), at(0), &mut out));
        assert_eq!(folder.keys(), 4);
    }

    #[test]
    fn security_records_are_never_folded() {
        use AuditEvent::*;
        let mut folder = Folder::new(WINDOW, 1);
        let mut out = Vec::new();
        let never = [
            SignInRequested,
            CodeSent,
            CheckFailed,
            CheckApproved,
            Lockout,
            TokenMinted,
            ParticipantRemoved,
            ParticipantNotDisconnected,
            RoomEnded,
            RecordingStarted,
            RecordingStopped,
            AclReloaded,
            AclRejected,
            RoomEvent,
        ];
        for event in never {
            assert!(!is_foldable(event), "{event}");
            for _ in 0..50 {
                let rec = AuditRecord::new(event).ip("198.51.100.7".parse().unwrap());
                written(folder.fold(rec, at(0), &mut out));
            }
        }
        // Not even with the table full.
        written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        assert_eq!(folder.keys(), 1);
        written(folder.fold(AuditRecord::new(TokenMinted), at(0), &mut out));
        assert!(out.is_empty());
        assert!(is_foldable(Limited) && is_foldable(WebhookRejected));
    }

    #[test]
    fn past_the_key_cap_refusals_fold_into_one_overflow_count_per_event() {
        let mut folder = Folder::new(WINDOW, 3);
        let mut out = Vec::new();
        for n in 0..3 {
            written(folder.fold(refusal(&format!("198.51.100.{n}")), at(0), &mut out));
        }
        for n in 0..10_000u32 {
            let ip = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            let f = folder.fold(refusal(&ip), at(1), &mut out);
            assert!(matches!(f, Folding::Folded));
        }
        let webhook = AuditRecord::new(AuditEvent::WebhookRejected).ip("10.9.9.9".parse().unwrap());
        assert!(matches!(
            folder.fold(webhook, at(2), &mut out),
            Folding::Folded
        ));
        assert_eq!(folder.keys(), 3, "the table did not grow");
        assert!(out.is_empty());

        folder.expire(at(62), &mut out);
        let mut counts: Vec<(AuditEvent, Option<String>, u64)> = out
            .iter()
            .map(|r| (r.event, r.detail.clone(), r.folded.unwrap().count))
            .collect();
        counts.sort_by_key(|c| c.0.as_str());
        assert_eq!(
            counts,
            [
                (AuditEvent::Limited, Some(OVERFLOW_DETAIL.into()), 10_000),
                (AuditEvent::WebhookRejected, Some(OVERFLOW_DETAIL.into()), 1),
            ]
        );
        assert!(out.iter().all(|r| r.ip.is_none()));
        assert_eq!(folder.keys(), 0);
    }

    #[test]
    fn a_window_that_ended_unnoticed_is_summarised_when_its_key_comes_back() {
        let mut folder = Folder::new(WINDOW, 16);
        let mut out = Vec::new();
        written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        folder.fold(refusal("198.51.100.7"), at(10), &mut out);
        folder.fold(refusal("198.51.100.7"), at(20), &mut out);
        written(folder.fold(refusal("198.51.100.7"), at(70), &mut out));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].folded.unwrap().count, 2);
        // The old window's place in the queue is stale and yields nothing more.
        out.clear();
        folder.fold(refusal("198.51.100.7"), at(80), &mut out);
        folder.expire(at(129), &mut out);
        assert!(out.is_empty());
        folder.expire(at(130), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].folded.unwrap().count, 1);
    }

    #[test]
    fn drain_closes_every_window_in_the_order_they_opened() {
        let mut folder = Folder::new(WINDOW, 2);
        let mut out = Vec::new();
        for ip in ["198.51.100.2", "198.51.100.1", "198.51.100.9"] {
            folder.fold(refusal(ip), at(0), &mut out);
            folder.fold(refusal(ip), at(1), &mut out);
        }
        folder.drain(&mut out);
        let ips: Vec<String> = out
            .iter()
            .map(|r| r.ip.map(|ip| ip.to_string()).unwrap_or_default())
            .collect();
        assert_eq!(ips, ["198.51.100.2", "198.51.100.1", ""]);
        assert_eq!(out[2].folded.unwrap().count, 2);
        assert_eq!(folder.next_end(), None);
    }

    #[test]
    fn a_zero_window_folds_nothing() {
        let mut folder = Folder::new(Duration::ZERO, 16);
        let mut out = Vec::new();
        for _ in 0..10 {
            written(folder.fold(refusal("198.51.100.7"), at(0), &mut out));
        }
    }
}
