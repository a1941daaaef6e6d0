//! Reading and saving the state file.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use osb_sdk::{PluginError, Result};

use crate::format;

/// How an observed time relates to the saved one.
#[derive(Debug, PartialEq, Eq)]
pub enum Observed {
    /// Later than the saved time, or nothing usable is saved: save it.
    Later,
    /// Equal to the saved time: nothing to do.
    Same,
    /// Earlier than the saved time: saving it would lower the floor.
    Earlier { saved: i64 },
}

/// Compares an observed time with the saved one (`None`: nothing usable).
pub fn classify(saved: Option<i64>, observed: i64) -> Observed {
    match saved {
        Some(saved) if observed < saved => Observed::Earlier { saved },
        Some(saved) if observed == saved => Observed::Same,
        _ => Observed::Later,
    }
}

/// The Unix seconds saved in `path`.
pub fn read(path: &Path) -> Result<i64> {
    let file = File::open(path).map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => not_found(path),
        _ => PluginError::io(format_args!("failed to open '{}'", path.display()), &error),
    })?;
    let mut contents = Vec::with_capacity(format::MAX_LEN + 1);
    // One byte past the longest valid file, enough to tell it is too long.
    file.take(format::MAX_LEN as u64 + 1)
        .read_to_end(&mut contents)
        .map_err(|error| {
            PluginError::io(format_args!("failed to read '{}'", path.display()), &error)
        })?;
    format::parse(&contents).map_err(|error| {
        PluginError::invalid_input(format!("'{}' is not a saved time: {error}", path.display()))
    })
}

/// Says which is missing, the file or its directory: without an `fs` grant
/// for it, the directory does not exist as far as the plugin can see.
fn not_found(path: &Path) -> PluginError {
    match path.parent() {
        Some(dir) if !dir.exists() => PluginError::unavailable(format!(
            "no saved time: directory '{}' does not exist (is there an fs grant for it?)",
            dir.display()
        )),
        _ => PluginError::unavailable(format!(
            "no saved time: '{}' does not exist",
            path.display()
        )),
    }
}

/// Saves `seconds` to `path` so that a crash at any point leaves either the
/// old file or the new one, never a torn one: write `<path>.tmp`, sync it,
/// rename it over `path`.
pub fn write(path: &Path, seconds: i64) -> Result<()> {
    let temp = temp_path(path);
    let saved = write_synced(&temp, format::render(seconds).as_bytes()).and_then(|()| {
        fs::rename(&temp, path).map_err(|error| {
            PluginError::io(
                format_args!(
                    "failed to rename '{}' to '{}'",
                    temp.display(),
                    path.display()
                ),
                &error,
            )
        })
    });
    if saved.is_err() {
        // Best effort: a leftover temp file is harmless, the next save
        // truncates it.
        let _ = fs::remove_file(&temp);
        return saved;
    }
    sync_parent(path);
    Ok(())
}

/// `<path>.tmp`: in the same directory, so the rename stays atomic.
fn temp_path(path: &Path) -> PathBuf {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    PathBuf::from(temp)
}

fn write_synced(path: &Path, contents: &[u8]) -> Result<()> {
    let fail = |what: &str, error: io::Error| {
        PluginError::io(
            format_args!("failed to {what} '{}'", path.display()),
            &error,
        )
    };
    let mut file = File::create(path).map_err(|error| fail("create", error))?;
    file.write_all(contents)
        .map_err(|error| fail("write", error))?;
    file.flush().map_err(|error| fail("flush", error))?;
    // Without this the rename can reach the disk before the data does, and
    // a power cut leaves an empty file under the real name.
    file.sync_all().map_err(|error| fail("sync", error))
}

/// Makes the rename itself durable where the platform allows it.
///
/// Best effort: a host may not let a guest open or sync a directory, and a
/// lost rename only leaves the previous, still valid, lower bound.
fn sync_parent(path: &Path) {
    let Some(parent) = path.parent() else { return };
    if let Err(error) = File::open(parent).and_then(|dir| dir.sync_all()) {
        osb_sdk::trace!("could not sync directory '{}': {error}", parent.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_lowers_the_floor() {
        assert_eq!(classify(None, 5), Observed::Later);
        assert_eq!(classify(Some(4), 5), Observed::Later);
        assert_eq!(classify(Some(5), 5), Observed::Same);
        assert_eq!(classify(Some(6), 5), Observed::Earlier { saved: 6 });
    }

    #[test]
    fn temp_file_is_a_sibling() {
        assert_eq!(
            temp_path(Path::new("/data/fake-hwclock")),
            Path::new("/data/fake-hwclock.tmp")
        );
    }
}
