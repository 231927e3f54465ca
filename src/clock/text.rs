//! Times and durations as text: RFC 3339 for the audit log and alerts, and the short
//! durations (`2h`, `1h30m`) an operator types. Written here once, by hand, because
//! the formats are tiny and fixed (UTC, whole seconds) and every caller shares them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Not an RFC 3339 time (or not a valid date and time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 time")]
pub struct BadTime;

/// Not a duration like `2h`, `30m` or `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a duration like 2h, 30m or 1h30m")]
pub struct BadDuration;

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC, whole seconds (rounded down, also before 1970).
pub fn rfc3339(at: SystemTime) -> String {
    let secs: i64 = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(d.subsec_nanos() > 0)
        }
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian (year, month, day) of the `days`-th day after 1970-01-01.
/// Howard Hinnant's `civil_from_days`: eras of 400 years, years starting in March so
/// the leap day is the last day of its year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `2h`, `30m`, `1d`, `1h30m`: whole numbers with units s, m, h, d, w.
pub fn parse_duration(value: &str) -> Result<Duration, BadDuration> {
    let mut total: u64 = 0;
    let mut rest = value;
    if rest.is_empty() {
        return Err(BadDuration);
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit = rest[digits..].chars().next().ok_or(BadDuration)?;
        let amount: u64 = rest[..digits].parse().map_err(|_| BadDuration)?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(BadDuration),
        };
        total = amount
            .checked_mul(scale)
            .and_then(|s| total.checked_add(s))
            .ok_or(BadDuration)?;
        rest = &rest[digits + unit.len_utf8()..];
    }
    Ok(Duration::from_secs(total))
}

/// RFC 3339 (`2026-11-22T08:00:00Z`, `2026-11-22t09:00:00.5+01:00`), to the second.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, BadTime> {
    // Byte offsets below assume one byte per character.
    if !s.is_ascii() {
        return Err(BadTime);
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return Err(BadTime);
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(BadTime);
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, BadTime> {
        let part = &s[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| BadTime)
        } else {
            Err(BadTime)
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(BadTime);
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(BadTime),
            };
            let (h, m) = (num(s.len() - 5..s.len() - 3)?, num(s.len() - 2..s.len())?);
            if h > 23 || m > 59 {
                return Err(BadTime);
            }
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(BadTime),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60: a leap second, counted as the second before.
        || second > 60
    {
        return Err(BadTime);
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59)
            - offset;
    Ok(if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date: the inverse of the
/// `civil_from_days` behind [`rfc3339`] (Howard Hinnant's algorithms).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    fn days_in_month(y: i64, m: u32) -> u32 {
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(20_779), (2026, 11, 22));
        // 2100 is not a leap year.
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    // Every day from the year 218 to 4160 follows the one before by the calendar's rules.
    #[test]
    fn civil_dates_step_one_day_at_a_time() {
        let mut prev = civil_from_days(-640_000);
        for days in -639_999..800_000 {
            let (py, pm, pd) = prev;
            let expected = if pd < days_in_month(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            prev = civil_from_days(days);
            assert_eq!(prev, expected, "day {days}");
        }
    }

    #[test]
    fn rfc3339_is_utc_whole_seconds() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_334_400)), "2026-11-22T08:00:00Z");
        assert_eq!(
            rfc3339(at(1_795_334_400 + 3_599) + Duration::from_millis(999)),
            "2026-11-22T08:59:59Z"
        );
        assert_eq!(rfc3339(at(951_868_799)), "2000-02-29T23:59:59Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59Z"
        );
    }

    #[test]
    fn rfc3339_parsing_inverts_formatting() {
        for secs in [
            0,
            951_868_799,
            951_868_800,
            1_795_334_400,
            4_102_444_800,
            253_402_300_799,
        ] {
            let t = at(secs);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t), "{secs}");
        }
        let before = UNIX_EPOCH - Duration::from_secs(86_400 * 365);
        assert_eq!(parse_rfc3339(&rfc3339(before)), Ok(before));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00Z").map(rfc3339),
            Ok("2024-02-29T12:00:00Z".into())
        );
    }

    #[test]
    fn durations_add_up_their_parts() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86_400)));
        for bad in ["", "2", "h", "2x", "-2h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), Err(BadDuration), "{bad}");
        }
    }
}

/// Times and durations typed on a command line (`--since`) or read from a damaged
/// audit log: any string gets an answer, never a panic, and a time read back from
/// its own RFC 3339 text is the same second.
#[cfg(test)]
mod arbitrary_text {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_string_is_answered(s in any::<String>()) {
            let _ = parse_rfc3339(&s);
            let _ = parse_duration(&s);
        }

        #[test]
        fn time_shaped_strings_are_answered(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,3})?(Z|z|[+-][0-9]{2}:[0-9]{2}|)"
        ) {
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn a_time_reads_back_as_itself(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(parse_rfc3339(&rfc3339(t)), Ok(t));
        }
    }
}
