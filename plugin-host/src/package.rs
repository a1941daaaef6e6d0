//! A plugin package on disk: `plugin.toml`, `<name>.wasm`, `<name>.wasm.sig`.
//!
//! Loading reads the three files once into memory, so what is verified is
//! exactly what is compiled, whatever happens to the files afterwards.
//! Each file is bounded in size before it is read (a package is not
//! trusted before its signature is checked, and that needs its bytes), and
//! must be a regular file: a FIFO or a device behind the name would block
//! the loader or never end.

use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, PluginKind};
use super::trust::{self, PackageDigest, PublicKey, TrustError};

/// The manifest's name in a package directory; a directory holding one is
/// taken for a package.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The largest component accepted. Plugins built with the SDK are a few
/// hundred KiB; this leaves room for big ones while keeping what the host
/// reads into memory before verifying it small.
pub const MAX_COMPONENT_BYTES: u64 = 32 << 20;
const MAX_MANIFEST_BYTES: u64 = 64 << 10;
const MAX_SIGNATURE_BYTES: u64 = 4 << 10;

/// A package read from disk, not yet trusted.
#[derive(Debug, Clone)]
pub struct Package {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// `plugin.toml`, parsed; its API version is one this host serves.
    pub manifest: Manifest,
    /// `<name>.wasm` as read: the bytes verified are the bytes compiled.
    pub component: Vec<u8>,
    /// The text of `<name>.wasm.sig`; `None` when there is no such file.
    pub signature: Option<String>,
    /// The SHA-256 of the manifest text and of `component`: what the
    /// signature covers.
    pub digest: PackageDigest,
}

/// Who vouches for a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Its signature verified under this trusted key.
    Signed(PublicKey),
    /// Development mode accepted it without a valid signature.
    Unsigned {
        /// Why the signature did not pass: the [`PackageError`] that would
        /// have refused the package.
        reason: String,
    },
}

/// How packages are trusted, from the device config.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Signers whose packages run; a package signed by any one of them is
    /// trusted.
    pub trusted_keys: Vec<PublicKey>,
    /// Accept unsigned or badly signed packages (loudly). Never in production.
    pub development: bool,
}

/// Why a package could not be read, or may not run.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A package file could not be opened or read; a missing manifest or
    /// component is this, with `NotFound`.
    #[error("cannot read '{}': {source}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A package file is not a regular file, is larger than its bound, or
    /// (the signature) is not UTF-8.
    #[error("'{}' is refused: {reason}", path.display())]
    File {
        /// The file refused.
        path: PathBuf,
        /// What is wrong, with the sizes when it is too large.
        reason: String,
    },
    /// `plugin.toml` is not UTF-8 or not a valid manifest.
    #[error("'{}' is invalid: {reason}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong; a parse error names the field.
        reason: String,
    },
    /// The manifest asks for an API version this host does not serve.
    #[error("'{}' is refused: {reason}", path.display())]
    Api {
        /// The manifest file.
        path: PathBuf,
        /// The version asked for, and what this host serves instead.
        reason: String,
    },
    /// There is no signature file, and the host is not in development mode.
    #[error("'{}' is missing: unsigned packages are refused outside development mode", path.display())]
    Unsigned {
        /// Where the signature file was looked for.
        path: PathBuf,
    },
    /// The signature file does not vouch for the package, and the host is
    /// not in development mode.
    #[error("'{}' is refused: {source}", path.display())]
    Signature {
        /// The signature file.
        path: PathBuf,
        /// What is wrong with the signature.
        source: TrustError,
    },
}

/// The package directories in `plugin_dir` whose manifest names `kind`,
/// in path order: what a command that needs one kind of plugin loads. A
/// directory whose manifest cannot be read is left out here; loading it
/// says why.
pub fn dirs_of_kind(plugin_dir: &Path, kind: PluginKind) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(plugin_dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|dir| {
            read(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| Manifest::parse(&text).ok())
                .is_some_and(|m| m.kind == kind)
        })
        .collect();
    dirs.sort();
    dirs
}

impl Package {
    /// Reads a package directory. Fails on a missing or malformed manifest,
    /// a missing component, or an API version this host cannot serve.
    pub fn read(dir: &Path) -> Result<Package, PackageError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest_text = read(&manifest_path, MAX_MANIFEST_BYTES)?;
        let manifest_text =
            String::from_utf8(manifest_text).map_err(|_| PackageError::Manifest {
                path: manifest_path.clone(),
                reason: "not UTF-8 text".into(),
            })?;
        let manifest =
            Manifest::parse(&manifest_text).map_err(|reason| PackageError::Manifest {
                path: manifest_path.clone(),
                reason,
            })?;
        manifest
            .api
            .check_supported()
            .map_err(|reason| PackageError::Api {
                path: manifest_path.clone(),
                reason,
            })?;
        let component_path = dir.join(component_file(&manifest));
        let component = read(&component_path, MAX_COMPONENT_BYTES)?;
        let sig_path = signature_path(dir, &manifest);
        let signature = match read(&sig_path, MAX_SIGNATURE_BYTES) {
            Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| PackageError::File {
                path: sig_path.clone(),
                reason: "not UTF-8 text".into(),
            })?),
            Err(PackageError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                None
            }
            Err(e) => return Err(e),
        };
        let digest = PackageDigest::of(manifest_text.as_bytes(), &component);
        Ok(Package {
            dir: dir.to_owned(),
            manifest,
            component,
            signature,
            digest,
        })
    }

    /// Where the component was read from: `<dir>/<name>.wasm`.
    pub fn component_path(&self) -> PathBuf {
        self.dir.join(component_file(&self.manifest))
    }

    /// Where the signature is, or would be: `<dir>/<name>.wasm.sig`.
    pub fn signature_path(&self) -> PathBuf {
        signature_path(&self.dir, &self.manifest)
    }

    /// Decides whether the package may run under `policy`.
    pub fn check_trust(&self, policy: &TrustPolicy) -> Result<Provenance, PackageError> {
        let path = self.signature_path();
        let outcome = match &self.signature {
            None => Err(PackageError::Unsigned { path }),
            Some(text) => trust::verify(text, &self.digest, &policy.trusted_keys)
                .map(Provenance::Signed)
                .map_err(|source| PackageError::Signature { path, source }),
        };
        match outcome {
            Err(e) if policy.development => Ok(Provenance::Unsigned {
                reason: e.to_string(),
            }),
            other => other,
        }
    }
}

/// The component's file name in the package directory: `<name>.wasm`.
fn component_file(manifest: &Manifest) -> String {
    format!("{}.wasm", manifest.name)
}

fn signature_path(dir: &Path, manifest: &Manifest) -> PathBuf {
    dir.join(format!("{}.wasm.sig", manifest.name))
}

/// The whole of a regular file of at most `max` bytes. Opened without
/// blocking (a FIFO's open would wait for a writer) and read through a
/// `take`, so a file that grows while it is read is still bounded.
fn read(path: &Path, max: u64) -> Result<Vec<u8>, PackageError> {
    let io = |source| PackageError::Read {
        path: path.to_owned(),
        source,
    };
    let refuse = |reason: String| PackageError::File {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(refuse("not a regular file".into()));
    }
    if meta.len() > max {
        return Err(refuse(format!(
            "{} bytes, more than the {max} bytes accepted",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(refuse(format!(
            "grew past the {max} bytes accepted while read"
        )));
    }
    Ok(bytes)
}
