//! The plugin's configuration.

use osb_sdk::{PluginError, Result, config};

use crate::schedule::Schedule;
use crate::window;

/// When config `min_year` is not set: no device runs this before 2025, so
/// a clock reading earlier has not been set yet.
pub const DEFAULT_MIN_YEAR: i64 = 2025;
/// The offsets in use on Earth run from UTC−12:00 to UTC+14:00.
const OFFSETS: std::ops::RangeInclusive<i64> = -720..=840;

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The windows and the device's offset from UTC.
    pub schedule: Schedule,
    /// A wall clock before this year is not to be trusted.
    pub min_year: i64,
}

impl Settings {
    /// Reads the settings through `get` (config key to value).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings> {
        let written = get("windows").ok_or_else(|| {
            PluginError::invalid_input(
                "config 'windows' is not set: expected windows such as \"Mon-Fri 02:00-04:00\"",
            )
        })?;
        let windows = window::parse_list(&written).map_err(|(entry, error)| {
            PluginError::invalid_input(format!(
                "invalid config 'windows' = {written:?}: {entry:?}: {error}"
            ))
        })?;
        if windows.is_empty() {
            return Err(PluginError::invalid_input(format!(
                "invalid config 'windows' = {written:?}: no window; \
                 expected windows such as \"Mon-Fri 02:00-04:00\" separated by ';'"
            )));
        }
        let offset_minutes = match get("utc_offset_minutes") {
            None => 0,
            Some(value) => config::number_in("utc_offset_minutes", &value, OFFSETS, "minutes")?,
        };
        let min_year = match get("min_year") {
            None => DEFAULT_MIN_YEAR,
            Some(value) => config::number_in("min_year", &value, 1970..=9999, "a year")?,
        };
        Ok(Settings {
            schedule: Schedule {
                windows,
                offset_minutes,
            },
            min_year,
        })
    }
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
        let got = settings(&[("windows", "daily 02:00-04:00")]).unwrap();
        assert_eq!(got.schedule.windows.len(), 1);
        assert_eq!(got.schedule.offset_minutes, 0);
        assert_eq!(got.min_year, DEFAULT_MIN_YEAR);
        let got = settings(&[
            ("windows", "Mon-Fri 02:00-04:00; Sat,Sun 00:00-06:00"),
            ("utc_offset_minutes", "-330"),
            ("min_year", "2026"),
        ])
        .unwrap();
        assert_eq!(got.schedule.windows.len(), 2);
        assert_eq!(got.schedule.offset_minutes, -330);
        assert_eq!(got.min_year, 2026);
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        for (pairs, expect) in [
            (&[][..], "config 'windows' is not set"),
            (
                &[("windows", " ; ")][..],
                "invalid config 'windows' = \" ; \": no window",
            ),
            (
                &[("windows", "daily 02:00-04:00; Mo 01:00-02:00")][..],
                "invalid config 'windows' = \"daily 02:00-04:00; Mo 01:00-02:00\": \
                 \"Mo 01:00-02:00\": \"Mo\" is not a day",
            ),
            (
                &[
                    ("windows", "daily 02:00-04:00"),
                    ("utc_offset_minutes", "900"),
                ][..],
                "invalid config 'utc_offset_minutes' = \"900\": expected minutes from -720 to 840",
            ),
            (
                &[("windows", "daily 02:00-04:00"), ("min_year", "soon")][..],
                "invalid config 'min_year' = \"soon\"",
            ),
        ] {
            let error = settings(pairs).unwrap_err();
            assert!(error.message.starts_with(expect), "{}", error.message);
        }
    }
}
