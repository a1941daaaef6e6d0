//! One maintenance window as written in config `windows`: the days it
//! opens on and the local time of day it is open, such as
//! `Mon-Fri 02:00-04:00`. Pure, table-tested.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Minutes in a day; also the only end written `24:00`.
pub const DAY_MINUTES: u32 = 1_440;

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

/// A window, as parsed; it displays as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The days it opens on.
    pub days: Days,
    /// When it opens, in minutes after local midnight (0 to 1439).
    pub start: u32,
    /// How long it stays open, in minutes (1 to 1440): past midnight when
    /// the end was written before the start.
    pub length: u32,
    written: String,
}

/// A set of weekdays, bit 0 Monday to bit 6 Sunday; never empty once
/// parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    /// Every day.
    pub const ALL: Days = Days(0x7f);

    /// Whether the set holds `weekday` (0 Monday to 6 Sunday).
    pub fn contains(self, weekday: u32) -> bool {
        weekday < 7 && self.0 & (1 << weekday) != 0
    }
}

/// Why a window does not parse; the text names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    #[error("expected days and a time span, such as \"Mon-Fri 02:00-04:00\"")]
    Shape,
    #[error("{0:?} is not a day (mon..sun, a range such as mon-fri, or daily)")]
    Day(String),
    #[error("{0:?} is not a time span (HH:MM-HH:MM, local time)")]
    Span(String),
    #[error("{0:?} is not a time of day (00:00 to 23:59, or 24:00 as an end)")]
    Time(String),
    #[error("{0:?} is empty (its end is its start); a whole day is 00:00-24:00")]
    Empty(String),
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Window, WindowError> {
        let mut parts = text.split_whitespace();
        let (Some(days_text), Some(span), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(WindowError::Shape);
        };
        let days = parse_days(days_text)?;
        let (start, end) = span
            .split_once('-')
            .ok_or_else(|| WindowError::Span(span.to_owned()))?;
        let (start, end) = (minutes(start)?, minutes(end)?);
        if start == DAY_MINUTES {
            return Err(WindowError::Time("24:00".to_owned()));
        }
        let length = if end > start {
            end - start
        } else if end < start {
            DAY_MINUTES - start + end
        } else {
            return Err(WindowError::Empty(span.to_owned()));
        };
        Ok(Window {
            days,
            start,
            length,
            written: format!("{days_text} {span}"),
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// `daily`, or a `,` list of days and wrapping `-` ranges of days.
fn parse_days(text: &str) -> Result<Days, WindowError> {
    if text.eq_ignore_ascii_case("daily") {
        return Ok(Days::ALL);
    }
    let mut set = 0u8;
    for item in text.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((first, last)) => (weekday(first)?, weekday(last)?),
            None => (weekday(item)?, weekday(item)?),
        };
        let mut day = first;
        loop {
            set |= 1 << day;
            if day == last {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    Ok(Days(set))
}

/// 0 for Monday to 6 for Sunday.
fn weekday(name: &str) -> Result<u32, WindowError> {
    let lower = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|(short, long)| lower == *short || lower == *long)
        .map(|i| i as u32)
        .ok_or_else(|| WindowError::Day(name.to_owned()))
}

/// `H:MM` or `HH:MM` as minutes after midnight, `24:00` included.
fn minutes(text: &str) -> Result<u32, WindowError> {
    let bad = || WindowError::Time(text.to_owned());
    let (hours, mins) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || !digits(mins, 2..=2) {
        return Err(bad());
    }
    let (hours, mins): (u32, u32) = (
        hours.parse().map_err(|_| bad())?,
        mins.parse().map_err(|_| bad())?,
    );
    match (hours, mins) {
        (0..=23, 0..=59) => Ok(hours * 60 + mins),
        (24, 0) => Ok(DAY_MINUTES),
        _ => Err(bad()),
    }
}

/// Config `windows`: windows separated by `;` (blank entries ignored).
pub fn parse_list(text: &str) -> Result<Vec<Window>, (String, WindowError)> {
    text.split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| entry.parse().map_err(|e| (entry.to_owned(), e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit set from day numbers, for the expectations.
    fn days(list: &[u32]) -> Days {
        Days(list.iter().fold(0, |set, day| set | 1 << day))
    }

    fn check(text: &str, expect_days: &[u32], start: u32, length: u32) {
        let window: Window = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(window.days, days(expect_days), "{text}");
        assert_eq!((window.start, window.length), (start, length), "{text}");
    }

    #[test]
    fn windows_parse() {
        check("Mon-Fri 02:00-04:00", &[0, 1, 2, 3, 4], 120, 120);
        check("Sat,Sun 00:00-06:00", &[5, 6], 0, 360);
        check("daily 01:30-02:15", &[0, 1, 2, 3, 4, 5, 6], 90, 45);
        check("DAILY 1:30-2:15", &[0, 1, 2, 3, 4, 5, 6], 90, 45);
        check("  sat  23:00-01:00 ", &[5], 1380, 120);
        check("Fri-Mon 22:00-24:00", &[4, 5, 6, 0], 1320, 120);
        check("sun-sun 00:00-24:00", &[6], 0, 1440);
        check("monday,Wednesday-thu 12:00-11:59", &[0, 2, 3], 720, 1439);
        check("Tue,Tue 23:59-00:00", &[1], 1439, 1);
    }

    #[test]
    fn windows_display_as_written() {
        let window: Window = "  Mon-Fri   02:00-04:00 ".parse().unwrap();
        assert_eq!(window.to_string(), "Mon-Fri 02:00-04:00");
    }

    #[test]
    fn bad_windows_name_the_part_at_fault() {
        for (text, expect) in [
            ("", WindowError::Shape),
            ("Mon-Fri", WindowError::Shape),
            ("Mon 02:00-04:00 extra", WindowError::Shape),
            ("Mo 02:00-04:00", WindowError::Day("Mo".into())),
            ("Mon- 02:00-04:00", WindowError::Day("".into())),
            ("Mon,,Tue 02:00-04:00", WindowError::Day("".into())),
            ("weekdays 02:00-04:00", WindowError::Day("weekdays".into())),
            ("Mon 02:00", WindowError::Span("02:00".into())),
            ("Mon 02:00-", WindowError::Time("".into())),
            ("Mon 2-4", WindowError::Time("2".into())),
            ("Mon 02:0-04:00", WindowError::Time("02:0".into())),
            ("Mon 002:00-04:00", WindowError::Time("002:00".into())),
            ("Mon 24:00-04:00", WindowError::Time("24:00".into())),
            ("Mon 02:00-24:01", WindowError::Time("24:01".into())),
            ("Mon 02:60-04:00", WindowError::Time("02:60".into())),
            ("Mon 25:00-04:00", WindowError::Time("25:00".into())),
            ("Mon +1:00-04:00", WindowError::Time("+1:00".into())),
            ("Mon 02:00-02:00", WindowError::Empty("02:00-02:00".into())),
            ("Mon 00:00-00:00", WindowError::Empty("00:00-00:00".into())),
        ] {
            assert_eq!(text.parse::<Window>(), Err(expect), "{text:?}");
        }
    }

    #[test]
    fn lists_are_separated_by_semicolons() {
        let list = parse_list("Mon-Fri 02:00-04:00; Sat,Sun 00:00-06:00;").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["Mon-Fri 02:00-04:00", "Sat,Sun 00:00-06:00"]);
        assert_eq!(parse_list(" ; ").unwrap(), []);
        assert_eq!(
            parse_list("daily 01:00-02:00; Mon 1-2"),
            Err(("Mon 1-2".to_owned(), WindowError::Time("1".into())))
        );
    }
}
