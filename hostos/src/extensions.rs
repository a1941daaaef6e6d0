//! The extension store, `<state>/extensions/`: one directory per installed
//! image, named by its digest, holding the unpacked files (`root/`) and
//! what they are (`extension.json`).
//!
//! An extension is unpacked into `.partial-<digest>/`, made durable, and
//! renamed into place: a half-unpacked extension is never visible under
//! its digest, and what a crash left is removed when the store is opened.
//! A removal renames first too, so a half-removed one is never visible
//! either. One process writes the store at a time (the runtime's executor).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};

use crate::tree::{open_dir, read_bounded, remove_tree, sync_dir, sync_tree, write_durably};
use crate::unpack::{UnpackError, UnpackReport, UnpackRules, unpack};

/// The record of one extension, in its directory.
const RECORD: &str = "extension.json";
/// The unpacked files, in its directory.
const ROOT: &str = "root";
/// The prefix of what is not (or no longer) an installed extension.
const PARTIAL: &str = ".partial-";
/// The most a record may hold: it names an image and counts a few things.
const MAX_RECORD: u64 = 64 * 1024;

/// An image's digest, `sha256:<64 lowercase hex digits>`: an extension's
/// identity. Its directory is `sha256-<hex>` (no `:`, which overlayfs
/// options use as a separator).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageDigest(String);

/// A digest that is not `sha256:<64 lowercase hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest '{0}': not sha256:<64 lowercase hex digits>")]
pub struct DigestError(pub String);

impl ImageDigest {
    /// Reads `sha256:<hex>`.
    pub fn parse(text: &str) -> Result<ImageDigest, DigestError> {
        match text.strip_prefix("sha256:") {
            Some(hex) if is_hex64(hex) => Ok(ImageDigest(text.to_owned())),
            _ => Err(DigestError(text.escape_debug().take(100).collect())),
        }
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn dir_name(&self) -> String {
        self.0.replacen(':', "-", 1)
    }

    fn from_dir_name(name: &str) -> Option<ImageDigest> {
        let hex = name.strip_prefix("sha256-")?;
        is_hex64(hex).then(|| ImageDigest(format!("sha256:{hex}")))
    }
}

fn is_hex64(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl std::fmt::Display for ImageDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ImageDigest {
    type Error = DigestError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        ImageDigest::parse(&text)
    }
}

impl From<ImageDigest> for String {
    fn from(digest: ImageDigest) -> String {
        digest.0
    }
}

/// What an extension is, as the target state said when it was installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionMeta {
    /// The image reference it was installed from.
    pub image: String,
    /// The app it belongs to.
    pub app: String,
    /// The block it is.
    pub block: String,
    /// How it is stacked.
    pub kind: ExtensionKind,
    /// The kernel release it is built for (`uname -r`), if it holds
    /// kernel modules.
    pub kernel_version: Option<String>,
    /// The kernel ABI it is built for, if it says.
    pub kernel_abi: Option<String>,
}

/// How an extension is stacked over the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExtensionKind {
    /// It may replace the host's files; a higher priority is stacked above
    /// a lower one.
    Override {
        /// Its place in the stack.
        priority: u32,
    },
    /// It adds files.
    Plain,
}

/// An installed extension: `extension.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRecord {
    /// Its image's digest.
    pub digest: ImageDigest,
    /// What it is.
    pub meta: ExtensionMeta,
    /// What its unpack did.
    pub unpack: UnpackReport,
}

/// One entry of [`ExtensionStore::list`]: an extension whose record could
/// not be read is listed with why, not dropped.
#[derive(Debug)]
pub struct Listed {
    /// The digest its directory is named by.
    pub digest: ImageDigest,
    /// Its record.
    pub record: Result<ExtensionRecord, ExtensionError>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    /// The store's directory could not be opened or read.
    #[error("extension store '{path}': failed to {action}: {source}")]
    Store {
        /// The store.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// What happened.
        source: io::Error,
    },
    /// An operation on one extension failed.
    #[error("extension {digest}: failed to {action}: {source}")]
    Io {
        /// The extension.
        digest: ImageDigest,
        /// What was being done.
        action: &'static str,
        /// What happened.
        source: io::Error,
    },
    /// Its image's content was refused or could not be read.
    #[error("extension {digest}: failed to unpack image '{image}': {source}")]
    Unpack {
        /// The extension.
        digest: ImageDigest,
        /// The image.
        image: String,
        /// Why.
        source: UnpackError,
    },
    /// It is installed already.
    #[error("extension {digest} is installed already")]
    Installed {
        /// The extension.
        digest: ImageDigest,
    },
    /// Its record cannot be read.
    #[error("extension {digest}: {RECORD}: {reason}")]
    BadRecord {
        /// The extension.
        digest: ImageDigest,
        /// What is wrong.
        reason: String,
    },
}

