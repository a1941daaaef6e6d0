//! `[engine]` in `device.toml`: how often the engine is pinged, and what
//! the daemon runs when it stops answering.

use std::time::Duration;

use osb_state::HumanDuration;
use serde::{Deserialize, Serialize};

/// The shortest and longest pause between pings: under a second the pings
/// would be load of their own; over ten minutes a dead engine goes unseen
/// for too long.
const INTERVAL_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
/// A ping answered in less than this is not to be expected of any engine.
const MIN_PING_TIMEOUT: Duration = Duration::from_millis(100);
/// A recovery command may take this long at most (an engine restart that
/// takes longer is not one the daemon can wait for).
const RECOVERY_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(3600));
const MAX_FAILURES_BEFORE_RECOVERY: u32 = 100;

/// `[engine]`: the engine's health check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    /// Between pings (`10s`; 1 s to 10 min).
    #[serde(default = "default_interval")]
    pub health_interval: HumanDuration,
    /// How long a ping may wait for its answer (`5s`); less than
    /// `health_interval`, so pings never overlap.
    #[serde(default = "default_ping_timeout")]
    pub ping_timeout: HumanDuration,
    /// Consecutive failed pings before `recovery_command` runs (1 to 100),
    /// and again before each further run.
    #[serde(default = "default_failures")]
    pub failures_before_recovery: u32,
    /// The command that brings the engine back, as argv, no shell
    /// (`["systemctl", "restart", "docker"]`). Empty: the engine's health
    /// is only reported.
    #[serde(default)]
    pub recovery_command: Vec<String>,
    /// A recovery command still running after this is killed and counts
    /// as failed (`60s`; 1 s to 1 h).
    #[serde(default = "default_recovery_timeout")]
    pub recovery_timeout: HumanDuration,
}

fn default_interval() -> HumanDuration {
    HumanDuration::new(Duration::from_secs(10))
}

fn default_ping_timeout() -> HumanDuration {
    HumanDuration::new(Duration::from_secs(5))
}

fn default_failures() -> u32 {
    3
}

fn default_recovery_timeout() -> HumanDuration {
    HumanDuration::new(Duration::from_secs(60))
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            health_interval: default_interval(),
            ping_timeout: default_ping_timeout(),
            failures_before_recovery: default_failures(),
            recovery_command: Vec::new(),
            recovery_timeout: default_recovery_timeout(),
        }
    }
}

impl EngineSettings {
    /// Checks what the types cannot; the reason names the field as the
    /// file spells it (`[engine] ping_timeout ...`).
    pub fn validate(&self) -> Result<(), String> {
        let within = |field: &str, value: HumanDuration, (low, high): (Duration, Duration)| {
            if value.get() < low || value.get() > high {
                Err(format!(
                    "[engine] {field} must be between {} and {}, not {value}",
                    HumanDuration::new(low),
                    HumanDuration::new(high)
                ))
            } else {
                Ok(())
            }
        };
        within("health_interval", self.health_interval, INTERVAL_BOUNDS)?;
        if self.ping_timeout.get() < MIN_PING_TIMEOUT {
            return Err(format!(
                "[engine] ping_timeout must be at least {}, not {}",
                HumanDuration::new(MIN_PING_TIMEOUT),
                self.ping_timeout
            ));
        }
        if self.ping_timeout.get() >= self.health_interval.get() {
            return Err(format!(
                "[engine] ping_timeout must be less than health_interval ({}), not {}",
                self.health_interval, self.ping_timeout
            ));
        }
        if !(1..=MAX_FAILURES_BEFORE_RECOVERY).contains(&self.failures_before_recovery) {
            return Err(format!(
                "[engine] failures_before_recovery must be between 1 and {MAX_FAILURES_BEFORE_RECOVERY}, not {}",
                self.failures_before_recovery
            ));
        }
        if self.recovery_command.first().is_some_and(String::is_empty) {
            return Err(
                "[engine] recovery_command: the program (its first word) is empty".to_owned(),
            );
        }
        within(
            "recovery_timeout",
            self.recovery_timeout,
            RECOVERY_TIMEOUT_BOUNDS,
        )
    }

    /// Between pings.
    pub fn interval(&self) -> Duration {
        self.health_interval.get()
    }

    /// The deadline of each ping.
    pub fn ping_deadline(&self) -> Duration {
        self.ping_timeout.get()
    }
}
