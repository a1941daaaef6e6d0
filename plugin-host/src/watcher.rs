//! Hot swap: watch the plugin directory and load what changes.
//!
//! A change is loaded with [`PluginHost::load`], which verifies, compiles,
//! instantiates and self-checks the new version beside the old one and only
//! then swaps it in. A package caught half-written simply fails
//! verification; the write's last event triggers another, complete load.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use super::host::PluginHost;
use super::manifest::PluginName;
use super::package::MANIFEST_FILE;

/// How long the watcher waits for a burst of writes to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Watching stops when this is dropped: the watcher's channel closes and
/// its thread ends.
pub struct PluginWatcher {
    _watcher: RecommendedWatcher,
}

impl PluginWatcher {
    /// Watches `dir` (one package per sub-directory). Loads nothing by
    /// itself at start: call [`PluginHost::load_all`] first.
    ///
    /// The debouncing is done here, not by notify-debouncer-full: that
    /// crate's thread wakes at its tick whether or not anything happened
    /// (20 times a second at a 50 ms debounce, on every idle device). This
    /// thread blocks on the watcher's channel and wakes only for events.
    pub fn start(host: Arc<PluginHost>, dir: &Path) -> notify::Result<PluginWatcher> {
        let (events, received) = mpsc::channel::<notify::Result<notify::Event>>();
        let mut watcher = notify::recommended_watcher(events)?;
        watcher.watch(dir, RecursiveMode::Recursive)?;
        let root = dir.to_owned();
        let mut known = host.package_dirs();
        std::thread::Builder::new()
            .name("osb-plugin-watch".to_owned())
            .spawn(move || {
                while let Some(packages) = next_burst(&received, &root) {
                    load_changed(&host, &mut known, packages);
                }
            })?;
        Ok(PluginWatcher { _watcher: watcher })
    }
}

/// Waits (without waking) for an event that changes a package, then
/// gathers the packages changed until none has changed for [`DEBOUNCE`].
/// `None` once the watcher is gone.
fn next_burst(
    received: &mpsc::Receiver<notify::Result<notify::Event>>,
    root: &Path,
) -> Option<BTreeSet<PathBuf>> {
    let mut packages = BTreeSet::new();
    let mut settle_at: Option<Instant> = None;
    loop {
        let event = match settle_at {
            None => received.recv().ok()?,
            Some(at) => match received.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Some(packages);
                }
            },
        };
        match event {
            Ok(event) if changes_content(&event.kind) => {
                let mut touched = false;
                for pkg in event.paths.iter().filter_map(|p| package_dir(root, p)) {
                    packages.insert(pkg);
                    touched = true;
                }
                // Each change pushes the load back: a package is loaded
                // once its writer has been quiet for DEBOUNCE.
                if touched {
                    settle_at = Some(Instant::now() + DEBOUNCE);
                }
            }
            // Reads and metadata: no reason to load, nor to wait longer.
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
        }
    }
}

/// Loads each changed package that is there, unloads each that is gone.
fn load_changed(
    host: &PluginHost,
    known: &mut BTreeMap<PathBuf, PluginName>,
    packages: BTreeSet<PathBuf>,
) {
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
            // A package loaded by another hand (a rescan when the device
            // entered development mode) is the host's to name.
            && let Some(name) = known
                .remove(&pkg)
                .or_else(|| host.package_dirs().remove(&pkg))
        {
            host.unload(&name);
            tracing::info!(plugin = %name, "plugin package removed; plugin unloaded");
        }
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

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    #[test]
    fn a_burst_is_gathered_until_quiet_and_reads_are_ignored() {
        let root = Path::new("/plugins");
        let (send, received) = mpsc::channel();
        let sender = std::thread::spawn(move || {
            let read = EventKind::Access(AccessKind::Close(AccessMode::Read));
            let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
            send.send(event(read, "/plugins/a/plugin.toml")).unwrap();
            send.send(event(
                EventKind::Create(CreateKind::File),
                "/plugins/a/a.wasm",
            ))
            .unwrap();
            std::thread::sleep(Duration::from_millis(30));
            let sent = Instant::now();
            send.send(event(write, "/plugins/b/b.wasm")).unwrap();
            send.send(event(write, "/elsewhere/c")).unwrap();
            // Quiet for longer than DEBOUNCE, then a read only, then the
            // watcher goes.
            std::thread::sleep(DEBOUNCE * 4);
            send.send(event(read, "/plugins/a/a.wasm")).unwrap();
            sent
        });
        let burst = next_burst(&received, root);
        let returned = Instant::now();
        let last_change = sender.join().unwrap();
        assert_eq!(
            burst,
            Some(BTreeSet::from([root.join("a"), root.join("b")]))
        );
        // Settled DEBOUNCE after the last change, not before.
        assert!(returned >= last_change + DEBOUNCE);
        // A read alone is no burst; the watcher gone, no more.
        assert_eq!(next_burst(&received, root), None);
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
