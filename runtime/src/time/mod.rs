//! The time service: every time source answers an interval where the true
//! time lies; the service fuses them, owns the clock, and publishes a
//! state (`unsynced`, `coarse`, `synced`) that blocks are gated on.
//!
//! - [`utc`]: [`UtcTime`], nanoseconds since the epoch, and its spellings.
//! - [`interval`]: [`Interval`] `[earliest, latest]`, either end unbounded;
//!   widening by a call's duration and ageing with drift.
//! - [`plausible`]: the range an answer must meet, from the runtime's
//!   build time (embedded at compile time) to a configured span later.
//! - [`marzullo`]: fusing votes under a majority rule, naming the false
//!   tickers.
//! - [`fusion`]: a round's answers fused: only bounded answers vote, one
//!   vote per origin, bounds narrow the result.
//! - [`status`]: from an interval's error bound to a state ([`Thresholds`]).
//! - [`tracker`]: the estimate carried between rounds (pure).
//! - [`mono`]: the boot-time clock intervals are carried forward on.
//! - [`clock`]: the backends, `virtual` (an offset) and `system` (steps
//!   `CLOCK_REALTIME`, only when configured).
//! - [`sources`]: [`TimeSources`], implemented by the plugin host.
//! - [`report`]: [`report::TimeReport`], a round as `osb time` shows it.
//! - [`published`]: the daemon's last report in `<state_dir>/time.json`,
//!   believed only while that daemon runs.
//! - [`service`]: [`TimeService`], its rounds and its thread.
//! - [`handle`]: [`TimeHandle`], how the executor reads the state.
//! - [`settings`]: [`TimeSettings`], the `[time]` config section.
//!
//! **Architecture invariant:** plugins never set the clock; only the
//! service's backend does, and `system` only when configured.
//!
//! The rules (plausible range, origins, majority, thresholds, ageing,
//! backends, when the good time is saved) are documented in
//! `docs/time.md`.

pub mod clock;
pub mod fusion;
pub mod handle;
pub mod interval;
pub mod marzullo;
pub mod mono;
pub mod plausible;
pub mod published;
pub mod report;
pub mod service;
pub mod settings;
pub mod sources;
pub mod status;
pub mod tracker;
pub mod utc;

pub use clock::{Clock, ClockKind};
pub use handle::TimeHandle;
pub use interval::Interval;
pub use mono::Mono;
pub use plausible::{Plausible, runtime_build_time};
pub use service::{RunningTimeService, TimeService};
pub use settings::TimeSettings;
pub use sources::{SourceError, TimeSources};
pub use status::{Thresholds, parse_status};
pub use tracker::{Round, Rules, Tracker};
pub use utc::UtcTime;
