//! The TX2's thermal zones, found by their `type`, never by their index:
//! the kernel numbers them in probe order, which a device tree or kernel
//! update may change.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the kernel lists the zones (granted read-only). /sys/class/thermal
/// holds only links to these.
pub const ZONES: &str = "/sys/devices/virtual/thermal";

/// The zones that measure something, with what they measure. PMIC-Die is
/// left out: the TX2's PMIC reports a constant 100 °C there.
pub const SENSORS: [(&str, &str); 7] = [
    ("BCPU-therm", "the Denver CPU cluster"),
    ("MCPU-therm", "the A57 CPU cluster"),
    ("GPU-therm", "the GPU"),
    ("PLL-therm", "the SoC's PLLs"),
    ("Tboard_tegra", "the module's board, by its sensor chip"),
    ("Tdiode_tegra", "the SoC, by the sensor chip's remote diode"),
    ("thermal-fan-est", "the estimate the fan is driven by"),
];

/// Readings are in this unit, converted from the kernel's millidegrees.
pub const UNIT: &str = "°C";

/// Colder than absolute zero or hotter than any board survives: a sensor
/// fault, not a temperature.
const PLAUSIBLE: std::ops::RangeInclusive<i64> = -273_150..=500_000;

/// More than any zone's `type` or `temp` holds: reading stops there, so
/// a huge file costs no memory.
const MAX_BYTES: u64 = 64;

/// Why a sensor has no reading.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ThermalError {
    #[error("no sensor '{0}' (the sensors are {names})", names = names())]
    Unknown(String),
    #[error("no thermal zone of type '{0}' under '{ZONES}'")]
    Missing(String),
    #[error("failed to read '{path}': {error}")]
    Io { path: String, error: String },
    #[error("'{path}' holds {found:?}, not millidegrees Celsius")]
    Garbage { path: String, found: String },
}

fn names() -> String {
    SENSORS.map(|(name, _)| name).join(", ")
}

/// The sensors present: each known zone type found under `ZONES`.
pub fn present() -> Vec<(&'static str, &'static str)> {
    SENSORS
        .into_iter()
        .filter(|(name, _)| zone(name).is_ok())
        .collect()
}

/// The temperature of the zone of type `name`, in °C.
pub fn read(name: &str) -> Result<f64, ThermalError> {
    if !SENSORS.iter().any(|(known, _)| *known == name) {
        return Err(ThermalError::Unknown(name.to_owned()));
    }
    let temp = zone(name)?.join("temp");
    let path = temp.display().to_string();
    let text = read_short(&temp).map_err(|e| ThermalError::Io {
        path: path.clone(),
        error: e.to_string(),
    })?;
    let millidegrees = parse(&text).ok_or_else(|| ThermalError::Garbage {
        path,
        found: text.chars().take(32).collect(),
    })?;
    Ok(millidegrees as f64 / 1000.0)
}

/// Millidegrees from a `temp` file's text: digits, maybe a `-`, maybe a
/// newline, within `PLAUSIBLE`.
pub fn parse(text: &str) -> Option<i64> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    let digits = line.strip_prefix('-').unwrap_or(line);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    line.parse().ok().filter(|m| PLAUSIBLE.contains(m))
}

/// The directory of the zone whose `type` is `name`.
fn zone(name: &str) -> Result<PathBuf, ThermalError> {
    let entries = std::fs::read_dir(ZONES).map_err(|e| ThermalError::Io {
        path: ZONES.to_owned(),
        error: e.to_string(),
    })?;
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("thermal_zone")
        })
        .map(|entry| entry.path())
        .find(|dir| {
            read_short(&dir.join("type")).is_ok_and(|kind| kind.trim_end_matches('\n') == name)
        })
        .ok_or_else(|| ThermalError::Missing(name.to_owned()))
}

/// A small sysfs file, read no further than a plausible one runs.
fn read_short(path: &Path) -> std::io::Result<String> {
    crate::sysfs::read_at_most(path, MAX_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millidegrees_are_read_and_garbage_is_not() {
        for (text, expected) in [
            ("36500\n", Some(36500)),
            ("100000", Some(100000)),
            ("-2500\n", Some(-2500)),
            ("0\n", Some(0)),
            ("", None),
            ("\n", None),
            ("-\n", None),
            ("36.5\n", None),
            (" 36500\n", None),
            ("36500\n\n", None),
            ("garbage\n", None),
            ("-273200\n", None),
            ("2147483647\n", None),
            ("99999999999999999999999\n", None),
        ] {
            assert_eq!(parse(text), expected, "{text:?}");
        }
    }
}
