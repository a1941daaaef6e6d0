//! The `time-source` kind: answers where the true time lies.

use crate::{Result, TimeInterval, Timestamp};
use export::bindings::exports::osb::plugin::time_source as wit;

/// A time source's answer: the interval and a line of detail for the
/// operator (server, stratum, file, ...).
pub use wit::TimeSample;

impl TimeSample {
    /// A sample of `interval` with `detail` for logs and `osb time`.
    pub fn new(interval: TimeInterval, detail: impl Into<String>) -> Self {
        TimeSample {
            interval,
            detail: detail.into(),
        }
    }
}

/// A source of time, such as NTP, an HTTP `Date` header, an RTC or a saved
/// last-known time.
///
/// A source answers an interval, never a bare instant: the host fuses the
/// intervals of all sources and owns the clock. Export an implementation
/// with `export_plugin!(TimeSource for MyType)`.
///
/// The value is created with [`Default`] on the first call into the
/// component and reused until the host discards the instance, so
/// [`Default::default`] is the place to read configuration.
pub trait TimeSource: Default + 'static {
    /// Where the true time lies now.
    ///
    /// Fail with [`ErrorCode::Unavailable`](crate::ErrorCode::Unavailable)
    /// when the source cannot answer now; the host asks again later.
    fn sample(&mut self) -> Result<TimeSample>;

    /// Told the runtime's fused good time, so the source can keep it (a
    /// fake hardware clock saves it). The default ignores it.
    fn observe(&mut self, now: Timestamp) -> Result<()> {
        let _ = now;
        Ok(())
    }

    /// Called on a new version before it replaces the running one: fail if
    /// this version cannot work here (bad configuration, missing grant). The
    /// default succeeds.
    fn self_check(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What `export_plugin!(TimeSource for T)` expands to use, reached as
/// `$crate::__private::time_source`. Not public API.
#[doc(hidden)]
pub mod export {
    use std::marker::PhantomData;

    use super::wit;
    use crate::__private::bindings::lifecycle::exports::osb::plugin::lifecycle;
    use crate::__private::instance;
    use crate::{PluginError, TimeSample, TimeSource, Timestamp};

    /// Export glue for `osb:plugin/time-source`.
    pub mod bindings {
        crate::__private::bindings::export_world!(
            "time-source",
            "$crate::__private::time_source::bindings"
        );
    }

    /// Exports a [`TimeSource`] as `lifecycle` + `time-source`: each method
    /// fetches the plugin value and forwards to the trait method.
    pub struct Adapter<T>(PhantomData<T>);

    impl<T: TimeSource> lifecycle::Guest for Adapter<T> {
        fn self_check() -> Result<(), PluginError> {
            instance::with(T::self_check)
        }
    }

    impl<T: TimeSource> wit::Guest for Adapter<T> {
        fn sample() -> Result<TimeSample, PluginError> {
            instance::with(T::sample)
        }

        fn observe(now: Timestamp) -> Result<(), PluginError> {
            instance::with(|plugin: &mut T| plugin.observe(now))
        }
    }
}
