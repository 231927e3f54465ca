//! The generic cell rate algorithm (GCRA): "N per window" in constant time and memory.
//!
//! A rule of `limit` events per `window` becomes an emission interval
//! `I = window / limit` and a burst tolerance `tau = (limit - 1) * I`. Each key keeps
//! one number per rule, its theoretical arrival time (TAT), in Unix milliseconds:
//! - an event at `now` conforms when `now >= tat - tau`;
//! - a conforming event moves `tat` to `max(tat, now) + I`;
//! - a refused one changes nothing, and may come back at `tat - tau`.
//!
//! So a key may spend its whole limit at once, and then earns one event back every
//! `window / limit`: never more than `limit` per window on average. Memory per key is
//! the same whatever the limit. The embedded and in-memory stores call these functions;
//! the Redis store runs the same arithmetic in Lua (`redis.rs`), and the property test
//! in `tests/store_behaviour.rs` holds both to the same reference model.

use std::time::Duration;

/// At most `limit` events per `window` (with `limit` of them allowed at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

impl Rule {
    pub const fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window }
    }

    /// The emission interval, milliseconds (at least 1).
    pub fn interval_ms(self) -> u64 {
        (millis(self.window) / u64::from(self.limit.max(1))).max(1)
    }

    /// The burst tolerance, milliseconds.
    pub fn tolerance_ms(self) -> u64 {
        self.interval_ms() * u64::from(self.limit.max(1) - 1)
    }
}

/// What one admission decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Refused; every rule has room again after this long (exact, in milliseconds).
    Wait(Duration),
}

impl Admission {
    pub fn is_admitted(self) -> bool {
        matches!(self, Self::Admitted)
    }
}

/// Admit an event at `now_ms` under every rule, or none. `tats` holds one TAT per rule
/// (0 for a rule never used) and is updated only when the event is admitted.
pub fn admit(tats: &mut [u64], rules: &[Rule], now_ms: u64) -> Admission {
    debug_assert_eq!(tats.len(), rules.len());
    let mut wait = 0u64;
    for (tat, rule) in tats.iter().zip(rules) {
        let allowed_at = tat.saturating_sub(rule.tolerance_ms());
        wait = wait.max(allowed_at.saturating_sub(now_ms));
    }
    if wait > 0 {
        return Admission::Wait(Duration::from_millis(wait));
    }
    for (tat, rule) in tats.iter_mut().zip(rules) {
        *tat = (*tat).max(now_ms).saturating_add(rule.interval_ms());
    }
    Admission::Admitted
}

/// Count an event whatever the level (a failure that already happened), and return
/// how many events the bucket now holds: the `limit`-th event in quick succession
/// returns `limit`, and the bucket forgets one event every `window / limit`.
pub fn hit(tat: &mut u64, rule: Rule, now_ms: u64) -> u32 {
    *tat = (*tat).max(now_ms).saturating_add(rule.interval_ms());
    level(*tat, rule, now_ms)
}

/// Events the bucket holds at `now_ms`, without adding one.
pub fn level(tat: u64, rule: Rule, now_ms: u64) -> u32 {
    let backlog = tat.saturating_sub(now_ms);
    u32::try_from(backlog.div_ceil(rule.interval_ms())).unwrap_or(u32::MAX)
}

/// How long a key must be kept: until its latest TAT has passed. After that it is
/// indistinguishable from a key never used.
pub fn ttl(tats: &[u64], now_ms: u64) -> Duration {
    let last = tats.iter().copied().max().unwrap_or(0);
    Duration::from_millis(last.saturating_sub(now_ms).max(1))
}

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> u64 {
        n * 1000
    }

    #[test]
    fn a_limit_is_spent_at_once_then_earned_back_one_interval_at_a_time() {
        let rules = [Rule::new(3, Duration::from_secs(600))];
        let mut tats = [0];
        let t0 = secs(1_000_000);
        for _ in 0..3 {
            assert_eq!(admit(&mut tats, &rules, t0), Admission::Admitted);
        }
        // The fourth waits one interval (200 s): exactly, to the millisecond.
        assert_eq!(
            admit(&mut tats, &rules, t0),
            Admission::Wait(Duration::from_secs(200))
        );
        assert_eq!(
            admit(&mut tats, &rules, t0 + secs(200) - 1),
            Admission::Wait(Duration::from_millis(1))
        );
        assert_eq!(
            admit(&mut tats, &rules, t0 + secs(200)),
            Admission::Admitted
        );
    }

    #[test]
    fn every_rule_must_hold_and_a_refusal_changes_nothing() {
        let rules = [
            Rule::new(1, Duration::from_secs(30)),
            Rule::new(3, Duration::from_secs(600)),
        ];
        let mut tats = [0, 0];
        let t0 = secs(1_000_000);
        assert!(admit(&mut tats, &rules, t0).is_admitted());
        let before = tats;
        assert_eq!(
            admit(&mut tats, &rules, t0 + secs(10)),
            Admission::Wait(Duration::from_secs(20))
        );
        assert_eq!(tats, before);
        assert!(admit(&mut tats, &rules, t0 + secs(30)).is_admitted());
        assert!(admit(&mut tats, &rules, t0 + secs(60)).is_admitted());
        // The cooldown is over, but three were spent: the next comes one interval after
        // the bucket was full (t0 + 600 - 400 = t0 + 200).
        assert_eq!(
            admit(&mut tats, &rules, t0 + secs(90)),
            Admission::Wait(Duration::from_secs(110))
        );
    }

    #[test]
    fn hits_fill_the_bucket_and_drain_one_interval_at_a_time() {
        let rule = Rule::new(3, Duration::from_secs(3600));
        let mut tat = 0;
        let t0 = secs(1_000_000);
        assert_eq!(hit(&mut tat, rule, t0), 1);
        assert_eq!(hit(&mut tat, rule, t0 + 1), 2);
        assert_eq!(hit(&mut tat, rule, t0 + 2), 3);
        assert_eq!(level(tat, rule, t0 + secs(1200) + 2), 2);
        assert_eq!(level(tat, rule, t0 + secs(3600) + 2), 0);
    }

    #[test]
    fn zero_and_huge_values_do_not_overflow() {
        let rules = [Rule::new(u32::MAX, Duration::from_secs(1))];
        let mut tats = [u64::MAX - 1];
        assert!(matches!(admit(&mut tats, &rules, 0), Admission::Wait(_)));
        assert_eq!(Rule::new(0, Duration::ZERO).interval_ms(), 1);
    }
}
