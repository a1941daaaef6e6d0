//! OSB's pure state: the blocks (containers) a device's OS is built from,
//! as data, with no engine, file or plugin host in sight. The runtime
//! re-exports this crate as `osb_state`.
//!
//!
//! - [`target`]: the target state's types (typed, versioned JSON);
//!   [`validate`] checks what the types cannot say and reads a target
//!   state from JSON ([`TargetState::from_json`], [`TargetError`]): it
//!   depends on [`target`], never the reverse. [`schema`] generates the
//!   JSON Schema. The value types it is made of have a module each:
//!   [`name`] (also `PluginName`, the plugin host's naming rule), [`image`],
//!   [`mount`], [`port`], [`duration`], and [`settings`] for the container
//!   settings (capabilities, devices, namespaces, limits); [`kind`]: what
//!   a block is to the device (a container, an overlay, the host OS) and
//!   the image labels that say it.
//! - [`compose`]: importing the compose subset balena users write;
//!   [`balena`]: importing a balena target state (v3, or v2 local mode),
//!   each service's composition through [`compose`].
//! - [`current`]: what the engine has, as the planner sees it; [`labels`]:
//!   the `io.osb.*` labels and engine names that tie the two together.
//! - [`plan`](mod@plan): the pure planner, `plan(current, target, conditions)`.
//! - [`features`]: the feature labels (`io.balena.features.*`,
//!   `io.osb.features.*`) and the host access they grant; [`policy`]: the
//!   device policy, which privileges each app class and app may hold.
//!
//! The format is documented in `docs/target-state.md`.
//!
//! **Architecture invariant:** nothing here does IO or knows the engine; the
//! crate's dependencies (serde, schemars, semver, sha2 and parsers) hold
//! none either. The engine client (the only importer of bollard) and the
//! executor turn steps into engine calls and engine state back into a
//! [`CurrentState`].

pub mod balena;
pub mod compose;
pub mod current;
pub mod duration;
pub mod features;
pub mod gate;
pub mod image;
pub mod kind;
pub mod labels;
pub mod mount;
pub mod name;
pub mod plan;
pub mod policy;
pub mod port;
pub mod schema;
pub mod settings;
pub mod target;
mod unique;
pub mod validate;

pub use compose::{ComposeError, ComposeImport, ComposeWarning};
pub use current::{Container, ContainerStatus, CurrentState, Health};
pub use duration::HumanDuration;
pub use image::ImageRef;
pub use kind::{BlockKind, ImageClass, OverlaySettings};
pub use mount::VolumeMount;
pub use name::{AppName, BlockId, BlockName, NetworkName, PluginRef, VolumeName};
pub use plan::{Conditions, Step, TimeStatus, WaitReason, plan};
pub use port::PortMapping;
pub use target::{App, Block, TargetState};
pub use validate::{ReleaseError, TargetError};

/// The largest target document a reader should take, in bytes: a
/// target-state JSON, a balena target state or a compose file. Real ones
/// are a few KB; the bound is what keeps a broken or hostile file of
/// gigabytes out of a device's memory (as `osb_contract::MAX_CONTRACT_BYTES`
/// does for contracts). This crate reads no files, so the readers apply it.
pub const MAX_TARGET_BYTES: u64 = 4 << 20;
