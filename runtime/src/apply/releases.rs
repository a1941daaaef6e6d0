//! What became of each release of each app on this device: running, replaced
//! by a newer one, rejected (its contract does not hold, or it is a draft
//! on a production device), rolled back or failed (its validation failed;
//! see [`super::validation`]), kept in the block store for `osb release
//! list`. A release that passes validation is marked final.
//!
//! [`record`] is pure; the executor calls it when a reconcile converges
//! (the releases that run), whenever the gate rejects one, and when a
//! validation ends.

use serde::{Deserialize, Serialize};

use osb_state::target::ReleaseStatus;

/// Records kept per app; the oldest that do not run are dropped first.
pub const KEEP: usize = 20;

/// One release of an app, as this device knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    /// The release's version.
    pub version: semver::Version,
    /// `final` or `draft`, as the target said.
    pub status: ReleaseStatus,
    /// What became of it.
    pub state: ReleaseState,
    /// Since when (Unix seconds, by the device clock).
    pub since: u64,
    /// Why, for a rejected release: the requirements that fail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// What became of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseState {
    /// It is what runs of the app.
    Running,
    /// It ran, and a newer release runs now.
    Replaced,
    /// The device refused it; what ran of the app ran on.
    Rejected,
    /// It failed its validation, and the app was rolled back to the
    /// release before it.
    RolledBack,
    /// It failed its validation with no release to roll back to: it runs
    /// on.
    Failed,
}

impl ReleaseState {
    /// The word `osb release list` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Running => "running",
            ReleaseState::Replaced => "replaced",
            ReleaseState::Rejected => "rejected",
            ReleaseState::RolledBack => "rolled-back",
            ReleaseState::Failed => "failed",
        }
    }
}

/// What happened to a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A reconcile converged with it running.
    Running {
        /// The release.
        version: semver::Version,
        /// As the target said.
        status: ReleaseStatus,
    },
    /// The gate rejected it.
    Rejected {
        /// The release.
        version: semver::Version,
        /// As the target said.
        status: ReleaseStatus,
        /// The requirements that fail.
        reason: String,
    },
}

/// What a validation that ended made of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validated {
    /// It passed: it is final now.
    Passed {
        /// The release.
        version: semver::Version,
    },
    /// It failed; `rolled_back` says whether the app went back to an
    /// earlier release (else it runs on).
    Failed {
        /// The release.
        version: semver::Version,
        /// As the target said.
        status: ReleaseStatus,
        /// The first check that failed.
        reason: String,
        /// Whether the app was rolled back.
        rolled_back: bool,
    },
}

/// `records` after validation ended with `outcome` at `now`; whether
/// anything changed.
pub fn validated(records: &mut Vec<ReleaseRecord>, outcome: Validated, now: u64) -> bool {
    match outcome {
        Validated::Passed { version } => match records.iter_mut().find(|r| r.version == version) {
            Some(r) if r.status != ReleaseStatus::Final => {
                r.status = ReleaseStatus::Final;
                true
            }
            _ => false,
        },
        Validated::Failed {
            version,
            status,
            reason,
            rolled_back,
        } => {
            let state = if rolled_back {
                ReleaseState::RolledBack
            } else {
                ReleaseState::Failed
            };
            put(records, version, status, state, reason, now);
            true
        }
    }
}

/// `records` (one app's, oldest first) after `event` at `now`; whether
/// anything changed (a reconcile that changes nothing writes nothing).
pub fn record(records: &mut Vec<ReleaseRecord>, event: Event, now: u64) -> bool {
    let (version, status, state, reason) = match event {
        Event::Running { version, status } => {
            (version, status, ReleaseState::Running, String::new())
        }
        Event::Rejected {
            version,
            status,
            reason,
        } => (version, status, ReleaseState::Rejected, reason),
    };
    let existing = records.iter().position(|r| r.version == version);
    if let Some(i) = existing {
        let r = &records[i];
        if r.state == state && r.reason == reason && r.status == status {
            return false;
        }
        // A release that runs stays running: the device may come to
        // refuse it (its contract changed), and it runs on all the same.
        if r.state == ReleaseState::Running && state == ReleaseState::Rejected {
            return false;
        }
        // A release that failed its validation runs on only when there
        // was nothing to roll back to: it stays failed.
        if r.state == ReleaseState::Failed && state == ReleaseState::Running {
            return false;
        }
        // Validated once, a release stays final whatever the target says.
        if r.state == state && r.reason == reason && r.status == ReleaseStatus::Final {
            return false;
        }
    }
    let status = match existing {
        Some(i) if records[i].status == ReleaseStatus::Final => ReleaseStatus::Final,
        _ => status,
    };
    put(records, version, status, state, reason, now);
    true
}

