//! `osb:plugin/kv`: one private namespace per plugin name in the runtime's
//! redb store. A plugin can only ever name keys inside its own namespace:
//! the namespace is taken from the store state, never from the guest.
//!
//! Each namespace is held to the plugin's `kv_bytes` (keys and values) and
//! `kv_keys`; the usage is kept beside the data, in the same transaction,
//! so a set that would pass the quota is refused before anything is
//! written.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::StoreState;
use crate::wit::latest::host::osb::plugin::kv::{Host, KvError};

const TABLE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_kv");
/// Per namespace: (bytes of keys and values, keys).
const USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("plugin_kv_usage");
/// The longest key a plugin may use, in bytes of UTF-8; a longer one gets
/// `too-large`.
pub const MAX_KEY: usize = 256;
/// The largest value a plugin may set, in bytes; a larger one gets
/// `too-large`.
pub const MAX_VALUE: usize = 64 * 1024;

/// A namespace's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// Bytes of keys and values the namespace may hold.
    pub bytes: u64,
    /// Keys the namespace may hold.
    pub keys: u64,
}

/// Why a set failed.
#[derive(Debug, thiserror::Error)]
pub enum KvSetError {
    #[error(
        "the key-value quota would be passed: {bytes} bytes in {keys} keys, of at most {} bytes in {} keys",
        quota.bytes,
        quota.keys
    )]
    /// The set would take the namespace past its quota; nothing was
    /// written.
    Quota {
        /// Bytes of keys and values the namespace would have held.
        bytes: u64,
        /// Keys it would have held.
        keys: u64,
        /// The quota that refused it.
        quota: KvQuota,
    },
    /// Reading or writing the redb store failed.
    #[error(transparent)]
    Store(#[from] redb::Error),
}

/// A namespace's usage as the usage table has it, or counted afresh (a
/// store written before the table existed).
fn usage_of(txn: &WriteTransaction, ns: &str) -> Result<(u64, u64), redb::Error> {
    if let Some(u) = txn.open_table(USAGE)?.get(ns)? {
        return Ok(u.value());
    }
    let table = txn.open_table(TABLE)?;
    let mut used = (0u64, 0u64);
    for entry in table.range((ns, "")..)? {
        let (k, v) = entry?;
        let (key_ns, key) = k.value();
        if key_ns != ns {
            break;
        }
        used.0 += (key.len() + v.value().len()) as u64;
        used.1 += 1;
    }
    Ok(used)
}

/// Every plugin's key-value data in one redb file, a namespace per plugin
/// name, each namespace's usage kept beside it. Clones share the database.
#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
}

impl KvStore {
    /// Opens the store at `path`, creating it if missing. Fails when the
    /// file is not a redb database or is open already (redb allows one
    /// handle per file).
    pub fn open(path: &Path) -> Result<KvStore, redb::DatabaseError> {
        Ok(KvStore {
            db: Arc::new(Database::create(path)?),
        })
    }

    /// The database, for the host's other records kept beside the plugins'
    /// data (redb allows one handle per file).
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// The value of `key` in namespace `ns`; `None` when it is not set.
    pub fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get((ns, key))?.map(|v| v.value().to_vec()))
    }

    /// Durable when it returns: redb commits with fsync. Refused, with
    /// nothing written, when the namespace would pass `quota`.
    pub fn set(&self, ns: &str, key: &str, value: &[u8], quota: KvQuota) -> Result<(), KvSetError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        let (bytes, keys) = usage_of(&txn, ns)?;
        let previous = txn
            .open_table(TABLE)
            .map_err(redb::Error::from)?
            .get((ns, key))
            .map_err(redb::Error::from)?
            .map(|v| (key.len() + v.value().len()) as u64);
        let bytes = bytes - previous.unwrap_or(0).min(bytes) + (key.len() + value.len()) as u64;
        let keys = keys + u64::from(previous.is_none());
        if bytes > quota.bytes || keys > quota.keys {
            return Err(KvSetError::Quota { bytes, keys, quota });
        }
        txn.open_table(TABLE)
            .map_err(redb::Error::from)?
            .insert((ns, key), value)
            .map_err(redb::Error::from)?;
        txn.open_table(USAGE)
            .map_err(redb::Error::from)?
            .insert(ns, (bytes, keys))
            .map_err(redb::Error::from)?;
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Removes `key` from `ns`, giving its bytes back to the quota; durable
    /// when it returns. Removing a key that is not set is no error.
    pub fn delete(&self, ns: &str, key: &str) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        let (bytes, keys) = usage_of(&txn, ns)?;
        let removed = txn
            .open_table(TABLE)?
            .remove((ns, key))?
            .map(|v| (key.len() + v.value().len()) as u64);
        if let Some(size) = removed {
            txn.open_table(USAGE)?
                .insert(ns, (bytes.saturating_sub(size), keys.saturating_sub(1)))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Every key set in `ns`, in byte order.
    pub fn keys(&self, ns: &str) -> Result<Vec<String>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in table.range((ns, "")..)? {
            let (k, _) = entry?;
            let (key_ns, key) = k.value();
            if key_ns != ns {
                break;
            }
            out.push(key.to_owned());
        }
        Ok(out)
    }
}

