//! `osb-test-call-shapes`: a component for the call benchmark, not a
//! plugin (no `plugin.toml`, no `osb:plugin` world). It exports `ticks`, a
//! bare `u64`, beside `sample`, a result shaped like a time source's, so
//! that one benchmark can call both on the plugin host's engine and say
//! what the return shape costs apart from what the host's call path costs
//! (BENCHMARKS.md, section 11).
//!
//! `sample` answers what `osb-test-probe` answers in `const` mode, without
//! the SDK's per-call plugin lookup: the difference to the probe's call is
//! the host's path, not the guest's work.

use std::sync::atomic::{AtomicU64, Ordering};

use exports::osb_bench::shapes::calls::{Guest, PluginError, TimeInterval, TimeSample, Timestamp};

wit_bindgen::generate!({
    path: "wit",
    world: "shapes",
});

/// The instant `sample` answers, the probe's: 2023-11-14T22:13:20Z.
const INSTANT: Timestamp = Timestamp {
    seconds: 1_700_000_000,
    nanoseconds: 0,
};

/// `ticks`' counter. An instance runs one call at a time; the atomic only
/// spares an `unsafe` static.
static TICKS: AtomicU64 = AtomicU64::new(0);

struct Shapes;

impl Guest for Shapes {
    fn ticks() -> u64 {
        TICKS.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn sample() -> Result<TimeSample, PluginError> {
        Ok(TimeSample {
            interval: TimeInterval {
                earliest: Some(INSTANT),
                latest: Some(INSTANT),
            },
            detail: String::new(),
        })
    }
}

export!(Shapes);
