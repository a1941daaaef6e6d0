//! `osb-test-probe`: a time source whose cost and answer are known exactly,
//! for benchmarks, hot-swap tests and the time service's hostile-source
//! tests. Not for devices.
//!
//! # Configuration
//!
//! - `mode` (read once per instance, on the first `sample`):
//!   - `const` (default): `sample` answers `[1700000000 s, 1700000000 s]`
//!     with detail `""` and makes no host call;
//!   - `host-call`: `sample` makes exactly one host call,
//!     `config::get("tag")`, and answers the same interval with the tag (or
//!     `""`) as detail;
//!   - `interval`: `sample` answers `[earliest, latest]` from the keys
//!     below, whatever the time is, and makes no host call: a source that
//!     lies as told (or tells the truth, if told it).
//!
//!   Reading `mode` is itself a host call (and so is reading `earliest` and
//!   `latest` in `interval` mode), so the first `sample` of each instance
//!   makes more host calls than the above: benchmark with a warm instance.
//! - `earliest`, `latest` (`interval` mode): whole Unix seconds; an absent
//!   key leaves that side unbounded (`earliest` alone is a lower bound).
//!   Answered as given, even inverted: checking answers is the host's job.
//! - `fail-self-check`: `"true"` makes `self_check` fail, to test that a bad
//!   new version is refused while the old one keeps serving.
//! - `tag`: the detail in `host-call` mode; also a cheap way for a hot-swap
//!   test to tell versions apart.

use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};

/// The instant `const` and `host-call` samples answer: 2023-11-14T22:13:20Z.
const INSTANT: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

#[derive(Clone, Copy)]
enum Mode {
    Const,
    HostCall,
    Interval(TimeInterval),
}

impl Mode {
    fn from_config() -> Result<Mode> {
        match osb_sdk::config::get("mode").as_deref() {
            None | Some("const") => Ok(Mode::Const),
            Some("host-call") => Ok(Mode::HostCall),
            Some("interval") => Ok(Mode::Interval(TimeInterval {
                earliest: seconds("earliest")?,
                latest: seconds("latest")?,
            })),
            Some(other) => Err(PluginError::invalid_input(format!(
                "invalid config 'mode' = {other:?}: expected \"const\", \"host-call\" or \"interval\""
            ))),
        }
    }
}

/// `key` as whole Unix seconds; `None` when absent.
fn seconds(key: &str) -> Result<Option<Timestamp>> {
    Ok(osb_sdk::config::parse::<i64>(key)?.map(Timestamp::from_unix_seconds))
}

#[derive(Default)]
struct Probe {
    /// `mode`, read on the first `sample` and kept: later samples in
    /// `const` mode must not call the host.
    mode: Option<Mode>,
}

impl TimeSource for Probe {
    fn sample(&mut self) -> Result<TimeSample> {
        let mode = match self.mode {
            Some(mode) => mode,
            None => *self.mode.insert(Mode::from_config()?),
        };
        Ok(match mode {
            Mode::Const => TimeSample::new(TimeInterval::exactly(INSTANT), String::new()),
            Mode::HostCall => TimeSample::new(
                TimeInterval::exactly(INSTANT),
                osb_sdk::config::get("tag").unwrap_or_default(),
            ),
            Mode::Interval(interval) => {
                TimeSample::new(interval, "the configured interval".to_owned())
            }
        })
    }

    fn self_check(&mut self) -> Result<()> {
        if osb_sdk::config::get("fail-self-check").as_deref() == Some("true") {
            return Err(PluginError::internal(
                "self-check failed: config 'fail-self-check' is \"true\"",
            ));
        }
        Mode::from_config().map(|_| ())
    }
}

osb_sdk::export_plugin!(TimeSource for Probe);
