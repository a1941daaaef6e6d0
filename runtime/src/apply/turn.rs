//! One executor at a time per state directory. `osb apply` and each of the
//! daemon's reconciles take a [`Turn`] (an exclusive `flock` on
//! `<state_dir>/executor.lock`) and plan from the stored target only while
//! they hold it. Without it, a daemon that read the target before an
//! `osb apply` would plan from the old one and undo the update.
//!
//! The kernel drops the lock with the process, so a SIGKILL never leaves
//! it held. The wait polls instead of blocking a thread: a blocked thread
//! would keep a stopping daemon waiting for another process's apply.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name in the state directory.
pub const FILE_NAME: &str = "executor.lock";

/// How often a waiting executor tries again.
const RETRY: Duration = Duration::from_millis(100);

/// Why no turn was taken.
#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    /// The state directory or the lock file cannot be created or opened,
    /// or `flock` failed for another reason than a holder.
    #[error("cannot take the executor lock '{path}': {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// From creating the directory, opening the file or `flock`.
        #[source]
        source: io::Error,
    },
    /// Another executor still held the turn at the deadline.
    #[error(
        "another executor (osb daemon or osb apply) was still reconciling at the deadline; '{path}' is held"
    )]
    Deadline {
        /// The lock file.
        path: PathBuf,
    },
}

/// The right to plan and act on this state directory's blocks, until
/// dropped.
#[derive(Debug)]
pub struct Turn {
    _file: File,
}

impl Turn {
    /// Waits for the turn, until `deadline` if there is one.
    pub async fn take(state_dir: &Path, deadline: Option<Instant>) -> Result<Turn, TurnError> {
        let path = state_dir.join(FILE_NAME);
        let lock_error = |source| TurnError::Lock {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(state_dir).map_err(lock_error)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        let mut said = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Turn { _file: file }),
                Err(TryLockError::Error(e)) => return Err(lock_error(e)),
                Err(TryLockError::WouldBlock) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(TurnError::Deadline { path });
            }
            if !said {
                tracing::info!(
                    file = %path.display(),
                    "another executor (osb daemon or osb apply) is reconciling; waiting for its turn to end"
                );
                said = true;
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn one_turn_at_a_time_and_the_next_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let first = rt.block_on(Turn::take(dir.path(), None)).unwrap();
        // A second opening of the file is a second holder, as another
        // process would be.
        let soon = Instant::now() + Duration::from_millis(300);
        let err = rt.block_on(Turn::take(dir.path(), Some(soon))).unwrap_err();
        assert!(Instant::now() >= soon);
        assert!(
            err.to_string().contains(FILE_NAME) && err.to_string().contains("deadline"),
            "{err}"
        );
        drop(first);
        let second = rt.block_on(Turn::take(dir.path(), Some(Instant::now())));
        assert!(second.is_ok(), "{second:?}");
    }

    #[test]
    fn a_waiting_executor_gets_the_turn_when_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let holder = rt.block_on(Turn::take(dir.path(), None)).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
            Instant::now()
        });
        let taken = rt
            .block_on(Turn::take(
                dir.path(),
                Some(Instant::now() + Duration::from_secs(10)),
            ))
            .map(|_| Instant::now());
        let released = released.join().unwrap();
        let taken = taken.unwrap();
        assert!(taken >= released);
        assert!(taken - released < Duration::from_secs(1));
    }

    #[test]
    fn a_state_directory_that_cannot_hold_the_lock_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let err = rt().block_on(Turn::take(&file, None)).unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
