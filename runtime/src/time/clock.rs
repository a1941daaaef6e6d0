//! The clock the service owns, behind one of two backends:
//!
//! - `virtual` (default): the system clock is left alone; the service keeps
//!   an offset, and its "now" is the system time plus that offset. For
//!   development and tests, and for devices whose clock something else
//!   sets.
//! - `system`: the service steps `CLOCK_REALTIME` itself. Only when the
//!   device config says so: stepping the wall clock changes what every
//!   process on the device sees.
//!
//! Both follow the same rule ([`correction`]): a clock inside the current
//! interval is left where it is (no jitter from round to round); a clock
//! outside is moved to the midpoint, or to the violated end when the
//! interval is unbounded on the other side (a lower bound only: the clock
//! is moved up to it, never guessed beyond).
//!
//! **Architecture invariant:** plugins never set the clock; only this
//! module does, and the `system` backend only when configured.

use serde::{Deserialize, Serialize};

use super::interval::Interval;
use super::utc::UtcTime;

/// Which backend, as the device config names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockKind {
    /// The system clock left alone; the service keeps an offset to it.
    #[default]
    Virtual,
    /// The service steps `CLOCK_REALTIME` (needs `CAP_SYS_TIME`).
    System,
}

impl ClockKind {
    /// As the device config spells it: `virtual`, `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::Virtual => "virtual",
            ClockKind::System => "system",
        }
    }
}

/// Where a clock reading `now` must go for `interval`, if anywhere.
pub fn correction(now: UtcTime, interval: &Interval) -> Option<UtcTime> {
    if interval.contains(now) {
        return None;
    }
    interval
        .midpoint()
        .or(match (interval.earliest(), interval.latest()) {
            (Some(earliest), _) if now < earliest => Some(earliest),
            (_, Some(latest)) if now > latest => Some(latest),
            _ => None,
        })
}

/// A move of the clock, for logs and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockStep {
    /// The clock's reading before the move.
    pub from: UtcTime,
    /// Where it was moved to: `to - from` is the move.
    pub to: UtcTime,
}

impl ClockStep {
    /// `to - from` in nanoseconds.
    pub fn by_nanos(&self) -> i128 {
        self.to.nanos_since(self.from)
    }
}

/// Why the clock was not moved.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    /// `clock_adjtime` refused the step: most often the process lacks
    /// `CAP_SYS_TIME`, or the offset does not fit the kernel's types.
    #[error("cannot step the system clock to {to}: {source}")]
    Step {
        /// Where the clock was to go.
        to: UtcTime,
        /// From `clock_adjtime`.
        #[source]
        source: std::io::Error,
    },
}

/// The system time plus an offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtualClock {
    offset_nanos: i128,
}

impl VirtualClock {
    /// The virtual time minus the system time, in nanoseconds.
    pub fn offset_nanos(&self) -> i128 {
        self.offset_nanos
    }

    /// The virtual time when the system clock reads `system`.
    pub fn now(&self, system: UtcTime) -> UtcTime {
        system.saturating_add(self.offset_nanos)
    }

    /// Follows `interval` given the system time: no offset at all when the
    /// system clock is inside it (whoever set it, it is right), the offset
    /// kept while the virtual time is inside, else a new one.
    pub fn follow(&mut self, system: UtcTime, interval: &Interval) -> Option<ClockStep> {
        let from = self.now(system);
        let offset = if interval.contains(system) {
            0
        } else {
            match correction(from, interval) {
                None => self.offset_nanos,
                Some(to) => to.nanos_since(system),
            }
        };
        if offset == self.offset_nanos {
            return None;
        }
        self.offset_nanos = offset;
        Some(ClockStep {
            from,
            to: self.now(system),
        })
    }
}

/// A backend with its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// See [`ClockKind::Virtual`].
    Virtual(VirtualClock),
    /// See [`ClockKind::System`]; the state is the kernel's.
    System,
}

