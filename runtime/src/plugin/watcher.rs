//! Hot swap: watch the plugin directory and load what changes.
//!
//! A change is loaded with [`PluginHost::load`], which verifies, compiles,
//! instantiates and self-checks the new version beside the old one and only
//! then swaps it in. A package caught half-written simply fails
//! verification; the write's last event triggers another, complete load.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::RecursiveMode;
use notify::event::{EventKind, ModifyKind};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use super::host::PluginHost;
use super::manifest::PluginName;
use super::package::MANIFEST_FILE;

/// How long the watcher waits for a burst of writes to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

pub struct PluginWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl PluginWatcher {
    /// Watches `dir` (one package per sub-directory). Loads nothing by
    /// itself at start: call [`PluginHost::load_all`] first.
    pub fn start(host: Arc<PluginHost>, dir: &Path) -> notify::Result<PluginWatcher> {
        let root = dir.to_owned();
        let known: Mutex<BTreeMap<PathBuf, PluginName>> = Mutex::new(host.package_dirs());
        let handler = move |result: DebounceEventResult| {
            let events = match result {
                Ok(events) => events,
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "plugin directory watch error");
                    }
                    return;
                }
            };
            let packages: BTreeSet<PathBuf> = events
                .iter()
                .filter(|e| changes_content(&e.kind))
                .flat_map(|e| e.paths.iter())
                .filter_map(|p| package_dir(&root, p))
                .collect();
            let mut known = known.lock().unwrap_or_else(|p| p.into_inner());
            for pkg in packages {
                if pkg.join(MANIFEST_FILE).is_file() {
                    match host.load(&pkg) {
                        Ok(report) => {
                            known.insert(pkg, report.name);
                        }
                        Err(e) => {
                            tracing::error!(package = %pkg.display(), error = %e, "new plugin version refused; the running version keeps serving")
                        }
                    }
                } else if !pkg.exists()
                    && let Some(name) = known.remove(&pkg)
                {
                    host.unload(&name);
                    tracing::info!(plugin = %name, "plugin package removed; plugin unloaded");
                }
            }
        };
        // The debouncer polls at its tick even when idle; one tick per
        // debounce period (20 wake-ups a second) rather than its default of
        // four keeps an idle device quieter, for at most one period more
        // latency.
        let mut debouncer = new_debouncer(DEBOUNCE, Some(DEBOUNCE), handler)?;
        debouncer.watch(dir, RecursiveMode::Recursive)?;
        Ok(PluginWatcher {
            _debouncer: debouncer,
        })
    }
}

/// Whether an event can change what a package holds. Reads are events too
/// (inotify reports opens and closes): reacting to them would make every
/// load, which reads the package, trigger the next one.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

/// The package directory (first level under `root`) a changed path is in.
fn package_dir(root: &Path, changed: &Path) -> Option<PathBuf> {
    let rel = changed.strip_prefix(root).ok()?;
    let first = rel.components().next()?;
    Some(root.join(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, MetadataKind, RenameMode};

    #[test]
    fn only_content_changes_trigger_a_load() {
        let table = [
            (EventKind::Create(CreateKind::File), true),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), true),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), true),
            (EventKind::Remove(notify::event::RemoveKind::Folder), true),
            (EventKind::Access(AccessKind::Open(AccessMode::Read)), false),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                false,
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
                false,
            ),
        ];
        for (kind, expect) in table {
            assert_eq!(changes_content(&kind), expect, "{kind:?}");
        }
    }

    #[test]
    fn package_dir_is_the_first_level_under_root() {
        let root = Path::new("/var/lib/osb/plugins");
        assert_eq!(
            package_dir(root, Path::new("/var/lib/osb/plugins/clock/clock.wasm")),
            Some(root.join("clock"))
        );
        assert_eq!(package_dir(root, Path::new("/elsewhere/x")), None);
        assert_eq!(package_dir(root, root), None);
    }
}
