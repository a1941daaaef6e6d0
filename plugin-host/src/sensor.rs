//! Sensor ids as manifests ask for them and device configs grant them.
//!
//! A sensor id is the hardware adapter's (`board-temp`, `cpu-therm`),
//! which an operator types into the device config: so it is plain ASCII,
//! short, and holds nothing a log line or a TOML key could trip on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A longer id is refused; an adapter's are a few words at most.
pub const MAX_SENSOR_ID: usize = 64;

/// A sensor's id: 1 to [`MAX_SENSOR_ID`] ASCII letters, digits, `-`, `_`
/// or `.`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SensorId(String);

impl SensorId {
    /// `id`, if it is one.
    pub fn new(id: &str) -> Result<SensorId, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if id.is_empty() || id.len() > MAX_SENSOR_ID || !id.chars().all(allowed) {
            let shown: String = id.chars().take(MAX_SENSOR_ID).collect::<String>();
            return Err(format!(
                "'{}' is not a sensor id (1 to {MAX_SENSOR_ID} of A-Z a-z 0-9 - _ .)",
                shown.escape_default()
            ));
        }
        Ok(SensorId(id.to_owned()))
    }

    /// The id as the adapter spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SensorId {
    type Error = String;
    fn try_from(id: String) -> Result<SensorId, String> {
        SensorId::new(&id)
    }
}

impl From<SensorId> for String {
    fn from(id: SensorId) -> String {
        id.0
    }
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a manifest asks for, or a device config grants: one sensor, or
/// (`"*"`, in a manifest only) whichever sensors the device grants.
///
/// A policy's manifest is written once for every board, while the sensor
/// that matters is the board's, named by its adapter: so it may ask for `*` and the operator names the ids in
/// the device config, which is where a choice about this board belongs.
/// The device config itself grants ids only (`grants::check_device_grants`):
/// a wildcard there would grant sensors nobody looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SensorPattern {
    /// `*`: whatever the device grants.
    Any,
    /// That one sensor.
    Id(SensorId),
}

impl SensorPattern {
    /// Whether `id` is what this asks for or grants.
    pub fn matches(&self, id: &SensorId) -> bool {
        match self {
            SensorPattern::Any => true,
            SensorPattern::Id(own) => own == id,
        }
    }
}

impl TryFrom<String> for SensorPattern {
    type Error = String;
    fn try_from(text: String) -> Result<SensorPattern, String> {
        if text == "*" {
            Ok(SensorPattern::Any)
        } else {
            SensorId::new(&text).map(SensorPattern::Id)
        }
    }
}

impl From<SensorPattern> for String {
    fn from(pattern: SensorPattern) -> String {
        match pattern {
            SensorPattern::Any => "*".to_owned(),
            SensorPattern::Id(id) => id.0,
        }
    }
}

impl fmt::Display for SensorPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorPattern::Any => f.write_str("*"),
            SensorPattern::Id(id) => id.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_what_an_operator_can_type() {
        for good in ["Tboard_tegra", "BCPU-therm", "board-temp", "cpu0.temp", "x"] {
            assert_eq!(SensorId::new(good).unwrap().as_str(), good);
        }
        let long = "a".repeat(MAX_SENSOR_ID + 1);
        for bad in ["", "*", "a b", "temp\n", "../temp", "°C", long.as_str()] {
            let error = SensorId::new(bad).unwrap_err();
            assert!(error.contains("is not a sensor id"), "{bad:?}: {error}");
        }
        // The refused text is shown escaped: a newline forges no log line.
        assert!(SensorId::new("a\nb").unwrap_err().contains("a\\nb"));
    }

    #[test]
    fn a_pattern_is_an_id_or_any() {
        let any = SensorPattern::try_from("*".to_owned()).unwrap();
        let one = SensorPattern::try_from("GPU-therm".to_owned()).unwrap();
        let gpu = SensorId::new("GPU-therm").unwrap();
        let cpu = SensorId::new("BCPU-therm").unwrap();
        assert!(any.matches(&gpu) && any.matches(&cpu));
        assert!(one.matches(&gpu) && !one.matches(&cpu));
        assert!(SensorPattern::try_from("GPU*".to_owned()).is_err());
        assert_eq!(String::from(any), "*");
    }
}
