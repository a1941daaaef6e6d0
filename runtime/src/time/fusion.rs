//! A round's answers fused into one interval: which answers vote, how the
//! votes are counted, and what the answers that do not vote still do.
//!
//! 1. Every answer is measured against the plausible range
//!    ([`Plausible`]): entirely outside, it is refused as implausible;
//!    partly outside, it is clipped.
//! 2. **Only bounded answers vote.** An interval unbounded on a side (a
//!    lower bound `[t, +inf)`) excludes nothing on that side, so it would
//!    agree with any liar there. It is a *bound*: no vote, but it still
//!    narrows the estimate.
//! 3. **Votes are counted per origin**, not per source: one origin's
//!    bounded answers become their hull (the claim they make together, at
//!    its most conservative), so one vendor split into many plugins still
//!    has one vote. Marzullo's majority rule ([`marzullo`]) runs over the
//!    origins' hulls; a source whose own interval holds none of the agreed
//!    points is rejected as a false ticker.
//! 4. **Bounds narrow the agreed interval** where they meet it. A bound
//!    that contradicts it (a lower bound above it) is outvoted when at
//!    least `min_origins` origins agree, an agreement good enough for
//!    `synced`. Against fewer, neither can be told from a liar: the
//!    estimate is the hull of both, which holds the true time whichever is
//!    honest, and is vouched for by nobody.
//! 5. Without a vote (no bounded answer, or no majority of origins), the
//!    estimate is what the bounds give: the highest lower bound, unbounded
//!    above. A liar's lower bound moves it at most to the range's end.
//! 6. The range's lower end, the runtime's build time, is a bound the
//!    fusion always applies: the estimate is never below it.
//!
//! The fused interval comes with the origins vouching for it (`support`):
//! the agreeing ones, none when nothing agreed or it spans a
//! contradiction. The tracker caps the state by their number.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::interval::Interval;
use super::marzullo::{self, NoAgreement};
use super::plausible::{Checked, Plausible};

/// One answer of a round, carried to the round's instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    /// Who vouches for the source: its configured origin, else the key
    /// that signed it, else its name.
    pub origin: &'a str,
    /// Where the source says the true time is, at the round's instant.
    pub interval: Interval,
}

/// What the fusion made of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// A bounded answer holding an agreed point: a vote for the estimate.
    Agrees,
    /// Unbounded on a side: no vote, but it narrows the estimate.
    Bound,
    /// Holds none of the agreed points: outvoted.
    FalseTicker,
    /// Entirely outside the plausible range.
    Implausible,
    /// A bound disagreeing with an agreement of too few origins to outvote
    /// it: the estimate spans both.
    Contradicts,
    /// A bounded answer in a round where no majority of origins agreed.
    Undecided,
}

impl Verdict {
    /// Refused: no part of the estimate comes from it.
    pub fn rejected(self) -> bool {
        matches!(self, Verdict::FalseTicker | Verdict::Implausible)
    }

    /// As `osb time` and the time report spell it (kebab-case).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees",
            Verdict::Bound => "bound",
            Verdict::FalseTicker => "false-ticker",
            Verdict::Implausible => "implausible",
            Verdict::Contradicts => "contradicts",
            Verdict::Undecided => "undecided",
        }
    }
}

/// How the votes came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreement {
    /// A strict majority of the `voting` origins share a point; `origins`
    /// are they, sorted.
    Agreed {
        /// The agreeing origins.
        origins: Vec<String>,
        /// The origins with a plausible bounded answer, each one vote.
        voting: usize,
    },
    /// At most `agreeing` of the `voting` origins share a point.
    NoMajority {
        /// The most origins sharing any one point: half of `voting` or
        /// fewer.
        agreeing: usize,
        /// The origins with a plausible bounded answer, each one vote.
        voting: usize,
    },
    /// Answers, but no plausible bounded one.
    NoVote,
    /// No source answered this round.
    NoAnswer,
}

/// A round's fusion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fusion {
    /// Where the true time is, by this round alone; never below the
    /// plausible range.
    pub interval: Interval,
    /// The origins vouching for `interval`.
    pub support: BTreeSet<String>,
    /// How the origins' votes came out.
    pub agreement: Agreement,
    /// Per answer, in order.
    pub verdicts: Vec<Verdict>,
    /// Per answer, in order: whether it was clipped to the plausible range.
    pub clipped: Vec<bool>,
}

