//! The `hardware-adapter` kind: board support; describes the device,
//! exposes its sensors and controls, and, from `osb:plugin@0.2.0`, may
//! drive the board's bootloader: which root filesystem slot boots next, a
//! counted trial of an update, its commit. The host update calls that side
//! typed ([`PluginHost::boot_state`], [`PluginHost::stage_boot`],
//! [`PluginHost::commit_boot`]).
//!
//! An adapter built against 0.1.0 has no bootloader side: the host answers
//! for it, `unsupported`, without calling it, so it keeps working as it
//! did and the caller learns the board cannot take a host OS update.

use serde_json::{Value, json};
use wasmtime::Store;

use super::contract_policy::bounded;
use super::{ArgsError, Exports, args, no_args, outcome, versions};
use crate::PluginName;
use crate::host::PluginHost;
use crate::host_api::StoreState;
use crate::loaded::CallError;
use crate::manifest::PluginKind;
use crate::wit::latest::hardware_adapter::exports::osb::plugin::hardware_adapter as wit;
use crate::wit::latest::{ErrorCode, PluginError};

/// A root filesystem slot, and the bootloader's state as the adapter
/// reads it.
pub use wit::{BootStatus, Slot};

versions!(
    hardware_adapter,
    HardwareAdapterPluginPre,
    HardwareAdapterPlugin
);

/// The functions, `self-check` first. An adapter built against 0.1.0
/// answers the bootloader's three `unsupported`.
pub const FUNCTIONS: &[&str] = &[
    "self-check",
    "device-contract",
    "sensors",
    "read-sensor",
    "controls",
    "set-control",
    "boot-state",
    "stage-boot",
    "commit-boot",
];

/// A parsed JSON call.
pub enum Call {
    /// `device-contract()`.
    DeviceContract,
    /// `sensors()`.
    Sensors,
    /// `read-sensor(id)`.
    ReadSensor(String),
    /// `controls()`.
    Controls,
    /// `set-control(id, value)`.
    SetControl(String, String),
    /// `boot-state()`.
    BootState,
    /// `stage-boot(slot, boot-limit)`.
    StageBoot(Slot, u32),
    /// `commit-boot()`.
    CommitBoot,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArg {
    id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetControlArgs {
    id: String,
    value: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StageBootArgs {
    slot: Slot,
    boot_limit: u32,
}

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "device-contract" => no_args(a).map(|()| Call::DeviceContract),
            "sensors" => no_args(a).map(|()| Call::Sensors),
            "controls" => no_args(a).map(|()| Call::Controls),
            "read-sensor" => args::<IdArg>(a).map(|a| Call::ReadSensor(a.id)),
            "set-control" => args::<SetControlArgs>(a).map(|a| Call::SetControl(a.id, a.value)),
            "boot-state" => no_args(a).map(|()| Call::BootState),
            "stage-boot" => args::<StageBootArgs>(a).map(|a| Call::StageBoot(a.slot, a.boot_limit)),
            "commit-boot" => no_args(a).map(|()| Call::CommitBoot),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

/// What an adapter built against 0.1.0 answers for the bootloader's
/// functions.
fn no_bootloader_side() -> PluginError {
    PluginError {
        code: ErrorCode::Unsupported,
        message: "built against osb:plugin 0.1.0, which has no bootloader side".to_owned(),
    }
}

/// `$call` on whichever version `$instance` is, the same code for each:
/// for calls whose arguments and answers are of types every version shares
/// (`plugin-error` and plain values).
macro_rules! each_version {
    ($instance:expr, |$h:ident| $call:expr) => {
        match $instance {
            Instance::V0_1_0(e) => {
                let $h = e.osb_plugin_hardware_adapter();
                $call
            }
            Instance::V0_2_0(e) => {
                let $h = e.osb_plugin_hardware_adapter();
                $call
            }
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => {
                let $h = e.osb_plugin_hardware_adapter();
                $call
            }
        }
    };
}

impl Instance {
    /// Runs a parsed JSON call. The answers of other versions are converted
    /// to the latest types, so the JSON is the same whatever the version.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        Ok(match call {
            Call::DeviceContract => outcome(self.device_contract(store).await?),
            Call::Sensors => json!({ "ok": self.sensors(store).await? }),
            Call::Controls => json!({ "ok": self.controls(store).await? }),
            Call::ReadSensor(id) => outcome(self.read_sensor(store, &id).await?),
            Call::SetControl(id, v) => outcome(self.set_control(store, &id, &v).await?),
            Call::BootState => outcome(self.boot_state(store).await?),
            Call::StageBoot(slot, limit) => outcome(self.stage_boot(store, slot, limit).await?),
            Call::CommitBoot => outcome(self.commit_boot(store).await?),
        })
    }

