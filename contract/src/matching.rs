//! Whether a context satisfies a contract's requirements, with contrato's
//! semantics (`satisfiesChildContract`, `findChildren`,
//! `findChildrenWithCapabilities`) and a reason for every verdict.

use std::fmt;

use serde_json::{Map, Value};

use crate::model::{Contract, Matcher, Provided, Requirement};

/// The most elementary comparisons one check may make. Limits on size keep
/// honest contracts far below it; a hostile pair of contracts (two huge
/// arrays compared element by element) stops here instead of spinning.
pub const MAX_CHECK_STEPS: usize = 10_000_000;

/// How many candidates a failure reason lists before summing up the rest.
const LISTED: usize = 8;

/// The verdict on every requirement of a check.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// One entry per top-level requirement, in order.
    pub entries: Vec<Entry>,
}

/// The verdict on one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The contract the requirement belongs to (`arch.sw aarch64@1`).
    pub owner: String,
    /// Where in that contract (`requires[0]`).
    pub path: String,
    /// The requirement, described (`hw.device-type with data.arch "aarch64"`).
    pub requirement: String,
    /// Whether it holds in the context.
    pub held: bool,
    /// Why: what matched, or what the context has instead.
    pub reason: String,
}

impl Report {
    /// Whether every requirement holds.
    pub fn holds(&self) -> bool {
        self.entries.iter().all(|entry| entry.held)
    }

    /// The requirements that do not hold.
    pub fn failures(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|entry| !entry.held)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("no requirements");
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.held { "held" } else { "FAILED" };
        write!(
            f,
            "{verdict}: {} {}: {}: {}",
            self.owner, self.path, self.requirement, self.reason
        )
    }
}

/// Checks the requirements of `require` and of all its descendants
/// against `context`, as contrato's `satisfiesChildContract` does.
///
/// A matcher holds when a descendant of `context` (its children,
/// recursively; not the context itself) or a `provides` entry of the
/// context or of any descendant has its `type`, answers to its `slug`
/// (slug or alias; a provided entry by slug only), satisfies its `version`
/// and has its `data` as a superset.
pub fn check(context: &Contract, require: &Contract) -> Report {
    let mut checker = Checker::new(context);
    let mut report = Report::default();
    checker.contract(require, "", &mut report);
    for (i, child) in require.descendants().into_iter().enumerate() {
        checker.contract(child, &format!("descendant {i}: "), &mut report);
    }
    report
}

/// Checks every descendant of `context` against `context` itself, as
/// contrato's `areChildrenSatisfied` does: whether the parts a device is
/// described by agree (an `arch.sw armv7hf` child on an aarch64 device type
/// does not).
pub fn check_children(context: &Contract) -> Report {
    let mut checker = Checker::new(context);
    let mut report = Report::default();
    for child in context.descendants() {
        checker.contract(child, "", &mut report);
    }
    report
}

/// Something in the context a matcher may match.
enum Candidate<'a> {
    Child(&'a Contract),
    Provided(&'a Contract, &'a Provided),
}

impl Candidate<'_> {
    fn kind(&self) -> &str {
        match self {
            Self::Child(c) => &c.kind,
            Self::Provided(_, p) => &p.kind,
        }
    }

    fn answers_to(&self, slug: &str) -> bool {
        match self {
            Self::Child(c) => c.answers_to(slug),
            Self::Provided(_, p) => p.slug.as_deref() == Some(slug),
        }
    }

    fn version(&self) -> Option<&str> {
        match self {
            Self::Child(c) => c.version.as_deref(),
            Self::Provided(_, p) => p.version.as_deref(),
        }
    }

    fn data(&self) -> &Map<String, Value> {
        match self {
            Self::Child(c) => &c.data,
            Self::Provided(_, p) => &p.data,
        }
    }

    fn label(&self) -> String {
        let name = match self {
            Self::Child(c) => c.slug.clone(),
            Self::Provided(_, p) => p.slug.clone().unwrap_or_else(|| p.kind.clone()),
        };
        let mut label = match self.version() {
            Some(version) => format!("{name}@{version}"),
            None => name,
        };
        if let Self::Provided(by, _) = self {
            label.push_str(&format!(" (provided by {})", by.slug));
        }
        label
    }
}

