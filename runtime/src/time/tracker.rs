//! What the service believes between rounds, with no IO: the samples of a
//! round in, the fused interval, the carried estimate and the state out.
//!
//! - A sample holds when its call returned: the interval the plugin gave,
//!   its upper end widened by the call's duration (the plugin read its
//!   source somewhere during the call).
//! - Intervals are carried forward on the boot-time clock ([`Mono`]): an
//!   interval true at `t0` is, at `t0 + dt`, `[a + dt, b + dt]` widened by
//!   the drift allowance on each side.
//! - A round is fused by [`fusion::fuse`] (plausible range, bounded votes
//!   counted per origin, bounds), and its fusion is combined with the
//!   estimate carried from before. If both hold points in common, the true
//!   time is in their common part (both are honest bounds), vouched for by
//!   the origins of both: an estimate synced by NTP and HTTPS is not lost
//!   to a round where only a lower bound answered. If they share nothing,
//!   the one vouched for by `synced_min_origins` origins wins, the fusion
//!   first (the sources agreeing now outvote the memory); when neither is,
//!   neither can be told from a liar and the estimate is the hull of both,
//!   vouched for by nobody.
//! - The state is the estimate's by its error bound, but `synced` only
//!   when at least `synced_min_origins` origins vouch for it, and
//!   `unsynced` when none does. Carried without answers, it is recomputed
//!   from its aged width: it stays `synced` only while the drift allowance
//!   keeps it within the threshold, which is what the clock can honestly
//!   claim; then `coarse`, then `unsynced` with its lower bound still kept
//!   (the clock is never moved below it).

use std::collections::BTreeSet;
use std::time::Duration;

use super::fusion::{self, Agreement, Answer, Verdict};
use super::interval::Interval;
use super::mono::Mono;
use super::plausible::Plausible;
use super::sources::SourceError;
use super::status::Thresholds;
use osb_plugin_host::PluginName;
use osb_state::TimeStatus;

/// One source's answer, valid at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Already widened by `call`.
    pub interval: Interval,
    /// When the call returned.
    pub at: Mono,
    /// The plugin's free text (server, stratum, file, ...).
    pub detail: String,
    /// How long the call took.
    pub call: Duration,
}

/// What one source did in a round.
#[derive(Debug, Clone)]
pub struct SourceOutcome {
    /// The time-source plugin.
    pub name: PluginName,
    /// Who vouches for it (see [`fusion::Answer::origin`]).
    pub origin: String,
    /// Its answer, or why it gave none.
    pub result: Result<Sample, SourceError>,
}

/// One source, as a round used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// The time-source plugin.
    pub name: PluginName,
    /// Who vouches for it (see [`fusion::Answer::origin`]).
    pub origin: String,
    /// The interval as answered, carried to the round's instant.
    pub interval: Option<Interval>,
    /// The plugin's free text; `None` when it gave no answer.
    pub detail: Option<String>,
    /// Why it gave no answer; `None` when it answered.
    pub error: Option<String>,
    /// How long the call took; `None` when it gave no answer.
    pub call: Option<Duration>,
    /// What the fusion made of it; `None` when it gave no answer.
    pub verdict: Option<Verdict>,
    /// Clipped to the plausible range before it was used.
    pub clipped: bool,
}

impl SourceReport {
    /// Refused by the fusion: outvoted or implausible.
    pub fn rejected(&self) -> bool {
        self.verdict.is_some_and(Verdict::rejected)
    }
}

/// How the round's fusion met the carried estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Nothing was carried: the fusion is the estimate.
    Fresh,
    /// The estimate is the common part of the fusion and the carried one.
    Combined,
    /// They share nothing; the fusion, vouched for by enough origins,
    /// replaced the carried estimate.
    Replaced,
    /// They share nothing; the carried estimate, vouched for by enough
    /// origins, was kept against a fusion that is not.
    Held,
    /// They share nothing and neither is vouched for by enough origins:
    /// the estimate is the hull of both.
    Spanned,
}

