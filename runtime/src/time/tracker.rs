//! What the service believes between rounds, with no IO: the samples of a
//! round in, the fused interval, the carried estimate and the state out.
//!
//! - A sample holds when its call returned: the interval the plugin gave,
//!   its upper end widened by the call's duration (the plugin read its
//!   source somewhere during the call).
//! - Intervals are carried forward on the boot-time clock ([`Mono`]): an
//!   interval true at `t0` is, at `t0 + dt`, `[a + dt, b + dt]` widened by
//!   the drift allowance on each side.
//! - A round's fusion is combined with the estimate carried from before:
//!   if both hold points in common, the true time is in their common part
//!   (both are honest bounds), so an NTP-synced estimate is not lost to a
//!   round where only a lower bound answered. If they share nothing, the
//!   sources agreeing now outvote the memory, and a conflict is reported.
//! - A round with no fusion (no answer, no majority) keeps the carried
//!   estimate. Its state is recomputed from its aged width: it stays
//!   `synced` only while the drift allowance keeps it within the threshold,
//!   which is what the clock can honestly claim; then `coarse`, then
//!   `unsynced` with its lower bound still kept (the clock is never moved
//!   below it, and the sources are told it).

use std::time::Duration;

use super::interval::Interval;
use super::marzullo::{self, NoAgreement};
use super::mono::Mono;
use super::sources::SourceError;
use super::status::Thresholds;
use crate::block::TimeStatus;
use crate::plugin::PluginName;

/// One source's answer, valid at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Already widened by `call`.
    pub interval: Interval,
    /// When the call returned.
    pub at: Mono,
    pub detail: String,
    /// How long the call took.
    pub call: Duration,
}

/// What one source did in a round.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    pub name: PluginName,
    pub result: Result<Sample, SourceError>,
}

/// One source, as a round used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub name: PluginName,
    /// The interval as fused: carried to the round's instant.
    pub interval: Option<Interval>,
    pub detail: Option<String>,
    pub error: Option<String>,
    pub call: Option<Duration>,
    /// Outvoted as a false ticker.
    pub rejected: bool,
}

/// How the round's fusion met the carried estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Nothing was carried: the fusion is the estimate.
    Fresh,
    /// The estimate is the common part of the fusion and the carried one.
    Combined,
    /// They share nothing; the fusion replaced the carried estimate.
    Replaced,
    /// No fusion this round; the carried estimate stays (if any).
    Kept,
}

/// A round's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub at: Mono,
    pub sources: Vec<SourceReport>,
    /// This round's agreement (`Ok((agreeing, answered))`), or why none.
    pub agreement: Result<(usize, usize), NoAgreement>,
    /// This round's fused interval alone.
    pub fused: Option<Interval>,
    pub carry: Carry,
    /// What the service believes now.
    pub estimate: Option<Interval>,
    pub status: TimeStatus,
}

impl Round {
    /// The names of the sources outvoted this round.
    pub fn rejected(&self) -> Vec<&PluginName> {
        self.sources
            .iter()
            .filter(|s| s.rejected)
            .map(|s| &s.name)
            .collect()
    }
}

/// The estimate and the rules to carry it.
#[derive(Debug, Clone)]
pub struct Tracker {
    thresholds: Thresholds,
    drift_ppm: u32,
    /// The last estimate, true at the given instant.
    estimate: Option<(Interval, Mono)>,
}

impl Tracker {
    pub fn new(thresholds: Thresholds, drift_ppm: u32) -> Tracker {
        Tracker {
            thresholds,
            drift_ppm,
            estimate: None,
        }
    }

    /// The estimate carried to `now`.
    pub fn estimate(&self, now: Mono) -> Option<Interval> {
        self.estimate
            .map(|(i, at)| i.aged(now.since(at), self.drift_ppm))
    }

    /// The state of the estimate carried to `now`.
    pub fn status(&self, now: Mono) -> TimeStatus {
        self.thresholds.classify(self.estimate(now).as_ref())
    }

