//! Where an instant falls among the windows: inside one (until when), or
//! outside all (and when the next opens). Pure, table-tested.

use std::fmt;

use crate::window::Window;

const DAY: i64 = 86_400;

/// The windows, in the device's local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Never empty once read from config.
    pub windows: Vec<Window>,
    /// Local time minus UTC, in minutes.
    pub offset_minutes: i64,
}

/// Where an instant falls. Instants are Unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Inside `window`, which closes at `closes` (of the open windows, the
    /// one closing last).
    Open { window: &'a Window, closes: i64 },
    /// Outside every window; `window` is the next to open, at `opens`.
    Closed { window: &'a Window, opens: i64 },
}

impl Schedule {
    /// Where `now` falls; `None` only without windows.
    pub fn at(&self, now: i64) -> Option<Verdict<'_>> {
        let offset = self.offset_minutes * 60;
        let local = now + offset;
        let today = local.div_euclid(DAY);
        let mut open: Option<(&Window, i64)> = None;
        let mut next: Option<(&Window, i64)> = None;
        for window in &self.windows {
            // Yesterday's opening may still be open (a window past
            // midnight); a week ahead holds every weekday's next opening.
            for day in today - 1..=today + 7 {
                if !window.days.contains(weekday(day)) {
                    continue;
                }
                let opens = day * DAY + i64::from(window.start) * 60;
                let closes = opens + i64::from(window.length) * 60;
                if opens <= local && local < closes {
                    if open.is_none_or(|(_, c)| closes > c) {
                        open = Some((window, closes));
                    }
                } else if opens > local && next.is_none_or(|(_, o)| opens < o) {
                    next = Some((window, opens));
                }
            }
        }
        match (open, next) {
            (Some((window, closes)), _) => Some(Verdict::Open {
                window,
                closes: closes - offset,
            }),
            (None, Some((window, opens))) => Some(Verdict::Closed {
                window,
                opens: opens - offset,
            }),
            (None, None) => None,
        }
    }
}

/// 0 for Monday to 6 for Sunday, of the day `day` days after 1970-01-01
/// (a Thursday).
fn weekday(day: i64) -> u32 {
    // rem_euclid(7) is 0..7: the cast cannot truncate.
    (day + 3).rem_euclid(7) as u32
}