struct Checker<'a> {
    candidates: Vec<Candidate<'a>>,
    steps: usize,
}

struct Outcome {
    held: bool,
    reason: String,
}

impl<'a> Checker<'a> {
    fn new(context: &'a Contract) -> Self {
        let descendants = context.descendants();
        let mut candidates: Vec<Candidate<'a>> =
            descendants.iter().map(|c| Candidate::Child(c)).collect();
        for owner in std::iter::once(context).chain(descendants) {
            candidates.extend(owner.provides.iter().map(|p| Candidate::Provided(owner, p)));
        }
        Self {
            candidates,
            steps: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.steps > MAX_CHECK_STEPS
    }

    fn contract(&mut self, contract: &Contract, prefix: &str, report: &mut Report) {
        for (i, requirement) in contract.requires.iter().enumerate() {
            let outcome = self.requirement(requirement);
            report.entries.push(Entry {
                owner: contract.label(),
                path: format!("{prefix}requires[{i}]"),
                requirement: describe(requirement),
                held: outcome.held,
                reason: outcome.reason,
            });
        }
    }

    fn requirement(&mut self, requirement: &Requirement) -> Outcome {
        match requirement {
            Requirement::Match(matcher) => self.matcher(matcher),
            Requirement::Or(members) => {
                if members.is_empty() {
                    return Outcome {
                        held: true,
                        reason: "an empty `or` holds".to_owned(),
                    };
                }
                let mut reasons = Vec::new();
                for member in members {
                    let outcome = self.requirement(member);
                    if outcome.held {
                        return Outcome {
                            held: true,
                            reason: format!("{}: {}", describe(member), outcome.reason),
                        };
                    }
                    reasons.push(outcome.reason);
                }
                Outcome {
                    held: false,
                    reason: format!("none holds ({})", reasons.join("; ")),
                }
            }
            Requirement::Not(members) => {
                for member in members {
                    let outcome = self.requirement(member);
                    if outcome.held {
                        return Outcome {
                            held: false,
                            reason: format!(
                                "excluded {} is present: {}",
                                describe(member),
                                outcome.reason
                            ),
                        };
                    }
                }
                Outcome {
                    held: true,
                    reason: "none of them is present".to_owned(),
                }
            }
        }
    }

    fn matcher(&mut self, matcher: &Matcher) -> Outcome {
        for candidate in &self.candidates {
            // Visiting a candidate is work too: `provides` lists are not
            // bounded by count, only by the document's size.
            self.steps += 1;
            if self.steps > MAX_CHECK_STEPS {
                break;
            }
            if candidate.kind() != matcher.kind {
                continue;
            }
            let slug_ok = matcher
                .slug
                .as_deref()
                .is_none_or(|slug| candidate.answers_to(slug));
            let version_ok = matcher
                .version
                .as_ref()
                .is_none_or(|req| candidate.version().is_some_and(|v| req.matches(v)));
            if slug_ok && version_ok && subset(&matcher.data, candidate.data(), &mut self.steps) {
                return Outcome {
                    held: true,
                    reason: format!("matched by {}", candidate.label()),
                };
            }
        }
        if self.exhausted() {
            return Outcome {
                held: false,
                reason: format!("gave up after {MAX_CHECK_STEPS} comparisons"),
            };
        }
        Outcome {
            held: false,
            reason: self.missing(matcher),
        }
    }

    /// What the context has of the type a matcher wanted.
    fn missing(&self, matcher: &Matcher) -> String {
        let leaves = data_leaves(&matcher.data);
        let of_type: Vec<String> = self
            .candidates
            .iter()
            .filter(|c| c.kind() == matcher.kind)
            .map(|c| {
                let label = c.label();
                if leaves.is_empty() {
                    return label;
                }
                let facts: Vec<String> = leaves
                    .iter()
                    .map(|(path, _)| match lookup(c.data(), path) {
                        Some(value) => format!("data.{} {}", path.join("."), short(value)),
                        None => format!("no data.{}", path.join(".")),
                    })
                    .collect();
                format!("{label} ({})", facts.join(", "))
            })
            .collect();
        if of_type.is_empty() {
            let mut kinds: Vec<&str> = self.candidates.iter().map(Candidate::kind).collect();
            kinds.sort_unstable();
            kinds.dedup();
            let has = if kinds.is_empty() {
                "nothing".to_owned()
            } else {
                list(kinds.into_iter().map(str::to_owned).collect())
            };
            return format!("no {} in the context (it has: {has})", matcher.kind);
        }
        format!("no {} among: {}", describe_matcher(matcher), list(of_type))
    }
}

fn list(mut items: Vec<String>) -> String {
    if items.len() > LISTED {
        let more = items.len() - LISTED;
        items.truncate(LISTED);
        items.push(format!("and {more} more"));
    }
    items.join(", ")
}

/// lodash's `isMatch`, which contrato matches `data` with: objects by
/// subset, arrays by every pattern element matching some element, the rest
/// by equality (numbers by value, so `1` matches `1.0`).
fn subset(pattern: &Map<String, Value>, value: &Map<String, Value>, steps: &mut usize) -> bool {
    pattern
        .iter()
        .all(|(key, p)| value.get(key).is_some_and(|v| matches_value(p, v, steps)))
}

fn matches_value(pattern: &Value, value: &Value, steps: &mut usize) -> bool {
    *steps += 1;
    if *steps > MAX_CHECK_STEPS {
        return false;
    }
    match (pattern, value) {
        (Value::Object(p), Value::Object(v)) => subset(p, v, steps),
        (Value::Array(p), Value::Array(v)) => {
            p.len() <= v.len()
                && p.iter()
                    .all(|pe| v.iter().any(|ve| matches_value(pe, ve, steps)))
        }
        (Value::Number(a), Value::Number(b)) => {
            match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == b.as_f64(),
            }
        }
        (p, v) => p == v,
    }
}

