//! The plugin kinds, one module each, and what is common to all of them,
//! written once here.
//!
//! A kind's module holds everything about it on the host side: the names of
//! its functions, how a JSON call to each is parsed and answered, and its
//! typed calls. Two macros hold the dispatch: `versions!` makes each
//! kind's pre-instantiated component and instance an enum over the API
//! versions the host serves ([`Api`]), and `kinds!` makes the host's view
//! of any plugin an enum over the kinds. A new version adds one line per
//! enum in `versions!`; a new kind adds a module and one line in `kinds!`.

pub mod contract_policy;
pub mod hardware_adapter;
pub mod migration_step;
pub mod time_source;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::api::Api;
use crate::host_api::StoreState;
use crate::manifest::PluginKind;
use crate::wit::latest::PluginError;

/// A kind's `Pre` (its world's pre-instantiated component) and `Instance`
/// (a live instance's exports), each an enum over the API versions, with
/// what every kind has: making them and `lifecycle.self-check`.
macro_rules! versions {
    ($world:ident, $pre:ident, $instance:ident) => {
        /// The component, linked and checked against its version's world.
        pub enum Pre {
            /// Built against `osb:plugin@0.1.0`.
            V0_1_0(crate::wit::since_v0_1_0::$world::$pre<crate::host_api::StoreState>),
            /// Built against `osb:plugin@0.2.0`.
            V0_2_0(crate::wit::since_v0_2_0::$world::$pre<crate::host_api::StoreState>),
            /// Built against the draft `osb:plugin@0.3.0`.
            #[cfg(feature = "next-api")]
            V0_3_0(crate::wit::since_v0_3_0::$world::$pre<crate::host_api::StoreState>),
        }

        /// A live instance's exports.
        pub enum Instance {
            /// Built against `osb:plugin@0.1.0`.
            V0_1_0(crate::wit::since_v0_1_0::$world::$instance),
            /// Built against `osb:plugin@0.2.0`.
            V0_2_0(crate::wit::since_v0_2_0::$world::$instance),
            /// Built against the draft `osb:plugin@0.3.0`.
            #[cfg(feature = "next-api")]
            V0_3_0(crate::wit::since_v0_3_0::$world::$instance),
        }

        impl Pre {
            /// Checks the component exports what `api`'s world requires.
            pub fn new(
                api: crate::api::Api,
                pre: wasmtime::component::InstancePre<crate::host_api::StoreState>,
            ) -> wasmtime::Result<Pre> {
                use crate::wit::since_v0_1_0::$world as v0_1_0;
                use crate::wit::since_v0_2_0::$world as v0_2_0;
                #[cfg(feature = "next-api")]
                use crate::wit::since_v0_3_0::$world as v0_3_0;
                Ok(match api {
                    crate::api::Api::V0_1_0 => Pre::V0_1_0(v0_1_0::$pre::new(pre)?),
                    crate::api::Api::V0_2_0 => Pre::V0_2_0(v0_2_0::$pre::new(pre)?),
                    #[cfg(feature = "next-api")]
                    crate::api::Api::V0_3_0 => Pre::V0_3_0(v0_3_0::$pre::new(pre)?),
                })
            }

            /// A fresh instance in `store`.
            pub async fn instantiate(
                &self,
                store: &mut wasmtime::Store<crate::host_api::StoreState>,
            ) -> wasmtime::Result<Instance> {
                Ok(match self {
                    Pre::V0_1_0(p) => Instance::V0_1_0(p.instantiate_async(store).await?),
                    Pre::V0_2_0(p) => Instance::V0_2_0(p.instantiate_async(store).await?),
                    #[cfg(feature = "next-api")]
                    Pre::V0_3_0(p) => Instance::V0_3_0(p.instantiate_async(store).await?),
                })
            }
        }

        impl Instance {
            /// `lifecycle.self-check`, which every kind exports.
            pub async fn self_check(
                &self,
                store: &mut wasmtime::Store<crate::host_api::StoreState>,
            ) -> wasmtime::Result<Result<(), crate::wit::latest::PluginError>> {
                match self {
                    Instance::V0_1_0(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
                    Instance::V0_2_0(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
                    #[cfg(feature = "next-api")]
                    Instance::V0_3_0(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
                }
            }
        }
    };
}
pub(crate) use versions;

/// The host's view of a plugin of any kind: enums over the kinds, and the
/// matches that pick the kind's module.
macro_rules! kinds {
    ($($kind:ident => $module:ident),* $(,)?) => {
        /// The pre-instantiated component, typed by its kind's world.
        pub enum KindPre {
            $(
                #[doc = concat!("A `", stringify!($module), "` plugin.")]
                $kind($module::Pre),
            )*
        }

        /// A live instance's exports, typed by its kind's world.
        pub enum Exports {
            $(
                #[doc = concat!("A `", stringify!($module), "` plugin.")]
                $kind($module::Instance),
            )*
        }

        /// A JSON call, parsed before the plugin runs.
        pub enum Invocation {
            /// `self-check`, which every kind has.
            SelfCheck,
            $(
                #[doc = concat!("A call of the `", stringify!($module), "` interface.")]
                $kind($module::Call),
            )*
        }

        impl PluginKind {
            /// The functions a plugin of this kind exports, `self-check` first.
            pub fn functions(self) -> &'static [&'static str] {
                match self {
                    $(PluginKind::$kind => $module::FUNCTIONS,)*
                }
            }
        }

        impl KindPre {
            /// Checks the component exports what `kind` requires in `api`.
            pub fn new(
                kind: PluginKind,
                api: Api,
                pre: InstancePre<StoreState>,
            ) -> wasmtime::Result<KindPre> {
                Ok(match kind {
                    $(PluginKind::$kind => KindPre::$kind($module::Pre::new(api, pre)?),)*
                })
            }

            /// A fresh instance in `store`.
            pub async fn instantiate(
                &self,
                store: &mut Store<StoreState>,
            ) -> wasmtime::Result<Exports> {
                Ok(match self {
                    $(KindPre::$kind(p) => Exports::$kind(p.instantiate(store).await?),)*
                })
            }
        }

        impl Exports {
            /// `lifecycle.self-check`.
            pub async fn self_check(
                &self,
                store: &mut Store<StoreState>,
            ) -> wasmtime::Result<Result<(), PluginError>> {
                match self {
                    $(Exports::$kind(e) => e.self_check(store).await,)*
                }
            }

            /// Runs a parsed JSON call; its answer as JSON.
            pub async fn call(
                &self,
                store: &mut Store<StoreState>,
                invocation: Invocation,
            ) -> wasmtime::Result<Value> {
                match (self, invocation) {
                    (e, Invocation::SelfCheck) => Ok(outcome(e.self_check(store).await?)),
                    $((Exports::$kind(e), Invocation::$kind(call)) => e.call(store, call).await,)*
                    // `Invocation::parse` took the kind from the plugin.
                    _ => Err(wasmtime::Error::msg("the call does not match the plugin's kind")),
                }
            }
        }

        impl Invocation {
            /// `function` of `kind` with JSON `args`; the error names what
            /// is wrong, and the plugin has not run.
            pub fn parse(
                kind: PluginKind,
                function: &str,
                args: &Value,
            ) -> Result<Invocation, ArgsError> {
                if function == "self-check" {
                    return no_args(args).map(|()| Invocation::SelfCheck);
                }
                match kind {
                    $(PluginKind::$kind => $module::Call::parse(function, args).map(Invocation::$kind),)*
                }
            }
        }
    };
}

kinds! {
    TimeSource => time_source,
    HardwareAdapter => hardware_adapter,
    ContractPolicy => contract_policy,
    MigrationStep => migration_step,
}

/// Why a JSON call was refused before the plugin ran.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// The kind has no such function.
    NoSuchFunction,
    /// The function exists; its arguments do not fit.
    Bad(String),
}

/// For functions without arguments: `null` or `{}`.
fn no_args(args: &Value) -> Result<(), ArgsError> {
    match args {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        _ => Err(ArgsError::Bad("takes no arguments".into())),
    }
}

/// The arguments as `T`, or why not.
fn args<T: DeserializeOwned>(args: &Value) -> Result<T, ArgsError> {
    serde_json::from_value(args.clone()).map_err(|e| ArgsError::Bad(e.to_string()))
}

/// `{"ok": value}` or `{"error": {"code": ..., "message": ...}}`.
fn outcome<T: Serialize>(r: Result<T, PluginError>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_lists_self_check_first_and_parses_each_of_its_functions() {
        for kind in [
            PluginKind::TimeSource,
            PluginKind::HardwareAdapter,
            PluginKind::ContractPolicy,
            PluginKind::MigrationStep,
        ] {
            let functions = kind.functions();
            assert_eq!(functions[0], "self-check", "{kind}");
            for function in functions {
                // Every listed function is known to the parser: any error
                // is about the (empty) arguments, never the name.
                let parsed = Invocation::parse(kind, function, &Value::Null);
                assert!(
                    !matches!(parsed, Err(ArgsError::NoSuchFunction)),
                    "{kind}: '{function}' is listed but not parsed"
                );
            }
            assert!(matches!(
                Invocation::parse(kind, "no-such", &Value::Null),
                Err(ArgsError::NoSuchFunction)
            ));
        }
    }

    #[test]
    fn arguments_are_checked_before_the_plugin_runs() {
        let bad = |kind, function, args: Value| match Invocation::parse(kind, function, &args) {
            Err(ArgsError::Bad(reason)) => reason,
            _ => panic!("{function} {args} accepted"),
        };
        assert!(bad(PluginKind::TimeSource, "sample", json!([1])).contains("no arguments"));
        assert!(
            bad(PluginKind::TimeSource, "observe", json!({"seconds": "x"}))
                .contains("invalid type")
        );
        assert!(
            bad(PluginKind::HardwareAdapter, "read-sensor", json!({"id": 1}))
                .contains("invalid type")
        );
        assert!(
            bad(
                PluginKind::HardwareAdapter,
                "set-control",
                json!({"id": "a", "value": "b", "x": 1})
            )
            .contains("unknown field")
        );
        assert!(bad(PluginKind::MigrationStep, "apply", json!({})).contains("missing field"));
    }
}
