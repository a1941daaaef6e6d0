//! What a running daemon's time service last saw, in
//! `<state_dir>/time.json`: the last round's [`TimeReport`], the last step
//! of the clock, and who wrote it. `osb status` and `osb apply` read the
//! clock's state from it instead of assuming `unsynced`, and scripts can
//! read it as they read `osb time --json`.
//!
//! The file outlives a daemon killed without its shutdown (which removes
//! it), and a reboot. So it names its writer by pid, the process's start
//! time since boot, and the boot id: a reader believes it only while that
//! very process runs. A pid alone could name another process by then.
//!
//! Written by rename (a reader never sees half a file) but not synced to
//! disk: after a power cut its writer is gone, and so is its meaning.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::clock::ClockStep;
use super::report::TimeReport;
use super::status::parse_status;
use super::utc::UtcTime;
use osb_state::TimeStatus;

/// The file's name in the state directory.
pub const FILE_NAME: &str = "time.json";

/// Why the time file a daemon published cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    /// The file exists but cannot be read.
    #[error("cannot read '{path}': {source}")]
    Read {
        /// The time file.
        path: PathBuf,
        /// Any error but a missing file (that is `Ok(None)`).
        #[source]
        source: io::Error,
    },
    /// The file is not JSON of the expected shape, or names an unknown
    /// state.
    #[error("'{path}' is not a time report: {reason}")]
    Malformed {
        /// The time file.
        path: PathBuf,
        /// The parse error, or the unknown state.
        reason: String,
    },
}

/// A process, told apart from any later one with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The process id; alone, it may name a later process.
    pub pid: u32,
    /// When it started, in clock ticks since boot (`/proc/PID/stat`).
    pub start_ticks: u64,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
}

impl ProcessId {
    /// This process.
    pub fn current() -> io::Result<ProcessId> {
        let pid = std::process::id();
        Ok(ProcessId {
            pid,
            start_ticks: start_ticks(pid)?,
            boot_id: crate::apply::reboot::boot_id()?,
        })
    }

    /// Whether this process still runs: same boot, and the pid started at
    /// the same tick.
    pub fn is_running(&self) -> bool {
        crate::apply::reboot::boot_id().is_ok_and(|b| b == self.boot_id)
            && start_ticks(self.pid).is_ok_and(|t| t == self.start_ticks)
    }

    /// Replaces `path` with `bytes`, written by this process: staged under
    /// a name of its own (its pid), then renamed, so that a reader finds
    /// the old file or the new one, never half of one.
    pub fn replace_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let staged = path.with_extension(format!("json.{}", self.pid));
        std::fs::write(&staged, bytes)?;
        std::fs::rename(&staged, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&staged);
        })
    }
}

/// Field 22 of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`.
fn start_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat line");
    let (_, after_name) = stat.rsplit_once(')').ok_or_else(malformed)?;
    // After the name: field 3 (state) is the first, so field 22 is the 20th.
    after_name
        .split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .ok_or_else(malformed)
}

/// A step of the clock, as published.
#[derive(Debug, Clone, Serialize)]
struct StepView {
    from: UtcTime,
    to: UtcTime,
    by_ms: f64,
}

#[derive(Serialize)]
struct Published<'a> {
    writer: &'a ProcessId,
    /// The system clock when this was written.
    written: UtcTime,
    /// The clock's last move by this daemon, if it made one.
    last_step: Option<&'a StepView>,
    #[serde(flatten)]
    report: &'a TimeReport,
}

/// Writes the daemon's time file after each round.
#[derive(Debug)]
pub struct Publisher {
    path: PathBuf,
    writer: ProcessId,
    last_step: Option<StepView>,
}

impl Publisher {
    /// A publisher for this process into `state_dir` (created if missing:
    /// the first round may come before anything else wrote there).
    pub fn new(state_dir: &Path) -> io::Result<Publisher> {
        std::fs::create_dir_all(state_dir)?;
        Ok(Publisher {
            path: state_dir.join(FILE_NAME),
            writer: ProcessId::current()?,
            last_step: None,
        })
    }

    /// The file written: `<state_dir>/time.json`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `report`, and `step` if the round made one.
    pub fn publish(&mut self, report: &TimeReport, step: Option<ClockStep>) -> io::Result<()> {
        if let Some(step) = step {
            self.last_step = Some(StepView {
                from: step.from,
                to: step.to,
                by_ms: step.by_nanos() as f64 / 1e6,
            });
        }
        let text = serde_json::to_vec_pretty(&Published {
            writer: &self.writer,
            written: UtcTime::now_system(),
            last_step: self.last_step.as_ref(),
            report,
        })?;
        self.writer.replace_file(&self.path, &text)
    }