/// The leaves of a `data` pattern as key paths, for reasons.
fn data_leaves(data: &Map<String, Value>) -> Vec<(Vec<&str>, &Value)> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<&str>, &Value)> = data
        .iter()
        .rev()
        .map(|(k, v)| (vec![k.as_str()], v))
        .collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) if !map.is_empty() => {
                stack.extend(map.iter().rev().map(|(k, v)| {
                    let mut deeper = path.clone();
                    deeper.push(k.as_str());
                    (deeper, v)
                }));
            }
            _ => out.push((path, value)),
        }
    }
    out
}

fn lookup<'v>(data: &'v Map<String, Value>, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    let mut value = data.get(*first)?;
    for part in rest {
        value = value.as_object()?.get(*part)?;
    }
    Some(value)
}

/// A value in a reason: compact JSON, cut short.
fn short(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

fn describe_matcher(matcher: &Matcher) -> String {
    let mut out = matcher.kind.clone();
    if let Some(slug) = &matcher.slug {
        out.push(' ');
        out.push_str(slug);
    }
    if let Some(version) = &matcher.version {
        out.push_str(&format!(" version {version:?}", version = version.as_str()));
    }
    let leaves = data_leaves(&matcher.data);
    if !leaves.is_empty() {
        let facts: Vec<String> = leaves
            .iter()
            .map(|(path, value)| format!("data.{} {}", path.join("."), short(value)))
            .collect();
        out.push_str(" with ");
        out.push_str(&facts.join(", "));
    }
    out
}

/// A requirement in words: `arch.sw aarch64`, `one of (...)`, `none of (...)`.
pub fn describe(requirement: &Requirement) -> String {
    match requirement {
        Requirement::Match(matcher) => describe_matcher(matcher),
        Requirement::Or(members) => {
            format!(
                "one of ({})",
                members.iter().map(describe).collect::<Vec<_>>().join(", ")
            )
        }
        Requirement::Not(members) => {
            format!(
                "none of ({})",
                members.iter().map(describe).collect::<Vec<_>>().join(", ")
            )
        }
    }
}