/// A round's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The instant every answer was carried to.
    pub at: Mono,
    /// Every source asked, in the order given.
    pub sources: Vec<SourceReport>,
    /// How this round's votes came out.
    pub agreement: Agreement,
    /// This round's fused interval alone.
    pub fused: Interval,
    /// How the fusion met the estimate carried from earlier rounds.
    pub carry: Carry,
    /// What the service believes now.
    pub estimate: Interval,
    /// The origins vouching for the estimate.
    pub support: BTreeSet<String>,
    /// The state of `estimate`, capped by the number of its `support`.
    pub status: TimeStatus,
}

impl Round {
    /// The names of the sources whose answer got `verdict` this round.
    pub fn judged(&self, verdict: Verdict) -> Vec<&PluginName> {
        self.sources
            .iter()
            .filter(|s| s.verdict == Some(verdict))
            .map(|s| &s.name)
            .collect()
    }

    /// The names of the sources refused this round (outvoted or
    /// implausible).
    pub fn rejected(&self) -> Vec<&PluginName> {
        self.sources
            .iter()
            .filter(|s| s.rejected())
            .map(|s| &s.name)
            .collect()
    }
}

/// How rounds are fused and judged: from the `[time]` settings and the
/// runtime's build time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The error bounds of `synced` and `coarse`.
    pub thresholds: Thresholds,
    /// How far the boot-time clock may run off, in parts per million:
    /// carried intervals widen by this much of the elapsed time.
    pub drift_ppm: u32,
    /// How many origins must vouch for an estimate for it to be `synced`
    /// (and to outvote a contradicting bound or memory).
    pub synced_min_origins: usize,
    /// The range an answer must meet to be believed.
    pub plausible: Plausible,
}

impl Rules {
    /// The state of `interval` vouched for by `support`: by its error
    /// bound, but `synced` only with enough origins, and `unsynced` with
    /// none (then no bounded answer stands behind it).
    pub fn status(&self, interval: &Interval, support: &BTreeSet<String>) -> TimeStatus {
        let by_width = self.thresholds.classify(Some(interval));
        match support.len() {
            0 => TimeStatus::Unsynced,
            n if n < self.synced_min_origins => by_width.min(TimeStatus::Coarse),
            _ => by_width,
        }
    }
}

/// An interval and the origins vouching for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// Where the true time is.
    pub interval: Interval,
    /// The origins vouching for it; empty when nobody does (a hull across
    /// a contradiction, or bounds only).
    pub support: BTreeSet<String>,
}

/// The estimate and the rules to carry it.
#[derive(Debug, Clone)]
pub struct Tracker {
    rules: Rules,
    /// The last estimate, true at the given instant.
    estimate: Option<(Vouched, Mono)>,
}

impl Tracker {
    /// A tracker with no estimate yet: `unsynced` until a round.
    pub fn new(rules: Rules) -> Tracker {
        Tracker {
            rules,
            estimate: None,
        }
    }

    /// The rules it fuses and judges by.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The estimate carried to `now`.
    pub fn estimate(&self, now: Mono) -> Option<Interval> {
        self.carried(now).map(|v| v.interval)
    }

    fn carried(&self, now: Mono) -> Option<Vouched> {
        self.estimate.as_ref().map(|(v, at)| Vouched {
            interval: v.interval.aged(now.since(*at), self.rules.drift_ppm),
            support: v.support.clone(),
        })
    }

    /// The state of the estimate carried to `now`.
    pub fn status(&self, now: Mono) -> TimeStatus {
        match self.carried(now) {
            Some(v) => self.rules.status(&v.interval, &v.support),
            None => TimeStatus::Unsynced,
        }
    }

