//! Development or production: the device's mode, switched while the daemon
//! runs (`osb mode`, or the device config's `development` flag edited).
//!
//! The device config file is the one place the mode is kept: `osb mode`
//! rewrites its `development` flag ([`write_development`]), and the daemon
//! watches the file ([`watch_file`]) and switches what the mode governs:
//! the plugin host's trust in unsigned packages, drafts, the log level and
//! the device contract's `sw.osb` variant, which gates blocks. The rest of
//! the runtime reads the mode through a [`ModeHandle`], afresh each time.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// How long the config file must be quiet before it is read again: an
/// editor's save is several events (truncate, write, rename).
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// The device's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Unsigned plugins and drafts run; the runtime logs at debug.
    Development,
    /// Only signed plugins and final releases run.
    Production,
}

impl Mode {
    /// The mode a `development` flag means.
    pub fn from_development(development: bool) -> Mode {
        if development {
            Mode::Development
        } else {
            Mode::Production
        }
    }

    /// Whether this is development mode.
    pub fn is_development(self) -> bool {
        self == Mode::Development
    }

    /// `development` or `production`: how the mode is written everywhere
    /// (the command line, JSON, the device contract's `sw.osb` variant).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Development => "development",
            Mode::Production => "production",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mode as the rest of the runtime reads it. Cheap to clone; readers
/// never block the one who switches it.
#[derive(Debug, Clone)]
pub struct ModeHandle(watch::Receiver<Mode>);

impl ModeHandle {
    /// A mode nothing will switch: what `osb apply` uses, from the config.
    pub fn fixed(mode: Mode) -> ModeHandle {
        let (_sender, receiver) = watch::channel(mode);
        ModeHandle(receiver)
    }

    /// The mode now.
    pub fn current(&self) -> Mode {
        *self.0.borrow()
    }

    /// Waits for the mode to change. Once nothing can switch it (a fixed
    /// handle) it waits for ever, so a `select!` on it never spins.
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// What switches the mode: the daemon's, once what the mode governs in the
/// plugin host has been switched.
#[derive(Debug)]
pub struct ModeSwitch(watch::Sender<Mode>);

impl ModeSwitch {
    /// A switch starting at `mode`.
    pub fn new(mode: Mode) -> ModeSwitch {
        ModeSwitch(watch::channel(mode).0)
    }

    /// A handle reading this switch's mode.
    pub fn handle(&self) -> ModeHandle {
        ModeHandle(self.0.subscribe())
    }

    /// The mode now.
    pub fn current(&self) -> Mode {
        *self.0.borrow()
    }

    /// Switches to `mode`; the handles wake only when it differs.
    pub fn set(&self, mode: Mode) {
        self.0.send_if_modified(|now| {
            let differs = *now != mode;
            *now = mode;
            differs
        });
    }
}

/// The device config file could not be read or rewritten.
#[derive(Debug, thiserror::Error)]
pub enum ModeFileError {
    /// It could not be read.
    #[error("cannot read the device config '{}': {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// It is no TOML document, so its flag cannot be set without losing
    /// what it holds.
    #[error("device config '{}' is not TOML: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        reason: String,
    },
    /// The new file could not be written, synced or renamed into place;
    /// the old one stands.
    #[error("cannot write the device config '{}': {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// `text`, the device config at `path`, with its top-level `development`
/// flag set to `development`: added when absent, and everything else of
/// the file (comments, order, spacing, a comment on the flag's own line)
/// kept as written.
pub fn with_development(
    text: &str,
    path: &Path,
    development: bool,
) -> Result<String, ModeFileError> {
    let mut document: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ModeFileError::Parse {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
    match document
        .get_mut("development")
        .and_then(toml_edit::Item::as_value_mut)
    {
        Some(value) => {
            let decor = value.decor().clone();
            *value = toml_edit::Value::from(development);
            *value.decor_mut() = decor;
        }
        None => {
            document.insert("development", toml_edit::value(development));
        }
    }
    Ok(document.to_string())
}

/// Sets the `development` flag of the device config at `path` (created,
/// holding only the flag, when it does not exist): the new file is
/// written beside it, synced, and renamed over it, so a reader (the
/// daemon) sees the old file or the new one, never a part, and a power cut
/// leaves one of them. The file keeps its permissions.
pub fn write_development(path: &Path, development: bool) -> Result<(), ModeFileError> {
    let read_error = |source| ModeFileError::Read {
        path: path.to_owned(),
        source,
    };
    let write_error = |source| ModeFileError::Write {
        path: path.to_owned(),
        source,
    };
    let (text, permissions) = match std::fs::read_to_string(path) {
        Ok(text) => {
            let permissions = std::fs::metadata(path).map_err(read_error)?.permissions();
            (text, Some(permissions))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), None),
        Err(e) => return Err(read_error(e)),
    };
    let new = with_development(&text, path, development)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new()
        .prefix(".device.toml.")
        .tempfile_in(dir)
        .map_err(write_error)?;
    file.write_all(new.as_bytes()).map_err(write_error)?;
    if let Some(permissions) = permissions {
        file.as_file()
            .set_permissions(permissions)
            .map_err(write_error)?;
    }
    file.as_file().sync_all().map_err(write_error)?;
    file.persist(path).map_err(|e| write_error(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_error)?;
    Ok(())
}

/// Watching stops when this is dropped.
pub struct FileWatcher {
    _watcher: RecommendedWatcher,
}

/// Watches the file at `path` and calls `changed` once each burst of
/// changes to it has been quiet for [`DEBOUNCE`], on a thread of its own.
/// The directory is watched, not the file: a file replaced by a rename
/// (as `osb mode` and most editors save) is a new file, which a watch on
/// the old one would never see.
pub fn watch_file(path: &Path, changed: impl Fn() + Send + 'static) -> notify::Result<FileWatcher> {
    let (events, received) = mpsc::channel::<notify::Result<notify::Event>>();
    let mut watcher = notify::recommended_watcher(events)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    let name = path.file_name().map(ToOwned::to_owned);
    std::thread::Builder::new()
        .name("osb-config-watch".to_owned())
        .spawn(move || {
            while next_burst(&received, |p| p.file_name() == name.as_deref()) {
                changed();
            }
        })?;
    Ok(FileWatcher { _watcher: watcher })
}

/// Waits (without waking) for an event that changes a path `ours` accepts,
/// then until none has for [`DEBOUNCE`]. `false` once the watcher is gone.
fn next_burst(
    received: &mpsc::Receiver<notify::Result<notify::Event>>,
    ours: impl Fn(&Path) -> bool,
) -> bool {
    let mut settle_at: Option<Instant> = None;
    loop {
        let event = match settle_at {
            None => match received.recv() {
                Ok(event) => event,
                Err(_) => return false,
            },
            Some(at) => match received.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => return true,
                Err(RecvTimeoutError::Disconnected) => return false,
            },
        };
        match event {
            Ok(event) if changes_content(&event.kind) && event.paths.iter().any(|p| ours(p)) => {
                settle_at = Some(Instant::now() + DEBOUNCE);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "device config watch error"),
        }
    }
}

/// Whether an event can change what the file holds (reads are events too).
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `with_development` of `input`: the file it writes, or the error.
    fn check(input: &str, development: bool, expect: &str) {
        let got = match with_development(input, Path::new("/etc/osb/device.toml"), development) {
            Ok(text) => text,
            Err(e) => format!("error: {e}"),
        };
        assert_eq!(got, expect, "{input:?} -> {development}");
    }

