//! `osb-test-probe`: a time source whose cost is known exactly, for
//! benchmarks and hot-swap tests. Not for devices.
//!
//! # Configuration
//!
//! - `mode` (read once per instance, on the first `sample`):
//!   - `const` (default): `sample` answers `[1700000000 s, 1700000000 s]`
//!     with detail `""` and makes no host call;
//!   - `host-call`: `sample` makes exactly one host call,
//!     `config::get("tag")`, and answers the same interval with the tag (or
//!     `""`) as detail.
//!
//!   Reading `mode` is itself a host call, so the first `sample` of each
//!   instance makes one more host call than the above: benchmark with a warm
//!   instance.
//! - `fail-self-check`: `"true"` makes `self_check` fail, to test that a bad
//!   new version is refused while the old one keeps serving.
//! - `tag`: the detail in `host-call` mode; also a cheap way for a hot-swap
//!   test to tell versions apart.

use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};

/// The instant every sample answers: 2023-11-14T22:13:20Z.
const INSTANT: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

#[derive(Clone, Copy)]
enum Mode {
    Const,
    HostCall,
}

impl Mode {
    fn from_config() -> Result<Mode> {
        match osb_sdk::config::get("mode").as_deref() {
            None | Some("const") => Ok(Mode::Const),
            Some("host-call") => Ok(Mode::HostCall),
            Some(other) => Err(PluginError::invalid_input(format!(
                "invalid config 'mode' = {other:?}: expected \"const\" or \"host-call\""
            ))),
        }
    }
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
        let detail = match mode {
            Mode::Const => String::new(),
            Mode::HostCall => osb_sdk::config::get("tag").unwrap_or_default(),
        };
        Ok(TimeSample::new(TimeInterval::exactly(INSTANT), detail))
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