impl Clock {
    /// A backend of `kind`; a virtual one starts with no offset.
    pub fn new(kind: ClockKind) -> Clock {
        match kind {
            ClockKind::Virtual => Clock::Virtual(VirtualClock::default()),
            ClockKind::System => Clock::System,
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> ClockKind {
        match self {
            Clock::Virtual(_) => ClockKind::Virtual,
            Clock::System => ClockKind::System,
        }
    }

    /// The clock's time now.
    pub fn now(&self) -> UtcTime {
        let system = UtcTime::now_system();
        match self {
            Clock::Virtual(v) => v.now(system),
            Clock::System => system,
        }
    }

    /// The clock minus the system clock: the virtual offset, zero for the
    /// system backend (it moves the system clock itself).
    pub fn offset_nanos(&self) -> i128 {
        match self {
            Clock::Virtual(v) => v.offset_nanos(),
            Clock::System => 0,
        }
    }

    /// Moves the clock into `interval` if it is outside, given the system
    /// clock's reading `system` at the moment `interval` is for. The
    /// `system` backend steps the real clock by the difference (it needs
    /// `CAP_SYS_TIME`).
    pub fn follow(
        &mut self,
        system: UtcTime,
        interval: &Interval,
    ) -> Result<Option<ClockStep>, ClockError> {
        match self {
            Clock::Virtual(v) => Ok(v.follow(system, interval)),
            Clock::System => {
                let Some(to) = correction(system, interval) else {
                    return Ok(None);
                };
                let by = step_system_clock(to.nanos_since(system))
                    .map_err(|source| ClockError::Step { to, source })?;
                Ok(Some(ClockStep {
                    from: system,
                    to: system.saturating_add(by),
                }))
            }
        }
    }
}

/// Moves `CLOCK_REALTIME` by `by_nanos`, rounded to whole microseconds away
/// from zero (a clock moved up to a lower bound lands on or past it, one
/// moved down to an upper bound on or before it); returns the move made.
///
/// The kernel adds the offset to the clock's value at the moment it applies
/// it (`clock_adjtime` with `ADJ_SETOFFSET`), so however long this thread
/// waits between the reading and the call, nothing is lost. Setting an
/// absolute time instead (`clock_settime`) leaves the clock behind by that
/// wait, and a preempted thread waits milliseconds. rustix, used for the
/// other clock calls, has no `clock_adjtime`: this one call goes through
/// libc.
fn step_system_clock(by_nanos: i128) -> std::io::Result<i128> {
    let micros = micros_away_from_zero(by_nanos);
    let (seconds, micros_in_second) = kernel_offset(micros);
    let out_of_range = |_| std::io::Error::from(std::io::ErrorKind::InvalidInput);
    let tv_sec = libc::time_t::try_from(seconds).map_err(out_of_range)?;
    let tv_usec = libc::suseconds_t::try_from(micros_in_second).map_err(out_of_range)?;
    // SAFETY: `timex` is plain data for which all zeroes is a valid value
    // (no mode set); only the fields ADJ_SETOFFSET reads are filled in.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = libc::ADJ_SETOFFSET;
    tx.time = libc::timeval { tv_sec, tv_usec };
    // SAFETY: `tx` is a valid `timex`, borrowed exclusively for the call.
    if unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &mut tx) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(micros * 1_000)
}

fn micros_away_from_zero(nanos: i128) -> i128 {
    if nanos >= 0 {
        (nanos + 999) / 1_000
    } else {
        nanos.div_euclid(1_000)
    }
}

/// An offset in microseconds as the kernel takes it: whole seconds, signed,
/// and microseconds in `[0, 1e6)` (-1 us is -1 s + 999,999 us).
fn kernel_offset(micros: i128) -> (i128, i128) {
    (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    fn t(s: i128) -> UtcTime {
        UtcTime::from_unix_nanos(1_700_000_000 * S + s * S)
    }

    #[test]
    fn a_step_rounds_to_microseconds_towards_the_bound_it_goes_to() {
        // (nanoseconds, microseconds, as the kernel takes them)
        let cases = [
            (0, 0, (0, 0)),
            (1, 1, (0, 1)),
            (999, 1, (0, 1)),
            (1_000, 1, (0, 1)),
            (1_001, 2, (0, 2)),
            (1_500_000_000, 1_500_000, (1, 500_000)),
            (-1, -1, (-1, 999_999)),
            (-1_000, -1, (-1, 999_999)),
            (-1_001, -2, (-1, 999_998)),
            (-2_000_000_000, -2_000_000, (-2, 0)),
        ];
        for (nanos, micros, kernel) in cases {
            assert_eq!(micros_away_from_zero(nanos), micros, "{nanos} ns");
            assert_eq!(kernel_offset(micros), kernel, "{micros} us");
        }
    }

    #[test]
    fn correction_table() {
        let i = Interval::between(t(10), t(20));
        // (clock, interval, where it must go)
        let cases = [
            (t(15), i, None),
            (t(10), i, None),
            (t(20), i, None),
            (t(0), i, Some(t(15))),
            (t(100), i, Some(t(15))),
            (t(0), Interval::at_least(t(10)), Some(t(10))),
            (t(100), Interval::at_least(t(10)), None),
            (
                t(100),
                Interval::new(None, Some(t(20))).unwrap(),
                Some(t(20)),
            ),
            (t(0), Interval::unbounded(), None),
        ];
        for (now, interval, expect) in cases {
            assert_eq!(correction(now, &interval), expect, "{now} in {interval:?}");
        }
    }

    #[test]
    fn virtual_offset_follows_the_interval() {
        let mut v = VirtualClock::default();
        // The system clock is far behind: the virtual time goes to the middle.
        let step = v.follow(t(-1000), &Interval::between(t(10), t(20)));
        assert_eq!(step.map(|s| (s.from, s.to)), Some((t(-1000), t(15))));
        assert_eq!(v.offset_nanos(), 1015 * S);
        assert_eq!(v.now(t(-1000)), t(15));
        // A slightly different interval still holding the virtual time: kept.
        assert_eq!(v.follow(t(-1000), &Interval::between(t(12), t(22))), None);
        assert_eq!(v.offset_nanos(), 1015 * S);
        // The interval moved away from the virtual time: re-centred.
        let step = v.follow(t(-1000), &Interval::between(t(30), t(40)));
        assert_eq!(step.map(|s| s.by_nanos()), Some(20 * S));
        assert_eq!(v.now(t(-1000)), t(35));
        // The system clock was set right by someone: no offset any more.
        let step = v.follow(t(36), &Interval::between(t(30), t(40)));
        assert_eq!(step.map(|s| (s.from, s.to)), Some((t(36 + 1035), t(36))));
        assert_eq!(v.offset_nanos(), 0);
        // A lower bound only: moved up to it, not beyond.
        let mut v = VirtualClock::default();
        v.follow(t(0), &Interval::at_least(t(50)));
        assert_eq!(v.now(t(0)), t(50));
    }
}
