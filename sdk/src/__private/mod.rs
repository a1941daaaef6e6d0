//! What `export_plugin!` and the other macros expand to. Not public API:
//! nothing here is covered by semver, and plugin code must not name it.

pub mod bindings;
mod instance;
mod kinds;

pub use kinds::{
    ContractPolicyExport, HardwareAdapterExport, MigrationStepExport, TimeSourceExport,
};
