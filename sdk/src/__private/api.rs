//! The `osb:plugin` version this build targets: its literals, and the
//! custom section that tells the host which version a component speaks.
//!
//! `wit_bindgen::generate!` is a proc macro and takes string literals, not
//! consts or `concat!`, so a version's WIT path, world and interface names
//! cannot be derived from one string. Instead `with_api!` hands one
//! `#[cfg]`'d set of literals to a `macro_rules!` callback (the literals
//! pass through as `tt`, which a proc macro still sees as literals), and
//! everything that names a version goes through it: the bindings and
//! [`VERSION`].

/// Invokes `$then! { $args.. version: .., path: .., types: .., exports: .. }`
/// with the literals of the released `osb:plugin@0.2.0`, the default.
#[cfg(not(any(feature = "next-api", feature = "api-0-1-0")))]
macro_rules! with_api {
    ($($then:ident)::+ ! { $($args:tt)* }) => {
        $($then)::+! {
            $($args)*
            version: "0.2.0",
            path: "wit/v0.2.0",
            types: "osb:plugin/types@0.2.0",
            // One world per exported interface: see `bindings` for why.
            // The package never reaches a plugin, only the interfaces do.
            exports: "
                package osb-sdk:exports;
                world lifecycle { export osb:plugin/lifecycle@0.2.0; }
                world time-source { export osb:plugin/time-source@0.2.0; }
                world hardware-adapter { export osb:plugin/hardware-adapter@0.2.0; }
                world contract-policy { export osb:plugin/contract-policy@0.2.0; }
                world migration-step { export osb:plugin/migration-step@0.2.0; }
            ",
        }
    };
}

/// The same for the older released `osb:plugin@0.1.0` (feature
/// `api-0-1-0`): what a plugin built with an older SDK is, for testing
/// that hosts keep serving it.
#[cfg(all(feature = "api-0-1-0", not(feature = "next-api")))]
macro_rules! with_api {
    ($($then:ident)::+ ! { $($args:tt)* }) => {
        $($then)::+! {
            $($args)*
            version: "0.1.0",
            path: "wit/v0.1.0",
            types: "osb:plugin/types@0.1.0",
            exports: "
                package osb-sdk:exports;
                world lifecycle { export osb:plugin/lifecycle@0.1.0; }
                world time-source { export osb:plugin/time-source@0.1.0; }
                world hardware-adapter { export osb:plugin/hardware-adapter@0.1.0; }
                world contract-policy { export osb:plugin/contract-policy@0.1.0; }
                world migration-step { export osb:plugin/migration-step@0.1.0; }
            ",
        }
    };
}

/// The same for the draft `osb:plugin@0.3.0` (feature `next-api`).
#[cfg(feature = "next-api")]
macro_rules! with_api {
    ($($then:ident)::+ ! { $($args:tt)* }) => {
        $($then)::+! {
            $($args)*
            version: "0.3.0",
            path: "wit/v0.3.0",
            types: "osb:plugin/types@0.3.0",
            exports: "
                package osb-sdk:exports;
                world lifecycle { export osb:plugin/lifecycle@0.3.0; }
                world time-source { export osb:plugin/time-source@0.3.0; }
                world hardware-adapter { export osb:plugin/hardware-adapter@0.3.0; }
                world contract-policy { export osb:plugin/contract-policy@0.3.0; }
                world migration-step { export osb:plugin/migration-step@0.3.0; }
            ",
        }
    };
}

#[cfg(all(feature = "next-api", feature = "api-0-1-0"))]
compile_error!("features `next-api` and `api-0-1-0` each choose the API version: enable one");

pub(crate) use with_api;

/// Defines [`VERSION`] from the version's literals.
macro_rules! version_const {
    (version: $version:tt, $($rest:tt)*) => {
        /// The targeted `osb:plugin` version, as `crate::API_VERSION`.
        pub const VERSION: &str = $version;
    };
}

with_api!(version_const! {});

/// The type of the static `export_plugin!` places in the custom section
/// `osb:plugin-api`, which the host reads to choose the bindings it serves
/// the component with: an array rather than a `&str`, so the section holds
/// the bytes themselves and not a pointer to them.
pub type Section = [u8; section_len()];

/// The section's content: the UTF-8 bytes of [`VERSION`], nothing else.
pub const SECTION: Section = section();

/// The section's length, a `const fn` so it can size [`Section`].
pub const fn section_len() -> usize {
    VERSION.len()
}

const fn section() -> Section {
    let mut section = [0; section_len()];
    section.copy_from_slice(VERSION.as_bytes());
    section
}