/// `records` with `version` in `state` at `now`, moved to the end; a
/// running one makes the one running before it replaced.
fn put(
    records: &mut Vec<ReleaseRecord>,
    version: semver::Version,
    status: ReleaseStatus,
    state: ReleaseState,
    reason: String,
    now: u64,
) {
    let existing = records.iter().position(|r| r.version == version);
    if state == ReleaseState::Running {
        for r in records.iter_mut() {
            if r.state == ReleaseState::Running && r.version != version {
                r.state = ReleaseState::Replaced;
                r.since = now;
            }
        }
    }
    let entry = ReleaseRecord {
        version,
        status,
        state,
        since: now,
        reason,
    };
    match existing {
        Some(i) => {
            records.remove(i);
            records.push(entry);
        }
        None => records.push(entry),
    }
    while records.len() > KEEP {
        match records
            .iter()
            .position(|r| r.state != ReleaseState::Running)
        {
            Some(i) => {
                records.remove(i);
            }
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn running(version: &str) -> Event {
        Event::Running {
            version: v(version),
            status: ReleaseStatus::Final,
        }
    }

    fn rejected(version: &str, reason: &str) -> Event {
        Event::Rejected {
            version: v(version),
            status: ReleaseStatus::Final,
            reason: reason.to_owned(),
        }
    }

    /// The records as `version state@since`, oldest first.
    fn lines(records: &[ReleaseRecord]) -> String {
        records
            .iter()
            .map(|r| format!("{} {}@{}", r.version, r.state.as_str(), r.since))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn releases_run_are_replaced_and_rejected() {
        // (events in order, each at time 1, 2, ...; the records after; how
        // many events changed anything)
        let table: Vec<(Vec<Event>, &str, usize)> = vec![
            (vec![running("1.0.0")], "1.0.0 running@1", 1),
            (
                vec![running("1.0.0"), running("1.0.0")],
                "1.0.0 running@1",
                1,
            ),
            (
                vec![running("1.0.0"), running("2.0.0")],
                "1.0.0 replaced@2, 2.0.0 running@2",
                2,
            ),
            (
                vec![
                    running("1.0.0"),
                    rejected("2.0.0", "amd64"),
                    rejected("2.0.0", "amd64"),
                ],
                "1.0.0 running@1, 2.0.0 rejected@2",
                2,
            ),
            // Back to an older release: it runs again, the newer replaced.
            (
                vec![running("1.0.0"), running("2.0.0"), running("1.0.0")],
                "2.0.0 replaced@3, 1.0.0 running@3",
                3,
            ),
            // A running release the device comes to refuse runs on.
            (
                vec![running("1.0.0"), rejected("1.0.0", "x")],
                "1.0.0 running@1",
                1,
            ),
            // A rejected release that later passes runs.
            (
                vec![running("1.0.0"), rejected("2.0.0", "x"), running("2.0.0")],
                "1.0.0 replaced@3, 2.0.0 running@3",
                3,
            ),
        ];
        for (events, expect, changes) in table {
            let mut records = Vec::new();
            let mut changed = 0;
            for (i, event) in events.iter().enumerate() {
                changed += usize::from(record(&mut records, event.clone(), i as u64 + 1));
            }
            assert_eq!(lines(&records), expect, "{events:?}");
            assert_eq!(changed, changes, "{events:?}");
        }
    }

    #[test]
    fn validation_marks_final_or_rolled_back_and_a_failed_release_stays_failed() {
        let draft = |version: &str| Event::Running {
            version: v(version),
            status: ReleaseStatus::Draft,
        };
        let failed = |version: &str, rolled_back| Validated::Failed {
            version: v(version),
            status: ReleaseStatus::Draft,
            reason: "test main/smoke: exited with code 1".into(),
            rolled_back,
        };
        let states = |records: &[ReleaseRecord]| -> Vec<String> {
            records
                .iter()
                .map(|r| format!("{} {} {}", r.version, r.status.as_str(), r.state.as_str()))
                .collect()
        };

        // A draft that passes is final, and stays final when it runs again
        // under a target that still calls it a draft.
        let mut records = Vec::new();
        record(&mut records, draft("1.0.0"), 1);
        let passed = Validated::Passed {
            version: v("1.0.0"),
        };
        assert!(validated(&mut records, passed.clone(), 2));
        assert!(!validated(&mut records, passed, 3), "marked final twice");
        assert!(!record(&mut records, draft("1.0.0"), 4));
        assert_eq!(states(&records), ["1.0.0 final running"]);

        // One that fails is rolled back; the release before runs again.
        record(&mut records, draft("2.0.0"), 5);
        assert!(validated(&mut records, failed("2.0.0", true), 6));
        record(&mut records, running("1.0.0"), 6);
        assert_eq!(
            states(&records),
            ["2.0.0 draft rolled-back", "1.0.0 final running"]
        );
        assert_eq!(records[0].reason, "test main/smoke: exited with code 1");

        // With nothing to roll back to it runs on, failed, and stays so.
        let mut records = Vec::new();
        record(&mut records, draft("1.0.0"), 1);
        validated(&mut records, failed("1.0.0", false), 2);
        assert!(!record(&mut records, draft("1.0.0"), 3));
        assert_eq!(states(&records), ["1.0.0 draft failed"]);
    }

    #[test]
    fn old_records_go_first_and_the_running_one_stays() {
        let mut records = Vec::new();
        record(&mut records, running("1.0.0"), 0);
        for i in 0..30u64 {
            record(&mut records, rejected(&format!("2.0.{i}"), "x"), i + 1);
        }
        assert_eq!(records.len(), KEEP);
        assert_eq!(records[0].version, v("1.0.0"));
        assert_eq!(records[1].version, v("2.0.11"));
    }
}
