//! Bindings of `osb:plugin@0.2.0` (`sdk/wit/v0.2.0`), the draft of the next
//! version, and its conversions to and from [`latest`](super::latest).
//!
//! The draft equals 0.1.0 but for its number, so every conversion is field
//! for field; the macros below check at compile time that both sides still
//! have the same fields and cases. When the draft changes a type (the
//! migration step and the adapter's bootloader side are next), that type's
//! conversion is written out by hand here.
//!
//! Shared unchanged, not converted: the `types` interface (timestamps,
//! intervals, plugin errors) and the device channel resource.

use wasmtime::component::Resource;

use super::latest;
use crate::host_api::StoreState;
use crate::host_api::device::Channel;

/// The imports every plugin world shares.
pub mod host {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/v0.2.0",
        world: "osb:plugin/host",
        imports: { default: trappable },
        with: {
            "osb:plugin/types": crate::wit::latest::host::osb::plugin::types,
            "osb:plugin/device.channel": crate::host_api::device::Channel,
        },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

macro_rules! kind_world {
    ($module:ident, $world:literal) => {
        #[allow(missing_docs)]
        pub mod $module {
            wasmtime::component::bindgen!({
                path: "../sdk/wit/v0.2.0",
                world: $world,
                // As in 0.1.0: exports are called async, under the deadline.
                exports: { default: async },
                with: {
                    "osb:plugin/types": crate::wit::latest::host::osb::plugin::types,
                    "osb:plugin/log": super::host::osb::plugin::log,
                    "osb:plugin/config": super::host::osb::plugin::config,
                    "osb:plugin/kv": super::host::osb::plugin::kv,
                    "osb:plugin/http": super::host::osb::plugin::http,
                    "osb:plugin/device": super::host::osb::plugin::device,
                },
                additional_derives: [serde::Serialize, serde::Deserialize],
            });
        }
    };
}

kind_world!(time_source, "osb:plugin/time-source-plugin");
kind_world!(hardware_adapter, "osb:plugin/hardware-adapter-plugin");
kind_world!(contract_policy, "osb:plugin/contract-policy-plugin");
kind_world!(migration_step, "osb:plugin/migration-step-plugin");

/// `From` between two records with the same fields. Destructured without
/// `..`: a field added on either side fails to compile here.
macro_rules! same_record {
    ($a:ident => $b:ident { $($field:ident),* $(,)? }) => {
        impl From<$a> for $b {
            fn from(v: $a) -> $b {
                let $a { $($field),* } = v;
                $b { $($field: $field.into()),* }
            }
        }
    };
}

/// `From` between two enums or variants with the same cases (a case's
/// payload converted too). Matched exhaustively: a case added on the
/// source side fails to compile here.
macro_rules! same_cases {
    ($a:ident => $b:ident { $($case:ident $(($x:ident))?),* $(,)? }) => {
        impl From<$a> for $b {
            fn from(v: $a) -> $b {
                match v {
                    $($a::$case $(($x))? => $b::$case $(($x.into()))?),*
                }
            }
        }
    };
}

// The imports: what the guest sends is converted to the latest types, the
// host's answer back to the draft's.
use host::osb::plugin::device::DeviceError as DeviceError2;
use host::osb::plugin::http::{
    HttpError as HttpError2, Request as Request2, Response as Response2,
};
use host::osb::plugin::kv::KvError as KvError2;
use host::osb::plugin::log::Level as Level2;
use latest::host::osb::plugin::device::DeviceError;
use latest::host::osb::plugin::http::{HttpError, Request, Response};
use latest::host::osb::plugin::kv::KvError;
use latest::host::osb::plugin::log::Level;

same_cases!(Level2 => Level { Trace, Debug, Info, Warn, Error });
same_cases!(KvError => KvError2 { Denied, TooLarge, Store });
same_record!(Request2 => Request { method, url, headers, body, timeout_ms });
same_record!(Response => Response2 { status, headers, body, sent_at, received_at });
same_cases!(HttpError => HttpError2 { Denied(m), InvalidRequest(m), Transport(m), Timeout });
same_cases!(DeviceError => DeviceError2 { Denied(m), Io(m), Closed });

// The exports: the host's arguments go to the draft's types, the plugin's
// answers come back as the latest types.
use contract_policy::exports::osb::plugin::contract_policy::{
    Decision as Decision2, Release as Release2,
};
use hardware_adapter::exports::osb::plugin::hardware_adapter::{
    ControlInfo as ControlInfo2, SensorInfo as SensorInfo2,
};
use latest::contract_policy::exports::osb::plugin::contract_policy::{Decision, Release};
use latest::hardware_adapter::exports::osb::plugin::hardware_adapter::{ControlInfo, SensorInfo};
use latest::migration_step::exports::osb::plugin::migration_step::{CheckOutcome, Migration};
use latest::time_source::exports::osb::plugin::time_source::TimeSample;
use migration_step::exports::osb::plugin::migration_step::{
    CheckOutcome as CheckOutcome2, Migration as Migration2,
};
use time_source::exports::osb::plugin::time_source::TimeSample as TimeSample2;

same_record!(TimeSample2 => TimeSample { interval, detail });
same_record!(SensorInfo2 => SensorInfo { id, description, unit });
same_record!(ControlInfo2 => ControlInfo { id, description, values });
same_record!(Release => Release2 { app, version, contract });
same_record!(Decision2 => Decision { allow, reasons });
same_record!(Migration => Migration2 { from_version, to_version });
same_cases!(CheckOutcome2 => CheckOutcome { Needed, Done });

/// Links the draft's imports, each answered by the latest version's.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<StoreState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    host::Host_::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
}

