//! The `hardware-adapter` kind: board support.

use crate::__private::bindings::hardware_adapter::exports::osb::plugin::hardware_adapter as wit;
use crate::{PluginError, Result};

/// Describes one sensor the adapter can read.
pub use wit::SensorInfo;

/// Describes one control the adapter can set.
pub use wit::ControlInfo;

impl SensorInfo {
    /// A sensor `id` measured in `unit` (such as `"°C"` or `"V"`).
    pub fn new(
        id: impl Into<String>,
        description: impl Into<String>,
        unit: impl Into<String>,
    ) -> Self {
        SensorInfo {
            id: id.into(),
            description: description.into(),
            unit: unit.into(),
        }
    }
}

impl ControlInfo {
    /// A control `id` accepting only `values`; pass no values for a
    /// free-form control.
    pub fn new<V: Into<String>>(
        id: impl Into<String>,
        description: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        ControlInfo {
            id: id.into(),
            description: description.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

/// Board support: describes the device and exposes its sensors and
/// controls. A vendor adds a device type by shipping one of these.
///
/// Export an implementation with `export_plugin!(HardwareAdapter for
/// MyType)`. The value is created with [`Default`] on the first call and
/// reused until the host discards the instance.
pub trait HardwareAdapter: Default + 'static {
    /// The device contract (`hw.device-type`) as contract JSON.
    fn device_contract(&mut self) -> Result<String>;

    /// The sensors [`read_sensor`](Self::read_sensor) accepts. The default
    /// has none.
    fn sensors(&mut self) -> Vec<SensorInfo> {
        Vec::new()
    }

    /// Reads sensor `id` in its unit. The default fails with
    /// [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported).
    fn read_sensor(&mut self, id: &str) -> Result<f64> {
        Err(PluginError::unsupported(format!("no sensor '{id}'")))
    }

    /// The controls [`set_control`](Self::set_control) accepts. The default
    /// has none.
    fn controls(&mut self) -> Vec<ControlInfo> {
        Vec::new()
    }

    /// Sets control `id` to `value`. The default fails with
    /// [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported).
    fn set_control(&mut self, id: &str, value: &str) -> Result<()> {
        let _ = value;
        Err(PluginError::unsupported(format!("no control '{id}'")))
    }

    /// Called on a new version before it replaces the running one: fail if
    /// this version cannot work here. The default succeeds.
    fn self_check(&mut self) -> Result<()> {
        Ok(())
    }
}
