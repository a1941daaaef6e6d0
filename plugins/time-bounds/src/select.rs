//! Choosing the offsets several servers agree on, when some may lie.
//!
//! Each server gives a range that holds the true offset if the server is
//! honest (a "truechimer"); a lying or broken one (a "falseticker") may give
//! anything, including a range that overlaps the honest ones without holding
//! the truth. So the intersection of all ranges is not safe: one overlapping
//! liar can cut the truth out of it.
//!
//! This is the interval selection of NTP (RFC 5905 §11.2.1, after Marzullo):
//! to tolerate `f` falsetickers among `n` servers, answer from the lowest to
//! the highest offset that at least `n − f` ranges contain. If at most `f`
//! servers lie, the truth is in at least `n − f` ranges (all the honest
//! ones), so it lies between those two points: the answer holds it.
//!
//! `f` is [`tolerated`]: the most a strict majority of honest servers allows,
//! `⌊(n − 1) / 2⌋`, and 1 for two servers, where the answer is then the hull
//! of both (one honest server of two cannot be told from the liar, but the
//! hull still holds the truth). One server is trusted alone. The runtime
//! fuses this plugin's answer with other sources in the same way, so a wide
//! answer costs nothing but precision, while a wrong one would cost the truth.

use thiserror::Error;

use crate::offset::{Nanos, OffsetRange};

/// The range a sufficient number of servers agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreement {
    /// From the lowest to the highest offset that `needed` ranges contain.
    pub range: OffsetRange,
    /// How many ranges had to contain each end.
    pub needed: usize,
    /// How many ranges there were.
    pub of: usize,
}

/// Why no range can be chosen.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum SelectError {
    /// No range was given.
    #[error("no server gave a usable answer")]
    Empty,
    /// No offset lies in enough of the ranges: more servers lie than
    /// [`tolerated`] allows.
    #[error("no offset is within the ranges of {needed} of the {of} servers")]
    Disagree {
        /// How many ranges had to share an offset.
        needed: usize,
        /// How many ranges there were.
        of: usize,
    },
}

/// How many of `n` servers may lie while the answer still holds the truth.
pub fn tolerated(n: usize) -> usize {
    match n {
        0 | 1 => 0,
        2 => 1,
        n => (n - 1) / 2,
    }
}

/// The offsets between the lowest and the highest point that all but
/// [`tolerated`] of `ranges` contain.
pub fn select(ranges: &[OffsetRange]) -> Result<Agreement, SelectError> {
    let of = ranges.len();
    if of == 0 {
        return Err(SelectError::Empty);
    }
    let needed = of - tolerated(of);
    let disagree = SelectError::Disagree { needed, of };
    let lo = lowest_covered(ranges.iter().map(|r| (r.lo(), r.hi())), needed).ok_or(disagree)?;
    // The highest point is the lowest of the mirrored ranges, negated.
    let hi = -lowest_covered(ranges.iter().map(|r| (-r.hi(), -r.lo())), needed).ok_or(disagree)?;
    // Both ends exist, so some point is in `needed` ranges and lo <= hi.
    let range = OffsetRange::new(lo, hi).ok_or(disagree)?;
    Ok(Agreement { range, needed, of })
}

/// The lowest point inside at least `needed` of the closed ranges `(lo, hi)`.
fn lowest_covered(ranges: impl Iterator<Item = (Nanos, Nanos)>, needed: usize) -> Option<Nanos> {
    // Sweep the ends from the left. At equal points a start sorts before an
    // end: the ranges are closed, so ranges that touch do overlap there.
    let mut ends: Vec<(Nanos, End)> = ranges
        .flat_map(|(lo, hi)| [(lo, End::Start), (hi, End::Stop)])
        .collect();
    ends.sort_unstable();
    let mut open = 0usize;
    for (at, end) in ends {
        match end {
            End::Start => {
                open += 1;
                if open >= needed {
                    return Some(at);
                }
            }
            End::Stop => open = open.saturating_sub(1),
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Start,
    Stop,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ranges: &[(Nanos, Nanos)], expect: Result<(Nanos, Nanos), SelectError>) {
        let ranges: Vec<OffsetRange> = ranges
            .iter()
            .map(|&(lo, hi)| OffsetRange::new(lo, hi).expect("lo <= hi"))
            .collect();
        let got = select(&ranges).map(|a| (a.range.lo(), a.range.hi()));
        assert_eq!(got, expect, "ranges {ranges:?}");
    }

    #[test]
    fn tolerates_a_minority_of_liars() {
        assert_eq!(
            (0..8).map(tolerated).collect::<Vec<_>>(),
            [0, 0, 1, 1, 1, 2, 2, 3]
        );
    }

    #[test]
    fn selection_table() {
        let disagree = |needed, of| Err(SelectError::Disagree { needed, of });
        check(&[], Err(SelectError::Empty));
        // One server is trusted alone.
        check(&[(5, 9)], Ok((5, 9)));
        // Two: the hull, which holds the truth if either is honest.
        check(&[(0, 10), (5, 20)], Ok((0, 20)));
        check(&[(0, 10), (3600, 3601)], Ok((0, 3601)));
        // Three honest: from the first to the last point two agree on.
        check(&[(0, 10), (2, 12), (4, 14)], Ok((2, 12)));
        // Two honest and a liar far away: the liar is ignored.
        check(&[(0, 10), (2, 12), (3600, 3601)], Ok((2, 10)));
        // A liar overlapping the honest ones cannot cut the truth out. The
        // truth is at 1, in both honest ranges; the intersection of all
        // three, [9, 10], would lose it.
        check(&[(0, 10), (1, 12), (9, 50)], Ok((1, 12)));
        // Touching ranges overlap at the shared point.
        check(&[(0, 10), (10, 20), (10, 10)], Ok((10, 10)));
        // No two agree.
        check(&[(0, 1), (5, 6), (9, 10)], disagree(2, 3));
        // Four: three must agree.
        check(&[(0, 10), (2, 12), (4, 14), (100, 200)], Ok((4, 10)));
        check(&[(0, 10), (2, 12), (100, 200), (150, 250)], disagree(3, 4));
        // Five with two liars on either side.
        check(
            &[(-100, -90), (0, 10), (2, 12), (4, 14), (100, 200)],
            Ok((4, 10)),
        );
    }

    #[test]
    fn the_answer_holds_the_truth_whenever_few_enough_lie() {
        // Every placement of up to `tolerated(n)` liars, honest ranges all
        // holding the truth at 0: the answer must hold 0 too.
        let honest = [(-3, 4), (-1, 1), (-8, 0), (0, 2), (-2, 9)];
        let liars = [(-20, -1), (1, 3), (-50, 50), (5, 6), (-4, -2)];
        for n in 1..=5 {
            for liar_mask in 0u32..(1 << n) {
                if liar_mask.count_ones() as usize > tolerated(n) {
                    continue;
                }
                let ranges: Vec<OffsetRange> = (0..n)
                    .map(|i| {
                        let (lo, hi) = if liar_mask & (1 << i) != 0 {
                            liars[i]
                        } else {
                            honest[i]
                        };
                        OffsetRange::new(lo, hi).expect("lo <= hi")
                    })
                    .collect();
                let agreement = select(&ranges).expect("honest servers agree");
                assert!(agreement.range.contains(0), "{ranges:?} gave {agreement:?}");
            }
        }
    }
}