    /// Fuses a round's samples, carried to `now`, and updates the estimate.
    pub fn update(&mut self, outcomes: Vec<SourceOutcome>, now: Mono) -> Round {
        let mut sources: Vec<SourceReport> = Vec::with_capacity(outcomes.len());
        for o in outcomes {
            let report = match o.result {
                Ok(sample) => SourceReport {
                    name: o.name,
                    origin: o.origin,
                    interval: Some(
                        sample
                            .interval
                            .aged(now.since(sample.at), self.rules.drift_ppm),
                    ),
                    detail: Some(sample.detail),
                    error: None,
                    call: Some(sample.call),
                    verdict: None,
                    clipped: false,
                },
                Err(e) => SourceReport {
                    name: o.name,
                    origin: o.origin,
                    interval: None,
                    detail: None,
                    error: Some(e.to_string()),
                    call: None,
                    verdict: None,
                    clipped: false,
                },
            };
            sources.push(report);
        }
        let answered: Vec<usize> = (0..sources.len())
            .filter(|i| sources.get(*i).is_some_and(|s| s.interval.is_some()))
            .collect();
        let fusion = {
            let answers: Vec<Answer<'_>> = sources
                .iter()
                .filter_map(|s| {
                    s.interval.map(|interval| Answer {
                        origin: &s.origin,
                        interval,
                    })
                })
                .collect();
            fusion::fuse(
                &answers,
                &self.rules.plausible,
                self.rules.synced_min_origins,
            )
        };
        for ((index, verdict), clipped) in
            answered.iter().zip(&fusion.verdicts).zip(&fusion.clipped)
        {
            if let Some(s) = sources.get_mut(*index) {
                s.verdict = Some(*verdict);
                s.clipped = *clipped;
            }
        }
        let fused = Vouched {
            interval: fusion.interval,
            support: fusion.support,
        };
        let (estimate, carry) = combine(self.carried(now), fused, self.rules.synced_min_origins);
        let status = self.rules.status(&estimate.interval, &estimate.support);
        self.estimate = Some((estimate.clone(), now));
        Round {
            at: now,
            sources,
            agreement: fusion.agreement,
            fused: fusion.interval,
            carry,
            estimate: estimate.interval,
            support: estimate.support,
            status,
        }
    }
}

