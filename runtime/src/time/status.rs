//! From an interval to the state the service publishes: `unsynced`,
//! `coarse` or `synced` ([`TimeStatus`], which the planner gates blocks on).
//!
//! The error bound compared with the thresholds is half the interval's
//! width: the farthest the midpoint can be from the true time. An interval
//! unbounded on either side has no error bound and is `unsynced`.

use std::time::Duration;

use super::interval::Interval;
use osb_state::TimeStatus;

/// The error bounds of `synced` and `coarse`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// `synced` at or below this error bound.
    pub synced_max_error: Duration,
    /// `coarse` at or below this (and above `synced_max_error`); above it,
    /// `unsynced`.
    pub coarse_max_error: Duration,
}

impl Thresholds {
    /// The state of the clock when the true time is known to lie in
    /// `interval` (`None`: nothing known).
    pub fn classify(&self, interval: Option<&Interval>) -> TimeStatus {
        match interval.and_then(Interval::error_bound) {
            Some(e) if e <= self.synced_max_error => TimeStatus::Synced,
            Some(e) if e <= self.coarse_max_error => TimeStatus::Coarse,
            _ => TimeStatus::Unsynced,
        }
    }
}

/// A state by the name the service gives it (`unsynced`, `coarse`,
/// `synced`).
pub fn parse_status(name: &str) -> Option<TimeStatus> {
    [TimeStatus::Unsynced, TimeStatus::Coarse, TimeStatus::Synced]
        .into_iter()
        .find(|s| s.as_str() == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::utc::UtcTime;

    #[test]
    fn thresholds_table() {
        let th = Thresholds {
            synced_max_error: Duration::from_millis(250),
            coarse_max_error: Duration::from_secs(60),
        };
        let t = |ms: i128| UtcTime::from_unix_nanos(1_700_000_000_000_000_000 + ms * 1_000_000);
        // (interval, state): error bound = half the width.
        let cases = [
            (Some(Interval::between(t(0), t(0))), TimeStatus::Synced),
            (Some(Interval::between(t(0), t(500))), TimeStatus::Synced),
            (Some(Interval::between(t(0), t(501))), TimeStatus::Coarse),
            // An HTTP Date: one second of resolution plus the round trip.
            (Some(Interval::between(t(0), t(1003))), TimeStatus::Coarse),
            (
                Some(Interval::between(t(0), t(120_000))),
                TimeStatus::Coarse,
            ),
            (
                Some(Interval::between(t(0), t(120_001))),
                TimeStatus::Unsynced,
            ),
            (Some(Interval::at_least(t(0))), TimeStatus::Unsynced),
            (Some(Interval::unbounded()), TimeStatus::Unsynced),
            (None, TimeStatus::Unsynced),
        ];
        for (interval, expect) in cases {
            assert_eq!(th.classify(interval.as_ref()), expect, "{interval:?}");
        }
    }

    #[test]
    fn states_parse_by_name() {
        for s in [TimeStatus::Unsynced, TimeStatus::Coarse, TimeStatus::Synced] {
            assert_eq!(parse_status(s.as_str()), Some(s));
        }
        assert_eq!(parse_status("Synced"), None);
    }
}
