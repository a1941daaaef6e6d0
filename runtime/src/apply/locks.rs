//! Update locks: one lock file per block, as balena's supervisor keeps them.
//!
//! Each block sees its lock directory at `/tmp/osb` (see
//! [`crate::engine::create::LOCK_MOUNT`](crate::engine)). A block that must
//! not be interrupted (writing firmware, finishing a transaction) creates
//! `updates.lock` there, exclusively, and removes it when done. The runtime
//! takes the same file before it stops a block, so the block cannot start
//! such work while it is being stopped; the file's content tells whose lock
//! it is. Lock files live on disk, so a lock taken before a crash is still
//! known afterwards and released once the update is through.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::block::{AppName, BlockId, BlockName};

/// The lock file's name in a block's lock directory.
pub const LOCK_FILE: &str = "updates.lock";
/// Where the runtime stages its mark before linking it into place; inside
/// the block's directory, so on the same file system as the lock.
const STAGED_FILE: &str = ".updates.lock.osb";
/// What the runtime writes in a lock it holds.
const RUNTIME_MARK: &str = "held by the osb runtime\n";

/// Who holds which locks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockTable {
    /// Locks the runtime holds.
    pub runtime: BTreeSet<BlockId>,
    /// Locks the blocks' own processes hold.
    pub blocks: BTreeSet<BlockId>,
}

/// Why a lock could not be taken or released.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The block holds it.
    #[error("update lock of {0} is held by the block")]
    HeldByBlock(BlockId),
    /// The file system refused.
    #[error("update lock '{}': {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
}

/// The lock directories under `<state_dir>/locks/<app>/<block>/`.
#[derive(Debug, Clone)]
pub struct Locks {
    root: PathBuf,
}

impl Locks {
    /// Lock directories under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Locks {
            root: state_dir.join("locks"),
        }
    }

    /// The block's lock directory, created if missing: it is bind-mounted
    /// into the block's container, so it must exist before the container.
    /// It is writable by every user, since the block's process may run as
    /// any uid; only that block's container mounts it.
    pub fn dir(&self, id: &BlockId) -> Result<PathBuf, LockError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.root.join(id.app.as_str()).join(id.block.as_str());
        let io = |source| LockError::Io {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
        Ok(dir)
    }

    /// Reads every lock file.
    pub fn read(&self) -> LockTable {
        let mut table = LockTable::default();
        let Ok(apps) = std::fs::read_dir(&self.root) else {
            return table;
        };
        for app in apps.flatten() {
            let Some(app_name) = app.file_name().to_str().and_then(|a| AppName::new(a).ok()) else {
                continue;
            };
            let Ok(blocks) = std::fs::read_dir(app.path()) else {
                continue;
            };
            for block in blocks.flatten() {
                let Some(block_name) = block
                    .file_name()
                    .to_str()
                    .and_then(|b| BlockName::new(b).ok())
                else {
                    continue;
                };
                let id = BlockId::new(&app_name, &block_name);
                match std::fs::read_to_string(block.path().join(LOCK_FILE)) {
                    Ok(content) if content == RUNTIME_MARK => {
                        table.runtime.insert(id);
                    }
                    // Any other content, or none, or unreadable: the block's.
                    Ok(_) => {
                        table.blocks.insert(id);
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(_) => {
                        table.blocks.insert(id);
                    }
                }
            }
        }
        table
    }

    /// Takes the block's lock for the runtime; taking it again is a no-op.
    ///
    /// The lock file appears with its content or not at all: the mark is
    /// written to a temporary file first, then hard-linked to the lock's
    /// name (which fails if the name exists, so the take stays exclusive).
    /// Creating the lock file and writing the mark into it would leave an
    /// empty file after a crash in between, which reads as the block's lock
    /// and would hold the block's update forever.
    pub fn take(&self, id: &BlockId) -> Result<(), LockError> {
        let dir = self.dir(id)?;
        let path = dir.join(LOCK_FILE);
        let staged = dir.join(STAGED_FILE);
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LockError::Io { path, source }
        };
        let mut file = std::fs::File::create(&staged).map_err(io(&staged))?;
        file.write_all(RUNTIME_MARK.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&staged))?;
        drop(file);
        let linked = std::fs::hard_link(&staged, &path);
        // The staged file has done its job whether or not the link was made.
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                match std::fs::read_to_string(&path) {
                    Ok(content) if content == RUNTIME_MARK => Ok(()),
                    _ => Err(LockError::HeldByBlock(id.clone())),
                }
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Releases the runtime's lock on the block; a lock the block holds is
    /// left alone.
    pub fn release(&self, id: &BlockId) -> Result<(), LockError> {
        let path = self
            .root
            .join(id.app.as_str())
            .join(id.block.as_str())
            .join(LOCK_FILE);
        match std::fs::read_to_string(&path) {
            Ok(content) if content == RUNTIME_MARK => {
                std::fs::remove_file(&path).map_err(|source| LockError::Io { path, source })
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(source) => Err(LockError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(app: &str, block: &str) -> BlockId {
        BlockId::new(
            &AppName::new(app).unwrap_or_else(|e| panic!("{e}")),
            &BlockName::new(block).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    #[test]
    fn runtime_and_block_locks_are_told_apart() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = Locks::new(dir.path());
        let (web, db) = (id("main", "web"), id("main", "db"));
        assert_eq!(locks.read(), LockTable::default());

        locks.take(&web).unwrap_or_else(|e| panic!("{e}"));
        locks
            .take(&web)
            .unwrap_or_else(|e| panic!("taking twice: {e}"));
        // The block takes its own lock as balena's `lockfile` does: an empty file.
        let db_dir = locks.dir(&db).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(db_dir.join(LOCK_FILE), "").unwrap_or_else(|e| panic!("{e}"));

        let table = locks.read();
        assert_eq!(table.runtime, BTreeSet::from([web.clone()]));
        assert_eq!(table.blocks, BTreeSet::from([db.clone()]));

        assert!(matches!(locks.take(&db), Err(LockError::HeldByBlock(_))));
        locks.release(&db).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            db_dir.join(LOCK_FILE).exists(),
            "the block's lock was released"
        );
        locks.release(&web).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(locks.read().runtime, BTreeSet::new());
    }

    #[test]
    fn a_take_cut_short_leaves_no_lock_behind() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = Locks::new(dir.path());
        let web = id("main", "web");
        // A crash after staging the mark, before linking it: a staged file
        // (maybe empty) and no lock.
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(web_dir.join(STAGED_FILE), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(locks.read(), LockTable::default());
        locks.take(&web).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(locks.read().runtime, BTreeSet::from([web.clone()]));
        assert!(!web_dir.join(STAGED_FILE).exists());
    }
}
