//! The file-based boot environment: OSB's reference bootloader, behaving
//! like U-Boot's `bootcount` / `bootlimit` / `upgrade_available`, which the
//! tests boot by and a board without a bootloader of its own could use.
//!
//! Two sides use it, so the format and the rules live here once, pure:
//! the hardware adapter (a wasm plugin) reads and writes the file to stage
//! and commit an update, and the host's "power-on" (`osb-hostos`) reads it,
//! counts the boot and picks the slot, as the bootloader would. Neither
//! can drift from the other's reading of the file.
//!
//! The file ([`FILE_NAME`]) holds `key=value` lines:
//!
//! ```text
//! boot_slot=b
//! fallback_slot=a
//! upgrade_available=1
//! bootcount=1
//! bootlimit=3
//! booted_slot=b
//! rolled_back_from=
//! ```
//!
//! `boot_slot` is the slot the next boot takes; `upgrade_available=1` says
//! an update is unconfirmed, so each boot counts (`bootcount`) and once
//! `bootlimit` have passed the next boot takes `fallback_slot`;
//! `booted_slot` is the slot the last boot took; `rolled_back_from` names
//! an update given up on, until the next stage (empty: none).
//!
//! Blank lines and `#` lines are skipped; keys this crate does not own are
//! kept as read (a real environment holds many). What is read is bounded
//! ([`MAX_BYTES`]) and every error names the line and the key.

mod env;
mod rules;

pub use env::{Env, EnvError, FILE_NAME, MAX_BYTES, Slot};
pub use rules::{BootStatus, MAX_BOOT_LIMIT, PowerOn, Refused};