    /// Removes the file: the daemon is stopping.
    pub fn withdraw(&self) -> io::Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// What a reader needs of the file: whose it is and the state.
#[derive(Deserialize)]
struct Header {
    writer: ProcessId,
    state: String,
}

/// The state a running daemon published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonTime {
    /// The daemon's process id.
    pub pid: u32,
    /// The state of the clock in the daemon's last round.
    pub state: TimeStatus,
}

/// The state published in `state_dir` by a daemon that is still running;
/// `None` when there is no file or its writer is gone.
pub fn read_running(state_dir: &Path) -> Result<Option<DaemonTime>, PublishedError> {
    let path = state_dir.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PublishedError::Read { path, source }),
    };
    let header: Header = serde_json::from_slice(&text).map_err(|e| PublishedError::Malformed {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if !header.writer.is_running() {
        return Ok(None);
    }
    let state = parse_status(&header.state).ok_or_else(|| PublishedError::Malformed {
        path,
        reason: format!("state: unknown state '{}'", header.state),
    })?;
    Ok(Some(DaemonTime {
        pid: header.writer.pid,
        state,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::plausible::Plausible;
    use crate::time::report::{ClockView, EstimateView, TimeReport};

    fn report(state: &'static str) -> TimeReport {
        let built = UtcTime::from_unix_seconds(1_700_000_000);
        TimeReport {
            sources: Vec::new(),
            agreement: "no source answered".to_owned(),
            origins: Vec::new(),
            plausible: Plausible::new(built, std::time::Duration::from_secs(86_400)),
            estimate: EstimateView {
                earliest: Some(built),
                latest: None,
                time: None,
                error_bound_ms: None,
                origins: Vec::new(),
            },
            state,
            clock: ClockView {
                backend: "virtual",
                system: UtcTime::from_unix_seconds(1_700_000_000),
                offset_ms: 0.0,
            },
        }
    }

    #[test]
    fn this_process_is_running_and_others_are_not() {
        let me = ProcessId::current().unwrap();
        assert!(me.is_running());
        // The same pid started at another tick: a later process.
        let reused = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!reused.is_running());
        let other_boot = ProcessId {
            boot_id: "00000000-0000-0000-0000-000000000000".to_owned(),
            ..me.clone()
        };
        assert!(!other_boot.is_running());
        // A child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let gone = ProcessId { pid, ..me };
        assert!(!gone.is_running());
    }

    #[test]
    fn a_published_state_is_read_while_its_writer_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);
        let mut publisher = Publisher::new(dir.path()).unwrap();
        let step = ClockStep {
            from: UtcTime::from_unix_seconds(0),
            to: UtcTime::from_unix_seconds(1),
        };
        publisher.publish(&report("coarse"), Some(step)).unwrap();
        publisher.publish(&report("synced"), None).unwrap();
        let read = read_running(dir.path()).unwrap();
        assert_eq!(
            read,
            Some(DaemonTime {
                pid: std::process::id(),
                state: TimeStatus::Synced
            })
        );
        // The last step is kept across rounds that made none.
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(publisher.path()).unwrap()).unwrap();
        assert_eq!(json["last_step"]["by_ms"], 1000.0, "{json:#}");
        assert_eq!(json["state"], "synced");
        // Nothing staged is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        publisher.withdraw().unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);
        publisher.withdraw().unwrap();
    }

    #[test]
    fn a_file_left_by_a_dead_writer_is_ignored_and_a_damaged_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut publisher = Publisher::new(dir.path()).unwrap();
        publisher.writer.start_ticks += 1;
        publisher.publish(&report("synced"), None).unwrap();
        assert_eq!(read_running(dir.path()).unwrap(), None);

        std::fs::write(dir.path().join(FILE_NAME), "{\"writer\": 3").unwrap();
        let err = read_running(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(FILE_NAME) && err.contains("not a time report"),
            "{err}"
        );

        let mut publisher = Publisher::new(dir.path()).unwrap();
        publisher.publish(&report("sorta"), None).unwrap();
        let err = read_running(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state:") && err.contains("sorta"), "{err}");
    }
}