    /// `hardware-adapter.device-contract`.
    pub async fn device_contract(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        each_version!(self, |h| h.call_device_contract(store).await)
    }

    /// `hardware-adapter.sensors`.
    pub async fn sensors(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Vec<wit::SensorInfo>> {
        // Another version than the latest: the answer converted.
        macro_rules! converted {
            ($e:ident) => {
                Ok($e
                    .osb_plugin_hardware_adapter()
                    .call_sensors(store)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            };
        }
        match self {
            Instance::V0_2_0(e) => e.osb_plugin_hardware_adapter().call_sensors(store).await,
            Instance::V0_1_0(e) => converted!(e),
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => converted!(e),
        }
    }

    /// `hardware-adapter.read-sensor`.
    pub async fn read_sensor(
        &self,
        store: &mut Store<StoreState>,
        id: &str,
    ) -> wasmtime::Result<Result<f64, PluginError>> {
        each_version!(self, |h| h.call_read_sensor(store, id).await)
    }

    /// `hardware-adapter.controls`.
    pub async fn controls(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Vec<wit::ControlInfo>> {
        // Another version than the latest: the answer converted.
        macro_rules! converted {
            ($e:ident) => {
                Ok($e
                    .osb_plugin_hardware_adapter()
                    .call_controls(store)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            };
        }
        match self {
            Instance::V0_2_0(e) => e.osb_plugin_hardware_adapter().call_controls(store).await,
            Instance::V0_1_0(e) => converted!(e),
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => converted!(e),
        }
    }

    /// `hardware-adapter.set-control`.
    pub async fn set_control(
        &self,
        store: &mut Store<StoreState>,
        id: &str,
        value: &str,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        each_version!(self, |h| h.call_set_control(store, id, value).await)
    }

    /// `hardware-adapter.boot-state`; `unsupported` for 0.1.0.
    pub async fn boot_state(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<BootStatus, PluginError>> {
        match self {
            Instance::V0_1_0(_) => Ok(Err(no_bootloader_side())),
            Instance::V0_2_0(e) => e.osb_plugin_hardware_adapter().call_boot_state(store).await,
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => Ok(e
                .osb_plugin_hardware_adapter()
                .call_boot_state(store)
                .await?
                .map(Into::into)),
        }
    }

    /// `hardware-adapter.stage-boot`; `unsupported` for 0.1.0.
    pub async fn stage_boot(
        &self,
        store: &mut Store<StoreState>,
        slot: Slot,
        boot_limit: u32,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        match self {
            Instance::V0_1_0(_) => Ok(Err(no_bootloader_side())),
            Instance::V0_2_0(e) => {
                e.osb_plugin_hardware_adapter()
                    .call_stage_boot(store, slot, boot_limit)
                    .await
            }
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => {
                e.osb_plugin_hardware_adapter()
                    .call_stage_boot(store, slot.into(), boot_limit)
                    .await
            }
        }
    }

    /// `hardware-adapter.commit-boot`; `unsupported` for 0.1.0.
    pub async fn commit_boot(
        &self,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        match self {
            Instance::V0_1_0(_) => Ok(Err(no_bootloader_side())),
            Instance::V0_2_0(e) => {
                e.osb_plugin_hardware_adapter()
                    .call_commit_boot(store)
                    .await
            }
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => {
                e.osb_plugin_hardware_adapter()
                    .call_commit_boot(store)
                    .await
            }
        }
    }
}

/// Why the adapter's bootloader side gave no answer. Each message names
/// the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BootloaderError {
    /// The adapter has no bootloader side: built against 0.1.0, or it
    /// answers `unsupported`. The board cannot take a host OS update.
    #[error("adapter '{plugin}' has no bootloader side: {message}")]
    Unsupported {
        /// The adapter.
        plugin: PluginName,
        /// Why, in its words (escaped and bounded) or the host's.
        message: String,
    },
    /// The call gave no answer: the adapter is not loaded, is no hardware
    /// adapter, is quarantined, or trapped, ran past its deadline or hit a
    /// limit.
    #[error("adapter '{plugin}' did not answer {function}: {source}")]
    Call {
        /// The adapter.
        plugin: PluginName,
        /// The function called.
        function: &'static str,
        /// What the call ran into.
        source: CallError,
    },
    /// The adapter answered an error: the stage or commit was refused, or
    /// the bootloader's environment could not be read or written.
    #[error("adapter '{plugin}' failed {function}: {}: {message}", code.name())]
    Plugin {
        /// The adapter.
        plugin: PluginName,
        /// The function called.
        function: &'static str,
        /// The WIT error code (never `unsupported`: that is
        /// [`Unsupported`](BootloaderError::Unsupported)).
        code: ErrorCode,
        /// Its message, control characters escaped and bounded.
        message: String,
    },
}

impl BootloaderError {
    /// The adapter that gave no answer.
    pub fn plugin(&self) -> &PluginName {
        match self {
            BootloaderError::Unsupported { plugin, .. }
            | BootloaderError::Call { plugin, .. }
            | BootloaderError::Plugin { plugin, .. } => plugin,
        }
    }

    /// Whether the adapter has no bootloader side at all.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, BootloaderError::Unsupported { .. })
    }
}

impl PluginHost {
    /// The bootloader's state, as hardware adapter `adapter` reads it.
    pub fn boot_state(&self, adapter: &PluginName) -> Result<BootStatus, BootloaderError> {
        self.bootloader_call(adapter, "boot-state", async |store, h| {
            h.boot_state(store).await
        })
    }

    /// Has `adapter` make the next boots try `slot`, counted: after
    /// `boot_limit` boots without [`commit_boot`](Self::commit_boot) the
    /// bootloader boots the slot running now.
    pub fn stage_boot(
        &self,
        adapter: &PluginName,
        slot: Slot,
        boot_limit: u32,
    ) -> Result<(), BootloaderError> {
        self.bootloader_call(adapter, "stage-boot", async move |store, h| {
            h.stage_boot(store, slot, boot_limit).await
        })
    }

    /// Has `adapter` make the booted slot the one every boot takes, its
    /// boot counter cleared.
    pub fn commit_boot(&self, adapter: &PluginName) -> Result<(), BootloaderError> {
        self.bootloader_call(adapter, "commit-boot", async |store, h| {
            h.commit_boot(store).await
        })
    }

    fn bootloader_call<R: Send>(
        &self,
        name: &PluginName,
        function: &'static str,
        f: impl AsyncFnOnce(
            &mut Store<StoreState>,
            &Instance,
        ) -> wasmtime::Result<Result<R, PluginError>>
        + Send,
    ) -> Result<R, BootloaderError> {
        let call_error = |source| BootloaderError::Call {
            plugin: name.clone(),
            function,
            source,
        };
        let plugin = self.current(name).map_err(call_error)?;
        let _span = tracing::debug_span!("plugin_call", plugin = %name, function).entered();
        if plugin.kind() != PluginKind::HardwareAdapter {
            return Err(call_error(plugin.no_such_function(function)));
        }
        let answer = plugin
            .call(self.driver(), async |store, exports| match exports {
                Exports::HardwareAdapter(h) => f(store, h).await,
                // Checked above: a hardware adapter has its exports.
                _ => Err(wasmtime::Error::msg("not a hardware-adapter instance")),
            })
            .map_err(call_error)?;
        answer.map_err(|e| match e.code {
            ErrorCode::Unsupported => BootloaderError::Unsupported {
                plugin: name.clone(),
                message: bounded(&e.message),
            },
            code => BootloaderError::Plugin {
                plugin: name.clone(),
                function,
                code,
                message: bounded(&e.message),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_boot_takes_a_slot_and_a_limit() {
        match Call::parse("stage-boot", &json!({"slot": "B", "boot_limit": 3})) {
            Ok(Call::StageBoot(Slot::B, 3)) => {}
            _ => panic!("not parsed"),
        }
        for bad in [
            json!({"slot": "c", "boot_limit": 3}),
            json!({"slot": "A"}),
            json!({"slot": "A", "boot_limit": -1}),
            json!({"slot": "A", "boot_limit": 3, "x": 1}),
        ] {
            assert!(
                matches!(Call::parse("stage-boot", &bad), Err(ArgsError::Bad(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_name_the_adapter_and_the_function() {
        let plugin = PluginName::new("hw-board").unwrap();
        let error = BootloaderError::Plugin {
            plugin: plugin.clone(),
            function: "stage-boot",
            code: ErrorCode::InvalidInput,
            message: "slot a is the booted slot".into(),
        };
        assert_eq!(
            error.to_string(),
            "adapter 'hw-board' failed stage-boot: invalid-input: slot a is the booted slot"
        );
        assert_eq!(error.plugin(), &plugin);
        assert!(!error.is_unsupported());
        let unsupported = BootloaderError::Unsupported {
            plugin,
            message: no_bootloader_side().message,
        };
        assert_eq!(
            unsupported.to_string(),
            "adapter 'hw-board' has no bootloader side: built against osb:plugin 0.1.0, which has no bootloader side"
        );
    }
}
