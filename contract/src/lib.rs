//! OSB's contracts: what a device, an OS or a block is and what it needs,
//! read and matched with the semantics of balena's
//! [contrato](https://github.com/product-os/contrato), so balena's own
//! contracts (`tests/fixtures/`) mean here what their authors meant.
//!
//! - [`model`]: [`Contract`] and its [`Requirement`]s, read from JSON with
//!   every limit applied; errors name the field ([`ContractError`]).
//! - [`matching`]: [`check`] (a contract's requirements against a context,
//!   contrato's `satisfiesChildContract`) and [`check_children`] (a context
//!   against itself, `areChildrenSatisfied`), each a [`Report`] with a
//!   reason per requirement.
//! - [`version`]: how a requirement's `version` meets a contract's:
//!   [`range`] holds npm's range semantics on top of the `semver` crate.
//!
//! Decisions where contrato leaves room:
//! - Unknown top-level fields are kept ([`Contract::extra`]), as contrato
//!   keeps the raw object, but not interpreted (templates, `variants`).
//!   Unknown fields *in a requirement* are refused: contrato would match
//!   them against the candidate's raw object, and a typo there is a
//!   requirement that silently never holds.
//! - `or` and `not` groups may nest (contrato's schema allows it, its code
//!   reads one level).
//! - What a context offers besides its children is `provides` (contrato's
//!   `capabilities`, which it matches without the slug: here the slug counts).
//! - A version that is not semver is coerced (npm's `coerce`) before a range
//!   is applied; a requirement's version that is no range but has no range
//!   syntax (`wheezy`) compares by string equality; one with range syntax
//!   that does not parse is refused.
//!
//! Nothing loops: contracts form a tree (JSON has no references),
//! `provides` entries hold no contracts, and aliases are plain names never
//! resolved further. Size, nesting, counts and the work of a check are all
//! bounded ([`MAX_CONTRACT_BYTES`], [`MAX_NESTING`], [`MAX_CONTRACTS`],
//! [`MAX_REQUIREMENTS`], [`MAX_CHECK_STEPS`]).
//!
//! **Architecture invariant:** pure, no IO; it builds for wasm32-wasip2.

pub mod error;
pub mod matching;
pub mod model;
pub mod range;
pub mod version;

pub use error::ContractError;
pub use matching::{Entry, MAX_CHECK_STEPS, Report, check, check_children};
pub use model::{
    Contract, MAX_CONTRACT_BYTES, MAX_CONTRACTS, MAX_NESTING, MAX_REQUIREMENTS, Matcher, Provided,
    Requirement,
};
pub use range::{Range, RangeError};
pub use version::VersionReq;
