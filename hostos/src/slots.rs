//! The two root filesystem slots, `a` and `b`: the device boots one (the
//! active slot) while a hostapp update is written into the other.
//!
//! On a device each slot would be a partition; here each is a directory
//! beneath the slots' root, holding `root/` (the root filesystem) and
//! `slot.json` (its marker). Only a slot with a valid marker is bootable,
//! and the marker is the last thing written and the first thing removed:
//! a slot whose write was cut short, at any point, is unmarked.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use crate::tree::{open_dir, read_bounded, remove_tree, sync_dir, sync_tree, write_durably};
use crate::unpack::{UnpackError, UnpackReport, UnpackRules, unpack};

/// The marker of a bootable slot.
const MARKER: &str = "slot.json";
/// The root filesystem, in a slot.
const ROOT: &str = "root";
/// The root filesystem while it is written.
const PARTIAL_ROOT: &str = "root.partial";
/// What makes a tree a root filesystem: something for the kernel to run.
const INIT: &str = "sbin/init";
/// The most a marker may hold.
const MAX_MARKER: u64 = 64 * 1024;

/// One of the two slots: the boot environment's, so a slot written here
/// and a slot booted there are one type.
pub use osb_bootenv::Slot;

/// A bootable slot's marker: what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotRecord {
    /// The hostapp image it was written from.
    pub image: String,
    /// The SHA-256 of the export stream it was written from.
    pub sha256: String,
    /// The entries unpacked.
    pub entries: u64,
    /// The bytes of file data unpacked.
    pub bytes: u64,
}

/// Why a slot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    /// The slots' directory could not be opened.
    #[error("slots '{path}': failed to {action}: {source}")]
    Open {
        /// The slots' root.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What happened.
        source: io::Error,
    },
    /// The slot asked to be written is the one the device runs.
    #[error("slot {slot} is the active slot, which is never written")]
    Active {
        /// The slot.
        slot: Slot,
    },
    /// An operation on a slot failed.
    #[error("slot {slot}: failed to {action}: {source}")]
    Io {
        /// The slot.
        slot: Slot,
        /// What was being done.
        action: &'static str,
        /// What happened.
        source: io::Error,
    },
    /// The image's content was refused or could not be read.
    #[error("slot {slot}: failed to unpack image '{image}': {source}")]
    Unpack {
        /// The slot.
        slot: Slot,
        /// The image.
        image: String,
        /// Why.
        source: UnpackError,
    },
    /// The image is not a root filesystem.
    #[error("slot {slot}: image '{image}' is not a root filesystem: it holds no '{missing}'")]
    NotRootFilesystem {
        /// The slot.
        slot: Slot,
        /// The image.
        image: String,
        /// What it lacks.
        missing: &'static str,
    },
    /// The slot's marker cannot be read.
    #[error("slot {slot}: {MARKER}: {reason}")]
    BadMarker {
        /// The slot.
        slot: Slot,
        /// What is wrong.
        reason: String,
    },
}

/// The two slots, beneath one directory.
#[derive(Debug)]
pub struct Slots {
    path: PathBuf,
    dir: Dir,
}

