//! The `contract-policy` kind: decides whether an app release may run on
//! this device, with reasons.

use serde_json::Value;
use wasmtime::Store;

use super::{ArgsError, args, outcome, versions};
use crate::host_api::StoreState;
use crate::wit::latest::contract_policy::exports::osb::plugin::contract_policy::Release;

versions!(
    contract_policy,
    ContractPolicyPluginPre,
    ContractPolicyPlugin
);

/// The functions, `self-check` first.
pub const FUNCTIONS: &[&str] = &["self-check", "evaluate"];

/// A parsed JSON call.
pub enum Call {
    /// `evaluate(device, release)`: the device's contract as JSON text.
    Evaluate(String, Release),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluateArgs {
    device: String,
    release: Release,
}

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "evaluate" => args::<EvaluateArgs>(a).map(|a| Call::Evaluate(a.device, a.release)),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

impl Instance {
    /// Runs a parsed JSON call.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        let Call::Evaluate(device, release) = call;
        Ok(match self {
            Instance::V0_1_0(e) => outcome(
                e.osb_plugin_contract_policy()
                    .call_evaluate(store, &device, &release)
                    .await?,
            ),
            #[cfg(feature = "next-api")]
            Instance::V0_2_0(e) => outcome(
                e.osb_plugin_contract_policy()
                    .call_evaluate(store, &device, &release.into())
                    .await?
                    .map(crate::wit::latest::contract_policy::exports::osb::plugin::contract_policy::Decision::from),
            ),
        })
    }
}