impl StoreState {
    fn kv(&self) -> Result<(&KvStore, &str), KvError> {
        match (&self.plugin.services.kv, self.plugin.grants.kv) {
            (Some(store), true) => Ok((store, self.plugin.name.as_str())),
            _ => Err(KvError::Denied),
        }
    }
}

fn store_error(plugin: &str, e: redb::Error) -> KvError {
    tracing::error!(plugin, error = %e, "plugin key-value store failed");
    KvError::Store
}

impl Host for StoreState {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        Ok(self.kv().and_then(|(kv, ns)| {
            if key.len() > MAX_KEY {
                return Err(KvError::TooLarge);
            }
            kv.get(ns, &key).map_err(|e| store_error(ns, e))
        }))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        let limits = &self.plugin.limits;
        let quota = KvQuota {
            bytes: limits.kv_bytes.into(),
            keys: limits.kv_keys.into(),
        };
        Ok(self.kv().and_then(|(kv, ns)| {
            if key.len() > MAX_KEY || value.len() > MAX_VALUE {
                return Err(KvError::TooLarge);
            }
            match kv.set(ns, &key, &value, quota) {
                Ok(()) => Ok(()),
                Err(KvSetError::Quota { bytes, keys, quota }) => {
                    tracing::warn!(
                        plugin = ns,
                        bytes,
                        keys,
                        max_bytes = quota.bytes,
                        max_keys = quota.keys,
                        "plugin key-value quota reached; set refused (kv_bytes, kv_keys)"
                    );
                    Err(KvError::TooLarge)
                }
                Err(KvSetError::Store(e)) => Err(store_error(ns, e)),
            }
        }))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        Ok(self
            .kv()
            .and_then(|(kv, ns)| kv.delete(ns, &key).map_err(|e| store_error(ns, e))))
    }

    fn keys(&mut self) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        Ok(self
            .kv()
            .and_then(|(kv, ns)| kv.keys(ns).map_err(|e| store_error(ns, e))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: KvQuota = KvQuota {
        bytes: 1 << 20,
        keys: 100,
    };

    #[test]
    fn namespaces_do_not_see_each_other_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        {
            let kv = KvStore::open(&path).unwrap();
            kv.set("a", "k", b"1", ROOMY).unwrap();
            kv.set("a", "l", b"2", ROOMY).unwrap();
            kv.set("ab", "k", b"3", ROOMY).unwrap();
            kv.delete("a", "l").unwrap();
        }
        let kv = KvStore::open(&path).unwrap();
        assert_eq!(kv.get("a", "k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.get("b", "k").unwrap(), None);
        assert_eq!(kv.keys("a").unwrap(), vec!["k".to_owned()]);
        assert_eq!(kv.keys("ab").unwrap(), vec!["k".to_owned()]);
    }

    #[test]
    fn a_namespace_is_held_to_its_quota_and_deletes_give_room_back() {
        let dir = tempfile::tempdir().unwrap();
        let kv = KvStore::open(&dir.path().join("kv.redb")).unwrap();
        // 10 bytes of key and value, 2 keys.
        let quota = KvQuota { bytes: 10, keys: 2 };
        kv.set("a", "k1", b"123", quota).unwrap(); // 5 bytes, 1 key
        kv.set("a", "k1", b"12345678", quota).unwrap(); // replaced: 10 bytes
        let full = kv.set("a", "k2", b"1", quota).unwrap_err();
        assert!(
            matches!(
                full,
                KvSetError::Quota {
                    bytes: 13,
                    keys: 2,
                    ..
                }
            ),
            "{full}"
        );
        assert!(full.to_string().contains("at most 10 bytes"), "{full}");
        assert_eq!(kv.get("a", "k2").unwrap(), None, "nothing written");
        kv.delete("a", "k1").unwrap();
        kv.set("a", "k2", b"1", quota).unwrap();
        kv.set("a", "k3", b"1", quota).unwrap();
        let keys = kv.set("a", "k4", b"1", quota).unwrap_err();
        assert!(matches!(keys, KvSetError::Quota { keys: 3, .. }), "{keys}");
        // Another namespace has its own.
        kv.set("b", "k1", b"12345678", quota).unwrap();
    }
}
