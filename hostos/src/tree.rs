//! What the stores do to their own directories: trees removed without
//! following links, records written durably and read with a bound. Each
//! works on one name within a directory capability.

use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;

use cap_std::fs::Dir;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// A directory beneath `dir`, never through a symlink.
pub(crate) fn open_dir(dir: &Dir, name: impl AsRef<OsStr>) -> io::Result<Dir> {
    let fd: OwnedFd = rustix::fs::openat(
        dir,
        name.as_ref(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok(Dir::from_std_file(std::fs::File::from(fd)))
}

/// Removes `name` in `dir` and, if it is a directory, everything in it;
/// a symlink is removed, never followed. Gone already is done.
pub(crate) fn remove_tree(dir: &Dir, name: impl AsRef<OsStr>) -> io::Result<()> {
    let name = name.as_ref();
    let stat = match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        other => other?,
    };
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    let inner = open_dir(dir, name)?;
    // An image's read-only directory must not keep its entries.
    rustix::fs::fchmod(&inner, Mode::from_raw_mode(0o700))?;
    let mut names = Vec::new();
    for entry in inner.entries()? {
        names.push(entry?.file_name());
    }
    for child in names {
        remove_tree(&inner, &child)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// Writes `bytes` to `name` in `dir` so that a crash leaves the old
/// content or the new, never a part: a temporary file, synced, renamed
/// over `name`, and the directory synced.
pub(crate) fn write_durably(dir: &Dir, name: &str, bytes: &[u8]) -> io::Result<()> {
    let temp = format!(".{name}.new");
    remove_tree(dir, &temp)?;
    let fd = rustix::fs::openat(
        dir,
        temp.as_str(),
        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    file.sync_all()?;
    rustix::fs::renameat(dir, temp.as_str(), dir, name)?;
    sync_dir(dir)
}

/// Makes `dir`'s entries (names created, renamed, removed) durable.
pub(crate) fn sync_dir(dir: &Dir) -> io::Result<()> {
    // cap-std opens directories `O_PATH`, which fsync refuses: the
    // directory is reopened for reading.
    Ok(rustix::fs::fsync(open_dir(dir, ".")?)?)
}

/// Makes everything written beneath `dir` durable: one `syncfs` for a
/// whole unpacked tree, rather than one `fsync` per file and directory.
pub(crate) fn sync_tree(dir: &Dir) -> io::Result<()> {
    Ok(rustix::fs::syncfs(open_dir(dir, ".")?)?)
}

/// The content of the regular file `name` in `dir`, at most `max` bytes.
pub(crate) fn read_bounded(dir: &Dir, name: &str, max: u64) -> io::Result<Vec<u8>> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd)
        .take(max + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use cap_std::ambient_authority;
    use cap_std::fs::Dir;

    #[test]
    fn a_tree_is_removed_without_following_its_links() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("kept"), b"x").unwrap();
        let tree = tmp.path().join("tree/ro");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(tree.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("link")).unwrap();
        std::fs::set_permissions(&tree, std::os::unix::fs::PermissionsExt::from_mode(0o555))
            .unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        super::remove_tree(&dir, "tree").unwrap();
        assert!(!tmp.path().join("tree").exists());
        assert!(outside.join("kept").exists());
        super::remove_tree(&dir, "tree").unwrap();
    }
}
