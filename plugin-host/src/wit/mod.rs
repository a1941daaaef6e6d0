//! Host bindings of the `osb:plugin` WIT, one module per version (as Zed
//! does for its extension API). `latest` is the newest *released* version:
//! the host's own code (imports, calls, the time service) works with its
//! types, and every other version converts to and from them in its module.
//! A draft of the next version converts too, until it is released and
//! takes over as `latest` (then the older ones convert to it).
//!
//! What every version other than `latest` has (its bindings, the shared
//! imports answered by `latest`'s, the conversions of types that did not
//! change) is written once, in [`other_version!`]; a version's module adds
//! by hand only the conversions of what changed.

// Generated bindings: their documentation is the WIT's.
#[allow(missing_docs)]
pub mod since_v0_1_0;
#[allow(missing_docs)]
pub mod since_v0_2_0;
#[cfg(feature = "next-api")]
#[allow(missing_docs)]
pub mod since_v0_3_0;

/// The types the rest of the host works with.
pub use since_v0_2_0 as latest;

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
pub(crate) use same_record;

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
pub(crate) use same_cases;

/// The bindings of a version other than `latest` whose WIT is at `$path`,
/// and what they share with it: the `types` interface and the device
/// channel resource are `latest`'s own (unchanged since 0.1.0), the other
/// imports are answered by `latest`'s through conversions, and the exports
/// that did not change convert field for field. `add_to_linker` links the
/// version's imports.
macro_rules! other_version {
    ($path:literal) => {
        use wasmtime::component::Resource;

        use crate::host_api::StoreState;
        use crate::host_api::device::Channel;
        use crate::wit::latest;
        use crate::wit::{same_cases, same_record};

        /// The imports every plugin world shares.
        pub mod host {
            wasmtime::component::bindgen!({
                path: $path,
                world: "osb:plugin/host",
                imports: { default: trappable },
                with: {
                    "osb:plugin/types": crate::wit::latest::host::osb::plugin::types,
                    "osb:plugin/device.channel": crate::host_api::device::Channel,
                },
                additional_derives: [serde::Serialize, serde::Deserialize],
            });
        }

        $crate::wit::other_version!(@kind $path, time_source, "osb:plugin/time-source-plugin");
        $crate::wit::other_version!(@kind $path, hardware_adapter, "osb:plugin/hardware-adapter-plugin");
        $crate::wit::other_version!(@kind $path, contract_policy, "osb:plugin/contract-policy-plugin");
        $crate::wit::other_version!(@kind $path, migration_step, "osb:plugin/migration-step-plugin");

        // The imports: what the guest sends is converted to the latest
        // types, the host's answer back to this version's.
        use host::osb::plugin::device::DeviceError as DeviceErrorV;
        use host::osb::plugin::http::{
            HttpError as HttpErrorV, Request as RequestV, Response as ResponseV,
        };
        use host::osb::plugin::kv::KvError as KvErrorV;
        use host::osb::plugin::log::Level as LevelV;
        use latest::host::osb::plugin::device::DeviceError;
        use latest::host::osb::plugin::http::{HttpError, Request, Response};
        use latest::host::osb::plugin::kv::KvError;
        use latest::host::osb::plugin::log::Level;

        same_cases!(LevelV => Level { Trace, Debug, Info, Warn, Error });
        same_cases!(KvError => KvErrorV { Denied, TooLarge, Store });
        same_record!(RequestV => Request { method, url, headers, body, timeout_ms });
        same_record!(Response => ResponseV { status, headers, body, sent_at, received_at });
        same_cases!(HttpError => HttpErrorV { Denied(m), InvalidRequest(m), Transport(m), Timeout });
        same_cases!(DeviceError => DeviceErrorV { Denied(m), Io(m), Closed });

        // The exports unchanged since 0.1.0: the host's arguments go to
        // this version's types, the plugin's answers come back as the
        // latest types.
        use contract_policy::exports::osb::plugin::contract_policy::{
            Decision as DecisionV, Release as ReleaseV,
        };
        use hardware_adapter::exports::osb::plugin::hardware_adapter::{
            ControlInfo as ControlInfoV, SensorInfo as SensorInfoV,
        };
        use latest::contract_policy::exports::osb::plugin::contract_policy::{Decision, Release};
        use latest::hardware_adapter::exports::osb::plugin::hardware_adapter::{
            ControlInfo, SensorInfo,
        };
        use latest::migration_step::exports::osb::plugin::migration_step::{
            CheckOutcome, Migration,
        };
        use latest::time_source::exports::osb::plugin::time_source::TimeSample;
        use migration_step::exports::osb::plugin::migration_step::{
            CheckOutcome as CheckOutcomeV, Migration as MigrationV,
        };
        use time_source::exports::osb::plugin::time_source::TimeSample as TimeSampleV;

        same_record!(TimeSampleV => TimeSample { interval, detail });
        same_record!(SensorInfoV => SensorInfo { id, description, unit });
        same_record!(ControlInfoV => ControlInfo { id, description, values });
        same_record!(Release => ReleaseV { app, version, contract });
        same_record!(DecisionV => Decision { allow, reasons });
        same_record!(Migration => MigrationV { from_version, to_version });
        same_cases!(CheckOutcomeV => CheckOutcome { Needed, Done });

        /// Links this version's imports, each answered by the latest
        /// version's.
        pub fn add_to_linker(
            linker: &mut wasmtime::component::Linker<StoreState>,
        ) -> wasmtime::Result<()> {
            use wasmtime::component::HasSelf;
            host::Host_::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
        }

        impl host::osb::plugin::log::Host for StoreState {
            fn log(&mut self, level: LevelV, message: String) -> wasmtime::Result<()> {
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
            fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvErrorV>> {
                Ok(latest::host::osb::plugin::kv::Host::get(self, key)?.map_err(Into::into))
            }

            fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvErrorV>> {
                Ok(latest::host::osb::plugin::kv::Host::set(self, key, value)?.map_err(Into::into))
            }

            fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvErrorV>> {
                Ok(latest::host::osb::plugin::kv::Host::delete(self, key)?.map_err(Into::into))
            }

            fn keys(&mut self) -> wasmtime::Result<Result<Vec<String>, KvErrorV>> {
                Ok(latest::host::osb::plugin::kv::Host::keys(self)?.map_err(Into::into))
            }
        }

        impl host::osb::plugin::http::Host for StoreState {
            fn send(&mut self, request: RequestV) -> wasmtime::Result<Result<ResponseV, HttpErrorV>> {
                let answer = latest::host::osb::plugin::http::Host::send(self, request.into())?;
                Ok(answer.map(Into::into).map_err(Into::into))
            }
        }

        impl host::osb::plugin::device::Host for StoreState {
            fn open(
                &mut self,
                name: String,
            ) -> wasmtime::Result<Result<Resource<Channel>, DeviceErrorV>> {
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
            ) -> wasmtime::Result<Result<Vec<u8>, DeviceErrorV>> {
                let answer = latest::host::osb::plugin::device::HostChannel::transact(
                    self, channel, command, timeout_ms,
                )?;
                Ok(answer.map_err(Into::into))
            }

            fn drop(&mut self, channel: Resource<Channel>) -> wasmtime::Result<()> {
                latest::host::osb::plugin::device::HostChannel::drop(self, channel)
            }
        }
    };
    (@kind $path:literal, $module:ident, $world:literal) => {
        #[allow(missing_docs)]
        pub mod $module {
            wasmtime::component::bindgen!({
                path: $path,
                world: $world,
                // As in `latest`: exports are called async, under the
                // deadline.
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
pub(crate) use other_version;
