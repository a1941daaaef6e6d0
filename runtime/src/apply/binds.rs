//! Bind sources: the host directories a block's bind mounts name, created
//! when missing, as compose does, just before the block's container is
//! created (the engine refuses to bind a path that does not exist).
//!
//! Whether a block may bind a host path at all is the device policy's
//! decision, made before this runs; this only makes what the target names.
//! A missing source is taken to be a directory (a file's content cannot be
//! guessed), created with every missing parent, owned by the runtime (root
//! on a device), mode 0755 whatever the umask. A source that exists, of
//! whatever kind, is left to the engine as it is.
//!
//! The path is walked from `/` one component at a time, each opened beneath
//! the one before without following a link: the runtime is root, and a link
//! on the way may be a block's doing (a bind source is often a directory
//! some block writes in), pointing anywhere on the host. A path that goes
//! through a link is not created; the error names the link, and the target
//! should name the real path.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, fchmod, mkdirat, openat, statat};
use rustix::io::Errno;

use osb_state::Block;
use osb_state::mount::VolumeMount;

/// The mode of a directory the runtime creates for a bind.
const MODE: u32 = 0o755;

/// Why a bind source could not be created.
#[derive(Debug, thiserror::Error)]
pub enum BindSourceError {
    /// A component on the way is a symbolic link, which is not followed.
    #[error(
        "bind source {source_path}: {at} is a symbolic link; the runtime creates a missing bind source only through real directories (name the link's target instead)"
    )]
    Link {
        /// The source the target names.
        source_path: PathBuf,
        /// The link.
        at: PathBuf,
    },
    /// A component on the way is not a directory.
    #[error("bind source {source_path}: {at} is not a directory")]
    NotDirectory {
        /// The source the target names.
        source_path: PathBuf,
        /// What is in the way.
        at: PathBuf,
    },
    /// The file system refused.
    #[error("bind source {source_path}: cannot create {at}: {error}")]
    Io {
        /// The source the target names.
        source_path: PathBuf,
        /// Where it failed.
        at: PathBuf,
        /// What the file system said.
        error: io::Error,
    },
}

/// Creates the missing host directories of `block`'s bind mounts.
pub fn create_missing(block: &Block) -> Result<(), BindSourceError> {
    for mount in &block.volumes {
        if let VolumeMount::Bind { source, .. } = mount {
            create_dir(Path::new(source.as_str()))?;
        }
    }
    Ok(())
}

/// Creates `path` and its missing parents as directories, following no link.
fn create_dir(path: &Path) -> Result<(), BindSourceError> {
    let io_error = |at: &Path, error: io::Error| BindSourceError::Io {
        source_path: path.to_owned(),
        at: at.to_owned(),
        error,
    };
    // The usual case costs one stat. A link here is the engine's to
    // resolve, as it would be for a path nobody had to create.
    match std::fs::metadata(path) {
        Ok(_) => return Ok(()),
        // The walk names what is missing or in the way.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) => {}
        Err(e) => return Err(io_error(path, e)),
    }
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::RDONLY;
    let root = Path::new("/");
    let mut dir: OwnedFd =
        openat(CWD, root, flags, Mode::empty()).map_err(|e| io_error(root, e.into()))?;
    let mut walked = PathBuf::from("/");
    for component in path.components() {
        let name = match component {
            Component::Normal(name) => name,
            // Target paths are absolute and hold no `..` (validation).
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io_error(
                    path,
                    io::Error::new(io::ErrorKind::InvalidInput, "not a plain absolute path"),
                ));
            }
        };
        walked.push(name);
        let mut created = false;
        let next = match openat(&dir, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                match mkdirat(&dir, name, Mode::from_raw_mode(MODE)) {
                    Ok(()) => created = true,
                    // Made meanwhile (another block's create): used as found.
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(io_error(&walked, e.into())),
                }
                // Opened afresh without following a link: a link put there
                // since is refused below like any other.
                openat(&dir, name, flags, Mode::empty())
                    .map_err(|e| in_the_way(path, &walked, &dir, name, e))?
            }
            Err(e) => return Err(in_the_way(path, &walked, &dir, name, e)),
        };
        if created {
            // mkdir's mode went through the umask.
            fchmod(&next, Mode::from_raw_mode(MODE)).map_err(|e| io_error(&walked, e.into()))?;
        }
        dir = next;
    }
    Ok(())
}

/// What `name` in `dir` is, when opening it as a directory failed with `e`.
fn in_the_way(
    source: &Path,
    walked: &Path,
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    e: Errno,
) -> BindSourceError {
    let kind = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|stat| FileType::from_raw_mode(stat.st_mode));
    match (e, kind) {
        (Errno::LOOP | Errno::NOTDIR, Some(FileType::Symlink)) => BindSourceError::Link {
            source_path: source.to_owned(),
            at: walked.to_owned(),
        },
        (Errno::NOTDIR, _) => BindSourceError::NotDirectory {
            source_path: source.to_owned(),
            at: walked.to_owned(),
        },
        (e, _) => BindSourceError::Io {
            source_path: source.to_owned(),
            at: walked.to_owned(),
            error: e.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn missing_directories_are_created_with_their_parents_at_0755() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = tmp.path().join("a/b/c");
        create_dir(&source).unwrap_or_else(|e| panic!("{e}"));
        for dir in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&tmp.path().join(dir)), 0o755, "{dir}");
        }
        // Existing ones are left as they are.
        std::fs::set_permissions(tmp.path().join("a"), std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        create_dir(&tmp.path().join("a/b/d")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a/b/d")), 0o755);
        // A file that exists is the engine's business.
        std::fs::write(tmp.path().join("file"), "x").unwrap_or_else(|e| panic!("{e}"));
        create_dir(&tmp.path().join("file")).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn no_link_is_followed_and_no_file_is_walked_through() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let elsewhere = tmp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap_or_else(|e| panic!("{e}"));
        symlink(&elsewhere, tmp.path().join("link")).unwrap_or_else(|e| panic!("{e}"));
        let err = create_dir(&tmp.path().join("link/x"));
        assert!(
            matches!(&err, Err(BindSourceError::Link { at, .. }) if at.ends_with("link")),
            "{err:?}"
        );
        assert!(!elsewhere.join("x").exists());
        // A dangling link as the source itself.
        symlink(tmp.path().join("nowhere"), tmp.path().join("dangling"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = create_dir(&tmp.path().join("dangling"));
        assert!(matches!(err, Err(BindSourceError::Link { .. })), "{err:?}");
        assert!(!tmp.path().join("nowhere").exists());

        std::fs::write(tmp.path().join("file"), "x").unwrap_or_else(|e| panic!("{e}"));
        let err = create_dir(&tmp.path().join("file/x"));
        assert!(
            matches!(err, Err(BindSourceError::NotDirectory { .. })),
            "{err:?}"
        );
    }
}
