//! Durations written as compose writes them: `30s`, `1m30s`, `1.5s`, `500ms`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in the compose spelling: one or more `<number><unit>` with
/// units `h`, `m`, `s`, `ms`, `us`, e.g. `1m30s`. Shown and serialized in a
/// canonical spelling (`90s` is shown as `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration '{input}': expected <number><unit>... with units h, m, s, ms, us (e.g. '1m30s')"
)]
pub struct DurationError {
    /// The string as given.
    pub input: String,
}

impl HumanDuration {
    /// Wraps a [`Duration`].
    pub fn new(duration: Duration) -> Self {
        HumanDuration(duration)
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses the compose spelling.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        parse_nanos(input)
            .map(|nanos| HumanDuration(Duration::from_nanos(nanos)))
            .ok_or_else(|| DurationError {
                input: input.to_owned(),
            })
    }
}

fn parse_nanos(input: &str) -> Option<u64> {
    const UNITS: [(&str, u64); 5] = [
        // Longest first, so `ms` is not read as `m`.
        ("ms", 1_000_000),
        ("us", 1_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
    ];
    if input.is_empty() {
        return None;
    }
    let mut rest = input;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let (unit, scale) = UNITS.iter().find(|(unit, _)| after.starts_with(unit))?;
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) if !f.is_empty() && !f.contains('.') => (w, f),
            Some(_) => return None,
            None => (number, ""),
        };
        if whole.is_empty() {
            return None;
        }
        let mut nanos = whole.parse::<u64>().ok()?.checked_mul(*scale)?;
        // The fraction, to nanosecond precision (further digits are dropped).
        let mut place = *scale;
        for digit in fraction.bytes() {
            place /= 10;
            nanos = nanos.checked_add(u64::from(digit - b'0') * place)?;
        }
        total = total.checked_add(nanos)?;
        rest = &after[unit.len()..];
    }
    Some(total)
}

impl FromStr for HumanDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, DurationError> {
        HumanDuration::parse(s)
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        for (unit, scale) in [
            ("h", 3_600_000_000_000u128),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ] {
            let count = nanos / scale;
            if count > 0 {
                write!(f, "{count}{unit}")?;
                nanos %= scale;
            }
        }
        // Below a microsecond the compose spelling has no unit; round up so a
        // non-zero duration never prints as nothing.
        if nanos > 0 {
            f.write_str("1us")?;
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(d)?;
        HumanDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "HumanDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(h|m|s|ms|us))+$",
            "description": "A duration: one or more <number><unit> with units h, m, s, ms, us.",
            "examples": ["30s", "1m30s", "500ms"],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &str) {
        let got = match HumanDuration::parse(input) {
            Ok(d) => format!("{d} = {}ns", d.get().as_nanos()),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input:?}");
    }

    #[test]
    fn durations() {
        check("30s", "30s = 30000000000ns");
        check("90s", "1m30s = 90000000000ns");
        check("1m30s", "1m30s = 90000000000ns");
        check("1.5s", "1s500ms = 1500000000ns");
        check("500ms", "500ms = 500000000ns");
        check("2h", "2h = 7200000000000ns");
        check("10us", "10us = 10000ns");
        check("0s", "0s = 0ns");
        let err = |s: &str| {
            format!(
                "invalid duration '{s}': expected <number><unit>... with units h, m, s, ms, us \
                 (e.g. '1m30s')"
            )
        };
        for bad in [
            "",
            "30",
            "s",
            "1x",
            "1.s",
            ".5s",
            "1..5s",
            "-1s",
            "1 s",
            "99999999999999999999h",
        ] {
            check(bad, &err(bad));
        }
    }
}
