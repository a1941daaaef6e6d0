//! Host bindings of the `osb:plugin` WIT, one module per released version
//! (as Zed does for its extension API). The host dispatches on the
//! plugin's `api` version; once a second version exists, older modules
//! convert to the latest so the rest of the host sees one set of types.

pub mod since_v0_1_0;

/// The types the rest of the host works with.
pub use since_v0_1_0 as latest;
