//! The HTTP `Date` header: IMF-fixdate (RFC 9110 §5.6.7), such as
//! `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! Only IMF-fixdate is accepted. The two obsolete forms a general HTTP
//! recipient must also read (RFC 850, with a two-digit year, and asctime)
//! are refused: a server that still sends them is not one to take the time
//! from, and the answer is only ignored, never misread. The weekday must
//! match the date, one more check against a mangled header.

use thiserror::Error;
use time_bounds::civil::DateTime;

/// A parsed `Date`: the server's clock, truncated to the second, was in
/// `[seconds, seconds + width)` when it generated the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpDate {
    /// Unix seconds of the date.
    pub seconds: i64,
    /// 1 s, or 2 s for a leap second (`:60`): Unix time has no such second,
    /// and clocks count it as either of its neighbours.
    pub width: i64,
}

/// Why a `Date` value was not read.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DateError {
    #[error("not an IMF-fixdate such as \"Sun, 06 Nov 1994 08:49:37 GMT\"")]
    Shape,
    #[error("unknown day name {0:?}")]
    Day(String),
    #[error("unknown month {0:?}")]
    Month(String),
    #[error("no such date or time of day")]
    Range,
    #[error("the date is a {is}, the header says {says}")]
    Weekday {
        says: &'static str,
        is: &'static str,
    },
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Reads a `Date` header value; surrounding white space is allowed.
pub fn parse(value: &str) -> Result<HttpDate, DateError> {
    let value = value.trim_matches([' ', '\t']);
    // Day-name "," SP DD SP Mon SP YYYY SP hh ":" mm ":" ss SP "GMT": the
    // separators fix every field's place, so checking them fixes the shape.
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() == 29
        && [
            (3, b','),
            (4, b' '),
            (7, b' '),
            (11, b' '),
            (16, b' '),
            (19, b':'),
            (22, b':'),
            (25, b' '),
        ]
        .iter()
        .all(|&(at, separator)| bytes[at] == separator)
        && &bytes[26..] == b"GMT";
    if !shape_ok {
        return Err(DateError::Shape);
    }
    // Every byte checked above is ASCII, so these slices fall on character
    // boundaries; `get` keeps that from being a panic if it were not so.
    let field = |from: usize, to: usize| value.get(from..to).ok_or(DateError::Shape);
    let number = |from: usize, to: usize| -> Result<u32, DateError> {
        let digits = field(from, to)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DateError::Shape);
        }
        digits.parse().map_err(|_| DateError::Shape)
    };
    let day_name = field(0, 3)?;
    let says = DAYS
        .iter()
        .position(|&day| day == day_name)
        .ok_or_else(|| DateError::Day(day_name.to_owned()))?;
    let month_name = field(8, 11)?;
    let month = MONTHS
        .iter()
        .position(|&month| month == month_name)
        .ok_or_else(|| DateError::Month(month_name.to_owned()))?;
    let (day, year) = (number(5, 7)?, number(12, 16)?);
    let (hour, minute, second) = (number(17, 19)?, number(20, 22)?, number(23, 25)?);
    let leap = second == 60;
    // A leap second is read as the second before it, and widens the range
    // to cover the one after.
    let date = DateTime::new(
        i64::from(year),
        month as u32 + 1,
        day,
        hour,
        minute,
        if leap { 59 } else { second },
    )
    .ok_or(DateError::Range)?;
    let is = date.weekday() as usize;
    if is != says {
        return Err(DateError::Weekday {
            says: DAYS[says],
            is: DAYS[is],
        });
    }
    Ok(HttpDate {
        seconds: date.unix_seconds(),
        width: if leap { 2 } else { 1 },
    })
}

/// `seconds` as an IMF-fixdate.
#[cfg(test)]
pub fn format(seconds: i64) -> String {
    let date = DateTime::from_unix_seconds(seconds);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[date.weekday() as usize],
        date.day,
        MONTHS[(date.month - 1) as usize],
        date.year,
        date.hour,
        date.minute,
        date.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expect: Result<(i64, i64), DateError>) {
        assert_eq!(
            parse(value).map(|d| (d.seconds, d.width)),
            expect,
            "{value:?}"
        );
    }

    #[test]
    fn reads_imf_fixdate() {
        check("Sun, 06 Nov 1994 08:49:37 GMT", Ok((784_111_777, 1)));
        check("Tue, 14 Nov 2023 22:13:20 GMT", Ok((1_700_000_000, 1)));
        check(" Thu, 01 Jan 1970 00:00:00 GMT\t", Ok((0, 1)));
        check("Thu, 07 Feb 2036 06:28:16 GMT", Ok((2_085_978_496, 1)));
        // The leap second of 2016-12-31, read as its predecessor, 2 s wide.
        check("Sat, 31 Dec 2016 23:59:60 GMT", Ok((1_483_228_799, 2)));
    }

    #[test]
    fn refuses_anything_else() {
        let shape = || Err(DateError::Shape);
        check("", shape());
        check("garbage", shape());
        // The obsolete forms.
        check("Sunday, 06-Nov-94 08:49:37 GMT", shape());
        check("Sun Nov  6 08:49:37 1994", shape());
        // Near misses.
        check("Sun, 06 Nov 1994 08:49:37 UTC", shape());
        check("Sun, 6 Nov 1994 08:49:37 GMT", shape());
        check("Sun,  06 Nov 1994 08:49:37 GMT", shape());
        check("Sun, 06 Nov 1994 08:49:37 GMT ", Ok((784_111_777, 1)));
        check("Sun, 06 Nov 1994 08:49:37 GMTX", shape());
        check("Sun, 0x Nov 1994 08:49:37 GMT", shape());
        check("Sun, +6 Nov 1994 08:49:37 GMT", shape());
        check("Sun, 06 Nov 1994 08:49:3é GMT", shape());
        check("Sun, 06 Nov 1994 08:49:37 GMT\u{e9}", shape());
        check("Sun, 06 Nov 1994 08.49.37 GMT", shape());
        check(
            "sun, 06 Nov 1994 08:49:37 GMT",
            Err(DateError::Day("sun".into())),
        );
        check(
            "Sun, 06 NOV 1994 08:49:37 GMT",
            Err(DateError::Month("NOV".into())),
        );
        check("Sun, 31 Nov 1994 08:49:37 GMT", Err(DateError::Range));
        check("Sun, 06 Nov 1994 24:00:00 GMT", Err(DateError::Range));
        check("Sun, 06 Nov 1994 08:60:00 GMT", Err(DateError::Range));
        check("Sun, 06 Nov 1994 08:49:61 GMT", Err(DateError::Range));
        check("Sun, 00 Nov 1994 08:49:37 GMT", Err(DateError::Range));
        check(
            "Mon, 06 Nov 1994 08:49:37 GMT",
            Err(DateError::Weekday {
                says: "Mon",
                is: "Sun",
            }),
        );
    }

    #[test]
    fn format_round_trips() {
        for seconds in [
            0,
            784_111_777,
            1_700_000_000,
            2_085_978_496,
            253_402_300_799,
        ] {
            assert_eq!(
                parse(&format(seconds)).map(|d| d.seconds),
                Ok(seconds),
                "{}",
                format(seconds)
            );
        }
        assert_eq!(format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
