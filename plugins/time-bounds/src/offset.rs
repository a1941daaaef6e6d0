//! Offsets of the true time from the host's wall clock, as ranges.
//!
//! Everything is in [`Nanos`], an `i128` of nanoseconds: wide enough that
//! no difference of two [`Timestamp`]s overflows, whatever a server claims.

use std::fmt;

use osb_sdk::{TimeInterval, Timestamp};
use thiserror::Error;

/// Nanoseconds: a point in time since the Unix epoch, or a duration.
pub type Nanos = i128;

/// One second in [`Nanos`].
pub const SECOND: Nanos = 1_000_000_000;

/// How far the host's clock may run from the true rate, in parts per
/// million. A board's uncorrected crystal is within ±100 ppm; 500 ppm is
/// the tolerance NTP itself assumes, so a measured range, widened by this
/// much per second of age, still holds the truth on any sane board.
pub const MAX_DRIFT_PPM: Nanos = 500;

/// The nanoseconds of `time` since the Unix epoch.
pub fn nanos(time: Timestamp) -> Nanos {
    Nanos::from(time.seconds) * SECOND + Nanos::from(time.nanoseconds)
}

/// The timestamp `nanos` after the Unix epoch. Beyond what a
/// [`Timestamp`] holds it saturates, which only weakens a bound: an
/// `earliest` can only move down to the limit, a `latest` only up.
pub fn timestamp(nanos: Nanos) -> Timestamp {
    let seconds = nanos.div_euclid(SECOND);
    match i64::try_from(seconds) {
        // `rem_euclid` of a positive divisor is in 0..SECOND: fits a u32.
        Ok(seconds) => Timestamp::new(seconds, nanos.rem_euclid(SECOND) as u32),
        Err(_) if seconds < 0 => Timestamp::new(i64::MIN, 0),
        Err(_) => Timestamp::new(i64::MAX, 999_999_999),
    }
}

/// How much a range measured `elapsed` ago must widen on each side to
/// still hold the truth, given [`MAX_DRIFT_PPM`]. Rounded up.
pub fn drift_allowance(elapsed: Nanos) -> Nanos {
    let scaled = elapsed.saturating_abs().saturating_mul(MAX_DRIFT_PPM);
    scaled / 1_000_000 + Nanos::from(scaled % 1_000_000 != 0)
}

/// Where the true time lies relative to the host's wall clock: the offset
/// `true − host` is within `[lo, hi]` (never empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    lo: Nanos,
    hi: Nanos,
}

impl OffsetRange {
    /// `[lo, hi]`, or `None` if `lo > hi`: an empty range says the inputs
    /// contradict each other, which the caller must report.
    pub fn new(lo: Nanos, hi: Nanos) -> Option<OffsetRange> {
        (lo <= hi).then_some(OffsetRange { lo, hi })
    }

    /// The lowest offset in the range.
    pub fn lo(self) -> Nanos {
        self.lo
    }

    /// The highest offset in the range.
    pub fn hi(self) -> Nanos {
        self.hi
    }

    /// `hi − lo`.
    pub fn width(self) -> Nanos {
        self.hi - self.lo
    }

    /// Whether `offset` lies in the range (bounds included).
    pub fn contains(self, offset: Nanos) -> bool {
        self.lo <= offset && offset <= self.hi
    }

    /// The offsets in both ranges, or `None` if they do not meet.
    pub fn intersect(self, other: OffsetRange) -> Option<OffsetRange> {
        OffsetRange::new(self.lo.max(other.lo), self.hi.min(other.hi))
    }

    /// The range grown by `by` (taken as a magnitude) on each side.
    pub fn widen(self, by: Nanos) -> OffsetRange {
        let by = by.saturating_abs();
        OffsetRange {
            lo: self.lo.saturating_sub(by),
            hi: self.hi.saturating_add(by),
        }
    }

    /// Where the true time lies when the host's wall clock reads `host_now`.
    pub fn interval_at(self, host_now: Nanos) -> TimeInterval {
        TimeInterval::between(
            timestamp(host_now.saturating_add(self.lo)),
            timestamp(host_now.saturating_add(self.hi)),
        )
    }
}

impl fmt::Display for OffsetRange {
    /// `[-0.012000 s, +0.034000 s]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", Seconds(self.lo), Seconds(self.hi))
    }
}

/// Nanoseconds shown as signed seconds with microseconds, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Nanos);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let micros = self.0.unsigned_abs() / 1_000;
        write!(
            f,
            "{sign}{}.{:06} s",
            micros / 1_000_000,
            micros % 1_000_000
        )
    }
}

/// An offset range as measured when the host's wall clock read `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// The offset range, valid at `at` only: it widens with age.
    pub range: OffsetRange,
    /// The host's wall clock at the measurement, in nanoseconds since the
    /// Unix epoch.
    pub at: Nanos,
}