    /// Fuses a round's samples, carried to `now`, and updates the estimate.
    pub fn update(&mut self, outcomes: Vec<SourceOutcome>, now: Mono) -> Round {
        let mut sources: Vec<SourceReport> = Vec::with_capacity(outcomes.len());
        let mut answered: Vec<(usize, Interval)> = Vec::new();
        for o in outcomes {
            let report = match o.result {
                Ok(sample) => {
                    let interval = sample.interval.aged(now.since(sample.at), self.drift_ppm);
                    answered.push((sources.len(), interval));
                    SourceReport {
                        name: o.name,
                        interval: Some(interval),
                        detail: Some(sample.detail),
                        error: None,
                        call: Some(sample.call),
                        rejected: false,
                    }
                }
                Err(e) => SourceReport {
                    name: o.name,
                    interval: None,
                    detail: None,
                    error: Some(e.to_string()),
                    call: None,
                    rejected: false,
                },
            };
            sources.push(report);
        }
        let intervals: Vec<Interval> = answered.iter().map(|(_, i)| *i).collect();
        let agreement = marzullo::fuse(&intervals);
        let fused = match &agreement {
            Ok(a) => {
                for ((index, _), rejected) in answered.iter().zip(&a.rejected) {
                    if let Some(s) = sources.get_mut(*index) {
                        s.rejected = *rejected;
                    }
                }
                Some(a.interval)
            }
            Err(_) => None,
        };
        let (estimate, carry) = combine(self.estimate(now), fused);
        if let Some(e) = estimate {
            self.estimate = Some((e, now));
        }
        Round {
            at: now,
            sources,
            agreement: agreement.map(|a| (a.agreeing, a.answered)),
            fused,
            carry,
            estimate,
            status: self.thresholds.classify(estimate.as_ref()),
        }
    }
}

