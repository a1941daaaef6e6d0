//! Calls by function name with JSON arguments and results, for the CLI and
//! for scripts. Arguments are parsed before the plugin runs, so a caller's
//! mistake never counts against the plugin.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wasmtime::Store;

use super::deadline::CallDriver;
use super::host_api::StoreState;
use super::loaded::{CallError, Exports, LoadedPlugin};
use super::wit::latest::{PluginError, Timestamp};
use super::wit::latest::{contract_policy, migration_step};

/// A parsed call.
enum Invocation {
    SelfCheck,
    Sample,
    Observe(Timestamp),
    DeviceContract,
    Sensors,
    ReadSensor(String),
    Controls,
    SetControl(String, String),
    Evaluate(
        String,
        contract_policy::exports::osb::plugin::contract_policy::Release,
    ),
    Check(migration_step::exports::osb::plugin::migration_step::Migration),
    Apply(migration_step::exports::osb::plugin::migration_step::Migration),
    Rollback(migration_step::exports::osb::plugin::migration_step::Migration),
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
struct EvaluateArgs {
    device: String,
    release: contract_policy::exports::osb::plugin::contract_policy::Release,
}

impl Invocation {
    fn parse(plugin: &LoadedPlugin, function: &str, args: &Value) -> Result<Invocation, CallError> {
        if !plugin.kind().functions().contains(&function) {
            return Err(plugin.no_such_function(function));
        }
        let none = || -> Result<(), CallError> {
            match args {
                Value::Null => Ok(()),
                Value::Object(m) if m.is_empty() => Ok(()),
                _ => Err(bad(function, "takes no arguments".into())),
            }
        };
        Ok(match function {
            "self-check" => none().map(|_| Invocation::SelfCheck)?,
            "sample" => none().map(|_| Invocation::Sample)?,
            "observe" => Invocation::Observe(parse(function, args)?),
            "device-contract" => none().map(|_| Invocation::DeviceContract)?,
            "sensors" => none().map(|_| Invocation::Sensors)?,
            "controls" => none().map(|_| Invocation::Controls)?,
            "read-sensor" => Invocation::ReadSensor(parse::<IdArg>(function, args)?.id),
            "set-control" => {
                let a: SetControlArgs = parse(function, args)?;
                Invocation::SetControl(a.id, a.value)
            }
            "evaluate" => {
                let a: EvaluateArgs = parse(function, args)?;
                Invocation::Evaluate(a.device, a.release)
            }
            "check" => Invocation::Check(parse(function, args)?),
            "apply" => Invocation::Apply(parse(function, args)?),
            "rollback" => Invocation::Rollback(parse(function, args)?),
            // `functions()` lists exactly the names matched above.
            other => return Err(bad(other, "unknown function".into())),
        })
    }
}

fn bad(function: &str, reason: String) -> CallError {
    CallError::BadArguments {
        function: function.to_owned(),
        reason,
    }
}

fn parse<T: DeserializeOwned>(function: &str, args: &Value) -> Result<T, CallError> {
    serde_json::from_value(args.clone()).map_err(|e| bad(function, e.to_string()))
}

/// `{"ok": value}` or `{"error": {"code": ..., "message": ...}}`.
fn outcome<T: Serialize>(r: Result<T, PluginError>) -> Value {
    match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": e }),
    }
}

/// Calls `function` on the plugin with JSON arguments.
pub fn call_json(
    plugin: &LoadedPlugin,
    driver: &CallDriver,
    function: &str,
    args: &Value,
) -> Result<Value, CallError> {
    let invocation = Invocation::parse(plugin, function, args)?;
    let mismatch = || wasmtime::Error::msg("export does not match the plugin's kind");
    plugin.call(
        driver,
        async move |store: &mut Store<StoreState>, exports: &Exports| {
            use Invocation as I;
            let value = match (exports, invocation) {
                (e, I::SelfCheck) => outcome(self_check(store, e).await?),
                (Exports::TimeSource(t), I::Sample) => {
                    outcome(t.osb_plugin_time_source().call_sample(store).await?)
                }
                (Exports::TimeSource(t), I::Observe(ts)) => {
                    outcome(t.osb_plugin_time_source().call_observe(store, ts).await?)
                }
                (Exports::HardwareAdapter(h), I::DeviceContract) => outcome(
                    h.osb_plugin_hardware_adapter()
                        .call_device_contract(store)
                        .await?,
                ),
                (Exports::HardwareAdapter(h), I::Sensors) => {
                    json!({ "ok": h.osb_plugin_hardware_adapter().call_sensors(store).await? })
                }
                (Exports::HardwareAdapter(h), I::Controls) => {
                    json!({ "ok": h.osb_plugin_hardware_adapter().call_controls(store).await? })
                }
                (Exports::HardwareAdapter(h), I::ReadSensor(id)) => outcome(
                    h.osb_plugin_hardware_adapter()
                        .call_read_sensor(store, &id)
                        .await?,
                ),
                (Exports::HardwareAdapter(h), I::SetControl(id, v)) => outcome(
                    h.osb_plugin_hardware_adapter()
                        .call_set_control(store, &id, &v)
                        .await?,
                ),
                (Exports::ContractPolicy(p), I::Evaluate(device, release)) => outcome(
                    p.osb_plugin_contract_policy()
                        .call_evaluate(store, &device, &release)
                        .await?,
                ),
                (Exports::MigrationStep(m), I::Check(mig)) => outcome(
                    m.osb_plugin_migration_step()
                        .call_check(store, &mig)
                        .await?,
                ),
                (Exports::MigrationStep(m), I::Apply(mig)) => outcome(
                    m.osb_plugin_migration_step()
                        .call_apply(store, &mig)
                        .await?,
                ),
                (Exports::MigrationStep(m), I::Rollback(mig)) => outcome(
                    m.osb_plugin_migration_step()
                        .call_rollback(store, &mig)
                        .await?,
                ),
                // `Invocation::parse` checked the function against the kind.
                _ => return Err(mismatch()),
            };
            Ok(value)
        },
    )
}

/// Every world exports `lifecycle`; each world's bindings have their own type for it.
pub async fn self_check(
    store: &mut Store<StoreState>,
    exports: &Exports,
) -> wasmtime::Result<Result<(), PluginError>> {
    match exports {
        Exports::TimeSource(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
        Exports::HardwareAdapter(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
        Exports::ContractPolicy(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
        Exports::MigrationStep(e) => e.osb_plugin_lifecycle().call_self_check(store).await,
    }
}
