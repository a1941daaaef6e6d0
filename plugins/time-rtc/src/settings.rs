//! The plugin's configuration.

use std::path::PathBuf;

use osb_sdk::{Result, config};

/// The RTC reading when config `path` is not set.
pub const DEFAULT_PATH: &str = "/rtc/since_epoch";
/// When config `tolerance_s` is not set: about six days of a ±20 ppm
/// crystal's drift since the RTC was last set (see plugin.toml).
pub const DEFAULT_TOLERANCE_S: i64 = 10;
/// A year: an RTC worse than that is no clock.
const MAX_TOLERANCE_S: i64 = 365 * 86_400;

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file holding the RTC's time as Unix seconds.
    pub path: PathBuf,
    /// Seconds the RTC may be off, on each side.
    pub tolerance_s: i64,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let path = get("path").unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let path = config::file_path("path", &path, DEFAULT_PATH)?;
        let tolerance_s = match get("tolerance_s") {
            None => DEFAULT_TOLERANCE_S,
            Some(value) => {
                config::number_in("tolerance_s", &value, 0..=MAX_TOLERANCE_S, "whole seconds")?
            }
        };
        Ok(Settings { path, tolerance_s })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(path: Option<&str>, tolerance: Option<&str>) -> Result<Settings> {
        Settings::from_lookup(|key| match key {
            "path" => path.map(str::to_owned),
            "tolerance_s" => tolerance.map(str::to_owned),
            other => panic!("unexpected key {other}"),
        })
    }

    #[test]
    fn defaults_and_overrides() {
        let got = settings(None, None).unwrap();
        assert_eq!(got.path, PathBuf::from(DEFAULT_PATH));
        assert_eq!(got.tolerance_s, DEFAULT_TOLERANCE_S);
        let got = settings(Some("/rtc1/since_epoch"), Some(" 0 ")).unwrap();
        assert_eq!(got.path, PathBuf::from("/rtc1/since_epoch"));
        assert_eq!(got.tolerance_s, 0);
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for path in ["", "rtc/since_epoch", "/rtc/", "/rtc/a\0b"] {
            let error = settings(Some(path), None).expect_err(path);
            assert!(
                error.message.starts_with("invalid config 'path'"),
                "{}",
                error.message
            );
        }
        for tolerance in ["-1", "2.5", "two", "31536001", ""] {
            let error = settings(None, Some(tolerance)).expect_err(tolerance);
            assert!(
                error.message.starts_with("invalid config 'tolerance_s'"),
                "{}",
                error.message
            );
        }
    }
}
