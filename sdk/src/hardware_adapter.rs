//! The `hardware-adapter` kind: board support.

use crate::{PluginError, Result};
use export::bindings::exports::osb::plugin::hardware_adapter as wit;

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

/// What `export_plugin!(HardwareAdapter for T)` expands to use, reached as
/// `$crate::__private::hardware_adapter`. Not public API.
#[doc(hidden)]
pub mod export {
    use std::marker::PhantomData;

    use super::wit;
    use crate::__private::bindings::lifecycle::exports::osb::plugin::lifecycle;
    use crate::__private::instance;
    use crate::{ControlInfo, HardwareAdapter, PluginError, SensorInfo};

    /// Export glue for `osb:plugin/hardware-adapter`.
    pub mod bindings {
        crate::__private::bindings::export_world!(
            "hardware-adapter",
            "$crate::__private::hardware_adapter::bindings"
        );
    }

    /// Exports a [`HardwareAdapter`] as `lifecycle` + `hardware-adapter`: each method
    /// fetches the plugin value and forwards to the trait method.
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: HardwareAdapter> lifecycle::Guest for Adapter<T> {
        fn self_check() -> Result<(), PluginError> {
            instance::with(T::self_check)
        }
    }

    impl<T: HardwareAdapter> wit::Guest for Adapter<T> {
        fn device_contract() -> Result<String, PluginError> {
            instance::with(T::device_contract)
        }

        fn sensors() -> Vec<SensorInfo> {
            instance::with(T::sensors)
        }

        fn read_sensor(id: String) -> Result<f64, PluginError> {
            instance::with(|plugin: &mut T| plugin.read_sensor(&id))
        }

        fn controls() -> Vec<ControlInfo> {
            instance::with(T::controls)
        }

        fn set_control(id: String, value: String) -> Result<(), PluginError> {
            instance::with(|plugin: &mut T| plugin.set_control(&id, &value))
        }
    }
}
