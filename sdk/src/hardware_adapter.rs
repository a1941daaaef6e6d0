//! The `hardware-adapter` kind: board support, and where the adapter
//! drives the board's bootloader, the slot the device boots.

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

/// A root filesystem slot, and what the bootloader's environment says
/// (as [`HardwareAdapter::boot_state`] answers it): the reference boot
/// environment's types, so an adapter built on `osb-bootenv` answers with
/// its state as it is.
pub use osb_bootenv::{BootStatus, Slot};

/// Board support: describes the device and exposes its sensors and
/// controls. A vendor adds a device type by shipping one of these.
///
/// Where the adapter drives the board's bootloader (U-Boot's environment,
/// GRUB's `grubenv`, ...), it also implements the bootloader side:
/// [`boot_state`](Self::boot_state), [`stage_boot`](Self::stage_boot) and
/// [`commit_boot`](Self::commit_boot), with which the runtime boots a host
/// OS update once, on trial, and commits it when healthy. The defaults say
/// `unsupported`: the board takes no host OS update.
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

    /// The bootloader's state. The default fails with
    /// [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported): this
    /// adapter has no bootloader side, and the board takes no host OS
    /// update.
    fn boot_state(&mut self) -> Result<BootStatus> {
        Err(no_bootloader())
    }

    /// The next boots try `slot`, counted: once `boot_limit` boots (at
    /// least 1) pass without [`commit_boot`](Self::commit_boot), the
    /// bootloader boots the slot running now. Refuse, with
    /// [`ErrorCode::InvalidInput`](crate::ErrorCode::InvalidInput), the
    /// booted slot, and a stage while the running system is itself an
    /// unconfirmed update. The default fails with
    /// [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported).
    fn stage_boot(&mut self, slot: Slot, boot_limit: u32) -> Result<()> {
        let _ = (slot, boot_limit);
        Err(no_bootloader())
    }

    /// The booted slot becomes the one every boot takes, its counter
    /// cleared: the update is confirmed. Nothing to do when no update is
    /// unconfirmed; refuse it while a staged slot has not booted yet. The
    /// default fails with
    /// [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported).
    fn commit_boot(&mut self) -> Result<()> {
        Err(no_bootloader())
    }

    /// Called on a new version before it replaces the running one: fail if
    /// this version cannot work here. The default succeeds.
    fn self_check(&mut self) -> Result<()> {
        Ok(())
    }
}

fn no_bootloader() -> PluginError {
    PluginError::unsupported("this adapter has no bootloader side")
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

        // 0.1.0 has no bootloader side: its world has none of these.
        #[cfg(not(feature = "api-0-1-0"))]
        fn boot_state() -> Result<wit::BootStatus, PluginError> {
            instance::with(T::boot_state).map(Into::into)
        }

        #[cfg(not(feature = "api-0-1-0"))]
        fn stage_boot(slot: wit::Slot, boot_limit: u32) -> Result<(), PluginError> {
            instance::with(|plugin: &mut T| plugin.stage_boot(slot.into(), boot_limit))
        }

        #[cfg(not(feature = "api-0-1-0"))]
        fn commit_boot() -> Result<(), PluginError> {
            instance::with(T::commit_boot)
        }
    }

    #[cfg(not(feature = "api-0-1-0"))]
    impl From<wit::Slot> for crate::Slot {
        fn from(slot: wit::Slot) -> crate::Slot {
            match slot {
                wit::Slot::A => crate::Slot::A,
                wit::Slot::B => crate::Slot::B,
            }
        }
    }

    #[cfg(not(feature = "api-0-1-0"))]
    impl From<crate::Slot> for wit::Slot {
        fn from(slot: crate::Slot) -> wit::Slot {
            match slot {
                crate::Slot::A => wit::Slot::A,
                crate::Slot::B => wit::Slot::B,
            }
        }
    }

    #[cfg(not(feature = "api-0-1-0"))]
    impl From<crate::BootStatus> for wit::BootStatus {
        fn from(state: crate::BootStatus) -> wit::BootStatus {
            let crate::BootStatus {
                booted,
                next,
                unconfirmed,
                boot_count,
                boot_limit,
                rolled_back_from,
            } = state;
            wit::BootStatus {
                booted: booted.into(),
                next: next.into(),
                unconfirmed,
                boot_count,
                boot_limit,
                rolled_back_from: rolled_back_from.map(Into::into),
            }
        }
    }
}