/// The new estimate from the carried one and this round's fusion.
pub fn combine(carried: Option<Interval>, fused: Option<Interval>) -> (Option<Interval>, Carry) {
    match (carried, fused) {
        (None, None) => (None, Carry::Kept),
        (Some(c), None) => (Some(c), Carry::Kept),
        (None, Some(f)) => (Some(f), Carry::Fresh),
        (Some(c), Some(f)) => match c.intersect(&f) {
            Some(both) => (Some(both), Carry::Combined),
            None => (Some(f), Carry::Replaced),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::CallError;
    use crate::time::utc::UtcTime;

    const S: i128 = 1_000_000_000;
    const MS: i128 = 1_000_000;

    fn t_ms(ms: i128) -> UtcTime {
        UtcTime::from_unix_nanos(1_700_000_000 * S + ms * MS)
    }

    fn iv(a: i128, b: i128) -> Interval {
        Interval::between(t_ms(a), t_ms(b))
    }

    fn mono(secs: u64) -> Mono {
        Mono::from_duration(Duration::from_secs(secs))
    }

    fn name(n: &str) -> PluginName {
        PluginName::new(n).unwrap()
    }

    fn ok(n: &str, interval: Interval, at: Mono) -> SourceOutcome {
        SourceOutcome {
            name: name(n),
            result: Ok(Sample {
                interval,
                at,
                detail: format!("{n} detail"),
                call: Duration::from_millis(1),
            }),
        }
    }

    fn failed(n: &str) -> SourceOutcome {
        SourceOutcome {
            name: name(n),
            result: Err(SourceError::Call(CallError::NotLoaded(n.to_owned()))),
        }
    }

    fn tracker(drift_ppm: u32) -> Tracker {
        Tracker::new(
            Thresholds {
                synced_max_error: Duration::from_millis(250),
                coarse_max_error: Duration::from_secs(60),
            },
            drift_ppm,
        )
    }

    #[test]
    fn combining_with_the_carried_estimate() {
        let cases = [
            (None, None, None, Carry::Kept),
            (Some(iv(0, 100)), None, Some(iv(0, 100)), Carry::Kept),
            (None, Some(iv(0, 100)), Some(iv(0, 100)), Carry::Fresh),
            (
                Some(iv(0, 100)),
                Some(iv(50, 500)),
                Some(iv(50, 100)),
                Carry::Combined,
            ),
            (
                Some(iv(0, 100)),
                Some(Interval::at_least(t_ms(-5000))),
                Some(iv(0, 100)),
                Carry::Combined,
            ),
            (
                Some(iv(0, 100)),
                Some(iv(200, 300)),
                Some(iv(200, 300)),
                Carry::Replaced,
            ),
        ];
        for (carried, fused, expect, carry) in cases {
            assert_eq!(
                combine(carried, fused),
                (expect, carry),
                "{carried:?} + {fused:?}"
            );
        }
    }

    #[test]
    fn a_liar_is_named_and_the_honest_agree() {
        let mut tr = tracker(0);
        let now = mono(100);
        let hours = 3 * 3600 * 1000;
        let round = tr.update(
            vec![
                ok("time-ntp", iv(-40, 60), now),
                ok("time-liar", iv(hours, hours + 100), now),
                ok("time-https", iv(-500, 600), now),
                ok(
                    "time-fake-hwclock",
                    Interval::at_least(t_ms(-86_400_000)),
                    now,
                ),
                failed("time-rtc"),
            ],
            now,
        );
        assert_eq!(round.agreement, Ok((3, 4)));
        assert_eq!(round.rejected(), vec![&name("time-liar")]);
        assert_eq!(round.estimate, Some(iv(-40, 60)));
        assert_eq!(round.status, TimeStatus::Synced);
        let rtc = &round.sources[4];
        assert!(
            rtc.error
                .as_deref()
                .is_some_and(|e| e.contains("not loaded"))
        );
        assert!(!rtc.rejected);
    }

    #[test]
    fn samples_are_carried_to_the_round_instant() {
        let mut tr = tracker(0);
        // Sampled 2 s before the round: it moves 2 s forward.
        let round = tr.update(vec![ok("a", iv(0, 100), mono(8))], mono(10));
        assert_eq!(round.estimate, Some(iv(2000, 2100)));
    }

    #[test]
    fn with_no_answer_the_aged_estimate_decides_the_state() {
        let mut tr = tracker(100);
        let round = tr.update(vec![ok("ntp", iv(-50, 50), mono(0))], mono(0));
        assert_eq!(round.status, TimeStatus::Synced);
        // 100 ppm widens each side by 0.1 ms per second: after 2000 s the
        // error bound is 50 + 200 = 250 ms, still synced; after 2001 s not.
        let (status, estimate) = {
            let r = tr.update(vec![failed("ntp")], mono(2000));
            (r.status, r.estimate)
        };
        assert_eq!(status, TimeStatus::Synced);
        assert_eq!(estimate, Some(iv(2_000_000 - 250, 2_000_000 + 250)));
        assert_eq!(tr.status(mono(2001)), TimeStatus::Coarse);
        // Coarse until the bound passes 60 s: about a week at 100 ppm.
        assert_eq!(tr.status(mono(599_000)), TimeStatus::Coarse);
        assert_eq!(tr.status(mono(601_000)), TimeStatus::Unsynced);
        // Unsynced, but the lower bound is still known and still moves on.
        let later = tr.estimate(mono(700_000)).unwrap();
        assert!(later.earliest().unwrap() > t_ms(699_000_000));
    }

    #[test]
    fn no_majority_keeps_the_previous_estimate() {
        let mut tr = tracker(0);
        tr.update(vec![ok("a", iv(0, 100), mono(0))], mono(0));
        let round = tr.update(
            vec![
                ok("a", iv(1000, 1100), mono(1)),
                ok("b", iv(90_000, 90_100), mono(1)),
            ],
            mono(1),
        );
        assert_eq!(
            round.agreement,
            Err(NoAgreement::NoMajority {
                agreeing: 1,
                answered: 2
            })
        );
        assert_eq!(round.carry, Carry::Kept);
        assert_eq!(round.estimate, Some(iv(1000, 1100)));
        assert!(round.rejected().is_empty());
    }

    #[test]
    fn a_floor_alone_does_not_lose_a_synced_estimate() {
        let mut tr = tracker(0);
        tr.update(vec![ok("ntp", iv(-10, 10), mono(0))], mono(0));
        let round = tr.update(
            vec![
                failed("ntp"),
                ok("hwclock", Interval::at_least(t_ms(-60_000)), mono(5)),
            ],
            mono(5),
        );
        assert_eq!(round.fused, Some(Interval::at_least(t_ms(-60_000))));
        assert_eq!(round.carry, Carry::Combined);
        assert_eq!(round.estimate, Some(iv(4990, 5010)));
        assert_eq!(round.status, TimeStatus::Synced);
    }

    #[test]
    fn lower_bounds_alone_are_unsynced_but_kept() {
        let mut tr = tracker(0);
        let round = tr.update(
            vec![
                ok("hwclock", Interval::at_least(t_ms(0)), mono(0)),
                ok("build-floor", Interval::at_least(t_ms(-1_000_000)), mono(0)),
            ],
            mono(0),
        );
        assert_eq!(round.status, TimeStatus::Unsynced);
        assert_eq!(round.estimate, Some(Interval::at_least(t_ms(0))));
        assert_eq!(
            tr.estimate(mono(10)),
            Some(Interval::at_least(t_ms(10_000)))
        );
    }
}
