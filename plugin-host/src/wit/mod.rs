//! Host bindings of the `osb:plugin` WIT, one module per version (as Zed
//! does for its extension API). `latest` is the newest *released* version:
//! the host's own code (imports, calls, the time service) works with its
//! types, and every other version converts to and from them in its module.
//! A draft of the next version converts too, until it is released and
//! takes over as `latest` (then the older ones convert to it).

// Generated bindings: their documentation is the WIT's.
#[allow(missing_docs)]
pub mod since_v0_1_0;
#[cfg(feature = "next-api")]
#[allow(missing_docs)]
pub mod since_v0_2_0;

/// The types the rest of the host works with.
pub use since_v0_1_0 as latest;
