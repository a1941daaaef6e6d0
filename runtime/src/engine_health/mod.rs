//! The engine's health: the daemon pings the engine on an interval (the
//! engine's `_ping`, nothing heavier), publishes what it sees for
//! `osb status`, and after `[engine] failures_before_recovery` failed
//! pings in a row runs `[engine] recovery_command`.
//!
//! [`machine`] decides (pure, tested by tables), [`watch`] does the IO,
//! [`record`] is the published file, [`settings`] the `[engine]` section.

pub mod machine;
pub mod record;
pub mod settings;
pub mod watch;

pub use machine::{Health, HealthState, RecoveryRun};
pub use record::{DaemonHealth, HealthPublisher};
pub use settings::EngineSettings;
