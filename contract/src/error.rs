//! Why a contract was refused.

use crate::range::RangeError;

/// A contract that could not be read. Never a panic: every input,
/// however large, deep or malformed, ends here or in a [`crate::Contract`].
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The document is over [`crate::MAX_CONTRACT_BYTES`].
    #[error("contract is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, or nested deeper than `serde_json`'s recursion limit (128).
    #[error("not a JSON contract: {0}")]
    Json(#[from] serde_json::Error),
    /// More contracts or requirements than the limits allow.
    #[error("more {what} than the limit of {limit}")]
    TooMany {
        /// `contracts` or `requirements`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A field of the wrong shape.
    #[error("{path}: {message}")]
    Invalid {
        /// Where, e.g. `requires[2].data`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A requirement's `version` that is meant as a range but is none.
    #[error("{path}: {source}")]
    Range {
        /// Where, e.g. `requires[0].version`.
        path: String,
        /// The range and what is wrong with it.
        source: RangeError,
    },
}
