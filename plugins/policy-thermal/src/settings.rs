//! The plugin's configuration.

use std::path::PathBuf;

use osb_sdk::{PluginError, Result, config};

/// The temperature file when config `path` is not set.
pub const DEFAULT_PATH: &str = "/thermal/temp";
/// Config `max_celsius` when not set.
pub const DEFAULT_MAX_CELSIUS: f64 = 80.0;
/// Config `resume_celsius` when not set.
pub const DEFAULT_RESUME_CELSIUS: f64 = 75.0;
/// What a board's limit can sensibly be, in °C.
const LIMITS: std::ops::RangeInclusive<f64> = -50.0..=150.0;

/// A longer sensor id is refused (the host's limit too).
const MAX_SENSOR_ID: usize = 64;

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Where the temperature comes from.
    pub source: Source,
    /// When updates are held and released.
    pub limits: Thresholds,
}

/// Where the temperature comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Config `path`: a file holding millidegrees Celsius, inside the fs
    /// grant.
    File(PathBuf),
    /// Config `sensor`: the hardware adapter's sensor of this id, as the
    /// runtime tells it with the device (it must be granted to this
    /// policy in the device config).
    Sensor(String),
}

/// The hysteresis, in millidegrees Celsius: `resume <= max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Above this, updates are held.
    pub max: i64,
    /// Held updates resume at or below this.
    pub resume: i64,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        // The manifest gives `path` a default, so `sensor`, when set, wins.
        let source = match get("sensor") {
            Some(id) => Source::Sensor(sensor_id(&id)?),
            None => {
                let path = get("path").unwrap_or_else(|| DEFAULT_PATH.to_owned());
                Source::File(config::file_path("path", &path, DEFAULT_PATH)?)
            }
        };
        let celsius = |key: &str, default: f64| match get(key) {
            None => Ok(millidegrees(default)),
            Some(value) => {
                config::number_in(key, &value, LIMITS, "degrees Celsius").map(millidegrees)
            }
        };
        let max = celsius("max_celsius", DEFAULT_MAX_CELSIUS)?;
        let resume = celsius("resume_celsius", DEFAULT_RESUME_CELSIUS)?;
        if resume > max {
            return Err(PluginError::invalid_input(format!(
                "invalid config 'resume_celsius': {} is above max_celsius {}: \
                 updates held above max_celsius resume at or below resume_celsius",
                resume as f64 / 1000.0,
                max as f64 / 1000.0
            )));
        }
        Ok(Settings {
            source,
            limits: Thresholds { max, resume },
        })
    }
}

/// Config `sensor`, checked as the host checks the ids it grants.
fn sensor_id(id: &str) -> Result<String> {
    let id = id.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > MAX_SENSOR_ID || !id.chars().all(allowed) {
        return Err(PluginError::invalid_input(format!(
            "invalid config 'sensor' = {id:?}: expected the hardware adapter's sensor id \
             (1 to {MAX_SENSOR_ID} of A-Z a-z 0-9 - _ .), such as \"Tboard_tegra\""
        )));
    }
    Ok(id.to_owned())
}

/// Degrees as whole millidegrees; `LIMITS` keeps the cast exact.
fn millidegrees(celsius: f64) -> i64 {
    (celsius * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
        Settings::from_lookup(|key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_and_overrides() {
        let got = settings(&[]).unwrap();
        assert_eq!(got.source, Source::File(PathBuf::from(DEFAULT_PATH)));
        assert_eq!(
            got.limits,
            Thresholds {
                max: 80_000,
                resume: 75_000
            }
        );
        let got = settings(&[
            ("path", "/hwmon/temp1_input"),
            ("max_celsius", " 70.5 "),
            ("resume_celsius", "70.5"),
        ])
        .unwrap();
        assert_eq!(
            got.source,
            Source::File(PathBuf::from("/hwmon/temp1_input"))
        );
        let sensor = settings(&[
            ("sensor", "Tboard_tegra"),
            ("path", "/thermal/temp"),
            ("max_celsius", "60"),
            ("resume_celsius", "55"),
        ])
        .unwrap();
        assert_eq!(sensor.source, Source::Sensor("Tboard_tegra".into()));
        assert_eq!(sensor.limits.max, 60_000);
        assert_eq!(
            got.limits,
            Thresholds {
                max: 70_500,
                resume: 70_500
            }
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (pairs, expect) in [
            (&[("path", "thermal/temp")][..], "invalid config 'path'"),
            (&[("sensor", "")][..], "invalid config 'sensor' = \"\""),
            (
                &[("sensor", "Tboard tegra")][..],
                "invalid config 'sensor' = \"Tboard tegra\"",
            ),
            (&[("sensor", "*")][..], "invalid config 'sensor'"),
            (
                &[("max_celsius", "hot")][..],
                "invalid config 'max_celsius' = \"hot\": expected degrees Celsius from -50 to 150",
            ),
            (
                &[("max_celsius", "NaN")][..],
                "invalid config 'max_celsius'",
            ),
            (
                &[("max_celsius", "inf")][..],
                "invalid config 'max_celsius'",
            ),
            (
                &[("resume_celsius", "151")][..],
                "invalid config 'resume_celsius'",
            ),
            (
                &[("max_celsius", "70")][..],
                "invalid config 'resume_celsius': 75 is above max_celsius 70",
            ),
        ] {
            let error = settings(pairs).unwrap_err();
            assert!(error.message.starts_with(expect), "{}", error.message);
        }
    }
}
