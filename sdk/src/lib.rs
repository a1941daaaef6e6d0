//! Write OSB plugins in Rust.
//!
//! An OSB plugin is a WebAssembly component that the OSB runtime hosts
//! in-process. It is one of four kinds, each a trait here with sensible
//! defaults:
//!
//! | kind               | trait               | what it does                                       |
//! |--------------------|---------------------|----------------------------------------------------|
//! | `time-source`      | [`TimeSource`]      | says where the true time lies, as an interval      |
//! | `hardware-adapter` | [`HardwareAdapter`] | the board: contract, sensors, controls, boot slot  |
//! | `contract-policy`  | [`ContractPolicy`]  | allows or rejects an app release, with reasons     |
//! | `migration-step`   | [`MigrationStep`]   | one step of a migration between OS releases        |
//!
//! Implement the trait for a type with [`Default`] and export it with
//! [`export_plugin!`]. The host's services are the modules [`log`],
//! [`config`], [`kv`], [`http`] and [`device`]; all but `log` and `config`
//! need a capability granted to the plugin (see the README for the
//! `plugin.toml` manifest).
//!
//! ```no_run
//! use osb_sdk::{PluginError, Result, TimeInterval, TimeSample, TimeSource, Timestamp};
//!
//! /// Claims the time is at least a configured instant.
//! #[derive(Default)]
//! struct Floor;
//!
//! impl TimeSource for Floor {
//!     fn sample(&mut self) -> Result<TimeSample> {
//!         let seconds: i64 = osb_sdk::config::parse("floor")?
//!             .ok_or_else(|| PluginError::invalid_input("config 'floor' is not set"))?;
//!         osb_sdk::debug!("floor is {seconds}");
//!         let interval = TimeInterval::at_least(Timestamp::from_unix_seconds(seconds));
//!         Ok(TimeSample::new(interval, "configured floor"))
//!     }
//! }
//!
//! osb_sdk::export_plugin!(TimeSource for Floor);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`: the crate is a
//! `cdylib`, and the `.wasm` it produces is already a component.
//!
//! # Errors and panics
//!
//! Every operation returns [`Result`], whose error is a [`PluginError`]: an
//! [`ErrorCode`] the host acts on and a message for the operator. A panic
//! traps the component (plugins build with `panic = "abort"`); the host
//! discards that instance and the next call gets a fresh one, with a fresh
//! plugin value. The panic message is sent to the host log first.
//!
//! # Compatibility
//!
//! This SDK targets the WIT package `osb:plugin@0.2.0` ([`API_VERSION`]); a
//! plugin built with it runs on any runtime that serves that API version,
//! and every later runtime does. The `next-api` feature builds against the
//! draft next version instead, which may still change: never for a plugin
//! shipped to devices. The `api-0-1-0` feature builds against the older
//! `0.1.0`, as an older SDK did, for testing hosts.

mod contract_policy;
mod hardware_adapter;
mod migration_step;
mod time_source;
mod types;

pub mod config;
pub mod device;
pub mod http;
pub mod kv;
pub mod log;

#[doc(hidden)]
pub mod __private;

#[cfg(all(feature = "harness", not(target_arch = "wasm32")))]
pub mod harness;

pub use contract_policy::{ContractPolicy, Decision, Release};
pub use hardware_adapter::{BootStatus, ControlInfo, HardwareAdapter, SensorInfo, Slot};
pub use migration_step::{CheckOutcome, Migration, MigrationStep};
pub use time_source::{TimeSample, TimeSource};
pub use types::{ErrorCode, PluginError, Result, TimeInterval, Timestamp};

/// The version of the `osb:plugin` WIT package this SDK targets; put it in
/// the manifest's `api` field. `"0.2.0"`, the draft `"0.3.0"` with the
/// `next-api` feature, or `"0.1.0"` with `api-0-1-0`.
pub const API_VERSION: &str = __private::api::VERSION;

/// Exports a type as the component's plugin.
///
/// Write `export_plugin!(<Kind> for <Type>);` once, at the crate root, where
/// `<Kind>` is one of `TimeSource`, `HardwareAdapter`, `ContractPolicy` or
/// `MigrationStep` and `<Type>` implements that trait:
///
/// ```no_run
/// # use osb_sdk::{CheckOutcome, Migration, MigrationStep, Result};
/// #[derive(Default)]
/// struct Noop;
///
/// impl MigrationStep for Noop {
///     fn check(&mut self, _: &Migration) -> Result<CheckOutcome> { Ok(CheckOutcome::Done) }
///     fn apply(&mut self, _: &Migration) -> Result<()> { Ok(()) }
///     fn rollback(&mut self, _: &Migration) -> Result<()> { Ok(()) }
/// }
///
/// osb_sdk::export_plugin!(MigrationStep for Noop);
/// ```
///
/// The component then exports `osb:plugin/lifecycle` and the kind's
/// interface, nothing else, and carries [`API_VERSION`] in the custom
/// section `osb:plugin-api` for the host to check. A component holds
/// exactly one plugin: a second `export_plugin!` in the same crate fails to
/// compile ("symbol ... is already defined").
#[macro_export]
macro_rules! export_plugin {
    (TimeSource for $plugin:ty) => {
        $crate::__export_plugin_kind!(TimeSource, time_source, $plugin);
    };
    (HardwareAdapter for $plugin:ty) => {
        $crate::__export_plugin_kind!(HardwareAdapter, hardware_adapter, $plugin);
    };
    (ContractPolicy for $plugin:ty) => {
        $crate::__export_plugin_kind!(ContractPolicy, contract_policy, $plugin);
    };
    (MigrationStep for $plugin:ty) => {
        $crate::__export_plugin_kind!(MigrationStep, migration_step, $plugin);
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "expected `export_plugin!(<Kind> for <Type>)` with <Kind> one of \
             TimeSource, HardwareAdapter, ContractPolicy, MigrationStep"
        );
    };
}
