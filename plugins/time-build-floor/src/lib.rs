//! `time-build-floor`: the OS release's build time as a lower bound.
//!
//! Nothing built into a release can run before the release was built, so
//! the true time is at least its build time: `[build time, ∞)`. That alone
//! keeps a board without a battery-backed clock from believing it is 1970
//! (and refusing every TLS certificate), while better sources narrow the
//! time down. The upper side is unbounded: a device may run a release for
//! years.
//!
//! # Configuration
//!
//! - `build_time`: Unix seconds or an RFC 3339 time (see `build_time.rs`).
//! - `path` (default `/release/build-time`): otherwise, a file holding one
//!   such value, written by the OS image build, read through a read-only
//!   `fs` grant. Either way the value is checked when the plugin starts, or
//!   at each sample for the file.

mod build_time;
mod settings;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};
use time_bounds::civil::DateTime;

use settings::Source;

/// A build-time file longer than this is not one line holding a time.
const MAX_FILE_LEN: u64 = 64;

/// The plugin value: where the build time comes from, or why the settings
/// are bad.
struct BuildFloor {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every sample instead.
    source: Result<Source>,
}

impl Default for BuildFloor {
    fn default() -> Self {
        BuildFloor {
            source: Source::from_lookup(osb_sdk::config::get),
        }
    }
}

impl TimeSource for BuildFloor {
    fn sample(&mut self) -> Result<TimeSample> {
        let (seconds, from) = match self.source.as_ref().map_err(Clone::clone)? {
            Source::Config(seconds) => (*seconds, "config 'build_time'".to_owned()),
            Source::File(path) => (read(path)?, format!("'{}'", path.display())),
        };
        let mut detail = format!(
            "OS build time {} from {from}",
            DateTime::from_unix_seconds(seconds)
        );
        // Still a lower bound when the wall clock is behind it (that is the
        // point after a cold boot), but worth showing.
        let wall: Timestamp = SystemTime::now().into();
        if seconds > wall.seconds {
            detail.push_str(&format!(
                ", {} s ahead of the wall clock",
                seconds.saturating_sub(wall.seconds)
            ));
        }
        Ok(TimeSample::new(
            TimeInterval::at_least(Timestamp::from_unix_seconds(seconds)),
            detail,
        ))
    }

    fn self_check(&mut self) -> Result<()> {
        self.source.as_ref().map(drop).map_err(Clone::clone)
    }
}

/// The build time in the file at `path`.
fn read(path: &Path) -> Result<i64> {
    let shown = path.display();
    let file = File::open(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => PluginError::unavailable(format!(
            "no build time at '{shown}' (is its directory granted, or should config 'build_time' be set?)"
        )),
        _ => PluginError::io(format_args!("failed to open '{shown}'"), &error),
    })?;
    let mut contents = Vec::new();
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut contents)
        .map_err(|error| PluginError::io(format_args!("failed to read '{shown}'"), &error))?;
    let not_a_time = |why: String| {
        PluginError::invalid_input(format!("'{shown}' does not hold a build time: {why}"))
    };
    if contents.len() as u64 > MAX_FILE_LEN {
        return Err(not_a_time(format!(
            "file is longer than {MAX_FILE_LEN} bytes"
        )));
    }
    let text =
        std::str::from_utf8(&contents).map_err(|_| not_a_time("file is not text".to_owned()))?;
    build_time::parse(text).map_err(|error| not_a_time(error.to_string()))
}

osb_sdk::export_plugin!(TimeSource for BuildFloor);
