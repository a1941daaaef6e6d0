//! What `export_plugin!` and the other macros expand to. Not public API:
//! nothing here is covered by semver, and plugin code must not name it.
//!
//! What every plugin shares is here, once; what belongs to one kind (its
//! export bindings and the adapter from its trait to them) is in the
//! kind's module, re-exported below so the macros reach it by one path.

pub mod api;
pub mod bindings;
pub(crate) mod instance;

pub use crate::contract_policy::export as contract_policy;
pub use crate::hardware_adapter::export as hardware_adapter;
pub use crate::migration_step::export as migration_step;
pub use crate::time_source::export as time_source;

/// The body of `export_plugin!` for one kind: `$kind` is the trait,
/// `$module` the kind's export module here, holding `Adapter` and
/// `bindings`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_plugin_kind {
    ($kind:ident, $module:ident, $plugin:ty) => {
        const _: () = {
            // Fails with "the trait `TimeSource` is not implemented for ..."
            // rather than an error about generated `Guest` traits.
            fn assert_kind<T: $crate::$kind>() {}
            let _ = assert_kind::<$plugin>;
        };
        const _: () = {
            // wit-bindgen's export macros take a bare identifier.
            type OsbPlugin = $crate::__private::$module::Adapter<$plugin>;
            $crate::__private::bindings::lifecycle::export!(
                OsbPlugin with_types_in $crate::__private::bindings::lifecycle
            );
            $crate::__private::$module::bindings::export!(
                OsbPlugin with_types_in $crate::__private::$module::bindings
            );
        };
        const _: () = {
            // The API version the component was built against, for the
            // host to check against the manifest's `api`. Expanded here,
            // not defined in the SDK, so it is in the plugin's own object
            // and always linked; `#[used]` keeps it through LTO although
            // nothing reads it. Only on wasm: native builds (doctests) have
            // no use for it, and not every object format takes this name.
            #[cfg(target_arch = "wasm32")]
            #[unsafe(link_section = "osb:plugin-api")]
            #[used]
            static OSB_PLUGIN_API: $crate::__private::api::Section =
                $crate::__private::api::SECTION;
        };
    };
}
