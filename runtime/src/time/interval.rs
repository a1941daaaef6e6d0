//! `Interval`: where the true time lies, `[earliest, latest]`, either end
//! possibly unbounded, and how an interval ages as time passes.
//!
//! Every time source answers an interval, never an instant; the service
//! only ever narrows (fusion) or widens (call duration, drift) them, so an
//! honest interval stays honest.

use std::time::Duration;

use super::utc::{TimestampError, UtcTime, duration_from_nanos};
use osb_plugin_host::wit::latest::TimeInterval;

/// `[earliest, latest]`, closed; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Interval {
    earliest: Option<UtcTime>,
    latest: Option<UtcTime>,
}

/// A plugin answer that is not an interval.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntervalError {
    /// Both ends given, the lower one after the upper one.
    #[error("earliest {earliest} is after latest {latest}")]
    Inverted {
        /// The lower end given.
        earliest: UtcTime,
        /// The upper end given, before `earliest`.
        latest: UtcTime,
    },
    /// An end's nanoseconds are 10^9 or more.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
}

/// Parts per million of elapsed time.
const PPM: u128 = 1_000_000;

impl Interval {
    /// Refused when `earliest` is after `latest`.
    pub fn new(earliest: Option<UtcTime>, latest: Option<UtcTime>) -> Result<Self, IntervalError> {
        if let (Some(earliest), Some(latest)) = (earliest, latest)
            && earliest > latest
        {
            return Err(IntervalError::Inverted { earliest, latest });
        }
        Ok(Interval { earliest, latest })
    }

    /// `[earliest, latest]`; callers pass `earliest <= latest`, and a
    /// swapped pair is put in order rather than trusted.
    pub fn between(a: UtcTime, b: UtcTime) -> Self {
        Interval {
            earliest: Some(a.min(b)),
            latest: Some(a.max(b)),
        }
    }

    /// `[t, +inf)`: a lower bound only.
    pub fn at_least(t: UtcTime) -> Self {
        Interval {
            earliest: Some(t),
            latest: None,
        }
    }

    /// `(-inf, +inf)`: says nothing.
    pub fn unbounded() -> Self {
        Interval {
            earliest: None,
            latest: None,
        }
    }

    /// A plugin's answer, checked.
    pub fn from_wit(i: &TimeInterval) -> Result<Self, IntervalError> {
        let earliest = i.earliest.map(UtcTime::from_timestamp).transpose()?;
        let latest = i.latest.map(UtcTime::from_timestamp).transpose()?;
        Interval::new(earliest, latest)
    }

    /// The lower end; `None` when unbounded below.
    pub fn earliest(&self) -> Option<UtcTime> {
        self.earliest
    }

    /// The upper end; `None` when unbounded above.
    pub fn latest(&self) -> Option<UtcTime> {
        self.latest
    }

    /// Bounded on both sides: only such an answer votes in the fusion.
    pub fn is_bounded(&self) -> bool {
        self.earliest.is_some() && self.latest.is_some()
    }

    /// `latest - earliest`; `None` when unbounded.
    pub fn width(&self) -> Option<Duration> {
        let (a, b) = (self.earliest?, self.latest?);
        Some(duration_from_nanos(b.nanos_since(a)))
    }

    /// The error bound of the midpoint: half the width, rounded up. This is
    /// what `synced_max_error` and `coarse_max_error` are compared with.
    pub fn error_bound(&self) -> Option<Duration> {
        let (a, b) = (self.earliest?, self.latest?);
        Some(duration_from_nanos((b.nanos_since(a) + 1) / 2))
    }

    /// The best single estimate: the middle; `None` when unbounded.
    pub fn midpoint(&self) -> Option<UtcTime> {
        let (a, b) = (self.earliest?, self.latest?);
        Some(a.saturating_add(b.nanos_since(a) / 2))
    }

    /// Whether `t` is in it, ends included.
    pub fn contains(&self, t: UtcTime) -> bool {
        self.earliest.is_none_or(|a| a <= t) && self.latest.is_none_or(|b| t <= b)
    }

    /// The common part, if any (closed: touching ends share a point).
    pub fn intersect(&self, other: &Interval) -> Option<Interval> {
        let earliest = max_bound(self.earliest, other.earliest);
        let latest = min_bound(self.latest, other.latest);
        Interval::new(earliest, latest).ok()
    }

    /// The smallest interval holding both: what is left of two statements
    /// that contradict when neither can be told from a liar (the true time
    /// is in whichever is honest). Unbounded on a side where either is.
    pub fn hull(&self, other: &Interval) -> Interval {
        Interval {
            earliest: self.earliest.zip(other.earliest).map(|(a, b)| a.min(b)),
            latest: self.latest.zip(other.latest).map(|(a, b)| a.max(b)),
        }
    }

    /// A sample is taken somewhere during the plugin call: by the time the
    /// call returns, the true time may be up to the call's duration later.
    pub fn widen_latest(self, by: Duration) -> Interval {
        Interval {
            earliest: self.earliest,
            latest: self.latest.map(|b| b.saturating_add_duration(by)),
        }
    }

    /// The interval `elapsed` later by a clock that may be off by up to
    /// `drift_ppm`: both ends move forward by `elapsed`, and apart by the
    /// drift allowance (rounded up), so a true statement stays true.
    pub fn aged(self, elapsed: Duration, drift_ppm: u32) -> Interval {
        let drift = drift_allowance(elapsed, drift_ppm);
        Interval {
            earliest: self.earliest.map(|a| {
                a.saturating_add_duration(elapsed)
                    .saturating_sub_duration(drift)
            }),
            latest: self.latest.map(|b| {
                b.saturating_add_duration(elapsed)
                    .saturating_add_duration(drift)
            }),
        }
    }
}

