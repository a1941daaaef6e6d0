//! balena's update labels: how a service is replaced, said in its labels
//! (`io.balena.update.strategy`, `io.balena.update.handover-timeout`), read
//! into the block's update strategy, and whether the device reboots once it
//! is (`io.balena.update.requires-reboot`), read into `requires_reboot`.
//! The labels stay on the block as written; `x-osb.update_strategy`, this
//! importer's own word, wins over them.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ComposeError, Walker, invalid};
use crate::duration::HumanDuration;
use crate::target::UpdateStrategy;

const STRATEGY: &str = "io.balena.update.strategy";
const HANDOVER_TIMEOUT: &str = "io.balena.update.handover-timeout";
const REQUIRES_REBOOT: &str = "io.balena.update.requires-reboot";

/// balena's default hand-over timeout.
const DEFAULT_HANDOVER: Duration = Duration::from_secs(60);

/// Whether the labels of the service at `path` (`services.web`) ask for a
/// reboot once it is updated, if they say: the supervisor's truthy words,
/// as the feature labels are read; another value is refused rather than
/// read as `false`.
pub(super) fn requires_reboot(
    labels: &BTreeMap<String, String>,
    path: &str,
) -> Result<Option<bool>, ComposeError> {
    let Some(value) = labels.get(REQUIRES_REBOOT) else {
        return Ok(None);
    };
    crate::features::switch(REQUIRES_REBOOT, value.trim())
        .map(Some)
        .map_err(|e| invalid(&format!("{path}.labels.{REQUIRES_REBOOT}"), e.message))
}

/// The strategy the labels of the service at `path` (`services.web`) ask
/// for, if they ask; `explicit` says `x-osb` already chose one.
pub(super) fn strategy(
    walker: &mut Walker,
    labels: &BTreeMap<String, String>,
    path: &str,
    explicit: bool,
) -> Result<Option<UpdateStrategy>, ComposeError> {
    let at = |label: &str| format!("{path}.labels.{label}");
    let timeout = match labels.get(HANDOVER_TIMEOUT) {
        Some(millis) => Some(
            millis
                .trim()
                .parse::<u64>()
                .map(|ms| HumanDuration::new(Duration::from_millis(ms)))
                .map_err(|_| {
                    invalid(
                        &at(HANDOVER_TIMEOUT),
                        format!("expected a number of milliseconds, found '{millis}'"),
                    )
                })?,
        ),
        None => None,
    };
    let Some(name) = labels.get(STRATEGY) else {
        if timeout.is_some() {
            walker.warn(
                &at(HANDOVER_TIMEOUT),
                "applies to the hand-over strategy only, which the labels do not choose; ignored",
            );
        }
        return Ok(None);
    };
    let strategy = match name.as_str() {
        "download-then-kill" => UpdateStrategy::DownloadThenKill,
        // balena's delete-then-download also removes the old image before
        // the pull, which is what kill-then-download does here.
        "kill-then-download" | "delete-then-download" => UpdateStrategy::KillThenDownload,
        "hand-over" => UpdateStrategy::HandOver {
            timeout: timeout.unwrap_or(HumanDuration::new(DEFAULT_HANDOVER)),
        },
        other => {
            return Err(invalid(
                &at(STRATEGY),
                format!(
                    "unknown update strategy '{other}' (download-then-kill, kill-then-download, \
                     delete-then-download or hand-over)"
                ),
            ));
        }
    };
    if timeout.is_some() && !matches!(strategy, UpdateStrategy::HandOver { .. }) {
        walker.warn(
            &at(HANDOVER_TIMEOUT),
            format!("applies to the hand-over strategy only, not '{name}'; ignored"),
        );
    }
    if explicit {
        walker.warn(&at(STRATEGY), "overridden by x-osb.update_strategy");
        return Ok(None);
    }
    Ok(Some(strategy))
}
