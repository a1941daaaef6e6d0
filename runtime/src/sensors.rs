//! The board's sensors as the runtime polls them: only those something
//! asked for (a policy's `sensors` grant, the device config's `[metrics]`),
//! each read once per round through the hardware adapter, which checks
//! every reading before it is believed ([`Adapter::read`]). A sensor that
//! cannot be read, or reads implausibly, is left out with a warning: what
//! needed it does without (a policy then fails closed).
//!
//! Nothing here polls on its own; the executor reads a round before it
//! asks the policies, and the daemon's metrics loop (`[metrics]`) reads
//! on its interval.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use osb_plugin_host::SensorId;
use osb_state::duration::HumanDuration;
use serde::{Deserialize, Serialize};

use crate::adapter::Adapter;

/// One reading, as the adapter gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// The value, finite.
    pub value: f64,
    /// Its unit, as the adapter lists the sensor (`°C`).
    pub unit: String,
}

/// A round's readings, by sensor.
pub type Readings = BTreeMap<SensorId, Reading>;

/// Reads each of `ids` once through `adapter`. The adapter's sensor list
/// (read first, once) gives the units, and an id it does not list is not
/// read at all. What fails is warned about and left out.
pub fn read(adapter: &Adapter, ids: &BTreeSet<SensorId>) -> Readings {
    let mut readings = Readings::new();
    if ids.is_empty() {
        return readings;
    }
    let listed = match adapter.sensors() {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %e, sensors = ?ids.iter().map(SensorId::as_str).collect::<Vec<_>>(), "cannot list the board's sensors; none is read");
            return readings;
        }
    };
    for id in ids {
        let Some(sensor) = listed.iter().find(|s| s.id == id.as_str()) else {
            tracing::warn!(sensor = %id, "the hardware adapter lists no sensor by this id; it is not read");
            continue;
        };
        match adapter.read(id.as_str()) {
            Ok(value) => {
                readings.insert(
                    id.clone(),
                    Reading {
                        value,
                        unit: sensor.unit.clone(),
                    },
                );
            }
            Err(e) => tracing::warn!(sensor = %id, error = %e, "sensor not read; left out"),
        }
    }
    readings
}

/// At most this many sensors are polled for metrics.
pub const MAX_METRICS_SENSORS: usize = 64;

/// The shortest metrics interval: a plugin call per sensor per second is
/// already more than a board's temperatures change.
pub const MIN_METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// `[metrics]` in the device config: which sensors the daemon polls, and
/// how often. With none listed, it polls nothing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// The adapter's sensor ids, at most [`MAX_METRICS_SENSORS`], each
    /// once.
    #[serde(default)]
    pub sensors: Vec<SensorId>,
    /// Between polls (`30s`, `1m`), at least [`MIN_METRICS_INTERVAL`].
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
}

fn default_interval() -> HumanDuration {
    HumanDuration::new(Duration::from_secs(30))
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            sensors: Vec::new(),
            interval: default_interval(),
        }
    }
}

impl MetricsSettings {
    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.get() < MIN_METRICS_INTERVAL {
            return Err(format!(
                "metrics.interval ({}) must be at least 1s",
                self.interval
            ));
        }
        if self.sensors.len() > MAX_METRICS_SENSORS {
            return Err(format!(
                "metrics.sensors lists {} sensors, more than {MAX_METRICS_SENSORS}",
                self.sensors.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, id) in self.sensors.iter().enumerate() {
            if !seen.insert(id) {
                return Err(format!("metrics.sensors[{i}]: '{id}' is listed twice"));
            }
        }
        Ok(())
    }
}

/// Polls the sensors of `settings` through `adapter` every interval, for
/// as long as the daemon runs: each reading an event (target
/// `osb_runtime::sensors`, with the sensor and its value) in a span naming the
/// adapter. With no sensor listed it polls nothing and never returns.
pub async fn poll(adapter: Adapter, settings: MetricsSettings) {
    if settings.sensors.is_empty() {
        return std::future::pending().await;
    }
    let ids: BTreeSet<SensorId> = settings.sensors.iter().cloned().collect();
    let mut ticks = tokio::time::interval(settings.interval.get());
    // A round that overran (an adapter at its deadline) is not made up for
    // with a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let adapter = adapter.clone();
        let ids = ids.clone();
        let round = tokio::task::spawn_blocking(move || {
            let name = adapter
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|e| e.to_string());
            (name, read(&adapter, &ids))
        })
        .await;
        let Ok((adapter_name, readings)) = round else {
            tracing::warn!("a metrics round failed; the next is due in one interval");
            continue;
        };
        let span = tracing::info_span!("metrics", adapter = %adapter_name);
        let _entered = span.enter();
        for (id, reading) in &readings {
            tracing::info!(sensor = %id, value = reading.value, unit = %reading.unit, "sensor reading");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MetricsSettings, String> {
        let settings: MetricsSettings = toml::from_str(text).map_err(|e| e.to_string())?;
        settings.validate()?;
        Ok(settings)
    }

    #[test]
    fn metrics_list_sensors_by_id_on_a_bounded_interval() {
        let got = parse("sensors = [\"BCPU-therm\", \"GPU-therm\"]\ninterval = \"1m\"").unwrap();
        assert_eq!(got.sensors.len(), 2);
        assert_eq!(got.interval.get(), Duration::from_secs(60));
        // Absent: nothing polled.
        assert_eq!(parse("").unwrap(), MetricsSettings::default());
        let many: Vec<String> = (0..=MAX_METRICS_SENSORS)
            .map(|i| format!("\"s{i}\""))
            .collect();
        let many = format!("sensors = [{}]", many.join(", "));
        for (text, says) in [
            ("interval = \"500ms\"", "metrics.interval ("),
            ("interval = \"soon\"", "invalid duration 'soon'"),
            ("interval = 30", "interval"),
            ("sensors = [\"a b\"]", "'a b' is not a sensor id"),
            ("sensors = [\"*\"]", "'*' is not a sensor id"),
            (
                "sensors = [\"x\", \"y\", \"x\"]",
                "metrics.sensors[2]: 'x' is listed twice",
            ),
            (many.as_str(), "more than 64"),
            ("sensor = [\"x\"]", "sensor"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
        }
    }
}
