//! `UtcTime`: a point in UTC as nanoseconds since the Unix epoch, and the
//! spellings the time service shows (RFC 3339, short spans).
//!
//! Nanoseconds in an `i128` rather than `SystemTime`: plugin answers may lie
//! anywhere an `s64` of seconds reaches (before 1970, far in the future),
//! and the fusion arithmetic must neither panic nor wrap on them.

use std::fmt;
use std::time::{Duration, SystemTime};

use osb_plugin_host::wit::latest::Timestamp;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A point in UTC time, in nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTime(i128);

/// A plugin timestamp the host cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {seconds} s + {nanoseconds} ns: nanoseconds must be below 1000000000")]
pub struct TimestampError {
    /// The seconds as given.
    pub seconds: i64,
    /// The nanoseconds as given: 10^9 or more.
    pub nanoseconds: u32,
}

impl UtcTime {
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: UtcTime = UtcTime(0);

    /// `nanos` after the epoch (before it when negative).
    pub const fn from_unix_nanos(nanos: i128) -> UtcTime {
        UtcTime(nanos)
    }

    /// `seconds` after the epoch (before it when negative).
    pub const fn from_unix_seconds(seconds: i64) -> UtcTime {
        UtcTime(seconds as i128 * NANOS_PER_SEC)
    }

    /// Nanoseconds since the epoch; negative before it.
    pub const fn unix_nanos(self) -> i128 {
        self.0
    }

    /// The time a plugin answered; refused when the nanoseconds are out of
    /// range (the WIT type allows them, a valid answer never has them).
    pub fn from_timestamp(t: Timestamp) -> Result<UtcTime, TimestampError> {
        if i128::from(t.nanoseconds) >= NANOS_PER_SEC {
            return Err(TimestampError {
                seconds: t.seconds,
                nanoseconds: t.nanoseconds,
            });
        }
        Ok(UtcTime(
            i128::from(t.seconds) * NANOS_PER_SEC + i128::from(t.nanoseconds),
        ))
    }

    /// As the plugin interface spells it; saturates at the ends of `s64`.
    pub fn to_timestamp(self) -> Timestamp {
        let seconds = self.0.div_euclid(NANOS_PER_SEC);
        let nanoseconds = self.0.rem_euclid(NANOS_PER_SEC);
        match i64::try_from(seconds) {
            Ok(seconds) => Timestamp {
                seconds,
                // rem_euclid by 10^9 is below 10^9.
                nanoseconds: u32::try_from(nanoseconds).unwrap_or(0),
            },
            Err(_) if seconds < 0 => Timestamp {
                seconds: i64::MIN,
                nanoseconds: 0,
            },
            Err(_) => Timestamp {
                seconds: i64::MAX,
                nanoseconds: 999_999_999,
            },
        }
    }

    /// `t`; a time before the epoch is negative, not an error.
    pub fn from_system(t: SystemTime) -> UtcTime {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => UtcTime(d.as_nanos() as i128),
            Err(e) => UtcTime(-(e.duration().as_nanos() as i128)),
        }
    }

    /// The system clock now.
    pub fn now_system() -> UtcTime {
        UtcTime::from_system(SystemTime::now())
    }

    /// `nanos` later (earlier when negative), stopping at the ends of
    /// `i128` rather than wrapping.
    pub fn saturating_add(self, nanos: i128) -> UtcTime {
        UtcTime(self.0.saturating_add(nanos))
    }

    /// `d` later, saturating like [`UtcTime::saturating_add`].
    pub fn saturating_add_duration(self, d: Duration) -> UtcTime {
        self.saturating_add(d.as_nanos() as i128)
    }

    /// `d` earlier, saturating like [`UtcTime::saturating_add`].
    pub fn saturating_sub_duration(self, d: Duration) -> UtcTime {
        self.saturating_add(-(d.as_nanos() as i128))
    }

    /// `self - earlier` in nanoseconds (negative when `earlier` is later).
    pub fn nanos_since(self, earlier: UtcTime) -> i128 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with `digits` (0 to 9) fractional digits,
    /// truncated: `2023-11-14T22:13:20.123Z`.
    pub fn rfc3339(self, digits: u32) -> String {
        let seconds = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let days = seconds.div_euclid(86_400);
        let of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
        let year = if (0..=9999).contains(&year) {
            format!("{year:04}")
        } else {
            // Outside RFC 3339's range; ISO 8601's expanded form.
            format!("{year:+05}")
        };
        let digits = digits.min(9);
        let fraction = if digits == 0 {
            String::new()
        } else {
            let scaled = nanos / 10i128.pow(9 - digits);
            format!(".{scaled:0width$}", width = digits as usize)
        };
        format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
    }
}

impl fmt::Display for UtcTime {
    /// RFC 3339 with the fraction in groups of three digits, as many as
    /// are needed: `…:20Z`, `…:20.5Z` is shown `…:20.500Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let digits = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        f.write_str(&self.rfc3339(digits))
    }
}

