//! Civil (proleptic Gregorian, UTC) dates and times and Unix seconds.
//!
//! Unix time has no leap seconds: a second numbered 60 is left to the
//! parsers, which know which way to round it for the bound they make.

use std::fmt;

/// Seconds in a day.
const DAY: i64 = 86_400;

/// A date and time of day in UTC, each field in its calendar range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// 0–9999 when made by [`DateTime::new`]; any year (year 0 is 1 BCE,
    /// and earlier ones are negative) from [`DateTime::from_unix_seconds`].
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// From 1 to the month's length in that year.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59: never a leap second.
    pub second: u32,
}

impl DateTime {
    /// The date and time, if every field is in its range: years 0–9999
    /// (the four digits of RFC 3339 and HTTP dates), seconds 0–59.
    pub fn new(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
    ) -> Option<DateTime> {
        let valid = (0..=9_999).contains(&year)
            && (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60;
        valid.then_some(DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The date and time `seconds` after the Unix epoch.
    pub fn from_unix_seconds(seconds: i64) -> DateTime {
        let (year, month, day) = civil_from_days(seconds.div_euclid(DAY));
        let in_day = seconds.rem_euclid(DAY);
        // `in_day` is below 86 400: the casts cannot truncate.
        DateTime {
            year,
            month,
            day,
            hour: (in_day / 3_600) as u32,
            minute: (in_day / 60 % 60) as u32,
            second: (in_day % 60) as u32,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
            .saturating_mul(DAY)
            .saturating_add(i64::from(
                self.hour * 3_600 + self.minute * 60 + self.second,
            ))
    }

    /// The day of the week, 0 for Monday to 6 for Sunday.
    pub fn weekday(&self) -> u32 {
        // 1970-01-01 was a Thursday (3).
        (days_from_civil(self.year, self.month, self.day) + 3).rem_euclid(7) as u32
    }
}

impl fmt::Display for DateTime {
    /// RFC 3339, such as `2026-11-01T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` (1–12) of `year`; 0 for a month that does not exist.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 to the date (Howard Hinnant's `days_from_civil`),
/// for the years [`DateTime::new`] accepts.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    // Months counted from March, so the leap day ends the year.
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    // Both are small and non-negative by construction.
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400;
    (if month <= 2 { year + 1 } else { year }, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(year: i64, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime {
        DateTime::new(year, month, day, hour, minute, second).expect("valid date")
    }

    #[test]
    fn known_instants() {
        for (date, seconds, weekday) in [
            (at(1970, 1, 1, 0, 0, 0), 0, 3),
            (at(1969, 12, 31, 23, 59, 59), -1, 2),
            (at(2000, 2, 29, 12, 0, 0), 951_825_600, 1),
            (at(2023, 11, 14, 22, 13, 20), 1_700_000_000, 1),
            (at(2036, 2, 7, 6, 28, 16), 2_085_978_496, 3),
            (at(2038, 1, 19, 3, 14, 8), 2_147_483_648, 1),
            (at(1900, 1, 1, 0, 0, 0), -2_208_988_800, 0),
            (at(9999, 12, 31, 23, 59, 59), 253_402_300_799, 4),
        ] {
            assert_eq!(date.unix_seconds(), seconds, "{date}");
            assert_eq!(DateTime::from_unix_seconds(seconds), date, "{seconds}");
            assert_eq!(date.weekday(), weekday, "{date}");
        }
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        let mut previous = None;
        for days in days_from_civil(1900, 1, 1)..days_from_civil(2300, 1, 1) {
            let date = DateTime::from_unix_seconds(days * DAY);
            assert!(
                DateTime::new(date.year, date.month, date.day, 0, 0, 0).is_some(),
                "{date}"
            );
            assert_eq!(date.unix_seconds(), days * DAY);
            if let Some(previous) = previous {
                assert_eq!((previous + 1) % 7, date.weekday());
            }
            previous = Some(date.weekday());
        }
    }

    #[test]
    fn fields_out_of_range_are_refused() {
        assert!(DateTime::new(2023, 2, 29, 0, 0, 0).is_none());
        assert!(DateTime::new(2024, 2, 29, 0, 0, 0).is_some());
        assert!(DateTime::new(1900, 2, 29, 0, 0, 0).is_none());
        assert!(DateTime::new(2000, 2, 29, 0, 0, 0).is_some());
        assert!(DateTime::new(10_000, 1, 1, 0, 0, 0).is_none());
        assert!(DateTime::new(-1, 1, 1, 0, 0, 0).is_none());
        for (month, day, hour, minute, second) in [
            (0, 1, 0, 0, 0),
            (13, 1, 0, 0, 0),
            (4, 31, 0, 0, 0),
            (1, 0, 0, 0, 0),
            (1, 1, 24, 0, 0),
            (1, 1, 0, 60, 0),
            (1, 1, 0, 0, 60),
        ] {
            assert!(
                DateTime::new(2026, month, day, hour, minute, second).is_none(),
                "{month}-{day} {hour}:{minute}:{second}"
            );
        }
    }

    #[test]
    fn displays_as_rfc3339() {
        assert_eq!(at(2026, 11, 1, 0, 0, 0).to_string(), "2026-11-01T00:00:00Z");
    }
}
