//! The temperature as the runtime tells it with the device: a child of
//! type `hw.sensor` whose slug is the sensor's id, `data.value` the
//! reading and `data.unit` its unit. The runtime adds only the sensors
//! this plugin was granted, and leaves out one it could not read, so a
//! missing child means "no reading": the policy fails closed.

use serde_json::Value;
use thiserror::Error;

use crate::reading::PLAUSIBLE;

/// The type of a sensor's child in the device contract.
pub const SENSOR_TYPE: &str = "hw.sensor";

/// Why the device JSON gives no temperature to decide on.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DeviceError {
    #[error("the device is not contract JSON: {0}")]
    NotJson(String),
    #[error(
        "no reading of sensor '{0}' (is it granted to this policy in the device config, \
         and does the hardware adapter list it?)"
    )]
    Missing(String),
    #[error("sensor '{id}' reads {value}, not a number")]
    NotANumber { id: String, value: String },
    #[error("sensor '{id}' reads in '{unit}', not °C")]
    Unit { id: String, unit: String },
    #[error("sensor '{id}' reads {value} °C, no board temperature (a sensor fault?)")]
    Implausible { id: String, value: String },
}

/// The reading of sensor `id` in `device`, in millidegrees Celsius.
pub fn temperature(device: &str, id: &str) -> Result<i64, DeviceError> {
    let device: Value =
        serde_json::from_str(device).map_err(|e| DeviceError::NotJson(e.to_string()))?;
    let child = device
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some(SENSOR_TYPE)
                && c.get("slug").and_then(Value::as_str) == Some(id)
        })
        .ok_or_else(|| DeviceError::Missing(id.to_owned()))?;
    let data = child.get("data");
    let value = data.and_then(|d| d.get("value"));
    let Some(degrees) = value.and_then(Value::as_f64) else {
        return Err(DeviceError::NotANumber {
            id: id.to_owned(),
            value: value.map_or_else(|| "nothing".to_owned(), Value::to_string),
        });
    };
    let unit = data
        .and_then(|d| d.get("unit"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(unit, "°C" | "C" | "celsius") {
        return Err(DeviceError::Unit {
            id: id.to_owned(),
            unit: unit.to_owned(),
        });
    }
    let millidegrees = degrees * 1000.0;
    // The range check comes before the cast, so the cast is exact enough
    // and never saturates.
    if !millidegrees.is_finite()
        || millidegrees < *PLAUSIBLE.start() as f64
        || millidegrees > *PLAUSIBLE.end() as f64
    {
        return Err(DeviceError::Implausible {
            id: id.to_owned(),
            value: degrees.to_string(),
        });
    }
    Ok(millidegrees.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(children: &str) -> String {
        format!(r#"{{"type": "hw.device-type", "slug": "jetson-tx2", "children": [{children}]}}"#)
    }

    fn sensor(slug: &str, data: &str) -> String {
        format!(r#"{{"type": "hw.sensor", "slug": "{slug}", "data": {data}}}"#)
    }

    #[test]
    fn the_granted_sensor_is_found_by_its_id() {
        let clock = r#"{"type": "sw.time", "slug": "clock", "data": {"status": "synced"}}"#;
        let both = device(&format!(
            "{clock}, {}, {}",
            sensor("GPU-therm", r#"{"value": 39, "unit": "°C"}"#),
            sensor("Tboard_tegra", r#"{"value": 45.5, "unit": "°C"}"#)
        ));
        assert_eq!(temperature(&both, "Tboard_tegra"), Ok(45_500));
        assert_eq!(temperature(&both, "GPU-therm"), Ok(39_000));
        let cold = device(&sensor("t", r#"{"value": -5.25, "unit": "celsius"}"#));
        assert_eq!(temperature(&cold, "t"), Ok(-5_250));
    }

    #[test]
    fn anything_but_a_plausible_reading_in_celsius_is_no_temperature() {
        let missing = || Err(DeviceError::Missing("Tboard_tegra".into()));
        assert_eq!(temperature(&device(""), "Tboard_tegra"), missing());
        assert_eq!(
            temperature(r#"{"type": "hw.device-type", "slug": "x"}"#, "Tboard_tegra"),
            missing()
        );
        // Another type with the slug is no sensor.
        let other =
            r#"{"type": "sw.time", "slug": "Tboard_tegra", "data": {"value": 40, "unit": "°C"}}"#;
        assert_eq!(temperature(&device(other), "Tboard_tegra"), missing());
        let one = |data: &str| temperature(&device(&sensor("t", data)), "t");
        assert!(matches!(
            one(r#"{"value": "hot", "unit": "°C"}"#),
            Err(DeviceError::NotANumber { .. })
        ));
        assert!(matches!(
            one(r#"{"unit": "°C"}"#),
            Err(DeviceError::NotANumber { .. })
        ));
        assert_eq!(
            one(r#"{"value": 40, "unit": "rpm"}"#),
            Err(DeviceError::Unit {
                id: "t".into(),
                unit: "rpm".into()
            })
        );
        assert!(matches!(
            one(r#"{"value": 40}"#),
            Err(DeviceError::Unit { .. })
        ));
        for value in ["-273.2", "500.001", "1e300"] {
            let data = format!(r#"{{"value": {value}, "unit": "°C"}}"#);
            assert!(
                matches!(one(&data), Err(DeviceError::Implausible { .. })),
                "{value}"
            );
        }
        assert!(matches!(
            temperature("not json", "t"),
            Err(DeviceError::NotJson(_))
        ));
    }
}