impl host::osb::plugin::log::Host for StoreState {
    fn log(&mut self, level: Level2, message: String) -> wasmtime::Result<()> {
        latest::host::osb::plugin::log::Host::log(self, level.into(), message)
    }
}

impl host::osb::plugin::config::Host for StoreState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        latest::host::osb::plugin::config::Host::get(self, key)
    }

    fn entries(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        latest::host::osb::plugin::config::Host::entries(self)
    }
}

impl host::osb::plugin::kv::Host for StoreState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError2>> {
        Ok(latest::host::osb::plugin::kv::Host::get(self, key)?.map_err(Into::into))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError2>> {
        Ok(latest::host::osb::plugin::kv::Host::set(self, key, value)?.map_err(Into::into))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError2>> {
        Ok(latest::host::osb::plugin::kv::Host::delete(self, key)?.map_err(Into::into))
    }

    fn keys(&mut self) -> wasmtime::Result<Result<Vec<String>, KvError2>> {
        Ok(latest::host::osb::plugin::kv::Host::keys(self)?.map_err(Into::into))
    }
}

impl host::osb::plugin::http::Host for StoreState {
    fn send(&mut self, request: Request2) -> wasmtime::Result<Result<Response2, HttpError2>> {
        let answer = latest::host::osb::plugin::http::Host::send(self, request.into())?;
        Ok(answer.map(Into::into).map_err(Into::into))
    }
}

impl host::osb::plugin::device::Host for StoreState {
    fn open(&mut self, name: String) -> wasmtime::Result<Result<Resource<Channel>, DeviceError2>> {
        Ok(latest::host::osb::plugin::device::Host::open(self, name)?.map_err(Into::into))
    }
}

impl host::osb::plugin::device::HostChannel for StoreState {
    fn name(&mut self, channel: Resource<Channel>) -> wasmtime::Result<String> {
        latest::host::osb::plugin::device::HostChannel::name(self, channel)
    }

    fn transact(
        &mut self,
        channel: Resource<Channel>,
        command: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, DeviceError2>> {
        let answer = latest::host::osb::plugin::device::HostChannel::transact(
            self, channel, command, timeout_ms,
        )?;
        Ok(answer.map_err(Into::into))
    }

    fn drop(&mut self, channel: Resource<Channel>) -> wasmtime::Result<()> {
        latest::host::osb::plugin::device::HostChannel::drop(self, channel)
    }
}
