//! The plausible range: from the runtime's own build time to that plus
//! `time.plausible_span_days`. Whatever a source says, the true time is
//! not before the runtime was built (nothing runs before it is built), and
//! a device is not expected to run one runtime build for longer than the
//! span. So a source cannot claim year 9999, nor 1970.
//!
//! - An answer entirely outside the range is **implausible**: refused,
//!   and named.
//! - An answer partly outside is **clipped** to it: only the ends the
//!   source gave move. An unbounded end stays unbounded, so clipping never
//!   turns a lower bound, which is no vote, into a bounded answer, which
//!   is one.
//! - The range's lower end is a lower bound the service always applies
//!   itself (not a plugin): the estimate is never below it.
//!
//! The build time is embedded at compile time (`build.rs`, honouring
//! `SOURCE_DATE_EPOCH`).

use std::time::Duration;

use serde::Serialize;

use super::interval::Interval;
use super::utc::UtcTime;

include!(concat!(env!("OUT_DIR"), "/build_time.rs"));

/// When this runtime was built.
pub fn runtime_build_time() -> UtcTime {
    UtcTime::from_unix_seconds(RUNTIME_BUILD_UNIX_SECONDS)
}

/// `[earliest, latest]`, both bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Plausible {
    earliest: UtcTime,
    latest: UtcTime,
}

/// An answer measured against the range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Inside, as given.
    Inside(Interval),
    /// Partly outside: the given ends moved into the range.
    Clipped(Interval),
    /// Entirely outside: no point of it is plausible.
    Outside,
}

impl Plausible {
    /// From `built` to `span` later.
    pub fn new(built: UtcTime, span: Duration) -> Plausible {
        Plausible {
            earliest: built,
            latest: built.saturating_add_duration(span),
        }
    }

    /// The build time it was made from: nothing earlier is plausible.
    pub fn earliest(&self) -> UtcTime {
        self.earliest
    }

    /// The end of the plausible span after the build time.
    pub fn latest(&self) -> UtcTime {
        self.latest
    }

    /// `[earliest, +inf)`: the lower bound the service always applies.
    pub fn floor(&self) -> Interval {
        Interval::at_least(self.earliest)
    }

    /// `answer` against the range.
    pub fn check(&self, answer: &Interval) -> Checked {
        let below = answer.latest().is_some_and(|b| b < self.earliest);
        let above = answer.earliest().is_some_and(|a| a > self.latest);
        if below || above {
            return Checked::Outside;
        }
        let earliest = answer.earliest().map(|a| a.max(self.earliest));
        let latest = answer.latest().map(|b| b.min(self.latest));
        if (earliest, latest) == (answer.earliest(), answer.latest()) {
            return Checked::Inside(*answer);
        }
        // Not inverted: each end stays on its side of the other (the
        // answer meets the range, so a raised earliest is at most latest).
        match Interval::new(earliest, latest) {
            Ok(clipped) => Checked::Clipped(clipped),
            Err(_) => Checked::Outside,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> UtcTime {
        UtcTime::from_unix_seconds(s)
    }

    #[test]
    fn answers_against_the_range() {
        // The range is [100, 200].
        let range = Plausible::new(t(100), Duration::from_secs(100));
        let cases = [
            (
                Interval::between(t(120), t(130)),
                Checked::Inside(Interval::between(t(120), t(130))),
            ),
            (
                Interval::between(t(100), t(200)),
                Checked::Inside(Interval::between(t(100), t(200))),
            ),
            (
                Interval::between(t(50), t(130)),
                Checked::Clipped(Interval::between(t(100), t(130))),
            ),
            (
                Interval::between(t(150), t(900)),
                Checked::Clipped(Interval::between(t(150), t(200))),
            ),
            (
                Interval::between(t(0), t(900)),
                Checked::Clipped(Interval::between(t(100), t(200))),
            ),
            // Stuck before the build, or far in the future.
            (Interval::between(t(10), t(99)), Checked::Outside),
            (Interval::between(t(201), t(202)), Checked::Outside),
            // Touching the range is inside it: intervals are closed.
            (
                Interval::between(t(10), t(100)),
                Checked::Clipped(Interval::between(t(100), t(100))),
            ),
            // A lower bound stays one: its open end is not capped.
            (
                Interval::at_least(t(150)),
                Checked::Inside(Interval::at_least(t(150))),
            ),
            (
                Interval::at_least(t(50)),
                Checked::Clipped(Interval::at_least(t(100))),
            ),
            (Interval::at_least(t(201)), Checked::Outside),
            (Interval::new(None, Some(t(50))).unwrap(), Checked::Outside),
            (
                Interval::unbounded(),
                Checked::Inside(Interval::unbounded()),
            ),
        ];
        for (answer, expect) in cases {
            assert_eq!(range.check(&answer), expect, "{answer:?}");
        }
        assert_eq!(range.floor(), Interval::at_least(t(100)));
    }

    #[test]
    fn the_build_time_is_embedded() {
        let built = runtime_build_time();
        match option_env!("SOURCE_DATE_EPOCH") {
            Some(epoch) => assert_eq!(Ok(built), epoch.trim().parse().map(t)),
            // The build machine's clock: after this test was written, and
            // not after now.
            None => assert!(
                built > t(1_704_067_200) && built <= UtcTime::now_system(),
                "{built}"
            ),
        }
    }
}
