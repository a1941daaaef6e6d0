//! The engine's health as the running daemon last saw it, in
//! `<state_dir>/engine-health.json`: `osb status` shows it, and reads it
//! above all when the engine does not answer `osb status` itself.
//!
//! Like the time file it names its writer (pid, start time, boot id), and
//! a reader believes it only while that very process runs: a file left by
//! a killed daemon, or from an earlier boot, says nothing of the engine
//! now. Written by rename, so a reader never sees half a file.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::machine::Health;
use crate::time::published::ProcessId;

/// The file's name in the state directory.
pub const FILE_NAME: &str = "engine-health.json";

/// Why the health record cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file exists but cannot be read.
    #[error("cannot read '{}': {source}", path.display())]
    Read {
        /// The record.
        path: PathBuf,
        /// Any error but a missing file (that is `Ok(None)`).
        #[source]
        source: io::Error,
    },
    /// The file is not an engine health record.
    #[error("'{}' is not an engine health record: {reason}", path.display())]
    Malformed {
        /// The record.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
}

#[derive(Serialize, Deserialize)]
struct Record {
    writer: ProcessId,
    /// The pause between pings: a `last_ping` much older than it says the
    /// watch itself is stuck.
    interval_ms: u64,
    #[serde(flatten)]
    health: Health,
}

/// The engine's health a running daemon published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonHealth {
    /// The daemon's process id.
    pub daemon_pid: u32,
    /// The daemon's pause between pings, in milliseconds.
    pub interval_ms: u64,
    /// The health.
    #[serde(flatten)]
    pub health: Health,
}

/// Writes the daemon's health record.
#[derive(Debug)]
pub struct HealthPublisher {
    path: PathBuf,
    writer: ProcessId,
    interval_ms: u64,
}

impl HealthPublisher {
    /// A publisher for this process into `state_dir` (created if missing),
    /// for pings `interval` apart.
    pub fn new(state_dir: &Path, interval: std::time::Duration) -> io::Result<HealthPublisher> {
        std::fs::create_dir_all(state_dir)?;
        Ok(HealthPublisher {
            path: state_dir.join(FILE_NAME),
            writer: ProcessId::current()?,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `health`.
    pub fn publish(&self, health: &Health) -> io::Result<()> {
        let text = serde_json::to_vec_pretty(&RecordRef {
            writer: &self.writer,
            interval_ms: self.interval_ms,
            health,
        })?;
        self.writer.replace_file(&self.path, &text)
    }
}

#[derive(Serialize)]
struct RecordRef<'a> {
    writer: &'a ProcessId,
    interval_ms: u64,
    #[serde(flatten)]
    health: &'a Health,
}

/// Removes the record in `state_dir`: the daemon is stopping.
pub fn withdraw(state_dir: &Path) -> io::Result<()> {
    match std::fs::remove_file(state_dir.join(FILE_NAME)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The health published in `state_dir` by a daemon that still runs;
/// `None` when there is no record or its writer is gone.
pub fn read_running(state_dir: &Path) -> Result<Option<DaemonHealth>, RecordError> {
    let path = state_dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RecordError::Read { path, source }),
    };
    let record: Record = serde_json::from_slice(&text).map_err(|e| RecordError::Malformed {
        path,
        reason: e.to_string(),
    })?;
    if !record.writer.is_running() {
        return Ok(None);
    }
    Ok(Some(DaemonHealth {
        daemon_pid: record.writer.pid,
        interval_ms: record.interval_ms,
        health: record.health,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine_health::machine::{HealthState, Machine, RecoveryRun};
    use std::time::Duration;

    fn unhealthy() -> Health {
        let mut m = Machine::new(1, true);
        m.ping(Err("cannot reach the container engine"), 50);
        m.recovered(RecoveryRun {
            at: 51,
            success: true,
            outcome: "exited 0".to_owned(),
        });
        m.health().clone()
    }

    #[test]
    fn a_record_is_read_back_while_its_writer_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);
        let publisher = HealthPublisher::new(dir.path(), Duration::from_secs(2)).unwrap();
        publisher.publish(&unhealthy()).unwrap();
        let read = read_running(dir.path()).unwrap().unwrap();
        assert_eq!(read.daemon_pid, std::process::id());
        assert_eq!(read.interval_ms, 2000);
        assert_eq!(read.health, unhealthy());
        assert_eq!(read.health.state, HealthState::Unhealthy);
        // Nothing staged is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        withdraw(dir.path()).unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);
        withdraw(dir.path()).unwrap();
    }

    #[test]
    fn a_record_of_a_dead_writer_or_another_boot_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut publisher = HealthPublisher::new(dir.path(), Duration::from_secs(2)).unwrap();
        publisher.writer.start_ticks += 1;
        publisher.publish(&unhealthy()).unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);

        let mut publisher = HealthPublisher::new(dir.path(), Duration::from_secs(2)).unwrap();
        publisher.writer.boot_id = "00000000-0000-0000-0000-000000000000".to_owned();
        publisher.publish(&unhealthy()).unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_damaged_record_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{\"writer\": 3").unwrap();
        let err = read_running(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(FILE_NAME) && err.contains("not an engine health record"),
            "{err}"
        );
    }
}
