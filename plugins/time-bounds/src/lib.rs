//! Bound arithmetic shared by the time-source plugins.
//!
//! A network time source measures the *offset* of the true time from the
//! host's wall clock (true − host) as a range that must contain it, then
//! turns that range into an interval of UTC time at the moment it answers.
//! This crate holds the parts where a mistake would put the truth outside
//! the interval, so that they are written and tested once:
//!
//! - [`offset`]: offset ranges, their ageing while the host clock drifts,
//!   and the conversion to a [`TimeInterval`](osb_sdk::TimeInterval);
//! - [`select`]: choosing a range several servers agree on while some of
//!   them may lie;
//! - [`clock`]: the host's clocks over one sample, catching a step of the
//!   wall clock in the middle of it;
//! - [`civil`]: proleptic Gregorian dates, for `Date` headers and RFC 3339.
//!
//! It is a library linked into plugins, not a plugin.

pub mod civil;
pub mod clock;
pub mod offset;
pub mod select;

pub use clock::{ClockStepped, SampleClock, Settled};
pub use offset::{Measurement, Nanos, OffsetRange, RepeatError};
pub use select::{Agreement, SelectError};
