//! The WebAssembly plugin host.
//!
//! Architecture invariant: this is the only crate that knows wasmtime.
//! The rest of the runtime sees [`PluginHost`], names, manifests and
//! JSON or typed call results.

pub mod api;
pub mod cache;
pub mod call;
pub mod cpu;
pub mod deadline;
pub mod engine;
pub mod grants;
pub mod host;
pub mod host_api;
pub mod http_url;
pub mod kinds;
pub mod limits;
pub mod loaded;
pub mod manifest;
pub mod package;
pub mod quarantine;
pub mod sensor;
pub mod trust;
pub mod versions;
pub mod watcher;
pub mod wit;

pub use cache::CacheOutcome;
pub use grants::EffectiveGrants;
pub use host::{
    CACHE_DIR, HostError, HostSettings, LoadError, LoadReport, PluginHost, PluginInfo,
    PluginSettings,
};
pub use host_api::http::HttpSettings;
pub use limits::{LimitOverrides, PluginLimits};
pub use loaded::CallError;
pub use manifest::{Capabilities, FsMode, Manifest, NetProtocol, PluginKind, PluginName};
pub use package::{Package, PackageError, Provenance, TrustPolicy};
pub use quarantine::QuarantinePolicy;
pub use sensor::{SensorId, SensorPattern};
pub use trust::{PublicKey, SecretKey};
pub use watcher::PluginWatcher;
