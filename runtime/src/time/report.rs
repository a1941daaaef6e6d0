//! [`TimeReport`]: one round as people and scripts read it: each source's
//! answer, the fused estimate, the state and the clock. `osb time` prints
//! it; the daemon publishes it (see [`super::published`]).

use std::time::Duration;

use serde::Serialize;

use super::clock::ClockKind;
use super::fusion::{Agreement, Verdict};
use super::plausible::Plausible;
use super::tracker::Round;
use super::utc::UtcTime;

/// What `osb time` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeReport {
    /// Every source asked this round, answered or not, in the order asked.
    pub sources: Vec<SourceView>,
    /// `2 of 3 origins agree`, `no majority: ...`, `no vote: ...`,
    /// `no source answered`.
    pub agreement: String,
    /// The origins agreeing this round, sorted.
    pub origins: Vec<String>,
    /// From the runtime's build time to the end of the plausible span.
    pub plausible: Plausible,
    /// What the service believes after the round (in the daemon, combined
    /// with the estimate carried from earlier rounds).
    pub estimate: EstimateView,
    /// `unsynced`, `coarse` or `synced`: what blocks are gated on.
    pub state: &'static str,
    /// The clock backend and how far the estimate moves it.
    pub clock: ClockView,
}

/// One source's part in a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceView {
    /// The time-source plugin.
    pub name: String,
    /// Who vouches for it: its configured origin, the key that signed it,
    /// or its name.
    pub origin: String,
    /// As answered, carried to the round's instant; `None` when unbounded
    /// below or when it gave no answer.
    pub earliest: Option<UtcTime>,
    /// Likewise the upper end.
    pub latest: Option<UtcTime>,
    /// `latest - earliest` in milliseconds; `None` unless both are known.
    pub width_ms: Option<f64>,
    /// The plugin's free text (server, stratum, file, ...); `None` when it
    /// gave no answer.
    pub detail: Option<String>,
    /// Why it gave no answer; `None` when it answered.
    pub error: Option<String>,
    /// What the fusion made of it; `None` when it gave no answer.
    pub verdict: Option<Verdict>,
    /// Refused: outvoted (`false-ticker`) or `implausible`.
    pub rejected: bool,
    /// Clipped to the plausible range before it was used.
    pub clipped: bool,
}

/// Where the service believes the true time is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EstimateView {
    /// The lower end; `None` when unbounded below.
    pub earliest: Option<UtcTime>,
    /// The upper end; `None` when unbounded above (only lower bounds
    /// answered).
    pub latest: Option<UtcTime>,
    /// The midpoint; `None` when unbounded.
    pub time: Option<UtcTime>,
    /// Half the width; `None` when unbounded.
    pub error_bound_ms: Option<f64>,
    /// The origins vouching for it (carried between rounds in the daemon):
    /// what the state is capped by.
    pub origins: Vec<String>,
}

/// The clock the service owns, when the report was made.
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

/// The agreement as `osb time` words it.
pub fn agreement_text(agreement: &Agreement) -> String {
    match agreement {
        Agreement::Agreed { origins, voting } => {
            format!("{} of {voting} origins agree", origins.len())
        }
        Agreement::NoMajority { agreeing, voting } => format!(
            "no majority: at most {agreeing} of {voting} origins agree; only the bounds fused"
        ),
        Agreement::NoVote => {
            "no vote: no plausible bounded answer; only the bounds fused".to_owned()
        }
        Agreement::NoAnswer => "no source answered".to_owned(),
    }
}

impl TimeReport {
    /// The report of `round`. `backend` is the configured one; `offset_nanos`
    /// is how far the estimate moves the clock from the system time (see
    /// [`ClockView::offset_ms`]).
    pub fn new(
        round: &Round,
        plausible: Plausible,
        backend: ClockKind,
        offset_nanos: i128,
    ) -> TimeReport {
        let origins = match &round.agreement {
            Agreement::Agreed { origins, .. } => origins.clone(),
            _ => Vec::new(),
        };
        let e = round.estimate;
        TimeReport {
            sources: round
                .sources
                .iter()
                .map(|s| SourceView {
                    name: s.name.to_string(),
                    origin: s.origin.clone(),
                    earliest: s.interval.and_then(|i| i.earliest()),
                    latest: s.interval.and_then(|i| i.latest()),
                    width_ms: s.interval.and_then(|i| i.width()).map(ms),
                    detail: s.detail.clone(),
                    error: s.error.clone(),
                    verdict: s.verdict,
                    rejected: s.rejected(),
                    clipped: s.clipped,
                })
                .collect(),
            agreement: agreement_text(&round.agreement),
            origins,
            plausible,
            estimate: EstimateView {
                earliest: e.earliest(),
                latest: e.latest(),
                time: e.midpoint(),
                error_bound_ms: e.error_bound().map(ms),
                origins: round.support.iter().cloned().collect(),
            },
            state: round.status.as_str(),
            clock: ClockView {
                backend: backend.as_str(),
                system: UtcTime::now_system(),
                offset_ms: offset_nanos as f64 / 1e6,
            },
        }
    }
}
