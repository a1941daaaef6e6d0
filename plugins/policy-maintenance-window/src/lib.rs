//! `policy-maintenance-window`: releases are applied only inside
//! maintenance windows, in the device's local time. Outside, the release
//! waits and the reason says when the next window opens (RFC 3339, UTC):
//! `outside the maintenance windows; the next opens at
//! 2026-12-01T02:00:00Z (Mon-Fri 02:00-04:00, UTC)`.
//!
//! The time is WASI's wall clock. A decision on the time needs a clock
//! that has been set: the runtime tells the time service's state of the
//! clock in the device it passes (a child of type `sw.time`, `data.status`
//! `unsynced`, `coarse` or `synced`), and while it is `unsynced` every
//! release waits ("time not trustworthy yet"). Whatever it says, a clock
//! before config `min_year` is taken as not set yet.
//!
//! # Configuration
//!
//! - `windows`: windows separated by `;`, each `<days> HH:MM-HH:MM` in
//!   local time (see `window.rs` and plugin.toml).
//! - `utc_offset_minutes` (default 0): local time minus UTC. The sandbox
//!   has no time zone database, so summer time is the device config's to
//!   follow.
//! - `min_year` (default 2025): the first year the wall clock is believed.
//!
//! Bad configuration fails the self-check, so the plugin does not load
//! (and a running version keeps serving).

mod schedule;
mod settings;
mod window;

use std::time::SystemTime;

use osb_sdk::{ContractPolicy, Decision, Release, Result, Timestamp};
use time_bounds::civil::DateTime;

use schedule::{UtcOffset, Verdict};
use settings::Settings;

/// The plugin value: the settings read at creation, or why they are bad.
struct MaintenanceWindow {
    // Kept as a `Result` because `Default` cannot fail: a bad setting is
    // reported by `self_check` and by every call instead.
    settings: Result<Settings>,
}

impl Default for MaintenanceWindow {
    fn default() -> Self {
        MaintenanceWindow {
            settings: Settings::from_lookup(osb_sdk::config::get),
        }
    }
}

impl ContractPolicy for MaintenanceWindow {
    fn evaluate(&mut self, device: &str, _release: &Release) -> Result<Decision> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        if clock_status(device).as_deref() == Some("unsynced") {
            return Ok(Decision::reject(
                "time not trustworthy yet: the device's clock is unsynced; \
                 waiting until it is at least coarse",
            ));
        }
        Ok(decide(settings, Timestamp::from(SystemTime::now()).seconds))
    }

    fn self_check(&mut self) -> Result<()> {
        self.settings.as_ref().map(drop).map_err(Clone::clone)
    }
}

/// What the device says of its clock (`unsynced`, `coarse`, `synced`): the
/// `data.status` of its `sw.time` child; `None` when it says nothing (an
/// older runtime, a device given by hand), and the wall clock is judged by
/// `min_year` alone.
fn clock_status(device: &str) -> Option<String> {
    let device: serde_json::Value = serde_json::from_str(device).ok()?;
    device["children"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "sw.time")?["data"]["status"]
        .as_str()
        .map(str::to_owned)
}

/// The decision at `now` (Unix seconds, UTC).
fn decide(settings: &Settings, now: i64) -> Decision {
    let clock = DateTime::from_unix_seconds(now);
    if clock.year < settings.min_year {
        return Decision::reject(format!(
            "time not trustworthy yet: the clock reads {clock}, before {}; wait until it is set",
            settings.min_year
        ));
    }
    let offset = UtcOffset(settings.schedule.offset_minutes);
    match settings.schedule.at(now) {
        Some(Verdict::Open { window, closes }) => Decision::allow().with_reason(format!(
            "inside the maintenance window {window} ({offset}), which closes at {}",
            DateTime::from_unix_seconds(closes)
        )),
        Some(Verdict::Closed { window, opens }) => Decision::reject(format!(
            "outside the maintenance windows; the next opens at {} ({window}, {offset})",
            DateTime::from_unix_seconds(opens)
        )),
        // The settings hold at least one window, and every window opens
        // within a week.
        None => Decision::reject("no maintenance window is configured"),
    }
}

osb_sdk::export_plugin!(ContractPolicy for MaintenanceWindow);

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(windows: &str, offset: &str) -> Settings {
        Settings::from_lookup(|key| match key {
            "windows" => Some(windows.to_owned()),
            "utc_offset_minutes" => Some(offset.to_owned()),
            _ => None,
        })
        .unwrap()
    }

    /// 2026-12-01T03:00:00Z, a Tuesday.
    const TUESDAY_3AM: i64 = 1_796_094_000;

    #[test]
    fn inside_allows_and_outside_waits_for_the_next_opening() {
        let weekdays = settings("Mon-Fri 02:00-04:00", "0");
        let allowed = decide(&weekdays, TUESDAY_3AM);
        assert!(allowed.allow);
        assert_eq!(
            allowed.reasons,
            ["inside the maintenance window Mon-Fri 02:00-04:00 (UTC), \
                 which closes at 2026-12-01T04:00:00Z"]
        );
        let denied = decide(&weekdays, TUESDAY_3AM + 3_600);
        assert!(!denied.allow);
        assert_eq!(
            denied.reasons,
            [
                "outside the maintenance windows; the next opens at 2026-12-02T02:00:00Z \
                 (Mon-Fri 02:00-04:00, UTC)"
            ]
        );
        let east = decide(&settings("daily 05:00-06:00", "120"), TUESDAY_3AM);
        assert!(east.allow, "{:?}", east.reasons);
        assert!(
            east.reasons[0].contains("(UTC+02:00)"),
            "{:?}",
            east.reasons
        );
    }

    #[test]
    fn the_devices_clock_state_is_read_from_its_time_child() {
        let device =
            |children: &str| format!(r#"{{"type": "meta.context", "children": [{children}]}}"#);
        for (given, expect) in [
            (
                device(
                    r#"{"type": "arch.sw", "slug": "amd64"}, {"type": "sw.time", "slug": "clock", "data": {"status": "unsynced"}}"#,
                ),
                Some("unsynced"),
            ),
            (
                device(r#"{"type": "sw.time", "slug": "clock", "data": {"status": "synced"}}"#),
                Some("synced"),
            ),
            (device(r#"{"type": "arch.sw", "slug": "amd64"}"#), None),
            (device(r#"{"type": "sw.time", "slug": "clock"}"#), None),
            ("{not json".to_owned(), None),
        ] {
            assert_eq!(clock_status(&given).as_deref(), expect, "{given}");
        }
    }

    #[test]
    fn a_clock_before_min_year_is_not_trusted() {
        let denied = decide(&settings("daily 00:00-24:00", "0"), 946_684_800);
        assert!(!denied.allow);
        assert_eq!(
            denied.reasons,
            [
                "time not trustworthy yet: the clock reads 2000-01-01T00:00:00Z, \
                 before 2025; wait until it is set"
            ]
        );
    }
}
