//! OSB: an on-device runtime that builds an operating system out of blocks
//! (containers) and plugins (WebAssembly components).
//!
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod apply;
/// The pure state (target, validation, compose import, planner): the
/// `osb-state` crate, under the name the runtime has always used.
pub use osb_state as block;
pub mod cli;
pub mod config;
pub mod engine;
pub mod plugin;
pub mod time;