/// Fuses `answers` under the rules above. `min_origins` is the number of
/// agreeing origins that outvotes a contradicting bound (at least 1).
pub fn fuse(answers: &[Answer<'_>], plausible: &Plausible, min_origins: usize) -> Fusion {
    let mut clipped = Vec::with_capacity(answers.len());
    let mut verdicts = Vec::with_capacity(answers.len());
    // Per answer: the plausible part of it, if any.
    let mut usable: Vec<Option<Interval>> = Vec::with_capacity(answers.len());
    for answer in answers {
        let (part, was_clipped) = match plausible.check(&answer.interval) {
            Checked::Inside(i) => (Some(i), false),
            Checked::Clipped(i) => (Some(i), true),
            Checked::Outside => (None, false),
        };
        usable.push(part);
        clipped.push(was_clipped);
        // Refined below for the usable ones.
        verdicts.push(Verdict::Implausible);
    }

    // One vote per origin: the hull of its bounded answers.
    let mut hulls: BTreeMap<&str, Interval> = BTreeMap::new();
    for (answer, part) in answers.iter().zip(&usable) {
        if let Some(i) = part.filter(Interval::is_bounded) {
            hulls
                .entry(answer.origin)
                .and_modify(|h| *h = h.hull(&i))
                .or_insert(i);
        }
    }
    let votes: Vec<Interval> = hulls.values().copied().collect();
    let (agreement, voted) = if votes.is_empty() {
        let none = if answers.is_empty() {
            Agreement::NoAnswer
        } else {
            Agreement::NoVote
        };
        (none, None)
    } else {
        match marzullo::fuse(&votes) {
            Ok(a) => {
                let origins = hulls
                    .keys()
                    .zip(&a.rejected)
                    .filter(|(_, rejected)| !**rejected)
                    .map(|(origin, _)| (*origin).to_owned())
                    .collect();
                let voting = votes.len();
                (Agreement::Agreed { origins, voting }, Some(a))
            }
            Err(NoAgreement::NoMajority { agreeing, answered }) => (
                Agreement::NoMajority {
                    agreeing,
                    voting: answered,
                },
                None,
            ),
            // Not with votes given; nothing fused all the same.
            Err(NoAgreement::NoAnswer) => (Agreement::NoVote, None),
        }
    };
    let mut support: BTreeSet<String> = match &agreement {
        Agreement::Agreed { origins, .. } => origins.iter().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let strong = support.len() >= min_origins.max(1);

    let mut estimate = voted.as_ref().map_or(plausible.floor(), |a| a.interval);
    let mut contradicting: Vec<usize> = Vec::new();
    for (index, part) in usable.iter().enumerate() {
        let Some(i) = part else { continue };
        let verdict = if i.is_bounded() {
            match &voted {
                Some(a) if a.holds_agreed_point(i) => Verdict::Agrees,
                Some(_) => Verdict::FalseTicker,
                None => Verdict::Undecided,
            }
        } else {
            match estimate.intersect(i) {
                Some(narrowed) => {
                    estimate = narrowed;
                    Verdict::Bound
                }
                None => {
                    contradicting.push(index);
                    Verdict::Contradicts
                }
            }
        };
        if let Some(v) = verdicts.get_mut(index) {
            *v = verdict;
        }
    }
    for index in contradicting {
        if voted.is_some() && strong {
            if let Some(v) = verdicts.get_mut(index) {
                *v = Verdict::FalseTicker;
            }
        } else if let Some(Some(i)) = usable.get(index) {
            estimate = estimate.hull(i);
            support.clear();
        }
    }
    // A no-op but for a hull reaching below it: the runtime's own floor.
    let interval = estimate
        .intersect(&plausible.floor())
        .unwrap_or(plausible.floor());
    Fusion {
        interval,
        support,
        agreement,
        verdicts,
        clipped,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::time::utc::UtcTime;

    const T: i64 = 1_700_000_000;
    const HOUR_MS: i64 = 3_600_000;
    const YEAR_MS: i64 = 365 * 24 * HOUR_MS;

    fn at(ms: i64) -> UtcTime {
        UtcTime::from_unix_nanos(i128::from(T) * 1_000_000_000 + i128::from(ms) * 1_000_000)
    }

    fn iv(a: i64, b: i64) -> Interval {
        Interval::between(at(a), at(b))
    }

    fn floor(a: i64) -> Interval {
        Interval::at_least(at(a))
    }

    /// Built a day before `T`, plausible for 20 years.
    fn range() -> Plausible {
        Plausible::new(at(-24 * HOUR_MS), Duration::from_secs(20 * 365 * 86_400))
    }

    /// The outcome as one readable line:
    /// `[a, b] by {origins} | agreement | verdicts`, with ends in
    /// milliseconds around `T`, `inf` for unbounded ends, and clipped
    /// answers marked `*`.
    fn show(f: &Fusion) -> String {
        let end = |t: Option<UtcTime>, inf: &str| match t {
            Some(t) => ((t.unix_nanos() - i128::from(T) * 1_000_000_000) / 1_000_000).to_string(),
            None => inf.to_owned(),
        };
        let agreement = match &f.agreement {
            Agreement::Agreed { origins, voting } => {
                format!("{} of {voting} agree", origins.join("+"))
            }
            Agreement::NoMajority { agreeing, voting } => {
                format!("no majority {agreeing} of {voting}")
            }
            Agreement::NoVote => "no vote".to_owned(),
            Agreement::NoAnswer => "no answer".to_owned(),
        };
        let verdicts: Vec<String> = f
            .verdicts
            .iter()
            .zip(&f.clipped)
            .map(|(v, c)| format!("{}{}", v.as_str(), if *c { "*" } else { "" }))
            .collect();
        format!(
            "[{}, {}] by {{{}}} | {agreement} | {}",
            end(f.interval.earliest(), "-inf"),
            end(f.interval.latest(), "+inf"),
            f.support.iter().cloned().collect::<Vec<_>>().join(","),
            verdicts.join(" ")
        )
    }

    /// (name, answers as (origin, interval), min_origins, outcome)
    type Case<'a> = (&'a str, Vec<(&'a str, Interval)>, usize, &'a str);

    #[test]
    fn fusion_table() {
        let day = 24 * HOUR_MS;
        let y9999 = 253_402_300_799_000 - T * 1000;
        let cap = 20 * 365 * day - day;
        let cases: &[Case<'_>] = &[
            (
                "the issue: lower bounds and one narrow liar in 9999",
                vec![
                    ("build", floor(-day)),
                    ("hwclock", floor(0)),
                    ("liar", iv(y9999, y9999 + 1)),
                ],
                2,
                "[0, +inf] by {} | no vote | bound bound implausible",
            ),
            (
                "a liar's lower bound in 9999 is refused, the clock stays below the cap",
                vec![("hwclock", floor(0)), ("liar", floor(y9999))],
                2,
                "[0, +inf] by {} | no vote | bound implausible",
            ),
            (
                "a liar's lower bound just below the cap moves the estimate at most there",
                vec![("hwclock", floor(0)), ("liar", floor(cap - 1))],
                2,
                &format!("[{}, +inf] by {{}} | no vote | bound bound", cap - 1),
            ),
            (
                "a narrow liar a year ahead among lower bounds alone: one origin, coarse at most",
                vec![("hwclock", floor(0)), ("liar", iv(YEAR_MS, YEAR_MS + 10))],
                2,
                &format!(
                    "[{}, {}] by {{liar}} | liar of 1 agree | bound agrees",
                    YEAR_MS,
                    YEAR_MS + 10
                ),
            ),
            (
                "a liar wider than the range is clipped to it",
                vec![
                    ("ntp", iv(-50, 50)),
                    ("liar", iv(-100 * YEAR_MS, 100 * YEAR_MS)),
                ],
                2,
                "[-50, 50] by {liar,ntp} | liar+ntp of 2 agree | agrees agrees*",
            ),
            (
                "a source stuck before the runtime was built is implausible",
                vec![
                    ("ntp", iv(-50, 50)),
                    ("https", iv(-500, 500)),
                    ("stuck", iv(-2 * day, -2 * day + 10)),
                ],
                2,
                "[-50, 50] by {https,ntp} | https+ntp of 2 agree | agrees agrees implausible",
            ),
            (
                "two honest origins agree: their common part",
                vec![
                    ("ntp", iv(-50, 50)),
                    ("https", iv(-500, 600)),
                    ("hwclock", floor(-day)),
                ],
                2,
                "[-50, 50] by {https,ntp} | https+ntp of 2 agree | agrees agrees bound",
            ),
            (
                "one origin alone is taken at its word, vouched for by one",
                vec![("ntp", iv(-50, 50))],
                2,
                "[-50, 50] by {ntp} | ntp of 1 agree | agrees",
            ),
            (
                "two sources of one origin are one vote: no majority against an honest one",
                vec![
                    ("vendor", iv(HOUR_MS, HOUR_MS + 10)),
                    ("vendor", iv(HOUR_MS, HOUR_MS + 20)),
                    ("ntp", iv(-50, 50)),
                ],
                2,
                "[-86400000, +inf] by {} | no majority 1 of 2 | undecided undecided undecided",
            ),
            (
                "one origin's liars against two honest origins: named and outvoted",
                vec![
                    ("vendor", iv(HOUR_MS, HOUR_MS + 10)),
                    ("vendor", iv(HOUR_MS, HOUR_MS + 20)),
                    ("ntp", iv(-50, 50)),
                    ("https", iv(-500, 600)),
                ],
                2,
                "[-50, 50] by {https,ntp} | https+ntp of 3 agree | false-ticker false-ticker agrees agrees",
            ),
            (
                "one origin's answers vote as their hull: an honest one widens the liar's",
                vec![
                    ("vendor", iv(HOUR_MS, HOUR_MS + 10)),
                    ("vendor", iv(-20, 20)),
                    ("ntp", iv(-50, 50)),
                ],
                2,
                "[-20, 50] by {ntp,vendor} | ntp+vendor of 2 agree | false-ticker agrees agrees",
            ),
            (
                "a lower bound narrows the agreed interval",
                vec![
                    ("ntp", iv(-50, 50)),
                    ("https", iv(-500, 500)),
                    ("hwclock", floor(0)),
                ],
                2,
                "[0, 50] by {https,ntp} | https+ntp of 2 agree | agrees agrees bound",
            ),
            (
                "a lower bound ahead of two agreeing origins is outvoted",
                vec![
                    ("ntp", iv(-50, 50)),
                    ("https", iv(-500, 500)),
                    ("hwclock", floor(day)),
                ],
                2,
                "[-50, 50] by {https,ntp} | https+ntp of 2 agree | agrees agrees false-ticker",
            ),
            (
                "a lower bound ahead of one origin: neither can be told from a liar, both kept",
                vec![("https", iv(-500, 500)), ("hwclock", floor(day))],
                2,
                "[-500, +inf] by {} | https of 1 agree | agrees contradicts",
            ),
            (
                "with one origin enough, it outvotes the lower bound",
                vec![("https", iv(-500, 500)), ("hwclock", floor(day))],
                1,
                "[-500, 500] by {https} | https of 1 agree | agrees false-ticker",
            ),
            (
                "the runtime's build time is a floor of its own",
                vec![("https", iv(-2 * day, -day + 500))],
                2,
                "[-86400000, -86399500] by {https} | https of 1 agree | agrees*",
            ),
            (
                "nothing answered: the runtime's build time, unbounded above",
                vec![],
                2,
                "[-86400000, +inf] by {} | no answer | ",
            ),
            (
                "an unbounded answer says nothing",
                vec![("x", Interval::unbounded())],
                2,
                "[-86400000, +inf] by {} | no vote | bound",
            ),
            (
                "three origins, one three hours off: outvoted",
                vec![
                    ("a", iv(-50, 50)),
                    ("b", iv(3 * HOUR_MS, 3 * HOUR_MS + 50)),
                    ("c", iv(-500, 500)),
                ],
                2,
                "[-50, 50] by {a,c} | a+c of 3 agree | agrees false-ticker agrees",
            ),
        ];
        for (name, answers, min_origins, expect) in cases {
            let answers: Vec<Answer<'_>> = answers
                .iter()
                .map(|(origin, interval)| Answer {
                    origin,
                    interval: *interval,
                })
                .collect();
            let fusion = fuse(&answers, &range(), *min_origins);
            assert_eq!(show(&fusion), *expect, "case: {name}");
        }
    }
}
