//! OSB's runtime: what ties the plugin host (`osb-plugin-host`), the
//! engine client (`osb-engine`) and the pure state (`osb-state`) into a
//! device: the executor that converges blocks, the time service, the device
//! config, the preflight (policy and host checks of a target before it is
//! applied) and the daemon's loop. The `osb` binary (`osb-cli`) is its edge.
//!
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod adapter;
pub mod apply;
pub mod config;
pub mod control;
pub mod daemon;
pub mod device_contract;
pub mod engine_health;
mod escape;
pub mod mode;
pub mod preflight;
pub mod sensors;
pub mod time;
