//! Bindings of `osb:plugin@0.1.0` (`sdk/wit/v0.1.0`), released, and its
//! conversions to and from [`latest`](super::latest).
//!
//! 0.1.0 differs from 0.2.0 only by what 0.2.0 added: the hardware
//! adapter's bootloader side, which an adapter built against 0.1.0 does
//! not have (the host answers `unsupported` for it, `kinds/hardware_adapter.rs`).
//! Everything else converts field for field.

super::other_version!("../sdk/wit/v0.1.0");
