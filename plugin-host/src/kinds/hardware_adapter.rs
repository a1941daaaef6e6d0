//! The `hardware-adapter` kind: board support; describes the device and
//! exposes its sensors and controls.

use serde_json::{Value, json};
use wasmtime::Store;

use super::{ArgsError, args, no_args, outcome, versions};
use crate::host_api::StoreState;

versions!(
    hardware_adapter,
    HardwareAdapterPluginPre,
    HardwareAdapterPlugin
);

/// The functions, `self-check` first.
pub const FUNCTIONS: &[&str] = &[
    "self-check",
    "device-contract",
    "sensors",
    "read-sensor",
    "controls",
    "set-control",
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

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "device-contract" => no_args(a).map(|()| Call::DeviceContract),
            "sensors" => no_args(a).map(|()| Call::Sensors),
            "controls" => no_args(a).map(|()| Call::Controls),
            "read-sensor" => args::<IdArg>(a).map(|a| Call::ReadSensor(a.id)),
            "set-control" => args::<SetControlArgs>(a).map(|a| Call::SetControl(a.id, a.value)),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

impl Instance {
    /// Runs a parsed JSON call. The answers of other versions are converted
    /// to the latest types, so the JSON is the same whatever the version.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        match self {
            Instance::V0_1_0(e) => {
                let h = e.osb_plugin_hardware_adapter();
                Ok(match call {
                    Call::DeviceContract => outcome(h.call_device_contract(store).await?),
                    Call::Sensors => json!({ "ok": h.call_sensors(store).await? }),
                    Call::Controls => json!({ "ok": h.call_controls(store).await? }),
                    Call::ReadSensor(id) => outcome(h.call_read_sensor(store, &id).await?),
                    Call::SetControl(id, v) => outcome(h.call_set_control(store, &id, &v).await?),
                })
            }
            #[cfg(feature = "next-api")]
            Instance::V0_2_0(e) => {
                use crate::wit::latest::hardware_adapter::exports::osb::plugin::hardware_adapter::{
                    ControlInfo, SensorInfo,
                };
                let h = e.osb_plugin_hardware_adapter();
                Ok(match call {
                    Call::DeviceContract => outcome(h.call_device_contract(store).await?),
                    Call::Sensors => {
                        let sensors = h.call_sensors(store).await?;
                        let sensors: Vec<SensorInfo> =
                            sensors.into_iter().map(Into::into).collect();
                        json!({ "ok": sensors })
                    }
                    Call::Controls => {
                        let controls = h.call_controls(store).await?;
                        let controls: Vec<ControlInfo> =
                            controls.into_iter().map(Into::into).collect();
                        json!({ "ok": controls })
                    }
                    Call::ReadSensor(id) => outcome(h.call_read_sensor(store, &id).await?),
                    Call::SetControl(id, v) => outcome(h.call_set_control(store, &id, &v).await?),
                })
            }
        }
    }
}
