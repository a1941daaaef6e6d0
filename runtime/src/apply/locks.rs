//! Update locks: one lock file per block, as balena's supervisor keeps them.
//!
//! Each block sees its lock directory at `/tmp/osb` (see
//! [`osb_engine::create::LOCK_MOUNT`](osb_engine)). A block that must
//! not be interrupted (writing firmware, finishing a transaction) creates
//! `updates.lock` there, exclusively, and removes it when done. The runtime
//! takes the same file before it stops a block, so the block cannot start
//! such work while it is being stopped; the file's content tells whose lock
//! it is. Lock files live on disk, so a lock taken before a crash is still
//! known afterwards and released once the update is through.
//!
//! A block's lock directory is mounted read-write in its container, so what
//! is in it is the block's doing and may be anything: a symlink to a host
//! file, a FIFO, a device node, a huge file. The runtime runs as root, so it
//! resolves no path in there: `<state>/locks` is opened once as a directory
//! capability, each block's directory beneath it without following a link,
//! and everything in a block's directory is done relative to that directory,
//! never following a link, never waiting on what it opens, reading at most a
//! few bytes. Anything at `updates.lock` other than a regular file holding
//! exactly the runtime's mark is the block's lock (the block holds the lock
//! when the name exists), and is never read through.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsSyncExt};
use cap_std::fs::{Dir, File, MetadataExt, OpenOptions, OpenOptionsExt};

use osb_state::{AppName, BlockId, BlockName};

/// The lock directories' root, under the state directory.
pub const LOCKS_DIR: &str = "locks";
/// The lock file's name in a block's lock directory.
pub const LOCK_FILE: &str = "updates.lock";
/// Where the runtime stages its mark before linking it into place; inside
/// the block's directory, so on the same file system as the lock.
const STAGED_FILE: &str = ".updates.lock.osb";
/// What the runtime writes in a lock it holds.
const RUNTIME_MARK: &str = "held by the osb runtime\n";
/// How much of a lock file is read: one byte past the mark is enough to
/// tell the mark from anything longer, however long that is.
const READ_LIMIT: usize = RUNTIME_MARK.len() + 1;

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
        /// The lock file or directory.
        path: PathBuf,
        /// What happened.
        source: io::Error,
    },
}

/// The lock directories under `<state_dir>/locks/<app>/<block>/`.
#[derive(Debug, Clone)]
pub struct Locks {
    /// `<state_dir>/locks`, for messages and the blocks' bind mounts.
    root: PathBuf,
    /// The same directory, opened: every lock directory is reached beneath
    /// it, one name at a time.
    dir: Arc<Dir>,
}

/// Whose lock sits in one block's lock directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// No lock.
    Nobody,
    /// The runtime's own: a regular file holding exactly its mark.
    Runtime,
    /// Anything else at the lock's name.
    Block,
}

