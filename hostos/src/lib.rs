//! The host OS as blocks: what the runtime does on the device's own
//! filesystem for blocks that are not containers. An overlay block's files
//! go into the extension store, a hostapp block's root filesystem into the
//! inactive slot; at boot the extensions are stacked over the host with
//! overlayfs. Image content is hostile ground: it is unpacked beneath a
//! directory opened as a capability, and nothing in it is ever followed.
//!
//! The crate owns the device's filesystem outside the plugins' and blocks'
//! own directories; the engine stays `osb-engine`'s, and the runtime joins
//! the two (an image's export stream in, an installed extension out).

pub mod bootenv;
pub mod extensions;
pub mod mount;
pub mod slots;
pub mod stack;
mod tree;
pub mod unpack;

#[cfg(test)]
mod killed;
