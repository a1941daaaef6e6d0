//! `osb:plugin/kv`: one private namespace per plugin name in the runtime's
//! redb store. A plugin can only ever name keys inside its own namespace:
//! the namespace is taken from the store state, never from the guest.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::StoreState;
use crate::plugin::wit::latest::host::osb::plugin::kv::{Host, KvError};

const TABLE: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("plugin_kv");
pub const MAX_KEY: usize = 256;
pub const MAX_VALUE: usize = 64 * 1024;

#[derive(Clone)]
pub struct KvStore {
    db: Arc<Database>,
}

impl KvStore {
    pub fn open(path: &Path) -> Result<KvStore, redb::DatabaseError> {
        Ok(KvStore {
            db: Arc::new(Database::create(path)?),
        })
    }

    pub fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table.get((ns, key))?.map(|v| v.value().to_vec()))
    }

    /// Durable when it returns: redb commits with fsync.
    pub fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        txn.open_table(TABLE)?.insert((ns, key), value)?;
        txn.commit()?;
        Ok(())
    }

    pub fn delete(&self, ns: &str, key: &str) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        txn.open_table(TABLE)?.remove((ns, key))?;
        txn.commit()?;
        Ok(())
    }

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
        Ok(self.kv().and_then(|(kv, ns)| {
            if key.len() > MAX_KEY || value.len() > MAX_VALUE {
                return Err(KvError::TooLarge);
            }
            kv.set(ns, &key, &value).map_err(|e| store_error(ns, e))
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

    #[test]
    fn namespaces_do_not_see_each_other_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.redb");
        {
            let kv = KvStore::open(&path).unwrap();
            kv.set("a", "k", b"1").unwrap();
            kv.set("a", "l", b"2").unwrap();
            kv.set("ab", "k", b"3").unwrap();
            kv.delete("a", "l").unwrap();
        }
        let kv = KvStore::open(&path).unwrap();
        assert_eq!(kv.get("a", "k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(kv.get("b", "k").unwrap(), None);
        assert_eq!(kv.keys("a").unwrap(), vec!["k".to_owned()]);
        assert_eq!(kv.keys("ab").unwrap(), vec!["k".to_owned()]);
    }
}