    #[test]
    fn the_flag_is_set_and_the_rest_of_the_file_kept() {
        check("", true, "development = true\n");
        check("development = true\n", false, "development = false\n");
        check("development = false\n", false, "development = false\n");
        // Comments, order, spacing and a comment on the flag's line stay.
        check(
            "# the lab's board\ndevelopment   = false  # flipped by osb mode\nplugin_dir = \"/p\"\n\n[time]\nclock = \"system\" # steps\n",
            true,
            "# the lab's board\ndevelopment   = true  # flipped by osb mode\nplugin_dir = \"/p\"\n\n[time]\nclock = \"system\" # steps\n",
        );
        // Added at the top level, before the first table, not inside it.
        check(
            "plugin_dir = \"/p\"\n\n[device]\nreboot_command = [\"reboot\"]\n",
            true,
            "plugin_dir = \"/p\"\ndevelopment = true\n\n[device]\nreboot_command = [\"reboot\"]\n",
        );
        check(
            "[device]\nreboot_command = [\"reboot\"]\n",
            true,
            "development = true\n[device]\nreboot_command = [\"reboot\"]\n",
        );
        check(
            "development = [",
            true,
            "error: device config '/etc/osb/device.toml' is not TOML: TOML parse error at line 1, column 16\n  |\n1 | development = [\n  |                ^\nunclosed array, expected `]`\n",
        );
    }

    #[test]
    fn the_file_is_replaced_whole_and_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.toml");
        // Absent: made, holding the flag only.
        write_development(&path, true).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "development = true\n"
        );
        std::fs::write(&path, "# keys\ndevelopment = true\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_development(&path, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# keys\ndevelopment = false\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["device.toml"]);
        // A file that is not TOML is left as it is, and named.
        std::fs::write(&path, "development = [").unwrap();
        let e = write_development(&path, true).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "development = [");
    }

    #[test]
    fn a_switch_wakes_its_handles_only_on_a_change() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let switch = ModeSwitch::new(Mode::Production);
        let mut handle = switch.handle();
        assert_eq!(handle.current(), Mode::Production);
        let woke = |handle: &mut ModeHandle| {
            rt.block_on(async {
                tokio::select! {
                    () = handle.changed() => true,
                    () = tokio::time::sleep(Duration::from_millis(20)) => false,
                }
            })
        };
        switch.set(Mode::Production);
        assert!(!woke(&mut handle), "the same mode woke a reader");
        switch.set(Mode::Development);
        assert!(woke(&mut handle));
        assert_eq!(handle.current(), Mode::Development);
        let mut fixed = ModeHandle::fixed(Mode::Development);
        assert!(!woke(&mut fixed), "a fixed mode changed");
    }

    #[test]
    fn a_burst_of_changes_to_the_file_is_one_and_other_files_are_none() {
        use notify::event::{AccessKind, AccessMode, CreateKind, DataChange};
        let (send, received) = mpsc::channel();
        let event = |kind, path: &str| Ok(notify::Event::new(kind).add_path(PathBuf::from(path)));
        let ours = |p: &Path| p.file_name() == Some(std::ffi::OsStr::new("device.toml"));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        send.send(event(
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            "/etc/osb/device.toml",
        ))
        .unwrap();
        send.send(event(write, "/etc/osb/other.toml")).unwrap();
        send.send(event(
            EventKind::Create(CreateKind::File),
            "/etc/osb/device.toml",
        ))
        .unwrap();
        send.send(event(write, "/etc/osb/device.toml")).unwrap();
        let started = Instant::now();
        assert!(next_burst(&received, ours));
        assert!(started.elapsed() >= DEBOUNCE);
        // Only events for other files, then the watcher gone: no burst.
        send.send(event(write, "/etc/osb/other.toml")).unwrap();
        drop(send);
        assert!(!next_burst(&received, ours));
    }
}
