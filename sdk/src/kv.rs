//! A private, persistent key-value store (capability `kv`).
//!
//! Each plugin sees only its own namespace; without the `kv` grant every
//! call fails with [`KvError::Denied`].

use crate::__private::bindings::host::osb::plugin::kv as wit;
use crate::PluginError;

/// Why a key-value call failed: `Denied` (no `kv` grant), `TooLarge` (the key
/// or value exceeds the host's limits) or `Store` (the store itself failed).
pub use wit::KvError;

/// The value stored under `key`, or `None` if there is none.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    wit::get(key)
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    wit::set(key, value)
}

/// Removes `key`; removing a missing key succeeds.
pub fn delete(key: &str) -> Result<(), KvError> {
    wit::delete(key)
}

/// Every key in the plugin's namespace.
pub fn keys() -> Result<Vec<String>, KvError> {
    wit::keys()
}

impl From<KvError> for PluginError {
    /// Lets `?` turn a key-value failure into a plugin error.
    fn from(error: KvError) -> Self {
        match error {
            KvError::Denied => {
                PluginError::permission_denied("key-value store not granted (capability 'kv')")
            }
            KvError::TooLarge => {
                PluginError::invalid_input("key or value too large for the key-value store")
            }
            KvError::Store => PluginError::unavailable("key-value store failed"),
        }
    }
}
