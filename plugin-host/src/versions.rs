//! Rollback protection: the newest version of each plugin this device has
//! run, kept in the runtime's plugin store, so an older signed package
//! (one with a known flaw, say) cannot replace a newer one, across restarts
//! too, unless the device config allows it for that plugin.

use std::sync::Arc;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::manifest::PluginName;

const TABLE: TableDefinition<&str, &str> = TableDefinition::new("plugin_newest_version");

/// The newest versions seen, per plugin name.
#[derive(Clone)]
pub struct NewestVersions {
    db: Arc<Database>,
}

impl NewestVersions {
    /// The records in `db`: the plugin store, shared with the key-value data
    /// because redb allows one handle per file.
    pub fn new(db: Arc<Database>) -> NewestVersions {
        NewestVersions { db }
    }

    /// The newest version of `name` ever loaded here, if any. A record that
    /// does not parse (written by hand) counts as none.
    pub fn get(&self, name: &PluginName) -> Result<Option<semver::Version>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(table
            .get(name.as_str())?
            .and_then(|v| semver::Version::parse(v.value()).ok()))
    }

    /// Records that `version` of `name` was loaded, if it is the newest yet.
    pub fn record(&self, name: &PluginName, version: &semver::Version) -> Result<(), redb::Error> {
        if self.get(name)?.is_some_and(|newest| &newest >= version) {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.open_table(TABLE)?
            .insert(name.as_str(), version.to_string().as_str())?;
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_is_kept_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let name = PluginName::new("p").unwrap();
        let v = |s: &str| semver::Version::parse(s).unwrap();
        {
            let versions = NewestVersions::new(Arc::new(Database::create(&path).unwrap()));
            assert_eq!(versions.get(&name).unwrap(), None);
            versions.record(&name, &v("1.2.0")).unwrap();
            versions.record(&name, &v("1.1.0")).unwrap();
            versions.record(&name, &v("1.2.0-rc.1")).unwrap();
        }
        let versions = NewestVersions::new(Arc::new(Database::create(&path).unwrap()));
        assert_eq!(versions.get(&name).unwrap(), Some(v("1.2.0")));
        versions.record(&name, &v("1.10.0")).unwrap();
        assert_eq!(versions.get(&name).unwrap(), Some(v("1.10.0")));
    }
}
