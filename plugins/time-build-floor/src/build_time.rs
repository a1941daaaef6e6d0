//! A build time as written in config or a file: Unix seconds, or an
//! RFC 3339 date-time.
//!
//! The value is a lower bound, so whatever cannot be represented exactly
//! is rounded down: fractions of a second are dropped, and a leap second
//! (`23:59:60`) reads as the second before it.

use thiserror::Error;
use time_bounds::civil::DateTime;

/// The last second of year 9999: RFC 3339 years have four digits, and a
/// larger number of seconds is more likely milliseconds than a date.
const LATEST: i64 = 253_402_300_799;

/// Why a value is not a build time.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum BuildTimeError {
    #[error("expected Unix seconds or an RFC 3339 time such as 2026-11-01T00:00:00Z")]
    Shape,
    #[error("no such date, time of day or offset")]
    Range,
    #[error("{0} s is after the year 9999 (milliseconds?)")]
    TooLate(String),
}

/// The Unix seconds `value` means (surrounding white space allowed).
pub fn parse(value: &str) -> Result<i64, BuildTimeError> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<i64>() {
            Ok(seconds) if seconds <= LATEST => Ok(seconds),
            _ => Err(BuildTimeError::TooLate(value.to_owned())),
        };
    }
    rfc3339(value)
}

/// `YYYY-MM-DD(T|t| )hh:mm:ss[.fraction](Z|z|±hh:mm)` (RFC 3339 §5.6; the
/// space separator is the one its note allows).
fn rfc3339(value: &str) -> Result<i64, BuildTimeError> {
    let bytes = value.as_bytes();
    let shape_ok = bytes.len() >= 20
        && [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')]
            .iter()
            .all(|&(at, separator)| bytes[at] == separator)
        && matches!(bytes[10], b'T' | b't' | b' ');
    if !shape_ok {
        return Err(BuildTimeError::Shape);
    }
    // Every byte checked above is ASCII, so the fields fall on character
    // boundaries; `digits` still refuses anything but ASCII digits.
    let digits = |from: usize, to: usize| -> Result<u32, BuildTimeError> {
        let field = value.get(from..to).ok_or(BuildTimeError::Shape)?;
        if !field.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BuildTimeError::Shape);
        }
        field.parse().map_err(|_| BuildTimeError::Shape)
    };
    let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
    let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
    let mut rest = &bytes[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if length == 0 {
            return Err(BuildTimeError::Shape);
        }
        rest = &fraction[length..];
    }
    let offset_seconds = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Result<i64, BuildTimeError> {
                if a.is_ascii_digit() && b.is_ascii_digit() {
                    Ok(i64::from((a - b'0') * 10 + (b - b'0')))
                } else {
                    Err(BuildTimeError::Shape)
                }
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return Err(BuildTimeError::Range);
            }
            let magnitude = hours * 3_600 + minutes * 60;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return Err(BuildTimeError::Shape),
    };
    let second = if second == 60 { 59 } else { second };
    let local = DateTime::new(i64::from(year), month, day, hour, minute, second)
        .ok_or(BuildTimeError::Range)?;
    // Local time is UTC plus the offset.
    Ok(local.unix_seconds() - offset_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expect: Result<i64, BuildTimeError>) {
        assert_eq!(parse(value), expect, "{value:?}");
    }

    #[test]
    fn reads_seconds_and_rfc3339() {
        check("1793491200", Ok(1_793_491_200));
        check(" 1793491200\n", Ok(1_793_491_200));
        check("0", Ok(0));
        check("253402300799", Ok(LATEST));
        check("2026-11-01T00:00:00Z", Ok(1_793_491_200));
        check("2026-11-01t00:00:00z", Ok(1_793_491_200));
        check("2026-11-01 00:00:00Z", Ok(1_793_491_200));
        check("2026-11-01T01:30:00+01:30", Ok(1_793_491_200));
        check("2026-10-31T23:00:00-01:00", Ok(1_793_491_200));
        check("2026-11-01T00:00:00.999999999Z", Ok(1_793_491_200));
        check("2026-11-01T00:00:00-00:00", Ok(1_793_491_200));
        // A leap second is a lower bound's worth of the second before.
        check("2016-12-31T23:59:60Z", Ok(1_483_228_799));
        check("\t2026-11-01T00:00:00Z\n", Ok(1_793_491_200));
    }

    #[test]
    fn refuses_garbage() {
        let shape = || Err(BuildTimeError::Shape);
        for value in [
            "",
            "soon",
            "-1",
            "+1793491200",
            "1.5",
            "2026-11-01",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00Z",
            "2026-11-01T00:00:00.Z",
            "2026-11-01T00:00:00+0100",
            "2026-11-01T00:00:00+01",
            "2026-11-01T00:00:00 Z",
            "2026-11-01X00:00:00Z",
            "2026-1-01T00:00:00Z",
            "20261-11-01T00:00:00Z",
            "2026-11-01T00:00:00Zjunk",
            "2026-11-01T0é:00:00Z",
            "２026-11-01T00:00:00Z",
        ] {
            check(value, shape());
        }
        check("2026-02-29T00:00:00Z", Err(BuildTimeError::Range));
        check("2026-13-01T00:00:00Z", Err(BuildTimeError::Range));
        check("2026-11-01T24:00:00Z", Err(BuildTimeError::Range));
        check("2026-11-01T00:00:61Z", Err(BuildTimeError::Range));
        check("2026-11-01T00:00:00+24:00", Err(BuildTimeError::Range));
        check(
            "1793491200000",
            Err(BuildTimeError::TooLate("1793491200000".into())),
        );
        check(
            "99999999999999999999999",
            Err(BuildTimeError::TooLate("99999999999999999999999".into())),
        );
    }
}