impl Measurement {
    /// The range still valid when the host's wall clock reads `now`: widened
    /// for the host clock's drift since the measurement, and by `slack`, what
    /// the wall clock may have been stepped by in between (see
    /// [`SampleClock`](crate::SampleClock)).
    pub fn aged(self, now: Nanos, slack: Nanos) -> OffsetRange {
        self.range
            .widen(drift_allowance(now - self.at).saturating_add(slack.saturating_abs()))
    }
}

/// Why repeated measurements of one server give no range.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum RepeatError {
    /// No measurement was given.
    #[error("no measurement")]
    NoMeasurement,
    /// The server's answers cannot all hold the truth: at least one is wrong.
    #[error("its answers contradict each other")]
    Contradictory,
}

/// The offsets that every measurement of one server allows, each aged to
/// `now` (see [`Measurement::aged`]). An honest server's ranges all hold the
/// truth, so their intersection does too, and is narrower than any of them.
pub fn intersect_repeats(
    measurements: &[Measurement],
    now: Nanos,
    slack: Nanos,
) -> Result<OffsetRange, RepeatError> {
    let (first, rest) = measurements
        .split_first()
        .ok_or(RepeatError::NoMeasurement)?;
    rest.iter().try_fold(first.aged(now, slack), |range, next| {
        range
            .intersect(next.aged(now, slack))
            .ok_or(RepeatError::Contradictory)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lo: Nanos, hi: Nanos) -> OffsetRange {
        OffsetRange::new(lo, hi).expect("lo <= hi")
    }

    #[test]
    fn timestamps_round_trip_and_saturate_outwards() {
        for (seconds, nanoseconds) in [(0, 0), (1_700_000_000, 5), (-1, 999_999_999), (-5, 0)] {
            let ts = Timestamp::new(seconds, nanoseconds);
            assert_eq!(timestamp(nanos(ts)), ts, "{seconds} s {nanoseconds} ns");
        }
        assert_eq!(timestamp(-1), Timestamp::new(-1, 999_999_999));
        assert_eq!(timestamp(Nanos::MAX), Timestamp::new(i64::MAX, 999_999_999));
        assert_eq!(timestamp(Nanos::MIN), Timestamp::new(i64::MIN, 0));
    }

    #[test]
    fn drift_allowance_is_500_ppm_rounded_up() {
        for (elapsed, expect) in [
            (0, 0),
            (1, 1),
            (SECOND, 500_000),
            (-SECOND, 500_000),
            (2_000, 1),
            (2_001, 2),
            (Nanos::MAX, Nanos::MAX / 1_000_000 + 1),
        ] {
            assert_eq!(drift_allowance(elapsed), expect, "elapsed {elapsed}");
        }
    }

    #[test]
    fn ranges_intersect_widen_and_refuse_to_be_empty() {
        assert_eq!(OffsetRange::new(2, 1), None);
        assert_eq!(range(0, 10).intersect(range(5, 20)), Some(range(5, 10)));
        assert_eq!(range(0, 10).intersect(range(10, 20)), Some(range(10, 10)));
        assert_eq!(range(0, 10).intersect(range(11, 20)), None);
        assert_eq!(range(0, 10).widen(-3), range(-3, 13));
        assert_eq!(range(0, 10).width(), 10);
        assert!(range(0, 10).contains(10) && !range(0, 10).contains(11));
    }

    #[test]
    fn interval_is_host_now_plus_the_range() {
        let interval = range(-SECOND / 2, 2 * SECOND).interval_at(1_000 * SECOND);
        assert_eq!(interval.earliest, Some(Timestamp::new(999, 500_000_000)));
        assert_eq!(interval.latest, Some(Timestamp::new(1_002, 0)));
    }

    #[test]
    fn repeats_narrow_or_contradict() {
        let at = |lo, hi, at| Measurement {
            range: range(lo, hi),
            at,
        };
        // Measured at `now`: no ageing, plain intersection.
        assert_eq!(
            intersect_repeats(&[at(0, 100, 50), at(40, 200, 50)], 50, 0),
            Ok(range(40, 100))
        );
        // A second old: each side grows by 500 µs before intersecting.
        assert_eq!(
            intersect_repeats(&[at(0, 100, 0)], SECOND, 7),
            Ok(range(-500_007, 500_107))
        );
        assert_eq!(
            intersect_repeats(&[at(0, 100, 50), at(101, 200, 50)], 50, 0),
            Err(RepeatError::Contradictory)
        );
        assert_eq!(
            intersect_repeats(&[], 0, 0),
            Err(RepeatError::NoMeasurement)
        );
    }

    #[test]
    fn seconds_show_sign_and_microseconds() {
        assert_eq!(Seconds(-12_345_678).to_string(), "-0.012345 s");
        assert_eq!(Seconds(3_600 * SECOND).to_string(), "+3600.000000 s");
        assert_eq!(range(-SECOND, 0).to_string(), "[-1.000000 s, +0.000000 s]");
    }
}
