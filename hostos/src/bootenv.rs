//! The reference boot: what the bootloader and init do at power-on, over
//! the file-based boot environment (`osb-bootenv`) in a directory, the one
//! a board's adapter is granted. A test "boots" by calling [`boot`]: the
//! environment is read, the boot counted, the slot picked (the fallback
//! once an unconfirmed update's boots run out) and recorded, as U-Boot's
//! `bootcount` / `bootlimit` / `upgrade_available` do on a board.
//!
//! The directory is the adapter's to write, so it is hostile ground: it is
//! opened once as a capability, the environment is opened without
//! following a link or waiting on a FIFO, only a regular file is read, and
//! no further than [`MAX_BYTES`]. A write goes to a temporary file beside
//! it, synced, renamed over it, and the directory synced: a power cut
//! leaves the old environment or the new one, never half of one.

use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

pub use osb_bootenv::{BootStatus, Env, EnvError, FILE_NAME, MAX_BYTES, PowerOn, Slot};

/// Where a write is staged before it is renamed over [`FILE_NAME`].
const STAGED: &str = "boot.env.staged";

/// Why the boot environment could not be read or written. Each names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum BootEnvError {
    /// The file or its directory could not be opened, read or written.
    #[error("boot environment '{}': {source}", path.display())]
    Io {
        /// The environment's path.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
    /// What is there is not a regular file (a link, a FIFO, a directory).
    #[error("boot environment '{}': not a regular file", path.display())]
    NotAFile {
        /// The environment's path.
        path: PathBuf,
    },
    /// The file is no boot environment; the error names the line and key.
    #[error("boot environment '{}': {source}", path.display())]
    Format {
        /// The environment's path.
        path: PathBuf,
        /// What is wrong with it.
        source: EnvError,
    },
}

/// The directory holding a boot environment, opened once.
pub struct BootDir {
    dir: Dir,
    path: PathBuf,
}

impl BootDir {
    /// Opens directory `path` (the host's own configuration names it; what
    /// is inside is the adapter's).
    pub fn open(path: &Path) -> Result<BootDir, BootEnvError> {
        // A read descriptor rather than cap-std's `O_PATH` one: the
        // directory is synced through it after a rename.
        let file = std::fs::File::open(path).map_err(|source| BootEnvError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(BootDir {
            dir: Dir::from_std_file(file),
            path: path.join(FILE_NAME),
        })
    }

    /// The environment's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the environment.
    pub fn read(&self) -> Result<Env, BootEnvError> {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .follow(FollowSymlinks::No)
            .custom_flags(nonblocking());
        let file = self
            .dir
            .open_with(FILE_NAME, &options)
            .map_err(|e| self.io(e))?;
        if !file.metadata().map_err(|e| self.io(e))?.is_file() {
            return Err(BootEnvError::NotAFile {
                path: self.path.clone(),
            });
        }
        let mut bytes = Vec::new();
        file.take(MAX_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(e))?;
        Env::from_bytes(&bytes).map_err(|source| BootEnvError::Format {
            path: self.path.clone(),
            source,
        })
    }

    /// Writes `env` whole or not at all.
    pub fn write(&self, env: &Env) -> Result<(), BootEnvError> {
        self.stage(env).map_err(|e| self.io(e))?;
        self.dir
            .rename(STAGED, &self.dir, FILE_NAME)
            .map_err(|e| self.io(e))?;
        rustix::fs::fsync(&self.dir).map_err(|e| self.io(e.into()))
    }

    /// Writes a device's first environment, everything booting `slot`,
    /// unless there is one already: what provisioning a board does once.
    pub fn provision(&self, slot: Slot) -> Result<(), BootEnvError> {
        match self.dir.symlink_metadata(FILE_NAME) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => self.write(&Env::fresh(slot)),
            Err(e) => Err(self.io(e)),
        }
    }

    /// One power-on: read the environment, count the boot and pick the
    /// slot as the bootloader does, record it. What booted comes back;
    /// the environment on disk is left unchanged when anything fails.
    pub fn boot(&self) -> Result<PowerOn, BootEnvError> {
        let mut env = self.read()?;
        let booted = env.power_on();
        self.write(&env)?;
        tracing::info!(slot = %booted.slot(), ?booted, "booted");
        Ok(booted)
    }

