//! Reboots a block asks for (`requires_reboot`, balena's
//! `io.balena.update.requires-reboot`): once a new container of such a
//! block is in place the reboot is due, recorded in the store with the
//! boot it is due in, and it stays due until the device has booted again
//! (the kernel's boot id changes). The daemon runs the device's reboot
//! command once per boot; `osb apply` and `osb status` report it.
//!
//! Kept by boot, not by a flag the reboot clears: a device that powers off
//! before the command runs, or is rebooted by hand, has rebooted all the
//! same, and nothing on the next boot must remember to clear anything.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How long the reboot command may take to return: `systemctl reboot`
/// returns once the reboot is queued.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// A reboot that is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootDue {
    /// The boot it is due in (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: String,
    /// When it became due (Unix seconds, by the device clock).
    pub since: u64,
    /// The containers whose installation asked for it:
    /// `main/modules@2.0.0`.
    pub containers: Vec<String>,
    /// When the reboot command was run for it, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<u64>,
}

impl RebootDue {
    /// `record` as it stands in boot `boot_id`: a record of an earlier boot
    /// is over (the device has rebooted since).
    pub fn in_boot(record: Option<RebootDue>, boot_id: &str) -> Option<RebootDue> {
        record.filter(|r| r.boot_id == boot_id)
    }

    /// `record` (as it stands in boot `boot_id`) with `container` added:
    /// a new record when none is due in this boot. A container installed
    /// after the command ran asks for a reboot of its own.
    pub fn with(record: Option<RebootDue>, boot_id: &str, container: &str, now: u64) -> RebootDue {
        let mut due = RebootDue::in_boot(record, boot_id).unwrap_or_else(|| RebootDue {
            boot_id: boot_id.to_owned(),
            since: now,
            containers: Vec::new(),
            requested: None,
        });
        if !due.containers.iter().any(|c| c == container) {
            due.containers.push(container.to_owned());
        }
        due.requested = None;
        due
    }
}

/// This boot's id, which the kernel draws afresh at every boot.
pub fn boot_id() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_owned())
}

/// Seconds since the Unix epoch by the device clock (0 before it).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why the reboot command did not do its part.
#[derive(Debug, thiserror::Error)]
pub enum RebootError {
    /// It could not be started.
    #[error("cannot run the reboot command '{command}': {source}")]
    Spawn {
        /// The command, as configured.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// It exited with a failure.
    #[error("the reboot command '{command}' failed: {status}")]
    Failed {
        /// The command, as configured.
        command: String,
        /// How it exited.
        status: std::process::ExitStatus,
    },
    /// It did not return in time (it is killed).
    #[error("the reboot command '{command}' did not return within {}s", COMMAND_DEADLINE.as_secs())]
    Timeout {
        /// The command, as configured.
        command: String,
    },
}

/// Runs `command` (argv, not a shell line) to its end or its deadline.
/// An empty command does nothing.
pub async fn run_command(command: &[String]) -> Result<(), RebootError> {
    let Some((program, args)) = command.split_first() else {
        return Ok(());
    };
    let line = command.join(" ");
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| RebootError::Spawn {
            command: line.clone(),
            source,
        })?;
    match tokio::time::timeout(COMMAND_DEADLINE, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(RebootError::Failed {
            command: line,
            status,
        }),
        Ok(Err(source)) => Err(RebootError::Spawn {
            command: line,
            source,
        }),
        Err(_) => Err(RebootError::Timeout { command: line }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(boot: &str, containers: &[&str], requested: Option<u64>) -> RebootDue {
        RebootDue {
            boot_id: boot.to_owned(),
            since: 10,
            containers: containers.iter().map(|c| (*c).to_owned()).collect(),
            requested,
        }
    }

    #[test]
    fn a_reboot_is_due_until_the_boot_changes() {
        let table = [
            (None, "a", None),
            (
                Some(due("a", &["m/x@1"], None)),
                "a",
                Some(due("a", &["m/x@1"], None)),
            ),
            (Some(due("a", &["m/x@1"], Some(20))), "b", None),
        ];
        for (record, boot, expected) in table {
            assert_eq!(
                RebootDue::in_boot(record.clone(), boot),
                expected,
                "{record:?} in {boot}"
            );
        }
    }

    #[test]
    fn an_install_adds_to_this_boots_record_and_asks_again() {
        let new = |containers: &[&str]| RebootDue {
            since: 30,
            ..due("a", containers, None)
        };
        let table = [
            // Nothing due: a new record.
            (None, new(&["m/x@1"])),
            // Due in an earlier boot: that one is over, this is new.
            (Some(due("z", &["m/y@1"], Some(5))), new(&["m/x@1"])),
            // Due in this boot: added once, and asked again if it was asked.
            (
                Some(due("a", &["m/y@1"], Some(20))),
                due("a", &["m/y@1", "m/x@1"], None),
            ),
            (Some(due("a", &["m/x@1"], None)), due("a", &["m/x@1"], None)),
        ];
        for (record, expected) in table {
            let got = RebootDue::with(record.clone(), "a", "m/x@1", 30);
            assert_eq!(got, expected, "{record:?}");
        }
    }

    #[tokio::test]
    async fn the_command_runs_to_its_end_and_its_failure_is_said() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marker = dir.path().join("rebooted");
        let touch = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            format!("echo once >> {}", marker.display()),
        ];
        run_command(&touch).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(&marker).ok().as_deref(),
            Some("once\n")
        );
        run_command(&[]).await.unwrap_or_else(|e| panic!("{e}"));
        let fail = ["sh", "-c", "exit 3"].map(str::to_owned);
        let e = run_command(&fail).await.err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the reboot command 'sh -c exit 3' failed: exit status: 3")
        );
        let missing = ["/nonexistent/reboot"].map(str::to_owned);
        let e = run_command(&missing)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("cannot run the reboot command '/nonexistent/reboot':"),
            "{e}"
        );
    }
}
