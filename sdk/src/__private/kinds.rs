//! Adapters from the SDK's kind traits to the generated `Guest` traits.
//!
//! `export_plugin!(TimeSource for MyType)` names `TimeSourceExport<MyType>`
//! as the type implementing the generated traits; each method here fetches
//! the plugin value and forwards to the author's trait method.

use std::marker::PhantomData;

use super::bindings::{contract_policy, hardware_adapter, lifecycle, migration_step, time_source};
use super::instance;
use crate::{
    CheckOutcome, ContractPolicy, ControlInfo, Decision, HardwareAdapter, Migration, MigrationStep,
    PluginError, Release, SensorInfo, TimeSample, TimeSource, Timestamp,
};

use contract_policy::exports::osb::plugin::contract_policy as contract_policy_wit;
use hardware_adapter::exports::osb::plugin::hardware_adapter as hardware_adapter_wit;
use lifecycle::exports::osb::plugin::lifecycle as lifecycle_wit;
use migration_step::exports::osb::plugin::migration_step as migration_step_wit;
use time_source::exports::osb::plugin::time_source as time_source_wit;

/// Exports a [`TimeSource`] as `lifecycle` + `time-source`.
pub struct TimeSourceExport<T>(PhantomData<T>);

impl<T: TimeSource> lifecycle_wit::Guest for TimeSourceExport<T> {
    fn self_check() -> Result<(), PluginError> {
        instance::with(T::self_check)
    }
}

impl<T: TimeSource> time_source_wit::Guest for TimeSourceExport<T> {
    fn sample() -> Result<TimeSample, PluginError> {
        instance::with(T::sample)
    }

    fn observe(now: Timestamp) -> Result<(), PluginError> {
        instance::with(|plugin: &mut T| plugin.observe(now))
    }
}

/// Exports a [`HardwareAdapter`] as `lifecycle` + `hardware-adapter`.
pub struct HardwareAdapterExport<T>(PhantomData<T>);

impl<T: HardwareAdapter> lifecycle_wit::Guest for HardwareAdapterExport<T> {
    fn self_check() -> Result<(), PluginError> {
        instance::with(T::self_check)
    }
}

impl<T: HardwareAdapter> hardware_adapter_wit::Guest for HardwareAdapterExport<T> {
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

/// Exports a [`ContractPolicy`] as `lifecycle` + `contract-policy`.
pub struct ContractPolicyExport<T>(PhantomData<T>);

impl<T: ContractPolicy> lifecycle_wit::Guest for ContractPolicyExport<T> {
    fn self_check() -> Result<(), PluginError> {
        instance::with(T::self_check)
    }
}

impl<T: ContractPolicy> contract_policy_wit::Guest for ContractPolicyExport<T> {
    fn evaluate(device: String, release: Release) -> Result<Decision, PluginError> {
        instance::with(|plugin: &mut T| plugin.evaluate(&device, &release))
    }
}

/// Exports a [`MigrationStep`] as `lifecycle` + `migration-step`.
pub struct MigrationStepExport<T>(PhantomData<T>);

impl<T: MigrationStep> lifecycle_wit::Guest for MigrationStepExport<T> {
    fn self_check() -> Result<(), PluginError> {
        instance::with(T::self_check)
    }
}

impl<T: MigrationStep> migration_step_wit::Guest for MigrationStepExport<T> {
    fn check(migration: Migration) -> Result<CheckOutcome, PluginError> {
        instance::with(|plugin: &mut T| plugin.check(&migration))
    }

    fn apply(migration: Migration) -> Result<(), PluginError> {
        instance::with(|plugin: &mut T| plugin.apply(&migration))
    }

    fn rollback(migration: Migration) -> Result<(), PluginError> {
        instance::with(|plugin: &mut T| plugin.rollback(&migration))
    }
}
