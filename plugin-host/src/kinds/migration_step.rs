//! The `migration-step` kind: one step of a migration between OS releases,
//! checked, applied and rolled back.

use serde_json::Value;
use wasmtime::Store;

use super::{ArgsError, args, outcome, versions};
use crate::host_api::StoreState;
use crate::wit::latest::migration_step::exports::osb::plugin::migration_step::{
    CheckOutcome, Migration,
};

versions!(migration_step, MigrationStepPluginPre, MigrationStepPlugin);

/// The functions, `self-check` first.
pub const FUNCTIONS: &[&str] = &["self-check", "check", "apply", "rollback"];

/// A parsed JSON call.
pub enum Call {
    /// `check(migration)`: is the step's work still to do?
    Check(Migration),
    /// `apply(migration)`.
    Apply(Migration),
    /// `rollback(migration)`.
    Rollback(Migration),
}

impl Call {
    /// `function` with JSON `args`.
    pub fn parse(function: &str, a: &Value) -> Result<Call, ArgsError> {
        match function {
            "check" => args(a).map(Call::Check),
            "apply" => args(a).map(Call::Apply),
            "rollback" => args(a).map(Call::Rollback),
            _ => Err(ArgsError::NoSuchFunction),
        }
    }
}

impl Instance {
    /// Runs a parsed JSON call.
    pub async fn call(&self, store: &mut Store<StoreState>, call: Call) -> wasmtime::Result<Value> {
        // Another version than the latest: arguments and answers converted.
        macro_rules! converted {
            ($e:ident) => {{
                let m = $e.osb_plugin_migration_step();
                match call {
                    Call::Check(mig) => outcome(
                        m.call_check(store, &mig.into())
                            .await?
                            .map(CheckOutcome::from),
                    ),
                    Call::Apply(mig) => outcome(m.call_apply(store, &mig.into()).await?),
                    Call::Rollback(mig) => outcome(m.call_rollback(store, &mig.into()).await?),
                }
            }};
        }
        Ok(match self {
            Instance::V0_2_0(e) => {
                let m = e.osb_plugin_migration_step();
                match call {
                    Call::Check(mig) => outcome(m.call_check(store, &mig).await?),
                    Call::Apply(mig) => outcome(m.call_apply(store, &mig).await?),
                    Call::Rollback(mig) => outcome(m.call_rollback(store, &mig).await?),
                }
            }
            Instance::V0_1_0(e) => converted!(e),
            #[cfg(feature = "next-api")]
            Instance::V0_3_0(e) => converted!(e),
        })
    }
}
