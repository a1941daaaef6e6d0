//! Contract versions and the version a requirement asks for, compared as
//! contrato compares them: by npm range when both sides are semver, by
//! string equality otherwise (`wheezy` is a fine version for a Debian
//! contract).

use std::fmt;

use semver::Version;

use crate::range::{MAX_RANGE_LEN, Range, RangeError};

/// node-semver's `MAX_SAFE_COMPONENT_LENGTH`, which bounds `coerce`.
const MAX_COERCE_DIGITS: usize = 16;

/// The `version` of a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionReq {
    /// An npm range (`>=1.2 <2`, `1.x`, `^0.3.1`, `2.0.0`, ...).
    Range(Range),
    /// A version that is no range (`wheezy`, `1.2.3.4`): equal strings only,
    /// as contrato compares when `validRange` fails.
    Literal(String),
}

impl VersionReq {
    /// Reads a requirement's version. A string is refused when it does not
    /// parse but uses range syntax (operators, `*`, `||`, whitespace): it
    /// was meant as a range and would otherwise silently never match.
    pub fn parse(raw: &str) -> Result<Self, RangeError> {
        match Range::parse(raw) {
            Ok(range) => Ok(Self::Range(range)),
            Err(err) => {
                let range_syntax = raw.chars().any(|c| {
                    matches!(c, '<' | '>' | '=' | '~' | '^' | '|' | '*') || c.is_whitespace()
                });
                if range_syntax || raw.len() > MAX_RANGE_LEN {
                    Err(err)
                } else {
                    Ok(Self::Literal(raw.to_owned()))
                }
            }
        }
    }

    /// The requirement as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Range(range) => range.as_str(),
            Self::Literal(literal) => literal,
        }
    }

    /// Whether a contract whose `version` is `candidate` is acceptable.
    ///
    /// A candidate that is not semver is coerced as npm's `coerce` does
    /// (`1` is 1.0.0, `v2` is 2.0.0, `R32.7` is 32.7.0) before it is
    /// tested against a range; contrato would compare such a candidate by
    /// string only, which makes `>=1` refuse a contract of version `1`.
    pub fn matches(&self, candidate: &str) -> bool {
        match self {
            Self::Literal(literal) => candidate == literal,
            Self::Range(range) => match parse_version(candidate).or_else(|| coerce(candidate)) {
                Some(version) => range.satisfies(&version),
                None => candidate == range.as_str(),
            },
        }
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// npm's `valid`: a strict semver version, with an optional leading `v`
/// and surrounding whitespace.
pub fn parse_version(raw: &str) -> Option<Version> {
    if raw.len() > MAX_RANGE_LEN {
        return None;
    }
    let trimmed = raw.trim();
    Version::parse(trimmed.strip_prefix('v').unwrap_or(trimmed)).ok()
}

/// npm's `coerce`: the first run of at most three dot-separated numbers
/// (each at most 16 digits, not inside a longer number), as
/// `major.minor.patch` with the missing parts zero; pre-release and build
/// are dropped.
pub fn coerce(raw: &str) -> Option<Version> {
    let bytes = raw.as_bytes();
    let digits_from = |start: usize| {
        bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut start = 0;
    while start < bytes.len() {
        let len = digits_from(start);
        if len == 0 {
            start += 1;
            continue;
        }
        if len <= MAX_COERCE_DIGITS {
            let mut parts = vec![&raw[start..start + len]];
            let mut at = start + len;
            while parts.len() < 3 && bytes.get(at) == Some(&b'.') {
                let next = digits_from(at + 1);
                if next == 0 || next > MAX_COERCE_DIGITS {
                    break;
                }
                parts.push(&raw[at + 1..at + 1 + next]);
                at += 1 + next;
            }
            let number = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u64>().ok());
            return Some(Version::new(number(0)?, number(1)?, number(2)?));
        }
        // A longer number is no version, nor is any digit run inside it.
        start += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerce_follows_npm() {
        let cases = [
            ("1", Some("1.0.0")),
            ("v2", Some("2.0.0")),
            ("1.2.3.4", Some("1.2.3")),
            ("R32.7", Some("32.7.0")),
            // As npm: the first number wins, even inside a word.
            ("L4T 32.7", Some("4.0.0")),
            ("2.0.0+rev3", Some("2.0.0")),
            ("wheezy", None),
            ("", None),
            ("12345678901234567", None),
            ("12345678901234567 3", Some("3.0.0")),
            ("1.12345678901234567", Some("1.0.0")),
        ];
        for (raw, want) in cases {
            let got = coerce(raw).map(|v| v.to_string());
            assert_eq!(got.as_deref(), want, "coerce({raw:?})");
        }
    }

    #[test]
    fn literals_and_malformed_ranges() {
        assert!(matches!(
            VersionReq::parse("wheezy"),
            Ok(VersionReq::Literal(_))
        ));
        assert!(matches!(
            VersionReq::parse("1.2.3.4"),
            Ok(VersionReq::Literal(_))
        ));
        assert!(VersionReq::parse(">=1.2.3.4").is_err());
        assert!(VersionReq::parse(">= wheezy").is_err());
        assert!(VersionReq::parse("1.2.3 - ").is_err());
        assert!(VersionReq::parse("^").is_err());
    }

    #[test]
    fn matching_candidates() {
        let req = |s: &str| VersionReq::parse(s).unwrap();
        assert!(req("wheezy").matches("wheezy"));
        assert!(!req("wheezy").matches("jessie"));
        assert!(req(">=1").matches("1"));
        assert!(req("^2").matches("v2"));
        assert!(req("32.7.6").matches("32.7.6"));
        assert!(req("2.0.0").matches("2.0.0+rev3"));
        assert!(!req(">=2").matches("glorp"));
        assert!(req("1.2.3.4").matches("1.2.3.4"));
    }
}
