//! `Mono`: readings of the clock that carries intervals forward.
//!
//! On Linux this is `CLOCK_BOOTTIME`: monotonic (never stepped, whoever sets
//! the wall clock) and, unlike `CLOCK_MONOTONIC` and `std::time::Instant`,
//! still counting while the device is suspended. An interval carried across
//! a suspend by a clock that stopped would move its upper end too little
//! and could exclude the true time.

use std::time::Duration;

/// A reading of the boot-time clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mono(Duration);

impl Mono {
    /// The clock now.
    pub fn now() -> Mono {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let id = rustix::time::ClockId::Boottime;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let id = rustix::time::ClockId::Monotonic;
        let ts = rustix::time::clock_gettime(id);
        // The kernel keeps both fields non-negative for these clocks.
        Mono(Duration::new(
            u64::try_from(ts.tv_sec).unwrap_or(0),
            u32::try_from(ts.tv_nsec).unwrap_or(0),
        ))
    }

    /// The reading as time since boot.
    pub fn since_boot(self) -> Duration {
        self.0
    }

    /// A reading given by a test.
    pub fn from_duration(since_boot: Duration) -> Mono {
        Mono(since_boot)
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Mono) -> Duration {
        self.0.saturating_sub(earlier.0)
    }

    /// The reading `d` later; at the largest `Duration` rather than
    /// overflowing.
    pub fn saturating_add(self, d: Duration) -> Mono {
        Mono(self.0.saturating_add(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_move_forward() {
        let a = Mono::now();
        let b = Mono::now();
        assert!(b >= a);
        assert_eq!(
            a.since(b.saturating_add(Duration::from_secs(1))),
            Duration::ZERO
        );
    }
}