/// What failed on one extension, as a `map_err` argument.
fn io_error<'a>(
    digest: &'a ImageDigest,
    action: &'static str,
) -> impl FnOnce(io::Error) -> ExtensionError + 'a {
    move |source| ExtensionError::Io {
        digest: digest.clone(),
        action,
        source,
    }
}

/// The extension store.
#[derive(Debug)]
pub struct ExtensionStore {
    path: PathBuf,
    dir: Dir,
}

impl ExtensionStore {
    /// Opens the store at `path` (created if missing) and removes what an
    /// install or removal cut short left.
    pub fn open(path: impl Into<PathBuf>) -> Result<ExtensionStore, ExtensionError> {
        let path = path.into();
        let store_error = |action| {
            let path = path.clone();
            move |source| ExtensionError::Store {
                path,
                action,
                source,
            }
        };
        std::fs::create_dir_all(&path).map_err(store_error("create it"))?;
        let dir =
            Dir::open_ambient_dir(&path, ambient_authority()).map_err(store_error("open it"))?;
        for name in names(&dir).map_err(store_error("list it"))? {
            if name.starts_with(PARTIAL) {
                tracing::info!(store = %path.display(), leftover = %name, "removing what an interrupted install or removal left");
                remove_tree(&dir, &name).map_err(store_error("remove a leftover"))?;
            }
        }
        sync_dir(&dir).map_err(store_error("sync it"))?;
        Ok(ExtensionStore { path, dir })
    }

    /// The store at `path` to read, as it is: nothing is created or
    /// cleaned (an install may be under way in another process); `None`
    /// when there is no store yet. Reading only ([`ExtensionStore::list`],
    /// [`ExtensionStore::get`]) is what it is for.
    pub fn read_only(path: impl Into<PathBuf>) -> Result<Option<ExtensionStore>, ExtensionError> {
        let path = path.into();
        match Dir::open_ambient_dir(&path, ambient_authority()) {
            Ok(dir) => Ok(Some(ExtensionStore { path, dir })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ExtensionError::Store {
                path,
                action: "open it",
                source,
            }),
        }
    }

    /// Unpacks the image export `reader` as extension `digest` and records
    /// `meta` with it; visible only once complete and durable.
    pub fn install(
        &self,
        digest: &ImageDigest,
        meta: ExtensionMeta,
        reader: impl Read,
    ) -> Result<ExtensionRecord, ExtensionError> {
        let io = |action| io_error(digest, action);
        let name = digest.dir_name();
        if exists(&self.dir, &name).map_err(io("look for it"))? {
            return Err(ExtensionError::Installed {
                digest: digest.clone(),
            });
        }
        let partial = format!("{PARTIAL}{name}");
        remove_tree(&self.dir, &partial).map_err(io("remove an earlier attempt"))?;
        let staged = self.stage(digest, &partial, meta, reader);
        if staged.is_err() {
            // Also removed when the store is next opened, should this fail.
            let _best_effort = remove_tree(&self.dir, &partial);
        }
        let record = staged?;
        rustix::fs::renameat(&self.dir, partial.as_str(), &self.dir, name.as_str())
            .map_err(|e| io("move it into place")(e.into()))?;
        sync_dir(&self.dir).map_err(io("sync the store"))?;
        Ok(record)
    }

