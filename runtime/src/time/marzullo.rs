//! Fusing votes: Marzullo's algorithm with a majority rule, as NTP's
//! intersection algorithm uses it.
//!
//! The service gives it one bounded interval per origin (see
//! [`super::fusion`]: which answers vote and how they are counted); the
//! algorithm itself takes any intervals.
//!
//! **The rule.** Let `n` be the number of intervals given. Find `m`, the
//! largest number of them that share a point. They agree only when
//! `m > n / 2`, a strict majority; then the fused interval runs from the
//! lowest to the highest point shared by `m` intervals, and every interval
//! holding no such point is rejected as a false ticker. With fewer than
//! half the votes lying, the true time is in every honest interval, so it
//! is in a point shared by at least `n - f > n / 2` intervals: the fused
//! interval holds it. Without a majority nothing is fused.
//!
//! Intervals are closed: `[0, 1]` and `[1, 2]` agree on the point `1`.

use super::interval::Interval;
use super::utc::UtcTime;

/// What the answering sources agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    /// From the lowest to the highest point the most sources share.
    pub interval: Interval,
    /// How many sources share those points (`m`).
    pub agreeing: usize,
    /// How many intervals were given (`n`).
    pub answered: usize,
    /// Per input interval, in order: whether it was rejected.
    pub rejected: Vec<bool>,
    /// The stretches shared by `agreeing` intervals, in order.
    pub regions: Vec<Interval>,
}

impl Agreement {
    /// Whether `interval` holds a point the most intervals share.
    pub fn holds_agreed_point(&self, interval: &Interval) -> bool {
        self.regions.iter().any(|r| r.intersect(interval).is_some())
    }
}

/// Why nothing was fused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoAgreement {
    /// No interval was given.
    #[error("no source answered")]
    NoAnswer,
    /// The most intervals sharing a point are not a strict majority.
    #[error("no majority: at most {agreeing} of {answered} sources agree")]
    NoMajority {
        /// The most intervals sharing any one point (`m`, at most `n / 2`).
        agreeing: usize,
        /// How many intervals were given (`n`).
        answered: usize,
    },
}

/// One end of an interval on the time line; unbounded ends sort outside
/// every point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Point {
    MinusInfinity,
    At(UtcTime),
    PlusInfinity,
}

/// At one point, intervals starting sort before intervals ending: closed
/// intervals that touch share that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    Start,
    End,
}

/// Fuses `intervals` under the majority rule above.
pub fn fuse(intervals: &[Interval]) -> Result<Agreement, NoAgreement> {
    let n = intervals.len();
    if n == 0 {
        return Err(NoAgreement::NoAnswer);
    }
    let mut edges: Vec<(Point, Edge)> = Vec::with_capacity(2 * n);
    for i in intervals {
        edges.push((start(i), Edge::Start));
        edges.push((end(i), Edge::End));
    }
    edges.sort_unstable();

    // The most intervals sharing a point, and the stretches where they do.
    let mut most = 0;
    let mut count = 0usize;
    for (_, edge) in &edges {
        match edge {
            Edge::Start => {
                count += 1;
                most = most.max(count);
            }
            Edge::End => count = count.saturating_sub(1),
        }
    }
    if most * 2 <= n {
        return Err(NoAgreement::NoMajority {
            agreeing: most,
            answered: n,
        });
    }
    let mut stretches: Vec<(Point, Point)> = Vec::new();
    let mut opened: Option<Point> = None;
    count = 0;
    for (point, edge) in &edges {
        match edge {
            Edge::Start => {
                count += 1;
                if count == most {
                    opened = Some(*point);
                }
            }
            Edge::End => {
                if count == most
                    && let Some(from) = opened.take()
                {
                    stretches.push((from, *point));
                }
                count = count.saturating_sub(1);
            }
        }
    }
    // `most >= 1`, so at least one stretch opened and closed. Each comes
    // out of a sorted sweep, so it is not inverted.
    let regions: Vec<Interval> = stretches
        .iter()
        .filter_map(|(from, to)| Interval::new(bound(*from), bound(*to)).ok())
        .collect();
    let (Some(first), Some(last)) = (regions.first(), regions.last()) else {
        return Err(NoAgreement::NoAnswer);
    };
    let interval = first.hull(last);
    // An interval sharing a point of a most-shared stretch holds all of it
    // (otherwise some point would be shared by more), so "meets a stretch"
    // is "agrees".
    let mut agreement = Agreement {
        interval,
        agreeing: most,
        answered: n,
        rejected: Vec::new(),
        regions,
    };
    agreement.rejected = intervals
        .iter()
        .map(|i| !agreement.holds_agreed_point(i))
        .collect();
    Ok(agreement)
}

fn start(i: &Interval) -> Point {
    i.earliest().map_or(Point::MinusInfinity, Point::At)
}

fn end(i: &Interval) -> Point {
    i.latest().map_or(Point::PlusInfinity, Point::At)
}

