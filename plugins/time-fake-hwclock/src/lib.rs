//! `time-fake-hwclock`: a time source for boards without a battery-backed
//! clock, in the spirit of Debian's `fake-hwclock`.
//!
//! The runtime tells every time source its good time through `observe`,
//! and only once it is synced (an agreement of independent origins); this
//! plugin saves it to a file. After a reboot, `sample`
//! answers the saved time as a lower bound: the true time is at least that,
//! with no upper bound. That alone keeps the clock from starting in 1970 and
//! never moves it backwards, while better sources (NTP, HTTP) narrow it down.
//!
//! # Configuration
//!
//! - `path`: the state file (default `/data/fake-hwclock`), inside an `fs`
//!   grant that is writable, since saving writes `<path>.tmp` beside the file
//!   and renames it over the file.
//!
//! The file is read with the configuration once per plugin instance.
//!
//! # State file format
//!
//! One line: the saved time as whole Unix seconds in decimal, then `\n`
//! (e.g. `1700000000\n`); see [`format`]. Anything else, including an empty
//! file or one without the final newline (a torn write), is rejected as
//! invalid input rather than guessed at.

mod format;
mod settings;
mod store;

use std::time::SystemTime;

use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};

use settings::Settings;
use store::Observed;

/// The plugin value: the settings read at creation, or why they are bad.
struct FakeHwclock {
    // Kept as a `Result` because `Default` cannot fail: a bad `path` is
    // reported by `self_check` and by every call instead.
    settings: Result<Settings>,
}

impl Default for FakeHwclock {
    fn default() -> Self {
        FakeHwclock {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

impl FakeHwclock {
    fn settings(&self) -> Result<&Settings> {
        self.settings.as_ref().map_err(Clone::clone)
    }
}

impl TimeSource for FakeHwclock {
    fn sample(&mut self) -> Result<TimeSample> {
        let settings = self.settings()?;
        let saved = store::read(&settings.path)?;
        let mut detail = format!("saved time {saved} in '{}'", settings.path.display());
        // A saved time ahead of the wall clock is still only a lower bound
        // (the wall clock may be the wrong one after a reboot), but the
        // operator should see it: it can also mean a bad save.
        if let Some(ahead) = seconds_ahead(saved, SystemTime::now().into()) {
            detail.push_str(&format!(", {ahead} s ahead of the wall clock"));
        }
        Ok(TimeSample::new(
            TimeInterval::at_least(Timestamp::from_unix_seconds(saved)),
            detail,
        ))
    }

    fn observe(&mut self, now: Timestamp) -> Result<()> {
        let settings = self.settings()?;
        if now.seconds < 0 {
            return Err(PluginError::invalid_input(format!(
                "observed time {} s is before 1970, not saving it",
                now.seconds
            )));
        }
        // Whole seconds, rounded down: the saved value must stay a lower
        // bound.
        let observed = now.seconds;
        let saved = match store::read(&settings.path) {
            Ok(saved) => Some(saved),
            Err(error) => {
                // Nothing usable to protect: replace it with a good floor.
                osb_sdk::debug!("replacing the saved time: {}", error.message);
                None
            }
        };
        match store::classify(saved, observed) {
            Observed::Later => store::write(&settings.path, observed),
            Observed::Same => Ok(()), // Spare the flash a write.
            Observed::Earlier { saved } => {
                osb_sdk::debug!(
                    "ignoring observed time {observed} s: earlier than the saved {saved} s in '{}'",
                    settings.path.display()
                );
                Ok(())
            }
        }
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings().map(|_| ())
    }
}

/// How many whole seconds `saved` is ahead of `wall`, if it is.
fn seconds_ahead(saved: i64, wall: Timestamp) -> Option<i64> {
    (saved > wall.seconds).then(|| saved.saturating_sub(wall.seconds))
}

osb_sdk::export_plugin!(TimeSource for FakeHwclock);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ahead_only_when_saved_is_later() {
        let wall = Timestamp::new(1_700_000_000, 900_000_000);
        assert_eq!(seconds_ahead(1_700_000_100, wall), Some(100));
        assert_eq!(seconds_ahead(1_700_000_000, wall), None);
        assert_eq!(seconds_ahead(1_600_000_000, wall), None);
    }
}