/// An offset from UTC, as `UTC`, `UTC+02:00` or `UTC-05:30`.
pub struct UtcOffset(pub i64);

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("UTC");
        }
        let sign = if self.0 < 0 { '-' } else { '+' };
        let minutes = self.0.unsigned_abs();
        write!(f, "UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time_bounds::civil::DateTime;

    /// Unix seconds of an RFC 3339 instant `YYYY-MM-DDTHH:MM:SSZ`.
    fn at(text: &str) -> i64 {
        let n = |range: std::ops::Range<usize>| text[range].parse::<u32>().unwrap();
        DateTime::new(
            i64::from(n(0..4)),
            n(5..7),
            n(8..10),
            n(11..13),
            n(14..16),
            n(17..19),
        )
        .unwrap()
        .unix_seconds()
    }

    fn shown(seconds: i64) -> String {
        DateTime::from_unix_seconds(seconds).to_string()
    }

    /// `(open?, window, instant)` for `now` under `windows` at `offset`.
    fn check(windows: &[&str], offset: i64, now: &str, expect: (bool, &str, &str)) {
        let schedule = Schedule {
            windows: windows.iter().map(|w| w.parse().unwrap()).collect(),
            offset_minutes: offset,
        };
        let got = match schedule.at(at(now)).unwrap() {
            Verdict::Open { window, closes } => (true, window.to_string(), shown(closes)),
            Verdict::Closed { window, opens } => (false, window.to_string(), shown(opens)),
        };
        let expect = (expect.0, expect.1.to_owned(), expect.2.to_owned());
        assert_eq!(got, expect, "{windows:?} at {now}, offset {offset}");
    }

    #[test]
    fn inside_a_window_until_it_closes() {
        // 2026-12-01 is a Tuesday.
        let weekdays = &["Mon-Fri 02:00-04:00"][..];
        let open = |closes| (true, "Mon-Fri 02:00-04:00", closes);
        check(
            weekdays,
            0,
            "2026-12-01T02:00:00Z",
            open("2026-12-01T04:00:00Z"),
        );
        check(
            weekdays,
            0,
            "2026-12-01T03:59:59Z",
            open("2026-12-01T04:00:00Z"),
        );
        check(
            weekdays,
            60,
            "2026-12-01T01:30:00Z",
            open("2026-12-01T03:00:00Z"),
        );
        check(
            weekdays,
            -330,
            "2026-12-01T08:00:00Z",
            open("2026-12-01T09:30:00Z"),
        );
        check(
            &["daily 00:00-24:00"],
            0,
            "2026-12-01T12:00:00Z",
            (true, "daily 00:00-24:00", "2026-12-02T00:00:00Z"),
        );
    }

    #[test]
    fn outside_the_next_opening_is_named() {
        let weekdays = &["Mon-Fri 02:00-04:00"][..];
        let closed = |opens| (false, "Mon-Fri 02:00-04:00", opens);
        check(
            weekdays,
            0,
            "2026-12-01T04:00:00Z",
            closed("2026-12-02T02:00:00Z"),
        );
        check(
            weekdays,
            0,
            "2026-12-01T01:59:59Z",
            closed("2026-12-01T02:00:00Z"),
        );
        // Friday after the window: Monday's.
        check(
            weekdays,
            0,
            "2026-12-04T05:00:00Z",
            closed("2026-12-07T02:00:00Z"),
        );
        // Saturday 02:30 local at UTC+1: the next is Monday 02:00 local,
        // 01:00 UTC.
        check(
            weekdays,
            60,
            "2026-12-05T01:30:00Z",
            closed("2026-12-07T01:00:00Z"),
        );
        // At UTC-5 a window at 22:00 local opens at 03:00 UTC the next day.
        check(
            &["daily 22:00-23:00"],
            -300,
            "2026-12-01T02:30:00Z",
            (false, "daily 22:00-23:00", "2026-12-01T03:00:00Z"),
        );
    }

    #[test]
    fn a_window_past_midnight_stays_open_into_the_next_day() {
        let night = &["Sat 23:00-01:00"][..];
        // 2026-12-06 is a Sunday.
        check(
            night,
            0,
            "2026-12-06T00:30:00Z",
            (true, "Sat 23:00-01:00", "2026-12-06T01:00:00Z"),
        );
        check(
            night,
            0,
            "2026-12-06T01:00:00Z",
            (false, "Sat 23:00-01:00", "2026-12-12T23:00:00Z"),
        );
        check(
            night,
            0,
            "2026-12-05T22:00:00Z",
            (false, "Sat 23:00-01:00", "2026-12-05T23:00:00Z"),
        );
    }

    #[test]
    fn of_several_windows_the_earliest_opening_and_the_latest_closing_count() {
        let both = &["Sat,Sun 00:00-06:00", "Mon-Fri 02:00-04:00"][..];
        check(
            both,
            0,
            "2026-12-04T12:00:00Z",
            (false, "Sat,Sun 00:00-06:00", "2026-12-05T00:00:00Z"),
        );
        check(
            both,
            0,
            "2026-12-01T05:00:00Z",
            (false, "Mon-Fri 02:00-04:00", "2026-12-02T02:00:00Z"),
        );
        let overlapping = &["daily 01:00-03:00", "daily 02:00-05:00"][..];
        check(
            overlapping,
            0,
            "2026-12-01T02:30:00Z",
            (true, "daily 02:00-05:00", "2026-12-01T05:00:00Z"),
        );
    }

    #[test]
    fn no_windows_no_verdict() {
        let schedule = Schedule {
            windows: Vec::new(),
            offset_minutes: 0,
        };
        assert_eq!(schedule.at(0), None);
    }

    #[test]
    fn offsets_display() {
        for (minutes, expect) in [
            (0, "UTC"),
            (120, "UTC+02:00"),
            (-330, "UTC-05:30"),
            (840, "UTC+14:00"),
        ] {
            assert_eq!(UtcOffset(minutes).to_string(), expect);
        }
    }
}