fn bound(p: Point) -> Option<UtcTime> {
    match p {
        Point::At(t) => Some(t),
        Point::MinusInfinity | Point::PlusInfinity => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;
    const T: i64 = 1_700_000_000;

    fn ms(offset_ms: i64) -> UtcTime {
        UtcTime::from_unix_nanos(i128::from(T) * 1_000_000_000 + i128::from(offset_ms) * 1_000_000)
    }

    /// `[a, b]` in milliseconds around `T`.
    fn iv(a: i64, b: i64) -> Interval {
        Interval::between(ms(a), ms(b))
    }

    fn floor(a: i64) -> Interval {
        Interval::at_least(ms(a))
    }

    /// The outcome as one readable line: `[a, b] m/n rejected=[..]`, with
    /// ends in milliseconds around `T` and `inf` for unbounded ends.
    fn check(intervals: &[Interval], expect: &str) {
        let shown = match fuse(intervals) {
            Ok(a) => {
                let end = |t: Option<UtcTime>, inf: &str| match t {
                    Some(t) => {
                        ((t.unix_nanos() - i128::from(T) * 1_000_000_000) / 1_000_000).to_string()
                    }
                    None => inf.to_owned(),
                };
                let rejected: Vec<usize> = a
                    .rejected
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| **r)
                    .map(|(i, _)| i)
                    .collect();
                format!(
                    "[{}, {}] {}/{} rejected={rejected:?}",
                    end(a.interval.earliest(), "-inf"),
                    end(a.interval.latest(), "+inf"),
                    a.agreeing,
                    a.answered
                )
            }
            Err(e) => e.to_string(),
        };
        assert_eq!(shown, expect, "{intervals:?}");
    }

    #[test]
    fn majority_fusion_table() {
        let liar = HOUR * 3 * 1000;
        let cases: &[(&str, Vec<Interval>, &str)] = &[
            (
                "all agree: the common part",
                vec![iv(-50, 50), iv(-500, 500), iv(-20, 80)],
                "[-20, 50] 3/3 rejected=[]",
            ),
            (
                "one source hours off among three honest ones is rejected",
                vec![
                    iv(-50, 50),
                    iv(liar - 50, liar + 50),
                    iv(-500, 500),
                    iv(-20, 80),
                ],
                "[-20, 50] 3/4 rejected=[1]",
            ),
            (
                "two against two: no majority",
                vec![
                    iv(-50, 50),
                    iv(-40, 40),
                    iv(liar, liar + 10),
                    iv(liar, liar + 20),
                ],
                "no majority: at most 2 of 4 sources agree",
            ),
            (
                "two that disagree: no majority",
                vec![iv(0, 10), iv(liar, liar + 10)],
                "no majority: at most 1 of 2 sources agree",
            ),
            ("nothing answered", vec![], "no source answered"),
            (
                "one source is taken at its word",
                vec![iv(0, 1000)],
                "[0, 1000] 1/1 rejected=[]",
            ),
            (
                "lower bounds only: the highest floor, unbounded above",
                vec![floor(-HOUR * 1000), floor(-1000)],
                "[-1000, +inf] 2/2 rejected=[]",
            ),
            (
                "a floor and a bounded source: the bounded part above the floor",
                vec![floor(-1000), iv(-50, 50)],
                "[-50, 50] 2/2 rejected=[]",
            ),
            (
                "a floor cutting into a bounded source",
                vec![floor(0), iv(-50, 50)],
                "[0, 50] 2/2 rejected=[]",
            ),
            (
                "a floor ahead of the truth is the false ticker",
                vec![floor(liar), iv(-50, 50), iv(-20, 80)],
                "[-20, 50] 2/3 rejected=[0]",
            ),
            (
                "floors count: two floors outvote a source stuck in the past",
                vec![floor(-1000), floor(-2000), iv(-liar - 50, -liar + 50)],
                "[-1000, +inf] 2/3 rejected=[2]",
            ),
            (
                "an unbounded interval agrees with everything",
                vec![Interval::unbounded(), iv(0, 10)],
                "[0, 10] 2/2 rejected=[]",
            ),
            (
                "touching intervals share their end point",
                vec![iv(0, 1000), iv(1000, 2000)],
                "[1000, 1000] 2/2 rejected=[]",
            ),
            (
                "touching is not overlapping by one millisecond",
                vec![iv(0, 999), iv(1000, 2000)],
                "no majority: at most 1 of 2 sources agree",
            ),
            (
                "two most-shared stretches: the span of both, nobody rejected",
                vec![iv(0, 10_000), iv(0, 1000), iv(9000, 10_000)],
                "[0, 10000] 2/3 rejected=[]",
            ),
            (
                "a source outside every most-shared stretch is rejected",
                vec![iv(0, 1000), iv(500, 1500), iv(5000, 6000)],
                "[500, 1000] 2/3 rejected=[2]",
            ),
        ];
        for (name, intervals, expect) in cases {
            eprintln!("case: {name}");
            check(intervals, expect);
        }
    }
}
