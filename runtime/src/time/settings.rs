//! The `[time]` section of the device config, with its defaults and the
//! checks serde cannot make.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::ClockKind;
use super::plausible::Plausible;
use super::status::Thresholds;
use super::tracker::Rules;
use super::utc::UtcTime;
use osb_plugin_host::PluginName;
use osb_state::TimeStatus;

/// `[time]` in `device.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSettings {
    /// The time-source plugins to ask. Absent: every loaded plugin of kind
    /// `time-source`.
    #[serde(default)]
    pub sources: Option<Vec<PluginName>>,
    /// `virtual` (default) or `system`.
    #[serde(default)]
    pub clock: ClockKind,
    /// `synced` when the error bound (half the fused interval's width) is
    /// at most this.
    #[serde(default = "default_synced_max_error_ms")]
    pub synced_max_error_ms: u64,
    /// `coarse` when the error bound is at most this.
    #[serde(default = "default_coarse_max_error_ms")]
    pub coarse_max_error_ms: u64,
    /// The first poll interval while not synced; it doubles each round that
    /// ends short of `synced`, up to `poll_synced_ms`.
    #[serde(default = "default_poll_unsynced_ms")]
    pub poll_unsynced_ms: u64,
    /// The poll interval once synced.
    #[serde(default = "default_poll_synced_ms")]
    pub poll_synced_ms: u64,
    /// How often the sources are told the good time (a fake hardware clock
    /// saves it); also once at shutdown.
    #[serde(default = "default_observe_interval_ms")]
    pub observe_interval_ms: u64,
    /// How far the boot-time clock may run off, in parts per million:
    /// intervals carried forward widen by this much of the elapsed time.
    #[serde(default = "default_drift_ppm")]
    pub drift_ppm: u32,
    /// Who vouches for each source, by plugin name: sources of one origin
    /// have one vote between them. Absent for a source: the key that signed
    /// its package, or its name when unsigned (development mode). Only the
    /// device config sets this; a plugin never chooses its own origin.
    #[serde(default)]
    pub origins: BTreeMap<PluginName, String>,
    /// How many origins must agree for `synced`; with fewer, `coarse` at
    /// most.
    #[serde(default = "default_synced_min_origins")]
    pub synced_min_origins: usize,
    /// How long after the runtime's build time an answer is still
    /// plausible, in days: the end of the plausible range.
    #[serde(default = "default_plausible_span_days")]
    pub plausible_span_days: u32,
}

fn default_synced_max_error_ms() -> u64 {
    250
}
fn default_coarse_max_error_ms() -> u64 {
    60_000
}
fn default_poll_unsynced_ms() -> u64 {
    1_000
}
fn default_poll_synced_ms() -> u64 {
    64_000
}
fn default_observe_interval_ms() -> u64 {
    60_000
}
fn default_drift_ppm() -> u32 {
    100
}
fn default_synced_min_origins() -> usize {
    2
}
fn default_plausible_span_days() -> u32 {
    // Twenty years: longer than a device runs one runtime build, and short
    // enough that a liar cannot send the clock to year 9999.
    7305
}

/// The largest drift allowance accepted: 1%, far beyond any crystal.
const MAX_DRIFT_PPM: u32 = 10_000;

/// The longest plausible span accepted: a century. Longer is no cap.
const MAX_PLAUSIBLE_SPAN_DAYS: u32 = 36_525;

const DAY: Duration = Duration::from_secs(86_400);

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            sources: None,
            clock: ClockKind::default(),
            synced_max_error_ms: default_synced_max_error_ms(),
            coarse_max_error_ms: default_coarse_max_error_ms(),
            poll_unsynced_ms: default_poll_unsynced_ms(),
            poll_synced_ms: default_poll_synced_ms(),
            observe_interval_ms: default_observe_interval_ms(),
            drift_ppm: default_drift_ppm(),
            origins: BTreeMap::new(),
            synced_min_origins: default_synced_min_origins(),
            plausible_span_days: default_plausible_span_days(),
        }
    }
}