/// The new estimate from the carried one and this round's fusion, under
/// the rules in the module's documentation.
pub fn combine(carried: Option<Vouched>, fused: Vouched, min_origins: usize) -> (Vouched, Carry) {
    let Some(carried) = carried else {
        return (fused, Carry::Fresh);
    };
    if let Some(both) = carried.interval.intersect(&fused.interval) {
        let mut support = carried.support;
        support.extend(fused.support);
        return (
            Vouched {
                interval: both,
                support,
            },
            Carry::Combined,
        );
    }
    let enough = |v: &Vouched| v.support.len() >= min_origins.max(1);
    if enough(&fused) {
        (fused, Carry::Replaced)
    } else if enough(&carried) {
        (carried, Carry::Held)
    } else {
        (
            Vouched {
                interval: carried.interval.hull(&fused.interval),
                support: BTreeSet::new(),
            },
            Carry::Spanned,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::utc::UtcTime;
    use osb_plugin_host::CallError;

    const S: i128 = 1_000_000_000;
    const MS: i128 = 1_000_000;
    const DAY_MS: i128 = 86_400_000;

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

    /// A source whose origin is its name.
    fn ok(n: &str, interval: Interval, at: Mono) -> SourceOutcome {
        SourceOutcome {
            name: name(n),
            origin: n.to_owned(),
            result: Ok(Sample {
                interval,
                at,
                detail: format!("{n} detail"),
                call: Duration::from_millis(1),
            }),
        }
    }

    fn of(origin: &str, mut outcome: SourceOutcome) -> SourceOutcome {
        outcome.origin = origin.to_owned();
        outcome
    }

    fn failed(n: &str) -> SourceOutcome {
        SourceOutcome {
            name: name(n),
            origin: n.to_owned(),
            result: Err(SourceError::Call(CallError::NotLoaded(n.to_owned()))),
        }
    }

    /// Built a day before the tests' instant, plausible for 20 years.
    fn rules(drift_ppm: u32) -> Rules {
        Rules {
            thresholds: Thresholds {
                synced_max_error: Duration::from_millis(250),
                coarse_max_error: Duration::from_secs(60),
            },
            drift_ppm,
            synced_min_origins: 2,
            plausible: Plausible::new(t_ms(-DAY_MS), Duration::from_secs(20 * 365 * 86_400)),
        }
    }

    fn tracker(drift_ppm: u32) -> Tracker {
        Tracker::new(rules(drift_ppm))
    }

    /// A tracker synced at `mono(0)` on `[-10, 10]` ms by two origins.
    fn synced_by_ntp_and_https() -> Tracker {
        let mut tr = tracker(0);
        tr.update(
            vec![
                ok("ntp", iv(-10, 10), mono(0)),
                ok("https", iv(-500, 500), mono(0)),
            ],
            mono(0),
        );
        tr
    }

    fn by(origins: &[&str]) -> BTreeSet<String> {
        origins.iter().map(|o| (*o).to_owned()).collect()
    }

    fn vouched(interval: Interval, origins: &[&str]) -> Vouched {
        Vouched {
            interval,
            support: by(origins),
        }
    }

    #[test]
    fn the_state_needs_enough_origins() {
        let r = rules(0);
        let narrow = iv(-10, 10);
        let wide = iv(-5000, 5000);
        // (interval, vouching origins, state)
        let cases = [
            (narrow, by(&["ntp", "https"]), TimeStatus::Synced),
            (narrow, by(&["ntp", "https", "gps"]), TimeStatus::Synced),
            (narrow, by(&["ntp"]), TimeStatus::Coarse),
            (wide, by(&["ntp", "https"]), TimeStatus::Coarse),
            (wide, by(&["ntp"]), TimeStatus::Coarse),
            (iv(0, 200_000), by(&["ntp", "https"]), TimeStatus::Unsynced),
            (iv(0, 200_000), by(&["ntp"]), TimeStatus::Unsynced),
            // Bounded by bounds alone, nobody vouching: nothing agreed.
            (narrow, by(&[]), TimeStatus::Unsynced),
            (
                Interval::at_least(t_ms(0)),
                by(&["ntp", "https"]),
                TimeStatus::Unsynced,
            ),
        ];
        for (interval, support, expect) in cases {
            assert_eq!(
                r.status(&interval, &support),
                expect,
                "{interval:?} by {support:?}"
            );
        }
        let one = Rules {
            synced_min_origins: 1,
            ..r
        };
        assert_eq!(one.status(&narrow, &by(&["ntp"])), TimeStatus::Synced);
    }

    #[test]
    fn combining_with_the_carried_estimate() {
        let floor = Interval::at_least(t_ms(-5000));
        // (carried, fused, estimate, carry)
        let cases = [
            (
                None,
                vouched(iv(0, 100), &["a"]),
                vouched(iv(0, 100), &["a"]),
                Carry::Fresh,
            ),
            (
                Some(vouched(iv(0, 100), &["a", "b"])),
                vouched(iv(50, 500), &["c"]),
                vouched(iv(50, 100), &["a", "b", "c"]),
                Carry::Combined,
            ),
            (
                Some(vouched(iv(0, 100), &["a", "b"])),
                vouched(floor, &[]),
                vouched(iv(0, 100), &["a", "b"]),
                Carry::Combined,
            ),
            // Disjoint: two origins now outvote the memory.
            (
                Some(vouched(iv(0, 100), &["a", "b"])),
                vouched(iv(200, 300), &["c", "d"]),
                vouched(iv(200, 300), &["c", "d"]),
                Carry::Replaced,
            ),
            // One origin does not overturn what two agreed.
            (
                Some(vouched(iv(0, 100), &["a", "b"])),
                vouched(iv(200, 300), &["c"]),
                vouched(iv(0, 100), &["a", "b"]),
                Carry::Held,
            ),
            // Nor does a lower bound ahead of it.
            (
                Some(vouched(iv(0, 100), &["a", "b"])),
                vouched(Interval::at_least(t_ms(5000)), &[]),
                vouched(iv(0, 100), &["a", "b"]),
                Carry::Held,
            ),
            // One against one: neither can be told from a liar.
            (
                Some(vouched(iv(0, 100), &["a"])),
                vouched(iv(200, 300), &["c"]),
                vouched(iv(0, 300), &[]),
                Carry::Spanned,
            ),
            (
                Some(vouched(iv(0, 100), &["a"])),
                vouched(Interval::at_least(t_ms(5000)), &[]),
                vouched(Interval::at_least(t_ms(0)), &[]),
                Carry::Spanned,
            ),
        ];
        for (carried, fused, expect, carry) in cases {
            let shown = format!("{carried:?} + {fused:?}");
            assert_eq!(combine(carried, fused, 2), (expect, carry), "{shown}");
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
        assert_eq!(
            round.agreement,
            Agreement::Agreed {
                origins: vec!["time-https".to_owned(), "time-ntp".to_owned()],
                voting: 3
            }
        );
        assert_eq!(round.rejected(), vec![&name("time-liar")]);
        assert_eq!(
            round.judged(Verdict::Bound),
            vec![&name("time-fake-hwclock")]
        );
        assert_eq!(round.estimate, iv(-40, 60));
        assert_eq!(round.support, by(&["time-https", "time-ntp"]));
        assert_eq!(round.status, TimeStatus::Synced);
        let rtc = &round.sources[4];
        assert!(
            rtc.error
                .as_deref()
                .is_some_and(|e| e.contains("not loaded"))
        );
        assert_eq!(rtc.verdict, None);
    }

    #[test]
    fn lower_bounds_and_a_narrow_liar_in_9999_do_not_sync() {
        let mut tr = tracker(0);
        let now = mono(0);
        let y9999 = 253_402_300_799_000 - 1_700_000_000_000;
        let round = tr.update(
            vec![
                ok(
                    "time-build-floor",
                    Interval::at_least(t_ms(-DAY_MS / 2)),
                    now,
                ),
                ok("time-fake-hwclock", Interval::at_least(t_ms(0)), now),
                ok("liar", iv(y9999, y9999 + 10), now),
            ],
            now,
        );
        assert_eq!(round.agreement, Agreement::NoVote);
        assert_eq!(round.judged(Verdict::Implausible), vec![&name("liar")]);
        assert_eq!(round.estimate, Interval::at_least(t_ms(0)));
        assert_eq!(round.status, TimeStatus::Unsynced);
        // Within the range, the same liar is one origin: at most coarse,
        // however narrow.
        let ahead = 365 * DAY_MS;
        let round = tr.update(
            vec![
                ok("time-fake-hwclock", Interval::at_least(t_ms(0)), now),
                ok("liar", iv(ahead, ahead + 10), now),
            ],
            now,
        );
        assert_eq!(round.estimate, iv(ahead, ahead + 10));
        assert_eq!(round.status, TimeStatus::Coarse);
    }

    #[test]
    fn two_sources_of_one_origin_do_not_outvote_an_honest_one() {
        let mut tr = tracker(0);
        let now = mono(0);
        let hour = 3_600_000;
        let round = tr.update(
            vec![
                of("ed25519:vendor", ok("liar-a", iv(hour, hour + 10), now)),
                of("ed25519:vendor", ok("liar-b", iv(hour, hour + 20), now)),
                ok("time-ntp", iv(-50, 50), now),
            ],
            now,
        );
        assert_eq!(
            round.agreement,
            Agreement::NoMajority {
                agreeing: 1,
                voting: 2
            }
        );
        assert_eq!(round.status, TimeStatus::Unsynced);
        assert_eq!(round.estimate.latest(), None);
        // A second honest origin outvotes the vendor, both its plugins named.
        let round = tr.update(
            vec![
                of("ed25519:vendor", ok("liar-a", iv(hour, hour + 10), now)),
                of("ed25519:vendor", ok("liar-b", iv(hour, hour + 20), now)),
                ok("time-ntp", iv(-50, 50), now),
                ok("time-https", iv(-500, 500), now),
            ],
            now,
        );
        assert_eq!(round.rejected(), vec![&name("liar-a"), &name("liar-b")]);
        assert_eq!(round.estimate, iv(-50, 50));
        assert_eq!(round.status, TimeStatus::Synced);
    }

    #[test]
    fn a_synced_estimate_is_held_against_one_origin_and_replaced_by_two() {
        let mut tr = synced_by_ntp_and_https();
        let hour = 3_600_000;
        let round = tr.update(vec![ok("liar", iv(hour, hour + 10), mono(1))], mono(1));
        assert_eq!(round.carry, Carry::Held);
        assert_eq!(round.estimate, iv(990, 1010));
        assert_eq!(round.status, TimeStatus::Synced);
        let round = tr.update(
            vec![
                ok("liar", iv(hour, hour + 10), mono(2)),
                ok("other", iv(hour, hour + 10), mono(2)),
            ],
            mono(2),
        );
        assert_eq!(round.carry, Carry::Replaced);
        assert_eq!(round.estimate, iv(hour, hour + 10));
    }

    #[test]
    fn samples_are_carried_to_the_round_instant() {
        let mut tr = tracker(0);
        // Sampled 2 s before the round: it moves 2 s forward.
        let round = tr.update(vec![ok("a", iv(0, 100), mono(8))], mono(10));
        assert_eq!(round.estimate, iv(2000, 2100));
    }

    #[test]
    fn with_no_answer_the_aged_estimate_decides_the_state() {
        let mut tr = tracker(100);
        let round = tr.update(
            vec![
                ok("ntp", iv(-50, 50), mono(0)),
                ok("https", iv(-500, 500), mono(0)),
            ],
            mono(0),
        );
        assert_eq!(round.status, TimeStatus::Synced);
        // 100 ppm widens each side by 0.1 ms per second: after 2000 s the
        // error bound is 50 + 200 = 250 ms, still synced; after 2001 s not.
        let (status, estimate) = {
            let r = tr.update(vec![failed("ntp"), failed("https")], mono(2000));
            (r.status, r.estimate)
        };
        assert_eq!(status, TimeStatus::Synced);
        assert_eq!(estimate, iv(2_000_000 - 250, 2_000_000 + 250));
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
            Agreement::NoMajority {
                agreeing: 1,
                voting: 2
            }
        );
        assert_eq!(round.fused, Interval::at_least(t_ms(-DAY_MS)));
        assert_eq!(round.carry, Carry::Combined);
        assert_eq!(round.estimate, iv(1000, 1100));
        assert_eq!(round.support, by(&["a"]));
        assert!(round.rejected().is_empty());
        assert_eq!(round.judged(Verdict::Undecided).len(), 2);
    }

    #[test]
    fn a_floor_alone_does_not_lose_a_synced_estimate() {
        let mut tr = synced_by_ntp_and_https();
        let round = tr.update(
            vec![
                failed("ntp"),
                ok("hwclock", Interval::at_least(t_ms(-60_000)), mono(5)),
            ],
            mono(5),
        );
        assert_eq!(round.fused, Interval::at_least(t_ms(-60_000)));
        assert_eq!(round.carry, Carry::Combined);
        assert_eq!(round.estimate, iv(4990, 5010));
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
        assert_eq!(round.estimate, Interval::at_least(t_ms(0)));
        assert_eq!(
            tr.estimate(mono(10)),
            Some(Interval::at_least(t_ms(10_000)))
        );
    }

    #[test]
    fn with_nothing_at_all_the_runtime_build_time_is_the_floor() {
        let mut tr = tracker(0);
        assert_eq!(tr.estimate(mono(0)), None);
        let round = tr.update(vec![failed("ntp")], mono(0));
        assert_eq!(round.agreement, Agreement::NoAnswer);
        assert_eq!(round.estimate, Interval::at_least(t_ms(-DAY_MS)));
        assert_eq!(round.status, TimeStatus::Unsynced);
    }
}