impl Locks {
    /// Lock directories under `state_dir`; `<state_dir>/locks` is created
    /// if missing, and opened.
    pub fn new(state_dir: &Path) -> Result<Self, LockError> {
        let root = state_dir.join(LOCKS_DIR);
        let io = |source| LockError::Io {
            path: root.clone(),
            source,
        };
        // The state directory is the runtime's own and no block mounts it:
        // reaching it by path is safe, and happens once.
        std::fs::create_dir_all(&root).map_err(io)?;
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).map_err(io)?;
        Ok(Locks {
            root,
            dir: Arc::new(dir),
        })
    }

    /// The host path of the block's lock directory.
    fn path(&self, id: &BlockId) -> PathBuf {
        self.root.join(id.app.as_str()).join(id.block.as_str())
    }

    /// The block's lock directory, created if missing: it is bind-mounted
    /// into the block's container, so it must exist before the container.
    /// It is writable by every user, since the block's process may run as
    /// any uid; only that block's container mounts it.
    pub fn dir(&self, id: &BlockId) -> Result<PathBuf, LockError> {
        self.create_block_dir(id)?;
        Ok(self.path(id))
    }

    /// [`Locks::dir`], opened. The permissions are set on the opened
    /// directory, so a link in its place is refused, never changed through.
    fn create_block_dir(&self, id: &BlockId) -> Result<Dir, LockError> {
        let app = create_dir(&self.dir, id.app.as_str()).map_err(|source| LockError::Io {
            path: self.root.join(id.app.as_str()),
            source,
        })?;
        let io = |source| LockError::Io {
            path: self.path(id),
            source,
        };
        let block = create_dir(&app, id.block.as_str()).map_err(io)?;
        rustix::fs::fchmod(&block, rustix::fs::Mode::from_raw_mode(0o777))
            .map_err(|e| io(e.into()))?;
        Ok(block)
    }

    /// The block's lock directory, opened, if it exists.
    fn open_block_dir(&self, id: &BlockId) -> io::Result<Dir> {
        let app = open_dir(&self.dir, id.app.as_str())?;
        open_dir(&app, id.block.as_str())
    }

    /// Reads every lock file.
    pub fn read(&self) -> LockTable {
        let mut table = LockTable::default();
        let Ok(apps) = self.dir.entries() else {
            return table;
        };
        for app in apps.flatten() {
            let Some(app_name) = app.file_name().to_str().and_then(|a| AppName::new(a).ok()) else {
                continue;
            };
            let Ok(app_dir) = open_dir(&self.dir, app_name.as_str()) else {
                continue;
            };
            let Ok(blocks) = app_dir.entries() else {
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
                // Not a directory the runtime made (a link, say): no
                // block's lock directory, nothing to read.
                let Ok(block_dir) = open_dir(&app_dir, block_name.as_str()) else {
                    continue;
                };
                let id = BlockId::new(&app_name, &block_name);
                match holder(&block_dir) {
                    Holder::Nobody => {}
                    Holder::Runtime => {
                        table.runtime.insert(id);
                    }
                    Holder::Block => {
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
    /// written to a staged file first, then hard-linked to the lock's name
    /// (which fails if the name exists, so the take stays exclusive).
    /// Creating the lock file and writing the mark into it would leave an
    /// empty file after a crash in between, which reads as the block's lock
    /// and would hold the block's update forever.
    pub fn take(&self, id: &BlockId) -> Result<(), LockError> {
        let dir = self.create_block_dir(id)?;
        let path = self.path(id);
        let io = |name: &str| {
            let path = path.join(name);
            move |source| LockError::Io { path, source }
        };
        let mut file = stage(&dir).map_err(io(STAGED_FILE))?;
        file.write_all(RUNTIME_MARK.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(STAGED_FILE))?;
        // linkat without AT_SYMLINK_FOLLOW: whatever is at the staged name
        // is linked as it is, never what it may point to.
        let linked = dir.hard_link(STAGED_FILE, &dir, LOCK_FILE);
        // The staged file has done its job whether or not the link was
        // made; removing a name never touches what it points to.
        let _ = dir.remove_file(STAGED_FILE);
        match linked {
            // The block may have put its own entry at the staged name
            // between the create and the link: the lock is the runtime's
            // only if it is the file just written.
            Ok(()) if is_lock_file(&dir, &file) => Ok(()),
            Ok(()) => Err(LockError::HeldByBlock(id.clone())),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => match holder(&dir) {
                Holder::Runtime => Ok(()),
                Holder::Nobody | Holder::Block => Err(LockError::HeldByBlock(id.clone())),
            },
            Err(e) => Err(io(LOCK_FILE)(e)),
        }
    }

    /// Releases the runtime's lock on the block; a lock the block holds is
    /// left alone.
    pub fn release(&self, id: &BlockId) -> Result<(), LockError> {
        let path = self.path(id);
        let dir = match self.open_block_dir(id) {
            Ok(dir) => dir,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(LockError::Io { path, source }),
        };
        match holder(&dir) {
            Holder::Runtime => match dir.remove_file(LOCK_FILE) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(LockError::Io {
                    path: path.join(LOCK_FILE),
                    source: e,
                }),
                _ => Ok(()),
            },
            Holder::Nobody | Holder::Block => Ok(()),
        }
    }
}

/// Opens directory `name` beneath `parent`, refusing a link. Read access
/// rather than the `O_PATH` descriptor `Dir::open_dir` gives: the
/// directory's entries are listed and its permissions set through it.
fn open_dir(parent: &Dir, name: &str) -> io::Result<Dir> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .follow(FollowSymlinks::No)
        .custom_flags(libc::O_DIRECTORY);
    let file = parent.open_with(name, &options)?;
    Ok(Dir::from_std_file(file.into_std()))
}

/// Creates directory `name` beneath `parent` if missing (`mkdirat` never
/// follows a link at the name), and opens it.
fn create_dir(parent: &Dir, name: &str) -> io::Result<Dir> {
    match parent.create_dir(name) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    open_dir(parent, name)
}

/// Whose lock is in block directory `dir`. What is there is looked at
/// without following it (`fstatat` with `AT_SYMLINK_NOFOLLOW`), and only
/// a regular file is opened, and read only as far as the mark goes.
fn holder(dir: &Dir) -> Holder {
    match dir.symlink_metadata(LOCK_FILE) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Holder::Block,
        Err(e) if e.kind() == ErrorKind::NotFound => return Holder::Nobody,
        Err(_) => return Holder::Block,
    }
    match holds_runtime_mark(dir) {
        Ok(true) => Holder::Runtime,
        Ok(false) => Holder::Block,
        // Gone between the look and the open.
        Err(e) if e.kind() == ErrorKind::NotFound => Holder::Nobody,
        Err(_) => Holder::Block,
    }
}

/// Whether the lock file holds exactly the runtime's mark. The block may
/// have swapped the regular file for something else since it was looked
/// at: the open follows no link, waits for no writer (a FIFO) or lease,
/// takes no controlling terminal, and what it opened is checked again.
fn holds_runtime_mark(dir: &Dir) -> io::Result<bool> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .follow(FollowSymlinks::No)
        .nonblock(true)
        .custom_flags(libc::O_NOCTTY);
    let file = dir.open_with(LOCK_FILE, &options)?;
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    let mut content = Vec::with_capacity(READ_LIMIT);
    file.take(READ_LIMIT as u64).read_to_end(&mut content)?;
    Ok(content == RUNTIME_MARK.as_bytes())
}

