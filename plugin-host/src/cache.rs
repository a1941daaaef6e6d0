//! Compiled components on disk, so a restart does not recompile.
//!
//! Architecture invariant: an entry is written only from a component whose
//! package passed verification, named by that component's SHA-256 and
//! wasmtime's compatibility hash, and read only from this directory. Loading
//! native code is `unsafe` in wasmtime precisely because the bytes are
//! trusted; this module is where that trust is kept.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::trust::PackageDigest;

/// The compile cache directory for one engine configuration: entry names
/// carry wasmtime's compatibility hash, so after a wasmtime upgrade or a
/// changed `Config` every lookup misses rather than loading code built for
/// another engine.
pub struct CompileCache {
    dir: PathBuf,
    compat: String,
}

/// Whether a component came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheOutcome {
    /// Deserialised from a cache entry; nothing was compiled.
    Hit,
    /// Compiled, then stored for the next load (unless the write failed,
    /// which is only logged).
    Miss,
    /// Compiled with no cache to consult: the host has no state directory.
    Disabled,
    /// The package was already loaded, byte for byte: nothing was compiled.
    Unchanged,
}

impl CompileCache {
    /// The cache in `dir` (created if missing) for code compiled by
    /// `engine`. Fails only when `dir` cannot be created.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<CompileCache> {
        std::fs::create_dir_all(dir)?;
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(CompileCache {
            dir: dir.to_owned(),
            compat: format!("{:016x}", h.finish()),
        })
    }

    fn entry(&self, digest: &PackageDigest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", digest.component_hex(), self.compat))
    }

    /// Loads the compiled form of a verified component, compiling and
    /// storing it on a miss. A damaged entry is recompiled and replaced.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        digest: &PackageDigest,
        component: &[u8],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let entry = self.entry(digest);
        // Read into memory rather than mmap the file: an entry damaged in
        // place while mapped would kill the process with SIGBUS.
        if let Ok(bytes) = std::fs::read(&entry) {
            // SAFETY: entries are written below only from components that
            // passed signature verification, named by their SHA-256, in a
            // directory only the runtime writes (see the module docs).
            match unsafe { Component::deserialize(engine, &bytes) } {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(entry = %entry.display(), error = %e, "discarding unreadable compile cache entry")
                }
            }
        }
        let compiled = Component::new(engine, component)?;
        if let Err(e) = self.store(&entry, &compiled) {
            // The cache is an optimisation: a full disk must not stop a load.
            tracing::warn!(entry = %entry.display(), error = %e, "cannot write compile cache entry");
        }
        Ok((compiled, CacheOutcome::Miss))
    }

    fn store(&self, entry: &Path, compiled: &Component) -> wasmtime::Result<()> {
        let bytes = compiled.serialize()?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(entry).map_err(|e| e.error)?;
        Ok(())
    }
}
