//! npm version ranges (node-semver's `Range`, strict mode, without
//! `includePrerelease`), evaluated on the `semver` crate's [`Version`].
//!
//! The `semver` crate's own `VersionReq` has Cargo's semantics (a bare
//! `1.2.3` means `^1.2.3`, no `||`, no hyphen ranges), and contracts are
//! written for npm's, so the grammar is desugared here, rule for rule as
//! node-semver's `range.js` does, into sets of primitive comparators:
//! `||` separates sets, whitespace separates comparators (AND).

use std::cmp::Ordering;
use std::fmt;

use semver::{BuildMetadata, Prerelease, Version};

/// node-semver refuses longer range strings; so do we, and it bounds the
/// work a hostile range can ask for.
pub const MAX_RANGE_LEN: usize = 256;

/// node-semver's `MAX_SAFE_COMPONENT_LENGTH`: longer numbers are refused.
const MAX_DIGITS: usize = 16;

/// Why a string is not an npm range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed version range {range:?}: {reason}")]
pub struct RangeError {
    /// The range as written.
    pub range: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A parsed npm range: a disjunction of conjunctions of comparators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    raw: String,
    /// An empty set is npm's `*` (it holds for every release).
    sets: Vec<Vec<Comparator>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// A version as written in a range: `None` is an x (`x`, `X`, `*` or absent).
#[derive(Debug, Clone)]
struct Partial {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: Prerelease,
    build: BuildMetadata,
}

impl Range {
    /// Parses an npm range (`>=1.2 <2 || 3.x`, `1.2 - 2.3.4`, `~1.2`,
    /// `^0.2.3`, ...).
    pub fn parse(raw: &str) -> Result<Self, RangeError> {
        let fail = |reason: String| RangeError {
            range: raw.to_owned(),
            reason,
        };
        if raw.len() > MAX_RANGE_LEN {
            return Err(fail(format!("longer than {MAX_RANGE_LEN} bytes")));
        }
        let mut sets = Vec::new();
        for set in raw.split("||") {
            sets.push(parse_set(set.trim()).map_err(fail)?);
        }
        Ok(Self {
            raw: raw.to_owned(),
            sets,
        })
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether `version` is in the range, by npm's rules: a pre-release
    /// only satisfies a set that names a pre-release of its own
    /// major.minor.patch (so `^1.2.3` excludes `1.3.0-beta` but
    /// `^1.2.3-alpha` includes `1.2.3-beta`).
    pub fn satisfies(&self, version: &Version) -> bool {
        self.sets.iter().any(|set| test_set(set, version))
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn test_set(set: &[Comparator], version: &Version) -> bool {
    if !set.iter().all(|c| c.holds(version)) {
        return false;
    }
    if version.pre.is_empty() {
        return true;
    }
    // Opting into pre-releases is per release tuple: `>=1.2.3-beta` says
    // nothing about whether `1.4.0-alpha` is acceptable.
    set.iter().any(|c| {
        !c.version.pre.is_empty()
            && (c.version.major, c.version.minor, c.version.patch)
                == (version.major, version.minor, version.patch)
    })
}

impl Comparator {
    fn holds(&self, version: &Version) -> bool {
        // npm ignores build metadata when comparing.
        let ord = version.cmp_precedence(&self.version);
        match self.op {
            Op::Lt => ord == Ordering::Less,
            Op::Le => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Ge => ord != Ordering::Less,
            Op::Eq => ord == Ordering::Equal,
        }
    }
}

fn parse_set(set: &str) -> Result<Vec<Comparator>, String> {
    let tokens: Vec<&str> = set.split_whitespace().collect();
    if let [from, "-", to] = tokens.as_slice() {
        return hyphen(&parse_partial(from)?, &parse_partial(to)?);
    }
    let mut out = Vec::new();
    for (op, text) in comparator_tokens(set)? {
        let partial = parse_partial(text)?;
        match op {
            "~" | "~>" => tilde(&partial, &mut out)?,
            "^" => caret(&partial, &mut out)?,
            _ => x_range(op, &partial, &mut out)?,
        }
    }
    Ok(out)
}

/// Splits a set into (operator, version) pairs; whitespace between an
/// operator and its version is allowed, as npm allows `>= 1.2.3`.
fn comparator_tokens(set: &str) -> Result<Vec<(&str, &str)>, String> {
    const OPERATORS: [&str; 8] = ["<=", ">=", "~>", "<", ">", "=", "~", "^"];
    let mut out = Vec::new();
    let mut rest = set.trim_start();
    while !rest.is_empty() {
        let op = OPERATORS
            .iter()
            .find(|op| rest.starts_with(**op))
            .copied()
            .unwrap_or("");
        rest = rest[op.len()..].trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (text, tail) = rest.split_at(end);
        if text.is_empty() {
            return Err(format!("operator {op:?} without a version"));
        }
        out.push((op, text));
        rest = tail.trim_start();
    }
    Ok(out)
}

fn parse_partial(text: &str) -> Result<Partial, String> {
    // npm's XRANGEPLAIN allows any run of `v` and `=` before the version.
    let body = text.trim_start_matches(['v', '=']);
    let (main, build) = match body.split_once('+') {
        Some((main, build)) => (main, Some(build)),
        None => (body, None),
    };
    let (numbers, pre) = match main.split_once('-') {
        Some((numbers, pre)) => (numbers, Some(pre)),
        None => (main, None),
    };
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() > 3 {
        return Err(format!("{text:?} has more than three components"));
    }
    if parts.len() < 3 && (pre.is_some() || build.is_some()) {
        return Err(format!(
            "{text:?}: a pre-release or build needs major.minor.patch"
        ));
    }
    let mut numbers = [None; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = parse_identifier(part).map_err(|reason| format!("{text:?}: {reason}"))?;
    }
    if pre == Some("") || build == Some("") {
        return Err(format!("{text:?}: empty pre-release or build"));
    }
    let pre = match pre {
        Some(pre) => Prerelease::new(pre).map_err(|e| format!("{text:?}: {e}"))?,
        None => Prerelease::EMPTY,
    };
    let build = match build {
        Some(build) => BuildMetadata::new(build).map_err(|e| format!("{text:?}: {e}"))?,
        None => BuildMetadata::EMPTY,
    };
    let [major, minor, patch] = numbers;
    Ok(Partial {
        major,
        minor,
        patch,
        pre,
        build,
    })
}

fn parse_identifier(part: &str) -> Result<Option<u64>, String> {
    if matches!(part, "x" | "X" | "*") {
        return Ok(None);
    }
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{part:?} is not a number, x or *"));
    }
    if part.len() > 1 && part.starts_with('0') {
        return Err(format!("{part:?} has a leading zero"));
    }
    if part.len() > MAX_DIGITS {
        return Err(format!("{part:?} has more than {MAX_DIGITS} digits"));
    }
    part.parse()
        .map(Some)
        .map_err(|_| format!("{part:?} is out of range"))
}

fn version(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// `M.m.p-0`: the lowest pre-release of a tuple, the exclusive upper bound
/// npm writes so that pre-releases of the next tuple stay out.
fn floor_pre(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        pre: Prerelease::new("0").unwrap_or(Prerelease::EMPTY),
        ..version(major, minor, patch)
    }
}

fn next(n: u64) -> Result<u64, String> {
    n.checked_add(1)
        .ok_or_else(|| format!("{n} has no successor"))
}

fn push(out: &mut Vec<Comparator>, op: Op, version: Version) {
    out.push(Comparator { op, version });
}

fn full(p: &Partial, major: u64, minor: u64, patch: u64) -> Version {
    Version {
        pre: p.pre.clone(),
        build: p.build.clone(),
        ..version(major, minor, patch)
    }
}

fn tilde(p: &Partial, out: &mut Vec<Comparator>) -> Result<(), String> {
    match (p.major, p.minor, p.patch) {
        (None, _, _) => {}
        (Some(ma), None, _) => {
            push(out, Op::Ge, version(ma, 0, 0));
            push(out, Op::Lt, floor_pre(next(ma)?, 0, 0));
        }
        (Some(ma), Some(mi), None) => {
            push(out, Op::Ge, version(ma, mi, 0));
            push(out, Op::Lt, floor_pre(ma, next(mi)?, 0));
        }
        (Some(ma), Some(mi), Some(pa)) => {
            push(out, Op::Ge, full(p, ma, mi, pa));
            push(out, Op::Lt, floor_pre(ma, next(mi)?, 0));
        }
    }
    Ok(())
}

fn caret(p: &Partial, out: &mut Vec<Comparator>) -> Result<(), String> {
    match (p.major, p.minor, p.patch) {
        (None, _, _) => {}
        (Some(ma), None, _) => {
            push(out, Op::Ge, version(ma, 0, 0));
            push(out, Op::Lt, floor_pre(next(ma)?, 0, 0));
        }
        (Some(ma), Some(mi), None) => {
            push(out, Op::Ge, version(ma, mi, 0));
            let upper = if ma == 0 {
                floor_pre(0, next(mi)?, 0)
            } else {
                floor_pre(next(ma)?, 0, 0)
            };
            push(out, Op::Lt, upper);
        }
        // npm's rule for 0.x: the left-most non-zero component is the one
        // that may not change.
        (Some(ma), Some(mi), Some(pa)) => {
            push(out, Op::Ge, full(p, ma, mi, pa));
            let upper = match (ma, mi) {
                (0, 0) => floor_pre(0, 0, next(pa)?),
                (0, _) => floor_pre(0, next(mi)?, 0),
                _ => floor_pre(next(ma)?, 0, 0),
            };
            push(out, Op::Lt, upper);
        }
    }
    Ok(())
}

fn x_range(op: &str, p: &Partial, out: &mut Vec<Comparator>) -> Result<(), String> {
    let (Some(ma), minor, patch) = (p.major, p.minor, p.patch) else {
        // `>*` and `<*` can hold for nothing; everything else is `*`.
        if matches!(op, ">" | "<") {
            push(out, Op::Lt, floor_pre(0, 0, 0));
        }
        return Ok(());
    };
    let (Some(mi), Some(pa)) = (minor, patch) else {
        // Some component is an x: the pre-release, if any, is dropped, as npm does.
        return x_bounds(op, ma, minor, out);
    };
    let op = match op {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        _ => Op::Eq,
    };
    push(out, op, full(p, ma, mi, pa));
    Ok(())
}

/// An x-range with an operator: `>1.2` means `>=1.3.0`, `<=1.2` means
/// `<1.3.0-0`, `>=1` means `>=1.0.0`, `1.2` means `>=1.2.0 <1.3.0-0`.
fn x_bounds(
    op: &str,
    ma: u64,
    minor: Option<u64>,
    out: &mut Vec<Comparator>,
) -> Result<(), String> {
    match (op, minor) {
        (">", None) => push(out, Op::Ge, version(next(ma)?, 0, 0)),
        (">", Some(mi)) => push(out, Op::Ge, version(ma, next(mi)?, 0)),
        ("<=", None) => push(out, Op::Lt, floor_pre(next(ma)?, 0, 0)),
        ("<=", Some(mi)) => push(out, Op::Lt, floor_pre(ma, next(mi)?, 0)),
        ("<", mi) => push(out, Op::Lt, floor_pre(ma, mi.unwrap_or(0), 0)),
        (">=", mi) => push(out, Op::Ge, version(ma, mi.unwrap_or(0), 0)),
        (_, None) => {
            push(out, Op::Ge, version(ma, 0, 0));
            push(out, Op::Lt, floor_pre(next(ma)?, 0, 0));
        }
        (_, Some(mi)) => {
            push(out, Op::Ge, version(ma, mi, 0));
            push(out, Op::Lt, floor_pre(ma, next(mi)?, 0));
        }
    }
    Ok(())
}

/// `A - B`: inclusive at both ends; a partial end is an x-range.
fn hyphen(from: &Partial, to: &Partial) -> Result<Vec<Comparator>, String> {
    let mut out = Vec::new();
    match (from.major, from.minor, from.patch) {
        (None, _, _) => {}
        (Some(ma), None, _) => push(&mut out, Op::Ge, version(ma, 0, 0)),
        (Some(ma), Some(mi), None) => push(&mut out, Op::Ge, version(ma, mi, 0)),
        (Some(ma), Some(mi), Some(pa)) => push(&mut out, Op::Ge, full(from, ma, mi, pa)),
    }
    match (to.major, to.minor, to.patch) {
        (None, _, _) => {}
        (Some(ma), None, _) => push(&mut out, Op::Lt, floor_pre(next(ma)?, 0, 0)),
        (Some(ma), Some(mi), None) => push(&mut out, Op::Lt, floor_pre(ma, next(mi)?, 0)),
        (Some(ma), Some(mi), Some(pa)) => push(&mut out, Op::Le, full(to, ma, mi, pa)),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn x_range_operators_follow_npm() {
        let r = Range::parse(">20").unwrap();
        assert!(!r.satisfies(&v("20.9.9")));
        assert!(r.satisfies(&v("21.0.0")));
        let r = Range::parse("<=1.2").unwrap();
        assert!(r.satisfies(&v("1.2.99")));
        assert!(!r.satisfies(&v("1.3.0")));
        assert!(!r.satisfies(&v("1.3.0-alpha")));
    }

    #[test]
    fn caret_zero_rules() {
        let r = Range::parse("^0.0.3").unwrap();
        assert!(r.satisfies(&v("0.0.3")));
        assert!(!r.satisfies(&v("0.0.4")));
        let r = Range::parse("^0.2.3").unwrap();
        assert!(r.satisfies(&v("0.2.9")));
        assert!(!r.satisfies(&v("0.3.0")));
    }
}
