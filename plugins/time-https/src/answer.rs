//! What one HTTP response says about the true offset of the host's clock.
//!
//! A `Date` of D means the server's clock read within `[D, D + 1 s)` when
//! it generated the response (the header is truncated to the second). It
//! generated it after the host's `sent-at` and before its `received-at`, so
//! the offset `true − host` was within `[D − received-at, D + 1 s − sent-at]`.
//!
//! Only answers that can carry the server's own clock are believed: a 2xx
//! status (the host follows no redirects, so a captive portal's 302 arrives
//! as a 302, and its made-up 200 carries no valid certificate over https),
//! a single well-formed `Date`, and no sign of a cache (a cached response
//! keeps the `Date` of when it was first made, with `Age` saying how long
//! ago: that would put the truth above the range).

use osb_sdk::http::Response;
use thiserror::Error;
use time_bounds::offset::{SECOND, nanos};
use time_bounds::{Measurement, OffsetRange};

use crate::date::{self, DateError};

/// Why a response is not believed.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Ignored {
    #[error("status {0}, not 2xx (a captive portal or a redirect?): not believed")]
    Status(u16),
    #[error("no Date header")]
    NoDate,
    #[error("{0} different Date headers")]
    ManyDates(usize),
    #[error("malformed Date header {value:?}: {error}")]
    BadDate { value: String, error: DateError },
    #[error("served from a cache (Age: {0}), so its Date is not the server's clock now")]
    Cached(String),
    #[error("the host's clock went backwards during the exchange")]
    Reversed,
}

/// The offset range `response` gives, measured at its `received-at`.
pub fn judge(response: &Response) -> Result<Measurement, Ignored> {
    if !response.is_success() {
        return Err(Ignored::Status(response.status));
    }
    if let Some(age) = response.header("age")
        && age.trim() != "0"
    {
        return Err(Ignored::Cached(age.to_owned()));
    }
    let mut dates: Vec<&str> = response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("date"))
        .map(|(_, value)| value.as_str())
        .collect();
    dates.dedup();
    let value = match dates.as_slice() {
        [] => return Err(Ignored::NoDate),
        [value] => *value,
        many => return Err(Ignored::ManyDates(many.len())),
    };
    let date = date::parse(value).map_err(|error| Ignored::BadDate {
        value: value.to_owned(),
        error,
    })?;
    let (sent, received) = (nanos(response.sent_at), nanos(response.received_at));
    if received < sent {
        return Err(Ignored::Reversed);
    }
    let generated = i128::from(date.seconds) * SECOND;
    let range = OffsetRange::new(
        generated - received,
        generated + i128::from(date.width) * SECOND - sent,
    )
    // `received >= sent` and a positive width make the range non-empty.
    .ok_or(Ignored::Reversed)?;
    Ok(Measurement {
        range,
        at: received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_sdk::Timestamp;

    const MS: i128 = 1_000_000;

    fn response(status: u16, headers: &[(&str, &str)], sent_ms: i64, received_ms: i64) -> Response {
        let at = |ms: i64| {
            Timestamp::new(
                1_700_000_000 + ms.div_euclid(1_000),
                (ms.rem_euclid(1_000) * 1_000_000) as u32,
            )
        };
        Response {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: Vec::new(),
            sent_at: at(sent_ms),
            received_at: at(received_ms),
        }
    }

    /// 1 700 000 000 s is Tue, 14 Nov 2023 22:13:20 GMT.
    const AT_1_7E9: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

    fn check(response: Response, expect: Result<(i128, i128), Ignored>) {
        let got = judge(&response).map(|m| (m.range.lo() / MS, m.range.hi() / MS));
        assert_eq!(got, expect, "{:?}", response.headers);
    }

    #[test]
    fn offset_range_table() {
        // Host clock right, sent at +0.3 s, back at +0.5 s, Date ...:20:
        // the offset is in [20 − 20.5, 21 − 20.3] s.
        check(
            response(200, &[("Date", AT_1_7E9)], 300, 500),
            Ok((-500, 700)),
        );
        // Host an hour slow: the same exchange an hour earlier by its clock.
        check(
            response(204, &[("date", AT_1_7E9)], 300 - 3_600_000, 500 - 3_600_000),
            Ok((3_599_500, 3_600_700)),
        );
        // An instant exchange: exactly the one-second truncation.
        check(
            response(200, &[("DATE", AT_1_7E9)], 250, 250),
            Ok((-250, 750)),
        );
        // The same Date twice is one Date; Age 0 is a fresh response.
        check(
            response(
                200,
                &[("Date", AT_1_7E9), ("Age", "0"), ("date", AT_1_7E9)],
                0,
                0,
            ),
            Ok((0, 1_000)),
        );
        // A leap second: two seconds wide.
        check(
            response(200, &[("Date", "Sat, 31 Dec 2016 23:59:60 GMT")], 0, 0),
            Ok((
                (1_483_228_799 - 1_700_000_000) * 1_000,
                (1_483_228_801 - 1_700_000_000) * 1_000,
            )),
        );
    }

    #[test]
    fn ignored_answers() {
        check(
            response(
                302,
                &[("Date", AT_1_7E9), ("Location", "http://portal/")],
                0,
                9,
            ),
            Err(Ignored::Status(302)),
        );
        check(
            response(511, &[("Date", AT_1_7E9)], 0, 9),
            Err(Ignored::Status(511)),
        );
        check(
            response(200, &[("Server", "portal")], 0, 9),
            Err(Ignored::NoDate),
        );
        check(
            response(200, &[("Date", "yesterday")], 0, 9),
            Err(Ignored::BadDate {
                value: "yesterday".into(),
                error: DateError::Shape,
            }),
        );
        check(
            response(
                200,
                &[
                    ("Date", AT_1_7E9),
                    ("Date", "Wed, 15 Nov 2023 22:13:20 GMT"),
                ],
                0,
                9,
            ),
            Err(Ignored::ManyDates(2)),
        );
        check(
            response(200, &[("Date", AT_1_7E9), ("Age", "3600")], 0, 9),
            Err(Ignored::Cached("3600".into())),
        );
        check(
            response(200, &[("Date", AT_1_7E9)], 9, 0),
            Err(Ignored::Reversed),
        );
    }
}