/// How far a clock off by `ppm` can have gone wrong over `elapsed`.
pub fn drift_allowance(elapsed: Duration, ppm: u32) -> Duration {
    let nanos = elapsed
        .as_nanos()
        .saturating_mul(u128::from(ppm))
        .div_ceil(PPM);
    duration_from_nanos(i128::try_from(nanos).unwrap_or(i128::MAX))
}

fn max_bound(a: Option<UtcTime>, b: Option<UtcTime>) -> Option<UtcTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn min_bound(a: Option<UtcTime>, b: Option<UtcTime>) -> Option<UtcTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use osb_plugin_host::wit::latest::Timestamp;

    fn t(s: i64) -> UtcTime {
        UtcTime::from_unix_seconds(s)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn width_error_bound_and_midpoint() {
        // (interval, width, error bound, midpoint)
        let cases = [
            (
                Interval::between(t(10), t(12)),
                Some(ms(2000)),
                Some(ms(1000)),
                Some(t(11)),
            ),
            (
                Interval::between(t(10), t(10)),
                Some(ms(0)),
                Some(ms(0)),
                Some(t(10)),
            ),
            (Interval::at_least(t(10)), None, None, None),
            (Interval::unbounded(), None, None, None),
        ];
        for (i, width, error, mid) in cases {
            assert_eq!(
                (i.width(), i.error_bound(), i.midpoint()),
                (width, error, mid),
                "{i:?}"
            );
        }
        // An odd nanosecond width rounds the error bound up, never down.
        let odd = Interval::between(UtcTime::from_unix_nanos(0), UtcTime::from_unix_nanos(3));
        assert_eq!(odd.error_bound(), Some(Duration::from_nanos(2)));
    }

    #[test]
    fn plugin_answers_are_checked() {
        let ts = |seconds, nanoseconds| Timestamp {
            seconds,
            nanoseconds,
        };
        let ok = TimeInterval {
            earliest: Some(ts(10, 0)),
            latest: None,
        };
        assert_eq!(Interval::from_wit(&ok), Ok(Interval::at_least(t(10))));
        let inverted = TimeInterval {
            earliest: Some(ts(12, 0)),
            latest: Some(ts(10, 0)),
        };
        let e = Interval::from_wit(&inverted).unwrap_err().to_string();
        assert!(e.contains("after"), "{e}");
        let bad_nanos = TimeInterval {
            earliest: None,
            latest: Some(ts(10, 2_000_000_000)),
        };
        assert!(matches!(
            Interval::from_wit(&bad_nanos),
            Err(IntervalError::Timestamp(_))
        ));
    }

    #[test]
    fn aging_moves_both_ends_and_widens_by_the_drift() {
        let hour = Duration::from_secs(3600);
        // (interval, elapsed, ppm, expected)
        let cases = [
            (
                Interval::between(t(100), t(101)),
                hour,
                0,
                Interval::between(t(3700), t(3701)),
            ),
            (
                Interval::between(t(100), t(101)),
                hour,
                100,
                // 100 ppm of an hour is 360 ms each side.
                Interval::between(
                    t(3700).saturating_sub_duration(ms(360)),
                    t(3701).saturating_add_duration(ms(360)),
                ),
            ),
            (
                Interval::at_least(t(100)),
                hour,
                100,
                Interval::at_least(t(3700).saturating_sub_duration(ms(360))),
            ),
            (Interval::unbounded(), hour, 100, Interval::unbounded()),
        ];
        for (i, elapsed, ppm, expect) in cases {
            assert_eq!(
                i.aged(elapsed, ppm),
                expect,
                "{i:?} + {elapsed:?} at {ppm} ppm"
            );
        }
        // A nanosecond at 1 ppm still widens: the allowance rounds up.
        assert_eq!(
            drift_allowance(Duration::from_nanos(1), 1),
            Duration::from_nanos(1)
        );
    }

    #[test]
    fn the_call_duration_widens_only_the_upper_end() {
        let i = Interval::between(t(10), t(11)).widen_latest(ms(250));
        assert_eq!(i.earliest(), Some(t(10)));
        assert_eq!(i.latest(), Some(t(11).saturating_add_duration(ms(250))));
        let floor = Interval::at_least(t(10)).widen_latest(ms(250));
        assert_eq!(floor, Interval::at_least(t(10)));
    }

    #[test]
    fn intersections_and_containment() {
        let a = Interval::between(t(0), t(10));
        let cases = [
            (
                Interval::between(t(5), t(20)),
                Some(Interval::between(t(5), t(10))),
            ),
            (
                Interval::between(t(10), t(20)),
                Some(Interval::between(t(10), t(10))),
            ),
            (Interval::between(t(11), t(20)), None),
            (
                Interval::at_least(t(3)),
                Some(Interval::between(t(3), t(10))),
            ),
            (Interval::unbounded(), Some(a)),
        ];
        for (b, expect) in cases {
            assert_eq!(a.intersect(&b), expect, "{b:?}");
        }
        assert!(a.contains(t(0)) && a.contains(t(10)) && !a.contains(t(11)));
        // (other, hull with a)
        let hulls = [
            (
                Interval::between(t(20), t(30)),
                Interval::between(t(0), t(30)),
            ),
            (Interval::between(t(2), t(3)), a),
            (Interval::at_least(t(20)), Interval::at_least(t(0))),
            (Interval::at_least(t(-5)), Interval::at_least(t(-5))),
            (Interval::unbounded(), Interval::unbounded()),
        ];
        for (b, expect) in hulls {
            assert_eq!((a.hull(&b), b.hull(&a)), (expect, expect), "{b:?}");
        }
        assert!(Interval::at_least(t(5)).contains(t(1_000_000)));
        assert!(!Interval::at_least(t(5)).contains(t(4)));
    }
}
