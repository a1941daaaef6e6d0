//! `time-rtc`: the board's battery-backed real-time clock, as the kernel
//! reads it through sysfs (`/sys/class/rtc/rtc0/since_epoch`, granted
//! read-only and seen by the plugin at `/rtc`).
//!
//! The RTC counts whole seconds, so a reading of `v` means the RTC was in
//! `[v, v + 1)`; the RTC itself is only as right as when it was last set,
//! less its drift since. So the answer is `[v − tolerance, v + 1 + tolerance]`
//! with config `tolerance_s` (default 10 s; see plugin.toml for why).
//!
//! # Configuration
//!
//! - `path` (default `/rtc/since_epoch`): the kernel's RTC reading, inside
//!   the fs grant.
//! - `tolerance_s` (default 10): seconds the RTC may be off, each side.
//!
//! No RTC (no file) is `unavailable`, as is an RTC that holds no valid time
//! (the kernel refuses the read) or one that was reset to a date before
//! this plugin existed (its battery ran out). A file that is not one line
//! of Unix seconds is `invalid-input`, naming the file.

mod reading;
mod settings;

use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};
use time_bounds::civil::DateTime;

use settings::Settings;

/// An RTC reading before this (2025-01-01T00:00:00Z) cannot be the time:
/// the RTC was reset, typically to 1970 or 2000 when its battery ran out.
const RESET_BEFORE: i64 = 1_735_689_600;

/// The plugin value: the settings read at creation, or why they are bad.
struct Rtc {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every sample instead.
    settings: Result<Settings>,
}

impl Default for Rtc {
    fn default() -> Self {
        Rtc {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

impl TimeSource for Rtc {
    fn sample(&mut self) -> Result<TimeSample> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let seconds = reading::read(&settings.path)?;
        let shown = settings.path.display();
        if seconds < RESET_BEFORE {
            return Err(PluginError::unavailable(format!(
                "the RTC at '{shown}' reads {}, before {}: it has been reset (a flat battery?)",
                DateTime::from_unix_seconds(seconds),
                DateTime::from_unix_seconds(RESET_BEFORE)
            )));
        }
        Ok(TimeSample::new(
            interval(seconds, settings.tolerance_s),
            format!(
                "RTC reads {} in '{shown}', trusted to {} s",
                DateTime::from_unix_seconds(seconds),
                settings.tolerance_s
            ),
        ))
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map(drop).map_err(Clone::clone)
    }
}

/// `[seconds − tolerance, seconds + 1 + tolerance]`: the reading is
/// truncated to the second, and the RTC may be off by the tolerance.
fn interval(seconds: i64, tolerance_s: i64) -> TimeInterval {
    TimeInterval::between(
        Timestamp::from_unix_seconds(seconds.saturating_sub(tolerance_s)),
        Timestamp::from_unix_seconds(seconds.saturating_add(1).saturating_add(tolerance_s)),
    )
}

osb_sdk::export_plugin!(TimeSource for Rtc);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_covers_truncation_and_tolerance() {
        for (seconds, tolerance, earliest, latest) in [
            (1_780_000_000, 10, 1_779_999_990, 1_780_000_011),
            (1_780_000_000, 0, 1_780_000_000, 1_780_000_001),
            (i64::MAX, 10, i64::MAX - 10, i64::MAX),
        ] {
            let got = interval(seconds, tolerance);
            assert_eq!(got.earliest, Some(Timestamp::from_unix_seconds(earliest)));
            assert_eq!(got.latest, Some(Timestamp::from_unix_seconds(latest)));
        }
    }
}
