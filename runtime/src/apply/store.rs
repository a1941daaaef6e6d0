//! The block store (`<state_dir>/blocks.redb`): the target being applied,
//! the apply history, the images the runtime fetched, the reboot a block
//! asked for (see [`super::reboot`]), what became of each release (see
//! [`super::releases`]), each release's validation and each app's rollback
//! point (see [`super::validation`]), and the pulls it began (a pull that lands just before a power cut is not recorded as
//! fetched; its mark lets the next observation claim the image).
//!
//! Every write is one redb transaction, committed with fsync before the
//! caller goes on: the target is on disk before the first engine call made
//! for it, so a power cut in the middle of an apply leaves a device that
//! knows what it was converging to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use osb_state::TargetState;
use osb_state::current::ImageId;

use super::reboot::RebootDue;
use super::releases::{KEEP, ReleaseRecord};
use super::validation::{Progress, RollbackPoint, Validation};

const TARGET: TableDefinition<&str, &str> = TableDefinition::new("target");
const HISTORY: TableDefinition<u64, &str> = TableDefinition::new("history");
const FETCHED: TableDefinition<&str, &str> = TableDefinition::new("fetched_images");
/// Canonical reference -> when its pull began (Unix seconds).
const FETCHING: TableDefinition<&str, u64> = TableDefinition::new("fetching_images");
/// App name -> its releases' records, as JSON ([`ReleaseRecord`]s).
const RELEASES: TableDefinition<&str, &str> = TableDefinition::new("releases");
/// The one row of [`REBOOT`].
const REBOOT_KEY: &str = "due";
/// The reboot due, as JSON ([`RebootDue`]).
const REBOOT: TableDefinition<&str, &str> = TableDefinition::new("reboot");
/// `app@version` -> that release's validation, as JSON ([`Validation`]).
const VALIDATIONS: TableDefinition<&str, &str> = TableDefinition::new("validations");
/// App name -> its rollback point, as JSON ([`RollbackPoint`]).
const ROLLBACK_POINTS: TableDefinition<&str, &str> = TableDefinition::new("rollback_points");
/// The one row of [`POLICY_HOLDS`].
const POLICY_HOLDS_KEY: &str = "held";
/// The releases the policies hold back: `app@version` -> the reasons, as
/// JSON.
const POLICY_HOLDS: TableDefinition<&str, &str> = TableDefinition::new("policy_holds");
const TARGET_KEY: &str = "target";
/// History entries kept; older ones are dropped as new ones come.
const HISTORY_KEEP: u64 = 200;

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb refused.
    #[error("block store '{}': {reason}", path.display())]
    Io {
        /// The store file.
        path: PathBuf,
        /// What redb said.
        reason: String,
    },
    /// The stored target no longer parses (written by a newer runtime?).
    #[error("block store '{}': the stored target cannot be read: {reason}", path.display())]
    BadTarget {
        /// The store file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One entry of the apply history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Seconds since the Unix epoch, by the device clock (which may be wrong
    /// before time sync: the order of entries is their sequence number).
    pub at: u64,
    /// `accepted`, `converged`, `failed`.
    pub event: String,
    /// The SHA-256 of the target's JSON.
    pub target: String,
    /// A line of detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// The store. The file is opened for each operation and closed after it:
/// redb allows one open handle per file, and a daemon holding it for its
/// whole life would lock `osb status` out.
pub struct Store {
    path: PathBuf,
}

/// How long an operation waits for another process (or another step of
/// the same batch) to close the file.
const OPEN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

impl Store {
    /// Opens (or creates) the store in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let path = state_dir.join("blocks.redb");
        let io = |reason: String| StoreError::Io {
            path: path.clone(),
            reason,
        };
        std::fs::create_dir_all(state_dir).map_err(|e| io(e.to_string()))?;
        let store = Store { path: path.clone() };
        // Created (or checked) now, so a bad path fails here, not mid-apply.
        drop(store.db()?);
        Ok(store)
    }

    /// Opens the file, waiting while someone else has it open.
    fn db(&self) -> Result<Database, StoreError> {
        let started = std::time::Instant::now();
        loop {
            match Database::create(&self.path) {
                Ok(db) => return Ok(db),
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if started.elapsed() < OPEN_PATIENCE =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    fn io(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Records `target` as the one to converge to, with an `accepted` entry.
    pub fn accept(&self, target: &TargetState) -> Result<(), StoreError> {
        let json = target.to_json();
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(TARGET).map_err(|e| self.io(e))?;
            table
                .insert(TARGET_KEY, json.as_str())
                .map_err(|e| self.io(e))?;
        }
        append(&txn, &entry("accepted", &json, "")).map_err(|e| self.io(e))?;
        txn.commit().map_err(|e| self.io(e))
    }

    /// The target last accepted, if any.
    pub fn target(&self) -> Result<Option<TargetState>, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(|e| self.io(e))?;
        let table = match txn.open_table(TARGET) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let Some(json) = table.get(TARGET_KEY).map_err(|e| self.io(e))? else {
            return Ok(None);
        };
        TargetState::from_json(json.value())
            .map(Some)
            .map_err(|e| StoreError::BadTarget {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// Appends a history entry about `target`.
    pub fn record(
        &self,
        event: &str,
        target: &TargetState,
        detail: &str,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        append(&txn, &entry(event, &target.to_json(), detail)).map_err(|e| self.io(e))?;
        txn.commit().map_err(|e| self.io(e))
    }

    /// Every row of `table` through `row` (rows it answers `None` for are
    /// left out); no rows when the table was never written.
    fn read_rows<K: redb::Key + 'static, V: redb::Value + 'static, T>(
        &self,
        table: TableDefinition<K, V>,
        row: impl FnMut(&redb::AccessGuard<'_, K>, &redb::AccessGuard<'_, V>) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(|e| self.io(e))?;
        self.rows_in(&txn, table, row)
    }

    /// [`Store::read_rows`] within a read transaction already begun.
    fn rows_in<K: redb::Key + 'static, V: redb::Value + 'static, T>(
        &self,
        txn: &redb::ReadTransaction,
        table: TableDefinition<K, V>,
        mut row: impl FnMut(&redb::AccessGuard<'_, K>, &redb::AccessGuard<'_, V>) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let table = match txn.open_table(table) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.io(e))? {
            let (k, v) = entry.map_err(|e| self.io(e))?;
            out.extend(row(&k, &v));
        }
        Ok(out)
    }

    /// The history, oldest first (an entry that does not parse is skipped).
    pub fn history(&self) -> Result<Vec<HistoryEntry>, StoreError> {
        self.read_rows(HISTORY, |_, v| serde_json::from_str(v.value()).ok())
    }

    /// Images the runtime pulled: canonical reference -> image id.
    pub fn fetched(&self) -> Result<BTreeMap<String, ImageId>, StoreError> {
        let rows = self.read_rows(FETCHED, |k, v| {
            Some((k.value().to_owned(), ImageId(v.value().to_owned())))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Records that the runtime pulled `reference` as image `id`, and that
    /// its pull is over.
    pub fn add_fetched(&self, reference: &str, id: &ImageId) -> Result<(), StoreError> {
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(FETCHED).map_err(|e| self.io(e))?;
            table
                .insert(reference, id.0.as_str())
                .map_err(|e| self.io(e))?;
            let mut fetching = txn.open_table(FETCHING).map_err(|e| self.io(e))?;
            fetching.remove(reference).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Records, before the pull, that the runtime is pulling `reference`.
    pub fn begin_fetch(&self, reference: &str) -> Result<(), StoreError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(FETCHING).map_err(|e| self.io(e))?;
            table.insert(reference, now).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Pulls begun and never recorded as over (the runtime was stopped, or
    /// the pull failed).
    pub fn fetching(&self) -> Result<Vec<String>, StoreError> {
        self.read_rows(FETCHING, |k, _| Some(k.value().to_owned()))
    }

    /// Forgets the pull of `reference`: it left no image.
    pub fn end_fetch(&self, reference: &str) -> Result<(), StoreError> {
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(FETCHING).map_err(|e| self.io(e))?;
            table.remove(reference).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// The reboot recorded as due, of whichever boot (see
    /// [`RebootDue::in_boot`]); a record that does not parse is none.
    pub fn reboot_due(&self) -> Result<Option<RebootDue>, StoreError> {
        let rows = self.read_rows(REBOOT, |k, v| {
            (k.value() == REBOOT_KEY)
                .then(|| serde_json::from_str(v.value()).ok())
                .flatten()
        })?;
        Ok(rows.into_iter().next())
    }

    /// Records `due` as the reboot due.
    pub fn set_reboot_due(&self, due: &RebootDue) -> Result<(), StoreError> {
        let json = serde_json::to_string(due).map_err(|e| self.io(e))?;
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(REBOOT).map_err(|e| self.io(e))?;
            table
                .insert(REBOOT_KEY, json.as_str())
                .map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Every app's release records, oldest first (an app whose row does
    /// not parse has none).
    pub fn releases(&self) -> Result<BTreeMap<String, Vec<ReleaseRecord>>, StoreError> {
        let rows = self.read_rows(RELEASES, |k, v| {
            serde_json::from_str(v.value())
                .ok()
                .map(|records| (k.value().to_owned(), records))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Changes `app`'s release records by `change` in one transaction,
    /// written only when `change` says it changed them.
    pub fn update_releases(
        &self,
        app: &str,
        change: impl FnOnce(&mut Vec<ReleaseRecord>) -> bool,
    ) -> Result<(), StoreError> {
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(RELEASES).map_err(|e| self.io(e))?;
            let mut records: Vec<ReleaseRecord> = table
                .get(app)
                .map_err(|e| self.io(e))?
                .and_then(|v| serde_json::from_str(v.value()).ok())
                .unwrap_or_default();
            if !change(&mut records) {
                return Ok(());
            }
            let json = serde_json::to_string(&records).map_err(|e| self.io(e))?;
            table.insert(app, json.as_str()).map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Every validation kept (an entry that does not parse is skipped),
    /// by app, then by when it began.
    pub fn validations(&self) -> Result<Vec<Validation>, StoreError> {
        Ok(self.validation_progress()?.validations)
    }

    /// Every validation (as [`Store::validations`]) and every app's
    /// rollback point, read in one transaction: the executor reads them
    /// every cycle, and the file is opened once for both.
    pub fn validation_progress(&self) -> Result<Progress, StoreError> {
        let db = self.db()?;
        let txn = db.begin_read().map_err(|e| self.io(e))?;
        let mut validations: Vec<Validation> = self.rows_in(&txn, VALIDATIONS, |_, v| {
            serde_json::from_str(v.value()).ok()
        })?;
        validations.sort_by(|a, b| (&a.app, a.started).cmp(&(&b.app, b.started)));
        let points = self.rows_in(&txn, ROLLBACK_POINTS, |k, v| {
            serde_json::from_str::<RollbackPoint>(v.value())
                .ok()
                .map(|point| (k.value().to_owned(), point))
        })?;
        Ok(Progress {
            validations,
            points: points.into_iter().collect(),
        })
    }

    /// Records `validation`, and with it, in the same transaction, the
    /// app's new rollback point when it passed: a release is never
    /// recorded as passed without being the point a later failure returns
    /// to. An app keeps the newest [`KEEP`] validations.
    pub fn save_validation(
        &self,
        validation: &Validation,
        point: Option<&RollbackPoint>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(validation).map_err(|e| self.io(e))?;
        let key = format!("{}@{}", validation.app, validation.version);
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(VALIDATIONS).map_err(|e| self.io(e))?;
            table
                .insert(key.as_str(), json.as_str())
                .map_err(|e| self.io(e))?;
            let prefix = format!("{}@", validation.app);
            let mut mine: Vec<(u64, String)> = Vec::new();
            for entry in table.iter().map_err(|e| self.io(e))? {
                let (k, v) = entry.map_err(|e| self.io(e))?;
                if k.value().starts_with(&prefix) {
                    let started =
                        serde_json::from_str::<Validation>(v.value()).map_or(0, |v| v.started);
                    mine.push((started, k.value().to_owned()));
                }
            }
            mine.sort();
            let surplus = mine.len().saturating_sub(KEEP);
            for (_, old) in mine.into_iter().take(surplus) {
                if old != key {
                    table.remove(old.as_str()).map_err(|e| self.io(e))?;
                }
            }
            if let Some(point) = point {
                let json = serde_json::to_string(point).map_err(|e| self.io(e))?;
                let mut points = txn.open_table(ROLLBACK_POINTS).map_err(|e| self.io(e))?;
                points
                    .insert(validation.app.as_str(), json.as_str())
                    .map_err(|e| self.io(e))?;
            }
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// The releases the policies hold back, as the executor last said:
    /// `app@version` -> the reasons.
    pub fn policy_holds(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let rows = self.read_rows(POLICY_HOLDS, |k, v| {
            (k.value() == POLICY_HOLDS_KEY)
                .then(|| serde_json::from_str(v.value()).ok())
                .flatten()
        })?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }

    /// Records the releases the policies hold back.
    pub fn set_policy_holds(
        &self,
        holds: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(holds).map_err(|e| self.io(e))?;
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(POLICY_HOLDS).map_err(|e| self.io(e))?;
            table
                .insert(POLICY_HOLDS_KEY, json.as_str())
                .map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }

    /// Forgets every reference to image `id`.
    pub fn forget_fetched(&self, id: &ImageId) -> Result<(), StoreError> {
        let db = self.db()?;
        let txn = db.begin_write().map_err(|e| self.io(e))?;
        {
            let mut table = txn.open_table(FETCHED).map_err(|e| self.io(e))?;
            table
                .retain(|_, v| v != id.0.as_str())
                .map_err(|e| self.io(e))?;
        }
        txn.commit().map_err(|e| self.io(e))
    }
}

fn entry(event: &str, target_json: &str, detail: &str) -> HistoryEntry {
    use sha2::Digest;
    HistoryEntry {
        at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        event: event.to_owned(),
        target: hex::encode(sha2::Sha256::digest(target_json.as_bytes())),
        detail: detail.to_owned(),
    }
}

fn append(txn: &redb::WriteTransaction, entry: &HistoryEntry) -> Result<(), redb::Error> {
    let mut table = txn.open_table(HISTORY)?;
    let next = table.last()?.map_or(0, |(k, _)| k.value() + 1);
    // Serializing a struct of strings and a number cannot fail.
    let json = serde_json::to_string(entry).unwrap_or_default();
    table.insert(next, json.as_str())?;
    if next >= HISTORY_KEEP {
        table.retain(|k, _| k + HISTORY_KEEP > next)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET_JSON: &str = r#"{"version": 1, "apps": {"main": {"class": "app",
        "release": {"version": "1.0.0", "blocks": {"web": {"image": "busybox:1"}}}}}}"#;

    #[test]
    fn target_history_and_fetched_images_survive_reopening() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = TargetState::from_json(TARGET_JSON).unwrap_or_else(|e| panic!("{e}"));
        {
            let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(store.target().ok().flatten(), None);
            store.accept(&target).unwrap_or_else(|e| panic!("{e}"));
            store
                .record("converged", &target, "3 steps")
                .unwrap_or_else(|e| panic!("{e}"));
            store
                .add_fetched("docker.io/library/busybox:1", &ImageId("sha256:aa".into()))
                .unwrap_or_else(|e| panic!("{e}"));
            store
                .add_fetched("docker.io/library/busybox:2", &ImageId("sha256:bb".into()))
                .unwrap_or_else(|e| panic!("{e}"));
            store
                .forget_fetched(&ImageId("sha256:aa".into()))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.target().ok().flatten(), Some(target));
        let events: Vec<_> = store
            .history()
            .unwrap_or_default()
            .into_iter()
            .map(|e| format!("{} {}", e.event, e.detail))
            .collect();
        assert_eq!(events, ["accepted ", "converged 3 steps"]);
        let fetched = store.fetched().unwrap_or_default();
        assert_eq!(
            fetched.keys().collect::<Vec<_>>(),
            ["docker.io/library/busybox:2"]
        );
    }

    #[test]
    fn a_pull_is_marked_begun_until_recorded_or_forgotten() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.fetching().unwrap_or_default(), Vec::<String>::new());
        for r in ["reg.test/a:1", "reg.test/b:1"] {
            store.begin_fetch(r).unwrap_or_else(|e| panic!("{e}"));
        }
        store
            .add_fetched("reg.test/a:1", &ImageId("sha256:aa".into()))
            .unwrap_or_else(|e| panic!("{e}"));
        drop(store);
        // Reopened, as after a power cut: b's pull is still marked.
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.fetching().unwrap_or_default(), ["reg.test/b:1"]);
        store
            .end_fetch("reg.test/b:1")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.fetching().unwrap_or_default(), Vec::<String>::new());
        assert_eq!(store.fetched().unwrap_or_default().len(), 1);
    }

    #[test]
    fn history_is_bounded() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let target = TargetState::from_json(TARGET_JSON).unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..HISTORY_KEEP + 10 {
            store
                .record("converged", &target, &i.to_string())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let history = store.history().unwrap_or_default();
        assert_eq!(history.len() as u64, HISTORY_KEEP);
        assert_eq!(history.last().map(|e| e.detail.as_str()), Some("209"));
        assert_eq!(history.first().map(|e| e.detail.as_str()), Some("10"));
    }
}