    /// Writes the staged file afresh. Whatever sits at its name (left by a
    /// write cut short, or put there by the adapter: a link, a FIFO) is
    /// removed first and never written through: the exclusive create fails
    /// on any entry, a dangling link included.
    fn stage(&self, env: &Env) -> io::Result<()> {
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create_new(true)
            .follow(FollowSymlinks::No);
        let mut file = match self.dir.open_with(STAGED, &options) {
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                self.dir.remove_file(STAGED)?;
                self.dir.open_with(STAGED, &options)?
            }
            created => created?,
        };
        file.write_all(env.to_text().as_bytes())?;
        file.sync_all()
    }

    fn io(&self, source: io::Error) -> BootEnvError {
        BootEnvError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// One power-on of the device whose boot environment is in `dir`: see
/// [`BootDir::boot`].
pub fn boot(dir: &Path) -> Result<PowerOn, BootEnvError> {
    BootDir::open(dir)?.boot()
}

/// The flags that keep an open from waiting on a FIFO's writer or taking a
/// controlling terminal.
fn nonblocking() -> i32 {
    (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> (tempfile::TempDir, BootDir) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = BootDir::open(tmp.path()).unwrap();
        dir.provision(Slot::A).unwrap();
        (tmp, dir)
    }

    #[test]
    fn a_staged_update_boots_counted_then_falls_back_when_its_boots_run_out() {
        let (_tmp, dir) = device();
        assert_eq!(dir.boot().unwrap(), PowerOn::Default(Slot::A));
        let mut env = dir.read().unwrap();
        env.stage(Slot::B, 2).unwrap();
        dir.write(&env).unwrap();
        let boots: Vec<PowerOn> = (0..4).map(|_| dir.boot().unwrap()).collect();
        assert_eq!(
            boots,
            [
                PowerOn::Trying {
                    slot: Slot::B,
                    count: 1,
                    limit: 2
                },
                PowerOn::Trying {
                    slot: Slot::B,
                    count: 2,
                    limit: 2
                },
                PowerOn::FellBack {
                    slot: Slot::A,
                    from: Slot::B
                },
                PowerOn::Default(Slot::A),
            ]
        );
        let state = dir.read().unwrap().state();
        assert_eq!(state.rolled_back_from, Some(Slot::B));
        assert!(!state.unconfirmed);
        // Nothing staged is left behind.
        assert!(!dir.dir.exists(STAGED));
    }

    #[test]
    fn provisioning_keeps_an_environment_that_is_there() {
        let (tmp, dir) = device();
        let mut env = dir.read().unwrap();
        env.stage(Slot::B, 3).unwrap();
        dir.write(&env).unwrap();
        dir.provision(Slot::A).unwrap();
        assert_eq!(dir.read().unwrap(), env);
        let text = std::fs::read_to_string(tmp.path().join(FILE_NAME)).unwrap();
        assert!(text.contains("upgrade_available=1\n"), "{text}");
    }

    #[test]
    fn a_hostile_environment_is_refused_naming_the_file_and_line_and_left_as_it_was() {
        for (content, expected) in [
            (
                "boot_slot=a\nfallback_slot=a\nupgrade_available=1\nbootcount=x\n".to_owned(),
                "line 4: bootcount: 'x' is not a number",
            ),
            (
                "\u{0}garbage\u{7f}".to_owned(),
                "line 1: '\\u{0}garbage\\u{7f}' is not key=value",
            ),
            ("#".repeat(MAX_BYTES + 10), "larger than 65536 bytes"),
        ] {
            let (tmp, dir) = device();
            let file = tmp.path().join(FILE_NAME);
            std::fs::write(&file, &content).unwrap();
            let error = dir.boot().unwrap_err().to_string();
            assert_eq!(
                error,
                format!("boot environment '{}': {expected}", file.display())
            );
            assert_eq!(std::fs::read_to_string(&file).unwrap(), content);
            assert!(!dir.dir.exists(STAGED));
        }
    }

    #[test]
    fn links_fifos_and_directories_at_the_name_are_not_followed_or_waited_on() {
        let (tmp, dir) = device();
        let file = tmp.path().join(FILE_NAME);
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, Env::fresh(Slot::B).to_text()).unwrap();
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&outside, &file).unwrap();
        let error = dir.read().unwrap_err().to_string();
        assert!(error.contains(&file.display().to_string()), "{error}");

        std::fs::remove_file(&file).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &file,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(dir.read(), Err(BootEnvError::NotAFile { .. })));

        // A link at the staged name is removed, never written through.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&outside, tmp.path().join(STAGED)).unwrap();
        dir.write(&Env::fresh(Slot::A)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            Env::fresh(Slot::B).to_text()
        );
        assert_eq!(dir.read().unwrap(), Env::fresh(Slot::A));
    }
}