impl Slots {
    /// Opens the slots beneath `path`, creating it and the slots' own
    /// directories if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<Slots, SlotError> {
        let path = path.into();
        let open_error = |action| {
            let path = path.clone();
            move |source| SlotError::Open {
                path,
                action,
                source,
            }
        };
        for slot in [Slot::A, Slot::B] {
            std::fs::create_dir_all(path.join(slot.name()))
                .map_err(open_error("create the slots' directories"))?;
        }
        let dir =
            Dir::open_ambient_dir(&path, ambient_authority()).map_err(open_error("open it"))?;
        Ok(Slots { path, dir })
    }

    /// Writes the hostapp image export `reader` into the slot that is not
    /// `active`, and marks it bootable once it is complete and durable.
    pub fn write_inactive(
        &self,
        active: Slot,
        image: &str,
        reader: impl Read,
    ) -> Result<SlotRecord, SlotError> {
        self.write(active.other(), active, image, reader)
    }

    /// Writes `slot`, refusing the `active` one: [`Slots::write_inactive`]
    /// for callers that name the slot.
    pub fn write(
        &self,
        slot: Slot,
        active: Slot,
        image: &str,
        reader: impl Read,
    ) -> Result<SlotRecord, SlotError> {
        if slot == active {
            return Err(SlotError::Active { slot });
        }
        let io = |action| {
            move |source| SlotError::Io {
                slot,
                action,
                source,
            }
        };
        let dir = open_dir(&self.dir, slot.name()).map_err(io("open its directory"))?;
        // Unmarked before anything else changes: from here until the new
        // marker, the slot is not bootable.
        remove_tree(&dir, MARKER).map_err(io("remove its marker"))?;
        sync_dir(&dir).map_err(io("sync its directory"))?;
        remove_tree(&dir, ROOT).map_err(io("remove the old root filesystem"))?;
        remove_tree(&dir, PARTIAL_ROOT).map_err(io("remove an earlier attempt"))?;
        let staged = stage(&dir, slot, image, reader);
        if staged.is_err() {
            // Also removed by the slot's next write, should this fail.
            let _best_effort = remove_tree(&dir, PARTIAL_ROOT);
        }
        let report = staged?;
        rustix::fs::renameat(&dir, PARTIAL_ROOT, &dir, ROOT)
            .map_err(|e| io("move the new root filesystem into place")(e.into()))?;
        sync_dir(&dir).map_err(io("sync its directory"))?;
        let record = SlotRecord {
            image: image.to_owned(),
            sha256: report.sha256,
            entries: report.entries,
            bytes: report.bytes,
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| io("write its marker")(io::Error::other(e)))?;
        write_durably(&dir, MARKER, &json).map_err(io("write its marker"))?;
        Ok(record)
    }

    /// What `slot` holds, if it is bootable (marked, with a root
    /// filesystem); `None` if it is not.
    pub fn read(&self, slot: Slot) -> Result<Option<SlotRecord>, SlotError> {
        let bad = |reason: String| SlotError::BadMarker { slot, reason };
        let dir = open_dir(&self.dir, slot.name()).map_err(|source| SlotError::Io {
            slot,
            action: "open its directory",
            source,
        })?;
        let bytes = match read_bounded(&dir, MARKER, MAX_MARKER) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            other => other.map_err(|e| bad(e.to_string()))?,
        };
        let record: SlotRecord = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if open_dir(&dir, ROOT).is_err() {
            return Err(bad(format!("marked, but '{ROOT}' is not a directory")));
        }
        Ok(Some(record))
    }

    /// Where `slot`'s root filesystem is.
    pub fn root_path(&self, slot: Slot) -> PathBuf {
        self.path.join(slot.name()).join(ROOT)
    }

    /// The slots' directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Unpacks the root filesystem into `root.partial` of the slot's `dir`
/// and checks that it is one, durably.
fn stage(dir: &Dir, slot: Slot, image: &str, reader: impl Read) -> Result<UnpackReport, SlotError> {
    let io = |action| {
        move |source| SlotError::Io {
            slot,
            action,
            source,
        }
    };
    dir.create_dir(PARTIAL_ROOT)
        .map_err(io("create the new root filesystem"))?;
    let root = open_dir(dir, PARTIAL_ROOT).map_err(io("open the new root filesystem"))?;
    let report =
        unpack(reader, &root, &UnpackRules::hostapp()).map_err(|source| SlotError::Unpack {
            slot,
            image: image.to_owned(),
            source,
        })?;
    // Resolved beneath the root only (`sbin` may be a link to `usr/sbin`);
    // a link out of it counts as missing.
    if root.symlink_metadata(INIT).is_err() {
        return Err(SlotError::NotRootFilesystem {
            slot,
            image: image.to_owned(),
            missing: INIT,
        });
    }
    sync_tree(&root).map_err(io("sync the new root filesystem"))?;
    Ok(report)
}

#[cfg(test)]
mod tests;
