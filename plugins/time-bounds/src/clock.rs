//! The host's clocks over one sample.
//!
//! Offsets are measured against the host's wall clock and turned into an
//! interval with the same wall clock when the sample answers. If the wall
//! clock is stepped in between (the runtime owns it and may set it at any
//! moment), an offset measured before the step is wrong by the step. The
//! monotonic clock is never stepped, so comparing how far each advanced
//! over the sample shows the step; a small one is absorbed by widening
//! every range by it, a large one makes the sample worthless.

use std::time::{Instant, SystemTime};

use thiserror::Error;

use crate::offset::{self, Nanos, SECOND, drift_allowance};

/// A step of the wall clock larger than this fails the sample rather than
/// widening its answer by that much.
pub const MAX_STEP: Nanos = SECOND;

/// How far apart two readings of the clocks may be taken.
const READ_GAP: Nanos = 1_000_000;

/// Both clocks when a sample started.
#[derive(Debug, Clone, Copy)]
pub struct SampleClock {
    wall: Nanos,
    mono: Instant,
}

/// The wall clock when the sample answers, and by how much it may have
/// been stepped since the sample started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The host's wall clock now.
    pub now: Nanos,
    /// Widen every measured range by this much (see
    /// [`Measurement::aged`](crate::Measurement::aged)).
    pub slack: Nanos,
}

/// The wall clock moved by more than [`MAX_STEP`] against the monotonic
/// clock during the sample.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
#[error(
    "the host clock was stepped by {} during the sample; its measurements are void",
    offset::Seconds(*step)
)]
pub struct ClockStepped {
    /// How far the wall clock moved beyond the monotonic clock's advance;
    /// negative when it was stepped back.
    pub step: Nanos,
}

impl SampleClock {
    /// Reads both clocks.
    pub fn start() -> SampleClock {
        SampleClock {
            wall: wall_now(),
            mono: Instant::now(),
        }
    }

    /// The wall clock now, with how far it strayed from the monotonic one
    /// since [`start`](SampleClock::start).
    pub fn settle(&self) -> Result<Settled, ClockStepped> {
        let mono = Nanos::try_from(self.mono.elapsed().as_nanos()).unwrap_or(Nanos::MAX);
        settle(self.wall, mono, wall_now())
    }
}

/// The host's wall clock, in nanoseconds since the Unix epoch.
pub fn wall_now() -> Nanos {
    offset::nanos(SystemTime::now().into())
}

/// What [`SampleClock::settle`] decides from the wall clock at the start,
/// the monotonic time elapsed, and the wall clock now.
fn settle(
    wall_start: Nanos,
    mono_elapsed: Nanos,
    wall_now: Nanos,
) -> Result<Settled, ClockStepped> {
    let step = wall_now
        .saturating_sub(wall_start)
        .saturating_sub(mono_elapsed);
    if step.saturating_abs() > MAX_STEP {
        return Err(ClockStepped { step });
    }
    // Part of the difference is not a step: the clocks tick at slightly
    // different rates, and each pair of readings is two calls apart, so a
    // step can also hide behind a delay between them. The slack covers the
    // rates, and READ_GAP the readings unless the guest is descheduled
    // between two of them for longer.
    Ok(Settled {
        now: wall_now,
        slack: step.saturating_abs() + drift_allowance(mono_elapsed) + READ_GAP,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_widen_or_void_the_sample() {
        let start = 1_700_000_000 * SECOND;
        // Both clocks advanced 0.2 s: only drift and read slack.
        assert_eq!(
            settle(start, SECOND / 5, start + SECOND / 5),
            Ok(Settled {
                now: start + SECOND / 5,
                slack: 100_000 + READ_GAP
            })
        );
        // Stepped back 30 ms: every range widens by that too.
        let settled = settle(start, SECOND / 5, start + SECOND / 5 - 30_000_000).unwrap();
        assert_eq!(settled.slack, 30_000_000 + 100_000 + READ_GAP);
        // Stepped forward a minute: void.
        assert_eq!(
            settle(start, SECOND / 5, start + 60 * SECOND + SECOND / 5),
            Err(ClockStepped { step: 60 * SECOND })
        );
        assert!(settle(start, 0, start - 2 * SECOND).is_err());
    }

    #[test]
    fn a_real_sample_settles_with_little_slack() {
        let clock = SampleClock::start();
        let settled = clock.settle().expect("nothing steps the clock in a test");
        assert!(settled.slack < MAX_STEP, "{settled:?}");
    }
}
