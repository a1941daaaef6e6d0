//! The OS's own blocks in the executor: an overlay's image exported from
//! the engine and unpacked into the extension store (`<state>/extensions`),
//! and the store read back as what is installed. The unpacking itself,
//! with image content as hostile ground, is `osb-hostos`'s.

use std::path::{Path, PathBuf};

use osb_engine::{Engine, EngineError};
use osb_hostos::extensions::{
    DigestError, ExtensionError, ExtensionKind, ExtensionMeta, ExtensionStore, ImageDigest,
};
use osb_state::current::{ImageId, InstalledExtension};
use osb_state::{AppName, BlockId, BlockName, ImageRef, OverlaySettings};

/// Where the extension store of the state directory `state_dir` is.
pub fn extensions_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("extensions")
}

/// Why an overlay could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum HostOsError {
    /// The engine's image id is not a digest the store can name.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// The image could not be exported.
    #[error("exporting the image: {0}")]
    Export(#[from] EngineError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] ExtensionError),
    /// The image is installed already, for another block.
    #[error("image {image} is installed already, as {other}")]
    Shared {
        /// The image.
        image: String,
        /// The block it was installed for.
        other: String,
    },
    /// The unpacking thread ended without an answer.
    #[error("the unpacking thread failed: {0}")]
    Thread(String),
}

/// The overlays installed in the store under `state_dir`, as the planner
/// sees them. The store is only read (an install may be under way); an
/// extension whose record does not read is left out with a warning, and
/// installed again.
pub fn installed(state_dir: &Path) -> Result<Vec<InstalledExtension>, ExtensionError> {
    let Some(store) = ExtensionStore::read_only(extensions_dir(state_dir))? else {
        return Ok(Vec::new());
    };
    let mut installed = Vec::new();
    for listed in store.list()? {
        let record = match listed.record {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(extension = %listed.digest, error = %e, "an extension's record does not read");
                continue;
            }
        };
        let (Ok(app), Ok(block)) = (
            AppName::new(&record.meta.app),
            BlockName::new(&record.meta.block),
        ) else {
            tracing::warn!(extension = %listed.digest, "an extension's record names no block");
            continue;
        };
        installed.push(InstalledExtension {
            block: BlockId::new(&app, &block),
            image: ImageId(listed.digest.to_string()),
        });
    }
    Ok(installed)
}

/// Exports `image` from the engine and unpacks it into the store as
/// `block`'s extension, stacked as `settings` say.
pub async fn install_overlay(
    engine: &Engine,
    state_dir: &Path,
    block: &BlockId,
    image: &ImageId,
    reference: &ImageRef,
    settings: &OverlaySettings,
) -> Result<(), HostOsError> {
    let digest = ImageDigest::parse(&image.0)?;
    let meta = ExtensionMeta {
        image: reference.to_string(),
        app: block.app.to_string(),
        block: block.block.to_string(),
        kind: match settings.override_priority {
            Some(priority) => ExtensionKind::Override { priority },
            None => ExtensionKind::Plain,
        },
        kernel_version: settings.kernel_version.as_ref().map(|k| k.to_string()),
        kernel_abi: settings.kernel_abi.as_ref().map(|k| k.to_string()),
    };
    let dir = extensions_dir(state_dir);
    // Already there for this block (a crash after the install, before the
    // store's state was observed): nothing to do.
    if let Some(store) = ExtensionStore::read_only(&dir)?
        && let Some(record) = store.get(&digest)?
    {
        if record.meta.app == meta.app && record.meta.block == meta.block {
            return Ok(());
        }
        return Err(HostOsError::Shared {
            image: reference.to_string(),
            other: format!("{}/{}", record.meta.app, record.meta.block),
        });
    }
    let mut reader = engine.export_image(&image.0).await?.into_reader();
    let span = tracing::info_span!("install overlay", block = %block, image = %reference);
    let unpacked = tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let store = ExtensionStore::open(&dir)?;
        let record = store.install(&digest, meta, &mut reader)?;
        reader.finish()?;
        tracing::info!(
            entries = record.unpack.entries,
            bytes = record.unpack.bytes,
            skipped_devices = record.unpack.skipped_devices,
            skipped_whiteouts = record.unpack.skipped_whiteouts,
            stripped_setuid = record.unpack.stripped_setuid,
            "overlay installed"
        );
        Ok::<_, HostOsError>(())
    })
    .await;
    unpacked.map_err(|e| HostOsError::Thread(e.to_string()))?
}