impl TimeSettings {
    /// What the types cannot say; the message names the key, with the
    /// `time.` prefix it has in the config file.
    pub fn validate(&self) -> Result<(), String> {
        if self.synced_max_error_ms > self.coarse_max_error_ms {
            return Err(format!(
                "time.synced_max_error_ms ({}) must not exceed time.coarse_max_error_ms ({})",
                self.synced_max_error_ms, self.coarse_max_error_ms
            ));
        }
        for (key, value) in [
            ("poll_unsynced_ms", self.poll_unsynced_ms),
            ("poll_synced_ms", self.poll_synced_ms),
            ("observe_interval_ms", self.observe_interval_ms),
        ] {
            if value == 0 {
                return Err(format!("time.{key} must be at least 1"));
            }
        }
        if self.poll_unsynced_ms > self.poll_synced_ms {
            return Err(format!(
                "time.poll_unsynced_ms ({}) must not exceed time.poll_synced_ms ({})",
                self.poll_unsynced_ms, self.poll_synced_ms
            ));
        }
        if self.drift_ppm > MAX_DRIFT_PPM {
            return Err(format!(
                "time.drift_ppm ({}) must be at most {MAX_DRIFT_PPM}",
                self.drift_ppm
            ));
        }
        if self.synced_min_origins == 0 {
            return Err("time.synced_min_origins must be at least 1".to_owned());
        }
        if !(1..=MAX_PLAUSIBLE_SPAN_DAYS).contains(&self.plausible_span_days) {
            return Err(format!(
                "time.plausible_span_days ({}) must be from 1 to {MAX_PLAUSIBLE_SPAN_DAYS}",
                self.plausible_span_days
            ));
        }
        for (name, origin) in &self.origins {
            if origin.trim().is_empty()
                || origin.trim() != origin
                || origin.contains(char::is_control)
            {
                return Err(format!(
                    "time.origins.{name} ({origin:?}) must be a non-empty label without surrounding space or control characters"
                ));
            }
        }
        if let Some(sources) = &self.sources {
            let mut seen = BTreeSet::new();
            for name in sources {
                if !seen.insert(name) {
                    return Err(format!("time.sources names '{name}' twice"));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn thresholds(&self) -> Thresholds {
        Thresholds {
            synced_max_error: Duration::from_millis(self.synced_max_error_ms),
            coarse_max_error: Duration::from_millis(self.coarse_max_error_ms),
        }
    }

    /// The plausible range of a runtime built at `built`.
    pub fn plausible(&self, built: UtcTime) -> Plausible {
        Plausible::new(built, DAY * self.plausible_span_days)
    }

    /// The fusion's rules, for a runtime built at `built`.
    pub fn rules(&self, built: UtcTime) -> Rules {
        Rules {
            thresholds: self.thresholds(),
            drift_ppm: self.drift_ppm,
            synced_min_origins: self.synced_min_origins,
            plausible: self.plausible(built),
        }
    }

    /// Who vouches for `name`: the configured origin, else `signer` (the
    /// key that signed its package), else its own name.
    pub fn origin(&self, name: &PluginName, signer: Option<String>) -> String {
        self.origins
            .get(name)
            .cloned()
            .or(signer)
            .unwrap_or_else(|| name.to_string())
    }

    pub(crate) fn observe_interval(&self) -> Duration {
        Duration::from_millis(self.observe_interval_ms)
    }

    /// The wait before the next round: `poll_synced_ms` once synced; else
    /// `poll_unsynced_ms` doubled for each of the `short_rounds` in a row
    /// that ended short of synced, up to `poll_synced_ms`. Fast at boot,
    /// but a device that cannot reach `synced` (only an HTTP source, say)
    /// does not ask its servers every second for ever.
    pub fn next_poll(&self, status: TimeStatus, short_rounds: u32) -> Duration {
        let slow = self.poll_synced_ms;
        let ms = match status {
            TimeStatus::Synced => slow,
            TimeStatus::Unsynced | TimeStatus::Coarse => {
                let doublings = short_rounds.saturating_sub(1).min(63);
                self.poll_unsynced_ms
                    .saturating_mul(1u64 << doublings)
                    .min(slow)
            }
        };
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_interval_doubles_until_synced() {
        let s = TimeSettings::default();
        // (state, rounds in a row short of synced, seconds to wait)
        let cases = [
            (TimeStatus::Unsynced, 0, 1),
            (TimeStatus::Unsynced, 1, 1),
            (TimeStatus::Unsynced, 2, 2),
            (TimeStatus::Coarse, 3, 4),
            (TimeStatus::Unsynced, 7, 64),
            (TimeStatus::Unsynced, 200, 64),
            (TimeStatus::Synced, 0, 64),
        ];
        for (status, rounds, secs) in cases {
            assert_eq!(
                s.next_poll(status, rounds),
                Duration::from_secs(secs),
                "{status:?} after {rounds}"
            );
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let base = TimeSettings::default();
        let cases = [
            (
                TimeSettings {
                    synced_max_error_ms: 90_000,
                    ..base.clone()
                },
                "time.synced_max_error_ms",
            ),
            (
                TimeSettings {
                    poll_unsynced_ms: 0,
                    ..base.clone()
                },
                "time.poll_unsynced_ms",
            ),
            (
                TimeSettings {
                    poll_unsynced_ms: 100_000,
                    ..base.clone()
                },
                "time.poll_unsynced_ms",
            ),
            (
                TimeSettings {
                    observe_interval_ms: 0,
                    ..base.clone()
                },
                "time.observe_interval_ms",
            ),
            (
                TimeSettings {
                    drift_ppm: 20_000,
                    ..base.clone()
                },
                "time.drift_ppm",
            ),
            (
                TimeSettings {
                    sources: Some(vec![
                        PluginName::new("time-ntp").unwrap(),
                        PluginName::new("time-ntp").unwrap(),
                    ]),
                    ..base.clone()
                },
                "time.sources",
            ),
            (
                TimeSettings {
                    synced_min_origins: 0,
                    ..base.clone()
                },
                "time.synced_min_origins",
            ),
            (
                TimeSettings {
                    plausible_span_days: 0,
                    ..base.clone()
                },
                "time.plausible_span_days",
            ),
            (
                TimeSettings {
                    plausible_span_days: 40_000,
                    ..base.clone()
                },
                "time.plausible_span_days",
            ),
            (
                TimeSettings {
                    origins: [(PluginName::new("time-ntp").unwrap(), String::new())].into(),
                    ..base.clone()
                },
                "time.origins.time-ntp",
            ),
            (
                TimeSettings {
                    origins: [(PluginName::new("time-ntp").unwrap(), " pool".to_owned())].into(),
                    ..base.clone()
                },
                "time.origins.time-ntp",
            ),
        ];
        for (settings, key) in cases {
            let e = settings.validate().unwrap_err();
            assert!(e.starts_with(key), "{e}");
        }
        assert_eq!(base.validate(), Ok(()));
    }

    #[test]
    fn origins_come_from_the_config_then_the_signer_then_the_name() {
        let ntp = PluginName::new("time-ntp").unwrap();
        let https = PluginName::new("time-https").unwrap();
        let s = TimeSettings {
            origins: [(ntp.clone(), "ntp-pool".to_owned())].into(),
            ..TimeSettings::default()
        };
        let key = || Some("ed25519:00ff".to_owned());
        // (name, signer, origin)
        let cases = [
            (&ntp, key(), "ntp-pool"),
            (&ntp, None, "ntp-pool"),
            (&https, key(), "ed25519:00ff"),
            (&https, None, "time-https"),
        ];
        for (name, signer, expect) in cases {
            assert_eq!(s.origin(name, signer.clone()), expect, "{name} {signer:?}");
        }
    }

    #[test]
    fn the_plausible_range_spans_the_configured_days_from_the_build() {
        let built = UtcTime::from_unix_seconds(1_800_000_000);
        let s = TimeSettings {
            plausible_span_days: 10,
            ..TimeSettings::default()
        };
        let range = s.plausible(built);
        assert_eq!(range.earliest(), built);
        assert_eq!(range.latest(), UtcTime::from_unix_seconds(1_800_864_000));
        // The default: twenty years.
        let default = TimeSettings::default().plausible(built);
        assert_eq!(
            default.latest().nanos_since(built),
            7305 * 86_400 * 1_000_000_000
        );
    }
}
