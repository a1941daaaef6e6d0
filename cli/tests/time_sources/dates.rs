//! The two spellings of time these tests read and write: RFC 3339, as
//! `osb time --json` prints it, and the HTTP `Date`, as the test server
//! sends it. Times are nanoseconds since the Unix epoch, as the runtime
//! counts them.

use std::time::SystemTime;

pub const SECOND: i128 = 1_000_000_000;

/// The system clock now, in nanoseconds since the epoch.
pub fn now() -> i128 {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("the test machine's clock is after 1970");
    since.as_nanos() as i128
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `2026-11-26T08:25:53.123Z` (UTC, up to nine fraction digits) in
/// nanoseconds since the epoch; `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, fraction),
        None => (time, ""),
    };
    let mut clock = clock.splitn(3, ':');
    let h: i128 = clock.next()?.parse().ok()?;
    let m: i128 = clock.next()?.parse().ok()?;
    let s: i128 = clock.next()?.parse().ok()?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i128 = if fraction.is_empty() {
        0
    } else {
        let digits: i128 = fraction.parse().ok()?;
        digits * 10i128.pow(9 - fraction.len() as u32)
    };
    let days = i128::from(days_from_civil(year, month, day));
    Some(((days * 86_400) + h * 3600 + m * 60 + s) * SECOND + nanos)
}

/// The `Date` header (RFC 9110 IMF-fixdate) of a Unix time in seconds:
/// `Tue, 14 Nov 2023 22:13:20 GMT`.
pub fn http_date(unix_seconds: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds.div_euclid(86_400);
    let of_day = unix_seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} GMT",
        MONTHS[month as usize - 1],
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[test]
fn the_spellings_round_trip() {
    assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    assert_eq!(
        parse_rfc3339("2023-11-14T22:13:20Z"),
        Some(1_700_000_000 * SECOND)
    );
    assert_eq!(
        parse_rfc3339("2023-11-14T22:13:20.5Z"),
        Some(1_700_000_000 * SECOND + SECOND / 2)
    );
    assert_eq!(
        parse_rfc3339("2000-02-29T00:00:00.000000001Z"),
        Some(951_782_400 * SECOND + 1)
    );
    assert_eq!(parse_rfc3339("2023-11-14 22:13:20Z"), None);
    assert_eq!(parse_rfc3339("2023-11-14T22:13:20+01:00"), None);
}
