//! The directories a plugin sees, opened afresh for every instance.
//!
//! A granted directory is the device config's (trusted: it may be reached
//! through links the device's own layout has), but what lies beneath a
//! read-write grant is the plugin's doing: it may have replaced a
//! sub-directory with a link to `/`. So a preopen is opened as its
//! device-granted directory, then one component at a time beneath it
//! without following any link, and handed to WASI as that open directory
//! (`/proc/self/fd/N` names exactly the directory opened, whatever the path
//! leads to by then).

use std::os::fd::AsRawFd;
use std::path::Path;

use cap_fs_ext::DirExt;
use cap_std::fs::Dir;

use super::filesystem::Usage;
use crate::grants::Preopen;

/// The preopen's directory, opened beneath its grant.
pub fn open(preopen: &Preopen) -> Result<Dir, String> {
    let grant =
        Dir::open_ambient_dir(&preopen.grant, cap_std::ambient_authority()).map_err(|e| {
            format!(
                "cannot open granted directory '{}': {e}",
                preopen.grant.display()
            )
        })?;
    let mut dir = grant;
    let mut reached = preopen.grant.clone();
    for component in preopen.beneath.components() {
        reached.push(component);
        dir = dir.open_dir_nofollow(component).map_err(|e| {
            format!(
                "cannot open '{}' beneath the granted '{}' without following links: {e}",
                reached.display(),
                preopen.grant.display()
            )
        })?;
    }
    Ok(dir)
}

/// A path that opens exactly `dir`, for WASI's path-based preopens; valid
/// while `dir` is open.
pub fn fd_path(dir: &Dir) -> Result<String, String> {
    let path = format!("/proc/self/fd/{}", dir.as_raw_fd());
    if !Path::new(&path).exists() {
        return Err("/proc is not mounted: granted directories cannot be opened safely".into());
    }
    Ok(path)
}

/// What `dir` holds: the bytes of its regular files and its entries, all
/// the way down, never following a link. Stops counting past
/// `max_entries`: a tree that big is over any quota already.
pub fn usage(dir: &Dir, max_entries: u64) -> std::io::Result<Usage> {
    let mut used = Usage::default();
    let mut pending = vec![dir.try_clone()?];
    while let Some(dir) = pending.pop() {
        for entry in dir.entries()? {
            let entry = entry?;
            used.entries += 1;
            if used.entries > max_entries {
                return Ok(used);
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(dir.open_dir_nofollow(entry.file_name())?);
            } else if kind.is_file() {
                used.bytes = used.bytes.saturating_add(entry.metadata()?.len());
            }
        }
    }
    Ok(used)
}