    /// Unpacks and records the extension in the staging directory
    /// `partial`, durably.
    fn stage(
        &self,
        digest: &ImageDigest,
        partial: &str,
        meta: ExtensionMeta,
        reader: impl Read,
    ) -> Result<ExtensionRecord, ExtensionError> {
        let io = |action| io_error(digest, action);
        self.dir
            .create_dir(partial)
            .map_err(io("create its staging directory"))?;
        let staging = open_dir(&self.dir, partial).map_err(io("open its staging directory"))?;
        staging.create_dir(ROOT).map_err(io("create its root"))?;
        let root = open_dir(&staging, ROOT).map_err(io("open its root"))?;
        let report = unpack(reader, &root, &UnpackRules::extension()).map_err(|source| {
            ExtensionError::Unpack {
                digest: digest.clone(),
                image: meta.image.clone(),
                source,
            }
        })?;
        let record = ExtensionRecord {
            digest: digest.clone(),
            meta,
            unpack: report,
        };
        let json = serde_json::to_vec_pretty(&record)
            .map_err(|e| io("write its record")(io::Error::other(e)))?;
        write_durably(&staging, RECORD, &json).map_err(io("write its record"))?;
        sync_tree(&root).map_err(io("sync its files"))?;
        sync_dir(&staging).map_err(io("sync its directory"))?;
        Ok(record)
    }

    /// Every installed extension, by digest; directories that are not
    /// named by a digest are passed over.
    pub fn list(&self) -> Result<Vec<Listed>, ExtensionError> {
        let names = names(&self.dir).map_err(|source| ExtensionError::Store {
            path: self.path.clone(),
            action: "list it",
            source,
        })?;
        let mut listed: Vec<Listed> = names
            .iter()
            .filter_map(|name| ImageDigest::from_dir_name(name))
            .map(|digest| Listed {
                record: self.record(&digest),
                digest,
            })
            .collect();
        listed.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(listed)
    }

    /// Extension `digest`, if it is installed.
    pub fn get(&self, digest: &ImageDigest) -> Result<Option<ExtensionRecord>, ExtensionError> {
        let present =
            exists(&self.dir, digest.dir_name()).map_err(io_error(digest, "look for it"))?;
        if !present {
            return Ok(None);
        }
        self.record(digest).map(Some)
    }

    /// Where extension `digest`'s files are: a lower directory of the
    /// overlay stacked at boot.
    pub fn root_path(&self, digest: &ImageDigest) -> PathBuf {
        self.path.join(digest.dir_name()).join(ROOT)
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes extension `digest`, links inside it removed, never followed;
    /// not installed is done.
    pub fn remove(&self, digest: &ImageDigest) -> Result<(), ExtensionError> {
        let io = |action| io_error(digest, action);
        let name = digest.dir_name();
        if !exists(&self.dir, &name).map_err(io("look for it"))? {
            return Ok(());
        }
        let doomed = format!("{PARTIAL}{name}");
        remove_tree(&self.dir, &doomed).map_err(io("remove an earlier attempt"))?;
        rustix::fs::renameat(&self.dir, name.as_str(), &self.dir, doomed.as_str())
            .map_err(|e| io("move it aside")(e.into()))?;
        sync_dir(&self.dir).map_err(io("sync the store"))?;
        remove_tree(&self.dir, &doomed).map_err(io("remove it"))?;
        sync_dir(&self.dir).map_err(io("sync the store"))
    }

    fn record(&self, digest: &ImageDigest) -> Result<ExtensionRecord, ExtensionError> {
        let bad = |reason: String| ExtensionError::BadRecord {
            digest: digest.clone(),
            reason,
        };
        let dir = open_dir(&self.dir, digest.dir_name())
            .map_err(|e| bad(format!("cannot open its directory: {e}")))?;
        let bytes = read_bounded(&dir, RECORD, MAX_RECORD).map_err(|e| bad(e.to_string()))?;
        let record: ExtensionRecord =
            serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if record.digest != *digest {
            return Err(bad(format!(
                "it names {}, not the digest its directory is named by",
                record.digest
            )));
        }
        Ok(record)
    }
}

fn names(dir: &Dir) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in dir.entries()? {
        // A name that is not UTF-8 is neither a digest nor a leftover.
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

fn exists(dir: &Dir, name: impl AsRef<std::ffi::OsStr>) -> io::Result<bool> {
    match rustix::fs::statat(dir, name.as_ref(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Ok(true),
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
