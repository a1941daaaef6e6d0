//! Bindings of `osb:plugin@0.2.0` (`sdk/wit/v0.2.0`), released: `latest`,
//! whose types the rest of the host works with. It added the hardware
//! adapter's bootloader side (`boot-state`, `stage-boot`, `commit-boot`).

/// The imports every plugin world shares, generated once.
pub mod host {
    wasmtime::component::bindgen!({
        path: "../sdk/wit/v0.2.0",
        world: "osb:plugin/host",
        imports: { default: trappable },
        with: {
            "osb:plugin/device.channel": crate::host_api::device::Channel,
        },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

macro_rules! kind_world {
    ($module:ident, $world:literal) => {
        pub mod $module {
            wasmtime::component::bindgen!({
                path: "../sdk/wit/v0.2.0",
                world: $world,
                // Exports are called async: the host imports they reach
                // wait under the call's deadline (see `deadline.rs`).
                exports: { default: async },
                with: {
                    "osb:plugin/types": super::host::osb::plugin::types,
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

pub use host::osb::plugin::types::{ErrorCode, PluginError, TimeInterval, Timestamp};

impl ErrorCode {
    /// The code as the WIT spells it (`invalid-input`), for messages.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::InvalidInput => "invalid-input",
            ErrorCode::PermissionDenied => "permission-denied",
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::Internal => "internal",
        }
    }
}
pub use time_source::exports::osb::plugin::time_source::TimeSample;