/// Creates the staged file afresh. Whatever already sits at its name (left
/// by a take cut short, or put there by the block: a symlink, a FIFO, a
/// directory) is removed first, and never written through: the exclusive
/// create (`O_EXCL`) fails on any entry, a dangling link included, and a
/// removal takes the name away, never what it points to.
fn stage(dir: &Dir) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .write(true)
        .create_new(true)
        .follow(FollowSymlinks::No);
    match dir.open_with(STAGED_FILE, &options) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            remove_entry(dir, STAGED_FILE)?;
            dir.open_with(STAGED_FILE, &options)
        }
        created => created,
    }
}

/// Removes entry `name` of `dir`, whatever it is; a directory with all it
/// holds (links in it are removed, not followed).
fn remove_entry(dir: &Dir, name: &str) -> io::Result<()> {
    let removed = match dir.symlink_metadata(name) {
        Ok(meta) if meta.is_dir() => dir.remove_dir_all(name),
        Ok(_) => dir.remove_file(name),
        Err(e) => Err(e),
    };
    match removed {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        removed => removed,
    }
}

/// Whether the lock's name in `dir` is `file`, by device and inode.
fn is_lock_file(dir: &Dir, file: &File) -> bool {
    match (dir.symlink_metadata(LOCK_FILE), file.metadata()) {
        (Ok(lock), Ok(file)) => lock.dev() == file.dev() && lock.ino() == file.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn id(app: &str, block: &str) -> BlockId {
        BlockId::new(
            &AppName::new(app).unwrap_or_else(|e| panic!("{e}")),
            &BlockName::new(block).unwrap_or_else(|e| panic!("{e}")),
        )
    }

    fn locks(state: &Path) -> Locks {
        Locks::new(state).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `f`'s result, or a failure if it takes longer than a few seconds: a
    /// lock operation that blocks (on a FIFO, say) fails the test instead of
    /// hanging it. The stuck thread is left behind.
    fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{what} did not return within 5 s"))
    }

    /// A file outside every lock directory, holding `content`.
    fn outside_file(dir: &Path, content: &str) -> PathBuf {
        let path = dir.join("host-file");
        std::fs::write(&path, content).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    fn content(path: &Path) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn runtime_and_block_locks_are_told_apart() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
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
        let locks = locks(dir.path());
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

    #[test]
    fn the_lock_directory_is_writable_by_any_user() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let web_dir = locks(dir.path())
            .dir(&id("main", "web"))
            .unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&web_dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o777);
    }

    #[test]
    fn a_link_at_the_staged_name_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let host = outside_file(dir.path(), "the host's own\n");
        let locks = locks(dir.path());
        let web = id("main", "web");
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&host, web_dir.join(STAGED_FILE))
            .unwrap_or_else(|e| panic!("{e}"));

        locks.take(&web).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(content(&host), b"the host's own\n");
        assert_eq!(locks.read().runtime, BTreeSet::from([web.clone()]));
        assert_eq!(content(&web_dir.join(LOCK_FILE)), RUNTIME_MARK.as_bytes());
        assert!(
            std::fs::symlink_metadata(web_dir.join(STAGED_FILE)).is_err(),
            "the planted link is still there"
        );
        locks.release(&web).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(content(&host), b"the host's own\n");
        assert_eq!(locks.read(), LockTable::default());
    }

    #[test]
    fn whatever_sits_at_the_staged_name_is_replaced() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
        let (fifo, tree, dangling) = (
            id("main", "fifo"),
            id("main", "tree"),
            id("main", "dangling"),
        );

        let fifo_dir = locks.dir(&fifo).unwrap_or_else(|e| panic!("{e}"));
        make_fifo(&fifo_dir.join(STAGED_FILE));
        let tree_dir = locks.dir(&tree).unwrap_or_else(|e| panic!("{e}"));
        let planted = tree_dir.join(STAGED_FILE);
        std::fs::create_dir_all(planted.join("deeper")).unwrap_or_else(|e| panic!("{e}"));
        let host = outside_file(dir.path(), "kept\n");
        std::os::unix::fs::symlink(&host, planted.join("deeper/link"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dangling_dir = locks.dir(&dangling).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dangling_dir.join(STAGED_FILE))
            .unwrap_or_else(|e| panic!("{e}"));

        let taker = locks.clone();
        let ids = [fifo.clone(), tree.clone(), dangling.clone()];
        promptly("take", move || {
            for id in &ids {
                taker.take(id).unwrap_or_else(|e| panic!("{e}"));
            }
        });
        assert_eq!(locks.read().runtime, BTreeSet::from([fifo, tree, dangling]));
        assert_eq!(content(&host), b"kept\n");
        assert!(
            !dir.path().join("nowhere").exists(),
            "the dangling link was followed"
        );
    }

    #[test]
    fn a_link_at_the_lock_is_the_blocks_lock_and_never_followed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // The link points to a file holding exactly the runtime's mark: read
        // through the link, it would pass for the runtime's lock.
        let host = outside_file(dir.path(), RUNTIME_MARK);
        let locks = locks(dir.path());
        let web = id("main", "web");
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        let lock = web_dir.join(LOCK_FILE);
        std::os::unix::fs::symlink(&host, &lock).unwrap_or_else(|e| panic!("{e}"));

        let table = locks.read();
        assert_eq!(table.blocks, BTreeSet::from([web.clone()]));
        assert_eq!(table.runtime, BTreeSet::new());
        assert!(matches!(locks.take(&web), Err(LockError::HeldByBlock(_))));
        locks.release(&web).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(content(&host), RUNTIME_MARK.as_bytes());
        assert!(
            std::fs::symlink_metadata(&lock).is_ok_and(|m| m.file_type().is_symlink()),
            "the block's lock was released"
        );

        // A link to nothing is a lock all the same.
        std::fs::remove_file(&lock).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &lock)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(locks.read().blocks, BTreeSet::from([web.clone()]));
        assert!(matches!(locks.take(&web), Err(LockError::HeldByBlock(_))));
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn a_fifo_at_the_lock_is_the_blocks_lock_and_never_waited_on() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
        let web = id("main", "web");
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        make_fifo(&web_dir.join(LOCK_FILE));

        let (reader, taker, releaser) = (locks.clone(), locks.clone(), locks.clone());
        let table = promptly("read", move || reader.read());
        assert_eq!(table.blocks, BTreeSet::from([web.clone()]));
        let held = web.clone();
        let taken = promptly("take", move || taker.take(&held));
        assert!(matches!(taken, Err(LockError::HeldByBlock(_))), "{taken:?}");
        let held = web.clone();
        promptly("release", move || releaser.release(&held)).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            web_dir.join(LOCK_FILE).exists(),
            "the block's lock was released"
        );
        // And the open itself, the one call that waits on a FIFO, never waits.
        let dir = locks.open_block_dir(&web).unwrap_or_else(|e| panic!("{e}"));
        let marked = promptly("open", move || holds_runtime_mark(&dir).ok());
        assert_eq!(marked, Some(false));
    }

    #[test]
    fn a_huge_lock_is_the_blocks_and_read_no_further_than_the_mark() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
        let web = id("main", "web");
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        // The mark, then a gigabyte of holes: equal to the mark as far as
        // the mark goes, so only a bounded read that looks one byte further
        // tells it apart; reading it whole would take a gigabyte.
        let file = std::fs::File::create(web_dir.join(LOCK_FILE)).unwrap_or_else(|e| panic!("{e}"));
        (&file)
            .write_all(RUNTIME_MARK.as_bytes())
            .and_then(|()| file.set_len(1 << 30))
            .unwrap_or_else(|e| panic!("{e}"));

        let peak = peak_memory_kib();
        let reader = locks.clone();
        let table = promptly("read", move || reader.read());
        assert_eq!(table.blocks, BTreeSet::from([web.clone()]));
        assert!(matches!(locks.take(&web), Err(LockError::HeldByBlock(_))));
        locks.release(&web).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            web_dir.join(LOCK_FILE).exists(),
            "the block's lock was released"
        );
        // Read whole, the holes would have taken a gigabyte of memory. The
        // peak is the process's, so tests running alongside count too: a
        // margin of 256 MiB is far above what they take.
        let grown = peak_memory_kib().saturating_sub(peak);
        assert!(grown < 256 * 1024, "peak memory grew by {grown} KiB");
    }

    /// The process's peak resident memory (`VmHWM`), in KiB.
    fn peak_memory_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_else(|e| panic!("{e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in /proc/self/status"))
    }

    #[test]
    fn a_directory_at_the_lock_is_the_blocks_lock() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
        let web = id("main", "web");
        let web_dir = locks.dir(&web).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(web_dir.join(LOCK_FILE)).unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(locks.read().blocks, BTreeSet::from([web.clone()]));
        assert!(matches!(locks.take(&web), Err(LockError::HeldByBlock(_))));
        locks.release(&web).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            web_dir.join(LOCK_FILE).is_dir(),
            "the block's lock was released"
        );
    }

    #[test]
    fn a_link_in_place_of_a_lock_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let locks = locks(dir.path());
        // Elsewhere on the host: a directory holding what would pass for the
        // runtime's lock, with its permissions as they were.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(outside.join(LOCK_FILE), RUNTIME_MARK).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        let listing = || {
            let mut names: Vec<_> = std::fs::read_dir(&outside)
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|e| e.unwrap_or_else(|e| panic!("{e}")).file_name())
                .collect();
            names.sort();
            names
        };
        let before = listing();

        // The block's directory a link, and a whole app's.
        let web = id("main", "web");
        let app_dir = dir.path().join("locks/main");
        std::fs::create_dir_all(&app_dir).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(&outside, app_dir.join("web")).unwrap_or_else(|e| panic!("{e}"));
        let other = id("other", "web");
        std::os::unix::fs::symlink(&outside, dir.path().join("locks/other"))
            .unwrap_or_else(|e| panic!("{e}"));

        for id in [&web, &other] {
            let err = locks.dir(id).err();
            assert!(
                matches!(&err, Some(LockError::Io { path, .. }) if path.starts_with(dir.path().join("locks"))),
                "{err:?}"
            );
            assert!(locks.take(id).is_err());
            assert!(locks.release(id).is_err());
        }
        assert_eq!(locks.read(), LockTable::default());
        assert_eq!(listing(), before);
        assert_eq!(content(&outside.join(LOCK_FILE)), RUNTIME_MARK.as_bytes());
        let mode = std::fs::metadata(&outside)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "permissions changed through a link");
    }

    fn make_fifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o666),
            0,
        )
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
    }
}
