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

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file holding the temperature in millidegrees Celsius.
    pub path: PathBuf,
    /// When updates are held and released.
    pub limits: Thresholds,
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
        let path = get("path").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let path = config::file_path("path", &path, DEFAULT_PATH)?;
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
            path,
            limits: Thresholds { max, resume },
        })
    }
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
        assert_eq!(got.path, PathBuf::from(DEFAULT_PATH));
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
        assert_eq!(got.path, PathBuf::from("/hwmon/temp1_input"));
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