impl serde::Serialize for UtcTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Year, month, day of the proleptic Gregorian calendar for a count of
/// days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i128) -> (i128, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// A span for people: `850 µs`, `12.5 ms`, `1.002 s`, `3 min 20 s`,
/// `5 h 2 min`, `12 d 3 h`.
pub fn span(d: Duration) -> String {
    let nanos = d.as_nanos();
    let secs = d.as_secs();
    match nanos {
        n if n < 1_000_000 => format!("{} µs", n / 1_000),
        n if n < 1_000_000_000 => format!("{:.1} ms", n as f64 / 1e6),
        _ if secs < 60 => format!("{:.3} s", d.as_secs_f64()),
        _ if secs < 3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ if secs < 86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// A non-negative nanosecond count as a `Duration`, saturating.
pub fn duration_from_nanos(nanos: i128) -> Duration {
    if nanos <= 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder of a division by 10^9 is below 10^9.
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_spellings() {
        let cases: &[(i128, u32, &str)] = &[
            (0, 0, "1970-01-01T00:00:00Z"),
            (1_700_000_000 * NANOS_PER_SEC, 0, "2023-11-14T22:13:20Z"),
            (
                1_700_000_000 * NANOS_PER_SEC + 123_456_789,
                3,
                "2023-11-14T22:13:20.123Z",
            ),
            (
                1_700_000_000 * NANOS_PER_SEC + 123_456_789,
                9,
                "2023-11-14T22:13:20.123456789Z",
            ),
            // Leap day, end of a century leap year.
            (951_782_400 * NANOS_PER_SEC, 0, "2000-02-29T00:00:00Z"),
            (978_307_199 * NANOS_PER_SEC, 0, "2000-12-31T23:59:59Z"),
            // Before the epoch: the fraction still counts forward.
            (-1_500_000_000, 1, "1969-12-31T23:59:58.5Z"),
            (-62_167_219_200 * NANOS_PER_SEC, 0, "0000-01-01T00:00:00Z"),
            (253_402_300_800 * NANOS_PER_SEC, 0, "+10000-01-01T00:00:00Z"),
        ];
        for (nanos, digits, expect) in cases {
            assert_eq!(UtcTime(*nanos).rfc3339(*digits), *expect, "{nanos}");
        }
    }

    #[test]
    fn display_shows_the_fraction_it_needs() {
        let t = |s: i128, n: i128| UtcTime(s * NANOS_PER_SEC + n).to_string();
        assert_eq!(t(1_700_000_000, 0), "2023-11-14T22:13:20Z");
        assert_eq!(t(1_700_000_000, 500_000_000), "2023-11-14T22:13:20.500Z");
        assert_eq!(t(1_700_000_000, 500_000), "2023-11-14T22:13:20.000500Z");
        assert_eq!(t(1_700_000_000, 7), "2023-11-14T22:13:20.000000007Z");
    }

    #[test]
    fn timestamps_round_trip_and_bad_nanoseconds_are_refused() {
        let cases = [(0, 0), (1_700_000_000, 999_999_999), (-2, 500_000_000)];
        for (seconds, nanoseconds) in cases {
            let t = UtcTime::from_timestamp(Timestamp {
                seconds,
                nanoseconds,
            })
            .unwrap();
            let back = t.to_timestamp();
            assert_eq!((back.seconds, back.nanoseconds), (seconds, nanoseconds));
        }
        let bad = Timestamp {
            seconds: 1,
            nanoseconds: 1_000_000_000,
        };
        assert!(
            UtcTime::from_timestamp(bad)
                .unwrap_err()
                .to_string()
                .contains("nanoseconds")
        );
        let huge = UtcTime(i128::MAX).to_timestamp();
        assert_eq!(huge.seconds, i64::MAX);
        let tiny = UtcTime(i128::MIN).to_timestamp();
        assert_eq!(tiny.seconds, i64::MIN);
    }

    #[test]
    fn spans_for_people() {
        let cases = [
            (Duration::from_micros(850), "850 µs"),
            (Duration::from_micros(12_500), "12.5 ms"),
            (Duration::from_millis(1002), "1.002 s"),
            (Duration::from_secs(200), "3 min 20 s"),
            (Duration::from_secs(5 * 3600 + 120), "5 h 2 min"),
            (Duration::from_secs(12 * 86_400 + 3 * 3600), "12 d 3 h"),
        ];
        for (d, expect) in cases {
            assert_eq!(span(d), expect);
        }
    }

    #[test]
    fn nanos_to_duration_saturates() {
        assert_eq!(duration_from_nanos(-5), Duration::ZERO);
        assert_eq!(
            duration_from_nanos(1_500_000_000),
            Duration::from_millis(1500)
        );
        assert_eq!(duration_from_nanos(i128::MAX).as_secs(), u64::MAX);
    }
}
