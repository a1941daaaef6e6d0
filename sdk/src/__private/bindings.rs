//! The generated bindings. Nothing here is public API: the SDK re-exports
//! the types it wants authors to use and wraps the imports in small modules.
//!
//! # Why the export worlds are not the WIT's `*-plugin` worlds
//!
//! Every `*-plugin` world exports `lifecycle`, and wit-bindgen names the
//! export glue macro of an interface after the interface alone
//! (`__export_osb_plugin_lifecycle_0_1_0_cabi`), `#[macro_export]`ed at the
//! crate root. Generating two `*-plugin` worlds in one crate therefore defines
//! that macro twice and does not compile, and `with` cannot remap an exported
//! interface. So the exports are split into one private world per exported
//! interface (`osb-sdk:exports`, below) and `export_plugin!` invokes two of
//! them, `lifecycle` plus the kind. The component that comes out is the same:
//! wit-component unions the worlds of all custom sections, so the component
//! imports what it uses from `osb:plugin@0.1.0` and exports exactly
//! `osb:plugin/lifecycle@0.1.0` and the kind's interface.

/// Imports (`osb:plugin/host`): shared types and the host interfaces.
pub mod host {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "osb:plugin/host",
        additional_derives: [PartialEq, Eq, Hash],
    });
}

/// Generates the bindings of one private export world, reusing the host
/// module's shared types so `PluginError` is one type across all kinds.
macro_rules! export_world {
    ($world:tt, $export_macro:tt, $module:tt) => {
        wit_bindgen::generate!({
            path: "wit/v0.1.0",
            // One world per exported interface; see the module docs for why.
            // The package never reaches a plugin: only the interfaces do.
            inline: "
                package osb-sdk:exports;
                world lifecycle { export osb:plugin/lifecycle@0.1.0; }
                world time-source { export osb:plugin/time-source@0.1.0; }
                world hardware-adapter { export osb:plugin/hardware-adapter@0.1.0; }
                world contract-policy { export osb:plugin/contract-policy@0.1.0; }
                world migration-step { export osb:plugin/migration-step@0.1.0; }
            ",
            world: $world,
            with: {
                "osb:plugin/types@0.1.0": crate::__private::bindings::host::osb::plugin::types,
            },
            additional_derives: [PartialEq, Eq, Hash],
            pub_export_macro: true,
            export_macro_name: $export_macro,
            default_bindings_module: $module,
        });
    };
}

/// Export glue for `osb:plugin/lifecycle`, which every plugin exports.
pub mod lifecycle {
    export_world!(
        "lifecycle",
        "export",
        "$crate::__private::bindings::lifecycle"
    );
}

/// Export glue for `osb:plugin/time-source`.
pub mod time_source {
    export_world!(
        "time-source",
        "export",
        "$crate::__private::bindings::time_source"
    );
}

/// Export glue for `osb:plugin/hardware-adapter`.
pub mod hardware_adapter {
    export_world!(
        "hardware-adapter",
        "export",
        "$crate::__private::bindings::hardware_adapter"
    );
}

/// Export glue for `osb:plugin/contract-policy`.
pub mod contract_policy {
    export_world!(
        "contract-policy",
        "export",
        "$crate::__private::bindings::contract_policy"
    );
}

/// Export glue for `osb:plugin/migration-step`.
pub mod migration_step {
    export_world!(
        "migration-step",
        "export",
        "$crate::__private::bindings::migration_step"
    );
}
