//! [`TimeReport`]: one round as people and scripts read it: each source's
//! answer, the fused estimate, the state and the clock. `osb time` prints
//! it; the daemon publishes it (see [`super::published`]).

use std::time::Duration;

use serde::Serialize;

use super::clock::ClockKind;
use super::marzullo::NoAgreement;
use super::tracker::Round;
use super::utc::UtcTime;

/// What `osb time` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeReport {
    pub sources: Vec<SourceView>,
    /// `3 of 4 sources agree`, `no majority: ...`, `no source answered`.
    pub agreement: String,
    pub estimate: Option<EstimateView>,
    pub state: &'static str,
    pub clock: ClockView,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    pub name: String,
    pub earliest: Option<UtcTime>,
    pub latest: Option<UtcTime>,
    pub width_ms: Option<f64>,
    pub detail: Option<String>,
    pub error: Option<String>,
    pub rejected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateView {
    pub earliest: Option<UtcTime>,
    pub latest: Option<UtcTime>,
    /// The midpoint; `None` when unbounded.
    pub time: Option<UtcTime>,
    /// Half the width; `None` when unbounded.
    pub error_bound_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockView {
    /// The configured backend.
    pub backend: &'static str,
    /// The system clock when the report was made.
    pub system: UtcTime,
    /// How far the estimate moves the clock (for `system`: the step the
    /// daemon would make), in milliseconds.
    pub offset_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl TimeReport {
    pub fn new(round: &Round, backend: ClockKind, offset_nanos: i128) -> TimeReport {
        let agreement = match round.agreement {
            Ok((agreeing, answered)) => format!("{agreeing} of {answered} sources agree"),
            Err(NoAgreement::NoMajority { agreeing, answered }) => format!(
                "no majority: at most {agreeing} of {answered} sources agree; nothing fused"
            ),
            Err(NoAgreement::NoAnswer) => "no source answered".to_owned(),
        };
        TimeReport {
            sources: round
                .sources
                .iter()
                .map(|s| SourceView {
                    name: s.name.to_string(),
                    earliest: s.interval.and_then(|i| i.earliest()),
                    latest: s.interval.and_then(|i| i.latest()),
                    width_ms: s.interval.and_then(|i| i.width()).map(ms),
                    detail: s.detail.clone(),
                    error: s.error.clone(),
                    rejected: s.rejected,
                })
                .collect(),
            agreement,
            estimate: round.estimate.map(|e| EstimateView {
                earliest: e.earliest(),
                latest: e.latest(),
                time: e.midpoint(),
                error_bound_ms: e.error_bound().map(ms),
            }),
            state: round.status.as_str(),
            clock: ClockView {
                backend: backend.as_str(),
                system: UtcTime::now_system(),
                offset_ms: offset_nanos as f64 / 1e6,
            },
        }
    }
}
